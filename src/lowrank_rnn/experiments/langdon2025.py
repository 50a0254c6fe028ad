"""Reproduction of Langdon & Engel 2025, "Latent circuit inference from heterogeneous neural
responses during cognitive tasks" (Nat. Neurosci. 28:665; bioRxiv 2022.01.23.477431).

``lowrank-rnn reproduce langdon2025 --out DIR [--quick]`` writes ``DIR/report.md``, the PNG figures
and ``DIR/results.json``:

1. a rate network with Dale's law (N = 50, 80 % excitatory, ReLU, the rate form
   ``h <- (1 - alpha) h + alpha ReLU(W h + W_in u)`` of the authors' ``Net``) trained by BPTT on the
   context-dependent decision task (:class:`LangdonContextDecision`: the library's
   :class:`~lowrank_rnn.tasks.ContextDependentDecision` with the authors' six non-negative input
   channels and two choice outputs), and its context-dependent psychometric curves;
2. an 8-node latent circuit (:func:`lowrank_rnn.fitting.fit_latent_circuit`; nodes ctx-motion,
   ctx-color, motion-L, motion-R, color-L, color-R, choice-L, choice-R) fitted to the network's
   activity and outputs, with the fit's nmse_y and mse_z;
3. the embedding test, $w_{rec}$ against $Q^T W Q$;
4. the context-gating mechanism read from $w_{rec}$: each context node inhibits the sensory nodes of
   the *irrelevant* modality more than those of the relevant one;
5. patterned perturbations: weakening one context node's inhibition in the circuit
   ($w_{rec} + \\delta w$) and in the network along Q's columns ($W + Q\\, \\delta w\\, Q^T$); the
   circuit's predicted change of P(choice = L) per condition against the network's measured one.

``quick``: 40 training epochs, 512 trials for the fit, 8 restarts of 400 epochs (the authors'
500 epochs of their full data set take longer than the quick budget on two cores).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ..fitting import fit_latent_circuit
from ..learning import RateRNN
from ..models import run_trials
from ..tasks import ContextDependentDecision
from ..training import BPTT, Adam, train
from ._report import fmt, start_report

TITLE = ("Langdon & Engel 2025 (Nat. Neurosci. 28:665): latent circuit inference in a Dale's-law RNN "
         "performing context-dependent decisions")

NODE_NAMES = ("ctx-motion", "ctx-color", "motion-L", "motion-R", "color-L", "color-R", "choice-L", "choice-R")

#: the magnitudes of the authors' released tutorial (github.com/engellab/latentcircuit, Tutorial.ipynb,
#: saved outputs after 500 epochs): single-run examples, not numbers from the paper's figures
PUBLISHED = {"nmse_y": 0.07, "mse_z": 0.02}


#: what was tried to tighten the embedding test and the perturbations (measured 2026-12-07, seed 0 unless
#: stated; the code of these variants was not kept)
RECIPE_CHECK = (
    "Training-recipe check (not part of this run). The authors' RNN is trained with an activity penalty "
    "(0.05 mean h²), an orthogonality penalty on the columns of [W_in, W_out] and non-negative input and "
    "output weights, and their context cue ends before the stimulus; ours has none of these. Each was tried "
    "(Adam lr 0.01 with weight decay 1e-3 on the model's own forward pass; penalty ‖offdiag(CᵀC)‖², C = "
    "[W_in, W_out]) with the same fit, in quick runs (40 training epochs) unless stated. Plain training "
    "(this run's recipe): accuracy 0.99, corr(w_rec, Qᵀ W Q) 0.63, corr(ΔP) 0.50 / −0.24 (default run: "
    "0.58, −0.14 / −0.40). All three terms, overlap weight 1: the penalty drives W_in and W_out to zero, "
    "accuracy 0.55 (0.46 with the cue off during the stimulus), r 0.41 (0.67). Overlap weight 0.01: "
    "accuracy 0.93, r 0.63, corr(ΔP) 0.06 / 0.48, suppression and context-specific perturbations kept; "
    "with the cue off: accuracy 0.70, r 0.68, corr(ΔP) −0.14 / 0.14. Activity penalty and non-negative "
    "weights without the overlap term: accuracy 0.97, r 0.33, corr(ΔP) 0.94 / 0.84 but no suppression; "
    "seed 1: accuracy 0.72, r 0.60, corr(ΔP) −0.06 / −0.05; default run: accuracy 0.97, r 0.40, "
    "corr(ΔP) 0.66 / 0.70, suppression and context-specific perturbations lost. None tightens the "
    "embedding (r ≤ 0.68 in every variant), so the missing regularisers do not explain the loose "
    "embedding; the remaining gaps to test are the fit itself (the authors z-score x inside nmse_y) and "
    "the authors' task timing (75 steps, cue 10-33 %, stimulus from 40 %, trained for 150 epochs).")


def _pick(u, values):
    """values[floor(u len(values))] for u in [0, 1)."""
    values = jnp.asarray(values, jnp.float32)
    return values[jnp.minimum((u * values.shape[0]).astype(jnp.int32), values.shape[0] - 1)]


class LangdonContextDecision(ContextDependentDecision):
    """The context-dependent decision task in the encoding of Langdon & Engel 2025 (their
    ``SiegelMillerTask``): six non-negative input channels and two choice outputs.

    Inputs: two context cues (amplitude ``context_amplitude``, 1.2 as published) on from the start
    of the context epoch to the end of the trial; motion and color, each as two channels
    ``(1 + c)/2`` and ``(1 - c)/2`` on from the start of the stimulus epoch (coherences c in
    ``linspace(-0.2, 0.2, 6)``); a baseline of 0.2 on every channel; input noise on the sensory
    channels. Targets: 0.2 on both outputs, 1.2 on the chosen side (L for a positive relevant
    coherence) during the decision epoch; the loss counts every step. The choice is the sign of
    ``z_L - z_R`` averaged over the decision epoch (+1: L). Conditions as in
    :class:`~lowrank_rnn.tasks.ContextDependentDecision` (context 0: motion relevant).

    Deviation: the cues stay on through the stimulus, as in the library's task (Mante et al. 2013);
    the authors' cue ends before the stimulus.

    Examples
    --------
    >>> import jax
    >>> task = LangdonContextDecision()
    >>> trials = task.sample(jax.random.key(0), 8)
    >>> trials.inputs.shape, trials.targets.shape, task.accuracy(trials.targets, trials)
    ((8, 70, 6), (8, 70, 2), 1.0)
    """

    name = "langdon_cdm"
    n_inputs = 6
    n_outputs = 2

    def __init__(self, *, fixation=100.0, context=300.0, stimulus=600.0, delay=0.0, decision=400.0,
                 coherences=(-0.2, -0.12, -0.04, 0.04, 0.12, 0.2), scale=1.0, context_amplitude=1.2, dt=20.0,
                 tau=100.0, input_noise=0.05):
        super().__init__(fixation=fixation, context=context, stimulus=stimulus, delay=delay, decision=decision,
                         coherences=coherences, scale=scale, context_amplitude=context_amplitude, dt=dt, tau=tau,
                         input_noise=input_noise)

    @property
    def noisy_channels(self) -> tuple[int, ...]:
        return (2, 3, 4, 5)

    def _trial(self, u):
        ep = self.epochs
        T = self.n_steps
        c1, c2 = _pick(u[0], self.coherences), _pick(u[1], self.coherences)
        ctx = jnp.minimum((u[2] * 2).astype(jnp.int32), 1)
        t = jnp.arange(T)
        stim = (t >= ep["stimulus"][0]).astype(jnp.float32) * self.scale
        cue = (t >= ep["context"][0]).astype(jnp.float32) * self.context_amplitude
        dec = ((t >= ep["decision"][0]) & (t < ep["decision"][1])).astype(jnp.float32)
        choice = jnp.sign(jnp.where(ctx == 0, c1, c2))
        inputs = 0.2 + jnp.stack([cue * (ctx == 0), cue * (ctx == 1), stim * (1 + c1) / 2, stim * (1 - c1) / 2,
                                  stim * (1 + c2) / 2, stim * (1 - c2) / 2], axis=-1)
        targets = 0.2 + jnp.stack([dec * (choice > 0), dec * (choice < 0)], axis=-1)
        cond = {"coherence_1": c1, "coherence_2": c2, "context": ctx, "choice": choice}
        return inputs, targets, jnp.ones((T, 2), jnp.float32), cond

    def _choices(self, outputs, trials):
        d0, d1 = self.epochs["decision"]
        return jnp.sign(jnp.mean(outputs[:, d0:d1, 0] - outputs[:, d0:d1, 1], axis=1))

    def _judge(self, outputs, trials):
        target = trials.conditions["choice"]
        return self._choices(outputs, trials) == target, target != 0


@dataclasses.dataclass(frozen=True)
class Config:
    """Sizes of the run (default: the authors' network and fit settings; quick: a shorter fit)."""

    quick: bool
    N: int = 50
    train_epochs: int = 100
    train_trials: int = 2000
    fit_trials: int = 1024
    restarts: int = 12
    fit_epochs: int = 500
    eval_trials: int = 2048
    perturbation: float = 0.2
    seed: int = 0

    @classmethod
    def make(cls, quick: bool) -> Config:
        if not quick:
            return cls(quick=False)
        return cls(quick=True, train_epochs=40, fit_trials=512, restarts=8, fit_epochs=400, eval_trials=1024)


def _slopes(choices, trials) -> np.ndarray:
    """Least-squares slope of P(choice = L) against each coherence, per context: ``(2 contexts, 2 modalities)``."""
    p = (np.asarray(choices) > 0).astype(np.float64)
    ctx = np.asarray(trials.conditions["context"])
    out = np.zeros((2, 2))
    for k in (0, 1):
        sel = ctx == k
        for m in (0, 1):
            c = np.asarray(trials.conditions[f"coherence_{m + 1}"])[sel]
            out[k, m] = np.polyfit(c, p[sel], 1)[0] if sel.sum() > 2 else np.nan
    return out


def _p_by_condition(choices, trials):
    """P(choice = L) per (context, coherence_1, coherence_2) condition, and the conditions ``(G, 3)``."""
    c = (np.asarray(choices) > 0).astype(np.float64)
    key = np.stack([np.asarray(trials.conditions[k], np.float64) for k in ("context", "coherence_1", "coherence_2")], 1)
    groups, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    return np.array([c[inv == i].mean() for i in range(len(groups))]), groups


def _circuit_choices(task, circuit, trials, key):
    """The choices of a latent circuit (its outputs ``w_out x``) on the trials' inputs, with its noise."""
    x = circuit.simulate(trials.inputs, key=key)
    return task.choices(jnp.asarray(circuit.outputs(x), jnp.float32), trials)


def _perturbed_network(model: RateRNN, dW) -> RateRNN:
    """The trained network with effective weights ``W + dW`` (Dale's signs no longer imposed)."""
    return RateRNN(model.N, model.n_inputs, model.n_outputs, W=np.asarray(model.weights()) + dW,
                   input_vectors=model.input_vectors, input_scales=model.input_scales,
                   readout_vectors=model.readout_vectors, readout_scales=model.readout_scales,
                   readout_bias=model.readout_bias, feedback=model.feedback, h0=model.h0, alpha=model.alpha,
                   noise=model.noise, nonlinearity=model.nonlinearity, form=model.form)


def run(out_dir, *, quick: bool = False) -> Path:
    """Return the path of ``report.md`` after reproducing the paper's claims into ``out_dir``.

    Parameters
    ----------
    out_dir: folder for ``report.md``, ``results.json`` and the PNG figures (created if missing).
    quick: a shorter training and fit (same figures and tables).
    """
    import matplotlib.pyplot as plt

    report = start_report(out_dir, TITLE, only=None, allowed=(), what="")
    cfg = Config.make(bool(quick))
    t_start = time.perf_counter()
    results: dict = {"quick": cfg.quick, "config": dataclasses.asdict(cfg), "timings_s": {}}
    keys = jax.random.split(jax.random.key(cfg.seed), 8)
    task = LangdonContextDecision()
    alpha = task.dt / task.tau
    noise = float(np.sqrt(2.0) * alpha * 0.15)  # the authors' sigma_rec = 0.15, in the library's convention
    report.text(
        f"Run: {'quick' if cfg.quick else 'default'}. Network: N = {cfg.N} ReLU units, "
        f"{int(0.8 * cfg.N)} excitatory (Dale's law), rate form h ← (1 − α) h + α ReLU(W h + W_in u) + noise, "
        f"α = {alpha:g}, spectral radius 1.5 at initialisation; BPTT with Adam (lr 0.01), batch 128, "
        f"{cfg.train_trials} trials, {cfg.train_epochs} epochs. Task: {task.n_steps} steps of {task.dt:g} ms; "
        "six non-negative inputs (two context cues, motion L/R, color L/R), two choice outputs. "
        f"Latent circuit: 8 nodes, {cfg.restarts} restarts × {cfg.fit_epochs} epochs on {cfg.fit_trials} trials "
        "of the network (Adam lr 0.02, weight decay 1e-3, batch 128, α = 0.2, σ_rec = 0.15: the authors' fit).")

    # ------------------------------------------------------------------ 1. the network
    t0 = time.perf_counter()
    model = RateRNN(cfg.N, task.n_inputs, task.n_outputs, key=keys[0], n_excitatory=int(0.8 * cfg.N), form="rate",
                    alpha=alpha, noise=noise, g=1.5)
    model, history = train(model, task, key=keys[1], epochs=cfg.train_epochs, method=BPTT(optimizer=Adam(0.01)),
                           batch=128, n_trials=cfg.train_trials, progress=True)
    trials = task.sample(keys[2], cfg.eval_trials)
    outputs = run_trials(model, trials.inputs, key=keys[3])
    accuracy = task.accuracy(outputs, trials)
    slopes = _slopes(task.choices(outputs, trials), trials)
    results["network"] = {"accuracy": accuracy, "val_loss": history["val_loss"][-1],
                          "slopes": slopes, "slope_labels": "[context motion, color][coherence motion, color]"}
    report.section("The trained network",
                   "P(choice = L) against each modality's coherence, per context: steep for the relevant modality, "
                   "flat for the irrelevant one (the behaviour of the monkeys and of the authors' RNNs).")
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.4))
    task.plot_psychometric(task.psychometric(outputs, trials), ax=axes)
    axes[0].set_xlabel("motion coherence")
    axes[1].set_xlabel("color coherence")
    for ax in axes:
        for line, lab in zip(ax.get_lines(), ("motion context", "color context")):
            line.set_label(lab)
        ax.legend(frameon=False, fontsize="small")
    fig.tight_layout()
    report.figure(fig, "psychometric.png", "The trained network's psychometric curves on fresh noisy trials.")
    plt.close(fig)
    report.table(["measure", "motion context", "color context"],
                 [["accuracy", accuracy, ""], ["slope vs motion coherence", slopes[0, 0], slopes[1, 0]],
                  ["slope vs color coherence", slopes[0, 1], slopes[1, 1]]],
                 caption="Accuracy and least-squares slopes of P(choice = L) against coherence.")
    results["timings_s"]["network"] = round(time.perf_counter() - t0, 2)

    # ------------------------------------------------------------------ 2-3. the latent circuit and the embedding test
    t0 = time.perf_counter()
    fit = fit_latent_circuit(model, 8, task=task, n_trials=cfg.fit_trials, key=keys[4], restarts=cfg.restarts,
                             epochs=cfg.fit_epochs, node_names=NODE_NAMES, progress=True)
    emb = fit.embedding
    results["circuit"] = {"nmse_y": fit.nmse_y, "mse_z": fit.mse_z, "variance_outside_subspace": fit.nmse_q,
                          "w_rec": fit.w_rec, "w_in": np.diag(fit.w_in[:6]), "w_out": fit.w_out[:, 6:],
                          "embedding_correlation": emb.correlation, "input_embedding_correlation": emb.input_correlation,
                          "final_losses": fit.final_losses, "best": fit.best}
    report.section("Latent circuit fit and the embedding test",
                   "The circuit's activity embedded by Q against the network's (nmse_y), its outputs against the "
                   "network's (mse_z), and the test that the circuit is literally embedded in the connectivity: "
                   "w_rec against Qᵀ W Q (and w_in against Qᵀ W_in on the input nodes).")
    report.table(["measure", "ours", "published"],
                 [["nmse_y", fit.nmse_y, f"≈ {PUBLISHED['nmse_y']} (authors' tutorial)"],
                  ["mse_z", fit.mse_z, f"≈ {PUBLISHED['mse_z']} (authors' tutorial)"],
                  ["variance outside span(Q)", fit.nmse_q, "—"],
                  ["corr(w_rec, Qᵀ W Q)", emb.correlation, "high (Fig. 3; value not in our sources)"],
                  ["corr(w_in, Qᵀ W_in), input nodes", emb.input_correlation, "—"]],
                 caption="Fit diagnostics on all fitted trials (noise-free circuit).")
    fig = fit.plot()
    report.figure(fig, "circuit.png", "Fitted w_rec, Qᵀ W Q of the trained network, and their entries against "
                  "each other.")
    plt.close(fig)
    results["timings_s"]["fit"] = round(time.perf_counter() - t0, 2)

    # ------------------------------------------------------------------ 4. the gating mechanism
    w = fit.w_rec
    motion, color = [2, 3], [4, 5]
    ctx_m_to_irrelevant = float(w[color, 0].mean())
    ctx_m_to_relevant = float(w[motion, 0].mean())
    ctx_c_to_irrelevant = float(w[motion, 1].mean())
    ctx_c_to_relevant = float(w[color, 1].mean())
    suppression = (ctx_m_to_irrelevant < 0 and ctx_c_to_irrelevant < 0 and ctx_m_to_irrelevant < ctx_m_to_relevant
                   and ctx_c_to_irrelevant < ctx_c_to_relevant)
    results["gating"] = {"ctx_motion_to_color": w[color, 0], "ctx_motion_to_motion": w[motion, 0],
                         "ctx_color_to_motion": w[motion, 1], "ctx_color_to_color": w[color, 1],
                         "suppression_of_irrelevant": suppression}
    report.section("Context gating in the circuit",
                   "The paper's mechanism: each context node inhibits the sensory nodes of the irrelevant modality "
                   "(ctx-motion → color-L/R and ctx-color → motion-L/R negative), so that only the relevant "
                   "modality reaches the choice nodes.")
    report.table(["connection", "mean weight", "entries"],
                 [["ctx-motion → color (irrelevant)", ctx_m_to_irrelevant, str(np.round(w[color, 0], 3))],
                  ["ctx-motion → motion (relevant)", ctx_m_to_relevant, str(np.round(w[motion, 0], 3))],
                  ["ctx-color → motion (irrelevant)", ctx_c_to_irrelevant, str(np.round(w[motion, 1], 3))],
                  ["ctx-color → color (relevant)", ctx_c_to_relevant, str(np.round(w[color, 1], 3))]],
                 caption="Weights from the context nodes onto the sensory nodes in the fitted w_rec.")

    # ------------------------------------------------------------------ 5. the patterned perturbations
    t0 = time.perf_counter()
    circuit = fit.circuit
    p_net0, groups = _p_by_condition(task.choices(outputs, trials), trials)
    p_circ0, _ = _p_by_condition(_circuit_choices(task, circuit, trials, keys[5]), trials)
    group_ctx = groups[:, 0]
    pert_rows, pert_results = [], {}
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.6))
    for ax, (name, rows, col, home) in zip(axes, (("ctx-motion → color", color, 0, 0),
                                                  ("ctx-color → motion", motion, 1, 1))):
        delta = np.zeros((8, 8))
        delta[rows, col] = cfg.perturbation
        p_circ, _ = _p_by_condition(_circuit_choices(task, circuit.perturbed(delta), trials, keys[5]), trials)
        out_after = run_trials(_perturbed_network(model, fit.perturbation(delta)), trials.inputs, key=keys[3])
        p_net, _ = _p_by_condition(task.choices(out_after, trials), trials)
        d_circ, d_net = p_circ - p_circ0, p_net - p_net0
        change = {src: [float(np.abs(d[group_ctx == k]).mean()) for k in (0, 1)]
                  for src, d in (("circuit", d_circ), ("network", d_net))}
        specific = all(change[src][home] > 3 * change[src][1 - home] for src in change)
        corr = float(np.corrcoef(d_circ, d_net)[0, 1]) if d_net.std() > 0 and d_circ.std() > 0 else float("nan")
        pert_results[name] = {"mean_abs_change_by_context": change, "context_specific": specific,
                              "correlation_of_changes": corr, "network_accuracy_after": task.accuracy(out_after, trials)}
        pert_rows.append([name, change["circuit"][0], change["circuit"][1], change["network"][0], change["network"][1],
                          corr])
        for k, marker in ((0, "o"), (1, "s")):
            sel = group_ctx == k
            ax.scatter(d_circ[sel], d_net[sel], s=14, marker=marker, label=("motion", "color")[k] + " context")
        ax.axhline(0, color="0.7", lw=0.8)
        ax.axvline(0, color="0.7", lw=0.8)
        ax.set_xlabel("ΔP(L), circuit + δw (prediction)")
        ax.set_ylabel("ΔP(L), network + Q δw Qᵀ")
        ax.set_title(f"{name} +{cfg.perturbation:g}, r = {corr:.2f}", fontsize="small")
        ax.legend(frameon=False, fontsize="x-small")
    fig.tight_layout()
    results["perturbation"] = {"delta": cfg.perturbation, **pert_results}
    report.section("Patterned perturbations along Q",
                   f"Each perturbation δw weakens one context node's inhibition of the irrelevant sensory nodes "
                   f"(+{cfg.perturbation:g} on ctx-motion → color-L/R, or on ctx-color → motion-L/R). The circuit with "
                   "w_rec + δw predicts how P(choice = L) changes in each of the 72 conditions (context × motion × "
                   "color coherence); the network is perturbed by W + Q δw Qᵀ and measured on the same noisy trials. "
                   "The circuit predicts that only the context whose node was perturbed changes.")
    report.table(["perturbation", "circuit: mean |ΔP| motion ctx", "circuit: color ctx", "network: motion ctx",
                  "network: color ctx", "corr(ΔP circuit, ΔP network)"], pert_rows,
                 caption="Mean absolute change of P(choice = L) per context, and the correlation of the predicted "
                         "and measured changes over the conditions.")
    report.figure(fig, "perturbation.png", "Change of P(choice = L) per condition: predicted by the perturbed circuit "
                  "against measured in the perturbed network.")
    plt.close(fig)
    specific_all = all(r["context_specific"] for r in pert_results.values())
    corr_all = [r["correlation_of_changes"] for r in pert_results.values()]
    results["timings_s"]["perturbation"] = round(time.perf_counter() - t0, 2)

    # ------------------------------------------------------------------ claims
    irr = np.array([slopes[0, 1], slopes[1, 0]])  # color in the motion context, motion in the color context
    rel = np.array([slopes[0, 0], slopes[1, 1]])
    rel_vs_irr = bool(np.all(rel > 3 * np.abs(irr)))
    report.section("Claims", "Claim by claim, as measured in this run.")
    report.table(["claim (paper)", "published", "ours", "reproduced"],
                 [["a Dale's-law RNN solves the task with context-dependent slopes", "yes (Fig. 2)",
                   (f"accuracy {fmt(accuracy)}, relevant slopes {fmt(rel.min())}+ vs irrelevant "
                    f"≤ {fmt(np.abs(irr).max())}"), rel_vs_irr],
                  ["an 8-node latent circuit fits the activity", f"nmse_y ≈ {PUBLISHED['nmse_y']} (tutorial)",
                   f"nmse_y {fmt(fit.nmse_y)}, mse_z {fmt(fit.mse_z)}", fit.nmse_y < 0.2],
                  ["the circuit is embedded in the connectivity: w_rec ≈ Qᵀ W Q", "yes (Fig. 3)",
                   f"r = {fmt(emb.correlation)} (tight: r > 0.8)", emb.correlation > 0.8],
                  ["context nodes suppress the irrelevant sensory nodes", "yes (Fig. 3-4)",
                   f"ctx-motion → color {fmt(ctx_m_to_irrelevant)}, ctx-color → motion {fmt(ctx_c_to_irrelevant)}",
                   suppression],
                  ["perturbing W along Q δw Qᵀ changes behaviour in the context the circuit predicts", "yes (Fig. 5)",
                   "changes confined to the perturbed node's context" if specific_all else "not confined",
                   specific_all],
                  ["… and condition by condition as the circuit predicts", "yes (Fig. 5)",
                   f"corr of ΔP over conditions {', '.join(fmt(c) for c in corr_all)}",
                   bool(all(c > 0.5 for c in corr_all))]])
    report.text(RECIPE_CHECK)
    results["claims"] = {"context_dependent_behaviour": rel_vs_irr, "circuit_fits": fit.nmse_y < 0.2,
                         "embedding": emb.correlation > 0.8, "suppression": suppression, "perturbation_context": specific_all,
                         "perturbation_conditions": bool(all(c > 0.5 for c in corr_all))}
    return report.finish(results, t_start)
