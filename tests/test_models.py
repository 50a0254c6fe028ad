"""Trainable models: the forward pass against simulate, the batch path and its adjoint against
autodiff of the step, save/load, SVD initialisation, mixtures and their statistics, noise, errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

from lowrank_rnn import Ensemble, load, save, simulate
from lowrank_rnn.models import (FullRankRNN, LowRankRNN, MixtureLowRankRNN, noise_from_published, run_trials,
                                to_ensemble)
from lowrank_rnn.dynamics._hashnoise import NoiseSource, hash_normal

ALPHA = 0.2


def _inputs(key, T, K, B=None):
    shape = (T, K) if B is None else (B, T, K)
    return 0.5 * jax.random.normal(key, shape)


def _simulated_readout(model, u):
    """Readouts of model.to_network() under simulate, on the model's time grid (noise off)."""
    net = model.to_network()
    T = u.shape[0]
    tr = simulate(net, T=ALPHA * T, dt=ALPHA, x0=np.asarray(model.h0), inputs=np.asarray(u), record="readout")
    return tr.readout[1:]  # simulate records the initial state first; the model reads after each step


@pytest.mark.parametrize("g", [0.0, 0.8])
def test_low_rank_forward_equals_simulate(getkey, g):
    model = LowRankRNN(150, 2, 3, 2, key=getkey(), alpha=ALPHA, g=g,
                       h0=0.5 * jax.random.normal(getkey(), (150,)), input_scales=jnp.array([1.0, 2.0, 0.5]))
    u = _inputs(getkey(), 40, 3)
    np.testing.assert_allclose(np.asarray(model(u)), _simulated_readout(model, u), rtol=1e-5, atol=1e-6)


def test_full_rank_and_mixture_forward_equal_simulate(getkey):
    full = FullRankRNN(80, 2, 1, key=getkey(), alpha=ALPHA, rho=1.5)
    u = _inputs(getkey(), 30, 2)
    # to_network() of a dense W is its full SVD: the same connectivity up to float32 rounding
    np.testing.assert_allclose(np.asarray(full(u)), _simulated_readout(full, u), atol=2e-5)
    mix = MixtureLowRankRNN(120, 1, 2, 1, key=getkey(), n_populations=2, alpha=ALPHA)
    np.testing.assert_allclose(np.asarray(mix(u)), _simulated_readout(mix, u), rtol=1e-5, atol=1e-6)


def test_run_trials_equals_vmapped_call(getkey):
    for model in (LowRankRNN(100, 2, 2, 1, key=getkey(), alpha=ALPHA),       # specialised path
                  LowRankRNN(100, 1, 2, 1, key=getkey(), alpha=ALPHA, g=0.5),  # generic path (bulk)
                  FullRankRNN(100, 2, 1, key=getkey(), alpha=ALPHA)):
        u = _inputs(getkey(), 25, 2, B=6)
        np.testing.assert_allclose(np.asarray(run_trials(model, u)), np.asarray(jax.vmap(model)(u)),
                                   rtol=1e-5, atol=1e-6)


def _scan_of_steps(model, u, xi):
    """Readouts of trials u (B, T, K) with given standard normals xi (B, T, N), by model.step."""
    def one(uu, xx):
        def body(x, inp):
            x = model.step(x, inp[0], inp[1])
            return x, model.readout(x)
        return jax.lax.scan(body, model.h0, (uu, xx))[1]
    return jax.vmap(one)(u, xi)


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 3, 2), (6, 0, 1), (3, 7, 2)])  # the last: R + K > 8
@pytest.mark.parametrize("rng", ["threefry", "hash"])
def test_adjoint_equals_autodiff_of_the_step(getkey, shape, rng):
    """The specialised batch path (hand-written adjoint) against jax.grad of the step scan."""
    R, K, O = shape
    N, T, B = 120, 25, 5
    model = LowRankRNN(N, R, K, O, key=getkey(), alpha=ALPHA, noise=0.3,
                       h0=0.3 * jax.random.normal(getkey(), (N,)),
                       input_scales=1.0 + jnp.arange(K, dtype=jnp.float32),
                       readout_scales=0.7 + jnp.arange(O, dtype=jnp.float32))
    u = _inputs(getkey(), T, K, B=B)
    y = jax.random.normal(getkey(), (B, T, O))
    key = getkey()
    source = NoiseSource(rng)
    items = source.per_step(key, T)
    xi = jnp.swapaxes(jnp.stack([source.draw(items[t], (B, N)) for t in range(T)]), 0, 1)

    def loss(m, reference):
        z = _scan_of_steps(m, u, xi) if reference else run_trials(m, u, key=key, noise_rng=rng)
        return jnp.mean((z - y) ** 2)

    l_fast, g_fast = eqx.filter_value_and_grad(loss)(model, False)
    l_ref, g_ref = eqx.filter_value_and_grad(loss)(model, True)
    np.testing.assert_allclose(float(l_fast), float(l_ref), rtol=1e-5)
    for name in ("m", "n", "input_vectors", "input_scales", "readout_vectors", "readout_scales", "h0"):
        a, b = np.asarray(getattr(g_fast, name)), np.asarray(getattr(g_ref, name))
        if b.size:
            # float32 sums in different orders: agreement to ~1e-6 of the largest entry
            np.testing.assert_allclose(a, b, atol=2e-5 * np.abs(b).max(), err_msg=name)


def test_save_load_round_trip(tmp_path, getkey):
    u = _inputs(getkey(), 20, 2)
    models = [LowRankRNN(60, 2, 2, 1, key=getkey(), alpha=0.1, noise=0.2, g=0.7),
              FullRankRNN(60, 2, 1, key=getkey(), rho=0.9, noise=0.1),
              MixtureLowRankRNN(60, 1, 2, 1, key=getkey(), n_populations=3, weights=[0.5, 0.3, 0.2])]
    for model in models:
        path = save(model, tmp_path / f"{type(model).__name__}.npz")
        got = load(path)  # no constructor arguments
        assert type(got) is type(model)
        assert (got.alpha, got.noise, got.nonlinearity) == (model.alpha, model.noise, model.nonlinearity)
        for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(model)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        np.testing.assert_array_equal(np.asarray(got(u)), np.asarray(model(u)))


def test_from_full_rank_is_the_top_svd(getkey):
    full = FullRankRNN(50, 1, 1, key=getkey(), rho=1.2)
    low = LowRankRNN.from_full_rank(full, 3)
    U, S, Vt = np.linalg.svd(np.asarray(full.W, np.float64))
    truncated = (U[:, :3] * S[:3]) @ Vt[:3]
    np.testing.assert_allclose(np.asarray(low.m, np.float64) @ np.asarray(low.n, np.float64).T / 50, truncated,
                               atol=1e-5)
    # all N singular values: the same network
    u = _inputs(getkey(), 20, 1)
    np.testing.assert_allclose(np.asarray(LowRankRNN.from_full_rank(full, 50)(u)), np.asarray(full(u)), atol=2e-5)
    with pytest.raises(ValueError, match="rank must be <= N"):
        LowRankRNN.from_full_rank(full, 51)


def test_mixture_samples_and_resamples_its_ensemble(getkey):
    a = Ensemble(names=("m1", "n1", "I1", "w1"), mean=[0.5, 0.0, 1.0, 0.0],
                 cov=[[1.0, 0.6, 0.0, 0.2], [0.6, 2.0, 0.3, 0.0], [0.0, 0.3, 1.0, 0.0], [0.2, 0.0, 0.0, 4.0]])
    b = Ensemble(names=a.names, mean=[-1.0, 1.0, 0.0, 0.5], cov=a.cov[0])
    ens = Ensemble.mixture([a, b], weights=[0.3, 0.7])
    N = 20000
    model = MixtureLowRankRNN.from_ensemble(ens, N, key=getkey())
    exact = model.to_ensemble()
    np.testing.assert_allclose(exact.mean, ens.mean, atol=1e-6)
    np.testing.assert_allclose(exact.cov, ens.cov, atol=1e-5)
    np.testing.assert_allclose(exact.weights, ens.weights)
    for net in (model.to_network(), model.resample(key=getkey()).to_network()):
        X = np.concatenate([np.asarray(v, np.float64) for v in (net.m, net.n, net.inputs, net.readouts)], axis=1)
        pop = np.asarray(net.population)
        for c in range(2):
            Xc = X[pop == c]
            se = np.sqrt(np.diag(ens.cov[c]) / len(Xc))
            # sample means within 4 standard errors of the described means
            assert np.all(np.abs(Xc.mean(0) - ens.mean[c]) < 4 * se + 1e-9)
            C = ens.cov[c]
            # standard error of a sample covariance: sqrt((C_ii C_jj + C_ij^2) / n)
            se_cov = np.sqrt((np.outer(np.diag(C), np.diag(C)) + C**2) / len(Xc))
            assert np.all(np.abs(np.cov(Xc, rowvar=False) - C) < 4 * se_cov)
        assert abs((pop == 0).mean() - 0.3) < 1e-3
    # resampling draws a new network
    assert not np.allclose(np.asarray(model.resample(key=getkey()).to_network().m), np.asarray(model.to_network().m))


def test_to_ensemble_is_the_empirical_description(getkey):
    model = LowRankRNN(400, 2, 1, 1, key=getkey(), g=0.3)
    X = np.concatenate([np.asarray(v, np.float64) for v in
                        (model.m, model.n, model.inputs, model.readouts)], axis=1)
    ens = to_ensemble(model)
    assert ens.names == ("m1", "m2", "n1", "n2", "I1", "w1") and float(ens.g) == 0.3
    np.testing.assert_allclose(ens.mean[0], X.mean(0), atol=1e-9)
    np.testing.assert_allclose(ens.cov[0], np.cov(X, rowvar=False, bias=True), atol=1e-9)
    labels = (np.arange(400) % 4 == 0).astype(int)
    split = to_ensemble(model, labels=labels)
    np.testing.assert_allclose(split.weights, [0.75, 0.25])
    np.testing.assert_allclose(split.mean[1], X[labels == 1].mean(0), atol=1e-9)
    with pytest.raises(ValueError, match="rank is required"):
        to_ensemble(FullRankRNN(20, 1, 1, key=getkey()))


def test_trainable_filters():
    model = LowRankRNN(30, 1, 2, 1, key=jax.random.key(0), g=0.5)
    f = model.trainable()
    assert (f.m, f.n, f.input_scales, f.readout_scales) == (True, True, True, True)
    assert (f.input_vectors, f.readout_vectors, f.h0, f.bulk) == (False, False, False, False)
    assert model.trainable(inputs=True).input_vectors is True
    params, _ = eqx.partition(model, model.trainable(connectivity=False, input_scales=False,
                                                     readout_scales=False, h0=True))
    assert [leaf.shape for leaf in jax.tree_util.tree_leaves(params)] == [(30,)]
    mix = MixtureLowRankRNN(30, 1, 1, 1, key=jax.random.key(0))
    fm = mix.trainable(readouts=False)
    assert fm.m_map and fm.n_mean and not fm.readout_map and not fm.basis


def test_noise_convention(getkey):
    """One step from rest with no connectivity adds sigma sqrt(alpha) xi: the published noise_std."""
    assert noise_from_published(0.05, 0.2) == pytest.approx(0.05 / np.sqrt(0.2))
    sigma = noise_from_published(0.05, 0.2)
    model = LowRankRNN(4000, 1, 1, 1, key=getkey(), alpha=0.2, noise=sigma, m=np.zeros((4000, 1)))
    z, states = model(jnp.zeros((1, 1)), key=getkey(), return_states=True)
    x1 = np.asarray(states[1])
    assert abs(x1.std() - 0.05) < 4 * 0.05 / np.sqrt(2 * 4000)


def test_hash_normal_statistics():
    z = np.asarray(hash_normal(jax.random.key(7), (400, 1000)), np.float64)
    assert abs(z.mean()) < 4 / np.sqrt(z.size)
    assert abs(z.var() - 1) < 4 * np.sqrt(2 / z.size)
    assert st.kstest(z[:20].ravel(), "norm").pvalue > 1e-3
    assert abs(st.kurtosis(z.ravel())) < 4 * np.sqrt(24 / z.size)
    # neighbouring elements and successive steps are uncorrelated
    assert abs(np.corrcoef(z[:, :-1].ravel(), z[:, 1:].ravel())[0, 1]) < 4 / np.sqrt(z.size)
    src = NoiseSource("hash")
    items = src.per_step(jax.random.key(3), 2)
    a, b = (np.asarray(src.draw(items[t], (100, 500))).ravel() for t in range(2))
    assert abs(np.corrcoef(a, b)[0, 1]) < 4 / np.sqrt(a.size)
    # same key, same draws
    np.testing.assert_array_equal(np.asarray(hash_normal(jax.random.key(7), (400, 1000))), z.astype(np.float32))



def test_hash_normal_transform_is_exact_to_1e6():
    """The inverse-CDF transform at every one of its 2^23 grid points, and the logarithm it uses,
    against SciPy / NumPy in float64."""
    from scipy.special import erfinv as erfinv64

    from lowrank_rnn.dynamics._hashnoise import _SQRT2, erfinv, log_normal_float

    v = (np.arange(2**23, dtype=np.float64) + 0.5) * 2.0**-22 - 1.0  # every value the generator can use
    z = np.asarray(jax.jit(lambda v: _SQRT2 * erfinv(v))(jnp.asarray(v, jnp.float32)), np.float64)
    exact = np.sqrt(2.0) * erfinv64(v.astype(np.float32).astype(np.float64))
    assert np.max(np.abs(z - exact)) < 1e-6
    assert np.all(np.diff(z) >= 0)  # monotone: the quantiles keep their order
    q = np.geomspace(2.0**-126, 2.0**127, 400001).astype(np.float32)
    ln = np.asarray(jax.jit(log_normal_float)(jnp.asarray(q)), np.float64)
    exact = np.log(q.astype(np.float64))
    assert np.all(np.abs(ln - exact) < 6e-7 + 1.2e-7 * np.abs(exact))  # the fit, plus rounding to float32


def test_hash_normal_moments_tails_and_independence():
    """3.3 million draws of the training noise (32 steps of a 200 x 512 batch): moments, tail
    probabilities and correlations within 5 standard errors of a standard normal's."""
    from lowrank_rnn.dynamics._hashnoise import normal_from_words, step_words

    words = step_words(jax.random.key(11), 32)
    z = np.asarray(jax.jit(jax.vmap(lambda w: normal_from_words(w[0], w[1], (200, 512))))(words), np.float64)
    n = z.size
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / n)
    assert abs(st.skew(z.ravel())) < 5 * np.sqrt(6 / n)
    assert abs(st.kurtosis(z.ravel())) < 5 * np.sqrt(24 / n)
    for c in (1.0, 2.0, 3.0, 4.0):  # two-sided tail probabilities, binomial standard errors
        p = 2 * st.norm.sf(c)
        assert abs(np.mean(np.abs(z) > c) - p) < 5 * np.sqrt(p * (1 - p) / n), c
    assert np.abs(z).max() < 5.5  # the 23-bit grid's largest quantile is 5.3
    assert st.kstest(z[0].ravel(), "norm").pvalue > 1e-4

    def corr(a, b):
        return abs(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    tol = 5 / np.sqrt(n)
    assert corr(z[..., :-1], z[..., 1:]) < tol * 1.01        # neighbouring counters (neurons)
    assert corr(z[..., :-1] ** 2, z[..., 1:] ** 2) < tol * 1.01
    assert corr(z[:, :-1], z[:, 1:]) < tol * 1.01            # neighbouring trials of a batch
    assert corr(z[:-1], z[1:]) < tol * 1.05                  # successive steps
    assert corr(z[:-1] ** 2, z[1:] ** 2) < tol * 1.05
    # neighbouring keys (key data differing in the last bit) give unrelated draws
    a, b = (np.asarray(hash_normal(jax.random.key(s), (1000, 1000)), np.float64) for s in (0, 1))
    assert corr(a, b) < 5 / 1000 and corr(a**2, b**2) < 5 / 1000


def test_bad_arguments():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="rank must be an integer >= 1"):
        LowRankRNN(10, 0, 1, 1, key=key)
    with pytest.raises(ValueError, match="rank must be <= N"):
        LowRankRNN(3, 4, 1, 1, key=key)
    with pytest.raises(ValueError, match="noise must be >= 0"):
        LowRankRNN(10, 1, 1, 1, key=key, noise=-0.1)
    with pytest.raises(ValueError, match="alpha must be <= 1"):
        LowRankRNN(10, 1, 1, 1, key=key, alpha=1.5)
    with pytest.raises(TypeError, match="key must be a jax.random key"):
        LowRankRNN(10, 1, 1, 1)
    with pytest.raises(ValueError, match=r"m must have shape \(10, 1\)"):
        LowRankRNN(10, 1, 1, 1, key=key, m=np.ones((9, 1)))
    with pytest.raises(ValueError, match="nonlinearity"):
        FullRankRNN(10, 1, 1, key=key, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="weights"):
        MixtureLowRankRNN(10, 1, 1, 1, key=key, n_populations=2, weights=[0.5, 0.6])
    with pytest.raises(ValueError, match="no random bulk"):
        MixtureLowRankRNN.from_ensemble(Ensemble.rank_one(mean_m=0, mean_n=0, std_m=1, std_n=1, g=0.5), 10, key=key)
