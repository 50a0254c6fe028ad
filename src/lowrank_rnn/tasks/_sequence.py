"""Memory tasks without a decision epoch of the Dubreuil et al. kind.

- :class:`FlipFlop`: K independent bits set by sparse +-1 pulses (Sussillo & Barak 2013).
- :class:`DelayedXOR`: two cues separated by a long delay, classify whether they match (the
  delayed-XOR task of the ModProp paper, Liu et al. 2022, arXiv 2206.01338).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import real_scalar
from .._errors import ArgumentError
from ._base import (AbstractTask, Trials, _check_common, _check_outputs, _is_pos_int, _new_axes,
                    masked_mean, mse_loss, randint)


def masked_cross_entropy(out: jax.Array, trials: Trials) -> jax.Array:
    """Return ``(1/B) sum_b sum_t m_bt [-sum_o y_bto log softmax(z_bt)_o] / max(sum_t m_bt, 1)``, the
    softmax cross-entropy of one-hot targets at the masked steps (``m_bt``: the mask of output 0)."""
    m = trials.mask[..., 0]
    ce = -jnp.sum(trials.targets * jax.nn.log_softmax(out, axis=-1), axis=-1)
    return jnp.mean(jnp.sum(m * ce, axis=1) / jnp.maximum(jnp.sum(m, axis=1), 1.0))


class FlipFlop(AbstractTask):
    """K-bit flip-flop ("flipflop"): each output holds the sign of the last pulse on its input.

    K input channels. Time is cut into slots of ``pulse_duration`` ms; in each slot, each channel
    independently receives a pulse with probability ``pulse_probability``, of sign +-1 (equally
    likely) and amplitude ``amplitude``, lasting the whole slot. Output k must equal the sign of
    the most recent pulse on channel k. The mask is 1 once channel k has had a pulse, except
    during pulses (the network is given the pulse to switch); before the first pulse the target
    is 0 and unmasked. Sussillo & Barak 2013, Neural Comput. 25:626.

    Accuracy: per trial, the fraction of masked (step, bit) entries where the sign of the output
    equals the target, averaged over trials that have at least one masked entry.
    Conditions: ``n_pulses`` (pulses in the trial, all bits).

    Examples
    --------
    >>> import jax
    >>> task = FlipFlop()
    >>> trials = task.sample(jax.random.key(0), 8)
    >>> trials.inputs.shape, trials.targets.shape, sorted(trials.conditions)
    ((8, 100, 3), (8, 100, 3), ['n_pulses'])
    >>> task.accuracy(trials.targets, trials)          # the targets themselves
    1.0
    """

    name = "flipflop"
    epoch_names = ("duration",)
    n_bits: int = eqx.field(static=True)
    duration: float = eqx.field(static=True)
    pulse_duration: float = eqx.field(static=True)
    pulse_probability: float = eqx.field(static=True)
    amplitude: float = eqx.field(static=True)

    def __init__(self, *, n_bits=3, duration=2000.0, pulse_duration=100.0, pulse_probability=0.1,
                 amplitude=1.0, dt=20.0, tau=100.0, input_noise=0.1):
        self.dt, self.tau, self.input_noise = _check_common(dt, tau, input_noise)
        self.n_bits = _is_pos_int("n_bits", n_bits)
        self._set_durations(duration=duration, pulse_duration=pulse_duration,
                            positive=("duration", "pulse_duration"))
        n = self.duration / self.pulse_duration
        if abs(n - round(n)) > 1e-6 * max(1.0, n):
            raise ArgumentError(f"duration = {self.duration:g} must be a multiple of pulse_duration "
                             f"= {self.pulse_duration:g} (trials are cut into pulse slots)")
        self.pulse_probability = real_scalar("pulse_probability", pulse_probability, low=0.0, high=1.0)
        self.amplitude = real_scalar("amplitude", amplitude)

    @property
    def n_inputs(self) -> int:
        return self.n_bits

    @property
    def n_outputs(self) -> int:
        return self.n_bits

    @property
    def _n_slots(self) -> int:
        return self.n_steps // self._steps_of("pulse_duration")

    @property
    def n_uniform(self) -> int:
        return 2 * self._n_slots * self.n_bits

    def _trial(self, u):
        per_slot = self._steps_of("pulse_duration")
        n_slots = self._n_slots
        u = u.reshape(2, n_slots, self.n_bits)
        on = u[0] < self.pulse_probability
        sign = jnp.where(u[1] < 0.5, 1.0, -1.0)
        pulses = jnp.where(on, sign, 0.0)
        # index of the latest slot with a pulse, per bit (-1 before the first pulse)
        idx = jnp.where(on, jnp.arange(n_slots)[:, None], -1)
        last = jax.lax.cummax(idx, axis=0)
        held = jnp.where(last >= 0, jnp.take_along_axis(pulses, jnp.maximum(last, 0), axis=0), 0.0)
        pulses_t = jnp.repeat(pulses, per_slot, axis=0)
        target = jnp.repeat(held, per_slot, axis=0)
        mask = ((target != 0) & (pulses_t == 0)).astype(jnp.float32)
        return self.amplitude * pulses_t, target, mask, {"n_pulses": jnp.sum(on)}

    def _judge(self, outputs, trials):
        hit = (jnp.sign(outputs) == trials.targets) * trials.mask
        n = jnp.sum(trials.mask, axis=(1, 2))
        frac = jnp.sum(hit, axis=(1, 2)) / jnp.maximum(n, 1.0)
        # a per-trial score in [0, 1], averaged by accuracy() over the trials that have a masked entry
        return frac, n > 0

    def psychometric(self, outputs, trials: Trials, n_bins: int = 8) -> dict:
        """Return the accuracy per bit and against the time since the last pulse ended.

        Keys: ``bit`` (0..K-1), ``accuracy_by_bit`` (K,); ``time_since_pulse`` (bin centres, ms),
        ``accuracy_by_time`` and ``n_entries_by_time``. How well each bit is held, and whether the
        memory decays over time.
        """
        out = np.asarray(_check_outputs(outputs, trials))
        y = np.asarray(trials.targets)
        m = np.asarray(trials.mask) > 0
        hit = np.sign(out) == y
        by_bit = np.array([hit[..., k][m[..., k]].mean() if m[..., k].any() else np.nan
                           for k in range(self.n_bits)])
        pulse = (np.abs(y) > 0) & ~m  # a held target that is unmasked: a pulse in progress
        T = out.shape[1]
        since = np.full(out.shape, np.nan)
        last = np.full((out.shape[0], out.shape[2]), -np.inf)
        for t in range(T):
            last = np.where(pulse[:, t, :], t, last)
            since[:, t, :] = (t - last) * self.dt
        edges = np.linspace(0.0, T * self.dt, n_bins + 1)
        acc, n = np.full(n_bins, np.nan), np.zeros(n_bins, dtype=np.int64)
        for i in range(n_bins):
            sel = m & (since > edges[i]) & (since <= edges[i + 1])
            n[i] = int(sel.sum())
            if n[i]:
                acc[i] = float(hit[sel].mean())
        return {"bit": np.arange(self.n_bits), "accuracy_by_bit": by_bit,
                "time_since_pulse": 0.5 * (edges[1:] + edges[:-1]), "accuracy_by_time": acc,
                "n_entries_by_time": n}

    def plot_psychometric(self, summary: dict, ax=None):
        """Draw the accuracy per bit (left) and against the time since the last pulse (right)."""
        axes = _new_axes(ax, 2)
        axes[0].bar(summary["bit"], summary["accuracy_by_bit"])
        axes[0].set_ylim(0, 1.03)
        axes[0].set_xlabel("bit")
        axes[0].set_ylabel("accuracy")
        axes[0].set_title("flip-flop")
        ok = np.isfinite(summary["accuracy_by_time"])
        axes[1].plot(np.asarray(summary["time_since_pulse"])[ok],
                     np.asarray(summary["accuracy_by_time"])[ok], "o-")
        axes[1].set_ylim(-0.03, 1.03)
        axes[1].set_xlabel("time since last pulse (ms)")
        axes[1].set_ylabel("accuracy")
        return axes


_XOR_TYPES = ("0-0", "0-1", "1-0", "1-1")
_LOSSES = ("cross_entropy", "mse")


class DelayedXOR(AbstractTask):
    """Delayed XOR ("delayed_xor"): classify whether two cues separated by a long delay match.

    Two input channels with a baseline ``baseline`` (0.02) on every step. Cue 1 (0 or 1, equally
    likely) puts a Gaussian bump ``amplitude * exp(-s^2 / (2 width^2))`` (amplitude 2, width 25 ms,
    s running evenly from -cue/2 to +cue/2 over the window) on channel 0 during the first ``cue``
    ms if it is 1; cue 2 does the same on channel 1 during the last ``cue`` ms. Between them, a
    delay of ``delay`` ms. Defaults of the ModProp paper: cue 100, delay 700, cue 100 ms at
    dt = 1 ms (900 steps), tau = 100 ms, input noise N(0, 0.01^2) on every entry.

    The label is 1 if the cues match (cue 1 == cue 2), else 0 (the task is XOR up to relabelling).
    The published task is a two-class classification at the last step; here that is O = 2 one-hot
    targets at the last step with the mask on the last step only (both outputs). The loss is the
    softmax cross-entropy of the two outputs at the masked step (``loss="cross_entropy"``, the
    published loss) or the masked MSE on the one-hot targets (``loss="mse"``). Accuracy: the argmax
    of the outputs at the last step equals the label.

    Conditions: ``cue_1``, ``cue_2`` (0/1), ``match`` (the label). Liu et al. 2022 (ModProp),
    code ``delayedXOR_task.py``.

    Examples
    --------
    >>> import jax
    >>> task = DelayedXOR()
    >>> trials = task.sample(jax.random.key(0), 8)
    >>> trials.inputs.shape, trials.targets.shape, sorted(trials.conditions)
    ((8, 900, 2), (8, 900, 2), ['cue_1', 'cue_2', 'match'])
    >>> task.accuracy(trials.targets, trials)          # the targets themselves
    1.0
    """

    name = "delayed_xor"
    n_inputs = 2
    n_outputs = 2
    epoch_names = ("cue", "delay", "cue")
    n_uniform = 2
    cue: float = eqx.field(static=True)
    delay: float = eqx.field(static=True)
    baseline: float = eqx.field(static=True)
    amplitude: float = eqx.field(static=True)
    width: float = eqx.field(static=True)
    loss_type: str = eqx.field(static=True)

    def __init__(self, *, cue=100.0, delay=700.0, baseline=0.02, amplitude=2.0, width=25.0,
                 loss_type="cross_entropy", dt=1.0, tau=100.0, input_noise=0.01):
        self.dt, self.tau, self.input_noise = _check_common(dt, tau, input_noise)
        self._set_durations(cue=cue, delay=delay, positive=("cue",))
        if self._steps_of("cue") < 2:
            raise ArgumentError(f"cue must last at least 2 steps, got {self.cue} ms at dt = {self.dt} ms")
        self.baseline = real_scalar("baseline", baseline)
        self.amplitude = real_scalar("amplitude", amplitude)
        self.width = real_scalar("width", width, low=0.0, low_open=True)
        if loss_type not in _LOSSES:
            raise ArgumentError(f"loss_type must be one of {_LOSSES}, got {loss_type!r}")
        self.loss_type = loss_type

    def _bump(self) -> np.ndarray:
        n = self._steps_of("cue")
        s = np.linspace(-self.cue / 2, self.cue / 2, n)
        return (self.amplitude * np.exp(-s ** 2 / (2 * self.width ** 2))).astype(np.float32)

    def _trial(self, u):
        c1 = randint(u[0], 0, 1)
        c2 = randint(u[1], 0, 1)
        n_cue, T = self._steps_of("cue"), self.n_steps
        bump = jnp.asarray(self._bump())
        first = jnp.zeros(T, jnp.float32).at[:n_cue].set(bump)
        last = jnp.zeros(T, jnp.float32).at[T - n_cue:].set(bump)
        inputs = self.baseline + jnp.stack([first * c1, last * c2], axis=-1)
        label = (c1 == c2).astype(jnp.int32)
        t = jnp.arange(T)
        final = (t == T - 1).astype(jnp.float32)
        targets = final[:, None] * jax.nn.one_hot(label, 2, dtype=jnp.float32)[None, :]
        mask = jnp.repeat(final[:, None], 2, axis=1)
        return inputs, targets, mask, {"cue_1": c1, "cue_2": c2, "match": label}

    def loss(self, outputs, trials: Trials) -> jax.Array:
        """Return the training loss: softmax cross-entropy at the masked step (default) or masked MSE.

        Cross-entropy: ``L = (1/B) sum_b sum_t m_bt [-sum_o y_bto log softmax(z_bt)_o] / max(sum_t m_bt, 1)``
        with ``m_bt`` the mask of output 0, the loss of the ModProp paper (two-class cross-entropy
        at the last step). MSE: :func:`mse_loss`.
        """
        out = _check_outputs(outputs, trials)
        if self.loss_type == "mse":
            return mse_loss(out, trials.targets, trials.mask)
        return masked_cross_entropy(out, trials)

    def _predictions(self, outputs, trials):
        return jnp.argmax(masked_mean(outputs, trials.mask), axis=-1)

    def _judge(self, outputs, trials):
        label = trials.conditions["match"]
        return self._predictions(outputs, trials) == label, jnp.ones_like(label, dtype=bool)

    def psychometric(self, outputs, trials: Trials) -> dict:
        """Return P(report "match") for each cue pair: ``types`` (0-0, 0-1, 1-0, 1-1), ``p_match``, ``n_trials``."""
        out = _check_outputs(outputs, trials)
        pred = np.asarray(self._predictions(out, trials))
        kind = 2 * np.asarray(trials.conditions["cue_1"]) + np.asarray(trials.conditions["cue_2"])
        p, n = np.full(4, np.nan), np.zeros(4, dtype=np.int64)
        for i in range(4):
            sel = kind == i
            n[i] = int(sel.sum())
            if n[i]:
                p[i] = float((pred[sel] == 1).mean())
        return {"types": list(_XOR_TYPES), "p_match": p, "n_trials": n}

    def plot_psychometric(self, summary: dict, ax=None):
        """Draw P(report match) for each cue pair as bars; return the Axes."""
        ax = _new_axes(ax)
        x = np.arange(4)
        ax.bar(x, summary["p_match"], color=["C2", "C3", "C3", "C2"])
        ax.set_xticks(x, summary["types"])
        ax.set_ylim(0, 1.03)
        ax.set_xlabel("cue 1 - cue 2")
        ax.set_ylabel("P(report match)")
        ax.set_title("delayed XOR")
        return ax
