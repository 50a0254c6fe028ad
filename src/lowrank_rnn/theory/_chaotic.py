"""Chaotic (time-dependent) solutions of the mean-field equations of low-rank networks.

Mastrogiuseppe & Ostojic 2018, Neuron 99:609, Methods, after Sompolinsky, Crisanti & Sommers 1988;
Beiran et al. 2021, Neural Comput. 33:1572 for mixtures. The random part g eta_i of the input is a
Gaussian process with variance d0 and static (long-time) part d_inf, shared by all populations;
Delta0_p = d0 + Q_p and Delta_inf_p = d_inf + Q_p with the structured variance Q_p of
:mod:`~lowrank_rnn.theory._statistics`. The averages in the kappa equation are taken at the full
variance Delta0_p, and

    d_inf = g^2 sum_p alpha_p <<phi>>^2_p
    (d0^2 - d_inf^2)/2 = g^2 sum_p alpha_p ( [Phi^2]_p - <<Phi>>^2_p ),     Phi = ln cosh,

which for one population is the published form
``(D0^2 - Dinf^2)/2 = g^2([Phi^2] - <<Phi>>^2) + Q (D0 - Dinf)``, ``Dinf = g^2 <<phi>>^2 + Q``.

The energy equation holds trivially at d_inf = d0 (the stationary solution), which is where
unbracketed Newton methods collapse. With T = d0 - d_inf (the temporal variance) and Price's
theorem it reads exactly

    0 = E / T^2 = 1/2 - g^2 sum_p alpha_p int_0^1 (1 - t) <<phi'>>^2_p(cov = Delta_inf_p + t T) dt,

which has the trivial factor divided out: its T -> 0 limit is ``g^2 [phi'^2] = 1``, the bulk
instability where the chaotic branch is born. The solvers use this form, and bracket d_inf in
(0, d_stat) explicitly, so they cannot return the stationary solution as a chaotic one.

The Gaussian averages use the trapezoid rule on a fixed grid (:mod:`~lowrank_rnn.theory._averages`),
the integral over t 12-point Gauss-Legendre.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import positive_int
from .._ensemble import Ensemble
from ._averages import (DEFAULT_NESTED, DEFAULT_NODES, DPHI, DPHI2, PHI, Quadrature, check_nodes, pavg, pnest,
                        quadrature, var_Phi)
from ._precision import float64
from ._rootfind import FirstDecrease, chandrupatla, damped_newton, dedupe, newton, pad_rows, polish_batch
from ._stationary import solve_d, stationary_map, symmetric_grid
from ._statistics import (Statistics, check_ensemble, check_inputs, kappa_bound, n_variances, per_population,
                          solver_statistics, structure)

__all__ = ["ChaoticState", "chaotic_states"]


@dataclasses.dataclass(frozen=True)
class ChaoticState:
    """A chaotic (time-dependent) solution of the mean-field equations.

    Attributes
    ----------
    kappa: latent variables (time averages of ``n_r^T phi(x) / N``), shape ``(R,)``.
    mu: population mean of x, float (one population) or ``(C,)`` (mixture).
    delta0: total variance Delta0 = Delta(tau = 0) of x (over neurons and time), float or ``(C,)``.
    delta_inf: static variance Delta_inf = Delta(tau -> infinity) (heterogeneity of the time
        averages, including the structured part Q), float or ``(C,)``.
    stable: stability of the latents under the adiabatic elimination of the variances: every
        eigenvalue of d(RHS of the kappa equation)/d(kappa), with (d0, d_inf) re-solved, has real
        part < 1. A heuristic (there is no complete linear theory of chaotic mean-field states): it
        marks the kappa = 0 chaotic state unstable where chaotic states with kappa != 0 branch off
        (g < g_B in Mastrogiuseppe & Ostojic 2018, Fig. 1).

    Examples
    --------
    >>> from lowrank_rnn import Ensemble
    >>> ens = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=2.0)
    >>> state = chaotic_states(ens)[-1]         # between g_C = 1.796 and g_B = 2.136: kappa > 0
    >>> bool(state.kappa[0] > 0 and state.delta0 > state.delta_inf)   # temporal variance > 0
    True
    """

    kappa: np.ndarray
    mu: float | np.ndarray
    delta0: float | np.ndarray
    delta_inf: float | np.ndarray
    stable: bool

    @property
    def temporal_variance(self) -> float | np.ndarray:
        """Delta0 - Delta_inf: the variance of the temporal fluctuations of each x_i."""
        return self.delta0 - self.delta_inf


def dinf_residual(P, mu, Q, d0, dinf, q):
    """g^2 sum alpha <<phi>>^2 - d_inf at random-part variances (d0, d_inf)."""
    nest = pnest((PHI,), mu, d0 - dinf, dinf + Q, q.zn, q.wn)[:, 0]
    return P.g**2 * jnp.sum(P.alpha * nest) - dinf


def energy_gl(P, mu, Q, dinf, T, q):
    """E / T^2 = 1/2 - g^2 sum_p alpha_p int_0^1 (1 - t) <<phi'>>^2(cov = d_inf + Q_p + t T) dt, by
    Gauss-Legendre in t (reference form, used in the tests to check :func:`energy`)."""

    def at(t):
        nest = pnest((DPHI,), mu, T * (1.0 - t), dinf + Q + t * T, q.zn, q.wn)[:, 0]
        return jnp.sum(P.alpha * nest)

    vals = jax.vmap(at)(q.t)
    return 0.5 - P.g**2 * jnp.sum(q.wt * vals)


#: below this temporal variance, E/T^2 is evaluated by the Gauss-Legendre form
_T_SWITCH = 1e-4


def energy(P, mu, Q, dinf, T, q, G=None, form="auto"):
    """E/T^2 + G/T, the regularised energy equation at random-part variances (d_inf, T = d0 - d_inf).

    E = T (d_inf + T/2) - g^2 sum_p alpha_p ([Phi^2]_p - <<Phi>>^2_p) is the energy equation
    (d0^2 - d_inf^2)/2 = g^2 sum alpha ([Phi^2] - <<Phi>>^2), and G = g^2 sum alpha <<phi>>^2 - d_inf
    the d_inf equation. By Price's theorem E = -T G + T^2 int_0^1 (1 - t) h'(d_inf + t T) dt with
    h'(c) = 1 - g^2 sum alpha <<phi'>>^2(cov = c + Q_p), so E/T^2 + G/T is that integral: equal to
    E/T^2 wherever G = 0, regular as T -> 0 (limit (1 - g^2 sum alpha [phi'^2])/2, i.e. (1 - r^2)/2),
    and free of the stationary root T = 0. For T >= 1e-4 it is computed from ln cosh (one nested
    average, [Phi^2] - <<Phi>>^2 as a centred inner variance); below, by 12-point Gauss-Legendre in t
    (:func:`energy_gl`). The two agree to ~1e-8 (tests). ``form`` = "phi" or "gl" forces one form
    (for vectorised callers, where ``lax.cond`` would evaluate both). The ln cosh form carries the
    quadrature error of the nested averages divided by T, the Gauss-Legendre form does not.
    """
    if G is None:
        G = dinf_residual(P, mu, Q, dinf + T, dinf, q)

    def phi_form(_):
        V = var_Phi(mu, T, dinf + Q, q.zn, q.wn)
        return (T * (dinf + 0.5 * T) - P.g**2 * jnp.sum(P.alpha * V)) / T**2 + G / T

    def gl_form(_):
        return energy_gl(P, mu, Q, dinf, T, q)

    if form == "phi":
        return phi_form(None)
    if form == "gl":
        return gl_form(None)
    return jax.lax.cond(T >= _T_SWITCH, phi_form, gl_form, None)


def sheet_robust(P: Statistics, kappa, q: Quadrature):
    """Random-part variances (d_inf, T = d0 - d_inf) of the chaotic solution at fixed kappa, by bracketing.

    Returns (d_inf, T, ok). d_inf is bracketed in (0, d_stat], d_stat the stationary variance at
    this kappa; for each d_inf, d0 is the unique root in [d_inf, g^2] of the d_inf equation (which
    decreases in d0: d/dD0 <<phi>>^2 = int Dz [phi][phi''] <= 0; and d0 <= g^2 [phi^2] <= g^2);
    then E/T^2 = 0 is solved for d_inf. d_inf values with no admissible d0 count as E/T^2 > 0 (the
    small-d_inf side); at d_inf = d_stat, E/T^2 = (1 - r^2)/2 with r the stationary bulk radius, so a
    chaotic solution needs r > 1. With no drive (mu = Q = 0) the static part vanishes, d_inf = 0,
    and T solves E/T^2 = 0 alone.
    """
    mu, Q, _, _ = structure(P, kappa)
    g2 = P.g**2
    undriven = jnp.all((mu == 0) & (Q == 0))

    def homogeneous(_):
        def Eh(T):
            return energy_gl(P, mu, Q, 0.0, T, q)

        e_lo, e_hi = Eh(0.0), Eh(g2)
        T = chandrupatla(Eh, 0.0, g2, e_lo, e_hi)
        return jnp.asarray(0.0), T, (e_lo < 0) & (e_hi > 0) & (P.g > 1.0) & (T > 0)

    def driven(_):
        dstat = solve_d(P, kappa, q)
        v_hi = energy_gl(P, mu, Q, dstat, 0.0, q)  # = (1 - r^2) / 2 at the stationary state

        def d0_of(dinf):
            def Gd(d0):
                return dinf_residual(P, mu, Q, d0, dinf, q)

            g_lo, g_hi = Gd(dinf), Gd(g2)
            return chandrupatla(Gd, dinf, g2, g_lo, g_hi), g_hi <= 0

        def V(dinf):
            d0, feasible = d0_of(dinf)
            return jnp.where(feasible, energy_gl(P, mu, Q, dinf, jnp.maximum(d0 - dinf, 0.0), q), 1.0)

        def solve(_):
            dinf = chandrupatla(V, 0.0, dstat, jnp.asarray(1.0), v_hi)
            d0, feasible = d0_of(dinf)
            T = jnp.maximum(d0 - dinf, 0.0)
            ok = feasible & (jnp.abs(energy_gl(P, mu, Q, dinf, T, q)) < 1e-8) & (T > 0)
            return dinf, T, ok

        def none(_):
            return dstat, jnp.asarray(0.0), jnp.asarray(False)

        return jax.lax.cond(v_hi < 0, solve, none, None)

    return jax.lax.cond(undriven, homogeneous, driven, None)


def sheet_residual(P, mu, Q, y, q, form="auto"):
    """Residuals of the two variance equations (d_inf equation, regularised energy) at y = (d_inf, T)."""
    dinf, T = y[0], y[1]
    G = dinf_residual(P, mu, Q, dinf + T, dinf, q)
    return jnp.stack([G, energy(P, mu, Q, dinf, T, q, G, form)])


def _sheet_newton(P, kappa, y0, q, n_iter=12, form="auto"):
    """Newton on the two variance equations at fixed kappa, from y0 = (d_inf, T); returns y, |res|."""
    mu, Q, _, _ = structure(P, kappa)

    def res(y):
        return sheet_residual(P, mu, Q, y, q, form)

    y = newton(res, y0, n_iter=n_iter, xtol=1e-14)
    return y, jnp.max(jnp.abs(res(y)))


@jax.jit
def _sheet_scan(P, kappas, q):
    """The chaotic sheet along an ordered path of latents ``kappas`` (M, R): Newton continuation
    from the previous point, with the bracketing solver wherever continuation is not possible.
    Returns d_inf, T, ok and F = RHS - kappa, each (M, ...)."""

    def step(carry, k):
        y_prev, ok_prev = carry
        y_n, err = jax.lax.cond(ok_prev, lambda _: _sheet_newton(P, k, y_prev, q, form="phi"),
                                lambda _: (y_prev, jnp.asarray(jnp.inf)), None)
        cont = ok_prev & (err < 1e-10) & (y_n[1] > 0) & (y_n[0] >= 0)

        def robust(_):
            dinf, T, ok = sheet_robust(P, k, q)
            return jnp.stack([dinf, T]), ok

        y, ok = jax.lax.cond(cont, lambda _: (y_n, jnp.asarray(True)), robust, None)
        F = chaotic_residual(P, jnp.concatenate([k, y]), q)[: k.shape[0]]
        return (y, ok), (y[0], y[1], ok, F)

    init = (jnp.zeros(2), jnp.asarray(False))
    return jax.lax.scan(step, init, kappas)[1]


def chaotic_residual(P: Statistics, x, q: Quadrature, form="auto"):
    """Residual of the chaotic equations in x = (kappa, d_inf, T)."""
    R = P.Mm.shape[1]
    kappa, dinf, T = x[:R], x[R], x[R + 1]
    mu, Q, Cnx, _ = structure(P, kappa)
    a = pavg((PHI, DPHI), mu, dinf + T + Q, q.z, q.w)
    rhs = jnp.einsum("c,cr->r", P.alpha, P.Mn * a[:, 0:1] + a[:, 1:2] * Cnx)
    return jnp.concatenate([rhs - kappa, sheet_residual(P, mu, Q, x[R:], q, form)])


@jax.jit
def _chaotic_kappa_root(P, a, b, fa, fb, q):
    """Rank one: the root in kappa of F(kappa) = RHS - kappa on the chaotic sheet, in [a, b]
    (bracketing at both levels; the fallback when Newton from interpolation fails)."""

    def F(k):
        kv = k[None]
        dinf, T, ok = sheet_robust(P, kv, q)
        return chaotic_residual(P, jnp.concatenate([kv, dinf[None], T[None]]), q)[0]

    def one(a, b, fa, fb):
        k = chandrupatla(F, a, b, fa, fb, xtol=1e-12)
        dinf, T, ok = sheet_robust(P, k[None], q)
        return jnp.stack([k, dinf, T]), ok

    return jax.vmap(one)(a, b, fa, fb)


@jax.jit
def _bulk_edge(P, a, b, q):
    """Rank one: kappa in [a, b] where the stationary bulk radius crosses 1 (the chaotic sheet's edge,
    where it meets the stationary solution with T = 0), with d_stat and F_stat there."""

    def r2m1(k):
        kv = k[None]
        d = solve_d(P, kv, q)
        mu, Q, _, _ = structure(P, kv)
        return P.g**2 * jnp.sum(P.alpha * pavg((DPHI2,), mu, d + Q, q.z, q.w)[:, 0]) - 1.0

    def one(a, b):
        fa, fb = r2m1(a), r2m1(b)
        k = chandrupatla(r2m1, a, b, fa, fb, xtol=1e-13)
        d = solve_d(P, k[None], q)
        rhs, _ = stationary_map(P, k[None], d, q)
        return k, d, rhs[0] - k, fa * fb <= 0

    return jax.vmap(one)(a, b)


@partial(jax.jit, static_argnames=("form",))
def _chaotic_latent_jacobian(P, x, q, form="phi"):
    """d(RHS)/d(kappa) along the chaotic sheet (variances eliminated by the implicit function theorem)."""
    R = P.Mm.shape[1]
    J = jax.jacfwd(lambda y: chaotic_residual(P, y, q, form))(x)
    A, Bm, Cm, Dm = J[:R, :R], J[:R, R:], J[R:, :R], J[R:, R:]
    return jnp.eye(R) + A - Bm @ jnp.linalg.solve(Dm, Cm)


def _polish_chaotic(P, x0, q):
    """Newton on the full chaotic system from each row of x0 (numpy), in the form of the energy
    equation that suits its temporal variance (see :func:`energy`)."""
    x0 = np.asarray(x0, np.float64)
    x, err = np.empty_like(x0), np.empty(len(x0))
    R = x0.shape[1] - 2
    for form, sel in (("phi", x0[:, R + 1] >= 1e-3), ("gl", x0[:, R + 1] < 1e-3)):
        if np.any(sel):
            xp, n = pad_rows(x0[sel])
            res = jax.tree_util.Partial(_RESIDUAL_BY_FORM[form], P, q=q)
            xs, es = polish_batch(res, jnp.asarray(xp))
            x[sel], err[sel] = np.asarray(xs)[:n], np.asarray(es)[:n]
    return x, err


_RESIDUAL_BY_FORM = {"phi": partial(chaotic_residual, form="phi"), "gl": partial(chaotic_residual, form="gl")}


def _energy_form(T: float) -> str:
    return "phi" if T >= 1e-3 else "gl"


def chaotic_states(ensemble: Ensemble, inputs=None, *, n_nodes: int = DEFAULT_NODES, n_nested: int = DEFAULT_NESTED,
                   n_grid: int = 161, n_starts: int | None = None) -> list[ChaoticState]:
    """Return every chaotic solution of the mean-field equations (temporal variance > 0), sorted by kappa.

    Solves (Mastrogiuseppe & Ostojic 2018, Methods, "chaotic solutions"; shared random part
    (d0, d_inf) across populations for mixtures, Beiran et al. 2021)

        kappa_r  = sum_p alpha_p { M_{n_r} [phi]_p + [phi']_p ( sum_s s_{n_r m_s} kappa_s + sum_k s_{n_r I_k} u_k ) }
        d_inf    = g^2 sum_p alpha_p <<phi>>^2_p,           Delta0_p = d0 + Q_p, Delta_inf_p = d_inf + Q_p
        (d0^2 - d_inf^2)/2 = g^2 sum_p alpha_p ([Phi^2]_p - <<Phi>>^2_p)

    ([.] at the full variance Delta0_p), in the regularised form E / (d0 - d_inf)^2 = 0 that excludes
    the stationary solution d_inf = d0 (module docstring). For one population this is the published
    ``(D0^2 - Dinf^2)/2 = g^2([Phi^2] - <<Phi>>^2) + Q (D0 - Dinf)``, ``Dinf = g^2 <<phi>>^2 + Q``.

    Method. For fixed kappa the variances (the "chaotic sheet") are found by bracketing: d_inf in
    (0, d_stat(kappa)), and for each d_inf the unique d0 in [d_inf, g^2]. Rank one: the residual
    F(kappa) = RHS - kappa on the sheet is scanned on ``n_grid`` points of [-B, B] (an interval that
    contains every solution), continuing the sheet by Newton from point to point and bracketing
    afresh where that fails; the sheet's domain ends where the stationary bulk radius crosses 1, and
    those edges are located exactly. Every sign change of F is solved by Newton on the full system
    (kappa, d_inf, d0 - d_inf), with nested bracketing as the fallback. Rank R > 1: damped Newton on
    the full system from a grid of starts in the box |kappa_r| <= B_r (default 15 per axis for
    R = 2, 7 for R = 3), each started on the sheet, explored with a coarse quadrature and polished
    with the full one; same limits as :func:`stationary_states` (chaotic states only exist where the
    fixed point with the same kappa is bulk-unstable, which can be a small part of the box).

    Parameters
    ----------
    ensemble: the :class:`~lowrank_rnn.Ensemble` (any rank, inputs, mixture).
    inputs: tonic amplitudes u_k, one per input vector I1..IK (default: all zero).
    n_nodes, n_nested: quadrature nodes for single and (per dimension) nested averages.
    n_grid: grid points of the rank-one scan.
    n_starts: starting points per dimension for R > 1.

    Examples
    --------
    >>> from lowrank_rnn import Ensemble
    >>> ens = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=2.0)
    >>> [round(float(s.kappa[0]), 3) for s in chaotic_states(ens)]
    [-0.332, 0.0, 0.332]
    """
    ensemble = check_ensemble(ensemble)
    u = check_inputs(ensemble, inputs)
    n_nodes, n_nested = check_nodes(n_nodes, n_nested)
    n_grid = positive_int("n_grid", n_grid, low=11)
    if n_starts is not None:
        n_starts = positive_int("n_starts", n_starts, low=2)
    R, C = ensemble.rank, ensemble.n_populations
    if ensemble.g == 0.0:
        return []  # no random part, no chaos
    with float64():
        P = solver_statistics(ensemble, u)
        q = quadrature(n_nodes, n_nested)
        B = kappa_bound(P, n_variances(ensemble))
        if R == 1:
            xs = _chaotic_rank_one(P, q, float(B[0]), n_grid)
        else:
            xs = _chaotic_multistart(P, q, B, n_starts)
        xs = dedupe(xs, 1e-6, relative=True)
        states = []
        for x in xs:
            kappa, dinf, T = x[:R], x[R], x[R + 1]
            mu, Q, _, _ = (np.asarray(a) for a in structure(P, jnp.asarray(kappa)))
            lat = np.linalg.eigvals(np.asarray(_chaotic_latent_jacobian(P, jnp.asarray(x), q,
                                                                        _energy_form(float(T)))))
            states.append(ChaoticState(kappa=np.asarray(kappa).copy(), mu=per_population(mu, C),
                                       delta0=per_population(dinf + T + Q, C),
                                       delta_inf=per_population(dinf + Q, C),
                                       stable=bool(np.all(lat.real < 1.0))))
    states.sort(key=lambda s: tuple(s.kappa))
    return states


def _chaotic_rank_one(P, q, B, n_grid) -> list[np.ndarray]:
    k = symmetric_grid(B, n_grid)
    dinf, T, ok, F = (np.asarray(a) for a in _sheet_scan(P, jnp.asarray(k)[:, None], q))
    F = np.where(np.abs(F[:, 0]) < 1e-14, 0.0, F[:, 0])
    pts = [(k[i], dinf[i], T[i], F[i]) for i in np.flatnonzero(ok)]
    # edges of the sheet's domain: the stationary bulk radius crosses 1 there (T = 0)
    flips = [i for i in range(len(k) - 1) if ok[i] != ok[i + 1]]
    if flips:
        a, n = pad_rows(np.array([k[i] for i in flips]))
        b, _ = pad_rows(np.array([k[i + 1] for i in flips]))
        ke, de, Fe, found = (np.asarray(v)[:n] for v in _bulk_edge(P, jnp.asarray(a), jnp.asarray(b), q))
        pts += [(ke[j], de[j], 0.0, Fe[j]) for j in range(n) if found[j]]
    pts.sort(key=lambda p: p[0])
    starts, brackets = [], []  # brackets[i]: the sign change starts[i] came from, or None
    for (k0, d0_, T0, F0), (k1, d1, T1, F1) in zip(pts[:-1], pts[1:]):
        if F0 == 0.0 and T0 > 0:
            starts.append([k0, d0_, T0]), brackets.append(None)
        if F0 * F1 < 0 and k1 - k0 < 2.5 * (k[1] - k[0]):  # neighbours on the sheet
            s = F0 / (F0 - F1)
            starts.append([k0 + s * (k1 - k0), d0_ + s * (d1 - d0_), max(T0 + s * (T1 - T0), 1e-9)])
            brackets.append((k0, k1, F0, F1))
    if pts and pts[-1][3] == 0.0 and pts[-1][2] > 0:
        starts.append(list(pts[-1][:3])), brackets.append(None)
    if not starts:
        return []
    x, err = _polish_chaotic(P, np.array(starts, np.float64), q)
    n = len(x)
    good = (err < 1e-10) & (x[:, 2] > 0) & (x[:, 1] >= -1e-14)
    out = [x[i] for i in np.flatnonzero(good)]
    # fallback: nested bracketing where Newton from the interpolated start failed
    bad = [brackets[i] for i in range(n) if not good[i] and brackets[i] is not None]
    if bad:
        padded = [pad_rows(np.array(v, np.float64))[0] for v in zip(*bad)]
        xb, okb = (np.asarray(v)[: len(bad)] for v in _chaotic_kappa_root(P, *(jnp.asarray(a) for a in padded), q))
        out += [xb[i] for i in np.flatnonzero(okb)]
    return out


def _snake(grid_axes: list[np.ndarray]) -> np.ndarray:
    """The points of a regular grid in boustrophedon order: consecutive points are neighbours, so
    that the chaotic sheet can be continued from one start to the next."""
    if len(grid_axes) == 1:
        return grid_axes[0][:, None]
    rest = _snake(grid_axes[1:])
    rows = []
    for i, a in enumerate(grid_axes[0]):
        block = rest if i % 2 == 0 else rest[::-1]
        rows.append(np.concatenate([np.full((len(block), 1), a), block], axis=1))
    return np.concatenate(rows)


def _chaotic_multistart(P, q, B, n_starts) -> list[np.ndarray]:
    R = len(B)
    if n_starts is None:  # chaotic states live where the fixed point's bulk is unstable: a finer grid
        n_starts = max(3, min(15, int(round(400 ** (1.0 / R)))))
    k0 = _snake([np.linspace(-b, b, n_starts) * 0.95 for b in B])
    k0 = np.concatenate([np.zeros((1, R)), k0])
    dinf, T, ok, _ = (np.asarray(a) for a in _sheet_scan(P, jnp.asarray(k0), q))
    if not np.any(ok):
        return []
    x0 = np.concatenate([k0[ok], dinf[ok][:, None], T[ok][:, None]], axis=1)
    x0, n = pad_rows(x0)
    # explore with a coarse quadrature (4x cheaper), then polish the distinct survivors with the full one
    coarse = quadrature(min(len(q.z), 101), min(len(q.zn), 41))
    x, err = (np.asarray(a)[:n] for a in _damped_newton_full(P, jnp.asarray(x0), coarse))
    keep = (err < 1e-8) & (x[:, R + 1] > 0) & (x[:, R] > -1e-12)
    if not np.any(keep):
        return []
    x = np.stack(dedupe(x[keep], 1e-6, relative=True))
    xp, errp = _polish_chaotic(P, x, q)
    good = (errp < 1e-10) & (xp[:, R + 1] > 0) & (xp[:, R] >= -1e-14)
    return dedupe(xp[good], 1e-7, relative=True)


@partial(jax.jit, static_argnames=("n_iter",))
def _damped_newton_full(P, x0, q, n_iter=20):
    """Damped Newton on the chaotic residual in (kappa, d_inf, T), vmapped over starts; the step is
    halved until the residual decreases and T > 0, d_inf >= 0. Uses the ln cosh form of the energy
    equation (the survivors are polished with the form that suits their T)."""
    R = P.Mm.shape[1]

    def F(x):
        return chaotic_residual(P, x, q, form="phi")

    search = FirstDecrease(valid=lambda x: (x[R] >= 0) & (x[R + 1] > 0))

    def one(x):
        x = damped_newton(F, x, n_iter=n_iter, line_search=search)
        return x, jnp.max(jnp.abs(F(x)))

    return jax.vmap(one)(x0)
