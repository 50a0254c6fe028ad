"""analysis.representation_geometry (Chen, Recanatesi & Shea-Brown 2023): the local measures against
a direct SVD, their scale behaviour, and the first-layer bound on the Jacobian norm."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowrank_rnn import ArgumentError
from lowrank_rnn.analysis import representation_geometry


def _mlp(params, x):
    W1, W2 = params["W1"], params["W2"]
    return jnp.tanh(W2 @ jnp.tanh(W1 @ x))


def _params(key, D=5, H=16, d=4):
    k1, k2 = jax.random.split(key)
    return {"W1": jax.random.normal(k1, (H, D)) / np.sqrt(D), "W2": jax.random.normal(k2, (d, H)) / np.sqrt(H)}


def test_measures_match_a_direct_svd_and_ld_is_scale_free():
    params = _params(jax.random.key(0))
    X = jax.random.normal(jax.random.key(1), (6, 5))
    geo = representation_geometry(_mlp, params, X)
    for i in range(6):
        J = np.asarray(jax.jacrev(lambda x: _mlp(params, x))(X[i]), np.float64)
        s = np.linalg.svd(J, compute_uv=False)
        assert np.isclose(geo.max_local_sensitivity[i], s[0], rtol=1e-4)
        assert np.isclose(geo.log_volume[i], np.sum(np.log(s)), rtol=1e-4, atol=1e-4)
        assert np.isclose(geo.local_dimensionality[i], np.sum(s**2) ** 2 / np.sum(s**4), rtol=1e-4)
    # scaling the representation by c multiplies MLS by c, adds d log c to the log volume, keeps LD
    scaled = representation_geometry(lambda p, x: 3.0 * _mlp(p, x), params, X)
    np.testing.assert_allclose(scaled.max_local_sensitivity, 3 * geo.max_local_sensitivity, rtol=1e-4)
    np.testing.assert_allclose(scaled.log_volume, geo.log_volume + 4 * np.log(3.0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(scaled.local_dimensionality, geo.local_dimensionality, rtol=1e-4)


def test_first_layer_bound_holds():
    for seed in range(3):
        params = _params(jax.random.key(seed))
        X = jax.random.normal(jax.random.key(10 + seed), (8, 5))
        geo = representation_geometry(_mlp, params, X, first_layer=lambda p: p["W1"])
        assert geo.bound is not None
        assert np.all(geo.jacobian_norm <= geo.bound * (1 + 1e-5))
        assert set(geo.summary()) >= {"max_local_sensitivity", "log_volume", "local_dimensionality", "bound"}


def test_bad_input():
    params = _params(jax.random.key(0))
    with pytest.raises(ArgumentError, match="must return a vector"):
        representation_geometry(lambda p, x: jnp.sum(x), params, np.ones((2, 5)))
    with pytest.raises(ArgumentError, match="inputs"):
        representation_geometry(_mlp, params, np.ones(5))
    with pytest.raises(ArgumentError, match="first_layer"):
        representation_geometry(_mlp, params, np.ones((2, 5)), first_layer=lambda p: p["W2"])
