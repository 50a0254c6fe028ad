"""The ``lowrank-rnn motifs`` sub-command: predictions for a homogeneous Gaussian E–I ensemble."""

from __future__ import annotations

import argparse
import json

import numpy as np

from .._checks import positive_int, real_scalar
from ._ensemble import MotifEnsemble
from ._theory import effective_connectivity, outliers, paradoxical, population_response


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``lowrank-rnn motifs`` to ``parser``."""
    parser.add_argument("--n-e", type=int, default=800, help="number of excitatory neurons (default 800)")
    parser.add_argument("--n-i", type=int, default=200, help="number of inhibitory neurons (default 200)")
    parser.add_argument("--j-e", type=float, default=0.65,
                        help="population-summed excitatory coupling J_E (J0_ij = J_E/N_E; default 0.65)")
    parser.add_argument("--j-i", type=float, default=1.65,
                        help="population-summed inhibitory coupling J_I (J0_ij = -J_I/N_I; default 1.65)")
    parser.add_argument("--g", type=float, default=0.2,
                        help="weight standard deviation times sqrt(N) (default 0.2)")
    parser.add_argument("--chain", type=float, default=0.0, help="chain motif statistic (default 0)")
    parser.add_argument("--reciprocal", type=float, default=None, help="reciprocal statistic (default 2 * chain)")
    parser.add_argument("--convergent", type=float, default=None, help="convergent statistic (default |chain|)")
    parser.add_argument("--divergent", type=float, default=None, help="divergent statistic (default |chain|)")
    parser.add_argument("--json", action="store_true", help="print the predictions as JSON")


def predictions(n_e, n_i, j_e, j_i, g, chain=0.0, reciprocal=None, convergent=None, divergent=None) -> dict:
    """Return the predictions printed by ``lowrank-rnn motifs`` as a JSON-ready dict.

    Keys: ``outliers`` (visible outliers, list of ``{"re", "im"}``, decreasing real part),
    ``bulk_radius`` (the rightmost real point of the bulk), ``stable``, ``stability_margin``
    (``1 - max Re lambda``), ``response`` (``chi[p][q]``: rows the responding population E, I,
    columns the input into E, I; ``None`` where ``I - W_eff`` is singular), ``effective_connectivity``,
    ``paradoxical`` and the statistics used. Shao et al. 2025 (arXiv 2411.06802).
    """
    n_e = positive_int("--n-e", n_e)
    n_i = positive_int("--n-i", n_i)
    j_e = real_scalar("--j-e", j_e)
    j_i = real_scalar("--j-i", j_i)
    g = real_scalar("--g", g, low=0.0)
    chain = real_scalar("--chain", chain, low=-1.0, high=1.0)
    stats = {"chain": chain,
             "reciprocal": 2 * chain if reciprocal is None else real_scalar("--reciprocal", reciprocal, low=-1, high=1),
             "convergent": abs(chain) if convergent is None else real_scalar("--convergent", convergent, low=0, high=1),
             "divergent": abs(chain) if divergent is None else real_scalar("--divergent", divergent, low=0, high=1)}
    ens = MotifEnsemble.ei(n_e, n_i, j_e, j_i, g, **stats)
    pred = outliers(ens)
    margin = float(1.0 - pred.max_real)
    chi = population_response(ens)
    response = [[None if not np.isfinite(v) else float(v) for v in row] for row in np.asarray(chi)]
    return {
        "outliers": [{"re": float(z.real), "im": float(z.imag)} for z in pred.visible_values()],
        "bulk_radius": float(pred.bulk.real),
        "stable": bool(margin > 1e-9),
        "stability_margin": margin,
        "response": response,
        "effective_connectivity": np.asarray(effective_connectivity(ens)).tolist(),
        "paradoxical": bool(paradoxical(ens)),
        "lambda0": j_e - j_i,
        "S": float(n_e + n_i) * g**2 * chain,
        "statistics": stats,
        "sizes": [n_e, n_i],
    }


def run(args: argparse.Namespace) -> int:
    """Print the predictions for the options in ``args``; return the exit status."""
    res = predictions(args.n_e, args.n_i, args.j_e, args.j_i, args.g, args.chain, args.reciprocal,
                      args.convergent, args.divergent)
    if args.json:
        print(json.dumps(res, indent=2, allow_nan=False))
        return 0
    st = res["statistics"]
    print(f"E–I Gaussian ensemble: N_E = {args.n_e}, N_I = {args.n_i}, J_E = {args.j_e:g}, J_I = {args.j_i:g} "
          f"(lambda0 = {res['lambda0']:.4g}), g = {args.g:g}")
    print(f"motifs: chain {st['chain']:g}, reciprocal {st['reciprocal']:g}, convergent {st['convergent']:g}, "
          f"divergent {st['divergent']:g};  S = N g^2 chain = {res['S']:.4g}")
    print("predicted outliers:")
    for z in res["outliers"]:
        im = f" {'+' if z['im'] >= 0 else '-'} {abs(z['im']):.4f}i" if abs(z["im"]) > 0 else ""
        print(f"  {z['re']:+.4f}{im}")
    if not res["outliers"]:
        print("  (none outside the bulk)")
    print(f"bulk edge (rightmost real point): {res['bulk_radius']:.4f}")
    margin = res["stability_margin"]
    word = "stable" if res["stable"] else ("marginal (largest real part = 1)" if abs(margin) <= 1e-9 else "unstable")
    print(f"linear stability: {word} (1 - max Re lambda = {margin:+.4g})")
    print("population response chi (rows: response of E, I; columns: input into E, I):")
    if any(v is None for row in res["response"] for v in row):
        print("  not defined: I - W_eff is singular (the network sits on its stability boundary)")
    else:
        for name, row in zip(("E", "I"), res["response"]):
            print(f"  {name}: {row[0]:+.4f}  {row[1]:+.4f}")
        if not res["stable"]:
            print("  (the network is unstable: these are fixed points the dynamics do not reach)")
    wee = res["effective_connectivity"][0][0]
    if not res["stable"]:
        verdict = "no steady state to respond with (not stable)"
    else:
        verdict = "paradoxical (negative)" if res["paradoxical"] else "not paradoxical"
    print(f"W_eff,EE = {wee:.4f} ({'>' if wee > 1 else '<='} 1): inhibitory response to input into I {verdict}")
    return 0
