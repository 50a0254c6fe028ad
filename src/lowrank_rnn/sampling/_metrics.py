"""Distances between sample sets and shape statistics (the metrics of Chen et al. 2023)."""

from __future__ import annotations

import numpy as np
import scipy.stats

from .._checks import finite_array, real_scalar
from .._errors import ArgumentError


def _pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = finite_array("x", x, ndim=(1, 2))
    y = finite_array("y", y, ndim=(1, 2))
    x = x[:, None] if x.ndim == 1 else x
    y = y[:, None] if y.ndim == 1 else y
    if x.shape[1] != y.shape[1]:
        raise ArgumentError(f"x and y must have the same dimension, got shapes {x.shape} and {y.shape}")
    if len(x) < 2 or len(y) < 2:
        raise ArgumentError(f"x and y must hold at least 2 samples each, got {len(x)} and {len(y)}")
    return x, y


def wasserstein_per_coordinate(x, y) -> np.ndarray:
    """Return the 1-D Wasserstein-1 distance between ``x`` and ``y`` along each coordinate.

    $W_1 = \\int |F_x(t) - F_y(t)|\\, dt$ of the empirical distribution functions of column ``j``
    (``scipy.stats.wasserstein_distance``), the metric Chen et al. 2023 (arXiv 2308.11809) track
    over simulation time. ``x`` and ``y``: ``(n, dim)`` and ``(m, dim)`` (or 1-D).

    Examples
    --------
    >>> wasserstein_per_coordinate([[0.0], [1.0]], [[1.0], [2.0]])
    array([1.])
    """
    x, y = _pair(x, y)
    return np.array([scipy.stats.wasserstein_distance(x[:, j], y[:, j]) for j in range(x.shape[1])])


def excess_kurtosis(x) -> np.ndarray:
    """Return the excess kurtosis $E[(x - \\mu)^4] / \\sigma^4 - 3$ of each coordinate of ``x``.

    Zero for a Gaussian, 3 for a Laplace distribution; the sample estimate (``scipy.stats.kurtosis``,
    Fisher's definition, not bias-corrected). ``x``: ``(n, dim)`` or ``(n,)``.

    Examples
    --------
    >>> float(excess_kurtosis([-1.0, 1.0, -1.0, 1.0])[0])
    -2.0
    """
    x = finite_array("x", x, ndim=(1, 2))
    x = x[:, None] if x.ndim == 1 else x
    if len(x) < 2:
        raise ArgumentError(f"x must hold at least 2 samples, got {len(x)}")
    return np.atleast_1d(scipy.stats.kurtosis(x, axis=0, fisher=True, bias=True))


def mmd(x, y, *, bandwidth: float | None = None) -> float:
    """Return the unbiased estimate of the squared maximum mean discrepancy between ``x`` and ``y``.

    With the Gaussian kernel $k(a, b) = \\exp(-\\|a - b\\|^2 / (2 h^2))$ (Gretton et al. 2012, JMLR
    13:723, Eq. 3):

    $$\\mathrm{MMD}^2 = \\frac{1}{n(n-1)} \\sum_{i \\ne j} k(x_i, x_j)
      + \\frac{1}{m(m-1)} \\sum_{i \\ne j} k(y_i, y_j) - \\frac{2}{nm} \\sum_{i, j} k(x_i, y_j),$$

    which is zero in expectation when the two samples come from one distribution (and may then be
    slightly negative). ``bandwidth`` $h$ defaults to the median distance between the pooled
    points. Memory grows as ``(n + m)^2``: subsample beyond a few thousand points.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    >>> abs(mmd(a, b)) < 0.01, mmd(a, b + 2.0) > 0.3
    (True, True)
    """
    x, y = _pair(x, y)
    z = np.concatenate([x, y])
    sq = np.sum(z ** 2, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0.0)
    if bandwidth is None:
        h = float(np.sqrt(np.median(d2[np.triu_indices(len(z), 1)])))
        if h == 0:
            h = 1.0
    else:
        h = real_scalar("bandwidth", bandwidth, low=0.0, low_open=True)
    k = np.exp(-d2 / (2 * h * h))
    n, m = len(x), len(y)
    kxx, kyy, kxy = k[:n, :n], k[n:, n:], k[:n, n:]
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2 * kxy.mean())
