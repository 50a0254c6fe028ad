"""Double precision for the theory, scoped to one call and one thread.

The solvers of :mod:`lowrank_rnn.theory` compute in float64 inside :func:`float64`, JAX's
thread-local ``jax.enable_x64(True)``, which is undone when the call returns: the rest of the
process keeps JAX's default precision, and other threads are not affected.

What enters JAX inside that scope must be a fresh object. JAX (0.10) remembers, per NumPy array
object, the value it converted the array to, without the precision mode in that key, for as long
as a compiled program that captured the array is alive. A long-lived NumPy array (a cached
quadrature grid, an array the user keeps) captured once by a float64 program then reaches later
float32 programs as float64 (``RuntimeProgramInputMismatch``); captured by a float32 program
first, it would reach the float64 solvers rounded to float32. So the quadrature grids are handed
out as new arrays on every call, and arrays that come from outside enter through
:func:`float64_array`, which copies.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import jax
import jax.numpy as jnp
import numpy as np


@contextmanager
def float64() -> Iterator[None]:
    """Within this block (and this thread only) JAX computes in double precision."""
    with jax.enable_x64(True):
        yield


def float64_array(x) -> jax.Array:
    """Return a float64 JAX array holding the values of ``x``, made from a copy (module docstring).

    Call it inside :func:`float64`.
    """
    return jnp.asarray(np.array(x, dtype=np.float64))
