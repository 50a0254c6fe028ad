"""Stimulus integration and working memory: the task of the Morris–Lecar networks of Hazelden et al.
2023 (arXiv:2311.10869), in our reconstruction (the paper's timing is not public)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import positive_int, real_scalar
from .._errors import ArgumentError
from ._base import AbstractTask, Trials, _check_common, _check_outputs, _new_axes, masked_mean, mse_loss, window

LOSSES = ("mse", "window_mse", "spike_count")
TARGETS = ("sign", "value")


def _upward_crossings(v: jax.Array, mask: jax.Array, level: float) -> jax.Array:
    """(B, T, O) voltages -> (B, O) counts of upward crossings of ``level`` whose later sample is masked."""
    up = (v[:, :-1] < level) & (v[:, 1:] >= level) & (mask[:, 1:] > 0)
    return jnp.sum(up, axis=1).astype(jnp.float32)


class IntegrationMemory(AbstractTask):
    r"""Stimulus integration and working memory ("integration_memory").

    One input channel: during the stimulus epoch, ``n_pulses`` pulses of ``pulse_width`` ms, one
    at the start of each of ``n_pulses`` equal slots, with amplitudes $a_k$ drawn uniformly in
    $[-A, A]$ (``max_amplitude``): random sign and size. A delay follows, then the response
    window. The evidence of a trial is the integrated stimulus in units of one full pulse,
    $E = \frac{1}{n A}\sum_k a_k \in [-1, 1]$. Target during the response window: its sign
    (``target="sign"``) or its value $E$ (``target="value"``), held after a delay with no input.
    Epochs (ms): fixation 50, stimulus 400, delay 300, response 200, at ``dt = 1`` ms (a
    Morris–Lecar spike lasts a few ms, which the spike-count loss must resolve).

    Two losses (``loss``):

    * ``"mse"``: the masked mean squared error of the readout on the response window
      (:func:`~lowrank_rnn.tasks.mse_loss`); ``outputs`` are the network's readout ``(B, T, 1)``.
    * ``"window_mse"``: the squared error of the readout's mean over the response window,
      $\frac{1}{B}\sum_b (\bar z_b - y_b)^2$ with $\bar z_b$ the mean readout of trial $b$ over the
      window and $y_b$ its target: the quantity whose sign is the choice. A spiking network's
      readout oscillates with its spikes within the window, which a per-step MSE penalises even
      when the window's mean is right; this loss does not.
    * ``"spike_count"``: ``outputs`` are the voltages (mV) of the readout cell ``(B, T, 1)``; the
      response is its spike count $c$ (upward crossings of 0 mV) in the response window, the
      choice is $+1$ when $c \ge \theta$ (``threshold``) and $-1$ otherwise, and the loss is the
      hinge $\frac{1}{B}\sum_b \max(0, m - y_b (c_b - \theta + \tfrac12)) / m$ with $y_b = \pm 1$
      the target sign and $m$ the ``margin`` (in spikes). It is piecewise constant in the
      parameters: its gradient is zero wherever it exists, so only gradient-free methods (evolution
      strategies) can train on it (:attr:`differentiable` is False). Sign targets only.

    Accuracy: the choice (sign of the mean readout over the response window, or the spike-count
    rule) equals the sign of $E$. Conditions: ``evidence`` ($E$), ``sign`` ($\pm 1$).
    Hazelden, Liu, Shlizerman & Shea-Brown 2023 (arXiv:2311.10869) train Morris–Lecar networks on
    a stimulus integration and working memory task; its details are not public and these are ours.

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn.tasks import get_task
    >>> task = get_task("integration_memory", stimulus=100.0, delay=50.0, response=50.0, n_pulses=4)
    >>> trials = task.sample(jax.random.key(0), 8)
    >>> trials.inputs.shape, sorted(trials.conditions)
    ((8, 250, 1), ['evidence', 'sign'])
    >>> task.accuracy(trials.targets, trials)
    1.0
    """

    name = "integration_memory"
    n_inputs = 1
    n_outputs = 1
    epoch_names = ("fixation", "stimulus", "delay", "response")
    fixation: float = eqx.field(static=True)
    stimulus: float = eqx.field(static=True)
    delay: float = eqx.field(static=True)
    response: float = eqx.field(static=True)
    n_pulses: int = eqx.field(static=True)
    pulse_width: float = eqx.field(static=True)
    max_amplitude: float = eqx.field(static=True)
    target: str = eqx.field(static=True)
    loss_name: str = eqx.field(static=True)
    threshold: float = eqx.field(static=True)
    margin: float = eqx.field(static=True)

    def __init__(self, *, fixation=50.0, stimulus=400.0, delay=300.0, response=200.0, n_pulses=5, pulse_width=20.0,
                 max_amplitude=1.0, target="sign", loss="mse", threshold=3.0, margin=2.0, dt=1.0, tau=10.0,
                 input_noise=0.0, loss_name=None):
        loss_arg = "loss"
        if loss_name is not None:  # the name config() stores it under
            loss, loss_arg = loss_name, "loss_name"
        self.dt, self.tau, self.input_noise = _check_common(dt, tau, input_noise)
        self._set_durations(fixation=fixation, stimulus=stimulus, delay=delay, response=response,
                            pulse_width=pulse_width, positive=("stimulus", "response", "pulse_width"))
        self.n_pulses = positive_int("n_pulses", n_pulses)
        slot = self.stimulus / self.n_pulses
        if self.pulse_width > slot or self._steps_of("stimulus") % self.n_pulses:
            raise ArgumentError(f"the stimulus ({self.stimulus} ms) must split into n_pulses = {self.n_pulses} equal "
                                f"slots of whole steps of dt = {self.dt} ms, each at least pulse_width = {self.pulse_width} ms "
                                "long")
        self.max_amplitude = real_scalar("max_amplitude", max_amplitude, low=0.0, low_open=True)
        if not isinstance(target, str) or target not in TARGETS:
            raise ArgumentError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
        if not isinstance(loss, str) or loss not in LOSSES:
            raise ArgumentError(f"{loss_arg} must be one of {', '.join(LOSSES)}, got {loss!r}")
        if loss == "spike_count" and target != "sign":
            raise ArgumentError(f"{loss_arg}='spike_count' compares a spike count with a threshold: it needs "
                                "target='sign'")
        self.target, self.loss_name = target, loss
        self.threshold = real_scalar("threshold", threshold, low=0.0)
        self.margin = real_scalar("margin", margin, low=0.0, low_open=True)

    @property
    def differentiable(self) -> bool:
        """Whether the loss has a useful gradient (False for ``loss="spike_count"``)."""
        return self.loss_name != "spike_count"

    @property
    def reads(self) -> str:
        """What :meth:`loss` and :meth:`accuracy` take as ``outputs``: ``"readout"`` (the network's
        readout) or ``"voltage"`` (the readout cell's voltage in mV, for ``loss="spike_count"``)."""
        return "voltage" if self.loss_name == "spike_count" else "readout"

    def _trial(self, u):
        ep = self.epochs
        t = jnp.arange(self.n_steps)
        start = ep["stimulus"][0]
        slot = self._steps_of("stimulus") // self.n_pulses
        width = self._steps_of("pulse_width")
        amps = self.max_amplitude * (2.0 * u[: self.n_pulses] - 1.0)
        k = jnp.arange(self.n_pulses)
        on = ((t[:, None] >= start + k * slot) & (t[:, None] < start + k * slot + width)).astype(jnp.float32)
        inputs = (on @ amps)[:, None]
        evidence = jnp.sum(amps) / (self.n_pulses * self.max_amplitude)
        sign = jnp.where(evidence >= 0, 1.0, -1.0)
        resp = window(t, *ep["response"])
        level = sign if self.target == "sign" else evidence
        return inputs, (level * resp)[:, None], resp[:, None], {"evidence": evidence, "sign": sign}

    def _sample(self, key, batch):
        # n_uniform depends on n_pulses: draw the pulse amplitudes here
        k_trials, k_noise = jax.random.split(key)
        u = jax.random.uniform(k_trials, (batch, self.n_pulses), dtype=jnp.float32)
        inputs, targets, mask, conditions = jax.vmap(self._trial)(u)
        if self.input_noise > 0:
            inputs = inputs + self.input_noise * jax.random.normal(k_noise, inputs.shape, dtype=jnp.float32)
        return Trials(inputs=inputs.astype(jnp.float32), targets=targets.astype(jnp.float32),
                      mask=mask.astype(jnp.float32), conditions=dict(conditions))

    # ------------------------------------------------------------------ judging
    def spike_counts(self, voltages, trials: Trials) -> jax.Array:
        """Return the readout cell's spike count in the response window, ``(B,)``: upward crossings
        of 0 mV of ``voltages`` ``(B, T, 1)`` (mV) whose later sample is in the window.

        >>> import jax, jax.numpy as jnp
        >>> task = IntegrationMemory(stimulus=100.0, delay=50.0, response=50.0, loss="spike_count")
        >>> trials = task.sample(jax.random.key(0), 2)
        >>> task.spike_counts(jnp.full(trials.targets.shape, -60.0), trials)
        Array([0., 0.], dtype=float32)
        """
        v = _check_outputs(voltages, trials, "voltages")
        return _upward_crossings(v, trials.mask, 0.0)[:, 0]

    def loss(self, outputs, trials: Trials) -> jax.Array:
        """Return the loss: the masked MSE of the readout (``loss="mse"``), or the spike-count hinge
        of the readout cell's voltages (``loss="spike_count"``; see the class). A JAX scalar.

        >>> import jax, jax.numpy as jnp
        >>> task = IntegrationMemory(stimulus=100.0, delay=50.0, response=50.0)
        >>> trials = task.sample(jax.random.key(0), 4)
        >>> float(task.loss(trials.targets, trials))
        0.0
        """
        out = _check_outputs(outputs, trials)
        if self.loss_name == "mse":
            return mse_loss(out, trials.targets, trials.mask)
        if self.loss_name == "window_mse":
            diff = masked_mean(out, trials.mask) - masked_mean(trials.targets, trials.mask)
            return jnp.mean(diff ** 2)
        c = _upward_crossings(out, trials.mask, 0.0)[:, 0]
        y = trials.conditions["sign"]
        return jnp.mean(jax.nn.relu(self.margin - y * (c - self.threshold + 0.5))) / self.margin

    def _choices(self, outputs, trials: Trials) -> jax.Array:
        if self.loss_name == "spike_count":
            c = _upward_crossings(outputs, trials.mask, 0.0)[:, 0]
            return jnp.where(c >= self.threshold, 1.0, -1.0)
        return jnp.sign(masked_mean(outputs, trials.mask)[:, 0])

    def _judge(self, outputs, trials):
        evidence = trials.conditions["evidence"]
        return self._choices(outputs, trials) == jnp.sign(evidence), evidence != 0

    def choices(self, outputs, trials: Trials) -> np.ndarray:
        """Return each trial's choice (+1 / -1; 0 for a readout of exactly 0) as a NumPy array (B,).

        >>> import jax
        >>> task = IntegrationMemory(stimulus=100.0, delay=50.0, response=50.0)
        >>> trials = task.sample(jax.random.key(0), 3)
        >>> bool((task.choices(trials.targets, trials) == trials.conditions["sign"]).all())
        True
        """
        out = _check_outputs(outputs, trials)
        return np.asarray(self._choices(out, trials))

    def psychometric(self, outputs, trials: Trials, n_bins: int = 8) -> dict:
        """Return P(choice = +1) and the mean response against the evidence, in ``n_bins`` equal bins
        of $[-1, 1]$.

        Keys: ``evidence`` (bin centres), ``p_plus``, ``mean_response`` (the mean readout over the
        response window, or the mean spike count for ``loss="spike_count"``), ``n_trials``; NaN in
        empty bins. A network that integrates and remembers draws a sigmoid through (0, 0.5).

        >>> import jax
        >>> task = IntegrationMemory(stimulus=100.0, delay=50.0, response=50.0)
        >>> trials = task.sample(jax.random.key(0), 200)
        >>> s = task.psychometric(trials.targets, trials, n_bins=4)
        >>> [float(p) for p in s["p_plus"]]
        [0.0, 0.0, 1.0, 1.0]
        """
        out = _check_outputs(outputs, trials)
        n_bins = positive_int("n_bins", n_bins)
        choice = np.asarray(self._choices(out, trials), np.float64)
        if self.loss_name == "spike_count":
            resp = np.asarray(_upward_crossings(out, trials.mask, 0.0)[:, 0], np.float64)
        else:
            resp = np.asarray(masked_mean(out, trials.mask)[:, 0], np.float64)
        ev = np.asarray(trials.conditions["evidence"], np.float64)
        edges = np.linspace(-1.0, 1.0, n_bins + 1)
        idx = np.clip(np.digitize(ev, edges) - 1, 0, n_bins - 1)
        p, m, n = np.full(n_bins, np.nan), np.full(n_bins, np.nan), np.zeros(n_bins, np.int64)
        for b in range(n_bins):
            sel = idx == b
            n[b] = int(sel.sum())
            if n[b]:
                p[b], m[b] = (choice[sel] > 0).mean(), resp[sel].mean()
        return {"evidence": 0.5 * (edges[1:] + edges[:-1]), "p_plus": p, "mean_response": m, "n_trials": n}

    def plot_psychometric(self, summary: dict, ax=None):
        """Draw P(choice = +1) against the evidence; return the Axes."""
        ax = _new_axes(ax)
        ax.plot(summary["evidence"], summary["p_plus"], "o-", color="C0")
        ax.axhline(0.5, color="0.7", lw=0.8)
        ax.axvline(0.0, color="0.7", lw=0.8)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("integrated stimulus (evidence)")
        ax.set_ylabel("P(choice = +1)")
        ax.set_title("integration and memory")
        return ax

    def config(self) -> dict:
        """Return the task's hyperparameters as a JSON-able dict (``loss`` under ``loss_name``).

        >>> IntegrationMemory().config()["loss_name"]
        'mse'
        """
        return super().config()


__all__ = ["IntegrationMemory"]
