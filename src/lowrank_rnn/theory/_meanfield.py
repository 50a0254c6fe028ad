"""Dynamic mean-field theory of low-rank networks: stationary and chaotic states, and their stability.

Network (Mastrogiuseppe & Ostojic 2018, Neuron 99:609, eq. 1; time in units of tau, phi = tanh):

    dx_i/dt = -x_i + sum_j J_ij phi(x_j) + sum_k I_ki u_k,    J = g chi + (1/N) sum_r m_r n_r^T.

Mean field (M&O 2018, Methods; Beiran et al. 2021, Neural Comput. 33:1572, for mixtures). Neuron i
of population p sees ``x_i = sum_r m_ri kappa_r + sum_k I_ki u_k + g eta_i`` with eta_i a Gaussian
process shared in law by all neurons. With M = means and s = covariances of the loadings *within*
population p, and [f]_p the Gaussian average of f at mean mu_p and variance Delta0_p:

    mu_p     = sum_r M_{m_r} kappa_r + sum_k M_{I_k} u_k
    Q_p      = sum_{rs} s_{m_r m_s} kappa_r kappa_s + 2 sum_{rk} s_{m_r I_k} kappa_r u_k
               + sum_{kl} s_{I_k I_l} u_k u_l                     (structured variance)
    kappa_r  = sum_p alpha_p { M_{n_r} [phi]_p + [phi']_p ( sum_s s_{n_r m_s} kappa_s + sum_k s_{n_r I_k} u_k ) }
    Delta0_p = d0 + Q_p,        Delta_inf_p = d_inf + Q_p

The random part ``g eta`` has the same statistics in every population, because eta_i = sum_j
chi_ij phi(x_j) sums over all neurons: its variance d0 (and its static part d_inf) is shared.

- Stationary states: ``d0 = d_inf = d = g^2 sum_p alpha_p [phi^2]_p``.
- Chaotic states (M&O 2018, Methods, after Sompolinsky, Crisanti & Sommers 1988): the averages in
  the kappa equation are taken at the full variance Delta0_p, and

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

Stability of a stationary state x*: the eigenvalues of J diag(phi'(x*)) are a bulk disk of radius
``g sqrt(sum_p alpha_p [phi'^2]_p)`` (M&O 2018: the state turns chaotic when it reaches 1), plus
outliers, predicted by linearising the mean-field map (kappa, d) -> (RHS of kappa, g^2 sum alpha
[phi^2]). This generalises the 3 x 3 matrix of M&O (2018, Methods, in (mu, Delta0, kappa)): for rank
one, one population, it has the same non-zero eigenvalues (tests/test_meanfield.py checks this).

Quadrature: equally spaced nodes on [-8.5, 8.5] with normalised Gaussian weights (the trapezoid
rule, exponentially accurate for analytic integrands). At the large variances that structured
states reach (Delta0 of 10-20), it is several orders more accurate than Gauss-Hermite with the same
number of nodes (GH-200 errs by ~3e-4 in [phi'] at Delta0 = 20, the trapezoid with 201 nodes by
~1e-10).
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache, partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import positive_int
from .._ensemble import Ensemble
from .._errors import ArgumentError, ArgumentTypeError
from .._tanh import tanh
from ._gaussian import _nodes  # the one quadrature rule (trapezoid on [-8.5, 8.5])
from ._precision import float64, float64_array
from ._rootfind import chandrupatla, safeguarded_newton

__all__ = ["StationaryState", "ChaoticState", "stationary_states", "chaotic_states"]

#: Default number of quadrature nodes for single Gaussian averages.
N_NODES = 201
#: Default number of nodes per dimension for nested (double) averages.
N_NODES_NESTED = 81
#: Gauss–Legendre nodes for the integral over t in the regularised energy equation.
N_ENERGY = 12


def _energy_nodes(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes t on [0, 1] and weights (1 - t) w_GL, for int_0^1 (1 - t) f(t) dt (weights sum to 1/2);
    new arrays on every call, like :func:`~lowrank_rnn.theory._gaussian._nodes`."""
    x, w = np.polynomial.legendre.leggauss(n)
    t = 0.5 * (x + 1.0)
    return t, 0.5 * w * (1.0 - t)


class _Quad(NamedTuple):
    z: jax.Array  # single averages
    w: jax.Array
    zn: jax.Array  # nested averages (both levels)
    wn: jax.Array
    t: jax.Array  # energy integral
    wt: jax.Array


def _quad(n_nodes: int, n_nested: int) -> _Quad:
    z, w = _nodes(n_nodes)
    zn, wn = _nodes(n_nested)
    t, wt = _energy_nodes(N_ENERGY)
    return _Quad(*(float64_array(a) for a in (z, w, zn, wn, t, wt)))


# --------------------------------------------------------------------------------- the ensemble

class _Params(NamedTuple):
    """Loading statistics per population, float64: the only thing the equations need."""

    alpha: jax.Array  # (C,)
    Mm: jax.Array  # (C, R)
    Mn: jax.Array  # (C, R)
    MI: jax.Array  # (C, K)
    Smm: jax.Array  # (C, R, R)
    Snm: jax.Array  # (C, R, R)  row n_r, column m_s
    SmI: jax.Array  # (C, R, K)
    SnI: jax.Array  # (C, R, K)
    SII: jax.Array  # (C, K, K)
    g: jax.Array  # ()
    u: jax.Array  # (K,)


def _check_ensemble(ensemble) -> Ensemble:
    if not isinstance(ensemble, Ensemble):
        raise ArgumentTypeError(f"ensemble must be a lowrank_rnn.Ensemble, got {type(ensemble).__name__}")
    return ensemble


def _check_inputs(ensemble: Ensemble, inputs) -> np.ndarray:
    K = ensemble.n_inputs
    if inputs is None:
        return np.zeros(K)
    try:
        u = np.asarray(inputs, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentTypeError("inputs must be a sequence of real numbers (one tonic amplitude per input "
                        "vector I1..IK)") from None
    u = np.atleast_1d(u)
    if u.ndim != 1 or u.shape[0] != K:
        names = ", ".join(f"I{k + 1}" for k in range(K)) or "none"
        raise ArgumentError(f"inputs must have {K} entries, one tonic amplitude per input vector of the "
                         f"ensemble ({names}); got shape {np.shape(inputs)}")
    if not np.all(np.isfinite(u)):
        raise ArgumentError("inputs contains non-finite values (NaN or inf)")
    return u


#: input vectors are padded with silent ones (zero mean, zero covariance, zero amplitude) up to this
#: number, so that ensembles with 0, 1 or 2 inputs share one compilation of every solver
_MIN_INPUTS = 2


def _params(ensemble: Ensemble, u: np.ndarray) -> _Params:
    mean = np.asarray(ensemble.mean, np.float64)
    cov = np.asarray(ensemble.cov, np.float64)
    sm, sn, sI = (ensemble._slice(k) for k in ("m", "n", "I"))
    C, R, K = mean.shape[0], ensemble.rank, ensemble.n_inputs
    pad = max(0, _MIN_INPUTS - K)
    MI = np.concatenate([mean[:, sI], np.zeros((C, pad))], axis=1)
    SmI = np.concatenate([cov[:, sm, sI], np.zeros((C, R, pad))], axis=2)
    SnI = np.concatenate([cov[:, sn, sI], np.zeros((C, R, pad))], axis=2)
    SII = np.zeros((C, K + pad, K + pad))
    SII[:, :K, :K] = cov[:, sI, sI]
    f = float64_array
    return _Params(alpha=f(ensemble.weights), Mm=f(mean[:, sm]), Mn=f(mean[:, sn]), MI=f(MI),
                   Smm=f(cov[:, sm, sm]), Snm=f(cov[:, sn, sm]), SmI=f(SmI), SnI=f(SnI), SII=f(SII),
                   g=f(ensemble.g), u=f(np.concatenate([u, np.zeros(pad)])))


def _structure(P: _Params, kappa):
    """mu_p, Q_p, Cov(n_r, x)_p and Cov(m_r, x)_p of the structured part, for latents ``kappa``."""
    Cmx = jnp.einsum("crs,s->cr", P.Smm, kappa) + jnp.einsum("crk,k->cr", P.SmI, P.u)
    Cnx = jnp.einsum("crs,s->cr", P.Snm, kappa) + jnp.einsum("crk,k->cr", P.SnI, P.u)
    mu = P.Mm @ kappa + P.MI @ P.u
    Q = (jnp.einsum("r,crs,s->c", kappa, P.Smm, kappa) + 2.0 * jnp.einsum("r,crk,k->c", kappa, P.SmI, P.u)
         + jnp.einsum("k,ckl,l->c", P.u, P.SII, P.u))
    return mu, jnp.maximum(Q, 0.0), Cnx, Cmx


# Gaussian averages of polynomials in t = tanh(x). Every function the equations need is one:
# phi = t, phi' = 1 - t^2, phi'' = -2 t (1 - t^2), phi^2 = t^2, ... and d/dx p(t) = p'(t) (1 - t^2).
# Their derivatives follow from Price's theorem, d[f]/dmu = [f'], d[f]/dvar = [f'']/2, which also
# holds at zero variance (where differentiating through sqrt(var) would give 0 * inf).
PHI = (0.0, 1.0)
DPHI = (1.0, 0.0, -1.0)
PHI2 = (0.0, 0.0, 1.0)
DPHI2 = (1.0, 0.0, -2.0, 0.0, 1.0)


@lru_cache(maxsize=None)
def _dx(poly: tuple) -> tuple:
    """Coefficients of d/dx p(tanh x) = p'(t) (1 - t^2), as a polynomial in t."""
    P = np.polynomial.polynomial
    out = P.polymul(P.polyder(np.asarray(poly, float)) if len(poly) > 1 else [0.0], [1.0, 0.0, -1.0])
    return tuple(float(c) for c in out)


def _eval_polys(t, polys: tuple):
    """p_f(t) for every polynomial in ``polys`` (Horner's scheme): t (...,) -> (..., F)."""
    out = []
    for p in polys:
        v = jnp.full_like(t, p[-1])
        for c in p[-2::-1]:
            v = v * t + c if c != 0.0 else v * t
        out.append(v)
    return jnp.stack(out, axis=-1)


@partial(jax.custom_jvp, nondiff_argnums=(0,))
def _pavg(polys: tuple, mu, var, z, w):
    """[p_f](mu, var) for each polynomial p_f in t = tanh: shape (..., F)."""
    t = tanh(mu[..., None] + jnp.sqrt(jnp.maximum(var, 0.0))[..., None] * z)
    return jnp.einsum("...nf,n->...f", _eval_polys(t, polys), w)


@_pavg.defjvp
def _pavg_jvp(polys, primals, tangents):
    mu, var, z, w = primals
    dmu, dvar = tangents[0], tangents[1]
    q1 = tuple(_dx(p) for p in polys)
    q2 = tuple(_dx(p) for p in q1)
    out = _pavg(polys, mu, var, z, w)
    d1 = _pavg(q1, mu, var, z, w)
    d2 = _pavg(q2, mu, var, z, w)
    return out, d1 * dmu[..., None] + 0.5 * d2 * dvar[..., None]


def _nested_inner(polys: tuple, mu, vin, vout, z, w):
    """Inner averages (over the temporal part, variance vin) at each outer node: (..., n_out, F)."""
    si = jnp.sqrt(jnp.maximum(vin, 0.0))[..., None, None]
    so = jnp.sqrt(jnp.maximum(vout, 0.0))[..., None, None]
    t = tanh(mu[..., None, None] + si * z[:, None] + so * z[None, :])  # (..., n_in, n_out)
    return jnp.einsum("...iof,i->...of", _eval_polys(t, polys), w)


@partial(jax.custom_jvp, nondiff_argnums=(0,))
def _pnest(polys: tuple, mu, vin, vout, z, w):
    """<<p_f>>^2 = int Dz ( int Dx p_f(mu + sqrt(vin) x + sqrt(vout) z) )^2 for each p_f: (..., F).

    ``vout`` is the static variance (Delta_inf), ``vin`` the temporal one (Delta0 - Delta_inf).
    """
    inner = _nested_inner(polys, mu, vin, vout, z, w)
    return jnp.einsum("...of,o->...f", inner**2, w)


@_pnest.defjvp
def _pnest_jvp(polys, primals, tangents):
    mu, vin, vout, z, w = primals
    dmu, dvin, dvout = tangents[0], tangents[1], tangents[2]
    F = len(polys)
    q1 = tuple(_dx(p) for p in polys)
    q2 = tuple(_dx(p) for p in q1)
    inner = _nested_inner(polys + q1 + q2, mu, vin, vout, z, w)
    I0, I1, I2 = inner[..., :F], inner[..., F:2 * F], inner[..., 2 * F:]
    out = jnp.einsum("...of,o->...f", I0**2, w)
    d_mu = 2.0 * jnp.einsum("...of,o->...f", I0 * I1, w)
    d_in = jnp.einsum("...of,o->...f", I0 * I2, w)
    d_out = jnp.einsum("...of,o->...f", I1**2 + I0 * I2, w)
    return out, d_mu * dmu[..., None] + d_in * dvin[..., None] + d_out * dvout[..., None]


def _value_and_jacobian(f, x):
    """f(x) and its Jacobian from one forward-mode pass (the primal is not evaluated twice)."""
    J, r = jax.jacfwd(lambda y: (f(y), f(y)), has_aux=True)(x)
    return r, J


# ------------------------------------------------------------------------------ stationary states

def _stationary_map(P: _Params, kappa, d, q: _Quad):
    """The mean-field map (kappa, d) -> (RHS of the kappa equation, g^2 sum_p alpha_p [phi^2]_p)."""
    mu, Q, Cnx, _ = _structure(P, kappa)
    a = _pavg((PHI, DPHI, PHI2), mu, d + Q, q.z, q.w)
    rhs = jnp.einsum("c,cr->r", P.alpha, P.Mn * a[:, 0:1] + a[:, 1:2] * Cnx)
    return rhs, P.g**2 * jnp.sum(P.alpha * a[:, 2])


def _solve_d(P: _Params, kappa, q: _Quad):
    """Largest root d of d = g^2 sum_p alpha_p [phi^2](mu_p, d + Q_p), in [0, g^2].

    h(d) = g^2 sum alpha [phi^2] - d is >= 0 at d = 0 and <= 0 at d = g^2. With no drive
    (mu = Q = 0) and g > 1, d = 0 is also a root (the state x = 0); the bracket then starts just
    above it so that the static heterogeneous root is returned (x = 0 is added separately).
    """
    mu, Q, _, _ = _structure(P, kappa)
    g2 = P.g**2

    def h_dh(d):
        a = _pavg((PHI2, _dx(_dx(PHI2))), mu, d + Q, q.z, q.w)
        return g2 * jnp.sum(P.alpha * a[:, 0]) - d, 0.5 * g2 * jnp.sum(P.alpha * a[:, 1]) - 1.0

    undriven = jnp.all((mu == 0) & (Q == 0))
    lo = jnp.where(undriven & (P.g > 1.0), 1e-12 * g2, 0.0)
    d = safeguarded_newton(h_dh, lo, g2, g2, n_iter=60)
    # undriven with g <= 1: g^2 [phi^2](0, d) < d for d > 0, so d = 0 exactly
    return jnp.where(undriven & (P.g <= 1.0), 0.0, d)


def _stationary_residual(P: _Params, x, q: _Quad):
    R = P.Mm.shape[1]
    rhs, dn = _stationary_map(P, x[:R], x[R], q)
    return jnp.concatenate([rhs - x[:R], (dn - x[R])[None]])


@jax.jit
def _kappa_residual_1d(P: _Params, kappas, q: _Quad):
    """F(kappa) = RHS(kappa, d(kappa)) - kappa for rank one, over an array of kappa; and d(kappa)."""

    def one(k):
        kv = k[None]
        d = _solve_d(P, kv, q)
        rhs, _ = _stationary_map(P, kv, d, q)
        return rhs[0] - k, d

    return jax.vmap(one)(kappas)


@partial(jax.jit, static_argnames=("n_iter",))
def _newton(res_fn, x0, n_iter=8):
    """Plain Newton on res_fn (vectorised over a leading axis of x0); returns x and |res|_inf."""

    def one(x):
        def body(_, x):
            r, J = _value_and_jacobian(res_fn, x)
            dx = jnp.linalg.solve(J, r)
            return jnp.where(jnp.all(jnp.isfinite(dx)), x - dx, x)

        x = jax.lax.fori_loop(0, n_iter, body, x)
        return x, jnp.max(jnp.abs(res_fn(x)))

    return jax.vmap(one)(x0)


def _polish_stationary(P, x0, q):
    res = jax.tree_util.Partial(_stationary_residual, P, q=q)
    return _newton(res, x0)


@jax.jit
def _stationary_linearisation(P: _Params, kappa, d, q: _Quad):
    """Jacobian of the map (kappa, d) -> (RHS, g^2 sum alpha [phi^2]) and the bulk radius."""
    R = P.Mm.shape[1]

    def mapping(x):
        rhs, dn = _stationary_map(P, x[:R], x[R], q)
        return jnp.concatenate([rhs, dn[None]])

    jac = jax.jacfwd(mapping)(jnp.concatenate([kappa, d[None]]))
    mu, Q, _, _ = _structure(P, kappa)
    radius = P.g * jnp.sqrt(jnp.sum(P.alpha * _pavg((DPHI2,), mu, d + Q, q.z, q.w)[:, 0]))
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


def _per_population(arr, C: int):
    arr = np.asarray(arr, np.float64)
    return float(arr[0]) if C == 1 else arr.copy()


def _make_stationary(P, kappa, d, q, C) -> StationaryState:
    jac, radius, mu, D0 = _stationary_linearisation(P, jnp.asarray(kappa), jnp.asarray(d), q)
    eig = np.linalg.eigvals(np.asarray(jac))
    eig = eig[np.lexsort((-eig.imag, -eig.real))]
    radius = float(radius)
    stable = bool(radius < 1.0 and np.all(eig.real < 1.0))
    return StationaryState(kappa=np.asarray(kappa, np.float64).copy(), mu=_per_population(mu, C),
                           delta0=_per_population(D0, C), bulk_radius=radius, outliers=eig, stable=stable)


def _bound(P: _Params, snn: np.ndarray) -> np.ndarray:
    """B_r with |kappa_r| <= B_r for every solution, stationary or chaotic; ``snn`` is Var(n_r), (C, R).

    |[phi'](mu, D) C| <= sigma_n sqrt(Q) * 2 / sqrt(2 pi D) <= sigma_n sqrt(2/pi), because
    [phi'] <= int phi' / sqrt(2 pi D) = 2 / sqrt(2 pi D), D >= Q, and |C| = |Cov(n, structured part)|
    <= sigma_n sqrt(Q) (Cauchy-Schwarz). Hence |RHS_r| <= sum_p alpha_p (|M_{n_r}| + sigma_{n_r} sqrt(2/pi)).
    """
    alpha = np.asarray(P.alpha)
    B = alpha @ (np.abs(np.asarray(P.Mn)) + np.sqrt(np.clip(snn, 0, None)) * np.sqrt(2.0 / np.pi))
    return np.maximum(B, 1e-3) * 1.02


def _snn(ensemble: Ensemble) -> np.ndarray:
    sn = ensemble._slice("n")
    cov = np.asarray(ensemble.cov, np.float64)[:, sn, sn]
    return np.diagonal(cov, axis1=1, axis2=2)


def _check_nodes(n_nodes, n_nested):
    n_nodes = positive_int("n_nodes", n_nodes, low=21)
    n_nested = positive_int("n_nested", n_nested, low=21)
    return n_nodes, n_nested


def _dedupe(rows: list[np.ndarray], tol: float) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for r in rows:
        if all(np.max(np.abs(r - o)) > tol * max(1.0, np.max(np.abs(o))) for o in out):
            out.append(r)
    return out


def _brackets_1d(F: np.ndarray, k: np.ndarray, fun) -> list[tuple[float, float] | float]:
    """Sign changes of F on the grid k (exact zeros returned as points), plus pairs of roots hidden
    between two grid points (a local extremum of F that crosses zero), found by minimising."""
    from scipy.optimize import minimize_scalar

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


def stationary_states(ensemble: Ensemble, inputs=None, *, n_nodes: int = N_NODES, n_grid: int = 401,
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
    >>> [(round(float(s.kappa[0]), 4), s.stable) for s in stationary_states(ens)]  # doctest: +SKIP
    [(-1.8..., True), (0.0, False), (1.8..., True)]
    """
    ensemble = _check_ensemble(ensemble)
    u = _check_inputs(ensemble, inputs)
    n_nodes, _ = _check_nodes(n_nodes, N_NODES_NESTED)
    n_grid = positive_int("n_grid", n_grid, low=11)
    R, C = ensemble.rank, ensemble.n_populations
    if n_starts is not None:
        n_starts = positive_int("n_starts", n_starts, low=2)
    with float64():
        P = _params(ensemble, u)
        q = _quad(n_nodes, N_NODES_NESTED)
        B = _bound(P, _snn(ensemble))
        sols: list[np.ndarray] = []  # rows (kappa..., d)
        if R == 1:
            sols = _stationary_rank_one(P, q, float(B[0]), n_grid)
        else:
            sols = _stationary_multistart(P, q, B, n_starts)
        # x = 0 with d = 0 when nothing drives the network and g > 1 (the bracket skipped it)
        zero = jnp.zeros(R)
        mu0, Q0, _, _ = _structure(P, zero)
        if ensemble.g > 1.0 and np.all(np.asarray(mu0) == 0) and np.all(np.asarray(Q0) == 0):
            sols.append(np.zeros(R + 1))
        sols = _dedupe(sols, 1e-7)
        states = [_make_stationary(P, s[:R], s[R], q, C) for s in sols]
    states.sort(key=lambda s: (tuple(s.kappa), float(np.mean(s.delta0))))
    return states


def _symmetric_grid(B: float, n: int) -> np.ndarray:
    """n (made odd) points on [-B, B], symmetric, with kappa = 0 exactly a node."""
    pos = np.linspace(0.0, B, n // 2 + 1)[1:]
    return np.concatenate([-pos[::-1], [0.0], pos])


def _stationary_rank_one(P, q, B, n_grid) -> list[np.ndarray]:
    from scipy.optimize import brentq

    k = _symmetric_grid(B, n_grid)
    F, _ = (np.asarray(a) for a in _kappa_residual_1d(P, jnp.asarray(k), q))
    F = np.where(np.abs(F) < 1e-14, 0.0, F)  # an exact root on the grid (kappa = 0 by symmetry)

    def fun(x):
        return float(_kappa_residual_1d(P, jnp.asarray([x]), q)[0][0])

    roots = []
    for br in _brackets_1d(F, k, fun):
        roots.append(br if isinstance(br, float) else brentq(fun, br[0], br[1], xtol=1e-14, rtol=1e-14))
    if not roots:
        return []
    kr, n = _pad(np.asarray(roots, np.float64))
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
    return jax.vmap(lambda xi: jnp.max(jnp.abs(_stationary_residual(P, xi, q))))(x)


@partial(jax.jit, static_argnames=("n_iter",))
def _damped_newton_kappa(P, k0, q, n_iter=60):
    """Damped Newton on F(kappa) = RHS(kappa, d(kappa)) - kappa, vmapped over starts."""
    steps = 0.5 ** jnp.arange(8.0)

    def F(k):
        d = _solve_d(P, k, q)
        rhs, _ = _stationary_map(P, k, d, q)
        return rhs - k

    def one(k):
        def body(_, k):
            r, J = _value_and_jacobian(F, k)
            dk = jnp.linalg.lstsq(J, r)[0]
            cand = k[None] - steps[:, None] * dk[None]
            norms = jax.vmap(lambda c: jnp.sum(F(c) ** 2))(cand)
            norms = jnp.where(jnp.isfinite(norms), norms, jnp.inf)
            best = jnp.argmin(norms)
            return jnp.where(norms[best] < jnp.sum(r**2), cand[best], k)

        k = jax.lax.fori_loop(0, n_iter, body, k)
        return k, jnp.max(jnp.abs(F(k))), _solve_d(P, k, q)

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
    x0, n = _pad(np.concatenate([k[ok], d[ok][:, None]], axis=1))
    x, err2 = (np.asarray(a)[:n] for a in _polish_stationary(P, jnp.asarray(x0), q))
    x0 = x0[:n]
    x = np.where((err2 < 1e-11)[:, None], x, x0)
    return _dedupe([r for r in x], 1e-6)


# --------------------------------------------------------------------------------- chaotic states

def _G(P, mu, Q, d0, dinf, q):
    """g^2 sum alpha <<phi>>^2 - d_inf at random-part variances (d0, d_inf)."""
    nest = _pnest((PHI,), mu, d0 - dinf, dinf + Q, q.zn, q.wn)[:, 0]
    return P.g**2 * jnp.sum(P.alpha * nest) - dinf


def _Etilde_gl(P, mu, Q, dinf, T, q):
    """E / T^2 = 1/2 - g^2 sum_p alpha_p int_0^1 (1 - t) <<phi'>>^2(cov = d_inf + Q_p + t T) dt, by
    Gauss-Legendre in t (reference form, used in the tests to check :func:`_Etilde`)."""

    def at(t):
        nest = _pnest((DPHI,), mu, T * (1.0 - t), dinf + Q + t * T, q.zn, q.wn)[:, 0]
        return jnp.sum(P.alpha * nest)

    vals = jax.vmap(at)(q.t)
    return 0.5 - P.g**2 * jnp.sum(q.wt * vals)


def _nested_t_Phi(mu, vin, vout, z):
    """tanh and Phi = ln cosh at the nested nodes (inner axis -2, outer -1), from one exponential."""
    si = jnp.sqrt(jnp.maximum(vin, 0.0))[..., None, None]
    so = jnp.sqrt(jnp.maximum(vout, 0.0))[..., None, None]
    x = mu[..., None, None] + si * z[:, None] + so * z[None, :]
    ax = jnp.abs(x)
    e = jnp.exp(-2.0 * ax)
    return jnp.sign(x) * (1.0 - e) / (1.0 + e), ax + jnp.log1p(e) - np.log(2.0)


@jax.custom_jvp
def _var_Phi(mu, vin, vout, z, w):
    """[Phi^2] - <<Phi>>^2 = int Dz Var_x Phi(mu + sqrt(vin) x + sqrt(vout) z), Phi = ln cosh.

    Computed as the outer average of the inner variance (centred), so that it keeps full relative
    precision as the temporal variance vin -> 0 (where it behaves like vin [phi^2]).
    """
    _, Ph = _nested_t_Phi(mu, vin, vout, z)
    m = jnp.einsum("...io,i->...o", Ph, w)
    return jnp.einsum("...io,i,o->...", (Ph - m[..., None, :]) ** 2, w, w)


@_var_Phi.defjvp
def _var_Phi_jvp(primals, tangents):
    mu, vin, vout, z, w = primals
    dmu, dvin, dvout = tangents[0], tangents[1], tangents[2]
    t, Ph = _nested_t_Phi(mu, vin, vout, z)
    inner = partial(jnp.einsum, "...io,i->...o")
    outer = partial(jnp.einsum, "...o,o->...")
    c = Ph - inner(Ph, w)[..., None, :]  # centred Phi
    tc = t - inner(t, w)[..., None, :]  # centred phi
    dp = 1.0 - t * t
    val = outer(inner(c * c, w), w)
    # Price's theorem on d/dmu, d/dvin (inner) and d/dvout (outer) of Var_in Phi:
    d_mu = outer(inner(2.0 * c * t, w), w)
    d_in = outer(inner(t * t + c * dp, w), w)
    d_out = outer(inner(tc * tc + c * dp, w), w)
    return val, d_mu * dmu + d_in * dvin + d_out * dvout


#: below this temporal variance, E/T^2 is evaluated by the Gauss-Legendre form
_T_SWITCH = 1e-4


def _Etilde(P, mu, Q, dinf, T, q, G=None, form="auto"):
    """E/T^2 + G/T, the regularised energy equation at random-part variances (d_inf, T = d0 - d_inf).

    E = T (d_inf + T/2) - g^2 sum_p alpha_p ([Phi^2]_p - <<Phi>>^2_p) is the energy equation
    (d0^2 - d_inf^2)/2 = g^2 sum alpha ([Phi^2] - <<Phi>>^2), and G = g^2 sum alpha <<phi>>^2 - d_inf
    the d_inf equation. By Price's theorem E = -T G + T^2 int_0^1 (1 - t) h'(d_inf + t T) dt with
    h'(c) = 1 - g^2 sum alpha <<phi'>>^2(cov = c + Q_p), so E/T^2 + G/T is that integral: equal to
    E/T^2 wherever G = 0, regular as T -> 0 (limit (1 - g^2 sum alpha [phi'^2])/2, i.e. (1 - r^2)/2),
    and free of the stationary root T = 0. For T >= 1e-4 it is computed from ln cosh (one nested
    average, [Phi^2] - <<Phi>>^2 as a centred inner variance); below, by 12-point Gauss-Legendre in t
    (:func:`_Etilde_gl`). The two agree to ~1e-8 (tests). ``form`` = "phi" or "gl" forces one form
    (for vectorised callers, where ``lax.cond`` would evaluate both). The ln cosh form carries the
    quadrature error of the nested averages divided by T, the Gauss-Legendre form does not.
    """
    if G is None:
        G = _G(P, mu, Q, dinf + T, dinf, q)

    def phi_form(_):
        V = _var_Phi(mu, T, dinf + Q, q.zn, q.wn)
        return (T * (dinf + 0.5 * T) - P.g**2 * jnp.sum(P.alpha * V)) / T**2 + G / T

    def gl_form(_):
        return _Etilde_gl(P, mu, Q, dinf, T, q)

    if form == "phi":
        return phi_form(None)
    if form == "gl":
        return gl_form(None)
    return jax.lax.cond(T >= _T_SWITCH, phi_form, gl_form, None)


def _sheet_robust(P: _Params, kappa, q: _Quad):
    """Random-part variances (d_inf, T = d0 - d_inf) of the chaotic solution at fixed kappa, by bracketing.

    Returns (d_inf, T, ok). d_inf is bracketed in (0, d_stat], d_stat the stationary variance at
    this kappa; for each d_inf, d0 is the unique root in [d_inf, g^2] of the d_inf equation (which
    decreases in d0: d/dD0 <<phi>>^2 = int Dz [phi][phi''] <= 0; and d0 <= g^2 [phi^2] <= g^2);
    then E/T^2 = 0 is solved for d_inf. d_inf values with no admissible d0 count as E/T^2 > 0 (the
    small-d_inf side); at d_inf = d_stat, E/T^2 = (1 - r^2)/2 with r the stationary bulk radius, so a
    chaotic solution needs r > 1. With no drive (mu = Q = 0) the static part vanishes, d_inf = 0,
    and T solves E/T^2 = 0 alone.
    """
    mu, Q, _, _ = _structure(P, kappa)
    g2 = P.g**2
    undriven = jnp.all((mu == 0) & (Q == 0))

    def homogeneous(_):
        def Eh(T):
            return _Etilde_gl(P, mu, Q, 0.0, T, q)

        e_lo, e_hi = Eh(0.0), Eh(g2)
        T = chandrupatla(Eh, 0.0, g2, e_lo, e_hi)
        return jnp.asarray(0.0), T, (e_lo < 0) & (e_hi > 0) & (P.g > 1.0) & (T > 0)

    def driven(_):
        dstat = _solve_d(P, kappa, q)
        v_hi = _Etilde_gl(P, mu, Q, dstat, 0.0, q)  # = (1 - r^2) / 2 at the stationary state

        def d0_of(dinf):
            def Gd(d0):
                return _G(P, mu, Q, d0, dinf, q)

            g_lo, g_hi = Gd(dinf), Gd(g2)
            return chandrupatla(Gd, dinf, g2, g_lo, g_hi), g_hi <= 0

        def V(dinf):
            d0, feasible = d0_of(dinf)
            return jnp.where(feasible, _Etilde_gl(P, mu, Q, dinf, jnp.maximum(d0 - dinf, 0.0), q), 1.0)

        def solve(_):
            dinf = chandrupatla(V, 0.0, dstat, jnp.asarray(1.0), v_hi)
            d0, feasible = d0_of(dinf)
            T = jnp.maximum(d0 - dinf, 0.0)
            ok = feasible & (jnp.abs(_Etilde_gl(P, mu, Q, dinf, T, q)) < 1e-8) & (T > 0)
            return dinf, T, ok

        def none(_):
            return dstat, jnp.asarray(0.0), jnp.asarray(False)

        return jax.lax.cond(v_hi < 0, solve, none, None)

    return jax.lax.cond(undriven, homogeneous, driven, None)


def _sheet_residual(P, mu, Q, y, q, form="auto"):
    dinf, T = y[0], y[1]
    G = _G(P, mu, Q, dinf + T, dinf, q)
    return jnp.stack([G, _Etilde(P, mu, Q, dinf, T, q, G, form)])


def _sheet_newton(P, kappa, y0, q, n_iter=12, form="auto"):
    """Newton on the two variance equations at fixed kappa, from y0 = (d_inf, T); returns y, |res|."""
    mu, Q, _, _ = _structure(P, kappa)

    def res(y):
        return _sheet_residual(P, mu, Q, y, q, form)

    def cond(c):
        i, y, step = c
        return (i < n_iter) & (step > 1e-14 * (1.0 + jnp.max(jnp.abs(y))))

    def body(c):
        i, y, _ = c
        r, J = _value_and_jacobian(res, y)
        dy = jnp.linalg.solve(J, r)
        fin = jnp.all(jnp.isfinite(dy))
        return i + 1, jnp.where(fin, y - dy, y), jnp.where(fin, jnp.max(jnp.abs(dy)), 0.0)

    y = jax.lax.while_loop(cond, body, (0, y0, jnp.asarray(jnp.inf)))[1]
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
            dinf, T, ok = _sheet_robust(P, k, q)
            return jnp.stack([dinf, T]), ok

        y, ok = jax.lax.cond(cont, lambda _: (y_n, jnp.asarray(True)), robust, None)
        F = _chaotic_residual(P, jnp.concatenate([k, y]), q)[: k.shape[0]]
        return (y, ok), (y[0], y[1], ok, F)

    init = (jnp.zeros(2), jnp.asarray(False))
    return jax.lax.scan(step, init, kappas)[1]


def _chaotic_residual(P: _Params, x, q: _Quad, form="auto"):
    """Residual of the chaotic equations in x = (kappa, d_inf, T)."""
    R = P.Mm.shape[1]
    kappa, dinf, T = x[:R], x[R], x[R + 1]
    mu, Q, Cnx, _ = _structure(P, kappa)
    a = _pavg((PHI, DPHI), mu, dinf + T + Q, q.z, q.w)
    rhs = jnp.einsum("c,cr->r", P.alpha, P.Mn * a[:, 0:1] + a[:, 1:2] * Cnx)
    return jnp.concatenate([rhs - kappa, _sheet_residual(P, mu, Q, x[R:], q, form)])


@jax.jit
def _sheet_batch(P, kappas, q):
    """Chaotic sheet (d_inf, T, ok) by bracketing, vmapped over a batch of latent vectors."""
    return jax.vmap(lambda k: _sheet_robust(P, k, q))(kappas)


@jax.jit
def _chaotic_kappa_root(P, a, b, fa, fb, q):
    """Rank one: the root in kappa of F(kappa) = RHS - kappa on the chaotic sheet, in [a, b]
    (bracketing at both levels; the fallback when Newton from interpolation fails)."""

    def F(k):
        kv = k[None]
        dinf, T, ok = _sheet_robust(P, kv, q)
        return _chaotic_residual(P, jnp.concatenate([kv, dinf[None], T[None]]), q)[0]

    def one(a, b, fa, fb):
        k = chandrupatla(F, a, b, fa, fb, xtol=1e-12)
        dinf, T, ok = _sheet_robust(P, k[None], q)
        return jnp.stack([k, dinf, T]), ok

    return jax.vmap(one)(a, b, fa, fb)


@jax.jit
def _bulk_edge(P, a, b, q):
    """Rank one: kappa in [a, b] where the stationary bulk radius crosses 1 (the chaotic sheet's edge,
    where it meets the stationary solution with T = 0), with d_stat and F_stat there."""

    def r2m1(k):
        kv = k[None]
        d = _solve_d(P, kv, q)
        mu, Q, _, _ = _structure(P, kv)
        return P.g**2 * jnp.sum(P.alpha * _pavg((DPHI2,), mu, d + Q, q.z, q.w)[:, 0]) - 1.0

    def one(a, b):
        fa, fb = r2m1(a), r2m1(b)
        k = chandrupatla(r2m1, a, b, fa, fb, xtol=1e-13)
        d = _solve_d(P, k[None], q)
        rhs, _ = _stationary_map(P, k[None], d, q)
        return k, d, rhs[0] - k, fa * fb <= 0

    return jax.vmap(one)(a, b)


@partial(jax.jit, static_argnames=("form",))
def _chaotic_latent_jacobian(P, x, q, form="phi"):
    """d(RHS)/d(kappa) along the chaotic sheet (variances eliminated by the implicit function theorem)."""
    R = P.Mm.shape[1]
    J = jax.jacfwd(lambda y: _chaotic_residual(P, y, q, form))(x)
    A, Bm, Cm, Dm = J[:R, :R], J[:R, R:], J[R:, :R], J[R:, R:]
    return jnp.eye(R) + A - Bm @ jnp.linalg.solve(Dm, Cm)


def _polish_chaotic(P, x0, q):
    """Newton on the full chaotic system from each row of x0 (numpy), in the form of the energy
    equation that suits its temporal variance (see :func:`_Etilde`)."""
    x0 = np.asarray(x0, np.float64)
    x, err = np.empty_like(x0), np.empty(len(x0))
    R = x0.shape[1] - 2
    for form, sel in (("phi", x0[:, R + 1] >= 1e-3), ("gl", x0[:, R + 1] < 1e-3)):
        if np.any(sel):
            xp, n = _pad(x0[sel])
            res = jax.tree_util.Partial(_RESIDUAL_BY_FORM[form], P, q=q)
            xs, es = _newton(res, jnp.asarray(xp))
            x[sel], err[sel] = np.asarray(xs)[:n], np.asarray(es)[:n]
    return x, err


_RESIDUAL_BY_FORM = {"phi": partial(_chaotic_residual, form="phi"), "gl": partial(_chaotic_residual, form="gl")}


def _energy_form(T: float) -> str:
    return "phi" if T >= 1e-3 else "gl"


def _pad(x: np.ndarray, size: int | None = None) -> tuple[np.ndarray, int]:
    """Pad the leading axis to a power of two (>= 4) by repeating the last row: fewer recompilations."""
    n = len(x)
    size = size or max(4, 1 << (n - 1).bit_length())
    return np.concatenate([x, np.repeat(x[-1:], size - n, axis=0)]), n


def chaotic_states(ensemble: Ensemble, inputs=None, *, n_nodes: int = N_NODES, n_nested: int = N_NODES_NESTED,
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
    >>> [round(float(s.kappa[0]), 3) for s in chaotic_states(ens)]  # doctest: +SKIP
    [-0.3..., 0.0, 0.3...]
    """
    ensemble = _check_ensemble(ensemble)
    u = _check_inputs(ensemble, inputs)
    n_nodes, n_nested = _check_nodes(n_nodes, n_nested)
    n_grid = positive_int("n_grid", n_grid, low=11)
    if n_starts is not None:
        n_starts = positive_int("n_starts", n_starts, low=2)
    R, C = ensemble.rank, ensemble.n_populations
    if ensemble.g == 0.0:
        return []  # no random part, no chaos
    with float64():
        P = _params(ensemble, u)
        q = _quad(n_nodes, n_nested)
        B = _bound(P, _snn(ensemble))
        if R == 1:
            xs = _chaotic_rank_one(P, q, float(B[0]), n_grid)
        else:
            xs = _chaotic_multistart(P, q, B, n_starts)
        xs = _dedupe(xs, 1e-6)
        states = []
        for x in xs:
            kappa, dinf, T = x[:R], x[R], x[R + 1]
            mu, Q, _, _ = (np.asarray(a) for a in _structure(P, jnp.asarray(kappa)))
            lat = np.linalg.eigvals(np.asarray(_chaotic_latent_jacobian(P, jnp.asarray(x), q,
                                                                        _energy_form(float(T)))))
            states.append(ChaoticState(kappa=np.asarray(kappa).copy(), mu=_per_population(mu, C),
                                       delta0=_per_population(dinf + T + Q, C),
                                       delta_inf=_per_population(dinf + Q, C),
                                       stable=bool(np.all(lat.real < 1.0))))
    states.sort(key=lambda s: tuple(s.kappa))
    return states


def _chaotic_rank_one(P, q, B, n_grid) -> list[np.ndarray]:
    k = _symmetric_grid(B, n_grid)
    dinf, T, ok, F = (np.asarray(a) for a in _sheet_scan(P, jnp.asarray(k)[:, None], q))
    F = np.where(np.abs(F[:, 0]) < 1e-14, 0.0, F[:, 0])
    pts = [(k[i], dinf[i], T[i], F[i]) for i in np.flatnonzero(ok)]
    # edges of the sheet's domain: the stationary bulk radius crosses 1 there (T = 0)
    flips = [i for i in range(len(k) - 1) if ok[i] != ok[i + 1]]
    if flips:
        a, n = _pad(np.array([k[i] for i in flips]))
        b, _ = _pad(np.array([k[i + 1] for i in flips]))
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
        padded = [_pad(np.array(v, np.float64))[0] for v in zip(*bad)]
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
    x0, n = _pad(x0)
    # explore with a coarse quadrature (4x cheaper), then polish the distinct survivors with the full one
    coarse = _quad(min(len(q.z), 101), min(len(q.zn), 41))
    x, err = (np.asarray(a)[:n] for a in _damped_newton_full(P, jnp.asarray(x0), coarse))
    keep = (err < 1e-8) & (x[:, R + 1] > 0) & (x[:, R] > -1e-12)
    if not np.any(keep):
        return []
    x = np.stack(_dedupe([r for r in x[keep]], 1e-6))
    xp, errp = _polish_chaotic(P, x, q)
    good = (errp < 1e-10) & (xp[:, R + 1] > 0) & (xp[:, R] >= -1e-14)
    return _dedupe([r for r in xp[good]], 1e-7)


@partial(jax.jit, static_argnames=("n_iter",))
def _damped_newton_full(P, x0, q, n_iter=20):
    """Damped Newton on the chaotic residual in (kappa, d_inf, T), vmapped over starts; the step is
    halved until the residual decreases and T > 0, d_inf >= 0. Uses the ln cosh form of the energy
    equation (the survivors are polished with the form that suits their T)."""
    R = P.Mm.shape[1]

    def F(x):
        return _chaotic_residual(P, x, q, form="phi")

    def one(x):
        def body(_, x):
            r, J = _value_and_jacobian(F, x)
            n0 = jnp.sum(r**2)
            dx = jnp.linalg.lstsq(J, r)[0]

            def bad(c):
                lam, xc, nc = c
                return (lam > 1e-3) & ~(nc < n0)

            def halve(c):
                lam = c[0] * 0.5
                xc = x - lam * dx
                valid = (xc[R] >= 0) & (xc[R + 1] > 0)
                nc = jnp.where(valid, jnp.sum(F(xc) ** 2), jnp.inf)
                return lam, xc, jnp.where(jnp.isfinite(nc), nc, jnp.inf)

            x1 = x - dx
            valid = (x1[R] >= 0) & (x1[R + 1] > 0)
            n1 = jnp.where(valid, jnp.sum(F(x1) ** 2), jnp.inf)
            lam, xc, nc = jax.lax.while_loop(bad, halve, (1.0, x1, jnp.where(jnp.isfinite(n1), n1, jnp.inf)))
            return jnp.where(nc < n0, xc, x)

        x = jax.lax.fori_loop(0, n_iter, body, x)
        return x, jnp.max(jnp.abs(F(x)))

    return jax.vmap(one)(x0)
