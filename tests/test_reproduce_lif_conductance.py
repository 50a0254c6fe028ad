"""`lowrank-rnn reproduce lif_conductance`: figures, report and claims at a smoke-size Config."""

import struct

import numpy as np
import pytest

from lowrank_rnn.cli import main
from lowrank_rnn.experiments import REPRODUCTIONS, lif_conductance

FIGURES = ("rate_vs_input.png", "diffusion_error.png", "cv.png", "small_jumps.png")
SECTIONS = ("Rate against excitatory input", "Where the diffusion approximation fails", "Irregularity", "Small jumps")

# two synaptic strengths, coarse grids, short simulations: the pipeline, with claims still measurable
SMOKE = lif_conductance.Config(quick=True, a_e=(0.01, 0.3), points=8, sim_points=3, sim_T=1500.0, sim_neurons=16,
                               min_sim_rate=5.0, small_jump_scales=(1.0, 0.25, 1 / 16))


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, run_reproduction_with):
    out = tmp_path_factory.mktemp("lif_conductance")
    return out, run_reproduction_with(lif_conductance, out, SMOKE)


def test_registered():
    assert REPRODUCTIONS["lif_conductance"] == "lif_conductance"


def test_figures_report_and_claims(smoke_run):
    out, res = smoke_run
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        width, height = struct.unpack(">II", data[16:24])
        assert width > 400 and height > 300, (name, width, height)
    text = (out / "report.md").read_text()
    for title in SECTIONS:
        assert f"## {title}" in text, title
    assert "not public" in text
    claims = res["claims"]
    assert len(claims) == 3 and all(isinstance(c["reproduced"], bool) for c in claims)
    # the simulation is exact for the model, so it agrees with the exact rate within its error bars
    assert claims[0]["reproduced"], claims[0]
    # small jumps: the gap to the Gaussian rate shrinks like a (slope 0.92 measured on these scales)
    assert 0.8 < res["small_jumps"]["slope"] < 1.2
    # large jumps at low rates: the Gaussian rate is off by more than a factor 2
    assert res["diffusion_error"]["0.3"]["largest_factor_0.01_to_10Hz"] > 2.0
    sim = res["rates"]["0.3"]
    assert len(sim["sim_rate"]) >= 2 and np.all(np.isfinite(sim["sim_rate"]))


def test_cli_refuses_an_unknown_section(tmp_path):
    with pytest.raises(ValueError, match="only"):
        lif_conductance.run(tmp_path, quick=True, only=["nope"])
    with pytest.raises(SystemExit):  # an option of another reproduction, refused by name before any work
        main(["reproduce", "lif_conductance", "--out", str(tmp_path / "x"), "--networks", "2"])
    assert not (tmp_path / "x" / "report.md").exists()
