"""Pytest settings shared by the test files and the docstring examples (``--doctest-modules``).

The docstring examples under ``src/lowrank_rnn`` run as tests: each sees its module's globals plus
``jax``, ``jnp`` and ``np`` (as a user's session would), and draws only from keys it builds itself
(``jax.random.key(0)``...), so an example gives the same output on every run and fails when its
printed result is wrong.
"""

import gc
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

# Compile once per machine: repeated CI runs and test files reuse compiled simulation loops.
_CACHE = os.environ.get("LOWRANK_RNN_JAX_CACHE", os.path.join(os.path.dirname(__file__), ".jax_cache"))
jax.config.update("jax_compilation_cache_dir", os.path.abspath(_CACHE))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs():
    """Release the compiled programs of each test file when it ends.

    Every program XLA compiles for the CPU keeps its machine code in small memory mappings of its
    own (mostly 4 KB each), and JAX's caches keep the programs alive. The suite compiles thousands:
    in one pytest process the mappings grew by about 25 000 in the first 14 test files, and past
    Linux's limit of 65 530 per process (``vm.max_map_count``) the next compilation or cache write
    crashed the interpreter with a segmentation fault (two CI runs, at test_sweep.py and at
    test_rule_recipe.py). With the caches cleared after each file the count stays under ~8 000.
    """
    yield
    jax.clear_caches()
    gc.collect()


_GLOBAL_SETTINGS = ("jax_enable_x64", "jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")


@pytest.fixture(autouse=True)
def _process_settings_unchanged():
    """Fail the test that leaves JAX's process-wide settings (or NumPy's print options) changed.

    A test (or a docs page's code block, which runs in this process) that turns on 64-bit mode
    for good makes every later test build float64 arrays where the code expects float32: one CI run
    failed 27 tests in eleven other files this way, far from the cause; a command that set NumPy's
    print precision for good broke a later docstring example. The settings are restored.
    """
    before = {name: getattr(jax.config, name) for name in _GLOBAL_SETTINGS}
    printing = np.get_printoptions()
    yield
    changed = {name: (value, getattr(jax.config, name)) for name, value in before.items()
               if getattr(jax.config, name) != value}
    for name, (value, _) in changed.items():
        jax.config.update(name, value)
    if np.get_printoptions() != printing:
        changed["numpy print options"] = (printing, np.get_printoptions())
        np.set_printoptions(**printing)
    if changed:
        pytest.fail("the test changed process-wide settings (restored now): "
                    + ", ".join(f"{n}: {a!r} -> {b!r}" for n, (a, b) in changed.items())
                    + "; use a context manager (`with jax.enable_x64(True):`, `with np.printoptions(...):`) "
                    "or a subprocess")


@pytest.fixture(autouse=True)
def _doctest_globals(doctest_namespace):
    """Give every docstring example ``jax``, ``jnp`` and ``np``."""
    doctest_namespace.update(jax=jax, jnp=jnp, np=np)


# Docstring examples that solve mean-field equations from scratch (each compiles its own solver):
# they run with the slow tests (``-m slow``), like the full-size reproductions.
_SLOW_EXAMPLES = {"stationary_states", "chaotic_states", "critical_g_B", "critical_g_C", "phase_diagram",
                  "StationaryState", "ChaoticState", "PhaseDiagram", "plot_phase_diagram"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if isinstance(item, pytest.DoctestItem) and item.name.rsplit(".", 1)[-1] in _SLOW_EXAMPLES:
            item.add_marker(pytest.mark.slow)
