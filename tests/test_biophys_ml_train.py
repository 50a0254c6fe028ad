"""Training Morris–Lecar networks (issue 12 items 3-4): BP refuses the spike-count loss, ES trains on
it, BP logs gradient norms and stops on non-finite values keeping its last good checkpoint, and the
command line writes a run folder that evaluate reads."""

import json

import jax
import numpy as np
import pytest

from lowrank_rnn import ArgumentError, DivergenceError, biophys
from lowrank_rnn.cli import main
from lowrank_rnn.tasks import get_task
from lowrank_rnn.training import BPTT, Adam, OpenES

SHORT = dict(fixation=0.0, stimulus=40.0, delay=20.0, response=40.0, n_pulses=2, pulse_width=10.0)


def test_bp_refuses_the_spike_count_loss_before_compiling():
    task = get_task("integration_memory", loss="spike_count", **SHORT)
    net = biophys.MorrisLecarNetwork(4, 1, 1, key=jax.random.key(0))
    with pytest.raises(ArgumentError, match="spike_count"):
        biophys.train_ml_network(net, task, key=jax.random.key(1), epochs=1, batch=2, n_trials=4, progress=False)


def test_es_trains_on_the_spike_count_loss():
    """A few OpenES generations at a tiny size lower the discrete loss (measured: the training loss
    0.625 -> 0.594 and the validation accuracy 0.875 -> 1 with popsize 16, batch 16, 6 epochs)."""
    task = get_task("integration_memory", loss="spike_count", threshold=1.0, margin=1.0, **SHORT)
    net = biophys.MorrisLecarNetwork(6, 1, 1, key=jax.random.key(0), input_std=20.0)
    _, h = biophys.train_ml_network(net, task, key=jax.random.key(1), epochs=4, batch=16, n_trials=40,
                                    method=OpenES(popsize=16, sigma=0.1, optimizer=Adam(0.1)), progress=False)
    assert np.all(np.isfinite(h["train_loss"])) and sum(h["nonfinite_grads"]) == 0
    assert min(h["train_loss"][1:]) < h["train_loss"][0]
    assert h["val_accuracy"][-1] >= h["val_accuracy"][0]
    assert h["forward_passes"][-1] == 4 * (17 * 16 * 2 + 8)
    assert np.all(np.isnan(h["grad_norm"]))


def test_bp_logs_gradients_and_stops_keeping_the_last_good_checkpoint(tmp_path):
    """Adam with a huge step drives the conductances where the solve fails: training stops with a
    message naming the epoch, and the run folder holds the last good epoch."""
    task = get_task("integration_memory", **SHORT)
    net = biophys.MorrisLecarNetwork(6, 1, 1, key=jax.random.key(0), max_steps=3000)
    with pytest.raises(DivergenceError, match="epoch 2") as info:
        biophys.train_ml_network(net, task, key=jax.random.key(1), epochs=3, batch=4, n_trials=5,
                                 method=BPTT(Adam(300.0)), progress=False, out=tmp_path)
    h = info.value.history
    assert h["epoch"] == [1] and h["nonfinite_grads"] == [0] and np.isfinite(h["grad_norm"][0]) and h["grad_norm"][0] > 0
    saved = json.loads((tmp_path / "history.json").read_text())
    assert saved["epoch"] == [1]
    good, task2, _ = biophys.load_ml_run(tmp_path)
    trials = task2.sample(jax.random.key(3), 4)
    assert np.isfinite(float(biophys.ml_network_loss(good, task2, trials)))


def test_cli_refuses_the_spike_count_loss_for_bp_and_the_ml_options_for_low_rank(tmp_path, capsys):
    with pytest.raises(SystemExit) as ex:  # before anything runs
        main(["train", "--task", "integration_memory", "--model", "morris_lecar", "--method", "bptt", "--loss",
              "spike_count", "--out", str(tmp_path / "no"), "--no-cache"])
    assert ex.value.code == 2 and "spike_count" in capsys.readouterr().err and not (tmp_path / "no").exists()
    with pytest.raises(SystemExit) as ex:  # the low-rank recipes keep their flags
        main(["train", "--task", "rdm", "--loss", "mse", "--out", str(tmp_path / "rdm"), "--no-cache"])
    assert ex.value.code == 2 and "--loss" in capsys.readouterr().err


# train (bptt, es) and evaluate --json from the command line: test_biophys_ml_resume.py trains and resumes
# by the command line and evaluates its folder (--json); the refusals are checked above
@pytest.mark.slow
def test_cli_train_and_evaluate(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LOWRANK_RNN_JAX_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "ml"
    # the sizes of tests/test_biophys_ml_resume.py: one compilation of each step serves both files
    base = ["train", "--task", "integration_memory", "--model", "morris_lecar", "--hidden", "4", "--epochs", "2",
            "--batch", "2", "--trials", "5", "--trial-ms", "40", "--quiet", "--no-cache"]
    assert main(base + ["--method", "bptt", "--out", str(run)]) == 0
    assert "non-finite gradients 0" in capsys.readouterr().out
    for name in ("config.json", "model.npz", "history.json", "history.csv", "train_seconds"):
        assert (run / name).exists()
    h = json.loads((run / "history.json").read_text())
    assert len(h["grad_norm"]) == 2 and h["nonfinite_grads"] == [0, 0]
    assert main(["evaluate", str(run), "--json", "--trials", "4", "--no-figures", "--no-cache"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == "MorrisLecarNetwork" and 0 <= summary["accuracy"] <= 1 and summary["epochs"] == 2
    # the spike-count loss: refused for bptt before anything runs
    with pytest.raises(SystemExit) as ex:
        main(base + ["--method", "bptt", "--loss", "spike_count", "--out", str(tmp_path / "no")])
    assert ex.value.code == 2 and "spike_count" in capsys.readouterr().err and not (tmp_path / "no").exists()
    # es from the command line (the strategy of the resume test's ES run: its compiled step)
    assert main(base[:8] + ["1", *base[9:], "--method", "es", "--popsize", "4", "--sigma", "0.1", "--lr", "0.05",
                            "--out", str(tmp_path / "es")]) == 0
    assert json.loads((tmp_path / "es" / "config.json").read_text())["training"]["method"] == "openai_es"
    # the low-rank recipes keep their flags: the Morris-Lecar options are refused there
    with pytest.raises(SystemExit) as ex:
        main(["train", "--task", "rdm", "--loss", "mse", "--out", str(tmp_path / "rdm"), "--no-cache"])
    assert ex.value.code == 2 and "--loss" in capsys.readouterr().err


@pytest.mark.slow  # ES on the spike-count loss is checked by test_es_trains_on_the_spike_count_loss
def test_cli_trains_the_spike_count_loss_by_es(tmp_path):
    base = ["train", "--task", "integration_memory", "--model", "morris_lecar", "--hidden", "4", "--epochs", "1",
            "--batch", "2", "--trials", "5", "--trial-ms", "40", "--quiet", "--no-cache"]
    assert main(base + ["--method", "es", "--popsize", "4", "--loss", "spike_count", "--out", str(tmp_path / "es")]) == 0
    config = json.loads((tmp_path / "es" / "config.json").read_text())
    assert config["training"]["method"] == "openai_es" and config["task"]["loss_name"] == "spike_count"
