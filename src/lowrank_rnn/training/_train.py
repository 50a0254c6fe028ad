"""Backpropagation through time: one compiled epoch, checkpoints, resume, divergence detection."""

from __future__ import annotations

import math
import time
from functools import partial
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from .._checks import positive_int, real_scalar
from .._errors import ArgumentError, ArgumentTypeError
from ..models._base import AbstractRNN, run_trials
from ..models._hashnoise import NoiseSource, host_words
from ..models._savers import hyperparameters
from . import _loop
from ._es import check_es_options, train_es

HISTORY_FIELDS = ("epoch", "train_loss", "val_loss", "val_accuracy", "wall_time")


def _check_task(task) -> None:
    for attr in ("sample", "loss", "accuracy", "n_inputs", "n_outputs", "dt", "tau"):
        if not hasattr(task, attr):
            raise ArgumentTypeError(f"task must be a lowrank_rnn task (get_task(...)); it has no {attr!r}")


def _optional_positive(name: str, value) -> float | None:
    return None if value is None else real_scalar(name, value, low=0.0, low_open=True)


def _filter_summary(filt) -> dict[str, bool]:
    """Return {field: trained?} for the top-level array fields of a filter pytree."""
    out = {}
    for name in getattr(filt, "__dataclass_fields__", {}):
        v = getattr(filt, name)
        if isinstance(v, bool):
            out[name] = v
    return out


def _all_finite(tree) -> jax.Array:
    """True when every entry of every array in ``tree`` is finite (one fused reduction per leaf)."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def _optimizer(spec) -> optax.GradientTransformation:
    """Return the optimizer described by ``spec``: ("adam", lr, clip) or ("custom", transformation)."""
    if spec[0] == "custom":
        return spec[1]
    _, lr, clip = spec
    return optax.adam(lr) if clip is None else optax.chain(optax.clip_by_global_norm(clip), optax.adam(lr))


def _opt_space(params, opt_spec):
    """Return ``(p, to_tree, to_opt)``: the parameters as the optimizer sees them and the two maps.

    The built-in ``clip + adam`` is element-wise apart from the global norm, so it runs on one
    flat vector (``ravel_pytree``): the same updates, but one fused kernel per stage instead of one
    per parameter array in the compiled epoch (fewer kernels to compile). A custom optimizer sees
    the parameter tree, as it may depend on its structure.
    """
    if opt_spec[0] == "adam":
        vec, to_tree = ravel_pytree(params)
        return vec, to_tree, lambda tree: ravel_pytree(tree)[0]
    return params, (lambda p: p), (lambda tree: tree)


# XLA's CPU code generator prefers 256-bit vectors by default; 512-bit ones make the epoch's
# element-wise kernels (the noise generator above all) 15-20% cheaper where AVX-512 exists (interleaved
# A/B of the RDM and Mante epochs), and are ignored where it does not. Compile time is unchanged.
_EPOCH_COMPILER_OPTIONS = {"xla_cpu_prefer_vector_width": 512}


@partial(jax.jit, static_argnames=("static", "opt_spec", "task", "n_batches", "batch", "noise_rng", "rule"),
         compiler_options=_EPOCH_COMPILER_OPTIONS)
def _epoch(params, frozen, opt_state, train_set, val_set, order, words, *, static, opt_spec, task, n_batches,
           batch, noise_rng, rule=None):
    """One epoch, compiled: every minibatch update in one ``lax.scan``, then the validation pass.

    Everything that varies between runs of the same shape (parameters, fixed arrays, trials, the
    epoch's minibatch ``order`` and noise seeds ``words``, see :func:`_epoch_streams`) is an
    argument, so one compilation serves every seed and epoch, and JAX's persistent cache can reuse
    it across processes.
    """
    optimizer = _optimizer(opt_spec)

    def loss_fn(params, trials, key):
        model = eqx.combine(params, frozen, static)
        if rule is not None:  # a local learning rule: same forward pass, the rule's backward pass
            from ..learning import rule_outputs

            outputs = rule_outputs(model, trials.inputs, rule, key=key, noise_rng=noise_rng)
        else:
            outputs = run_trials(model, trials.inputs, key=key, noise_rng=noise_rng)
        return task.loss(outputs, trials)

    grad_fn = jax.value_and_grad(loss_fn)
    keys = jax.random.wrap_key_data(words, impl="threefry2x32")  # no Threefry evaluation: a reinterpretation
    params, to_tree, to_opt = _opt_space(params, opt_spec)

    def update(carry, inp):
        params, opt_state, bad = carry
        i, idx, k = inp
        loss, grads = grad_fn(to_tree(params), train_set[idx], k)
        grads = to_opt(grads)
        updates, new_state = optimizer.update(grads, opt_state, params)
        new_params = eqx.apply_updates(params, updates)
        # a non-finite loss, gradient or updated parameter stops the updates: the last good state is kept
        ok = (bad < 0) & jnp.isfinite(loss) & _all_finite(grads) & _all_finite(new_params)
        keep = lambda new, old: jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, old)  # noqa: E731
        bad = jnp.where((bad < 0) & ~ok, i, bad)
        return (keep(new_params, params), keep(new_state, opt_state), bad), loss

    steps = (jnp.arange(n_batches), order, keys[:n_batches])
    (params, opt_state, bad), losses = jax.lax.scan(update, (params, opt_state, jnp.int32(-1)), steps)
    params = to_tree(params)
    good = jnp.arange(n_batches) < jnp.where(bad < 0, n_batches, bad)
    train_loss = jnp.sum(jnp.where(good, losses, 0.0)) / jnp.maximum(jnp.sum(good), 1)
    stats = {"train_loss": train_loss, "bad_batch": bad}
    if val_set.inputs.shape[0]:
        model = eqx.combine(params, frozen, static)
        val_out = run_trials(model, val_set.inputs, key=keys[n_batches], noise_rng=noise_rng)
        stats["val_loss"] = task.loss(val_out, val_set)
        stats["val_accuracy"] = task.accuracy(val_out, val_set)
    return params, opt_state, stats


def _epoch_streams(seed: np.ndarray, epoch: int, *, n_train: int, n_batches: int, batch: int):
    """Return an epoch's minibatch order ``(n_batches, batch)`` (int32) and noise seeds
    ``(n_batches + 1, 2)`` (uint32; the last row for the validation pass), from the run key's
    data words ``seed`` and the epoch number.

    Computed by NumPy on the host with the integer hash of :func:`~lowrank_rnn.training.hash_normal`
    (the order: the training trials sorted by a keyed hash of their index), so the compiled epoch
    holds no random-number code of its own (Threefry splits and the sorting rounds of
    ``jax.random.permutation`` were a quarter of its compile time). Same key and epoch, same
    streams, so a resumed run repeats an uninterrupted one.
    """
    rank = host_words(seed, 1, epoch, np.arange(n_train, dtype=np.uint32))
    order = np.argsort(rank, kind="stable")[: n_batches * batch].reshape(n_batches, batch).astype(np.int32)
    b = np.arange(n_batches + 1, dtype=np.uint32)
    words = np.stack([host_words(seed, 2, epoch, b), host_words(seed, 3, epoch, b)], axis=1)
    return order, words


@partial(jax.jit, static_argnames=("task", "n", "n_train"))
def _trials(key, *, task, n, n_train):
    """Draw the run's trials from the data half of ``key``; return (training set, validation set)."""
    trials = task.sample(jax.random.split(key)[0], n)
    return trials[:n_train], trials[n_train:]


@partial(jax.jit, static_argnames=("opt_spec",))
def _opt_init(params, *, opt_spec):
    return _optimizer(opt_spec).init(_opt_space(params, opt_spec)[0])


def train(model: AbstractRNN, task, *, key: jax.Array, epochs: int, lr: float = 1e-2, batch: int = 32,
          n_trials: int = 1000, val_fraction: float = 0.2, clip: float | None = None,
          early_stop: float | None = None, keep_best: bool = False,
          optimizer: optax.GradientTransformation | None = None, trainable: Any = None,
          out: str | Path | None = None, resume: bool = True, progress: bool = True,
          noise_rng: str = "hash", method: str = "bptt", strategy: Any = None, popsize: int | None = None,
          sigma: float | None = None, fitness: Any = None,
          credit_assignment: Any = None) -> tuple[AbstractRNN, dict[str, list]]:
    """Return the trained model and its history, after backpropagation through time on a task.

    ``n_trials`` trials are drawn once from ``key`` (``task.sample``); the last ``val_fraction`` of
    them are held out for validation, as in the published recipe (1000 trials, 20 % held out;
    Dubreuil, Valente et al. 2022, Nat. Neurosci.). Each epoch shuffles the training trials into
    ``n_train // batch`` minibatches and takes one optimizer step on each, minimising the task's
    loss (``task.loss``, the masked MSE) of the noisy network (:func:`~lowrank_rnn.models.run_trials`),
    then measures the loss and accuracy (``task.accuracy``) on the validation trials, with noise.
    The whole epoch, minibatch loop included, is one compiled function (a ``lax.scan`` of updates
    and the validation pass); nothing runs in Python per step or per minibatch. Same key, same run.

    Parameters
    ----------
    model: a :class:`~lowrank_rnn.models.LowRankRNN`, ``FullRankRNN`` or ``MixtureLowRankRNN``
        whose ``alpha`` equals ``task.dt / task.tau`` and whose inputs and outputs match the task.
    task: a task from :func:`lowrank_rnn.tasks.get_task`.
    key: ``jax.random`` key: trials, split, shuffling and network noise all derive from it.
    epochs: the maximum number of epochs (>= 1).
    lr: Adam's learning rate (ignored when ``optimizer`` is given).
    batch: trials per minibatch (<= the number of training trials).
    n_trials, val_fraction: trials drawn, and the fraction held out (``0 <= val_fraction < 1``;
        0 leaves no validation set and the history's validation columns NaN).
    clip: clip the global gradient norm to this value before Adam (None: no clipping).
    early_stop: stop after the first epoch whose mean training loss is below this value.
    keep_best: return (and save) the parameters of the epoch with the lowest validation loss.
    optimizer: an ``optax`` transformation replacing ``clip`` + ``adam(lr)``.
    trainable: a filter pytree (``model.trainable(...)``) of the arrays to train; by default
        ``model.trainable()`` (the published choice: m, n and the input and readout scales).
    out: a run folder: every epoch writes ``model.npz`` (loadable with :func:`lowrank_rnn.load`),
        ``checkpoint.npz`` (parameters, optimizer state, epoch, history), ``history.json`` and
        ``history.csv``, all atomically; ``config.json`` holds the task, model and training
        settings and ``train_seconds`` the wall time of the training loop (compilation included).
    resume: continue from ``out/checkpoint.npz`` when it exists (same task, model, key and
        settings; ``epochs`` may grow). The result equals that of an uninterrupted run.
    progress: show a ``tqdm`` bar with the losses and the validation accuracy.
    noise_rng: ``"hash"`` (default: :func:`~lowrank_rnn.training.hash_normal`, a fast
        counter-based generator) or ``"threefry"`` (``jax.random.normal``) for the network noise.
    method: ``"bptt"`` (default) or ``"es"``: evolution strategies (:mod:`lowrank_rnn.training._es`;
        one generation per minibatch, the population scored with ``jax.vmap``; ``lr``, ``clip`` and
        ``optimizer`` drive the mean of openai_es and pgpe).
    strategy, popsize, sigma, fitness: options of ``method="es"``: ``"openai_es"`` (default),
        ``"cma_es"``, ``"pgpe"`` or an ``OpenES`` / ``CMAES`` / ``PGPE`` object; its population size and
        perturbation scale; and what it minimises: ``"loss"`` (default, the task loss), ``"accuracy"``
        (the error rate ``1 - accuracy``) or any ``f(model, trials, key) -> scalar``, differentiable
        or not. The history then also holds ``generation``, ``population_fitness`` and ``sigma``.
    credit_assignment: None (exact gradients) or a learning rule for a
        :class:`~lowrank_rnn.learning.RateRNN`: ``"bptt"``, ``"tbptt(k)"``, ``"eprop"``, ``"rflo"``,
        ``"mdgl"``, ``"mdgl_celltype"``, ``"modprop"``, ``"feedback_alignment"`` or a rule object
        (:func:`lowrank_rnn.learning.credit_assignment`); each update then follows the rule.

    Returns
    -------
    (model, history): history maps ``epoch``, ``train_loss``, ``val_loss``, ``val_accuracy`` and
    ``wall_time`` (seconds since the start of training) to lists, one entry per epoch.

    Raises
    ------
    DivergenceError: a loss, gradient or updated parameter became non-finite. The message gives the epoch and the
        minibatch; ``out/`` keeps the checkpoint of the last completed epoch.

    Example
    -------
    >>> import jax
    >>> from lowrank_rnn.models import LowRankRNN, noise_from_published
    >>> from lowrank_rnn.tasks import get_task
    >>> task = get_task("rdm")
    >>> model = LowRankRNN(128, 1, 1, 1, key=jax.random.key(0), alpha=task.dt / task.tau,
    ...                    noise=noise_from_published(0.05, 0.2))
    >>> model, history = train(model, task, key=jax.random.key(1), epochs=2, lr=5e-3, progress=False)
    >>> len(history["val_accuracy"])
    2
    """
    # ---------------------------------------------------------------- checks, before any compilation
    es_strategy = check_es_options(method, strategy=strategy, popsize=popsize, sigma=sigma, fitness=fitness,
                                   optimizer=optimizer, clip=clip)
    if not isinstance(model, AbstractRNN):
        raise ArgumentTypeError(f"model must be a LowRankRNN, FullRankRNN or MixtureLowRankRNN, got {type(model).__name__}")
    rule = None
    if credit_assignment is not None:
        from ..learning import RateRNN
        from ..learning import credit_assignment as parse_rule

        rule = parse_rule(credit_assignment)
        if not isinstance(model, RateRNN):
            raise ArgumentError(f"credit_assignment needs a lowrank_rnn.learning.RateRNN, got a {type(model).__name__}")
        if es_strategy is not None:
            raise ArgumentError("credit_assignment applies to gradient training; method='es' takes none")
    _check_task(task)
    if not isinstance(key, jax.Array):
        raise ArgumentTypeError("key must be a jax.random key, e.g. jax.random.key(0)")
    epochs = positive_int("epochs", epochs)
    batch = positive_int("batch", batch)
    n_trials = positive_int("n_trials", n_trials, low=2)
    val_fraction = real_scalar("val_fraction", val_fraction, low=0.0, high=1.0, high_open=True)
    clip = _optional_positive("clip", clip)
    early_stop = _optional_positive("early_stop", early_stop)
    if optimizer is None:
        lr = real_scalar("lr", lr, low=0.0, low_open=True)
    elif not isinstance(optimizer, optax.GradientTransformation):
        raise ArgumentTypeError(f"optimizer must be an optax.GradientTransformation, got {type(optimizer).__name__}")
    NoiseSource(noise_rng)  # checks the name
    alpha = task.dt / task.tau
    if not math.isclose(model.alpha, alpha, rel_tol=1e-6):
        raise ArgumentError(f"model.alpha = {model.alpha} but the task steps alpha = dt / tau = "
                         f"{task.dt} / {task.tau} = {alpha}; build the model with alpha={alpha}")
    if model.n_inputs != task.n_inputs or model.n_outputs != task.n_outputs:
        raise ArgumentError(f"the model has {model.n_inputs} inputs and {model.n_outputs} outputs, the task "
                         f"{task.n_inputs} and {task.n_outputs}")
    n_val = int(round(val_fraction * n_trials))
    n_train = n_trials - n_val
    if batch > n_train:
        raise ArgumentError(f"batch must be <= the number of training trials ({n_train} of n_trials = "
                         f"{n_trials} with val_fraction = {val_fraction}), got {batch}")
    n_batches = n_train // batch
    if keep_best and n_val == 0:
        raise ArgumentError("keep_best needs a validation set (val_fraction > 0): it keeps the epoch with the "
                         "lowest validation loss")
    filt = model.trainable() if trainable is None else trainable
    arrays, static = eqx.partition(model, eqx.is_array)
    params, frozen = eqx.partition(arrays, filt)
    if not jax.tree_util.tree_leaves(params):
        raise ArgumentError("trainable selects no array of the model: nothing to train")
    if es_strategy is not None:
        return train_es(model, task, es_strategy, key=key, epochs=epochs, lr=lr, batch=batch, n_trials=n_trials,
                        n_train=n_train, n_val=n_val, val_fraction=val_fraction, clip=clip, early_stop=early_stop,
                        keep_best=keep_best, optimizer=optimizer, filt=filt, params=params, frozen=frozen,
                        static=static, out=out, resume=resume, progress=progress, noise_rng=noise_rng,
                        fitness=fitness)

    config = {
        "task": task.config() if hasattr(task, "config") else {"name": type(task).__name__},
        "model": {"class": type(model).__name__, **hyperparameters(model)},
        "training": {"lr": None if optimizer is not None else lr, "batch": batch, "n_trials": n_trials,
                     "val_fraction": val_fraction, "clip": clip, "early_stop": early_stop,
                     "keep_best": bool(keep_best), "optimizer": "adam" if optimizer is None else "custom",
                     "trainable": _filter_summary(filt), "noise_rng": noise_rng,
                     "key": np.asarray(jax.random.key_data(key)).tolist()},
    }
    if rule is not None:
        config["training"]["credit_assignment"] = rule.spec()
    opt_spec = ("adam", lr, clip) if optimizer is None else ("custom", optimizer)
    opt_state = _opt_init(params, opt_spec=opt_spec)

    out = None if out is None else Path(out)
    params, opt_state, history, start_epoch, elapsed, best = _loop.resume(
        out, config, params=params, state=opt_state, fields=HISTORY_FIELDS, epochs=epochs, resume=resume)

    # ---------------------------------------------------------------- the loop
    t_sample = time.perf_counter()
    train_set, val_set = jax.block_until_ready(_trials(key, task=task, n=n_trials, n_train=n_train))
    sample_seconds = time.perf_counter() - t_sample
    run_epoch = partial(_epoch, static=static, opt_spec=opt_spec, task=task, n_batches=n_batches, batch=batch,
                        noise_rng=noise_rng, rule=rule)
    seed = np.asarray(jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key)

    def epoch_fn(epoch, params, opt_state):
        order, words = _epoch_streams(seed, epoch, n_train=n_train, n_batches=n_batches, batch=batch)
        return run_epoch(params, frozen, opt_state, train_set, val_set, order, words)

    def diverged(epoch, bad, where):
        return ("training diverged: the loss, its gradient or the updated parameters became non-finite "
                f"in epoch {epoch + 1}, minibatch {bad + 1} of {n_batches}{where}. "
                "Lower lr, set clip, or reduce the noise.")

    return _loop.run_epochs(epoch_fn, params, opt_state, frozen=frozen, static=static, config=config,
                            history=history, fields=HISTORY_FIELDS, start_epoch=start_epoch, elapsed=elapsed,
                            best=best, epochs=epochs, early_stop=early_stop, keep_best=keep_best, n_val=n_val,
                            n_batches=n_batches, out=out, progress=progress,
                            desc=f"train {config['task'].get('name', '')}", diverged=diverged,
                            sample_seconds=sample_seconds)
