"""Sampling Gaussian connectivity with motifs (the generator of :class:`MotifEnsemble`)."""

from __future__ import annotations

import numpy as np

from .._checks import prng_key
from .._errors import ArgumentTypeError

__all__ = ["numpy_rng", "sample_gaussian"]


def numpy_rng(key) -> np.random.Generator:
    """Return a NumPy generator seeded from a ``jax.random`` key (same key, same draws everywhere)."""
    import jax

    key = prng_key("key", key)
    data = jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    return np.random.default_rng([int(x) for x in np.asarray(data).ravel()])


def _standardize(v: np.ndarray, pop: np.ndarray, P: int) -> np.ndarray:
    out = np.empty_like(v)
    for q in range(P):
        sel = pop == q
        x = v[sel] - v[sel].mean()
        s = x.std()
        out[sel] = x / s if s > 0 else x
    return out


def sample_gaussian(ens, *, key, standardize: bool = True) -> np.ndarray:
    """Return ``J = J0 + Z`` drawn from a single (unbatched) :class:`MotifEnsemble`, float64 (N, N).

    ``z_ij = sigma_pq / sqrt(N) [a_pq xi_i + b_pq eta_j + c_pq x_ij]`` with ``Corr(xi_i, eta_i) =
    rho_q`` and ``Corr(x_ij, x_ji) = kappa_pq`` (Shao et al. 2025, arXiv 2411.06802). The i.i.d.
    part with reciprocal correlation is ``x = sqrt((1 + K)/2) S + sqrt((1 - K)/2) A`` with the
    symmetric and antisymmetric parts ``S, A = (Y +- Y^T)/sqrt(2)`` of an i.i.d. Gaussian Y.
    """
    rng = numpy_rng(key)
    P, N = ens.n_populations, ens.N
    pop = ens.population
    eta = rng.standard_normal(N)
    u = rng.standard_normal(N)
    rho = np.asarray(ens.latent_corr)[pop]
    if standardize:
        eta = _standardize(eta, pop, P)
        u = _standardize(u, pop, P)
        for q in range(P):  # make u exactly orthogonal to eta within each population
            sel = pop == q
            e = eta[sel]
            ee = e @ e
            if ee > 0:
                u[sel] -= (u[sel] @ e) / ee * e
        u = _standardize(u, pop, P)
    xi = rho * eta + np.sqrt(1.0 - rho**2) * u

    Y = rng.standard_normal((N, N))
    kappa = np.asarray(ens.iid_reciprocal)
    if np.any(kappa != 0):
        K = kappa[pop][:, pop]
        diag = np.diag(Y).copy()
        S = (Y + Y.T) / np.sqrt(2.0)
        Y -= Y.T  # now sqrt(2) times the antisymmetric part
        Y *= np.sqrt((1.0 - K) / 2.0) / np.sqrt(2.0)
        Y += np.sqrt((1.0 + K) / 2.0) * S
        del S
        np.fill_diagonal(Y, diag)
    a = np.asarray(ens.conv_loading)[pop][:, pop]
    b = np.asarray(ens.div_loading)[pop][:, pop]
    c = np.asarray(ens.iid_loading)[pop][:, pop]
    scale = np.asarray(ens.sigma)[pop][:, pop] / np.sqrt(N)
    Y *= c
    Y += a * xi[:, None]
    Y += b * eta[None, :]
    Y *= scale
    Y += np.asarray(ens.couplings)[pop][:, pop] / np.asarray(ens.sizes, float)[pop][None, :]
    return Y
