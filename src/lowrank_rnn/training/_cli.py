"""The ``lowrank-rnn train`` and ``lowrank-rnn evaluate`` sub-commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import jax

from .._checks import positive_int
from .._errors import ArgumentError
from ..learning import credit_assignment
from ._es import get_strategy
from ._evaluate import evaluate
from ._recipes import RECIPES, check_overrides, get_recipe, train_recipe, train_rule

ES_FLAGS = ("strategy", "popsize", "sigma", "fitness")
ML_FLAGS = ("loss", "solver", "trial_ms")  # options of --model morris_lecar (lowrank_rnn.biophys)


def enable_compilation_cache() -> None:
    """Keep JAX's compiled programs on disk so a second run of the same recipe skips compilation.

    The folder is ``$LOWRANK_RNN_JAX_CACHE`` or ``~/.cache/lowrank-rnn/jax``. Called by the
    command line only: the library never changes JAX's configuration at import. A process that
    already chose a cache folder (``jax_compilation_cache_dir`` set, as a test harness or a user's
    session does when it calls the command line's ``main``) keeps its own settings: JAX reads the
    folder once, and the threshold that process chose stays in force.
    """
    if jax.config.jax_compilation_cache_dir:
        return
    folder = os.environ.get("LOWRANK_RNN_JAX_CACHE", str(Path.home() / ".cache" / "lowrank-rnn" / "jax"))
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def _summary(args: argparse.Namespace, what: str, history: dict) -> str:
    seconds = float((Path(args.out) / "train_seconds").read_text())
    return (f"trained {args.task} {what} for {len(history['epoch'])} epochs in {seconds:.2f} s: validation loss "
            f"{history['val_loss'][-1]:.4g}, accuracy {history['val_accuracy'][-1]:.3f}; wrote {args.out}")


def cmd_train(args: argparse.Namespace) -> int:
    ml_only = [f"--{k.replace('_', '-')}" for k in ML_FLAGS if getattr(args, k, None) is not None]
    if ml_only:
        raise ArgumentError(f"{', '.join(ml_only)}: options of --model morris_lecar only")
    recipe = get_recipe(args.task)  # unknown task: one clear line, before anything compiles
    ov = check_overrides(rank=args.rank, hidden=args.hidden, noise=args.noise, epochs=args.epochs,
                         lr=args.lr, batch=args.batch)
    rank, hidden = ov.get("rank", recipe.rank), ov.get("hidden", recipe.hidden)
    if hidden < rank:
        raise ArgumentError(f"hidden must be >= rank (N >= R), got hidden = {hidden} and rank = {rank}")
    if args.seed < 0:
        raise ArgumentError(f"seed must be an integer >= 0, got {args.seed}")
    given = [f"--{k}" for k in ES_FLAGS if getattr(args, k) is not None]
    if args.method != "es" and given:
        raise ArgumentError(f"{', '.join(given)} {'is an option' if len(given) == 1 else 'are options'} of "
                            "--method es (evolution strategies), not of --method bptt")
    method = None  # the recipe's backpropagation
    if args.method == "es":  # before any compilation (a pre-training stage included)
        method = get_strategy(args.strategy or "openai_es", popsize=args.popsize, sigma=args.sigma,
                              fitness=args.fitness)
    n_trials = 1000 if args.trials is None else positive_int("trials", args.trials, low=2)
    if args.l2 is not None and args.rule is None:
        raise ArgumentError("--l2 applies to the learning-rule runs (--rule); the published recipes have no L2 term")
    if args.rule is not None:  # a local learning rule on a Dale's-law RateRNN
        rule = credit_assignment(args.rule)  # a bad rule: one clear line, before anything compiles
        if args.method != "bptt":
            raise ArgumentError("--rule chooses how gradients are assigned; it does not combine with --method es")
        _, history = train_rule(args.task, rule, out=args.out, seed=args.seed, hidden=ov.get("hidden"),
                                rank=ov.get("rank"), noise=args.noise, epochs=args.epochs, lr=args.lr,
                                batch=args.batch, n_trials=n_trials, l2=args.l2, progress=not args.quiet,
                                resume=not args.restart)
        print(_summary(args, f"with {rule.spec()} (Dale's-law RateRNN)", history))
        return 0
    _, history = train_recipe(args.task, out=args.out, seed=args.seed, rank=rank, hidden=hidden, noise=args.noise,
                              epochs=args.epochs, lr=args.lr, batch=args.batch, method=method, n_trials=n_trials,
                              progress=not args.quiet, resume=not args.restart)
    print(_summary(args, f"(rank {rank}, N = {hidden})", history))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    summary = evaluate(args.run, n_trials=args.trials, seed=args.seed, figures=not args.no_figures)
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        ts = summary["train_seconds"]
        print(f"{summary['task']}: accuracy {summary['accuracy']:.3f}, loss {summary['loss']:.4g} on "
              f"{summary['n_trials']} fresh trials" + (f"; trained in {ts:.2f} s" if ts is not None else "")
              + (f"; {summary['nonfinite_grads']} non-finite gradient(s) in training" if "nonfinite_grads" in summary
                 else ""))
        for key in ("psychometric_figure", "latents_figure"):
            if key in summary:
                print(f"wrote {summary[key]}")
    return 0


def add_parsers(sub) -> None:
    """Add the ``train`` and ``evaluate`` sub-commands to an argparse sub-parsers object."""
    tr = sub.add_parser("train", help="train a low-rank network on a task by its published recipe",
                        description="Train a low-rank RNN on a cognitive task with the task's published recipe "
                                    "(Dubreuil, Valente et al. 2022); the options override it.")
    tr.add_argument("--task", required=True, help=f"one of {', '.join(RECIPES)}")
    tr.add_argument("--out", required=True, help="run folder (checkpoints, model.npz, history, config)")
    tr.add_argument("--rank", type=int, default=None, help="rank R (default: the recipe's)")
    tr.add_argument("--hidden", type=int, default=None, help="number of neurons N (default: the recipe's, 512)")
    tr.add_argument("--noise", type=float, default=None,
                    help="network noise sigma in this library's convention (default: the recipe's "
                         "noise_std / sqrt(alpha), e.g. 0.05 -> 0.1118)")
    tr.add_argument("--epochs", type=int, default=None, help="maximum epochs (default: the recipe's)")
    tr.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: the recipe's)")
    tr.add_argument("--batch", type=int, default=None, help="minibatch size (default: the recipe's, 32)")
    tr.add_argument("--seed", type=int, default=0, help="random seed of initialisation, trials and noise (default 0)")
    tr.add_argument("--method", default="bptt", choices=("bptt", "es"),
                    help="bptt (backpropagation through time, default) or es (evolution strategies)")
    tr.add_argument("--strategy", default=None, choices=("openai_es", "cma_es", "pgpe"),
                    help="with --method es: the evolution strategy (default openai_es)")
    tr.add_argument("--popsize", type=int, default=None,
                    help="with --method es: population size (default 64; cma_es: 4 + 3 ln D)")
    tr.add_argument("--sigma", type=float, default=None,
                    help="with --method es: perturbation scale (initial step size of cma_es; default 0.05)")
    tr.add_argument("--fitness", default=None, choices=("loss", "accuracy"),
                    help="with --method es: minimise the task loss (default) or the error rate 1 - accuracy")
    tr.add_argument("--rule", default=None,
                    help="train a Dale's-law rate RNN (lowrank_rnn.learning.RateRNN) with a learning rule: bptt, "
                         "tbptt(k), eprop, rflo, mdgl, mdgl_celltype, modprop, modprop(mu), feedback_alignment "
                         "(delayed_xor: the ModProp paper's 120-unit network, Adam 5e-4 decayed x0.8 every 300 "
                         "updates)")
    tr.add_argument("--l2", type=float, default=None,
                    help="with --rule: L2 coefficient on the weight matrices, loss + l2/2 sum ||W||^2 (default "
                         "5e-4 on delayed_xor, the ModProp paper's; 0 otherwise)")
    tr.add_argument("--trials", type=int, default=None,
                    help="trials drawn for training and validation (default 1000, 20%% held out)")
    tr.add_argument("--model", default="lowrank", choices=("lowrank", "morris_lecar"),
                    help="lowrank (default: the task's recipe) or morris_lecar (a network of Morris-Lecar neurons, "
                         "lowrank_rnn.biophys; --task integration_memory)")
    tr.add_argument("--loss", default=None, choices=("mse", "window_mse", "spike_count"),
                    help="with --model morris_lecar: mse of the readout (default), window_mse (of its mean over the "
                         "response window) or spike_count (the readout cell's spike count against a threshold; "
                         "--method es only)")
    tr.add_argument("--solver", default=None, choices=("tsit5", "kvaerno5"),
                    help="with --model morris_lecar: tsit5 (explicit, default) or kvaerno5 (stiff, implicit)")
    tr.add_argument("--trial-ms", type=float, default=None,
                    help="with --model morris_lecar: trial length in ms, every epoch scaled (default 950)")
    tr.add_argument("--restart", action="store_true", help="ignore a checkpoint in --out and start over")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.add_argument("--no-cache", action="store_true", help="do not use the on-disk compilation cache")
    tr.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="accuracy, loss and figures of a trained run on fresh trials")
    ev.add_argument("run", help="run folder written by 'lowrank-rnn train'")
    ev.add_argument("--trials", type=int, default=1000, help="number of fresh trials (default 1000)")
    ev.add_argument("--seed", type=int, default=12345, help="seed of the fresh trials and noise (default 12345)")
    ev.add_argument("--json", action="store_true", help="print a machine-readable summary")
    ev.add_argument("--no-figures", action="store_true", help="skip the psychometric and latent figures")
    ev.add_argument("--no-cache", action="store_true", help="do not use the on-disk compilation cache")
    ev.set_defaults(func=cmd_evaluate)
