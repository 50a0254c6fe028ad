"""Predictions for E–I networks with motifs: chain-motif matrix, outliers, bulk, stability, responses.

All functions take a :class:`~lowrank_rnn.motifs.MotifEnsemble` (no N x N matrix, no randomness)
and are vectorised over its batch dimensions (grids of motif strengths), in NumPy.

The derivation (Shao, Dahmen, Recanatesi, Shea-Brown & Ostojic 2025, arXiv 2411.06802, PRX Life
3:023008, for [Z^2], the outlier equation and J_eff; the resolvent form below is ours). Split
``J = L + X``: the finite-rank part ``L = J0 + Z_lr`` (the mean and the latent terms
``sigma_pq/sqrt(N) (a_pq xi_i + b_pq eta_j)``) and the residual ``X`` (i.i.d. up to reciprocal
correlations ``kappa``). ``L`` maps the 2P vectors ``1_p`` and ``xi_p / sqrt(N)`` (indicator and
in-latent of each population) into their span, where it acts as

    M_L = [[W0, B], [A, 0]],   A_pr = sigma_pr a_pr N_r,   B_pr = sigma_pr b_pr rho_r N_r / N,

and ``B A = Z~``, the population-level chain matrix ``Z~_pr = N_r [Z^2]_pr``, with
``[Z^2]_pr = sum_q (N_q/N) sigma_pq sigma_qr chain_pqr`` (the mean of ``(Z^2)_ik``, ``i in p, k in r``).
So the eigenvalues of M_L solve ``det(lambda^2 I - lambda W0 - Z~) = 0`` (Shao et al.'s outlier
equation). The residual enters through its resolvent ``(lambda - X)^(-1) ~ diag(g_p(lambda))``,
``g = 1 / (lambda - D g)`` with ``D_pq = (N_q/N) sigma_pq sigma_qp c_pq c_qp kappa_pq``: outliers solve
``det(I - M_L diag(g, g)) = 0``; for a homogeneous residual this is ``lambda = mu + d / mu`` for each
eigenvalue ``mu`` of ``M_L`` (the reciprocal-motif shift, exact for elliptic matrices).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .._errors import ArgumentError, ArgumentTypeError
from ._ensemble import MotifEnsemble

__all__ = [
    "chain_matrix", "population_chain_matrix", "reciprocal_diagonal", "effective_connectivity",
    "low_rank_operator", "bulk_edge", "BulkEdge", "outliers", "OutlierPrediction", "is_stable",
    "population_response", "paradoxical", "homogeneous_outliers", "critical_chain_strength",
    "paradoxical_chain_strength", "stability_margin",
]


def _check(ens) -> MotifEnsemble:
    if not isinstance(ens, MotifEnsemble):
        raise ArgumentTypeError(f"expected a lowrank_rnn.motifs.MotifEnsemble, got {type(ens).__name__}")
    return ens


def chain_matrix(ens: MotifEnsemble) -> np.ndarray:
    """Return ``[Z^2]``, the mean of ``(Z^2)_ik`` for ``i in p, k in r`` (i != k), ``(..., P, P)``.

    ``[Z^2]_pr = sum_j Cov(z_ij, z_jk) = sum_q (N_q / N) sigma_pq sigma_qr chain[p, q, r]``
    (Shao et al. 2025): chain motifs make every off-diagonal entry of ``Z^2`` of order
    ``sigma^2 tau`` (``g^2 tau`` in the homogeneous case). The diagonal is
    :func:`reciprocal_diagonal`.

    >>> from lowrank_rnn.motifs import MotifEnsemble
    >>> ens = MotifEnsemble.ei(800, 200, 0.65, 1.65, g=0.2, chain=0.05)
    >>> np.round(chain_matrix(ens), 6).tolist()     # g^2 tau = 0.002
    [[0.002, 0.002], [0.002, 0.002]]
    """
    ens = _check(ens)
    chn = ens.statistics().chain
    s = ens.sigma
    return np.einsum("q,...pq,...qr,...pqr->...pr", ens.fractions, s, s, chn)


def population_chain_matrix(ens: MotifEnsemble) -> np.ndarray:
    """Return ``Z~_pr = N_r [Z^2]_pr``, the chain-motif matrix at the population level, ``(..., P, P)``.

    Acting on population-constant vectors, ``[Z^2]`` is ``Z~``; its row sum in the homogeneous case
    is ``S = N g^2 tau`` (Shao et al. 2025).

    Examples
    --------
    >>> from lowrank_rnn.motifs import MotifEnsemble
    >>> ens = MotifEnsemble.ei(800, 200, 0.65, 1.65, g=0.2, chain=0.05)
    >>> np.round(population_chain_matrix(ens), 3).tolist()     # rows sum to S = N g^2 tau = 2
    [[1.6, 0.4], [1.6, 0.4]]
    """
    return chain_matrix(ens) * np.asarray(ens.sizes, float)


def reciprocal_diagonal(ens: MotifEnsemble, *, residual_only: bool = False) -> np.ndarray:
    """Return ``[Z^2]_ii = sum_j Cov(z_ij, z_ji)`` for ``i`` in each population, ``(..., P)``.

    ``= sum_q (N_q/N) sigma_pq sigma_qp reciprocal[p, q]`` (reciprocal motifs). With
    ``residual_only`` only the i.i.d. part counts (``kappa_pq c_pq c_qp`` in place of the full
    reciprocal statistic): the part that shifts outliers as ``d / mu``; the latent part is already in
    :func:`low_rank_operator`.

    Examples
    --------
    >>> from lowrank_rnn.motifs import MotifEnsemble
    >>> ens = MotifEnsemble.ei(800, 200, 0.65, 1.65, g=0.2, chain=0.05)
    >>> np.round(reciprocal_diagonal(ens), 4).tolist()    # g^2 * reciprocal = 0.04 * 0.1
    [0.004, 0.004]
    """
    ens = _check(ens)
    s, sT = ens.sigma, np.swapaxes(ens.sigma, -1, -2)
    if residual_only:
        c = ens.iid_loading
        rec = ens.iid_reciprocal * c * np.swapaxes(c, -1, -2)
    else:
        rec = ens.statistics().reciprocal
    return np.einsum("q,...pq->...p", ens.fractions, s * sT * rec)


def _residual_coupling(ens: MotifEnsemble) -> tuple[np.ndarray, np.ndarray]:
    """(D, V): reciprocal covariance sums and variance profile of the residual, ``(..., P, P)`` each."""
    c = ens.iid_loading
    s = ens.sigma
    D = ens.fractions * s * np.swapaxes(s, -1, -2) * c * np.swapaxes(c, -1, -2) * ens.iid_reciprocal
    V = ens.fractions * (s * c) ** 2
    return D, V


def effective_connectivity(ens: MotifEnsemble, *, dense: bool = False) -> np.ndarray:
    """Return ``W_eff = W0 + Z~``, the population-level effective connectivity, ``(..., P, P)``.

    ``J_eff = J0 + [Z^2]`` (Shao et al. 2025): its population-averaged linear response is
    ``(I - W_eff)^(-1) h``. With ``dense=True`` (single ensemble) returns the block-constant
    ``(N, N)`` matrix ``J_eff`` itself.

    >>> from lowrank_rnn.motifs import MotifEnsemble
    >>> W = effective_connectivity(MotifEnsemble.ei(800, 200, 0.65, 1.65, g=0.1, chain=0.06))
    >>> np.round(W, 3).tolist()     # J_E + N_E g^2 tau = 0.65 + 0.48
    [[1.13, -1.53], [1.13, -1.53]]
    """
    W = ens.couplings + population_chain_matrix(ens)
    if not dense:
        return W
    if ens.batch_shape:
        raise ArgumentError("dense=True needs a single ensemble (no batch dimensions)")
    pop = ens.population
    return (W / np.asarray(ens.sizes, float))[pop][:, pop]


def low_rank_operator(ens: MotifEnsemble) -> np.ndarray:
    """Return ``M_L = [[W0, B], [A, 0]]``, the finite-rank part of J on its invariant 2P-dim. subspace.

    Basis ``(1_p, xi_p / sqrt(N))``; ``A_pr = sigma_pr a_pr N_r``, ``B_pr = sigma_pr b_pr rho_r N_r / N``
    (module docstring). ``det(lambda I - M_L) = (-1)^P det(lambda^2 I - lambda W0 - Z~)``
    (Shao et al. 2025's outlier equation), shape ``(..., 2P, 2P)``.

    Examples
    --------
    >>> from lowrank_rnn.motifs import MotifEnsemble
    >>> ens = MotifEnsemble.ei(800, 200, 0.65, 1.65, g=0.2, chain=0.05)
    >>> M_L = low_rank_operator(ens)
    >>> M_L.shape, np.round(np.sort(np.linalg.eigvals(M_L).real), 3).tolist()
    ((4, 4), [-2.0, 0.0, 0.0, 1.0])
    """
    ens = _check(ens)
    n = np.asarray(ens.sizes, float)
    A = ens.sigma * ens.conv_loading * n
    B = ens.sigma * ens.div_loading * ens.latent_corr[..., None, :] * n / ens.N
    top = np.concatenate([ens.couplings, B], axis=-1)
    bot = np.concatenate([A, np.zeros_like(A)], axis=-1)
    return np.concatenate([top, bot], axis=-2)


def _resolvent(lam: np.ndarray, D: np.ndarray, iters: int = 200, g0=None) -> tuple[np.ndarray, np.ndarray]:
    """Iterate ``g = 1 / (lam - D g)``; lam (..., K) complex, D (..., P, P) -> g (..., K, P), converged mask."""
    lam = np.asarray(lam, complex)
    P = D.shape[-1]
    Dk = D[..., None, :, :]
    with np.errstate(all="ignore"):
        g = np.broadcast_to(1.0 / lam[..., None], lam.shape + (P,)).astype(complex) if g0 is None else g0
        if not np.any(D):
            return g, np.all(np.isfinite(g), axis=-1)
        for it in range(iters):
            g_new = 1.0 / (lam[..., None] - np.einsum("...pq,...q->...p", Dk, g))
            if it % 10 == 9 and np.all(np.abs(g_new - g) <= 1e-13 * (1 + np.abs(g))):
                g = g_new
                break
            g = g_new
        resid = np.abs(1.0 / (lam[..., None] - np.einsum("...pq,...q->...p", Dk, g)) - g)
        ok = np.all(resid <= 1e-9 * (1 + np.abs(g)), axis=-1) & np.all(np.isfinite(g), axis=-1)
    return g, ok


def _outside(lam: np.ndarray, D: np.ndarray, V: np.ndarray) -> np.ndarray:
    """True where ``lam`` (..., K) lies outside the bulk: spectral radius of ``diag|g|^2 V`` < 1."""
    g, ok = _resolvent(lam, D)
    with np.errstate(all="ignore"):
        T = (np.abs(g) ** 2)[..., :, None] * V[..., None, :, :]
    T = np.where(np.isfinite(T), T, 0.0)
    rad = np.max(np.abs(np.linalg.eigvals(T)), axis=-1)
    return ok & (rad < 1 - 1e-9)


@dataclasses.dataclass(frozen=True)
class BulkEdge:
    """The support of the bulk (the eigenvalues of the residual i.i.d. part of Z).

    ``real``: the rightmost real point (its right edge, which decides stability); ``imag``: the
    highest point on the imaginary axis; ``radius``: the radius ``sqrt(rho(V))`` the bulk would
    have without reciprocal correlations. For a homogeneous residual of s.d. ``s`` and reciprocal
    correlation ``k`` the bulk is the ellipse with semi-axes ``s (1 + k)`` and ``s (1 - k)``.

    Examples
    --------
    >>> from lowrank_rnn.motifs import MotifEnsemble
    >>> ens = MotifEnsemble.ei(800, 200, 0.65, 1.65, g=0.2, chain=0.05)
    >>> edge = outliers(ens).bulk
    >>> round(float(edge.real), 3), round(float(edge.radius), 3)   # g sqrt(1 - 2 tau)
    (0.19, 0.19)
    """

    real: np.ndarray
    imag: np.ndarray
    radius: np.ndarray


def bulk_edge(ens: MotifEnsemble) -> BulkEdge:
    """Return the edges of the eigenvalue bulk of an ensemble (elliptic law on the residual part).

    The residual ``c_pq x_ij`` has variance profile ``V_pq = (N_q/N) sigma_pq^2 c_pq^2`` and
    reciprocal covariances ``D_pq``. A point ``lambda`` lies outside the bulk when the spectral
    radius of ``diag(|g_p(lambda)|^2) V`` is below 1, ``g`` solving ``g = 1/(lambda - D g)``; this
    gives the circle of radius ``sqrt(rho(V))`` without reciprocity (Rajan & Abbott 2006) and the
    ellipse ``s (1 +- k)`` for a homogeneous residual (Sommers et al. 1988). For the homogeneous
    construction of Shao et al. the real edge is ``g sqrt(1 - 2 tau)``.

    >>> from lowrank_rnn.motifs import MotifEnsemble
    >>> round(float(bulk_edge(MotifEnsemble.ei(800, 200, 0.65, 1.65, g=0.2, chain=0.1)).real), 4)
    0.1789
    """
    ens = _check(ens)
    D, V = _residual_coupling(ens)
    radius = np.sqrt(np.max(np.abs(np.linalg.eigvals(V)), axis=-1))
    if not np.any(D):
        return BulkEdge(real=radius, imag=radius.copy(), radius=radius)
    # homogeneous residual rows (equal row sums of D and V): exact ellipse
    dsum, vsum = D.sum(-1), V.sum(-1)
    homog = np.all(np.isclose(dsum, dsum[..., :1]), -1) & np.all(np.isclose(vsum, vsum[..., :1]), -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(vsum[..., 0] > 0, dsum[..., 0] / np.where(vsum[..., 0] > 0, vsum[..., 0], 1), 0.0)
    s = np.sqrt(vsum[..., 0])
    real = np.where(homog, s * (1 + k), np.nan)
    imag = np.where(homog, s * (1 - k), np.nan)
    if not np.all(homog):  # general case: bisection along each axis on the outside criterion
        hi = 3.0 * np.maximum(radius, 1e-12)
        for axis, out in ((1.0, real), (1j, imag)):
            lo_, hi_ = np.zeros_like(hi), hi.copy()
            for _ in range(60):
                mid = 0.5 * (lo_ + hi_)
                outside = _outside(np.asarray(axis * mid)[..., None], D, V)[..., 0]
                hi_ = np.where(outside, mid, hi_)
                lo_ = np.where(outside, lo_, mid)
            np.copyto(out, hi_, where=~homog)
    return BulkEdge(real=real, imag=imag, radius=radius)


@dataclasses.dataclass(frozen=True)
class OutlierPrediction:
    """Predicted outlying eigenvalues of an ensemble.

    ``values`` (``(..., 2P)`` complex, sorted by decreasing real part): the roots of
    ``det(I - M_L diag(g(lambda))) = 0`` (with the reciprocal-motif shift); ``low_rank`` the
    eigenvalues of ``M_L`` (the roots of ``det(lambda^2 - lambda W0 - Z~) = 0``, no shift), in the
    same order; ``visible`` marks the values outside the bulk (the others are not eigenvalues of
    sampled networks); ``bulk`` the :class:`BulkEdge`.

    Examples
    --------
    >>> from lowrank_rnn.motifs import MotifEnsemble
    >>> ens = MotifEnsemble.ei(800, 200, 0.65, 1.65, g=0.2, chain=0.05)
    >>> pred = outliers(ens)
    >>> np.round(pred.values.real, 3).tolist(), pred.visible.tolist()
    ([1.0, 0.0, 0.0, -2.0], [True, False, False, True])
    """

    values: np.ndarray
    low_rank: np.ndarray
    visible: np.ndarray
    bulk: BulkEdge

    def visible_values(self) -> np.ndarray:
        """Return the visible outliers of a single ensemble (1-D complex array)."""
        if self.values.ndim != 1:
            raise ArgumentError("visible_values needs a single ensemble; index values[visible] yourself")
        return self.values[self.visible]

    @property
    def max_real(self) -> np.ndarray:
        """The largest real part among visible outliers and the bulk edge, ``(...)``."""
        re = np.where(self.visible, self.values.real, -np.inf)
        return np.maximum(re.max(-1), self.bulk.real)


def _sort(vals: np.ndarray, *others):
    order = np.lexsort((-vals.imag, -vals.real), axis=-1)
    take = lambda x: np.take_along_axis(x, order, axis=-1)  # noqa: E731
    return (take(vals),) + tuple(take(o) for o in others)


def outliers(ens: MotifEnsemble, *, newton_steps: int = 40) -> OutlierPrediction:
    """Return the predicted outliers of J (and which of them lie outside the bulk).

    Without i.i.d. reciprocity they are the eigenvalues of :func:`low_rank_operator`, i.e. the 2P
    roots of ``det(lambda^2 I - lambda W0 - Z~) = 0`` (Shao et al. 2025); complex roots included.
    In the homogeneous E–I case they are ``lambda_pm = lambda0/2 +- sqrt(lambda0^2/4 + S)``,
    ``S = N g^2 tau`` (:func:`homogeneous_outliers`). A reciprocal correlation of the residual
    moves each root ``mu`` to the root of ``det(I - M_L diag(g(lambda))) = 0`` near it,
    ``lambda = mu + d / mu`` when the residual is homogeneous (d = ``g^2 kappa (1 - con - div)``).

    >>> from lowrank_rnn.motifs import MotifEnsemble
    >>> pred = outliers(MotifEnsemble.ei(800, 200, 0.65, 1.65, g=0.2, chain=0.02))
    >>> np.round(pred.visible_values().real, 3).tolist()     # S = N g^2 tau = 0.8
    [0.525, -1.525]
    """
    ens = _check(ens)
    M = low_rank_operator(ens)
    mu = np.linalg.eigvals(M)
    D, V = _residual_coupling(ens)
    P = ens.n_populations
    # candidates inside the bulk radius have no outlier to converge to (for an elliptic residual the
    # outlier mu + d/mu exists iff |mu| > the radius); they are neither refined nor visible
    radius = np.sqrt(np.max(np.abs(np.linalg.eigvals(V)), axis=-1))[..., None]
    candidate = np.abs(mu) > np.maximum(radius, 1e-12)
    lam = mu.astype(complex)
    visible = candidate.copy()
    dsum = D.sum(-1)  # (..., P)
    if np.any(D):
        # equal row sums d of D: every g_p(lambda) = g, and det(I - g M_L) = 0 gives 1/g = mu, so
        # lambda = mu + d / mu exactly (the elliptic shift), visible iff |mu| > the radius
        homog = np.all(np.isclose(dsum, dsum[..., :1], rtol=1e-12, atol=1e-15), axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            shifted = np.where(candidate, mu + dsum[..., :1] / np.where(candidate, mu, 1), mu)
        lam = np.where(homog[..., None], shifted, lam)
        rest = ~homog & np.any(D != 0, axis=(-1, -2))
        if np.any(rest):  # population-dependent residual reciprocity: Newton on det(I - M_L diag(g, g))
            sel = np.nonzero(np.atleast_1d(rest))
            if np.ndim(rest) == 0:  # a single ensemble: give it a batch axis of one
                M, D, V, mu, lam, candidate, visible = (x[None] for x in (M, D, V, mu, lam, candidate, visible))
            Ms, Ds = M[sel], D[sel]  # (B, 2P, 2P), (B, P, P)
            z = np.where(candidate[sel], mu[sel] + (Ds.sum(-1) @ ens.fractions)[:, None]
                         / np.where(candidate[sel], mu[sel], 1), mu[sel])
            eye = np.eye(2 * P)

            def F(x):
                g, _ = _resolvent(x, Ds)
                gg = np.concatenate([g, g], axis=-1)  # (B, K, 2P)
                return np.linalg.det(eye - Ms[:, None, :, :] * gg[..., None, :])

            for _ in range(newton_steps):
                h = 1e-7 * (1 + np.abs(z))
                with np.errstate(all="ignore"):
                    f0 = F(z)
                    df = (F(z + h) - f0) / h
                    step = np.where(np.abs(df) > 0, f0 / np.where(np.abs(df) > 0, df, 1), 0)
                step = np.where(np.isfinite(step) & candidate[sel], step, 0)
                z = z - step
                if np.all(np.abs(step) < 1e-13 * (1 + np.abs(z))):
                    break
            lam[sel] = np.where(candidate[sel], z, mu[sel])
            visible[sel] = _outside(lam[sel], Ds, V[sel]) & candidate[sel]
            if np.ndim(rest) == 0:
                mu, lam, candidate, visible = mu[0], lam[0], candidate[0], visible[0]
    # symmetric rounding: real roots have no imaginary part
    lam = np.where(np.abs(lam.imag) < 1e-10 * (1 + np.abs(lam)), lam.real + 0j, lam)
    mu = np.where(np.abs(mu.imag) < 1e-10 * (1 + np.abs(mu)), mu.real + 0j, mu)
    edge = bulk_edge(ens)
    lam, mu, visible = _sort(lam, mu, visible)
    return OutlierPrediction(values=lam, low_rank=mu, visible=visible, bulk=edge)


def stability_margin(ens: MotifEnsemble) -> np.ndarray:
    """Return ``1 - max Re(lambda)`` over the predicted visible outliers and the bulk edge, ``(...)``;
    the linear dynamics ``dx/dt = -x + J x`` are stable where it is positive.

    Examples
    --------
    >>> from lowrank_rnn.motifs import MotifEnsemble
    >>> ens = MotifEnsemble.ei(800, 200, 0.65, 1.65, g=0.2, chain=0.04)
    >>> round(float(stability_margin(ens)), 3)        # 1 - lambda_+, positive below tau_c = 0.05
    0.14
    """
    return 1.0 - outliers(ens).max_real


def is_stable(ens: MotifEnsemble, *, tol: float = 1e-9) -> np.ndarray:
    """Return whether every predicted eigenvalue has real part below 1 (bool, ``(...)``).

    With chain motifs the binding constraint is the chain-induced outlier: in the homogeneous E–I
    case ``lambda_+ < 1``, i.e. ``S < 1 - lambda0`` (Shao et al. 2025). A margin below ``tol``
    counts as unstable (marginal).

    Examples
    --------
    Stable below the critical chain strength ``tau_c = 0.05`` of these parameters, unstable above:

    >>> from lowrank_rnn.motifs import MotifEnsemble
    >>> [bool(is_stable(MotifEnsemble.ei(800, 200, 0.65, 1.65, g=0.2, chain=t))) for t in (0.04, 0.06)]
    [True, False]
    """
    return stability_margin(ens) > tol


def population_response(ens: MotifEnsemble, *, method: str = "resolvent") -> np.ndarray:
    """Return the population-averaged linear response matrix ``chi[..., p, q]``, ``(..., P, P)``:
    the mean steady-state activity of population p per unit input into every neuron of q, for
    ``dx/dt = -x + J x + h``.

    ``method="effective"``: ``(I - W_eff)^(-1)`` with ``W_eff = W0 + Z~`` (Shao et al. 2025).
    ``method="resolvent"`` (default): ``[diag(g) (I - M_L diag(g))^(-1)]_{pq}`` at ``lambda = 1``,
    the same plus the reciprocal correction of the residual (identical when ``kappa = 0``).
    Where ``I - W_eff`` is singular (the stability boundary) the entries are inf or nan.

    >>> from lowrank_rnn.motifs import MotifEnsemble
    >>> chi = population_response(MotifEnsemble.ei(800, 200, 0.65, 1.65, g=0.1, chain=0.06))
    >>> round(float(chi[1, 1]), 3)     # inhibitory response to input into I: paradoxical (< 0)
    -0.093
    """
    ens = _check(ens)
    P = ens.n_populations
    if method == "effective":
        W = effective_connectivity(ens)
        A = np.eye(P) - W
        with np.errstate(all="ignore"):
            return _safe_inv(A)
    if method != "resolvent":
        raise ArgumentError(f"method must be 'resolvent' or 'effective', got {method!r}")
    M = low_rank_operator(ens)
    D, _ = _residual_coupling(ens)
    g, _ = _resolvent(np.ones(ens.batch_shape + (1,)), D)
    g = g[..., 0, :].real if np.all(np.abs(g.imag) < 1e-12) else g[..., 0, :]
    gg = np.concatenate([g, g], axis=-1)
    A = np.eye(2 * P) - M * gg[..., None, :]
    with np.errstate(all="ignore"):
        inv = _safe_inv(A)
    full = gg[..., :, None] * inv
    return full[..., :P, :P]


def _safe_inv(A: np.ndarray) -> np.ndarray:
    """Inverse where the matrix is regular, NaN where it is singular (to rounding)."""
    n = A.shape[-1]
    cond = np.linalg.cond(A)
    bad = ~np.isfinite(cond) | (cond > 1e12)
    safe = np.where(bad[..., None, None], np.eye(n), A)
    inv = np.linalg.inv(safe)
    return np.where(bad[..., None, None], np.nan, inv)


def paradoxical(ens: MotifEnsemble, *, excitatory: str = "E") -> np.ndarray:
    """Return where the inhibitory response to input into I is predicted negative (bool, ``(...)``).

    For two populations in a stable network, ``chi_II = (1 - W_eff,EE) / det(I - W_eff)``, so the
    response is paradoxical exactly when ``W_eff,EE = J_E + N_E [Z^2]_EE > 1`` (Shao et al. 2025;
    the inhibition-stabilised criterion applied to the effective E -> E coupling). Unstable grid
    points give False.

    Examples
    --------
    The sign of chi_II flips at ``tau* = 0.04375`` (:func:`paradoxical_chain_strength`):

    >>> from lowrank_rnn.motifs import MotifEnsemble
    >>> [bool(paradoxical(MotifEnsemble.ei(800, 200, 0.65, 1.65, g=0.1, chain=t))) for t in (0.03, 0.06)]
    [False, True]
    """
    ens = _check(ens)
    if ens.n_populations != 2:
        raise ArgumentError("paradoxical needs two populations (E and I)")
    if excitatory not in ens.populations:
        raise ArgumentError(f"excitatory must name a population of {ens.populations}, got {excitatory!r}")
    e = ens.populations.index(excitatory)
    W = effective_connectivity(ens)
    return (W[..., e, e] > 1.0) & is_stable(ens)


# ---------------------------------------------------------------------- homogeneous closed forms
def homogeneous_outliers(lambda0, S) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(lambda_+, lambda_-) = lambda0/2 +- sqrt(lambda0^2/4 + S)`` (complex where
    ``lambda0^2/4 + S < 0``), the outliers of a unit-rank mean with eigenvalue ``lambda0`` and
    homogeneous chain motifs, ``S = N g^2 tau`` (Shao et al. 2025).

    >>> lp, lm = homogeneous_outliers(-1.0, 1000 * 0.2**2 * 0.05)
    >>> round(float(lp.real), 9), round(float(lm.real), 9)     # lambda_+ = 1: the stability boundary
    (1.0, -2.0)
    """
    lambda0 = np.asarray(lambda0, float)
    root = np.sqrt(np.asarray(lambda0**2 / 4 + np.asarray(S, float), complex))
    return lambda0 / 2 + root, lambda0 / 2 - root


def critical_chain_strength(N: int, g, lambda0):
    """Return ``tau_c = (1 - lambda0) / (N g^2)``: the homogeneous chain strength at which
    ``lambda_+ = 1`` (Shao et al. 2025; 0.05 for N = 1000, g = 0.2, lambda0 = -1).

    Examples
    --------
    >>> round(float(critical_chain_strength(1000, 0.2, -1.0)), 6)
    0.05
    """
    return (1.0 - np.asarray(lambda0, float)) / (N * np.asarray(g, float) ** 2)


def paradoxical_chain_strength(n_e: int, g, j_e):
    """Return ``tau* = (1 - J_E) / (N_E g^2)``: the homogeneous chain strength beyond which the
    inhibitory response to input into I is negative (``W_eff,EE = J_E + N_E g^2 tau > 1``;
    Shao et al. 2025; 0.04375 for N_E = 800, g = 0.1, J_E = 0.65).

    Examples
    --------
    >>> round(float(paradoxical_chain_strength(800, 0.1, 0.65)), 6)
    0.04375
    """
    return (1.0 - np.asarray(j_e, float)) / (n_e * np.asarray(g, float) ** 2)
