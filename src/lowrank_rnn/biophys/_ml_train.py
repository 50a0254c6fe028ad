"""Training a Morris–Lecar network on a task by backpropagation through the solver or by an evolution
strategy, with a run folder: the comparison of Hazelden et al. 2023 (arXiv:2311.10869)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from tqdm.auto import tqdm

from .._checks import positive_int, prng_key
from .._errors import ArgumentError, ArgumentTypeError, DivergenceError, RunFolderError
from .._io import load, output_folder
from ..tasks import get_task
from ..training import (BPTT, CMAES, PGPE, Adam, OpenES, claim_run_folder, evaluate, finish_run, flat_search,
                        register_run_model, resume_run, traced_optimizer, traced_transformation, write_checkpoint)
from ._ml_network import MorrisLecarNetwork, model_config, network_from_config

HISTORY_FIELDS = ("epoch", "train_loss", "val_loss", "val_accuracy", "grad_norm", "grad_norm_max", "nonfinite_grads",
                  "forward_passes", "wall_time")


def _check_task(net, task):
    if not isinstance(net, MorrisLecarNetwork):
        raise ArgumentTypeError(f"net must be a MorrisLecarNetwork, got {type(net).__name__}")
    if not hasattr(task, "reads") or not hasattr(task, "differentiable"):
        raise ArgumentTypeError("task must be get_task('integration_memory', ...): a task that says what it reads "
                                "of the network (task.reads) and whether its loss has a gradient")
    if net.n_inputs != task.n_inputs or net.n_outputs != task.n_outputs:
        raise ArgumentError(f"the network has {net.n_inputs} inputs and {net.n_outputs} outputs, the task "
                            f"{task.n_inputs} and {task.n_outputs}")
    if abs(net.dt - task.dt) > 1e-9 * task.dt:
        raise ArgumentError(f"net.dt = {net.dt} ms but the task's dt = {task.dt} ms: build the network with "
                            f"dt={task.dt}")


def _signal(net, task, inputs):
    """(B, T, O): what the task's loss reads (the readout, or the readout cells' voltages)."""
    z, v, _ = jax.vmap(net.run)(inputs)
    return v if task.reads == "voltage" else z


def ml_network_loss(net: MorrisLecarNetwork, task, trials) -> jax.Array:
    """Return the task's loss of ``net`` on ``trials`` (NaN where a solve failed; jittable).

    >>> import jax
    >>> from lowrank_rnn.tasks import get_task
    >>> task = get_task("integration_memory", stimulus=20.0, delay=10.0, response=10.0, fixation=0.0,
    ...                 n_pulses=2, pulse_width=5.0)
    >>> net = MorrisLecarNetwork(4, 1, 1, key=jax.random.key(0))
    >>> float(ml_network_loss(net, task, task.sample(jax.random.key(1), 2))) > 0
    True
    """
    return task.loss(_signal(net, task, trials.inputs), trials)


# ------------------------------------------------------------------------------------- compiled steps
# The compiled steps take only hashable settings (the optimizer's form, the search, the task) besides
# arrays, so one compilation serves every run of the same shapes in a process (a fresh optax
# transformation or unravel closure per run would compile again for each).
@eqx.filter_jit
def _bp_step(params, opt_state, static, trials, task, optimizer, hyper):
    tx = traced_transformation(optimizer, hyper)

    def loss_fn(p):
        return ml_network_loss(eqx.combine(p, static), task, trials)

    loss, grads = jax.value_and_grad(loss_fn)(params)
    gnorm = optax.tree.norm(grads)
    ok = jnp.isfinite(loss) & jnp.isfinite(gnorm)
    updates, new_state = tx.update(grads, opt_state, params)
    new_params = eqx.apply_updates(params, updates)

    def keep(a, b):
        return jax.tree_util.tree_map(lambda x, y: jnp.where(ok, x, y), a, b)

    return keep(new_params, params), keep(new_state, opt_state), loss, gnorm, ok


@eqx.filter_jit
def _es_step(state, key, static, template, scales, trials, task, search, fitness):
    unravel = ravel_pytree(template)[1]

    def member(theta):
        net = eqx.combine(unravel(theta * scales), static)
        signal = _signal(net, task, trials.inputs)
        f = 1.0 - task.accuracy(signal, trials) if fitness == "accuracy" else task.loss(signal, trials)
        return jnp.asarray(f, jnp.float32)

    state, _, f_mean, ok = search.generation(state, key, lambda thetas: jax.vmap(member)(thetas))
    return state, f_mean, ok


@eqx.filter_jit
def _sample(task, key, n):
    """``task.sample(key, n)`` compiled once per task and ``n`` (``jax.jit(task.sample)``, a new bound
    method at each run, compiled again for every run)."""
    return task.sample(key, n)


@eqx.filter_jit
def _evaluate(params, static, trials, task):
    net = eqx.combine(params, static)
    signal = _signal(net, task, trials.inputs)
    return task.loss(signal, trials), task.accuracy(signal, trials)


# ------------------------------------------------------------------------------------- run folder
def load_ml_run(run) -> tuple[MorrisLecarNetwork, object, dict]:
    """Return ``(net, task, config)`` of a run folder written by :func:`train_ml_network`.

    Raises :class:`~lowrank_rnn.RunFolderError` when the folder is not such a run.

    >>> import jax, tempfile
    >>> from lowrank_rnn.tasks import get_task
    >>> from lowrank_rnn.training import OpenES
    >>> task = get_task("integration_memory", stimulus=20.0, delay=10.0, response=10.0, fixation=0.0,
    ...                 n_pulses=2, pulse_width=5.0)
    >>> run = tempfile.mkdtemp()
    >>> _ = train_ml_network(MorrisLecarNetwork(4, 1, 1, key=jax.random.key(0)), task, key=jax.random.key(1),
    ...                      epochs=1, batch=2, n_trials=5, method=OpenES(popsize=4, sigma=0.1), out=run,
    ...                      progress=False)
    >>> net, task, config = load_ml_run(run)
    >>> config["model"]["class"], net.n
    ('MorrisLecarNetwork', 4)
    """
    run = Path(run)
    for name in ("config.json", "model.npz"):
        if not (run / name).exists():
            raise RunFolderError(f"{run} is not a Morris–Lecar training run folder: it has no {name}")
    try:
        config = json.loads((run / "config.json").read_text())
        task_cfg = dict(config["task"])
        name = task_cfg.pop("name")
        if config["model"].get("class") != "MorrisLecarNetwork":
            raise KeyError("model.class is not MorrisLecarNetwork")
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise RunFolderError(f"{run} does not hold a Morris–Lecar training run ({type(err).__name__}: {err})") from None
    net = load(run / "model.npz")
    if not isinstance(net, MorrisLecarNetwork):
        raise RunFolderError(f"{run / 'model.npz'} holds a {type(net).__name__}, not a MorrisLecarNetwork")
    return net, get_task(name, **task_cfg), config


# ------------------------------------------------------------------------------------- training
def train_ml_network(net: MorrisLecarNetwork, task, *, key, epochs: int, method=None, batch: int = 16,
                     n_trials: int = 100, val_fraction: float = 0.2, out=None, resume: bool = True,
                     max_nonfinite: int | None = 0, progress: bool = True, config_extra: dict | None = None):
    r"""Return ``(net, history)`` after training a :class:`MorrisLecarNetwork` on a task by
    backpropagation through the solver or by an evolution strategy, one step per minibatch.

    ``n_trials`` trials are drawn once from ``key``; the last ``val_fraction`` of them (at least
    one) score each epoch (loss and accuracy). Each epoch shuffles the training trials into
    ``n_train // batch`` minibatches. The loss is the task's (``task.loss`` of the readout, or of
    the readout cell's voltages for a spike-count loss, :attr:`task.reads`). The two methods
    compared by Hazelden et al. 2023 (arXiv:2311.10869):

    * ``BPTT(optimizer=...)`` (default ``BPTT(Adam(1e-2))``): the gradient through the solver
      (diffrax's checkpointed adjoint). A task whose loss has no useful gradient
      (``task.differentiable`` False: the spike-count loss) is refused with an
      :class:`~lowrank_rnn.ArgumentError`. The history logs the gradient norm (mean and max over
      the epoch's minibatches) and the number of non-finite gradients in each epoch. A step whose
      loss or gradient is non-finite is not applied; once more than ``max_nonfinite`` were
      (default 0: the first), training stops with :class:`~lowrank_rnn.DivergenceError` saying the
      epoch and minibatch (``.time`` is the 1-based step), whose ``.model`` is the last good network
      and ``.history`` the history so far; ``out`` keeps the checkpoint of the last complete epoch.
      An epoch after which the validation loss is non-finite (a solve failed) stops training the
      same way, with the network from before that epoch.
    * ``OpenES(...)``, ``PGPE(...)`` or ``CMAES(...)`` (through
      :func:`~lowrank_rnn.training.flat_search`): one generation per minibatch, the population
      scored on the loss (``fitness="loss"``) or the error rate (``"accuracy"``) alone. The search
      runs on the parameters divided by their scales (conductances 1, input weights 10 µA/cm²,
      biases 10 µA/cm², readout 1), so one ``sigma`` suits all. A generation with a non-finite mean
      counts as non-finite, as above.

    ``forward_passes`` in the history counts trial solves (BPTT: ``batch`` per step; ES:
    ``(popsize + 1) * batch`` per generation; plus the validation passes): the budget axis.

    Parameters
    ----------
    net: the network; its ``dt`` must be the task's.
    task: ``get_task("integration_memory", ...)``.
    key: ``jax.random`` key of the trials, their order and the population draws.
    epochs, batch, n_trials: sizes (>= 1; ``batch`` <= the number of training trials).
    method: ``BPTT(...)``, ``OpenES(...)``, ``PGPE(...)``, ``CMAES(...)``; None: ``BPTT()``.
    val_fraction: fraction of the trials held out, in (0, 1).
    out: a run folder, the one of :func:`lowrank_rnn.training.train` (``config.json``;
        ``checkpoint.npz``, ``model.npz`` and ``history.json``/``.csv`` written after every epoch;
        ``train_seconds`` and ``timing.json`` at the end), read by :func:`load_ml_run` and
        :func:`lowrank_rnn.training.evaluate`; None: none. One run at a time writes into a folder
        (:class:`~lowrank_rnn.RunFolderError` otherwise).
    resume: continue from ``out/checkpoint.npz`` when it exists (same network, task, key and
        settings; ``epochs`` may grow): the minibatch orders and population draws are those of the
        uninterrupted run, so the result is the same. False starts over in the folder (the command
        line's ``--restart``).
    max_nonfinite: non-finite steps tolerated (skipped) before stopping, >= 0, or None (never stop).
    progress: show a progress bar.
    config_extra: more entries for ``config.json``'s ``training`` section.

    Returns
    -------
    (MorrisLecarNetwork, dict)
        The trained network and the history: lists of ``epoch`` (from 1), ``train_loss``,
        ``val_loss``, ``val_accuracy``, ``grad_norm``, ``grad_norm_max`` (NaN for ES),
        ``nonfinite_grads`` (per epoch), ``forward_passes`` (cumulative) and ``wall_time``.

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn.tasks import get_task
    >>> from lowrank_rnn.training import OpenES
    >>> task = get_task("integration_memory", stimulus=20.0, delay=10.0, response=10.0, fixation=0.0,
    ...                 n_pulses=2, pulse_width=5.0)
    >>> net = MorrisLecarNetwork(4, 1, 1, key=jax.random.key(0))
    >>> net, hist = train_ml_network(net, task, key=jax.random.key(1), epochs=1, batch=2, n_trials=5,
    ...                              method=OpenES(popsize=4, sigma=0.1), progress=False)
    >>> hist["forward_passes"]
    [21]
    """
    _check_task(net, task)
    key = prng_key("key", key)
    method = BPTT() if method is None else method
    if not isinstance(method, (BPTT, OpenES, PGPE, CMAES)):
        raise ArgumentTypeError(f"method must be BPTT(...), OpenES(...), PGPE(...) or CMAES(...), got {method!r}")
    if isinstance(method, BPTT):
        if method.rule is not None:
            raise ArgumentError("method: a Morris–Lecar network trains by exact gradients; BPTT(rule=...) must be None")
        if not task.differentiable:
            raise ArgumentError(f"loss={task.loss_name!r} has no useful gradient (a spike count is piecewise constant "
                                "in the parameters): backpropagation cannot train on it; use an evolution strategy "
                                "(--method es, OpenES(...))")
    elif method.fitness not in ("loss", "accuracy"):
        raise ArgumentError(f"method.fitness must be 'loss' or 'accuracy' for a Morris–Lecar network, "
                            f"got {method.fitness!r}")
    epochs = positive_int("epochs", epochs)
    batch = positive_int("batch", batch)
    n_trials = positive_int("n_trials", n_trials, low=2)
    if not (isinstance(val_fraction, float) and 0.0 < val_fraction < 1.0):
        raise ArgumentError(f"val_fraction must be a float in (0, 1), got {val_fraction!r}")
    n_val = max(1, round(val_fraction * n_trials))
    n_train = n_trials - n_val
    if batch > n_train:
        raise ArgumentError(f"batch must be <= the number of training trials ({n_train} of n_trials = {n_trials}), "
                            f"got {batch}")
    if max_nonfinite is not None:
        max_nonfinite = positive_int("max_nonfinite", max_nonfinite, low=0)
    if not isinstance(progress, bool):
        raise ArgumentTypeError(f"progress must be True or False, got {progress!r}")

    if not isinstance(resume, bool):
        raise ArgumentTypeError(f"resume must be True or False, got {resume!r}")
    out = None if out is None else output_folder(out, name="out")
    with claim_run_folder(out):
        return _train(net, task, key=key, epochs=epochs, method=method, batch=batch, n_trials=n_trials,
                      val_fraction=val_fraction, n_val=n_val, out=out, resume=resume, max_nonfinite=max_nonfinite,
                      progress=progress, config_extra=config_extra)


def _train(net, task, *, key, epochs, method, batch, n_trials, val_fraction, n_val, out, resume, max_nonfinite,
           progress, config_extra):
    """The checked run of :func:`train_ml_network`, in its claimed run folder."""
    n_train = n_trials - n_val
    k_trials, k_order, k_es = jax.random.split(key, 3)
    t_sample = time.perf_counter()
    trials = jax.block_until_ready(_sample(task, k_trials, n_trials))
    sample_seconds = time.perf_counter() - t_sample
    train_set, val_set = trials[:n_train], trials[n_train:]
    params, static = eqx.partition(net, eqx.is_inexact_array)
    n_batches = n_train // batch
    rng = np.random.default_rng(np.asarray(jax.random.key_data(k_order)).ravel().tolist())

    if isinstance(method, BPTT):
        name = "bptt"
        optimizer = Adam() if method.optimizer is None else method.optimizer
        step_opt, hyper = traced_optimizer(optimizer, jnp.result_type(*jax.tree_util.tree_leaves(params)))
        opt_state = traced_transformation(step_opt, hyper).init(params)
        per_step = batch
        opt_cfg = {"lr": optimizer.lr, "clip": optimizer.clip} if isinstance(optimizer, Adam) else {"optimizer": "optax"}

        def current(params, state):  # BP trains the parameters themselves
            return params
    else:
        name = method.name
        flat, unravel = ravel_pytree(params)
        template = params  # the compiled step unravels the flat parameters into this structure
        scale_tree = eqx.tree_at(lambda p: (p.g_raw, p.w_in, p.bias, p.w_out, p.b_out), params,
                                 (jnp.ones_like(params.g_raw), jnp.full_like(params.w_in, 10.0),
                                  jnp.full_like(params.bias, 10.0), jnp.ones_like(params.w_out),
                                  jnp.ones_like(params.b_out)))
        scales = ravel_pytree(scale_tree)[0]
        search = flat_search(method, int(flat.size))
        k_es, k_init = jax.random.split(k_es)
        opt_state = search.init(k_init, flat / scales)
        per_step = (search.popsize + 1) * batch
        opt_cfg = {"strategy": name, "popsize": search.popsize, "sigma": float(method.sigma),
                   "fitness": method.fitness}

        def current(params, state):  # ES: the search's mean, unscaled
            return unravel(jnp.asarray(search.mean(state), flat.dtype) * scales)

    config = {"task": task.config(), "model": model_config(net),
              "training": {"method": name, **opt_cfg, "epochs": epochs, "batch": batch, "n_trials": n_trials,
                           "val_fraction": val_fraction, "key": np.asarray(jax.random.key_data(key)).tolist(),
                           **(config_extra or {})}}
    # an interrupted run continues from its last checkpoint (the training machinery's run folder)
    params, opt_state, history, start_epoch, elapsed, _ = resume_run(
        out, config, resume=resume, epochs=epochs, params=params, state=opt_state, fields=HISTORY_FIELDS)
    history = {f: list(history[f]) for f in HISTORY_FIELDS}
    if history["epoch"][:1] == [0]:  # a checkpoint written before epochs were numbered from 1, as in train's
        history["epoch"] = [e + 1 for e in history["epoch"]]
    for _ in range(start_epoch):  # the minibatch orders of the epochs done: the same streams as in one go
        rng.permutation(n_train)
    forward = history["forward_passes"][-1] if history["forward_passes"] else 0
    step_no = start_epoch * n_batches
    final = current(params, opt_state)
    start = time.perf_counter() - elapsed
    cpu_start = time.process_time()
    # split keys do not depend on how many are drawn (JAX's partitionable Threefry): epochs may grow on resume
    es_keys = jax.random.split(k_es, max(epochs, start_epoch) * n_batches) if name != "bptt" else None
    bar = tqdm(range(start_epoch, epochs), desc=f"train {task.name} morris_lecar {name}", unit="epoch",
               disable=not progress, initial=start_epoch, total=epochs)

    def where(done):  # what the run folder keeps after `done` complete epochs
        return f" {out} keeps the checkpoint of the last complete epoch ({done})." if out is not None else ""

    for epoch in bar:
        order = rng.permutation(n_train)[: n_batches * batch].reshape(n_batches, batch)
        losses, gnorms, bad = [], [], 0
        epoch_start = current(params, opt_state)
        for b in range(n_batches):
            step_no += 1
            minibatch = train_set[order[b]]
            good = (params, opt_state)
            if name == "bptt":
                params, opt_state, loss, gnorm, ok = _bp_step(params, opt_state, static, minibatch, task, step_opt,
                                                              hyper)
                gnorms.append(float(gnorm))
            else:
                opt_state, loss, ok = _es_step(opt_state, es_keys[step_no - 1], static, template, scales, minibatch,
                                               task, search, method.fitness)
            forward += per_step
            ok = bool(ok)
            bad += not ok
            if ok:
                losses.append(float(loss))
            total_bad = sum(history["nonfinite_grads"]) + bad
            if not ok and max_nonfinite is not None and total_bad > max_nonfinite:
                bar.close()
                what = ("the loss or its gradient (norm " + f"{float(gnorm):.4g})" if name == "bptt"
                        else "the mean's loss, every member's loss, or the update")
                good_params = current(*good)
                err = DivergenceError(
                    f"{'backpropagation through the solver' if name == 'bptt' else name} diverged on {task.name}: in "
                    f"epoch {epoch + 1}, minibatch {b + 1} of {n_batches} (step {step_no}, {forward} trial solves) "
                    f"{what} was non-finite (loss {float(loss)}; {total_bad} non-finite step(s), max_nonfinite="
                    f"{max_nonfinite}); the update was not applied." + where(epoch)
                    + " The last good network is in this error's .model, the history in .history.", time=step_no)
                err.model = eqx.combine(good_params, static)
                err.history = history
                raise err
        final = current(params, opt_state)
        val_loss, val_acc = _evaluate(final, static, val_set, task)
        forward += n_val
        if not np.isfinite(float(val_loss)) and max_nonfinite is not None:
            bar.close()
            err = DivergenceError(
                f"{'backpropagation through the solver' if name == 'bptt' else name} diverged on {task.name}: after "
                f"epoch {epoch + 1} the network's validation loss is non-finite ({float(val_loss)}: a solve failed "
                "or blew up)." + where(epoch)
                + " The network before this epoch is in this error's .model, the history in .history.",
                time=step_no)
            err.model = eqx.combine(epoch_start, static)
            err.history = history
            raise err
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else float("nan"),
               "val_loss": float(val_loss), "val_accuracy": float(val_acc),
               "grad_norm": float(np.mean(gnorms)) if gnorms else float("nan"),
               "grad_norm_max": float(np.max(gnorms)) if gnorms else float("nan"), "nonfinite_grads": bad,
               "forward_passes": forward, "wall_time": time.perf_counter() - start}
        for f in HISTORY_FIELDS:
            history[f].append(row[f])
        if progress:
            bar.set_postfix(loss=f"{row['train_loss']:.4g}", acc=f"{row['val_accuracy']:.3f}", nonfinite=bad)
        if out is not None:  # everything a resumed run needs: parameters, optimizer or search state, history
            write_checkpoint(out, model=eqx.combine(final, static), params=jax.device_get(final),
                             opt_state=jax.device_get(opt_state), best=None,
                             history={k: list(v) for k, v in history.items()}, epoch=epoch + 1, config=config,
                             train_seconds=time.perf_counter() - start)
    bar.close()
    net = eqx.combine(final, static)
    if out is not None:
        finish_run(out, net, history, time.perf_counter() - start, sample_seconds=sample_seconds,
                   cpu_seconds=time.process_time() - cpu_start)
    return net, history


def evaluate_ml_run(run, *, n_trials: int = 200, seed: int = 12345, figures: bool = True) -> dict:
    """Return the accuracy and loss of a Morris–Lecar run folder on fresh trials; write
    ``evaluation.json`` and, with ``figures``, ``psychometric.png``.

    :func:`lowrank_rnn.training.evaluate` itself (which reads these folders as it reads those of
    the low-rank networks), after checking that ``run`` holds a Morris–Lecar run
    (:class:`~lowrank_rnn.RunFolderError` otherwise). The summary holds ``task``, ``model``,
    ``accuracy``, ``loss``, ``n_trials``, ``seed``, ``train_seconds``, ``epochs``,
    ``final_val_accuracy``, ``final_val_loss``, and ``nonfinite_grads`` (the total over training).

    >>> import jax, tempfile
    >>> from lowrank_rnn.tasks import get_task
    >>> from lowrank_rnn.training import OpenES
    >>> task = get_task("integration_memory", stimulus=20.0, delay=10.0, response=10.0, fixation=0.0,
    ...                 n_pulses=2, pulse_width=5.0)
    >>> run = tempfile.mkdtemp()
    >>> _ = train_ml_network(MorrisLecarNetwork(4, 1, 1, key=jax.random.key(0)), task, key=jax.random.key(1),
    ...                      epochs=1, batch=2, n_trials=5, method=OpenES(popsize=4, sigma=0.1), out=run,
    ...                      progress=False)
    >>> sorted(k for k in evaluate_ml_run(run, n_trials=4, figures=False) if k in ("accuracy", "loss"))
    ['accuracy', 'loss']
    """
    load_ml_run(run)  # a Morris–Lecar run, or RunFolderError
    return evaluate(run, n_trials=n_trials, seed=seed, figures=figures)


def _forward(net, task, inputs, key):
    """What the task's loss reads of ``net`` on trial inputs (no network noise: ``key`` unused)."""
    return _signal(net, task, inputs)


register_run_model(MorrisLecarNetwork, _forward)  # training.evaluate and 'lowrank-rnn evaluate' read the run folders


__all__ = ["train_ml_network", "ml_network_loss", "load_ml_run", "evaluate_ml_run", "model_config",
           "network_from_config"]
