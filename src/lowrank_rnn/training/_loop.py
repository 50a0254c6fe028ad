"""The epoch loop shared by backpropagation and evolution strategies: resume, progress, divergence,
keep-best, early stop and checkpoints, around a compiled epoch that each method supplies."""

from __future__ import annotations

import time
from collections.abc import Callable

import equinox as eqx
import jax
from tqdm.auto import tqdm

from .._errors import DivergenceError
from . import _checkpoint as ckpt
from ._setup import Setup


def run_epochs(setup: Setup, run_epoch: Callable, params, state, *, config: dict, fields, desc: str,
               diverged: Callable[[int, int, str], str], extra: Callable[[dict, int], dict] = lambda stats, epoch: {}):
    """Return ``(model, history)`` after the epochs of a run, resumed from its folder when it has one.

    Draws the run's trials, then calls ``run_epoch(epoch, params, state, train_set, val_set) ->
    (params, state, stats)``, one compiled epoch, for each epoch not yet done; ``stats`` holds
    ``train_loss``, ``val_loss``, ``val_accuracy`` and ``bad_batch`` (the first minibatch whose
    update was non-finite, -1 if none), plus whatever ``extra(stats, epoch)`` turns into further
    history fields. A non-finite epoch raises :class:`DivergenceError` with the message
    ``diverged(epoch, bad_batch, where)`` (``where`` names the last good checkpoint, kept, or is
    empty); checkpoints are written on a background thread while the next epoch computes.
    """
    params, state, history, start_epoch, elapsed, best = ckpt.resume_run(
        setup.run.out, config, resume=setup.run.resume, epochs=setup.epochs, params=params, state=state, fields=fields)
    t_sample = time.perf_counter()
    train_set, val_set = jax.block_until_ready(setup.trials())
    sample_seconds = time.perf_counter() - t_sample
    out, epochs, early_stop, keep_best = setup.run.out, setup.epochs, setup.early_stop, setup.run.keep_best
    frozen, static = setup.frozen, setup.static
    t_start = time.perf_counter() - elapsed
    cpu_start = time.process_time()
    stopped = start_epoch > 0 and early_stop is not None and history["train_loss"][-1] < early_stop
    bar = None
    writer = ckpt.Writer() if out is not None else None
    if setup.progress and not stopped and start_epoch < epochs:
        bar = tqdm(total=epochs, initial=start_epoch, desc=desc, unit="epoch", leave=True)
    try:
        for epoch in range(start_epoch, epochs):
            if stopped:
                break
            params, state, stats = run_epoch(epoch, params, state, train_set, val_set)
            stats = jax.device_get(stats)
            if int(stats["bad_batch"]) >= 0:
                where = f" (last good checkpoint: {out / 'checkpoint.npz'}, epoch {epoch})" if out else ""
                raise DivergenceError(diverged(epoch, int(stats["bad_batch"]), where), time=epoch + 1)
            row = {"epoch": epoch + 1, "train_loss": float(stats["train_loss"]),
                   "val_loss": float(stats["val_loss"]) if setup.n_val else float("nan"),
                   "val_accuracy": float(stats["val_accuracy"]) if setup.n_val else float("nan"),
                   "wall_time": time.perf_counter() - t_start, **extra(stats, epoch)}
            for f in fields:
                history[f].append(row[f])
            if keep_best and (best is None or row["val_loss"] < best[0]):
                best = (row["val_loss"], params)
            stopped = early_stop is not None and row["train_loss"] < early_stop
            if writer is not None:  # on a background thread, while the next epoch computes
                host_params, host_state, host_best = jax.device_get((params, state, best))
                writer.submit(ckpt.write_epoch, out, model=eqx.combine(host_params, frozen, static),
                              params=host_params, opt_state=host_state, best=host_best,
                              history={k: list(v) for k, v in history.items()}, epoch=epoch + 1,
                              config=config, train_seconds=time.perf_counter() - t_start)
            if bar is not None:
                bar.update(1)
                postfix = {"loss": f"{row['train_loss']:.4f}", "val_loss": f"{row['val_loss']:.4f}",
                           "acc": f"{row['val_accuracy']:.3f}"}
                if "sigma" in row:
                    postfix["sigma"] = f"{row['sigma']:.3g}"
                bar.set_postfix(**postfix)
    except BaseException:
        if writer is not None:
            writer.close(raise_errors=False)  # the last completed epoch's checkpoint reaches the disk
        raise
    finally:
        if bar is not None:
            bar.close()
    if writer is not None:
        writer.close()
    train_seconds = time.perf_counter() - t_start
    final = eqx.combine(best[1] if keep_best and best is not None else params, frozen, static)
    if out is not None:
        ckpt.finish(out, final, history, train_seconds, sample_seconds=sample_seconds,
                    cpu_seconds=time.process_time() - cpu_start)
    return final, history
