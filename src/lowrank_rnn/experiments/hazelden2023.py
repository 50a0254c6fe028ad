"""Evolution strategies against backpropagation for biophysical networks and neural ODEs (Hazelden,
Liu, Shlizerman & Shea-Brown 2023, arXiv:2311.10869), reproduced in spirit.

``lowrank-rnn reproduce hazelden2023 --out DIR [--quick]`` writes ``DIR/report.md``, the PNG figures
and ``DIR/results.json``, with :mod:`lowrank_rnn.biophys`:

1. ``ml_budget``: a Morris–Lecar network (:class:`~lowrank_rnn.biophys.MorrisLecarNetwork`) trained
   on ``integration_memory`` by BP through the solver and by OpenAI-ES from the same initial
   weights; validation loss against the number of trial solves (forward passes).
2. ``window``: the norm of BP's gradient at initialisation against the evaluation window (the
   trial length) and the coupling strength: where it grows or becomes non-finite.
3. ``spike_count``: ES on the discrete spike-count loss, which BP cannot use.
4. ``neural_ode``: BP against ES on the Van der Pol neural ODE at several widths (the neural-ODE
   comparison of :mod:`lowrank_rnn.experiments._hazelden2023_node`).

Only the paper's abstract is public: every model, task, size and hyperparameter below is ours.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import biophys
from ..tasks import get_task
from ..training import BPTT, Adam, OpenES
from ._hazelden2023_node import compare_es_bp, plot_es_bp
from ._report import fmt, start_report

TITLE = "Evolution strategies vs backpropagation for Morris–Lecar networks and neural ODEs (Hazelden et al. 2023)"

SECTIONS = ("ml_budget", "window", "spike_count", "neural_ode")


@dataclasses.dataclass(frozen=True)
class Config:
    """Sizes of the run (quick: a smaller network, shorter trials, smaller budgets)."""

    quick: bool
    n: int = 16                              # Morris–Lecar cells
    trial: tuple = (50.0, 200.0, 150.0, 100.0)  # fixation, stimulus, delay, response (ms)
    n_pulses: int = 4
    pulse_width: float = 20.0
    n_trials: int = 80
    batch: int = 16
    bp_epochs: int = 40
    bp_lr: float = 1e-2
    popsize: int = 16
    sigma: float = 0.1
    es_lr: float = 0.05
    windows: tuple = (100.0, 200.0, 400.0, 800.0)  # trial lengths (ms) of the gradient sweep
    couplings: tuple = (1.0, 4.0, 16.0)     # g_mean (mS/cm²) of the sweep
    window_trials: int = 4
    spike_epochs: int = 8
    node_widths: tuple = (4, 16, 64)
    node_budget: int = 2000
    node_popsize: int = 32

    @classmethod
    def make(cls, quick: bool) -> "Config":
        if not quick:
            return cls(quick=False)
        return cls(quick=True, n=8, trial=(0.0, 60.0, 40.0, 40.0), n_pulses=3, pulse_width=10.0, n_trials=40,
                   batch=8, bp_epochs=12, popsize=8, windows=(100.0, 300.0), couplings=(1.0, 8.0),
                   window_trials=2, spike_epochs=4, node_widths=(4, 32), node_budget=400, node_popsize=16)


def _task(cfg: Config, **kw):
    fixation, stimulus, delay, response = cfg.trial
    return get_task("integration_memory", fixation=fixation, stimulus=stimulus, delay=delay, response=response,
                    n_pulses=cfg.n_pulses, pulse_width=cfg.pulse_width, **kw)


# ------------------------------------------------------------------------------------- sections
def _ml_budget(cfg: Config, report, results):
    task = _task(cfg)
    net = biophys.MorrisLecarNetwork(cfg.n, 1, 1, key=jax.random.key(1), dt=task.dt)
    n_batches = (cfg.n_trials - max(1, round(0.2 * cfg.n_trials))) // cfg.batch
    n_val = max(1, round(0.2 * cfg.n_trials))
    bp_budget = cfg.bp_epochs * (n_batches * cfg.batch + n_val)
    es_epoch = n_batches * (cfg.popsize + 1) * cfg.batch + n_val
    es_epochs = max(1, round(bp_budget / es_epoch))
    runs = {}
    for name, method, epochs in (("bp", BPTT(Adam(cfg.bp_lr)), cfg.bp_epochs),
                                 ("es", OpenES(popsize=cfg.popsize, sigma=cfg.sigma, optimizer=Adam(cfg.es_lr)),
                                  es_epochs)):
        t0 = time.perf_counter()
        try:
            _, h = biophys.train_ml_network(net, task, key=jax.random.key(2), epochs=epochs, method=method,
                                            batch=cfg.batch, n_trials=cfg.n_trials, max_nonfinite=None,
                                            progress=False)
        except Exception as err:  # a failed solve or divergence is a result here, reported as such
            h = getattr(err, "history", None) or {"forward_passes": [], "val_loss": [], "val_accuracy": [],
                                                  "nonfinite_grads": [], "grad_norm": []}
        runs[name] = {"forward_passes": h["forward_passes"], "val_loss": h["val_loss"],
                      "val_accuracy": h["val_accuracy"], "nonfinite": int(np.sum(h["nonfinite_grads"])),
                      "grad_norm": h.get("grad_norm", []), "seconds": time.perf_counter() - t0}
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.0))
    for name, color in (("bp", "tab:red"), ("es", "tab:blue")):
        r = runs[name]
        axes[0].plot(r["forward_passes"], r["val_loss"], "o-", color=color, label=name.upper())
        axes[1].plot(r["forward_passes"], r["val_accuracy"], "o-", color=color, label=name.upper())
    axes[0].set_xlabel("trial solves (forward passes)")
    axes[0].set_ylabel("validation loss (MSE)")
    axes[1].set_xlabel("trial solves (forward passes)")
    axes[1].set_ylabel("validation accuracy")
    axes[0].legend()
    fig.tight_layout()
    report.section("Morris–Lecar network: loss against forward passes",
                   f"A network of {cfg.n} class 1 Morris–Lecar cells (80 % excitatory) with kinetic conductance "
                   f"synapses learns `integration_memory` ({cfg.n_pulses} signed pulses, trial "
                   f"{sum(cfg.trial):g} ms, MSE on the sign in the response window) by BP through the solver "
                   f"(Adam {cfg.bp_lr:g}, {cfg.bp_epochs} epochs) and by OpenAI-ES (popsize {cfg.popsize}, sigma "
                   f"{cfg.sigma:g} on scaled parameters, Adam {cfg.es_lr:g}, {es_epochs} epoch(s): about the same "
                   "number of trial solves), from the same initial weights.")
    report.figure(fig, "ml_budget.png", "Validation loss and accuracy against the number of trial solves.")
    rows = [[k.upper(), r["forward_passes"][-1] if r["forward_passes"] else 0,
             r["val_loss"][-1] if r["val_loss"] else float("nan"),
             r["val_accuracy"][-1] if r["val_accuracy"] else float("nan"), r["nonfinite"]]
            for k, r in runs.items()]
    report.table(["method", "forward passes", "final val loss", "final val accuracy", "non-finite steps"], rows)
    results["ml_budget"] = runs
    return runs


def _window(cfg: Config, report, results):
    rows, out = [], []
    for g in cfg.couplings:
        for w in cfg.windows:
            f = w / sum(cfg.trial)
            stim = max(cfg.n_pulses, round(cfg.trial[1] * f / cfg.n_pulses) * cfg.n_pulses)
            task = get_task("integration_memory", fixation=round(cfg.trial[0] * f), stimulus=float(stim),
                            delay=float(round(cfg.trial[2] * f)), response=float(max(1, round(cfg.trial[3] * f))),
                            n_pulses=cfg.n_pulses, pulse_width=float(max(1, min(stim // cfg.n_pulses,
                                                                              round(cfg.pulse_width * f)))))
            net = biophys.MorrisLecarNetwork(cfg.n, 1, 1, key=jax.random.key(1), g_mean=g, dt=task.dt,
                                             max_steps=20_000)
            trials = task.sample(jax.random.key(3), cfg.window_trials)
            params, static = eqx.partition(net, eqx.is_inexact_array)
            loss, grads = eqx.filter_jit(jax.value_and_grad(
                lambda p: biophys.ml_network_loss(eqx.combine(p, static), task, trials)))(params)
            leaves = jax.tree_util.tree_leaves(grads)
            finite = bool(all(jnp.all(jnp.isfinite(x)) for x in leaves)) and bool(jnp.isfinite(loss))
            gnorm = float(jnp.sqrt(sum(jnp.sum(jnp.where(jnp.isfinite(x), x, 0.0) ** 2) for x in leaves)))
            entry = {"g_mean": g, "window_ms": task.n_steps * task.dt, "loss": float(loss), "grad_norm": gnorm,
                     "finite": finite}
            out.append(entry)
            rows.append([g, entry["window_ms"], entry["loss"], gnorm, "yes" if finite else "**no**"])
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for g in cfg.couplings:
        sel = [e for e in out if e["g_mean"] == g]
        ax.plot([e["window_ms"] for e in sel], [e["grad_norm"] if e["finite"] else np.nan for e in sel], "o-",
                label=f"g_mean {g:g}")
        for e in sel:
            if not e["finite"]:
                ax.axvline(e["window_ms"], ls=":", color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("evaluation window (trial length, ms)")
    ax.set_ylabel("BP gradient norm at initialisation")
    ax.legend(fontsize=7)
    fig.tight_layout()
    report.section("BP gradients against the evaluation window",
                   "The gradient of the MSE loss through the solver at initialisation, for trials of growing "
                   "length (every epoch scaled) and growing synaptic coupling (mean total conductance onto a "
                   "cell); dotted lines mark non-finite gradients.")
    report.figure(fig, "window.png", "BP gradient norm against the evaluation window, per coupling strength.")
    report.table(["g_mean (mS/cm²)", "window (ms)", "loss", "gradient norm", "finite"], rows)
    results["window"] = out
    return out


def _spike_count(cfg: Config, report, results):
    task = _task(cfg, loss="spike_count", threshold=1.0, margin=1.0)
    net = biophys.MorrisLecarNetwork(cfg.n, 1, 1, key=jax.random.key(0), input_std=20.0, dt=task.dt)
    refused = False
    try:
        biophys.train_ml_network(net, task, key=jax.random.key(1), epochs=1, batch=cfg.batch,
                                 n_trials=cfg.n_trials, progress=False)
    except ValueError:
        refused = True
    _, h = biophys.train_ml_network(net, task, key=jax.random.key(1), epochs=cfg.spike_epochs, batch=cfg.batch,
                                    n_trials=cfg.n_trials, progress=False,
                                    method=OpenES(popsize=cfg.popsize, sigma=cfg.sigma, optimizer=Adam(0.1)))
    res = {"bp_refused": refused, **{k: h[k] for k in ("train_loss", "val_loss", "val_accuracy", "forward_passes")}}
    report.section("A discrete loss: the spike count",
                   "The response is the readout cell's spike count (upward crossings of 0 mV) in the response "
                   "window against a threshold of 1 spike, scored by a hinge on the count: piecewise constant, "
                   f"with no useful gradient. BP refuses it ({'refused' if refused else '**not refused**'}); "
                   f"OpenAI-ES (popsize {cfg.popsize}) trains on it for {cfg.spike_epochs} epochs.")
    report.table(["epoch", "train loss", "val loss", "val accuracy"],
                 [[i + 1, a, b, c] for i, (a, b, c) in enumerate(zip(h["train_loss"], h["val_loss"],
                                                                    h["val_accuracy"]))])
    results["spike_count"] = res
    return res


def _neural_ode(cfg: Config, report, results):
    res = compare_es_bp("oscillator", widths=cfg.node_widths, budget=cfg.node_budget, popsize=cfg.node_popsize,
                        quick=cfg.quick)
    report.section("Neural ODE (Van der Pol): BP against ES at several widths",
                   f"An MLP vector field (depth 2, tanh) fitted to Van der Pol trajectories by BP (Adam) and by "
                   f"OpenAI-ES (popsize {cfg.node_popsize}) from the same initial weights, {cfg.node_budget} "
                   "forward passes each.")
    report.figure(plot_es_bp(res), "neural_ode.png", "Loss against forward passes, one panel per width.")
    report.table(["width", "params", "method", "final loss", "best loss", "non-finite steps"],
                 [[r["width"], r["num_params"], r["method"].upper(), r["final_loss"], r["best_loss"], r["nonfinite"]]
                  for r in res["runs"]])
    slim = [{k: v for k, v in r.items() if k not in ("forward_passes", "loss")} for r in res["runs"]]
    results["neural_ode"] = {"widths": res["widths"], "budget": res["budget"], "runs": slim}
    return res


def _claims(results) -> list[dict]:
    claims = []
    if "window" in results or "ml_budget" in results:
        win = results.get("window", [])
        nonfinite = [e for e in win if not e["finite"]]
        norms = {}
        for e in win:
            norms.setdefault(e["g_mean"], []).append(e["grad_norm"] if e["finite"] else np.inf)
        growth = max((v[-1] / v[0] for v in norms.values() if v and v[0] > 0), default=float("nan"))
        ml = results.get("ml_budget", {})
        bp_loss = ml.get("bp", {}).get("val_loss") or [float("nan")]
        es_loss = ml.get("es", {}).get("val_loss") or [float("nan")]
        unstable = bool(nonfinite) or growth > 10
        claims.append({"claim": "BP through Morris–Lecar networks is unstable or divergent (long windows, strong "
                                "coupling) where ES trains",
                       "reproduced": bool(unstable and es_loss[-1] <= bp_loss[-1]),
                       "evidence": {"nonfinite_gradients_in_sweep": len(nonfinite), "max_grad_norm_growth": growth,
                                    "bp_final_val_loss": bp_loss[-1], "es_final_val_loss": es_loss[-1],
                                    "bp_nonfinite_steps": ml.get("bp", {}).get("nonfinite")}})
    if "neural_ode" in results:
        runs = results["neural_ode"]["runs"]
        widths = results["neural_ode"]["widths"]
        gap = {w: next(r["best_loss"] for r in runs if r["width"] == w and r["method"] == "bp")
               - next(r["best_loss"] for r in runs if r["width"] == w and r["method"] == "es") for w in widths}
        claims.append({"claim": "ES reaches a lower loss than BP on the neural ODE, more so when over-parameterised",
                       "reproduced": bool(gap[widths[-1]] > 0 and gap[widths[-1]] >= gap[widths[0]]),
                       "evidence": {"bp_minus_es_best_loss_by_width": {str(k): v for k, v in gap.items()}}})
    if "spike_count" in results:
        s = results["spike_count"]
        improved = min(s["train_loss"][1:] or [np.inf]) < s["train_loss"][0] or s["val_accuracy"][-1] > s["val_accuracy"][0]
        claims.append({"claim": "ES optimises a discrete (spike-count) loss that BP cannot use",
                       "reproduced": bool(s["bp_refused"] and improved),
                       "evidence": {"first_train_loss": s["train_loss"][0], "best_later_train_loss":
                                    min(s["train_loss"][1:] or [float("nan")]),
                                    "val_accuracy_first_last": [s["val_accuracy"][0], s["val_accuracy"][-1]],
                                    "bp_refused": s["bp_refused"]}})
    return claims


def _show(v) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_show(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    return fmt(v) if isinstance(v, float) else str(v)


def run(out_dir, *, quick: bool = False, only=None) -> Path:
    """Return the path of ``report.md`` after reproducing the claims into ``out_dir``.

    Parameters
    ----------
    out_dir: folder for ``report.md``, ``results.json`` and the PNG figures (created if missing).
    quick: a smaller network, shorter trials and smaller budgets (the same figures and tables).
    only: optional subset of :data:`SECTIONS`.
    """
    report = start_report(out_dir, TITLE, only=only, allowed=SECTIONS, what="sections")
    cfg = Config.make(bool(quick))
    report.text(
        f"Run: {'quick' if cfg.quick else 'default'}. **Only the paper's abstract is public**: this is a "
        "reproduction in spirit. What is ours: the Morris–Lecar network (class 1 cells, kinetic "
        "Destexhe–Mainen–Sejnowski synapses with reversal by cell type, softplus conductances, a readout of the "
        "synaptic gatings), the integration-and-memory task and its timing, the spike-count loss (a hinge on the "
        "readout cell's count against a threshold), the solver (Tsit5, PID), OpenAI-ES with centred ranks and Adam "
        "on scaled parameters, every size, budget and learning rate, and the neural-ODE problem (Van der Pol). "
        "Forward passes count trial solves; BP's backward passes are not counted (in its favour). Every number "
        "below is measured in this run.")
    results: dict = {"quick": cfg.quick, "config": dataclasses.asdict(cfg), "claims": [], "timings_s": {}}
    t_start = time.perf_counter()
    for name, fn in (("ml_budget", _ml_budget), ("window", _window), ("spike_count", _spike_count),
                     ("neural_ode", _neural_ode)):
        if only is not None and name not in only:
            continue
        t0 = time.perf_counter()
        fn(cfg, report, results)
        results["timings_s"][name] = round(time.perf_counter() - t0, 2)
    results["claims"] = _claims(results)
    report.section("Claims", "Each claim of the abstract, as measured in this run:")
    report.table(["claim", "reproduced", "evidence"],
                 [[c["claim"], "yes" if c["reproduced"] else "**no**",
                   "; ".join(f"{k} {_show(v)}" for k, v in c["evidence"].items())]
                  for c in results["claims"]])
    return report.finish(results, t_start)


__all__ = ["run", "TITLE", "SECTIONS", "Config"]
