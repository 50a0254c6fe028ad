"""Low-rank approximations of E–I networks with motifs, as objects of the low-rank core.

The outlying eigenvalues of an E–I connectivity with chain motifs come from a finite-rank part
(:func:`~lowrank_rnn.motifs.low_rank_operator`). Keeping only its outlier modes gives a rank-R
network ``J_R = m n^T / N`` (m: right eigenvectors, n: N times the dual left eigenvectors, complex
pairs as their real and imaginary parts), which :func:`lowrank_rnn.simulate` integrates at O(N R)
per step, with any nonlinearity.
"""

from __future__ import annotations

import numpy as np

from .._checks import finite_array, positive_int, real_scalar
from .._ensemble import Ensemble
from .._errors import ArgumentError, ArgumentTypeError
from .._network import Network
from ._ensemble import MotifEnsemble
from ._theory import _outside, _residual_coupling, low_rank_operator

__all__ = ["low_rank_ensemble", "low_rank_network"]


def _real_basis(lam: np.ndarray, right: np.ndarray, dual: np.ndarray, tol: float = 1e-9):
    """Real (m, n^T) factors of ``sum_r lam_r right_r dual_r^T``-type projections.

    ``right``: (K, R) eigenvector columns; ``dual``: (R, K) rows with ``dual @ right = I``.
    Returns ``(m (K, R) real, nT (R, K) real)`` with ``m @ nT = right @ dual`` (real), taking
    complex-conjugate pairs as (real part, imaginary part)."""
    R = len(lam)
    used = np.zeros(R, bool)
    m_cols, n_rows = [], []
    for r in range(R):
        if used[r]:
            continue
        used[r] = True
        if abs(lam[r].imag) <= tol * (1 + abs(lam[r])):
            phase = right[:, r][np.argmax(np.abs(right[:, r]))]
            phase = phase / abs(phase)
            m_cols.append((right[:, r] / phase).real)
            n_rows.append((dual[r] * phase).real)
            continue
        # its conjugate partner
        cand = [s for s in range(R) if not used[s]]
        if not cand:
            raise ArgumentError("a complex outlier was selected without its complex conjugate")
        s = min(cand, key=lambda k: abs(lam[k] - np.conj(lam[r])))
        used[s] = True
        v, w = right[:, r], dual[r]
        # [v, conj v] T = [Re v, Im v] with T = [[1/2, -i/2], [1/2, i/2]]; T^-1 = [[1, 1], [i, -i]]
        m_cols += [v.real, v.imag]
        n_rows += [(w + np.conj(w)).real, (1j * w - 1j * np.conj(w)).real]
    return np.stack(m_cols, 1), np.stack(n_rows, 0)


def low_rank_ensemble(ens: MotifEnsemble, *, include_bulk: bool = False, with_io: bool = True):
    """Return an :class:`~lowrank_rnn.Ensemble` (Gaussian mixture over populations) whose networks
    have the predicted outliers of ``ens``: the outlier modes of its finite-rank part.

    The finite-rank part ``L = J0 + Z_lr`` acts on the basis ``(1_p, xi_p/sqrt(N))`` as ``M_L``
    (:func:`~lowrank_rnn.motifs.low_rank_operator`). Keeping the R eigenmodes of ``M_L`` that lie
    outside the bulk, with right eigenvectors ``c_r`` and dual left ones ``w_r``:

    * ``m_r,i = c_r,p + c_r,P+p xi_i / sqrt(N)`` for ``i`` in population p;
    * ``n_r,j = N [sum_p w_r,p W0_pq / N_q + sum_p w_r,P+p sigma_pq a_pq]
      + sqrt(N) [sum_p w_r,p sigma_pq b_pq] eta_j`` for ``j`` in q,

    with ``Corr(xi, eta) = rho_q`` in each population, so ``E[n_r m_s] = `` the outliers
    (complex pairs as real 2 x 2 blocks) and the per-neuron loadings are Gaussian within each
    population. ``m`` columns are scaled to unit mean square. With ``with_io`` the ensemble has one
    input ``I_q = 1_q`` and one readout ``w_q = (N/N_q) 1_q`` (population mean) per population.
    ``include_bulk`` sets ``g`` to the residual bulk radius ``sqrt(rho(V))`` (reciprocity and
    population differences of the residual are not represented).

    The ensemble is specific to the sizes of ``ens`` (chain effects grow with N).

    >>> from lowrank_rnn.motifs import MotifEnsemble
    >>> lr = low_rank_ensemble(MotifEnsemble.ei(800, 200, 0.65, 1.65, g=0.2, chain=0.02))
    >>> np.round(np.sort(np.linalg.eigvals(np.asarray(lr.overlap)).real), 3).tolist()
    [-1.525, 0.525]
    """
    if not isinstance(ens, MotifEnsemble):
        raise ArgumentTypeError(f"ens must be a MotifEnsemble, got {type(ens).__name__}")
    if ens.batch_shape:
        raise ArgumentError("low_rank_ensemble needs a single ensemble; index the grid first, e.g. ens[0]")
    P, N = ens.n_populations, ens.N
    n_q = np.asarray(ens.sizes, float)
    M = low_rank_operator(ens)
    lam, C = np.linalg.eig(M)
    D, V = _residual_coupling(ens)
    keep = _outside(lam, D, V) & (np.abs(lam) > 1e-12)
    if not np.any(keep):
        raise ArgumentError("this ensemble has no outlier outside the bulk: its low-rank approximation is empty")
    Winv = np.linalg.inv(C)  # rows: dual left eigenvectors (M assumed diagonalisable on its outliers)
    Cm, Wn = _real_basis(lam[keep], C[:, keep], Winv[keep])
    R = Cm.shape[1]
    # loadings per population q: m = mean_m + coef_xi * xi ; n = mean_n + coef_eta * eta
    mean_m = Cm[:P].T  # (R, P)
    xi_m = Cm[P:].T / np.sqrt(N)
    W0, s, a, b = ens.couplings, ens.sigma, ens.conv_loading, ens.div_loading
    mean_n = N * (Wn[:, :P] @ (W0 / n_q[None, :]) + Wn[:, P:] @ (s * a))  # (R, P)
    eta_n = np.sqrt(N) * (Wn[:, :P] @ (s * b))
    # scale m to unit mean square (weights = population fractions)
    ms = np.sqrt(np.einsum("q,rq->r", ens.fractions, mean_m**2 + xi_m**2))
    ms = np.where(ms > 0, ms, 1.0)
    mean_m, xi_m = mean_m / ms[:, None], xi_m / ms[:, None]
    mean_n, eta_n = mean_n * ms[:, None], eta_n * ms[:, None]
    names = [f"m{r + 1}" for r in range(R)] + [f"n{r + 1}" for r in range(R)]
    if with_io:
        names += [f"I{q + 1}" for q in range(P)] + [f"w{q + 1}" for q in range(P)]
    Pn = len(names)
    means = np.zeros((P, Pn))
    covs = np.zeros((P, Pn, Pn))
    for q in range(P):
        means[q, :R] = mean_m[:, q]
        means[q, R:2 * R] = mean_n[:, q]
        if with_io:
            means[q, 2 * R + q] = 1.0
            means[q, 2 * R + P + q] = N / n_q[q]
        L = np.zeros((Pn, 2))  # loadings on (xi, eta)
        L[:R, 0] = xi_m[:, q]
        L[R:2 * R, 1] = eta_n[:, q]
        rho = float(ens.latent_corr[q])
        covs[q] = L @ np.array([[1.0, rho], [rho, 1.0]]) @ L.T
    g = float(np.sqrt(np.max(np.abs(np.linalg.eigvals(V))))) if include_bulk else 0.0
    return Ensemble(names=names, mean=means, cov=covs, g=g, weights=ens.fractions)


def low_rank_network(J, *, rank: int | None = None, bulk_radius: float | None = None, population=None,
                     nonlinearity: str = "linear", keep_bulk: bool = False):
    """Return the low-rank :class:`~lowrank_rnn.Network` made of the outlier eigenvectors of a matrix.

    ``J_R = sum_r lambda_r v_r l_r^T`` over the selected eigenvalues (right eigenvectors ``v_r``,
    left ones ``l_r`` with ``l_r^T v_s = delta_rs``), written as ``m n^T / N`` with ``m`` the right
    eigenvectors (real and imaginary parts for a complex pair, unit mean square) and
    ``n = N (lambda l)``. Selected are the ``rank`` eigenvalues of largest modulus (a complex pair
    counts two) or, with ``bulk_radius``, those of modulus above it. With ``population`` the
    network gets an input ``1_q`` and a readout ``(N/N_q) 1_q`` (population mean) per population.
    ``keep_bulk`` keeps ``J - J_R`` as the network's dense bulk (then ``J`` is exact). O(N^3).

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn.motifs import MotifEnsemble
    >>> J = MotifEnsemble.ei(320, 80, 0.65, 1.65, g=0.3162, chain=0.06).sample(key=jax.random.key(0))
    >>> net = low_rank_network(J, rank=2)          # the two outliers, as a rank-2 Network
    >>> net.N, net.rank, np.round(np.sort(np.linalg.eigvals(net.overlap).real), 1).tolist()
    (400, 2, [-2.1, 1.1])
    """
    import jax.numpy as jnp
    import scipy.linalg

    J = finite_array("J", J, ndim=2)
    N = J.shape[0]
    if J.shape != (N, N):
        raise ArgumentError(f"J must be square, got shape {J.shape}")
    if (rank is None) == (bulk_radius is None):
        raise ArgumentError("give exactly one of rank (number of outliers) and bulk_radius")
    lam, vl, vr = scipy.linalg.eig(J, left=True, right=True)
    order = np.argsort(-np.abs(lam))
    if rank is not None:
        rank = positive_int("rank", rank)
        if rank > N:
            raise ArgumentError(f"rank must be <= N = {N}, got {rank}")
        sel = list(order[:rank])
        last = lam[sel[-1]]
        if abs(last.imag) > 1e-9 * (1 + abs(last)):
            partner = order[rank] if rank < N else None
            if partner is None or abs(lam[partner] - np.conj(last)) > 1e-6 * (1 + abs(last)):
                raise ArgumentError(f"rank = {rank} would split a complex-conjugate pair of eigenvalues; use {rank + 1}")
            sel.append(partner)
    else:
        r = real_scalar("bulk_radius", bulk_radius, low=0.0)
        sel = [k for k in order if abs(lam[k]) > r]
        if not sel:
            raise ArgumentError(f"no eigenvalue of J lies outside bulk_radius = {r}")
    sel = np.array(sel)
    V = vr[:, sel]
    Lh = vl[:, sel].conj().T  # rows l^H with l^H J = lambda l^H
    G = Lh @ V
    dual = np.linalg.solve(G, Lh)  # dual @ V = I
    dual = lam[sel][:, None] * dual
    m, nT = _real_basis(lam[sel], V, dual)
    scale = np.sqrt(np.mean(m**2, axis=0))
    m, nT = m / scale, nT * scale[:, None]
    n = N * nT.T
    kw = {}
    if population is not None:
        pop = np.asarray(population)
        if pop.shape != (N,):
            raise ArgumentError(f"population must have shape ({N},), got {pop.shape}")
        P = int(pop.max()) + 1
        onehot = (pop[:, None] == np.arange(P)[None, :]).astype(float)
        kw = dict(inputs=onehot, readouts=onehot * (N / onehot.sum(0))[None, :], population=jnp.asarray(pop))
    bulk = None
    if keep_bulk:
        bulk = J - m @ n.T / N
        kw["g"] = float(np.std(bulk) * np.sqrt(N))
    return Network(m=m, n=n, bulk=bulk, nonlinearity=nonlinearity, dtype=jnp.float32, **kw)
