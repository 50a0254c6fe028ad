"""The library's tanh (lowrank_rnn._tanh): jnp.tanh's values and derivatives, bit for bit, on the CPU.

It replaces jnp.tanh everywhere for speed (module docstring), on the claim that it computes exactly
what XLA:CPU computes for jnp.tanh. These tests check that claim on a dense sample of all float32
bit patterns and at the boundaries of the approximation; if a new XLA changes its tanh they fail,
and the coefficients or boundaries in _tanh.py must follow it (checked once over all 2^32 inputs).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowrank_rnn._tanh import _SATURATE, _SMALL, tanh

pytestmark = pytest.mark.skipif(jax.default_backend() != "cpu", reason="the bit-for-bit claim is the CPU's")


def _bits(y):
    return np.asarray(y).view(np.uint32)


def _neighbours(v: np.float32, k: int = 2000) -> np.ndarray:
    """The 2k + 1 float32 values around v, and their negatives."""
    centre = np.array([v], np.float32).view(np.uint32)[0].astype(np.int64)
    around = np.arange(centre - k, centre + k + 1).astype(np.uint32).view(np.float32)
    return np.concatenate([around, -around])


def test_values_equal_jnp_tanh_bit_for_bit():
    # every 61st float32 bit pattern (70 million values: all exponents, both signs, subnormals),
    # the neighbourhoods of the two switches of the approximation, and special values
    sample = np.arange(0, 1 << 32, 61, dtype=np.uint64).astype(np.uint32).view(np.float32)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3.4e38, -3.4e38, 1.0, -1.0], np.float32)
    x = np.concatenate([sample, _neighbours(_SMALL), _neighbours(_SATURATE), special])
    ours, ref = np.asarray(jax.jit(tanh)(x)), np.asarray(jax.jit(jnp.tanh)(x))
    both_nan = np.isnan(ours) & np.isnan(ref)
    mismatch = (_bits(ours) != _bits(ref)) & ~both_nan
    assert not mismatch.any(), f"{mismatch.sum()} differ, e.g. x = {x[mismatch][:5]}"
    assert np.array_equal(np.isnan(ours), np.isnan(x))
    # and it is tanh: within 5 float32 ulp of the float64 value everywhere finite
    finite = np.isfinite(x)
    exact = np.tanh(x[finite].astype(np.float64))
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(ours[finite] - exact) / ulp) <= 5.0


def test_derivatives_equal_jnp_tanh():
    x = np.random.default_rng(0).standard_normal(200_000).astype(np.float32) * 5.0
    for order in (1, 2):
        f_ours, f_ref = tanh, jnp.tanh
        for _ in range(order):
            f_ours, f_ref = jax.grad(f_ours), jax.grad(f_ref)
        ours = np.asarray(jax.jit(jax.vmap(f_ours))(x))
        ref = np.asarray(jax.jit(jax.vmap(f_ref))(x))
        assert np.array_equal(_bits(ours), _bits(ref)), f"derivative of order {order} differs"
    # forward mode and a vector-Jacobian product through a larger program
    v = jnp.asarray(x[:1000])
    _, t_ours = jax.jvp(tanh, (v,), (jnp.ones_like(v),))
    _, t_ref = jax.jvp(jnp.tanh, (v,), (jnp.ones_like(v),))
    assert np.array_equal(_bits(t_ours), _bits(t_ref))


def test_dtypes_and_shapes():
    x = np.linspace(-3, 3, 24, dtype=np.float32).reshape(2, 3, 4)
    y = tanh(x)
    assert y.shape == x.shape and y.dtype == jnp.float32
    assert tanh(np.float32(0.5)).shape == ()
    # other floating dtypes and integers take jnp.tanh itself
    h = jnp.asarray(x, jnp.bfloat16)
    assert tanh(h).dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(tanh(h), np.float32), np.asarray(jnp.tanh(h), np.float32))
    np.testing.assert_array_equal(np.asarray(tanh(jnp.arange(3))), np.asarray(jnp.tanh(jnp.arange(3))))
    with jax.enable_x64(True):
        d = jnp.asarray(np.linspace(-3, 3, 7), jnp.float64)
        assert tanh(d).dtype == jnp.float64
        np.testing.assert_array_equal(np.asarray(tanh(d)), np.asarray(jnp.tanh(d)))
