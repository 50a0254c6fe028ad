"""``lowrank-rnn train --model morris_lecar`` (``lowrank-rnn evaluate`` reads its run folders through
:func:`lowrank_rnn.training.evaluate`)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import jax

from .._checks import positive_int, real_scalar
from .._errors import ArgumentError
from ..tasks import get_task
from ..training import BPTT, Adam, get_strategy
from ._ml_network import MorrisLecarNetwork
from ._ml_train import train_ml_network

#: the tasks a Morris–Lecar network trains on from the command line
ML_TASKS = ("integration_memory",)
#: the train flags of the low-rank recipes that mean nothing for a Morris–Lecar network
_UNUSED = ("rank", "noise", "rule", "l2")


def cmd_train(args: argparse.Namespace) -> int:
    """Train a Morris–Lecar network from the parsed ``lowrank-rnn train`` arguments; every argument
    is checked before anything compiles.

    >>> import argparse
    >>> args = argparse.Namespace(task="rdm", model="morris_lecar")
    >>> try:
    ...     cmd_train(args)
    ... except ArgumentError as err:
    ...     print(str(err)[:40])
    --model morris_lecar trains on the tasks
    """
    if args.task not in ML_TASKS:
        raise ArgumentError(f"--model morris_lecar trains on the tasks {', '.join(ML_TASKS)}, got --task {args.task}")
    given = [f"--{k.replace('_', '-')}" for k in _UNUSED if getattr(args, k, None) is not None]
    if given:
        raise ArgumentError(f"{', '.join(given)}: not an option of --model morris_lecar")
    loss = args.loss or "mse"
    if loss == "spike_count" and args.method == "bptt":
        raise ArgumentError("--loss spike_count has no useful gradient (a spike count is piecewise constant in the "
                            "parameters): --method bptt cannot train on it; use --method es")
    es_given = [f"--{k}" for k in ("strategy", "popsize", "sigma", "fitness") if getattr(args, k, None) is not None]
    if args.method != "es" and es_given:
        raise ArgumentError(f"{', '.join(es_given)}: options of --method es (evolution strategies), not of --method bptt")
    hidden = positive_int("hidden", 16 if args.hidden is None else args.hidden)
    epochs = positive_int("epochs", 20 if args.epochs is None else args.epochs)
    batch = positive_int("batch", 16 if args.batch is None else args.batch)
    n_trials = positive_int("trials", 100 if args.trials is None else args.trials, low=2)
    lr = real_scalar("lr", 1e-2 if args.lr is None else args.lr, low=0.0, low_open=True)
    if args.seed < 0:
        raise ArgumentError(f"seed must be an integer >= 0, got {args.seed}")
    overrides = {"loss": loss}
    if args.trial_ms is not None:  # shorter trials: every epoch scaled from the default 950 ms
        f = real_scalar("trial-ms", args.trial_ms, low=0.0, low_open=True) / 950.0
        overrides.update(fixation=round(50 * f), stimulus=round(400 * f / 5) * 5, delay=round(300 * f),
                         response=max(1, round(200 * f)), pulse_width=max(1, round(20 * f)))
    task = get_task(args.task, **overrides)
    if args.method == "es":
        method = get_strategy(args.strategy or "openai_es", popsize=args.popsize, sigma=args.sigma, fitness=args.fitness)
        if hasattr(method, "optimizer") and method.optimizer is None and args.lr is not None:
            method = dataclasses.replace(method, optimizer=Adam(lr))
    else:
        method = BPTT(optimizer=Adam(lr))
    key = jax.random.key(args.seed)
    k_net, k_train = jax.random.split(key)
    net = MorrisLecarNetwork(hidden, task.n_inputs, task.n_outputs, key=k_net, dt=task.dt, solver=args.solver or "tsit5")
    _, history = train_ml_network(net, task, key=k_train, epochs=epochs, method=method, batch=batch, n_trials=n_trials,
                                  out=args.out, resume=not args.restart, progress=not args.quiet,
                                  config_extra={"seed": args.seed, "cli": "lowrank-rnn train --model morris_lecar"})
    seconds = float((Path(args.out) / "train_seconds").read_text())
    print(f"trained {args.task} (Morris-Lecar, N = {hidden}, loss {loss}, {args.method}) for {len(history['epoch'])} "
          f"epochs in {seconds:.2f} s: validation loss {history['val_loss'][-1]:.4g}, accuracy "
          f"{history['val_accuracy'][-1]:.3f}, non-finite gradients {sum(history['nonfinite_grads'])}; wrote {args.out}")
    return 0


__all__ = ["cmd_train", "ML_TASKS"]
