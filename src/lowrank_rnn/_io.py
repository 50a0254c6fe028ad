"""Saving and loading: a JSON header plus arrays in one ``.npz`` file, written atomically.

The header records the class, the library version and the hyperparameters, so :func:`load`
rebuilds the object from the file alone (no constructor arguments, no pickle). Reading never
unpickles: the archive is opened with :mod:`zipfile` and each array is rebuilt from its raw bytes,
so a damaged or foreign file raises :class:`~lowrank_rnn.FileFormatError` naming the file and what
is wrong, never an error from zipfile, NumPy or the JSON parser.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import re
import secrets
import socket
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._errors import ArgumentError, ArgumentTypeError, FileFormatError, LowRankRNNError, RunFolderError
from ._version import __version__

FORMAT = "lowrank-rnn"
FORMAT_VERSION = 1
_HEADER_KEY = "__header__"
_HEADER_FIELDS = {"format", "format_version", "class", "module", "library_version", "meta", "arrays"}
#: array kinds a saved file may hold: booleans, integers, floats, complex numbers
_NUMERIC_KINDS = "biufc"

_REGISTRY: dict[str, tuple[Any, Any]] = {}


def register(cls_name: str, to_saved, from_saved) -> None:
    """Register how to save an object class: ``to_saved(obj) -> (meta: dict, arrays: dict)`` and
    ``from_saved(meta, arrays) -> obj``."""
    _REGISTRY[cls_name] = (to_saved, from_saved)


# ---------------------------------------------------------------------- output folders and atomic writes
def output_folder(path: Any, *, name: str = "--out") -> Path:
    """Return ``path`` as a folder that exists and can be written to, creating it if missing.

    Raises :class:`~lowrank_rnn.ArgumentError` naming ``name`` when ``path`` is empty, is (or lies
    under) an existing file, or cannot be created or written to; call it before any work starts.

    >>> import tempfile, os
    >>> output_folder(os.path.join(tempfile.mkdtemp(), "run")).is_dir()
    True
    """
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(f"{name} must be a folder path, got {type(path).__name__}")
    if str(path).strip() == "":
        raise ArgumentError(f"{name} must name a folder, got an empty path")
    folder = Path(path)
    for parent in (folder, *folder.parents):
        if parent.exists() and not parent.is_dir():
            where = "is" if parent == folder else f"lies under {str(parent)!r}, which is"
            raise ArgumentError(f"{name} {str(folder)!r} {where} an existing file, not a folder; "
                                "choose a folder path")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ArgumentError(f"{name}: cannot create the folder {str(folder)!r} ({err.strerror or err})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ArgumentError(f"{name}: the folder {str(folder)!r} is not writable; choose another folder")
    return folder


#: temporary files of :func:`atomic_write_bytes`: ``.<name>.<host>-<pid>-<random>.lowrank.tmp``
_TMP_SUFFIX = ".lowrank.tmp"
_TMP_NAME = re.compile(r"^\..+\.(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)-[0-9a-f]{8}" + re.escape(_TMP_SUFFIX) + "$")
#: a temporary file written from another machine (shared folder) is removed only after this long
_FOREIGN_TMP_AGE_S = 24 * 3600.0


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # exists but belongs to another user (or a pid this system cannot hold)
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Return the temporary files of interrupted saves in ``folder`` after deleting them.

    A save killed between writing its temporary file and renaming it (SIGKILL, power loss) leaves
    ``.<name>.<host>-<pid>-<random>.lowrank.tmp`` behind. One is stale when the process that wrote
    it (on this machine) is gone, or, when another machine wrote it into a shared folder, when it
    is older than a day. :func:`atomic_write_bytes` calls this on every write to a folder.
    """
    removed = []
    host, now = _host_tag(), time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        mt = _TMP_NAME.match(entry.name)
        if mt is None or not entry.is_file(follow_symlinks=False):
            continue
        pid = int(mt.group("pid"))
        if mt.group("host") == host:
            stale = pid != os.getpid() and not _pid_alive(pid)
        else:
            try:
                stale = now - entry.stat(follow_symlinks=False).st_mtime > _FOREIGN_TMP_AGE_S
            except OSError:
                continue
        if stale:
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass  # removed by another process, or not ours to remove
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, rename).

    The file gets the permissions a file created with ``open(path, "w")`` would: those of the file
    it replaces, or ``0o666`` less the user's umask for a new one. Temporary files left by earlier
    interrupted writes to the same folder are removed first (:func:`remove_stale_temporaries`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    tmp = path.parent / f".{path.name}.{_host_tag()}-{os.getpid()}-{secrets.token_hex(4)}{_TMP_SUFFIX}"
    # os.open applies the umask to 0o666, as open(path, "w") does; mkstemp would give 0o600
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            try:
                os.chmod(fh.fileno(), os.stat(path).st_mode & 0o777)  # keep the replaced file's mode (not setuid)
            except (FileNotFoundError, NotImplementedError, TypeError):
                pass
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_checkpoint(folder: str | os.PathLike, stem: str, config: dict, arrays: Any, state: dict) -> None:
    """Write a training checkpoint: the leaves of the pytree ``arrays`` to ``STEM.npz``, then
    ``STEM.json`` holding ``config`` (what identifies the run), ``state`` (epoch, history...) and the
    leaf count. The arrays go first, each file atomically, so a reader never sees a state newer than
    its arrays; :func:`read_checkpoint` reads them back."""
    folder = Path(folder)
    leaves = [np.asarray(a) for a in jax.tree_util.tree_leaves(arrays)]
    buf = io.BytesIO()
    np.savez(buf, *leaves)
    atomic_write_bytes(folder / f"{stem}.npz", buf.getvalue())
    meta = {"config": config, "n_leaves": len(leaves), **state}
    atomic_write_bytes(folder / f"{stem}.json", json.dumps(meta, indent=1).encode())


def read_checkpoint(folder: str | os.PathLike, stem: str, config: dict, arrays: Any, *, what: str,
                    other_run: str) -> tuple[Any, dict] | None:
    """Read what :func:`write_checkpoint` wrote: ``(arrays, meta)`` with the stored leaves in the
    structure and dtypes of the template ``arrays``, or None when there is no checkpoint.

    Raises :class:`~lowrank_rnn.FileFormatError` for a damaged checkpoint or arrays of other shapes
    (``what`` names it in the message), and :class:`~lowrank_rnn.RunFolderError` with the message
    ``other_run`` when the stored config differs from ``config`` (another run's checkpoint).
    """
    folder = Path(folder)
    meta_path, arr_path = folder / f"{stem}.json", folder / f"{stem}.npz"
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        with np.load(arr_path, allow_pickle=False) as z:
            leaves = [z[f"arr_{i}"] for i in range(int(meta["n_leaves"]))]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FileFormatError(f"{meta_path}: damaged {what} checkpoint ({exc}); remove it to start afresh") from None
    if meta.get("config") != config:
        raise RunFolderError(other_run)
    template = jax.tree_util.tree_leaves(arrays)
    if len(leaves) != len(template) or any(np.shape(a) != np.shape(b) for a, b in zip(leaves, template)):
        raise FileFormatError(f"{arr_path}: the arrays of the {what} checkpoint do not match the model and optimizer")
    restored = [jnp.asarray(a, dtype=jnp.asarray(b).dtype) for a, b in zip(leaves, template)]
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(arrays), restored), meta


def save_figure(fig, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Return ``path`` after writing the matplotlib figure there atomically and closing it
    (format from the suffix, PNG by default)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


# ---------------------------------------------------------------------- save
def _storable(arr: np.ndarray) -> np.ndarray:
    """Return ``arr`` with a dtype the .npy format names: JAX's extra floats (bfloat16, float8...)
    would be written as opaque void bytes, so they are widened to float32, which holds them exactly
    (the class's header records the dtype to restore, as Network's does)."""
    if arr.dtype.kind == "V" and arr.dtype.fields is None and jnp.issubdtype(arr.dtype, jnp.floating):
        return arr.astype(np.float32)
    return arr


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
    name = type(obj).__name__
    if name not in _REGISTRY:
        raise ArgumentTypeError(f"cannot save a {name}; savable types are {sorted(_REGISTRY)}")
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)) or str(path).strip() == "":
        raise ArgumentTypeError(f"path must be a file path, got {path!r}")
    if Path(path).is_dir():
        raise ArgumentError(f"path {str(path)!r} is a folder; give a file path such as {str(Path(path) / 'x.npz')!r}")
    meta, arrays = _REGISTRY[name][0](obj)
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "class": name,
              "module": type(obj).__module__,
              "library_version": __version__, "meta": meta, "arrays": sorted(arrays)}
    buf = io.BytesIO()
    payload = {k: _storable(np.asarray(v)) for k, v in arrays.items()}
    payload[_HEADER_KEY] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(buf, **payload)
    return atomic_write_bytes(path, buf.getvalue())


# ---------------------------------------------------------------------- reading
def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> np.ndarray:
    """Return the array stored as ``.npy`` bytes in one archive member (numeric dtypes only)."""
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unknown .npy version {version}")
        if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
            raise FileFormatError(f"{where} has dtype {dtype}; only numeric arrays are allowed "
                                  "(object arrays would need unpickling, which load never does)")
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        want = count * dtype.itemsize
        if want > info.file_size:
            raise FileFormatError(f"{where} declares shape {shape} ({want} bytes) but holds "
                                  f"{info.file_size} bytes: damaged")
        raw = fh.read(want)
        if len(raw) != want:
            raise FileFormatError(f"{where}: damaged (truncated array data)")
        fh.read()  # to the end of the member, so zipfile checks its CRC
    arr = np.frombuffer(raw, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return arr.copy()


def read_archive(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Return every array of the ``.npz`` archive at ``path``, by name, without unpickling.

    Raises FileNotFoundError for a missing file and :class:`~lowrank_rnn.FileFormatError`, naming
    the file and what is wrong, for anything that is not an intact ``.npz`` archive of numeric
    arrays (a truncated or corrupted file, a text file, an archive holding object arrays).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.is_dir():
        raise FileFormatError(f"{path} is a folder, not a lowrank-rnn file")
    try:
        if not zipfile.is_zipfile(path):
            with open(path, "rb") as fh:
                magic = fh.read(6)
            if magic.startswith(b"PK\x03\x04"):
                raise FileFormatError(f"{path} is damaged: truncated or incomplete archive (an interrupted "
                                      "copy or download?)")
            what = "a NumPy .npy file" if magic == b"\x93NUMPY" else "empty" if not magic else "not an .npz archive"
            raise FileFormatError(f"{path} is not a lowrank-rnn file ({what})")
        with zipfile.ZipFile(path) as zf:
            arrays = {}
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    raise FileFormatError(f"{path} is not a lowrank-rnn file (the archive holds "
                                          f"{info.filename!r}, not an array)")
                key = info.filename[:-4]
                arrays[key] = _read_member(zf, info, f"{path}: array {key!r}")
            return arrays
    except (FileFormatError, PermissionError):
        raise  # PermissionError: the file's access, not its contents
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, KeyError, TypeError,
            OverflowError, MemoryError, NotImplementedError, RuntimeError, zlib.error, OSError) as err:
        raise FileFormatError(f"{path} is damaged: truncated or corrupted archive ({type(err).__name__}: "
                              f"{err})") from None


def _parse_header(path: Path, arrays: dict[str, np.ndarray]) -> dict:
    if _HEADER_KEY not in arrays:
        raise FileFormatError(f"{path} is not a lowrank-rnn file (no header)")
    raw = arrays.pop(_HEADER_KEY)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise FileFormatError(f"{path}: damaged header (a {raw.dtype} array of shape {raw.shape}, "
                              "not JSON bytes)")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise FileFormatError(f"{path}: damaged header, not valid JSON ({err})") from None
    if not isinstance(header, dict):
        raise FileFormatError(f"{path}: damaged header (a JSON {type(header).__name__}, not an object)")
    if header.get("format") != FORMAT:
        raise FileFormatError(f"{path} is not a lowrank-rnn file (format {header.get('format')!r})")
    version = header.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise FileFormatError(f"{path}: header field 'format_version' must be an integer, got {version!r}")
    if version > FORMAT_VERSION or version < 1:
        raise FileFormatError(f"{path}: format version {version} is not supported by this version of "
                              f"lowrank-rnn (it reads versions 1..{FORMAT_VERSION})")
    unknown = sorted(set(header) - _HEADER_FIELDS)
    if unknown:
        raise FileFormatError(f"{path}: unknown header field {', '.join(map(repr, unknown))}; allowed: "
                              f"{sorted(_HEADER_FIELDS)}")
    missing = sorted({"class", "meta", "arrays"} - set(header))
    if missing:
        raise FileFormatError(f"{path}: damaged header, missing field {', '.join(map(repr, missing))}")
    for field, kind, word in (("class", str, "string"), ("module", str, "string"), ("meta", dict, "object"),
                              ("arrays", list, "array")):
        if field in header and not isinstance(header[field], kind):
            raise FileFormatError(f"{path}: header field {field!r} must be a JSON {word}, got {header[field]!r}")
    names = header["arrays"]
    if not all(isinstance(a, str) for a in names):
        raise FileFormatError(f"{path}: header field 'arrays' must list array names (strings)")
    listed, held = set(names), set(arrays)
    if listed - held:
        raise FileFormatError(f"{path}: damaged, array(s) {sorted(listed - held)} listed in the header "
                              "are missing")
    if held - listed:
        raise FileFormatError(f"{path}: unknown array(s) {sorted(held - listed)} not listed in the header")
    return header


def read_header(path: str | os.PathLike) -> dict:
    """Return the JSON header of a file written by :func:`save`."""
    path = Path(path)
    return _parse_header(path, read_archive(path))


def load(path: str | os.PathLike) -> Any:
    """Load an object written by :func:`save`; the file alone says what to rebuild.

    Raises FileNotFoundError for a missing file and :class:`~lowrank_rnn.FileFormatError` naming the
    file and what is wrong for one that is not a lowrank-rnn file, is damaged, or holds values the
    class refuses. Nothing is unpickled.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from lowrank_rnn import Ensemble, load, save
    >>> ens = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0)
    >>> path = save(ens, pathlib.Path(tempfile.mkdtemp()) / "ens.npz")
    >>> load(path).overlap
    array([[2.2]])
    """
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(f"path must be a file path, got {type(path).__name__}")
    path = Path(path)
    arrays = read_archive(path)
    header = _parse_header(path, arrays)
    cls_name = header["class"]
    module = header.get("module", "")
    if cls_name not in _REGISTRY and (module == "lowrank_rnn" or module.startswith("lowrank_rnn.")):
        try:
            importlib.import_module(module)  # sub-packages (models, motifs, ...) register on import
        except ImportError:
            pass
    if cls_name not in _REGISTRY:
        raise FileFormatError(f"{path} holds a {cls_name!r}, which this version of lowrank-rnn cannot "
                              f"load (it loads {sorted(_REGISTRY)})")
    try:
        return _REGISTRY[cls_name][1](header["meta"], arrays)
    except LowRankRNNError as err:
        raise FileFormatError(f"{path}: the saved {cls_name} is invalid: {err}") from err
    except KeyError as err:
        raise FileFormatError(f"{path}: damaged header, the {cls_name} misses field {err}") from err
    except (TypeError, ValueError, IndexError, AttributeError, OverflowError) as err:
        raise FileFormatError(f"{path}: the saved {cls_name} has a field of the wrong type or shape "
                              f"({type(err).__name__}: {err})") from err
