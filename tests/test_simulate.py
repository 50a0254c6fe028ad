"""simulate: low-rank path against dense J, the noise convention, determinism, inputs, errors."""

import sys

import jax
import numpy as np
import pytest
import scipy.linalg
import scipy.optimize

from lowrank_rnn import DivergenceError, Ensemble, Network, simulate
from lowrank_rnn.theory import gaussian


@pytest.fixture(scope="module")
def rank_two_net():
    ens = Ensemble.from_directions(
        {"m1": {"a": 1.0, "y1": 1.2}, "m2": {"b": 1.0, "y2": 1.0},
         "n1": {"c": 1.0, "y1": 1.5, "y2": 0.4}, "n2": {"d": 1.0, "y2": 1.4, "y1": -0.6},
         "I1": {"c": 1.0}, "w1": {"a": 1.0}}, means={"m1": 0.3})
    return ens.sample(600, key=jax.random.key(7))


def test_lowrank_path_equals_dense(rank_two_net):
    net = rank_two_net
    x0 = np.asarray(jax.random.normal(jax.random.key(1), (3, net.N)))
    u = np.sin(np.linspace(0, 6, 400))[:, None] * 0.5
    kw = dict(T=40.0, dt=0.1, x0=x0, inputs=u, record=("x", "kappa", "readout"))
    low = simulate(net, method="lowrank", **kw)
    dense = simulate(net, method="dense", **kw)
    # float32 arithmetic summed in different orders: agree to a few ulps of O(1) values.
    np.testing.assert_allclose(low.x, dense.x, atol=2e-5)
    np.testing.assert_allclose(low.kappa, dense.kappa, atol=2e-5)
    np.testing.assert_allclose(low.readout, dense.readout, atol=2e-5)
    # and the recorded latents are what they claim to be
    kappa = np.tanh(low.x) @ np.asarray(net.n) / net.N
    np.testing.assert_allclose(low.kappa, kappa, atol=1e-5)


def test_lowrank_path_forms_no_matrix():
    """The g = 0 step is O(N (R + K)): N = 200000 would need 160 GB as a dense J."""
    ens = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0)
    net = ens.sample(200_000, key=jax.random.key(0))
    tr = simulate(net, T=20.0, dt=0.1, x0=0.1 * np.asarray(net.m[:, 0]))
    # Mean-field fixed point for g = 0 (Mastrogiuseppe & Ostojic 2018): kappa = M_n [phi](M_m k, S_m^2 k^2).
    with jax.enable_x64(True):
        kappa_mf = scipy.optimize.brentq(lambda k: 2.0 * float(gaussian.mean_phi(1.1 * k, k * k)) - k, 0.5, 3.0)
    # finite-N error of kappa is O(1/sqrt(N)) ~ 0.002 here
    assert abs(tr.kappa[-1, 0] - kappa_mf) < 0.01, (tr.kappa[-1, 0], kappa_mf)


def test_bulk_network_lowrank_equals_dense(getkey):
    ens = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=0.8)
    net = ens.sample(400, key=getkey())
    kw = dict(T=10.0, dt=0.05, x0=np.asarray(net.m[:, 0]), record=("x",))
    np.testing.assert_allclose(simulate(net, method="lowrank", **kw).x,
                               simulate(net, method="dense", **kw).x, atol=2e-5)


def _linear_rank_one(N=200, overlap=0.5, seed=3):
    rng = np.random.default_rng(seed)
    m = rng.normal(size=N)
    n = overlap * m * N / (m @ m)  # n^T m / N = overlap exactly: one eigenvalue at 0.5, the rest 0
    return Network(m=m, n=n, nonlinearity="linear")


def _stationary_variances(net, dt, noise, key):
    N = net.N
    every = int(round(1.0 / dt))  # one sample per tau
    tr = simulate(net, T=300.0, dt=dt, noise=noise, key=key, batch=48, record=("x",), record_every=every)
    x = tr.x[:, 20:, :]  # discard 20 tau of transient
    m = np.asarray(net.m[:, 0], np.float64)
    proj = x @ m / np.sqrt(m @ m)
    return x.var(axis=(0, 1)).mean(), proj.var(), proj.size


def test_noise_gives_analytic_stationary_variance_and_is_dt_independent(getkey):
    """Ornstein–Uhlenbeck check of x <- x + dt(-x + J x) + sigma sqrt(dt) xi.

    The stationary covariance C solves the Lyapunov equation (J - 1) C + C (J - 1)^T + sigma^2 = 0.
    Euler–Maruyama has a bias of relative order dt/2 (exactly sigma^2/(2 - dt) for an uncoupled unit),
    so the tolerance is 3 standard errors plus dt/2.
    """
    net = _linear_rank_one()
    sigma = 0.7
    J = np.asarray(net.connectivity(), np.float64)
    A = J - np.eye(net.N)
    C = scipy.linalg.solve_continuous_lyapunov(A, -sigma**2 * np.eye(net.N))
    m = np.asarray(net.m[:, 0], np.float64)
    u = m / np.linalg.norm(m)
    want_unit, want_proj = np.trace(C) / net.N, u @ C @ u
    # Along m the eigenvalue is 0.5: variance sigma^2 / (2 (1 - 0.5)), twice the free value
    # (to float32 precision: the loadings are stored in float32).
    assert abs(want_proj - sigma**2) < 1e-6 and abs(want_unit - sigma**2 / 2) < 0.01
    results = {}
    for dt in (0.1, 0.02):
        unit, proj, n_samples = _stationary_variances(net, dt, sigma, getkey())
        # proj: correlation time 2 tau, one sample per tau -> about n/2 independent samples.
        se_proj = want_proj * np.sqrt(2.0 / (n_samples / 2))
        assert abs(proj - want_proj) < 3 * se_proj + want_proj * dt / 2, (dt, proj, want_proj)
        assert abs(unit - want_unit) < 0.01 * want_unit + want_unit * dt / 2, (dt, unit, want_unit)
        results[dt] = (unit, proj)
    # Does not change with dt: the two runs agree within the same allowance.
    assert abs(results[0.1][0] - results[0.02][0]) < 0.06 * want_unit
    assert abs(results[0.1][1] - results[0.02][1]) < 0.12 * want_proj


def test_same_key_same_result(getkey):
    ens = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=0.5)
    a = ens.sample(300, key=jax.random.key(5))
    b = ens.sample(300, key=jax.random.key(5))
    c = ens.sample(300, key=jax.random.key(6))
    np.testing.assert_array_equal(np.asarray(a.m), np.asarray(b.m))
    np.testing.assert_array_equal(np.asarray(a.bulk), np.asarray(b.bulk))
    assert not np.allclose(np.asarray(a.m), np.asarray(c.m))
    kw = dict(T=5.0, dt=0.1, noise=0.5, batch=3, record=("x",))
    r1 = simulate(a, key=jax.random.key(11), **kw)
    r2 = simulate(b, key=jax.random.key(11), **kw)
    r3 = simulate(a, key=jax.random.key(12), **kw)
    np.testing.assert_array_equal(r1.x, r2.x)
    assert not np.allclose(r1.x, r3.x)
    # trials of a batch receive independent noise
    assert not np.allclose(r1.x[0, -1], r1.x[1, -1])


def test_input_forms_agree(rank_two_net):
    net = rank_two_net
    dt, T = 0.1, 10.0
    f = lambda t: jax.numpy.array([jax.numpy.sin(t)])  # noqa: E731
    grid = np.sin(np.arange(100) * dt)[:, None]
    a = simulate(net, T=T, dt=dt, inputs=f)
    b = simulate(net, T=T, dt=dt, inputs=grid)
    c = simulate(net, T=T, dt=dt, inputs=np.stack([grid, 2 * grid]))
    np.testing.assert_allclose(a.kappa, b.kappa, atol=1e-6)
    np.testing.assert_allclose(c.kappa[0], b.kappa, atol=1e-6)
    assert c.kappa.shape == (2, 101, 2) and c.batched and not b.batched
    assert not np.allclose(c.kappa[1], c.kappa[0])


def test_record_every_subsamples(rank_two_net):
    x0 = 0.3 * np.asarray(rank_two_net.m[:, 0])
    full = simulate(rank_two_net, T=10.0, dt=0.1, x0=x0, record=("kappa", "rates"))
    sub = simulate(rank_two_net, T=10.0, dt=0.1, x0=x0, record=("kappa", "rates"), record_every=5)
    np.testing.assert_allclose(sub.t, full.t[::5])
    np.testing.assert_allclose(sub.kappa, full.kappa[::5], atol=1e-6)
    np.testing.assert_allclose(sub.rates, full.rates[::5], atol=1e-6)
    assert sub.x is None and sub.readout is None


def test_divergence_is_reported_with_time():
    net = _linear_rank_one(overlap=5.0)  # grows as exp(4 t): float32 overflows near t = 22
    with pytest.raises(DivergenceError, match="non-finite at t = ") as err:
        simulate(net, T=60.0, dt=0.1, x0=np.ones(net.N))
    assert 15.0 < err.value.time < 30.0


def test_divergence_names_the_first_trial_and_the_step():
    """x = c 1 on J = 5 1 1^T / N grows as x_k = c 1.4^k (dt = 0.1); the state turns non-finite at
    the step after the drive 5 x_j first exceeds the float32 maximum, earliest for the largest c."""
    N, dt = 50, 0.1
    net = Network(m=np.ones(N), n=5.0 * np.ones(N), nonlinearity="linear")
    c = np.array([1.0, 1e6, 1e6, 1e3])
    x0 = c[:, None] * np.ones(N)

    def first_nonfinite_time(c):
        j = np.ceil(np.log(np.finfo(np.float32).max / (5 * c)) / np.log(1.4))
        return (j + 1) * dt

    for method in ("lowrank", "dense"):
        with pytest.raises(DivergenceError, match=r"non-finite at t = .* \(trial 1\)") as err:
            simulate(net, T=40.0, dt=dt, x0=x0, method=method, record=("kappa",), record_every=10)
        assert err.value.trial == 1  # trials 1 and 2 diverge together: the lower index is named
        # within a step: float32 rounding of 1.4^k can move the overflow by one step
        assert abs(err.value.time - first_nonfinite_time(1e6)) <= dt + 1e-9, (method, err.value.time)
    # a run that stops before the first overflow is returned, finite
    tr = simulate(net, T=20.0, dt=dt, x0=x0, record=("x",), record_every=200)
    assert np.all(np.isfinite(tr.x)) and tr.x[1, -1, 0] > 1e30


def test_trial_noise_does_not_depend_on_the_batch(rank_two_net):
    """Trial i draws from the i-th key split from ``key``, whatever the batch size (and the
    batched scan computes each trial as a single run would)."""
    net = rank_two_net
    x0 = np.asarray(jax.random.normal(jax.random.key(3), (5, net.N)))
    kw = dict(T=3.0, dt=0.1, noise=0.4, key=jax.random.key(9), record=("x", "kappa"))
    five = simulate(net, x0=x0, **kw)
    three = simulate(net, x0=x0[:3], **kw)
    np.testing.assert_allclose(three.x, five.x[:3], atol=1e-6)
    np.testing.assert_allclose(three.kappa, five.kappa[:3], atol=1e-6)
    one = simulate(net, x0=x0[0], **kw)  # a single trial takes the vector path
    np.testing.assert_allclose(one.x, five.x[0], atol=1e-6)


def test_many_loadings_and_inputs_take_the_matrix_product(getkey):
    """Rank and input counts above the unrolled limit use dots; they match the dense path."""
    from lowrank_rnn._simulate import _UNROLL_MAX

    rng = np.random.default_rng(4)
    N, R, K = 300, _UNROLL_MAX + 2, _UNROLL_MAX + 1
    m = rng.normal(size=(N, R))
    net = Network(m=m, n=0.3 * m + rng.normal(size=(N, R)), inputs=rng.normal(size=(N, K)),
                  readouts=rng.normal(size=(N, 2)))
    u = 0.3 * rng.normal(size=(2, 40, K))
    kw = dict(T=4.0, dt=0.1, x0=rng.normal(size=(2, N)), inputs=u, record=("x", "kappa", "readout"))
    low, dense = simulate(net, method="lowrank", **kw), simulate(net, method="dense", **kw)
    for name in ("x", "kappa", "readout"):
        np.testing.assert_allclose(getattr(low, name), getattr(dense, name), atol=2e-5)
    np.testing.assert_allclose(low.kappa, np.tanh(low.x) @ net.n / N, atol=1e-5)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(T=-1.0, dt=0.1), ValueError, "T must be > 0"),
    (dict(T=1.0, dt=0.0), ValueError, "dt must be > 0"),
    (dict(T=1.0, dt=1.5), ValueError, "dt must be <= 1"),
    (dict(T=0.01, dt=0.1), ValueError, "shorter than one step"),
    (dict(T=1.0, dt=0.1, noise=-0.1), ValueError, "noise must be >= 0"),
    (dict(T=1.0, dt=0.1, noise=0.1), ValueError, "key is required"),
    (dict(T=1.0, dt=0.1, record=("x", "spikes")), ValueError, "unknown quantities"),
    (dict(T=1.0, dt=0.1, record_every=3), ValueError, "must divide"),
    (dict(T=1.0, dt=0.1, x0=np.zeros(7)), ValueError, "x0 must have shape"),
    (dict(T=1.0, dt=0.1, inputs=np.zeros((10, 3))), ValueError, "3 channels"),
    (dict(T=1.0, dt=0.1, inputs=np.zeros((7, 1))), ValueError, "7 time points"),
    (dict(T=1.0, dt=0.1, x0=np.zeros((2, 600)), inputs=np.zeros((3, 10, 1))), ValueError, "batch sizes disagree"),
    (dict(T=1.0, dt=0.1, method="rk4"), ValueError, "method must be one of"),
    (dict(T=1.0, dt=0.1, x0=np.full(600, np.nan)), ValueError, "non-finite"),
])
def test_bad_arguments(rank_two_net, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        simulate(rank_two_net, **kwargs)


def test_network_argument_errors():
    with pytest.raises(TypeError, match="network must be"):
        simulate("net", T=1.0, dt=0.1)
    with pytest.raises(ValueError, match="same shape"):
        Network(m=np.zeros((5, 1)), n=np.zeros((5, 2)))
    with pytest.raises(ValueError, match="bulk must have shape"):
        Network(m=np.zeros((5, 1)), n=np.zeros((5, 1)), bulk=np.zeros((4, 4)))
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        Network(m=np.zeros((5, 1)), n=np.zeros((5, 1)), nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="inputs has 4 rows"):
        Network(m=np.zeros((5, 1)), n=np.zeros((5, 1)), inputs=np.zeros((4, 1)))


def test_g_label_does_not_recompile_or_change_results(caplog):
    """``Network.g`` is a static label (the bulk holds g chi): two networks that differ only in it
    simulate identically, with one compilation, and the caller's network keeps its label."""
    import dataclasses
    import logging

    N = 150
    key = jax.random.key(3)
    bulk = 0.6 * jax.random.normal(key, (N, N)) / np.sqrt(N)
    m = jax.random.normal(jax.random.key(4), (N, 1))
    n = 2.0 * m + jax.random.normal(jax.random.key(5), (N, 1))
    a = Network(m=m, n=n, bulk=bulk, g=0.6)
    b = dataclasses.replace(a, g=0.7123)  # same arrays, another label: a new static field value
    x0 = np.asarray(m[:, 0])
    ta = simulate(a, T=3.0, dt=0.1, x0=x0)
    jax.config.update("jax_log_compiles", True)
    try:
        with caplog.at_level(logging.WARNING):
            tb = simulate(b, T=3.0, dt=0.1, x0=x0)
    finally:
        jax.config.update("jax_log_compiles", False)
    assert not [r for r in caplog.records if "Compiling jit(_run)" in r.getMessage()]
    np.testing.assert_array_equal(ta.kappa, tb.kappa)
    assert np.abs(ta.kappa).max() > 0.1  # a non-trivial trajectory
    assert (a.g, b.g) == (0.6, 0.7123)


def test_dense_path_with_large_j_formed_outside(getkey):
    """A dense J of 8 MB or more (N >= 1449 in float32) is formed on the host in a reusable buffer
    aligned to 2 MB and aliased by XLA; it equals Network.connectivity() to float32 rounding, the
    dense run equals the low-rank one, and divergence is still found and timed."""
    from lowrank_rnn import _simulate

    ens = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=0.5)
    net = ens.sample(1500, key=getkey())
    J = _simulate._dense_connectivity(net)
    if jax.default_backend() == "cpu" and sys.platform.startswith("linux"):
        assert J is not None and J.unsafe_buffer_pointer() % _simulate._HUGEPAGE == 0
        # m n^T then / N by NumPy, against XLA's fused version: the last bit of some entries
        ref = np.asarray(net.connectivity())
        np.testing.assert_allclose(np.asarray(J), ref, rtol=0, atol=4 * np.finfo(np.float32).eps * np.abs(ref).max())
    del J
    x0 = np.asarray(jax.random.normal(getkey(), (2, net.N)))
    kw = dict(T=5.0, dt=0.1, x0=x0, record=("x", "kappa"))
    low, dense = simulate(net, method="lowrank", **kw), simulate(net, method="dense", **kw)
    np.testing.assert_allclose(low.x, dense.x, atol=2e-5)  # float32 summed in different orders
    np.testing.assert_allclose(low.kappa, dense.kappa, atol=2e-5)
    single = simulate(net, method="dense", T=5.0, dt=0.1, x0=x0[1], record=("x",))
    np.testing.assert_allclose(single.x, dense.x[1], atol=2e-5)
    # divergence (x = 1 on J = 5 1 1^T / N grows as 1.4^k, dt = 0.1) on the staged J as well
    N = 1500
    lin = Network(m=np.ones(N), n=5.0 * np.ones(N), nonlinearity="linear")
    with pytest.raises(DivergenceError, match="non-finite at t = ") as err:
        simulate(lin, T=40.0, dt=0.1, x0=np.ones(N), method="dense", record=("kappa",))
    j = np.ceil(np.log(np.finfo(np.float32).max / 5.0) / np.log(1.4))
    assert abs(err.value.time - (j + 1) * 0.1) <= 0.1 + 1e-9


@pytest.mark.skipif(jax.default_backend() != "cpu" or not sys.platform.startswith("linux"),
                    reason="the host staging buffer is used by the CPU backend on Linux only")
def test_dense_staging_buffer_is_not_shared_while_in_use():
    """A J that is still alive keeps its buffer: a second J gets its own, and the first keeps its
    values; once both are gone, the kept buffer is reused."""
    import gc

    from lowrank_rnn import _simulate

    gc.collect()  # arrays of earlier tests that only reference cycles keep alive
    rng = np.random.default_rng(0)
    nets = [Network(m=rng.normal(size=(1500, 1)), n=rng.normal(size=(1500, 1))) for _ in range(2)]
    J1 = _simulate._dense_connectivity(nets[0])
    first = np.array(J1)
    J2 = _simulate._dense_connectivity(nets[1])
    assert J1.unsafe_buffer_pointer() != J2.unsafe_buffer_pointer()
    np.testing.assert_array_equal(np.asarray(J1), first)
    assert not np.array_equal(np.asarray(J2), first)
    p1 = J1.unsafe_buffer_pointer()
    del J1, J2
    J3 = _simulate._dense_connectivity(nets[1])
    assert J3.unsafe_buffer_pointer() == p1
