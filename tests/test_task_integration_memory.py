"""The integration_memory task (issue 12 item 3): trials, targets, losses, accuracy, psychometric."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowrank_rnn import ArgumentError
from lowrank_rnn.cli import main
from lowrank_rnn.tasks import IntegrationMemory, get_task

SHORT = dict(fixation=10.0, stimulus=60.0, delay=30.0, response=20.0, n_pulses=3, pulse_width=10.0)


def test_trials_hold_signed_pulses_and_their_integral():
    task = get_task("integration_memory", **SHORT)
    trials = task.sample(jax.random.key(0), 64)
    assert trials.inputs.shape == (64, 120, 1) and trials.targets.shape == (64, 120, 1)
    u = np.asarray(trials.inputs[..., 0])
    ev = np.asarray(trials.conditions["evidence"])
    # nothing outside the stimulus window; the integral of the pulses in units of one full pulse
    assert np.all(u[:, :10] == 0) and np.all(u[:, 70:] == 0)
    np.testing.assert_allclose(u.sum(1) / (3 * 10 * task.max_amplitude), ev, rtol=1e-5, atol=1e-6)
    assert (u > 0).any() and (u < 0).any()  # random sign
    m = np.asarray(trials.mask[..., 0])
    assert np.all(m[:, 100:] == 1) and np.all(m[:, :100] == 0)
    np.testing.assert_array_equal(np.asarray(trials.targets[:, -1, 0]), np.sign(ev))
    value = get_task("integration_memory", target="value", **SHORT).sample(jax.random.key(0), 64)
    np.testing.assert_allclose(np.asarray(value.targets[:, -1, 0]), ev)
    assert get_task(**task.config()).config() == task.config()


def test_mse_loss_accuracy_psychometric():
    task = get_task("integration_memory", **SHORT)
    trials = task.sample(jax.random.key(1), 256)
    assert float(task.loss(trials.targets, trials)) == 0.0 and task.accuracy(trials.targets, trials) == 1.0
    assert task.accuracy(-trials.targets, trials) == 0.0
    assert float(task.loss(jnp.zeros_like(trials.targets), trials)) == pytest.approx(1.0)
    s = task.psychometric(trials.targets, trials, n_bins=4)
    np.testing.assert_array_equal(s["p_plus"], [0, 0, 1, 1])
    assert s["n_trials"].sum() == 256 and task.differentiable and task.reads == "readout"


def test_window_mse_scores_the_response_window_mean():
    task = get_task("integration_memory", loss="window_mse", **SHORT)
    trials = task.sample(jax.random.key(3), 64)
    # a readout oscillating around the target: right on average over the window, wrong at every step
    t = np.arange(trials.targets.shape[1])
    wobble = jnp.asarray(np.where(t % 2, 1.0, -1.0)[None, :, None] * np.asarray(trials.mask), jnp.float32)
    out = trials.targets + 3.0 * wobble
    assert float(task.loss(out, trials)) == pytest.approx(0.0, abs=1e-4)
    assert float(get_task("integration_memory", **SHORT).loss(out, trials)) > 8.0  # the per-step MSE: 9
    assert float(task.loss(jnp.zeros_like(trials.targets), trials)) == pytest.approx(1.0)
    assert float(task.loss(0.5 * trials.targets, trials)) == pytest.approx(0.25)
    assert task.differentiable and task.accuracy(out, trials) == 1.0
    assert get_task(**task.config()).config() == task.config()


def _spiking(trials, counts):
    """Voltages (mV) with counts[b] brief spikes in the response window of trial b."""
    B, T, _ = trials.targets.shape
    v = np.full((B, T, 1), -60.0, np.float32)
    for b, c in enumerate(counts):
        for k in range(int(c)):
            v[b, 101 + 3 * k, 0] = 20.0
    return jnp.asarray(v)


def test_spike_count_loss_is_a_discrete_hinge_on_the_response_count():
    task = get_task("integration_memory", loss="spike_count", threshold=3.0, margin=2.0, **SHORT)
    assert not task.differentiable and task.reads == "voltage"
    trials = task.sample(jax.random.key(2), 32)
    sign = np.asarray(trials.conditions["sign"])
    right = _spiking(trials, np.where(sign > 0, 5, 0))      # c - 2.5 = +2.5 / -2.5: beyond the margin
    np.testing.assert_array_equal(np.asarray(task.spike_counts(right, trials)), np.where(sign > 0, 5, 0))
    assert float(task.loss(right, trials)) == 0.0 and task.accuracy(right, trials) == 1.0
    wrong = _spiking(trials, np.where(sign > 0, 0, 5))
    assert float(task.loss(wrong, trials)) == pytest.approx(2.25) and task.accuracy(wrong, trials) == 0.0
    # spikes outside the response window do not count
    early = np.full(trials.targets.shape, -60.0, np.float32)
    early[:, 50, 0] = 20.0
    assert float(jnp.max(task.spike_counts(jnp.asarray(early), trials))) == 0.0
    # no useful gradient: zero wherever it exists
    g = jax.grad(lambda v: task.loss(v, trials))(right + 0.3)
    assert float(jnp.max(jnp.abs(g))) == 0.0
    assert task.psychometric(right, trials)["mean_response"].size == 8


@pytest.mark.parametrize("kwargs", [dict(loss="hinge"), dict(target="both"), dict(loss="spike_count", target="value"),
                                    dict(n_pulses=0), dict(pulse_width=50.0), dict(margin=0.0),
                                    dict(max_amplitude=-1.0), dict(stimulus=61.0)])
def test_bad_arguments(kwargs):
    with pytest.raises(ArgumentError):
        IntegrationMemory(**(SHORT | kwargs))


def test_cli_trains_a_low_rank_network_on_it_without_model(tmp_path, capsys):
    """`lowrank-rnn train --task integration_memory` without --model: the task's low-rank recipe on the
    950-step trials, at a smoke size; evaluate reads the folder; the Morris-Lecar options are refused."""
    run = tmp_path / "lr"
    args = ["train", "--task", "integration_memory", "--out", str(run), "--hidden", "8", "--epochs", "2",
            "--trials", "10", "--batch", "4", "--quiet", "--no-cache"]
    assert main(args) == 0
    assert "(rank 1, N = 8) for 2 epochs" in capsys.readouterr().out
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["class"] == "LowRankRNN" and config["task"]["stimulus"] == 400.0
    h = json.loads((run / "history.json").read_text())
    assert h["epoch"] == [1, 2] and np.all(np.isfinite(h["train_loss"]))
    assert main(["evaluate", str(run), "--json", "--trials", "8", "--no-figures", "--no-cache"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == "LowRankRNN" and 0 <= summary["accuracy"] <= 1
    with pytest.raises(SystemExit) as ex:
        main(args[:4] + [str(tmp_path / "no"), "--loss", "spike_count", "--no-cache"])
    assert ex.value.code == 2 and "--model morris_lecar" in capsys.readouterr().err
