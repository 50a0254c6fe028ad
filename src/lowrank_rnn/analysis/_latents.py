"""Latent trajectories of trained low-rank networks: kappa(t) along m and v(t) along the inputs."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import prng_key
from .._errors import ArgumentError, ArgumentTypeError
from ..models import FullRankRNN, LowRankRNN, MixtureLowRankRNN, run_trials


class Latents(NamedTuple):
    """Latent trajectories of a batch of trials (NumPy arrays, batch-first, the initial state first).

    Attributes
    ----------
    times: ``(T + 1,)`` in ms (0 is the initial state; step t ends at ``t * dt``).
    kappa: ``(B, T + 1, R)``, the coordinates of the states along the connectivity vectors m_r.
    v: ``(B, T + 1, K)``, the input-driven coordinates along the input vectors I_k.
    kappa_rec: ``(B, T + 1, R)``, the recurrent drive ``n_r^T phi(x) / N`` (what the kappa obey:
        ``d kappa_r/dt = -kappa_r + kappa_rec_r``).
    outputs: ``(B, T, O)``, the readouts of the same run.
    residual: the fraction of the states' squared norm outside span(m, I), over all trials and
        steps (0 for noiseless g = 0 dynamics started in the span; the noise lives there).

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn.models import LowRankRNN
    >>> from lowrank_rnn.tasks import get_task
    >>> trials = get_task("rdm").sample(jax.random.key(1), 4)
    >>> lat = latents(LowRankRNN(100, 1, 1, 1, key=jax.random.key(0)), trials)
    >>> lat.times.shape, lat.kappa.shape, lat.v.shape
    ((52,), (4, 52, 1), (4, 52, 1))
    """

    times: np.ndarray
    kappa: np.ndarray
    v: np.ndarray
    kappa_rec: np.ndarray
    outputs: np.ndarray
    residual: float


def _low_rank_parts(model):
    """Return (m, n, I) of a low-rank model (the generated loadings of a mixture model)."""

    if isinstance(model, FullRankRNN):
        raise ArgumentTypeError("model is a FullRankRNN, which has no latent coordinates; make a low-rank model "
                        "first, e.g. analysis.truncate(model, rank, initial=...) or "
                        "LowRankRNN.from_full_rank(model, rank)")
    if not isinstance(model, (LowRankRNN, MixtureLowRankRNN)):
        raise ArgumentTypeError(f"model must be a LowRankRNN or MixtureLowRankRNN, got {type(model).__name__}")
    dyn = model.dynamics()
    if dyn.bulk is not None:
        raise ArgumentError("model has a random bulk (g > 0): its states are not confined to span(m, I), so the "
                         "latent decomposition of Dubreuil, Valente et al. 2022 does not apply")
    return dyn.m, dyn.n, dyn.inputs


@jax.jit
def _run(model, inputs, key):

    return run_trials(model, inputs, key=key, return_states=True)


@jax.jit
def _recurrent_latents(model, states):
    return model.latents(states)


@jax.jit
def _project(states, m, inputs):
    """Least-squares coordinates of ``states`` (..., N) on the columns of [m, I]; residual fraction."""
    basis = jnp.concatenate([m, inputs], axis=1)                      # (N, R + K)
    pinv = jnp.linalg.pinv(basis)                                     # (R + K, N)
    coef = states @ pinv.T
    resid = jnp.sum((states - coef @ basis.T) ** 2) / jnp.maximum(jnp.sum(states ** 2), 1e-30)
    return coef, resid


def latents(model, trials, *, key: jax.Array | None = None, dt: float | None = None) -> Latents:
    """Return the latent trajectories kappa(t) and input-driven components v(t) of a low-rank model.

    Without a random bulk every state of a rank-R network driven by K inputs from ``h0`` in the
    span stays in span(m_1..m_R, I_1..I_K) up to the noise (Dubreuil, Valente et al. 2022, Nat.
    Neurosci., eq. 3; Mastrogiuseppe & Ostojic 2018):

        x(t) = sum_r kappa_r(t) m_r + sum_k v_k(t) I_k,
        d kappa_r/dt = -kappa_r + n_r^T phi(x) / N,      d v_k/dt = -v_k + u_k(t).

    The coordinates are the least-squares projection of the simulated states on that basis, so
    ``kappa`` and ``v`` also carry the part of the noise that falls in the span; ``residual`` says
    how much of the states lies outside it.

    Parameters
    ----------
    model: a :class:`~lowrank_rnn.models.LowRankRNN` (without bulk) or ``MixtureLowRankRNN``.
    trials: a :class:`~lowrank_rnn.tasks.Trials` (its ``inputs``) or an inputs array ``(B, T, K)``.
    key: network noise key (None: the noiseless dynamics, the latents' mean course).
    dt: step in ms for ``times`` (default: ``1`` per step when ``trials`` carries no task).

    Example
    -------
    >>> import jax, jax.numpy as jnp
    >>> from lowrank_rnn.models import LowRankRNN
    >>> model = LowRankRNN(200, 2, 1, 1, key=jax.random.key(0))
    >>> lat = latents(model, jnp.ones((3, 20, 1)))
    >>> lat.kappa.shape, lat.v.shape, lat.residual < 1e-6
    ((3, 21, 2), (3, 21, 1), True)
    """
    m, n, I = _low_rank_parts(model)
    inputs = getattr(trials, "inputs", trials)
    inputs = jnp.asarray(inputs, jnp.float32)
    if inputs.ndim != 3 or inputs.shape[-1] != model.n_inputs:
        raise ArgumentError(f"trials must be Trials or inputs of shape (B, T, K) with K = {model.n_inputs}, "
                         f"got shape {tuple(inputs.shape)}")
    if key is not None:
        key = prng_key("key", key)
    outputs, states = _run(model, inputs, key)
    coef, resid = _project(states, m, I)
    kappa_rec = _recurrent_latents(model, states)
    R = model.rank
    step = 1.0 if dt is None else float(dt)
    return Latents(times=np.arange(inputs.shape[1] + 1) * step, kappa=np.asarray(coef[..., :R]),
                   v=np.asarray(coef[..., R:]), kappa_rec=np.asarray(kappa_rec), outputs=np.asarray(outputs),
                   residual=float(resid))


def condition_means(values: np.ndarray, conditions: dict, by: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (the distinct values of condition ``by``, ``values`` averaged over the trials of each).

    ``values`` is ``(B, ...)`` (e.g. ``Latents.kappa``) and ``conditions[by]`` ``(B,)``: the
    condition-averaged latent trajectories of Dubreuil, Valente et al. 2022 (Nat. Neurosci.).

    Examples
    --------
    >>> values = np.array([[1.0], [3.0], [10.0]])
    >>> levels, means = condition_means(values, {"coherence": np.array([0.5, 0.5, -0.5])}, "coherence")
    >>> levels.tolist(), means.tolist()
    ([-0.5, 0.5], [[10.0], [2.0]])
    """
    if by not in conditions:
        raise ArgumentError(f"by must be one of the trial conditions {sorted(conditions)}, got {by!r}")
    c = np.asarray(conditions[by])
    values = np.asarray(values)
    if c.shape[0] != values.shape[0]:
        raise ArgumentError(f"values has {values.shape[0]} trials but conditions[{by!r}] has {c.shape[0]}")
    levels = np.unique(c)
    return levels, np.stack([values[c == lv].mean(axis=0) for lv in levels])


__all__ = ["Latents", "latents", "condition_means"]
