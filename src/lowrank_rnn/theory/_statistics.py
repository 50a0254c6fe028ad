"""The loading statistics that the mean-field and latent equations need, and their argument checks.

For an :class:`~lowrank_rnn.Ensemble` with C populations (weights alpha_p), rank R and K inputs
with tonic amplitudes u_k, neuron i of population p receives (Mastrogiuseppe & Ostojic 2018,
Neuron 99:609, Methods; Beiran et al. 2021, Neural Comput. 33:1572, for mixtures)

    x_i = sum_r m_ri kappa_r + sum_k I_ki u_k + g eta_i,

a Gaussian variable whose structured part has, with M the means and s the covariances of the
loadings *within* population p,

    mu_p   = sum_r M_{m_r} kappa_r + sum_k M_{I_k} u_k                          (mean)
    Q_p    = sum_{rs} s_{m_r m_s} kappa_r kappa_s + 2 sum_{rk} s_{m_r I_k} kappa_r u_k
             + sum_{kl} s_{I_k I_l} u_k u_l                                     (variance)
    Cov(n_r, x)_p = sum_s s_{n_r m_s} kappa_s + sum_k s_{n_r I_k} u_k.

:class:`Statistics` holds exactly these means and covariances; :func:`structure` evaluates the
three lines. The stationary and chaotic solvers, the phase diagram and the latent flow all start
from :func:`statistics` and :func:`check_inputs`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import finite_array
from .._ensemble import Ensemble
from .._errors import ArgumentError, ArgumentTypeError
from ._precision import float64_array

#: the mean-field solvers pad the input vectors with silent ones (zero mean, zero covariance, zero
#: amplitude) up to this number, so that ensembles with 0, 1 or 2 inputs share one compilation
MIN_INPUTS = 2


class Statistics(NamedTuple):
    """Loading statistics per population (C populations, rank R, K inputs), float64.

    NumPy arrays as :func:`statistics` returns them; JAX arrays (a pytree the solvers ``jit``
    over) after :func:`as_jax`.
    """

    alpha: jax.Array  # (C,)       population weights
    Mm: jax.Array  # (C, R)        means of m_r
    Mn: jax.Array  # (C, R)        means of n_r
    MI: jax.Array  # (C, K)        means of I_k
    Smm: jax.Array  # (C, R, R)    covariances s_{m_r m_s}
    Snm: jax.Array  # (C, R, R)    s_{n_r m_s}: row n_r, column m_s
    SmI: jax.Array  # (C, R, K)    s_{m_r I_k}
    SnI: jax.Array  # (C, R, K)    s_{n_r I_k}
    SII: jax.Array  # (C, K, K)    s_{I_k I_l}
    g: jax.Array  # ()             strength of the random bulk
    u: jax.Array  # (K,)           tonic input amplitudes


def check_ensemble(ensemble, *, rank: int | None = None) -> Ensemble:
    """Return ``ensemble`` after checking that it is an Ensemble (of rank ``rank``, when given)."""
    if not isinstance(ensemble, Ensemble):
        raise ArgumentTypeError(f"ensemble must be a lowrank_rnn.Ensemble, got {type(ensemble).__name__}")
    if rank is not None and ensemble.rank != rank:
        raise ArgumentError(f"ensemble must have rank {rank} here, got rank {ensemble.rank}")
    return ensemble


def check_inputs(ensemble: Ensemble, inputs) -> np.ndarray:
    """Return the K tonic input amplitudes as a float64 array (zeros for ``None``), after checking them."""
    K = ensemble.n_inputs
    if inputs is None:
        return np.zeros(K)
    u = finite_array("inputs", inputs, ndim=(0, 1))
    if u.ndim == 0:
        u = u[None]
    if u.shape != (K,):
        count = f"K = {K} entr{'y' if K == 1 else 'ies'}"
        if K == 0:
            raise ArgumentError(f"inputs must hold {count}: this ensemble has no input loadings (K = 0), "
                                f"got {u.shape[0]} amplitudes; pass inputs=None")
        raise ArgumentError(f"inputs must hold {count}, one tonic amplitude per input loading "
                            f"({', '.join(f'I{k + 1}' for k in range(K))}), got shape {u.shape}")
    return u


def statistics(ensemble: Ensemble, u: np.ndarray, *, min_inputs: int = 0) -> Statistics:
    """The :class:`Statistics` of ``ensemble`` under input amplitudes ``u`` (NumPy, float64).

    With ``min_inputs`` the inputs are padded with silent ones up to that number (see
    :data:`MIN_INPUTS`); the equations do not change.
    """
    mean = np.asarray(ensemble.mean, np.float64)
    cov = np.asarray(ensemble.cov, np.float64)
    sm, sn, sI = (ensemble._slice(k) for k in ("m", "n", "I"))
    C, R, K = mean.shape[0], ensemble.rank, ensemble.n_inputs
    pad = max(0, min_inputs - K)
    SII = np.zeros((C, K + pad, K + pad))
    SII[:, :K, :K] = cov[:, sI, sI]
    return Statistics(
        alpha=np.array(ensemble.weights, np.float64), Mm=mean[:, sm], Mn=mean[:, sn],
        MI=np.concatenate([mean[:, sI], np.zeros((C, pad))], axis=1),
        Smm=cov[:, sm, sm], Snm=cov[:, sn, sm],
        SmI=np.concatenate([cov[:, sm, sI], np.zeros((C, R, pad))], axis=2),
        SnI=np.concatenate([cov[:, sn, sI], np.zeros((C, R, pad))], axis=2),
        SII=SII, g=np.float64(ensemble.g), u=np.concatenate([u, np.zeros(pad)]))


def as_jax(S: Statistics) -> Statistics:
    """``S`` with float64 JAX arrays (call inside :func:`~lowrank_rnn.theory._precision.float64`)."""
    return Statistics(*(float64_array(a) for a in S))


def solver_statistics(ensemble: Ensemble, u: np.ndarray) -> Statistics:
    """The statistics the mean-field solvers take: float64 JAX arrays, inputs padded to
    :data:`MIN_INPUTS` (call inside :func:`~lowrank_rnn.theory._precision.float64`)."""
    return as_jax(statistics(ensemble, u, min_inputs=MIN_INPUTS))


def structure(S: Statistics, kappa):
    """mu_p, Q_p, Cov(n_r, x)_p and Cov(m_r, x)_p of the structured part, for latents ``kappa`` (R,)."""
    Cmx = jnp.einsum("crs,s->cr", S.Smm, kappa) + jnp.einsum("crk,k->cr", S.SmI, S.u)
    Cnx = jnp.einsum("crs,s->cr", S.Snm, kappa) + jnp.einsum("crk,k->cr", S.SnI, S.u)
    mu = S.Mm @ kappa + S.MI @ S.u
    Q = (jnp.einsum("r,crs,s->c", kappa, S.Smm, kappa) + 2.0 * jnp.einsum("r,crk,k->c", kappa, S.SmI, S.u)
         + jnp.einsum("k,ckl,l->c", S.u, S.SII, S.u))
    return mu, jnp.maximum(Q, 0.0), Cnx, Cmx


def n_variances(ensemble: Ensemble) -> np.ndarray:
    """Var(n_r) within each population, shape (C, R)."""
    sn = ensemble._slice("n")
    cov = np.asarray(ensemble.cov, np.float64)[:, sn, sn]
    return np.diagonal(cov, axis1=1, axis2=2)


def per_population(arr, C: int):
    """A float for one population, a float64 array (C,) for a mixture."""
    arr = np.asarray(arr, np.float64)
    return float(arr[0]) if C == 1 else arr.copy()


def kappa_bound(S: Statistics, snn: np.ndarray) -> np.ndarray:
    """B_r with |kappa_r| <= B_r for every mean-field solution, stationary or chaotic; ``snn`` is
    Var(n_r), (C, R).

    |[phi'](mu, D) C| <= sigma_n sqrt(Q) * 2 / sqrt(2 pi D) <= sigma_n sqrt(2/pi), because
    [phi'] <= int phi' / sqrt(2 pi D) = 2 / sqrt(2 pi D), D >= Q, and |C| = |Cov(n, structured part)|
    <= sigma_n sqrt(Q) (Cauchy-Schwarz). Hence |RHS_r| <= sum_p alpha_p (|M_{n_r}| + sigma_{n_r} sqrt(2/pi)).
    """
    alpha = np.asarray(S.alpha)
    B = alpha @ (np.abs(np.asarray(S.Mn)) + np.sqrt(np.clip(snn, 0, None)) * np.sqrt(2.0 / np.pi))
    return np.maximum(B, 1e-3) * 1.02
