"""Training: RDM is learnt, runs are deterministic and resume exactly, divergence is caught,
early stop and keep-best, the run folder, the command line, and errors before compilation."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lowrank_rnn.training._checkpoint as ckpt
from lowrank_rnn import ArgumentError, ArgumentTypeError, DivergenceError, RunFolderError, load
from lowrank_rnn.cli import main
from lowrank_rnn.models import FullRankRNN, LowRankRNN, MixtureLowRankRNN, noise_from_published
from lowrank_rnn.tasks import get_task
from lowrank_rnn.training import BPTT, RECIPES, Adam, RunSettings, train, traced_optimizer, traced_transformation
from lowrank_rnn.training._evaluate import evaluate
from lowrank_rnn.training._setup import epoch_streams

SIGMA = noise_from_published(0.05, 0.2)  # the published network noise, in this library's convention


def _small(key, task, N=32, **kw):
    return LowRankRNN(N, 1, task.n_inputs, task.n_outputs, key=key, alpha=task.dt / task.tau, noise=SIGMA, **kw)


# a short RDM task keeps the tiny runs below cheap; the accuracy test uses the published one
SHORT = dict(fixation=40.0, stimulus=200.0, delay=40.0, decision=20.0)
TINY = dict(n_trials=96, batch=16, progress=False)
FAST = BPTT(optimizer=Adam(2e-2))


def test_rdm_reaches_high_accuracy(tmp_path):
    """The published RDM task (input noise 0.1, network noise 0.05 theirs), a small network."""
    task = get_task("rdm")
    model = _small(jax.random.key(0), task, N=128)
    model, history = train(model, task, key=jax.random.key(1), epochs=6, batch=32, progress=False,
                           run=RunSettings(out=tmp_path / "run"))
    assert history["val_accuracy"][-1] >= 0.95
    assert history["val_loss"][-1] < history["val_loss"][0]
    summary = evaluate(tmp_path / "run", n_trials=400, figures=False)  # fresh trials, noise on
    assert summary["accuracy"] >= 0.95 and summary["train_seconds"] > 0


def _leaves_equal(a, b):
    return all(np.array_equal(np.asarray(x), np.asarray(y))
               for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path, monkeypatch):
    task = get_task("rdm", **SHORT)
    kw = dict(key=jax.random.key(5), epochs=4, **TINY)
    full, h_full = train(_small(jax.random.key(4), task), task, run=RunSettings(tmp_path / "a", keep_best=True), **kw)

    real_submit = ckpt.Writer.submit
    calls = {"n": 0}

    def submit_then_stop(self, *args, **kwargs):
        real_submit(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:  # Ctrl-C right after epoch 2 handed its checkpoint to the writer
            raise KeyboardInterrupt

    monkeypatch.setattr(ckpt.Writer, "submit", submit_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train(_small(jax.random.key(4), task), task, run=RunSettings(tmp_path / "b", keep_best=True), **kw)
    monkeypatch.setattr(ckpt.Writer, "submit", real_submit)
    assert json.loads((tmp_path / "b" / "history.json").read_text())["epoch"] == [1, 2]
    resumed, h_resumed = train(_small(jax.random.key(4), task), task, run=RunSettings(tmp_path / "b", keep_best=True),
                               **kw)
    assert _leaves_equal(resumed, full)
    for f in ("epoch", "train_loss", "val_loss", "val_accuracy"):
        assert h_resumed[f] == h_full[f]
    assert _leaves_equal(load(tmp_path / "b" / "model.npz"), full)
    # a finished run resumed with more epochs continues it
    longer, h_longer = train(_small(jax.random.key(4), task), task, run=RunSettings(tmp_path / "b", keep_best=True),
                             **{**kw, "epochs": 5})
    assert h_longer["epoch"] == [1, 2, 3, 4, 5] and h_longer["val_loss"][:4] == h_full["val_loss"]


def test_deterministic_for_a_key_and_keep_best(tmp_path):
    task = get_task("rdm", **SHORT)
    a, ha = train(_small(jax.random.key(0), task), task, key=jax.random.key(1), epochs=3, method=FAST, **TINY)
    b, hb = train(_small(jax.random.key(0), task), task, key=jax.random.key(1), epochs=3, method=FAST, **TINY)
    c, _ = train(_small(jax.random.key(0), task), task, key=jax.random.key(2), epochs=3, method=FAST, **TINY)
    assert _leaves_equal(a, b) and ha["val_loss"] == hb["val_loss"]
    assert not _leaves_equal(a, c)
    best, hbest = train(_small(jax.random.key(0), task), task, key=jax.random.key(1), epochs=3, method=FAST,
                        run=RunSettings(keep_best=True), **TINY)
    k = int(np.argmin(hbest["val_loss"])) + 1  # the best epoch, 1-based
    upto, _ = train(_small(jax.random.key(0), task), task, key=jax.random.key(1), epochs=k, method=FAST, **TINY)
    assert _leaves_equal(best, upto)


def test_early_stop(tmp_path):
    task = get_task("rdm", **SHORT)
    _, h = train(_small(jax.random.key(0), task), task, key=jax.random.key(1), epochs=5, early_stop=10.0,
                 **TINY)  # the first epoch's loss is below 10: stop there
    assert h["epoch"] == [1]


def test_divergence_stops_with_last_good_checkpoint(tmp_path):
    """An optimizer whose 13th update is NaN: the first minibatch of epoch 4 (77 training trials
    make 4 minibatches of 16)."""
    def poison_after(n):
        def init(params):
            return jnp.zeros((), jnp.int32)

        def update(updates, count, params=None):
            bad = jnp.where(count >= n, jnp.nan, 1.0)
            return jax.tree_util.tree_map(lambda u: u * bad, updates), count + 1
        return optax.GradientTransformation(init, update)

    task = get_task("rdm", **SHORT)
    opt = optax.chain(optax.adam(1e-2), poison_after(12))
    with pytest.raises(DivergenceError, match="epoch 4, minibatch 1 of 4") as err:
        train(_small(jax.random.key(0), task), task, key=jax.random.key(1), epochs=5, method=BPTT(optimizer=opt),
              run=RunSettings(tmp_path), **TINY)
    assert err.value.time == 4
    saved = load(tmp_path / "model.npz")  # the last good epoch, finite
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree_util.tree_leaves(saved))
    assert json.loads((tmp_path / "history.json").read_text())["epoch"] == [1, 2, 3]


def test_run_folder(tmp_path):
    task = get_task("rdm", **SHORT)
    model, history = train(_small(jax.random.key(0), task), task, key=jax.random.key(1), epochs=2,
                           method=BPTT(optimizer=Adam(1e-2, clip=1.0)), run=RunSettings(tmp_path), **TINY)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["task"]["name"] == "rdm" and config["model"]["class"] == "LowRankRNN"
    assert config["model"]["N"] == 32 and config["training"]["clip"] == 1.0 and config["training"]["epochs"] == 2
    assert config["training"]["trainable"]["m"] is True and config["training"]["trainable"]["input_vectors"] is False
    assert json.loads((tmp_path / "history.json").read_text()) == history
    rows = (tmp_path / "history.csv").read_text().strip().split("\n")
    assert rows[0] == "epoch,train_loss,val_loss,val_accuracy,wall_time" and len(rows) == 3
    assert float((tmp_path / "train_seconds").read_text()) >= history["wall_time"][-1] > 0
    assert _leaves_equal(load(tmp_path / "model.npz"), model)


def test_other_models_train(tmp_path):
    """The generic path (automatic differentiation of the step) for dense and mixture networks."""
    task = get_task("rdm", **SHORT)
    for model in (FullRankRNN(32, 1, 1, key=jax.random.key(0), alpha=0.2, noise=SIGMA),
                  MixtureLowRankRNN(32, 1, 1, 1, key=jax.random.key(0), n_populations=2, noise=SIGMA),
                  _small(jax.random.key(0), task, g=0.5)):
        trained, h = train(model, task, key=jax.random.key(1), epochs=3, **TINY)
        assert type(trained) is type(model) and np.isfinite(h["val_loss"][-1])
        assert h["train_loss"][-1] < h["train_loss"][0]


def test_bad_arguments_fail_before_compilation(tmp_path):
    task = get_task("rdm", **SHORT)
    model = _small(jax.random.key(0), task)
    key = jax.random.key(0)
    with pytest.raises(ArgumentError, match="alpha"):
        train(LowRankRNN(16, 1, 1, 1, key=key, alpha=0.1), task, key=key, epochs=1)
    with pytest.raises(ArgumentError, match="inputs"):
        train(LowRankRNN(16, 1, 2, 1, key=key, alpha=0.2), task, key=key, epochs=1)
    with pytest.raises(ArgumentError, match="epochs must be an integer >= 1"):
        train(model, task, key=key, epochs=0)
    with pytest.raises(ArgumentError, match="lr must be > 0"):
        Adam(0.0)
    with pytest.raises(ArgumentError, match="clip must be > 0"):
        Adam(1e-2, clip=-1.0)
    with pytest.raises(ArgumentError, match="batch must be <="):
        train(model, task, key=key, epochs=1, batch=900)
    with pytest.raises(ArgumentError, match="val_fraction"):
        RunSettings(val_fraction=1.0)
    with pytest.raises(ArgumentError, match="out must name a folder"):
        RunSettings(out="")
    with pytest.raises(ArgumentTypeError, match="key"):
        train(model, task, key=0, epochs=1)
    with pytest.raises(ArgumentError, match="noise_rng"):
        train(model, task, key=key, epochs=1, noise_rng="mersenne")
    # methods are objects; the optimizer an Adam or any optax transformation
    with pytest.raises(ArgumentTypeError, match=r"method must be BPTT\(...\), OpenES"):
        train(model, task, key=key, epochs=1, method="bptt")
    with pytest.raises(ArgumentTypeError, match="optimizer must be lowrank_rnn.training.Adam"):
        BPTT(optimizer=("adam", 1e-2, None))
    with pytest.raises(ArgumentTypeError, match="run must be a lowrank_rnn.training.RunSettings"):
        train(model, task, key=key, epochs=1, run=str(tmp_path))
    with pytest.raises(TypeError, match="lr"):  # the old keyword arguments are gone
        train(model, task, key=key, epochs=1, lr=1e-2)
    train(model, task, key=key, epochs=1, run=RunSettings(tmp_path), **TINY)
    with pytest.raises(RunFolderError, match="different run.*training.lr"):
        train(model, task, key=key, epochs=1, method=BPTT(optimizer=Adam(5e-3)), run=RunSettings(tmp_path), **TINY)


def test_any_optax_optimizer():
    """A custom optax transformation trains on the parameter tree; Adam equals its optax chain."""
    task = get_task("rdm", **SHORT)
    kw = dict(key=jax.random.key(1), epochs=2, **TINY)
    _, h_sgd = train(_small(jax.random.key(0), task), task, method=BPTT(optimizer=optax.sgd(0.1)), **kw)
    assert np.all(np.isfinite(h_sgd["train_loss"]))
    a, h_a = train(_small(jax.random.key(0), task), task, method=BPTT(optimizer=Adam(2e-2, clip=0.5)), **kw)
    chain = optax.chain(optax.clip_by_global_norm(0.5), optax.adam(2e-2))
    b, h_b = train(_small(jax.random.key(0), task), task, method=BPTT(optimizer=chain), **kw)
    # the same update on a flat vector and on the tree: equal up to float32 summation order
    np.testing.assert_allclose(h_a["train_loss"], h_b["train_loss"], rtol=1e-5)



def test_a_new_adam_learning_rate_or_clip_does_not_compile_the_epoch_again(caplog):
    """Adam's lr and clip are arguments of the compiled epoch, not static: a second run that differs
    only in them compiles nothing (they were static, and each new Adam compiled the epoch again)."""
    import logging

    task = get_task("rdm", **SHORT)
    kw = dict(key=jax.random.key(1), epochs=1, n_trials=40, batch=16, progress=False)
    a, _ = train(_small(jax.random.key(0), task, N=24), task, method=BPTT(optimizer=Adam(2e-2, clip=1.0)), **kw)
    jax.config.update("jax_log_compiles", True)
    try:
        with caplog.at_level(logging.WARNING):
            b, _ = train(_small(jax.random.key(0), task, N=24), task, method=BPTT(optimizer=Adam(7e-3, clip=0.3)),
                         **kw)
    finally:
        jax.config.update("jax_log_compiles", False)
    compiled = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Compiling jit(")]
    assert not [m for m in compiled if "jit(_epoch)" in m or "jit(_opt_init)" in m], compiled
    assert not np.array_equal(np.asarray(a.m), np.asarray(b.m))  # the new learning rate was used

def test_recipes_name_known_tasks():
    from lowrank_rnn.tasks import TASKS

    assert set(RECIPES) == set(TASKS)
    assert RECIPES["rdm"].lr == 5e-3 and RECIPES["rdm"].epochs == 20 and RECIPES["rdm"].hidden == 512
    assert RECIPES["mante"].clip == 0.1 and RECIPES["mante"].early_stop == 0.01 and RECIPES["mante"].train_inputs
    # DMS as the published dms_fig1.py: pre-training and every stage stopped at loss 0.05, best epoch kept,
    # then the delay range widened to 1000 and 4000 ms
    dms = RECIPES["dms"]
    assert dms.early_stop == 0.05 and dms.keep_best and dms.pretrain["early_stop"] == 0.05 and dms.pretrain["keep_best"]
    assert [(s["task_overrides"]["delay_max"], s["lr"], s["clip"], s["epochs"]) for s in dms.stages] == [
        (1000.0, 1e-3, 1.0, 50), (4000.0, 1e-4, None, 400)]
    assert all(not r.stages and not r.keep_best for name, r in RECIPES.items() if name != "dms")


@pytest.mark.slow
def test_staged_recipe_trains_every_stage(tmp_path, monkeypatch):
    """A recipe with stages: pre-training, then each stage in its own run folder, the last one in ``out``
    with the widest delays (about a minute: five compilations)."""
    from lowrank_rnn.training import _recipes, train_recipe

    rec = RECIPES["dms"]
    tiny = dataclasses.replace(rec, pretrain={**rec.pretrain, "epochs": 1},
                               stages=tuple({**s, "epochs": 1} for s in rec.stages))
    monkeypatch.setitem(_recipes.RECIPES, "dms", tiny)
    run = tmp_path / "run"
    model, history = train_recipe("dms", out=run, hidden=16, epochs=1, n_trials=50, progress=False)
    assert model.N == 16 and len(history["train_loss"]) == 1
    for folder in (run / "pretrain", run / "stage1", run / "stage2", run):
        assert (folder / "model.npz").exists(), folder
    assert json.loads((run / "stage1" / "config.json").read_text())["task"]["delay_max"] == 700.0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["task"]["delay_max"] == 4000.0 and cfg["training"]["lr"] == 1e-4 and cfg["training"]["keep_best"]


def test_cli_train_and_evaluate(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LOWRANK_RNN_JAX_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "rdm"
    assert main(["train", "--task", "rdm", "--hidden", "32", "--epochs", "2", "--lr", "1e-2", "--out", str(run),
                 "--quiet", "--no-cache"]) == 0
    assert "trained rdm" in capsys.readouterr().out
    assert main(["evaluate", str(run), "--json", "--trials", "200", "--no-cache"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"accuracy", "loss", "train_seconds"} <= set(summary)
    assert 0.0 <= summary["accuracy"] <= 1.0 and summary["train_seconds"] > 0
    assert (run / "psychometric.png").read_bytes()[:4] == b"\x89PNG" and (run / "latents.png").exists()


@pytest.mark.parametrize("args, message", [
    (["--task", "nosuch"], "unknown task 'nosuch'"),
    (["--task", "rdm", "--rank", "0"], "rank must be an integer >= 1"),
    (["--task", "rdm", "--rank", "4", "--hidden", "3"], "hidden must be >= rank"),
    (["--task", "rdm", "--noise", "-0.1"], "noise must be >= 0"),
])
def test_cli_bad_arguments(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as err:
        main(["train", *args, "--out", str(tmp_path / "x"), "--no-cache"])
    assert err.value.code == 2
    lines = capsys.readouterr().err.strip().split("\n")
    assert len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "x").exists()  # nothing was written (or compiled)


def test_epoch_streams_shuffle_and_seed_per_epoch():
    """The host-side streams of a training epoch: a permutation of the training trials, new each
    epoch and each key, the same for the same key and epoch (so a resumed run repeats)."""
    seed = np.asarray(jax.random.key_data(jax.random.key(3)))
    o0, w0 = epoch_streams(seed, 0, n_train=800, n_batches=25, batch=32)
    assert o0.shape == (25, 32) and o0.dtype == np.int32 and w0.shape == (26, 2) and w0.dtype == np.uint32
    assert np.array_equal(np.sort(o0.ravel()), np.arange(800))  # 800 = 25 x 32: every trial once
    o0b, w0b = epoch_streams(seed, 0, n_train=800, n_batches=25, batch=32)
    assert np.array_equal(o0, o0b) and np.array_equal(w0, w0b)
    o1, w1 = epoch_streams(seed, 1, n_train=800, n_batches=25, batch=32)
    other = np.asarray(jax.random.key_data(jax.random.key(4)))
    o2, w2 = epoch_streams(other, 0, n_train=800, n_batches=25, batch=32)
    for o, w in ((o1, w1), (o2, w2)):
        assert np.mean(o == o0) < 0.05 and len(np.intersect1d(w.ravel(), w0.ravel())) == 0
    # a shuffle, not a fixed pattern: the position of each trial is spread over the epoch
    ranks = np.stack([np.argsort(epoch_streams(seed, e, n_train=800, n_batches=25, batch=32)[0].ravel())
                      for e in range(40)])
    assert abs(np.corrcoef(ranks[:-1].ravel(), ranks[1:].ravel())[0, 1]) < 5 / np.sqrt(ranks[1:].size)


def test_a_compiled_step_reads_adam_as_arrays_and_any_optax_transformation_as_given():
    """Adam's learning rate and clip enter a compiled training step (BPTT epoch, Morris–Lecar and
    neural-ODE BP steps) as an array (one compilation for every
    Adam of the same form), with the updates of Adam's own transformation; any other optax
    transformation (e.g. hazelden2023's multi_transform) is used as it is."""
    tx = optax.sgd(0.1)
    form, hyper = traced_optimizer(tx, jnp.float32)
    assert form is tx and hyper is None and traced_transformation(form, hyper) is tx
    params, grads = {"w": jnp.array([1.0, -2.0])}, {"w": jnp.array([3.0, 40.0])}
    for adam in (Adam(0.05), Adam(0.05, clip=0.5)):
        form, hyper = traced_optimizer(adam, jnp.float32)
        assert form == traced_optimizer(dataclasses.replace(adam, lr=0.3), jnp.float32)[0]
        ours, theirs = traced_transformation(form, hyper), adam.transformation()
        u_ours, _ = ours.update(grads, ours.init(params), params)
        u_theirs, _ = theirs.update(grads, theirs.init(params), params)
        np.testing.assert_array_equal(u_ours["w"], u_theirs["w"])
