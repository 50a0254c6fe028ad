"""Predicting E–I motif effects on a grid, against diagonalising one sampled network per grid point.

Issue 5, item 7. For a 50 x 50 grid of motif strengths, two ways to find the dominant eigenvalues:

* ``theory``: :func:`lowrank_rnn.motifs.outliers` (with the bulk edge and visibility test) and
  :func:`lowrank_rnn.motifs.population_response` on the whole grid at once (vectorised NumPy over a
  batched :class:`~lowrank_rnn.motifs.MotifEnsemble`; no N x N matrix anywhere);
* ``numerics``: sample one N = 2000 network per grid point (``MotifEnsemble.sample``) and compute all
  its eigenvalues with ``numpy.linalg.eigvals`` (LAPACK ``geev``, float64).

Three grids are timed: (a) homogeneous chain strength x reciprocal strength (Shao et al. Fig. 2
setting; the reciprocity of the i.i.d. residual shifts each outlier by d / mu in closed form),
(b) cell-type-specific chains tau_EE x tau_EI (Fig. 11 setting, sparse Gaussian approximation), and
(c) a population-specific ensemble (block-specific s.d., loadings and latent correlations) with a
grid of i.i.d. reciprocities kappa_EE x kappa_II, whose outliers need the Newton refinement of
``det(I - M_L diag(g(lambda))) = 0`` (the slowest path of the theory).

Diagonalising 2500 networks of N = 2000 takes hours, so the numerics are timed on ``--points``
grid points (spread over the grid) and the mean time per point is multiplied by the number of grid
points; the table says so. Each theory timing is the median of ``--repeats`` calls after one warm-up.
Times are ``time.perf_counter`` wall-clock in one process; the BLAS thread count is whatever the
environment sets (reported).

Run ``python benchmarks/bench_motifs.py --out results/bench_motifs.json``; ``--quick`` is a smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

from lowrank_rnn import motifs as mo


def grids(n: int, N: int):
    """The two batched ensembles of the benchmark, each with an n x n grid."""
    ne = 4 * N // 5
    chain = np.linspace(0.0, 0.08, n)[:, None]
    extra = np.linspace(0.0, 0.3, n)[None, :]  # reciprocal beyond 2 chain (i.i.d. part)
    homog = mo.MotifEnsemble.ei(ne, N - ne, 0.65, 1.65, g=0.2 * np.sqrt(1000 / N), chain=chain,
                                reciprocal=2 * chain + extra)
    t_ee = np.linspace(0.0, 0.15, n)[:, None]
    t_ei = np.linspace(-0.15, 0.15, n)[None, :]
    cell = mo.MotifEnsemble.from_sparse(ne, N - ne, c=0.2, J=0.00325 * 1500 / N, inh_ratio=6.0,
                                        chain={"EE": t_ee, "EI": t_ei})
    k_ee = np.linspace(-0.3, 0.3, n)[:, None, None, None] * np.array([[1.0, 0.0], [0.0, 0.0]])
    k_ii = np.linspace(-0.3, 0.3, n)[None, :, None, None] * np.array([[0.0, 0.0], [0.0, 1.0]])
    kappa = k_ee + k_ii + np.array([[0.0, 0.1], [0.1, 0.0]])
    pops = mo.MotifEnsemble((ne, N - ne), [[0.65, -1.65], [0.65, -1.65]], [[0.2, 0.3], [0.25, 0.35]],
                            conv_loading=[[0.3, 0.2], [0.25, -0.3]], div_loading=[[0.3, 0.25], [-0.2, 0.3]],
                            latent_corr=[0.9, -0.7], iid_reciprocal=kappa)
    return {"homogeneous chain x reciprocal": homog, "cell-type chains tau_EE x tau_EI": cell,
            "population-specific, kappa_EE x kappa_II": pops}


def time_theory(ens, repeats: int) -> tuple[float, dict]:
    def once():
        pred = mo.outliers(ens)
        chi = mo.population_response(ens)
        return pred, chi

    once()  # warm-up
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        pred, chi = once()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), {"max_real": pred.max_real, "chi": chi}


def time_numerics(ens, points: int, n: int) -> tuple[float, list]:
    import jax

    flat = np.linspace(0, n * n - 1, points).astype(int)
    ts, checks = [], []
    for k, idx in enumerate(flat):
        i, j = divmod(int(idx), n)
        one = ens[i, j]
        t0 = time.perf_counter()
        ev = np.linalg.eigvals(one.sample(key=jax.random.key(k)))
        ts.append(time.perf_counter() - t0)
        checks.append((i, j, float(ev.real.max())))
    return float(np.mean(ts)), checks


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grid", type=int, default=50, help="grid size per axis (default 50)")
    ap.add_argument("--N", type=int, default=2000, help="network size for the numerics (default 2000)")
    ap.add_argument("--points", type=int, default=3, help="grid points diagonalised per grid (default 3)")
    ap.add_argument("--repeats", type=int, default=5, help="theory timings (median; default 5)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--quick", action="store_true", help="smoke run: grid 6, N = 300, 2 points")
    args = ap.parse_args(argv)
    if args.quick:
        args.grid, args.N, args.points, args.repeats = 6, 300, 2, 2
    n = args.grid
    rows = []
    for name, ens in grids(n, args.N).items():
        t_theory, pred = time_theory(ens, args.repeats)
        t_point, checks = time_numerics(ens, args.points, n)
        t_numerics = t_point * n * n
        # sanity: the sampled networks' largest real part is near the predicted one
        err = max(abs(m - float(pred["max_real"][i, j])) for i, j, m in checks)
        rows.append({"grid": name, "grid_points": n * n, "N": args.N, "theory_s": t_theory,
                     "numerics_per_point_s": t_point, "numerics_extrapolated_s": t_numerics,
                     "ratio": t_numerics / t_theory, "points_timed": args.points,
                     "max_abs_diff_max_real": err})
    info = {"python": sys.version.split()[0], "numpy": np.__version__, "machine": platform.machine(),
            "cpus": os.cpu_count(), "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
            "command": "python benchmarks/bench_motifs.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    print(f"| grid ({n} x {n}) | theory: outliers + responses (s) | numerics: one N = {args.N} eig per point "
          f"(s, {args.points} timed, x {n * n}) | ratio | max |max Re λ num. − theory| |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['grid']} | {r['theory_s']:.3f} | {r['numerics_extrapolated_s']:.0f} "
              f"({r['numerics_per_point_s']:.2f} per point) | {r['ratio']:.3g} | {r['max_abs_diff_max_real']:.3f} |")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            json.dump({"rows": rows, "info": info}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
