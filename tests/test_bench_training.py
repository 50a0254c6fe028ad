"""Smoke test of benchmarks/bench_training.py: the harness at N = 64, two epochs.

No timing is asserted (the machine is shared). Checked: the paths run in rounds with the order
reversed every other round, each with the seed of its round, after one priming run that fills the
warm path's cache (the order, on stand-in runs: the harness's loop, no training); one real round in
fresh processes, where the cold path compiles from an empty cache and the warm one reads the cache
the priming run filled, with the same result for the same seed; speed-ups are medians of
same-round ratios; the reference part runs only where the authors' code and torch are configured
(``LOWRANK_RNN_REFERENCE_SRC``, ``LOWRANK_RNN_REFERENCE_PYTHON``).
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


def test_ours_quick_round_cold_and_warm(bench, tmp_path, capsys):
    # one round in real processes (each compiles or reads the cache: the costly part); the order of
    # several rounds is checked on stand-in runs below
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--tasks", "rdm", "--paths", "cold", "warm", "--out", str(out)]) == 0
    assert "| task | path |" in capsys.readouterr().out
    result = json.loads(out.read_text())
    rows = result["runs"]
    assert [(r["round"], r["path"], r["seed"]) for r in rows] == [(0, "cold", 0), (0, "warm", 0)]
    for r in rows:
        assert r["side"] == "ours" and r["epochs"] == 2 and 0.0 <= r["val_accuracy"] <= 1.0
        assert r["train_seconds"] > 0 and r["process_seconds"] > r["train_seconds"]
        assert r["compile_seconds"] > 0 and r["epoch_compile_seconds"] > 0
        if r["path"] == "cold":  # an empty cache: every program compiled
            assert r["cache_requests"] > 0 and r["cache_hits"] == 0
        else:  # the priming run's programs, the epoch among them, read from the cache
            assert r["cache_hits"] > 0
    # the same seed gives the same run, cold or warm (the cache changes nothing but the time)
    assert rows[0]["val_loss"] == rows[1]["val_loss"]
    paths = {s["path"]: s for s in result["summary"]}
    assert set(paths) == {"cold", "warm"} and paths["cold"]["rounds"] == 1
    assert "speedup" not in paths["cold"] or not paths["cold"]["speedup"]  # no reference, no ratio
    assert result["machine"]["cores"] >= 1


def test_rounds_reverse_the_order_and_share_the_primed_cache(bench, tmp_path, monkeypatch):
    # the harness's loop with run_path replaced by a stand-in that records its calls
    calls = []

    def fake_run_path(path, task, seed, *, workdir, caches, reference, size, cpus=None):
        calls.append({"path": path, "task": task, "seed": seed, "size": size, "warm_cache": caches.get("warm")})
        return {"side": "ours", "task": task, "seed": seed, "epochs": 2, "val_accuracy": 1.0, "val_loss": 0.1,
                "train_seconds": 1.0 + seed, "process_seconds": 2.0 + seed, "path": path, "load": 0.0}

    monkeypatch.setattr(bench, "run_path", fake_run_path)
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--tasks", "rdm", "--paths", "cold", "warm", "--rounds", "3",
                       "--out", str(out)]) == 0
    # first the untimed priming run (one epoch, its own seed), then the rounds
    assert calls[0]["path"] == "warm" and calls[0]["seed"] == 1000 and calls[0]["size"][-2:] == ["--epochs", "1"]
    assert all(c["size"][-2:] == ["--epochs", "2"] for c in calls[1:])
    # every warm run reads the cache the priming run filled
    assert len({c["warm_cache"] for c in calls}) == 1 and calls[0]["warm_cache"] is not None
    result = json.loads(out.read_text())
    assert [(r["round"], r["path"], r["seed"]) for r in result["runs"]] == [
        (0, "cold", 0), (0, "warm", 0), (1, "warm", 1), (1, "cold", 1), (2, "cold", 2), (2, "warm", 2)]
    assert [(c["path"], c["seed"]) for c in calls[1:]] == [(r["path"], r["seed"]) for r in result["runs"]]
    paths = {s["path"]: s for s in result["summary"]}
    assert paths["cold"]["rounds"] == paths["warm"]["rounds"] == 3


def test_noiseless_bound_runs_with_noise_off_and_its_own_primed_cache(bench, tmp_path, monkeypatch):
    # run_path's command for each path, with the process replaced by a stand-in that records it
    cmds = []

    class Done:
        returncode = 0
        stdout = json.dumps({"side": "ours", "task": "rdm", "seed": 0, "epochs": 2, "val_accuracy": 1.0,
                             "val_loss": 0.1, "train_seconds": 1.0}) + "\n"
        stderr = ""

    real_run = bench.subprocess.run

    def fake_run(cmd, *args, env=None, **kwargs):
        if str(bench.WORKER) not in cmd:  # not a training run (e.g. the machine's description)
            return real_run(cmd, *args, env=env, **kwargs)
        cmds.append((cmd, env["LOWRANK_RNN_JAX_CACHE"]))
        return Done()

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    assert "warm-noiseless" not in bench.DEFAULT_PATHS  # a bound, run only when asked for
    assert bench.main(["--quick", "--tasks", "rdm", "--paths", "warm", "warm-noiseless",
                       "--out", str(tmp_path / "b.json")]) == 0
    # two priming runs (warm, then warm-noiseless), then the round; only the bound runs with --noise 0
    noise_off = [c for c, _ in cmds if c[-2:] == ["--noise", "0"]]
    assert len(cmds) == 4 and len(noise_off) == 2
    caches = {tuple(c[-2:]) == ("--noise", "0"): cache for c, cache in cmds}
    assert caches[True] != caches[False]  # the bound never reads the recipe's cache
    assert {c[-2:] == ["--noise", "0"] for c, cache in cmds if cache == caches[True]} == {True}


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
