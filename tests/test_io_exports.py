"""lowrank_rnn.io: the MARBLE and TiDHy export layouts, velocities, and the .npz files."""

import jax
import numpy as np
import pytest

from lowrank_rnn import ArgumentError, ArgumentTypeError, Ensemble, simulate
from lowrank_rnn.fitting import Recording
from lowrank_rnn.io import to_marble, to_tidhy


def _circles(dt=0.01, T=60):
    """Trials on circles x = r (cos w t, sin w t), radius r = 1 + trial % 2, w = 1 + trial."""
    t = np.arange(T) * dt
    radius = 1.0 + np.arange(4) % 2
    omega = 1.0 + np.arange(4)
    x = radius[:, None, None] * np.stack([np.cos(omega[:, None] * t), np.sin(omega[:, None] * t)], axis=-1)
    return x, t, radius, omega


def test_marble_point_clouds_and_velocities(tmp_path):
    dt = 0.01
    x, t, radius, omega = _circles(dt)
    rec = Recording(x, dt=dt, conditions=["b", "a", "b", "a"], signed=True)
    out = to_marble(rec, tmp_path / "m.npz", transient=5)
    assert out["conditions"].tolist() == ["a", "b"]
    steps = 60 - 5 - 1
    for c, trials in enumerate([[1, 3], [0, 2]]):
        a, v = out["anchor"][c], out["vector"][c]
        assert a.dtype == np.float32 and a.shape == v.shape == (2 * steps, 2)
        assert out["trial"][c].tolist() == [trials[0]] * steps + [trials[1]] * steps
        assert np.allclose(out["time"][c][:steps], t[5:-1])
        assert np.allclose(a[:steps], x[trials[0], 5:-1], atol=1e-6)
        # forward differences / dt: the exact derivative up to O(dt) (|x''| dt / 2 = r w^2 dt / 2)
        exact = np.stack([-np.sin(omega[trials[0]] * t[5:-1]), np.cos(omega[trials[0]] * t[5:-1])], -1)
        exact *= radius[trials[0]] * omega[trials[0]]
        assert np.abs(v[:steps] - exact).max() <= radius[trials[0]] * omega[trials[0]] ** 2 * dt / 2 + 1e-5
        assert np.allclose(v[:steps], np.diff(x[trials[0], 5:], axis=0) / dt, atol=1e-4)
    assert out["dt"] == dt and np.array_equal(out["components"], np.eye(2)) and np.array_equal(out["mean"], [0, 0])
    # the file: flat keys, readable by NumPy alone (no pickle)
    d = np.load(tmp_path / "m.npz", allow_pickle=False)
    assert sorted(d.files) == sorted(["conditions", "dt", "components", "mean"]
                                     + [f"{k}_{i}" for k in ("anchor", "vector", "trial", "time") for i in (0, 1)])
    for i in (0, 1):
        assert np.array_equal(d[f"anchor_{i}"], out["anchor"][i]) and np.array_equal(d[f"vector_{i}"], out["vector"][i])
    assert d["conditions"].tolist() == ["a", "b"] and float(d["dt"]) == dt


def test_marble_projection_arrays_and_trajectories():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(3, 40, 2)).cumsum(axis=1)
    embed = np.linalg.qr(rng.normal(size=(10, 2)))[0]  # orthonormal columns
    data = latent @ embed.T + 5.0
    out = to_marble(data, n_pcs=2, dt=0.5)
    assert out["conditions"].tolist() == [0] and out["anchor"][0].shape == (3 * 39, 2)
    comp, mean = out["components"], out["mean"]
    assert comp.shape == (2, 10) and np.allclose(comp @ comp.T, np.eye(2), atol=1e-10)
    assert np.allclose(np.abs(np.linalg.svd(comp @ embed, compute_uv=False)), 1.0, atol=1e-8)  # the plane
    y = (data - mean) @ comp.T
    assert np.allclose(out["anchor"][0], y[:, :-1].reshape(-1, 2), atol=1e-5)
    assert np.allclose(out["vector"][0], (np.diff(y, axis=1) / 0.5).reshape(-1, 2), atol=1e-5)  # projected space
    one = to_marble(data[0])  # (time, n): one trial, dt 1
    assert one["anchor"][0].shape == (39, 10) and np.allclose(one["vector"][0], np.diff(data[0], axis=0), atol=1e-4)
    net = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0).sample(20, key=jax.random.key(0))
    traj = simulate(net, T=1.0, dt=0.1, batch=2, record=("x",))
    tr = to_marble(traj)
    assert np.allclose(tr["vector"][0][:9], np.diff(traj.x[0, 1:], axis=0) / 0.1, atol=1e-4)
    with pytest.raises(ArgumentError, match="n_pcs must be <= the number of features"):
        to_marble(data, n_pcs=11)
    with pytest.raises(ArgumentError, match="velocities need at least 2"):
        to_marble(data, transient=39)
    with pytest.raises(ArgumentError, match=r"conditions must hold one label per trial \(3\)"):
        to_marble(data, conditions=[0, 1])
    with pytest.raises(ArgumentError, match="obj contains non-finite"):
        to_marble(np.full((2, 3, 4), np.nan))
    with pytest.raises(ArgumentError, match="is a folder"):
        to_marble(data, ".")


def test_tidhy_splits_by_trials_and_trims(tmp_path):
    rng = np.random.default_rng(1)
    rates = rng.uniform(size=(10, 30, 4))
    inputs = rng.normal(size=(10, 30, 2))
    rec = Recording(rates, dt=0.02, inputs=inputs, conditions=np.arange(10) % 2)
    out = to_tidhy(rec, tmp_path / "t.npz", split=(0.6, 0.2, 0.2), sequence_length=25)
    assert out["inputs_train"].shape == (175, 4) and out["inputs_val"].shape == (50, 4)  # 180 -> 175, 60 -> 50
    assert out["inputs_test"].dtype == np.float32 and out["inputs_test"].shape == (50, 4)
    assert np.allclose(out["inputs_train"], rates[:6].reshape(-1, 4)[:175])
    assert np.allclose(out["inputs_val"], rates[6:8].reshape(-1, 4)[:50])
    assert np.allclose(out["stimulus_test"], inputs[8:].reshape(-1, 2)[:50])
    assert out["trial_val"].tolist() == [6] * 30 + [7] * 20
    assert np.allclose(out["time_val"][:31], np.r_[np.arange(30) * 0.02, 0.0])
    assert out["annotations_val"].tolist() == [0] * 30 + [1] * 20
    assert float(out["dt"]) == 0.02
    d = np.load(tmp_path / "t.npz", allow_pickle=False)
    assert set(d.files) == set(out) and np.array_equal(d["inputs_val"], out["inputs_val"])
    assert d["inputs_val"].reshape(-1, 25, 4).shape == (2, 25, 4)  # what TiDHy does to validation data


def test_tidhy_single_trial_splits_time_and_errors():
    x = np.arange(100.0)[:, None] * np.ones((1, 3))
    out = to_tidhy(x)  # one trial: the series is cut at 80 % and 90 % of its length
    assert [out[f"inputs_{p}"].shape[0] for p in ("train", "val", "test")] == [80, 10, 10]
    assert np.array_equal(out["inputs_val"][:, 0], np.arange(80.0, 90.0))
    assert "annotations_train" not in out and "stimulus_train" not in out
    assert [to_tidhy(np.ones((3, 5, 2)))[f"inputs_{p}"].shape[0] for p in ("train", "val", "test")] == [5, 5, 5]
    no_test = to_tidhy(np.ones((4, 5, 2)), split=(0.75, 0.25, 0.0))
    assert no_test["inputs_test"].shape == (0, 2) and no_test["inputs_val"].shape == (5, 2)
    with pytest.raises(ArgumentError, match="summing to 1"):
        to_tidhy(x, split=(0.5, 0.2, 0.2))
    with pytest.raises(ArgumentError, match="the val part is empty"):
        to_tidhy(x, sequence_length=20)
    with pytest.raises(ArgumentTypeError, match="sequence_length must be an integer"):
        to_tidhy(x, sequence_length=2.5)
    with pytest.raises(ArgumentTypeError, match="path must be a file path"):
        to_tidhy(x, path=3)
