"""The trial container and the base class of every cognitive task.

A task turns a key into a batch of trials: inputs ``(B, T, K)`` with the input noise already added,
targets ``(B, T, O)``, a loss mask ``(B, T, O)`` and the trial conditions (a dict of ``(B,)``
arrays). Time is in milliseconds at the public surface; ``dt`` and ``tau`` give the step and the
membrane time constant of the network that will run the trials (``alpha = dt / tau``).

Each task owns three judgements on a network's outputs ``(B, T, O)``: :meth:`AbstractTask.loss`
(what training minimises), :meth:`AbstractTask.accuracy` (the behavioural score) and
:meth:`AbstractTask.psychometric` (the summary a paper plots), with
:meth:`AbstractTask.plot_psychometric` drawing it.
"""

# No `from __future__ import annotations` here: equinox reads the AbstractClassVar annotations of
# AbstractTask as objects, not strings.
import abc
import collections
import dataclasses
import functools
import numbers
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import is_concrete, real_scalar
from .._errors import ArgumentError, ArgumentTypeError


class Trials(eqx.Module):
    """A batch of trials of a task, batch-first.

    Attributes
    ----------
    inputs: ``(B, T, K)`` float32, the network's inputs with the task's input noise already added.
    targets: ``(B, T, O)`` float32, the desired outputs.
    mask: ``(B, T, O)`` float32, 1 where the loss counts and 0 elsewhere.
    conditions: dict of ``(B,)`` arrays describing each trial (coherence, context, delay...).

    A ``Trials`` is a pytree: it passes through ``jax.jit`` and ``jax.vmap``, and ``trials[idx]``
    selects trials (an int, slice or index array) from every array at once, e.g. to split a batch
    into training and validation sets.

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn.tasks import get_task
    >>> trials = get_task("rdm").sample(jax.random.key(0), 10)
    >>> train, val = trials[:8], trials[8:]
    >>> train.batch_size, val.inputs.shape
    (8, (2, 51, 1))
    """

    inputs: jax.Array
    targets: jax.Array
    mask: jax.Array
    conditions: dict

    @property
    def batch_size(self) -> int:
        """Number of trials B."""
        return self.inputs.shape[0]

    @property
    def n_steps(self) -> int:
        """Number of time steps T."""
        return self.inputs.shape[1]

    def __getitem__(self, idx) -> "Trials":
        """Return the trials selected by ``idx`` along the batch axis (kept 3-D for an int)."""
        if isinstance(idx, numbers.Integral):
            idx = slice(idx, idx + 1) if idx != -1 else slice(-1, None)
        return jax.tree_util.tree_map(lambda a: a[idx], self)


# ----------------------------------------------------------------------------------------- checks

def _check_common(dt, tau, input_noise) -> tuple[float, float, float]:
    """Return (dt, tau, input_noise) as floats after checking 0 < dt <= tau and noise >= 0."""
    dt = real_scalar("dt", dt, low=0.0, low_open=True)
    tau = real_scalar("tau", tau, low=0.0, low_open=True)
    if dt > tau:
        raise ArgumentError(f"dt must be <= tau (alpha = dt / tau <= 1), got dt = {dt} ms > tau = {tau} ms")
    input_noise = real_scalar("input_noise", input_noise, low=0.0)
    return dt, tau, input_noise


def _duration(name: str, value, *, positive: bool = False) -> float:
    """Return a duration in ms as a float after checking it is finite and >= 0 (> 0 if positive)."""
    return real_scalar(name, value, low=0.0, low_open=positive)


def _steps(name: str, ms: float, dt: float) -> int:
    """Return ``ms / dt`` as an int; raise ValueError naming ``name`` if it is not a whole number."""
    n = ms / dt
    r = round(n)
    if abs(n - r) > 1e-6 * max(1.0, abs(n)):
        raise ArgumentError(f"{name} = {ms:g} ms is not a multiple of dt = {dt:g} ms; timing must be "
                         f"a whole number of steps (e.g. {r * dt:g} ms)")
    return int(r)


def _values(name: str, values, *, allow_empty: bool = False) -> tuple[float, ...]:
    """Return a sequence of finite reals as a tuple of floats."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ArgumentTypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}")
    out = tuple(real_scalar(f"{name}[{i}]", v) for i, v in enumerate(values))
    if not out and not allow_empty:
        raise ArgumentError(f"{name} must not be empty")
    return out


def _check_batch(batch, name: str = "batch") -> int:
    """Return the batch size as an int after checking it is a static Python integer >= 1."""
    if isinstance(batch, jax.core.Tracer):
        raise ArgumentTypeError(f"{name} must be a static Python int (use jax.jit(task.sample, static_argnums=1))")
    if isinstance(batch, bool) or not isinstance(batch, (numbers.Integral, np.integer)):
        raise ArgumentTypeError(f"{name} must be an integer, got {type(batch).__name__}")
    if batch < 1:
        raise ArgumentError(f"{name} must be an integer >= 1, got {batch}")
    return int(batch)


def _check_key(key) -> jax.Array:
    if isinstance(key, (numbers.Number, np.integer)) or key is None:
        raise ArgumentTypeError("key must be a jax.random key, e.g. jax.random.key(0), "
                        f"got {type(key).__name__}")
    return key


def _check_outputs(outputs, trials: Trials, name: str = "outputs") -> jax.Array:
    if not isinstance(trials, Trials):
        raise ArgumentTypeError(f"trials must be a Trials (from task.sample), got {type(trials).__name__}")
    out = jnp.asarray(outputs)
    if out.shape != trials.targets.shape:
        raise ArgumentError(f"{name} must have the shape of trials.targets {tuple(trials.targets.shape)} "
                         f"(batch, time, outputs), got {tuple(out.shape)}")
    return out


# ---------------------------------------------------------------------------------------- helpers

def pick(u: jax.Array, values) -> jax.Array:
    """Return ``values[floor(u * n)]``: a uniform choice among ``n`` values from one U[0, 1) draw."""
    values = jnp.asarray(values)
    n = values.shape[0]
    return values[jnp.minimum((u * n).astype(jnp.int32), n - 1)]


def randint(u: jax.Array, low: int, high: int) -> jax.Array:
    """Return an integer uniform in [low, high] (both included) from one U[0, 1) draw."""
    n = high - low + 1
    return low + jnp.minimum((u * n).astype(jnp.int32), n - 1)


def window(t: jax.Array, start, stop) -> jax.Array:
    """Return a float32 mask over the step indices ``t``: 1 where ``start <= t < stop``, else 0."""
    return ((t >= start) & (t < stop)).astype(jnp.float32)


def masked_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
    """Return the mask-weighted mean over time, ``sum_t m x / max(sum_t m, 1)``: ``(B, T, O) -> (B, O)``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> x = jnp.arange(4.0).reshape(1, 4, 1)                      # one trial, 4 steps, one output
    >>> masked_mean(x, jnp.array([0.0, 0.0, 1.0, 1.0]).reshape(1, 4, 1))   # mean of steps 2, 3
    Array([[2.5]], dtype=float32)
    """
    return jnp.sum(x * mask, axis=1) / jnp.maximum(jnp.sum(mask, axis=1), 1.0)


def mse_loss(outputs: jax.Array, targets: jax.Array, mask: jax.Array) -> jax.Array:
    """Return the mask-weighted mean squared error, normalised per trial, averaged over trials.

    ``L = (1/B) sum_b [ sum_{t,o} m_bto (z_bto - y_bto)^2 / sum_{t,o} m_bto ]``

    With a mask that is the same on every output channel this is the loss of Dubreuil, Valente et
    al. 2022 (Nat. Neurosci.; ``loss_mse`` of their code): squared error averaged over outputs,
    summed over masked steps, divided by the number of masked steps. Trials with no masked entry
    (possible in :class:`FlipFlop`) are left out of the average over trials, where the published
    formula would divide 0 by 0.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> z, y = jnp.ones((2, 3, 1)), jnp.zeros((2, 3, 1))
    >>> float(mse_loss(z, y, jnp.ones((2, 3, 1))))
    1.0
    """
    sq = mask * (outputs - targets) ** 2
    n = jnp.sum(mask, axis=(1, 2))
    per_trial = jnp.sum(sq, axis=(1, 2)) / jnp.maximum(n, 1.0)
    return jnp.sum(per_trial) / jnp.maximum(jnp.sum(n > 0), 1)


def _group_mean(x: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None,
                n_groups: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (sorted unique x, mean of y per (group, x) with NaN where empty, counts)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    g = np.zeros(x.shape, dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
    xs = np.unique(x)
    mean = np.full((n_groups, xs.size), np.nan)
    count = np.zeros((n_groups, xs.size), dtype=np.int64)
    for gi in range(n_groups):
        for j, v in enumerate(xs):
            sel = (g == gi) & (x == v)
            count[gi, j] = int(sel.sum())
            if count[gi, j]:
                mean[gi, j] = float(y[sel].mean())
    return xs, mean, count


def _new_axes(ax, n: int = 1):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, axes = plt.subplots(1, n, figsize=(4.0 * n, 3.2), squeeze=False)
        axes = list(axes[0])
        return axes[0] if n == 1 else axes
    if n > 1:
        axes = list(np.ravel(ax))
        if len(axes) != n:
            raise ArgumentError(f"ax must hold {n} axes for this summary, got {len(axes)}")
        return axes
    return ax


def _to_jsonable(v):
    if isinstance(v, tuple):
        return [_to_jsonable(x) for x in v]
    return v


# ------------------------------------------------------------------------------------ base class

class AbstractTask(eqx.Module):
    """Base class of the cognitive tasks.

    Subclasses are final: they set the class attribute ``name`` (the name :func:`get_task` knows),
    store their constructor arguments (milliseconds, amplitudes) as static fields, and declare

    - ``n_inputs`` and ``n_outputs``, the numbers of input and output channels (class variables,
      or properties where a constructor argument sets them);
    - ``epoch_names``, the fields holding the durations (ms) of the consecutive epochs of a trial,
      from which :attr:`epochs` and :attr:`n_steps` follow (a variable delay enters by its
      longest value: every trial is padded to the longest);

    and implement

    - ``_trial(u) -> (inputs (T, K), targets (T, O), mask (T, O), conditions)``: ONE noiseless
      trial, pure JAX, from a vector ``u`` of ``n_uniform`` independent U[0, 1) numbers
      (``sample`` draws them, vmaps ``_trial`` over the batch and adds noise of std
      :meth:`noise_std`);
    - ``_judge(outputs, trials) -> (correct (B,), valid (B,))``: the task's accuracy rule, a
      trial's score in [0, 1] (a boolean for a right/wrong trial) and whether it is graded;
    - ``psychometric`` and ``plot_psychometric``.

    Every task takes ``dt`` (ms), ``tau`` (ms) and ``input_noise`` (standard deviation of the white
    noise added to the inputs on every step, as in the published code). A complete example of a new
    task is in the documentation's how-to guide "Write a task".

    Examples
    --------
    >>> from lowrank_rnn.tasks import get_task
    >>> task = get_task("romo")
    >>> isinstance(task, AbstractTask), task.alpha, task.n_steps, list(task.epochs)[:3]
    (True, 0.2, 70, ['fixation', 'stimulus1', 'delay_max'])
    """

    name: ClassVar[str] = ""
    n_inputs: eqx.AbstractClassVar[int]
    n_outputs: eqx.AbstractClassVar[int]
    epoch_names: eqx.AbstractClassVar[tuple[str, ...]]
    dt: float = eqx.field(static=True)
    tau: float = eqx.field(static=True)
    input_noise: float = eqx.field(static=True)

    # ------------------------------------------------------------------ sizes
    @property
    def alpha(self) -> float:
        """The Euler step of the network in units of tau, ``alpha = dt / tau``."""
        return self.dt / self.tau

    def _set_durations(self, *, positive: tuple[str, ...] = (), **durations) -> None:
        """Store each duration (ms) of ``durations`` as the field of that name (for constructors).

        Each must be finite and >= 0 (> 0 for the names in ``positive``) and a whole number of
        steps of ``dt``, which must be set first; a ValueError names the first that is not.
        """
        for name, value in durations.items():
            setattr(self, name, _duration(name, value, positive=name in positive))
        for name in durations:
            self._steps_of(name)

    def _steps_of(self, name: str) -> int:
        """Return the duration held by the field ``name`` (ms) in steps of ``dt``."""
        return _steps(name, getattr(self, name), self.dt)

    @property
    def epochs(self) -> dict[str, tuple[int, int]]:
        """Return each epoch's (first step, end step) as a dict, in order.

        The epochs of ``epoch_names`` follow each other from step 0; a field that times two epochs
        (the two cues of :class:`DelayedXOR`) gives two entries, ``cue_1`` and ``cue_2``.
        """
        repeated = {nm for nm, count in collections.Counter(self.epoch_names).items() if count > 1}
        seen: collections.Counter = collections.Counter()
        out, t = {}, 0
        for nm in self.epoch_names:
            n = self._steps_of(nm)
            seen[nm] += 1
            out[f"{nm}_{seen[nm]}" if nm in repeated else nm] = (t, t + n)
            t += n
        return out

    @property
    def n_steps(self) -> int:
        """Number of time steps T of a trial: the epochs' total (the longest trial for variable delays)."""
        return sum(self._steps_of(nm) for nm in self.epoch_names)

    @property
    def noisy_channels(self) -> tuple[int, ...]:
        """Input channels that receive the input noise (all, unless the published task says otherwise)."""
        return tuple(range(self.n_inputs))

    def noise_std(self) -> np.ndarray:
        """Return the standard deviation of the white noise added to each input entry, ``(T, K)``.

        ``input_noise`` on the ``noisy_channels`` at every step, unless a task adds more.
        """
        std = np.zeros((self.n_steps, self.n_inputs), dtype=np.float32)
        std[:, list(self.noisy_channels)] = self.input_noise
        return std

    def times(self) -> np.ndarray:
        """Return the start time of each step in ms, ``(T,)``."""
        return np.arange(self.n_steps) * self.dt

    # ------------------------------------------------------------------ sampling
    n_uniform: ClassVar[int] = 1

    @abc.abstractmethod
    def _trial(self, u) -> tuple[jax.Array, jax.Array, jax.Array, dict]:
        """One noiseless trial from ``n_uniform`` U[0, 1) draws ``u``: inputs (T, K), targets
        (T, O), mask (T, O), conditions (scalars)."""

    def sample(self, key, batch: int) -> Trials:
        """Return ``batch`` random trials of the task, with input noise, as a :class:`Trials`.

        Pure JAX: ``jax.jit(task.sample, static_argnums=1)`` compiles it, and the same key gives
        the same trials. Each trial is built by ``_trial`` (vmapped over the batch) with
        time-index comparisons, then white noise of standard deviation ``input_noise`` is added
        to the inputs on every step (on ``noisy_channels``; see :meth:`noise_std`).

        Example
        -------
        >>> from lowrank_rnn.tasks import get_task
        >>> task = get_task("rdm")
        >>> trials = task.sample(jax.random.key(0), 32)
        >>> trials.inputs.shape, trials.targets.shape
        ((32, 51, 1), (32, 51, 1))
        """
        key = _check_key(key)
        batch = _check_batch(batch)
        return _sample_compiled(self, key, batch)

    def _sample(self, key, batch: int) -> Trials:
        # All randomness comes from two draws for the whole batch (each random call site costs
        # compilation time): U[0, 1) numbers that _trial turns into its conditions, and the noise.
        k_trials, k_noise = jax.random.split(key)
        u = jax.random.uniform(k_trials, (batch, self.n_uniform), dtype=jnp.float32)
        inputs, targets, mask, conditions = jax.vmap(self._trial)(u)
        std = self.noise_std()
        if np.any(std > 0):
            noise = jax.random.normal(k_noise, inputs.shape, dtype=jnp.float32)
            inputs = inputs + jnp.asarray(std, jnp.float32) * noise
        return Trials(inputs=inputs.astype(jnp.float32), targets=targets.astype(jnp.float32),
                      mask=mask.astype(jnp.float32), conditions=dict(conditions))

    # ------------------------------------------------------------------ judging outputs
    def loss(self, outputs, trials: Trials) -> jax.Array:
        """Return the training loss of ``outputs`` (B, T, O) on ``trials``: the masked MSE.

        ``L = (1/B) sum_b sum_{t,o} m (z - y)^2 / sum_{t,o} m``, the loss of Dubreuil,
        Valente et al. 2022 (see :func:`mse_loss`). A JAX scalar, differentiable and jittable.
        """
        out = _check_outputs(outputs, trials)
        return mse_loss(out, trials.targets, trials.mask)

    @abc.abstractmethod
    def _judge(self, outputs: jax.Array, trials: Trials) -> tuple[jax.Array, jax.Array]:
        """Return (correct, valid), two (B,) boolean arrays: the task's accuracy rule."""

    def accuracy(self, outputs, trials: Trials):
        """Return the fraction of trials answered correctly, in [0, 1], by the task's own rule.

        ``outputs`` is the network's readout ``(B, T, O)`` on ``trials``. Each task documents its
        rule (for decision tasks: the sign of the mean output over the decision window equals the
        sign of the target). Trials the rule cannot grade (e.g. zero-coherence trials, whose target
        is 0) are left out; NaN if none is left. A Python float, or a JAX scalar under ``jit``.
        """
        out = _check_outputs(outputs, trials)
        acc = _accuracy_compiled(self, out, trials)
        return float(acc) if is_concrete(acc) else acc

    def _accuracy(self, outputs, trials: Trials) -> jax.Array:
        correct, valid = self._judge(outputs, trials)
        return jnp.sum(jnp.where(valid, correct, 0.0)) / jnp.sum(valid)

    @abc.abstractmethod
    def psychometric(self, outputs, trials: Trials) -> dict:
        """Return the task's psychometric summary of ``outputs`` on ``trials``, as NumPy arrays."""

    @abc.abstractmethod
    def plot_psychometric(self, summary: dict, ax=None):
        """Draw a summary from :meth:`psychometric`; return the matplotlib Axes (or list of Axes)."""

    # ------------------------------------------------------------------ configuration
    def config(self) -> dict:
        """Return the task's hyperparameters as a JSON-able dict, with its ``name``.

        ``type(task).from_config(task.config())`` and ``get_task(**task.config())`` rebuild it.
        """
        cfg = {"name": self.name}
        for f in dataclasses.fields(self):
            cfg[f.name] = _to_jsonable(getattr(self, f.name))
        return cfg

    @classmethod
    def from_config(cls, config: dict) -> "AbstractTask":
        """Return the task described by ``config`` (from :meth:`config`)."""
        if not isinstance(config, dict):
            raise ArgumentTypeError(f"config must be a dict, got {type(config).__name__}")
        config = dict(config)
        name = config.pop("name", cls.name)
        if name != cls.name:
            raise ArgumentError(f"config describes task {name!r}, not {cls.name!r}")
        return cls(**config)


# The task is a pytree whose fields are all static, so it is part of the cache key: each task
# configuration (and batch size) compiles once, eager calls included.
@functools.partial(jax.jit, static_argnums=2)
def _sample_compiled(task: AbstractTask, key, batch: int) -> Trials:
    return task._sample(key, batch)


@jax.jit
def _accuracy_compiled(task: AbstractTask, outputs, trials: Trials) -> jax.Array:
    return task._accuracy(outputs, trials)


# ------------------------------------------------------------------------- decision tasks (sign)

class _SignChoice:
    """Mixin: one output whose sign, averaged over the masked window, is the choice."""

    def _choices(self, outputs, trials: Trials) -> jax.Array:
        """Return each trial's choice, the sign of the mean output over the decision window (B,)."""
        return jnp.sign(masked_mean(outputs, trials.mask)[:, 0])

    def _judge(self, outputs, trials):
        choice = self._choices(outputs, trials)
        target = jnp.sign(masked_mean(trials.targets, trials.mask)[:, 0])
        return choice == target, target != 0

    def choices(self, outputs, trials: Trials) -> np.ndarray:
        """Return each trial's choice (+1, -1, or 0 for an output of exactly 0) as a NumPy array (B,).

        The choice is the sign of the output averaged over the decision window (the mask).
        """
        out = _check_outputs(outputs, trials)
        return np.asarray(self._choices(out, trials))


class AbstractStimulusDecision(_SignChoice, AbstractTask):
    """One input channel and one output whose sign is the choice; epochs fixation, stimulus,
    delay, decision. The layout of :class:`PerceptualDecision` and :class:`Detection`."""

    n_inputs = 1
    n_outputs = 1
    epoch_names = ("fixation", "stimulus", "delay", "decision")
    fixation: float = eqx.field(static=True)
    stimulus: float = eqx.field(static=True)
    delay: float = eqx.field(static=True)
    decision: float = eqx.field(static=True)

    def _set_timing(self, fixation, stimulus, delay, decision) -> None:
        """Store and check the durations (ms) of the four epochs (stimulus and decision > 0)."""
        self._set_durations(fixation=fixation, stimulus=stimulus, delay=delay, decision=decision,
                            positive=("stimulus", "decision"))


def _is_pos_int(name, v, low=1):
    if isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)):
        raise ArgumentTypeError(f"{name} must be an integer, got {type(v).__name__}")
    if v < low:
        raise ArgumentError(f"{name} must be an integer >= {low}, got {v}")
    return int(v)
