"""Recording.from_nwb: NWB files written here with pynwb, read back (spike times, TimeSeries, trials)."""

import datetime
import importlib

import numpy as np
import pytest

from lowrank_rnn import ArgumentError, ArgumentTypeError, FileFormatError
from lowrank_rnn.fitting import Recording

pynwb = pytest.importorskip("pynwb")

DT = 0.02  # bin size (s)


def _nwbfile():
    return pynwb.NWBFile(session_description="test", identifier="test",
                         session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))


def _write(nwb, path):
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


@pytest.fixture(scope="module")
def spiking(tmp_path_factory):
    """An NWB file of 5 units over 6 trials: counts per bin drawn from known rates, each spike placed
    at a random time inside its bin; trials 1.0 s apart, 0.4 s long (+ a longer one), two contexts."""
    rng = np.random.default_rng(0)
    n_trials, n_bins, n_units = 6, 20, 5
    rate_hz = np.linspace(5.0, 40.0, n_units)
    counts = rng.poisson(rate_hz * DT, size=(n_trials, n_bins, n_units))
    starts = 0.5 + np.arange(n_trials) * 1.0
    nwb = _nwbfile()
    nwb.add_unit_column("area", "brain area")
    nwb.add_unit_column("depth", "depth (um)")
    for i in range(n_units):
        times = [starts[b] + (t + rng.uniform(0.05, 0.95)) * DT
                 for b in range(n_trials) for t in range(n_bins) for _ in range(counts[b, t, i])]
        times += [0.1, starts[-1] + 0.9]  # spikes outside every trial window
        nwb.add_unit(spike_times=sorted(times), area="V1" if i < 3 else "PFC", depth=100.0 * i, id=10 + i)
    nwb.add_trial_column("context", "context of the trial")
    nwb.add_trial_column("go_time", "go cue (s)")
    for b in range(n_trials):
        nwb.add_trial(start_time=starts[b], stop_time=starts[b] + n_bins * DT + (0.1 if b == 2 else 0.0),
                      context="AB"[b % 2], go_time=starts[b] + 0.1)
    path = _write(nwb, tmp_path_factory.mktemp("nwb") / "spikes.nwb")
    return path, counts, starts


def test_spike_times_round_trip_to_counts(spiking):
    path, counts, _ = spiking
    rec = Recording.from_nwb(path, bin_size=DT, condition="context")
    assert rec.counts and not rec.signed and rec.dt == DT
    assert rec.rates.shape == counts.shape  # the window is the shortest trial
    assert np.array_equal(rec.rates, counts)
    assert rec.conditions.tolist() == ["A", "B"] * 3
    assert rec.neurons["id"].tolist() == [10, 11, 12, 13, 14]
    assert rec.neurons["area"].tolist() == ["V1"] * 3 + ["PFC"] * 2
    assert np.allclose(rec.neurons["depth"], 100.0 * np.arange(5))
    # spikes from known rates: the mean count per bin estimates rate * dt
    rate_hz = np.linspace(5.0, 40.0, 5)
    mean = rec.rates.mean(axis=(0, 1))
    assert np.all(np.abs(mean - rate_hz * DT) < 4 * np.sqrt(rate_hz * DT / 120))  # 120 bins per unit
    # coarser bins: the counts add up
    coarse = Recording.from_nwb(path, bin_size=2 * DT)
    assert np.array_equal(coarse.rates, counts.reshape(6, 10, 2, 5).sum(axis=2))
    assert np.array_equal(coarse.rates, rec.bin(2).rates)


def test_units_selection_alignment_and_window(spiking):
    path, counts, starts = spiking
    sub = Recording.from_nwb(path, bin_size=DT, units=[13, 10])
    assert np.array_equal(sub.rates, counts[..., [3, 0]]) and sub.neurons["id"].tolist() == [13, 10]
    late = Recording.from_nwb(path, bin_size=DT, align="go_time", window=(-0.1, 0.2))  # go = start + 0.1
    assert late.n_time == 15 and np.array_equal(late.rates, counts[:, :15])
    whole = Recording.from_nwb(path, bin_size=0.5, trials=False)
    assert whole.n_trials == 1 and whole.rates.sum() == counts.sum() + 2 * 5  # every spike of the session
    with pytest.raises(ArgumentError, match=r"units: id\(s\) \[99\] are not in the units table"):
        Recording.from_nwb(path, units=[99])
    with pytest.raises(ArgumentError, match=r"condition = 'nope' is not a column of the trials table.*'context'"):
        Recording.from_nwb(path, condition="nope")
    with pytest.raises(ArgumentError, match="align = 'cue' is not a column"):
        Recording.from_nwb(path, align="cue")
    with pytest.raises(ArgumentError, match="align = 'context': that column .* does not hold times"):
        Recording.from_nwb(path, align="context")
    with pytest.raises(ArgumentTypeError, match="units must be True or a sequence of unit ids"):
        Recording.from_nwb(path, units={"id": 1})
    with pytest.raises(ArgumentError, match="choose a larger bin_size"):
        Recording.from_nwb(path, bin_size=1e-12)
    with pytest.raises(ArgumentTypeError, match="window must be a pair"):
        Recording.from_nwb(path, window=(0.1,))
    with pytest.raises(ArgumentError, match="bin_size must be > 0"):
        Recording.from_nwb(path, bin_size=0.0)
    with pytest.raises(ArgumentError, match="series = 'lfp': .* has no TimeSeries of that name; it has none"):
        Recording.from_nwb(path, series="lfp")


def test_timeseries_round_trip_with_trials_and_inputs(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.normal(size=(500, 3))  # dF/F-like, signed
    stim = np.sin(np.arange(1000) * 0.005)[:, None]  # 200 Hz input, 1-D channel
    nwb = _nwbfile()
    nwb.add_acquisition(pynwb.TimeSeries(name="stimulus", data=stim[:, 0], unit="a.u.", rate=200.0))
    module = nwb.create_processing_module("ophys", "processed")
    module.add(pynwb.TimeSeries(name="dff", data=data, unit="n.a.", timestamps=np.arange(500) * 0.01))
    module.add(pynwb.TimeSeries(name="rates", data=np.abs(data), unit="Hz", rate=100.0, starting_time=0.0))
    nwb.add_trial_column("cond", "condition")
    for b in range(4):
        nwb.add_trial(start_time=1.0 * b + 0.005, stop_time=1.0 * b + 0.5, cond=b % 2)
    path = _write(nwb, tmp_path / "series.nwb")
    rec = Recording.from_nwb(path, series="dff", condition="cond", inputs="stimulus")
    assert rec.signed and not rec.counts and rec.dt == pytest.approx(0.01)
    assert rec.n_trials == 4 and rec.n_time == 49  # 0.495 s in whole 0.01 s steps
    assert np.allclose(rec.rates[2], data[201:250])  # first sample at or after the trial start
    assert rec.conditions.tolist() == [0, 1, 0, 1]
    t_centres = 2.005 + (np.arange(49) + 0.5) * 0.01
    assert np.allclose(rec.inputs[2, :, 0], np.sin(t_centres * 200 * 0.005), atol=1e-4)
    one = Recording.from_nwb(path, series="rates", trials=False)
    assert one.n_trials == 1 and np.allclose(one.rates[0], np.abs(data)) and not one.signed
    with pytest.raises(ArgumentError, match=r"series = 'spikes': .* it has \['dff', 'rates', 'stimulus'\]"):
        Recording.from_nwb(path, series="spikes")
    with pytest.raises(ArgumentError, match="differs from the step"):
        Recording.from_nwb(path, series="dff", bin_size=0.05)
    with pytest.raises(FileFormatError, match="no units table"):
        Recording.from_nwb(path)


def test_not_an_nwb_file(tmp_path):
    bad = tmp_path / "x.nwb"
    bad.write_text("hello")
    with pytest.raises(FileFormatError, match="could not be read as an NWB file"):
        Recording.from_nwb(bad)
    with pytest.raises(FileNotFoundError):
        Recording.from_nwb(tmp_path / "missing.nwb")


def test_missing_pynwb_says_how_to_install(monkeypatch, tmp_path):
    real = importlib.import_module

    def fake(name, *args, **kw):
        if name == "pynwb":
            raise ModuleNotFoundError("No module named 'pynwb'")
        return real(name, *args, **kw)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(ImportError, match=r"pip install lowrank-rnn\[nwb\]"):
        Recording.from_nwb(tmp_path / "any.nwb")
