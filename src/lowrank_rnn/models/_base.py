"""What every trainable network shares: its hyperparameters, its vector field, the trials' integration.

The convention is the library's (README, "Conventions"): with ``alpha = dt / tau``,

    x <- x + alpha (-x + J phi(x) + I u_t) + sigma sqrt(alpha) xi_t,     xi_t ~ N(0, 1),
    z_t = W^T phi(x_t) / N,

where ``J phi(x)`` is supplied by each model (low-rank ``m (n^T phi / N)``, optional bulk, or a
dense ``W``), ``I = input_vectors * input_scales`` and ``W = readout_vectors * readout_scales``.
The output ``z_t`` is read from the state *after* the step driven by ``u_t``, as in the code of
Dubreuil, Valente et al. 2022 (Nat. Neurosci.).

Noise: their code adds ``noise_std * xi`` per step with no ``sqrt(alpha)``; the same process in
this convention has ``sigma = noise_std / sqrt(alpha)`` (:func:`noise_from_published`): at
alpha = 0.2 their 0.05 is our 0.1118.
"""

from __future__ import annotations

import abc
import copy
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import is_concrete, positive_int, real_scalar
from .._errors import ArgumentError
from .._network import NONLINEARITIES
from ..dynamics import Euler, NoiseSource, SaveAt, VectorField, em_update, integrate, white_noise


def noise_from_published(noise_std: float, alpha: float) -> float:
    """Return sigma of this library's convention equal to the per-step noise ``noise_std`` of the
    published PyTorch code (Dubreuil, Valente et al. 2022): ``sigma = noise_std / sqrt(alpha)``.

    Their update adds ``noise_std * xi`` each step; ours adds ``sigma * sqrt(alpha) * xi``.

    >>> round(noise_from_published(0.05, 0.2), 4)
    0.1118
    """
    noise_std = real_scalar("noise_std", noise_std, low=0.0)
    alpha = real_scalar("alpha", alpha, low=0.0, high=1.0, low_open=True)
    return noise_std / float(np.sqrt(alpha))


def check_hyper(N, rank, n_inputs, n_outputs, noise, alpha, nonlinearity, *, need_rank=True):
    """Check the shared hyperparameters before anything is drawn or compiled; return them cleaned."""
    N = positive_int("N", N)
    if need_rank:
        rank = positive_int("rank", rank)
        if rank > N:
            raise ArgumentError(f"rank must be <= N (the number of neurons, here {N}), got rank = {rank}")
    n_inputs = positive_int("n_inputs", n_inputs, low=0)
    n_outputs = positive_int("n_outputs", n_outputs, low=0)
    noise = real_scalar("noise", noise, low=0.0)
    alpha = real_scalar("alpha", alpha, low=0.0, high=1.0, low_open=True)
    if not isinstance(nonlinearity, str) or nonlinearity not in NONLINEARITIES:  # a list is unhashable
        raise ArgumentError(f"nonlinearity must be one of {sorted(NONLINEARITIES)}, got {nonlinearity!r}")
    return N, rank, n_inputs, n_outputs, noise, alpha


def given_or_drawn(name: str, value, shape: tuple[int, ...], draw, dtype=jnp.float32) -> jax.Array:
    """Return ``value`` as an array of ``shape`` (checked), or ``draw()`` when it is None."""
    if value is None:
        return jnp.asarray(draw(), dtype)
    arr = jnp.asarray(value, dtype)
    if arr.ndim == 1 and len(shape) == 2 and shape[1] == 1:
        arr = arr[:, None]
    if arr.shape != shape:
        raise ArgumentError(f"{name} must have shape {shape}, got {arr.shape}")
    if is_concrete(arr) and not bool(jnp.all(jnp.isfinite(arr))):
        raise ArgumentError(f"{name} contains non-finite values (NaN or inf)")
    return arr


def replace_static(module: eqx.Module, **changes) -> eqx.Module:
    """Return a shallow copy of ``module`` with static (hyperparameter) fields changed."""
    new = copy.copy(module)
    for k, v in changes.items():
        object.__setattr__(new, k, v)
    return new


class AbstractRNN(eqx.Module):
    """Base class of the trainable networks: one Euler–Maruyama :meth:`step`, used everywhere.

    Subclasses hold the arrays and implement :meth:`recurrent` (``J phi(x)`` for one trial),
    :meth:`trainable` and :meth:`to_network`. The static hyperparameters every model has are
    declared here: ``alpha`` (dt / tau), ``noise`` (sigma of the library's convention) and
    ``nonlinearity``. A model is the vector field ``F(x, u) = J phi(x) + I u`` (:meth:`drive`) of
    the library's integrator (:func:`lowrank_rnn.dynamics.integrate`); ``solver`` is the writing
    of its Euler step (:class:`lowrank_rnn.dynamics.Euler`).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from lowrank_rnn.models import LowRankRNN
    >>> model = LowRankRNN(64, 1, 1, 1, key=jax.random.key(0))
    >>> isinstance(model, AbstractRNN), model(jnp.zeros((10, 1))).shape    # (time, outputs)
    (True, (10, 1))
    """

    alpha: float = eqx.field(static=True)
    noise: float = eqx.field(static=True)
    nonlinearity: str = eqx.field(static=True)
    solver: ClassVar[Euler] = Euler()

    @property
    def N(self) -> int:
        """Number of neurons (the length of the initial state ``h0``)."""
        return self.h0.shape[0]

    @abc.abstractmethod
    def recurrent(self, rates: jax.Array) -> jax.Array:
        """Return the recurrent input ``J phi(x)`` of one trial, ``(N,)``, from the rates ``phi(x)``."""

    @abc.abstractmethod
    def trainable(self, **which) -> Any:
        """Return a filter pytree (booleans, the structure of the model) of what training changes."""

    @abc.abstractmethod
    def to_network(self, **kwargs):
        """Return the connectivity as a :class:`lowrank_rnn.Network`."""

    # The pieces a step needs; a model whose vectors are generated (the mixture) overrides
    # ``dynamics`` to generate them once per call rather than once per step.
    def dynamics(self) -> "AbstractRNN":
        """Return the model whose :meth:`step` runs the dynamics (``self`` unless vectors are generated)."""
        return self

    def trial_dynamics(self, key: jax.Array | None) -> "AbstractRNN":
        """Return the model that runs a batch of trials whose noise derives from ``key``:
        :meth:`dynamics`, unless the model draws its connectivity anew per batch (a
        :class:`~lowrank_rnn.models.MixtureLowRankRNN` being fine-tuned)."""
        return self.dynamics()

    @property
    def n_inputs(self) -> int:
        """K, the number of input channels."""
        return self.input_vectors.shape[1]

    @property
    def n_outputs(self) -> int:
        """O, the number of readout channels."""
        return self.readout_vectors.shape[1]

    @property
    def inputs(self) -> jax.Array:
        """The input vectors with their scales applied, ``(N, K)``."""
        return self.input_vectors * self.input_scales

    @property
    def readouts(self) -> jax.Array:
        """The readout vectors with their scales applied, ``(N, O)``."""
        return self.readout_vectors * self.readout_scales

    @property
    def noise_scale(self) -> float:
        """``sigma sqrt(alpha)``, the factor of the standard normal draw in a step."""
        return self.noise * float(np.sqrt(self.alpha))

    def phi(self, x: jax.Array) -> jax.Array:
        """The transfer function applied to ``x``."""
        return NONLINEARITIES[self.nonlinearity](x)

    def drive(self, x: jax.Array, u: jax.Array) -> jax.Array:
        """Return ``F(x, u) = J phi(x) + I u`` of one trial (``x`` ``(N,)``, ``u`` ``(K,)``)."""
        drive = self.recurrent(self.phi(x))
        if u.shape[-1]:
            drive = drive + self.input_vectors @ (self.input_scales * u)
        return drive

    def step(self, x: jax.Array, u: jax.Array, xi: jax.Array | None = None) -> jax.Array:
        """Return the state after one Euler–Maruyama step of one trial.

        ``x' = x + alpha (-x + J phi(x) + I u) + sigma sqrt(alpha) xi`` with ``x`` ``(N,)``, the
        input ``u`` ``(K,)`` and the standard normal draw ``xi`` ``(N,)`` (None: no noise).
        """
        noisy = xi is not None and self.noise > 0
        return em_update(x, self.drive(x, u), self.alpha, solver=self.solver, scale=self.noise_scale,
                         xi=xi if noisy else None)

    def fast_trials(self, inputs_tm, h0, noise) -> jax.Array | None:
        """Return the readouts ``(T, B, O)`` by a specialised batch path, or None when there is none."""
        return None

    def readout(self, x: jax.Array) -> jax.Array:
        """Return the outputs ``z = W^T phi(x) / N`` of one state, ``(O,)``."""
        return (self.phi(x) @ self.readout_vectors) * self.readout_scales / self.N

    def latents(self, x: jax.Array) -> jax.Array:
        """Return the latents ``kappa_r = n_r^T phi(x) / N`` of states ``(..., N)`` (low-rank models)."""
        return self.phi(x) @ self.dynamics().n / self.N

    def __call__(self, inputs: jax.Array, *, key: jax.Array | None = None, x0: jax.Array | None = None,
                 return_states: bool = False):
        """Return the outputs ``(T, O)`` of one trial driven by ``inputs`` ``(T, K)``.

        :func:`lowrank_rnn.dynamics.integrate` of :meth:`step` over time starting from ``x0``
        (default the model's ``h0``); with ``key`` and ``noise > 0`` a fresh standard normal
        vector enters each step (``jax.random.normal`` with ``jax.random.split(key, T)``).
        ``return_states=True`` also returns the states ``(T + 1, N)``, the initial one first.
        Batch with ``jax.vmap(model)(inputs, key=keys)``, or use :func:`run_trials`.
        """
        dyn = self.dynamics()
        inputs = jnp.asarray(inputs)
        dtype = _model_dtype(dyn)
        x_init = dyn.h0 if x0 is None else jnp.asarray(x0, dtype)
        noisy = key is not None and self.noise > 0
        noise = white_noise("threefry", key, dyn.noise_scale) if noisy else None
        z, xs = _trials(dyn, x_init, jnp.asarray(inputs, dtype), noise, return_states, batched=False)
        if return_states:
            return z, jnp.concatenate([x_init[None], xs], axis=0)
        return z


def _model_dtype(model: AbstractRNN):
    """The floating dtype of the model's state (that of ``h0``: float32 unless made float64)."""
    return model.h0.dtype


class TrialField(VectorField):
    """The :class:`~lowrank_rnn.dynamics.VectorField` of a model: its :meth:`AbstractRNN.drive`, for
    one trial ``(N,)`` or vmapped over a batch ``(B, N)``."""

    def __init__(self, model: AbstractRNN, batched: bool):
        self.model = model
        self._drive = jax.vmap(model.drive) if batched else model.drive

    def drive(self, x, aux, u):
        return self._drive(x, u), None


def _trials(dyn: AbstractRNN, x_init, inputs_tm, noise, return_states: bool, *, batched: bool):
    """Integrate the model from ``x_init`` over the time-major inputs; return the readouts after
    each step and the states (None unless ``return_states``)."""
    readout = jax.vmap(dyn.readout) if batched else dyn.readout
    saveat = SaveAt(fn=lambda x, aux, extra: (readout(x), x if return_states else None))
    _, (z, xs) = integrate(TrialField(dyn, batched), x_init, inputs_tm, alpha=dyn.alpha, solver=dyn.solver,
                           noise=noise, saveat=saveat)
    return z, xs


def run_trials(model: AbstractRNN, inputs: jax.Array, *, key: jax.Array | None = None,
               x0: jax.Array | None = None, return_states: bool = False, noise_rng: str = "threefry"):
    """Return the outputs ``(B, T, O)`` of a batch of trials, ``inputs`` ``(B, T, K)``.

    The dynamics of ``jax.vmap(model)``: :func:`lowrank_rnn.dynamics.integrate` over time applying
    the model's :meth:`~AbstractRNN.step` to every trial, with the standard normal noise of the
    whole batch drawn once per step. ``key=None`` runs without noise. ``noise_rng`` picks the
    generator: ``"threefry"`` (``jax.random.normal`` with ``keys = jax.random.split(key, T)``, one
    key per step) or ``"hash"`` (:func:`~lowrank_rnn.dynamics.hash_normal`'s counter-based
    generator, several times cheaper on a CPU; training uses it). ``return_states=True`` also
    returns the states ``(B, T + 1, N)``.

    A :class:`LowRankRNN` without bulk and with tanh takes a specialised path: the same update,
    with a hand-written adjoint for gradients (:mod:`lowrank_rnn.models._adjoint`).

    >>> import jax, jax.numpy as jnp
    >>> from lowrank_rnn.models import LowRankRNN
    >>> model = LowRankRNN(64, 1, 1, 1, key=jax.random.key(0))
    >>> run_trials(model, jnp.zeros((8, 10, 1))).shape
    (8, 10, 1)
    """
    source = NoiseSource(noise_rng)
    dyn = model.trial_dynamics(key)
    dtype = _model_dtype(dyn)
    inputs = jnp.asarray(inputs, dtype)
    B = inputs.shape[0]
    N = dyn.N
    h0 = dyn.h0 if x0 is None else jnp.asarray(x0, dtype)
    noisy = key is not None and model.noise > 0
    noise = white_noise(source, key, dyn.noise_scale) if noisy else None
    inputs_tm = jnp.swapaxes(inputs, 0, 1)
    if not return_states and h0.ndim == 1:
        fast = dyn.fast_trials(inputs_tm, h0, noise)
        if fast is not None:
            return jnp.swapaxes(fast, 0, 1)
    x_init = jnp.broadcast_to(h0, (B, N))
    z, xs = _trials(dyn, x_init, inputs_tm, noise, return_states, batched=True)
    z = jnp.swapaxes(z, 0, 1)
    if return_states:
        return z, jnp.concatenate([x_init[:, None], jnp.swapaxes(xs, 0, 1)], axis=1)
    return z
