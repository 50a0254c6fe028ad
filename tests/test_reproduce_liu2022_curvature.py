"""`lowrank-rnn reproduce liu2022_curvature`: smoke run at a size smaller than --quick (the quick and
default runs are marked slow). Checks the files, the results' keys the issue names, and that the
numbers are the ones measured (the exact-loss eigenvalue is recomputed for one model)."""

import dataclasses
import json
import struct

import pytest

from lowrank_rnn.cli import main
from lowrank_rnn.experiments import REPRODUCTIONS, liu2022_curvature


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, run_reproduction_with):
    out = tmp_path_factory.mktemp("liu2022")
    tiny = liu2022_curvature.Config(quick=True, hidden=16, seeds=1, iterations=20, segments=1, eval_trials=32,
                                    lanczos=8, late_iterations=20)
    return out, run_reproduction_with(liu2022_curvature, out, tiny), tiny


def test_files_and_keys(tiny_run):
    out, res, tiny = tiny_run
    assert REPRODUCTIONS["liu2022_curvature"] == "liu2022_curvature"
    data = (out / "curvature_and_gap.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24])[0] > 300
    text = (out / "report.md").read_text()
    for claim in ("Claim 1", "Claim 2", "Claim 3", "Claim 4"):
        assert claim in text
    assert set(res["rules"]) == {"bptt", "eprop", "mdgl"}
    for rule in res["rules"].values():
        assert len(rule["top_hessian_eigenvalue"]) == len(rule["generalization_gap"]) == tiny.seeds
        gaps = [b - a for a, b in zip(rule["train_loss"], rule["test_loss"])]
        assert gaps == pytest.approx(rule["generalization_gap"])
        assert len(rule["curves"]["top_hessian_eigenvalue"]) == tiny.segments + 1
    assert -1.0 <= res["correlation"] <= 1.0
    assert res["config"] == dataclasses.asdict(tiny)
    assert set(res["remedy"]) >= {"same_lr", "larger_lr", "rule"}


def test_bad_section_is_refused(tmp_path):
    with pytest.raises(ValueError, match="only"):
        liu2022_curvature.run(tmp_path, quick=True, only=["nope"])
    with pytest.raises(SystemExit):  # the options of other reproductions are refused by the parser
        main(["reproduce", "liu2022_curvature", "--out", str(tmp_path / "x"), "--scheduler", "a:1"])


@pytest.mark.slow
def test_quick_run(tmp_path):
    assert main(["reproduce", "liu2022_curvature", "--out", str(tmp_path), "--quick"]) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    # the quick run's ordering (measured: BPTT 35, e-prop 198, MDGL 108)
    lam = {r: sum(v["top_hessian_eigenvalue"]) / len(v["top_hessian_eigenvalue"]) for r, v in res["rules"].items()}
    assert lam["eprop"] > lam["bptt"]
