"""lowrank_rnn.sampling: denoising score matching, reservoir-sampler identities, sampling, metrics.

Chen, Jiang, Rao & Shea-Brown 2023 (arXiv 2308.11809). Tolerances are stated at each assertion
with the sample sizes they come from.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lowrank_rnn import ArgumentError, ArgumentTypeError
from lowrank_rnn import sampling as S
from lowrank_rnn.sampling import _dsm

MU = np.array([1.0, -0.5])
COV = np.array([[1.0, 0.6], [0.6, 0.8]])


def test_dsm_on_a_gaussian_gives_a_sampler_with_its_mean_and_covariance():
    """A Gaussian target has the linear score -C^{-1}(x - mu), which the linear surrogate
    -x + W1 (W2 x + b) expresses exactly; the trained sampler's stationary moments must match."""
    n = 4000
    data = np.random.default_rng(0).multivariate_normal(MU, COV, size=n)
    model = S.ScoreModel(2, 4, activation="linear", key=jax.random.key(0))
    sigmas = S.geometric_sigmas(1.0, 0.1, 3)
    epochs, batch = 60, 200
    opt = optax.adam(optax.cosine_decay_schedule(1e-2, len(sigmas) * epochs * (n // batch), 0.01))
    model, hist = S.train_dsm(model, data, sigmas=sigmas, epochs=epochs, batch_size=batch, key=jax.random.key(1),
                              optimizer=opt, progress=False)
    assert hist["sigma"][0] == pytest.approx(1.0) and hist["sigma"][-1] == pytest.approx(0.1)
    x = S.sample(model, 4000, T=8.0, dt=0.01, key=jax.random.key(2), x0=np.zeros(2))
    # DSM at the last level learns the score of the data smoothed by N(0, sigma_min^2): covariance
    # C + 0.01 I. Standard errors: the 4000 data points fix mean and covariance to ~0.015-0.02
    # (sqrt(C_ii / n), sqrt((C_ii C_jj + C_ij^2) / n)); the 4000 chains (T = 8, several relaxation
    # times of the slowest mode, 1 / 0.28 ~ 3.6) add as much again; the optimiser's noise at the
    # small level, and the Euler-Maruyama bias dt lambda / 2 ~ 2% of the covariance, less. About
    # 4 combined standard errors:
    np.testing.assert_allclose(x.mean(0), MU, atol=0.08)
    np.testing.assert_allclose(np.cov(x.T), COV + 0.01 * np.eye(2), atol=0.1)
    # the untrained start is far off (mean 0): the check above has teeth
    assert np.abs(MU).max() > 0.5


def test_reservoir_sampler_identities():
    model = S.ScoreModel(3, 40, key=jax.random.key(0))
    net = S.ReservoirSampler.from_score(model)
    np.testing.assert_allclose(net.W_out @ net.Sigma, np.eye(3), atol=1e-5)
    np.testing.assert_array_equal(net.W_out, model.W1)
    np.testing.assert_allclose(net.W_rec, model.W2 @ model.W1, rtol=1e-6)
    assert np.linalg.matrix_rank(np.asarray(net.W_rec, np.float64), tol=1e-4) == 3  # rank dim
    # output drift W_out(-r + phi(W_rec r + b)) equals the score at W_out r, at arbitrary reservoir states
    r = jax.random.normal(jax.random.key(5), (50, 40))
    np.testing.assert_allclose(net.output_drift(r), jax.vmap(model)(r @ model.W1.T), rtol=1e-4, atol=1e-4)
    # so the reservoir's outputs follow the same Euler-Maruyama recursion as the score itself, draw for draw
    key = jax.random.key(7)
    a = S.sample(net, 64, T=0.5, dt=0.005, key=key, record_every=20)
    b = S.sample(model, 64, T=0.5, dt=0.005, key=key, record_every=20)
    assert a.shape == (64, 6, 3)
    np.testing.assert_allclose(a, b, atol=1e-4 * (1 + np.abs(b).max()))


def test_reservoir_sampler_needs_full_rank_readout():
    with pytest.raises(ArgumentError, match="model"):
        S.ReservoirSampler.from_score(S.ScoreModel(4, 3, key=jax.random.key(0)))
    with pytest.raises(ArgumentTypeError, match="model"):
        S.ReservoirSampler.from_score(S.SamplerOnly(2, key=jax.random.key(0)))


def test_sampler_only_drifts():
    x = jnp.array([0.3, -1.2])
    rate = S.SamplerOnly(2, dynamics="rate", key=jax.random.key(0))
    cur = S.SamplerOnly(2, dynamics="current", key=jax.random.key(0))
    np.testing.assert_allclose(rate(x), rate.gamma * (jnp.tanh(rate.W @ x + rate.b) - x), rtol=1e-6)
    np.testing.assert_allclose(cur(x), cur.W @ jnp.tanh(x) + cur.b - cur.gamma * x, rtol=1e-6)
    # trainable like the score model; sampled in its own coordinates
    data = np.random.default_rng(0).normal(size=(200, 2))
    trained, hist = S.train_dsm(cur, data, sigmas=[0.3], epochs=2, key=jax.random.key(1), progress=False)
    assert len(hist["loss"]) == 2 and not np.allclose(trained.W, cur.W)
    assert S.sample(trained, 10, T=0.1, dt=0.01, key=jax.random.key(2)).shape == (10, 2)


def test_resume_after_interruption_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    data = np.random.default_rng(0).normal(size=(300, 1))
    kw = dict(sigmas=[1.0, 0.3], epochs=4, key=jax.random.key(3), batch_size=64, checkpoint_every=2, progress=False)
    whole, h_whole = S.train_dsm(S.ScoreModel(1, 8, key=jax.random.key(0)), data, out=tmp_path / "a", **kw)
    real = _dsm._write_checkpoint
    calls = []

    def interrupted(*args, **kwargs):
        real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:  # after epoch 4 (the end of the first level)
            raise KeyboardInterrupt

    monkeypatch.setattr(_dsm, "_write_checkpoint", interrupted)
    with pytest.raises(KeyboardInterrupt):
        S.train_dsm(S.ScoreModel(1, 8, key=jax.random.key(0)), data, out=tmp_path / "b", **kw)
    monkeypatch.setattr(_dsm, "_write_checkpoint", real)
    resumed, h_resumed = S.train_dsm(S.ScoreModel(1, 8, key=jax.random.key(0)), data, out=tmp_path / "b", **kw)
    assert h_resumed == h_whole
    np.testing.assert_array_equal(resumed.W1, whole.W1)
    np.testing.assert_array_equal(resumed.b, whole.b)


def test_metrics():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20000, 2))
    lap = rng.laplace(size=(20000, 1))
    np.testing.assert_allclose(S.wasserstein_per_coordinate(a, a + [0.5, -2.0]), [0.5, 2.0], rtol=1e-9)
    # excess kurtosis: 0 (Gaussian) and 3 (Laplace); standard errors sqrt(24 / n) ~ 0.035 and ~0.2
    # for the Laplace's heavier fourth moment at n = 20000
    np.testing.assert_allclose(S.excess_kurtosis(a), 0.0, atol=0.15)
    np.testing.assert_allclose(S.excess_kurtosis(lap), 3.0, atol=0.6)
    b = rng.normal(size=(500, 2))
    assert abs(S.mmd(a[:500], b)) < 0.01 < S.mmd(a[:500], b * 2.0)


def test_bad_input_names_the_argument():
    model = S.ScoreModel(2, 8, key=jax.random.key(0))
    key = jax.random.key(1)
    with pytest.raises(ArgumentError, match="data"):
        S.train_dsm(model, np.zeros((10, 3)), sigmas=[0.1], epochs=1, key=key)
    for bad in ([0.1, 0.0], [-1.0], []):
        with pytest.raises(ArgumentError, match="sigmas"):
            S.train_dsm(model, np.zeros((10, 2)), sigmas=bad, epochs=1, key=key)
    for dt in (0.0, -0.01):
        with pytest.raises(ArgumentError, match="dt"):
            S.sample(model, 4, T=1.0, dt=dt, key=key)
    with pytest.raises(ArgumentError, match="T"):
        S.sample(model, 4, T=0.0, dt=0.01, key=key)
    with pytest.raises(ArgumentError, match="x0"):
        S.sample(model, 4, T=1.0, dt=0.1, key=key, x0=np.zeros((4, 3)))
    with pytest.raises(ArgumentError, match="record_every"):
        S.sample(model, 4, T=1.0, dt=0.1, key=key, record_every=3)
    with pytest.raises(ArgumentError, match="sigma_min"):
        S.geometric_sigmas(1.0, 0.0, 3)
    with pytest.raises(ArgumentError, match="dynamics"):
        S.SamplerOnly(2, dynamics="spiking", key=key)
    with pytest.raises(ArgumentError, match="activation"):
        S.ScoreModel(2, 4, activation="sigmoid", key=key)
    with pytest.raises(ArgumentError, match="x and y"):
        S.mmd(np.zeros((5, 2)), np.zeros((5, 3)))
