"""Morris–Lecar training runs resume from their last checkpoint (the run folder of
lowrank_rnn.training): a run interrupted after k epochs and resumed ends with the parameters of an
uninterrupted one, bit for bit, by backpropagation and by an evolution strategy."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from lowrank_rnn import RunFolderError, biophys, training
from lowrank_rnn.biophys import _ml_train
from lowrank_rnn.cli import main
from lowrank_rnn.tasks import get_task
from lowrank_rnn.training import BPTT, Adam, OpenES
from lowrank_rnn.training._checkpoint import _META

# the task of `lowrank-rnn train --trial-ms 40`: the Python runs and the command line's share one compilation
SHORT = dict(loss="mse", fixation=2, stimulus=15, delay=13, response=8, pulse_width=1)
ARRAYS = ("g_raw", "w_in", "bias", "w_out", "b_out")


def _interrupt_after(monkeypatch, k):
    """Raise KeyboardInterrupt (Ctrl-C) at the validation pass of epoch k + 1."""
    calls = {"n": 0}
    real = _ml_train._evaluate

    def evaluate(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > k:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(_ml_train, "_evaluate", evaluate)


def _number_epochs_from_zero(run):
    """Rewrite the history in ``run``'s checkpoint as it was saved before 2026-12-07: epochs 0, 1, ..."""
    path = run / "checkpoint.npz"
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(bytes(arrays[_META]).decode())
    meta["history"]["epoch"] = [e - 1 for e in meta["history"]["epoch"]]
    arrays[_META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


@pytest.mark.parametrize("method", [BPTT(Adam(0.05)), OpenES(popsize=4, sigma=0.1, optimizer=Adam(0.05))],
                         ids=["bptt", "es"])
def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch, method):
    task = get_task("integration_memory", **SHORT)
    net = biophys.MorrisLecarNetwork(4, 1, 1, key=jax.random.key(0))
    kw = dict(key=jax.random.key(1), epochs=3, batch=2, n_trials=5, method=method, progress=False)
    whole, h_whole = biophys.train_ml_network(net, task, out=tmp_path / "whole", **kw)

    with monkeypatch.context() as m:
        _interrupt_after(m, 1)
        with pytest.raises(KeyboardInterrupt):
            biophys.train_ml_network(net, task, out=tmp_path / "cut", **kw)
    assert json.loads((tmp_path / "cut" / "history.json").read_text())["epoch"] == [1]
    assert not (tmp_path / "cut" / "train_seconds").exists()
    _number_epochs_from_zero(tmp_path / "cut")  # a checkpoint written before epochs were numbered from 1
    resumed, h = biophys.train_ml_network(net, task, out=tmp_path / "cut", **kw)
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(resumed, name), getattr(whole, name), err_msg=name)
    assert h["epoch"] == h_whole["epoch"] == [1, 2, 3] and h["forward_passes"] == h_whole["forward_passes"]
    assert h["train_loss"] == h_whole["train_loss"] and h["val_loss"] == h_whole["val_loss"]
    saved, _, _ = biophys.load_ml_run(tmp_path / "cut")
    np.testing.assert_array_equal(saved.g_raw, whole.g_raw)
    # epochs may grow; another run's checkpoint is refused; resume=False starts over
    _, h_more = biophys.train_ml_network(net, task, out=tmp_path / "cut", **{**kw, "epochs": 4})
    assert h_more["epoch"] == [1, 2, 3, 4] and h_more["train_loss"][:3] == h_whole["train_loss"]
    with pytest.raises(RunFolderError, match="different run"):
        biophys.train_ml_network(net, task, out=tmp_path / "cut", **{**kw, "batch": 4, "n_trials": 6})
    _, h_again = biophys.train_ml_network(net, task, out=tmp_path / "cut", resume=False, **{**kw, "epochs": 1})
    assert h_again["epoch"] == [1] and h_again["train_loss"] == h_whole["train_loss"][:1]


def test_cli_resumes_and_restarts(tmp_path, capsys):
    run = tmp_path / "ml"
    base = ["train", "--task", "integration_memory", "--model", "morris_lecar", "--hidden", "4", "--batch", "2",
            "--trials", "5", "--trial-ms", "40", "--quiet", "--no-cache", "--out", str(run)]
    assert main(base + ["--epochs", "1"]) == 0
    assert main(base + ["--epochs", "2"]) == 0  # resumes: one more epoch
    assert "for 2 epochs" in capsys.readouterr().out
    assert json.loads((run / "history.json").read_text())["epoch"] == [1, 2]
    assert main(base + ["--epochs", "1", "--restart"]) == 0
    assert json.loads((run / "history.json").read_text())["epoch"] == [1]


def test_training_evaluate_reads_morris_lecar_run_folders(tmp_path, capsys):
    """One evaluate for every run folder: training.evaluate (and `lowrank-rnn evaluate`) reads a
    Morris-Lecar run through the class that model.npz names, in a process that never imported biophys."""
    task = get_task("integration_memory", **SHORT)
    run = tmp_path / "ml"
    biophys.train_ml_network(biophys.MorrisLecarNetwork(4, 1, 1, key=jax.random.key(0)), task, key=jax.random.key(1),
                             epochs=1, batch=2, n_trials=5, out=run, progress=False)
    summary = training.evaluate(run, n_trials=4, figures=True)
    assert summary["model"] == "MorrisLecarNetwork" and summary["task"] == "integration_memory"
    assert 0 <= summary["accuracy"] <= 1 and summary["epochs"] == 1 and summary["nonfinite_grads"] == 0
    assert (run / "psychometric.png").exists() and (run / "evaluation.json").exists()
    again = biophys.evaluate_ml_run(run, n_trials=4, figures=False)  # the same evaluate, the same fresh trials
    assert again == {k: v for k, v in summary.items() if k != "psychometric_figure"}
    assert main(["evaluate", str(run), "--trials", "4", "--no-figures", "--no-cache"]) == 0
    assert "non-finite gradient(s) in training" in capsys.readouterr().out
    assert main(["evaluate", str(run), "--json", "--trials", "4", "--no-figures", "--no-cache"]) == 0
    assert json.loads(capsys.readouterr().out) == again
    code = ("import sys; from lowrank_rnn.training import load_run; m, t, c = load_run(sys.argv[1]); "
            "assert 'lowrank_rnn.biophys' in sys.modules; print(type(m).__name__, m.n, t.name)")
    out = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["MorrisLecarNetwork", "4", "integration_memory"]
    with pytest.raises(RunFolderError, match="Morris"):
        biophys.evaluate_ml_run(tmp_path / "nothing-here")
