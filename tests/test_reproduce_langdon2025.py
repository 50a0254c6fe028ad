"""`lowrank-rnn reproduce langdon2025`: a smoke-size run (tiny network, a few epochs) writes the
figures, the report with every section and claim, and results.json with the fit's numbers."""

import struct

import jax
import numpy as np
import pytest

from lowrank_rnn.experiments import REPRODUCTIONS, langdon2025

FIGURES = ("psychometric.png", "circuit.png", "perturbation.png")
SECTIONS = ("The trained network", "Latent circuit fit and the embedding test", "Context gating in the circuit",
            "Patterned perturbations along Q", "Claims")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, run_reproduction_with):
    out = tmp_path_factory.mktemp("langdon2025")
    cfg = langdon2025.Config(quick=True, N=16, train_epochs=1, train_trials=256, fit_trials=128, restarts=2,
                             fit_epochs=2, eval_trials=128)
    return out, run_reproduction_with(langdon2025, out, cfg)


def test_registered():
    assert REPRODUCTIONS["langdon2025"] == "langdon2025"


def test_figures_report_and_results(smoke):
    out, res = smoke
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        width, height = struct.unpack(">II", data[16:24])
        assert width > 400 and height > 250, (name, width, height)
    text = (out / "report.md").read_text()
    for title in SECTIONS:
        assert f"## {title}" in text, title
    circuit = res["circuit"]
    assert np.array(circuit["w_rec"]).shape == (8, 8)
    assert 0 <= circuit["nmse_y"] and -1 <= circuit["embedding_correlation"] <= 1
    assert set(res["claims"]) == {"context_dependent_behaviour", "circuit_fits", "embedding", "suppression",
                                  "perturbation_context", "perturbation_conditions"}
    for name in ("ctx-motion → color", "ctx-color → motion"):
        change = res["perturbation"][name]["mean_abs_change_by_context"]
        assert len(change["circuit"]) == 2 and len(change["network"]) == 2


def test_task_encoding():
    task = langdon2025.LangdonContextDecision()
    trials = task.sample(jax.random.key(0), 64)
    u = np.asarray(trials.inputs)
    assert u.shape == (64, task.n_steps, 6)
    ep = task.epochs
    # noiseless channels: the cue of the context and the 0.2 baseline
    ctx = np.asarray(trials.conditions["context"])
    late = ep["stimulus"][0]
    np.testing.assert_allclose(u[ctx == 0, late:, 0], 1.4, atol=1e-6)
    np.testing.assert_allclose(u[ctx == 0, late:, 1], 0.2, atol=1e-6)
    np.testing.assert_allclose(u[:, : ep["context"][0], :2], 0.2, atol=1e-6)
    # the targets: 1.2 on the chosen side during the decision epoch, 0.2 elsewhere
    z = np.asarray(trials.targets)
    choice = np.asarray(trials.conditions["choice"])
    d0, d1 = ep["decision"]
    np.testing.assert_allclose(z[choice > 0, d0:d1, 0], 1.2, atol=1e-6)
    np.testing.assert_allclose(z[choice > 0, d0:d1, 1], 0.2, atol=1e-6)
    assert task.accuracy(trials.targets, trials) == 1.0
