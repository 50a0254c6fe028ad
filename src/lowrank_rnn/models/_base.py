"""What every trainable network shares: the Euler–Maruyama step, the single-trial scan, batching.

The convention is the library's (DESIGN.md): with ``alpha = dt / tau``,

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
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import is_concrete, real_scalar
from .._errors import ArgumentError
from .._network import NONLINEARITIES


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
    from .._checks import positive_int

    N = positive_int("N", N)
    if need_rank:
        rank = positive_int("rank", rank)
        if rank > N:
            raise ArgumentError(f"rank must be <= N (the number of neurons, here {N}), got rank = {rank}")
    n_inputs = positive_int("n_inputs", n_inputs, low=0)
    n_outputs = positive_int("n_outputs", n_outputs, low=0)
    noise = real_scalar("noise", noise, low=0.0)
    alpha = real_scalar("alpha", alpha, low=0.0, high=1.0, low_open=True)
    if nonlinearity not in NONLINEARITIES:
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
    :meth:`trainable` and :meth:`to_network`. Static hyperparameters every subclass declares:
    ``alpha`` (dt / tau), ``noise`` (sigma of the library's convention) and ``nonlinearity``.
    """

    @property
    @abc.abstractmethod
    def N(self) -> int:
        """Number of neurons."""

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

    def phi(self, x: jax.Array) -> jax.Array:
        """The transfer function applied to ``x``."""
        return NONLINEARITIES[self.nonlinearity](x)

    def step(self, x: jax.Array, u: jax.Array, xi: jax.Array | None = None) -> jax.Array:
        """Return the state after one Euler–Maruyama step of one trial.

        ``x' = x + alpha (-x + J phi(x) + I u) + sigma sqrt(alpha) xi`` with ``x`` ``(N,)``, the
        input ``u`` ``(K,)`` and the standard normal draw ``xi`` ``(N,)`` (None: no noise).
        """
        drive = self.recurrent(self.phi(x))
        if u.shape[-1]:
            drive = drive + self.input_vectors @ (self.input_scales * u)
        x_new = x + self.alpha * (drive - x)
        if xi is not None and self.noise > 0:
            x_new = x_new + (self.noise * float(np.sqrt(self.alpha))) * xi
        return x_new

    def _fast_trials(self, inputs_tm, h0, per_step, source) -> jax.Array | None:
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

        A ``jax.lax.scan`` of :meth:`step` over time starting from ``x0`` (default the model's
        ``h0``); with ``key`` and ``noise > 0`` a fresh standard normal vector enters each step.
        ``return_states=True`` also returns the states ``(T + 1, N)``, the initial one first.
        Batch with ``jax.vmap(model)(inputs, key=keys)``, or use :func:`run_trials`.
        """
        dyn = self.dynamics()
        x_init = dyn.h0 if x0 is None else jnp.asarray(x0, jnp.float32)
        noisy = key is not None and self.noise > 0
        keys = jax.random.split(key, inputs.shape[0]) if noisy else None

        def body(x, inp):
            u_t, k_t = inp
            xi = jax.random.normal(k_t, x.shape, x.dtype) if noisy else None
            x = dyn.step(x, u_t, xi)
            return x, (dyn.readout(x), x if return_states else None)

        _, (z, xs) = jax.lax.scan(body, x_init, (jnp.asarray(inputs, jnp.float32), keys))
        if return_states:
            return z, jnp.concatenate([x_init[None], xs], axis=0)
        return z


def run_trials(model: AbstractRNN, inputs: jax.Array, *, key: jax.Array | None = None,
               x0: jax.Array | None = None, return_states: bool = False, noise_rng: str = "threefry"):
    """Return the outputs ``(B, T, O)`` of a batch of trials, ``inputs`` ``(B, T, K)``.

    The dynamics of ``jax.vmap(model)``: a time-major ``lax.scan`` applying the model's
    :meth:`~AbstractRNN.step` to every trial, with the standard normal noise of the whole batch
    drawn once per step. ``key=None`` runs without noise. ``noise_rng`` picks the generator:
    ``"threefry"`` (``jax.random.normal`` with ``keys = jax.random.split(key, T)``, one key per
    step) or ``"hash"`` (:func:`~lowrank_rnn.training.hash_normal`'s counter-based generator,
    several times cheaper on a CPU; training uses it). ``return_states=True`` also returns the
    states ``(B, T + 1, N)``.

    A :class:`LowRankRNN` without bulk and with tanh takes a specialised path: the same update,
    with a hand-written adjoint for gradients (:mod:`lowrank_rnn.models._adjoint`).

    >>> import jax, jax.numpy as jnp
    >>> from lowrank_rnn.models import LowRankRNN
    >>> model = LowRankRNN(64, 1, 1, 1, key=jax.random.key(0))
    >>> run_trials(model, jnp.zeros((8, 10, 1))).shape
    (8, 10, 1)
    """
    from ._hashnoise import NoiseSource

    source = NoiseSource(noise_rng)
    dyn = model.dynamics()
    inputs = jnp.asarray(inputs, jnp.float32)
    B, T = inputs.shape[0], inputs.shape[1]
    N = dyn.N
    h0 = dyn.h0 if x0 is None else jnp.asarray(x0, jnp.float32)
    noisy = key is not None and model.noise > 0
    per_step = source.per_step(key, T) if noisy else None
    inputs_tm = jnp.swapaxes(inputs, 0, 1)
    if not return_states and h0.ndim == 1:
        fast = dyn._fast_trials(inputs_tm, h0, per_step, source if noisy else None)
        if fast is not None:
            return jnp.swapaxes(fast, 0, 1)
    x_init = jnp.broadcast_to(h0, (B, N))
    step = jax.vmap(dyn.step, in_axes=(0, 0, 0 if noisy else None))
    readout = jax.vmap(dyn.readout)

    def body(x, inp):
        u_t, item = inp
        x = step(x, u_t, source.draw(item, (B, N)) if noisy else None)
        return x, (readout(x), x if return_states else None)

    _, (z, xs) = jax.lax.scan(body, x_init, (inputs_tm, per_step))
    z = jnp.swapaxes(z, 0, 1)
    if return_states:
        return z, jnp.concatenate([x_init[:, None], jnp.swapaxes(xs, 0, 1)], axis=1)
    return z
