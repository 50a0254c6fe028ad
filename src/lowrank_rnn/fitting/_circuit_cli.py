"""``lowrank-rnn fit-circuit --data FILE --nodes n --out DIR``: a latent circuit fitted to a
recording (:func:`lowrank_rnn.fitting.fit_latent_circuit`), with the fitted circuit, a report,
``results.json`` and figures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import numpy as np

from .._checks import positive_int, real_scalar
from .._errors import ArgumentError
from .._io import atomic_write_bytes, output_folder, save, save_figure
from ._circuit import LatentCircuitFit, fit_latent_circuit
from ._recording import Recording


def _indices(name: str, text: str | None):
    if text is None:
        return None
    if text.strip() == "":
        return ()
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ArgumentError(f"{name} must be comma-separated node indices, got {text!r}") from None


def read_recording(path: str | Path, *, dt: float | None = None) -> Recording:
    """Return the :class:`Recording` in ``path``: an ``.nwb`` file (read by
    :meth:`Recording.from_nwb` with its defaults) or an ``.npz`` file (:meth:`Recording.from_npz`: a
    saved Recording, or plain arrays ``rates``, ``inputs``, optional ``outputs``, ``conditions`` and
    ``dt``); ``dt`` for a plain file without one.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "rec.npz")
    >>> np.savez(p, rates=np.ones((2, 5, 3)), inputs=np.zeros((2, 5, 1)), dt=0.1)
    >>> read_recording(p)
    Recording(trials=2, time=5, neurons=3, dt=0.1, inputs=1)
    """
    path = Path(path)
    if not path.is_file():
        raise ArgumentError(f"--data {str(path)!r} is not a file")
    if path.suffix.lower() == ".nwb":
        return Recording.from_nwb(path)
    if path.suffix.lower() != ".npz":
        raise ArgumentError(f"--data must be an .nwb or .npz file, got {path.name!r}")
    return Recording.from_npz(path, dt=dt)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``fit-circuit`` sub-command's arguments."""
    parser.add_argument("--data", required=True, help="the recording: .nwb, a saved Recording (.npz), or an .npz "
                        "with rates (trials, time, neurons), inputs (trials, time, K), optional outputs, "
                        "conditions and dt")
    parser.add_argument("--dt", type=float, default=None, help="time step of a plain .npz without a 'dt' array")
    parser.add_argument("--nodes", required=True, type=int, help="n, the number of circuit nodes")
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--input-nodes", default=None, help="node of each input channel, comma-separated "
                        "(default: the first K nodes)")
    parser.add_argument("--output-nodes", default=None, help="node of each output, comma-separated (default: the "
                        "last O nodes; '' for none)")
    parser.add_argument("--connectivity", default=None, help="a .npy file with the known recurrent weights W "
                        "(neurons x neurons): adds the embedding test Q^T W Q against w_rec")
    parser.add_argument("--restarts", type=int, default=8, help="random restarts, fitted together (default 8)")
    parser.add_argument("--epochs", type=int, default=500, help="epochs (default 500, as the authors)")
    parser.add_argument("--lr", type=float, default=0.02, help="Adam learning rate (default 0.02)")
    parser.add_argument("--weight-decay", type=float, default=1e-3, help="weight decay (default 1e-3)")
    parser.add_argument("--batch-size", type=int, default=128, help="trials per batch (default 128)")
    parser.add_argument("--alpha", type=float, default=0.2, help="dt / tau of the circuit (default 0.2)")
    parser.add_argument("--sigma", type=float, default=0.15, help="the authors' sigma_rec (default 0.15)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _fit_figure(fit: LatentCircuitFit, rec: Recording):
    """Per node: the data projected on the node's direction (Q^T y) against the circuit's x, trial-averaged
    per condition (or the first trials)."""
    import matplotlib.pyplot as plt

    x = fit.circuit.simulate(rec.inputs)
    proj = fit.project(rec.rates)
    if rec.conditions is not None:
        labels = np.unique(rec.conditions)[:6]
        groups = [rec.conditions == c for c in labels]
    else:
        labels = np.arange(min(4, rec.n_trials))
        groups = [np.arange(rec.n_trials) == i for i in labels]
    n = fit.n_nodes
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    t = np.arange(rec.n_time) * rec.dt
    names = fit.node_names or tuple(f"node {i}" for i in range(n))
    for i in range(n):
        ax = axes[i // cols, i % cols]
        for g, (lab, sel) in enumerate(zip(labels, groups)):
            color = f"C{g % 10}"
            ax.plot(t, proj[sel, :, i].mean(0), color=color, lw=1.5, label=str(lab) if i == 0 else None)
            ax.plot(t, x[sel, :, i].mean(0), color=color, lw=1.0, ls="--")
        ax.set_title(names[i], fontsize="small")
        ax.set_xlabel("time", fontsize="small")
    for j in range(n, rows * cols):
        axes[j // cols, j % cols].axis("off")
    axes[0, 0].legend(fontsize="x-small", frameon=False)
    fig.suptitle("data on each node ($Q^T y$, solid) and the circuit ($x$, dashed)", fontsize="small")
    fig.tight_layout()
    return fig


def _loss_figure(fit: LatentCircuitFit):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    epochs = np.arange(1, fit.losses.shape[0] + 1)
    for r in range(fit.losses.shape[1]):
        ax.plot(epochs, fit.losses[:, r], lw=1.8 if r == fit.best else 0.8, color="C3" if r == fit.best else "0.6")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.set_title("restarts (kept: red)")
    fig.tight_layout()
    return fig


def summary(fit: LatentCircuitFit) -> dict:
    """Return the JSON-able numbers of a fit (the content of ``results.json``)."""
    out = {"n_nodes": fit.n_nodes, "n_neurons": int(fit.Q.shape[0]), "input_nodes": list(fit.input_nodes),
           "output_nodes": list(fit.output_nodes), "nmse_y": fit.nmse_y, "mse_z": fit.mse_z,
           "variance_outside_subspace": fit.nmse_q, "best_restart": fit.best,
           "final_losses": [None if not np.isfinite(v) else float(v) for v in fit.final_losses],
           "w_rec": np.round(fit.w_rec, 6).tolist()}
    if fit.embedding is not None:
        out["embedding_correlation"] = fit.embedding.correlation
        out["embedding_input_correlation"] = fit.embedding.input_correlation
    return out


def run(args: argparse.Namespace) -> int:
    """Fit, then write ``circuit.npz``, ``report.md``, ``results.json`` and the figures."""
    n = positive_int("--nodes", args.nodes)
    for name in ("restarts", "epochs", "batch_size"):
        positive_int("--" + name.replace("_", "-"), getattr(args, name))
    real_scalar("--lr", args.lr, low=0.0, low_open=True)
    real_scalar("--weight-decay", args.weight_decay, low=0.0)
    real_scalar("--alpha", args.alpha, low=0.0, high=1.0, low_open=True)
    real_scalar("--sigma", args.sigma, low=0.0)
    ins = _indices("--input-nodes", args.input_nodes)
    outs = _indices("--output-nodes", args.output_nodes)
    rec = read_recording(args.data, dt=args.dt)
    if rec.inputs is None:
        raise ArgumentError(f"--data {args.data}: the recording has no inputs; a latent circuit is driven by them")
    W = None
    if args.connectivity is not None:
        try:
            W = np.load(args.connectivity, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ArgumentError(f"--connectivity {args.connectivity!r}: not a readable .npy file ({err})") from None
    out = output_folder(args.out)
    fit = fit_latent_circuit(rec, n, key=jax.random.key(args.seed), input_nodes=ins, output_nodes=outs,
                             restarts=args.restarts, epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay,
                             batch_size=args.batch_size, alpha=args.alpha, sigma=args.sigma, connectivity=W)
    save(fit, out / "circuit.npz")
    import matplotlib.pyplot as plt

    figures = {"w_rec.png": fit.plot(), "fit.png": _fit_figure(fit, rec), "loss.png": _loss_figure(fit)}
    for name, fig in figures.items():
        save_figure(fig, out / name)
        plt.close(fig)
    results = summary(fit)
    results.update({"data": str(args.data), "seed": args.seed, "epochs": args.epochs, "restarts": args.restarts})
    atomic_write_bytes(out / "results.json", json.dumps(results, indent=2).encode())
    lines = ["# Latent circuit fit", "",
             (f"Data: `{args.data}` ({rec.n_trials} trials, {rec.n_time} steps, {rec.n_neurons} neurons, "
             f"{rec.n_inputs} inputs, {rec.n_outputs} outputs). Circuit: {n} nodes, inputs on nodes "
             f"{list(fit.input_nodes)}, outputs on nodes {list(fit.output_nodes)}; {args.restarts} restarts x "
             f"{args.epochs} epochs (Langdon & Engel 2025, Nat. Neurosci. 28:665)."), "",
             "| measure | value |", "|---|---|",
             f"| nmse_y (activity not explained by Q x) | {fit.nmse_y:.4f} |",
             f"| mse_z (outputs) | {fit.mse_z:.4g} |",
             f"| variance outside the subspace of Q | {fit.nmse_q:.4f} |",
             f"| kept restart | {fit.best} |"]
    if fit.embedding is not None:
        lines.append(f"| embedding test: corr(w_rec, Q^T W Q) | {fit.embedding.correlation:.3f} |")
    lines += ["", "Fitted w_rec (row: to node, column: from node):", "", "```", np.array2string(np.asarray(fit.w_rec), precision=3, suppress_small=True), "```",
              "", "![w_rec](w_rec.png)", "", "![fit](fit.png)", "", "![loss](loss.png)", ""]
    atomic_write_bytes(out / "report.md", "\n".join(lines).encode())
    print(f"nmse_y = {fit.nmse_y:.4f}, mse_z = {fit.mse_z:.4g}, variance outside Q = {fit.nmse_q:.4f}")
    print(f"wrote {out / 'circuit.npz'}, {out / 'report.md'}, {out / 'results.json'} and figures")
    return 0
