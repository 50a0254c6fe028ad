"""Built-in sweeps of ``lowrank-rnn sweep``: finite-size rank-one networks over (g, overlap, N),
beside the mean-field phase diagram."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._tanh import tanh
from ..dynamics import SaveAt, VectorField, integrate

#: the rank-one family of Mastrogiuseppe & Ostojic 2018, Fig. 1: M_m = 1.1, Sigma_m = Sigma_n = 1
MEAN_M = 1.1


class _RankOneField(VectorField):
    """``F = g chi phi(x) + m (n^T phi(x) / N)``, carrying ``phi(x)``."""

    def __init__(self, g, chi, m, n):
        self.g, self.chi, self.m, self.n = g, chi, m, n

    def carried(self, x):
        return tanh(x)

    def drive(self, x, rates, u):
        return self.g * (self.chi @ rates) + self.m * (self.n @ rates / self.m.shape[0]), None


def rank_one_simulation(params, key, *, T: float = 60.0, dt: float = 0.1):
    r"""One rank-one network with bulk at ``params = {"g", "overlap", "N"}`` (``N`` static).

    ``m_i = M_m + \xi_i``, ``n_i = overlap / M_m + \eta_i`` (M_m = 1.1; independent standard
    normals), bulk ``g \chi`` with ``\chi_ij ~ N(0, 1/N)``; started at ``x0 = m`` and run for ``T``
    (Euler, ``dt``). Returns ``kappa`` (the time average of ``n^T phi(x) / N`` over the last quarter),
    ``kappa_sd`` (its temporal standard deviation there: > 0 in the chaotic states) and ``delta0``
    (the population variance of ``x`` at the end), as in Mastrogiuseppe & Ostojic 2018, Fig. 1.
    """
    N = params["N"]
    k1, k2, k3 = jax.random.split(key, 3)
    m = MEAN_M + jax.random.normal(k1, (N,))
    n = params["overlap"] / MEAN_M + jax.random.normal(k2, (N,))
    chi = jax.random.normal(k3, (N, N)) / jnp.sqrt(N)
    n_steps = int(round(T / dt))
    field = _RankOneField(params["g"], chi, m, n)
    (x, _, _), kappa = integrate(field, m, None, alpha=dt, n_steps=n_steps,
                                 saveat=SaveAt(fn=lambda x, aux, extra: n @ aux / N))
    tail = kappa[-(n_steps // 4):]
    return {"kappa": jnp.mean(tail), "kappa_sd": jnp.std(tail), "delta0": jnp.var(x)}
