"""``lowrank-rnn fit --data FILE (--rank R | --select-rank) --out DIR``: a low-rank RNN fitted to a
recording (:func:`lowrank_rnn.fitting.fit_lowrank`, Valente, Pillow & Ostojic 2022), with the
fitted model, a report, ``results.json`` and figures (fit against data per condition, rank
selection, latent flow of the fitted network)."""

from __future__ import annotations

import argparse
import json

import jax
import numpy as np

from .._checks import positive_int, real_scalar
from .._errors import ArgumentError
from .._io import atomic_write_bytes, output_folder, save, save_figure
from ..analysis import latent_fixed_points, latents, plot_latent_flow
from ._circuit_cli import read_recording
from ._lowrank import OBSERVATIONS, LowRankFit, RankSelection, fit_lowrank, select_rank
from ._recording import Recording


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``fit`` sub-command's arguments."""
    parser.add_argument("--data", required=True, help="the recording: .nwb, a saved Recording (.npz), or an .npz "
                        "with rates (trials, time, neurons), optional inputs (trials, time, K), conditions and dt")
    parser.add_argument("--dt", type=float, default=None, help="time step of a plain .npz without a 'dt' array")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--rank", type=int, default=None, help="R, the rank of the fitted connectivity")
    which.add_argument("--select-rank", action="store_true", help="choose the rank by cross-validation "
                       "over held-out trials and neurons (see --ranks, --folds)")
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--ranks", default="1,2,3,4,5", help="ranks tried by --select-rank (default 1,2,3,4,5)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    parser.add_argument("--average", action="store_true", help="fit the trial averages per condition")
    parser.add_argument("--observation", default="affine", choices=OBSERVATIONS,
                        help="affine: rates = gain tanh(x) + offset per neuron (default); rates: tanh(x) itself")
    parser.add_argument("--tau", type=float, default=None, help="time constant in the data's time unit "
                        "(default 5 dt: alpha = 0.2 as published)")
    parser.add_argument("--epochs", type=int, default=500, help="epochs (default 500)")
    parser.add_argument("--lr", type=float, default=3e-2, help="Adam learning rate (default 0.03)")
    parser.add_argument("--batch-size", type=int, default=8, help="trials per Adam step (default 8; minibatches "
                        "of a few trials converge much faster than full batches)")
    parser.add_argument("--restarts", type=int, default=2, help="fits per rank, the best kept (default 2)")
    parser.add_argument("--test-fraction", type=float, default=0.2,
                        help="trials held out to score the final fit (default 0.2)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _ranks(text: str) -> tuple[int, ...]:
    try:
        ranks = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ArgumentError(f"--ranks must be comma-separated integers, got {text!r}") from None
    if not ranks:
        raise ArgumentError("--ranks must name at least one rank")
    return ranks


def fit_figure(fit: LowRankFit, rec: Recording, *, n_neurons: int = 6):
    """Return a figure: the recorded activity (solid) and the fit (dashed) of the ``n_neurons`` most
    variable neurons, averaged per condition (or the first trials without conditions)."""
    import matplotlib.pyplot as plt

    pred = fit.predict(rec)
    rates = np.asarray(rec.rates)
    if rec.conditions is not None:
        labels = np.unique(rec.conditions)[:8]
        groups = [np.asarray(rec.conditions) == c for c in labels]
    else:
        labels = np.arange(min(6, rec.n_trials))
        groups = [np.arange(rec.n_trials) == i for i in labels]
    order = np.argsort(-rates.reshape(-1, rec.n_neurons).var(axis=0))[:n_neurons]
    cols = min(3, order.size)
    rows = int(np.ceil(order.size / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.3 * rows), squeeze=False)
    t = np.arange(rec.n_time) * rec.dt
    cmap = plt.get_cmap("coolwarm")
    for k, i in enumerate(order):
        ax = axes[k // cols, k % cols]
        for g, (lab, sel) in enumerate(zip(labels, groups)):
            color = cmap(g / max(len(labels) - 1, 1))
            ax.plot(t, rates[sel, :, i].mean(0), color=color, lw=1.5, label=str(lab) if k == 0 else None)
            ax.plot(t, pred[sel, :, i].mean(0), color=color, lw=1.0, ls="--")
        ax.set_title(f"neuron {i}", fontsize="small")
    for j in range(order.size, rows * cols):
        axes[j // cols, j % cols].axis("off")
    axes[0, 0].legend(fontsize="x-small", frameon=False, title="condition" if rec.conditions is not None else "trial",
                      title_fontsize="x-small")
    fig.suptitle(f"recording (solid) and rank-{fit.rank} fit (dashed); R² train {fit.r2_train:.3f}, "
                 f"test {fit.r2_test:.3f}", fontsize="small")
    fig.tight_layout()
    return fig


def flow_figure(fit: LowRankFit, rec: Recording):
    """Return a figure of the fitted network's latent dynamics without input: the flow and fixed
    points in the (kappa_1, kappa_2) plane for rank two (with the condition-mean latent
    trajectories), d kappa/dt against kappa for rank one; None for higher ranks."""
    import matplotlib.pyplot as plt

    model = fit.model
    if model.rank > 2:
        return None
    lat = latents(model, np.asarray(rec.inputs if rec.inputs is not None else
                                    np.zeros((rec.n_trials, rec.n_time, 0)), np.float32))
    if model.rank == 2:
        traj = lat.kappa
        if rec.conditions is not None:
            traj = np.stack([traj[np.asarray(rec.conditions) == c].mean(0) for c in np.unique(rec.conditions)])
        ax = plot_latent_flow(model, trajectories=traj[:12], title="fitted network, no input")
        return ax.figure
    m, n = np.asarray(model.m, np.float64), np.asarray(model.n, np.float64)
    h0 = np.zeros(model.N)
    lim = 1.2 * max(float(np.max(np.abs(lat.kappa))), float(np.mean(np.abs(n))))
    k = np.linspace(-lim, lim, 301)
    flow = -k + np.tanh(k[:, None] * m[:, 0] + h0) @ n[:, 0] / model.N
    fig, ax = plt.subplots(figsize=(4.2, 3.2))
    ax.plot(k, flow, color="0.2")
    ax.axhline(0, color="0.7", lw=0.8)
    for fp in latent_fixed_points(model):
        ax.plot(fp.kappa[0], 0, "o", ms=7, mfc="k" if fp.stable else "white", mec="k", zorder=5)
    ax.set_xlabel(r"$\kappa$")
    ax.set_ylabel(r"$d\kappa/dt$")
    ax.set_title("fitted network, no input", fontsize="medium")
    fig.tight_layout()
    return fig


def loss_figure(fit: LowRankFit):
    """Return a figure of the training (and held-out) loss per epoch."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    ax.plot(np.arange(1, fit.loss.size + 1), fit.loss, label="training")
    if fit.test_loss.size:
        ax.plot(np.arange(1, fit.test_loss.size + 1), fit.test_loss, label="held-out trials")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean squared error")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def outliers(model) -> np.ndarray:
    """The R nonzero eigenvalues of ``m n^T / N`` (those of the R x R overlap matrix ``n^T m / N``),
    by decreasing real part."""
    ov = np.asarray(model.n, np.float64).T @ np.asarray(model.m, np.float64) / model.N
    ev = np.linalg.eigvals(ov)
    return ev[np.lexsort((-ev.imag, -ev.real))]


def summary(fit: LowRankFit, selection: RankSelection | None) -> dict:
    """Return the JSON-able numbers of a fit (the content of ``results.json``)."""
    out = {"rank": fit.rank, "n_neurons": fit.model.N, "n_inputs": fit.model.n_inputs, "alpha": fit.model.alpha,
           "observation": fit.observation, "r2_train": fit.r2_train,
           "r2_test": None if not np.isfinite(fit.r2_test) else fit.r2_test,
           "final_loss": float(fit.loss[-1]), "epochs": fit.epochs,
           "outliers": [{"re": float(z.real), "im": float(z.imag)} for z in outliers(fit.model)],
           "fixed_points_no_input": [{"kappa": fp.kappa.tolist(), "kind": fp.kind}
                                     for fp in latent_fixed_points(fit.model)] if fit.rank <= 3 else None,
           "gain": fit.gain.tolist(), "offset": fit.offset.tolist()}
    if selection is not None:
        out["rank_selection"] = {"ranks": selection.ranks.tolist(), "r2_held_out_neurons": selection.r2.tolist(),
                                 "r2_held_out_trials": selection.r2_trials.tolist(),
                                 "r2_train": selection.r2_train.tolist(), "best": selection.best}
    return out


def run(args: argparse.Namespace) -> int:
    """Fit (choosing the rank first with ``--select-rank``), then write ``model.npz``, ``report.md``,
    ``results.json`` and the figures."""
    import matplotlib.pyplot as plt

    for name in ("epochs", "restarts", "folds", "batch_size"):
        positive_int("--" + name.replace("_", "-"), getattr(args, name))
    real_scalar("--lr", args.lr, low=0.0, low_open=True)
    real_scalar("--test-fraction", args.test_fraction, low=0.0, high=1.0, high_open=True)
    rank = None if args.select_rank else positive_int("--rank", args.rank)
    ranks = _ranks(args.ranks) if args.select_rank else None
    rec = read_recording(args.data, dt=args.dt)
    if args.average:
        if rec.conditions is None:
            raise ArgumentError(f"--average: the recording in {args.data} has no condition labels")
        rec = rec.average_by_condition()
    if rank is not None and rank > rec.n_neurons:
        raise ArgumentError(f"--rank must be <= the number of recorded neurons ({rec.n_neurons}), got {rank}")
    out = output_folder(args.out)
    k_sel, k_fit = jax.random.split(jax.random.key(args.seed))
    common = dict(epochs=args.epochs, lr=args.lr, observation=args.observation, tau=args.tau,
                  batch_size=args.batch_size)
    selection = None
    if args.select_rank:
        selection = select_rank(rec, ranks, folds=args.folds, key=k_sel, restarts=args.restarts, **common)
        rank = selection.best
        ax = selection.plot()
        save_figure(ax.figure, out / "rank_selection.png")
        plt.close(ax.figure)
    fit = fit_lowrank(rec, rank, key=k_fit, test_fraction=args.test_fraction, restarts=args.restarts, **common)
    save(fit.model, out / "model.npz")
    figures = {"fit.png": fit_figure(fit, rec), "loss.png": loss_figure(fit), "latent_flow.png": flow_figure(fit, rec)}
    for name, fig in figures.items():
        if fig is not None:
            save_figure(fig, out / name)
            plt.close(fig)
    results = summary(fit, selection)
    results.update({"data": str(args.data), "seed": args.seed, "restarts": args.restarts, "average": args.average})
    atomic_write_bytes(out / "results.json", json.dumps(results, indent=2).encode())
    ev = outliers(fit.model)
    lines = ["# Low-rank RNN fitted to a recording", "",
             (f"Data: `{args.data}` ({rec.n_trials} {'condition averages' if args.average else 'trials'}, "
              f"{rec.n_time} steps of {rec.dt:g}, {rec.n_neurons} neurons, {rec.n_inputs} inputs). A rank-{rank} "
              f"network with one unit per neuron (alpha = {fit.model.alpha:g}, observation {fit.observation!r}) "
              f"fitted by {args.epochs} epochs of Adam, {args.restarts} restart(s) (Valente, Pillow & Ostojic "
              "2022, NeurIPS). The model is in `model.npz` (`lowrank_rnn.load`); its readouts plus the offsets in "
              "`results.json` predict the recording."), ""]
    if selection is not None:
        lines += ["## Rank selection", "",
                  f"{args.folds}-fold cross-validation over trials and neurons: R² of held-out neurons on "
                  "held-out trials (read out from the latents of a network fitted without them) and of the "
                  "fitted neurons on held-out trials; median over folds.", "",
                  "| rank | R² held-out neurons | R² held-out trials |", "|---|---|---|"]
        for j, r in enumerate(selection.ranks):
            lines.append(f"| {r} | {np.median(selection.r2[:, j]):.4f} | {np.median(selection.r2_trials[:, j]):.4f} |")
        lines += ["", f"Selected rank: **{selection.best}**.", "", "![rank selection](rank_selection.png)", ""]
    lines += ["## Fit", "", "| measure | value |", "|---|---|",
              f"| R² training trials | {fit.r2_train:.4f} |", f"| R² held-out trials | {fit.r2_test:.4f} |",
              f"| final training loss | {fit.loss[-1]:.4g} |",
              "| outliers of m nᵀ/N | " + ", ".join(f"{z.real:.3f}" + (f"{z.imag:+.3f}i" if abs(z.imag) > 1e-9 else "")
                                                   for z in ev) + " |", "",
              "![fit](fit.png)", "", "![loss](loss.png)", ""]
    if figures["latent_flow.png"] is not None:
        fps = latent_fixed_points(fit.model)
        lines += ["## Latent dynamics of the fitted network", "",
                  f"Without input the fitted network has {len(fps)} fixed point(s): "
                  + "; ".join(f"kappa = {np.round(fp.kappa, 3).tolist()} ({fp.kind})" for fp in fps) + ".", "",
                  "![latent flow](latent_flow.png)", ""]
    atomic_write_bytes(out / "report.md", "\n".join(lines).encode())
    print(f"rank {rank}: R² train {fit.r2_train:.4f}, test {fit.r2_test:.4f}")
    print(f"wrote {out / 'model.npz'}, {out / 'report.md'}, {out / 'results.json'} and figures")
    return 0
