"""Target distributions of the Chen et al. 2023 reproduction: samplers, densities and (1-D) scores.

- :class:`GaussianMixture1D`: the paper's "double peak" (means ±1, s.d. 0.5, equal weights) and our
  three-peak target (means -2, 0, 2, s.d. 0.5).
- :class:`LaplaceMixture2D`: the paper's mixture of two 2-D Laplace distributions with covariances
  [[1, ±0.9], [±0.9, 1]], drawn as the authors' ``mv_laplace`` sampler draws them: a Gaussian
  copula with correlation ±0.9 and Laplace marginals of unit variance (scale $1/\\sqrt{2}$), so each
  marginal has excess kurtosis 3.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats


@dataclasses.dataclass(frozen=True)
class GaussianMixture1D:
    """Equal-weight mixture of N(mean_k, sd^2) in one dimension."""

    name: str
    means: tuple[float, ...]
    sd: float

    dim = 1

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        k = rng.integers(0, len(self.means), size=n)
        return (np.asarray(self.means)[k] + self.sd * rng.standard_normal(n))[:, None]

    def density(self, x: np.ndarray) -> np.ndarray:
        return np.mean(stats.norm.pdf(np.asarray(x)[:, None], np.asarray(self.means), self.sd), axis=1)

    def score(self, x: np.ndarray) -> np.ndarray:
        """$\\nabla \\log p(x) = \\sum_k r_k(x) (\\mu_k - x) / s^2$, $r_k$ the responsibilities."""
        x = np.asarray(x)
        logp = stats.norm.logpdf(x[:, None], np.asarray(self.means), self.sd)
        r = np.exp(logp - logp.max(axis=1, keepdims=True))
        r /= r.sum(axis=1, keepdims=True)
        return np.sum(r * (np.asarray(self.means) - x[:, None]), axis=1) / self.sd ** 2

    def excess_kurtosis(self) -> np.ndarray:
        m = np.asarray(self.means) - np.mean(self.means)
        s2 = self.sd ** 2
        var = np.mean(m ** 2) + s2
        m4 = np.mean(m ** 4 + 6 * m ** 2 * s2 + 3 * s2 ** 2)
        return np.array([m4 / var ** 2 - 3.0])


@dataclasses.dataclass(frozen=True)
class LaplaceMixture2D:
    """Equal-weight mixture of two Gaussian-copula Laplace distributions, correlations +rho and -rho."""

    name: str
    rho: float = 0.9

    dim = 2

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        r = np.where(rng.integers(0, 2, size=n) == 0, self.rho, -self.rho)
        z1 = rng.standard_normal(n)
        z2 = r * z1 + np.sqrt(1 - r ** 2) * rng.standard_normal(n)
        u = stats.norm.cdf(np.stack([z1, z2], axis=1))
        return stats.laplace.ppf(u, scale=np.sqrt(0.5))

    def density(self, x: np.ndarray) -> np.ndarray:
        """Copula density times the Laplace marginals: $c_\\rho(\\Phi^{-1}(F(x_1)), \\Phi^{-1}(F(x_2)))
        f(x_1) f(x_2)$, averaged over $\\rho = \\pm 0.9$."""
        b = np.sqrt(0.5)
        f = stats.laplace.pdf(x, scale=b)
        z = stats.norm.ppf(np.clip(stats.laplace.cdf(x, scale=b), 1e-15, 1 - 1e-15))
        out = 0.0
        for r in (self.rho, -self.rho):
            q = (r ** 2 * (z[:, 0] ** 2 + z[:, 1] ** 2) - 2 * r * z[:, 0] * z[:, 1]) / (1 - r ** 2)
            out = out + 0.5 * np.exp(-0.5 * q) / np.sqrt(1 - r ** 2)
        return out * f.prod(axis=1)

    def excess_kurtosis(self) -> np.ndarray:
        return np.array([3.0, 3.0])


DOUBLE_PEAK = GaussianMixture1D("double peak", (-1.0, 1.0), 0.5)
LAPLACE = LaplaceMixture2D("2-D Laplace mixture")
THREE_PEAKS = GaussianMixture1D("three peaks", (-2.0, 0.0, 2.0), 0.5)
