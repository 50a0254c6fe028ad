"""Reading a recording from an NWB file (Neurodata Without Borders, read with pynwb).

Spike times of the units table are binned into counts; a TimeSeries (acquired or processed) is
read by name. Trials come from the file's trials table, cut to a common window around an
alignment column. pynwb is an optional dependency (``pip install lowrank-rnn[nwb]``).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._checks import real_scalar
from .._errors import ArgumentError, ArgumentTypeError, FileFormatError

#: units-table columns that are not one value per unit
_NOT_METADATA = {"spike_times", "obs_intervals", "electrodes", "electrode_group", "waveform_mean", "waveform_sd",
                 "waveforms", "spike_amplitudes"}


def import_pynwb():
    """Return the pynwb module, or raise ImportError saying how to install it."""
    try:
        return importlib.import_module("pynwb")
    except ImportError:
        raise ImportError("reading NWB files needs pynwb, an optional dependency: pip install lowrank-rnn[nwb] "
                          "(or pip install pynwb)") from None


def _series_times(ts, where: str) -> tuple[np.ndarray, float]:
    """Return the sample times of a TimeSeries and its uniform step."""
    n = ts.data.shape[0]
    if ts.timestamps is not None:
        times = np.asarray(ts.timestamps[:], dtype=np.float64)
        steps = np.diff(times)
        if steps.size == 0:
            raise FileFormatError(f"{where} has a single sample; a recording needs at least two time steps")
        dt = float(np.mean(steps))
        if dt <= 0 or not np.allclose(steps, dt, rtol=1e-3, atol=0.0):
            raise FileFormatError(f"{where}: its timestamps are not evenly spaced (steps {steps.min():g}.."
                                  f"{steps.max():g} s); resample it before reading it as a recording")
        return times, dt
    if ts.rate is None or not ts.rate > 0:
        raise FileFormatError(f"{where} has neither timestamps nor a positive sampling rate")
    dt = 1.0 / float(ts.rate)
    return float(ts.starting_time or 0.0) + np.arange(n) * dt, dt


def _find_series(nwb, pynwb, name: str, arg: str, path: Path):
    found = {o.name: o for o in nwb.objects.values() if isinstance(o, pynwb.TimeSeries)}
    if name not in found:
        raise ArgumentError(f"{arg} = {name!r}: {path} has no TimeSeries of that name; it has "
                            f"{sorted(found) or 'none'}")
    return found[name]


def _column_values(table, name: str) -> np.ndarray:
    arr = np.asarray(table[name][:])
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(str) if all(isinstance(v, (str, bytes)) for v in arr) else arr
        except (TypeError, ValueError):
            pass
    if arr.dtype.kind == "S":
        arr = arr.astype(str)
    return arr


def read_nwb(path: str | os.PathLike, *, series: str | None, units: Any, bin_size: float | None, trials: bool,
             condition: str | None, align: str, window: Sequence[float] | None,
             inputs: Sequence[str] | str | None) -> dict[str, Any]:
    """Return the constructor arguments of a Recording read from the NWB file at ``path``."""
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(f"path must be a file path, got {type(path).__name__}")
    if series is not None and not isinstance(series, str):
        raise ArgumentTypeError(f"series must be the name of a TimeSeries, got {type(series).__name__}")
    if series is not None and units is not True:
        raise ArgumentError("units selects units of the units table; with series= the data are the TimeSeries "
                            "(leave units=True)")
    if bin_size is not None:
        bin_size = real_scalar("bin_size", bin_size, low=0.0, low_open=True)
    if not isinstance(trials, (bool, np.bool_)):
        raise ArgumentTypeError(f"trials must be True or False, got {type(trials).__name__}")
    if window is not None:
        if isinstance(window, (str, bytes)) or not isinstance(window, Sequence) or len(window) != 2:
            raise ArgumentTypeError(f"window must be a pair (start, stop) of times in seconds, got {window!r}")
        lo, hi = (real_scalar("window", w) for w in window)
        if hi <= lo:
            raise ArgumentError(f"window must have start < stop, got {tuple(window)}")
        window = (lo, hi)
    if isinstance(inputs, str):
        inputs = [inputs]
    if inputs is not None and (not isinstance(inputs, Sequence) or not all(isinstance(n, str) for n in inputs)):
        raise ArgumentTypeError(f"inputs must be the name of a TimeSeries or a sequence of names, got {inputs!r}")
    for arg, value in (("condition", condition), ("align", align)):
        if value is not None and not isinstance(value, str):
            raise ArgumentTypeError(f"{arg} must be the name of a trials-table column, got {type(value).__name__}")
    pynwb = import_pynwb()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        io = pynwb.NWBHDF5IO(str(path), "r")
        nwb = io.read()
    except Exception as err:  # h5py, hdmf and pynwb raise many kinds for a file that is not NWB
        raise FileFormatError(f"{path} could not be read as an NWB file ({type(err).__name__}: {err})") from None
    try:
        return _read(nwb, pynwb, path, series=series, units=units, bin_size=bin_size, trials=trials,
                     condition=condition, align=align, window=window, inputs=inputs)
    finally:
        io.close()


def _read(nwb, pynwb, path, *, series, units, bin_size, trials, condition, align, window, inputs):
    neurons = None
    if series is None:
        table = nwb.units
        if table is None or len(table) == 0:
            raise FileFormatError(f"{path} has no units table (no spike times); read a TimeSeries with "
                                  "series='name' instead")
        ids = np.asarray(table.id[:])
        if units is True:
            rows = np.arange(len(ids))
        else:
            try:
                want = np.asarray(units) if isinstance(units, (Sequence, np.ndarray)) else np.array(object())
            except (TypeError, ValueError):
                want = np.array(object())
            if want.ndim != 1 or (want.size and want.dtype.kind not in "iu"):
                raise ArgumentTypeError(f"units must be True or a sequence of unit ids (integers), got {units!r}")
            missing = [u for u in want.tolist() if u not in set(ids.tolist())]
            if missing or want.size == 0:
                raise ArgumentError(f"units: id(s) {missing or '(none given)'} are not in the units table of {path}; "
                                    f"its ids are {ids.tolist()}")
            rows = np.array([int(np.flatnonzero(ids == u)[0]) for u in want.tolist()])
        spikes = [np.sort(np.asarray(table["spike_times"][i], dtype=np.float64)) for i in rows]
        dt = 0.01 if bin_size is None else bin_size
        neurons = {"id": ids[rows]}
        for col in table.colnames:
            if col in _NOT_METADATA:
                continue
            try:
                vals = _column_values(table, col)
            except Exception:  # noqa: BLE001  (a column of another shape: not metadata)
                continue
            if vals.ndim == 1 and vals.dtype.kind in "biufU":
                neurons[col] = vals[rows]
        end = max((s[-1] for s in spikes if s.size), default=0.0) + dt
    else:
        ts = _find_series(nwb, pynwb, series, "series", path)
        where = f"{path}: TimeSeries {series!r}"
        times, dt = _series_times(ts, where)
        if bin_size is not None and not np.isclose(bin_size, dt, rtol=1e-6):
            raise ArgumentError(f"bin_size = {bin_size:g} s differs from the step of {series!r} ({dt:g} s); "
                                "leave bin_size=None and call .bin(factor) on the recording")
        data = np.asarray(ts.data[:], dtype=np.float64)
        if data.ndim == 1:
            data = data[:, None]
        if data.ndim != 2:
            raise FileFormatError(f"{where} has data of shape {data.shape}; a recording needs (time, channels)")
        end = times[-1] + dt

    # trial starts and the common window, in seconds
    table = nwb.trials if trials else None
    labels = None
    if table is not None and len(table) > 0:
        cols = list(table.colnames)
        if align not in cols:
            raise ArgumentError(f"align = {align!r} is not a column of the trials table of {path}; it has {cols}")
        try:
            ref = np.asarray(table[align][:], dtype=np.float64)
        except (TypeError, ValueError):
            ref = np.array([np.nan])
        if ref.ndim != 1 or not np.all(np.isfinite(ref)):
            raise ArgumentError(f"align = {align!r}: that column of the trials table of {path} does not hold times")
        if window is None:
            length = float(np.min(np.asarray(table["stop_time"][:], dtype=np.float64) - ref))
            if length <= 0:
                raise FileFormatError(f"{path}: a trial stops before its {align!r} time; give window=")
            window = (0.0, length)
        starts = ref + window[0]
        if condition is not None:
            if condition not in cols:
                raise ArgumentError(f"condition = {condition!r} is not a column of the trials table of {path}; "
                                    f"it has {cols}")
            labels = _column_values(table, condition)
    else:
        if condition is not None:
            raise ArgumentError(f"condition = {condition!r} needs a trials table, which {path} does not have "
                                "(or trials=False)")
        if window is None:
            window = (0.0 if series is None else float(times[0]), float(end))
        starts = np.array([window[0]])
    n_steps = int(np.floor((window[1] - window[0]) / dt + 1e-9))
    if n_steps < 1:
        raise ArgumentError(f"the window {window} s is shorter than one time step ({dt:g} s)")
    n_values = n_steps * len(starts) * (len(spikes) if series is None else data.shape[1])
    if n_values > 2**31:
        raise ArgumentError(f"bin_size = {dt:g} s makes {n_values:.3g} values ({n_steps} bins per trial); "
                            "choose a larger bin_size or a shorter window")

    if series is None:
        edges = starts[:, None] + np.arange(n_steps + 1)[None, :] * dt  # (trials, n_steps + 1)
        rates = np.stack([np.diff(np.searchsorted(s, edges, side="left"), axis=1) for s in spikes], axis=-1)
        rates = rates.astype(np.float64)
    else:
        first = np.searchsorted(times, starts - 1e-6 * dt, side="left")
        if np.any(first + n_steps > len(times)) or np.any(starts < times[0] - 1e-6 * dt):
            raise ArgumentError(f"the trial windows reach outside {series!r} (samples from {times[0]:g} to "
                                f"{times[-1]:g} s); give a shorter window=")
        rates = np.stack([data[i:i + n_steps] for i in first])
    centres = starts[:, None] + (np.arange(n_steps)[None, :] + 0.5) * dt
    u = None
    if inputs:
        channels = []
        for name in inputs:
            its = _find_series(nwb, pynwb, name, "inputs", path)
            t_in, _ = _series_times(its, f"{path}: TimeSeries {name!r}")
            d_in = np.asarray(its.data[:], dtype=np.float64)
            d_in = d_in[:, None] if d_in.ndim == 1 else d_in
            channels.extend(np.interp(centres, t_in, d_in[:, c]) for c in range(d_in.shape[1]))
        u = np.stack(channels, axis=-1)
    return dict(rates=rates, dt=dt, inputs=u, conditions=labels, neurons=neurons, counts=series is None)
