"""Sparse binary networks with prescribed second-order motif frequencies (SONETs).

Re-implementation in NumPy/SciPy of the construction of Zhao, Beverlin, Netoff & Nykamp 2011,
"Synchronization from second order network connectivity statistics", Front. Comput. Neurosci. 5:28:
an edge is present where a correlated Gaussian exceeds a threshold, ``A_ij = [G_ij > theta]`` with
``P(G_ij > theta) = p``, and the correlations of G shared between two entries of a motif are
chosen so that ``P(A_1 = A_2 = 1) = p^2 (1 + alpha)`` for each motif type. G is built from i.i.d.
Gaussians and their row and column sums,

    G_ij = P' x_ij + Q' x_ji + a R'_i + b C'_j + c (R'_j + C'_i),

where ``R'_i, C'_j, R'_j, C'_i`` are the row and column sums through i and j that leave out the
entries ``x_ij`` and ``x_ji``. The five coefficients are solved at the actual N from the exact
second moments of G (derived in :func:`sonet_moments`), rather than from the large-N limit.
"""

from __future__ import annotations

import numpy as np
from scipy import integrate, optimize, special

from .._checks import positive_int, real_scalar
from .._errors import ArgumentError
from ._gaussian import numpy_rng

__all__ = ["sonet", "sonet_ei", "sonet_latent_correlations", "sonet_moments", "orthant_probability"]


def orthant_probability(theta: float, rho: float) -> float:
    """Return ``P(X > theta, Y > theta)`` for standard Gaussians with correlation ``rho``.

    Uses ``d/d rho Phi_2 = phi_2`` (Plackett 1954): ``P = Q(theta)^2 + int_0^rho
    exp(-theta^2 / (1 + r)) / (2 pi sqrt(1 - r^2)) dr``.
    """
    q = special.ndtr(-theta)
    if rho == 0:
        return float(q * q)
    f = lambda r: np.exp(-theta * theta / (1.0 + r)) / (2 * np.pi * np.sqrt(1.0 - r * r))  # noqa: E731
    val, _ = integrate.quad(f, 0.0, rho, limit=200, epsabs=1e-14, epsrel=1e-12)
    return float(q * q + val)


def _latent_rho(name: str, alpha: float, p: float, theta: float) -> float:
    target = p * p * (1.0 + alpha)
    hi = p  # rho = 1: both edges present whenever one is
    lo = max(0.0, 2 * p - 1)  # rho = -1
    if target > hi * (1 + 1e-12):
        raise ArgumentError(
            f"{name} = {alpha} is infeasible for p = {p}: two edges can be present together at most as often as "
            f"one is, so {name} <= (1 - p) / p = {(1 - p) / p:.6g}")
    if target < lo - 1e-15:
        raise ArgumentError(f"{name} = {alpha} is infeasible for p = {p}: {name} >= {lo / p**2 - 1:.6g} "
                         "(anti-correlated edges cannot be rarer than that)")
    if abs(alpha) < 1e-15:
        return 0.0
    return float(optimize.brentq(lambda r: orthant_probability(theta, r) - target, -1.0, 1.0, xtol=1e-14))


def sonet_latent_correlations(p, alpha_recip=0.0, alpha_conv=0.0, alpha_div=0.0, alpha_chain=0.0) -> dict:
    """Return the threshold ``theta`` and the correlations ``rho`` of the latent Gaussian G that give
    edge probability ``p`` and motif excesses ``alpha`` (Zhao et al. 2011): ``P(G > theta) = p`` and
    ``P(G_1 > theta, G_2 > theta) = p^2 (1 + alpha)`` for the two entries of each motif.
    Raises ValueError naming the motif whose alpha lies outside the attainable range.

    Examples
    --------
    >>> out = sonet_latent_correlations(0.1, alpha_conv=0.3, alpha_div=0.3, alpha_chain=0.3)
    >>> sorted(out)
    ['chain', 'conv', 'div', 'recip', 'theta']
    """
    p = real_scalar("p", p, low=0.0, high=1.0, low_open=True, high_open=True)
    theta = float(special.ndtri(1.0 - p))
    rho = {k: _latent_rho(f"alpha_{k}", real_scalar(f"alpha_{k}", a), p, theta)
           for k, a in (("recip", alpha_recip), ("conv", alpha_conv), ("div", alpha_div), ("chain", alpha_chain))}
    return {"theta": theta, **rho}


def sonet_moments(coef, N: int) -> np.ndarray:
    """Return ``[Var, Cov_rec, Cov_conv, Cov_div, Cov_chain]`` of G for coefficients
    ``coef = (P', Q', a, b, c)`` at size N (module docstring), counting every shared ``x``:

    * ``Var G_ij = P'^2 + Q'^2 + (N - 2)(a^2 + b^2 + 2 c^2)``;
    * ``Cov(G_ij, G_ji) = 2 P'Q' + 2 (N - 2) c (a + b)``;
    * ``Cov(G_ij, G_ik) = 2 a P' + 2 c Q' + 2 b c + (N - 3)(a^2 + c^2)``;
    * ``Cov(G_ij, G_kj) = 2 b P' + 2 c Q' + 2 a c + (N - 3)(b^2 + c^2)``;
    * ``Cov(G_ij, G_jk) = 2 c P' + (a + b) Q' + a b + c^2 + (N - 3) c (a + b)``.
    """
    P_, Q_, a, b, c = coef
    return np.array([
        P_**2 + Q_**2 + (N - 2) * (a * a + b * b + 2 * c * c),
        2 * P_ * Q_ + 2 * (N - 2) * c * (a + b),
        2 * a * P_ + 2 * c * Q_ + 2 * b * c + (N - 3) * (a * a + c * c),
        2 * b * P_ + 2 * c * Q_ + 2 * a * c + (N - 3) * (b * b + c * c),
        2 * c * P_ + (a + b) * Q_ + a * b + c * c + (N - 3) * c * (a + b),
    ])


def _coefficients(N: int, rho: dict) -> np.ndarray:
    """Solve sonet_moments(coef, N) = [1, rho_recip, rho_conv, rho_div, rho_chain]; ValueError if impossible."""
    rc, rd, rch, rr = rho["conv"], rho["div"], rho["chain"], rho["recip"]
    if rc < 0 or rd < 0:
        raise ArgumentError(
            f"alpha_conv and alpha_div must be >= 0 (latent correlations {rc:.4g}, {rd:.4g}): a row or column "
            "sum of N entries cannot have negative pairwise correlations at large N")
    S = np.array([[rc, rch], [rch, rd]])
    lo = float(np.linalg.eigvalsh(S)[0])
    if lo < -1e-12:
        raise ArgumentError(
            f"alpha_chain is too large for alpha_conv and alpha_div: the latent chain correlation {rch:.4g} must "
            f"satisfy |rho_chain| <= sqrt(rho_conv rho_div) = {np.sqrt(rc * rd):.4g} (Zhao et al. 2011)")
    vals, vecs = np.linalg.eigh(S)
    root = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T / np.sqrt(N)  # large-N start
    a0, c0, b0 = root[0, 0], root[0, 1], root[1, 1]
    t1 = 1.0 - (N - 2) * (a0**2 + b0**2 + 2 * c0**2)
    t2 = rr - 2 * (N - 2) * (a0 + b0) * c0
    if t1 <= 0:
        raise ArgumentError("alpha_conv, alpha_div and alpha_chain together leave no variance for the individual "
                         f"entries (1 - (N - 2)(a^2 + b^2 + 2 c^2) = {t1:.4g} <= 0); lower them")
    if abs(t2) > t1:
        raise ArgumentError(f"alpha_recip is out of the range the other statistics allow: the reciprocal latent "
                         f"correlation needs |{t2:.4g}| <= {t1:.4g}")
    P0 = 0.5 * (np.sqrt(t1 + t2) + np.sqrt(t1 - t2))
    Q0 = 0.5 * (np.sqrt(t1 + t2) - np.sqrt(t1 - t2))
    target = np.array([1.0, rr, rc, rd, rch])
    x0 = np.array([P0, Q0, a0, b0, c0])
    scale = np.array([1, 1, np.sqrt(N), np.sqrt(N), np.sqrt(N)])  # solve in order-one variables
    sol = optimize.root(lambda y: sonet_moments(y / scale, N) - target, x0 * scale, method="hybr",
                        options={"xtol": 1e-13})
    coef = sol.x / scale
    if not sol.success or np.max(np.abs(sonet_moments(coef, N) - target)) > 1e-9:
        raise ArgumentError(f"these motif statistics cannot be realised at N = {N} (the moment equations of the "
                         f"latent Gaussian have no real solution: {sol.message})")
    return coef


def sonet(N: int, p: float, *, alpha_recip=0.0, alpha_conv=0.0, alpha_div=0.0, alpha_chain=0.0,
          key) -> np.ndarray:
    """Return a binary ``(N, N)`` adjacency (float64 0/1, zero diagonal) with edge probability p and
    second-order motif excesses alpha (a SONET; Zhao et al. 2011, Front. Comput. Neurosci. 5:28).

    ``A[i, j] = 1`` means an edge from j onto i. For each motif the two edges occur together with
    probability ``p^2 (1 + alpha)``: ``alpha_recip`` (i <-> j), ``alpha_conv`` (j -> i <- k),
    ``alpha_div`` (i <- j -> k), ``alpha_chain`` (k -> j -> i). The correlation coefficient of the
    two edges is ``tau = alpha p / (1 - p)``. Shao et al. (2025) use ``alpha_recip = 2 alpha`` and
    ``alpha_conv = alpha_div = alpha_chain = alpha``. Cost O(N^2).

    Raises ValueError naming the bound that fails (``alpha <= (1 - p)/p``, ``alpha_conv,
    alpha_div >= 0``, ``|rho_chain| <= sqrt(rho_conv rho_div)``, the reciprocal range).

    >>> import jax
    >>> A = sonet(300, 0.1, alpha_conv=0.3, alpha_div=0.3, alpha_chain=0.3, key=jax.random.key(0))
    >>> A.shape, float(A.diagonal().sum())
    ((300, 300), 0.0)
    """
    N = positive_int("N", N, low=4)
    lat = sonet_latent_correlations(p, alpha_recip, alpha_conv, alpha_div, alpha_chain)
    P_, Q_, a, b, c = _coefficients(N, lat)
    rng = numpy_rng(key)
    x = rng.standard_normal((N, N))
    np.fill_diagonal(x, 0.0)
    R = x.sum(1)
    C = x.sum(0)
    # full sums include x_ij (in R_i and C_j) and x_ji (in R_j and C_i): correct the direct terms
    G = (P_ - a - b) * x
    G += (Q_ - 2 * c) * x.T
    G += (a * R + c * C)[:, None]
    G += (b * C + c * R)[None, :]
    A = (G > lat["theta"]).astype(np.float64)
    np.fill_diagonal(A, 0.0)
    return A


def sonet_ei(n_e: int, n_i: int, p: float, J: float, inh_ratio: float, *, alpha_recip=0.0, alpha_conv=0.0,
             alpha_div=0.0, alpha_chain=0.0, key) -> np.ndarray:
    """Return the weights ``w_ij = s_j A_ij`` of a sparse E–I network built on one SONET adjacency A.

    ``s_j = J`` for the first ``n_e`` (excitatory) columns and ``-inh_ratio * J`` for the ``n_i``
    inhibitory ones, as Shao et al. (2025, Figs 3, 4, 10) do: motif statistics are imposed on A
    for the whole network and the E/I signs afterwards. Its Gaussian description is
    :meth:`MotifEnsemble.from_sparse` with ``c = p`` and adjacency-level ``tau = alpha p / (1 - p)``.

    Examples
    --------
    >>> import jax
    >>> W = sonet_ei(160, 40, 0.2, 0.01, 6.0, alpha_conv=0.3, alpha_div=0.3, alpha_chain=0.3,
    ...             key=jax.random.key(0))
    >>> W.shape, bool((W[:, :160] >= 0).all() and (W[:, 160:] <= 0).all())
    ((200, 200), True)
    """
    n_e = positive_int("n_e", n_e)
    n_i = positive_int("n_i", n_i)
    J = real_scalar("J", J, low=0.0, low_open=True)
    inh_ratio = real_scalar("inh_ratio", inh_ratio, low=0.0, low_open=True)
    A = sonet(n_e + n_i, p, alpha_recip=alpha_recip, alpha_conv=alpha_conv, alpha_div=alpha_div,
              alpha_chain=alpha_chain, key=key)
    s = np.concatenate([np.full(n_e, J), np.full(n_i, -inh_ratio * J)])
    A *= s[None, :]
    return A
