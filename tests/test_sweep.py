"""lowrank_rnn.sweep: chunked, vmapped, resumable parameter sweeps stored in Zarr."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lowrank_rnn as lr
from lowrank_rnn import ArgumentError, RunFolderError
from lowrank_rnn.sweep import _sweep

GRID = {"a": [0.5, 1.0, 2.0], "n": [1, 2]}


def fn(params, key):
    x = jax.random.normal(key, (4,))
    return {"y": params["a"] * jnp.sum(x) + params["n"], "v": params["a"] * x}


def run(store, **kw):
    kw = {"replicates": 5, "key": jax.random.key(3), "store": store, "client": "synchronous", "chunk": 2,
          "progress": False, **kw}
    return lr.sweep(kw.pop("fn", fn), kw.pop("grid", GRID), **kw)


def test_values_dims_and_replicate_keys(tmp_path):
    ds = run(tmp_path / "s.zarr")
    assert ds["y"].dims == ("a", "n", "replicate")
    assert ds["v"].dims == ("a", "n", "replicate", "v_dim0")
    np.testing.assert_array_equal(ds["n"].values, [1, 2])
    assert ds.attrs["computed_chunks"] == 3 and ds.attrs["reused_chunks"] == 0  # 5 replicates in 2s
    key = jax.random.key(3)
    for i, a in enumerate(GRID["a"]):
        for j, n in enumerate(GRID["n"]):
            for r in range(5):
                want = fn({"a": jnp.float32(a), "n": jnp.int32(n)}, jax.random.fold_in(key, r))
                # float32: the batched sum of the 4 normals may round differently in the last bit
                np.testing.assert_allclose(ds["y"].values[i, j, r], want["y"], rtol=1e-6, atol=3e-7)
                np.testing.assert_allclose(ds["v"].values[i, j, r], want["v"], rtol=1e-6)


def test_sweep_is_the_subpackage_and_the_function():
    from lowrank_rnn.sweep import sweep

    assert callable(lr.sweep) and sweep.__name__ == "sweep"


def test_resume_after_interruption(tmp_path, monkeypatch):
    full = run(tmp_path / "full.zarr", chunk={"a": 1, "n": 1, "replicate": 5})
    calls = []
    write = _sweep._write_chunk

    def dying(group, plan, index, result):  # the process dies while writing the third chunk
        calls.append(index)
        if len(calls) == 3:
            raise KeyboardInterrupt
        write(group, plan, index, result)

    monkeypatch.setattr(_sweep, "_write_chunk", dying)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "s.zarr", chunk={"a": 1, "n": 1, "replicate": 5})
    monkeypatch.setattr(_sweep, "_write_chunk", write)
    ds = run(tmp_path / "s.zarr", chunk={"a": 1, "n": 1, "replicate": 5})
    assert (ds.attrs["computed_chunks"], ds.attrs["reused_chunks"]) == (4, 2)
    np.testing.assert_array_equal(ds["y"].values, full["y"].values)
    again = run(tmp_path / "s.zarr", chunk=None)  # the store's chunks
    assert (again.attrs["computed_chunks"], again.attrs["reused_chunks"]) == (0, 6)


def test_chunk_without_marker_is_recomputed(tmp_path):
    """Data written but no marker (killed between the two): that chunk is computed again."""
    store = tmp_path / "s.zarr"
    full = run(store)
    import zarr

    zarr.open_group(str(store), mode="r+")["y"][:, :, 0:2] = -99.0  # a half-written chunk 0_0_0..
    os.remove(store / _sweep.MARKERS / "0_0_0.json")
    ds = run(store)
    assert (ds.attrs["computed_chunks"], ds.attrs["reused_chunks"]) == (1, 2)
    np.testing.assert_array_equal(ds["y"].values, full["y"].values)


def test_fingerprint_mismatch(tmp_path):
    store = tmp_path / "s.zarr"
    run(store)

    def same(params, key):  # another function object with the same program: the same sweep
        x = jax.random.normal(key, (4,))
        return {"y": params["a"] * jnp.sum(x) + params["n"], "v": params["a"] * x}

    assert run(store, fn=same).attrs["reused_chunks"] == 3

    def changed(params, key):
        x = jax.random.normal(key, (4,))
        return {"y": params["a"] * jnp.sum(x) - params["n"], "v": params["a"] * x}

    with pytest.raises(RunFolderError, match="another sweep.*fn"):
        run(store, fn=changed)
    with pytest.raises(RunFolderError, match="grid"):
        run(store, grid={"a": [0.5, 1.0, 3.0], "n": [1, 2]})
    with pytest.raises(RunFolderError, match="key"):
        run(store, key=jax.random.key(4))
    with pytest.raises(ArgumentError, match="chunk"):
        run(store, chunk=3)


def test_failing_chunk_is_recorded_not_fatal(tmp_path):
    def fragile(params, key):
        if params["n"] == 2:  # static: a Python number
            raise FloatingPointError("n = 2 does not work")
        return {"y": params["a"] * jax.random.normal(key)}

    with pytest.warns(RuntimeWarning, match="1 of 2 chunks failed"):
        ds = run(tmp_path / "s.zarr", fn=fragile, static=("n",), chunk=5)
    assert ds.attrs["failed_chunks"] == 1 and ds.attrs["computed_chunks"] == 1
    assert "n=2" in ds.attrs["failures"][0] and "FloatingPointError" in ds.attrs["failures"][0]
    assert np.all(np.isnan(ds["y"].values[:, 1])) and np.all(np.isfinite(ds["y"].values[:, 0]))
    marker = json.loads((tmp_path / "s.zarr" / _sweep.MARKERS / "0_1_0.json").read_text())
    assert marker["status"] == "failed"
    with pytest.warns(RuntimeWarning):  # a second call retries only the failed chunk
        again = run(tmp_path / "s.zarr", fn=fragile, static=("n",), chunk=5)
    assert (again.attrs["reused_chunks"], again.attrs["failed_chunks"]) == (1, 1)


def test_local_cluster_matches_synchronous(tmp_path):
    sync = run(tmp_path / "a.zarr")
    local = run(tmp_path / "b.zarr", client=None, progress=True)  # a LocalCluster, in-process
    assert local.attrs["computed_chunks"] == 3
    np.testing.assert_array_equal(sync["y"].values, local["y"].values)


def test_scheduler_address(tmp_path):
    import distributed

    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster:
        ds = run(tmp_path / "c.zarr", client=cluster.scheduler_address, chunk=1)
        assert ds.attrs["computed_chunks"] == 5
        with distributed.Client(cluster) as client:  # a Client object: left open for its owner
            again = run(tmp_path / "d.zarr", client=client)
            assert client.status == "running"
    np.testing.assert_array_equal(ds["y"].values, again["y"].values)


def test_bad_input(tmp_path):
    with pytest.raises(ArgumentError, match="reads the parameter 'n'"):
        run(tmp_path / "a.zarr", grid={"a": [1.0], "m": [1]})
    with pytest.raises(ArgumentError, match=r"\['b'\] are not read"):
        run(tmp_path / "a.zarr", grid={"a": [1.0], "n": [1], "b": [0.0]})
    with pytest.raises(ArgumentError, match="cannot reach the Dask scheduler"):
        run(tmp_path / "a.zarr", client="tcp://127.0.0.1:1", connect_timeout=1.0)
    with pytest.raises(ArgumentError, match="static"):
        run(tmp_path / "a.zarr", static=("b",))
    with pytest.raises(ArgumentError, match="unknown dimension"):
        run(tmp_path / "a.zarr", chunk={"b": 2})
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError, match="not a lowrank-rnn sweep store"):
        run(foreign)
    with pytest.raises(RunFolderError, match="is a file"):
        run(foreign / "notes.txt")
    assert (foreign / "notes.txt").read_text() == "mine"


def test_cli_rank_one_sweep_matches_theory_and_resumes(tmp_path, capsys):
    from lowrank_rnn.cli import main

    args = ["sweep", "rank-one", "--out", str(tmp_path), "--g", "0.5", "--overlap", "0.5,3.5", "--N", "300",
            "--replicates", "2", "--T", "30"]
    assert main(args) == 0
    rows = json.loads((tmp_path / "summary.json").read_text())["rows"]
    low, high = rows
    assert low["kappa_theory"] == 0 and abs(low["kappa_sim_mean"]) < 0.05      # homogeneous fixed point
    # heterogeneous fixed point: N = 300 networks scatter about the mean-field kappa by O(1/sqrt(N))
    assert abs(high["kappa_sim_mean"] - high["kappa_theory"]) < 0.25 and high["kappa_theory"] > 1.5
    assert main(args) == 0
    assert json.loads((tmp_path / "summary.json").read_text())["reused_chunks"] == 2


def test_cli_says_an_interrupted_sweep_resumes():
    import argparse

    from lowrank_rnn.cli import _interrupted

    for args in (argparse.Namespace(command="sweep", out="runs/s"),
                 argparse.Namespace(command="reproduce", name="israely2025", out="runs/i")):
        assert "run the same command again" in _interrupted(args, KeyboardInterrupt())
    assert _interrupted(argparse.Namespace(command="reproduce", name="shao2024", out="x"),
                        KeyboardInterrupt()) == "lowrank-rnn: interrupted"


SLOW_FN = '''
import time
import jax
import jax.numpy as jnp


def slow(params, key):
    jax.debug.callback(lambda: time.sleep(0.2))  # a chunk takes a while, so the kill lands mid-sweep
    return {"y": params["a"] * jax.random.normal(key)}
'''

RUN_SLOW = '''
import sys
import jax
import lowrank_rnn as lr
from slowfn import slow
lr.sweep(slow, {"a": [1.0, 2.0]}, replicates=8, key=jax.random.key(0), store=sys.argv[1], chunk={"a": 1, "replicate": 1},
         client="synchronous", progress=False)
'''


def test_killed_sweep_loses_only_the_chunk_in_flight(tmp_path):
    """SIGKILL a sweep in another process; the next call computes only the chunks without a marker."""
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "slowfn.py").write_text(SLOW_FN)
    (tmp_path / "run_slow.py").write_text(RUN_SLOW)
    store = tmp_path / "s.zarr"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    proc = subprocess.Popen([sys.executable, str(tmp_path / "run_slow.py"), str(store)], env=env)
    markers = store / _sweep.MARKERS
    while proc.poll() is None and not (markers.is_dir() and len(list(markers.glob("*.json"))) >= 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list(markers.glob("*.json")))
    assert 3 <= done < 16, done
    sys.path.insert(0, str(tmp_path))
    try:
        from slowfn import slow
    finally:
        sys.path.remove(str(tmp_path))
    kw = dict(replicates=8, key=jax.random.key(0), chunk={"a": 1, "replicate": 1}, client="synchronous", progress=False)
    ds = lr.sweep(slow, {"a": [1.0, 2.0]}, store=store, **kw)
    assert (ds.attrs["reused_chunks"], ds.attrs["computed_chunks"]) == (done, 16 - done)
    fresh = lr.sweep(slow, {"a": [1.0, 2.0]}, store=tmp_path / "fresh.zarr", **kw)
    np.testing.assert_array_equal(ds["y"].values, fresh["y"].values)


@pytest.mark.parametrize("option", [["--T", "-1"], ["--dt", "0"], ["--N", "0"], ["--g", "nan"], ["--replicates", "0"],
                                    ["--overlap", "x"]])
def test_cli_sweep_bad_values_give_one_line(tmp_path, capsys, option):
    from lowrank_rnn.cli import main

    with pytest.raises(SystemExit) as err:
        main(["sweep", "rank-one", "--out", str(tmp_path / "o"), *option])
    assert err.value.code == 2 and option[0] in capsys.readouterr().err
