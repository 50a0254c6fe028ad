"""A small end-to-end example: sample a rank-one ensemble, simulate it, plot spectrum and latent.

Run it as ``lowrank-rnn example --out results/example``. It writes ``example.png`` (the spectrum,
bulk and outlier, theory against numerics; and the latent trajectories kappa(t) from both signs of
the initial condition), the sampled network and ensemble as ``.npz`` files, and ``summary.json``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import jax
import matplotlib
import numpy as np

from . import spectrum
from ._checks import positive_int, real_scalar
from ._ensemble import Ensemble
from ._errors import ArgumentTypeError
from ._io import atomic_write_bytes, output_folder, save, save_figure
from ._simulate import simulate


def run_example(out: Path, *, N: int = 2000, g: float = 0.5, seed: int = 0, progress: bool = True) -> Path:
    """Return the path of the figure written by the example (rank one, M_m = 1.1, M_n = 2).

    The ensemble is the rank-one network of Mastrogiuseppe & Ostojic 2018, Fig. 1, with means
    M_m = 1.1, M_n = 2 and unit standard deviations: overlap 2.2 > 1, so for g below g_C the
    network has two symmetric heterogeneous fixed points, reached from x0 = +0.05 m and -0.05 m.

    The arguments are checked, and ``out`` created, before any work. With ``progress`` each step
    is announced on standard error (the dense eigendecomposition, O(N^3), is the slowest at large N).
    """
    N = positive_int("N", N, low=2)  # the bulk radius is read off the second-largest |eigenvalue|
    g = real_scalar("g", g, low=0.0)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ArgumentTypeError(f"seed must be an integer, got {type(seed).__name__}")
    out = output_folder(out)
    start = time.perf_counter()

    def step(message: str) -> None:
        if progress:
            print(f"[{time.perf_counter() - start:6.1f} s] {message}", file=sys.stderr, flush=True)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    step(f"sampling a rank-one network of N = {N} neurons (g = {g}, seed {seed})")
    ensemble = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=g)
    network = ensemble.sample(N, key=jax.random.key(seed))
    step("simulating the latent trajectories from x0 = +-0.05 m")
    x0 = 0.05 * np.stack([np.asarray(network.m[:, 0]), -np.asarray(network.m[:, 0])])
    traj = simulate(network, T=30.0, dt=0.1, x0=x0, record=("kappa",))

    step(f"eigenvalues of the {N} x {N} connectivity")
    pred_ens = spectrum.predict(ensemble)
    eigs = spectrum.eigenvalues(network)
    numerical_outlier = spectrum.match_outliers(eigs, pred_ens.outliers)[0]

    step(f"plotting and writing to {out}")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.5, 4.2))
    spectrum.plot(ensemble, network, ax=ax1, numerical=eigs)
    ax1.set_title(f"Spectrum: N = {N}, g = {g}, overlap E[nm] = {pred_ens.outliers[0].real:.2f}", fontsize=9)
    for b, label in zip(range(2), ("x0 = +0.05 m", "x0 = -0.05 m")):
        ax2.plot(traj.t, traj.kappa[b, :, 0], label=label)
    ax2.set_xlabel("time (units of $\\tau$)")
    ax2.set_ylabel("latent $\\kappa = n^T\\phi(x)/N$")
    ax2.set_title("Latent trajectories (noise-free, dt = 0.1)", fontsize=9)
    ax2.axhline(0, color="k", lw=0.5)
    ax2.legend(fontsize=8)
    fig.suptitle("lowrank-rnn example: rank-one network, $M_m$ = 1.1, $M_n$ = 2, $\\Sigma_m = \\Sigma_n$ = 1",
                 fontsize=10)
    fig.tight_layout()
    figure = save_figure(fig, out / "example.png")

    save(ensemble, out / "ensemble.npz")
    save(network, out / "network.npz")
    summary = {
        "N": N, "g": g, "seed": seed,
        "predicted_outlier": float(pred_ens.outliers[0].real),
        "network_overlap": float(network.overlap[0, 0]),
        "numerical_outlier": [float(numerical_outlier.real), float(numerical_outlier.imag)],
        "predicted_bulk_radius": g,
        "numerical_bulk_radius": float(np.sort(np.abs(eigs))[-2]),
        "final_kappa": traj.kappa[:, -1, 0].tolist(),
    }
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=2).encode())
    step("done")
    return figure
