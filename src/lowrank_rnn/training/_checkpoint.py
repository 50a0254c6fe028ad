"""The run folder of :func:`~lowrank_rnn.training.train`: checkpoints, history, configuration.

Layout of ``out/``::

    config.json       task config, model class and hyperparameters, training arguments
    checkpoint.npz    everything needed to resume: parameters, optimizer state, best parameters,
                      completed epoch, history, elapsed seconds (one file, written atomically)
    model.npz         the model after the last completed epoch (the returned one at the end);
                      lowrank_rnn.load(path) rebuilds it
    history.json, history.csv   one row per epoch: epoch, train_loss, val_loss, val_accuracy, wall_time
    train_seconds     the training loop's wall time in seconds, compilation included (written at the end)
    timing.json       train_seconds; sample_seconds (drawing the trials, before the loop); the CPU time of
                      the loop in this session (all threads; after a resume, the resumed part only)

Every file is written to a temporary name and renamed, so an interruption leaves the previous
version intact; ``checkpoint.npz`` alone is read on resume.
"""

from __future__ import annotations

import io
import json
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import ArgumentError
from .._io import atomic_write_bytes, save

_META = "__meta__"
_CHECKPOINT_VERSION = 1


class Writer:
    """Writes checkpoints on one background thread, in order, while the next epoch computes.

    ``submit`` first re-raises the error of an earlier write, if any; ``close`` waits for every
    pending write (so the checkpoint of the last completed epoch is on disk when training stops,
    however it stops) and re-raises a write error.
    """

    def __init__(self):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lowrank-rnn-checkpoint")
        self._pending: list[Future] = []

    def _reap(self) -> None:
        done = [f for f in self._pending if f.done()]
        self._pending = [f for f in self._pending if not f.done()]
        for f in done:
            f.result()

    def submit(self, fn, *args, **kwargs) -> None:
        self._reap()
        self._pending.append(self._pool.submit(fn, *args, **kwargs))

    def close(self, *, raise_errors: bool = True) -> None:
        try:
            for f in self._pending:
                exc = f.exception()
                if exc is not None and raise_errors:
                    raise exc
        finally:
            self._pending = []
            self._pool.shutdown(wait=True)


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, allow_nan=True) + "\n").encode())


def _history_csv(history: dict[str, list]) -> bytes:
    fields = list(history)
    lines = [",".join(fields)]
    for row in zip(*(history[f] for f in fields)):
        lines.append(",".join(repr(float(v)) if isinstance(v, float) else str(v) for v in row))
    return ("\n".join(lines) + "\n").encode()


def write_history(out: Path, history: dict[str, list]) -> None:
    """Write ``history.json`` and ``history.csv`` atomically."""
    write_json(out / "history.json", history)
    atomic_write_bytes(out / "history.csv", _history_csv(history))


def _leaves(tree) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def restore_leaves(template, leaves: list[np.ndarray]):
    """Return ``template`` (a pytree) with its array leaves replaced by ``leaves``, in order."""
    flat, treedef = jax.tree_util.tree_flatten(template)
    if len(flat) != len(leaves):
        raise ArgumentError(f"the checkpoint holds {len(leaves)} arrays where this run has {len(flat)}; "
                         "it was written for another model or optimizer")
    new = []
    for i, (a, b) in enumerate(zip(flat, leaves)):
        if np.shape(a) != b.shape:
            raise ArgumentError(f"checkpoint array {i} has shape {b.shape}, this run expects {np.shape(a)}")
        new.append(jnp.asarray(b, dtype=jnp.asarray(a).dtype))
    return jax.tree_util.tree_unflatten(treedef, new)


def _comparable(config: dict) -> dict:
    """The parts of a run's configuration that must agree to resume it (all but ``epochs``)."""
    cfg = json.loads(json.dumps(config))
    cfg.get("training", {}).pop("epochs", None)
    return cfg


def write_epoch(out: Path, *, model, params, opt_state, best, history, epoch: int, config: dict,
                train_seconds: float) -> None:
    """Write the checkpoint of a completed epoch, then ``model.npz`` and the history."""
    arrays: dict[str, np.ndarray] = {}
    for group, tree in (("params", params), ("opt_state", opt_state), ("best", None if best is None else best[1])):
        if tree is None:
            continue
        for i, leaf in enumerate(_leaves(tree)):
            arrays[f"{group}/{i:05d}"] = leaf
    meta = {"version": _CHECKPOINT_VERSION, "epoch": epoch, "history": history, "train_seconds": train_seconds,
            "best_val_loss": None if best is None else best[0], "config": _comparable(config)}
    arrays[_META] = np.frombuffer(json.dumps(meta, allow_nan=True).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(out / "checkpoint.npz", buf.getvalue())
    save(model, out / "model.npz")
    write_history(out, history)


def read(out: Path, config: dict) -> dict | None:
    """Return the saved state of the run in ``out`` (None when there is no checkpoint).

    Raises ValueError when the checkpoint belongs to a different run (task, model, key or
    training settings other than ``epochs``).
    """
    path = Path(out) / "checkpoint.npz"
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(bytes(data[_META]).decode())
        groups: dict[str, list] = {"params": [], "opt_state": [], "best": []}
        for name in sorted(k for k in data.files if k != _META):
            group = name.split("/")[0]
            groups[group].append(data[name])
    if meta.get("version") != _CHECKPOINT_VERSION:
        raise ArgumentError(f"{path}: unsupported checkpoint version {meta.get('version')}")
    if meta["config"] != _comparable(config):
        saved, now = meta["config"], _comparable(config)
        diff = sorted(f"{sec}.{k}" for sec in set(saved) | set(now)
                      for k in set(saved.get(sec, {})) | set(now.get(sec, {}))
                      if saved.get(sec, {}).get(k) != now.get(sec, {}).get(k))
        raise ArgumentError(f"{path} belongs to a different run (differs in {', '.join(diff)}); pass "
                         "resume=False to start over in this folder, or choose another out")
    return {"epoch": int(meta["epoch"]), "history": meta["history"], "train_seconds": float(meta["train_seconds"]),
            "best_val_loss": meta["best_val_loss"], "params": groups["params"],
            "opt_state": groups["opt_state"], "best": groups["best"] or None}


def finish(out: Path, model, history: dict[str, list], train_seconds: float, *, sample_seconds: float,
           cpu_seconds: float) -> None:
    """Write the returned model, the history, ``train_seconds`` and ``timing.json`` at the end of a run."""
    save(model, out / "model.npz")
    write_history(out, history)
    write_json(out / "timing.json", {"train_seconds": train_seconds, "sample_seconds": sample_seconds,
                                     "cpu_seconds_this_session": cpu_seconds, "epochs": len(history["epoch"])})
    atomic_write_bytes(out / "train_seconds", f"{train_seconds:.6f}\n".encode())
