"""Evidence-integration decision tasks of Dubreuil, Valente et al. 2022 (Nat. Neurosci.).

- :class:`PerceptualDecision` (random-dot motion, "rdm"): report the sign of a noisy coherence.
- :class:`ContextDependentDecision` (Mante et al. 2013, "mante"): two noisy coherences and two
  context cues; report the sign of the coherence the context makes relevant.
- :class:`MultisensoryDecision` (Raposo et al. 2014, "raposo"): visual, auditory or both carry
  evidence for one common choice; two modality flags tell which are present.

The target is +-1 on the decision window, which is the only place the mask is 1. The choice of
the network is the sign of its output averaged over the decision window, and a trial is correct
when the choice equals the sign of the target (the published rule; trials with target 0, e.g. a
zero coherence used for a psychometric curve, are not graded).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._checks import real_scalar
from .._errors import ArgumentError
from ._base import (AbstractStimulusDecision, AbstractTask, Trials, _check_common, _check_outputs,
                    _group_mean, _new_axes, _SignChoice, _values, pick, randint, window)


def _choice_prob(task, outputs, trials):
    """(B,) float: 1 where the network chose +1, 0 otherwise."""
    out = _check_outputs(outputs, trials)
    return np.asarray(task._choices(out, trials) > 0, dtype=np.float64)


def _plot_curves(ax, x, curves, labels, xlabel):
    for y, lab in zip(curves, labels):
        ok = np.isfinite(y)
        xs, ys = np.asarray(x, dtype=float)[ok], np.asarray(y, dtype=float)[ok]
        # no line across 0 where 0 is not a condition (the sign of the evidence is the choice)
        cut = np.flatnonzero((xs[:-1] < 0) & (xs[1:] > 0)) + 1
        ax.plot(np.insert(xs, cut, np.nan), np.insert(ys, cut, np.nan), "o-", lw=1.5, ms=4, label=lab)
    ax.axhline(0.5, color="0.7", lw=0.8, zorder=0)
    ax.axvline(0.0, color="0.7", lw=0.8, zorder=0)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("P(choice = +1)")
    if any(lab is not None for lab in labels):
        ax.legend(frameon=False, fontsize="small")


class PerceptualDecision(AbstractStimulusDecision):
    """Perceptual decision on random-dot motion ("rdm"): report the sign of the coherence.

    One input channel carries ``scale * c`` during the stimulus epoch, c drawn uniformly from
    ``coherences`` (published: +-1, +-2, +-4, scale 0.1), plus white noise of standard
    deviation ``input_noise`` on every step. Epochs (ms): fixation, stimulus, delay, decision
    (published 100, 800, 100, 20: 51 steps at dt = 20 ms). Target ``sign(c)`` and mask 1 on the
    decision window only. Conditions: ``coherence`` (c, in the units of ``coherences``) and
    ``choice`` (the target sign).

    Dubreuil, Valente et al. 2022, Nat. Neurosci., Fig. 1 (code ``rdm.py``).

    Example
    -------
    >>> task = PerceptualDecision()
    >>> trials = task.sample(jax.random.key(0), 8)
    >>> task.accuracy(trials.targets, trials)
    1.0
    """

    name = "rdm"
    coherences: tuple = eqx.field(static=True)
    scale: float = eqx.field(static=True)

    def __init__(self, *, fixation=100.0, stimulus=800.0, delay=100.0, decision=20.0,
                 coherences=(-4, -2, -1, 1, 2, 4), scale=0.1, dt=20.0, tau=100.0, input_noise=0.1):
        self.dt, self.tau, self.input_noise = _check_common(dt, tau, input_noise)
        self._set_timing(fixation, stimulus, delay, decision)
        self.coherences = _values("coherences", coherences)
        self.scale = real_scalar("scale", scale, low=0.0)

    def _trial(self, u):
        ep = self.epochs
        t = jnp.arange(self.n_steps)
        coh = pick(u[0], np.asarray(self.coherences, np.float32))
        stim = window(t, *ep["stimulus"])
        dec = window(t, *ep["decision"])
        choice = jnp.sign(coh)
        inputs = (self.scale * coh * stim)[:, None]
        targets = (choice * dec)[:, None]
        return inputs, targets, dec[:, None], {"coherence": coh, "choice": choice}

    def psychometric(self, outputs, trials: Trials) -> dict:
        """Return P(choice = +1) against the coherence: ``coherence``, ``p_plus``, ``n_trials``.

        The psychometric curve of Dubreuil, Valente et al. 2022 (Fig. 1): the fraction of trials
        on which the sign of the output averaged over the decision window is +1.
        """
        p = _choice_prob(self, outputs, trials)
        xs, mean, count = _group_mean(np.asarray(trials.conditions["coherence"]), p)
        return {"coherence": xs, "p_plus": mean[0], "n_trials": count[0]}

    def plot_psychometric(self, summary: dict, ax=None):
        """Draw P(choice = +1) against the coherence; return the Axes."""
        ax = _new_axes(ax)
        _plot_curves(ax, summary["coherence"], [summary["p_plus"]], [None], "coherence")
        ax.set_title("perceptual decision")
        return ax


class _AbstractCuedDecision(_SignChoice, AbstractTask):
    """Two noisy sensory channels and two noiseless cues, one output; epochs fixation, context
    (cue alone), stimulus, delay, decision. The layout of :class:`ContextDependentDecision` and
    :class:`MultisensoryDecision`."""

    n_inputs = 4
    n_outputs = 1
    epoch_names = ("fixation", "context", "stimulus", "delay", "decision")
    fixation: float = eqx.field(static=True)
    context: float = eqx.field(static=True)
    stimulus: float = eqx.field(static=True)
    delay: float = eqx.field(static=True)
    decision: float = eqx.field(static=True)
    coherences: tuple = eqx.field(static=True)
    scale: float = eqx.field(static=True)

    @property
    def noisy_channels(self) -> tuple[int, ...]:
        return (0, 1)

    def _set_timing(self, fixation, context, stimulus, delay, decision) -> None:
        """Store and check the durations (ms) of the five epochs."""
        self._set_durations(fixation=fixation, context=context, stimulus=stimulus, delay=delay,
                            decision=decision, positive=("stimulus", "decision"))


class ContextDependentDecision(_AbstractCuedDecision):
    """Context-dependent decision ("mante"): report the sign of the coherence the context selects.

    Four input channels: the two sensory coherences ``scale * c1`` and ``scale * c2`` during the
    stimulus epoch (c1, c2 drawn independently from ``coherences``), and two context cues of
    amplitude ``context_amplitude``, the cue of the relevant channel on from the end of fixation
    to the end of the delay. Input noise on the two sensory channels only, as in the published
    code (the context cues are noiseless). Epochs (ms): fixation, context (cue alone), stimulus,
    delay, decision. Target ``sign(c_relevant)`` and mask 1 on the decision window.

    Published timing: 100, 350, 800, 100, 20 ms; the published code floors the 350 ms context
    epoch to 17 steps of 20 ms, so the default here is 340 ms, which gives the same 68-step trials
    (timing must be a whole number of steps). Context cue amplitude 0.1 (0.5 in the main-figure
    training script ``train_mante_main.py``).

    Conditions: ``coherence_1``, ``coherence_2``, ``context`` (0: channel 1 relevant, 1: channel 2
    relevant), ``choice``. Dubreuil, Valente et al. 2022 (code ``mante.py``); Mante et al. 2013.

    Examples
    --------
    >>> import jax
    >>> task = ContextDependentDecision()
    >>> trials = task.sample(jax.random.key(0), 8)
    >>> trials.inputs.shape, trials.targets.shape, sorted(trials.conditions)
    ((8, 68, 4), (8, 68, 1), ['choice', 'coherence_1', 'coherence_2', 'context'])
    >>> task.accuracy(trials.targets, trials)          # the targets themselves
    1.0
    """

    name = "mante"
    n_uniform = 3
    context_amplitude: float = eqx.field(static=True)

    def __init__(self, *, fixation=100.0, context=340.0, stimulus=800.0, delay=100.0, decision=20.0,
                 coherences=(-4, -2, -1, 1, 2, 4), scale=0.1, context_amplitude=0.1, dt=20.0,
                 tau=100.0, input_noise=0.1):
        self.dt, self.tau, self.input_noise = _check_common(dt, tau, input_noise)
        self._set_timing(fixation, context, stimulus, delay, decision)
        self.coherences = _values("coherences", coherences)
        self.scale = real_scalar("scale", scale, low=0.0)
        self.context_amplitude = real_scalar("context_amplitude", context_amplitude, low=0.0)

    def _trial(self, u):
        ep = self.epochs
        cohs = np.asarray(self.coherences, np.float32)
        c1, c2 = pick(u[0], cohs), pick(u[1], cohs)
        ctx = randint(u[2], 0, 1)
        t = jnp.arange(self.n_steps)
        stim = window(t, *ep["stimulus"])
        cue = window(t, ep["context"][0], ep["delay"][1])
        dec = window(t, *ep["decision"])
        choice = jnp.sign(jnp.where(ctx == 0, c1, c2))
        inputs = jnp.stack([self.scale * c1 * stim, self.scale * c2 * stim,
                            self.context_amplitude * cue * (ctx == 0),
                            self.context_amplitude * cue * (ctx == 1)], axis=-1)
        targets = (choice * dec)[:, None]
        cond = {"coherence_1": c1, "coherence_2": c2, "context": ctx, "choice": choice}
        return inputs, targets, dec[:, None], cond

    def psychometric(self, outputs, trials: Trials) -> dict:
        """Return P(choice = +1) against each coherence, per context.

        Keys: ``coherence_1`` (values), ``p_plus_by_coherence_1`` (2, n): row k is context k;
        the same for ``coherence_2``; ``n_trials_by_coherence_1/2``. In context 0 the curve
        against coherence 1 is steep and the one against coherence 2 flat, and the reverse in
        context 1 (Mante et al. 2013, Fig. 1; Dubreuil, Valente et al. 2022, Fig. 2).
        """
        p = _choice_prob(self, outputs, trials)
        ctx = np.asarray(trials.conditions["context"])
        out = {}
        for i in (1, 2):
            xs, mean, count = _group_mean(np.asarray(trials.conditions[f"coherence_{i}"]), p, ctx, 2)
            out[f"coherence_{i}"] = xs
            out[f"p_plus_by_coherence_{i}"] = mean
            out[f"n_trials_by_coherence_{i}"] = count
        return out

    def plot_psychometric(self, summary: dict, ax=None):
        """Draw P(choice = +1) against coherence 1 and coherence 2 (one panel each), per context."""
        axes = _new_axes(ax, 2)
        for i, a in zip((1, 2), axes):
            _plot_curves(a, summary[f"coherence_{i}"], summary[f"p_plus_by_coherence_{i}"],
                         ["context 1", "context 2"], f"coherence {i}")
            a.set_title(f"against coherence {i}")
        return axes


_RAPOSO_CONTEXTS = ("visual", "auditory", "both")


class MultisensoryDecision(_AbstractCuedDecision):
    """Multisensory decision ("raposo"): visual, auditory or both carry evidence for one choice.

    Each trial draws a choice +-1 and a modality context: 0 visual, 1 auditory, 2 both. Each
    presented modality gets its own coherence of the choice's sign, drawn from ``coherences``
    (independently per modality), as ``scale * c`` on its sensory channel (0 visual, 1 auditory)
    during the stimulus epoch; the modality flags (channels 2 and 3, amplitude
    ``flag_amplitude``) are on from the end of fixation to the end of the stimulus for the
    presented modalities. Input noise on the sensory channels only (published code). Timing as in
    :class:`ContextDependentDecision` (the 350 ms published context epoch is 17 steps = 340 ms).
    Target the choice, mask 1 on the decision window.

    Conditions: ``coherence_visual``, ``coherence_auditory`` (0 when absent), ``context``,
    ``choice``. Dubreuil, Valente et al. 2022 (code ``raposo.py``); Raposo et al. 2014.

    Examples
    --------
    >>> import jax
    >>> task = MultisensoryDecision()
    >>> trials = task.sample(jax.random.key(0), 8)
    >>> trials.inputs.shape, trials.targets.shape, sorted(trials.conditions)
    ((8, 68, 4), (8, 68, 1), ['choice', 'coherence_auditory', 'coherence_visual', 'context'])
    >>> task.accuracy(trials.targets, trials)          # the targets themselves
    1.0
    """

    name = "raposo"
    n_uniform = 4
    flag_amplitude: float = eqx.field(static=True)

    def __init__(self, *, fixation=100.0, context=340.0, stimulus=800.0, delay=100.0, decision=20.0,
                 coherences=(1, 2, 4), scale=0.1, flag_amplitude=0.1, dt=20.0, tau=100.0,
                 input_noise=0.1):
        self.dt, self.tau, self.input_noise = _check_common(dt, tau, input_noise)
        self._set_timing(fixation, context, stimulus, delay, decision)
        coherences = _values("coherences", coherences)
        if any(c <= 0 for c in coherences):
            raise ArgumentError("coherences: the coherence magnitudes must be > 0 (their sign is the "
                             f"trial's choice), got {coherences}")
        self.coherences = coherences
        self.scale = real_scalar("scale", scale, low=0.0)
        self.flag_amplitude = real_scalar("flag_amplitude", flag_amplitude, low=0.0)

    def _trial(self, u):
        ep = self.epochs
        choice = jnp.where(u[0] < 0.5, 1.0, -1.0)
        ctx = randint(u[1], 0, 2)
        mags = np.asarray(self.coherences, np.float32)
        vis_on = (ctx == 0) | (ctx == 2)
        aud_on = (ctx == 1) | (ctx == 2)
        c_vis = jnp.where(vis_on, choice * pick(u[2], mags), 0.0)
        c_aud = jnp.where(aud_on, choice * pick(u[3], mags), 0.0)
        t = jnp.arange(self.n_steps)
        stim = window(t, *ep["stimulus"])
        flag = window(t, ep["context"][0], ep["stimulus"][1])
        dec = window(t, *ep["decision"])
        inputs = jnp.stack([self.scale * c_vis * stim, self.scale * c_aud * stim,
                            self.flag_amplitude * flag * vis_on,
                            self.flag_amplitude * flag * aud_on], axis=-1)
        targets = (choice * dec)[:, None]
        cond = {"coherence_visual": c_vis, "coherence_auditory": c_aud, "context": ctx,
                "choice": choice}
        return inputs, targets, dec[:, None], cond

    def psychometric(self, outputs, trials: Trials) -> dict:
        """Return P(choice = +1) against the evidence, per modality context.

        The evidence is the coherence of the presented modality (the mean of the two in the
        multisensory context). Keys: ``evidence`` (values), ``p_plus`` (3, n) with rows visual,
        auditory, both (NaN where a context never had that evidence), ``n_trials``, ``contexts``.
        Raposo et al. 2014 (Fig. 1); Dubreuil, Valente et al. 2022.
        """
        p = _choice_prob(self, outputs, trials)
        c = trials.conditions
        ctx = np.asarray(c["context"])
        cv, ca = np.asarray(c["coherence_visual"]), np.asarray(c["coherence_auditory"])
        ev = np.where(ctx == 0, cv, np.where(ctx == 1, ca, 0.5 * (cv + ca)))
        xs, mean, count = _group_mean(ev, p, ctx, 3)
        return {"evidence": xs, "p_plus": mean, "n_trials": count, "contexts": list(_RAPOSO_CONTEXTS)}

    def plot_psychometric(self, summary: dict, ax=None):
        """Draw P(choice = +1) against the evidence, one curve per modality context."""
        ax = _new_axes(ax)
        _plot_curves(ax, summary["evidence"], summary["p_plus"], summary["contexts"], "evidence (coherence)")
        ax.set_title("multisensory decision")
        return ax
