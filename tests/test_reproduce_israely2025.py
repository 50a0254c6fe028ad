"""`lowrank-rnn reproduce israely2025 --quick`: figures, report, results.json, and resume through
the sweep's store (N = 200, 4 repetitions per target: directions only, stated in the report)."""

import json
import struct

import numpy as np
import pytest

from lowrank_rnn.cli import main
from lowrank_rnn.experiments import REPRODUCTIONS

FIGURES = ("pr_ccgp_vs_ratio.png", "spectrum_vs_ratio.png")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("israely2025")
    args = ["reproduce", "israely2025", "--out", str(out), "--quick", "--networks", "2", "--ratios", "0.5,1.5"]
    assert main(args) == 0
    first = json.loads((out / "results.json").read_text())
    assert main(args) == 0  # again: every chunk is found in the store
    return out, first, json.loads((out / "results.json").read_text())


def test_registered():
    assert REPRODUCTIONS["israely2025"] == "israely2025"


def test_results_figures_and_resume(quick_run):
    out, first, res = quick_run
    for key in ("ratios", "pr_mean", "pr_sem", "ccgp_mean", "ccgp_sem"):
        assert len(res[key]) == 2, key
    assert res["ratios"] == [0.5, 1.5] and res["n_networks"] == 2
    assert 1.0 < min(res["pr_mean"]) and max(res["pr_mean"]) < 7.0       # 8 conditions: PR < 7
    assert all(0.0 <= c <= 1.0 for c in res["ccgp_mean"])
    assert first["sweep"]["computed_chunks"] == 2 and first["sweep"]["reused_chunks"] == 0
    assert res["sweep"]["computed_chunks"] == 0 and res["sweep"]["reused_chunks"] == 2
    np.testing.assert_array_equal(res["pr_mean"], first["pr_mean"])
    text = (out / "report.md").read_text()
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", data[16:24])[0] > 500
        assert f"]({name})" in text
    assert "**Claim 1" in text and "published" in text


def test_options_of_other_reproductions_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        main(["reproduce", "shao2024", "--out", str(tmp_path), "--networks", "3"])
    assert err.value.code == 2 and "does not take --networks" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["reproduce", "israely2025", "--out", str(tmp_path), "--ratios", "0.5,x"])
