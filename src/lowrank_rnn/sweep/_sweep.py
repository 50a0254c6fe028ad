"""Parameter sweeps: vmapped replicates per chunk, chunks as Dask tasks, results in a Zarr store.

A sweep evaluates ``fn(params, key) -> {name: array}`` at every point of a parameter grid and for
every replicate key, and gathers the results into an :class:`xarray.Dataset` with one dimension
per grid parameter and one named ``replicate``. The work is cut into chunks (blocks of grid points
times blocks of replicates); a chunk is one compiled, vmapped call, and one Dask task. The store is
a Zarr folder written one chunk at a time, each chunk marked done only after its data are written,
so a killed sweep loses at most the chunks in flight, and running the same sweep again with the
same store computes only the chunks that are missing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import numbers
import os
import re
import secrets
import shutil
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from .._checks import positive_int, prng_key, real_scalar
from .._errors import ArgumentError, ArgumentTypeError, RunFolderError
from .._io import atomic_write_bytes

#: the attribute of the Zarr group that marks a sweep store (and holds its fingerprint)
STORE_ATTR = "lowrank_rnn_sweep"
STORE_FORMAT_VERSION = 1
#: folder inside the store holding one small JSON marker per finished (or failed) chunk
MARKERS = "sweep_chunks"
REPLICATE = "replicate"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# ---------------------------------------------------------------------------------------------- specs
@dataclasses.dataclass(frozen=True)
class _Plan:
    """Everything a worker needs to compute one chunk (shipped with each task)."""

    fn: Callable
    names: tuple[str, ...]             # grid dimensions, in order
    values: tuple[np.ndarray, ...]     # their coordinate values
    static: tuple[str, ...]            # grid parameters passed to fn as Python values
    replicates: int
    sizes: tuple[int, ...]             # chunk size along each grid dimension, then replicate
    key_data: np.ndarray
    key_impl: str | None               # None: a legacy uint32 key
    outputs: tuple[tuple[str, tuple[int, ...], str], ...]  # (name, shape per point, stored dtype)
    fingerprint: str

    @property
    def dims(self) -> tuple[str, ...]:
        return (*self.names, REPLICATE)

    @property
    def extent(self) -> tuple[int, ...]:
        return (*(len(v) for v in self.values), self.replicates)

    @property
    def counts(self) -> tuple[int, ...]:
        return tuple(-(-n // s) for n, s in zip(self.extent, self.sizes))

    def chunk_ids(self) -> list[tuple[int, ...]]:
        return list(itertools.product(*(range(c) for c in self.counts)))

    def region(self, index: tuple[int, ...]) -> tuple[slice, ...]:
        return tuple(slice(i * s, min((i + 1) * s, n)) for i, s, n in zip(index, self.sizes, self.extent))

    def describe(self, index: tuple[int, ...]) -> str:
        parts = []
        for name, values, sl in zip(self.dims, (*self.values, np.arange(self.replicates)), self.region(index)):
            lo, hi = values[sl.start], values[sl.stop - 1]
            parts.append(f"{name}={lo:g}" if sl.stop - sl.start == 1 else f"{name}={lo:g}..{hi:g}")
        return f"chunk {_chunk_name(index)} ({', '.join(parts)})"


def _chunk_name(index: tuple[int, ...]) -> str:
    return "_".join(str(i) for i in index) or "0"


class _UnknownParameter(KeyError):
    """fn read a parameter the grid does not give (a KeyError, so ``params.get`` still works)."""


class _FnError(Exception):
    """fn raised while the sweep traced it for one value of the static parameters."""


class _Params(Mapping):
    """The parameters handed to ``fn``, recording which ones it reads (to catch misspelt names)."""

    def __init__(self, values: dict[str, Any]):
        self._values = values
        self.read: set[str] = set()
        self.missing: list[str] = []

    def __getitem__(self, name):
        if name not in self._values:
            self.missing.append(name)
            raise _UnknownParameter(name)
        self.read.add(name)
        return self._values[name]

    def __contains__(self, name):
        self.read.add(name)
        return name in self._values

    def __iter__(self):
        self.read.update(self._values)
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def __repr__(self):
        return f"params({', '.join(self._values)})"


# ---------------------------------------------------------------------------------------------- checks
def _check_grid(grid: Any) -> tuple[tuple[str, ...], tuple[np.ndarray, ...]]:
    if not isinstance(grid, Mapping):
        raise ArgumentTypeError(f"grid must be a dict of parameter name -> 1-D sequence of values, got "
                                f"{type(grid).__name__}")
    names, values = [], []
    for name, vals in grid.items():
        if not isinstance(name, str) or not _IDENT.match(name):
            raise ArgumentError(f"grid: parameter names must be Python identifiers, got {name!r}")
        if name == REPLICATE:
            raise ArgumentError(f"grid: {REPLICATE!r} is the dimension of the replicates; rename that parameter")
        try:
            arr = np.asarray(vals)
        except (TypeError, ValueError):
            raise ArgumentTypeError(f"grid[{name!r}] must be a 1-D sequence of real numbers") from None
        if arr.ndim == 0:
            arr = arr[None]
        if arr.ndim != 1 or arr.size == 0:
            raise ArgumentError(f"grid[{name!r}] must be a non-empty 1-D sequence of values, got shape {arr.shape}")
        if arr.dtype.kind not in "iuf":
            raise ArgumentTypeError(f"grid[{name!r}] must hold real numbers, got dtype {arr.dtype}")
        if not np.all(np.isfinite(arr)):
            raise ArgumentError(f"grid[{name!r}] contains non-finite values")
        arr = arr.astype(np.int64 if arr.dtype.kind in "iu" else np.float64)
        names.append(name)
        values.append(arr)
    return tuple(names), tuple(values)


def _check_chunk(chunk: Any, names: tuple[str, ...], extent: tuple[int, ...], static: tuple[str, ...]) -> tuple[int, ...]:
    """Chunk sizes along (grid dims..., replicate); default: the whole grid (static ones: 1) x 1 replicate."""
    sizes = {name: (1 if name in static else n) for name, n in zip(names, extent)}
    sizes[REPLICATE] = 1
    if chunk is None:
        pass
    elif isinstance(chunk, (numbers.Integral, np.integer)) and not isinstance(chunk, bool):
        sizes[REPLICATE] = positive_int("chunk", chunk)
    elif isinstance(chunk, Mapping):
        for name, size in chunk.items():
            if name not in sizes:
                raise ArgumentError(f"chunk: unknown dimension {name!r}; the dimensions are {list(sizes)}")
            sizes[name] = positive_int(f"chunk[{name!r}]", size)
            if name in static and sizes[name] != 1:
                raise ArgumentError(f"chunk[{name!r}] must be 1: {name!r} is static (fn is compiled once per value)")
    else:
        raise ArgumentTypeError(f"chunk must be None, an int (replicates per chunk) or a dict of dimension -> "
                                f"size, got {type(chunk).__name__}")
    full = (*names, REPLICATE)
    return tuple(min(sizes[d], n) for d, n in zip(full, extent))


# ---------------------------------------------------------------------------------------------- tracing
def _static_combos(names, values, static) -> list[dict[str, Any]]:
    idx = [names.index(s) for s in static]
    return [dict(zip(static, (v.item() for v in combo))) for combo in itertools.product(*(values[i] for i in idx))]


def _scalar_dtype(values: np.ndarray):
    return jnp.int32 if values.dtype.kind == "i" else jax.dtypes.canonicalize_dtype(jnp.float64)


def _call(fn, names, static_values, traced, key, *, wrap: bool = False):
    """Call fn with the parameters (static ones as Python values); check what it returns. With
    ``wrap``, an exception of fn's own comes out as :class:`_FnError`."""
    params = _Params({**{n: traced[n] for n in names if n not in static_values}, **static_values})
    try:
        out = fn(params, key)
    except _UnknownParameter as err:
        raise ArgumentError(f"fn reads the parameter {err.args[0]!r}, which the grid does not give; the grid "
                            f"gives {list(names) or 'no parameters'}") from None
    except Exception as err:
        if wrap:
            raise _FnError(err) from err
        raise
    unread = [n for n in names if n not in params.read]
    if unread:
        raise ArgumentError(f"grid parameter(s) {unread} are not read by fn (it reads {sorted(params.read)}); "
                            "check the spelling, or remove them from the grid")
    if not isinstance(out, Mapping) or not out:
        raise ArgumentTypeError(f"fn must return a non-empty dict of name -> array, got {type(out).__name__}")
    for name in out:
        if not isinstance(name, str) or not _IDENT.match(name) or name in names or name == REPLICATE:
            raise ArgumentError(f"fn returns an output named {name!r}: output names must be identifiers other "
                                f"than the dimensions {[*names, REPLICATE]}")
    return dict(out)


_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def _trace(fn, names, values, static, key) -> tuple[tuple, str]:
    """Trace fn once per combination of static values: its outputs and a hash of its computation."""
    traced = {n: jax.ShapeDtypeStruct((), _scalar_dtype(v)) for n, v in zip(names, values) if n not in static}
    h = hashlib.sha256()
    outputs, first_error = None, None
    for combo in _static_combos(names, values, static):
        shapes = {}

        def wrapped(p, k, combo=combo):
            out = _call(fn, names, combo, p, k, wrap=True)
            shapes.update({n: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)) for n, a in out.items()})
            return {n: jnp.asarray(a) for n, a in out.items()}

        h.update(json.dumps(combo, sort_keys=True).encode())
        try:
            closed = jax.make_jaxpr(wrapped)(traced, key)
        except _FnError as err:  # this static value's chunks fail (again) on the workers, and are recorded
            cause = err.__cause__
            h.update(f"fails: {type(cause).__name__}: {cause}".encode())
            first_error = first_error or cause
            continue
        # the program's text (function addresses removed: they differ between processes) and constants
        h.update(_ADDRESS.sub("0x", str(closed.jaxpr)).encode())
        for c in closed.consts:
            c = np.asarray(c)
            h.update(str((c.shape, c.dtype.str)).encode())
            h.update(np.ascontiguousarray(c).tobytes())
        spec = []
        for n in sorted(shapes):
            dt = np.dtype(shapes[n].dtype)
            stored = dt if dt.kind in "fc" else np.dtype(np.float64)  # missing entries are NaN
            spec.append((n, tuple(shapes[n].shape), stored.str))
        spec = tuple(spec)
        if outputs is not None and spec != outputs:
            raise ArgumentError(f"fn's outputs must have the same names, shapes and dtypes at every value of the "
                                f"static parameters {list(static)}; got {outputs} and, at {combo}, {spec}")
        outputs = spec
    if outputs is None:  # fn fails everywhere: nothing to sweep
        raise first_error
    return outputs, h.hexdigest()


# ---------------------------------------------------------------------------------------------- workers
_COMPILED: OrderedDict = OrderedDict()
_COMPILED_MAX = 16
# One chunk computes at a time per process (all of its JAX calls, compilation included): each
# chunk's XLA program already uses every core, and two chunks compiling at once double the memory.
_RUN_LOCK = threading.Lock()


def _compiled(plan: _Plan, combo: dict[str, Any]):
    """The jitted, vmapped chunk function (compiled once per worker, static values and chunk shape)."""
    cache_key = (plan.fingerprint, tuple(sorted(combo.items())), plan.sizes)
    if cache_key in _COMPILED:
        _COMPILED.move_to_end(cache_key)
        return _COMPILED[cache_key]
    names = plan.names

    def point(p, k):
        return {n: jnp.asarray(a) for n, a in _call(plan.fn, names, combo, p, k).items()}

    # inner vmap over the chunk's grid points with the key shared (what depends on the key alone,
    # e.g. a sampled network, stays unbatched there: one matrix times all points' states), outer
    # vmap over the replicate keys. Without dynamic parameters a chunk holds one grid point.
    if len(plan.static) == len(names):
        def inner(p, k):
            return jax.tree_util.tree_map(lambda a: a[None], point(p, k))
    else:
        inner = jax.vmap(point, in_axes=(0, None))
    batched = jax.jit(jax.vmap(inner, in_axes=(None, 0)))
    _COMPILED[cache_key] = batched
    while len(_COMPILED) > _COMPILED_MAX:
        _COMPILED.popitem(last=False)
    return batched


def _compute_chunk(plan: _Plan, index: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Return the outputs of one chunk, each shaped (grid block..., replicate block, *output shape)."""
    region = plan.region(index)
    n_grid = len(plan.names)
    combo = {}
    axes = []  # padded index arrays of the dynamic grid dims
    for name, values, sl, size in zip(plan.names, plan.values, region[:n_grid], plan.sizes[:n_grid]):
        if name in plan.static:
            combo[name] = values[sl.start].item()
            axes.append(np.array([sl.start]))
        else:  # padded to the full chunk size with the last value: one compiled shape
            idx = np.arange(sl.start, sl.start + size)
            axes.append(np.minimum(idx, sl.stop - 1))
    mesh = np.meshgrid(*axes, indexing="ij") if axes else []
    rsl = region[-1]
    reps = np.minimum(np.arange(rsl.start, rsl.start + plan.sizes[-1]), rsl.stop - 1)
    with _RUN_LOCK:  # every JAX call of the chunk (the small ones compile too)
        points = {name: jnp.asarray(values[m.ravel()], _scalar_dtype(values))
                  for name, values, m in zip(plan.names, plan.values, mesh) if name not in plan.static}
        if plan.key_impl is None:
            base = jnp.asarray(plan.key_data)
        else:
            base = jax.random.wrap_key_data(jnp.asarray(plan.key_data), impl=plan.key_impl)
        keys = jax.vmap(lambda r: jax.random.fold_in(base, r))(jnp.asarray(reps, jnp.uint32))
        out = jax.device_get(_compiled(plan, combo)(points, keys))
    grid_shape = tuple(len(a) for a in axes)
    result = {}
    for name, shape, dtype in plan.outputs:
        arr = np.asarray(out[name])  # (replicates, points, *shape)
        arr = arr.reshape((arr.shape[0], *grid_shape, *shape))
        arr = np.moveaxis(arr, 0, n_grid)  # (grid..., replicate, *shape)
        trim = tuple(slice(0, sl.stop - sl.start) for sl in region)
        result[name] = np.ascontiguousarray(arr[trim]).astype(dtype, copy=False)
    return result


# ---------------------------------------------------------------------------------------------- the store
def _read_attrs(path: Path) -> dict | None:
    """The sweep attribute of the Zarr group at ``path``, or None when it is not a sweep store."""
    try:
        attrs = json.loads((path / ".zattrs").read_text())
    except (OSError, ValueError):
        return None
    val = attrs.get(STORE_ATTR) if isinstance(attrs, dict) else None
    if isinstance(val, str):
        try:
            val = json.loads(val)
        except ValueError:
            return None
    return val if isinstance(val, dict) else None


def _create_store(path: Path, plan: _Plan, record: dict) -> None:
    """Write an empty store (metadata, coordinates, NaN-filled variables) into a temporary folder
    beside ``path`` and rename it into place, so a half-created store never exists."""
    import dask.array as da
    import xarray as xr

    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.creating"
    coords = {n: v for n, v in zip(plan.names, plan.values)}
    coords[REPLICATE] = np.arange(plan.replicates)
    data_vars, encoding = {}, {}
    for name, shape, dtype in plan.outputs:
        dims = (*plan.dims, *(f"{name}_dim{i}" for i in range(len(shape))))
        full = (*plan.extent, *shape)
        chunks = (*plan.sizes, *shape)
        data_vars[name] = (dims, da.full(full, np.nan, dtype=np.dtype(dtype), chunks=chunks))
        encoding[name] = {"chunks": chunks}
    ds = xr.Dataset(data_vars, coords=coords, attrs={STORE_ATTR: json.dumps(record)})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Zarr format 2 with consolidated metadata: the metadata never change after this (chunks
            # are written into the arrays), and any Zarr reader opens it without warnings
            ds.to_zarr(tmp, mode="w-", encoding=encoding, compute=False, consolidated=True, zarr_format=2)
        (tmp / MARKERS).mkdir()
        (tmp / MARKERS / ".zgroup").write_text(json.dumps({"zarr_format": 2}))  # an (empty) group to Zarr
        try:
            os.replace(tmp, path)  # over a missing path or an empty folder
        except OSError as err:
            raise RunFolderError(f"store: cannot create the sweep store {str(path)!r} ({err})") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _open_store(path: Path, plan: _Plan, record: dict) -> None:
    """Create the store, or check that the one at ``path`` holds this very sweep."""
    if path.exists() and not path.is_dir():
        raise RunFolderError(f"store {str(path)!r} is a file, not a sweep store; choose a folder path")
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        if not path.parent.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True)
        _create_store(path, plan, record)
        return
    stored = _read_attrs(path)
    if stored is None or stored.get("format") != "lowrank-rnn-sweep":
        raise RunFolderError(f"store {str(path)!r} is not a lowrank-rnn sweep store (a non-empty folder without "
                             "the sweep's metadata); choose a new or empty folder")
    if stored.get("fingerprint") != record["fingerprint"]:
        what = [part for part in ("fn", "grid", "replicates", "key", "outputs")
                if stored.get("parts", {}).get(part) != record["parts"][part]]
        raise RunFolderError(f"store {str(path)!r} holds another sweep (its {', '.join(what) or 'fingerprint'} "
                             "differ from this call's): results of a changed fn or grid are not mixed in. Use a "
                             "new store, or delete this one to recompute")
    if tuple(stored.get("chunk", ())) != plan.sizes:
        raise ArgumentError(f"chunk: the store {str(path)!r} was written in chunks of {dict(zip(plan.dims, stored.get('chunk')))}"
                            f", not {dict(zip(plan.dims, plan.sizes))}; pass chunk=None to use the stored chunks")


def _read_markers(path: Path) -> dict[str, dict]:
    out = {}
    folder = path / MARKERS
    for entry in os.scandir(folder):
        if not entry.name.endswith(".json") or entry.name.startswith("."):
            continue
        try:
            out[entry.name[:-5]] = json.loads(Path(entry.path).read_text())
        except (OSError, ValueError):
            continue  # unreadable: computed again
    return out


def _write_chunk(group, plan: _Plan, index, result: dict[str, np.ndarray] | None) -> None:
    region = plan.region(index)
    for name, shape, dtype in plan.outputs:
        arr = group[name]
        if result is None:  # a failed chunk: clear what an interrupted earlier run may have left
            arr[region] = np.full((*(s.stop - s.start for s in region), *shape), np.nan, dtype=dtype)
        else:
            arr[region] = result[name]


# ---------------------------------------------------------------------------------------------- clients
def _resolve_client(client: Any, timeout: float):
    """Return (client, owned objects to close) or (None, []) for the synchronous scheduler."""
    if isinstance(client, str) and client == "synchronous":
        return None, []
    import distributed

    if client is None:
        import logging

        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                           dashboard_address=":0", silence_logs=logging.ERROR)
        c = distributed.Client(cluster)
        return c, [c, cluster]
    if isinstance(client, str):
        try:
            c = distributed.Client(client, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as err:
            raise ArgumentError(f"client: cannot reach the Dask scheduler at {client!r} within {timeout:g} s "
                                f"({type(err).__name__}: {err}); check the address (e.g. tcp://host:8786) and that "
                                "the scheduler is running") from None
        return c, [c]
    if isinstance(client, distributed.Client):
        return client, []
    raise ArgumentTypeError(f"client must be None (a local Dask cluster), a dask.distributed.Client, a scheduler "
                            f"address such as 'tcp://host:8786', or 'synchronous', got {type(client).__name__}")


# ---------------------------------------------------------------------------------------------- sweep
def sweep(fn: Callable, grid: Mapping[str, Any], *, replicates: int, key: jax.Array, store: str | os.PathLike,
          chunk: int | Mapping[str, int] | None = None, client: Any = None, static: tuple[str, ...] = (),
          progress: bool = True, connect_timeout: float = 10.0):
    """Return the results of ``fn`` over a parameter grid and replicate keys, as a Zarr-backed Dataset.

    Evaluates ``fn(params, key) -> {name: array}`` at every point of the product of ``grid``'s
    values and for ``replicates`` keys, replicate ``r`` getting ``jax.random.fold_in(key, r)`` at
    every grid point (common random numbers: the difference between two grid points is not blurred
    by drawing other networks there). The points are cut into chunks (``chunk``); a chunk is one
    call of ``jax.jit(vmap over replicates of vmap over grid points)`` of ``fn``, compiled once
    (short chunks at the edges are padded to the full size), and one Dask task. Inside a chunk the
    key is shared by the grid points, so what ``fn`` draws from the key alone (a network, say)
    stays unbatched over them: one random matrix then multiplies all the points' states at once.

    The results go to ``store``, a Zarr folder holding an :class:`xarray.Dataset` with the grid
    parameters and ``replicate`` as named dimensions (an output's own axes are
    ``<name>_dim0``...), written one chunk at a time as the chunks finish; a chunk counts as done
    only when its data and then its marker (``sweep_chunks/<chunk>.json``, written atomically) are
    on disk, so a killed sweep loses at most the chunks in flight. Calling ``sweep`` again with
    the same arguments and store computes only the chunks that are missing (or failed). The store
    keeps a fingerprint of ``fn`` (a hash of its traced JAX program and constants), the grid, the
    number of replicates, the key and the outputs; a call whose fingerprint differs is refused
    instead of mixing results (another version of JAX may trace the same ``fn`` into a different
    program, and then counts as a different ``fn``). Two processes sweeping into one store at once
    are not locked out: they compute the same chunks twice and write the same values.

    Parameters
    ----------
    fn: ``fn(params, key) -> dict`` of arrays: ``params`` maps each grid name to one value (a JAX
        scalar, or a Python number for the ``static`` ones); traceable by ``jax.jit`` and
        ``jax.vmap``. Integer and boolean outputs are stored as float64 (missing entries are NaN).
    grid: ``{name: 1-D values}``; every name must be read by ``fn``.
    replicates: the number of replicate keys per grid point.
    key: a ``jax.random`` key.
    store: the Zarr folder (created if missing; an empty folder is used; anything else must be a
        store of this very sweep).
    chunk: points per chunk: an int (replicates per chunk; every grid dimension whole), or a dict
        ``{dimension: size}`` (``"replicate"`` among them); default: the whole grid (static
        parameters one value) times one replicate.
    client: None (a ``dask.distributed.LocalCluster`` of one in-process worker, started and closed
        here), a ``dask.distributed.Client``, the address of a running scheduler
        (``"tcp://host:8786"``: a cluster of many machines), or ``"synchronous"`` (Dask's
        synchronous scheduler, in this thread: for tests and debugging).
    static: grid parameters passed to ``fn`` as Python numbers (e.g. a network size that shapes
        arrays); ``fn`` is compiled once per value, and their chunk size is 1.
    progress: show a progress bar (chunks done / total, with the time left).
    connect_timeout: seconds to wait for a scheduler ``address`` before giving up.

    Returns
    -------
    xarray.Dataset: the store's contents (read lazily), with ``attrs["computed_chunks"]`` (chunks
    computed by this call), ``attrs["reused_chunks"]`` (found in the store), ``attrs["failed_chunks"]``
    and ``attrs["failures"]`` (one line per chunk whose computation raised: such a chunk is
    recorded, its entries left NaN, a warning given, and the other chunks go on).

    Raises
    ------
    ArgumentError: a grid name ``fn`` does not read (or a parameter it reads that the grid does not
        give), bad chunk sizes, an unreachable scheduler.
    RunFolderError: ``store`` holds something else, or another sweep.

    Examples
    --------
    >>> import tempfile, os, jax, jax.numpy as jnp
    >>> import lowrank_rnn as lr
    >>> def fn(params, key):
    ...     return {"y": params["a"] * jax.random.normal(key)}
    >>> store = os.path.join(tempfile.mkdtemp(), "demo.zarr")
    >>> ds = lr.sweep(fn, {"a": [1.0, 2.0, 3.0]}, replicates=4, key=jax.random.key(0), store=store,
    ...               client="synchronous", progress=False)
    >>> ds["y"].dims, ds.attrs["computed_chunks"]
    (('a', 'replicate'), 4)
    >>> lr.sweep(fn, {"a": [1.0, 2.0, 3.0]}, replicates=4, key=jax.random.key(0), store=store,
    ...          client="synchronous", progress=False).attrs["reused_chunks"]
    4
    """
    if not callable(fn):
        raise ArgumentTypeError(f"fn must be a function fn(params, key) -> dict of arrays, got {type(fn).__name__}")
    names, values = _check_grid(grid)
    replicates = positive_int("replicates", replicates)
    key = prng_key("key", key)
    if isinstance(static, str):
        static = (static,)
    static = tuple(static)
    for s in static:
        if s not in names:
            raise ArgumentError(f"static: {s!r} is not a grid parameter; the grid has {list(names)}")
    if isinstance(store, bytes) or not isinstance(store, (str, os.PathLike)) or str(store).strip() == "":
        raise ArgumentTypeError(f"store must be a folder path, got {store!r}")
    if not isinstance(progress, (bool, np.bool_)):
        raise ArgumentTypeError(f"progress must be True or False, got {type(progress).__name__}")
    connect_timeout = real_scalar("connect_timeout", connect_timeout, low=0.0, low_open=True)
    if not (client is None or isinstance(client, str) or type(client).__name__ == "Client"):
        raise ArgumentTypeError(f"client must be None (a local Dask cluster), a dask.distributed.Client, a "
                                f"scheduler address such as 'tcp://host:8786', or 'synchronous', got "
                                f"{type(client).__name__}")
    extent = (*(len(v) for v in values), replicates)
    sizes = _check_chunk(chunk, names, extent, static)
    path = Path(store)
    stored = _read_attrs(path) if path.is_dir() else None
    if chunk is None and stored is not None and isinstance(stored.get("chunk"), list) \
            and len(stored["chunk"]) == len(sizes):
        sizes = tuple(int(s) for s in stored["chunk"])  # resume with the store's chunks

    typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    key_data = np.asarray(jax.random.key_data(key) if typed else key)
    key_impl = str(jax.random.key_impl(key)) if typed else None
    rep_key = jax.random.fold_in(key, 0)
    outputs, fn_hash = _trace(fn, names, values, static, rep_key)

    parts = {
        "fn": fn_hash,
        "grid": hashlib.sha256(json.dumps({"names": names, "values": [v.tolist() for v in values],
                                           "static": static}).encode()).hexdigest(),
        "replicates": replicates,
        "key": f"{key_impl}:{key_data.tolist()}",
        "outputs": hashlib.sha256(json.dumps(outputs).encode()).hexdigest(),
    }
    fingerprint = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    plan = _Plan(fn=fn, names=names, values=values, static=static, replicates=replicates, sizes=sizes,
                 key_data=key_data, key_impl=key_impl, outputs=outputs, fingerprint=fingerprint)
    record = {"format": "lowrank-rnn-sweep", "format_version": STORE_FORMAT_VERSION, "fingerprint": fingerprint,
              "parts": parts, "dims": list(plan.dims), "chunk": list(sizes), "static": list(static)}
    _open_store(path, plan, record)

    markers = _read_markers(path)
    todo = [i for i in plan.chunk_ids() if markers.get(_chunk_name(i), {}).get("status") != "done"]
    total = len(plan.chunk_ids())
    reused = total - len(todo)
    failures: list[str] = []
    computed = 0
    if todo:
        computed, failures = _run(plan, path, todo, total, reused, client, connect_timeout, progress)
    if failures:
        warnings.warn(f"sweep: {len(failures)} of {total} chunks failed and are left NaN (run the same sweep "
                      f"again to retry them); the first: {failures[0]}", RuntimeWarning, stacklevel=2)
    import xarray as xr

    ds = xr.open_zarr(path, consolidated=True, chunks=None)
    ds.attrs.pop(STORE_ATTR, None)
    ds.attrs.update(computed_chunks=computed, reused_chunks=reused, failed_chunks=len(failures),
                    failures=list(failures), fingerprint=fingerprint)
    return ds


def _run(plan: _Plan, path: Path, todo, total, reused, client, timeout, progress) -> tuple[int, list[str]]:
    """Compute the chunks ``todo``, writing each to the store as it finishes."""
    import zarr

    c, owned = _resolve_client(client, timeout)
    group = zarr.open_group(str(path), mode="r+")
    failures: list[str] = []
    computed = 0
    bar = tqdm(total=total, initial=reused, unit="chunk", desc="sweep", disable=not progress, dynamic_ncols=True)

    def finish(index, result, error):
        nonlocal computed
        name = _chunk_name(index)
        if error is None:
            _write_chunk(group, plan, index, result)
            atomic_write_bytes(path / MARKERS / f"{name}.json",
                               json.dumps({"status": "done", "time": time.time()}).encode())
            computed += 1
        else:
            failures.append(f"{plan.describe(index)}: {error}")
            _write_chunk(group, plan, index, None)
            atomic_write_bytes(path / MARKERS / f"{name}.json",
                               json.dumps({"status": "failed", "error": error, "time": time.time()}).encode())
        bar.update(1)

    futures = []
    try:
        if c is None:
            import dask

            for index in todo:
                try:
                    result = dask.delayed(_compute_chunk, pure=False)(plan, index).compute(scheduler="synchronous")
                    finish(index, result, None)
                except Exception as err:  # noqa: BLE001  (one chunk's failure is recorded, not fatal)
                    finish(index, None, _error_line(err))
        else:
            import distributed

            tag = plan.fingerprint[:12]
            futures = [c.submit(_compute_chunk, plan, index, key=f"lowrank-sweep-{tag}-{_chunk_name(index)}",
                                pure=False) for index in todo]
            where = {f.key: index for f, index in zip(futures, todo)}
            for fut in distributed.as_completed(futures):
                index = where[fut.key]
                try:
                    result = fut.result()
                    finish(index, result, None)
                except Exception as err:  # noqa: BLE001
                    finish(index, None, _error_line(err))
                fut.release()
    finally:
        bar.close()
        for f in futures:
            if not f.done():
                f.cancel()
        for obj in owned:
            try:
                obj.close()
            except Exception:  # noqa: BLE001  (closing a cluster after an interrupt)
                pass
    return computed, failures


def _error_line(err: BaseException) -> str:
    first = str(err).strip().splitlines()
    return f"{type(err).__name__}: {first[0] if first else ''}".strip()
