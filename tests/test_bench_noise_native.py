"""benchmarks/bench_noise_native.py: the native kernel it times draws the library's noise bit for bit.

Only the check is run here (building the kernel, then comparing its draws with
``quantile_normal_from_words`` in every layout the integrator uses), not the timing: no time is
asserted on a shared machine.
"""

import importlib.util
import os

import pytest

_PATH = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "bench_noise_native.py")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_noise_native", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_native_kernel_equals_the_library_generator(bench, tmp_path):
    try:
        lib = bench.build(tmp_path)
    except SystemExit as refused:  # the one accepted reason for no kernel, and it must say so
        assert "no C++ compiler found" in str(refused)
        return
    draw = bench.native_generator(lib)
    assert bench.check_equal(draw)
    # and a different key gives different draws (the comparison is not between two constant arrays)
    import jax
    import jax.numpy as jnp

    from lowrank_rnn.dynamics import _hashnoise

    a = draw(*_hashnoise.simulation_words(_hashnoise.key_words(jax.random.key(0)), 0), (64, 8), 1)
    b = draw(*_hashnoise.simulation_words(_hashnoise.key_words(jax.random.key(1)), 0), (64, 8), 1)
    assert not bool(jnp.array_equal(a, b)) and 0.5 < float(jnp.std(a)) < 1.5


def test_build_reports_a_missing_compiler(bench, tmp_path, monkeypatch):
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    with pytest.raises(SystemExit, match="no C.. compiler found"):
        bench.build(tmp_path)
