"""Latent circuit inference (Langdon & Engel 2025): the Cayley embedding, recovery of a planted
circuit, the embedding test, saving, and the argument errors."""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lowrank_rnn as lr
from lowrank_rnn.fitting import (LatentCircuit, Recording, cayley_embedding, embedding_test, fit_latent_circuit,
                                 noise_from_langdon)
from lowrank_rnn.learning import RateRNN
from lowrank_rnn.tasks import PerceptualDecision

# a 4-node circuit whose every node is pinned by the masks: inputs on nodes 0, 1, outputs on 2, 3
W_REC = np.array([[0.0, 0.0, 0.0, 0.0],
                  [-0.5, 0.0, 0.0, 0.0],
                  [0.8, -0.6, 0.0, -0.7],
                  [-0.4, 0.9, -0.7, 0.0]])


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(0)
    n, N, K, O = 4, 20, 2, 2
    w_in = np.zeros((n, K))
    w_in[0, 0] = w_in[1, 1] = 1.0
    w_out = np.zeros((O, n))
    w_out[0, 2] = w_out[1, 3] = 1.0
    circuit = LatentCircuit(W_REC, w_in, w_out, bias=0.2, alpha=0.2, noise=0.0)
    B, T = 64, 30
    u = np.zeros((B, T, K))
    u[:, 3:20, :] = rng.uniform(0, 1, (B, 1, K))
    x = circuit.simulate(u)
    Q_true = np.linalg.qr(rng.normal(size=(N, n)))[0]
    y = x @ Q_true.T + 0.01 * rng.normal(size=(B, T, N))
    data = Recording(y, dt=0.2, inputs=u, outputs=circuit.outputs(x), signed=True)
    fit = fit_latent_circuit(data, n, key=jax.random.key(0), restarts=4, epochs=150, batch_size=32, sigma=0.0,
                             progress=False)
    return fit, Q_true, data


def test_cayley_embedding_is_orthonormal(getkey):
    for N, n in ((5, 2), (12, 8)):
        B = jax.random.uniform(getkey(), (N, N)) * 3.0
        Q = cayley_embedding(B, n)
        assert Q.shape == (N, n)
        assert float(jnp.max(jnp.abs(Q.T @ Q - jnp.eye(n)))) < 1e-5


def test_planted_circuit_is_recovered(planted):
    fit, Q_true, _ = planted
    assert np.max(np.abs(fit.Q.T @ fit.Q - np.eye(4))) < 1e-5
    # w_rec in the node order the masks fix (every node here is an input or an output node)
    assert np.corrcoef(fit.w_rec.ravel(), W_REC.ravel())[0, 1] > 0.97
    assert np.max(np.abs(fit.w_rec - W_REC)) < 0.2
    # the subspace: cosines of the principal angles between span(Q) and span(Q*)
    cosines = np.linalg.svd(fit.Q.T @ Q_true, compute_uv=False)
    assert cosines.min() > 0.99
    # and each node's own direction (the masks fix the order)
    assert np.min(np.diag(fit.Q.T @ Q_true)) > 0.98
    # dedicated, non-negative input and output weights near the planted 1
    assert np.count_nonzero(fit.w_in) == 2 and np.count_nonzero(fit.w_out) == 2
    np.testing.assert_allclose(np.diag(fit.w_in[:2]), 1.0, atol=0.1)
    np.testing.assert_allclose(fit.w_out[[0, 1], [2, 3]], 1.0, atol=0.1)
    # the noise of the data (0.01 per neuron) leaves ~1% of the variance unexplained
    assert fit.nmse_y < 0.03 and fit.nmse_q < 0.03 and fit.mse_z < 0.01
    assert fit.best == int(np.argmin(fit.final_losses))
    assert fit.losses.shape == (150, 4)
    assert np.all(np.isfinite(fit.losses))
    assert np.nanmean(fit.losses[-10:, fit.best]) < np.nanmean(fit.losses[:5, fit.best])


def test_embedding_test_of_an_embedded_circuit(planted):
    fit, Q_true, _ = planted
    # a network whose connectivity is the planted circuit carried into neuron space
    W = Q_true @ W_REC @ Q_true.T
    emb = embedding_test(fit.w_rec, fit.Q, W)
    assert emb.correlation > 0.97
    np.testing.assert_allclose(emb.projected, fit.Q.T @ W @ fit.Q)


def test_fit_save_load_and_plot(planted, tmp_path):
    fit, _, _ = planted
    back = lr.load(lr.save(fit, tmp_path / "circuit.npz"))
    np.testing.assert_array_equal(back.w_rec, fit.w_rec)
    np.testing.assert_array_equal(back.Q, fit.Q)
    assert back.input_nodes == fit.input_nodes and back.nmse_y == fit.nmse_y
    fig = fit.plot()
    assert len(fig.axes) >= 1
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_fit_to_a_rate_model_runs_the_embedding_test(getkey):
    task = PerceptualDecision()
    model = RateRNN(24, 1, 1, key=getkey(), n_excitatory=19, form="rate", alpha=0.2, noise=0.05, g=0.8)
    fit = fit_latent_circuit(model, 3, task=task, n_trials=32, key=getkey(), restarts=2, epochs=2, batch_size=16,
                             progress=False)
    assert fit.embedding is not None
    assert fit.embedding.projected.shape == (3, 3)
    np.testing.assert_allclose(fit.embedding.projected, fit.Q.T @ np.asarray(model.weights()) @ fit.Q, atol=1e-5)
    assert fit.Q.shape == (24, 3) and fit.input_nodes == (0,) and fit.output_nodes == (2,)


def test_perturbation_and_noise_conversion(planted):
    fit, _, _ = planted
    delta = np.zeros((4, 4))
    delta[2, 0] = -0.3
    dW = fit.perturbation(delta)
    np.testing.assert_allclose(fit.Q.T @ dW @ fit.Q, delta, atol=1e-6)   # Q is orthonormal in float32
    assert noise_from_langdon(0.15, 0.2) == pytest.approx(np.sqrt(2) * 0.2 * 0.15)


def test_bad_arguments_raise_before_fitting(planted):
    _, _, data = planted
    key = jax.random.key(0)
    with pytest.raises(lr.ArgumentError, match="n_nodes"):
        fit_latent_circuit(data, 21, key=key)
    with pytest.raises(lr.ArgumentError, match="input_nodes"):
        fit_latent_circuit(data, 4, key=key, input_nodes=(0, 7))
    with pytest.raises(lr.ArgumentError, match="input_nodes"):
        fit_latent_circuit(data, 4, key=key, input_nodes=(0,))
    with pytest.raises(lr.ArgumentError, match="share a node"):
        fit_latent_circuit(data, 4, key=key, input_nodes=(2, 1))
    with pytest.raises(lr.ArgumentTypeError, match="key"):
        fit_latent_circuit(data, 4, key=0)
    bad = SimpleNamespace(rates=data.rates, inputs=data.inputs[:, :-1], outputs=None)
    with pytest.raises(lr.ArgumentError, match="data.inputs"):
        fit_latent_circuit(bad, 4, key=key, output_nodes=())
    nan = SimpleNamespace(rates=np.where(np.arange(20) == 3, np.nan, data.rates), inputs=data.inputs, outputs=None)
    with pytest.raises(lr.ArgumentError, match="non-finite"):
        fit_latent_circuit(nan, 4, key=key, output_nodes=())
    with pytest.raises(lr.ArgumentError, match="connectivity"):
        fit_latent_circuit(data, 4, key=key, connectivity=np.eye(5), epochs=1, progress=False)
    with pytest.raises(lr.ArgumentError, match="task"):
        fit_latent_circuit(RateRNN(8, 1, 1, key=key), 3, key=key)
    with pytest.raises(lr.ArgumentError, match="task must be"):
        fit_latent_circuit(RateRNN(8, 2, 1, key=key), 3, key=key, task=PerceptualDecision())


def test_divergence_raises(planted):
    _, _, data = planted
    # a learning rate of 1e6 makes w_rec huge after one step: the ReLU circuit then grows without bound
    small = SimpleNamespace(rates=data.rates[:8], inputs=data.inputs[:8], outputs=None)
    with pytest.raises(lr.DivergenceError):
        fit_latent_circuit(small, 4, key=jax.random.key(0), output_nodes=(), restarts=2, epochs=4, lr=1e6,
                           batch_size=2, progress=False)


def test_fit_circuit_command(planted, tmp_path):
    import json

    from lowrank_rnn.cli import main

    _, Q_true, data = planted
    path = tmp_path / "rec.npz"
    np.savez(path, rates=data.rates, inputs=data.inputs, outputs=data.outputs, dt=0.2)
    np.save(tmp_path / "W.npy", Q_true @ W_REC @ Q_true.T)
    out = tmp_path / "out"
    assert main(["fit-circuit", "--data", str(path), "--nodes", "4", "--out", str(out), "--epochs", "3",
                 "--restarts", "2", "--batch-size", "32", "--connectivity", str(tmp_path / "W.npy")]) == 0
    for name in ("circuit.npz", "report.md", "results.json", "w_rec.png", "fit.png", "loss.png"):
        assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())
    assert results["n_nodes"] == 4 and results["output_nodes"] == [2, 3]
    assert "embedding_correlation" in results
    fit = lr.load(out / "circuit.npz")
    assert fit.Q.shape == (20, 4)
    # a saved Recording is read too; a bad node index is one clear error
    lr.save(data, tmp_path / "saved.npz")
    with pytest.raises(SystemExit) as err:
        main(["fit-circuit", "--data", str(tmp_path / "saved.npz"), "--nodes", "4", "--out", str(out),
              "--input-nodes", "0,9"])
    assert err.value.code == 2
