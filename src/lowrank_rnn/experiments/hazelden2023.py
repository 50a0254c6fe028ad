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
5. ``rober``: the same on the stiff ROBER benchmark (log time, scaled species; Kim et al. 2021).

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
import optax

from .. import biophys
from .._errors import DivergenceError
from ..tasks import get_task
from ..training import BPTT, Adam, OpenES
from ._hazelden2023_node import compare_es_bp, plot_es_bp
from ._report import fmt, start_report

TITLE = "Evolution strategies vs backpropagation for Morris–Lecar networks and neural ODEs (Hazelden et al. 2023)"

SECTIONS = ("ml_budget", "window", "spike_count", "neural_ode", "rober")


@dataclasses.dataclass(frozen=True)
class Config:
    """Sizes of the run (quick: a smaller network, shorter trials, smaller budgets)."""

    quick: bool
    n: int = 16                              # Morris–Lecar cells
    bias_mean: float = 50.0                  # mean bias current (µA/cm²), above the class 1 rheobase (40)
    trial: tuple = (50.0, 200.0, 150.0, 100.0)  # fixation, stimulus, delay, response (ms)
    n_pulses: int = 4
    pulse_width: float = 20.0
    loss: str = "window_mse"                 # the MSE of the response window's mean readout
    n_train: int = 64
    n_val: int = 128                         # validation trials scored after every epoch
    n_test: int = 256                        # fresh trials scoring the initial and trained networks
    batch: int = 16
    bp_epochs: int = 40
    bp_lr: float = 1e-2                      # Adam on the cells' parameters
    bp_readout_lr: float = 0.1               # Adam on the readout
    popsize: int = 16
    sigma: float = 0.1
    es_lr: float = 0.05
    windows: tuple = (100.0, 200.0, 400.0, 800.0)  # trial lengths (ms) of the gradient sweep
    couplings: tuple = (1.0, 4.0, 16.0)     # g_mean (mS/cm²) of the sweep
    window_trials: int = 4
    spike_epochs: int = 20
    spike_lr: float = 0.1
    node_widths: tuple = (4, 16, 64)
    node_budget: int = 2000
    node_popsize: int = 32

    @classmethod
    def make(cls, quick: bool) -> Config:
        if not quick:
            return cls(quick=False)
        return cls(quick=True, n=8, trial=(0.0, 60.0, 40.0, 40.0), n_pulses=3, pulse_width=10.0, n_train=32,
                   n_val=64, n_test=128, batch=8, bp_epochs=12, popsize=8, windows=(100.0, 300.0),
                   couplings=(1.0, 8.0), window_trials=2, spike_epochs=4, node_widths=(4, 32), node_budget=400,
                   node_popsize=16)


def _task(cfg: Config, **kw):
    fixation, stimulus, delay, response = cfg.trial
    return get_task("integration_memory", fixation=fixation, stimulus=stimulus, delay=delay, response=response,
                    n_pulses=cfg.n_pulses, pulse_width=cfg.pulse_width, **kw)


def _bp_method(cfg: Config) -> BPTT:
    """BP's optimizer: Adam at ``bp_lr`` on the cells' parameters and ``bp_readout_lr`` on the readout."""
    if cfg.bp_readout_lr == cfg.bp_lr:
        return BPTT(Adam(cfg.bp_lr))

    def labels(params):
        lab = jax.tree_util.tree_map(lambda _: "cells", params)
        return eqx.tree_at(lambda p: (p.w_out, p.b_out), lab, ("readout", "readout"))

    return BPTT(optax.multi_transform({"cells": optax.adam(cfg.bp_lr), "readout": optax.adam(cfg.bp_readout_lr)},
                                      labels))


def _train(net, task, cfg: Config, method, epochs: int, key) -> dict:
    """Train on ``n_train`` trials (``n_val`` more scored after every epoch); return the network (None
    where training raised) and the history, ``train_solves`` (trial solves of the training steps,
    the budget axis: validation solves left out) added."""
    n_all = cfg.n_train + cfg.n_val
    try:
        trained, h = biophys.train_ml_network(net, task, key=key, epochs=epochs, method=method, batch=cfg.batch,
                                              n_trials=n_all, val_fraction=cfg.n_val / n_all, max_nonfinite=None,
                                              progress=False)
    except DivergenceError as err:  # a failed solve or divergence is a result here, reported as such
        trained = getattr(err, "model", None)
        h = getattr(err, "history", None) or {"forward_passes": [], "val_loss": [], "val_accuracy": [],
                                              "train_loss": [], "nonfinite_grads": [], "grad_norm": []}
    h = dict(h)
    h["train_solves"] = [int(f - cfg.n_val * (i + 1)) for i, f in enumerate(h["forward_passes"])]
    return {"net": trained, "history": h}


@eqx.filter_jit
def _per_trial(net, task, trials):
    """Per-trial losses ``(B,)`` and the signal the task reads; compiled once per network structure, task
    and number of trials (a closure jitted at each call compiled again for every network scored)."""
    z, v, _ = jax.vmap(net.run)(trials.inputs)
    signal = v if task.reads == "voltage" else z
    one = jax.vmap(lambda sg, t: task.loss(sg[None], jax.tree_util.tree_map(lambda x: x[None], t)))
    return one(signal, trials), signal


def _scores(net, task, trials) -> tuple[np.ndarray, np.ndarray]:
    """Per-trial loss and correctness (0/1) of ``net`` on ``trials``, NumPy arrays ``(B,)`` (NaN losses
    where a solve failed)."""
    losses, signal = _per_trial(net, task, trials)
    correct = task.choices(signal, trials) == np.sign(np.asarray(trials.conditions["evidence"]))
    return np.asarray(losses, np.float64), correct.astype(np.float64)


def _paired(a: np.ndarray, b: np.ndarray) -> dict:
    """Mean of ``a - b`` over trials and its standard error."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return {"diff": float(np.mean(d)), "se": float(np.std(d, ddof=1) / np.sqrt(d.size)) if d.size > 1 else np.nan}


# ------------------------------------------------------------------------------------- sections
def _ml_budget(cfg: Config, report, results):
    task = _task(cfg, loss=cfg.loss)
    net = biophys.MorrisLecarNetwork(cfg.n, 1, 1, key=jax.random.key(1), dt=task.dt, bias_mean=cfg.bias_mean)
    n_batches = cfg.n_train // cfg.batch
    bp_solves = cfg.bp_epochs * n_batches * cfg.batch
    es_epochs = max(1, int(np.ceil(bp_solves / (n_batches * (cfg.popsize + 1) * cfg.batch))))
    test = task.sample(jax.random.key(7), cfg.n_test)
    scores = {"init": _scores(net, task, test)}
    runs = {}
    for name, method, epochs in (("bp", _bp_method(cfg), cfg.bp_epochs),
                                 ("es", OpenES(popsize=cfg.popsize, sigma=cfg.sigma, optimizer=Adam(cfg.es_lr)),
                                  es_epochs)):
        t0 = time.perf_counter()
        r = _train(net, task, cfg, method, epochs, jax.random.key(2))
        h = r["history"]
        if r["net"] is not None:
            scores[name] = _scores(r["net"], task, test)
        runs[name] = {"epochs": epochs, "train_solves": h["train_solves"], "forward_passes": h["forward_passes"],
                      "train_loss": h["train_loss"], "val_loss": h["val_loss"], "val_accuracy": h["val_accuracy"],
                      "nonfinite": int(np.sum(h["nonfinite_grads"])), "grad_norm": h.get("grad_norm", []),
                      "seconds": time.perf_counter() - t0}
    nan = np.full(cfg.n_test, np.nan)
    test_res = {k: {"loss": float(np.mean(scores.get(k, (nan, nan))[0])),
                    "accuracy": float(np.mean(scores.get(k, (nan, nan))[1]))} for k in ("init", "bp", "es")}
    for k, (a, b) in {"es_minus_bp": ("es", "bp"), "es_minus_init": ("es", "init"),
                      "bp_minus_init": ("bp", "init")}.items():
        sa, sb = scores.get(a, (nan, nan)), scores.get(b, (nan, nan))
        test_res[k] = {"loss": _paired(sa[0], sb[0]), "accuracy": _paired(sa[1], sb[1])}
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.0))
    for name, color in (("bp", "tab:red"), ("es", "tab:blue")):
        r = runs[name]
        x = [0] + r["train_solves"]
        axes[0].plot(x, [test_res["init"]["loss"]] + r["val_loss"], "o-", color=color, ms=3, label=name.upper())
        axes[1].plot(x, [test_res["init"]["accuracy"]] + r["val_accuracy"], "o-", color=color, ms=3,
                     label=name.upper())
    axes[1].axhline(0.5, color="0.6", lw=0.8, ls=":")
    for ax in axes:
        ax.set_xlabel("training trial solves (forward passes)")
    axes[0].set_ylabel("validation loss")
    axes[1].set_ylabel("validation accuracy")
    axes[0].legend()
    fig.tight_layout()
    report.section("Morris–Lecar network: loss against forward passes",
                   f"A network of {cfg.n} class 1 Morris–Lecar cells (80 % excitatory, bias currents "
                   f"{cfg.bias_mean:g} ± 5 µA/cm²) with kinetic conductance synapses learns `integration_memory` "
                   f"({cfg.n_pulses} signed pulses, trial {sum(cfg.trial):g} ms with a {cfg.trial[2]:g} ms delay, "
                   f"target the sign) by BP through the solver (Adam {cfg.bp_lr:g} on the cells' parameters and "
                   f"{cfg.bp_readout_lr:g} on the readout, {cfg.bp_epochs} epochs) and by OpenAI-ES (popsize "
                   f"{cfg.popsize}, sigma {cfg.sigma:g} on scaled parameters, Adam {cfg.es_lr:g}, {es_epochs} "
                   "epoch(s): at least as many training trial solves as BP), from the same initial weights, on "
                   f"{cfg.n_train} training trials in minibatches of {cfg.batch}. The loss is the squared error of "
                   "the readout's mean over the response window (`loss=\"window_mse\"`): the readout of a spiking "
                   "network oscillates with its spikes, and a per-step MSE (`\"mse\"`) penalised that "
                   "oscillation so much that no readout of the untrained network did better than a constant "
                   "(measured: the best linear readout's per-step validation MSE was 0.94 against 1 for zero) and "
                   "neither method learned. The readout's weights must grow to order 10 (the gatings vary little "
                   "across trials), hence its larger BP learning rate. Validation: "
                   f"{cfg.n_val} trials after every epoch; test: {cfg.n_test} fresh trials scoring the initial and "
                   "the trained networks (± one standard error of the paired difference).")
    report.figure(fig, "ml_budget.png", "Validation loss and accuracy against the number of training trial solves "
                  "(validation solves not counted); the first point is the untrained network on the test trials.")
    rows = [["initial", 0, test_res["init"]["loss"], test_res["init"]["accuracy"], "—", "—"]]
    for k, r in runs.items():
        rows.append([k.upper(), r["train_solves"][-1] if r["train_solves"] else 0, test_res[k]["loss"],
                     test_res[k]["accuracy"], max(r["val_accuracy"]) if r["val_accuracy"] else float("nan"),
                     r["nonfinite"]])
    report.table(["network", "training trial solves", "test loss", "test accuracy", "best val accuracy",
                  "non-finite steps"], rows)
    d = test_res["es_minus_bp"]
    report.text(f"ES minus BP on the test trials: loss {fmt(d['loss']['diff'])} ± {fmt(d['loss']['se'])}, accuracy "
                f"{fmt(d['accuracy']['diff'])} ± {fmt(d['accuracy']['se'])}.")
    results["ml_budget"] = {"runs": runs, "test": test_res, "es_epochs": es_epochs}
    return runs


def _window(cfg: Config, report, results):
    rows, out = [], []
    compiled = {}
    for g in cfg.couplings:
        for w in cfg.windows:
            f = w / sum(cfg.trial)
            stim = max(cfg.n_pulses, round(cfg.trial[1] * f / cfg.n_pulses) * cfg.n_pulses)
            task = get_task("integration_memory", fixation=round(cfg.trial[0] * f), stimulus=float(stim),
                            delay=float(round(cfg.trial[2] * f)), response=float(max(1, round(cfg.trial[3] * f))),
                            n_pulses=cfg.n_pulses, pulse_width=float(max(1, min(stim // cfg.n_pulses,
                                                                              round(cfg.pulse_width * f)))),
                            loss=cfg.loss)
            net = biophys.MorrisLecarNetwork(cfg.n, 1, 1, key=jax.random.key(1), g_mean=g, dt=task.dt,
                                             bias_mean=cfg.bias_mean, max_steps=20_000)
            trials = task.sample(jax.random.key(3), cfg.window_trials)
            params, static = eqx.partition(net, eqx.is_inexact_array)
            if w not in compiled:  # one program per window, shared by the couplings (the same trials)
                compiled[w] = eqx.filter_jit(jax.value_and_grad(
                    lambda p, static, task=task, trials=trials: biophys.ml_network_loss(
                        eqx.combine(p, static), task, trials)))
            loss, grads = compiled[w](params, static)
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
                   "The gradient of the loss through the solver at initialisation, for trials of growing "
                   "length (every epoch scaled) and growing synaptic coupling (mean total conductance onto a "
                   "cell); dotted lines mark non-finite gradients. A gradient that grows does not by itself "
                   "show that BP fails to train: this sweep trains nothing (see the claims).")
    report.figure(fig, "window.png", "BP gradient norm against the evaluation window, per coupling strength.")
    report.table(["g_mean (mS/cm²)", "window (ms)", "loss", "gradient norm", "finite"], rows)
    results["window"] = out
    return out


def _spike_count(cfg: Config, report, results):
    task = _task(cfg, loss="spike_count", threshold=1.0, margin=1.0)
    net = biophys.MorrisLecarNetwork(cfg.n, 1, 1, key=jax.random.key(0), input_std=20.0, dt=task.dt,
                                     bias_mean=cfg.bias_mean)
    refused = False
    try:
        biophys.train_ml_network(net, task, key=jax.random.key(1), epochs=1, batch=cfg.batch,
                                 n_trials=cfg.n_train + cfg.n_val, progress=False)
    except ValueError:
        refused = True
    r = _train(net, task, cfg, OpenES(popsize=cfg.popsize, sigma=cfg.sigma, optimizer=Adam(cfg.spike_lr)),
               cfg.spike_epochs, jax.random.key(1))
    h = r["history"]
    test = task.sample(jax.random.key(8), cfg.n_test)
    loss0, ok0 = _scores(net, task, test)
    loss1, ok1 = _scores(r["net"], task, test) if r["net"] is not None else (np.full(cfg.n_test, np.nan),) * 2
    res = {"bp_refused": refused, **{k: h[k] for k in ("train_loss", "val_loss", "val_accuracy", "train_solves")},
           "test": {"init": {"loss": float(np.mean(loss0)), "accuracy": float(np.mean(ok0))},
                    "es": {"loss": float(np.mean(loss1)), "accuracy": float(np.mean(ok1))},
                    "es_minus_init": {"loss": _paired(loss1, loss0), "accuracy": _paired(ok1, ok0)}}}
    report.section("A discrete loss: the spike count",
                   "The response is the readout cell's spike count (upward crossings of 0 mV) in the response "
                   "window against a threshold of 1 spike, scored by a hinge on the count: piecewise constant, "
                   f"with no useful gradient. BP refuses it ({'refused' if refused else '**not refused**'}); "
                   f"OpenAI-ES (popsize {cfg.popsize}, Adam {cfg.spike_lr:g}) trains on it for {cfg.spike_epochs} "
                   f"epochs ({cfg.n_train} training trials; validation on {cfg.n_val} trials after every epoch). "
                   f"The untrained and the trained networks are scored on {cfg.n_test} fresh test trials.")
    report.table(["epoch", "train loss", "val loss", "val accuracy"],
                 [[i + 1, a, b, c] for i, (a, b, c) in enumerate(zip(h["train_loss"], h["val_loss"],
                                                                    h["val_accuracy"]))])
    d = res["test"]["es_minus_init"]
    report.table(["network", "test loss", "test accuracy"],
                 [["initial", res["test"]["init"]["loss"], res["test"]["init"]["accuracy"]],
                  ["ES-trained", res["test"]["es"]["loss"], res["test"]["es"]["accuracy"]],
                  ["trained minus initial", f"{fmt(d['loss']['diff'])} ± {fmt(d['loss']['se'])}",
                   f"{fmt(d['accuracy']['diff'])} ± {fmt(d['accuracy']['se'])}"]])
    results["spike_count"] = res
    return res


#: the neural-ODE problems of the abstract, a general (low-dimensional nonlinear) problem and a stiff benchmark:
#: section -> (problem of compare_es_bp, its name in the claims and findings, title, description, figure)
_NODE_PROBLEMS = {
    "neural_ode": ("oscillator", "the general neural-ODE problem (Van der Pol)",
                   "Neural ODE (Van der Pol): BP against ES at several widths",
                   "An MLP vector field (depth 2, tanh) fitted to Van der Pol trajectories", "neural_ode.png"),
    "rober": ("rober", "the stiff neural-ODE benchmark (ROBER)",
              "Stiff neural ODE (ROBER): BP against ES at several widths",
              ("An MLP vector field (depth 2, GELU) fitted to Robertson's stiff kinetics (k = 0.04, 3e7, 1e4) on a "
               "log time grid from 1e-5 to 1e5, each species scaled to its range and time taken as log t, the "
               "scaling that makes stiff neural ODEs trainable (Kim et al. 2021; `biophys.rober_data`), solved by "
               "Tsit5"), "rober.png"),
}


def _node_section(name: str, cfg: Config, report, results):
    problem, _, title, what, figure = _NODE_PROBLEMS[name]
    res = compare_es_bp(problem, widths=cfg.node_widths, budget=cfg.node_budget, popsize=cfg.node_popsize,
                        quick=cfg.quick)
    report.section(title, f"{what}, by BP (Adam) and by OpenAI-ES (popsize {cfg.node_popsize}) from the same "
                          f"initial weights, {cfg.node_budget} forward passes each.")
    report.figure(plot_es_bp(res), figure, "Loss against forward passes, one panel per width.")
    report.table(["width", "params", "method", "final loss", "best loss", "non-finite steps"],
                 [[r["width"], r["num_params"], r["method"].upper(), r["final_loss"], r["best_loss"], r["nonfinite"]]
                  for r in res["runs"]])
    slim = [{k: v for k, v in r.items() if k not in ("forward_passes", "loss")} for r in res["runs"]]
    results[name] = {"problem": problem, "widths": res["widths"], "budget": res["budget"], "runs": slim}
    return res


def _neural_ode(cfg: Config, report, results):
    return _node_section("neural_ode", cfg, report, results)


def _rober(cfg: Config, report, results):
    return _node_section("rober", cfg, report, results)


#: How many standard errors a difference must exceed to count.
N_SE = 2.0


def _claims(results) -> list[dict]:
    claims = []
    if "ml_budget" in results:
        t = results["ml_budget"]["test"]
        runs = results["ml_budget"]["runs"]
        es_bp, es_init = t["es_minus_bp"]["loss"], t["es_minus_init"]["loss"]
        es_trains = bool(es_init["diff"] < -N_SE * es_init["se"])
        es_beats_bp = bool(es_bp["diff"] < -N_SE * es_bp["se"])
        claims.append({
            "claim": "BP through Morris–Lecar networks is unstable or divergent where ES trains",
            "criterion": f"at no more training trial solves for BP than for ES, ES's test loss is below both the "
                         f"untrained network's and BP's by more than {N_SE:g} standard errors of the paired "
                         "difference (BP failing by non-finite gradients that stop or ruin its training, or by a "
                         "worse loss)",
            "reproduced": es_trains and es_beats_bp,
            "evidence": {"test_loss_init_bp_es": [t["init"]["loss"], t["bp"]["loss"], t["es"]["loss"]],
                         "test_accuracy_init_bp_es": [t["init"]["accuracy"], t["bp"]["accuracy"],
                                                      t["es"]["accuracy"]],
                         "es_minus_bp_loss": [es_bp["diff"], es_bp["se"]],
                         "es_minus_init_loss": [es_init["diff"], es_init["se"]],
                         "bp_nonfinite_steps": runs["bp"]["nonfinite"],
                         "train_solves_bp_es": [(runs[k]["train_solves"] or [0])[-1] for k in ("bp", "es")]}})
    for name, (_, label, *_) in _NODE_PROBLEMS.items():
        if name not in results:
            continue
        runs = results[name]["runs"]
        widths = results[name]["widths"]
        gap = {w: next(r["best_loss"] for r in runs if r["width"] == w and r["method"] == "bp")
               - next(r["best_loss"] for r in runs if r["width"] == w and r["method"] == "es") for w in widths}
        claims.append({"claim": f"ES reaches a lower loss than BP on {label}, more so when over-parameterised",
                       "criterion": "at the widest network ES's best loss is below BP's at equal forward passes, "
                                    "by at least as much as at the narrowest",
                       "reproduced": bool(gap[widths[-1]] > 0 and gap[widths[-1]] >= gap[widths[0]]),
                       "evidence": {"bp_minus_es_best_loss_by_width": {str(k): v for k, v in gap.items()},
                                    "bp_nonfinite_steps_by_width": {
                                        str(r["width"]): r["nonfinite"] for r in runs if r["method"] == "bp"}}})
    if "spike_count" in results:
        s = results["spike_count"]
        d = s["test"]["es_minus_init"]["accuracy"]
        claims.append({
            "claim": "ES optimises a discrete (spike-count) loss that BP cannot use",
            "criterion": f"BP refuses the loss, and ES raises the test accuracy (fresh trials) above the untrained "
                         f"network's by more than {N_SE:g} standard errors of the paired difference",
            "reproduced": bool(s["bp_refused"] and d["diff"] > N_SE * d["se"]),
            "evidence": {"test_accuracy_init_es": [s["test"]["init"]["accuracy"], s["test"]["es"]["accuracy"]],
                         "es_minus_init_accuracy": [d["diff"], d["se"]],
                         "test_loss_init_es": [s["test"]["init"]["loss"], s["test"]["es"]["loss"]],
                         "bp_refused": s["bp_refused"]}})
    return claims


def _findings(results) -> list[dict]:
    """Measured observations that are not claims of the abstract."""
    out = []
    win = results.get("window", [])
    if win:
        norms = {}
        for e in win:
            norms.setdefault(e["g_mean"], []).append(e["grad_norm"] if e["finite"] else np.inf)
        growth = {str(g): v[-1] / v[0] for g, v in norms.items() if v and v[0] > 0}
        out.append({"finding": "BP's gradient norm at initialisation against the evaluation window (longest over "
                               "shortest window, per coupling)",
                    "evidence": {"grad_norm_growth_by_g_mean": growth,
                                 "nonfinite_gradients_in_sweep": sum(not e["finite"] for e in win)}})
    for name, (_, label, *_) in _NODE_PROBLEMS.items():
        runs = results.get(name, {}).get("runs", [])
        # a BP run that went non-finite or ended far above its best: the claims compare best losses, which
        # hides a run that diverged after its best
        bad = [r for r in runs if r["method"] == "bp"
               and (r["nonfinite"] > 0 or not r["final_loss"] < 10 * r["best_loss"])]
        for r in bad:
            es = next(e for e in runs if e["method"] == "es" and e["width"] == r["width"])
            out.append({"finding": f"BP diverged on {label} at width {r['width']} after reaching its best loss; "
                                   "ES did not",
                        "evidence": {"bp_best_final_loss": [r["best_loss"], r["final_loss"]],
                                     "bp_nonfinite_steps": r["nonfinite"],
                                     "bp_first_nonfinite_step": r["first_nonfinite"],
                                     "es_best_final_loss": [es["best_loss"], es["final_loss"]],
                                     "es_nonfinite_steps": es["nonfinite"]}})
    return out


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
        "synaptic gatings), the integration-and-memory task and its timing, its loss (the squared error of the "
        "response window's mean readout), the spike-count loss (a hinge on the "
        "readout cell's count against a threshold), the solver (Tsit5, PID), OpenAI-ES with centred ranks and Adam "
        "on scaled parameters, every size, budget and learning rate, and the neural-ODE problems (Van der Pol; ROBER "
        "with the scaling of Kim et al. 2021). "
        "Forward passes count trial solves; BP's backward passes are not counted (in its favour). Every number "
        f"below is measured in this run. A claim counts as reproduced only where its criterion (in the Claims "
        f"table) holds, with differences beyond {N_SE:g} standard errors.")
    results: dict = {"quick": cfg.quick, "config": dataclasses.asdict(cfg), "claims": [], "timings_s": {}}
    t_start = time.perf_counter()
    for name, fn in (("ml_budget", _ml_budget), ("window", _window), ("spike_count", _spike_count),
                     ("neural_ode", _neural_ode), ("rober", _rober)):
        if only is not None and name not in only:
            continue
        t0 = time.perf_counter()
        fn(cfg, report, results)
        results["timings_s"][name] = round(time.perf_counter() - t0, 2)
    results["claims"] = _claims(results)
    results["findings"] = _findings(results)
    report.section("Claims", "Each claim of the abstract, as measured in this run, with the criterion it is judged "
                   "by (pairs `[difference, standard error]`):")
    report.table(["claim", "criterion", "reproduced", "evidence"],
                 [[c["claim"], c["criterion"], "yes" if c["reproduced"] else "**no**",
                   "; ".join(f"{k} {_show(v)}" for k, v in c["evidence"].items())]
                  for c in results["claims"]])
    if results["findings"]:
        report.text("Other measurements (findings, not claims):\n\n" + "\n".join(
            f"- {f['finding']}: " + "; ".join(f"{k} {_show(v)}" for k, v in f["evidence"].items())
            for f in results["findings"]))
    return report.finish(results, t_start)


__all__ = ["run", "TITLE", "SECTIONS", "Config"]
