"""The rank-one tasks of Mastrogiuseppe & Ostojic 2018 (Neuron 99:609), as trainable trials in ms.

- :class:`GoNogo`: respond to the Go stimulus, stay silent for the Nogo stimulus (Fig. 3).
- :class:`Detection`: report whether a noisy stimulus exceeds a threshold, and hold the report
  after the stimulus ends (Fig. 4).

M&O give their timing in units of tau; here tau = 100 ms turns it into milliseconds.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._checks import real_scalar
from .._errors import ArgumentError
from ._base import (AbstractStimulusDecision, AbstractTask, Trials, _check_common, _check_outputs,
                    _group_mean, _new_axes, _SignChoice, _values, masked_mean, pick, randint,
                    window)


class GoNogo(AbstractTask):
    """Go-Nogo discrimination ("gonogo"): output ``go_target`` for the Go stimulus, ``nogo_target`` otherwise.

    Two input channels: the Go stimulus (channel 0, the input M&O call I_A) or the Nogo stimulus
    (channel 1, I_B), amplitude ``amplitude``, on during the stimulus epoch; Go and Nogo trials
    are equally likely. Epochs (ms): fixation 500 then stimulus 1000 (M&O: rest 5 tau, stimulus
    10 tau). The response is read while the stimulus is on, as in M&O: target and mask on the last
    ``response`` ms of the stimulus (default 500). Targets 1 (Go) and 0 (Nogo), the readouts of the
    M&O network (z > 0 for Go, z = 0 for Nogo).

    Accuracy: the response is Go when the output averaged over the response window is above the
    midpoint ``(go_target + nogo_target) / 2``; a trial is correct when that matches the stimulus.
    Conditions: ``go`` (1 Go, 0 Nogo). Mastrogiuseppe & Ostojic 2018, Fig. 3.

    Examples
    --------
    >>> import jax
    >>> task = GoNogo()
    >>> trials = task.sample(jax.random.key(0), 8)
    >>> trials.inputs.shape, trials.targets.shape, sorted(trials.conditions)
    ((8, 75, 2), (8, 75, 1), ['go'])
    >>> task.accuracy(trials.targets, trials)          # the targets themselves
    1.0
    """

    name = "gonogo"
    n_inputs = 2
    n_outputs = 1
    epoch_names = ("fixation", "stimulus")
    fixation: float = eqx.field(static=True)
    stimulus: float = eqx.field(static=True)
    response: float = eqx.field(static=True)
    amplitude: float = eqx.field(static=True)
    go_target: float = eqx.field(static=True)
    nogo_target: float = eqx.field(static=True)

    def __init__(self, *, fixation=500.0, stimulus=1000.0, response=500.0, amplitude=1.0,
                 go_target=1.0, nogo_target=0.0, dt=20.0, tau=100.0, input_noise=0.1):
        self.dt, self.tau, self.input_noise = _check_common(dt, tau, input_noise)
        self._set_durations(fixation=fixation, stimulus=stimulus, response=response,
                            positive=("stimulus", "response"))
        if self.response > self.stimulus:
            raise ArgumentError(f"response must be <= stimulus (the response window is the end of the "
                             f"stimulus epoch), got response = {self.response}, stimulus = {self.stimulus}")
        self.amplitude = real_scalar("amplitude", amplitude)
        self.go_target = real_scalar("go_target", go_target)
        self.nogo_target = real_scalar("nogo_target", nogo_target)
        if self.go_target == self.nogo_target:
            raise ArgumentError("go_target and nogo_target must differ")

    @property
    def epochs(self) -> dict[str, tuple[int, int]]:
        """Return (first step, end step) of the fixation, stimulus and response windows."""
        epochs = super().epochs
        end = epochs["stimulus"][1]
        return {**epochs, "response": (end - self._steps_of("response"), end)}

    def _trial(self, u):
        ep = self.epochs
        go = randint(u[0], 0, 1)
        t = jnp.arange(self.n_steps)
        stim = window(t, *ep["stimulus"])
        resp = window(t, *ep["response"])
        inputs = self.amplitude * jnp.stack([stim * (go == 1), stim * (go == 0)], axis=-1)
        level = jnp.where(go == 1, self.go_target, self.nogo_target)
        return inputs, (level * resp)[:, None], resp[:, None], {"go": go}

    def _responses(self, outputs, trials):
        """(B,) bool: True where the network responded Go."""
        z = masked_mean(outputs, trials.mask)[:, 0]
        mid = 0.5 * (self.go_target + self.nogo_target)
        return z > mid if self.go_target > self.nogo_target else z < mid

    def _judge(self, outputs, trials):
        go = trials.conditions["go"] == 1
        return self._responses(outputs, trials) == go, jnp.ones_like(go)

    def psychometric(self, outputs, trials: Trials) -> dict:
        """Return P(Go response) for Go and Nogo stimuli, and the mean readout over the response window.

        Keys: ``stimulus`` (["Go", "Nogo"]), ``p_go`` (2,), ``mean_output`` (2,), ``n_trials`` (2,).
        A network that solves the task has p_go = (1, 0); M&O 2018 Fig. 3 reports the readouts.
        """
        out = _check_outputs(outputs, trials)
        resp = np.asarray(self._responses(out, trials), dtype=np.float64)
        z = np.asarray(masked_mean(out, trials.mask)[:, 0], dtype=np.float64)
        go = np.asarray(trials.conditions["go"])
        p, zm, n = np.full(2, np.nan), np.full(2, np.nan), np.zeros(2, dtype=np.int64)
        for i, g in enumerate((1, 0)):
            sel = go == g
            n[i] = int(sel.sum())
            if n[i]:
                p[i], zm[i] = resp[sel].mean(), z[sel].mean()
        return {"stimulus": ["Go", "Nogo"], "p_go": p, "mean_output": zm, "n_trials": n}

    def plot_psychometric(self, summary: dict, ax=None):
        """Draw P(Go response) for each stimulus as bars; return the Axes."""
        ax = _new_axes(ax)
        ax.bar([0, 1], summary["p_go"], color=["C3", "C0"])
        ax.set_xticks([0, 1], summary["stimulus"])
        ax.set_ylim(0, 1.03)
        ax.set_ylabel("P(Go response)")
        ax.set_title("Go-Nogo")
        return ax


class Detection(AbstractStimulusDecision):
    """Detection of a noisy stimulus ("detection"): report +1 if its strength exceeds ``threshold``.

    One input channel carries the strength c (drawn uniformly from ``strengths``; M&O used 0.2,
    0.4, 0.6, 0.9) during the stimulus epoch, with a fluctuating stimulus strength: white noise of
    continuous-time amplitude ``stimulus_noise`` (M&O's sigma = 0.4) during the stimulus. In M&O the
    noise enters as ``sigma dW`` along the input vector; through the network's Euler step
    ``x += alpha (... + I u)`` that is a per-step standard deviation ``sigma * sqrt(tau / dt)`` on u,
    which is what is added (see :meth:`noise_std`). The generic ``input_noise`` is added on every
    step on top.

    Epochs (ms): fixation 700, stimulus 2200 (M&O: rest 7 tau, stimulus 22 tau), then a delay of
    500 and a decision window of 200 (the M&O network holds its report after the stimulus, so the
    report is asked for after a delay). Target +1 if c > threshold, -1 otherwise, mask on the
    decision window. The default threshold 0.5 sits between M&O's strengths 0.4 and 0.6 (their
    designed network's threshold, from mean-field theory, is 0.54).

    Accuracy: sign of the output averaged over the decision window equals the target's.
    Conditions: ``strength`` (c), ``choice`` (the target sign). Mastrogiuseppe & Ostojic 2018, Fig. 4.

    Examples
    --------
    >>> import jax
    >>> task = Detection()
    >>> trials = task.sample(jax.random.key(0), 8)
    >>> trials.inputs.shape, trials.targets.shape, sorted(trials.conditions)
    ((8, 180, 1), (8, 180, 1), ['choice', 'strength'])
    >>> task.accuracy(trials.targets, trials)          # the targets themselves
    1.0
    """

    name = "detection"
    strengths: tuple = eqx.field(static=True)
    threshold: float = eqx.field(static=True)
    stimulus_noise: float = eqx.field(static=True)

    def __init__(self, *, fixation=700.0, stimulus=2200.0, delay=500.0, decision=200.0,
                 strengths=(0.2, 0.4, 0.6, 0.9), threshold=0.5, stimulus_noise=0.4, dt=20.0,
                 tau=100.0, input_noise=0.1):
        self.dt, self.tau, self.input_noise = _check_common(dt, tau, input_noise)
        self._set_timing(fixation, stimulus, delay, decision)
        self.strengths = _values("strengths", strengths)
        self.threshold = real_scalar("threshold", threshold)
        if any(s == self.threshold for s in self.strengths):
            raise ArgumentError(f"strengths must not contain the threshold {self.threshold} (its answer "
                             "would be undefined)")
        self.stimulus_noise = real_scalar("stimulus_noise", stimulus_noise, low=0.0)

    def noise_std(self) -> np.ndarray:
        """Return the per-step input noise std ``(T, 1)``: ``input_noise``, and during the stimulus
        ``sqrt(input_noise^2 + stimulus_noise^2 tau / dt)`` (both white and independent)."""
        std = super().noise_std()
        a, b = self.epochs["stimulus"]
        std[a:b, 0] = np.sqrt(self.input_noise ** 2 + self.stimulus_noise ** 2 * self.tau / self.dt)
        return std

    def _trial(self, u):
        ep = self.epochs
        c = pick(u[0], np.asarray(self.strengths, np.float32))
        t = jnp.arange(self.n_steps)
        stim = window(t, *ep["stimulus"])
        dec = window(t, *ep["decision"])
        choice = jnp.where(c > self.threshold, 1.0, -1.0)
        return (c * stim)[:, None], (choice * dec)[:, None], dec[:, None], {"strength": c, "choice": choice}

    def psychometric(self, outputs, trials: Trials) -> dict:
        """Return P(report "detected") against the stimulus strength.

        Keys: ``strength``, ``p_detect``, ``n_trials``. The sigmoidal detection curve of M&O 2018
        Fig. 4, centred near the threshold, with a width set by the stimulus noise.
        """
        out = _check_outputs(outputs, trials)
        p = np.asarray(self._choices(out, trials) > 0, dtype=np.float64)
        xs, mean, count = _group_mean(np.asarray(trials.conditions["strength"]), p)
        return {"strength": xs, "p_detect": mean[0], "n_trials": count[0]}

    def plot_psychometric(self, summary: dict, ax=None):
        """Draw P(detected) against the stimulus strength, with the threshold; return the Axes."""
        ax = _new_axes(ax)
        ax.plot(summary["strength"], summary["p_detect"], "o-", lw=1.5, ms=4)
        ax.axvline(self.threshold, color="0.6", ls="--", lw=0.8, label="threshold")
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("stimulus strength c")
        ax.set_ylabel("P(report detected)")
        ax.set_title("detection")
        ax.legend(frameon=False, fontsize="small")
        return ax
