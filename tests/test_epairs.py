"""ePAIRS (Hirokawa et al. 2019; Dubreuil, Valente et al. 2022): loadings clustered in direction are
significant, one Gaussian is not, and the test does not see linear changes of coordinates."""

import jax
import numpy as np
import pytest

from lowrank_rnn._errors import ArgumentError, ArgumentTypeError
from lowrank_rnn.analysis import epairs


def _two_populations(rng, N=256):
    """Two populations with the same zero mean but different covariances (each elongated along its
    own axis): one Gaussian fitted to them has the right covariance and the wrong directions."""
    labels = rng.integers(0, 2, N)
    X = rng.normal(size=(N, 5))
    X[:, 0] *= np.where(labels == 1, 0.15, 1.0)
    X[:, 1] *= np.where(labels == 1, 1.0, 0.15)
    return X


def test_clustered_loadings_are_significant():
    res = epairs(_two_populations(np.random.default_rng(0)), key=jax.random.key(0), n_null=100)
    assert res.p_value < 0.05 and res.significant
    assert res.p_ranksum < 1e-6
    assert res.effect_size > 0.3  # clustered: smaller angles than the null (positive clusteriness)
    assert res.angles.shape == (256,) and res.null_medians.shape == (100,) and res.dims == 5


def test_gaussian_loadings_are_not_significant():
    rng = np.random.default_rng(1)
    effects = []
    for i in range(3):
        X = rng.normal(size=(256, 5)) @ rng.normal(size=(5, 5)) + 2.0  # any mean and covariance
        res = epairs(X, key=jax.random.key(10 + i), n_null=100)
        assert res.p_value > 0.05, i
        effects.append(res.effect_size)
    # the null spread of the effect size at N = 256 is about 0.1 (measured 0.03-0.16 here); clustered
    # loadings above give 0.47
    assert max(abs(e) for e in effects) < 0.25


def test_invariant_to_linear_changes_of_coordinates():
    rng = np.random.default_rng(2)
    X = _two_populations(rng, 128)
    A = rng.normal(size=(5, 5))
    a = epairs(X, key=jax.random.key(3), n_null=20)
    b = epairs(X @ A + 7.0, key=jax.random.key(3), n_null=20)
    np.testing.assert_allclose(a.angles, b.angles, atol=2e-3)
    # a direction the loadings do not span (a constant column) is dropped, not divided by zero
    c = epairs(np.concatenate([X, np.ones((128, 1))], axis=1), key=jax.random.key(3), n_null=20)
    assert c.dims == 5 and np.isfinite(c.angles).all()


def test_bad_input():
    key = jax.random.key(0)
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ArgumentError, match="loadings must be 2-D"):
        epairs(X[:, 0], key=key)
    with pytest.raises(ArgumentError, match="non-finite"):
        epairs(np.where(X > 1, np.nan, X), key=key)
    with pytest.raises(ArgumentError, match="more than k"):
        epairs(X[:4], key=key, k=3)
    with pytest.raises(ArgumentError, match="at least 2 columns"):
        epairs(X[:, :1], key=key)
    with pytest.raises(ArgumentError, match="fewer than 2 dimensions"):
        epairs(np.outer(X[:, 0], [1.0, 2.0, 3.0]), key=key)
    with pytest.raises(ArgumentError, match="n_null"):
        epairs(X, key=key, n_null=0)
    with pytest.raises(ArgumentTypeError, match="key"):
        epairs(X, key=0)
    with pytest.raises(ArgumentTypeError, match="loadings"):
        epairs([["a", "b"]], key=key)
