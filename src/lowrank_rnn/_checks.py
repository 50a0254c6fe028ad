"""Argument checks shared by the public functions.

Each check raises :class:`~lowrank_rnn.ArgumentError` or :class:`~lowrank_rnn.ArgumentTypeError`
(subclasses of ``ValueError`` and ``TypeError``) naming the argument and what is allowed, so that a
bad input fails before any compilation or long run.
"""

from __future__ import annotations

import numbers
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._errors import ArgumentError, ArgumentTypeError


def real_scalar(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False) -> float:
    """Return ``value`` as a float after checking it is a finite real number within the bounds."""
    if isinstance(value, (bool, np.bool_, str, bytes)):  # float("1.1") and float(True) would pass
        raise ArgumentTypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    if not isinstance(value, (numbers.Real, np.ndarray, np.generic)):
        try:
            value = np.asarray(value)  # JAX scalars and 0-d arrays
        except (TypeError, ValueError):
            raise ArgumentTypeError(f"{name} must be a real number, got {type(value).__name__}") from None
    arr = np.asarray(value)
    if arr.ndim != 0:
        raise ArgumentTypeError(f"{name} must be a scalar, got an array of shape {arr.shape}")
    if arr.dtype.kind not in "iuf":
        raise ArgumentTypeError(f"{name} must be a real number, got a {arr.dtype} value")
    x = float(arr)
    if not np.isfinite(x):
        raise ArgumentError(f"{name} must be finite, got {x}")
    if low is not None and (x < low or (low_open and x == low)):
        raise ArgumentError(f"{name} must be {'>' if low_open else '>='} {low}, got {x}")
    if high is not None and (x > high or (high_open and x == high)):
        raise ArgumentError(f"{name} must be {'<' if high_open else '<='} {high}, got {x}")
    return x


def positive_int(name: str, value: Any, *, low: int = 1) -> int:
    """Return ``value`` as an int after checking it is an integer >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise ArgumentTypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < low:
        raise ArgumentError(f"{name} must be an integer >= {low}, got {value}")
    return int(value)


def finite_array(name: str, value: Any, *, ndim: int | tuple[int, ...] | None = None,
                 dtype=np.float64) -> np.ndarray:
    """Return ``value`` as a NumPy array after checking its number of dimensions and finiteness."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):  # ragged nested lists
        raise ArgumentTypeError(f"{name} must be an array of real numbers") from None
    if arr.dtype.kind not in "iuf":  # np.asarray(["1.1"], float) would parse strings
        raise ArgumentTypeError(f"{name} must be an array of real numbers, got dtype {arr.dtype}")
    arr = arr.astype(dtype, copy=False)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ArgumentError(f"{name} must be {want}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ArgumentError(f"{name} contains non-finite values (NaN or inf)")
    return arr


def float_dtype(name: str, dtype: Any) -> np.dtype:
    """Return ``dtype`` as a NumPy dtype after checking it is a floating type JAX can hold now.

    Integer, boolean and complex dtypes are refused (casting loadings to them rounds or drops
    values). ``float64`` needs JAX's 64-bit mode (``JAX_ENABLE_X64=1`` in the environment, or
    ``jax.config.update("jax_enable_x64", True)`` before any computation); without it JAX would
    silently store float32.
    """
    try:
        if not isinstance(dtype, (str, type, np.dtype)):  # np.dtype(None) is float64; arrays: deprecated
            raise TypeError
        dt = np.dtype(dtype)
    except (TypeError, ValueError, SyntaxError):  # np.dtype("0:") and np.dtype("01") raise these
        raise ArgumentTypeError(f"{name} must be a floating dtype such as jnp.float32 or jnp.float64, "
                                f"got {dtype!r}") from None
    if not jnp.issubdtype(dt, jnp.floating):
        raise ArgumentTypeError(f"{name} must be a floating dtype (float16, bfloat16, float32 or float64), "
                                f"got {dt}")
    if jax.dtypes.canonicalize_dtype(dt) != dt:
        raise ArgumentError(f"{name} = {dt} needs JAX's 64-bit mode, which is off: set JAX_ENABLE_X64=1 "
                            "in the environment, or call jax.config.update('jax_enable_x64', True) before "
                            "any computation")
    return dt


def prng_key(name: str, key: Any) -> jax.Array:
    """Return ``key`` after checking it is one ``jax.random`` key: ``jax.random.key(seed)``, or the
    legacy ``jax.random.PRNGKey(seed)`` (two uint32 words)."""
    if not isinstance(key, jax.Array):
        raise ArgumentTypeError(f"{name} must be a jax.random key, e.g. jax.random.key(0), got {type(key).__name__}")
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ArgumentError(f"{name} must be one jax.random key, got an array of keys of shape {key.shape}")
        return key
    if key.dtype != jnp.uint32 or key.shape != (2,):
        raise ArgumentTypeError(f"{name} must be a jax.random key, e.g. jax.random.key(0), got an array of "
                                f"dtype {key.dtype} and shape {key.shape}")
    return key


def physical_memory() -> int | None:
    """Return this machine's physical memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds values (not a JAX tracer inside jit/vmap/grad)."""
    return not isinstance(x, jax.core.Tracer)
