"""simulate's white-noise generator (lowrank_rnn.dynamics.quantile_normal_from_words): the documented
formula, its distribution against N(0, 1) on about 10^6 draws, independence between steps, units and
trials, and determinism for a key (repeated calls, jit, vmap, simulate)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from scipy.special import ndtr

from lowrank_rnn import Network, simulate
from lowrank_rnn.dynamics import key_words, lowbias32_host, quantile_normal_from_words, simulation_words
from lowrank_rnn.dynamics._hashnoise import _quantile_table

N, B, T = 4096, 32, 8  # the layout of simulate's draws: (units, trials), trial_axis=1; 2^20 draws


@pytest.fixture(scope="module")
def draws():
    """(T, N, B) float64: T steps of simulate's draws for one key, in simulate's (N, B) layout."""
    words = key_words(jax.random.key(2026))
    steps = [quantile_normal_from_words(*simulation_words(words, t), (N, B), trial_axis=1) for t in range(T)]
    return np.asarray(jnp.stack(steps), np.float64)


def test_draws_are_one_keyed_lowbias32_round_and_the_quantile_table():
    """u_j = H((j ^ w0) * (w1 | 1)) at index j = b N + i, then the table at the top 16 bits of u_j:
    computed on the host with NumPy, the same numbers as the compiled generator."""
    w0, w1 = np.uint32(0xDEADBEEF), np.uint32(0x12345678)  # w1 even: the | 1 matters
    shape = (3, 1000)
    j = np.arange(np.prod(shape), dtype=np.uint32)
    with np.errstate(over="ignore"):
        u = lowbias32_host((j ^ w0) * (w1 | np.uint32(1)))
    want = _quantile_table(16)[u >> 16].reshape(shape)
    got = np.asarray(quantile_normal_from_words(jnp.uint32(w0), jnp.uint32(w1), shape))
    np.testing.assert_array_equal(got, want)
    # the (N, B) layout with the trials on axis 1 holds the same numbers, transposed
    got_t = np.asarray(quantile_normal_from_words(jnp.uint32(w0), jnp.uint32(w1), shape[::-1], trial_axis=1))
    np.testing.assert_array_equal(got_t, want.T)


def test_distribution_is_standard_normal_to_the_documented_accuracy(draws):
    """Moments to 4th order, Kolmogorov distance and tail frequencies on 2^20 draws, against N(0, 1)
    and against the table's exact distribution (mean 0, variance 1, kurtosis 2.9992, Kolmogorov
    distance 1.0e-5 to N(0, 1), |z| <= 4.33), each within sampling error."""
    z = draws.ravel()
    n = z.size
    table = _quantile_table(16).astype(np.float64)
    assert abs(z.mean()) < 4 / np.sqrt(n)
    assert abs(z.var() - 1) < 4 * np.sqrt(2 / n)
    assert abs(stats.skew(z)) < 4 * np.sqrt(6 / n)
    kurt = np.mean(z**4) / z.var() ** 2
    assert abs(np.mean(table**4) - 3) < 1e-3                 # the table's kurtosis: 2.9992
    assert abs(kurt - 3) < 1e-3 + 4 * np.sqrt(24 / n)
    # Kolmogorov-Smirnov against the normal CDF: the table's own distance plus the 1 % critical value
    ks = stats.kstest(z, "norm").statistic
    srt = np.sort(table)
    own = np.max(np.abs(ndtr(srt) - np.arange(1, srt.size + 1) / srt.size)) + 1 / srt.size
    assert own < 2.6e-5
    assert ks < own + 1.63 / np.sqrt(n), ks
    # tails: beyond 3 and 4 sigma as often as for N(0, 1), within 4 Poisson standard deviations
    for c in (3.0, 4.0):
        count, want = np.sum(np.abs(z) > c), n * 2 * ndtr(-c)
        assert abs(count - want) < 4 * np.sqrt(want) + n * abs(np.mean(np.abs(table) > c) - 2 * ndtr(-c)), (c, count, want)
    # beyond 5 sigma: none (|z| <= 4.33); a normal gives 0.6 on average in 2^20 draws, so zero lies
    # within sampling error (Poisson probability 0.55), and the cut is documented
    assert np.max(np.abs(z)) <= table.max() < 4.33 and np.sum(np.abs(z) > 5) == 0


def _corr(a, b):
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def test_draws_are_independent_between_steps_units_and_trials(draws):
    """No correlation between consecutive steps, neighbouring units, neighbouring trials, units far
    apart in the index (strides 2^k) or of z^2 (a dependence a correlation of z would miss); pairs
    of neighbours fill a 32 x 32 grid of their quantile bins uniformly (chi-square)."""
    lim = 5 / np.sqrt(draws[1:].size)
    assert abs(_corr(draws[1:], draws[:-1])) < lim                  # steps
    assert abs(_corr(draws[:, 1:], draws[:, :-1])) < lim            # units
    assert abs(_corr(draws[:, :, 1:], draws[:, :, :-1])) < lim      # trials
    assert abs(_corr(draws[1:] ** 2, draws[:-1] ** 2)) < 3 * lim    # var(z^2) = 2: a wider bound
    flat = draws.transpose(0, 2, 1).reshape(T, -1)                  # index order j = b N + i
    for stride in (1, 16, 256, 4096, 65536):
        assert abs(_corr(flat[:, stride:], flat[:, :-stride])) < 5 / np.sqrt(flat[:, stride:].size), stride
    bins = np.clip(np.floor(ndtr(draws) * 32).astype(int), 0, 31)
    for a, b in ((bins[1:], bins[:-1]), (bins[:, 1:], bins[:, :-1]), (bins[:, :, 1:], bins[:, :, :-1])):
        counts = np.bincount((32 * a + b).ravel(), minlength=1024)
        expected = a.size / 1024
        p = stats.chi2.sf(np.sum((counts - expected) ** 2 / expected), 1023)
        assert p > 1e-4, p


def test_same_key_same_numbers_in_every_call_jit_and_vmap():
    words = key_words(jax.random.key(5))
    shape = (64, 8)
    eager = [np.asarray(quantile_normal_from_words(*simulation_words(words, t), shape, 1)) for t in range(4)]
    again = [np.asarray(quantile_normal_from_words(*simulation_words(words, t), shape, 1)) for t in range(4)]
    jitted = jax.jit(lambda w, t: quantile_normal_from_words(*simulation_words(w, t), shape, 1))
    mapped = jax.vmap(lambda t: quantile_normal_from_words(*simulation_words(words, t), shape, 1))(jnp.arange(4))
    for t in range(4):
        np.testing.assert_array_equal(eager[t], again[t])
        np.testing.assert_array_equal(eager[t], np.asarray(jitted(words, t)))
        np.testing.assert_array_equal(eager[t], np.asarray(mapped[t]))
    assert not np.array_equal(eager[0], eager[1])
    # another key, other numbers
    other = key_words(jax.random.key(6))
    assert not np.array_equal(eager[0], np.asarray(quantile_normal_from_words(*simulation_words(other, 0), shape, 1)))


def test_simulate_with_the_same_key_repeats_itself():
    rng = np.random.default_rng(0)
    net = Network(m=rng.normal(size=(50, 1)), n=rng.normal(size=(50, 1)))
    kw = dict(T=2.0, dt=0.1, noise=0.3, batch=3, record=("x",))
    a = simulate(net, key=jax.random.key(1), **kw).x
    b = simulate(net, key=jax.random.key(1), **kw).x
    c = simulate(net, key=jax.random.key(2), **kw).x
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
