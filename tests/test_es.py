"""Evolution strategies (train(..., method=OpenES(...) | PGPE(...) | CMAES(...))): each strategy decreases a quadratic, a
non-differentiable score and a small task's loss; non-finite fitness is handled; resume equals an
uninterrupted run; the run folder is read by evaluate; bad options fail before compiling."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lowrank_rnn.training._checkpoint as ckpt
import lowrank_rnn.training._es as es_module
from lowrank_rnn import ArgumentError, ArgumentTypeError, DivergenceError, RunFolderError, load
from lowrank_rnn.cli import main
from lowrank_rnn.models import LowRankRNN, noise_from_published
from lowrank_rnn.tasks import get_task
from lowrank_rnn.training import CMAES, PGPE, Adam, OpenES, RunSettings, get_strategy, train
from lowrank_rnn.training._evaluate import evaluate

SIGMA = noise_from_published(0.05, 0.2)
SHORT = dict(fixation=40.0, stimulus=200.0, delay=40.0, decision=20.0)  # 15 steps: cheap trials
TARGET = jnp.asarray(np.random.default_rng(0).normal(size=16), jnp.float32)


def _model(key, task, N=16, noise=0.0):
    return LowRankRNN(N, 1, task.n_inputs, task.n_outputs, key=key, alpha=task.dt / task.tau, noise=noise)


def _h0_only(model):
    """Train only the initial state h0 (D = N numbers): a fitness of h0 alone ignores the trials."""
    return model.trainable(connectivity=False, input_scales=False, readout_scales=False, h0=True)


def quadratic(model, trials, key):
    return jnp.mean((model.h0 - TARGET) ** 2)


# 40 trials, batch 4, no validation (the fitness ignores the trials): 10 generations per epoch
QUICK = dict(n_trials=40, batch=4, run=RunSettings(val_fraction=0.0), progress=False)


@pytest.mark.parametrize("strategy,lr,sigma", [("openai_es", 0.1, 0.1), ("pgpe", 0.1, 0.1), ("cma_es", None, 0.3)])
def test_each_strategy_decreases_a_quadratic(strategy, lr, sigma):
    task = get_task("rdm", **SHORT)
    model = _model(jax.random.key(0), task)
    f0 = float(quadratic(model, None, None))
    kw = {} if lr is None else {"optimizer": Adam(lr)}
    method = get_strategy(strategy, popsize=16, sigma=sigma, fitness=quadratic)
    trained, h = train(model, task, key=jax.random.key(1), epochs=8, method=dataclasses.replace(method, **kw),
                       trainable=_h0_only(model), **QUICK)
    f_end = float(quadratic(trained, None, None))
    # 80 generations from f0 ~ 1: Adam moves each coordinate by ~lr per generation, CMA-ES
    # contracts geometrically; a factor of 10 leaves both a wide margin
    assert f_end < 0.1 * f0, (strategy, f0, f_end, h["train_loss"])
    assert h["train_loss"][-1] < h["train_loss"][0]
    # train_loss is the fitness of the mean: the returned model's fitness is below the first epoch's
    assert f_end <= h["train_loss"][0]
    # only h0 moved
    assert np.array_equal(np.asarray(trained.m), np.asarray(model.m))
    assert h["generation"] == [10 * (i + 1) for i in range(8)]
    assert all(s > 0 for s in h["sigma"])


def test_a_non_differentiable_score_decreases():
    """Sign mismatches of h0 with a target: piecewise constant, its gradient is zero almost everywhere."""
    task = get_task("rdm", **SHORT)
    model = _model(jax.random.key(0), task)
    model = LowRankRNN(16, 1, 1, 1, alpha=model.alpha, m=model.m, n=model.n, input_vectors=model.input_vectors,
                       readout_vectors=model.readout_vectors, h0=-0.05 * jnp.sign(TARGET))  # every sign wrong

    def mismatches(model, trials, key):
        return jnp.sum(jnp.sign(model.h0) != jnp.sign(TARGET)).astype(jnp.float32)

    assert float(jnp.abs(jax.grad(lambda h: mismatches(model, None, None) + 0 * h.sum())(model.h0)).sum()) == 0
    trained, h = train(model, task, key=jax.random.key(2), epochs=4,
                       method=OpenES(popsize=16, sigma=0.05, optimizer=Adam(0.02), fitness=mismatches),
                       trainable=_h0_only(model), **QUICK)
    assert float(mismatches(model, None, None)) == 16
    assert float(mismatches(trained, None, None)) <= 2, h["train_loss"]


def test_small_task_loss_decreases():
    """RDM (short timing, published noise) with N = 32: the task loss, not a toy fitness."""
    task = get_task("rdm", **SHORT)
    model = _model(jax.random.key(0), task, N=32, noise=SIGMA)
    _, h = train(model, task, key=jax.random.key(1), epochs=6, n_trials=160, batch=32, progress=False,
                 method=OpenES(popsize=32, sigma=0.1, optimizer=Adam(0.05)))
    # measured (this seed): train loss 1.02 -> 0.84 in 24 generations, validation accuracy 0.62 -> 0.91
    assert h["train_loss"][-1] < 0.9 * h["train_loss"][0], h["train_loss"]
    assert h["val_loss"][-1] < 0.9 * h["val_loss"][0], h["val_loss"]
    assert np.all(np.diff(h["train_loss"]) < 0)


@pytest.mark.parametrize("strategy", [OpenES(popsize=4, sigma=0.1, optimizer=Adam(2e-2, clip=1.0)),
                                      PGPE(popsize=4, sigma=0.1, sigma_lr=0.1, optimizer=Adam(2e-2))])
def test_a_new_sigma_or_learning_rate_does_not_compile_the_epoch_again(caplog, strategy):
    """sigma (PGPE: its lr and largest change too) and Adam's lr are arguments of the compiled epoch:
    a second run that differs only in them compiles neither the epoch nor the strategy's init, and a
    run's second epoch does not compile its first again (the init's weakly typed scalars did)."""
    import logging

    task = get_task("rdm", **SHORT)
    kw = dict(key=jax.random.key(1), epochs=2, n_trials=12, batch=4, progress=False)
    changes = {"sigma": 0.05, "optimizer": Adam(7e-3, clip=1.0)}  # CMA-ES's sigma: the same path, not timed here
    if isinstance(strategy, PGPE):
        changes.update(sigma_lr=0.2, sigma_max_change=0.1, optimizer=Adam(7e-3))
    jax.config.update("jax_log_compiles", True)
    try:
        with caplog.at_level(logging.WARNING):
            a, _ = train(_model(jax.random.key(0), task), task, method=strategy, **kw)
            first = [r.getMessage() for r in caplog.records]
            caplog.clear()
            b, _ = train(_model(jax.random.key(0), task), task, method=dataclasses.replace(strategy, **changes), **kw)
            second = [r.getMessage() for r in caplog.records]
    finally:
        jax.config.update("jax_log_compiles", False)
    assert len([m for m in first if m.startswith("Compiling jit(_es_epoch)")]) <= 1, first
    assert not [m for m in second if m.startswith(("Compiling jit(_es_epoch)", "Compiling jit(_es_init)"))], second
    assert not np.array_equal(np.asarray(a.m), np.asarray(b.m))  # the new values were used


def test_cma_es_learns_rdm_from_the_error_rate():
    """Fitness = 1 - accuracy (no gradient exists): CMA-ES still reaches a high validation accuracy."""
    task = get_task("rdm", **SHORT)
    model = _model(jax.random.key(0), task, N=32, noise=SIGMA)
    # batch 64 grades the error rate in steps of 1/64 (32 left too many ties to rank)
    _, h = train(model, task, key=jax.random.key(1), epochs=4, n_trials=320, batch=64, progress=False,
                 method=CMAES(sigma=0.3, fitness="accuracy"))
    # measured (this seed): validation accuracy 0.72, 0.94, 1.0, 1.0 after 4, 8, 12, 16 generations
    assert h["val_accuracy"][-1] >= 0.9, h["val_accuracy"]
    assert h["train_loss"][-1] < h["train_loss"][0]


def test_non_finite_members_rank_last_and_a_non_finite_mean_raises(tmp_path):
    task = get_task("rdm", **SHORT)
    model = _model(jax.random.key(0), task)

    def nan_on_the_right(model, trials, key):  # members with h0[0] > 0.05 are "unstable"
        return jnp.where(model.h0[0] > 0.05, jnp.nan, jnp.mean((model.h0 + 1.0) ** 2))

    trained, h = train(model, task, key=jax.random.key(1), epochs=3,
                       method=OpenES(popsize=16, sigma=0.1, optimizer=Adam(0.1), fitness=nan_on_the_right),
                       trainable=_h0_only(model), **QUICK)
    assert np.all(np.isfinite(h["train_loss"])) and h["train_loss"][-1] < h["train_loss"][0]

    def always_nan(model, trials, key):
        return jnp.float32(jnp.nan) + 0 * model.h0[0]

    with pytest.raises(DivergenceError, match="epoch 1, generation 1 of 10"):
        train(model, task, key=jax.random.key(1), epochs=2, method=OpenES(popsize=8, fitness=always_nan),
              trainable=_h0_only(model), **{**QUICK, "run": RunSettings(tmp_path / "run", val_fraction=0.0)})


def test_vmapped_population_fitness_equals_member_by_member():
    """The population is scored by one vmapped call; it must equal scoring each member alone.

    Guards against jaxlib 0.10.2's wrong CPU reductions (jax-ml/jax#39103): without the XLA flag
    that lowrank_rnn sets at import, the delayed-XOR cross-entropy of 8 members (batch 32, 300
    steps) came back as the first three members' losses repeated.
    """
    import equinox as eqx
    from jax.flatten_util import ravel_pytree

    task = get_task("delayed_xor", delay=100.0)  # 300 steps of 1 ms
    model = LowRankRNN(16, 2, 2, 2, key=jax.random.key(0), alpha=task.dt / task.tau, noise=0.5)
    arrays, static = eqx.partition(model, eqx.is_array)
    params, frozen = eqx.partition(arrays, model.trainable())
    flat, unravel = ravel_pytree(params)
    thetas = flat + 0.1 * jax.random.normal(jax.random.key(1), (8, flat.shape[0]))
    trials = task.sample(jax.random.key(2), 32)
    together = jax.jit(es_module._population_fitness(None, task, "hash", unravel, frozen, static))
    f_all = np.asarray(together(thetas, trials, jax.random.key(3)))
    f_each = np.concatenate([np.asarray(together(t[None], trials, jax.random.key(3))) for t in thetas])
    np.testing.assert_allclose(f_all, f_each, rtol=1e-5)
    assert len(np.unique(np.round(f_all, 6))) == 8  # eight different members, eight different losses


def _leaves_equal(a, b):
    return all(np.array_equal(np.asarray(x), np.asarray(y))
               for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


@pytest.mark.parametrize("strategy", ["openai_es", "cma_es"])
def test_resume_after_interruption_equals_uninterrupted_run(tmp_path, monkeypatch, strategy):
    task = get_task("rdm", **SHORT)
    method = get_strategy(strategy, popsize=8, sigma=0.1)
    if strategy != "cma_es":
        method = dataclasses.replace(method, optimizer=Adam(0.05))
    kw = dict(key=jax.random.key(5), epochs=4, n_trials=64, batch=16, progress=False, method=method)
    full, h_full = train(_model(jax.random.key(4), task, noise=SIGMA), task,
                         run=RunSettings(tmp_path / "a", keep_best=True), **kw)
    folder_b = RunSettings(tmp_path / "b", keep_best=True)

    real_submit = ckpt.Writer.submit
    calls = {"n": 0}

    def submit_then_stop(self, *args, **kwargs):
        real_submit(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:  # Ctrl-C right after epoch 2 handed its checkpoint to the writer
            raise KeyboardInterrupt

    monkeypatch.setattr(ckpt.Writer, "submit", submit_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train(_model(jax.random.key(4), task, noise=SIGMA), task, run=folder_b, **kw)
    monkeypatch.setattr(ckpt.Writer, "submit", real_submit)
    assert json.loads((tmp_path / "b" / "history.json").read_text())["epoch"] == [1, 2]
    resumed, h_resumed = train(_model(jax.random.key(4), task, noise=SIGMA), task, run=folder_b, **kw)
    assert _leaves_equal(resumed, full)
    for f in ("epoch", "train_loss", "val_loss", "val_accuracy", "generation", "population_fitness", "sigma"):
        assert h_resumed[f] == h_full[f], f
    assert _leaves_equal(load(tmp_path / "b" / "model.npz"), full)
    # a different strategy setting is another run: refused, not silently mixed
    with pytest.raises(RunFolderError, match="different run"):
        train(_model(jax.random.key(4), task, noise=SIGMA), task, run=folder_b,
              **{**kw, "method": dataclasses.replace(method, sigma=0.2)})


def test_command_line_run_folder_is_read_by_evaluate(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--task", "rdm", "--method", "es", "--strategy", "pgpe", "--popsize", "8",
                 "--sigma", "0.1", "--hidden", "16", "--epochs", "1", "--out", str(out), "--quiet", "--no-cache"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["method"] == "es" and config["training"]["strategy"]["name"] == "pgpe"
    assert config["training"]["strategy"]["popsize"] == 8 and config["training"]["epochs"] == 1
    history = json.loads((out / "history.json").read_text())
    assert history["generation"] == [25]  # 800 training trials / batch 32
    assert main(["evaluate", str(out), "--trials", "200", "--json", "--no-figures", "--no-cache"]) == 0
    summary = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert summary["model"] == "LowRankRNN" and 0.0 <= summary["accuracy"] <= 1.0
    assert np.isfinite(summary["loss"]) and summary["epochs"] == 1
    assert isinstance(load(out / "model.npz"), LowRankRNN)


def test_bad_options_raise_before_compiling(monkeypatch):
    def must_not_compile(*args, **kwargs):
        raise AssertionError("compiled before rejecting the arguments")

    monkeypatch.setattr(es_module, "_es_init", must_not_compile)
    monkeypatch.setattr(es_module, "_es_epoch", must_not_compile)
    task = get_task("rdm", **SHORT)
    model = _model(jax.random.key(0), task)
    kw = dict(key=jax.random.key(1), epochs=1, progress=False)
    with pytest.raises(ArgumentTypeError, match=r"method must be BPTT\(...\), OpenES\(...\), PGPE"):
        train(model, task, method="es", **kw)
    with pytest.raises(ArgumentError, match="strategy must be one of openai_es, cma_es, pgpe, got 'cmaes'"):
        get_strategy("cmaes")
    with pytest.raises(ArgumentTypeError, match="strategy must be a name"):
        get_strategy(optax.adam(1e-3))
    with pytest.raises(ArgumentError, match="popsize must be even"):
        OpenES(popsize=9)
    with pytest.raises(ArgumentError, match="popsize must be an integer >= 2"):
        CMAES(popsize=1)
    with pytest.raises(ArgumentTypeError, match="popsize must be an integer"):
        OpenES(popsize=8.0)
    with pytest.raises(ArgumentError, match="sigma must be > 0"):
        PGPE(sigma=0.0)
    with pytest.raises(ArgumentError, match="sigma must be finite"):
        OpenES(sigma=float("nan"))
    with pytest.raises(ArgumentError, match="sigma_decay must be <= 1"):
        OpenES(sigma_decay=1.5)
    with pytest.raises(ArgumentError, match="sigma_max_change must be > 0"):
        PGPE(sigma_max_change=0.0)
    with pytest.raises(ArgumentError, match="fitness must be 'loss', 'accuracy'"):
        OpenES(fitness="reward")
    with pytest.raises(ArgumentTypeError, match="optimizer must be"):
        PGPE(optimizer="adam")
    with pytest.raises(TypeError, match="optimizer"):  # CMA-ES moves its mean by recombination: no optimizer
        CMAES(optimizer=Adam())
    big = LowRankRNN(2600, 1, 1, 1, key=jax.random.key(0), alpha=0.2)
    with pytest.raises(ArgumentError, match=r"D = 5202 parameters \(> 5000\)"):
        train(big, task, method=CMAES(), **kw)
    with pytest.raises(ArgumentError, match="batch must be <="):  # train's own checks still apply
        train(model, task, method=OpenES(), batch=5000, **kw)
    assert get_strategy(PGPE(sigma=0.3), popsize=4) == PGPE(popsize=4, sigma=0.3)


def test_command_line_rejects_bad_es_options(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--task", "rdm", "--method", "es", "--strategy", "nes", "--out", "x"])
    assert "invalid choice" in capsys.readouterr().err
    for argv, msg in ((["--method", "es", "--popsize", "7"], "popsize must be even"),
                      (["--method", "es", "--sigma", "-1"], "sigma must be > 0"),
                      (["--strategy", "pgpe"], "--strategy is an option of --method es")):
        with pytest.raises((SystemExit, ValueError)) as err:
            main(["train", "--task", "rdm", "--out", "x", *argv])
        text = str(err.value) + capsys.readouterr().err
        assert msg in text, text


@pytest.mark.parametrize("strategy", [OpenES(popsize=4, sigma=0.1), PGPE(popsize=4, sigma=0.1), CMAES(sigma=0.1)],
                         ids=["openai_es", "pgpe", "cma_es"])
def test_flat_search_state_keeps_its_types_across_a_generation(strategy):
    """A step compiled on flat_search's initial state serves every later generation: the state's arrays
    keep their shapes, dtypes and weak typing (the strategies' weakly typed initial scalars made the
    Morris-Lecar and neural-ODE ES steps compile twice)."""
    search = es_module.flat_search(strategy, 3)
    state = search.init(jax.random.key(0), jnp.ones(3))
    step = jax.jit(lambda s, k: search.generation(s, k, lambda thetas: jnp.sum(thetas ** 2, axis=1))[0])
    new = step(state, jax.random.key(1))

    def avals(tree):
        return [(x.shape, x.dtype, x.aval.weak_type) for x in jax.tree_util.tree_leaves(tree)]

    assert avals(new) == avals(state)
