"""Recorded population activity: :class:`Recording`, the data that the fitting functions take.

A recording holds rates or spike counts of ``N`` neurons over trials and time, with the time step,
and optionally the inputs the task delivered, behavioural outputs, a condition label per trial and
per-neuron metadata. It is immutable: the operations (trial and neuron selection, splits, averages
over trials of a condition) return new recordings.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import jax
import numpy as np
from scipy.ndimage import convolve1d

from .._checks import finite_array, positive_int, prng_key, real_scalar
from .._errors import ArgumentError, ArgumentTypeError, DivergenceError, FileFormatError
from .._io import load
from .._simulate import Trajectory
from ..models import AbstractRNN, run_trials
from ..tasks import Trials
from ._nwb import read_nwb
from ._xarray import from_xarray as read_xarray


def _frozen(arr: np.ndarray | None) -> np.ndarray | None:
    """Return a read-only copy of ``arr`` (None stays None)."""
    if arr is None:
        return None
    arr = np.array(arr, copy=True)
    arr.setflags(write=False)
    return arr


def _labels(name: str, value: Any, length: int, what: str) -> np.ndarray:
    """Return ``value`` as a 1-D array of ``length`` labels (integers, booleans, finite floats or
    strings), naming ``name`` and ``what`` the length must match in an error."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{name} must be a 1-D sequence of labels (numbers or strings)") from None
    if arr.dtype.kind == "S":
        arr = arr.astype(str)
    if arr.dtype.kind not in "biufU":
        raise ArgumentTypeError(f"{name} must hold numbers or strings, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ArgumentError(f"{name} must be 1-D (one label per {what.split()[0][:-1]}), got shape {arr.shape}")
    if arr.shape[0] != length:
        raise ArgumentError(f"{name} has {arr.shape[0]} entries but the recording has {length} {what}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ArgumentError(f"{name} contains non-finite values (NaN or inf)")
    return arr


def _index(name: str, index: Any, size: int, what: str) -> np.ndarray:
    """Return ``index`` (integers, a boolean mask or a slice over ``size`` items) as sorted-as-given
    integer positions, naming ``name`` in an error."""
    if isinstance(index, slice):
        return np.arange(size)[index]
    if isinstance(index, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name} must be integers, a boolean mask or a slice, got {index!r}")
    try:
        arr = np.asarray(index)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{name} must be integers, a boolean mask or a slice") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ArgumentError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind == "b":
        if arr.shape[0] != size:
            raise ArgumentError(f"{name}: a boolean mask must have one entry per {what} ({size}), got {arr.shape[0]}")
        arr = np.flatnonzero(arr)
    elif arr.size == 0:
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iu":
        raise ArgumentTypeError(f"{name} must be integers, a boolean mask or a slice, got dtype {arr.dtype}")
    if arr.size and (arr.min() < -size or arr.max() >= size):
        raise ArgumentError(f"{name}: positions must lie in [-{size}, {size}) for {size} {what}s, "
                            f"got {arr.min()}..{arr.max()}")
    arr = np.where(arr < 0, arr + size, arr).astype(np.int64)
    if arr.size == 0:
        raise ArgumentError(f"{name} selects no {what}; select at least one")
    return arr


def _rebuild(rates, dt, inputs, outputs, conditions, neurons, signed, counts) -> "Recording":
    """Return the Recording of these fields (for pickle and copy)."""
    return Recording(rates, dt=dt, inputs=inputs, outputs=outputs, conditions=conditions, neurons=neurons,
                     signed=signed, counts=counts)


class Recording:
    r"""Recorded population activity: rates or spike counts over trials, time and neurons.

    ``rates[b, t, i]`` is neuron ``i``'s rate (or spike count per bin) in trial ``b`` during the
    time bin $[t\,\Delta t, (t+1)\,\Delta t)$. A 2-D ``rates`` ``(time, neurons)`` is one trial.
    Arrays are stored as read-only float64 NumPy arrays; the object is immutable and every
    operation returns a new recording.

    Parameters
    ----------
    rates: rates or spike counts, ``(trials, time, neurons)`` or ``(time, neurons)``; finite, and
        non-negative unless ``signed=True``.
    dt: the time step $\Delta t$ (> 0), in the time unit of the data (seconds for NWB files, units
        of $\tau$ for the library's networks).
    inputs: the inputs delivered, ``(trials, time, K)`` (``(time, K)`` for 2-D rates), or None.
    outputs: behavioural outputs or targets, ``(trials, time, O)`` (``(time, O)``), or None.
    conditions: one label per trial (integers or strings), or None.
    neurons: per-neuron metadata, a mapping from a name to an array whose first axis has one entry
        per neuron (numbers or strings), e.g. ``{"area": [...], "depth": [...]}``, or None.
    signed: allow negative values (activity such as ``tanh`` rates, dF/F, z-scored signals or
        network states); by default rates and counts must be ``>= 0``.
    counts: ``rates`` holds spike counts per time bin (whole numbers ``>= 0``): :meth:`bin` sums
        them, and a fit may use a count observation model. False: rates or other activity.

    Examples
    --------
    >>> import numpy as np, jax
    >>> from lowrank_rnn.fitting import Recording
    >>> rec = Recording(np.ones((6, 50, 20)), dt=0.01, inputs=np.zeros((6, 50, 2)),
    ...                 conditions=["a", "b", "a", "b", "a", "b"])
    >>> rec.n_trials, rec.n_time, rec.n_neurons, rec.n_inputs
    (6, 50, 20, 2)
    >>> rec.average_by_condition().conditions
    array(['a', 'b'], dtype='<U1')
    >>> train, test = rec.split(0.5, key=jax.random.key(0))
    >>> train.n_trials, test.n_trials
    (3, 3)
    """

    __slots__ = ("_rates", "_dt", "_inputs", "_outputs", "_conditions", "_neurons", "_signed", "_counts")

    def __init__(self, rates: Any, *, dt: float, inputs: Any = None, outputs: Any = None,
                 conditions: Any = None, neurons: Mapping[str, Any] | None = None, signed: bool = False,
                 counts: bool = False):
        dt = real_scalar("dt", dt, low=0.0, low_open=True)
        for name, flag in (("signed", signed), ("counts", counts)):
            if not isinstance(flag, (bool, np.bool_)):
                raise ArgumentTypeError(f"{name} must be True or False, got {type(flag).__name__}")
        if signed and counts:
            raise ArgumentError("signed=True and counts=True exclude each other: spike counts are >= 0")
        r = finite_array("rates", rates, ndim=(2, 3))
        single = r.ndim == 2
        if single:
            r = r[None]
        if 0 in r.shape:
            raise ArgumentError(f"rates must have at least one trial, time step and neuron, got shape {r.shape}")
        if not signed and np.any(r < 0):
            raise ArgumentError(f"rates contains negative values (min {r.min():.3g}); rates and spike counts "
                                "must be >= 0 (pass signed=True for activity that may be negative)")
        if counts and np.any(r != np.round(r)):
            raise ArgumentError("rates must hold whole numbers when counts=True (spike counts per bin)")
        B, T, N = r.shape
        shape_word = "(time, features)" if single else "(trials, time, features)"

        def series(name, value):
            if value is None:
                return None
            arr = finite_array(name, value, ndim=2 if single else 3)
            if single:
                arr = arr[None]
            if arr.shape[:2] != (B, T):
                raise ArgumentError(f"{name} must be {shape_word} with the trials and time steps of rates "
                                    f"{(T,) if single else (B, T)}, got shape {arr.shape[1:] if single else arr.shape}")
            if arr.shape[2] == 0:
                raise ArgumentError(f"{name} has no features (shape {arr.shape}); pass None instead")
            return arr

        x_in, x_out = series("inputs", inputs), series("outputs", outputs)
        cond = None if conditions is None else _labels("conditions", conditions, B, "trials")
        meta = None
        if neurons is not None:
            if not isinstance(neurons, Mapping):
                raise ArgumentTypeError(f"neurons must be a mapping from a name to per-neuron values, got "
                                        f"{type(neurons).__name__}")
            meta = {}
            for k, v in neurons.items():
                if not isinstance(k, str) or not k:
                    raise ArgumentTypeError(f"neurons: keys must be non-empty strings, got {k!r}")
                try:
                    arr = np.asarray(v)
                except (TypeError, ValueError):  # ragged nested lists
                    raise ArgumentTypeError(f"neurons[{k!r}] must be an array of numbers or strings") from None
                if arr.dtype.kind == "S":
                    arr = arr.astype(str)
                if arr.dtype.kind not in "biufU":
                    raise ArgumentTypeError(f"neurons[{k!r}] must hold numbers or strings, got dtype {arr.dtype}")
                if arr.ndim == 0 or arr.shape[0] != N:
                    raise ArgumentError(f"neurons[{k!r}] must have one entry per neuron ({N}) along its first "
                                        f"axis, got shape {arr.shape}")
                meta[k] = _frozen(arr)
            meta = MappingProxyType(meta)
        set_ = object.__setattr__
        set_(self, "_rates", _frozen(r))
        set_(self, "_dt", dt)
        set_(self, "_inputs", _frozen(x_in))
        set_(self, "_outputs", _frozen(x_out))
        set_(self, "_conditions", _frozen(cond))
        set_(self, "_neurons", meta)
        set_(self, "_signed", bool(signed))
        set_(self, "_counts", bool(counts))

    @classmethod
    def from_arrays(cls, rates: Any, *, dt: float, inputs: Any = None, outputs: Any = None,
                    conditions: Any = None, neurons: Mapping[str, Any] | None = None,
                    signed: bool = False, counts: bool = False) -> "Recording":
        """Return ``Recording(rates, dt=dt, ...)``: the constructor under the name of its siblings
        (:meth:`from_xarray`, :meth:`from_nwb`, :meth:`from_trajectory`).

        >>> import numpy as np
        >>> from lowrank_rnn.fitting import Recording
        >>> Recording.from_arrays(np.zeros((100, 8)), dt=0.001)
        Recording(trials=1, time=100, neurons=8, dt=0.001)
        """
        return cls(rates, dt=dt, inputs=inputs, outputs=outputs, conditions=conditions, neurons=neurons,
                   signed=signed, counts=counts)

    @classmethod
    def from_xarray(cls, data: Any, *, dt: float | None = None, rates: str = "rates", inputs: str | None = None,
                    outputs: str | None = None, conditions: Any = None, trial_dim: str = "trials",
                    time_dim: str = "time", neuron_dim: str = "neurons", signed: bool = False,
                    counts: bool = False) -> "Recording":
        """Return the recording held by an xarray ``DataArray`` (the rates) or ``Dataset``.

        Dimensions are found by name, in any order: ``trial_dim`` (optional: without it the data
        are one trial), ``time_dim`` and ``neuron_dim``. From a ``Dataset`` the rates are the
        variable ``rates``, and ``inputs`` / ``outputs`` name variables with the trial and time
        dimensions and one feature dimension (or none, for one channel). ``conditions`` names a
        coordinate or variable along the trials, or gives the labels. ``dt`` defaults to the
        step of the time coordinate (numbers as they are; timedeltas and datetimes in seconds),
        which must be evenly spaced. Coordinates along the neurons become :attr:`neurons` metadata.

        >>> import numpy as np, xarray as xr
        >>> from lowrank_rnn.fitting import Recording
        >>> da = xr.DataArray(np.ones((20, 3, 4)), dims=("time", "neurons", "trials"),
        ...                   coords={"time": np.arange(20) * 0.05, "area": ("neurons", ["V1", "V1", "MT"])})
        >>> rec = Recording.from_xarray(da)
        >>> rec, rec.neurons["area"].tolist()
        (Recording(trials=4, time=20, neurons=3, dt=0.05), ['V1', 'V1', 'MT'])
        """
        for name, value in (("rates", rates), ("trial_dim", trial_dim), ("time_dim", time_dim),
                            ("neuron_dim", neuron_dim)):
            if not isinstance(value, str):
                raise ArgumentTypeError(f"{name} must be a name (str), got {type(value).__name__}")
        for name, value in (("inputs", inputs), ("outputs", outputs)):
            if value is not None and not isinstance(value, str):
                raise ArgumentTypeError(f"{name} must be the name of a Dataset variable, got {type(value).__name__}")
        args = read_xarray(data, dt=dt, rates=rates, inputs=inputs, outputs=outputs, conditions=conditions,
                           trial_dim=trial_dim, time_dim=time_dim, neuron_dim=neuron_dim)
        return cls(args.pop("rates"), signed=signed, counts=counts, **args)

    @classmethod
    def from_nwb(cls, path: str | os.PathLike, *, series: str | None = None, units: Any = True,
                 bin_size: float | None = None, trials: bool = True, condition: str | None = None,
                 align: str = "start_time", window: Sequence[float] | None = None,
                 inputs: Sequence[str] | str | None = None, signed: bool | None = None) -> "Recording":
        r"""Return the recording held by an NWB file (Neurodata Without Borders), read with pynwb.

        With ``series=None`` the data are the spike times of the file's units table, binned into
        counts per bin of ``bin_size`` seconds (default 0.01 s): ``counts=True``, and
        ``rates[b, t, i]`` is the number of spikes of unit $i$ in
        $[s_b + t\,\Delta t, s_b + (t+1)\,\Delta t)$. ``units`` keeps some of them (a sequence of
        unit ids; True: all); the units table's other one-value-per-unit columns (and ``id``)
        become :attr:`neurons` metadata. With ``series="name"`` the data are that TimeSeries,
        acquired or processed (e.g. dF/F or binned rates), ``(time, channels)``, at its own
        evenly spaced step (``bin_size``, if given, must equal it; coarsen with :meth:`bin`). A
        name the file does not hold raises an error listing the TimeSeries it has.

        Trials come from the file's trials table (``trials=False`` ignores it): trial $b$ starts
        at $s_b$ = its ``align`` column (default ``start_time``) plus ``window[0]`` and lasts
        ``window[1] - window[0]`` seconds (default: from ``align`` to the shortest trial's
        ``stop_time``), cut to whole bins. ``condition`` names a trials-table column whose values
        become the condition labels. Without trials the recording is one trial over ``window``
        (absolute times; default the whole recording). ``inputs`` names TimeSeries sampled at the
        bins' centres (linear interpolation), their channels side by side. ``signed`` defaults to
        whether the data hold negative values. Times are in seconds, so ``dt`` is too.

        Needs pynwb, an optional dependency: ``pip install lowrank-rnn[nwb]``.

        >>> import datetime, os, tempfile
        >>> import numpy as np, pynwb
        >>> from lowrank_rnn.fitting import Recording
        >>> nwb = pynwb.NWBFile(session_description="demo", identifier="demo",
        ...                     session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
        >>> nwb.add_unit(spike_times=[0.01, 0.02, 0.51])
        >>> nwb.add_unit(spike_times=[0.55])
        >>> nwb.add_trial_column("context", "which context")
        >>> nwb.add_trial(start_time=0.0, stop_time=0.4, context="A")
        >>> nwb.add_trial(start_time=0.5, stop_time=0.9, context="B")
        >>> path = os.path.join(tempfile.mkdtemp(), "demo.nwb")
        >>> with pynwb.NWBHDF5IO(path, "w") as io:
        ...     io.write(nwb)
        >>> rec = Recording.from_nwb(path, bin_size=0.1, condition="context")
        >>> rec, rec.rates[:, 0].tolist(), rec.conditions.tolist()
        (Recording(trials=2, time=4, neurons=2, dt=0.1, conditions=2), [[2.0, 0.0], [1.0, 1.0]], ['A', 'B'])
        """
        if signed is not None and not isinstance(signed, (bool, np.bool_)):
            raise ArgumentTypeError(f"signed must be None, True or False, got {type(signed).__name__}")
        args = read_nwb(path, series=series, units=units, bin_size=bin_size, trials=trials, condition=condition,
                        align=align, window=window, inputs=inputs)
        if signed is None:
            signed = bool(np.any(args["rates"] < 0))
        if signed and args["counts"]:
            raise ArgumentError("signed=True does not apply to spike counts (read with series=None)")
        return cls(args.pop("rates"), signed=signed, **args)

    @classmethod
    def from_npz(cls, path: str | os.PathLike, *, dt: float | None = None) -> "Recording":
        """Return the recording stored in an ``.npz`` file: one written by :func:`lowrank_rnn.save`,
        or plain arrays written by ``numpy.savez``.

        A plain file holds ``rates`` ``(trials, time, neurons)`` (or ``(time, neurons)``) and
        optionally ``dt`` (a scalar; else pass ``dt=``), ``inputs``, ``outputs``, ``conditions``
        (numbers or strings), ``counts`` (a boolean scalar: spike counts) and per-neuron
        metadata as ``neuron_<name>`` arrays; other keys are refused (a misspelt key would
        otherwise be dropped silently). Nothing is unpickled. Values that may be negative are
        accepted as signed activity.

        >>> import os, tempfile, numpy as np
        >>> from lowrank_rnn.fitting import Recording
        >>> path = os.path.join(tempfile.mkdtemp(), "data.npz")
        >>> np.savez(path, rates=np.ones((3, 40, 5)), dt=0.01, conditions=np.array(["a", "b", "a"]))
        >>> Recording.from_npz(path)
        Recording(trials=3, time=40, neurons=5, dt=0.01, conditions=2)
        """
        if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
            raise ArgumentTypeError(f"path must be a file path, got {type(path).__name__}")
        if dt is not None:
            dt = real_scalar("dt", dt, low=0.0, low_open=True)
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {k: archive[k] for k in archive.files}
        except Exception as err:  # noqa: BLE001  (zipfile, NumPy and pickle refusals all mean: not our file)
            raise FileFormatError(f"{path} could not be read as an .npz archive of arrays ({type(err).__name__}: "
                                  f"{err})") from None
        if "__header__" in arrays:  # a file of lowrank_rnn.save
            obj = load(path)
            if not isinstance(obj, Recording):
                raise FileFormatError(f"{path} holds a saved {type(obj).__name__}, not a Recording")
            return obj
        allowed = {"rates", "dt", "inputs", "outputs", "conditions", "counts"}
        unknown = sorted(k for k in arrays if k not in allowed and not k.startswith("neuron_"))
        if unknown:
            raise FileFormatError(f"{path}: unknown array(s) {unknown}; a recording file holds {sorted(allowed)} "
                                  "and neuron_<name> metadata")
        if "rates" not in arrays:
            raise FileFormatError(f"{path} has no 'rates' array (it holds {sorted(arrays)})")
        if dt is None:
            if "dt" not in arrays:
                raise ArgumentError(f"dt is needed: {path} has no 'dt' array; pass dt=")
            dt = arrays["dt"]
        counts = arrays.get("counts", np.asarray(False))
        if counts.shape != () or counts.dtype.kind != "b":
            raise FileFormatError(f"{path}: 'counts' must be a boolean scalar, got a {counts.dtype} array of shape "
                                  f"{counts.shape}")
        neurons = {k[len("neuron_"):]: v for k, v in arrays.items() if k.startswith("neuron_")}
        try:
            rates = arrays["rates"]
            signed = bool(not counts and rates.dtype.kind in "iuf" and np.any(rates < 0))
            return cls(rates, dt=dt, inputs=arrays.get("inputs"), outputs=arrays.get("outputs"),
                       conditions=arrays.get("conditions"), neurons=neurons or None, signed=signed,
                       counts=bool(counts))
        except ArgumentError as err:
            raise FileFormatError(f"{path}: {err}") from err

    @classmethod
    def from_trajectory(cls, trajectory: Any, *, dt: float | None = None, quantity: str = "rates",
                        inputs: Any = None, outputs: Any = None, conditions: Any = None,
                        neurons: Mapping[str, Any] | None = None) -> "Recording":
        r"""Return the recording of a simulated trajectory: a :class:`lowrank_rnn.Trajectory`
        (from :func:`lowrank_rnn.simulate`) or an array of states or rates ``(trials, time, N)``
        (``(time, N)`` for one trial).

        For a :class:`~lowrank_rnn.Trajectory`, ``quantity`` picks the recorded field (``"rates"``,
        $\phi(x)$, or ``"x"``, the states), ``dt`` defaults to its step (units of $\tau$) and its
        readouts become ``outputs``; its first point, the initial condition at $t = 0$, is dropped,
        so that step $t$ of the recording is the state after the $t$-th update. An array is taken
        as it is, except that when it has one more time step than ``inputs`` (the states of
        :func:`lowrank_rnn.models.run_trials` with ``return_states=True`` start with the initial
        state) its first step is dropped the same way. The recording is ``signed`` (states and
        ``tanh`` rates may be negative). See :meth:`from_model` to run a trained network on a task.

        >>> import jax
        >>> from lowrank_rnn import Ensemble, simulate
        >>> from lowrank_rnn.fitting import Recording
        >>> net = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0).sample(50, key=jax.random.key(0))
        >>> traj = simulate(net, T=2.0, dt=0.1, batch=3, record=("rates",))
        >>> Recording.from_trajectory(traj)
        Recording(trials=3, time=20, neurons=50, dt=0.1)
        """
        if isinstance(trajectory, Trajectory):
            if quantity not in ("rates", "x"):
                raise ArgumentError(f"quantity must be 'rates' or 'x' for a Trajectory, got {quantity!r}")
            data = getattr(trajectory, quantity)
            if data is None:
                raise ArgumentError(f"the trajectory did not record {quantity!r}; simulate it with "
                                    f"record=({quantity!r}, ...)")
            data = np.asarray(data)[..., 1:, :]  # drop the initial condition (t = 0)
            if dt is None:
                dt = trajectory.dt
            if outputs is None and trajectory.readout is not None:
                outputs = np.asarray(trajectory.readout)[..., 1:, :]
        else:
            data = finite_array("trajectory", trajectory, ndim=(2, 3))
            if dt is None:
                raise ArgumentError("dt is required when the trajectory is an array (the time step of its rows)")
            if inputs is not None:
                inputs = finite_array("inputs", inputs, ndim=(2, 3))
                n_in = inputs.shape[-2]
                if n_in is not None and data.shape[-2] == n_in + 1:
                    data = data[..., 1:, :]  # the initial state of run_trials(return_states=True)
        return cls(data, dt=dt, inputs=inputs, outputs=outputs, conditions=conditions, neurons=neurons,
                   signed=True)

    @classmethod
    def from_model(cls, model: AbstractRNN, trials: Any, *, dt: float | None = None, key: jax.Array | None = None,
                   condition: Any = None, quantity: str = "rates") -> "Recording":
        r"""Return the recording of a network of :mod:`lowrank_rnn.models` run on a batch of trials.

        Runs :func:`lowrank_rnn.models.run_trials` with ``return_states=True`` and records, at each
        step, the rates $\phi(x_t)$ (``quantity="rates"``) or the states $x_t$ (``"x"``) after the
        $t$-th update, with the trials' inputs and the network's outputs $z_t$. ``trials`` is a
        :class:`lowrank_rnn.tasks.Trials` (from a task's ``sample``) or an inputs array
        ``(trials, time, K)``. ``condition`` names an entry of ``trials.conditions`` (e.g.
        ``"context"``) whose values become the condition labels, or gives the labels. ``dt``
        defaults to the network's step ``alpha`` (units of $\tau$); pass the task's ``dt`` for
        milliseconds. ``key`` draws the network's noise (None: without noise).

        >>> import jax
        >>> from lowrank_rnn.models import LowRankRNN
        >>> from lowrank_rnn.tasks import get_task
        >>> from lowrank_rnn.fitting import Recording
        >>> task = get_task("rdm")
        >>> trials = task.sample(jax.random.key(0), 4)
        >>> model = LowRankRNN(30, 1, task.n_inputs, task.n_outputs, key=jax.random.key(1))
        >>> Recording.from_model(model, trials, dt=task.dt)
        Recording(trials=4, time=51, neurons=30, dt=20, inputs=1, outputs=1)
        """
        if not isinstance(model, AbstractRNN):
            raise ArgumentTypeError(f"model must be a network of lowrank_rnn.models (e.g. LowRankRNN), got "
                                    f"{type(model).__name__}")
        if quantity not in ("rates", "x"):
            raise ArgumentError(f"quantity must be 'rates' or 'x', got {quantity!r}")
        labels = None
        if isinstance(trials, Trials):
            inputs = np.asarray(trials.inputs)
            if isinstance(condition, str):
                if condition not in trials.conditions:
                    raise ArgumentError(f"condition {condition!r} is not a condition of the trials; they have "
                                        f"{sorted(trials.conditions)}")
                labels = np.asarray(trials.conditions[condition])
            else:
                labels = condition
        else:
            inputs = finite_array("trials", trials, ndim=3)
            if isinstance(condition, str):
                raise ArgumentError("condition may be a name only when trials is a lowrank_rnn.tasks.Trials; "
                                    "give the labels instead")
            labels = condition
        if inputs.shape[2] != model.n_inputs:
            raise ArgumentError(f"trials have {inputs.shape[2]} input channels but the model takes {model.n_inputs}")
        if key is not None:
            key = prng_key("key", key)
        if dt is None:
            dt = model.alpha
        z, states = run_trials(model, inputs, key=key, return_states=True)
        states = states[:, 1:]
        data = model.phi(states) if quantity == "rates" else states
        data = np.asarray(data, dtype=np.float64)
        if not np.all(np.isfinite(data)):
            raise DivergenceError("the network's activity diverged (non-finite values) while recording it")
        return cls(data, dt=dt, inputs=inputs, outputs=np.asarray(z), conditions=labels, signed=True)

    def __reduce__(self):
        """Pickle (and copy) through the constructor, so that copies are checked and immutable too."""
        return (_rebuild, (self._rates, self._dt, self._inputs, self._outputs, self._conditions,
                           None if self._neurons is None else dict(self._neurons), self._signed, self._counts))

    def __setattr__(self, name, value):
        raise AttributeError(f"a Recording is immutable; {name!r} cannot be set (build a new Recording)")

    def __delattr__(self, name):
        raise AttributeError(f"a Recording is immutable; {name!r} cannot be deleted")

    # ------------------------------------------------------------------ fields
    @property
    def rates(self) -> np.ndarray:
        """Rates or spike counts, ``(trials, time, neurons)``."""
        return self._rates

    @property
    def dt(self) -> float:
        """The time step."""
        return self._dt

    @property
    def inputs(self) -> np.ndarray | None:
        """Inputs, ``(trials, time, K)``, or None."""
        return self._inputs

    @property
    def outputs(self) -> np.ndarray | None:
        """Behavioural outputs, ``(trials, time, O)``, or None."""
        return self._outputs

    @property
    def conditions(self) -> np.ndarray | None:
        """One condition label per trial, ``(trials,)``, or None."""
        return self._conditions

    @property
    def neurons(self) -> Mapping[str, np.ndarray] | None:
        """Per-neuron metadata (a read-only mapping of arrays with one entry per neuron), or None."""
        return self._neurons

    @property
    def signed(self) -> bool:
        """Whether values may be negative (False: rates or counts, ``>= 0``)."""
        return self._signed

    @property
    def counts(self) -> bool:
        """Whether ``rates`` holds spike counts per bin."""
        return self._counts

    @property
    def n_trials(self) -> int:
        """Number of trials."""
        return self._rates.shape[0]

    @property
    def n_time(self) -> int:
        """Number of time steps per trial."""
        return self._rates.shape[1]

    @property
    def n_neurons(self) -> int:
        """Number of neurons."""
        return self._rates.shape[2]

    @property
    def n_inputs(self) -> int:
        """Number of input channels ``K`` (0 without inputs)."""
        return 0 if self._inputs is None else self._inputs.shape[2]

    @property
    def n_outputs(self) -> int:
        """Number of output channels ``O`` (0 without outputs)."""
        return 0 if self._outputs is None else self._outputs.shape[2]

    @property
    def t(self) -> np.ndarray:
        """Start times of the time bins, ``arange(n_time) * dt``."""
        return np.arange(self.n_time) * self._dt

    def __repr__(self) -> str:
        extra = "".join(f", {name}={n}" for name, n in (("inputs", self.n_inputs), ("outputs", self.n_outputs)) if n)
        if self._conditions is not None:
            extra += f", conditions={len(np.unique(self._conditions))}"
        return (f"Recording(trials={self.n_trials}, time={self.n_time}, neurons={self.n_neurons}, "
                f"dt={self._dt:g}{extra})")

    def _replace(self, **changes) -> "Recording":
        fields = {"rates": self._rates, "dt": self._dt, "inputs": self._inputs, "outputs": self._outputs,
                  "conditions": self._conditions, "neurons": self._neurons, "signed": self._signed,
                  "counts": self._counts}
        fields.update(changes)
        return Recording(fields.pop("rates"), **fields)

    # ------------------------------------------------------------------ selections
    def select_trials(self, index: Any) -> "Recording":
        """Return the recording of the trials ``index`` (integers, a boolean mask or a slice), in
        the order given.

        >>> import numpy as np
        >>> from lowrank_rnn.fitting import Recording
        >>> rec = Recording(np.arange(24.0).reshape(4, 3, 2), dt=1.0, conditions=[0, 1, 0, 1])
        >>> rec.select_trials([3, 0]).conditions
        array([1, 0])
        """
        idx = _index("index", index, self.n_trials, "trial")
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        return self._replace(rates=self._rates[idx], inputs=pick(self._inputs), outputs=pick(self._outputs),
                             conditions=pick(self._conditions))

    def select_neurons(self, index: Any) -> "Recording":
        """Return the recording of the neurons ``index`` (integers, a boolean mask or a slice), with
        their metadata; for held-out-neuron cross-validation.

        >>> import numpy as np
        >>> from lowrank_rnn.fitting import Recording
        >>> rec = Recording(np.ones((2, 5, 4)), dt=1.0, neurons={"area": ["V1", "V1", "PFC", "PFC"]})
        >>> sub = rec.select_neurons(rec.neurons["area"] == "PFC")
        >>> sub.n_neurons, sub.neurons["area"].tolist()
        (2, ['PFC', 'PFC'])
        """
        idx = _index("index", index, self.n_neurons, "neuron")
        meta = None if self._neurons is None else {k: v[idx] for k, v in self._neurons.items()}
        return self._replace(rates=self._rates[:, :, idx], neurons=meta)

    def split(self, test_fraction: float = 0.2, *, key: jax.Array) -> tuple["Recording", "Recording"]:
        """Return ``(train, test)`` recordings holding disjoint random trials.

        ``round(test_fraction * n_trials)`` trials (at least one, and at least one left for
        training) go to ``test``; both keep the recording's trial order.

        >>> import numpy as np, jax
        >>> from lowrank_rnn.fitting import Recording
        >>> train, test = Recording(np.ones((10, 4, 3)), dt=1.0).split(0.2, key=jax.random.key(1))
        >>> train.n_trials, test.n_trials
        (8, 2)
        """
        frac = real_scalar("test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
        key = prng_key("key", key)
        B = self.n_trials
        if B < 2:
            raise ArgumentError("split needs a recording of at least 2 trials, got 1")
        n_test = min(max(1, int(round(frac * B))), B - 1)
        perm = np.asarray(jax.random.permutation(key, B))
        test = np.sort(perm[:n_test])
        train = np.sort(perm[n_test:])
        return self.select_trials(train), self.select_trials(test)

    def average_by_condition(self) -> "Recording":
        r"""Return the trial average per condition: one trial per condition label, labels sorted.

        Rates, inputs and outputs of condition $c$ become $\frac{1}{|B_c|}\sum_{b \in B_c} r_b$;
        neuron metadata carries over.

        >>> import numpy as np
        >>> from lowrank_rnn.fitting import Recording
        >>> rec = Recording(np.arange(4.0).reshape(4, 1, 1), dt=1.0, conditions=[2, 1, 2, 1])
        >>> avg = rec.average_by_condition()
        >>> avg.conditions, avg.rates[:, 0, 0]
        (array([1, 2]), array([2., 1.]))
        """
        if self._conditions is None:
            raise ArgumentError("average_by_condition needs condition labels; this recording has conditions=None")
        labels, which = np.unique(self._conditions, return_inverse=True)
        which = which.reshape(-1)

        def mean(a):
            if a is None:
                return None
            return np.stack([a[which == c].mean(axis=0) for c in range(len(labels))])

        return self._replace(rates=mean(self._rates), inputs=mean(self._inputs), outputs=mean(self._outputs),
                             conditions=labels, counts=False)  # mean counts are not whole numbers

    # ------------------------------------------------------------------ resampling
    def bin(self, factor: int) -> "Recording":
        r"""Return the recording in bins of ``factor`` time steps: $\Delta t \to$ ``factor`` $\Delta t$.

        Spike counts (``counts=True``) are summed over each bin; rates, inputs and outputs are
        averaged. Trailing steps that do not fill a bin are dropped.

        >>> import numpy as np
        >>> from lowrank_rnn.fitting import Recording
        >>> counts = Recording(np.ones((1, 10, 2)), dt=0.001, counts=True).bin(5)
        >>> counts.dt, counts.n_time, counts.rates[0, :, 0]
        (0.005, 2, array([5., 5.]))
        >>> Recording(np.ones((1, 10, 2)), dt=0.001).bin(5).rates[0, :, 0]
        array([1., 1.])
        """
        factor = positive_int("factor", factor)
        T = self.n_time // factor
        if T == 0:
            raise ArgumentError(f"factor = {factor} is longer than the recording ({self.n_time} time steps)")

        def pool(a, total=False):
            if a is None:
                return None
            a = a[:, :T * factor].reshape(a.shape[0], T, factor, a.shape[2])
            return a.sum(axis=2) if total else a.mean(axis=2)

        return self._replace(rates=pool(self._rates, total=self._counts), dt=self._dt * factor,
                             inputs=pool(self._inputs), outputs=pool(self._outputs))

    def smooth(self, sigma: float) -> "Recording":
        r"""Return the rates smoothed along time with a Gaussian kernel of width ``sigma``.

        ``sigma`` is in the time unit of ``dt`` (seconds for NWB files). Each value becomes
        $\hat r(t) = \sum_s k(t - s)\, r(s) / \sum_s k(t - s)$ with
        $k(u) = e^{-u^2 / 2\sigma^2}$ cut at $4\sigma$, the sums running over the trial's own time
        steps, so a trial's edges are not pulled towards zero. Inputs and outputs are left as they
        are. Smoothed spike counts are counts per bin that are no longer whole (``counts=False``).

        >>> import numpy as np
        >>> from lowrank_rnn.fitting import Recording
        >>> rates = np.zeros((1, 201, 1)); rates[0, 100, 0] = 1.0
        >>> sm = Recording(rates, dt=0.01).smooth(0.05)
        >>> round(float(sm.rates.sum()), 6), int(sm.rates[0, :, 0].argmax())
        (1.0, 100)
        >>> np.allclose(Recording(np.ones((1, 30, 1)), dt=0.01).smooth(0.05).rates, 1.0)
        True
        """
        sigma = real_scalar("sigma", sigma, low=0.0, low_open=True)
        width = sigma / self._dt
        half = int(min(np.ceil(4.0 * width), self.n_time))  # a kernel longer than the trial is cut there
        u = np.arange(-half, half + 1)
        with np.errstate(over="ignore", under="ignore"):  # sigma far below dt: k = 1 at 0, 0 elsewhere
            kernel = np.exp(-0.5 * (u / width) ** 2)
        total = convolve1d(self._rates, kernel, axis=1, mode="constant", cval=0.0)
        mass = convolve1d(np.ones(self.n_time), kernel, mode="constant", cval=0.0)  # kernel inside the trial
        smoothed = total / mass[None, :, None]
        if not self._signed:
            smoothed = np.maximum(smoothed, 0.0)  # rounding below zero
        return self._replace(rates=smoothed, counts=False)
