"""The command line's learning-rule runs: a RateRNN for a task, trained by ``train`` with a rule."""

from __future__ import annotations

from pathlib import Path

import jax
import optax

from ._rate import RateRNN
from ._rules import credit_assignment


def rate_model(task, *, key: jax.Array, hidden: int | None = None, noise: float = 0.0,
               rank: int | None = None) -> RateRNN:
    """Return a Dale's-law ReLU :class:`RateRNN` for ``task`` (alpha = dt / tau).

    Delayed XOR gets the ModProp architecture (Liu et al. 2022, ``delayedXOR_task.py``): 120 units,
    ``int(0.8 N) + 1 = 97`` excitatory, sign-constrained readout. Other tasks: ``hidden`` units
    (default 128), the same 80 % excitatory split.
    """
    N = hidden if hidden is not None else (120 if task.name == "delayed_xor" else 128)
    n_exc = min(int(0.8 * N) + 1, N - 1)
    return RateRNN(N, task.n_inputs, task.n_outputs, key=key, rank=rank, n_excitatory=n_exc,
                   alpha=task.dt / task.tau, noise=noise, nonlinearity="relu", dale_readout=True)


def train_rule(task_name: str, rule, *, out: str | Path | None = None, seed: int = 0, hidden: int | None = None,
               rank: int | None = None, noise: float | None = None, epochs: int | None = None,
               lr: float | None = None, batch: int | None = None, n_trials: int = 1000, progress: bool = True,
               resume: bool = True):
    """Return ``(model, history)`` of a :class:`RateRNN` trained on a task by the learning rule ``rule``.

    The model is :func:`rate_model`; training is :func:`lowrank_rnn.training.train` with
    ``credit_assignment=rule`` and Adam whose learning rate (default 5e-4, the ModProp paper's) is
    multiplied by 0.8 every 300 updates. ``epochs`` defaults to the task's recipe; ``noise``
    (sigma) to none. The run folder is the one ``lowrank-rnn evaluate`` reads.
    """
    from ..tasks import get_task
    from ..training._recipes import get_recipe
    from ..training._train import train

    rule = credit_assignment(rule)
    recipe = get_recipe(task_name)
    task = get_task(task_name, **recipe.task_overrides)
    k_model, k_train = jax.random.split(jax.random.key(seed))
    model = rate_model(task, key=k_model, hidden=hidden, rank=rank, noise=0.0 if noise is None else noise)
    lr = 5e-4 if lr is None else lr
    optimizer = optax.adam(optax.exponential_decay(lr, 300, 0.8, staircase=True))
    return train(model, task, key=k_train, epochs=recipe.epochs if epochs is None else epochs,
                 batch=recipe.batch if batch is None else batch, n_trials=n_trials, optimizer=optimizer,
                 credit_assignment=rule, out=out, progress=progress, resume=resume)
