"""lowrank_rnn.causal: Izhikevich ground-truth networks, Granger causality and AUROC (Lu et al. 2023)."""

from __future__ import annotations

import re

import jax
import numpy as np
import pytest

from lowrank_rnn import ArgumentError, ArgumentTypeError, causal

# ---------------------------------------------------------------- izhikevich_network


@pytest.fixture(scope="module")
def batch():
    return causal.izhikevich_network(16, 4, 0.4, key=jax.random.key(3), steps=3000, networks=3)


def test_izhikevich_same_key_same_network():
    a = causal.izhikevich_network(4, 1, 0.5, key=jax.random.key(7), steps=400)
    b = causal.izhikevich_network(4, 1, 0.5, key=jax.random.key(7), steps=400)
    c = causal.izhikevich_network(4, 1, 0.5, key=jax.random.key(8), steps=400)
    np.testing.assert_array_equal(a.v, b.v)
    np.testing.assert_array_equal(a.M, b.M)
    assert not np.array_equal(a.v, c.v)


def test_izhikevich_batch_member_equals_single_network(batch):
    keys = jax.random.split(jax.random.key(3), 3)
    one = causal.izhikevich_network(16, 4, 0.4, key=keys[1], steps=3000)
    np.testing.assert_allclose(batch.v[1], one.v, rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(batch.M[1], one.M)
    assert batch.batched and not one.batched


def test_izhikevich_shapes_and_connectivity(batch):
    n, ne = 20, 16
    assert batch.v.shape == batch.v_normed.shape == batch.spikes.shape == (3, 3001, n)
    assert batch.M.shape == (3, n, n)
    M = batch.M
    assert set(np.unique(M)) <= {-5.0, 0.0, 5.0}
    assert (M[:, :, :ne] >= 0).all() and (M[:, :, ne:] <= 0).all()  # sign of the presynaptic type
    assert (np.diagonal(M, axis1=1, axis2=2) == 0).all()
    density = (M != 0).sum() / (3 * n * (n - 1))
    assert abs(density - 0.4) < 0.06  # 1140 Bernoulli(0.4) draws: s.d. 0.015
    np.testing.assert_array_equal(batch.v[:, 0], -65.0)


def test_izhikevich_cell_parameters(batch):
    ne = 16
    assert np.all(batch.b == -0.1)
    assert np.all(batch.a[:, :ne] == pytest.approx(0.02))
    assert np.all((batch.a[:, ne:] >= 0.02) & (batch.a[:, ne:] <= 0.1))
    assert np.all((batch.c[:, :ne] >= -65) & (batch.c[:, :ne] <= -50)) and np.all(batch.c[:, ne:] == -65)
    # c = -65 + 15 r^2 and d = 8 - 6 r^2 share one r per excitatory cell
    np.testing.assert_allclose((batch.c[:, :ne] + 65) / 15, (8 - batch.d[:, :ne]) / 6, atol=1e-5)
    assert np.all(batch.d[:, ne:] == 2)


def test_izhikevich_spiking_statistics(batch):
    rates = batch.firing_rates
    exc, inh = rates[:, :16], rates[:, 16:]
    # regular-spiking E cells fire tens of Hz, fast-spiking I cells (a up to 0.1) over 50 Hz; the
    # authors' released N = 20 networks show the same split (E about 20 Hz, I over 100 Hz)
    assert 5 < exc.mean() < 40 and 50 < inh.mean() < 250
    assert (rates > 1).all()  # every neuron fires
    assert inh.mean() > 3 * exc.mean()
    # spikes are the recorded crossings, and a spike is reset at the next step
    assert batch.spikes.any()
    t = np.argwhere(batch.spikes[:, :-1])
    assert (batch.v[t[:, 0], t[:, 1] + 1, t[:, 2]] < 30).all()


def test_izhikevich_normalised_voltages(batch):
    z = batch.v_normed
    np.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=1), 1, atol=1e-4)
    clipped = np.minimum(batch.v, 30.0)
    expected = (clipped - clipped.mean(axis=1, keepdims=True)) / clipped.std(axis=1, keepdims=True)
    np.testing.assert_allclose(z, expected, atol=1e-3)


def test_izhikevich_no_connections_means_independent_cells():
    a = causal.izhikevich_network(3, 1, 0.0, key=jax.random.key(0), steps=300)
    assert not a.M.any()
    full = causal.izhikevich_network(3, 1, 1.0, key=jax.random.key(0), steps=300)
    assert (full.M != 0).sum() == 12


@pytest.mark.parametrize("kwargs, name", [
    (dict(p=1.5), "p"), (dict(p=-0.1), "p"), (dict(p=float("nan")), "p"),
    (dict(n_exc=0, n_inh=0), "n_exc + n_inh"), (dict(n_exc=-1), "n_exc"), (dict(n_inh=-2), "n_inh"),
    (dict(steps=0), "steps"), (dict(networks=0), "networks"), (dict(s0=-1.0), "s0"),
    (dict(input_var=-1.0), "input_var"),
])
def test_izhikevich_bad_arguments(kwargs, name, monkeypatch):
    monkeypatch.setattr(causal._izhikevich, "_simulate_batch", None)  # nothing may compile
    args = dict(n_exc=4, n_inh=1, p=0.5, key=jax.random.key(0), steps=100) | kwargs
    with pytest.raises(ArgumentError, match=re.escape(name)):
        causal.izhikevich_network(**args)


def test_izhikevich_bad_types():
    with pytest.raises(ArgumentTypeError, match="key"):
        causal.izhikevich_network(4, 1, 0.5, key=0)
    with pytest.raises(ArgumentTypeError, match="n_exc"):
        causal.izhikevich_network(4.5, 1, 0.5, key=jax.random.key(0))
