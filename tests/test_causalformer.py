"""Causalformer (Lu et al. 2023, arXiv 2311.06928): the structural constraints that make its
global cross-attention read as Granger influence, training on a process with known structure,
and argument checks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowrank_rnn import ArgumentError, ArgumentTypeError
from lowrank_rnn.causal import Causalformer

SMALL = dict(seq_len=6, d_model=16, n_heads=2, d_qk=4, d_v=4)


def _perturbed(y: jax.Array, j: int, key) -> jax.Array:
    return y.at[:, j].add(jax.random.normal(key, (y.shape[0],)))


@pytest.mark.parametrize("j", [0, 2])
def test_encoder_output_of_a_neuron_ignores_other_neurons(getkey, j):
    model = Causalformer(4, **SMALL, key=getkey())
    y = jax.random.normal(getkey(), (6, 4))
    y2 = _perturbed(y, j, getkey())
    enc, enc2 = np.asarray(model.encode(y, 7.0)), np.asarray(model.encode(y2, 7.0))
    others = [i for i in range(4) if i != j]
    np.testing.assert_array_equal(enc[others], enc2[others])   # exactly: no path from j to i
    assert not np.allclose(enc[j], enc2[j])                    # the perturbation does reach neuron j


@pytest.mark.parametrize("j", [1, 3])
def test_decoder_local_cross_attention_ignores_other_neurons(getkey, j):
    model = Causalformer(4, **SMALL, key=getkey())
    y = jax.random.normal(getkey(), (6, 4))
    y2 = _perturbed(y, j, getkey())
    trace, trace2 = (model.decode(model.encode(v, 3.0), 3.0) for v in (y, y2))
    others = [i for i in range(4) if i != j]
    a, a2 = np.asarray(trace.after_local), np.asarray(trace2.after_local)
    np.testing.assert_array_equal(a[others], a2[others])
    assert not np.allclose(a[j], a2[j])
    # the global cross-attention is the path between neurons: every forecast moves
    assert np.all(np.abs(np.asarray(trace.prediction - trace2.prediction)) > 0)


def test_global_attention_rows_are_distributions_over_all_tokens(getkey):
    model = Causalformer(3, **SMALL, key=getkey())
    trace = model.decode(model.encode(jax.random.normal(getkey(), (6, 3))))
    assert trace.global_attention.shape == (2, 3, 18)
    np.testing.assert_allclose(np.asarray(trace.global_attention.sum(-1)), 1.0, rtol=1e-6)


def test_dropout_only_with_a_key(getkey):
    model = Causalformer(3, **SMALL, dropout=0.5, key=getkey())
    y = jax.random.normal(getkey(), (6, 3))
    np.testing.assert_array_equal(model(y), model(y))
    assert not np.allclose(model(y), model(y, key=getkey()))
    assert not np.allclose(model(y, 0.0), model(y, 2000.0))   # the value-time embedding sees t0


@pytest.mark.parametrize("name, value, error", [
    ("n_neurons", 0, ArgumentError), ("n_neurons", 2.5, ArgumentTypeError), ("seq_len", 0, ArgumentError),
    ("d_model", 1, ArgumentError), ("n_heads", -1, ArgumentError), ("dropout", 1.0, ArgumentError),
    ("key", 0, ArgumentTypeError)])
def test_constructor_names_bad_arguments(name, value, error):
    kwargs = dict(n_neurons=3, **SMALL, key=jax.random.key(0))
    kwargs[name] = value
    with pytest.raises(error, match=name):
        Causalformer(kwargs.pop("n_neurons"), **kwargs)
