"""save / load: self-describing round trips and atomic writes."""

import json
import os

import jax
import numpy as np
import pytest

import lowrank_rnn._io as lio
from lowrank_rnn import (ArgumentError, ArgumentTypeError, Ensemble, FileFormatError, Network, Trajectory, load,
                         save, simulate)


def test_ensemble_round_trip(tmp_path):
    a = Ensemble.rank_one(mean_m=1.0, mean_n=1.0, std_m=1.0, std_n=0.5, cov_mn=0.3, g=0.4)
    b = Ensemble.rank_one(mean_m=-1.0, mean_n=2.0, std_m=0.5, std_n=1.0, cov_mn=-0.2, g=0.4)
    mix = Ensemble.mixture([a, b], weights=[0.3, 0.7])
    got = load(save(mix, tmp_path / "mix.npz"))
    assert isinstance(got, Ensemble) and got.names == mix.names and got.g == mix.g
    for field in ("mean", "cov", "weights"):
        np.testing.assert_array_equal(getattr(got, field), getattr(mix, field))


def test_network_round_trip(tmp_path):
    ens = Ensemble.from_directions({"m1": {"a": 1.0}, "n1": {"a": 2.0, "b": 1.0}, "I1": {"b": 1.0},
                                    "w1": {"a": 1.0}}, g=0.5)
    net = ens.sample(200, key=jax.random.key(0))
    got = load(save(net, tmp_path / "net.npz"))
    assert isinstance(got, Network) and got.g == net.g and got.nonlinearity == net.nonlinearity
    for field in ("m", "n", "inputs", "readouts", "bulk", "population"):
        np.testing.assert_array_equal(np.asarray(getattr(got, field)), np.asarray(getattr(net, field)))
    # the loaded network simulates identically
    kw = dict(T=2.0, dt=0.1, x0=np.asarray(net.m[:, 0]), inputs=np.ones((20, 1)))
    np.testing.assert_array_equal(simulate(got, **kw).kappa, simulate(net, **kw).kappa)


def test_trajectory_round_trip_and_header(tmp_path):
    net = Network(m=np.ones((10, 1)), n=np.ones((10, 1)))
    tr = simulate(net, T=1.0, dt=0.1, x0=np.ones(10), record=("x", "kappa"))
    path = save(tr, tmp_path / "traj.npz")
    got = load(path)
    assert isinstance(got, Trajectory) and got.readout is None and got.dt == tr.dt
    np.testing.assert_array_equal(got.x, tr.x)
    header = lio.read_header(path)
    assert header["class"] == "Trajectory" and header["format"] == "lowrank-rnn"
    json.dumps(header)  # plain JSON


def test_write_is_atomic(tmp_path, monkeypatch):
    """A save that fails midway leaves the earlier file intact and no temporary file behind."""
    ens = Ensemble.rank_one(mean_m=1.0, mean_n=1.0, std_m=1.0, std_n=1.0)
    path = save(ens, tmp_path / "ens.npz")
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save(ens.replace(g=2.0), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ens.npz"]


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.npz")
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a lowrank-rnn file"):
        load(tmp_path / "plain.npz")
    with pytest.raises(TypeError, match="cannot save"):
        save(object(), tmp_path / "x.npz")


# ---------------------------------------------------------------- damaged and foreign files (issue 20)
def _network_file(tmp_path):
    net = Ensemble.rank_one(mean_m=1.0, mean_n=2.0, std_m=1.0, std_n=1.0, g=0.5).sample(12, key=jax.random.key(0))
    return save(net, tmp_path / "net.npz")


def _with_header(path, out, change):
    """Write ``out``: the file at ``path`` with its JSON header passed through ``change``."""
    arrays = lio.read_archive(path)
    header = json.loads(arrays.pop("__header__").tobytes())
    raw = change(header)
    raw = raw if isinstance(raw, bytes) else json.dumps(header).encode()
    np.savez(out, __header__=np.frombuffer(raw, np.uint8), **arrays)
    return out


_HEADER_TAMPERING = {
    "dtype int8": (lambda h: h["meta"].update(dtype="int8"), "dtype must be a floating dtype"),
    "dtype garbage": (lambda h: h["meta"].update(dtype="xyz"), "dtype must be a floating dtype"),
    "g a string": (lambda h: h["meta"].update(g="1.1"), "g must be a real number"),
    "g NaN": (lambda h: h["meta"].update(g=float("nan")), "g must be finite"),
    "meta missing g": (lambda h: h["meta"].pop("g"), "misses field 'g'"),
    "meta a list": (lambda h: h.update(meta=[]), "'meta' must be a JSON object"),
    "unknown field": (lambda h: h.update(extra=1), "unknown header field 'extra'"),
    "foreign format": (lambda h: h.update(format="other"), "not a lowrank-rnn file"),
    "future version": (lambda h: h.update(format_version=99), "format version 99 is not supported"),
    "version a string": (lambda h: h.update(format_version="1"), "'format_version' must be an integer"),
    "unknown class": (lambda h: h.update({"class": "Popen", "module": "subprocess"}), "holds a 'Popen'"),
    "missing module": (lambda h: h.update({"class": "X", "module": "lowrank_rnn.nope"}), "holds a 'X'"),
    "array list short": (lambda h: h.update(arrays=["m"]), "unknown array"),
    "array list long": (lambda h: h["arrays"].append("zz"), "'zz'.*missing"),
    "no class": (lambda h: h.pop("class"), "missing field 'class'"),
    "not JSON": (lambda h: b"{not json", "not valid JSON"),
    "not UTF-8": (lambda h: b"\xff\xfe{}", "not valid JSON"),
    "a JSON list": (lambda h: b"[1, 2]", "a JSON list, not an object"),
}


@pytest.mark.parametrize("case", sorted(_HEADER_TAMPERING))
def test_tampered_headers_raise_file_format_error(tmp_path, case):
    """Before: KeyError, JSONDecodeError, UnicodeDecodeError, ModuleNotFoundError, or an int8 network."""
    change, message = _HEADER_TAMPERING[case]
    bad = _with_header(_network_file(tmp_path), tmp_path / "bad.npz", change)
    with pytest.raises(FileFormatError, match=message) as info:
        load(bad)
    assert str(bad) in str(info.value)


def test_truncated_and_corrupted_files_raise_file_format_error(tmp_path):
    """Before: EOFError, BadZipFile, or numpy's advice to pass allow_pickle."""
    raw = _network_file(tmp_path).read_bytes()
    bad = tmp_path / "bad.npz"
    cases = [(b"", "empty"), (b"hello\n", "not an .npz archive"), (raw[:40], "damaged: truncated"),
             (raw[: len(raw) // 2], "damaged: truncated"), (raw[:-5], "damaged: truncated")]
    for data, message in cases:
        bad.write_bytes(data)
        with pytest.raises(FileFormatError, match=message):
            load(bad)
    rng = np.random.default_rng(0)
    for where in rng.integers(0, len(raw), size=20):
        data = bytearray(raw)
        data[where] ^= 0xFF
        bad.write_bytes(bytes(data))
        try:
            load(bad)  # a flip in the zip's padding or unused fields may leave the file readable
        except FileFormatError as err:
            assert str(bad) in str(err)
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(FileFormatError, match="a NumPy .npy file"):
        load(tmp_path / "a.npy")
    with pytest.raises(FileFormatError, match="is a folder"):
        load(tmp_path)


def test_load_never_unpickles(tmp_path):
    """An object array (which numpy would unpickle) is refused by its dtype, and nothing runs."""
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.npz"
    np.savez(path, __header__=np.array([Evil()], dtype=object), m=np.array([Evil()], dtype=object))
    with pytest.raises(FileFormatError, match="dtype object.*never"):
        load(path)
    assert not marker.exists()


# ---------------------------------------------------------------- permissions and temporary files (issue 20)
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_saved_files_follow_the_umask(tmp_path, umask, mode):
    """Before: 0o600 whatever the umask (mkstemp's mode), so other users could not read results."""
    old = os.umask(umask)
    try:
        path = save(Ensemble.rank_one(mean_m=1.0, mean_n=1.0, std_m=1.0, std_n=1.0), tmp_path / "e.npz")
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == mode


def test_overwriting_keeps_the_file_mode(tmp_path):
    ens = Ensemble.rank_one(mean_m=1.0, mean_n=1.0, std_m=1.0, std_n=1.0)
    path = save(ens, tmp_path / "e.npz")
    os.chmod(path, 0o640)
    save(ens.replace(g=1.0), path)
    assert os.stat(path).st_mode & 0o777 == 0o640


_KILLED_SAVE = """
import os, signal, sys
import lowrank_rnn as lr
os.replace = lambda src, dst: os.kill(os.getpid(), signal.SIGKILL)  # die between write and rename
lr.save(lr.Ensemble.rank_one(mean_m=1.0, mean_n=1.0, std_m=1.0, std_n=1.0), sys.argv[1])
"""


def test_stale_temporaries_of_killed_saves_are_removed(tmp_path):
    """A save killed by SIGKILL left its temporary file forever; the next save to the folder removes it."""
    import signal
    import subprocess
    import sys

    target = tmp_path / "ens.npz"
    res = subprocess.run([sys.executable, "-c", _KILLED_SAVE, str(target)], capture_output=True)
    assert res.returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".ens.npz.") and left[0].endswith(".lowrank.tmp")
    # a temporary of a live writer (this process's parent) and another machine's recent one stay
    live = tmp_path / f".other.npz.{lio._host_tag()}-{os.getppid()}-0123abcd.lowrank.tmp"
    foreign = tmp_path / ".other.npz.00000000-1-0123abcd.lowrank.tmp"
    live.write_bytes(b"x")
    foreign.write_bytes(b"x")
    save(Ensemble.rank_one(mean_m=1.0, mean_n=1.0, std_m=1.0, std_n=1.0), tmp_path / "other.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([foreign.name, live.name, "other.npz"])
    # the foreign one goes once it is a day old
    os.utime(foreign, (0, 0))
    assert lio.remove_stale_temporaries(tmp_path) == [foreign]


# ---------------------------------------------------------------- output folders (issue 20)
def test_output_folder(tmp_path):
    assert lio.output_folder(tmp_path / "a" / "b") == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("x")
    for bad, message in [("", "empty path"), ("  ", "empty path"), (tmp_path / "file", "is an existing file"),
                         (tmp_path / "file" / "sub", "lies under .* which is an existing file")]:
        with pytest.raises(ArgumentError, match=f"--out .*{message}|--out must name a folder, got an {message}"):
            lio.output_folder(bad)
    with pytest.raises(ArgumentTypeError, match="out must be a folder path"):
        lio.output_folder(None, name="out")
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ArgumentError, match="not writable|cannot create"):
            lio.output_folder(locked / "run")
