"""Training a network on a task: :func:`train` with a method object; backpropagation through time
(:class:`BPTT`) as one compiled epoch."""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from .._errors import ArgumentError, ArgumentTypeError
from ..learning import RateRNN, credit_assignment, rule_outputs
from ..models import AbstractRNN, run_trials
from . import _checkpoint as ckpt
from . import _loop
from ._es import CMAES, PGPE, OpenES, train_es
from ._setup import (HISTORY_FIELDS, Optimizer, RunSettings, Setup, all_finite, check_optimizer, check_run,
                     mean_before, opt_space, traced_optimizer, traced_transformation, validation)


@dataclasses.dataclass(frozen=True)
class BPTT:
    """Backpropagation through time: the gradient of the task loss through the whole trial, or the
    update of a local learning rule, handed to an optimizer.

    Each minibatch takes one step ``theta <- theta + optimizer(grad L(theta))`` with ``L`` the task's
    loss of the noisy network on the minibatch (Dubreuil, Valente et al. 2022, Methods).

    Attributes
    ----------
    optimizer: :class:`Adam` (``Adam(lr, clip=...)``, the published choice) or any optax
        ``GradientTransformation``; None: ``Adam()`` (lr 1e-2, no clipping), or the recipe's in
        :func:`~lowrank_rnn.training.train_recipe`.
    rule: None (exact gradients) or a learning rule for a :class:`~lowrank_rnn.learning.RateRNN`:
        ``"bptt"``, ``"tbptt(k)"``, ``"eprop"``, ``"rflo"``, ``"mdgl"``, ``"mdgl_celltype"``,
        ``"modprop"``, ``"feedback_alignment"`` or a rule object
        (:func:`lowrank_rnn.learning.credit_assignment`); each update then follows the rule.

    >>> from lowrank_rnn.training import Adam
    >>> BPTT(optimizer=Adam(5e-3, clip=1.0)).optimizer.lr
    0.005
    """

    optimizer: Optimizer | None = None
    rule: Any = None

    def __post_init__(self):
        if self.optimizer is not None:
            check_optimizer(self.optimizer)
        if self.rule is not None:
            object.__setattr__(self, "rule", credit_assignment(self.rule))


Method = BPTT | OpenES | PGPE | CMAES


# XLA's CPU code generator prefers 256-bit vectors by default; 512-bit ones make the epoch's
# element-wise kernels (the noise generator above all) 15-20% cheaper where AVX-512 exists (interleaved
# A/B of the RDM and Mante epochs), and are ignored where it does not. Compile time is unchanged.
_EPOCH_COMPILER_OPTIONS = {"xla_cpu_prefer_vector_width": 512}


@partial(jax.jit, static_argnames=("static", "optimizer", "task", "n_batches", "batch", "noise_rng", "rule"),
         compiler_options=_EPOCH_COMPILER_OPTIONS)
def _epoch(params, frozen, opt_state, train_set, val_set, order, words, hyper, *, static, optimizer, task,
           n_batches, batch, noise_rng, rule=None):
    """One epoch, compiled: every minibatch update in one ``lax.scan``, then the validation pass.

    Everything that varies between runs of the same shape (parameters, fixed arrays, trials, the
    epoch's minibatch ``order`` and noise seeds ``words``, see :func:`_epoch_streams`, and Adam's
    ``hyper = [lr, clip]``, see :func:`traced_optimizer`) is an argument, so one compilation serves
    every seed, epoch and learning rate, and JAX's persistent cache can reuse it across processes.
    ``optimizer`` is the optimizer's form (``"adam"``, ``"adam+clip"``) or an optax transformation.
    """
    tx = traced_transformation(optimizer, hyper)

    def loss_fn(params, trials, key):
        model = eqx.combine(params, frozen, static)
        if rule is not None:  # a local learning rule: same forward pass, the rule's backward pass
            outputs = rule_outputs(model, trials.inputs, rule, key=key, noise_rng=noise_rng)
        else:
            outputs = run_trials(model, trials.inputs, key=key, noise_rng=noise_rng)
        return task.loss(outputs, trials)

    grad_fn = jax.value_and_grad(loss_fn)
    keys = jax.random.wrap_key_data(words, impl="threefry2x32")  # no Threefry evaluation: a reinterpretation
    params, to_tree, to_opt = opt_space(params, optimizer)

    def update(carry, inp):
        params, opt_state, bad = carry
        i, idx, k = inp
        loss, grads = grad_fn(to_tree(params), train_set[idx], k)
        grads = to_opt(grads)
        updates, new_state = tx.update(grads, opt_state, params)
        new_params = eqx.apply_updates(params, updates)
        # a non-finite loss, gradient or updated parameter stops the updates: the last good state is kept
        ok = (bad < 0) & jnp.isfinite(loss) & all_finite(grads) & all_finite(new_params)
        keep = lambda new, old: jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, old)  # noqa: E731
        bad = jnp.where((bad < 0) & ~ok, i, bad)
        return (keep(new_params, params), keep(new_state, opt_state), bad), loss

    steps = (jnp.arange(n_batches, dtype=jnp.int32), order, keys[:n_batches])
    (params, opt_state, bad), losses = jax.lax.scan(update, (params, opt_state, jnp.int32(-1)), steps)
    params = to_tree(params)
    stats = {"train_loss": mean_before(losses, bad), "bad_batch": bad,
             **validation(params, frozen, static, val_set, keys[n_batches], task=task, noise_rng=noise_rng)}
    return params, opt_state, stats


@partial(jax.jit, static_argnames=("optimizer",))
def _opt_init(params, hyper, *, optimizer):
    return traced_transformation(optimizer, hyper).init(opt_space(params, optimizer)[0])


def _train_bptt(setup: Setup, method: BPTT) -> tuple[AbstractRNN, dict[str, list]]:
    """Return the model and history after backpropagation through time; called by :func:`train`."""
    rule = method.rule
    if rule is not None and not isinstance(setup.model, RateRNN):
        raise ArgumentError(f"BPTT(rule=...) needs a lowrank_rnn.learning.RateRNN, got a {type(setup.model).__name__}")
    optimizer = check_optimizer(method.optimizer)
    config = setup.config({}, optimizer, None if rule is None else {"credit_assignment": rule.spec()})
    form, hyper = traced_optimizer(optimizer, ravel_pytree(setup.params)[0].dtype)
    opt_state = _opt_init(setup.params, hyper, optimizer=form)
    run_epoch = partial(_epoch, static=setup.static, optimizer=form, task=setup.task,
                        n_batches=setup.n_batches, batch=setup.batch, noise_rng=setup.noise_rng, rule=rule)

    def epoch_fn(epoch, params, opt_state, train_set, val_set):
        order, words = setup.streams(epoch)
        return run_epoch(params, setup.frozen, opt_state, train_set, val_set, order, words, hyper)

    def diverged(epoch, bad, where):
        return ("training diverged: the loss, its gradient or the updated parameters became non-finite "
                f"in epoch {epoch + 1}, minibatch {bad + 1} of {setup.n_batches}{where}. "
                "Lower the learning rate, clip the gradient norm (Adam(lr, clip=...)), or reduce the noise.")

    return _loop.run_epochs(setup, epoch_fn, setup.params, opt_state, config=config, fields=HISTORY_FIELDS,
                            desc=f"train {config['task'].get('name', '')}", diverged=diverged)


def train(model: AbstractRNN, task, *, key: jax.Array, epochs: int, method: Method | None = None, batch: int = 32,
          n_trials: int = 1000, trainable: Any = None, early_stop: float | None = None,
          run: RunSettings | None = None, progress: bool = True,
          noise_rng: str = "hash") -> tuple[AbstractRNN, dict[str, list]]:
    """Return the trained model and its history, after training on a task by ``method``.

    ``n_trials`` trials are drawn once from ``key`` (``task.sample``); the last ``run.val_fraction``
    of them are held out for validation, as in the published recipe (1000 trials, 20 % held out;
    Dubreuil, Valente et al. 2022, Nat. Neurosci.). Each epoch shuffles the training trials into
    ``n_train // batch`` minibatches and takes one step of the method on each, minimising the
    task's loss (``task.loss``, the masked MSE) of the noisy network
    (:func:`~lowrank_rnn.models.run_trials`), then measures the loss and accuracy
    (``task.accuracy``) on the validation trials, with noise. The whole epoch, minibatch loop
    included, is one compiled function (a ``lax.scan`` of updates and the validation pass); nothing
    runs in Python per step or per minibatch. Same key, same run.

    Parameters
    ----------
    model: a :class:`~lowrank_rnn.models.LowRankRNN`, ``FullRankRNN``, ``MixtureLowRankRNN`` or
        :class:`~lowrank_rnn.learning.RateRNN` whose ``alpha`` equals ``task.dt / task.tau`` and
        whose inputs and outputs match the task.
    task: a task from :func:`lowrank_rnn.tasks.get_task`.
    key: ``jax.random`` key: trials, split, shuffling and network noise all derive from it.
    epochs: the maximum number of epochs (>= 1).
    method: :class:`BPTT` (default ``BPTT()``: exact gradients, ``Adam(1e-2)``), or an evolution
        strategy, :class:`OpenES`, :class:`PGPE` or :class:`CMAES` (one generation per minibatch,
        the population scored with ``jax.vmap``; the history then also holds ``generation``,
        ``population_fitness`` and ``sigma``).
    batch: trials per minibatch (<= the number of training trials).
    n_trials: trials drawn for training and validation (>= 2).
    trainable: a filter pytree (``model.trainable(...)``) of the arrays to train; by default
        ``model.trainable()`` (the published choice: m, n and the input and readout scales).
    early_stop: stop after the first epoch whose mean training loss is below this value.
    run: :class:`RunSettings`: the run folder (``out``), ``resume``, ``val_fraction`` (default
        0.2) and ``keep_best``; default: no folder.
    progress: show a ``tqdm`` bar with the losses and the validation accuracy.
    noise_rng: ``"hash"`` (default: :func:`~lowrank_rnn.training.hash_normal`, a fast
        counter-based generator) or ``"threefry"`` (``jax.random.normal``) for the network noise.

    Returns
    -------
    (model, history): history maps ``epoch``, ``train_loss``, ``val_loss``, ``val_accuracy`` and
    ``wall_time`` (seconds since the start of training) to lists, one entry per epoch.

    Raises
    ------
    ArgumentError, ArgumentTypeError: a bad argument, before anything compiles.
    RunFolderError: ``run.out`` is in use by another run, cannot be written, or holds a damaged
        checkpoint or one of another run.
    DivergenceError: a loss, gradient or updated parameter became non-finite. The message gives
        the epoch and the minibatch; ``run.out`` keeps the checkpoint of the last completed epoch.

    Example
    -------
    >>> import jax
    >>> from lowrank_rnn.models import LowRankRNN, noise_from_published
    >>> from lowrank_rnn.training import Adam
    >>> from lowrank_rnn.tasks import get_task
    >>> task = get_task("rdm")
    >>> model = LowRankRNN(128, 1, 1, 1, key=jax.random.key(0), alpha=task.dt / task.tau,
    ...                    noise=noise_from_published(0.05, 0.2))
    >>> model, history = train(model, task, key=jax.random.key(1), epochs=2,
    ...                        method=BPTT(optimizer=Adam(5e-3)), progress=False)
    >>> len(history["val_accuracy"])
    2
    """
    method = BPTT() if method is None else method
    if not isinstance(method, (BPTT, OpenES, PGPE, CMAES)):
        raise ArgumentTypeError(f"method must be BPTT(...), OpenES(...), PGPE(...) or CMAES(...) from "
                                f"lowrank_rnn.training, got {method!r}")
    setup = check_run(model, task, key=key, epochs=epochs, batch=batch, n_trials=n_trials, trainable=trainable,
                      early_stop=early_stop, run=run, progress=progress, noise_rng=noise_rng)
    with ckpt.claim(setup.run.out):
        if isinstance(method, BPTT):
            return _train_bptt(setup, method)
        return train_es(setup, method)
