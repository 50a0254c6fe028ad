"""Closed-loop simulation of the Israely et al. 2025 network: batched JAX against a NumPy loop.

Issue 16, item 6. The closed loop ``x <- x + dt(-x + J tanh x + alpha V e_k + beta U w^T tanh x)``
(N = 1000, g = 1.75, dt = 0.1; w a fixed readout), measured in network-ratio-steps per second
(one step of one network at one beta/alpha) along three paths in one process:

* ``jax_chunk``: what one chunk of ``reproduce israely2025`` runs: one network at ``--ratios``
  values of beta/alpha at once (:class:`lowrank_rnn.models.Reservoir` ``run`` with a
  :class:`~lowrank_rnn.models.Loop`, ``jax.vmap`` over the ratios with J shared, so a step is one
  (N, N) x (N, ratios) product), float32;
* ``jax_single``: the same at one ratio (a matrix-vector product per step), float32;
* ``numpy_loop``: the authors' formulation, a Python loop over steps of one network at one ratio in
  float64 NumPy (their dtype), one matrix-vector product per step, on one BLAS thread (their
  130 CPU-hours are single-core hours; on this loaded machine multithreaded OpenBLAS matrix-vector
  products were also 10x slower than single-threaded ones).

The paths are timed in rounds (each path once per round, the order reversed every other round);
the report gives each path's median throughput and the median and range of the same-round ratios
to the NumPy loop. From the ``jax_chunk`` throughput it projects the simulation time of the
paper's full sweep (30 ratios x 600 networks x 2 runs of 80 000 steps) and sets it beside the
authors' 130 CPU-hours (their saved ``runtime_sec`` = 467 380 s). The readout fits (normal
equations over 72 000 samples, about half the simulation's multiply-adds) are not included.

Run ``python benchmarks/bench_israely.py --out results/bench_israely.json``; ``--quick`` is a smoke
run (N = 200, few steps).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import time

import jax
import jax.numpy as jnp
import numpy as np
from threadpoolctl import threadpool_limits

from lowrank_rnn.models import Loop, Reservoir

G, DT, ALPHA = 1.75, 0.1, 0.25
FULL_SWEEP_STEPS = 30 * 600 * 2 * 80_000      # network-ratio-steps of the paper's sweep
AUTHORS_SECONDS = 467_380.0


def _setup(N: int, P: int, seed: int = 0):
    key = jax.random.key(seed)
    res = Reservoir.sample(N, g=G, channels={"cortical": 8, "cerebellar": 2},
                           scales={"cerebellar": 1 / np.sqrt(2)}, key=key)
    w = np.random.default_rng(seed).normal(size=(N, 2)) / N
    ratios = jnp.linspace(0.5, 1.5, P)
    x0 = 0.5 * np.random.default_rng(seed + 1).normal(size=N)
    return res, jnp.asarray(w, jnp.float32), ratios, x0


def _jax_path(res, w, n_steps: int):
    u = ALPHA * jnp.eye(8)[0]

    def one(ratio, x0):
        x, _ = res.run({"cortical": u}, n_steps=n_steps, dt=DT, x0=x0,
                       loop=Loop(w, channel="cerebellar", gain=ALPHA * ratio))
        return x

    return jax.jit(jax.vmap(one, in_axes=(0, None)))


def _numpy_loop(J, V, U, w, beta, x0, n_steps: int):
    with threadpool_limits(1):
        return _numpy_steps(J, V, U, w, beta, x0, n_steps)


def _numpy_steps(J, V, U, w, beta, x0, n_steps: int):
    x = x0.copy()
    z = w.T @ np.tanh(x)
    inp = ALPHA * V[:, 0]
    for _ in range(n_steps):
        r = np.tanh(x)
        x = x + DT * (-x + J @ r + inp + beta * (U @ z))
        z = w.T @ np.tanh(x)
    return x


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--N", type=int, default=1000)
    ap.add_argument("--ratios", type=int, default=30, help="ratios per chunk (jax_chunk)")
    ap.add_argument("--steps", type=int, default=1000, help="steps per JAX call")
    ap.add_argument("--numpy-steps", type=int, default=2000, help="steps per NumPy call")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.N, args.ratios, args.steps, args.numpy_steps, args.rounds = 200, 4, 50, 20, 2
    res, w, ratios, x0 = _setup(args.N, args.ratios)
    J, V, U = (np.asarray(a, np.float64) for a in (res.bulk, res.channels["cortical"], res.channels["cerebellar"]))
    w64 = np.asarray(w, np.float64)
    chunk = _jax_path(res, w, args.steps)
    x0j = jnp.asarray(x0, jnp.float32)
    one = ratios[:1]
    paths = {
        "jax_chunk": (lambda: jax.block_until_ready(chunk(ratios, x0j)), args.ratios * args.steps),
        "jax_single": (lambda: jax.block_until_ready(chunk(one, x0j)), args.steps),
        "numpy_loop": (lambda: _numpy_loop(J, V, U, w64, ALPHA * float(one[0]), x0, args.numpy_steps),
                       args.numpy_steps),
    }
    # agreement (before timing, also compiles): float32 JAX against float64 NumPy over 20 steps
    # (the network is chaotic, so longer runs separate at the rate of its largest Lyapunov exponent)
    short = _jax_path(res, w, 20)
    beta = ALPHA * float(one[0])
    agree = float(np.max(np.abs(np.asarray(short(one, x0j))[0] - _numpy_loop(J, V, U, w64, beta, x0, 20))))
    for fn, _ in paths.values():
        fn()
    times = {name: [] for name in paths}
    for rnd in range(args.rounds):
        order = list(paths) if rnd % 2 == 0 else list(reversed(paths))
        for name in order:
            fn, _ = paths[name]
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    rate = {name: [work / t for t in times[name]] for name, (_, work) in paths.items()}
    ratio = {name: [a / b for a, b in zip(rate[name], rate["numpy_loop"])] for name in paths if name != "numpy_loop"}
    median = {name: float(np.median(v)) for name, v in rate.items()}
    proj_s = FULL_SWEEP_STEPS / median["jax_chunk"]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=os.path.dirname(__file__)).stdout.strip()
    except OSError:
        commit = ""
    out = {
        "config": vars(args), "max_abs_diff_20_steps": agree,
        "network_ratio_steps_per_s": median,
        "speedup_vs_numpy": {k: {"median": float(np.median(v)), "min": float(min(v)), "max": float(max(v))}
                             for k, v in ratio.items()},
        "projected_full_sweep_simulation_hours": proj_s / 3600,
        "numpy_projected_full_sweep_hours": FULL_SWEEP_STEPS / median["numpy_loop"] / 3600,
        "authors_cpu_hours": AUTHORS_SECONDS / 3600,
        # the authors' whole protocol (both runs and the readout fits), per second of one CPU
        "authors_network_ratio_steps_per_s": FULL_SWEEP_STEPS / AUTHORS_SECONDS,
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
                    "jax_backend": jax.default_backend(), "load_avg": os.getloadavg()},
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "commit": commit,
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    return out


if __name__ == "__main__":
    main()
