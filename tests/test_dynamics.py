"""The integrator (lowrank_rnn.dynamics) and what simulate builds on it: the noise generator's
statistics, the Euler–Maruyama convention, float64, the size guard, progress, the diffrax option."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowrank_rnn import ArgumentError, Ensemble, Network, simulate
from lowrank_rnn.dynamics import (Autodiff, Diffrax, Euler, SaveAt, Truncated, VectorField, integrate, key_words,
                                  quantile_normal_from_words, simulation_words)
from lowrank_rnn.dynamics._hashnoise import _quantile_table


class _Linear(VectorField):
    """F(x, u) = A x + u (a linear field, for checks against closed forms)."""

    def __init__(self, A):
        self.A = A

    def drive(self, x, aux, u):
        return self.A @ x + u, None


def test_integrate_is_the_euler_update_and_saves_as_asked():
    rng = np.random.default_rng(0)
    A = jnp.asarray(rng.normal(size=(5, 5)) * 0.3, jnp.float32)
    x0 = jnp.asarray(rng.normal(size=5), jnp.float32)
    u = jnp.asarray(rng.normal(size=(12, 5)), jnp.float32)
    alpha = 0.3
    want = [np.asarray(x0)]
    for t in range(12):
        x = want[-1]
        want.append(x + alpha * ((np.asarray(A) @ x + np.asarray(u[t])) - x))
    want = np.stack(want)
    (x_end, _, t_end), xs = integrate(_Linear(A), x0, u, alpha=alpha, saveat=SaveAt(fn=lambda x, a, e: x))
    np.testing.assert_allclose(xs, want[1:], rtol=1e-5, atol=1e-6)
    assert int(t_end) == 12 and np.allclose(x_end, want[-1], atol=1e-6)
    _, every = integrate(_Linear(A), x0, u, alpha=alpha, saveat=SaveAt(fn=lambda x, a, e: x, every=4, initial=True))
    np.testing.assert_allclose(every, want[::4], rtol=1e-5, atol=1e-6)
    # the convex writing (1 - alpha) x + alpha F is the same update
    _, conv = integrate(_Linear(A), x0, u, alpha=alpha, solver=Euler(convex=True),
                        saveat=SaveAt(fn=lambda x, a, e: x))
    np.testing.assert_allclose(conv, want[1:], rtol=1e-5, atol=1e-6)
    with pytest.raises(ArgumentError, match="every"):
        integrate(_Linear(A), x0, u, alpha=alpha, saveat=SaveAt(fn=lambda x, a, e: x, every=5))


def test_truncated_gradient_cuts_the_state_every_k_steps():
    """x_{t+1} = 0.75 x_t + 0.5 u_t (a = 0.5, alpha = 0.5): d x_6 / d u_t = 0.5 * 0.75^(5 - t) by
    autodiff; Truncated(3) cuts the state at the start of steps 0 and 3, so only u_3..u_5 count."""
    A = jnp.asarray([[0.5]], jnp.float32)
    x0 = jnp.ones(1, jnp.float32)

    def final(u, adjoint):
        (x, _, _), _ = integrate(_Linear(A), x0, u, alpha=0.5, adjoint=adjoint)
        return x[0]

    u = jnp.zeros((6, 1), jnp.float32)
    want = 0.5 * 0.75 ** (5 - np.arange(6))
    np.testing.assert_allclose(jax.grad(final)(u, Autodiff())[:, 0], want, rtol=1e-6)
    cut = jax.grad(final)(u, Truncated(3))[:, 0]
    np.testing.assert_allclose(cut, np.where(np.arange(6) >= 3, want, 0.0), rtol=1e-6)
    assert float(final(u, Truncated(3))) == float(final(u, Autodiff()))  # forward values unchanged


# ------------------------------------------------------------------------------- noise of simulate

def _free_units(N=64):
    """A network whose units are uncoupled (n = 0): x <- (1 - dt) x + sigma sqrt(dt) xi per unit."""
    return Network(m=np.ones((N, 1)), n=np.zeros((N, 1)), nonlinearity="linear")


def test_simulate_noise_is_standard_normal_and_independent():
    """With x0 = 0 and n = 0 the first step gives x_1 = sigma sqrt(dt) xi_0 exactly, and a step
    from x = 0 with dt = 1 (x <- x + (F - x) + sigma xi = sigma xi) exposes every draw: mean 0,
    variance 1, no correlation across steps, trials or units."""
    N, B, T = 256, 16, 64
    tr = simulate(_free_units(N), T=float(T), dt=1.0, noise=1.0, key=jax.random.key(3), batch=B, record=("x",))
    xi = np.asarray(tr.x[:, 1:], np.float64)  # (B, T, N): every entry one draw
    n = xi.size
    assert abs(xi.mean()) < 4 / np.sqrt(n)
    assert abs(xi.var() - 1) < 4 * np.sqrt(2 / n)
    kurt = np.mean(xi**4) / xi.var() ** 2
    assert abs(kurt - 3) < 0.1
    flat = xi.reshape(-1)

    def corr(a, b):
        a, b = a.reshape(-1) - a.mean(), b.reshape(-1) - b.mean()
        return float(a @ b / np.sqrt((a @ a) * (b @ b)))

    lim = 5 / np.sqrt(xi[:, 1:].size)
    assert abs(corr(xi[:, 1:], xi[:, :-1])) < lim    # consecutive steps
    assert abs(corr(xi[1:], xi[:-1])) < lim          # neighbouring trials
    assert abs(corr(xi[..., 1:], xi[..., :-1])) < lim  # neighbouring units
    assert abs(corr(xi[:, :, : N // 2], xi[:, :, N // 2:])) < lim
    # the draws take the table's 2^16 values, each about equally often
    counts = np.unique(flat, return_counts=True)[1]
    assert counts.size > 0.96 * 2**16 and counts.max() <= 20  # Poisson(4) counts: 1.8 % of values unseen


def test_simulate_noise_convention_converges_with_dt():
    """Euler–Maruyama x <- x + dt(-x) + sigma sqrt(dt) xi has stationary variance sigma^2 / (2 - dt)
    exactly (a free unit), which tends to the Ornstein–Uhlenbeck value sigma^2 / 2 as dt -> 0."""
    sigma, N, B = 0.8, 200, 32
    net = _free_units(N)
    for dt in (0.5, 0.1):
        every = int(round(2 / dt))  # samples 2 tau apart: correlation exp(-2) at most
        tr = simulate(net, T=200.0, dt=dt, noise=sigma, key=jax.random.key(int(10 * dt)), batch=B,
                      record=("x",), record_every=every)
        x = np.asarray(tr.x[:, 10:], np.float64)
        want = sigma**2 / (2 - dt)
        n_eff = x.size / 2
        assert abs(x.var() - want) < 4 * want * np.sqrt(2 / n_eff), (dt, x.var(), want)
    # the dt = 0.1 value lies within 3 % of the continuous-time sigma^2 / 2
    assert abs(x.var() / (sigma**2 / 2) - 1) < 0.03 + 0.1 / 2


def test_simulate_draws_are_the_documented_generator_of_the_key():
    """simulate's xi at step t, trial b, unit i is quantile_normal_from_words at index b N + i
    with the words of step t hashed from the key, whatever the batch: the documented generator,
    not Threefry."""
    N, B = 32, 3
    key = jax.random.key(11)
    tr = simulate(_free_units(N), T=3.0, dt=1.0, noise=1.0, key=key, batch=B, record=("x",))
    one = simulate(_free_units(N), T=3.0, dt=1.0, noise=1.0, key=key, record=("x",))
    words = key_words(key)
    for t in range(3):
        w0, w1 = simulation_words(words, t)
        want = np.asarray(quantile_normal_from_words(w0, w1, (B, N)))
        np.testing.assert_array_equal(tr.x[:, t + 1], want)
        np.testing.assert_array_equal(one.x[t + 1], want[0])


def test_quantile_generator_moments_and_tails():
    """The 16-bit table: symmetric, variance 1, |z| <= 4.33, and the draws of 2^20 elements follow
    N(0, 1) (Kolmogorov distance below the table's resolution plus sampling error)."""
    from scipy.stats import kstest

    table = _quantile_table(16)
    assert table.dtype == np.float32 and table.size == 2**16
    np.testing.assert_array_equal(table, -table[::-1])
    assert abs(np.mean(table.astype(np.float64) ** 2) - 1) < 1e-6
    assert 4.3 < table.max() < 4.4
    z = np.asarray(quantile_normal_from_words(jnp.uint32(7), jnp.uint32(9), (1024, 1024)), np.float64).ravel()
    assert abs(z.mean()) < 4 / np.sqrt(z.size) and abs(z.var() - 1) < 4 * np.sqrt(2 / z.size)
    assert kstest(z, "norm").statistic < 2e-5 * 8 + 1.5 / np.sqrt(z.size)


# ------------------------------------------------------------------------------- float64

def test_float64_end_to_end_in_a_subprocess():
    """With JAX_ENABLE_X64=1 a float64 Network simulates in float64 (noise and inputs included),
    and a model made float64 runs forward and backward in float64; float32 stays the default."""
    code = textwrap.dedent("""
        import jax, jax.numpy as jnp, numpy as np, equinox as eqx
        from lowrank_rnn import Network, simulate
        from lowrank_rnn.models import LowRankRNN, FullRankRNN, run_trials
        from lowrank_rnn.learning import RateRNN, rule_outputs
        rng = np.random.default_rng(0)
        N = 80
        arrays = dict(m=1.5 * rng.normal(size=(N, 1)), n=1.5 * rng.normal(size=(N, 1)),
                      inputs=rng.normal(size=(N, 1)), readouts=rng.normal(size=(N, 1)))
        net64 = Network(**arrays, dtype=jnp.float64)
        net32 = Network(**arrays)
        kw = dict(T=5.0, dt=0.1, x0=arrays["m"][:, 0], inputs=np.ones((50, 1)), record=("x", "kappa", "readout"))
        a = simulate(net64, **kw)
        b = simulate(net32, **kw)
        assert a.x.dtype == np.float64 and a.kappa.dtype == np.float64 and b.x.dtype == np.float32
        assert np.max(np.abs(a.x - b.x)) < 1e-4, np.max(np.abs(a.x - b.x))
        c = simulate(net64, noise=0.2, key=jax.random.key(0), batch=3, method="dense", **kw)
        assert c.x.dtype == np.float64 and np.all(np.isfinite(c.x))
        to64 = lambda mod: jax.tree_util.tree_map(lambda v: v.astype(jnp.float64) if eqx.is_array(v) else v, mod)
        u = jnp.ones((4, 20, 1), jnp.float64)
        for model in (LowRankRNN(50, 1, 1, 1, key=jax.random.key(0), noise=0.1),
                      LowRankRNN(50, 1, 1, 1, key=jax.random.key(0), noise=0.1, g=0.5),
                      FullRankRNN(50, 1, 1, key=jax.random.key(0), noise=0.1)):
            m64 = to64(model)
            for rng_ in ("hash", "threefry"):
                assert run_trials(m64, u, key=jax.random.key(1), noise_rng=rng_).dtype == jnp.float64
            assert m64(u[0], key=jax.random.key(1)).dtype == jnp.float64
            g = eqx.filter_grad(lambda mm: jnp.sum(run_trials(mm, u, key=jax.random.key(1), noise_rng="hash") ** 2))(m64)
            assert g.input_scales.dtype == jnp.float64
            z32 = run_trials(model, u, key=jax.random.key(1), noise_rng="hash")
            assert z32.dtype == jnp.float32  # a float32 model stays float32 in 64-bit mode
            assert np.max(np.abs(np.asarray(z32) - np.asarray(run_trials(m64, u, key=jax.random.key(1), noise_rng="hash")))) < 1e-3
        r64 = to64(RateRNN(30, 1, 1, key=jax.random.key(2), noise=0.1))
        assert rule_outputs(r64, u, "eprop", key=jax.random.key(3), noise_rng="hash").dtype == jnp.float64
        print("OK")
    """)
    env = dict(os.environ, JAX_ENABLE_X64="1", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-3000:]


# ------------------------------------------------------------------------------- size guard, progress

@pytest.fixture(scope="module")
def small_net():
    return Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0).sample(50, key=jax.random.key(0))


@pytest.mark.parametrize("kwargs, match", [
    (dict(T=1e9, dt=1.0), r"1,000,000,000 steps.*max_steps = 10,000,000.*max_steps=1000000000"),
    (dict(T=1.0, dt=1e-12), r"1,000,000,000,000 steps.*max_steps"),
    (dict(T=1.0, dt=1e-12, max_steps=None), r"2\*\*31 - 1"),
    (dict(T=10.0, dt=0.1, max_steps=50), r"100 steps.*max_steps = 50"),
])
def test_long_runs_are_refused_before_compiling(small_net, kwargs, match):
    with pytest.raises(ArgumentError, match=match) as info:
        simulate(small_net, **kwargs)
    assert "memory" in str(info.value)


def test_refusal_states_the_memory_of_the_recording(small_net):
    with pytest.raises(ArgumentError, match=r"x every 1 step\(s\) of 4 trial\(s\) would need 20 GB"):
        # (2.5e7 + 1) points x 4 trials x 50 units x 4 bytes = 2.0e10 bytes
        simulate(small_net, T=2.5e7, dt=1.0, batch=4, record=("x",))
    with pytest.raises(ArgumentError, match="max_steps must be"):
        simulate(small_net, T=1.0, dt=0.1, max_steps=0)


def test_opt_in_runs_and_progress_gives_the_same_result(small_net, capsys):
    kw = dict(T=12.0, dt=0.1, x0=np.asarray(small_net.m[:, 0]), noise=0.3, key=jax.random.key(1), batch=2,
              record=("x", "kappa"), record_every=3)
    a = simulate(small_net, max_steps=120, progress=False, **kw)
    b = simulate(small_net, max_steps=120, progress=True, **kw)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.kappa, b.kappa)
    np.testing.assert_array_equal(a.t, b.t)
    err = capsys.readouterr().err
    assert "simulate" in err and "120/120" in err
    with pytest.raises(TypeError, match="progress"):
        simulate(small_net, T=1.0, dt=0.1, progress="yes")


# ------------------------------------------------------------------------------- diffrax

def test_diffrax_solver_integrates_the_same_equation_more_accurately():
    """A linear network with one eigenvalue lambda = 0.5 along m: x(t) along m decays as
    exp(-(1 - lambda) t). Euler at dt = 0.1 is off by O(dt); Tsit5 with tight tolerances is exact
    to 1e-5 on the same recording grid."""
    diffrax = pytest.importorskip("diffrax")
    rng = np.random.default_rng(0)
    N = 100
    m = rng.normal(size=N)
    n = 0.5 * m * N / (m @ m)
    net = Network(m=m, n=n, nonlinearity="linear")
    T = 4.0
    want = np.exp(-(1 - 0.5) * np.arange(0, 41) * 0.1)[:, None] * np.asarray(net.m[:, 0])[None]
    euler = simulate(net, T=T, dt=0.1, x0=net.m[:, 0], record=("x",))
    solver = Diffrax(diffrax.Tsit5(), stepsize_controller=diffrax.PIDController(rtol=1e-7, atol=1e-7))
    exact = simulate(net, T=T, dt=0.1, x0=net.m[:, 0], record=("x",), solver=solver)
    err_euler = np.max(np.abs(euler.x - want))
    err_tsit = np.max(np.abs(exact.x - want))
    assert err_tsit < 1e-4 < err_euler, (err_tsit, err_euler)
    assert exact.x.shape == euler.x.shape
    with pytest.raises(ArgumentError, match="Euler"):
        simulate(net, T=T, dt=0.1, noise=0.1, key=jax.random.key(0), solver=solver)
    with pytest.raises(TypeError, match="solver"):
        simulate(net, T=T, dt=0.1, solver="tsit5")


def test_diffrax_with_inputs_matches_euler_as_dt_shrinks():
    """Inputs are held over each grid step: a fine Euler run with the same piecewise-constant inputs
    approaches the diffrax solution."""
    diffrax = pytest.importorskip("diffrax")
    rng = np.random.default_rng(1)
    N = 60
    net = Network(m=rng.normal(size=(N, 1)), n=rng.normal(size=(N, 1)), inputs=rng.normal(size=(N, 1)),
                  readouts=rng.normal(size=(N, 1)))
    u = np.sin(np.arange(20))[:, None].astype(np.float32)
    solver = Diffrax(diffrax.Tsit5(), stepsize_controller=diffrax.PIDController(rtol=1e-7, atol=1e-7))
    ref = simulate(net, T=2.0, dt=0.1, inputs=u, record=("x",), solver=solver)
    fine = simulate(net, T=2.0, dt=0.001, inputs=np.repeat(u, 100, axis=0), record=("x",), record_every=100)
    coarse = simulate(net, T=2.0, dt=0.1, inputs=u, record=("x",))
    e_fine, e_coarse = np.max(np.abs(fine.x - ref.x)), np.max(np.abs(coarse.x - ref.x))
    assert e_fine < 0.02 * e_coarse + 1e-4, (e_fine, e_coarse)
