"""Rich and lazy learning measures (Liu et al. 2023): rank-controlled initialisation, effective rank,
the tangent kernel against a direct Jacobian, and laziness of a trained network."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowrank_rnn import ArgumentError, ArgumentTypeError
from lowrank_rnn.analysis import effective_rank, kernel_alignment, laziness, tangent_kernel
from lowrank_rnn.learning import RateRNN
from lowrank_rnn.models import LowRankRNN, run_trials
from lowrank_rnn.tasks import get_task


@pytest.mark.parametrize("r", [1, 10, 30])
def test_init_rank_truncates_and_keeps_the_frobenius_norm(r):
    key = jax.random.key(0)
    full = RateRNN(60, 1, 1, key=key, g=1.25)
    low = RateRNN(60, 1, 1, key=key, g=1.25, init_rank=r)
    W, Wr = np.asarray(full.W, np.float64), np.asarray(low.W, np.float64)
    s = np.linalg.svd(Wr, compute_uv=False)
    assert np.all(s[r:] < 1e-5 * s[0]) and s[r - 1] > 1e-3 * s[0]  # rank r exactly (float32 SVD)
    assert np.isclose(np.linalg.norm(Wr), np.linalg.norm(W), rtol=1e-5)
    # the top-r singular subspaces are the drawn matrix's
    U, _, _ = np.linalg.svd(W)
    Ur, _, _ = np.linalg.svd(Wr)
    assert np.allclose(np.abs(np.linalg.svd(U[:, :r].T @ Ur[:, :r], compute_uv=False)), 1.0, atol=1e-3)
    assert abs(effective_rank(Wr, "stable") - 1.0) < 1e-6 if r == 1 else effective_rank(Wr) < effective_rank(W)
    with pytest.raises(ArgumentError, match="init_rank must be in"):
        RateRNN(60, 1, 1, key=key, init_rank=61)
    with pytest.raises(ArgumentError, match="full-rank models"):
        RateRNN(60, 1, 1, key=key, rank=2, init_rank=1)


def test_effective_rank_definitions():
    W = np.diag([3.0, 1.0, 1.0, 0.0])
    p = np.array([3, 1, 1]) / 5
    assert np.isclose(effective_rank(W), np.exp(-np.sum(p * np.log(p))))
    assert np.isclose(effective_rank(W, "stable"), 11 / 9)
    assert np.isclose(effective_rank(W, "participation"), 121 / 83)
    assert effective_rank(np.zeros((3, 3))) == 0.0
    with pytest.raises(ArgumentError, match="kind"):
        effective_rank(W, "nuclear")


def test_tangent_kernel_against_a_direct_jacobian():
    net = RateRNN(6, 2, 2, key=jax.random.key(0), nonlinearity="tanh")
    inputs = jax.random.normal(jax.random.key(1), (5, 7, 2))

    def outputs(W):  # all trials' outputs at the last step, (B, O)
        return run_trials(eqx.tree_at(lambda m: m.W, net, W), inputs)[:, -1]

    J = np.asarray(jax.jacrev(outputs)(net.W), np.float64).reshape(5, 2, -1)  # (B, O, N^2)
    direct = np.einsum("iop,jop->ij", J, J)
    got = tangent_kernel(net, inputs, chunk=2)
    np.testing.assert_allclose(got, direct, rtol=1e-5, atol=1e-7 * np.abs(direct).max())
    assert np.isclose(kernel_alignment(got, 2.5 * got), 1.0)


def test_training_changes_the_measures_and_identity_gives_ones():
    task = get_task("rdm")
    net0 = RateRNN(40, task.n_inputs, task.n_outputs, key=jax.random.key(0), nonlinearity="tanh")
    same = laziness(net0, net0, task, key=jax.random.key(1), n_trials=16)
    assert same.weight_change == 0.0 and same.sign_similarity == 1.0
    assert np.isclose(same.representation_alignment, 1.0) and np.isclose(same.kernel_alignment, 1.0)
    # a large change of W (a rank-one push of norm comparable to W's) lowers every alignment
    push = 2.0 * jnp.outer(jnp.ones(40), jnp.linspace(-1, 1, 40)) / np.sqrt(40)
    netT = eqx.tree_at(lambda m: m.W, net0, net0.W + push)
    moved = laziness(net0, netT, task, key=jax.random.key(1), n_trials=16)
    assert np.isclose(moved.weight_change, float(jnp.linalg.norm(push)), rtol=1e-5)
    assert moved.kernel_alignment < 0.999 and moved.representation_alignment < 0.999
    assert 0.0 < moved.sign_similarity < 1.0
    assert set(moved.as_dict()) == {"weight_change", "relative_weight_change", "representation_alignment",
                                    "kernel_alignment", "sign_similarity"}


def test_bad_input():
    task = get_task("rdm")
    low = LowRankRNN(10, 1, task.n_inputs, task.n_outputs, key=jax.random.key(0))
    net = RateRNN(10, task.n_inputs, task.n_outputs, key=jax.random.key(0))
    with pytest.raises(ArgumentTypeError, match="recurrent weight leaf W"):
        laziness(low, low, task, key=jax.random.key(0))
    with pytest.raises(ArgumentError, match="same size"):
        laziness(net, RateRNN(12, task.n_inputs, task.n_outputs, key=jax.random.key(0)), task, key=jax.random.key(0))
    with pytest.raises(ArgumentError, match="step must index"):
        laziness(net, net, task, key=jax.random.key(0), step=10**6)
    with pytest.raises(ArgumentError, match="square"):
        kernel_alignment(np.eye(2), np.eye(3))
