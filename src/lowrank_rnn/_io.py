"""Saving and loading: a JSON header plus arrays in one ``.npz`` file, written atomically.

The header records the class, the library version and the hyperparameters, so :func:`load`
rebuilds the object from the file alone (no constructor arguments, no pickle).
"""

from __future__ import annotations

import importlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import ArgumentError, ArgumentTypeError

FORMAT = "lowrank-rnn"
FORMAT_VERSION = 1
_HEADER_KEY = "__header__"

_REGISTRY: dict[str, tuple[Any, Any]] = {}


def register(cls_name: str, to_saved, from_saved) -> None:
    """Register how to save an object class: ``to_saved(obj) -> (meta: dict, arrays: dict)`` and
    ``from_saved(meta, arrays) -> obj``."""
    _REGISTRY[cls_name] = (to_saved, from_saved)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_figure(fig, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Return ``path`` after writing the matplotlib figure there atomically and closing it
    (format from the suffix, PNG by default)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def save(obj: Any, path: str | os.PathLike) -> Path:
    """Save an ensemble, network, trajectory or other library object to ``path`` (an ``.npz`` file).

    The write is atomic: an interrupted save leaves any earlier file at ``path`` intact.

    >>> import jax, tempfile, os
    >>> from lowrank_rnn import Ensemble, save, load
    >>> ens = Ensemble.rank_one(mean_m=1.0, mean_n=2.0, std_m=1.0, std_n=1.0)
    >>> p = save(ens, os.path.join(tempfile.mkdtemp(), "ens.npz"))
    >>> load(p).names
    ('m1', 'n1')
    """
    from . import __version__

    name = type(obj).__name__
    if name not in _REGISTRY:
        raise ArgumentTypeError(f"cannot save a {name}; savable types are {sorted(_REGISTRY)}")
    meta, arrays = _REGISTRY[name][0](obj)
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "class": name,
              "module": type(obj).__module__,
              "library_version": __version__, "meta": meta, "arrays": sorted(arrays)}
    buf = io.BytesIO()
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    payload[_HEADER_KEY] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(buf, **payload)
    return atomic_write_bytes(path, buf.getvalue())


def read_header(path: str | os.PathLike) -> dict:
    """Return the JSON header of a file written by :func:`save`."""
    with np.load(path, allow_pickle=False) as data:
        if _HEADER_KEY not in data:
            raise ArgumentError(f"{path} is not a lowrank-rnn file (no header)")
        return json.loads(bytes(data[_HEADER_KEY]).decode())


def load(path: str | os.PathLike) -> Any:
    """Load an object written by :func:`save`; the file alone says what to rebuild."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    with np.load(path, allow_pickle=False) as data:
        if _HEADER_KEY not in data:
            raise ArgumentError(f"{path} is not a lowrank-rnn file (no header)")
        header = json.loads(bytes(data[_HEADER_KEY]).decode())
        arrays = {k: data[k] for k in header["arrays"]}
    if header.get("format") != FORMAT or header.get("format_version", 0) > FORMAT_VERSION:
        raise ArgumentError(f"{path}: unsupported format {header.get('format')!r} "
                         f"version {header.get('format_version')}")
    cls_name = header["class"]
    module = header.get("module", "")
    if cls_name not in _REGISTRY and module.split(".")[0] == "lowrank_rnn":
        importlib.import_module(module)  # sub-packages (models, motifs, ...) register on import
    if cls_name not in _REGISTRY:
        raise ArgumentError(f"{path} holds a {cls_name}, which this version cannot load")
    return _REGISTRY[cls_name][1](header["meta"], arrays)
