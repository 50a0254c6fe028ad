"""The theory computes in float64 without changing anything for the rest of the process.

Each scenario runs in a fresh interpreter, because what is checked is process-wide state: after a
theory call, float32 JAX code (the public Gaussian averages among it) must still run and give the
numbers it gives in a fresh process, and theory results must not depend on what ran before them
(issue 20, item 1). With ``JAX_ENABLE_X64=1`` in the environment the theory gives the same numbers
(item 4).
"""

import json
import os
import subprocess
import sys

import pytest

_CACHE = os.environ.get("LOWRANK_RNN_JAX_CACHE",
                        os.path.join(os.path.dirname(__file__), "..", ".jax_cache"))

_PRELUDE = f"""
import json, sys
import jax
jax.config.update("jax_compilation_cache_dir", {os.path.abspath(_CACHE)!r})
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
import numpy as np
import lowrank_rnn as lr
import lowrank_rnn.theory as th
from lowrank_rnn.theory import gaussian as G

out = {{}}
ENS0 = lr.Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0)
ENS_FP = lr.Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=0.5)


def theory():
    out["latent_flow"] = th.latent_flow(ENS0, np.array([[0.5], [1.0]])).tolist()
    out["latent_fixed_points"] = [fp.kappa.tolist() for fp in th.latent_fixed_points(ENS0)]
    out["stationary_states"] = [s.kappa.tolist() + [s.delta0, s.bulk_radius]
                                for s in th.stationary_states(ENS_FP, n_grid=101)]
    out["critical_g_B"] = np.asarray(th.critical_g_B([2.2])).tolist()


def gaussian():
    # the public averages run in the precision of their inputs: float32 here, unless JAX_ENABLE_X64
    out["mean_phi"] = float(G.mean_phi(0.3, 1.0))
    out["mean_phi_dtype"] = str(G.mean_phi(0.3, 1.0).dtype)
    out["mean_dphi"] = np.asarray(G.mean_dphi(np.array([0.0, 0.5]), np.array([1.0, 2.0]))).tolist()
    out["nested_phi"] = float(G.nested_phi(0.2, 1.5, 0.5))
    out["docstring"] = float(G.gaussian_average(lambda x: x**2, 1.0, 2.0))
    with jax.enable_x64(True):
        out["mean_phi_64"] = float(G.mean_phi(0.3, 1.0))
"""


def _run(body: str, **env) -> dict:
    code = _PRELUDE + body + "\nprint(json.dumps(out))\n"
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **env}
    environ.pop("JAX_ENABLE_X64", None)
    environ.update(env)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def fresh():
    """Each part in a process of its own: the reference numbers."""
    return {**_run("theory()"), **_run("gaussian()")}


def _same(got: dict, ref: dict, keys=None):
    for k in keys or ref:
        assert got[k] == ref[k], f"{k}: {got[k]} != {ref[k]} (fresh process)"


def test_gaussian_averages_run_after_theory(fresh):
    """latent_flow / latent_fixed_points used to leave the quadrature nodes tagged float64 inside JAX,
    so that every later float32 average raised RuntimeProgramInputMismatch."""
    got = _run("theory()\ngaussian()")
    assert got["mean_phi_dtype"] == "float32"
    assert got["docstring"] == 3.0
    _same(got, fresh)


def test_gaussian_averages_run_after_latent_flow_alone(fresh):
    got = _run("th.latent_flow(ENS0, np.array([0.5]))\ngaussian()")
    _same(got, fresh, ["mean_phi", "mean_dphi", "nested_phi", "docstring", "mean_phi_64"])


def test_theory_after_gaussian_averages_gives_the_same_numbers(fresh):
    _same(_run("gaussian()\ntheory()"), fresh)


def test_theory_beside_a_user_compiled_float32_average(fresh):
    """A float32 program holding the quadrature nodes (here: the user's jit of mean_phi, kept alive)
    must not make the theory compute with float32 nodes (it failed to compile)."""
    got = _run("jf = jax.jit(G.mean_phi)\nout['jit'] = float(jf(0.3, 1.0))\ntheory()\ngaussian()\n"
               "out['jit_after'] = float(jf(0.3, 1.0))")
    assert got["jit"] == got["jit_after"] == fresh["mean_phi"]
    _same(got, fresh)


def test_theory_in_float64_mode_gives_the_same_numbers(fresh):
    """JAX_ENABLE_X64=1: the theory works and its numbers are those of the default mode."""
    got = _run("theory()\ngaussian()", JAX_ENABLE_X64="1")
    _same(got, fresh, ["latent_flow", "latent_fixed_points", "stationary_states", "critical_g_B",
                       "mean_phi_64"])
    assert got["mean_phi_dtype"] == "float64"
    assert got["mean_phi"] == fresh["mean_phi_64"]
