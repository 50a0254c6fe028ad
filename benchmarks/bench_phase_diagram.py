"""Rank-one phase diagram: the vectorised solver against a plain per-point ``scipy.optimize`` loop.

Issue 3, item 7. The grid is ``--n`` x ``--n`` points, g in [0.02, 3.5] by overlap in [0.02, 4.0],
the family of Mastrogiuseppe & Ostojic 2018, Fig. 1 (M_m = 1.1, Sigma_m = Sigma_n = 1, M_n =
overlap / 1.1, no input). At every point both the stationary and the chaotic mean-field solutions
are computed and the point is classified into the four regions.

* ``vectorised``: :func:`lowrank_rnn.theory.phase_diagram` (JAX, float64): tables along kappa per g,
  then Newton at every grid point, vectorised over points (see its docstring). The first call
  includes compilation; the steady time is the best of ``--repeats`` further calls.
* ``baseline``: what a user would write with SciPy, point by point, with the same quadrature (equally
  spaced nodes on [-8.5, 8.5], 101 for single and 61 x 61 for nested averages, NumPy): the
  heterogeneous fixed point by ``scipy.optimize.fsolve`` on (kappa, Delta0) started at (M_n, g^2 +
  M_n^2); its bulk radius and outlier (finite-difference Jacobian of the map); the homogeneous
  chaotic Delta0 by ``brentq``; the chaotic state with kappa > 0 by ``fsolve`` on (kappa, Delta0,
  Delta_inf) in the published form, started half-way between the fixed point and the homogeneous
  chaotic state; a root with Delta0 - Delta_inf < 1e-3 Delta0 is the stationary solution, not a
  chaotic one, and is rejected. The loop is timed on ``--baseline-points`` grid points drawn at random (seeded) and
  scaled to the full grid (time per point x number of points): the whole loop would take hours.

The baseline's regions and kappa are compared with the vectorised solver's on the same points; the
JSON records the agreement (the per-point fsolve loses solutions: it collapses onto Delta_inf =
Delta0, the stationary solution, or misses the branch).

Run ``python benchmarks/bench_phase_diagram.py --out results/bench_phase_diagram.json``; ``--quick``
is a smoke run (20 x 20 grid, 10 baseline points).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import time
import warnings

import numpy as np
from scipy.optimize import brentq, fsolve

from lowrank_rnn.theory import REGIONS, phase_diagram

MEAN_M, SM2 = 1.1, 1.0
L = 8.5


def _nodes(n):
    z = np.linspace(-L, L, n)
    w = np.exp(-0.5 * z * z)
    return z, w / w.sum()


Z1, W1 = _nodes(101)
ZN, WN = _nodes(61)


def _avg(f, mu, D):
    return np.sum(W1 * f(mu + np.sqrt(max(D, 0.0)) * Z1))


def _nested(f, mu, D0, Dinf):
    D0, Dinf = max(D0, 0.0), min(max(Dinf, 0.0), max(D0, 0.0))
    x = mu + np.sqrt(D0 - Dinf) * ZN[:, None] + np.sqrt(Dinf) * ZN[None, :]
    return np.sum(WN * (WN @ f(x)) ** 2)


phi = np.tanh


def dphi(x):
    return 1.0 - np.tanh(x) ** 2


def Phi(x):
    a = np.abs(x)
    return a + np.log1p(np.exp(-2 * a)) - np.log(2)


def _baseline_point(g, ov):
    """Region label and kappa (stationary or chaotic, >= 0) of one grid point, the SciPy way."""
    Mn = ov / MEAN_M

    def stat(v):
        k, D = v
        mu = MEAN_M * k
        return [Mn * _avg(phi, mu, D) - k, g * g * _avg(lambda x: phi(x) ** 2, mu, D) + SM2 * k * k - D]

    (k_s, D_s), info, ier, _ = fsolve(stat, [Mn, g * g + Mn * Mn], full_output=True)
    stat_ok = ier == 1 and k_s > 1e-6 and np.max(np.abs(stat([k_s, D_s]))) < 1e-8
    stable = False
    if stat_ok:
        mu = MEAN_M * k_s
        r = g * np.sqrt(_avg(lambda x: dphi(x) ** 2, mu, D_s))

        def mapping(v):  # (kappa, d) -> (RHS, g^2 [phi^2])
            k, d = v
            D = d + SM2 * k * k
            return np.array([Mn * _avg(phi, MEAN_M * k, D), g * g * _avg(lambda x: phi(x) ** 2, MEAN_M * k, D)])

        x0 = np.array([k_s, D_s - SM2 * k_s**2])
        h = 1e-6
        J = np.stack([(mapping(x0 + h * e) - mapping(x0 - h * e)) / (2 * h) for e in np.eye(2)], axis=1)
        stable = r < 1 and np.max(np.linalg.eigvals(J).real) < 1
    if stable:
        return 1, k_s
    if g < 1 and ov < 1:
        return 0, 0.0
    # homogeneous chaos
    D_c = np.nan
    if g > 1:
        D_c = brentq(lambda D: D * D / 2 - g * g * (_avg(lambda x: Phi(x) ** 2, 0, D) - _avg(Phi, 0, D) ** 2),
                     1e-6, g * g)

    def chaos(v):
        k, D0, Dinf = v
        mu, Q = MEAN_M * k, SM2 * k * k
        return [Mn * _avg(phi, mu, D0) - k,
                g * g * _nested(phi, mu, D0, Dinf) + Q - Dinf,
                (D0**2 - Dinf**2) / 2 - g * g * (_avg(lambda x: Phi(x) ** 2, mu, D0) - _nested(Phi, mu, D0, Dinf))
                - Q * (D0 - Dinf)]

    if g > 1:
        k0 = 0.5 * k_s if stat_ok else 0.5 * Mn
        guess = [k0, 0.5 * ((D_s if stat_ok else g * g) + D_c), 0.5 * ((D_s if stat_ok else g * g))]
        (k, D0, Dinf), info, ier, _ = fsolve(chaos, guess, full_output=True)
        solved = ier == 1 and np.max(np.abs(chaos([k, D0, Dinf]))) < 1e-8
        if solved and k > 1e-4 and D0 - Dinf > 1e-3 * D0:
            return 2, k
        if solved and k > 1e-4:  # a root with Delta_inf ~ Delta0: the stationary solution, not chaos
            return 3, "collapsed"
        if not solved:
            return 3, "failed"
    return 3, 0.0


def _time_vectorised(g, ov, repeats):
    t0, c0 = time.perf_counter(), time.process_time()
    pd = phase_diagram(g, ov)
    first, first_cpu = time.perf_counter() - t0, time.process_time() - c0
    steady, steady_cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        pd = phase_diagram(g, ov)
        steady.append(time.perf_counter() - t0)
        steady_cpu.append(time.process_time() - c0)
    return pd, first, first_cpu, steady, steady_cpu


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="grid points per axis")
    ap.add_argument("--repeats", type=int, default=3, help="steady calls of the vectorised solver")
    ap.add_argument("--baseline-points", type=int, default=1000, help="grid points timed with the SciPy loop")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="smoke run: 20 x 20 grid, 10 baseline points")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.repeats, args.baseline_points = 20, 1, 10
    n = args.n
    g = np.linspace(0.02, 3.5, n)
    ov = np.linspace(0.02, 4.0, n)

    pd, first, first_cpu, steady, steady_cpu = _time_vectorised(g, ov, args.repeats)
    best = min(steady)

    rng = np.random.default_rng(args.seed)
    pts = rng.choice(n * n, size=min(args.baseline_points, n * n), replace=False)
    labels, kappas, t_pts = [], [], []
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    t0, c0 = time.perf_counter(), time.process_time()
    for p in pts:
        i, j = divmod(int(p), n)
        t1 = time.perf_counter()
        lab, k = _baseline_point(g[i], ov[j])
        t_pts.append(time.perf_counter() - t1)
        labels.append(lab), kappas.append(k)
    base_wall, base_cpu = time.perf_counter() - t0, time.process_time() - c0
    per_point = base_wall / len(pts)
    base_full = per_point * n * n

    ii, jj = np.divmod(pts, n)
    ours = pd.region[ii, jj]
    agree = np.asarray(labels) == ours
    k_ours = pd.kappa[ii, jj]
    notes = [k if isinstance(k, str) else "" for k in kappas]
    kap = np.array([np.nan if isinstance(k, str) else k for k in kappas])
    both = agree & (ours != 0) & (ours != 3)
    k_err, k_err_at = None, None
    if both.any():
        dk = np.where(both, np.abs(kap - k_ours), -1.0)
        worst = int(np.argmax(dk))
        k_err = float(dk[worst])
        k_err_at = {"g": float(g[ii[worst]]), "overlap": float(ov[jj[worst]]), "region": REGIONS[ours[worst]],
                    "kappa_baseline": float(kap[worst]), "kappa_vectorised": float(k_ours[worst])}
    disagree = [{"g": float(g[i]), "overlap": float(ov[j]), "baseline": REGIONS[b], "vectorised": REGIONS[o],
                 "baseline_chaotic_solve": note or "no root with kappa > 0"}
                for i, j, b, o, note in zip(ii, jj, labels, ours, notes) if b != o]

    res = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None},
        "grid": [n, n], "g_range": [float(g[0]), float(g[-1])], "overlap_range": [float(ov[0]), float(ov[-1])],
        "vectorised": {"first_call_s": first, "first_call_cpu_s": first_cpu, "steady_s": steady,
                       "steady_cpu_s": steady_cpu, "best_s": best,
                       "region_counts": {r: int(np.sum(pd.region == k)) for k, r in enumerate(REGIONS)}},
        "baseline": {"points": len(pts), "wall_s": base_wall, "cpu_s": base_cpu, "per_point_s": per_point,
                     "per_point_median_s": float(np.median(t_pts)), "scaled_full_grid_s": base_full},
        "ratio_baseline_over_vectorised": base_full / best,
        "ratio_cpu": (base_cpu / len(pts) * n * n) / min(steady_cpu),
        "agreement": {"regions_equal": float(np.mean(agree)), "max_kappa_difference": k_err,
                      "max_kappa_difference_at": k_err_at,
                      "baseline_collapsed_onto_stationary": notes.count("collapsed"),
                      "baseline_fsolve_failed": notes.count("failed"), "disagreements": disagree},
    }
    print(f"grid {n} x {n}: vectorised {best:.2f} s steady (first call {first:.1f} s, with compilation); "
          f"SciPy loop {per_point * 1e3:.1f} ms/point on {len(pts)} points -> {base_full:.0f} s for the grid; "
          f"ratio {base_full / best:.0f}x (CPU time {res['ratio_cpu']:.0f}x); regions agree on {np.mean(agree):.1%} "
          f"of the timed points")
    for d in disagree[:10]:
        print("  disagreement:", d)
    if len(disagree) > 10:
        print(f"  ... {len(disagree) - 10} more in the JSON")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            json.dump(res, fh, indent=1)
    return res


if __name__ == "__main__":
    main()
