"""The published training recipe of each task, and the command line's way of running one.

Numbers from the training scripts of Dubreuil, Valente et al. 2022 (Nat. Neurosci.; repository
``adrian-valente/populations_paper_code``, ``training_scripts/``), as digested in the project's
reference notes (§5.1 "Training recipes"). All use 1000 trials with 20 % held out, batch 32, Adam.
Their network noise ``noise_std`` is per step with no ``sqrt(alpha)``; the model receives
``sigma = noise_std / sqrt(alpha)`` (:func:`~lowrank_rnn.models.noise_from_published`).

Tasks without a published low-rank recipe (gonogo, detection, flipflop, delayed_xor) get library
defaults, marked as such in :attr:`Recipe.source`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax

from .._checks import positive_int, real_scalar
from .._errors import ArgumentError
from ..models import FullRankRNN, LowRankRNN, noise_from_published


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
        ``noise_std`` and ``task_overrides``; None for none.
    source: where the numbers come from.
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
    "dms": Recipe("dms", rank=2, noise_std=0.05, lr=1e-2, epochs=300, clip=0.01, early_stop=0.01,
                  task_overrides={"delay_max": 700.0},
                  pretrain={"epochs": 50, "lr": 1e-5, "noise_std": 0.05, "task_overrides": {"delay_max": 2000.0}},
                  source="Dubreuil, Valente et al. 2022, DMS script: full-rank pre-training (lr 1e-5, 50 epochs, "
                         "delay <= 2000 ms), top-2 SVD, lr 1e-2 clip 0.01 up to 300 epochs at delay <= 700 ms "
                         "(the later widening of the delay range is not reproduced; noise 0.05 assumed)"),
    "gonogo": Recipe("gonogo", rank=1, source="library default (no published low-rank recipe)"),
    "detection": Recipe("detection", rank=1, source="library default (no published low-rank recipe)"),
    "flipflop": Recipe("flipflop", rank=3, train_inputs=True, source="library default (rank = number of bits)"),
    "delayed_xor": Recipe("delayed_xor", rank=2, train_inputs=True,
                          source="library default (no published low-rank recipe)"),
}


def get_recipe(name: str) -> Recipe:
    """Return the recipe of task ``name``; ValueError naming the known tasks otherwise."""
    if not isinstance(name, str) or name not in RECIPES:
        raise ArgumentError(f"unknown task {name!r}; known tasks are: {', '.join(RECIPES)}")
    return RECIPES[name]


def build_model(task, *, rank: int, hidden: int, noise: float, key: jax.Array) -> LowRankRNN:
    """Return a freshly initialised :class:`LowRankRNN` for ``task`` (alpha = dt / tau, sizes of the
    task's inputs and outputs, network noise ``noise`` in the library's convention)."""
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


def train_recipe(name: str, *, out: str | Path | None = None, seed: int = 0, rank: int | None = None,
                 hidden: int | None = None, noise: float | None = None, epochs: int | None = None,
                 lr: float | None = None, batch: int | None = None, progress: bool = True,
                 resume: bool = True, **options):
    """Return ``(model, history)`` after training a network on task ``name`` by its :data:`RECIPES` entry.

    ``rank``, ``hidden``, ``noise`` (sigma, library convention), ``epochs``, ``lr`` and ``batch``
    override the recipe; ``seed`` makes the run (initialisation, trials, noise) reproducible.
    A recipe with a full-rank pre-training stage runs it first (into ``out/pretrain``) and starts
    the low-rank network from the top-R SVD of its connectivity. ``options`` are further arguments
    of :func:`~lowrank_rnn.training.train` for the (final) low-rank stage, e.g. ``method="es",
    strategy="cma_es"``; a pre-training stage keeps backpropagation.
    """
    from ..tasks import get_task
    from ._train import train

    recipe = get_recipe(name)
    ov = check_overrides(rank=rank, hidden=hidden, noise=noise, epochs=epochs, lr=lr, batch=batch)
    R, N = ov.get("rank", recipe.rank), ov.get("hidden", recipe.hidden)
    if N < R:
        raise ArgumentError(f"hidden must be >= rank (N >= R), got hidden = {N} and rank = {R}")
    task = get_task(name, **recipe.task_overrides)
    alpha = task.dt / task.tau
    sigma = ov.get("noise", noise_from_published(recipe.noise_std, alpha))
    k_init, k_pre, k_train = jax.random.split(jax.random.key(positive_int("seed", seed, low=0)), 3)
    out = None if out is None else Path(out)
    if recipe.pretrain is not None:
        pre = recipe.pretrain
        pre_task = get_task(name, **pre["task_overrides"])
        pre_lr = 1e-2 / N ** 0.5 if pre["lr"] == "lr_over_sqrt_n" else float(pre["lr"])
        full = FullRankRNN(N, task.n_inputs, task.n_outputs, key=k_init, alpha=alpha,
                           noise=noise_from_published(pre["noise_std"], alpha))
        full, _ = train(full, pre_task, key=k_pre, epochs=int(pre["epochs"]), lr=pre_lr, batch=recipe.batch,
                        out=None if out is None else out / "pretrain", progress=progress, resume=resume)
        model = LowRankRNN.from_full_rank(full, R)
        model = LowRankRNN(N, R, task.n_inputs, task.n_outputs, noise=sigma, alpha=alpha, m=model.m, n=model.n,
                           input_vectors=model.input_vectors, input_scales=model.input_scales,
                           readout_vectors=model.readout_vectors, readout_scales=model.readout_scales,
                           h0=model.h0)
    else:
        model = build_model(task, rank=R, hidden=N, noise=sigma, key=k_init)
    return train(model, task, key=k_train, epochs=ov.get("epochs", recipe.epochs), lr=ov.get("lr", recipe.lr),
                 batch=ov.get("batch", recipe.batch), clip=recipe.clip, early_stop=recipe.early_stop,
                 trainable=model.trainable(inputs=recipe.train_inputs), out=out, progress=progress,
                 resume=resume, **options)
