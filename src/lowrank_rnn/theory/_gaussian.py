"""Gaussian integrals of the transfer function phi = tanh, by quadrature on a fine grid.

Notation (Mastrogiuseppe & Ostojic 2018, Methods):

    [f](mu, D)          = int Dz f(mu + sqrt(D) z),            Dz = exp(-z^2/2) dz / sqrt(2 pi)
    <<f>>^2(mu, D0, Dinf) = int Dz ( int Dx f(mu + sqrt(D0 - Dinf) x + sqrt(Dinf) z) )^2

Every function broadcasts over its array arguments (``mu``, ``delta`` of any matching shapes), so a
whole parameter grid is one call. They are written with ``jax.numpy`` and run in the precision
of their inputs: call them under ``jax.enable_x64(True)`` (as the solvers in
:mod:`lowrank_rnn.theory` do) for double precision.

Quadrature: the trapezoidal rule in z on [-8.5, 8.5] (weights proportional to the Gaussian
density, normalised to sum to 1). For the smooth integrands here it converges exponentially, and
unlike Gauss–Hermite it does not waste nodes in the far tails: at variance D = 20, 201 trapezoid
nodes give the average of the third derivative to 1e-8 where 200 Hermite nodes (the authors' choice) are off by 4e-3, because
the Hermite nodes near the centre are too sparse for tanh' of width 1 (measured against adaptive
quadrature; see tests/test_gaussian.py).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._tanh import tanh

#: Default number of nodes for single integrals.
N_NODES = 201
#: Default number of nodes per dimension for the nested (double) integrals.
N_NODES_NESTED = 101
#: The grid covers z in [-HALF_WIDTH, HALF_WIDTH]; the Gaussian mass outside is 1e-17.
HALF_WIDTH = 8.5


def _nodes(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z and weights w with sum_i w_i f(z_i) ~ int Dz f(z), for the standard Gaussian
    (trapezoidal rule on [-HALF_WIDTH, HALF_WIDTH]).

    New arrays on every call: a cached array, captured by programs compiled in float32 and in
    float64, would carry one precision into the other (see :mod:`lowrank_rnn.theory._precision`).
    """
    z = np.linspace(-HALF_WIDTH, HALF_WIDTH, n)
    w = np.exp(-0.5 * z * z)
    return z, w / w.sum()


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


# --- single Gaussian averages ----------------------------------------------------------------

def gaussian_average(f, mu, delta, n: int = N_NODES):
    """Return [f](mu, delta) = int Dz f(mu + sqrt(delta) z), broadcast over ``mu`` and ``delta``.

    ``delta`` is a variance and must be >= 0 (negative values are clipped to 0).

    >>> float(gaussian_average(lambda x: x**2, 1.0, 2.0))   # E[(1 + sqrt(2) z)^2] = 3
    3.0
    """
    z, w = _nodes(n)
    mu = jnp.asarray(mu)
    sd = jnp.sqrt(jnp.maximum(jnp.asarray(delta), 0.0))
    x = mu[..., None] + sd[..., None] * z
    return jnp.sum(w * f(x), axis=-1)


def mean_phi(mu, delta, n: int = N_NODES):
    """[phi](mu, delta)."""
    return gaussian_average(phi, mu, delta, n)


def mean_dphi(mu, delta, n: int = N_NODES):
    """[phi'](mu, delta)."""
    return gaussian_average(dphi, mu, delta, n)


def mean_d2phi(mu, delta, n: int = N_NODES):
    """[phi''](mu, delta)."""
    return gaussian_average(d2phi, mu, delta, n)


def mean_d3phi(mu, delta, n: int = N_NODES):
    """[phi'''](mu, delta)."""
    return gaussian_average(d3phi, mu, delta, n)


def mean_phi2(mu, delta, n: int = N_NODES):
    """[phi^2](mu, delta)."""
    return gaussian_average(lambda x: phi(x) ** 2, mu, delta, n)


def mean_dphi2(mu, delta, n: int = N_NODES):
    """[phi'^2](mu, delta): sets the bulk radius g sqrt([phi'^2]) of the linearised dynamics."""
    return gaussian_average(lambda x: dphi(x) ** 2, mu, delta, n)


def mean_phi_dphi(mu, delta, n: int = N_NODES):
    """[phi phi'](mu, delta)."""
    return gaussian_average(lambda x: phi(x) * dphi(x), mu, delta, n)


def mean_phi_d2phi(mu, delta, n: int = N_NODES):
    """[phi phi''](mu, delta)."""
    return gaussian_average(lambda x: phi(x) * d2phi(x), mu, delta, n)


def mean_Phi(mu, delta, n: int = N_NODES):
    """[Phi](mu, delta), Phi = ln cosh."""
    return gaussian_average(Phi, mu, delta, n)


def mean_Phi2(mu, delta, n: int = N_NODES):
    """[Phi^2](mu, delta), Phi = ln cosh."""
    return gaussian_average(lambda x: Phi(x) ** 2, mu, delta, n)


# --- nested averages -------------------------------------------------------------------------

def nested_square(f, mu, delta0, delta_inf, n: int = N_NODES_NESTED):
    """Return <<f>>^2 = int Dz ( int Dx f(mu + sqrt(delta0 - delta_inf) x + sqrt(delta_inf) z) )^2.

    The inner average is over the temporally fluctuating part (variance ``delta0 - delta_inf``),
    the outer over the static heterogeneity (variance ``delta_inf``); ``0 <= delta_inf <= delta0``.
    At ``delta_inf = delta0`` it equals [f^2]; at ``delta_inf = 0`` it equals [f]^2.
    """
    z, w = _nodes(n)
    mu = jnp.asarray(mu)[..., None, None]
    d0 = jnp.asarray(delta0)[..., None, None]
    dinf = jnp.clip(jnp.asarray(delta_inf)[..., None, None], 0.0, d0)
    x = mu + jnp.sqrt(d0 - dinf) * z[:, None] + jnp.sqrt(dinf) * z[None, :]  # inner axis -2, outer -1
    inner = jnp.sum(w[:, None] * f(x), axis=-2)
    return jnp.sum(w * inner**2, axis=-1)


def nested_phi(mu, delta0, delta_inf, n: int = N_NODES_NESTED):
    """<<phi>>^2(mu, delta0, delta_inf)."""
    return nested_square(phi, mu, delta0, delta_inf, n)


def nested_Phi(mu, delta0, delta_inf, n: int = N_NODES_NESTED):
    """<<Phi>>^2(mu, delta0, delta_inf), Phi = ln cosh."""
    return nested_square(Phi, mu, delta0, delta_inf, n)
