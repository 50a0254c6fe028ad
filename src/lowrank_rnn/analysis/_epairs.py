"""ePAIRS: a test of non-random population structure in the loadings of a network.

Hirokawa et al. 2019 (Nature 576:446, "Frontal cortex neuron types categorically encode single
decision variables"), as applied to the connectivity loadings of trained low-rank networks by
Dubreuil, Valente et al. 2022 (Nat. Neurosci. 25:783, Fig. 4): are the neurons' loading vectors
grouped in directions (populations), or spread like draws from one Gaussian?
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import ranksums

from .._checks import finite_array, positive_int, prng_key
from .._errors import ArgumentError


@dataclasses.dataclass(frozen=True, eq=False)
class EPAIRSResult:
    """The outcome of :func:`epairs`.

    Attributes
    ----------
    p_value: one-sided Monte-Carlo p-value, ``(1 + #{null medians <= data median}) / (1 + n_null)``:
        small when the neurons' nearest-neighbour angles are smaller than under the Gaussian null
        (clustered directions).
    p_ranksum: the published p-value: a two-sided Wilcoxon rank-sum test of the data's angles
        against all the null angles pooled (it treats the angles as independent, so it is smaller
        than ``p_value`` for the same data).
    effect_size: ``(median(null angles) - median(data angles)) / std(null angles)`` (the published
        "clusteriness"; positive when clustered).
    angles: ``(N,)`` each neuron's mean angle (radians) to its ``k`` nearest neighbours.
    null_medians: ``(n_null,)`` the median angle of each null data set.
    null_std: the standard deviation of all null angles.
    k: the number of neighbours; dims: the dimensions kept after whitening.

    Examples
    --------
    >>> import numpy as np, jax
    >>> X = np.random.default_rng(0).normal(size=(100, 4))
    >>> res = epairs(X, key=jax.random.key(0), n_null=20)
    >>> res.angles.shape, res.null_medians.shape, res.significant
    ((100,), (20,), False)
    """

    p_value: float
    p_ranksum: float
    effect_size: float
    angles: np.ndarray
    null_medians: np.ndarray
    null_std: float
    k: int
    dims: int

    @property
    def significant(self) -> bool:
        """Whether ``p_value < 0.05``."""
        return self.p_value < 0.05


def _whiten(X: np.ndarray, tol: float) -> np.ndarray:
    """Centre X, rotate it onto its principal axes and scale each to unit variance, dropping axes
    whose variance is below ``tol`` times the largest (directions the loadings do not span)."""
    X = X - X.mean(axis=0)
    var, V = np.linalg.eigh(X.T @ X / X.shape[0])
    keep = var > tol * max(float(var.max()), np.finfo(np.float64).tiny)
    return (X @ V[:, keep]) / np.sqrt(var[keep])


@partial(jax.jit, static_argnames=("k",))
def _neighbour_angles(X: jax.Array, *, k: int) -> jax.Array:
    """Return ``(N,)`` the arccos of each row's mean cosine with its k most aligned other rows."""
    U = X / jnp.linalg.norm(X, axis=1, keepdims=True)
    cos = U @ U.T
    cos = jnp.where(jnp.eye(X.shape[0], dtype=bool), -jnp.inf, cos)
    top, _ = jax.lax.top_k(cos, k)
    return jnp.arccos(jnp.clip(top.mean(axis=1), -1.0, 1.0))


@partial(jax.jit, static_argnames=("shape", "k"))
def _null_angles(keys: jax.Array, *, shape: tuple[int, int], k: int) -> jax.Array:
    """Return ``(n_null, N)`` nearest-neighbour angles of standard-normal data sets of ``shape``,
    each whitened as the data are (its own sample covariance made the identity: without this the
    null's sampling anisotropy alone makes its angles smaller than a whitened data set's)."""

    def one(key):
        Z = jax.random.normal(key, shape)
        Z = Z - Z.mean(axis=0)
        var, V = jnp.linalg.eigh(Z.T @ Z / shape[0])
        return _neighbour_angles((Z @ V) / jnp.sqrt(var), k=k)

    return jax.lax.map(one, keys)


def epairs(loadings, *, key: jax.Array, n_null: int = 200, k: int = 3, tol: float = 1e-8) -> EPAIRSResult:
    """Return the ePAIRS test of non-random structure in the rows of ``loadings`` (neurons x dims).

    The rows are centred, rotated onto their principal axes and whitened, so that one Gaussian
    with the data's covariance becomes ``N(0, Id)``. For each neuron i, with unit vectors
    $u_i = x_i / \\lVert x_i \\rVert$, the statistic is the angle

    $$\\theta_i = \\arccos\\Big(\\frac{1}{k} \\sum_{j \\in \\mathrm{NN}_k(i)} u_i^\\top u_j\\Big)$$

    to its k most aligned other neurons. Under the null (the rows are N draws of one Gaussian of
    the same covariance) ``n_null`` data sets of N standard-normal rows give the null angles. The
    loadings are clustered in direction (populations) when the data's median angle is smaller than
    the nulls': ``p_value`` is the Monte-Carlo rank of the data's median among the null medians,
    ``effect_size`` the published clusteriness. Hirokawa et al. 2019 (Nature 576:446); applied to
    the loadings $(m_i, n_i, I_i, w_i)$ of trained networks by Dubreuil, Valente et al. 2022
    (Nat. Neurosci. 25:783, Fig. 4), whose defaults (k = 3, whitening) are kept.

    Parameters
    ----------
    loadings: ``(N, d)`` real array, one row per neuron (e.g. ``analysis.loadings(model)[0]``),
        ``N > k + 1`` rows and at least 2 columns.
    key: ``jax.random`` key of the null data sets.
    n_null: number of null data sets (>= 1; the smallest attainable p-value is ``1 / (n_null + 1)``).
    k: neighbours per neuron (>= 1).
    tol: whitened axes with variance below ``tol`` times the largest are dropped (>= 0).

    Returns
    -------
    :class:`EPAIRSResult`.

    Examples
    --------
    >>> import numpy as np, jax
    >>> rng = np.random.default_rng(0)
    >>> directions = np.array([[1.0, 1.0, 0.0], [-1.0, 1.0, 0.0]])
    >>> X = np.repeat(directions, 100, axis=0) * rng.normal(1.0, 0.3, (200, 1)) + 0.05 * rng.normal(size=(200, 3))
    >>> epairs(X, key=jax.random.key(0), n_null=50).p_value < 0.05
    True
    """
    X = finite_array("loadings", loadings, ndim=2)
    key = prng_key("key", key)
    n_null = positive_int("n_null", n_null)
    k = positive_int("k", k)
    if not (isinstance(tol, (int, float)) and 0.0 <= tol < 1.0):
        raise ArgumentError(f"tol must be a number in [0, 1), got {tol!r}")
    N, d = X.shape
    if N < k + 2:
        raise ArgumentError(f"loadings must have more than k + 1 = {k + 1} rows (neurons), got {N}")
    if d < 2:
        raise ArgumentError(f"loadings must have at least 2 columns (an angle needs 2 dimensions), got {d}")
    W = _whiten(X, tol)
    if W.shape[1] < 2:
        raise ArgumentError(f"loadings span fewer than 2 dimensions (rank {W.shape[1]}): no angles to test")
    angles = np.asarray(_neighbour_angles(jnp.asarray(W, jnp.float32), k=k), np.float64)
    null = np.asarray(_null_angles(jax.random.split(key, n_null), shape=(N, W.shape[1]), k=k), np.float64)
    null_medians = np.median(null, axis=1)
    data_median = float(np.median(angles))
    p_value = (1 + int(np.sum(null_medians <= data_median))) / (1 + n_null)
    null_std = float(null.std())
    p_ranksum = float(ranksums(null.ravel(), angles).pvalue)
    effect = (float(np.median(null)) - data_median) / null_std if null_std > 0 else 0.0
    return EPAIRSResult(p_value=float(p_value), p_ranksum=p_ranksum, effect_size=float(effect), angles=angles,
                        null_medians=null_medians, null_std=null_std, k=k, dims=int(W.shape[1]))
