"""save / load: self-describing round trips and atomic writes."""

import json
import os

import jax
import numpy as np
import pytest

import lowrank_rnn._io as lio
from lowrank_rnn import Ensemble, Network, Trajectory, load, save, simulate


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
