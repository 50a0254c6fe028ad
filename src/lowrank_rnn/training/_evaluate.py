"""Evaluating a trained run folder: accuracy and loss on fresh trials, and the figures."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import positive_int
from .._errors import ArgumentError, ArgumentTypeError, FileFormatError, RunFolderError
from .._io import atomic_write_bytes, load, save_figure
from ..models import AbstractRNN, FullRankRNN, run_trials
from ..tasks import get_task


#: class -> forward(model, task, inputs, key) -> outputs: the run folders' models besides the networks
#: of lowrank_rnn.models, filled by the sub-packages that define them (:func:`register_run_model`)
_RUN_MODELS: dict[type, Callable] = {}


def register_run_model(cls: type, forward: Callable) -> None:
    """Let :func:`load_run` and :func:`evaluate` (``lowrank-rnn evaluate``) read run folders whose
    ``model.npz`` holds a ``cls`` (a class saved by :func:`lowrank_rnn.save`) other than the
    networks of :mod:`lowrank_rnn.models`.

    ``forward(model, task, inputs, key) -> outputs`` runs the model on a batch of trial inputs
    ``(B, T, K)`` and returns what the task's ``loss``, ``accuracy`` and ``psychometric`` read
    (``key``: the network noise, if any). A sub-package registers its classes when it is imported,
    and :func:`lowrank_rnn.load` imports the module that a saved file names, so a folder is read
    without importing that sub-package first (the Morris–Lecar networks of
    :mod:`lowrank_rnn.biophys` register so).

    Examples
    --------
    >>> from lowrank_rnn.biophys import MorrisLecarNetwork
    >>> MorrisLecarNetwork in _RUN_MODELS
    True
    """
    if not isinstance(cls, type) or not callable(forward):
        raise ArgumentTypeError(f"register_run_model needs a class and a function, got {cls!r} and {forward!r}")
    _RUN_MODELS[cls] = forward


def run_history(run: str | Path) -> dict:
    """Return what a run folder records of its training: seconds, epochs and the last validation.

    Reads ``train_seconds`` and ``history.json`` when present: ``train_seconds`` (``None`` when
    absent), ``epochs``, ``final_val_accuracy`` and ``final_val_loss`` (when validated), and
    ``nonfinite_grads`` (the total over epochs, for runs that count them). Used by
    :func:`evaluate` and by the run folders of other models.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> run = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (run / "history.json").write_text(json.dumps(
    ...     {"epoch": [1, 2], "val_loss": [0.5, 0.2], "val_accuracy": [0.8, 0.9]}))
    >>> run_history(run)
    {'train_seconds': None, 'epochs': 2, 'final_val_accuracy': 0.9, 'final_val_loss': 0.2}
    """
    run = Path(run)
    ts = run / "train_seconds"
    summary: dict = {"train_seconds": float(ts.read_text()) if ts.exists() else None}
    hist = run / "history.json"
    if hist.exists():
        h = json.loads(hist.read_text())
        summary["epochs"] = len(h.get("epoch", []))
        if h.get("val_accuracy"):
            summary["final_val_accuracy"] = h["val_accuracy"][-1]
            summary["final_val_loss"] = h["val_loss"][-1]
        if "nonfinite_grads" in h:
            summary["nonfinite_grads"] = int(sum(h["nonfinite_grads"]))
    return summary


def load_run(run: str | Path):
    """Return ``(model, task, config)`` of a run folder written by :func:`~lowrank_rnn.training.train`.

    Raises :class:`~lowrank_rnn.RunFolderError` naming the file when the folder is not a training
    run (no ``config.json`` or ``model.npz``, a ``config.json`` without its task, a ``model.npz``
    that holds no trained network).

    Examples
    --------
    >>> import tempfile
    >>> from lowrank_rnn.training import train_recipe
    >>> run = tempfile.mkdtemp()
    >>> _ = train_recipe("rdm", out=run, hidden=32, epochs=1, n_trials=64, progress=False)
    >>> model, task, config = load_run(run)
    >>> type(model).__name__, task.name, config["task"]["name"]
    ('LowRankRNN', 'rdm', 'rdm')
    """
    run = Path(run)
    if not run.is_dir():
        raise ArgumentError(f"run must be a folder written by 'lowrank-rnn train' or train(run=RunSettings(out=...)), "
                            f"got {run}")
    for name in ("config.json", "model.npz"):
        if not (run / name).exists():
            raise RunFolderError(f"{run} is not a training run folder: it has no {name}")
    try:
        config = json.loads((run / "config.json").read_text())
        task_cfg = dict(config["task"])
        name = task_cfg.pop("name")
    except (ValueError, KeyError, TypeError) as err:  # not JSON, or no task in it
        raise RunFolderError(f"{run / 'config.json'} is not the configuration of a training run "
                             f"({type(err).__name__}: {err})") from None
    task = get_task(name, **task_cfg)
    try:
        model = load(run / "model.npz")  # the file names its class's module, which registers it
    except FileFormatError as err:
        raise RunFolderError(f"{err}. Morris-Lecar run folders written before 2026-12-07 kept the network as a "
                             "plain NumPy archive, which this version does not read: train such a run again "
                             "(lowrank-rnn train ... --restart)") from None
    if not isinstance(model, (AbstractRNN, *_RUN_MODELS)):
        raise RunFolderError(f"{run / 'model.npz'} holds a {type(model).__name__}, not a trained network "
                             "(LowRankRNN, FullRankRNN, MixtureLowRankRNN, RateRNN, "
                             f"{', '.join(c.__name__ for c in _RUN_MODELS) or 'or a registered class'}): evaluate "
                             "reads the folders that 'lowrank-rnn train' writes")
    return model, task, config


def _grouping(conditions: dict) -> tuple[str | None, np.ndarray | None]:
    """Return the condition with the most distinct values, at most 12 (e.g. the coherence rather
    than the choice), to group trials by; (None, None) if none qualifies."""
    best = (None, None, 1)
    for name in sorted(conditions):
        v = np.asarray(conditions[name])
        k = len(np.unique(v)) if v.ndim == 1 else 0
        if best[2] < k <= 12:
            best = (name, v, k)
    return best[0], best[1]


def plot_latents(kappa: np.ndarray, times: np.ndarray, conditions: dict, *, title: str = ""):
    """Return a figure of the latent trajectories ``kappa_r(t)`` averaged over trials of each condition.

    ``kappa`` is ``(B, T, R)``; trials are grouped by the condition with the most distinct values,
    at most 12 (e.g. the coherence), coloured along a diverging map. A rank >= 2 network also gets the
    (kappa_1, kappa_2) plane.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> t = np.arange(5.0)
    >>> kappa = np.stack([np.outer([1.0, -1.0], t)] * 2)[..., None].reshape(4, 5, 1)
    >>> fig = plot_latents(kappa, t, {"coherence": np.array([1.0, -1.0, 1.0, -1.0])})
    >>> len(fig.axes)
    1
    """
    import matplotlib.pyplot as plt

    R = kappa.shape[-1]
    name, values = _grouping(conditions)
    groups = [(None, np.ones(kappa.shape[0], bool))] if name is None else [(v, values == v) for v in np.unique(values)]
    n_panels = R + (1 if R >= 2 else 0)
    fig, axes = plt.subplots(1, n_panels, figsize=(3.6 * n_panels, 3.0), squeeze=False)
    axes = axes[0]
    cmap = plt.get_cmap("coolwarm")
    for gi, (v, sel) in enumerate(groups):
        color = cmap(gi / max(len(groups) - 1, 1))
        mean = kappa[sel].mean(axis=0)
        label = None if v is None else f"{name} = {v:g}"
        for r in range(R):
            axes[r].plot(times, mean[:, r], color=color, lw=1.4, label=label)
        if R >= 2:
            axes[R].plot(mean[:, 0], mean[:, 1], color=color, lw=1.4)
            axes[R].plot(mean[-1, 0], mean[-1, 1], "o", color=color, ms=3)
    for r in range(R):
        axes[r].set_xlabel("time (ms)")
        axes[r].set_ylabel(f"kappa_{r + 1}")
        axes[r].axhline(0, color="0.8", lw=0.8, zorder=0)
    if R >= 2:
        axes[R].set_xlabel("kappa_1")
        axes[R].set_ylabel("kappa_2")
    if name is not None and len(groups) <= 8:
        axes[0].legend(frameon=False, fontsize="x-small")
    if title:
        fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    return fig


@partial(jax.jit, static_argnames=("forward", "task", "need_states"))
def _outputs(model, inputs, key, *, forward, task, need_states):
    """The model's outputs on ``inputs`` (and states when ``need_states``): by a registered
    ``forward`` (:func:`register_run_model`), or by :func:`~lowrank_rnn.models.run_trials`; one
    compilation per model structure, task and batch shape in a process."""
    if forward is not None:  # a model of another sub-package (a Morris–Lecar network, say)
        return forward(model, task, inputs, key)
    return run_trials(model, inputs, key=key, return_states=need_states)


def evaluate(run: str | Path, *, n_trials: int = 1000, seed: int = 12345, figures: bool = True) -> dict:
    """Return the accuracy and loss of a trained run on fresh trials, and write its figures.

    Draws ``n_trials`` new trials of the run's task (key ``seed``; training used its own key),
    runs the saved model on them with its network noise (as during training and in the published
    evaluation), and scores them with the task's own ``accuracy`` and ``loss``. With ``figures``
    it writes ``psychometric.png`` (the task's psychometric summary) and, for a low-rank model,
    ``latents.png`` (kappa(t) averaged per condition); and it writes ``evaluation.json``.
    The summary holds ``accuracy``, ``loss``, ``train_seconds`` (the training loop's wall time,
    compilation included; None if the run was interrupted), the epochs trained and the paths.
    Every run folder is read so: those of :func:`~lowrank_rnn.training.train` and those of a model
    registered by another sub-package (:func:`register_run_model`; the Morris–Lecar networks of
    :func:`lowrank_rnn.biophys.train_ml_network`, run through their solver, without noise).

    Examples
    --------
    >>> import tempfile
    >>> from lowrank_rnn.training import train_recipe
    >>> run = tempfile.mkdtemp()
    >>> _ = train_recipe("rdm", out=run, hidden=32, epochs=1, n_trials=64, progress=False)
    >>> summary = evaluate(run, n_trials=50, figures=False)
    >>> sorted(k for k in summary if k in ("accuracy", "loss"))
    ['accuracy', 'loss']
    """
    run = Path(run)
    n_trials = positive_int("n_trials", n_trials)
    seed = positive_int("seed", seed, low=0)
    model, task, config = load_run(run)
    key_trials, key_noise = jax.random.split(jax.random.key(seed))
    trials = jax.jit(task.sample, static_argnums=1)(key_trials, n_trials)
    registered = next((f for c, f in _RUN_MODELS.items() if isinstance(model, c)), None)
    need_states = figures and registered is None and not isinstance(model, FullRankRNN)
    result = _outputs(model, trials.inputs, key_noise, forward=registered, task=task, need_states=need_states)
    outputs, states = result if need_states else (result, None)
    summary = {"task": config["task"].get("name"), "model": config["model"].get("class"),
               "accuracy": float(task.accuracy(outputs, trials)), "loss": float(task.loss(outputs, trials)),
               "n_trials": n_trials, "seed": seed}
    summary.update(run_history(run))
    if figures:
        import matplotlib

        matplotlib.use("Agg")
        psy = task.psychometric(outputs, trials)
        ax = task.plot_psychometric(psy)
        first = ax[0] if isinstance(ax, (list, tuple, np.ndarray)) else ax
        save_figure(first.figure, run / "psychometric.png", dpi=130)
        summary["psychometric_figure"] = str(run / "psychometric.png")
        if states is not None:
            kappa = np.asarray(model.latents(jnp.asarray(states)))
            times = np.arange(kappa.shape[1]) * task.dt
            cond = {k: np.asarray(v) for k, v in trials.conditions.items()}
            fig = plot_latents(kappa, times, cond, title=f"{summary['task']}: latent trajectories")
            save_figure(fig, run / "latents.png", dpi=130)
            summary["latents_figure"] = str(run / "latents.png")
    atomic_write_bytes(run / "evaluation.json", (json.dumps(summary, indent=2) + "\n").encode())
    return summary
