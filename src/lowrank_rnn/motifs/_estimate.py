"""Estimators of motif statistics from a given connectivity matrix (weighted or binary)."""

from __future__ import annotations

import numpy as np

from .._checks import finite_array
from .._errors import ArgumentError
from ._statistics import MotifStatistics, motif_counts

__all__ = ["motif_statistics", "sonet_alphas", "alpha_from_tau", "tau_from_alpha"]


def _population(population, N: int) -> tuple[np.ndarray, int]:
    if population is None:
        return np.zeros(N, int), 1
    pop = np.asarray(population)
    if pop.shape != (N,) or not np.issubdtype(pop.dtype, np.integer):
        raise ArgumentError(f"population must be an integer array of shape (N,) = ({N},), got "
                         f"{pop.shape} {pop.dtype}")
    if pop.min() < 0:
        raise ArgumentError("population labels must be >= 0")
    P = int(pop.max()) + 1
    missing = sorted(set(range(P)) - set(np.unique(pop).tolist()))
    if missing:
        raise ArgumentError(f"population labels must be 0..P-1 without gaps; missing {missing}")
    return pop, P


def motif_statistics(W, population=None, *, populations=None) -> MotifStatistics:
    """Return the reciprocal, convergent, divergent and chain statistics measured on a matrix.

    ``W[i, j]`` is the weight from j onto i (weighted, signed or binary). Within each population
    block the entries off the diagonal are centred by the block mean and scaled by the block
    standard deviation, ``u_ij = (w_ij - mean_pq) / sd_pq``; the statistics are then averages of
    products over all motifs of distinct neurons (Zhao et al. 2011, Front. Comput. Neurosci. 5:28,
    on binary A; Shao et al. 2025 on weights), computed from row and column sums in O(N^2 P + N P^3)::

        reciprocal[p, q]  = sum_{i in p, j in q} u_ij u_ji / #,
        convergent[p,q,r] = sum_{i in p} (R_iq R_ir - [q = r] sum_{j in q} u_ij^2) / #,
        divergent[q,p,r]  = sum_{j in q} (C_jp C_jr - [p = r] sum_{i in p} u_ij^2) / #,
        chain[p, q, r]    = (sum_{j in q} C_jp R_jr - [p = r] sum_{i in p, j in q} u_ij u_ji) / #,

    with row sums ``R_iq = sum_{j in q} u_ij`` and column sums ``C_jp = sum_{i in p} u_ij``, and
    ``#`` the number of motifs (:func:`~lowrank_rnn.motifs._statistics.motif_counts`). On a binary
    matrix these are correlation coefficients of Bernoulli variables, ``tau = alpha p / (1 - p)``.

    Parameters
    ----------
    W: square matrix ``(N, N)``; its diagonal is ignored.
    population: integer label per neuron (0..P-1), or None for one population.
    populations: optional names of the populations.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> eta = rng.normal(size=500)
    >>> W = 0.3 * (eta[:, None] + eta[None, :]) + 0.8 * rng.normal(size=(500, 500))
    >>> st = motif_statistics(W)          # tau = 0.09 / 0.82: chain = con = div = tau, rec = 2 tau
    >>> round(st.pooled["chain"], 2), round(st.pooled["reciprocal"], 2)
    (0.11, 0.22)
    """
    W = finite_array("W", W, ndim=2)
    N = W.shape[0]
    if W.shape != (N, N) or N < 3:
        raise ArgumentError(f"W must be a square matrix with N >= 3, got shape {W.shape}")
    pop, P = _population(population, N)
    sizes = np.bincount(pop, minlength=P)
    E = (pop[:, None] == np.arange(P)[None, :]).astype(float)  # (N, P) one-hot
    off = ~np.eye(N, dtype=bool)
    mean = np.zeros((P, P))
    sd = np.zeros((P, P))
    for p in range(P):
        for q in range(P):
            block = W[np.ix_(pop == p, pop == q)]
            if p == q:
                block = block[~np.eye(block.shape[0], dtype=bool)]
            if block.size:
                mean[p, q] = block.mean()
                sd[p, q] = block.std()
    good = sd > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        inv = np.where(good, 1.0 / np.where(good, sd, 1.0), 0.0)
    U = (W - mean[pop][:, pop]) * inv[pop][:, pop]
    U[~off] = 0.0
    R = U @ E  # (N, P): row sums by presynaptic population
    C = U.T @ E  # (N, P): column sums by postsynaptic population
    U2 = U * U
    SR = U2 @ E  # sum_{j in q} u_ij^2
    SC = U2.T @ E  # sum_{i in p} u_ij^2
    UUt = U * U.T
    rec_num = E.T @ UUt @ E  # (P, P)
    con_num = np.einsum("ip,iq,ir->pqr", E, R, R) - np.einsum("ip,iq,qr->pqr", E, SR, np.eye(P))
    div_num = np.einsum("jq,jp,jr->qpr", E, C, C) - np.einsum("jq,jp,pr->qpr", E, SC, np.eye(P))
    # the i = k term of the chain sum: sum_{i in p, j in q} u_ij u_ji, removed where p = r
    chn_num = np.einsum("jq,jp,jr->pqr", E, C, R) - np.einsum("pq,pr->pqr", rec_num, np.eye(P))
    counts = motif_counts(sizes)
    with np.errstate(invalid="ignore", divide="ignore"):
        rec = rec_num / counts["reciprocal"]
        con = con_num / counts["convergent"]
        div = div_num / counts["divergent"]
        chn = chn_num / counts["chain"]
    g = good
    rec = np.where(g & g.T, rec, np.nan)
    con = np.where(g[:, :, None] & g[:, None, :], con, np.nan)
    div = np.where(g.T[:, :, None] & g.T[:, None, :], div, np.nan)
    chn = np.where(g[:, :, None] & g[None, :, :], chn, np.nan)
    for name, arr in (("reciprocal", rec), ("convergent", con), ("divergent", div), ("chain", chn)):
        arr[counts[name] == 0] = np.nan
    return MotifStatistics.from_blocks(tuple(int(s) for s in sizes), rec, con, div, chn, sigma=sd * np.sqrt(N),
                                       couplings=mean * sizes[None, :], populations=populations)


def tau_from_alpha(alpha, p):
    """Return the correlation coefficient ``tau = alpha p / (1 - p)`` of a binary motif statistic
    given as SONET excess frequency ``alpha`` (``P(A_1 = A_2 = 1) = p^2 (1 + alpha)``; Zhao et al. 2011).

    Examples
    --------
    >>> float(tau_from_alpha(0.6, 0.2))
    0.15
    """
    return np.asarray(alpha) * p / (1.0 - p)


def alpha_from_tau(tau, p):
    """Return the SONET excess frequency ``alpha = tau (1 - p) / p`` of a binary correlation ``tau``.

    Examples
    --------
    >>> round(float(alpha_from_tau(0.05, 0.2)), 6)       # inverse of tau_from_alpha
    0.2
    """
    return np.asarray(tau) * (1.0 - p) / p


def sonet_alphas(A) -> dict[str, float]:
    """Return the SONET statistics ``p, alpha_recip, alpha_conv, alpha_div, alpha_chain`` of a binary
    matrix ``A`` (one population, diagonal ignored), as Zhao et al. 2011 define them:
    ``P(A_1 = A_2 = 1) = p^2 (1 + alpha)`` for the two edges of each motif, with ``p`` the
    connection probability. Computed from in- and out-degrees in O(N^2)::

        N_rec = tr(A^2)/2, N_con = (sum R_i^2 - E)/2, N_div = (sum C_j^2 - E)/2,
        N_chain = sum_i R_i C_i - tr(A^2),

    ``alpha_rec = N_rec / (N(N-1)/2 p^2) - 1``, ``alpha_con = N_con / (N(N-1)(N-2)/2 p^2) - 1`` (and
    div alike), ``alpha_chain = N_chain / (N(N-1)(N-2) p^2) - 1``.

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn.motifs import sonet
    >>> A = sonet(400, 0.1, alpha_conv=0.3, alpha_div=0.3, alpha_chain=0.3, key=jax.random.key(0))
    >>> {k: round(float(v), 2) for k, v in sonet_alphas(A).items()}
    {'p': 0.1, 'alpha_recip': 0.04, 'alpha_conv': 0.32, 'alpha_div': 0.31, 'alpha_chain': 0.32}
    """
    A = finite_array("A", A, ndim=2)
    N = A.shape[0]
    if A.shape != (N, N) or N < 3:
        raise ArgumentError(f"A must be a square matrix with N >= 3, got shape {A.shape}")
    if not np.all((A == 0) | (A == 1)):
        raise ArgumentError("A must be binary (entries 0 or 1)")
    A = A.copy()
    np.fill_diagonal(A, 0.0)
    R = A.sum(1)
    C = A.sum(0)
    E = A.sum()
    p = E / (N * (N - 1))
    if p <= 0:
        raise ArgumentError("A has no edges off the diagonal")
    tr2 = float(np.sum(A * A.T))
    c2 = N * (N - 1) * (N - 2) / 2
    return {
        "p": float(p),
        "alpha_recip": (tr2 / 2) / (N * (N - 1) / 2 * p**2) - 1,
        "alpha_conv": ((R @ R - E) / 2) / (c2 * p**2) - 1,
        "alpha_div": ((C @ C - E) / 2) / (c2 * p**2) - 1,
        "alpha_chain": (R @ C - tr2) / (2 * c2 * p**2) - 1,
    }
