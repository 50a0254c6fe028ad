"""Batched Euler–Maruyama sampling of Langevin dynamics through the library's one integrator."""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import finite_array, positive_int, prng_key, real_scalar
from .._errors import ArgumentError, ArgumentTypeError, DivergenceError
from ..dynamics import NoiseSource, SaveAt, VectorField, WhiteNoise, integrate, white_noise
from ._models import ReservoirSampler, SamplerOnly, ScoreModel


class _LangevinField(VectorField):
    """``F(x) = x + s(x)``, so that the integrator's ``-x + F`` is the score ``s`` (sampler-only
    networks and score models sampled in their own coordinates)."""

    def __init__(self, score):
        self.score = jax.vmap(score)

    def drive(self, x, aux, u):
        return x + self.score(x), None


class _ReservoirField(VectorField):
    """``F(r) = phi(W2 (W1 r) + b)``: the reservoir's rate equation ``dr = (-r + F) dt``."""

    def __init__(self, net: ReservoirSampler):
        self.net = net

    def drive(self, r, aux, u):
        return self.net.rate_drive(r), None


@dataclasses.dataclass(frozen=True)
class _SubspaceNoise(WhiteNoise):
    """White noise of dimension ``mix.shape[1]`` injected through ``mix`` (the RSN's Sigma):
    ``scale * xi @ mix.T`` with ``xi`` standard normal of shape ``(trials, dim)``. The library's
    noise objects draw one normal per state variable; the RSN's noise lives in a ``dim``-dimensional
    subspace of the reservoir, which this adds without a second integration loop."""

    mix: Any = None

    def draw(self, t, item, shape, dtype):
        xi = jax.random.normal(item, shape[:-1] + (self.mix.shape[1],), dtype)
        return xi @ self.mix.T.astype(dtype)


@eqx.filter_jit
def _run(network, x0, key, dt, n_steps: int, every: int | None):
    scale = jnp.sqrt(2.0 * dt).astype(x0.dtype)  # sigma sqrt(alpha) with sigma = sqrt(2), alpha = dt
    if isinstance(network, ReservoirSampler):
        field = _ReservoirField(network)
        state0 = x0 @ network.Sigma.T  # the least-norm reservoir state with W_out r0 = x0
        noise = _SubspaceNoise(scale=scale, state=key, source=NoiseSource("threefry"), mix=network.Sigma)

        def output(r):
            return r @ network.W1.T
    else:
        field = _LangevinField(network)
        state0 = x0
        noise = white_noise("threefry", key, scale)

        def output(x):
            return x
    saveat = SaveAt() if every is None else SaveAt(fn=lambda x, aux, extra: output(x), every=every, initial=True)
    (state, _, _), saved = integrate(field, state0, None, alpha=dt, n_steps=n_steps, noise=noise, saveat=saveat)
    return output(state), saved


def sample(network, n: int, *, T: float, dt: float, key, x0=None, record_every: int | None = None) -> np.ndarray:
    """Return samples of ``network``'s outputs after Langevin dynamics from ``n`` initial states.

    Integrates $dx = s(x)\\,dt + \\sqrt{2}\\,dB_t$ by Euler–Maruyama,
    $x_{k+1} = x_k + dt\\, s(x_k) + \\sqrt{2\\,dt}\\,\\xi_k$, for ``round(T / dt)`` steps, the ``n``
    chains as one batch in one compiled ``lax.scan`` (:func:`lowrank_rnn.dynamics.integrate`). For a
    :class:`~lowrank_rnn.sampling.ReservoirSampler` the reservoir is integrated,
    $r_{k+1} = r_k + dt\\,(-r_k + \\phi(W_{rec} r_k + b)) + \\sqrt{2\\,dt}\\,\\Sigma \\xi_k$, from
    $r_0 = \\Sigma x_0$, and the outputs $x = W_{out} r$ are returned: they follow the same Euler–
    Maruyama recursion as the score (Chen et al. 2023, arXiv 2308.11809). For a
    :class:`~lowrank_rnn.sampling.ScoreModel` or :class:`~lowrank_rnn.sampling.SamplerOnly`, the
    states themselves follow it. With the same ``key``, a reservoir sampler and the score model it
    was built from give the same samples (up to rounding).

    Parameters
    ----------
    network: a :class:`~lowrank_rnn.sampling.ReservoirSampler`, :class:`~lowrank_rnn.sampling.SamplerOnly`
        or :class:`~lowrank_rnn.sampling.ScoreModel`.
    n: number of chains.
    T: simulated time (> 0), in the units of the drift (the membrane time constant).
    dt: step (> 0, at most ``T``).
    key: ``jax.random`` key of the noise (and of ``x0`` when it is None).
    x0: initial outputs, ``(n, dim)`` or ``(dim,)`` (shared); default standard normal.
    record_every: None to return the final states only; else a number of steps dividing
        ``round(T / dt)``: the states every ``record_every`` steps, the initial ones included.

    Returns
    -------
    ``(n, dim)`` NumPy array of the outputs at time ``T``; with ``record_every``, ``(n, K + 1, dim)``
    with ``K = round(T / dt) / record_every``, entry ``k`` at time ``k * record_every * dt``. A run
    that produces non-finite values raises :class:`~lowrank_rnn.DivergenceError`.

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn.sampling import ScoreModel
    >>> model = ScoreModel(2, 8, key=jax.random.key(0))
    >>> sample(model, 5, T=0.1, dt=0.01, key=jax.random.key(1)).shape
    (5, 2)
    >>> sample(model, 5, T=0.1, dt=0.01, key=jax.random.key(1), record_every=5).shape
    (5, 3, 2)
    """
    if not isinstance(network, (ReservoirSampler, SamplerOnly, ScoreModel)):
        raise ArgumentTypeError(f"network must be a ReservoirSampler, SamplerOnly or ScoreModel, "
                                f"got {type(network).__name__}")
    n = positive_int("n", n)
    T = real_scalar("T", T, low=0.0, low_open=True)
    dt = real_scalar("dt", dt, low=0.0, low_open=True)
    if dt > T:
        raise ArgumentError(f"dt must be <= T, got dt = {dt} > T = {T}")
    key = prng_key("key", key)
    n_steps = int(round(T / dt))
    dim = network.dim
    dtype = network.W1.dtype if not isinstance(network, SamplerOnly) else network.W.dtype
    if record_every is not None:
        record_every = positive_int("record_every", record_every)
        if n_steps % record_every:
            raise ArgumentError(f"record_every must divide the number of steps round(T / dt) = {n_steps}, "
                                f"got {record_every}")
    k_x0, k_noise = jax.random.split(key)
    if x0 is None:
        x0 = jax.random.normal(k_x0, (n, dim), dtype)
    else:
        x0 = finite_array("x0", x0, ndim=(1, 2), dtype=np.float64)
        if x0.shape[-1] != dim or (x0.ndim == 2 and x0.shape[0] != n):
            raise ArgumentError(f"x0 must have shape ({n}, {dim}) or ({dim},), got {x0.shape}")
        x0 = jnp.broadcast_to(jnp.asarray(x0, dtype), (n, dim))
    final, saved = _run(network, x0, k_noise, jnp.asarray(dt, dtype), n_steps, record_every)
    if record_every is None:
        out = np.asarray(final)
        if not np.all(np.isfinite(out)):
            trial = int(np.argmax(~np.all(np.isfinite(out), axis=1)))
            raise DivergenceError(f"sample: chain {trial} diverged before T = {T} (dt = {dt}); reduce dt",
                                  time=T, trial=trial)
        return out
    traj = np.moveaxis(np.asarray(saved), 0, 1)  # (n, K + 1, dim)
    bad = ~np.all(np.isfinite(traj), axis=2)
    if bad.any():
        k = int(np.argmax(bad.any(axis=0)))
        trial = int(np.argmax(bad[:, k]))
        raise DivergenceError(f"sample: chain {trial} diverged by time {k * record_every * dt:.4g} (dt = {dt}); "
                              "reduce dt", time=k * record_every * dt, trial=trial)
    return traj
