"""Shared fixtures: deterministic keys (the compilation cache is set in the top-level conftest.py)."""

import itertools
import json

import jax
import pytest


@pytest.fixture
def getkey():
    """Return a function giving a fresh, deterministic jax.random key on each call."""
    counter = itertools.count()
    return lambda: jax.random.key(next(counter))


@pytest.fixture(scope="session")
def run_reproduction_with():
    """Return ``run(module, out, config, **kw)``: ``module.run(out, quick=True, **kw)`` with its
    ``Config.make`` giving ``config`` (a smoke-size run), and the results.json it wrote."""

    def run(module, out, config, **kw):
        mp = pytest.MonkeyPatch()
        mp.setattr(module.Config, "make", classmethod(lambda cls, quick: config))
        try:
            module.run(out, quick=True, **kw)
        finally:
            mp.undo()
        return json.loads((out / "results.json").read_text())

    return run
