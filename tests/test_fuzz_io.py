"""Property-based tests of save / load (issue 20): valid objects round-trip; mutated files (truncated,
bytes flipped, headers tampered, foreign archives) load or raise FileFormatError naming the file,
never an error from zipfile, NumPy or the JSON parser, and never unpickle."""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lowrank_rnn import Ensemble, FileFormatError, Network, Trajectory, load, save, simulate

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_FOLDER = tempfile.mkdtemp(prefix="lowrank-fuzz-io-")


def _bytes_of(obj) -> bytes:
    path = save(obj, os.path.join(_FOLDER, f"{type(obj).__name__}.npz"))
    with open(path, "rb") as fh:
        return fh.read()


_ENS = Ensemble.mixture([Ensemble.rank_one(mean_m=1.0, mean_n=2.0, std_m=1.0, std_n=0.5, cov_mn=0.2, g=0.5),
                         Ensemble.rank_one(mean_m=-1.0, mean_n=1.0, std_m=0.5, std_n=1.0, g=0.5)], weights=[0.3, 0.7])
_NET = _ENS.sample(9, key=jax.random.key(0))
_TRAJ = simulate(Network(m=np.ones(4), n=np.ones(4)), T=0.5, dt=0.1, x0=np.ones(4), record=("x", "kappa"))
_FILES = {name: _bytes_of(obj) for name, obj in (("Ensemble", _ENS), ("Network", _NET), ("Trajectory", _TRAJ))}


def _load_bytes(data: bytes, expected_class: str | None):
    """Load ``data`` from a file; it must give an object of the saved class or a FileFormatError."""
    fd, path = tempfile.mkstemp(suffix=".npz", dir=_FOLDER)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    try:
        obj = load(path)
    except FileFormatError as err:
        assert path in str(err), f"the error does not name the file: {err}"
        return None
    finally:
        os.unlink(path)
    assert expected_class is not None, f"a foreign file loaded as {type(obj).__name__}"
    assert type(obj).__name__ == expected_class
    return obj


# ---------------------------------------------------------------- valid objects round-trip
_FINITE = st.floats(-1e6, 1e6, allow_nan=False)


@FUZZ
@given(mean_m=_FINITE, mean_n=_FINITE, std_m=st.floats(0, 1e3), std_n=st.floats(0, 1e3),
       rho=st.floats(-1, 1), g=st.floats(0, 10))
def test_ensembles_round_trip(mean_m, mean_n, std_m, std_n, rho, g):
    ens = Ensemble.rank_one(mean_m=mean_m, mean_n=mean_n, std_m=std_m, std_n=std_n, cov_mn=rho * std_m * std_n, g=g)
    got = _load_bytes(_bytes_of(ens), "Ensemble")
    assert got.names == ens.names and got.g == ens.g
    for field in ("mean", "cov", "weights"):
        np.testing.assert_array_equal(getattr(got, field), getattr(ens, field))


@settings(FUZZ, max_examples=15)  # each new shape and dtype compiles Network's checks
@given(st.integers(1, 3).flatmap(lambda N: st.tuples(
    hnp.arrays(np.float64, (N, 2), elements=_FINITE), hnp.arrays(np.float64, (N, 2), elements=_FINITE),
    st.one_of(st.none(), hnp.arrays(np.float64, (N, N), elements=st.floats(-10, 10))),
    st.sampled_from([jnp.float16, jnp.bfloat16, jnp.float32]), st.sampled_from(["tanh", "relu", "linear"]))))
def test_networks_round_trip(args):
    m, n, bulk, dtype, nonlinearity = args
    if dtype == jnp.float16:
        m, n = np.clip(m, -6e4, 6e4), np.clip(n, -6e4, 6e4)
    net = Network(m=m, n=n, bulk=bulk, nonlinearity=nonlinearity, dtype=dtype,
                  g=None if bulk is None else 0.5)
    got = _load_bytes(_bytes_of(net), "Network")
    assert got.g == net.g and got.nonlinearity == net.nonlinearity
    for field in ("m", "n", "inputs", "readouts", "bulk"):
        a, b = getattr(got, field), getattr(net, field)
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == b.dtype == dtype
            np.testing.assert_array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64))


# ---------------------------------------------------------------- mutated files
@FUZZ
@given(st.sampled_from(sorted(_FILES)), st.data())
def test_truncated_files(kind, data):
    raw = _FILES[kind]
    cut = data.draw(st.integers(0, len(raw) - 1))
    _load_bytes(raw[:cut], kind)  # truncation breaks the archive's directory: never loads, never raw


@FUZZ
@given(st.sampled_from(sorted(_FILES)), st.data())
def test_flipped_bytes(kind, data):
    raw = bytearray(_FILES[kind])
    for _ in range(data.draw(st.integers(1, 4))):
        where = data.draw(st.integers(0, len(raw) - 1))
        raw[where] = data.draw(st.integers(0, 255))
    _load_bytes(bytes(raw), kind)  # flips in zip padding or timestamps may leave it loadable


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**64, 2**64) | st.floats() | st.text(max_size=6),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                     max_leaves=6)


def _paths(obj, prefix=()):
    """Every path to a value in a JSON object."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


def _header_and_arrays(raw: bytes):
    arrays = _arrays_of(raw)
    return json.loads(arrays.pop("__header__").tobytes()), arrays


def _arrays_of(raw: bytes) -> dict:
    with np.load(io.BytesIO(raw), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _archive(header_bytes: bytes, arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, __header__=np.frombuffer(header_bytes, np.uint8), **arrays)
    return buf.getvalue()


@FUZZ
@given(st.sampled_from(sorted(_FILES)), st.data())
def test_tampered_headers(kind, data):
    header, arrays = _header_and_arrays(_FILES[kind])
    path = data.draw(st.sampled_from(list(_paths(header))[1:]))
    value = data.draw(_JSON)
    target = header
    for step in path[:-1]:
        target = target[step]
    if data.draw(st.booleans()) and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = value
    _load_bytes(_archive(json.dumps(header).encode(), arrays), kind)


@FUZZ
@given(st.sampled_from(sorted(_FILES)), st.binary(max_size=40))
def test_garbage_headers(kind, junk):
    _, arrays = _header_and_arrays(_FILES[kind])
    assert _load_bytes(_archive(junk, arrays), kind) is None


_ARRAY_NAMES = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=6)


@FUZZ
@given(st.dictionaries(_ARRAY_NAMES, hnp.arrays(hnp.scalar_dtypes(), hnp.array_shapes(min_dims=0, max_dims=2, max_side=3)),
                       max_size=3),
       st.booleans())
def test_foreign_archives(arrays, compressed):
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    assert _load_bytes(buf.getvalue(), None) is None


@FUZZ
@given(st.binary(max_size=200), st.sampled_from([b"", b"PK\x03\x04", b"\x93NUMPY", b"PK\x05\x06"]))
def test_random_bytes(junk, magic):
    assert _load_bytes(magic + junk, None) is None


def test_a_zip_of_other_things_is_foreign():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "hello")
    assert _load_bytes(buf.getvalue(), None) is None
    assert isinstance(_TRAJ, Trajectory)
