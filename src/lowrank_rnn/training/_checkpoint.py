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
    .lock             held (``flock``) by the run writing into the folder; holds its process id

Every file is written to a temporary name and renamed, so an interruption leaves the previous
version intact; ``checkpoint.npz`` alone is read on resume. One run at a time writes into a folder:
:func:`claim` refuses a second (the operating system releases the lock of a process that dies, so
a killed run never blocks the folder).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import RunFolderError
from .._io import atomic_write_bytes, save

try:  # POSIX
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

_META = "__meta__"
_CHECKPOINT_VERSION = 1


LOCK_NAME = ".lock"
_held: dict[Path, tuple[int, int]] = {}  # folder -> (thread id, depth): claims held by this process
_held_lock = threading.Lock()


def _lock_file(fd: int) -> bool:
    """Take the exclusive lock on the open file ``fd`` without waiting; False if another holds it."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _open_lock(out: Path) -> int:
    """Create ``out`` and open its lock file; RunFolderError saying why when it cannot be used."""
    try:
        if out.exists() and not out.is_dir():
            raise RunFolderError(f"run folder {out} is a file, not a folder: choose another folder (out=... in "
                                 "RunSettings, --out on the command line)")
        out.mkdir(parents=True, exist_ok=True)
        return os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    except RunFolderError:
        raise
    except (NotADirectoryError, FileExistsError):
        raise RunFolderError(f"run folder {out} cannot be created: a part of its path is a file, not a folder; "
                             "choose another folder") from None
    except OSError as err:
        raise RunFolderError(f"run folder {out} cannot be written ({err.strerror or err}): choose a folder "
                             "you can write to") from None


def _lock_holder(fd: int) -> str:
    """The process id the holder of a lock file wrote into it ("unknown" if unreadable)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 32).decode(errors="replace").strip() or "unknown"
    except OSError:
        return "unknown"


@contextlib.contextmanager
def claim(out: Path | None):
    """Hold the run folder ``out`` for this run (nothing for None); created if missing.

    The lock is an exclusive ``flock`` on ``out/.lock`` (``msvcrt.locking`` on Windows), released
    by the operating system when the process ends, however it ends: a killed run leaves no stale
    lock. A claim is re-entrant within a thread (a recipe holds its folder across the ``train``
    calls it makes). Raises :class:`~lowrank_rnn.RunFolderError` when another run (another process
    or thread) holds the folder, or when it cannot be created or written.

    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> with claim(out):
    ...     (out / ".lock").exists()
    True
    """
    if out is None:
        yield
        return
    out = Path(out)
    key, me, fd = out.absolute(), threading.get_ident(), None
    with _held_lock:
        holder = _held.get(key)
        if holder is not None and holder[0] != me:
            raise RunFolderError(f"run folder {out} is in use by another training run in this process; "
                                 "wait for it to finish or choose another folder")
        if holder is not None:
            _held[key] = (me, holder[1] + 1)
    if holder is None:
        fd = _open_lock(out)
        if not _lock_file(fd):
            pid = _lock_holder(fd)
            os.close(fd)
            raise RunFolderError(f"run folder {out} is in use by another training run (process {pid}); wait "
                                 "for it to finish or choose another folder")
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
        with _held_lock:
            _held[key] = (me, 1)
    try:
        yield
    finally:
        with _held_lock:
            tid, depth = _held.pop(key)
            if depth > 1:
                _held[key] = (tid, depth - 1)
        if fd is not None:
            os.close(fd)  # releases the lock


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


_RESTART = "pass RunSettings(resume=False) (lowrank-rnn train --restart) to start over in this folder, or choose another"


def restore_leaves(template, leaves: list[np.ndarray], *, path: Path):
    """Return ``template`` (a pytree) with its array leaves replaced by ``leaves``, in order."""
    flat, treedef = jax.tree_util.tree_flatten(template)
    if len(flat) != len(leaves):
        raise RunFolderError(f"{path} holds {len(leaves)} arrays where this run has {len(flat)}: it was written "
                             f"for another model or optimizer; {_RESTART}")
    new = []
    for i, (a, b) in enumerate(zip(flat, leaves)):
        if np.shape(a) != b.shape:
            raise RunFolderError(f"{path}: array {i} has shape {b.shape}, this run expects {np.shape(a)}; {_RESTART}")
        new.append(jnp.asarray(b, dtype=jnp.asarray(a).dtype))
    return jax.tree_util.tree_unflatten(treedef, new)


def _comparable(config: dict) -> dict:
    """The parts of a run's configuration that must agree to resume it (all but ``epochs``)."""
    cfg = json.loads(json.dumps(config))
    cfg.get("training", {}).pop("epochs", None)
    return cfg


def write_epoch(out: Path, *, model, params, opt_state, best, history, epoch: int, config: dict,
                train_seconds: float) -> None:
    """Write the checkpoint of a completed epoch, then ``model.npz`` (``model`` by
    :func:`lowrank_rnn.save`) and the history; :func:`~lowrank_rnn.training.resume_run` reads it back.

    ``params`` and ``opt_state`` are pytrees of arrays (stored leaf by leaf, restored into a
    template of the same structure); ``best`` is None or ``(val_loss, params)``.

    >>> import pathlib, tempfile, jax.numpy as jnp
    >>> from lowrank_rnn import Ensemble
    >>> out, config = pathlib.Path(tempfile.mkdtemp()), {"training": {"epochs": 3}}
    >>> write_epoch(out, model=Ensemble.rank_one(mean_m=1.0, mean_n=2.0, std_m=1.0, std_n=1.0), params={"w": jnp.ones(2)},
    ...             opt_state=(), best=None, history={"epoch": [1]}, epoch=1, config=config, train_seconds=0.5)
    >>> resume_run(out, config, resume=True, epochs=3, params={"w": jnp.zeros(2)}, state=(),
    ...            fields=("epoch",))[2:5]
    ({'epoch': [1]}, 1, 0.5)
    """
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


_META_KEYS = ("version", "epoch", "history", "train_seconds", "best_val_loss", "config")


def _load(path: Path) -> tuple[dict, dict[str, list]]:
    """Return the metadata and the array groups of the checkpoint at ``path``; RunFolderError saying
    what is wrong when it is damaged or not a checkpoint of :func:`~lowrank_rnn.training.train`."""
    groups: dict[str, list] = {"params": [], "opt_state": [], "best": []}
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files") or _META not in data.files:
                raise RunFolderError(f"{path} is not a lowrank-rnn training checkpoint (no {_META} record); "
                                     f"{_RESTART}")
            meta = json.loads(bytes(data[_META]).decode())
            for name in sorted(k for k in data.files if k != _META):
                group = name.split("/")[0]
                if group not in groups:
                    raise RunFolderError(f"{path} is not a lowrank-rnn training checkpoint (unknown entry "
                                         f"{name!r}); {_RESTART}")
                groups[group].append(data[name])
    except RunFolderError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, UnicodeDecodeError) as err:
        # an interrupted copy or a full disk: np.load meets a truncated archive or a foreign file
        raise RunFolderError(f"{path} is damaged or not a checkpoint ({type(err).__name__}: {err}); "
                             f"{_RESTART}") from None
    if not isinstance(meta, dict) or any(k not in meta for k in _META_KEYS):
        raise RunFolderError(f"{path} is not a lowrank-rnn training checkpoint (its record lacks "
                             f"{', '.join(k for k in _META_KEYS if not isinstance(meta, dict) or k not in meta)}); "
                             f"{_RESTART}")
    return meta, groups


def read(out: Path, config: dict) -> dict | None:
    """Return the saved state of the run in ``out`` (None when there is no checkpoint).

    Raises :class:`~lowrank_rnn.RunFolderError` when the checkpoint is damaged, is not a training
    checkpoint, or belongs to a different run (task, model, key or training settings other than
    ``epochs``).
    """
    path = Path(out) / "checkpoint.npz"
    if not path.exists():
        return None
    meta, groups = _load(path)
    if meta.get("version") != _CHECKPOINT_VERSION:
        raise RunFolderError(f"{path}: checkpoint version {meta.get('version')} is not {_CHECKPOINT_VERSION}, "
                             f"the one this version of lowrank-rnn reads; {_RESTART}")
    if meta["config"] != _comparable(config):
        saved, now = meta["config"], _comparable(config)
        diff = sorted(f"{sec}.{k}" for sec in set(saved) | set(now)
                      for k in set(saved.get(sec, {})) | set(now.get(sec, {}))
                      if saved.get(sec, {}).get(k) != now.get(sec, {}).get(k))
        raise RunFolderError(f"{path} belongs to a different run (differs in {', '.join(diff)}); {_RESTART}")
    return {"epoch": int(meta["epoch"]), "history": meta["history"], "train_seconds": float(meta["train_seconds"]),
            "best_val_loss": meta["best_val_loss"], "params": groups["params"],
            "opt_state": groups["opt_state"], "best": groups["best"] or None}


def finish(out: Path, model, history: dict[str, list], train_seconds: float, *, sample_seconds: float,
           cpu_seconds: float) -> None:
    """Write the returned model, the history, ``train_seconds`` and ``timing.json`` at the end of a run.

    >>> import pathlib, tempfile, jax.numpy as jnp
    >>> from lowrank_rnn import Ensemble
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> finish(out, Ensemble.rank_one(mean_m=1.0, mean_n=2.0, std_m=1.0, std_n=1.0), {"epoch": [1]}, 1.5, sample_seconds=0.1,
    ...        cpu_seconds=1.0)
    >>> (out / "train_seconds").read_text()
    '1.500000\\n'
    """
    save(model, out / "model.npz")
    write_history(out, history)
    write_json(out / "timing.json", {"train_seconds": train_seconds, "sample_seconds": sample_seconds,
                                     "cpu_seconds_this_session": cpu_seconds, "epochs": len(history["epoch"])})
    atomic_write_bytes(out / "train_seconds", f"{train_seconds:.6f}\n".encode())


def resume_run(out: Path | None, config: dict, *, resume: bool, epochs: int, params, state, fields):
    """Return ``(params, state, history, start_epoch, elapsed, best)`` of a run about to start in
    ``out``: from its ``checkpoint.npz`` (:func:`~lowrank_rnn.training.write_checkpoint`) when
    ``resume`` and one exists, else ``params``, ``state``, an empty history of ``fields``, epoch 0,
    0 s and no best; then writes
    ``config.json`` (``config`` with ``training.epochs = epochs``). Nothing is read or written for
    ``out=None``.

    The saved parameters and state are restored into the structure of ``params`` and ``state``
    (leaf by leaf, in order). Raises :class:`~lowrank_rnn.RunFolderError` when the checkpoint is
    damaged or belongs to another run (any setting in ``config`` but ``training.epochs`` differs),
    so a resumed run repeats an uninterrupted one and ``epochs`` may grow, and when ``resume`` finds a
    ``model.npz`` without a checkpoint (starting over would overwrite it).

    >>> resume_run(None, {}, resume=True, epochs=2, params={}, state=(), fields=("epoch",))
    ({}, (), {'epoch': []}, 0, 0.0, None)
    """
    history: dict[str, list] = {f: [] for f in fields}
    start_epoch, elapsed, best = 0, 0.0, None
    if out is not None:
        out = Path(out)
        saved = read(out, config) if resume else None
        if resume and saved is None and (out / "model.npz").exists():
            # nothing to resume from, and starting over would overwrite the model a user kept
            raise RunFolderError(f"{out} holds a model.npz but no checkpoint.npz to resume from (a Morris-Lecar "
                                 "run folder written before 2026-12-07, or a copy without its checkpoint): "
                                 f"starting over would overwrite it; {_RESTART}")
        if saved is not None:
            path = out / "checkpoint.npz"
            params = restore_leaves(params, saved["params"], path=path)
            state = restore_leaves(state, saved["opt_state"], path=path)
            if saved.get("best") is not None:
                best = (saved["best_val_loss"], restore_leaves(params, saved["best"], path=path))
            history, start_epoch, elapsed = saved["history"], saved["epoch"], saved["train_seconds"]
        write_json(out / "config.json", {**config, "training": {**config.get("training", {}), "epochs": epochs}})
    return params, state, history, start_epoch, elapsed, best
