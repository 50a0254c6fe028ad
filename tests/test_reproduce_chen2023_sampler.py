"""`lowrank-rnn reproduce chen2023_sampler`: figures, report and the key numbers, on a tiny run.

The smoke run shrinks everything (600 data points, a 16-unit reservoir, two noise levels, 200
chains, two of the three targets) so that it takes seconds; it checks the pipeline and the parts that do not depend on how
well the networks are trained: the sampler-only networks' mode bound, the reservoir's construction,
finite metrics and the claim-by-claim table. The `--quick` run is `slow`.
"""

import dataclasses
import json
import struct

import numpy as np
import pytest

from lowrank_rnn.cli import main
from lowrank_rnn.experiments import REPRODUCTIONS
from lowrank_rnn.experiments import chen2023_sampler as chen

FIGURES = ("histograms_1d.png", "scores_1d.png", "laplace_histograms.png", "wasserstein_vs_time.png", "kurtosis.png")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("chen2023")
    cfg = dataclasses.replace(chen.Config.make(True), n_data=600, hidden=16, levels=2, epochs=3, batch_size=200,
                              n_chains=200, T=0.4, T_laplace=0.4, t_eval_1d=0.2, dt=0.01, records=4)
    chen.run(out, config=cfg, only=["laplace", "three_peaks"])
    return out, json.loads((out / "results.json").read_text())


def test_registered():
    assert REPRODUCTIONS["chen2023_sampler"] == "chen2023_sampler"


def test_figures_and_report(smoke_run):
    out, res = smoke_run
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        width, height = struct.unpack(">II", data[16:24])
        assert width > 500 and height > 300, (name, width, height)
        assert f"]({name})" in (out / "report.md").read_text()
    assert len(res["verdicts"]) == 4  # two claims per target
    assert all(v["verdict"] in ("reproduced", "not reproduced") or v["verdict"].startswith("not reproduced for")
               for v in res["verdicts"])


def test_key_numbers(smoke_run):
    _, res = smoke_run
    t = res["targets"]
    assert set(t) == {"laplace", "three_peaks"}
    for name, r in t.items():
        for model, m in r["models"].items():
            assert np.all(np.isfinite(m["w1"])) and np.isfinite(m["mmd"]), (name, model)
            if r["dim"] == 1:
                assert abs(sum(m["mode_weights"]) - 1) < 1e-6
        # the floor: W1 between two samples of 200 is of order 1 / sqrt(200) of the spread
        assert 0.01 < np.mean(r["w1_floor"]) < 0.3
    # the mode bound of sampler-only networks in 1-D holds whatever the training: at most two modes
    for model in ("SO-rate", "SO-current"):
        assert t["three_peaks"]["models"][model]["modes"] <= 2
    assert t["laplace"]["kurtosis_true"] == [3.0, 3.0]


def test_unknown_target_is_refused(tmp_path):
    from lowrank_rnn import ArgumentError

    with pytest.raises(ArgumentError, match="only"):
        chen.run(tmp_path, only=["gaussian"])


@pytest.mark.slow
def test_quick_run_from_the_command_line(tmp_path):
    assert main(["reproduce", "chen2023_sampler", "--out", str(tmp_path), "--quick"]) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    # the expressivity limit: no sampler-only network samples the three-peak target
    for model in ("SO-rate", "SO-current"):
        assert not res["targets"]["three_peaks"]["models"][model]["samples_target"]
