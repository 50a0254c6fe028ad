"""models.Reservoir (named input channels, open/closed loop), analysis.participation_ratio and ccgp,
and the Israely et al. 2025 episode protocol against a plain NumPy loop of the same equations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowrank_rnn import ArgumentError, simulate
from lowrank_rnn.analysis import ccgp, participation_ratio
from lowrank_rnn.experiments import _israely2025_model as model
from lowrank_rnn.models import Loop, Reservoir, fit_readout


def small_reservoir(N=60, g=0.8, seed=0):
    rng = np.random.default_rng(seed)
    return Reservoir(g / np.sqrt(N) * rng.normal(size=(N, N)),
                     {"cortical": rng.normal(size=(N, 8)), "cerebellar": rng.normal(size=(N, 2)) / np.sqrt(2)},
                     g=g)


def test_closed_loop_is_the_rank_two_network():
    res = small_reservoir()
    w = np.random.default_rng(1).normal(size=(60, 2)) / 60
    net = res.closed_loop(w, channel="cerebellar", gain=0.3)
    assert net.rank == 2 and net.n_inputs == 8
    np.testing.assert_allclose(net.connectivity(), res.bulk + 0.3 * res.channels["cerebellar"] @ w.T, atol=1e-6)
    # the same dynamics through simulate: the readout loop is the rank-two part
    u = 0.25 * np.eye(8)[np.repeat(np.arange(8), 10)]                      # (80 steps, 8)
    x0 = 0.5 * np.random.default_rng(2).normal(size=60)
    x, rates = res.run({"cortical": u}, n_steps=80, dt=0.1, x0=x0, loop=Loop(w, channel="cerebellar", gain=0.3),
                       record=True)
    traj = simulate(net, T=8.0, dt=0.1, x0=x0, inputs=u, record=("x", "readout"))
    np.testing.assert_allclose(rates, np.tanh(traj.x[1:]), atol=2e-5)
    np.testing.assert_allclose(traj.readout[1:], rates @ w, atol=2e-5)


def test_open_loop_matches_simulate_of_the_network():
    res = small_reservoir()
    u = {"cortical": 0.25 * np.eye(8)[3], "cerebellar": np.array([0.1, -0.2])}
    x, _ = res.run(u, n_steps=50, dt=0.1, x0=np.zeros(60))
    traj = simulate(res.network(), T=5.0, dt=0.1, x0=np.zeros(60),
                    inputs=np.tile(np.concatenate([u["cortical"], u["cerebellar"]]), (50, 1)), record=("x",))
    np.testing.assert_allclose(x, traj.x[-1], atol=2e-5)


def test_bad_channels():
    res = small_reservoir()
    w = np.zeros((60, 2))
    with pytest.raises(ArgumentError, match="unknown channel 'motor'"):
        res.run({"motor": np.zeros(2)}, n_steps=2, dt=0.1, x0=np.zeros(60))
    with pytest.raises(ArgumentError, match="carries the loop's feedback"):
        res.run({"cerebellar": np.zeros(2)}, n_steps=2, dt=0.1, x0=np.zeros(60),
                loop=Loop(w, channel="cerebellar", gain=1.0))
    with pytest.raises(ArgumentError, match="readout must have shape"):
        res.closed_loop(np.zeros((60, 3)), channel="cerebellar", gain=1.0)


def test_participation_ratio_is_the_covariance_definition():
    X = np.random.default_rng(0).normal(size=(300, 8)) @ np.diag([3, 2, 1, 1, 0.5, 0.5, 0.2, 0.1])
    Z = (X - X.mean(1, keepdims=True)) / X.std(1, keepdims=True)
    lam = np.linalg.eigvalsh(Z @ Z.T)                   # the N x N covariance, as published
    np.testing.assert_allclose(participation_ratio(X), lam.sum() ** 2 / (lam ** 2).sum(), rtol=1e-5)
    C = X - X.mean(1, keepdims=True)
    lam = np.linalg.eigvalsh(C @ C.T)
    np.testing.assert_allclose(participation_ratio(X, zscore=False), lam.sum() ** 2 / (lam ** 2).sum(), rtol=1e-5)
    # rank-two condition means: PR at most 2; batched
    low = np.random.default_rng(1).normal(size=(2, 300, 2)) @ np.random.default_rng(2).normal(size=(2, 8))
    pr = np.asarray(participation_ratio(low))
    assert pr.shape == (2,) and np.all(pr <= 2 + 1e-4) and np.all(pr >= 1)


def test_ccgp_matches_sklearn_and_the_precomputed_kernel():
    from sklearn.svm import SVC

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(8), 10)
    angle = 2 * np.pi * labels / 8
    X = np.stack([np.cos(angle), np.sin(angle)], 1) @ rng.normal(size=(2, 30)) + 0.8 * rng.normal(size=(80, 30))
    dich = model.DICHOTOMIES
    by_hand = []
    for (ta, tb), (sa, sb) in dich:
        tr, te = np.isin(labels, ta + tb), np.isin(labels, sa + sb)
        svm = SVC(kernel="linear", C=1.0).fit(X[tr], np.isin(labels[tr], tb))
        by_hand.append(np.mean(svm.predict(X[te]) == np.isin(labels[te], sb)))
    assert ccgp(X, labels, dich) == pytest.approx(np.mean(by_hand))
    assert ccgp(X @ X.T, labels, dich, precomputed=True) == pytest.approx(np.mean(by_hand), abs=1 / 80)
    assert ccgp(X, labels, dich) > 0.75                  # the circle's geometry generalizes
    with pytest.raises(ArgumentError, match="no sample has a label"):
        ccgp(X, labels, [(((0,), (9,)), ((2,), (3,)))])


def _numpy_protocol(J, V, U, order_fit, order_test, x0_fit, x0_test, beta, w):
    """The published protocol as a plain float64 loop (state recorded before each update)."""
    phi = np.tanh
    T = model.TARGETS
    N = J.shape[0]

    def run(order, x, w):
        rec = []
        z = None if w is None else w.T @ phi(x)
        for k in order:
            for _ in range(model.HOLD):
                rec.append(phi(x))
                low = beta * (U @ T[k]) if w is None else beta * (U @ z)
                x = x + model.DT * (-x + J @ phi(x) + model.ALPHA * V[:, k] + low)
                if w is not None:
                    z = w.T @ phi(x)
        return np.array(rec)

    R = run(order_fit, x0_fit, None).reshape(len(order_fit), model.HOLD, N)[:, -model.FIT_WINDOW:]
    Y = np.repeat(T[order_fit], model.FIT_WINDOW, axis=0)
    M = R.reshape(-1, N)
    C = run(order_test, x0_test, w).reshape(len(order_test), model.HOLD, N)[:, model.SAMPLE_STEP]
    return M.T @ M, M.T @ Y, C


def test_episode_protocol_matches_a_numpy_loop():
    N, reps, beta = 40, 1, 0.3
    res = small_reservoir(N=N, g=0.7)
    key = jax.random.key(5)
    order_fit = np.asarray(model.target_order(jax.random.fold_in(key, 0), reps))
    order_test = np.asarray(model.target_order(jax.random.fold_in(key, 1), reps))
    rng = np.random.default_rng(3)
    x0f, x0t = 0.5 * rng.normal(size=N), 0.5 * rng.normal(size=N)
    w = np.random.default_rng(4).normal(size=(N, 2)) / N  # a loop readout (the fitted one is ill-posed
    # here: at g = 0.7 the rates settle to one point per target, so their moments have rank ~8 < N)
    gram, cross = model.open_loop_moments(res, beta, jnp.asarray(order_fit), jnp.asarray(x0f, jnp.float32))
    rates, z = model.closed_loop_samples(res, jnp.asarray(w, jnp.float32), beta, jnp.asarray(order_test),
                                         jnp.asarray(x0t, jnp.float32))
    J, V, U = (np.asarray(a, np.float64) for a in (res.bulk, res.channels["cortical"], res.channels["cerebellar"]))
    gram_np, cross_np, C_np = _numpy_protocol(J, V, U, order_fit, order_test, x0f, x0t, beta, w)
    # float32 sums of 3600 products of rates below 1: relative error ~1e-5
    np.testing.assert_allclose(gram, gram_np, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(cross, cross_np, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(rates, C_np, atol=1e-4)
    np.testing.assert_allclose(z, C_np @ w, atol=1e-5)


def test_sample_statistics():
    res = Reservoir.sample(400, g=1.75, channels={"cortical": 8, "cerebellar": 2},
                           scales={"cerebellar": 1 / np.sqrt(2)}, key=jax.random.key(0))
    # 160 000 entries: the standard deviation is estimated to ~0.2 %
    assert float(np.std(res.bulk)) * np.sqrt(400) == pytest.approx(1.75, rel=0.01)
    assert float(np.std(res.channels["cerebellar"])) == pytest.approx(1 / np.sqrt(2), rel=0.05)
    assert res.channels["cortical"].shape == (400, 8) and res.g == 1.75
    with pytest.raises(ArgumentError, match="scales: 'motor'"):
        Reservoir.sample(10, g=1.0, channels={"a": 1}, scales={"motor": 1.0}, key=jax.random.key(0))
