"""Smoke test of benchmarks/bench_training.py: the harness at N = 64, two epochs.

No timing is asserted (the machine is shared). Checked: the paths run in rounds with the order
reversed every other round, each in a fresh process with the seed of its round; the cold path
compiles from an empty cache and the warm one reads the cache the priming run filled; speed-ups
are medians of same-round ratios; the reference part runs only where the authors' code and torch
are configured (``LOWRANK_RNN_REFERENCE_SRC``, ``LOWRANK_RNN_REFERENCE_PYTHON``).
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

_PATH = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "bench_training.py")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_training", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _reference():
    """Return (src, python) of a configured reference, or the reason it cannot run."""
    src = os.environ.get("LOWRANK_RNN_REFERENCE_SRC")
    if not src:
        return None, "LOWRANK_RNN_REFERENCE_SRC is not set (the authors' low_rank_rnns code is not part of the repo)"
    python = os.environ.get("LOWRANK_RNN_REFERENCE_PYTHON", sys.executable)
    if subprocess.run([python, "-c", "import torch"], capture_output=True).returncode:
        return None, f"{python} cannot import torch (run benchmarks/setup_reference.sh)"
    return (src, python), ""


def test_ours_quick_rounds_cold_and_warm(bench, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--tasks", "rdm", "--paths", "cold", "warm", "--rounds", "2",
                       "--out", str(out)]) == 0
    assert "| task | path |" in capsys.readouterr().out
    result = json.loads(out.read_text())
    rows = result["runs"]
    assert [(r["round"], r["path"], r["seed"]) for r in rows] == [
        (0, "cold", 0), (0, "warm", 0), (1, "warm", 1), (1, "cold", 1)]
    for r in rows:
        assert r["side"] == "ours" and r["epochs"] == 2 and 0.0 <= r["val_accuracy"] <= 1.0
        assert r["train_seconds"] > 0 and r["process_seconds"] > r["train_seconds"]
        assert r["compile_seconds"] > 0 and r["epoch_compile_seconds"] > 0
        if r["path"] == "cold":  # an empty cache: every program compiled
            assert r["cache_requests"] > 0 and r["cache_hits"] == 0
        else:  # the priming run's programs, the epoch among them, read from the cache
            assert r["cache_hits"] > 0
    # the same seed gives the same run, cold or warm (the cache changes nothing but the time)
    for seed in (0, 1):
        same = [r for r in rows if r["seed"] == seed]
        assert same[0]["val_loss"] == same[1]["val_loss"]
    paths = {s["path"]: s for s in result["summary"]}
    assert set(paths) == {"cold", "warm"} and paths["cold"]["rounds"] == 2
    assert "speedup" not in paths["cold"] or not paths["cold"]["speedup"]  # no reference, no ratio
    assert result["machine"]["cores"] >= 1


def test_speedups_are_medians_of_same_round_ratios(bench):
    rows = []
    for rnd, (ref, cold) in enumerate([(10.0, 2.0), (12.0, 3.0), (9.0, 1.0)]):
        rows.append({"round": rnd, "task": "rdm", "path": "reference", "train_seconds": ref, "epochs": 20,
                     "val_accuracy": 1.0, "load": 1.0})
        rows.append({"round": rnd, "task": "rdm", "path": "cold", "train_seconds": cold, "epochs": 20,
                     "val_accuracy": 1.0, "load": 1.0})
    (ref,) = [s for s in bench.summarise(rows) if s["path"] == "reference"]
    (cold,) = [s for s in bench.summarise(rows) if s["path"] == "cold"]
    assert cold["speedup"] == {"median": 5.0, "min": 4.0, "max": 9.0}  # not 10.33 / 2.0 of the medians
    assert ref["train_seconds"]["median"] == 10.0 and "speedup" not in ref
    assert "**5.0 (4.0-9.0)**" in bench.markdown(bench.summarise(rows))


def test_reference_src_checked_before_running(bench, tmp_path):
    with pytest.raises(SystemExit, match="low_rank_rnns/modules.py"):
        bench.reference_setup(str(tmp_path), sys.executable)


def test_reference_quick_side_by_side(bench, tmp_path):
    reference, reason = _reference()
    if reference is None:
        pytest.skip(f"reference part skipped: {reason}")
    src, python = reference
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--tasks", "rdm", "--paths", "reference", "cold", "--reference-src", src,
                       "--reference-python", python, "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    ref = [r for r in result["runs"] if r["path"] == "reference"]
    assert len(ref) == 1 and ref[0]["side"] == "reference" and ref[0]["epochs"] == 2
    assert 0.0 <= ref[0]["val_accuracy"] <= 1.0 and ref[0]["train_seconds"] > 0
    (cold,) = [s for s in result["summary"] if s["path"] == "cold"]
    assert cold["speedup"]["median"] > 0
