"""Gaussian averages of the transfer function phi = tanh, by the trapezoid rule on a fixed grid.

Notation (Mastrogiuseppe & Ostojic 2018, Neuron 99:609, Methods):

    [f](mu, D)            = int Dz f(mu + sqrt(D) z),            Dz = exp(-z^2/2) dz / sqrt(2 pi)
    <<f>>^2(mu, D0, Dinf) = int Dz ( int Dx f(mu + sqrt(D0 - Dinf) x + sqrt(Dinf) z) )^2

Quadrature: equally spaced nodes z on [-8.5, 8.5] with weights proportional to the Gaussian
density, normalised to sum to 1 (the trapezoid rule; the Gaussian mass outside is 1e-17). For the
analytic integrands here it converges exponentially, and unlike Gauss-Hermite it does not spend its
nodes in the far tails: at the large variances structured states reach (Delta of 10-20), 201
trapezoid nodes give [phi'] to about 1e-10 where 200 Gauss-Hermite nodes (the authors' choice) are
off by about 3e-4 (tests/test_gaussian.py measures this against adaptive quadrature). The grid is
fixed, so every average is a smooth function of (mu, D) that JAX differentiates.

Derivatives follow from Price's theorem, d[f]/dmu = [f'] and d[f]/dD = [f'']/2, which also holds at
D = 0, where differentiating through sqrt(D) would give 0 * inf: the averages below carry these
rules as custom JVPs. The mean-field solvers average polynomials in t = tanh(x) (every function
the equations need is one: phi = t, phi' = 1 - t^2, phi^2 = t^2, ..., and d/dx p(t) = p'(t) (1 - t^2)),
several in one pass over the nodes.
"""

from __future__ import annotations

from functools import lru_cache, partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import positive_int
from .._tanh import tanh
from ._precision import float64_array

#: The grid covers z in [-HALF_WIDTH, HALF_WIDTH]; the Gaussian mass outside is 1e-17.
HALF_WIDTH = 8.5
#: The mean-field solvers' default number of nodes for single averages ...
DEFAULT_NODES = 201
#: ... and per dimension for nested (double) averages.
DEFAULT_NESTED = 81
#: Gauss-Legendre nodes for the integral over t in the regularised energy equation (_chaotic.py).
N_ENERGY = 12


def nodes(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z and weights w with sum_i w_i f(z_i) ~ int Dz f(z), for the standard Gaussian
    (trapezoidal rule on [-HALF_WIDTH, HALF_WIDTH]).

    New arrays on every call: a cached array, captured by programs compiled in float32 and in
    float64, would carry one precision into the other (see :mod:`lowrank_rnn.theory._precision`).
    """
    z = np.linspace(-HALF_WIDTH, HALF_WIDTH, n)
    w = np.exp(-0.5 * z * z)
    return z, w / w.sum()


def energy_nodes(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes t on [0, 1] and weights (1 - t) w_GL, for int_0^1 (1 - t) f(t) dt (weights sum to 1/2);
    new arrays on every call, like :func:`nodes`."""
    x, w = np.polynomial.legendre.leggauss(n)
    t = 0.5 * (x + 1.0)
    return t, 0.5 * w * (1.0 - t)


class Quadrature(NamedTuple):
    """The float64 nodes and weights the mean-field solvers pass around (a pytree)."""

    z: jax.Array  # single averages
    w: jax.Array
    zn: jax.Array  # nested averages (both levels)
    wn: jax.Array
    t: jax.Array  # energy integral
    wt: jax.Array


def quadrature(n_nodes: int, n_nested: int) -> Quadrature:
    """The :class:`Quadrature` with ``n_nodes`` single and ``n_nested`` nested nodes (call inside
    :func:`~lowrank_rnn.theory._precision.float64`)."""
    z, w = nodes(n_nodes)
    zn, wn = nodes(n_nested)
    t, wt = energy_nodes(N_ENERGY)
    return Quadrature(*(float64_array(a) for a in (z, w, zn, wn, t, wt)))


def check_nodes(n_nodes, n_nested) -> tuple[int, int]:
    """Return the node counts after checking them (at least 21 each)."""
    return positive_int("n_nodes", n_nodes, low=21), positive_int("n_nested", n_nested, low=21)


# --- the transfer function and its relatives -------------------------------------------------

def phi(x):
    """phi(x) = tanh(x)."""
    return tanh(x)


def dphi(x):
    """phi'(x) = 1 - tanh(x)^2."""
    t = tanh(x)
    return 1.0 - t * t


def d2phi(x):
    """phi''(x) = -2 tanh(x) (1 - tanh(x)^2)."""
    t = tanh(x)
    return -2.0 * t * (1.0 - t * t)


def d3phi(x):
    """phi'''(x) = (1 - tanh(x)^2) (6 tanh(x)^2 - 2)."""
    t2 = tanh(x) ** 2
    return (1.0 - t2) * (6.0 * t2 - 2.0)


def Phi(x):
    """Phi(x) = ln cosh(x), the primitive of tanh, computed without overflow."""
    a = jnp.abs(x)
    return a + jnp.log1p(jnp.exp(-2.0 * a)) - jnp.log(2.0)


# --- averages of one function, in the precision of the arguments ----------------------------

def average(f, mu, delta, n: int):
    """[f](mu, delta) on ``n`` nodes, broadcast over ``mu`` and ``delta`` (``delta`` < 0 is taken as 0)."""
    z, w = nodes(n)
    mu = jnp.asarray(mu)
    sd = jnp.sqrt(jnp.maximum(jnp.asarray(delta), 0.0))
    x = mu[..., None] + sd[..., None] * z
    return jnp.sum(w * f(x), axis=-1)


def nested_average(f, mu, delta0, delta_inf, n: int):
    """<<f>>^2(mu, delta0, delta_inf) on ``n`` x ``n`` nodes (inner: temporal part, variance
    ``delta0 - delta_inf``; outer: static part, variance ``delta_inf``, clipped to [0, delta0])."""
    z, w = nodes(n)
    mu = jnp.asarray(mu)[..., None, None]
    d0 = jnp.asarray(delta0)[..., None, None]
    dinf = jnp.clip(jnp.asarray(delta_inf)[..., None, None], 0.0, d0)
    x = mu + jnp.sqrt(d0 - dinf) * z[:, None] + jnp.sqrt(dinf) * z[None, :]  # inner axis -2, outer -1
    inner = jnp.sum(w[:, None] * f(x), axis=-2)
    return jnp.sum(w * inner**2, axis=-1)


@jax.custom_jvp
def phi_dphi(mu, delta):
    """([phi], [phi']) at (mu, delta) on the default grid, differentiable at delta = 0 (the latent
    flow's averages; d[f]/dmu = [f'], d[f]/d delta = [f'']/2)."""
    return average(phi, mu, delta, DEFAULT_NODES), average(dphi, mu, delta, DEFAULT_NODES)


@phi_dphi.defjvp
def _phi_dphi_jvp(primals, tangents):
    mu, delta = primals
    dmu, ddelta = tangents
    p1, p2 = average(dphi, mu, delta, DEFAULT_NODES), average(d2phi, mu, delta, DEFAULT_NODES)
    p3 = average(d3phi, mu, delta, DEFAULT_NODES)
    return ((average(phi, mu, delta, DEFAULT_NODES), p1),
            (p1 * dmu + 0.5 * p2 * ddelta, p2 * dmu + 0.5 * p3 * ddelta))


# --- averages of polynomials in t = tanh(x), several at once (mean-field solvers) ------------

PHI = (0.0, 1.0)
DPHI = (1.0, 0.0, -1.0)
PHI2 = (0.0, 0.0, 1.0)
DPHI2 = (1.0, 0.0, -2.0, 0.0, 1.0)


@lru_cache(maxsize=None)
def dx(poly: tuple) -> tuple:
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
def pavg(polys: tuple, mu, var, z, w):
    """[p_f](mu, var) for each polynomial p_f in t = tanh: shape (..., F)."""
    t = tanh(mu[..., None] + jnp.sqrt(jnp.maximum(var, 0.0))[..., None] * z)
    return jnp.einsum("...nf,n->...f", _eval_polys(t, polys), w)


@pavg.defjvp
def _pavg_jvp(polys, primals, tangents):
    mu, var, z, w = primals
    dmu, dvar = tangents[0], tangents[1]
    q1 = tuple(dx(p) for p in polys)
    q2 = tuple(dx(p) for p in q1)
    out = pavg(polys, mu, var, z, w)
    d1 = pavg(q1, mu, var, z, w)
    d2 = pavg(q2, mu, var, z, w)
    return out, d1 * dmu[..., None] + 0.5 * d2 * dvar[..., None]


def _nested_inner(polys: tuple, mu, vin, vout, z, w):
    """Inner averages (over the temporal part, variance vin) at each outer node: (..., n_out, F)."""
    si = jnp.sqrt(jnp.maximum(vin, 0.0))[..., None, None]
    so = jnp.sqrt(jnp.maximum(vout, 0.0))[..., None, None]
    t = tanh(mu[..., None, None] + si * z[:, None] + so * z[None, :])  # (..., n_in, n_out)
    return jnp.einsum("...iof,i->...of", _eval_polys(t, polys), w)


@partial(jax.custom_jvp, nondiff_argnums=(0,))
def pnest(polys: tuple, mu, vin, vout, z, w):
    """<<p_f>>^2 = int Dz ( int Dx p_f(mu + sqrt(vin) x + sqrt(vout) z) )^2 for each p_f: (..., F).

    ``vout`` is the static variance (Delta_inf), ``vin`` the temporal one (Delta0 - Delta_inf).
    """
    inner = _nested_inner(polys, mu, vin, vout, z, w)
    return jnp.einsum("...of,o->...f", inner**2, w)


@pnest.defjvp
def _pnest_jvp(polys, primals, tangents):
    mu, vin, vout, z, w = primals
    dmu, dvin, dvout = tangents[0], tangents[1], tangents[2]
    F = len(polys)
    q1 = tuple(dx(p) for p in polys)
    q2 = tuple(dx(p) for p in q1)
    inner = _nested_inner(polys + q1 + q2, mu, vin, vout, z, w)
    I0, I1, I2 = inner[..., :F], inner[..., F:2 * F], inner[..., 2 * F:]
    out = jnp.einsum("...of,o->...f", I0**2, w)
    d_mu = 2.0 * jnp.einsum("...of,o->...f", I0 * I1, w)
    d_in = jnp.einsum("...of,o->...f", I0 * I2, w)
    d_out = jnp.einsum("...of,o->...f", I1**2 + I0 * I2, w)
    return out, d_mu * dmu[..., None] + d_in * dvin[..., None] + d_out * dvout[..., None]


def _nested_t_Phi(mu, vin, vout, z):
    """tanh and Phi = ln cosh at the nested nodes (inner axis -2, outer -1), from one exponential."""
    si = jnp.sqrt(jnp.maximum(vin, 0.0))[..., None, None]
    so = jnp.sqrt(jnp.maximum(vout, 0.0))[..., None, None]
    x = mu[..., None, None] + si * z[:, None] + so * z[None, :]
    ax = jnp.abs(x)
    e = jnp.exp(-2.0 * ax)
    return jnp.sign(x) * (1.0 - e) / (1.0 + e), ax + jnp.log1p(e) - np.log(2.0)


@jax.custom_jvp
def var_Phi(mu, vin, vout, z, w):
    """[Phi^2] - <<Phi>>^2 = int Dz Var_x Phi(mu + sqrt(vin) x + sqrt(vout) z), Phi = ln cosh.

    Computed as the outer average of the inner variance (centred), so that it keeps full relative
    precision as the temporal variance vin -> 0 (where it behaves like vin [phi^2]).
    """
    _, Ph = _nested_t_Phi(mu, vin, vout, z)
    m = jnp.einsum("...io,i->...o", Ph, w)
    return jnp.einsum("...io,i,o->...", (Ph - m[..., None, :]) ** 2, w, w)


@var_Phi.defjvp
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
