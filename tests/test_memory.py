"""lowrank_rnn.memory: Hopfield retrieval and capacity, the Krotov–Hopfield rule and its Lyapunov function."""

import jax
import numpy as np
import pytest

from lowrank_rnn import ArgumentError, ArgumentTypeError, memory


def _patterns(P, N, seed=0):
    return np.where(np.random.default_rng(seed).random((P, N)) < 0.5, -1, 1)


# ------------------------------------------------------------------ Hopfield 1982
def test_hebbian_weights_and_energy():
    xi = _patterns(3, 40)
    net = memory.Hopfield(xi)
    w = xi.T @ xi / 40.0
    np.fill_diagonal(w, 0)
    np.testing.assert_allclose(net.weights, w, atol=1e-6)
    s = _patterns(5, 40, seed=1)
    np.testing.assert_allclose(net.energy(s), -0.5 * np.einsum("ni,ij,nj->n", s, w, s), rtol=1e-5)
    assert net.load == pytest.approx(3 / 40)


@pytest.mark.parametrize("update", ["async", "sync"])
def test_retrieval_below_capacity_succeeds(update):
    # alpha = 0.05, far below 0.138: every cue with 15% of its units flipped returns to its pattern
    N, P = 200, 10
    xi = _patterns(P, N)
    net = memory.Hopfield(xi)
    cues = memory.flip(xi, 0.15, key=jax.random.key(1))
    assert np.all(np.einsum("ci,ci->c", cues, xi) / N == pytest.approx(0.7))
    out = net.retrieve(cues, key=jax.random.key(2), update=update)
    assert out.shape == (P, N)
    np.testing.assert_array_equal(out, xi)
    assert np.all(net.energy(out) < net.energy(cues))


def test_retrieval_above_capacity_fails():
    # alpha = 0.3, about twice the capacity: even cues equal to a stored pattern drift far from it
    N, P = 200, 60
    xi = _patterns(P, N)
    net = memory.Hopfield(xi)
    out = net.retrieve(xi[:30], key=jax.random.key(0))
    m = np.einsum("ci,ci->c", out, xi[:30]) / N
    assert m.mean() < 0.6 and np.mean(m > 0.9) < 0.2
    # asynchronous updates never raise the energy, and the end states are fixed points
    assert np.all(net.energy(out) <= net.energy(xi[:30]) + 1e-5)
    np.testing.assert_array_equal(net.retrieve(out, key=jax.random.key(1), steps=1), out)


def test_capacity_curve_breaks_down_between_small_and_large_load():
    c = memory.capacity_curve(300, [0.05, 0.1, 0.3], key=jax.random.key(0), trials=1, cues=16, progress=False)
    np.testing.assert_allclose(c.loads, [15 / 300, 30 / 300, 90 / 300])
    m = c.mean_overlap
    assert m[0] > 0.99 and m[1] > 0.95 and m[2] < 0.6


def test_retrieve_same_key_same_result():
    xi = _patterns(30, 100)
    net = memory.Hopfield(xi)
    cues = memory.flip(xi[:4], 0.2, key=jax.random.key(0))
    a = net.retrieve(cues, key=jax.random.key(3))
    np.testing.assert_array_equal(a, net.retrieve(cues, key=jax.random.key(3)))


# ------------------------------------------------------------------ Krotov & Hopfield 2019
def _on_sphere(shape, p, seed):
    w = np.random.default_rng(seed).normal(size=shape)
    return w / memory.p_norms(w, p=p)[:, None]


@pytest.mark.parametrize("p", [2.0, 3.0, 4.5])
def test_lyapunov_decreases_monotonically_under_the_averaged_rule(p):
    # full batch (the averaged dynamics), small step, from the unit p-sphere: E never rises
    v = np.random.default_rng(0).random((50, 20))
    res = memory.krotov_hopfield(v, hidden=6, p=p, k=2, delta=0.4, epochs=300, key=jax.random.key(0),
                                 batch_size=None, learning_rate=2e-3, initial_weights=_on_sphere((6, 20), p, 1),
                                 progress=False)
    steps = np.diff(res.energy)
    # E ~ 0.5-2 in float32 over 50 samples: rounding is ~1e-7; the smallest true decrease seen is ~1e-6
    assert steps.max() <= 2e-7, steps.max()
    assert res.energy[-1] < res.energy[0] - 0.1
    # the step leaves the sphere only to second order (learning_rate^2 per step)
    assert np.abs(res.norms - 1).max() < 2e-3
    assert res.energy[-1] == pytest.approx(memory.lyapunov(res.weights, v, p=p), abs=1e-5)


def test_lyapunov_gradient_is_the_rule_on_the_sphere():
    # dE/dt = -(p-1) sum |W|^(p-2) <g (v - I W)>^2: the first-order change along the drift
    p = 3.0
    v = np.random.default_rng(2).random((30, 8))
    w = _on_sphere((4, 8), p, 3)
    drift = memory.krotov_hopfield_drift(w, v, p=p)
    predicted = -(p - 1) * np.sum(np.abs(w) ** (p - 2) * drift ** 2)
    eps = 1e-3  # central difference in float32: truncation ~eps^2, rounding ~1e-7/eps, both below 1%
    numeric = (memory.lyapunov(w + eps * drift, v, p=p) - memory.lyapunov(w - eps * drift, v, p=p)) / (2 * eps)
    assert numeric == pytest.approx(predicted, rel=1e-2)
    assert predicted < 0


@pytest.mark.parametrize("p", [3.0, 4.5])
def test_weights_converge_to_the_unit_p_sphere(p):
    # from standard normal weights (p-norms 2.4-4), mini-batches normalised by their largest entry
    v = np.random.default_rng(0).random((50, 20))
    res = memory.krotov_hopfield(v, hidden=6, p=p, k=2, delta=0.4, epochs=400, key=jax.random.key(0),
                                 batch_size=10, learning_rate=0.02, progress=False)
    assert res.norms[0].min() > 2
    np.testing.assert_allclose(res.norms[-1], 1.0, atol=5e-3)
    np.testing.assert_allclose(memory.p_norms(res.weights, p=p), res.norms[-1], rtol=1e-5)
    assert res.learning_rates[0] == 0.02 and res.learning_rates[-1] == pytest.approx(0.02 / 400)
    assert res.energy[-1] < res.energy[0]


def test_hidden_units_classify_digits():
    x, y, xt, yt = memory.digits()
    res = memory.krotov_hopfield(x, hidden=40, epochs=30, key=jax.random.key(0), progress=False)
    readout = memory.classify(x, y, weights=res.weights, key=jax.random.key(1), epochs=30, progress=False)
    assert readout.predict(xt).shape == yt.shape
    assert readout.accuracy(xt, yt) > 0.85


# ------------------------------------------------------------------ bad input
def test_bad_input_names_the_argument():
    xi = _patterns(3, 20)
    with pytest.raises(ArgumentError, match="patterns"):
        memory.Hopfield(np.where(xi > 0, 1, 0))
    with pytest.raises(ArgumentError, match="patterns"):
        memory.Hopfield(xi.ravel())
    net = memory.Hopfield(xi)
    with pytest.raises(ArgumentError, match="cues"):
        net.retrieve(np.zeros((2, 20)), key=jax.random.key(0))
    with pytest.raises(ArgumentError, match="cues"):
        net.retrieve(xi[:, :10], key=jax.random.key(0))
    with pytest.raises(ArgumentError, match="update"):
        net.retrieve(xi, key=jax.random.key(0), update="parallel")
    with pytest.raises(ArgumentTypeError, match="key"):
        net.retrieve(xi, key=0)
    v = np.random.default_rng(0).random((10, 4))
    key = jax.random.key(0)
    with pytest.raises(ArgumentError, match="data"):
        memory.krotov_hopfield(v.reshape(10, 2, 2), hidden=4, key=key)
    with pytest.raises(ArgumentError, match="data"):
        memory.krotov_hopfield(v[0], hidden=4, key=key)
    with pytest.raises(ArgumentError, match="k must be at most"):
        memory.krotov_hopfield(v, hidden=4, k=5, key=key)
    with pytest.raises(ArgumentError, match="p must be >= 1"):
        memory.krotov_hopfield(v, hidden=4, p=0.5, key=key)
    with pytest.raises(ArgumentError, match="delta"):
        memory.krotov_hopfield(v, hidden=4, delta=-0.1, key=key)
    with pytest.raises(ArgumentError, match="initial_weights"):
        memory.krotov_hopfield(v, hidden=4, key=key, initial_weights=np.ones((4, 5)))
    with pytest.raises(ArgumentError, match="data"):
        memory.lyapunov(np.ones((4, 5)), v)
    with pytest.raises(ArgumentError, match="labels"):
        memory.classify(v, np.arange(9), key=key)
    with pytest.raises(ArgumentError, match="images"):
        memory.split(np.ones((4, 2, 2, 1)), np.arange(4))


def test_odd_types_get_the_library_errors():
    # found by fuzzing the public functions: these raised NumPy's ValueError / Python's TypeError
    xi = _patterns(3, 16)
    net = memory.Hopfield(xi)
    with pytest.raises(ArgumentError, match="update"):
        net.retrieve(xi, key=jax.random.key(0), update=np.zeros((2, 2)))
    with pytest.raises(ArgumentTypeError, match="labels"):
        memory.classify(np.ones((2, 3)), [[1.0], [2.0, 3.0]], key=jax.random.key(0))
    with pytest.raises(ArgumentTypeError, match="curves"):
        memory.plot_capacity(1.5)
    with pytest.raises(ArgumentError, match="shape"):
        memory.plot_receptive_fields(np.ones((2, 16)), shape="ab")
    with pytest.raises(ArgumentError, match="loads"):
        memory.capacity_curve(20, [1e300], key=jax.random.key(0))
