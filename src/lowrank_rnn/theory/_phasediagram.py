"""Phase diagram of rank-one networks without input (Mastrogiuseppe & Ostojic 2018, Fig. 1).

The family: m, n Gaussian and independent across their random parts, ``M_m`` and ``Sigma_m``
fixed, the overlap ``m^T n / N = M_m M_n`` set through ``M_n`` (the authors' Fig. 1 convention,
M_m = 1.1, Sigma_m = Sigma_n = 1), random strength g. Four regions:

    0 homogeneous stationary    x = 0 stable (g < 1, overlap < 1)
    1 heterogeneous stationary  the pair of fixed points +-kappa is stable (bistable)
    2 heterogeneous chaotic     chaotic states with kappa != 0 exist (bistable chaos)
    3 homogeneous chaotic       only kappa = 0 chaos

Boundaries: overlap = 1 (g < 1); g = 1 (overlap < 1); ``critical_g_C(overlap)`` where the bulk
radius ``g sqrt([phi'^2])`` of the heterogeneous fixed point reaches 1; ``critical_g_B(overlap)``
where the chaotic states with kappa != 0 merge into kappa = 0, ``overlap [phi'](0, Delta0_chaos(g))
= 1``. g_B depends on the overlap only; g_C also on M_m and Sigma_m (the structured variance
``Sigma_m^2 kappa^2`` enters Delta0), which is why the family fixes them.

Vectorisation. In this family the variance equations do not involve M_n: at fixed (g, kappa), the
stationary variance d and the chaotic variances (d_inf, T) are the same for every overlap, and the
overlap that makes kappa a solution follows explicitly, ``overlap = M_m kappa / [phi](M_m kappa,
Delta0)``. :func:`phase_diagram` therefore tabulates both branches along kappa for every g
(vectorised over g; continuation in kappa for the chaotic branch, which runs from the homogeneous
chaotic state at kappa = 0 to the stationary state at the kappa where its bulk radius is 1),
inverts the table at every requested overlap for a starting point, and solves the full mean-field
equations at every grid point by Newton's method (vectorised over all points).
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from scipy.interpolate import CubicSpline

from .._checks import finite_array, positive_int, real_scalar
from .._errors import ArgumentError, ArgumentTypeError
from ._averages import DEFAULT_NESTED, DEFAULT_NODES, DPHI, DPHI2, PHI, check_nodes, pavg, quadrature
from ._chaotic import chaotic_residual, sheet_residual, sheet_robust
from ._precision import float64, float64_array
from ._rootfind import chandrupatla, newton, pad_rows
from ._stationary import solve_d, stationary_map, stationary_residual
from ._statistics import Statistics, structure

__all__ = ["PhaseDiagram", "phase_diagram", "critical_g_C", "critical_g_B", "plot_phase_diagram",
           "REGIONS"]

#: region labels of :class:`PhaseDiagram` (index = label)
REGIONS = ("homogeneous stationary", "heterogeneous stationary", "heterogeneous chaotic",
           "homogeneous chaotic")

_MEAN_M, _STD_M = 1.1, 1.0


def _fam(g, Mm, Mn, Sm2) -> Statistics:
    """Statistics of the rank-one family (one population, no input) from scalars (traceable)."""
    f = jnp.float64
    z0 = jnp.zeros((1, 0), f)
    return Statistics(alpha=jnp.ones(1, f), Mm=jnp.reshape(Mm, (1, 1)).astype(f),
                      Mn=jnp.reshape(Mn, (1, 1)).astype(f), MI=z0,
                      Smm=jnp.reshape(Sm2, (1, 1, 1)).astype(f), Snm=jnp.zeros((1, 1, 1), f),
                      SmI=jnp.zeros((1, 1, 0), f), SnI=jnp.zeros((1, 1, 0), f), SII=jnp.zeros((1, 0, 0), f),
                      g=jnp.asarray(g, f), u=jnp.zeros(0, f))


def _radius2(P, kappa, d, q):
    mu, Q, _, _ = structure(P, kappa)
    return P.g**2 * jnp.sum(P.alpha * pavg((DPHI2,), mu, d + Q, q.z, q.w)[:, 0])


def _check_family(mean_m, std_m):
    mean_m = real_scalar("mean_m", mean_m, low=0.0, low_open=True)
    std_m = real_scalar("std_m", std_m, low=0.0)
    return mean_m, std_m


def _check_overlaps(overlap):
    ov = finite_array("overlap", overlap)
    if np.any(ov < 0):
        raise ArgumentError("overlap must be >= 0 (this family varies the overlap through M_n >= 0)")
    return ov


# --------------------------------------------------------------------------------- boundaries

@jax.jit
def _homogeneous_chaos(g, q):
    """Delta0 of the homogeneous chaotic state (kappa = 0, Delta_inf = 0) for each g (NaN for g <= 1)."""

    def one(g):
        P = _fam(g, 1.0, 0.0, 0.0)
        dinf, T, ok = sheet_robust(P, jnp.zeros(1), q)
        return jnp.where(ok, T, jnp.nan)

    return jax.vmap(one)(g)


@jax.jit
def _g_B(ov, q):
    def one(ov):
        def f(g):
            P = _fam(g, 1.0, 0.0, 0.0)
            dinf, T, ok = sheet_robust(P, jnp.zeros(1), q)
            dphi = pavg((DPHI,), jnp.zeros(1), jnp.where(ok, T, 0.0)[None], q.z, q.w)[0, 0]
            return ov * dphi - 1.0

        lo, hi = jnp.asarray(1.0 + 1e-9), 2.0 + 2.0 * ov
        g = chandrupatla(f, lo, hi, f(lo), f(hi), xtol=1e-12)
        return jnp.where(ov > 1.0, g, jnp.nan)

    return jax.vmap(one)(ov)


def critical_g_B(overlap, *, n_nodes: int = DEFAULT_NODES, n_nested: int = DEFAULT_NESTED):
    """Return g_B(overlap): where the chaotic states with kappa != 0 collapse onto kappa = 0.

    Solves ``overlap [phi'](0, Delta0_chaos(g)) = 1`` for g > 1 by bracketed root finding, with
    Delta0_chaos(g) the variance of the homogeneous chaotic state, ``Delta0^2 / 2 = g^2 ([Phi^2] -
    [Phi]^2)`` (Mastrogiuseppe & Ostojic 2018, Fig. 1; Sompolinsky, Crisanti & Sommers 1988). This
    is the linear instability of kappa = 0 on the chaotic branch: the slope of the kappa equation
    at kappa = 0 is ``(M_m M_n + Sigma_mn) [phi']``. Depends on the overlap only. NaN for overlap <= 1.

    >>> round(float(critical_g_B(2.2)), 3)
    2.136
    """
    scalar = np.ndim(overlap) == 0
    ov = _check_overlaps(np.atleast_1d(overlap))
    n_nodes, n_nested = check_nodes(n_nodes, n_nested)
    with float64():
        q = quadrature(n_nodes, n_nested)
        out = _in_chunks(lambda o: _g_B(o, q), ov.ravel()).reshape(ov.shape)
    return float(out[0]) if scalar else out


def _in_chunks(fn, x, size=16):
    """fn over a 1-D array in padded chunks of a fixed size (one compilation for every length)."""
    outs = []
    for start in range(0, len(x), size):
        padded, n = pad_rows(x[start:start + size], size)
        outs.append(np.asarray(fn(jnp.asarray(padded)))[:n])
    return np.concatenate(outs)


@jax.jit
def _het_stationary(g, Mm, Mn, Sm2, q):
    """kappa > 0 and d of the heterogeneous fixed point (Chandrupatla on (RHS - kappa)/kappa over
    [0, M_n]); ok is False where it does not exist."""
    P = _fam(g, Mm, Mn, Sm2)

    # limit of the ratio at kappa -> 0: M_n M_m [phi'](0, d) - 1
    d0 = solve_d(P, jnp.zeros(1), q)
    lim = Mn * Mm * pavg((DPHI,), jnp.zeros(1), d0[None], q.z, q.w)[0, 0] - 1.0

    def ratio(k):
        kv = jnp.reshape(k, (1,))
        d = solve_d(P, kv, q)
        rhs, _ = stationary_map(P, kv, d, q)
        return jnp.where(k > 0, rhs[0] / jnp.where(k > 0, k, 1.0) - 1.0, lim)

    lo, hi = jnp.asarray(0.0), jnp.maximum(Mn, 1e-12)
    f_lo, f_hi = ratio(lo), ratio(hi)
    k = chandrupatla(ratio, lo, hi, f_lo, f_hi, xtol=1e-14)
    ok = (f_lo > 0) & (k > 0)
    k = jnp.where(ok, k, 0.0)  # no branch: report the kappa = 0 fixed point with the largest variance
    return k, solve_d(P, k[None], q), ok


@jax.jit
def _g_C(ov, Mm, Sm2, g_hi, q):
    def one(ov, g_hi):
        Mn = ov / Mm

        def f(g):
            k, d, ok = _het_stationary(g, Mm, Mn, Sm2, q)
            return _radius2(_fam(g, Mm, Mn, Sm2), k[None], d, q) - 1.0

        lo = jnp.asarray(1e-6)
        g = chandrupatla(f, lo, g_hi, f(lo), f(g_hi), xtol=1e-12)
        return g, f(g_hi)

    return jax.vmap(one)(ov, g_hi)


def critical_g_C(overlap, *, mean_m: float = _MEAN_M, std_m: float = _STD_M, n_nodes: int = DEFAULT_NODES):
    """Return g_C(overlap): where the heterogeneous fixed point +-kappa turns chaotic.

    Solves ``g sqrt([phi'^2](mu, Delta0)) = 1`` on the heterogeneous stationary branch (its bulk
    radius reaches 1; Mastrogiuseppe & Ostojic 2018, Fig. 1), by bracketed root finding in g with
    the fixed point re-solved at each g. The family fixes ``M_m = mean_m`` and ``Sigma_m = std_m``
    (default 1.1 and 1, the authors' Fig. 1) and varies ``M_n = overlap / M_m``: unlike g_B, g_C
    depends on them, through the structured variance Sigma_m^2 kappa^2. NaN for overlap <= 1.

    >>> round(float(critical_g_C(2.2)), 3)
    1.796
    """
    scalar = np.ndim(overlap) == 0
    ov = _check_overlaps(np.atleast_1d(overlap)).ravel()
    mean_m, std_m = _check_family(mean_m, std_m)
    n_nodes, _ = check_nodes(n_nodes, DEFAULT_NESTED)
    out = np.full(ov.shape, np.nan)
    sel = ov > 1.0
    if np.any(sel):
        with float64():
            q = quadrature(n_nodes, DEFAULT_NESTED)
            g_hi = 1.0 + 2.0 * ov[sel]
            for _ in range(8):  # widen the bracket until the fixed point is bulk-unstable at g_hi
                both = _in_chunks(lambda a: jnp.stack(_g_C(a[:, 0], mean_m, std_m**2, a[:, 1], q), axis=1),
                                  np.stack([ov[sel], g_hi], axis=1))
                g, f_hi = both[:, 0], both[:, 1]
                if np.all(f_hi > 0):
                    break
                g_hi = np.where(f_hi > 0, g_hi, 2.0 * g_hi)
            out[sel] = np.where(f_hi > 0, g, np.nan)
    return float(out[0]) if scalar else out.reshape(np.shape(overlap))


# ------------------------------------------------------------------------------- phase diagram

@dataclasses.dataclass(frozen=True)
class PhaseDiagram:
    """Mean-field phase diagram of rank-one networks over (g, overlap); arrays are (n_g, n_overlap).

    Attributes
    ----------
    g, overlap: the grid axes (1-D).
    mean_m, std_m: the fixed family parameters (M_n = overlap / mean_m).
    region: int labels, indices into :data:`REGIONS`.
    kappa, delta0, delta_inf: the state the region label designates (kappa >= 0 of the symmetric
        pair; Delta_inf = Delta0 for stationary states).
    stationary_kappa, stationary_delta0, stationary_radius, stationary_outlier: the heterogeneous
        fixed point (kappa > 0), NaN where it does not exist; its bulk radius and largest outlier.
    chaotic_kappa, chaotic_delta0, chaotic_delta_inf: the heterogeneous chaotic state (kappa > 0),
        NaN where it does not exist.
    static_delta0: (n_g,) Delta0 of the kappa = 0 fixed point with the largest variance (0 for
        g <= 1, the static solution of the random network for g > 1).
    chaos_delta0: (n_g,) Delta0 of the homogeneous chaotic state (NaN for g <= 1).

    Examples
    --------
    >>> pd = phase_diagram([0.5, 2.6], [0.5, 2.2])
    >>> [[REGIONS[r] for r in row] for row in pd.region]
    [['homogeneous stationary', 'heterogeneous stationary'], ['homogeneous chaotic', 'homogeneous chaotic']]
    """

    g: np.ndarray
    overlap: np.ndarray
    mean_m: float
    std_m: float
    region: np.ndarray
    kappa: np.ndarray
    delta0: np.ndarray
    delta_inf: np.ndarray
    stationary_kappa: np.ndarray
    stationary_delta0: np.ndarray
    stationary_radius: np.ndarray
    stationary_outlier: np.ndarray
    chaotic_kappa: np.ndarray
    chaotic_delta0: np.ndarray
    chaotic_delta_inf: np.ndarray
    static_delta0: np.ndarray
    chaos_delta0: np.ndarray


@jax.jit
def _stationary_table(g, kap, Mm, Sm2, q):
    """For each g (G,) and kappa (K,): d, the overlap making kappa a fixed point, and the bulk
    radius^2. kap[0] must be 0 (the kappa -> 0 limits are used there)."""

    def row(g):
        P = _fam(g, Mm, 0.0, Sm2)

        def col(k):
            kv = k[None]
            d = solve_d(P, kv, q)
            mu, Q, _, _ = structure(P, kv)
            a = pavg((PHI, DPHI, DPHI2), mu, d + Q, q.z, q.w)[0]
            ov = jnp.where(k > 0, Mm * k / jnp.where(k > 0, a[0], 1.0), 1.0 / a[1])
            return d, ov, g**2 * a[2]

        return jax.vmap(col)(kap)

    return jax.vmap(row)(g)


def _fam_stationary_residual(x, g, Mn, Mm, Sm2, q):
    return stationary_residual(_fam(g, Mm, Mn, Sm2), x, q)


@jax.jit
def _polish_fam_stationary(x0, g, Mn, Mm, Sm2, q):
    """Newton on the fixed-point equations (kappa, d) at every point; returns x, |res|, radius,
    largest outlier."""

    def one(x, g, Mn):
        P = _fam(g, Mm, Mn, Sm2)

        def res(x):
            return stationary_residual(P, x, q)

        x = newton(res, x, n_iter=5)
        err = jnp.max(jnp.abs(res(x)))

        def mapping(y):
            rhs, dn = stationary_map(P, y[:1], y[1], q)
            return jnp.concatenate([rhs, dn[None]])

        A = jax.jacfwd(mapping)(x)
        tr, det = A[0, 0] + A[1, 1], A[0, 0] * A[1, 1] - A[0, 1] * A[1, 0]
        disc = tr**2 / 4 - det
        top = tr / 2 + jnp.sqrt(jnp.maximum(disc, 0.0))  # real part of the leading eigenvalue
        top = jnp.where(disc >= 0, top, tr / 2)
        return x, err, jnp.sqrt(_radius2(P, x[:1], x[1], q)), top

    return jax.vmap(one)(x0, g, Mn)


@jax.jit
def _kappa_edge(g, lo, hi, Mm, Sm2, q):
    """kappa_C(g): where the bulk radius of the fixed point with this kappa crosses 1."""

    def one(g, lo, hi):
        P = _fam(g, Mm, 0.0, Sm2)

        def f(k):
            d = solve_d(P, k[None], q)
            return _radius2(P, k[None], d, q) - 1.0

        k = chandrupatla(f, lo, hi, f(lo), f(hi), xtol=1e-14)
        return k, solve_d(P, k[None], q)

    return jax.vmap(one)(g, lo, hi)


@jax.jit
def _chaotic_table(g, kC, dC, T0, s, Mm, Sm2, q):
    """Chaotic branch along kappa = s kappa_C(g), s increasing in (0, 1), by continuation from the
    homogeneous chaotic state (s = 0: d_inf = 0, T = T0): a secant predictor and two Newton steps per
    point (the table only seeds the solves at the grid points, which converge fully).
    Returns d_inf, T, overlap, ok, each (G, S)."""

    def row(g, kC, dC, T0):
        P = _fam(g, Mm, 0.0, Sm2)

        def res(y, k):
            mu, Q, _, _ = structure(P, k)
            return sheet_residual(P, mu, Q, y, q, form="phi")

        def step(carry, sj):
            y1, s1, y0, s0, ok = carry
            k = (sj * kC)[None]
            y = y1 + (y1 - y0) * (sj - s1) / jnp.where(s1 > s0, s1 - s0, 1.0)  # secant predictor
            y = jnp.where(y[1] > 0, y, y1)
            y = newton(lambda yy: res(yy, k), y, n_iter=2, unroll=True)
            err = jnp.max(jnp.abs(res(y, k)))
            ok = ok & (err < 1e-6) & (y[1] > 0) & (y[0] >= 0)
            mu, Q, _, _ = structure(P, k)
            a = pavg((PHI,), mu, y[0] + y[1] + Q, q.z, q.w)[0, 0]
            return (y, sj, y1, s1, ok), (y[0], y[1], Mm * k[0] / a, ok)

        y_init = jnp.stack([jnp.asarray(0.0), T0])
        init = (y_init, jnp.asarray(0.0), y_init, jnp.asarray(0.0), jnp.isfinite(T0) & jnp.isfinite(kC))
        return jax.lax.scan(step, init, s)[1]

    return jax.vmap(row)(g, kC, dC, T0)


@partial(jax.jit, static_argnames=("form", "n_iter"))
def _polish_fam_chaotic(x0, g, Mn, Mm, Sm2, q, form="phi", n_iter=2):
    """``n_iter`` Newton steps on the chaotic equations (kappa, d_inf, T) at every point (fixed count:
    a vmapped while loop would run every point as long as the slowest); returns x, |res|."""

    def one(x, g, Mn):
        P = _fam(g, Mm, Mn, Sm2)

        def res(x):
            return chaotic_residual(P, x, q, form=form)

        x = newton(res, x, n_iter=n_iter)
        return x, jnp.max(jnp.abs(res(x)))

    return jax.vmap(one)(x0, g, Mn)


def _chunked(fn, arrays, size=512):
    """Apply a vmapped jitted ``fn`` to the leading axis of ``arrays`` in padded chunks of ``size``
    (one compilation whatever the number of points)."""
    n = len(arrays[0])
    outs = []
    for start in range(0, n, size):
        part = [a[start:start + size] for a in arrays]
        m = len(part[0])
        res = fn(*(jnp.asarray(pad_rows(p, size)[0]) for p in part))
        outs.append([np.asarray(r)[:m] for r in res])
    return [np.concatenate(c) for c in zip(*outs)]


def phase_diagram(g_values, overlap_values, *, mean_m: float = _MEAN_M, std_m: float = _STD_M,
                  n_nodes: int = 101, n_nested: int = 61, n_kappa: int = 48,
                  n_chaotic: int = 24) -> PhaseDiagram:
    """Return the mean-field phase diagram of rank-one networks over a (g, overlap) grid.

    At every grid point, solves the stationary equations (Mastrogiuseppe & Ostojic 2018, Methods)

        kappa = M_n [phi](M_m kappa, Delta0),  Delta0 = g^2 [phi^2] + Sigma_m^2 kappa^2

    and the chaotic ones (same kappa equation, averages at Delta0, plus ``(Delta0^2 - Delta_inf^2)/2
    = g^2([Phi^2] - <<Phi>>^2) + Q (Delta0 - Delta_inf)``, ``Delta_inf = g^2 <<phi>>^2 + Q``,
    Q = Sigma_m^2 kappa^2), classifies the point into :data:`REGIONS` and returns a
    :class:`PhaseDiagram`. The family: ``M_m = mean_m``, ``Sigma_m = std_m``, ``M_n = overlap /
    mean_m``, no input, independent random parts of m and n (the authors' Fig. 1: 1.1 and 1).

    Method (module docstring): tables along kappa for every g (vectorised over g), inverted at each
    overlap for a starting point, then Newton on the full equations at every grid point where the
    branch exists (vectorised over points). Points without a heterogeneous branch get NaN in the
    branch arrays. ``n_nodes`` / ``n_nested``: quadrature nodes for single / nested averages (the
    defaults give ~1e-8 accuracy at the variances of a diagram up to g, overlap ~ 4); ``n_kappa``:
    table points per g.

    >>> pd = phase_diagram(np.linspace(0.1, 3, 30), np.linspace(0.1, 3, 30))
    >>> pd.region.shape
    (30, 30)
    """
    g = finite_array("g_values", g_values, ndim=1)
    ov = _check_overlaps(np.asarray(overlap_values, np.float64))
    if ov.ndim != 1 or g.size == 0 or ov.size == 0:
        raise ArgumentError("g_values and overlap_values must be non-empty 1-D arrays")
    if np.any(g < 0):
        raise ArgumentError("g_values must be >= 0")
    mean_m, std_m = _check_family(mean_m, std_m)
    n_nodes = positive_int("n_nodes", n_nodes, low=21)
    n_nested = positive_int("n_nested", n_nested, low=21)
    n_kappa = positive_int("n_kappa", n_kappa, low=8)
    n_chaotic = positive_int("n_chaotic", n_chaotic, low=4)
    G, O = g.size, ov.size
    Sm2 = std_m**2
    gg, oo = np.meshgrid(g, ov, indexing="ij")
    shape = (G, O)
    nan = lambda: np.full(shape, np.nan)  # noqa: E731

    with float64():
        q = quadrature(n_nodes, n_nested)
        gj = float64_array(g)
        # --- kappa = 0 states, per g
        static_d = np.asarray(jax.jit(jax.vmap(lambda gv: solve_d(_fam(gv, mean_m, 0.0, Sm2),
                                                                           jnp.zeros(1), q)))(gj))
        chaos_T = np.asarray(_homogeneous_chaos(gj, q))

        # --- heterogeneous stationary: table along kappa, inversion, Newton at every point
        k_max = max(ov.max() / mean_m, 1e-3) * 1.001  # kappa <= M_n
        kap = k_max * (1 - np.cos(np.linspace(0, np.pi / 2, n_kappa))) ** 1.0
        kap[0] = 0.0
        d_tab, ov_tab, r2_tab = (np.asarray(a) for a in _stationary_table(gj, jnp.asarray(kap), mean_m, Sm2, q))
        st_k, st_d, st_r, st_out = nan(), nan(), nan(), nan()
        exists = oo > ov_tab[:, :1]  # the branch bifurcates from kappa = 0 at overlap = 1 / [phi'](0, d)
        gi, oi = np.nonzero(exists)
        if gi.size:
            k0 = np.empty(gi.size)
            d0 = np.empty(gi.size)
            for i in np.unique(gi):  # monotone inversion of overlap(kappa), one row per g
                sel = gi == i
                row = np.maximum.accumulate(ov_tab[i])
                k0[sel] = np.interp(ov[oi[sel]], row, kap)
                d0[sel] = np.interp(k0[sel], kap, d_tab[i])
            x, err, rad, top = _chunked(
                lambda x, gv, mn: _polish_fam_stationary(x, gv, mn, mean_m, Sm2, q),
                [np.stack([k0, d0], 1), g[gi], ov[oi] / mean_m])
            good = (err < 1e-10) & (x[:, 0] > 0)
            st_k[gi[good], oi[good]] = x[good, 0]
            st_d[gi[good], oi[good]] = x[good, 1] + Sm2 * x[good, 0] ** 2
            st_r[gi[good], oi[good]] = rad[good]
            st_out[gi[good], oi[good]] = top[good]

        # --- heterogeneous chaotic: continuation along kappa in (0, kappa_C(g)), then Newton
        ch_k, ch_d0, ch_dinf = nan(), nan(), nan()
        chaotic_g = np.isfinite(chaos_T)
        idx = np.flatnonzero(chaotic_g)
        if idx.size:
            # kappa_C(g): the bulk radius of the fixed point with this kappa crosses 1 (it is > 1 at
            # kappa = 0+ for g > 1); beyond the table the branch outruns the largest overlap asked for
            edge = r2_tab[idx, -1] < 1.0
            lo = np.zeros(idx.size)
            hi = np.full(idx.size, kap[-1])
            for j, i in enumerate(idx):
                if edge[j]:
                    c = np.flatnonzero(r2_tab[i, 1:] < 1.0)[0] + 1
                    lo[j], hi[j] = kap[c - 1], kap[c]
            kC, dC = (np.asarray(a) for a in _kappa_edge(gj[idx], jnp.asarray(lo), jnp.asarray(hi),
                                                           mean_m, Sm2, q))
            kC = np.where(edge, kC, kap[-1])
            s = (1 - np.cos(np.linspace(0, np.pi, n_chaotic + 2))) / 2
            s = s[1:-1]  # open interval: s = 0 and s = 1 are known exactly
            dinf_t, T_t, ov_t, ok_t = (np.asarray(a) for a in _chaotic_table(
                gj[idx], jnp.asarray(kC), jnp.asarray(dC), jnp.asarray(chaos_T[idx]), jnp.asarray(s),
                mean_m, Sm2, q))
            ov_lo = 1.0 / np.asarray(pavg((DPHI,), jnp.zeros(idx.size), jnp.asarray(chaos_T[idx]),
                                              q.z, q.w))[:, 0]
            phi_C = np.asarray(pavg((PHI,), jnp.asarray(mean_m * kC), jnp.asarray(dC + Sm2 * kC**2),
                                        q.z, q.w))[:, 0]
            ov_hi = np.where(kC > 0, mean_m * kC / np.where(kC > 0, phi_C, 1.0), ov_lo)
            xs, gs, mns, where = [], [], [], []
            for j, i in enumerate(idx):
                okj = np.cumprod(ok_t[j]).astype(bool)  # continuation broke down: keep the part before
                ss = np.concatenate([[0.0], s[okj], [1.0]])
                ovs = np.concatenate([[ov_lo[j]], ov_t[j][okj], [ov_hi[j]]])
                dis = np.concatenate([[0.0], dinf_t[j][okj], [dC[j]]])
                Ts = np.concatenate([[chaos_T[i]], T_t[j][okj], [0.0]])
                if not (okj.all() and edge[j]):  # the T = 0 end is only known at a true edge
                    ss, ovs, dis, Ts = ss[:-1], ovs[:-1], dis[:-1], Ts[:-1]
                inside = np.flatnonzero((ov > ovs[0]) & (ov < ovs.max()))
                if not inside.size:
                    continue
                # cubic interpolation along s (smooth there, unlike kappa(overlap) at the pitchfork)
                fine = np.linspace(0.0, ss[-1], 4001)
                ov_f, di_f, T_f = (CubicSpline(ss, v)(fine) for v in (ovs, dis, Ts))
                ov_f = np.maximum.accumulate(ov_f)
                s_o = np.interp(ov[inside], ov_f, fine)
                for o, so in zip(inside, s_o):
                    xs.append([so * kC[j], np.interp(so, fine, di_f), max(np.interp(so, fine, T_f), 1e-6)])
                    gs.append(g[i]), mns.append(ov[o] / mean_m), where.append((i, o))
            if xs:
                x, gs, mns = np.array(xs), np.array(gs), np.array(mns)
                err = np.full(len(x), np.inf)
                for _ in range(4):  # rounds of 2 Newton steps, each on the points not yet converged
                    todo = np.flatnonzero(~(err < 1e-11))
                    if not todo.size:
                        break
                    x[todo], err[todo] = _chunked(
                        lambda x, gv, mn: _polish_fam_chaotic(x, gv, mn, mean_m, Sm2, q),
                        [x[todo], gs[todo], mns[todo]])
                good = (err < 1e-9) & (x[:, 0] > 0) & (x[:, 2] > 0) & (x[:, 1] >= 0)
                for (i, o), xx, ok in zip(where, x, good):
                    if ok:
                        ch_k[i, o] = xx[0]
                        ch_d0[i, o] = xx[1] + xx[2] + Sm2 * xx[0] ** 2
                        ch_dinf[i, o] = xx[1] + Sm2 * xx[0] ** 2

    # --- regions
    stat_stable = np.isfinite(st_k) & (st_r < 1.0) & (st_out < 1.0)
    trivial_stable = (gg < 1.0) & (oo < 1.0)  # x = 0: bulk radius g, outlier = overlap
    region = np.full(shape, 3, np.int8)
    region[np.isfinite(ch_k)] = 2
    region[trivial_stable] = 0
    region[stat_stable] = 1
    kappa = np.where(region == 1, st_k, np.where(region == 2, ch_k, 0.0))
    chaos_d = np.broadcast_to(chaos_T[:, None], shape)
    delta0 = np.select([region == 0, region == 1, region == 2, region == 3],
                       [np.zeros(shape), st_d, ch_d0, chaos_d])
    delta_inf = np.select([region == 0, region == 1, region == 2, region == 3],
                          [np.zeros(shape), st_d, ch_dinf, np.zeros(shape)])
    return PhaseDiagram(g=g, overlap=ov, mean_m=mean_m, std_m=std_m, region=region, kappa=kappa,
                        delta0=delta0, delta_inf=delta_inf, stationary_kappa=st_k, stationary_delta0=st_d,
                        stationary_radius=st_r, stationary_outlier=st_out, chaotic_kappa=ch_k,
                        chaotic_delta0=ch_d0, chaotic_delta_inf=ch_dinf, static_delta0=static_d,
                        chaos_delta0=chaos_T)


def plot_phase_diagram(diagram: PhaseDiagram | None = None, *, ax=None, curves: bool = True,
                       legend: bool = True):
    """Draw a phase diagram (regions shaded, boundaries g_C, g_B, g = 1, overlap = 1) and return the Axes.

    With no ``diagram``, computes the authors' Fig. 1 family (M_m = 1.1, Sigma_m = 1) on
    g in [0.02, 3.5] by overlap in [0.02, 4] (Mastrogiuseppe & Ostojic 2018, Fig. 1). The boundary
    curves are root-found by :func:`critical_g_C` and :func:`critical_g_B`, not read off the grid.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> ax = plot_phase_diagram(phase_diagram([0.5, 1.5, 2.5], [0.5, 1.5, 2.5]), curves=False)
    >>> ax.get_xlabel()
    'random strength $g$'
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    if diagram is None:
        diagram = phase_diagram(np.linspace(0.02, 3.5, 100), np.linspace(0.02, 4.0, 100))
    if not isinstance(diagram, PhaseDiagram):
        raise ArgumentTypeError(f"diagram must be a PhaseDiagram (from phase_diagram), got {type(diagram).__name__}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 3.8))
    colors = ["#f2f2f2", "#9ecae1", "#fdae6b", "#e6550d"]
    g, ov = diagram.g, diagram.overlap
    ax.pcolormesh(g, ov, diagram.region.T, cmap=ListedColormap(colors), vmin=-0.5, vmax=3.5,
                  shading="nearest", rasterized=True)
    if curves:
        ovs = np.linspace(1.0 + 1e-3, ov.max(), 80)
        gC = critical_g_C(ovs, mean_m=diagram.mean_m, std_m=diagram.std_m)
        gB = critical_g_B(ovs)
        ax.plot(gC, ovs, "k-", lw=1.3, label="$g_C$ (fixed point turns chaotic)")
        ax.plot(gB, ovs, "k--", lw=1.3, label="$g_B$ (bistable chaos ends)")
        ax.plot([1.0, 1.0], [ov.min(), 1.0], "k:", lw=1.0)
        ax.plot([g.min(), 1.0], [1.0, 1.0], "k:", lw=1.0)
    ax.set_xlim(g.min(), g.max())
    ax.set_ylim(ov.min(), ov.max())
    ax.set_xlabel("random strength $g$")
    ax.set_ylabel(r"structure strength $m^T n / N$")
    if legend:
        handles = [Patch(color=c, label=r) for c, r in zip(colors, REGIONS)]
        if curves:
            handles += ax.get_legend_handles_labels()[0]
        ax.legend(handles=handles, fontsize=6, loc="upper left")
    return ax
