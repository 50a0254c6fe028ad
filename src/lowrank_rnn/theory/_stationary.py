"""Stationary (fixed-point) solutions of the mean-field equations of low-rank networks, and their stability.

Mastrogiuseppe & Ostojic 2018, Neuron 99:609, Methods; Beiran et al. 2021, Neural Comput. 33:1572
for mixtures. With the structured mean mu_p, variance Q_p and covariance Cov(n_r, x)_p of
:mod:`~lowrank_rnn.theory._statistics`, a stationary state solves

    kappa_r = sum_p alpha_p { M_{n_r} [phi]_p + [phi']_p Cov(n_r, x)_p },
    d       = g^2 sum_p alpha_p [phi^2]_p,          Delta0_p = d + Q_p,

the averages taken at mean mu_p and variance Delta0_p (the random part g eta_i has the same
variance d in every population, because eta_i sums over all neurons).

Stability of a stationary state x*: the eigenvalues of J diag(phi'(x*)) are a bulk disk of radius
``g sqrt(sum_p alpha_p [phi'^2]_p)`` (the state turns chaotic when it reaches 1), plus outliers,
predicted by linearising the mean-field map (kappa, d) -> (RHS of kappa, g^2 sum alpha [phi^2]).
This generalises the 3 x 3 matrix of Mastrogiuseppe & Ostojic (2018, Methods, in (mu, Delta0,
kappa)): for rank one, one population, it has the same non-zero eigenvalues
(tests/test_meanfield.py checks this).

The Gaussian averages use the trapezoid rule on a fixed grid (:mod:`~lowrank_rnn.theory._averages`).
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import brentq, minimize_scalar

from .._checks import positive_int
from .._ensemble import Ensemble
from ._averages import DEFAULT_NESTED, DEFAULT_NODES, DPHI, DPHI2, PHI, PHI2, Quadrature, check_nodes, dx, pavg, quadrature
from ._precision import float64
from ._rootfind import BestOfSteps, damped_newton, dedupe, pad_rows, polish_batch, safeguarded_newton
from ._statistics import (Statistics, check_ensemble, check_inputs, kappa_bound, n_variances, per_population,
                          solver_statistics, structure)

__all__ = ["StationaryState", "stationary_states"]


def stationary_map(P: Statistics, kappa, d, q: Quadrature):
    """The mean-field map (kappa, d) -> (RHS of the kappa equation, g^2 sum_p alpha_p [phi^2]_p)."""
    mu, Q, Cnx, _ = structure(P, kappa)
    a = pavg((PHI, DPHI, PHI2), mu, d + Q, q.z, q.w)
    rhs = jnp.einsum("c,cr->r", P.alpha, P.Mn * a[:, 0:1] + a[:, 1:2] * Cnx)
    return rhs, P.g**2 * jnp.sum(P.alpha * a[:, 2])


def solve_d(P: Statistics, kappa, q: Quadrature):
    """Largest root d of d = g^2 sum_p alpha_p [phi^2](mu_p, d + Q_p), in [0, g^2].

    h(d) = g^2 sum alpha [phi^2] - d is >= 0 at d = 0 and <= 0 at d = g^2. With no drive
    (mu = Q = 0) and g > 1, d = 0 is also a root (the state x = 0); the bracket then starts just
    above it so that the static heterogeneous root is returned (x = 0 is added separately).
    """
    mu, Q, _, _ = structure(P, kappa)
    g2 = P.g**2

    def h_dh(d):
        a = pavg((PHI2, dx(dx(PHI2))), mu, d + Q, q.z, q.w)
        return g2 * jnp.sum(P.alpha * a[:, 0]) - d, 0.5 * g2 * jnp.sum(P.alpha * a[:, 1]) - 1.0

    undriven = jnp.all((mu == 0) & (Q == 0))
    lo = jnp.where(undriven & (P.g > 1.0), 1e-12 * g2, 0.0)
    d = safeguarded_newton(h_dh, lo, g2, g2, n_iter=60)
    # undriven with g <= 1: g^2 [phi^2](0, d) < d for d > 0, so d = 0 exactly
    return jnp.where(undriven & (P.g <= 1.0), 0.0, d)


def stationary_residual(P: Statistics, x, q: Quadrature):
    """Residual (RHS - kappa, g^2 sum alpha [phi^2] - d) of the stationary equations at x = (kappa, d)."""
    R = P.Mm.shape[1]
    rhs, dn = stationary_map(P, x[:R], x[R], q)
    return jnp.concatenate([rhs - x[:R], (dn - x[R])[None]])


@jax.jit
def _kappa_residual_1d(P: Statistics, kappas, q: Quadrature):
    """F(kappa) = RHS(kappa, d(kappa)) - kappa for rank one, over an array of kappa; and d(kappa)."""

    def one(k):
        kv = k[None]
        d = solve_d(P, kv, q)
        rhs, _ = stationary_map(P, kv, d, q)
        return rhs[0] - k, d

    return jax.vmap(one)(kappas)


def _polish_stationary(P, x0, q):
    return polish_batch(jax.tree_util.Partial(stationary_residual, P, q=q), x0)


@jax.jit
def _stationary_linearisation(P: Statistics, kappa, d, q: Quadrature):
    """Jacobian of the map (kappa, d) -> (RHS, g^2 sum alpha [phi^2]) and the bulk radius."""
    R = P.Mm.shape[1]

    def mapping(x):
        rhs, dn = stationary_map(P, x[:R], x[R], q)
        return jnp.concatenate([rhs, dn[None]])

    jac = jax.jacfwd(mapping)(jnp.concatenate([kappa, d[None]]))
    mu, Q, _, _ = structure(P, kappa)
    radius = P.g * jnp.sqrt(jnp.sum(P.alpha * pavg((DPHI2,), mu, d + Q, q.z, q.w)[:, 0]))
    return jac, radius, mu, d + Q


@dataclasses.dataclass(frozen=True)
class StationaryState:
    """A stationary (fixed-point) solution of the mean-field equations, with its stability.

    Attributes
    ----------
    kappa: latent variables kappa_r, shape ``(R,)``.
    mu: mean of x over the population, ``mu_p = sum_r M_{m_r} kappa_r + sum_k M_{I_k} u_k``: a
        float for one population, an array ``(C,)`` (one per population) for a mixture.
    delta0: variance Delta0 of x across neurons (static heterogeneity, random plus structured part),
        float or ``(C,)`` like ``mu``.
    bulk_radius: radius ``g sqrt(sum_p alpha_p [phi'^2]_p)`` of the bulk of the eigenvalues of
        ``J diag(phi'(x*))``; the state is unstable (turns chaotic) when it exceeds 1.
    outliers: the R + 1 eigenvalues of the linearised mean-field map in (kappa, d), complex, sorted
        by decreasing real part. R of them carry the structure; one carries the variance (at the
        state x = 0 it equals g^2 and lies inside the bulk disk). Only those with ``|lambda| >
        bulk_radius`` stand out of the finite-N spectrum: see :attr:`visible_outliers`.
    stable: ``bulk_radius < 1`` and every outlier has real part < 1 (linear stability of
        ``dx/dt = -x + J phi(x)``, whose Jacobian is ``-1 + J diag(phi'(x*))``).

    Examples
    --------
    >>> from lowrank_rnn import Ensemble
    >>> ens = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=0.5)
    >>> state = stationary_states(ens)[-1]       # the positive one of the two symmetric states
    >>> round(float(state.kappa[0]), 3), state.stable, round(state.bulk_radius, 3)
    (1.225, True, 0.244)
    """

    kappa: np.ndarray
    mu: float | np.ndarray
    delta0: float | np.ndarray
    bulk_radius: float
    outliers: np.ndarray
    stable: bool

    @property
    def visible_outliers(self) -> np.ndarray:
        """The outliers that lie outside the bulk disk (|lambda| > bulk_radius)."""
        return self.outliers[np.abs(self.outliers) > self.bulk_radius]


def _make_stationary(P, kappa, d, q, C) -> StationaryState:
    jac, radius, mu, D0 = _stationary_linearisation(P, jnp.asarray(kappa), jnp.asarray(d), q)
    eig = np.linalg.eigvals(np.asarray(jac))
    eig = eig[np.lexsort((-eig.imag, -eig.real))]
    radius = float(radius)
    stable = bool(radius < 1.0 and np.all(eig.real < 1.0))
    return StationaryState(kappa=np.asarray(kappa, np.float64).copy(), mu=per_population(mu, C),
                           delta0=per_population(D0, C), bulk_radius=radius, outliers=eig, stable=stable)


def _brackets_1d(F: np.ndarray, k: np.ndarray, fun) -> list[tuple[float, float] | float]:
    """Sign changes of F on the grid k (exact zeros returned as points), plus pairs of roots hidden
    between two grid points (a local extremum of F that crosses zero), found by minimising."""
    out: list = []
    s = np.sign(F)
    for i in range(len(k)):
        if F[i] == 0.0:
            out.append(float(k[i]))
    for i in range(len(k) - 1):
        if s[i] * s[i + 1] < 0:
            out.append((float(k[i]), float(k[i + 1])))
    # near-tangent pairs: |F| has a local minimum at k[i] with no sign change around it
    for i in range(1, len(k) - 1):
        if s[i - 1] == s[i] == s[i + 1] != 0 and abs(F[i]) <= abs(F[i - 1]) and abs(F[i]) <= abs(F[i + 1]):
            sg = s[i]
            res = minimize_scalar(lambda x: sg * fun(x), bounds=(k[i - 1], k[i + 1]), method="bounded",
                                  options={"xatol": 1e-12})
            if sg * res.fun < 0:
                out.append((float(k[i - 1]), float(res.x)))
                out.append((float(res.x), float(k[i + 1])))
    return out


def stationary_states(ensemble: Ensemble, inputs=None, *, n_nodes: int = DEFAULT_NODES, n_grid: int = 401,
                      n_starts: int | None = None) -> list[StationaryState]:
    """Return every stationary solution of the mean-field equations, stable and unstable, sorted by kappa.

    Solves (Mastrogiuseppe & Ostojic 2018, Methods; Beiran et al. 2021 for mixtures)

        kappa_r = sum_p alpha_p { M_{n_r} [phi]_p + [phi']_p ( sum_s s_{n_r m_s} kappa_s + sum_k s_{n_r I_k} u_k ) }
        Delta0_p = g^2 sum_q alpha_q [phi^2]_q + Q_p,     mu_p = sum_r M_{m_r} kappa_r + sum_k M_{I_k} u_k

    and reports each state's bulk radius, outliers and stability (see :class:`StationaryState`).

    Method. The variance is eliminated first: for given kappa, d = g^2 sum alpha [phi^2] is the
    largest root in [0, g^2] (unique except with no drive at g > 1, where x = 0, d = 0, is added
    as a state of its own). Rank one: the residual F(kappa) is evaluated on ``n_grid`` points of
    [-B, B], an interval that provably contains every solution (|[phi'] Cov(n, x)| <= sigma_n
    sqrt(2/pi)); every sign change is refined by Brent's method, and pairs of roots closer than the
    grid spacing are caught by minimising |F| between grid points. Rank R > 1: damped Newton from a
    grid of ``n_starts`` starting points in the box |kappa_r| <= B_r (default 9^R, at most 729),
    deduplicated. Limits: for R > 1 a state whose basin of attraction under damped Newton contains no
    start is missed; a continuum of states (a ring attractor) comes back as a finite sample.

    Parameters
    ----------
    ensemble: the :class:`~lowrank_rnn.Ensemble` (any rank, inputs, mixture).
    inputs: tonic amplitudes u_k, one per input vector I1..IK (default: all zero).
    n_nodes: quadrature nodes for the Gaussian averages.
    n_grid: grid points for the rank-one scan.
    n_starts: starting points per dimension for R > 1 (the grid has ``n_starts**R`` points).

    Examples
    --------
    >>> from lowrank_rnn import Ensemble
    >>> ens = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=0.5)
    >>> [(round(float(s.kappa[0]), 4), s.stable) for s in stationary_states(ens)]
    [(-1.2245, True), (0.0, False), (1.2245, True)]
    """
    ensemble = check_ensemble(ensemble)
    u = check_inputs(ensemble, inputs)
    n_nodes, _ = check_nodes(n_nodes, DEFAULT_NESTED)
    n_grid = positive_int("n_grid", n_grid, low=11)
    R, C = ensemble.rank, ensemble.n_populations
    if n_starts is not None:
        n_starts = positive_int("n_starts", n_starts, low=2)
    with float64():
        P = solver_statistics(ensemble, u)
        q = quadrature(n_nodes, DEFAULT_NESTED)
        B = kappa_bound(P, n_variances(ensemble))
        sols: list[np.ndarray] = []  # rows (kappa..., d)
        if R == 1:
            sols = _stationary_rank_one(P, q, float(B[0]), n_grid)
        else:
            sols = _stationary_multistart(P, q, B, n_starts)
        # x = 0 with d = 0 when nothing drives the network and g > 1 (the bracket skipped it)
        zero = jnp.zeros(R)
        mu0, Q0, _, _ = structure(P, zero)
        if ensemble.g > 1.0 and np.all(np.asarray(mu0) == 0) and np.all(np.asarray(Q0) == 0):
            sols.append(np.zeros(R + 1))
        sols = dedupe(sols, 1e-7, relative=True)
        states = [_make_stationary(P, s[:R], s[R], q, C) for s in sols]
    states.sort(key=lambda s: (tuple(s.kappa), float(np.mean(s.delta0))))
    return states


def symmetric_grid(B: float, n: int) -> np.ndarray:
    """n (made odd) points on [-B, B], symmetric, with kappa = 0 exactly a node."""
    pos = np.linspace(0.0, B, n // 2 + 1)[1:]
    return np.concatenate([-pos[::-1], [0.0], pos])


def _stationary_rank_one(P, q, B, n_grid) -> list[np.ndarray]:
    k = symmetric_grid(B, n_grid)
    F, _ = (np.asarray(a) for a in _kappa_residual_1d(P, jnp.asarray(k), q))
    F = np.where(np.abs(F) < 1e-14, 0.0, F)  # an exact root on the grid (kappa = 0 by symmetry)

    def fun(x):
        return float(_kappa_residual_1d(P, jnp.asarray([x]), q)[0][0])

    roots = []
    for br in _brackets_1d(F, k, fun):
        roots.append(br if isinstance(br, float) else brentq(fun, br[0], br[1], xtol=1e-14, rtol=1e-14))
    if not roots:
        return []
    kr, n = pad_rows(np.asarray(roots, np.float64))
    _, d = (np.asarray(a) for a in _kappa_residual_1d(P, jnp.asarray(kr), q))
    x0 = np.stack([kr, d], axis=1)
    x, err = (np.asarray(a) for a in _polish_stationary(P, jnp.asarray(x0), q))
    err0 = np.asarray(_residual_norms(P, jnp.asarray(x0), q))
    out = []
    for i in range(n):
        # keep the polished root only if it improved and Newton stayed on the same branch
        good = (err[i] < err0[i] and err[i] < 1e-10
                and np.max(np.abs(x[i] - x0[i])) < 1e-6 * max(1.0, np.max(np.abs(x0[i]))))
        out.append(x[i] if good else x0[i])
    return out


@jax.jit
def _residual_norms(P, x, q):
    return jax.vmap(lambda xi: jnp.max(jnp.abs(stationary_residual(P, xi, q))))(x)


@partial(jax.jit, static_argnames=("n_iter",))
def _damped_newton_kappa(P, k0, q, n_iter=60):
    """Damped Newton on F(kappa) = RHS(kappa, d(kappa)) - kappa, vmapped over starts; returns kappa,
    |F| and d."""

    def F(k):
        d = solve_d(P, k, q)
        rhs, _ = stationary_map(P, k, d, q)
        return rhs - k

    def one(k):
        k = damped_newton(F, k, n_iter=n_iter, line_search=BestOfSteps())
        return k, jnp.max(jnp.abs(F(k))), solve_d(P, k, q)

    return jax.vmap(one)(k0)


def _start_grid(B: np.ndarray, n_starts: int | None) -> np.ndarray:
    R = len(B)
    if n_starts is None:
        n_starts = max(3, min(9, int(round(729 ** (1.0 / R)))))
    axes = [np.linspace(-b, b, n_starts) * 0.95 for b in B]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, R)
    return np.concatenate([np.zeros((1, R)), grid])


def _stationary_multistart(P, q, B, n_starts) -> list[np.ndarray]:
    k0 = _start_grid(B, n_starts)
    k, err, d = (np.asarray(a) for a in _damped_newton_kappa(P, jnp.asarray(k0), q))
    ok = err < 1e-9
    if not np.any(ok):
        return []
    x0, n = pad_rows(np.concatenate([k[ok], d[ok][:, None]], axis=1))
    x, err2 = (np.asarray(a)[:n] for a in _polish_stationary(P, jnp.asarray(x0), q))
    x0 = x0[:n]
    x = np.where((err2 < 1e-11)[:, None], x, x0)
    return dedupe(x, 1e-6, relative=True)

