"""The command line's learning-rule runs: a RateRNN for a task, trained by ``train`` with a rule."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import optax

from .._checks import real_scalar
from .._io import atomic_write_bytes
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


def _matrices(params):
    """The mask of the weight matrices (2-D leaves) of a parameter tree, for the L2 term."""
    return jax.tree_util.tree_map(lambda x: getattr(x, "ndim", 0) == 2, params)


def train_rule(task_name: str, rule, *, out: str | Path | None = None, seed: int = 0, hidden: int | None = None,
               rank: int | None = None, noise: float | None = None, epochs: int | None = None,
               lr: float | None = None, batch: int | None = None, n_trials: int = 1000, l2: float | None = None,
               progress: bool = True, resume: bool = True):
    """Return ``(model, history)`` of a :class:`RateRNN` trained on a task by the learning rule ``rule``.

    The model is :func:`rate_model`; training is :func:`lowrank_rnn.training.train` with
    ``credit_assignment=rule`` and Adam whose learning rate (default 5e-4, the ModProp paper's) is
    multiplied by 0.8 every 300 updates. ``epochs`` defaults to the task's recipe; ``noise``
    (sigma) to none. ``l2`` adds ``l2/2 sum ||W||^2`` over the weight matrices (recurrent, input and
    readout; not scales, biases or the initial state) to the loss being minimised, as the gradient term
    ``l2 W`` ahead of Adam; default 5e-4 for delayed XOR (the ModProp paper's), 0 otherwise. The run
    folder is the one ``lowrank-rnn evaluate`` reads.
    """
    from ..tasks import get_task
    from ..training._recipes import get_recipe
    from ..training._train import train

    rule = credit_assignment(rule)
    l2 = (5e-4 if task_name == "delayed_xor" else 0.0) if l2 is None else real_scalar("l2", l2, low=0.0)
    recipe = get_recipe(task_name)
    task = get_task(task_name, **recipe.task_overrides)
    k_model, k_train = jax.random.split(jax.random.key(seed))
    model = rate_model(task, key=k_model, hidden=hidden, rank=rank, noise=0.0 if noise is None else noise)
    lr = 5e-4 if lr is None else lr
    optimizer = optax.adam(optax.exponential_decay(lr, 300, 0.8, staircase=True))
    if l2 > 0:  # grad of l2/2 ||W||^2 is l2 W, added before Adam: the same update as the term in the loss
        optimizer = optax.chain(optax.add_decayed_weights(l2, mask=_matrices), optimizer)
    if out is not None:  # train's config records a custom optimizer only as "custom": say what it is
        Path(out).mkdir(parents=True, exist_ok=True)
        recipe_note = {"optimizer": "adam", "lr": lr, "lr_decay": {"factor": 0.8, "every_updates": 300},
                       "l2": l2, "l2_on": "weight matrices (2-D parameters)", "rule": rule.spec()}
        atomic_write_bytes(Path(out) / "rule_recipe.json", (json.dumps(recipe_note, indent=2) + "\n").encode())
    return train(model, task, key=k_train, epochs=recipe.epochs if epochs is None else epochs,
                 batch=recipe.batch if batch is None else batch, n_trials=n_trials, optimizer=optimizer,
                 credit_assignment=rule, out=out, progress=progress, resume=resume)
