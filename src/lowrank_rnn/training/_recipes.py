"""The published training recipe of each task, and the command line's way of running one.

Numbers from the training scripts of Dubreuil, Valente et al. 2022 (Nat. Neurosci.; repository
``adrian-valente/populations_paper_code``, ``training_scripts/``). All use 1000 trials with 20 % held
out, batch 32, Adam.
Their network noise ``noise_std`` is per step with no ``sqrt(alpha)``; the model receives
``sigma = noise_std / sqrt(alpha)`` (:func:`~lowrank_rnn.models.noise_from_published`).

Tasks without a published low-rank recipe (gonogo, detection, flipflop, delayed_xor) get library
defaults, marked as such in :attr:`Recipe.source`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jax
import optax

from .._checks import positive_int, real_scalar
from .._errors import ArgumentError
from .._io import atomic_write_bytes
from ..learning import RateRNN, credit_assignment
from ..models import FullRankRNN, LowRankRNN, noise_from_published
from ..tasks import get_task
from . import _checkpoint as ckpt
from ._setup import Adam, RunSettings
from ._train import BPTT, Method, train


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How to train a low-rank network on one task.

    Attributes
    ----------
    task: the task name (``lowrank_rnn.tasks.get_task``).
    rank, hidden: rank R and number of neurons N.
    noise_std: network noise per step in the published convention (sigma sqrt(alpha) in ours).
    lr, epochs, batch, clip, early_stop: the :func:`~lowrank_rnn.training.train` arguments.
    train_inputs: whether the input vectors train (not only their scales).
    task_overrides: task arguments that differ from the task's defaults.
    pretrain: a full-rank pre-training stage whose top-R SVD initialises the low-rank network,
        as a dict of ``epochs``, ``lr`` (a function of N allowed as ``"lr_over_sqrt_n"``),
        ``noise_std`` and ``task_overrides`` (optional: ``early_stop``, ``keep_best``); None for none.
    stages: later low-rank stages (shaping), each a dict of ``task_overrides``, ``lr``, ``clip``
        and ``epochs``, trained in turn from the network of the stage before, with the recipe's
        ``batch`` and ``early_stop``; empty for none.
    keep_best: every stage returns the parameters of its epoch of lowest validation loss.
    source: where the numbers come from.

    Examples
    --------
    >>> r = RECIPES["rdm"]
    >>> r.task, r.rank, r.hidden
    ('rdm', 1, 512)
    """

    task: str
    rank: int
    hidden: int = 512
    noise_std: float = 0.05
    lr: float = 1e-2
    epochs: int = 30
    batch: int = 32
    clip: float | None = None
    early_stop: float | None = None
    train_inputs: bool = False
    task_overrides: dict = dataclasses.field(default_factory=dict)
    pretrain: dict | None = None
    stages: tuple[dict, ...] = ()
    keep_best: bool = False
    source: str = "Dubreuil, Valente et al. 2022, training_scripts"


RECIPES: dict[str, Recipe] = {
    "rdm": Recipe("rdm", rank=1, noise_std=0.05, lr=5e-3, epochs=20,
                  source="Dubreuil, Valente et al. 2022, rdm_fig1.py / train_rdm.py"),
    "mante": Recipe("mante", rank=1, noise_std=0.05, lr=1e-2, epochs=100, clip=0.1, early_stop=0.01,
                    train_inputs=True, source="Dubreuil, Valente et al. 2022, Mante training script"),
    "raposo": Recipe("raposo", rank=1, noise_std=0.05, lr=1e-2, epochs=30, train_inputs=True,
                     source="Dubreuil, Valente et al. 2022, Raposo training script (noise 0.05 assumed)"),
    "romo": Recipe("romo", rank=2, noise_std=5e-3, lr=1e-2, epochs=100, clip=1.0, early_stop=0.01,
                   pretrain={"epochs": 5, "lr": "lr_over_sqrt_n", "noise_std": 5e-3, "task_overrides": {}},
                   source="Dubreuil, Valente et al. 2022, Romo script: full-rank pre-training (5 epochs, "
                          "lr 1e-2/sqrt(N), noise 5e-3), top-2 SVD, 100 epochs lr 1e-2 clip 1 early stop 0.01"),
    "dms": Recipe("dms", rank=2, noise_std=0.05, lr=1e-2, epochs=300, clip=0.01, early_stop=0.05,
                  task_overrides={"delay_max": 700.0},
                  pretrain={"epochs": 50, "lr": 1e-5, "noise_std": 0.05, "task_overrides": {"delay_max": 2000.0},
                            "early_stop": 0.05, "keep_best": True},
                  stages=({"task_overrides": {"delay_max": 1000.0}, "lr": 1e-3, "clip": 1.0, "epochs": 50},
                          {"task_overrides": {"delay_max": 4000.0}, "lr": 1e-4, "clip": None, "epochs": 400}),
                  keep_best=True,
                  source="Dubreuil, Valente et al. 2022, dms_fig1.py: full-rank pre-training (lr 1e-5, 50 epochs, "
                         "delay <= 2000 ms), top-2 SVD, then delays <= 700 ms (lr 1e-2, clip 0.01, up to 300 "
                         "epochs), <= 1000 ms (lr 1e-3, clip 1, 50) and <= 4000 ms (lr 1e-4, 400), each stage "
                         "stopped at training loss 0.05 with its best epoch kept (noise 0.05 assumed)"),
    "gonogo": Recipe("gonogo", rank=1, source="library default (no published low-rank recipe)"),
    "detection": Recipe("detection", rank=1, source="library default (no published low-rank recipe)"),
    "flipflop": Recipe("flipflop", rank=3, train_inputs=True, source="library default (rank = number of bits)"),
    "delayed_xor": Recipe("delayed_xor", rank=2, train_inputs=True,
                          source="library default (no published low-rank recipe)"),
    "seqdigits": Recipe("seqdigits", rank=10, train_inputs=True,
                        source="library default (no published low-rank recipe; the task stands in for the "
                               "sequential MNIST of Liu et al. 2022, arXiv 2206.00823)"),
    "integration_memory": Recipe("integration_memory", rank=1, hidden=16, epochs=20, batch=16, train_inputs=True,
                                 source="library default (the Morris-Lecar task of Hazelden et al. 2023, whose "
                                        "settings are not public; --model morris_lecar trains the biophysical "
                                        "network). Measured: at these settings, and at N = 64 for 30 epochs, the "
                                        "low-rank network stays at chance (loss 1.0, the response is 0): the "
                                        "gradient fades through the 300 ms delay (tau 10 ms); without the delay "
                                        "it learns (accuracy 0.75 after 8 epochs at N = 64)"),
}


def get_recipe(name: str) -> Recipe:
    """Return the recipe of task ``name``; ValueError naming the known tasks otherwise."""
    if not isinstance(name, str) or name not in RECIPES:
        raise ArgumentError(f"unknown task {name!r}; known tasks are: {', '.join(RECIPES)}")
    return RECIPES[name]


def build_model(task, *, rank: int, hidden: int, noise: float, key: jax.Array) -> LowRankRNN:
    """Return a freshly initialised :class:`LowRankRNN` for ``task`` (alpha = dt / tau, sizes of the
    task's inputs and outputs, network noise ``noise`` in the library's convention).

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn.tasks import get_task
    >>> model = build_model(get_task("mante"), rank=1, hidden=64, noise=0.1, key=jax.random.key(0))
    >>> model.N, model.rank, model.alpha
    (64, 1, 0.2)
    """
    return LowRankRNN(hidden, rank, task.n_inputs, task.n_outputs, key=key, noise=noise,
                      alpha=task.dt / task.tau)


def check_overrides(*, rank=None, hidden=None, noise=None, epochs=None, lr=None, batch=None) -> dict:
    """Check the command line's overrides of a recipe; raise ValueError/TypeError naming the bad one."""
    out: dict[str, Any] = {}
    if rank is not None:
        out["rank"] = positive_int("rank", rank)
    if hidden is not None:
        out["hidden"] = positive_int("hidden", hidden)
    if rank is not None and hidden is not None and hidden < rank:
        raise ArgumentError(f"hidden must be >= rank (N >= R), got hidden = {hidden} and rank = {rank}")
    if noise is not None:
        out["noise"] = real_scalar("noise", noise, low=0.0)
    if epochs is not None:
        out["epochs"] = positive_int("epochs", epochs)
    if lr is not None:
        out["lr"] = real_scalar("lr", lr, low=0.0, low_open=True)
    if batch is not None:
        out["batch"] = positive_int("batch", batch)
    return out


def _with_optimizer(method: Method, optimizer: Adam):
    """Return ``method`` with ``optimizer`` where it moves by an optimizer and was given none."""
    if getattr(method, "optimizer", "none") is None:
        return dataclasses.replace(method, optimizer=optimizer)
    return method


def train_recipe(name: str, *, out: str | Path | None = None, seed: int = 0, rank: int | None = None,
                 hidden: int | None = None, noise: float | None = None, epochs: int | None = None,
                 lr: float | None = None, batch: int | None = None, method: Method | None = None,
                 n_trials: int = 1000, progress: bool = True, resume: bool = True):
    """Return ``(model, history)`` after training a network on task ``name`` by its :data:`RECIPES` entry.

    ``rank``, ``hidden``, ``noise`` (sigma, library convention), ``epochs``, ``lr`` and ``batch``
    override the recipe; ``seed`` makes the run (initialisation, trials, noise) reproducible.
    A recipe with a full-rank pre-training stage runs it first (into ``out/pretrain``) and starts
    the low-rank network from the top-R SVD of its connectivity; a recipe with later ``stages`` trains
    them in turn (``out/stage1``, ... hold all but the last, which is ``out``; ``epochs`` and ``lr``
    override the first low-rank stage only; the history returned is the last stage's). ``method`` trains
    the low-rank stages: :class:`~lowrank_rnn.training.BPTT` by default; a method given without an
    optimizer (``BPTT()``, ``OpenES()``, ``PGPE()``) gets each stage's, ``Adam(lr, clip=...)``; a
    pre-training stage keeps backpropagation (and its 1000 trials). ``n_trials`` trials are drawn for
    each low-rank stage (20 % held out).
    ``out`` is held for the whole recipe (:func:`~lowrank_rnn.training.train`'s run folder).

    Examples
    --------
    >>> model, history = train_recipe("rdm", hidden=32, epochs=2, n_trials=64, progress=False)
    >>> model.N, len(history["train_loss"])
    (32, 2)
    """
    recipe = get_recipe(name)
    ov = check_overrides(rank=rank, hidden=hidden, noise=noise, epochs=epochs, lr=lr, batch=batch)
    R, N = ov.get("rank", recipe.rank), ov.get("hidden", recipe.hidden)
    if N < R:
        raise ArgumentError(f"hidden must be >= rank (N >= R), got hidden = {N} and rank = {R}")
    given = method
    method = _with_optimizer(BPTT() if method is None else method, Adam(ov.get("lr", recipe.lr), clip=recipe.clip))
    task = get_task(name, **recipe.task_overrides)
    alpha = task.dt / task.tau
    sigma = ov.get("noise", noise_from_published(recipe.noise_std, alpha))
    k_init, k_pre, k_train = jax.random.split(jax.random.key(positive_int("seed", seed, low=0)), 3)
    run = RunSettings(out=out, resume=resume)
    with ckpt.claim(run.out):
        if recipe.pretrain is not None:
            pre = recipe.pretrain
            pre_task = get_task(name, **pre["task_overrides"])
            pre_lr = 1e-2 / N ** 0.5 if pre["lr"] == "lr_over_sqrt_n" else float(pre["lr"])
            full = FullRankRNN(N, task.n_inputs, task.n_outputs, key=k_init, alpha=alpha,
                               noise=noise_from_published(pre["noise_std"], alpha))
            pre_run = RunSettings(out=None if run.out is None else run.out / "pretrain", resume=resume)
            if pre.get("keep_best", False):
                pre_run = dataclasses.replace(pre_run, keep_best=True)
            full, _ = train(full, pre_task, key=k_pre, epochs=int(pre["epochs"]), method=BPTT(optimizer=Adam(pre_lr)),
                            batch=recipe.batch, early_stop=pre.get("early_stop"), run=pre_run, progress=progress)
            model = LowRankRNN.from_full_rank(full, R)
            model = LowRankRNN(N, R, task.n_inputs, task.n_outputs, noise=sigma, alpha=alpha, m=model.m, n=model.n,
                               input_vectors=model.input_vectors, input_scales=model.input_scales,
                               readout_vectors=model.readout_vectors, readout_scales=model.readout_scales,
                               h0=model.h0)
        else:
            model = build_model(task, rank=R, hidden=N, noise=sigma, key=k_init)
        first = {"task_overrides": recipe.task_overrides, "lr": ov.get("lr", recipe.lr), "clip": recipe.clip,
                 "epochs": ov.get("epochs", recipe.epochs)}
        stages = [first, *recipe.stages]
        for i, stage in enumerate(stages):
            last = i == len(stages) - 1
            folder = run.out if last or run.out is None else run.out / f"stage{i + 1}"
            stage_method = method if i == 0 else _with_optimizer(BPTT() if given is None else given,
                                                                 Adam(float(stage["lr"]), clip=stage["clip"]))
            model, history = train(model, get_task(name, **stage["task_overrides"]),
                                   key=jax.random.fold_in(k_train, i) if recipe.stages else k_train,
                                   epochs=int(stage["epochs"]), method=stage_method,
                                   batch=ov.get("batch", recipe.batch),
                                   n_trials=n_trials, early_stop=recipe.early_stop,
                                   trainable=model.trainable(inputs=recipe.train_inputs),
                                   run=RunSettings(out=folder, resume=resume, keep_best=recipe.keep_best),
                                   progress=progress)
        return model, history


# ------------------------------------------------------------------------------------- learning rules
def rate_model(task, *, key: jax.Array, hidden: int | None = None, noise: float = 0.0,
               rank: int | None = None) -> RateRNN:
    """Return a Dale's-law ReLU :class:`~lowrank_rnn.learning.RateRNN` for ``task`` (alpha = dt / tau).

    Delayed XOR gets the ModProp architecture (Liu et al. 2022, ``delayedXOR_task.py``): 120 units,
    ``int(0.8 N) + 1 = 97`` excitatory, sign-constrained readout. Other tasks: ``hidden`` units
    (default 128), the same 80 % excitatory split.

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn.tasks import get_task
    >>> net = rate_model(get_task("delayed_xor"), key=jax.random.key(0))
    >>> net.N, net.n_excitatory
    (120, 97)
    """
    N = hidden if hidden is not None else (120 if task.name == "delayed_xor" else 128)
    n_exc = min(int(0.8 * N) + 1, N - 1)
    return RateRNN(N, task.n_inputs, task.n_outputs, key=key, rank=rank, n_excitatory=n_exc,
                   alpha=task.dt / task.tau, noise=noise, nonlinearity="relu", dale_readout=True)


def weight_matrices(params):
    """The mask of the weight matrices (2-D leaves) of a parameter tree, for the L2 term."""
    return jax.tree_util.tree_map(lambda x: getattr(x, "ndim", 0) == 2, params)


def train_rule(task_name: str, rule, *, out: str | Path | None = None, seed: int = 0, hidden: int | None = None,
               rank: int | None = None, noise: float | None = None, epochs: int | None = None,
               lr: float | None = None, batch: int | None = None, n_trials: int = 1000, l2: float | None = None,
               progress: bool = True, resume: bool = True):
    """Return ``(model, history)`` of a :class:`~lowrank_rnn.learning.RateRNN` trained on a task by the
    learning rule ``rule``.

    The model is :func:`rate_model`; training is :func:`~lowrank_rnn.training.train` with
    ``BPTT(rule=rule)`` and Adam whose learning rate (default 5e-4, the ModProp paper's) is
    multiplied by 0.8 every 300 updates. ``epochs`` defaults to the task's recipe; ``noise``
    (sigma) to none. ``l2`` adds ``l2/2 sum ||W||^2`` over the weight matrices (recurrent, input and
    readout; not scales, biases or the initial state) to the loss being minimised, as the gradient term
    ``l2 W`` ahead of Adam; default 5e-4 for delayed XOR (the ModProp paper's), 0 otherwise. The run
    folder is the one ``lowrank-rnn evaluate`` reads; ``rule_recipe.json`` there records the optimizer.

    Examples
    --------
    >>> model, history = train_rule("delayed_xor", "eprop", hidden=20, epochs=1, n_trials=64, progress=False)
    >>> type(model).__name__, len(history["train_loss"])
    ('RateRNN', 1)
    """
    rule = credit_assignment(rule)
    l2 = (5e-4 if task_name == "delayed_xor" else 0.0) if l2 is None else real_scalar("l2", l2, low=0.0)
    recipe = get_recipe(task_name)
    task = get_task(task_name, **recipe.task_overrides)
    k_model, k_train = jax.random.split(jax.random.key(seed))
    model = rate_model(task, key=k_model, hidden=hidden, rank=rank, noise=0.0 if noise is None else noise)
    lr = 5e-4 if lr is None else lr
    optimizer = optax.adam(optax.exponential_decay(lr, 300, 0.8, staircase=True))
    if l2 > 0:  # grad of l2/2 ||W||^2 is l2 W, added before Adam: the same update as the term in the loss
        optimizer = optax.chain(optax.add_decayed_weights(l2, mask=weight_matrices), optimizer)
    run = RunSettings(out=out, resume=resume)
    with ckpt.claim(run.out):
        if run.out is not None:  # train's config records a custom optimizer only as "custom": say what it is
            recipe_note = {"optimizer": "adam", "lr": lr, "lr_decay": {"factor": 0.8, "every_updates": 300},
                           "l2": l2, "l2_on": "weight matrices (2-D parameters)", "rule": rule.spec()}
            atomic_write_bytes(run.out / "rule_recipe.json", (json.dumps(recipe_note, indent=2) + "\n").encode())
        return train(model, task, key=k_train, epochs=recipe.epochs if epochs is None else epochs,
                     method=BPTT(optimizer=optimizer, rule=rule), batch=recipe.batch if batch is None else batch,
                     n_trials=n_trials, run=run, progress=progress)
