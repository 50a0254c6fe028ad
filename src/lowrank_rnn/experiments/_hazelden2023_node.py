"""Evolution strategies against backpropagation on neural ODEs at a matched budget of forward passes:
the neural-ODE part of the Hazelden et al. 2023 reproduction (arXiv:2311.10869).

:func:`compare_es_bp` trains the same initial :class:`~lowrank_rnn.biophys.NeuralODE` by BP through
the solver and by OpenAI-ES at several widths on one problem (the Van der Pol oscillator or
Robertson's stiff kinetics) and returns the loss against the cumulative number of forward passes
of each run; :func:`plot_es_bp` draws it. The budget axis counts one forward pass per BP step and
P + 1 per ES generation (the population and the mean), as the paper's abstract compares the methods
by forward passes; a BP step also costs a backward pass, which the axis leaves out (in BP's favour).
Non-finite BP steps are skipped and counted, never hidden, so a run's curve continues past them.

Choices that are ours (the paper's methods are not public): the problems and their sizes, an MLP
of depth 2 with tanh (oscillator) or GELU (ROBER, after Kim et al. 2021) units, Adam for BP,
OpenAI-ES with centered ranks and Adam on the mean, and the budgets.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import numpy as np

from .. import biophys
from .._checks import positive_int, prng_key
from .._errors import ArgumentError
from ..training import BPTT, Adam, OpenES

PROBLEMS = ("oscillator", "rober")


def problem_data(problem: str, *, quick: bool = False, key=None) -> biophys.ODEData:
    """Return the data set of ``problem``: ``"oscillator"`` (Van der Pol, 8 trajectories of 25 times
    over 5 time units; quick: 4 of 12 over 3) or ``"rober"`` (ROBER, 40 log-spaced times, log time;
    quick: 16)."""
    if problem == "oscillator":
        key = jax.random.key(2023) if key is None else prng_key("key", key)
        if quick:
            return biophys.oscillator_data(4, 12, t_max=3.0, key=key)
        return biophys.oscillator_data(8, 25, t_max=5.0, key=key)
    if problem == "rober":
        return biophys.rober_data(16 if quick else 40)
    raise ArgumentError(f"problem must be one of {', '.join(PROBLEMS)}, got {problem!r}")


def compare_es_bp(problem: str = "oscillator", *, widths=(4, 16, 64), depth: int = 2, budget: int = 2000,
                  popsize: int = 32, sigma: float = 0.05, bp_lr: float = 1e-2, es_lr: float = 3e-2,
                  solver: str = "tsit5", data: biophys.ODEData | None = None, quick: bool = False, key=None,
                  progress: bool = False) -> dict[str, Any]:
    """Return loss against forward passes of BP and ES on one neural-ODE problem at each width.

    For each width, one initial model (``depth`` hidden layers; tanh for the oscillator, GELU for
    ROBER; ``solver`` as in :class:`~lowrank_rnn.biophys.NeuralODE`: ``"kvaerno5"`` with
    ``data=rober_data(time="linear")`` is the stiff form) is trained twice from the same weights: by ``BPTT(Adam(bp_lr))`` for ``budget`` steps
    (one forward pass each) and by ``OpenES(popsize, sigma, Adam(es_lr))`` for
    ``budget // (popsize + 1)`` generations, with non-finite steps skipped and counted.

    Returns a dict: ``problem``, ``widths``, ``budget``, ``popsize`` and ``runs``, a list of dicts
    with ``method`` (``"bp"`` or ``"es"``), ``width``, ``num_params``, ``forward_passes`` and
    ``loss`` (arrays, the loss before each step and of the final model), ``final_loss``,
    ``best_loss``, ``nonfinite`` (non-finite steps), ``first_nonfinite`` (the first such step,
    1-based, or None) and ``seconds``.
    """
    if problem not in PROBLEMS:
        raise ArgumentError(f"problem must be one of {', '.join(PROBLEMS)}, got {problem!r}")
    widths = tuple(positive_int("widths", w) for w in widths)
    if not widths:
        raise ArgumentError("widths must name at least one width")
    depth = positive_int("depth", depth)
    popsize = positive_int("popsize", popsize, low=2)
    budget = positive_int("budget", budget, low=popsize + 1)
    key = jax.random.key(0) if key is None else prng_key("key", key)
    data = problem_data(problem, quick=quick) if data is None else data
    activation = "gelu" if problem == "rober" else "tanh"
    runs = []
    for i, width in enumerate(widths):
        k_model, k_es = jax.random.split(jax.random.fold_in(key, i))
        model = biophys.NeuralODE(data.dim, width, depth, key=k_model, activation=activation,
                                     solver=solver)
        for name, method, steps in (("bp", BPTT(Adam(bp_lr)), budget),
                                    ("es", OpenES(popsize=popsize, sigma=sigma, optimizer=Adam(es_lr)),
                                     budget // (popsize + 1))):
            t0 = time.perf_counter()
            _, hist = biophys.train_neural_ode(model, data, method=method, steps=steps, key=k_es,
                                               max_nonfinite=None, progress=progress)
            nonfinite = np.asarray(hist["nonfinite_grads"])
            loss = np.asarray(hist["loss"], np.float64)
            first = int(np.argmax(nonfinite > 0)) + 1 if nonfinite[-1] > 0 else None
            runs.append({"method": name, "width": width, "num_params": model.num_params,
                         "forward_passes": np.asarray(hist["forward_passes"]), "loss": loss,
                         "final_loss": float(loss[-1]),
                         "best_loss": float(np.nanmin(np.where(np.isfinite(loss), loss, np.nan)))
                         if np.any(np.isfinite(loss)) else float("nan"),
                         "nonfinite": int(nonfinite[-1]), "first_nonfinite": first,
                         "seconds": time.perf_counter() - t0})
    return {"problem": problem, "widths": list(widths), "budget": budget, "popsize": popsize, "runs": runs}


def plot_es_bp(result: dict[str, Any]):
    """Return a matplotlib figure: one panel per width, loss against forward passes (log-log), BP
    and ES, non-finite BP steps marked."""
    import matplotlib.pyplot as plt

    widths = result["widths"]
    fig, axes = plt.subplots(1, len(widths), figsize=(3.2 * len(widths), 3.0), squeeze=False, sharey=True)
    colors = {"bp": "tab:red", "es": "tab:blue"}
    for ax, width in zip(axes[0], widths):
        for run in result["runs"]:
            if run["width"] != width:
                continue
            fp, loss = run["forward_passes"], run["loss"]
            label = f"{run['method'].upper()} ({run['num_params']} params)"
            ax.plot(fp, np.where(np.isfinite(loss), loss, np.nan), color=colors[run["method"]], label=label)
            if run["first_nonfinite"] is not None:  # the first non-finite step, dotted
                ax.axvline(fp[run["first_nonfinite"] - 1], color=colors[run["method"]], ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"width {width}")
        ax.set_xlabel("forward passes")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel(f"loss ({result['problem']})")
    fig.tight_layout()
    return fig
