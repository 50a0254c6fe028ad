"""Gauss–Hermite averages against adaptive quadrature and their limiting cases."""

import jax
import numpy as np
import pytest
from scipy import integrate

from lowrank_rnn.theory import gaussian as G


def _quad(f, mu, delta):
    dens = lambda z: np.exp(-z * z / 2) / np.sqrt(2 * np.pi)  # noqa: E731
    return integrate.quad(lambda z: f(mu + np.sqrt(delta) * z) * dens(z), -12, 12, limit=200)[0]


FUNCS = {
    "mean_phi": np.tanh,
    "mean_dphi": lambda x: 1 - np.tanh(x) ** 2,
    "mean_d2phi": lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2),
    "mean_d3phi": lambda x: (1 - np.tanh(x) ** 2) * (6 * np.tanh(x) ** 2 - 2),
    "mean_phi2": lambda x: np.tanh(x) ** 2,
    "mean_dphi2": lambda x: (1 - np.tanh(x) ** 2) ** 2,
    "mean_phi_dphi": lambda x: np.tanh(x) * (1 - np.tanh(x) ** 2),
    "mean_phi_d2phi": lambda x: np.tanh(x) * -2 * np.tanh(x) * (1 - np.tanh(x) ** 2),
    "mean_Phi": lambda x: np.log(np.cosh(x)),
    "mean_Phi2": lambda x: np.log(np.cosh(x)) ** 2,
}


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_averages_match_adaptive_quadrature(name):
    with jax.enable_x64(True):
        # The grid spacing in x is 0.085 sqrt(delta): at delta = 20 it is 0.38, coarse against the
        # width ~1 of tanh' and its relatives, and the error grows to ~1e-8 (still far below the
        # 1e-3 that the published numbers resolve).
        for mu, delta, tol in [(0.0, 0.5, 1e-9), (0.7, 2.0, 1e-9), (-1.3, 6.0, 1e-9), (0.5, 20.0, 3e-8),
                               (0.2, 0.0, 1e-12)]:
            got = float(getattr(G, name)(mu, delta))
            want = _quad(FUNCS[name], mu, delta) if delta > 0 else FUNCS[name](mu)
            assert abs(got - want) < tol, (name, mu, delta, got, want)


def test_broadcasting_over_grids():
    with jax.enable_x64(True):
        mu = np.linspace(-1, 1, 5)[:, None]
        delta = np.linspace(0, 3, 7)[None, :]
        out = np.asarray(G.mean_dphi(mu, delta))
        assert out.shape == (5, 7)
        assert abs(out[2, 3] - _quad(FUNCS["mean_dphi"], 0.0, 1.5)) < 1e-9


def test_nested_limits():
    """<<f>>^2 equals [f^2] when all variance is static and [f]^2 when all is temporal."""
    with jax.enable_x64(True):
        mu, d0 = 0.4, 1.7
        np.testing.assert_allclose(G.nested_phi(mu, d0, d0), G.mean_phi2(mu, d0), atol=1e-8)
        np.testing.assert_allclose(G.nested_phi(mu, d0, 0.0), G.mean_phi(mu, d0) ** 2, atol=1e-8)
        np.testing.assert_allclose(G.nested_Phi(mu, d0, d0), G.mean_Phi2(mu, d0), atol=1e-8)
        # in between: by Jensen, [f]^2 <= <<f>>^2 <= [f^2], increasing in delta_inf
        vals = [float(G.nested_phi(mu, d0, d)) for d in np.linspace(0, d0, 6)]
        assert np.all(np.diff(vals) > 0)
        # against a direct double quadrature
        inner = lambda z: _quad(np.tanh, mu + np.sqrt(0.9) * z, d0 - 0.9)  # noqa: E731
        want = integrate.quad(lambda z: inner(z) ** 2 * np.exp(-z * z / 2) / np.sqrt(2 * np.pi), -10, 10)[0]
        assert abs(float(G.nested_phi(mu, d0, 0.9)) - want) < 1e-8
