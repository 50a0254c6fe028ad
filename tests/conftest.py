"""Shared fixtures: deterministic keys (the compilation cache is set in the top-level conftest.py)."""

import itertools

import jax
import pytest


@pytest.fixture
def getkey():
    """Return a function giving a fresh, deterministic jax.random key on each call."""
    counter = itertools.count()
    return lambda: jax.random.key(next(counter))
