"""``lowrank-rnn sweep rank-one``: finite-size simulations over (g, overlap, N) through
:func:`lowrank_rnn.sweep`, set beside the mean-field phase diagram."""

from __future__ import annotations

import argparse
import functools
import json

import jax
import numpy as np

from .._checks import positive_int, real_scalar
from .._errors import ArgumentError
from .._io import atomic_write_bytes, output_folder
from ..theory import REGIONS, phase_diagram
from ._builtin import MEAN_M, rank_one_simulation
from ._sweep import sweep


def _values(name: str, text: str, kind=float, *, low: float = 0.0) -> list:
    try:
        vals = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ArgumentError(f"--{name} must be comma-separated numbers, got {text!r}") from None
    if not vals:
        raise ArgumentError(f"--{name} is empty")
    for v in vals:
        if not np.isfinite(v) or v < low:
            raise ArgumentError(f"--{name} values must be finite numbers >= {low:g}, got {v}")
    return vals


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``sweep`` sub-command's arguments."""
    parser.add_argument("model", choices=["rank-one"], help="the built-in sweep: rank-one networks with a "
                                                              "random bulk (Mastrogiuseppe & Ostojic 2018, Fig. 1)")
    parser.add_argument("--out", required=True, help="output folder: the Zarr store sweep.zarr and summary.json")
    parser.add_argument("--g", default="0.5,1.5,2.5", help="bulk strengths g (comma-separated)")
    parser.add_argument("--overlap", default="0.5,2.0,3.5", help="mean overlaps M_m M_n")
    parser.add_argument("--N", default="500", help="network sizes")
    parser.add_argument("--replicates", type=int, default=4, help="networks per point")
    parser.add_argument("--T", type=float, default=60.0, help="duration in units of tau")
    parser.add_argument("--dt", type=float, default=0.1, help="Euler step")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address (default: a local cluster)")


def run(args: argparse.Namespace) -> int:
    """Run the sweep, print a table of simulation against theory, write ``summary.json``."""
    g = _values("g", args.g)
    overlap = _values("overlap", args.overlap)
    N = _values("N", args.N, int, low=2)
    T = real_scalar("--T", args.T, low=0.0, low_open=True)
    dt = real_scalar("--dt", args.dt, low=0.0, high=1.0, low_open=True)
    if int(round(T / dt)) < 4:
        raise ArgumentError(f"--T = {T:g} must hold at least 4 steps of --dt = {dt:g}")
    positive_int("--replicates", args.replicates)
    out = output_folder(args.out)
    fn = functools.partial(rank_one_simulation, T=T, dt=dt)
    ds = sweep(fn, {"g": g, "overlap": overlap, "N": N}, replicates=args.replicates, key=jax.random.key(args.seed),
               store=out / "sweep.zarr", static=("N",), client=args.scheduler).load()
    pd = phase_diagram(np.asarray(g), np.asarray(overlap), mean_m=MEAN_M)
    kappa = np.abs(np.asarray(ds["kappa"].values))          # (g, overlap, N, replicate): |kappa| of either state
    rows = []
    print(f"{'g':>6} {'overlap':>8} {'N':>6} {'|kappa| sim':>14} {'kappa theory':>13} {'region':>24}")
    for i, gi in enumerate(g):
        for j, oj in enumerate(overlap):
            for k, nk in enumerate(N):
                sim = kappa[i, j, k]
                mean, sem = float(np.nanmean(sim)), float(np.nanstd(sim, ddof=1) / np.sqrt(np.sum(np.isfinite(sim))))
                theory = float(np.nan_to_num(pd.kappa[i, j], nan=0.0))
                region = REGIONS[int(pd.region[i, j])]
                rows.append({"g": gi, "overlap": oj, "N": nk, "kappa_sim_mean": mean, "kappa_sim_sem": sem,
                             "kappa_theory": theory, "region": region})
                print(f"{gi:6.3g} {oj:8.3g} {nk:6d} {mean:8.3f} ± {sem:5.3f} {theory:13.3f} {region:>24}")
    summary = {"rows": rows, "computed_chunks": ds.attrs["computed_chunks"], "reused_chunks": ds.attrs["reused_chunks"],
               "failures": ds.attrs["failures"]}
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=2).encode())
    print(f"wrote {out / 'sweep.zarr'} and {out / 'summary.json'}")
    return 0
