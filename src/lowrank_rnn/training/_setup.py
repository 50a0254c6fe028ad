"""What every training method shares: the optimizer and run settings objects, the checked
arguments of :func:`~lowrank_rnn.training.train`, the trials and the host-side epoch streams."""

from __future__ import annotations

import dataclasses
import math
import os
from functools import partial
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from .._checks import positive_int, prng_key, real_scalar
from .._errors import ArgumentError, ArgumentTypeError
from ..dynamics import NoiseSource, host_words
from ..models import AbstractRNN, hyperparameters, run_trials

HISTORY_FIELDS = ("epoch", "train_loss", "val_loss", "val_accuracy", "wall_time")


# ------------------------------------------------------------------------------------- optimizer
@dataclasses.dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba 2015, arXiv:1412.6980) with optional clipping of the global gradient norm:
    the optimizer of the published recipes (Dubreuil, Valente et al. 2022).

    ``g <- g min(1, clip / ||g||)`` over all trained arrays together, then Adam's update with
    learning rate ``lr`` (optax's defaults b1 = 0.9, b2 = 0.999, eps = 1e-8). The same update as
    ``optax.chain(optax.clip_by_global_norm(clip), optax.adam(lr))``, applied to the trained arrays
    flattened into one vector (one fused kernel per stage of the compiled epoch). Any other optax
    ``GradientTransformation`` may be given instead wherever an optimizer is asked for.

    Attributes
    ----------
    lr: learning rate (> 0).
    clip: largest global gradient norm (> 0), or None for no clipping.

    >>> Adam(5e-3, clip=0.1).transformation() is not None
    True
    """

    lr: float = 1e-2
    clip: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "lr", real_scalar("lr", self.lr, low=0.0, low_open=True))
        if self.clip is not None:
            object.__setattr__(self, "clip", real_scalar("clip", self.clip, low=0.0, low_open=True))

    def transformation(self, lr=None) -> optax.GradientTransformation:
        """Return the optax transformation of this optimizer; ``lr`` (an array, traced in a compiled
        function) replaces ``self.lr`` when given."""
        adam = optax.adam(self.lr if lr is None else lr)
        return adam if self.clip is None else optax.chain(optax.clip_by_global_norm(self.clip), adam)


Optimizer = Adam | optax.GradientTransformation


def traced_optimizer(optimizer: Optimizer, dtype) -> tuple[Any, jax.Array | None]:
    """Return ``(form, hyper)``: what a compiled training step specialises on, and the array it reads.

    An :class:`Adam` travels as its form (``"adam"`` or ``"adam+clip"``) and the array
    ``[lr, clip]`` of ``dtype`` (clip 1.0 when unused), so one compilation serves every learning
    rate and clip; any other optax transformation is the form itself, with ``hyper = None``, and
    compiles once per transformation object. Inside the compiled function,
    :func:`traced_transformation` rebuilds the transformation.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> form, hyper = traced_optimizer(Adam(5e-3, clip=0.1), jnp.float32)
    >>> form, hyper.tolist()
    ('adam+clip', [0.004999999888241291, 0.10000000149011612])
    """
    if isinstance(optimizer, Adam):
        clip = 1.0 if optimizer.clip is None else optimizer.clip
        form = "adam" if optimizer.clip is None else "adam+clip"
        return form, jnp.asarray([optimizer.lr, clip], dtype)
    return optimizer, None


def traced_transformation(form, hyper) -> optax.GradientTransformation:
    """Return the optax transformation of :func:`traced_optimizer`'s ``(form, hyper)``: Adam's
    update (:meth:`Adam.transformation`) with its lr and clip read from ``hyper``, or ``form``
    itself when it is a transformation.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> tx = traced_transformation(*traced_optimizer(Adam(1e-2), jnp.float32))
    >>> state = tx.init(jnp.zeros(3))
    >>> updates, _ = tx.update(jnp.ones(3), state)
    >>> [round(u, 6) for u in updates.tolist()]          # Adam's first step: -lr sign(g)
    [-0.01, -0.01, -0.01]
    """
    if isinstance(form, str):
        adam = optax.adam(hyper[0])
        return optax.chain(optax.clip_by_global_norm(hyper[1]), adam) if form == "adam+clip" else adam
    return form


def check_optimizer(optimizer: Any) -> Optimizer:
    """Return ``optimizer`` (``Adam()`` for None) after checking it is an :class:`Adam` or an optax
    ``GradientTransformation``."""
    if optimizer is None:
        return Adam()
    if not isinstance(optimizer, (Adam, optax.GradientTransformation)):
        raise ArgumentTypeError(f"optimizer must be lowrank_rnn.training.Adam(lr, clip=...) or an "
                                f"optax.GradientTransformation, got {type(optimizer).__name__}")
    return optimizer


def transformation(optimizer: Optimizer) -> optax.GradientTransformation:
    """Return the optax transformation of an :class:`Adam` or an optax transformation itself."""
    return optimizer.transformation() if isinstance(optimizer, Adam) else optimizer


def opt_space(params, optimizer: Optimizer):
    """Return ``(p, to_tree, to_opt)``: the parameters as the optimizer sees them and the two maps.

    :class:`Adam` is element-wise apart from the global norm, so it runs on one flat vector
    (``ravel_pytree``): the same updates, one fused kernel per stage instead of one per parameter
    array (fewer kernels to compile). Any other optimizer sees the parameter tree, as it may depend
    on its structure. The compiled epoch's form of an Adam (``"adam"``, ``"adam+clip"``) counts as Adam.
    """
    if isinstance(optimizer, (Adam, str)):
        vec, to_tree = ravel_pytree(params)
        return vec, to_tree, lambda tree: ravel_pytree(tree)[0]
    return params, (lambda p: p), (lambda tree: tree)


def optimizer_config(optimizer: Optimizer | None) -> dict:
    """Return the run folder's record of an optimizer: ``lr``, ``clip`` and ``optimizer`` (``"adam"``
    for :class:`Adam`, ``"custom"`` for another optax transformation, None for none)."""
    if optimizer is None:
        return {"lr": None, "clip": None, "optimizer": None}
    if isinstance(optimizer, Adam):
        return {"lr": optimizer.lr, "clip": optimizer.clip, "optimizer": "adam"}
    return {"lr": None, "clip": None, "optimizer": "custom"}


# ------------------------------------------------------------------------------------- run settings
@dataclasses.dataclass(frozen=True)
class RunSettings:
    """The run folder, resume and validation settings of :func:`~lowrank_rnn.training.train`.

    Attributes
    ----------
    out: a run folder, or None for none. Every epoch writes ``model.npz`` (loadable with
        :func:`lowrank_rnn.load`), ``checkpoint.npz`` (parameters, optimizer state, epoch, history),
        ``history.json`` and ``history.csv``, all atomically; ``config.json`` holds the task, model
        and training settings, ``train_seconds`` and ``timing.json`` the wall time of the training
        loop (compilation included). One run at a time: a second run into a folder in use raises
        :class:`~lowrank_rnn.RunFolderError`.
    resume: continue from ``out/checkpoint.npz`` when it exists (same task, model, key and
        settings; ``epochs`` may grow); the result equals that of an uninterrupted run. False starts
        over in the folder.
    val_fraction: the fraction of the trials held out for validation, in [0, 1) (0: no validation
        set, and the history's validation columns NaN).
    keep_best: return (and save) the parameters of the epoch with the lowest validation loss.

    >>> RunSettings(out="runs/rdm", keep_best=True).val_fraction
    0.2
    """

    out: str | os.PathLike | None = None
    resume: bool = True
    val_fraction: float = 0.2
    keep_best: bool = False

    def __post_init__(self):
        if self.out is not None:
            if not isinstance(self.out, (str, os.PathLike)):
                raise ArgumentTypeError(f"out must be a folder path (str or pathlib.Path) or None, "
                                        f"got {type(self.out).__name__}")
            if os.fspath(self.out) == "":
                raise ArgumentError("out must name a folder, got an empty path")
            object.__setattr__(self, "out", Path(self.out))
        for name in ("resume", "keep_best"):
            if not isinstance(getattr(self, name), bool):
                raise ArgumentTypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        object.__setattr__(self, "val_fraction", real_scalar("val_fraction", self.val_fraction, low=0.0, high=1.0,
                                                             high_open=True))


# ------------------------------------------------------------------------------------- the checked run
@dataclasses.dataclass(frozen=True)
class Setup:
    """The checked arguments of :func:`~lowrank_rnn.training.train` that every method uses, with
    the model partitioned into trained ``params``, ``frozen`` arrays and ``static`` fields."""

    model: AbstractRNN
    task: Any
    key: jax.Array
    epochs: int
    batch: int
    n_trials: int
    n_train: int
    n_val: int
    early_stop: float | None
    run: RunSettings
    progress: bool
    noise_rng: str
    filt: Any
    params: Any
    frozen: Any
    static: Any

    @property
    def n_batches(self) -> int:
        return self.n_train // self.batch

    @property
    def seed(self) -> np.ndarray:
        """The run key's data words, from which the host-side streams are hashed."""
        key = self.key
        return np.asarray(jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key)

    def config(self, head: dict, optimizer: Optimizer | None, tail: dict | None = None) -> dict:
        """Return the run's ``config.json`` (without ``epochs``): the task, the model and the training
        settings ``head``, the shared ones and ``tail``, in the order the run folders have always had."""
        opt = optimizer_config(optimizer)
        training = {**head, "lr": opt["lr"], "batch": self.batch, "n_trials": self.n_trials,
                    "val_fraction": self.run.val_fraction, "clip": opt["clip"], "early_stop": self.early_stop,
                    "keep_best": self.run.keep_best, "optimizer": opt["optimizer"],
                    "trainable": filter_summary(self.filt), "noise_rng": self.noise_rng,
                    "key": np.asarray(jax.random.key_data(self.key)).tolist(), **(tail or {})}
        task = self.task
        return {"task": task.config() if hasattr(task, "config") else {"name": type(task).__name__},
                "model": {"class": type(self.model).__name__, **hyperparameters(self.model)},
                "training": training}

    def trials(self):
        """Return the run's (training set, validation set), drawn from the data half of its key."""
        return sample_trials(self.key, task=self.task, n=self.n_trials, n_train=self.n_train)

    def streams(self, epoch: int):
        """Return the minibatch order and noise seeds of ``epoch`` (:func:`epoch_streams`)."""
        return epoch_streams(self.seed, epoch, n_train=self.n_train, n_batches=self.n_batches, batch=self.batch)


def _check_task(task) -> None:
    for attr in ("sample", "loss", "accuracy", "n_inputs", "n_outputs", "dt", "tau"):
        if not hasattr(task, attr):
            raise ArgumentTypeError(f"task must be a lowrank_rnn task (get_task(...)); it has no {attr!r}")


def check_run(model, task, *, key, epochs, batch, n_trials, trainable, early_stop, run, progress,
              noise_rng) -> Setup:
    """Return the :class:`Setup` of a run after checking every argument shared by the methods;
    raises :class:`~lowrank_rnn.ArgumentError` / :class:`~lowrank_rnn.ArgumentTypeError` naming the
    bad one, before anything compiles."""
    if not isinstance(model, AbstractRNN):
        raise ArgumentTypeError(f"model must be a LowRankRNN, FullRankRNN, MixtureLowRankRNN or RateRNN, "
                                f"got {type(model).__name__}")
    _check_task(task)
    key = prng_key("key", key)
    epochs = positive_int("epochs", epochs)
    batch = positive_int("batch", batch)
    n_trials = positive_int("n_trials", n_trials, low=2)
    if early_stop is not None:
        early_stop = real_scalar("early_stop", early_stop, low=0.0, low_open=True)
    run = RunSettings() if run is None else run
    if not isinstance(run, RunSettings):
        raise ArgumentTypeError(f"run must be a lowrank_rnn.training.RunSettings(out=..., resume=..., "
                                f"val_fraction=..., keep_best=...), got {type(run).__name__}")
    if not isinstance(progress, bool):
        raise ArgumentTypeError(f"progress must be True or False, got {progress!r}")
    NoiseSource(noise_rng)  # checks the name
    alpha = task.dt / task.tau
    if not math.isclose(model.alpha, alpha, rel_tol=1e-6):
        raise ArgumentError(f"model.alpha = {model.alpha} but the task steps alpha = dt / tau = "
                            f"{task.dt} / {task.tau} = {alpha}; build the model with alpha={alpha}")
    if model.n_inputs != task.n_inputs or model.n_outputs != task.n_outputs:
        raise ArgumentError(f"the model has {model.n_inputs} inputs and {model.n_outputs} outputs, the task "
                            f"{task.n_inputs} and {task.n_outputs}")
    n_val = int(round(run.val_fraction * n_trials))
    n_train = n_trials - n_val
    if batch > n_train:
        raise ArgumentError(f"batch must be <= the number of training trials ({n_train} of n_trials = "
                            f"{n_trials} with val_fraction = {run.val_fraction}), got {batch}")
    if run.keep_best and n_val == 0:
        raise ArgumentError("keep_best needs a validation set (val_fraction > 0): it keeps the epoch with the "
                            "lowest validation loss")
    filt = model.trainable() if trainable is None else trainable
    arrays, static = eqx.partition(model, eqx.is_array)
    params, frozen = eqx.partition(arrays, filt)
    if not jax.tree_util.tree_leaves(params):
        raise ArgumentError("trainable selects no array of the model: nothing to train")
    return Setup(model=model, task=task, key=key, epochs=epochs, batch=batch, n_trials=n_trials, n_train=n_train,
                 n_val=n_val, early_stop=early_stop, run=run, progress=progress, noise_rng=noise_rng, filt=filt,
                 params=params, frozen=frozen, static=static)


def filter_summary(filt) -> dict[str, bool]:
    """Return {field: trained?} for the top-level array fields of a filter pytree."""
    out = {}
    for name in getattr(filt, "__dataclass_fields__", {}):
        v = getattr(filt, name)
        if isinstance(v, bool):
            out[name] = v
    return out


def all_finite(tree) -> jax.Array:
    """True when every entry of every array in ``tree`` is finite (one fused reduction per leaf)."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def mean_before(values: jax.Array, bad: jax.Array) -> jax.Array:
    """Return the mean of ``values`` (one per minibatch) before index ``bad``, the first non-finite
    update (all of them when ``bad < 0``)."""
    n = values.shape[0]
    good = jnp.arange(n) < jnp.where(bad < 0, n, bad)
    return jnp.sum(jnp.where(good, values, 0.0)) / jnp.maximum(jnp.sum(good), 1)


def validation(params, frozen, static, val_set, key, *, task, noise_rng) -> dict:
    """Return ``val_loss`` and ``val_accuracy`` of the model on the validation trials, with its
    network noise (nothing when there is no validation set)."""
    if not val_set.inputs.shape[0]:
        return {}
    outputs = run_trials(eqx.combine(params, frozen, static), val_set.inputs, key=key, noise_rng=noise_rng)
    return {"val_loss": task.loss(outputs, val_set), "val_accuracy": task.accuracy(outputs, val_set)}


# ------------------------------------------------------------------------------------- data streams
def epoch_streams(seed: np.ndarray, epoch: int, *, n_train: int, n_batches: int, batch: int):
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
def sample_trials(key, *, task, n, n_train):
    """Draw the run's trials from the data half of ``key``; return (training set, validation set)."""
    trials = task.sample(jax.random.split(key)[0], n)
    return trials[:n_train], trials[n_train:]
