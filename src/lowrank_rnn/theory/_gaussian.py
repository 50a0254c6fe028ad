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

from .._tanh import tanh  # noqa: F401  (phi; this module has always offered it)
from ._averages import HALF_WIDTH as HALF_WIDTH  # noqa: F401
from ._averages import Phi as Phi
from ._averages import average as _average
from ._averages import nested_average as _nested_average
from ._averages import d2phi as d2phi
from ._averages import d3phi as d3phi
from ._averages import dphi as dphi
from ._averages import phi as phi

#: Default number of nodes for single integrals.
N_NODES = 201
#: Default number of nodes per dimension for the nested (double) integrals.
N_NODES_NESTED = 101


# --- single Gaussian averages ----------------------------------------------------------------

def gaussian_average(f, mu, delta, n: int = N_NODES):
    """Return [f](mu, delta) = int Dz f(mu + sqrt(delta) z), broadcast over ``mu`` and ``delta``.

    ``delta`` is a variance and must be >= 0 (negative values are clipped to 0).

    >>> float(gaussian_average(lambda x: x**2, 1.0, 2.0))   # E[(1 + sqrt(2) z)^2] = 3
    3.0
    """
    return _average(f, mu, delta, n)


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
    return _nested_average(f, mu, delta0, delta_inf, n)


def nested_phi(mu, delta0, delta_inf, n: int = N_NODES_NESTED):
    """<<phi>>^2(mu, delta0, delta_inf)."""
    return nested_square(phi, mu, delta0, delta_inf, n)


def nested_Phi(mu, delta0, delta_inf, n: int = N_NODES_NESTED):
    """<<Phi>>^2(mu, delta0, delta_inf), Phi = ln cosh."""
    return nested_square(Phi, mu, delta0, delta_inf, n)
