"""Shared fixtures: deterministic keys and JAX's persistent compilation cache."""

import itertools
import os

import jax
import pytest

# Compile once per machine: repeated CI runs and test files reuse compiled simulation loops.
_CACHE = os.environ.get("LOWRANK_RNN_JAX_CACHE", os.path.join(os.path.dirname(__file__), "..", ".jax_cache"))
jax.config.update("jax_compilation_cache_dir", os.path.abspath(_CACHE))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


@pytest.fixture
def getkey():
    """Return a function giving a fresh, deterministic jax.random key on each call."""
    counter = itertools.count()
    return lambda: jax.random.key(next(counter))
