"""Smoke test of benchmarks/bench_simulate.py: its --quick mode runs and its three paths agree.

No timing is asserted (the machine is shared); what is checked is that the low-rank path, the dense
path and the NumPy loop reach the same states, and that the benchmark would notice if they did not.
"""

import importlib.util
import json
import math
import os

import numpy as np
import pytest

_PATH = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "bench_simulate.py")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_simulate", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_agrees_and_writes_json(bench, tmp_path, capsys):
    out = tmp_path / "sub" / "bench.json"
    assert bench.main(["--quick", "--diffrax", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| N | batch |" in printed and "noisy / noiseless low-rank" in printed
    result = json.loads(out.read_text())
    assert result["all_agree"]
    assert not [p for p in os.listdir(out.parent) if p.endswith(".tmp")]  # atomic write left nothing
    cells = result["cells"]
    assert [(c["N"], c["batch"]) for c in cells] == [(128, 1), (128, 4), (512, 1), (512, 4)]
    assert [c["scaled"] for c in cells] == [False, False, True, True]
    for c in cells:
        agree = c["agreement"]
        assert agree["ok"] and agree["max_rel_dx"] <= result["tol"] and agree["max_abs_dkappa"] <= result["tol"]
        # the states compared are not trivial: the latents left the origin
        assert np.max(np.abs(agree["kappa_final_lowrank"])) > 0.1
        for path in ("lowrank", "dense", "numpy"):
            t = c[path]["best"] if path == "lowrank" else c[path]["t1000_best"]
            assert math.isfinite(t)
        # the noisy low-rank path is timed in the same rounds, its ratio paired with the noiseless one
        assert c["noise"] > 0 and c["noisy_kappa_finite"] and math.isfinite(c["noisy"]["best"])
        noisy = c["paired_noisy_over_lowrank"]
        assert noisy["rounds"] == len(noisy["ratios"]) >= 2
        np.testing.assert_allclose(noisy["ratios"], np.divide(c["noisy"]["times"], c["lowrank"]["times"])[:noisy["rounds"]])
        noisy_cpu = c["paired_noisy_over_lowrank_cpu"]  # the same ratio in CPU time, paired the same way
        r = noisy_cpu["rounds"]
        np.testing.assert_allclose(noisy_cpu["ratios"], np.divide(c["noisy"]["cpu_times"][:r], c["lowrank"]["cpu_times"][:r]))
        # diffrax's Euler solver runs the same update: the same latents up to float32 rounding
        assert c["max_abs_dkappa_diffrax"] < 1e-4 and c["paired_diffrax_over_lowrank"]["rounds"] >= 2
        assert list(c["dense"]["runs"]) == (["1", "10"] if c["scaled"] else ["60"])
        # paired ratios: one per round, from the times of that round
        for key, num, den in (("paired_numpy_over_dense", "numpy", "dense"),
                              ("paired_dense_over_lowrank", "dense", "lowrank")):
            paired = c[key]
            assert paired["rounds"] == len(paired["ratios"]) >= 2
            assert paired["min"] <= paired["median"] <= paired["max"]
            if not c["scaled"]:
                t_num = c[num]["times"] if num == "lowrank" else c[num]["runs"]["60"]["times"]
                t_den = c[den]["times"] if den == "lowrank" else c[den]["runs"]["60"]["times"]
                np.testing.assert_allclose(paired["ratios"], np.divide(t_num, t_den)[:paired["rounds"]])


def test_numpy_loop_matches_simulate(bench):
    net = bench.make_network(96)
    x0 = bench.make_x0(net, 3)
    J = np.asarray(net.connectivity())
    x_np, kappa_np = bench.numpy_loop(J, np.asarray(net.n), x0, 40)
    traj = bench.simulate(net, T=40 * bench.DT, dt=bench.DT, x0=x0, record=("x", "kappa"))
    np.testing.assert_allclose(x_np, traj.x[:, -1], atol=1e-5)
    np.testing.assert_allclose(kappa_np, traj.kappa, atol=1e-5)
    # batch 1 runs on a vector, and gives the same trial
    x1, k1 = bench.numpy_loop(J, np.asarray(net.n), x0[:1], 40)
    np.testing.assert_allclose(x1, x_np[:1], atol=1e-6)
    np.testing.assert_allclose(k1, kappa_np[:1], atol=1e-6)


def test_disagreement_is_detected(bench, monkeypatch):
    true_loop = bench.numpy_loop
    # a NumPy loop with a 1 % wrong step must fail the agreement check; the first cell of the quick run
    # (N = 128, batch 1, 60 steps), whose compiled JAX paths this module has already
    monkeypatch.setattr(bench, "numpy_loop", lambda J, n, x0, s: true_loop(J, n, x0, s, dt=bench.DT * 1.01))
    cell = bench.measure_cell(128, 1, steps=60, repeats=1, full_max_n=128, scaled_steps=10,
                              numpy_dtype="float32", tol=1e-3)
    assert not cell["agreement"]["ok"]
    assert cell["agreement"]["max_abs_dx_lowrank_dense"] <= 1e-3 < cell["agreement"]["max_abs_dx_dense_numpy"]


def test_extrapolation_separates_fixed_cost(bench):
    runs = {1: {"best": 1.0 + 1 * 0.5, "median": 2.0 + 1 * 0.5, "cpu_best": 1.5 + 1 * 0.9},
            40: {"best": 1.0 + 40 * 0.5, "median": 2.0 + 40 * 0.5, "cpu_best": 1.5 + 40 * 0.9}}
    out = bench._extrapolate(runs, 1000)
    assert out["t1000_best"] == pytest.approx(1.0 + 1000 * 0.5)
    assert out["t1000_median"] == pytest.approx(2.0 + 1000 * 0.5)
    assert out["fixed_best"] == pytest.approx(1.0)
    assert out["t1000_cpu_best"] == pytest.approx(1.5 + 1000 * 0.9)


def test_extrapolation_survives_noise(bench):
    # a longer run measured faster than a shorter one (noise): no negative or zero time comes out
    runs = {1: {"best": 2.0, "median": 2.0, "cpu_best": 2.0}, 40: {"best": 1.9, "median": 1.9, "cpu_best": 1.9}}
    out = bench._extrapolate(runs, 1000)
    assert out["clamped_best"]
    assert out["t1000_best"] == pytest.approx(1000 / 40 * 1.9)


def test_rounds_protocol_alternates_order_and_pairs_calls(bench, monkeypatch):
    calls = []
    fns = {name: (lambda name=name: calls.append(name) or name) for name in ("a", "b", "c")}
    timed = bench._timed(fns, repeats=3, protocol="rounds", pause=0.0)
    # first calls (compilation) in order, then rounds in order, reversed, in order
    assert calls == ["a", "b", "c"] + ["a", "b", "c"] + ["c", "b", "a"] + ["a", "b", "c"]
    assert all(len(timed[name][1]) == 3 and timed[name][3] == name for name in fns)
    calls.clear()
    bench._timed(fns, repeats=2, protocol="blocks", pause=0.0)
    assert calls == ["a", "b", "c"] + ["a", "a", "b", "b", "c", "c"]
    # a pause only before a call whose library differs from the previous call's
    events = []
    monkeypatch.setattr(bench.time, "sleep", lambda s: events.append("pause"))
    fns = {name: (lambda name=name: events.append(name)) for name in ("x1", "x2", "np")}
    bench._timed(fns, repeats=2, protocol="rounds", pause=0.5, library=lambda name: name[0])
    assert events == ["x1", "x2", "np"] + ["pause", "x1", "x2", "pause", "np"] + ["np", "pause", "x2", "x1"]
    with pytest.raises(ValueError, match="protocol"):
        bench._timed(fns, repeats=1, protocol="interleaved", pause=0.0)


def test_paired_ratios_and_round_estimates(bench):
    paired = bench._paired([2.0, 3.0, 8.0], [1.0, 1.0, 2.0, 5.0])  # the fourth round is unpaired
    assert paired["ratios"] == [2.0, 3.0, 4.0] and paired["rounds"] == 3
    assert (paired["median"], paired["min"], paired["max"]) == (3.0, 2.0, 4.0)
    # per-round lines through (1, t1) and (40, t40): one-time cost 1 s and 0.5 s a step, then 2 s
    # and 0.25 s a step; a round whose line has a negative one-time cost is scaled in proportion
    t1, t40 = [1.5, 2.25, 0.1], [21.0, 12.0, 20.0]
    est = bench._round_estimates([t1, t40], (1, 40), 1000)
    assert est == pytest.approx([1.0 + 1000 * 0.5, 2.0 + 1000 * 0.25, 20.0 * 1000 / 40])
    assert bench._round_estimates([[3.0, 4.0]], (1000,), 1000) == [3.0, 4.0]
