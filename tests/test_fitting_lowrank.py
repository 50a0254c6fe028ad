"""Low-rank inference (fitting.fit_lowrank, Valente, Pillow & Ostojic 2022): recovery of a planted
low-rank teacher from a noisy recording of half its neurons, and argument checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowrank_rnn import ArgumentError, ArgumentTypeError
from lowrank_rnn.fitting import RankSelection, Recording, fit_lowrank, r2_score, select_rank
from lowrank_rnn.fitting import _lowrank
from lowrank_rnn.models import LowRankRNN, run_trials


def planted(N=80, overlap=1.5, n_conditions=8, T=40, noise=0.02, seed=0):
    """A rank-one teacher (n = overlap m + 0.8 xi, bistable for overlap > 1) with one pulse input
    of 8 amplitudes, and a recording of its rates tanh(x) on every other neuron plus noise."""
    k = jax.random.split(jax.random.key(seed), 3)
    m = jax.random.normal(k[0], (N, 1))
    n = overlap * m + 0.8 * jax.random.normal(k[1], (N, 1))
    teacher = LowRankRNN(N, 1, 1, N, m=m, n=n, input_vectors=jax.random.normal(k[2], (N, 1)),
                         readout_vectors=N * jnp.eye(N))
    u = np.zeros((n_conditions, T, 1), np.float32)
    u[:, 3:15, 0] = np.linspace(-1, 1, n_conditions)[:, None]
    rates = np.asarray(run_trials(teacher, jnp.asarray(u)))
    obs = np.arange(0, N, 2)
    y = rates[:, :, obs] + noise * np.random.default_rng(seed).normal(size=(n_conditions, T, obs.size))
    return teacher, obs, Recording(y, dt=0.2, inputs=u, signed=True)


@pytest.fixture(scope="module")
def rank_one_fit():
    teacher, obs, rec = planted()
    fit = fit_lowrank(rec, 1, key=jax.random.key(1), epochs=600, tau=1.0, observation="rates",
                      test_fraction=0.25, progress=False)
    return teacher, obs, rec, fit


def test_recovers_planted_rank_one_teacher(rank_one_fit):
    teacher, obs, rec, fit = rank_one_fit
    # noise 0.02 on rates of spread ~0.6: a converged fit explains > 99 % on held-out conditions
    assert fit.r2_train > 0.99 and fit.r2_test > 0.98
    assert fit.loss[-1] < 0.2 * fit.loss[0]
    # the connectivity vector m of the recorded neurons (up to sign and scale)
    corr = abs(np.corrcoef(np.asarray(fit.model.m[:, 0]), np.asarray(teacher.m[obs, 0]))[0, 1])
    assert corr > 0.98
    # the outlier n^T m / N of the fitted network (40 neurons) is the teacher's (80 neurons): the
    # student reproduces the whole teacher's latent dynamics, whose overlap is the full network's
    teacher_outlier = float(teacher.n[:, 0] @ teacher.m[:, 0]) / teacher.N
    fitted = np.linalg.eigvals(np.asarray(fit.model.m @ fit.model.n.T) / fit.model.N)
    outlier = fitted[np.argmax(np.abs(fitted))]
    assert abs(outlier.imag) < 1e-6
    assert abs(outlier.real - teacher_outlier) < 0.1 * teacher_outlier


def test_fit_predicts_recording_and_readout_is_observation(rank_one_fit):
    _, _, rec, fit = rank_one_fit
    pred = fit.predict(rec)
    assert pred.shape == rec.rates.shape
    assert r2_score(rec.rates, pred) > 0.99
    # observation "rates": unit gains, zero offsets, and model(u) is the prediction itself
    np.testing.assert_array_equal(fit.gain, np.ones(rec.n_neurons))
    np.testing.assert_array_equal(fit.offset, np.zeros(rec.n_neurons))
    np.testing.assert_allclose(np.asarray(fit.model(jnp.asarray(rec.inputs[0]))), pred[0], atol=1e-5)


def test_affine_observation_fits_rates_in_hertz():
    # rates of the teacher mapped to 20 + 15 tanh(x) Hz: gain and offset are learned
    _, _, rec = planted(N=40, n_conditions=6, T=30)
    hz = Recording(20.0 + 15.0 * rec.rates, dt=rec.dt, inputs=rec.inputs)
    fit = fit_lowrank(hz, 1, key=jax.random.key(0), epochs=300, tau=1.0, progress=False)
    # gain and the scale of x trade off where tanh is near-linear, which slows convergence: after 300
    # epochs the fit explains > 90 % (the offsets alone explain 0 %)
    assert fit.r2_train > 0.9
    assert np.all(np.isfinite(fit.offset)) and abs(np.mean(fit.offset) - 20.0) < 5.0


def test_checkpoint_resumes_an_interrupted_fit(tmp_path, monkeypatch):
    _, _, rec = planted(N=20, n_conditions=4, T=20)
    kw = dict(key=jax.random.key(3), epochs=10, progress=False)
    whole = fit_lowrank(rec, 1, **kw)
    calls = {"n": 0}
    finite = _lowrank._finite

    def interrupt(tree):
        calls["n"] += 1
        if calls["n"] == 3:  # in the second chunk of epochs, after the checkpoint at epoch 4
            raise KeyboardInterrupt
        return finite(tree)

    monkeypatch.setattr(_lowrank, "_finite", interrupt)
    with pytest.raises(KeyboardInterrupt):
        fit_lowrank(rec, 1, checkpoint=tmp_path, checkpoint_every=4, **kw)
    monkeypatch.setattr(_lowrank, "_finite", finite)
    resumed = fit_lowrank(rec, 1, checkpoint=tmp_path, checkpoint_every=4, **kw)
    np.testing.assert_allclose(resumed.loss, whole.loss, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(resumed.model.m), np.asarray(whole.model.m), rtol=1e-4, atol=1e-6)


def test_bad_arguments_name_the_argument():
    _, _, rec = planted(N=8, n_conditions=2, T=5)
    key = jax.random.key(0)
    with pytest.raises(ArgumentError, match="rank must be <= the number of recorded neurons"):
        fit_lowrank(rec, 5, key=key)
    with pytest.raises(ArgumentTypeError, match="recording must be a lowrank_rnn.fitting.Recording"):
        fit_lowrank(rec.rates, 1, key=key)
    other = Recording(np.zeros((2, 5, 3)), dt=0.2, inputs=np.zeros((2, 5, 1)))
    with pytest.raises(ArgumentError, match="test must have the recording's neurons"):
        fit_lowrank(rec, 1, key=key, test=other)
    with pytest.raises(ArgumentError, match="observation must be one of"):
        fit_lowrank(rec, 1, key=key, observation="poisson")
    with pytest.raises(ArgumentError, match="tau must be >="):
        fit_lowrank(rec, 1, key=key, tau=0.1)
    with pytest.raises(ArgumentError, match="init must have"):
        fit_lowrank(rec, 1, key=key, init=LowRankRNN(4, 1, 2, 4, key=key))
    with pytest.raises(ArgumentTypeError, match="key must be a jax.random key"):
        fit_lowrank(rec, 1, key=0)
    # mismatched data and inputs are refused by the recording itself, naming inputs
    with pytest.raises(ArgumentError, match="inputs"):
        Recording(np.zeros((2, 5, 3)), dt=0.2, inputs=np.zeros((2, 4, 1)))


def planted_rank_two(N=40, n_conditions=12, T=40, noise=0.02, seed=0):
    """A rank-two teacher with rotational overlaps (outliers 0.9 +- 1.2i: an oscillation that a
    rank-one network cannot make), two pulse inputs of random amplitudes, half its neurons recorded."""
    k = jax.random.split(jax.random.key(seed), 4)
    m = jax.random.normal(k[0], (N, 2))
    n = m @ jnp.array([[0.9, 1.2], [-1.2, 0.9]]) + 0.5 * jax.random.normal(k[1], (N, 2))
    teacher = LowRankRNN(N, 2, 2, N, m=m, n=n, input_vectors=jax.random.normal(k[2], (N, 2)),
                         readout_vectors=N * jnp.eye(N))
    u = np.zeros((n_conditions, T, 2), np.float32)
    u[:, 3:15, :] = np.asarray(jax.random.uniform(k[3], (n_conditions, 2), minval=-1, maxval=1))[:, None, :]
    rates = np.asarray(run_trials(teacher, jnp.asarray(u)))
    obs = np.arange(0, N, 2)
    y = rates[:, :, obs] + noise * np.random.default_rng(seed).normal(size=(n_conditions, T, obs.size))
    return teacher, obs, Recording(y, dt=0.2, inputs=u, signed=True)


@pytest.mark.slow
def test_select_rank_recovers_rank_two_teacher():
    _, _, rec = planted_rank_two()
    sel = select_rank(rec, (1, 2, 3), folds=3, key=jax.random.key(2), epochs=200, tau=1.0, observation="rates",
                      progress=False)
    assert sel.best == 2
    med = np.median(sel.r2, axis=0)
    assert med[0] < 0.9 < 0.97 < med[1]      # rank one cannot oscillate; rank two can


def test_select_rank_rule_and_checks():
    sel = RankSelection(ranks=np.array([1, 2, 3]), r2=np.array([[0.6, 0.98, 0.985], [0.5, 0.6, 0.97],
                                                                [0.55, 0.979, 0.98]]),
                        r2_trials=np.zeros((3, 3)), r2_train=np.zeros((3, 3)), best=2)
    assert _lowrank._choose_rank(sel.ranks, sel.r2, 0.01) == 2     # one stuck fold does not count
    assert _lowrank._choose_rank(sel.ranks, sel.r2, 0.0) == 3
    ax = sel.plot()
    assert ax.get_xlabel() == "rank"
    _, _, rec = planted(N=8, n_conditions=4, T=5)
    key = jax.random.key(0)
    with pytest.raises(ArgumentError, match="folds must be <="):
        select_rank(rec, (1,), folds=5, key=key)
    with pytest.raises(ArgumentError, match="ranks must be <= the number of neurons fitted"):
        select_rank(rec, (1, 3), folds=2, key=key)
    with pytest.raises(ArgumentError, match="ranks must be distinct"):
        select_rank(rec, (1, 1), folds=2, key=key)
    sel = select_rank(rec, (1, 2), folds=2, key=key, epochs=3, restarts=1, progress=False)
    assert sel.r2.shape == sel.r2_trials.shape == (2, 2) and sel.best in (1, 2)


def test_cli_fit_writes_model_report_and_figures(tmp_path, capsys):
    from lowrank_rnn import load
    from lowrank_rnn.cli import main

    _, _, rec = planted(N=16, n_conditions=4, T=12)
    data = tmp_path / "rec.npz"
    np.savez(data, rates=rec.rates, inputs=rec.inputs, dt=rec.dt, conditions=np.array([0, 1, 0, 1]))
    out = tmp_path / "fit"
    assert main(["fit", "--data", str(data), "--select-rank", "--ranks", "1,2", "--folds", "2", "--epochs", "3",
                 "--restarts", "1", "--observation", "rates", "--out", str(out)]) == 0
    for name in ("model.npz", "report.md", "results.json", "fit.png", "loss.png", "rank_selection.png"):
        assert (out / name).is_file(), name
    results = __import__("json").loads((out / "results.json").read_text())
    assert results["rank"] == results["rank_selection"]["best"] in (1, 2)
    assert load(out / "model.npz").rank == results["rank"]
    assert "Rank selection" in (out / "report.md").read_text()
    with pytest.raises(SystemExit) as exit_:
        main(["fit", "--data", str(data), "--rank", "50", "--out", str(tmp_path / "bad")])
    assert exit_.value.code == 2
    assert "--rank must be <= the number of recorded neurons (8)" in capsys.readouterr().err
