"""fitting.Recording: validation, selections, splits, condition averages, saving."""

import jax
import numpy as np
import pytest

import lowrank_rnn
from lowrank_rnn import ArgumentError, ArgumentTypeError
from lowrank_rnn.fitting import Recording


def _rec(B=6, T=5, N=4, K=2, O=1, seed=0, **kw):
    rng = np.random.default_rng(seed)
    return Recording(rng.uniform(size=(B, T, N)), dt=0.01, inputs=rng.normal(size=(B, T, K)),
                     outputs=rng.normal(size=(B, T, O)), conditions=np.arange(B) % 3, **kw)


def test_fields_shapes_and_immutability():
    rec = _rec(neurons={"area": ["V1", "V1", "PFC", "PFC"], "depth": np.arange(4.0)})
    assert (rec.n_trials, rec.n_time, rec.n_neurons, rec.n_inputs, rec.n_outputs) == (6, 5, 4, 2, 1)
    assert rec.rates.dtype == np.float64 and rec.dt == 0.01 and not rec.signed
    assert np.allclose(rec.t, [0, 0.01, 0.02, 0.03, 0.04])
    with pytest.raises(AttributeError, match="immutable"):
        rec.dt = 1.0
    with pytest.raises(ValueError):
        rec.rates[0, 0, 0] = 5.0  # read-only arrays
    with pytest.raises(TypeError):
        rec.neurons["area"] = ["x"] * 4
    # the caller's array is copied, not aliased
    r = np.ones((2, 3, 4))
    rec2 = Recording(r, dt=1.0)
    r[0, 0, 0] = 9.0
    assert rec2.rates[0, 0, 0] == 1.0
    assert "trials=6" in repr(rec) and "conditions=3" in repr(rec)


def test_pickle_and_copy():
    import copy
    import pickle

    rec = _rec(neurons={"area": ["a", "b", "c", "d"]})
    for other in (copy.copy(rec), copy.deepcopy(rec), pickle.loads(pickle.dumps(rec))):
        assert np.array_equal(other.rates, rec.rates) and np.array_equal(other.inputs, rec.inputs)
        assert other.neurons["area"].tolist() == ["a", "b", "c", "d"] and other.dt == rec.dt
        with pytest.raises(AttributeError, match="immutable"):
            other.dt = 2.0


def test_two_d_rates_are_one_trial():
    rec = Recording(np.ones((7, 3)), dt=0.5, inputs=np.zeros((7, 2)), outputs=np.zeros((7, 1)))
    assert rec.rates.shape == (1, 7, 3) and rec.inputs.shape == (1, 7, 2) and rec.outputs.shape == (1, 7, 1)
    assert Recording.from_arrays(np.ones((7, 3)), dt=0.5).rates.shape == (1, 7, 3)
    with pytest.raises(ArgumentError, match="inputs must be 2-D"):
        Recording(np.ones((7, 3)), dt=0.5, inputs=np.zeros((1, 7, 2)))


@pytest.mark.parametrize("kwargs, match", [
    (dict(rates=np.full((2, 3, 4), np.nan)), "rates contains non-finite"),
    (dict(rates=np.full((2, 3, 4), np.inf)), "rates contains non-finite"),
    (dict(rates=-np.ones((2, 3, 4))), "rates contains negative values"),
    (dict(rates=np.ones(5)), "rates must be 2-D or 3-D"),
    (dict(rates=np.ones((0, 3, 4))), "at least one trial"),
    (dict(dt=0.0), "dt must be > 0"),
    (dict(dt=-1.0), "dt must be > 0"),
    (dict(inputs=np.zeros((3, 3, 1))), r"inputs must be \(trials, time, features\).*\(2, 3\)"),
    (dict(inputs=np.zeros((2, 4, 1))), "inputs must be"),
    (dict(inputs=np.full((2, 3, 1), np.nan)), "inputs contains non-finite"),
    (dict(outputs=np.zeros((2, 2, 1))), "outputs must be"),
    (dict(conditions=[0, 1, 2]), "conditions has 3 entries but the recording has 2 trials"),
    (dict(conditions=[[0], [1]]), "conditions must be 1-D"),
    (dict(conditions=[0.0, np.nan]), "conditions contains non-finite"),
    (dict(neurons={"depth": np.arange(3)}), r"neurons\['depth'\] must have one entry per neuron \(4\)"),
])
def test_bad_input_names_the_argument(kwargs, match):
    args = dict(rates=np.ones((2, 3, 4)), dt=0.1)
    args.update(kwargs)
    with pytest.raises(ArgumentError, match=match):
        Recording(args.pop("rates"), **args)


def test_bad_types():
    with pytest.raises(ArgumentTypeError, match="rates must be an array of real numbers"):
        Recording([["a"]], dt=1.0)
    with pytest.raises(ArgumentTypeError, match="dt must be a real number"):
        Recording(np.ones((2, 3)), dt="1")
    with pytest.raises(ArgumentTypeError, match="neurons must be a mapping"):
        Recording(np.ones((2, 3)), dt=1.0, neurons=[1, 2, 3])
    with pytest.raises(ArgumentTypeError, match="conditions must hold numbers or strings"):
        Recording(np.ones((2, 2, 3)), dt=1.0, conditions=np.array([object(), object()]))


def test_signed_allows_negative_activity():
    rec = Recording(-np.ones((2, 3, 4)), dt=0.1, signed=True)
    assert rec.signed and rec.rates.min() == -1.0
    assert rec.select_neurons([0]).signed  # operations keep it


def test_select_trials_and_neurons():
    rec = _rec(neurons={"area": ["a", "b", "c", "d"]})
    sub = rec.select_trials([4, 1])
    assert np.array_equal(sub.rates, rec.rates[[4, 1]]) and np.array_equal(sub.inputs, rec.inputs[[4, 1]])
    assert np.array_equal(sub.outputs, rec.outputs[[4, 1]]) and list(sub.conditions) == [1, 1]
    mask = np.array([True, False, True, False, False, False])
    assert np.array_equal(rec.select_trials(mask).rates, rec.rates[[0, 2]])
    assert rec.select_trials(slice(1, 3)).n_trials == 2
    assert rec.select_trials(-1).n_trials == 1
    held = rec.select_neurons([3, 0])
    assert np.array_equal(held.rates, rec.rates[:, :, [3, 0]]) and list(held.neurons["area"]) == ["d", "a"]
    assert np.array_equal(held.inputs, rec.inputs)  # inputs are not per neuron
    with pytest.raises(ArgumentError, match=r"index: positions must lie in \[-4, 4\)"):
        rec.select_neurons([4])
    with pytest.raises(ArgumentError, match="index selects no trial"):
        rec.select_trials([])
    with pytest.raises(ArgumentError, match="boolean mask must have one entry per neuron"):
        rec.select_neurons([True, False])
    with pytest.raises(ArgumentTypeError, match="index must be integers"):
        rec.select_trials([0.5])


def test_split_is_disjoint_and_deterministic():
    rec = Recording(np.arange(10.0)[:, None, None] * np.ones((10, 2, 3)), dt=1.0, conditions=np.arange(10))
    train, test = rec.split(0.3, key=jax.random.key(0))
    assert (train.n_trials, test.n_trials) == (7, 3)
    ids_train, ids_test = set(train.conditions), set(test.conditions)
    assert not ids_train & ids_test and ids_train | ids_test == set(range(10))
    assert np.all(np.diff(train.conditions) > 0)  # trial order kept
    assert np.array_equal(train.rates[:, 0, 0], train.conditions)  # rows travel with their labels
    again, _ = rec.split(0.3, key=jax.random.key(0))
    assert np.array_equal(again.conditions, train.conditions)
    other, _ = rec.split(0.3, key=jax.random.key(5))
    assert not np.array_equal(other.conditions, train.conditions)
    # at least one trial on each side
    assert [r.n_trials for r in rec.split(0.01, key=jax.random.key(0))] == [9, 1]
    assert [r.n_trials for r in rec.split(0.99, key=jax.random.key(0))] == [1, 9]
    with pytest.raises(ArgumentError, match="test_fraction must be < 1"):
        rec.split(1.0, key=jax.random.key(0))
    with pytest.raises(ArgumentError, match="at least 2 trials"):
        rec.select_trials([0]).split(key=jax.random.key(0))
    with pytest.raises(ArgumentTypeError, match="key must be a jax.random key"):
        rec.split(0.2, key=0)


def test_average_by_condition():
    rec = _rec(B=6)  # conditions 0 1 2 0 1 2
    avg = rec.average_by_condition()
    assert list(avg.conditions) == [0, 1, 2] and avg.rates.shape == (3, 5, 4)
    assert np.allclose(avg.rates[1], rec.rates[[1, 4]].mean(axis=0))
    assert np.allclose(avg.inputs[2], rec.inputs[[2, 5]].mean(axis=0))
    assert np.allclose(avg.outputs[0], rec.outputs[[0, 3]].mean(axis=0))
    strings = Recording(np.arange(3.0).reshape(3, 1, 1), dt=1.0, conditions=["b", "a", "b"]).average_by_condition()
    assert list(strings.conditions) == ["a", "b"] and np.allclose(strings.rates[:, 0, 0], [1.0, 1.0])
    with pytest.raises(ArgumentError, match="needs condition labels"):
        Recording(np.ones((2, 3, 4)), dt=1.0).average_by_condition()


@pytest.mark.parametrize("conditions, neurons", [
    (None, None),
    (np.array([0, 1, 0]), {"depth": np.array([1.0, 2.0])}),
    (np.array(["left", "right", "left"]), {"area": np.array(["V1", "PFC"]), "id": np.array([7, 9])}),
])
def test_save_load_round_trip(tmp_path, conditions, neurons):
    rng = np.random.default_rng(1)
    rec = Recording(rng.uniform(size=(3, 4, 2)), dt=0.02, inputs=rng.normal(size=(3, 4, 1)),
                    outputs=None, conditions=conditions, neurons=neurons, signed=True)
    back = lowrank_rnn.load(lowrank_rnn.save(rec, tmp_path / "rec.npz"))
    assert isinstance(back, Recording) and back.dt == rec.dt and back.signed
    assert np.array_equal(back.rates, rec.rates) and np.array_equal(back.inputs, rec.inputs) and back.outputs is None
    if conditions is None:
        assert back.conditions is None
    else:
        assert np.array_equal(back.conditions, rec.conditions) and back.conditions.dtype.kind == conditions.dtype.kind
    if neurons is None:
        assert back.neurons is None
    else:
        assert set(back.neurons) == set(neurons)
        for k, v in neurons.items():
            assert np.array_equal(back.neurons[k], v)


def test_package_attribute():
    assert lowrank_rnn.fitting.Recording is Recording


def test_counts_flag():
    rec = Recording(np.array([[[0.0, 2.0], [1.0, 3.0]]]), dt=0.01, counts=True)
    assert rec.counts and not rec.signed
    with pytest.raises(ArgumentError, match="whole numbers when counts=True"):
        Recording(np.full((1, 2, 2), 0.5), dt=0.01, counts=True)
    with pytest.raises(ArgumentError, match="exclude each other"):
        Recording(np.ones((1, 2, 2)), dt=0.01, counts=True, signed=True)
    avg = Recording(np.array([[[1.0]], [[2.0]]]), dt=1.0, counts=True, conditions=[0, 0]).average_by_condition()
    assert not avg.counts and avg.rates[0, 0, 0] == 1.5


def test_bin_sums_counts_and_averages_rates():
    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, size=(3, 11, 4)).astype(float)
    inputs = rng.normal(size=(3, 11, 2))
    rec = Recording(counts, dt=0.001, inputs=inputs, counts=True)
    b = rec.bin(5)
    assert b.dt == pytest.approx(0.005) and b.n_time == 2 and b.counts  # the 11th step is dropped
    assert np.array_equal(b.rates[:, 1], counts[:, 5:10].sum(axis=1))
    assert np.allclose(b.inputs[:, 0], inputs[:, :5].mean(axis=1))
    assert b.rates.sum() == counts[:, :10].sum()  # spikes are conserved
    r = Recording(counts, dt=0.001).bin(5)
    assert not r.counts and np.allclose(r.rates[:, 0], counts[:, :5].mean(axis=1))
    assert rec.bin(1).rates.shape == rec.rates.shape
    with pytest.raises(ArgumentError, match="longer than the recording"):
        rec.bin(12)
    with pytest.raises(ArgumentError, match="factor must be an integer >= 1"):
        rec.bin(0)


def test_smooth_is_a_normalised_gaussian():
    dt, sigma = 0.01, 0.03
    rates = np.zeros((2, 101, 3))
    rates[0, 50, 1] = 1.0
    rates[1] = 2.0
    sm = Recording(rates, dt=dt).smooth(sigma)
    t = (np.arange(101) - 50) * dt
    want = np.where(np.abs(t) <= 4 * sigma + 1e-12, np.exp(-0.5 * (t / sigma) ** 2), 0.0)  # cut at 4 sigma
    want /= want.sum()
    assert np.allclose(sm.rates[0, :, 1], want, atol=1e-12)
    assert np.allclose(sm.rates[1], 2.0)  # a constant is kept at the trial's edges too
    assert np.allclose(sm.rates[0, :, 0], 0.0)
    c = Recording(np.eye(5)[None], dt=1.0, counts=True).smooth(1.0)
    assert not c.counts
    with pytest.raises(ArgumentError, match="sigma must be > 0"):
        sm.smooth(0.0)
    # a kernel far wider than the trial averages the whole trial; one far narrower changes nothing
    assert np.allclose(sm.smooth(1e6).rates[0, :, 1], sm.rates[0, :, 1].mean())
    assert np.allclose(sm.smooth(1e-9).rates, sm.rates)


def test_from_trajectory_drops_the_initial_condition():
    from lowrank_rnn import Ensemble, simulate

    net = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0).sample(20, key=jax.random.key(0))
    traj = simulate(net, T=1.0, dt=0.1, batch=2, record=("x", "rates"))
    rec = Recording.from_trajectory(traj)
    assert rec.signed and rec.dt == pytest.approx(0.1) and rec.n_time == 10
    assert np.allclose(rec.rates, traj.rates[:, 1:])
    assert np.allclose(Recording.from_trajectory(traj, quantity="x").rates, traj.x[:, 1:])
    with pytest.raises(ArgumentError, match="did not record 'x'"):
        Recording.from_trajectory(simulate(net, T=1.0, dt=0.1, record=("rates",)), quantity="x")
    states = np.random.default_rng(0).normal(size=(3, 8, 5))
    with pytest.raises(ArgumentError, match="dt is required"):
        Recording.from_trajectory(states)
    a = Recording.from_trajectory(states, dt=0.2, inputs=np.zeros((3, 7, 1)))  # run_trials' T + 1 states
    assert np.array_equal(a.rates, states[:, 1:])
    assert np.array_equal(Recording.from_trajectory(states, dt=0.2).rates, states)


def test_from_model_records_rates_inputs_outputs_and_conditions():
    from lowrank_rnn.models import LowRankRNN, run_trials
    from lowrank_rnn.tasks import get_task

    task = get_task("rdm")
    trials = task.sample(jax.random.key(0), 3)
    model = LowRankRNN(16, 1, task.n_inputs, task.n_outputs, key=jax.random.key(1))
    rec = Recording.from_model(model, trials, dt=task.dt, condition="coherence")
    z, states = run_trials(model, trials.inputs, return_states=True)
    assert np.allclose(rec.rates, np.tanh(np.asarray(states[:, 1:], np.float64)), atol=1e-6)
    assert np.allclose(rec.outputs, z) and np.allclose(rec.inputs, trials.inputs)
    assert np.array_equal(rec.conditions, np.asarray(trials.conditions["coherence"]))
    assert rec.dt == task.dt and rec.signed
    assert Recording.from_model(model, np.asarray(trials.inputs)).dt == pytest.approx(model.alpha)
    with pytest.raises(ArgumentError, match="not a condition of the trials"):
        Recording.from_model(model, trials, condition="nope")
    with pytest.raises(ArgumentError, match="input channels"):
        Recording.from_model(model, np.zeros((2, 5, 3)))
    with pytest.raises(ArgumentTypeError, match="model must be a network"):
        Recording.from_model("net", trials)


def test_from_xarray_dataarray_and_dataset():
    xr = pytest.importorskip("xarray")
    rng = np.random.default_rng(0)
    rates = rng.uniform(size=(4, 10, 3))  # trials, time, neurons
    da = xr.DataArray(rates.transpose(2, 0, 1), dims=("cells", "trials", "t"),
                      coords={"t": 1.0 + np.arange(10) * 0.02, "depth": ("cells", [1.0, 2.0, 3.0])})
    rec = Recording.from_xarray(da, time_dim="t", neuron_dim="cells")
    assert np.allclose(rec.rates, rates) and rec.dt == pytest.approx(0.02)
    assert rec.neurons["depth"].tolist() == [1.0, 2.0, 3.0]
    one = Recording.from_xarray(da.isel(trials=0), time_dim="t", neuron_dim="cells")
    assert np.allclose(one.rates, rates[:1])
    inputs = rng.normal(size=(4, 10, 2))
    ds = xr.Dataset({"spikes": (("trials", "time", "neurons"), rates), "stim": (("trials", "time", "ch"), inputs),
                     "choice": (("time", "trials"), rng.normal(size=(10, 4))),
                     "context": ("trials", ["a", "b", "a", "b"])},
                    coords={"time": np.arange(10) * np.timedelta64(5, "ms")})
    rec = Recording.from_xarray(ds, rates="spikes", inputs="stim", outputs="choice", conditions="context")
    assert rec.dt == pytest.approx(0.005) and np.allclose(rec.inputs, inputs)
    assert np.allclose(rec.outputs[..., 0], ds["choice"].values.T) and rec.conditions.tolist() == ["a", "b", "a", "b"]
    assert Recording.from_xarray(ds, rates="spikes", dt=0.5).dt == 0.5
    with pytest.raises(ArgumentError, match=r"no dimension 'neurons' \(neuron_dim\); their dimensions are"):
        Recording.from_xarray(da, time_dim="t")
    with pytest.raises(ArgumentError, match=r"rates = 'rates' is not a variable of the Dataset; it has \['choice'"):
        Recording.from_xarray(ds)
    with pytest.raises(ArgumentError, match="inputs = 'nope' is not a variable"):
        Recording.from_xarray(ds, rates="spikes", inputs="nope")
    with pytest.raises(ArgumentError, match="conditions = 'nope' is not a coordinate or variable"):
        Recording.from_xarray(ds, rates="spikes", conditions="nope")
    with pytest.raises(ArgumentError, match="besides"):
        Recording.from_xarray(da.expand_dims(probe=2), time_dim="t", neuron_dim="cells")
    uneven = da.assign_coords(t=np.r_[0.0, np.cumsum(rng.uniform(0.01, 0.03, 9))])
    with pytest.raises(ArgumentError, match="not evenly spaced"):
        Recording.from_xarray(uneven, time_dim="t", neuron_dim="cells")
    with pytest.raises(ArgumentError, match="dt is needed"):
        Recording.from_xarray(xr.DataArray(rates, dims=("trials", "time", "neurons")))
    with pytest.raises(ArgumentTypeError, match="DataArray or Dataset"):
        Recording.from_xarray(rates, dt=1.0)


def test_from_npz_plain_arrays_and_saved_files(tmp_path):
    from lowrank_rnn import Ensemble, FileFormatError

    rng = np.random.default_rng(0)
    counts = rng.poisson(1.0, size=(4, 6, 3)).astype(np.int64)
    plain = tmp_path / "plain.npz"
    np.savez(plain, rates=counts, dt=0.005, inputs=np.ones((4, 6, 1)), conditions=np.array(["x", "y", "x", "y"]),
             counts=True, neuron_depth=np.arange(3.0))
    rec = Recording.from_npz(plain)
    assert rec.counts and rec.dt == 0.005 and np.array_equal(rec.rates, counts) and rec.n_inputs == 1
    assert rec.conditions.tolist() == ["x", "y", "x", "y"] and rec.neurons["depth"].tolist() == [0.0, 1.0, 2.0]
    signed = tmp_path / "signed.npz"
    np.savez(signed, rates=-np.ones((5, 2)))
    assert Recording.from_npz(signed, dt=0.1).signed
    saved = lowrank_rnn.save(rec, tmp_path / "saved.npz")
    again = Recording.from_npz(saved)
    assert np.array_equal(again.rates, rec.rates) and again.counts and again.conditions.tolist() == ["x", "y", "x", "y"]
    with pytest.raises(ArgumentError, match="dt is needed"):
        Recording.from_npz(signed)
    typo = tmp_path / "typo.npz"
    np.savez(typo, rates=np.ones((2, 3)), dt=1.0, input=np.ones((2, 1)))
    with pytest.raises(FileFormatError, match=r"unknown array\(s\) \['input'\]"):
        Recording.from_npz(typo)
    shapes = tmp_path / "shapes.npz"
    np.savez(shapes, rates=np.ones((2, 3, 4)), dt=1.0, inputs=np.ones((2, 5, 1)))
    with pytest.raises(FileFormatError, match="shapes.npz: inputs must be"):
        Recording.from_npz(shapes)
    net = lowrank_rnn.save(Ensemble.rank_one(mean_m=1.0, mean_n=2.0, std_m=1.0, std_n=1.0), tmp_path / "ens.npz")
    with pytest.raises(FileFormatError, match="holds a saved Ensemble, not a Recording"):
        Recording.from_npz(net)
    text = tmp_path / "text.npz"
    text.write_text("not an archive")
    with pytest.raises(FileFormatError, match="could not be read as an .npz archive"):
        Recording.from_npz(text)
    with pytest.raises(FileNotFoundError):
        Recording.from_npz(tmp_path / "missing.npz")
