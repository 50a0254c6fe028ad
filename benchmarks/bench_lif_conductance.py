"""The exact rate of the fast-synapse conductance LIF against a simulation of equal precision.

Issue 12, item 7. For each parameter set, two ways to get the neuron's output rate:

* ``exact``: :func:`lowrank_rnn.biophys.lif_conductance_rate` (backward master equation, sparse LU on
  two grids, Richardson; relative error about 1e-5 or less), and the same at ``n_grid=200``
  (``coarse``: still 1e-3 or better, its error against the default grid is reported);
* ``simulation``: :func:`lowrank_rnn.biophys.simulate_lif_conductance` (event-driven, exact for the
  model) run long enough for a 1 % standard error: a pilot run measures the standard error per
  unit of simulated time, the timed run uses ``n_neurons`` x ``T`` scaled to give 1 %, and the
  standard error it reached is reported.

Timings are ``time.perf_counter`` wall-clock medians over ``--rounds`` rounds, the two paths
alternating (order reversed every other round), after one warm-up call of each (the simulation's
compilation is not counted); the ratio is the median of the same-round ratios, with its range.

Run ``python benchmarks/bench_lif_conductance.py --out results/bench_lif_conductance.json``;
``--quick`` is a smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import jax
import numpy as np

from lowrank_rnn import biophys

# (label, nu_e, nu_i, neuron): fluctuation-driven near threshold, above threshold, large jumps
SETS = [
    ("a_e = 0.02, near threshold", 1500.0, 1000.0, dict(a_e=0.02, a_i=0.04)),
    ("a_e = 0.01, above threshold", 6000.0, 1000.0, dict(a_e=0.01, a_i=0.04)),
    ("a_e = 0.3, low rate", 30.0, 1000.0, dict(a_e=0.3, a_i=0.04)),
]
NEURONS = 64


def _time(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench(rounds: int, target: float, quick: bool) -> list[dict]:
    rows = []
    for label, nu_e, nu_i, neuron in SETS:
        exact = float(biophys.lif_conductance_rate(nu_e, nu_i, **neuron))
        pilot_T = 2000.0
        pilot = biophys.simulate_lif_conductance(nu_e, nu_i, T=pilot_T, n_neurons=NEURONS, key=jax.random.key(1),
                                                 **neuron)
        rel = float(pilot.rate_se / pilot.rate)
        T = pilot_T * (rel / target) ** 2  # the standard error falls as 1 / sqrt(T)
        if quick:
            T = min(T, 2000.0)

        def run_exact():
            return float(biophys.lif_conductance_rate(nu_e, nu_i, **neuron))

        def run_coarse():
            return float(biophys.lif_conductance_rate(nu_e, nu_i, n_grid=200, **neuron))

        coarse_error = abs(run_coarse() / exact - 1)

        def run_sim(seed=[0]):
            seed[0] += 1
            return biophys.simulate_lif_conductance(nu_e, nu_i, T=T, n_neurons=NEURONS, key=jax.random.key(seed[0]),
                                                    **neuron)

        run_exact()
        run_sim()
        t_exact, t_coarse, t_sim, ratios, ratios_coarse, ses, rates = [], [], [], [], [], [], []
        for r in range(rounds):
            order = (0, 2, 1) if r % 2 == 0 else (1, 2, 0)
            times = {}
            for which in order:
                if which == 0:
                    times[0], _ = _time(run_exact)
                elif which == 2:
                    times[2], _ = _time(run_coarse)
                else:
                    times[1], sim = _time(run_sim)
                    ses.append(float(sim.rate_se / sim.rate))
                    rates.append(float(sim.rate))
            t_exact.append(times[0])
            t_coarse.append(times[2])
            t_sim.append(times[1])
            ratios.append(times[1] / times[0])
            ratios_coarse.append(times[1] / times[2])
        row = {"set": label, "nu_e": nu_e, "nu_i": nu_i, **neuron, "exact_rate_hz": exact,
               "sim_rate_hz_median": statistics.median(rates), "sim_T_ms": T, "sim_neurons": NEURONS,
               "sim_relative_se_median": statistics.median(ses), "exact_s": statistics.median(t_exact),
               "coarse_s": statistics.median(t_coarse), "coarse_relative_error": coarse_error,
               "ratio_coarse_median": statistics.median(ratios_coarse),
               "ratio_coarse_min": min(ratios_coarse), "ratio_coarse_max": max(ratios_coarse),
               "simulation_s": statistics.median(t_sim), "ratio_median": statistics.median(ratios),
               "ratio_min": min(ratios), "ratio_max": max(ratios)}
        rows.append(row)
        print(f"{label}: exact {exact:.4g} Hz in {row['exact_s']:.3g} s; simulation {row['sim_rate_hz_median']:.4g} Hz "
              f"(SE {100 * row['sim_relative_se_median']:.2f} %, {NEURONS} x {T:.0f} ms) in {row['simulation_s']:.3g} s; "
              f"ratio {row['ratio_median']:.1f}x [{row['ratio_min']:.1f}-{row['ratio_max']:.1f}]", file=sys.stderr)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--target", type=float, default=0.01, help="relative standard error of the simulation")
    parser.add_argument("--quick", action="store_true", help="a smoke run (short simulations, 1 round)")
    args = parser.parse_args(argv)
    rows = bench(1 if args.quick else args.rounds, args.target, args.quick)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=os.path.dirname(__file__)).stdout.strip()
    except OSError:
        commit = ""
    meta = {"python": platform.python_version(), "jax": jax.__version__, "numpy": np.__version__,
            "machine": platform.machine(), "load": os.getloadavg(), "commit": commit,
            "date": time.strftime("%Y-%m-%d"), "quick": args.quick}
    print("| parameter set | exact (Hz) | simulation (Hz) | sim. SE | sim. neurons x T | exact (s) | coarse (s), its error "
          "| simulation (s) | simulation / exact [range] | simulation / coarse [range] |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['set']} | {r['exact_rate_hz']:.4g} | {r['sim_rate_hz_median']:.4g} | "
              f"{100 * r['sim_relative_se_median']:.2f} % | {r['sim_neurons']} x {r['sim_T_ms'] / 1000:.3g} s | "
              f"{r['exact_s']:.3g} | {r['coarse_s']:.3g}, {r['coarse_relative_error']:.1e} | {r['simulation_s']:.3g} | "
              f"**{r['ratio_median']:.1f}x** [{r['ratio_min']:.1f}-{r['ratio_max']:.1f}] | "
              f"**{r['ratio_coarse_median']:.1f}x** [{r['ratio_coarse_min']:.1f}-{r['ratio_coarse_max']:.1f}] |")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
