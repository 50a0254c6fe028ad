"""Descriptions of excitatory–inhibitory networks with pairwise connectivity motifs.

A :class:`MotifEnsemble` describes the distribution of an N x N connectivity ``J = J0 + Z`` split
into populations (E and I by default; any number P is allowed) (Shao, Dahmen, Recanatesi,
Shea-Brown & Ostojic, "Identifying the impact of local connectivity patterns on dynamics in
excitatory-inhibitory networks", arXiv 2411.06802, PRX Life 3:023008, 2025):

* the mean ``J0_ij = W0_pq / N_q`` for ``i`` in population ``p`` and ``j`` in ``q``: ``W0`` holds the
  population-summed mean couplings (for E–I networks ``W0 = [[J_E, -J_I], [J_E, -J_I]]``, whose
  one non-zero eigenvalue is ``lambda0 = J_E - J_I``);
* the fluctuations, Gaussian, built from one pair of latent variables per neuron
  (``xi_i`` "in", ``eta_i`` "out", unit variance, ``Corr(xi_i, eta_i) = rho_q`` for ``i`` in ``q``)::

      z_ij = sigma_pq / sqrt(N) [ a_pq xi_i + b_pq eta_j + sqrt(1 - a_pq^2 - b_pq^2) x_ij ]

  with ``x_ij`` i.i.d. standard Gaussian except for an optional reciprocal correlation
  ``Corr(x_ij, x_ji) = kappa_pq``. ``a_pq^2`` and ``b_pq^2`` are the ``tc_pq`` and ``td_pq`` of the
  issue; signed loadings ``a, b`` (rather than ``sqrt(tc), sqrt(td)``) let cell-type-specific chain
  motifs of either sign be described, including the sign flips that E/I weight signs impose.

``sigma_pq`` is the weight standard deviation times ``sqrt(N)`` (the ``g`` of Shao et al. for the
homogeneous case). The motif statistics (correlation coefficients of weights sharing a neuron)
follow in closed form, see :meth:`MotifEnsemble.statistics`; the paper's homogeneous construction
``z_ij = g/sqrt(N) [sqrt(tau)(eta_i + eta_j) + sqrt(1 - 2 tau) x_ij]`` (chain = convergent =
divergent = tau, reciprocal = 2 tau) is ``a = b = sqrt(tau)``, ``rho = 1``, ``kappa = 0``.

Every parameter array may carry leading batch dimensions (a grid of motif strengths); the theory in
:mod:`lowrank_rnn.motifs` is vectorised over them. The population sizes are fixed.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._checks import finite_array, real_scalar
from .._errors import ArgumentError, ArgumentTypeError
from .._network import Network
from ._gaussian import sample_gaussian
from ._statistics import MotifStatistics

__all__ = ["MotifEnsemble"]

_TOL = 1e-12


def _sizes(sizes: Any) -> tuple[int, ...]:
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or len(sizes) == 0:
        raise ArgumentTypeError("sizes must be a non-empty sequence of population sizes, e.g. (800, 200)")
    out = []
    for k, s in enumerate(sizes):
        if isinstance(s, bool) or not isinstance(s, (numbers.Integral, np.integer)):
            raise ArgumentTypeError(f"sizes[{k}] must be an integer, got {type(s).__name__}")
        if s < 1:
            raise ArgumentError(f"sizes[{k}] must be >= 1, got {s}")
        out.append(int(s))
    return tuple(out)


def _array(name: str, value: Any, tail: tuple[int, ...]) -> np.ndarray:
    arr = finite_array(name, value)
    nt = len(tail)
    if arr.ndim < nt or arr.shape[arr.ndim - nt:] != tail:
        raise ArgumentError(f"{name} must have shape (..., {', '.join(map(str, tail))}), got {arr.shape}")
    return arr


def _bcast(name: str, value: Any) -> np.ndarray:
    """A scalar or array statistic for broadcasting over a grid."""
    arr = finite_array(name, value)
    return arr


class MotifEnsemble:
    """Statistics of an E–I (or P-population) connectivity with pairwise motifs; no randomness.

    ``J_ij = W0_pq / N_q + sigma_pq / sqrt(N) [a_pq xi_i + b_pq eta_j + c_pq x_ij]``,
    ``c_pq = sqrt(1 - a_pq^2 - b_pq^2)``, i in population p, j in q (Shao et al. 2025,
    arXiv 2411.06802; module docstring).

    Parameters
    ----------
    sizes: population sizes ``(N_1, ..., N_P)``, e.g. ``(800, 200)``; neurons are ordered by population.
    couplings: ``W0``, shape ``(..., P, P)``: population-summed mean coupling onto p from q.
    sigma: weight standard deviation times ``sqrt(N)``, shape ``(..., P, P)``, ``>= 0``.
    conv_loading: ``a``, shape ``(..., P, P)``: loading of the postsynaptic latent ``xi_i``
        (convergent motifs: ``a_pq a_pq'``).
    div_loading: ``b``, shape ``(..., P, P)``: loading of the presynaptic latent ``eta_j``
        (divergent motifs: ``b_pq b_p'q``). ``a_pq^2 + b_pq^2 <= 1``.
    latent_corr: ``rho``, shape ``(..., P)``: ``Corr(xi_i, eta_i)`` within each population
        (chain motifs: ``b_pq a_qr rho_q``), ``|rho| <= 1``.
    iid_reciprocal: ``kappa``, shape ``(..., P, P)``, symmetric, ``|kappa| <= 1``: reciprocal
        correlation of the i.i.d. parts ``x_ij, x_ji`` (0 by default).
    populations: population names, ``("E", "I")`` by default for two populations.

    Examples
    --------
    >>> ens = MotifEnsemble.ei(n_e=800, n_i=200, j_e=0.65, j_i=1.65, g=0.2, chain=0.02)
    >>> st = ens.statistics()
    >>> round(float(st.pooled["chain"]), 6), round(float(st.pooled["reciprocal"]), 6)
    (0.02, 0.04)
    """

    def __init__(self, sizes, couplings, sigma, conv_loading=0.0, div_loading=0.0, latent_corr=0.0,
                 iid_reciprocal=0.0, populations: Sequence[str] | None = None):
        self.sizes = _sizes(sizes)
        P = len(self.sizes)
        W0 = _array("couplings", couplings, (P, P))
        sigma = _array("sigma", sigma, (P, P))
        a = finite_array("conv_loading", conv_loading)
        b = finite_array("div_loading", div_loading)
        rho = finite_array("latent_corr", latent_corr)
        kappa = finite_array("iid_reciprocal", iid_reciprocal)
        if a.ndim == 0:
            a = np.full((P, P), float(a))
        if b.ndim == 0:
            b = np.full((P, P), float(b))
        if rho.ndim == 0:
            rho = np.full((P,), float(rho))
        if kappa.ndim == 0:
            kappa = np.full((P, P), float(kappa))
        a = _array("conv_loading", a, (P, P))
        b = _array("div_loading", b, (P, P))
        rho = _array("latent_corr", rho, (P,))
        kappa = _array("iid_reciprocal", kappa, (P, P))
        try:
            batch = np.broadcast_shapes(W0.shape[:-2], sigma.shape[:-2], a.shape[:-2], b.shape[:-2],
                                        rho.shape[:-1], kappa.shape[:-2])
        except ValueError:
            raise ArgumentError(
                "the batch (leading) dimensions of couplings, sigma, conv_loading, div_loading, "
                f"latent_corr and iid_reciprocal do not broadcast: {W0.shape}, {sigma.shape}, {a.shape}, "
                f"{b.shape}, {rho.shape}, {kappa.shape}") from None
        if np.any(sigma < 0):
            raise ArgumentError(f"sigma must be >= 0 (a standard deviation), got min {sigma.min():.4g}")
        s2 = a**2 + b**2
        if np.any(s2 > 1 + _TOL):
            idx = np.unravel_index(np.argmax(s2), s2.shape)
            p, q = idx[-2], idx[-1]
            raise ArgumentError(
                f"infeasible block ({p}, {q}): convergent + divergent parts conv_loading^2 + "
                f"div_loading^2 = {s2[idx]:.6g} must be <= 1 (they and the i.i.d. part share the "
                "unit variance of a weight)")
        if np.any(np.abs(rho) > 1 + _TOL):
            raise ArgumentError(f"latent_corr must lie in [-1, 1] (a correlation), got {rho.ravel().tolist()}")
        if np.any(np.abs(kappa) > 1 + _TOL):
            raise ArgumentError("iid_reciprocal must lie in [-1, 1] (a correlation), got max |kappa| = "
                             f"{np.abs(kappa).max():.6g}")
        if np.any(np.abs(kappa - np.swapaxes(kappa, -1, -2)) > 1e-12):
            raise ArgumentError("iid_reciprocal must be symmetric: kappa_pq = Corr(x_ij, x_ji) = kappa_qp")
        if populations is None:
            populations = ("E", "I") if P == 2 else tuple(f"P{k}" for k in range(P))
        populations = tuple(str(x) for x in populations)
        if len(populations) != P or len(set(populations)) != P:
            raise ArgumentError(f"populations must be {P} distinct names, got {populations}")
        self.populations = populations
        self.batch_shape = tuple(batch)
        bc = lambda x, tail: np.broadcast_to(x, self.batch_shape + tail).copy()  # noqa: E731
        self.couplings = bc(W0, (P, P))
        self.sigma = bc(sigma, (P, P))
        self.conv_loading = bc(a, (P, P))
        self.div_loading = bc(b, (P, P))
        self.latent_corr = bc(np.clip(rho, -1.0, 1.0), (P,))
        self.iid_reciprocal = bc(np.clip(kappa, -1.0, 1.0), (P, P))
        for arr in (self.couplings, self.sigma, self.conv_loading, self.div_loading, self.latent_corr,
                    self.iid_reciprocal):
            arr.flags.writeable = False

    # ------------------------------------------------------------------ constructors
    @classmethod
    def homogeneous(cls, sizes, couplings, g, *, chain=0.0, reciprocal=None, convergent=None,
                    divergent=None, populations=None) -> MotifEnsemble:
        """Return the ensemble whose four motif statistics and weight s.d. are equal in every block.

        Solves ``a = sqrt(convergent)``, ``b = sqrt(divergent)``, ``rho = chain / sqrt(a^2 b^2)``,
        ``kappa = (reciprocal - 2 chain) / (1 - convergent - divergent)`` (module docstring). Left
        out, ``convergent = divergent = |chain|`` and ``reciprocal = 2 chain``: the construction of
        Shao et al. (2025), ``z_ij = g/sqrt(N)[sqrt(tau)(eta_i + eta_j) + sqrt(1 - 2 tau) x_ij]``.
        Every statistic may be an array (a grid); they broadcast together.

        Raises ValueError naming the bound that fails: ``convergent, divergent >= 0``,
        ``convergent + divergent <= 1``, ``|chain| <= sqrt(convergent * divergent)`` (a row sum and
        a column sum through the same neuron have a correlation of at most one; Zhao et al. 2011),
        and ``|reciprocal - 2 chain| <= 1 - convergent - divergent``.
        """
        sizes = _sizes(sizes)
        P = len(sizes)
        g = _bcast("g", g)
        if np.any(g < 0):
            raise ArgumentError(f"g must be >= 0 (weight s.d. times sqrt(N)), got {g.min():.4g}")
        chain = _bcast("chain", chain)
        con = np.abs(chain) if convergent is None else _bcast("convergent", convergent)
        div = np.abs(chain) if divergent is None else _bcast("divergent", divergent)
        rec = 2 * chain if reciprocal is None else _bcast("reciprocal", reciprocal)
        a, b, rho, kappa = _solve_homogeneous(con, div, chain, rec)
        W0 = _array("couplings", couplings, (P, P))
        ex = lambda x: np.asarray(x)[..., None, None] * np.ones((P, P))  # noqa: E731
        return cls(sizes, W0, ex(g), ex(a), ex(b), np.asarray(rho)[..., None] * np.ones(P), ex(kappa),
                   populations=populations)

    @classmethod
    def ei(cls, n_e: int, n_i: int, j_e, j_i, g, *, chain=0.0, reciprocal=None, convergent=None,
           divergent=None) -> MotifEnsemble:
        """Return the homogeneous E–I ensemble: ``W0 = [[J_E, -J_I], [J_E, -J_I]]``, weight s.d.
        ``g / sqrt(N)`` in every block, and the same four motif statistics everywhere.

        ``J_E, J_I`` are population-summed (``J0_ij = J_E / N_E`` for E columns, ``-J_I / N_I``
        for I columns), so the mean connectivity has rank one with eigenvalue ``J_E - J_I``
        (Shao et al. 2025, Figs 2, 5-7: ``N_E = 800, N_I = 200, J_E = 0.65, J_I = 1.65``).
        See :meth:`homogeneous` for the defaults and bounds of the statistics.

        >>> ens = MotifEnsemble.ei(800, 200, 0.65, 1.65, g=0.2, chain=0.05)
        >>> ens.sizes, float(ens.latent_corr[0])
        ((800, 200), 1.0)
        """
        j_e = _bcast("j_e", j_e)
        j_i = _bcast("j_i", j_i)
        W0 = np.stack([np.stack([j_e, -j_i], -1)] * 2, -2)
        return cls.homogeneous((n_e, n_i), W0, g, chain=chain, reciprocal=reciprocal,
                               convergent=convergent, divergent=divergent)

    @classmethod
    def cell_type_chains(cls, sizes, couplings, sigma, chain, *, signs=None,
                         populations=None) -> MotifEnsemble:
        """Return an ensemble with population-specific chain motifs ``chain[X, Y]`` for
        ``X -> Y -> (any)`` (X the first presynaptic, Y the intermediate population).

        Construction (one latent pair per neuron, ``xi = eta``, i.e. ``rho = 1``): for the
        intermediate population Y, ``b_pY = sqrt(max_X |chain[X, Y]|)`` for every p and
        ``a_YX = chain[X, Y] / b_pY``, so that ``Corr(z_ij, z_jk) = b a = chain[X, Y]`` for
        ``k in X, j in Y`` and any ``i``; this reduces to the authors' homogeneous construction
        when all entries are equal. ``signs`` (one per population, ``+1`` or ``-1``) multiplies the
        fluctuation of each presynaptic column, turning unit-level statistics into weight-level
        ones (as in the Gaussian approximation of sparse E–I networks, Shao et al. 2025, Fig. 11).

        >>> ens = MotifEnsemble.cell_type_chains((80, 20), [[1, -1], [1, -1]], [[1, 1], [1, 1]],
        ...                                      [[0.1, -0.05], [0.0, 0.1]])
        >>> np.round(ens.statistics().chain[0, :, :], 6).tolist()   # chain[p=E, Y, X] = chain[X, Y]
        [[0.1, 0.0], [-0.05, 0.1]]
        """
        sizes = _sizes(sizes)
        P = len(sizes)
        tau = _array("chain", chain, (P, P))
        tau_yx = np.swapaxes(tau, -1, -2)  # [Y, X]
        b_y = np.sqrt(np.max(np.abs(tau_yx), axis=-1))  # (..., Y)
        if np.any(b_y**2 > 0.5 + _TOL):
            raise ArgumentError("chain: this construction needs max |chain[X, Y]| <= 0.5 for every Y "
                             f"(got {b_y.max() ** 2:.4g}) so that convergent + divergent <= 1")
        with np.errstate(invalid="ignore", divide="ignore"):
            a_yx = np.where(b_y[..., None] > 0, tau_yx / np.where(b_y[..., None] > 0, b_y[..., None], 1), 0.0)
        b = np.broadcast_to(b_y[..., None, :], b_y.shape[:-1] + (P, P))  # b[p, Y] = b_Y
        a = a_yx  # a[Y, X]
        sgn = np.ones(P) if signs is None else finite_array("signs", signs, ndim=1)
        if sgn.shape != (P,) or not np.all(np.isin(sgn, (-1.0, 1.0))):
            raise ArgumentError(f"signs must hold {P} entries, each +1 or -1, got {np.asarray(signs).tolist()}")
        return cls(sizes, couplings, sigma, a * sgn, b * sgn, 1.0, 0.0, populations=populations)

    @classmethod
    def from_sparse(cls, n_e: int, n_i: int, c, J, inh_ratio, *, chain=0.0, reciprocal=None,
                    convergent=None, divergent=None) -> MotifEnsemble:
        """Return the Gaussian approximation of a sparse E–I network with adjacency-level motifs.

        The network has ``w_ij = s_j A_ij`` with ``P(A_ij = 1) = c``, ``s_j = J`` for E columns and
        ``-inh_ratio * J`` for I columns (``inh_ratio`` is the ``g`` of Shao et al. 2025, Figs 3, 4,
        8-11). Hence ``J_E = J c N_E``, ``J_I = inh_ratio J c N_I`` and the weight s.d.
        ``|s_q| sqrt(c (1 - c))``. The motif statistics are those of the binary adjacency A
        (``tau = alpha c / (1 - c)`` for the SONET parameter ``alpha``); at the weight level a motif
        through one E and one I presynaptic column changes sign.

        ``chain`` is a number (homogeneous adjacency statistics, defaults as in
        :meth:`homogeneous`) or a mapping ``{"EE": .., "EI": .., "IE": .., "II": ..}`` of
        population-specific chains ``X -> Y -> (any)`` keyed ``XY`` (see :meth:`cell_type_chains`;
        then ``reciprocal``, ``convergent`` and ``divergent`` must be left out).

        >>> ens = MotifEnsemble.from_sparse(1200, 300, c=0.2, J=0.00325, inh_ratio=6.0, chain=0.1)
        >>> np.round(ens.couplings, 4).tolist()
        [[0.78, -1.17], [0.78, -1.17]]
        """
        c = real_scalar("c", c, low=0.0, high=1.0, low_open=True, high_open=True)
        J = real_scalar("J", J, low=0.0, low_open=True)
        inh_ratio = real_scalar("inh_ratio", inh_ratio, low=0.0, low_open=True)
        sizes = _sizes((n_e, n_i))
        N = sum(sizes)
        s = np.array([J, -inh_ratio * J])
        W0 = np.tile((s * c * np.array(sizes))[None, :], (2, 1))
        sig = np.tile((np.abs(s) * np.sqrt(c * (1 - c) * N))[None, :], (2, 1))
        sgn = np.sign(s)
        if isinstance(chain, Mapping):
            if not (reciprocal is None and convergent is None and divergent is None):
                raise ArgumentError("with population-specific chains (a mapping), leave reciprocal, convergent "
                                 "and divergent out: the construction sets them (see cell_type_chains)")
            keys = {"EE", "EI", "IE", "II"}
            if set(chain) - keys:
                raise ArgumentError(f"chain: unknown keys {sorted(set(chain) - keys)}; allowed are {sorted(keys)} "
                                 "(X -> Y -> any, keyed 'XY')")
            idx = {"E": 0, "I": 1}
            vals = {k: _bcast(f"chain[{k!r}]", chain.get(k, 0.0)) for k in keys}
            shape = np.broadcast_shapes(*(v.shape for v in vals.values()))
            tau = np.zeros(shape + (2, 2))
            for k, v in vals.items():
                tau[..., idx[k[0]], idx[k[1]]] = v
            return cls.cell_type_chains(sizes, W0, sig, tau, signs=sgn)
        unit = cls.homogeneous(sizes, W0, 1.0, chain=chain, reciprocal=reciprocal, convergent=convergent,
                               divergent=divergent)
        return cls(sizes, W0, sig, unit.conv_loading * sgn, unit.div_loading * sgn, unit.latent_corr,
                   unit.iid_reciprocal * sgn[:, None] * sgn[None, :])

    # ------------------------------------------------------------------ basic properties
    @property
    def n_populations(self) -> int:
        """P, the number of populations."""
        return len(self.sizes)

    @property
    def N(self) -> int:
        """The total number of neurons."""
        return int(sum(self.sizes))

    @property
    def fractions(self) -> np.ndarray:
        """``N_q / N`` for each population, shape ``(P,)``."""
        return np.asarray(self.sizes, float) / self.N

    @property
    def population(self) -> np.ndarray:
        """The population index of every neuron, shape ``(N,)`` (populations in contiguous blocks)."""
        return np.repeat(np.arange(self.n_populations), self.sizes)

    @property
    def iid_loading(self) -> np.ndarray:
        """``c_pq = sqrt(1 - a_pq^2 - b_pq^2)``, the loading of the i.i.d. part, ``(..., P, P)``."""
        return np.sqrt(np.clip(1.0 - self.conv_loading**2 - self.div_loading**2, 0.0, None))

    @property
    def mean_eigenvalue(self) -> np.ndarray:
        """The eigenvalues of ``W0`` (those of the mean connectivity J0), ``(..., P)`` complex;
        for E–I, ``[J_E - J_I, 0]`` up to order."""
        return np.linalg.eigvals(self.couplings)

    def __getitem__(self, index) -> MotifEnsemble:
        """Return the ensemble at one grid point (or a sub-grid) of the batch dimensions."""
        if not self.batch_shape:
            raise IndexError("this ensemble has no batch dimensions to index")
        if not isinstance(index, tuple):
            index = (index,)
        pick = lambda x, tail: x[index + (slice(None),) * tail]  # noqa: E731
        return MotifEnsemble(self.sizes, pick(self.couplings, 2), pick(self.sigma, 2),
                             pick(self.conv_loading, 2), pick(self.div_loading, 2), pick(self.latent_corr, 1),
                             pick(self.iid_reciprocal, 2), populations=self.populations)

    # ------------------------------------------------------------------ statistics
    def statistics(self) -> MotifStatistics:
        """Return the motif statistics of this ensemble (correlation coefficients of weights).

        With ``i in p, j in q, k in r`` distinct (Shao et al. 2025; module docstring):

        * reciprocal ``[p, q] = Corr(w_ij, w_ji) = a_pq b_qp rho_p + b_pq a_qp rho_q + kappa_pq c_pq c_qp``;
        * convergent ``[p, q, r] = Corr(w_ij, w_ik) = a_pq a_pr``;
        * divergent ``[q, p, r] = Corr(w_ij, w_kj) = b_pq b_rq`` (shared presynaptic j in q first);
        * chain ``[p, q, r] = Corr(w_ij, w_jk) = b_pq a_qr rho_q`` (k -> j -> i).

        The pooled statistics weight each block by its number of motifs, as the estimator
        :func:`~lowrank_rnn.motifs.motif_statistics` does on a sampled matrix.
        """
        a, b, rho, kap, c = (self.conv_loading, self.div_loading, self.latent_corr, self.iid_reciprocal,
                             self.iid_loading)
        aT, bT, cT = (np.swapaxes(x, -1, -2) for x in (a, b, c))
        rec = a * bT * rho[..., :, None] + b * aT * rho[..., None, :] + kap * c * cT
        con = a[..., :, :, None] * a[..., :, None, :]
        div = np.einsum("...pq,...rq->...qpr", b, b)
        chn = b[..., :, :, None] * a[..., None, :, :] * rho[..., None, :, None]
        return MotifStatistics.from_blocks(self.sizes, rec, con, div, chn, sigma=self.sigma,
                                           couplings=self.couplings, populations=self.populations)

    # ------------------------------------------------------------------ sampling
    def sample(self, *, key, standardize: bool = True) -> np.ndarray:
        """Return one connectivity matrix ``J = J0 + Z`` drawn from this ensemble, ``(N, N)`` float64.

        ``J[i, j]`` is the weight from j onto i; neurons are ordered by population
        (:attr:`population`). With ``standardize`` (default, as Shao et al. do) the latent vectors
        are centred, scaled to unit variance and given the exact correlation ``rho`` within each
        population, which removes the order-one random rank-one terms that their sample means would
        otherwise add (e.g. ``sigma b sqrt(N) mean(eta)`` on the mean eigenvalue).

        >>> import jax
        >>> J = MotifEnsemble.ei(80, 20, 0.65, 1.65, g=0.2, chain=0.05).sample(key=jax.random.key(0))
        >>> J.shape
        (100, 100)
        """
        if self.batch_shape:
            raise ArgumentError(f"sample needs a single ensemble, this one has batch shape {self.batch_shape}; "
                             "index it first, e.g. ens[0]")
        return sample_gaussian(self, key=key, standardize=standardize)

    def sample_network(self, *, key, standardize: bool = True, nonlinearity: str = "linear"):
        """Return a :class:`~lowrank_rnn.Network` holding one sampled E–I connectivity.

        ``J = bulk + m n^T / N`` with the mean part as the low-rank term (``m = 1``,
        ``n_j = N W0_pq / N_q`` when all rows of ``W0`` agree, otherwise one column per
        population) and the fluctuations ``Z`` as the dense ``bulk``. Inputs ``I_q = 1_q`` (unit
        input into population q) and readouts ``w_q = (N / N_q) 1_q`` (population-mean rate).
        """
        import jax.numpy as jnp

        J = self.sample(key=key, standardize=standardize)
        pop = self.population
        W0 = np.asarray(self.couplings)
        col = W0[:, pop] / np.asarray(self.sizes)[pop][None, :]  # (P, N): J0 row of each population
        if np.allclose(W0, W0[:1]):
            m, n = np.ones((self.N, 1)), self.N * col[:1].T
        else:
            m = (pop[:, None] == np.arange(self.n_populations)[None, :]).astype(float)
            n = self.N * col.T
        J0 = m @ n.T / self.N
        onehot = (pop[:, None] == np.arange(self.n_populations)[None, :]).astype(float)
        return Network(m=m, n=n, inputs=onehot, readouts=onehot * (self.N / np.asarray(self.sizes))[None, :],
                       bulk=J - J0, g=float(np.sqrt(np.max(np.abs(np.linalg.eigvals(self._variance_profile()))))),
                       population=jnp.asarray(pop), nonlinearity=nonlinearity, dtype=jnp.float32)

    def _variance_profile(self) -> np.ndarray:
        """``V_pq = (N_q / N) sigma_pq^2 c_pq^2``: variance profile of the i.i.d. residual."""
        return self.fractions * (self.sigma * self.iid_loading) ** 2

    def __repr__(self) -> str:
        batch = f", batch_shape={self.batch_shape}" if self.batch_shape else ""
        return f"MotifEnsemble(sizes={self.sizes}, populations={self.populations}{batch})"


def _solve_homogeneous(con, div, chain, rec):
    """Return loadings (a, b, rho, kappa) realising homogeneous statistics; ValueError naming the bound."""
    con, div, chain, rec = np.broadcast_arrays(*(np.asarray(x, float) for x in (con, div, chain, rec)))

    def fail(mask, msg):
        k = np.flatnonzero(np.ravel(mask))[0]
        vals = {nm: float(np.ravel(v)[k]) for nm, v in
                (("chain", chain), ("reciprocal", rec), ("convergent", con), ("divergent", div))}
        raise ArgumentError(f"infeasible motif statistics {vals}: {msg}")

    if np.any(con < -_TOL):
        fail(con < -_TOL, "convergent must be >= 0 (the variance of a row sum, N^2 sigma^2 convergent / N, "
                          "cannot be negative at large N)")
    if np.any(div < -_TOL):
        fail(div < -_TOL, "divergent must be >= 0 (the variance of a column sum cannot be negative at large N)")
    con, div = np.clip(con, 0, None), np.clip(div, 0, None)
    if np.any(con + div > 1 + _TOL):
        fail(con + div > 1 + _TOL, "convergent + divergent must be <= 1")
    cd = np.sqrt(con * div)
    bad = np.abs(chain) > cd * (1 + 1e-9) + _TOL
    if np.any(bad):
        fail(bad, "|chain| must be <= sqrt(convergent * divergent): the row sum and the column sum through "
                  "one neuron cannot be more than fully correlated (Zhao et al. 2011)")
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(cd > 0, chain / np.where(cd > 0, cd, 1.0), 0.0)
    rest = 1.0 - con - div
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = np.where(rest > _TOL, (rec - 2 * chain) / np.where(rest > _TOL, rest, 1.0), 0.0)
    bad = (np.abs(kappa) > 1 + 1e-9) | ((rest <= _TOL) & (np.abs(rec - 2 * chain) > 1e-9))
    if np.any(bad):
        fail(bad, "|reciprocal - 2 chain| must be <= 1 - convergent - divergent (the i.i.d. remainder carries "
                  "the reciprocal correlation beyond 2 chain)")
    return np.sqrt(con), np.sqrt(div), np.clip(rho, -1, 1), np.clip(kappa, -1, 1)
