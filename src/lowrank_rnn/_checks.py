"""Argument checks shared by the public functions.

Each check raises ``ValueError`` or ``TypeError`` naming the argument and what is allowed, so that a
bad input fails before any compilation or long run.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ._errors import ArgumentError, ArgumentTypeError


def real_scalar(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False) -> float:
    """Return ``value`` as a float after checking it is a finite real number within the bounds."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray, np.generic)):
        try:
            value = float(value)  # JAX scalars and 0-d arrays
        except (TypeError, ValueError):
            raise ArgumentTypeError(f"{name} must be a real number, got {type(value).__name__}") from None
    arr = np.asarray(value)
    if arr.ndim != 0:
        raise ArgumentTypeError(f"{name} must be a scalar, got an array of shape {arr.shape}")
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
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{name} must be an array of real numbers") from None
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ArgumentError(f"{name} must be {want}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ArgumentError(f"{name} contains non-finite values (NaN or inf)")
    return arr


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds values (not a JAX tracer inside jit/vmap/grad)."""
    import jax

    return not isinstance(x, jax.core.Tracer)
