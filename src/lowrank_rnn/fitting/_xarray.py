"""Reading a recording from an xarray DataArray or Dataset (dimensions found by name)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import ArgumentError, ArgumentTypeError


def _dt_from(coord, name: str) -> float:
    """Return the uniform step of a time coordinate (numbers, or timedeltas / datetimes in seconds)."""
    values = np.asarray(coord.values)
    if values.dtype.kind in "mM":
        steps = np.diff(values).astype("timedelta64[ns]").astype(np.float64) * 1e-9
    elif values.dtype.kind in "iuf":
        steps = np.diff(values.astype(np.float64))
    else:
        raise ArgumentError(f"the {name!r} coordinate holds {values.dtype} values; pass dt= instead")
    if steps.size == 0:
        raise ArgumentError(f"the {name!r} coordinate has a single point; pass dt=")
    dt = float(np.mean(steps))
    if dt <= 0 or not np.allclose(steps, dt, rtol=1e-6, atol=0.0):
        raise ArgumentError(f"the {name!r} coordinate is not evenly spaced and increasing (steps "
                            f"{steps.min():g}..{steps.max():g}); resample it or pass dt=")
    return dt


def from_xarray(data: Any, *, dt: float | None, rates: str, inputs: str | None, outputs: str | None,
                conditions: Any, trial_dim: str, time_dim: str, neuron_dim: str) -> dict[str, Any]:
    """Return the constructor arguments of a Recording read from ``data``."""
    import xarray as xr  # imported here: only this constructor needs it

    if isinstance(data, xr.Dataset):
        if rates not in data.data_vars:
            raise ArgumentError(f"rates = {rates!r} is not a variable of the Dataset; it has "
                                f"{sorted(map(str, data.data_vars))}")
        ds, da = data, data[rates]
    elif isinstance(data, xr.DataArray):
        ds, da = None, data
        if inputs is not None or outputs is not None:
            raise ArgumentError("inputs= and outputs= name variables of a Dataset; a DataArray holds the rates only")
    else:
        raise ArgumentTypeError(f"data must be an xarray DataArray or Dataset, got {type(data).__name__}")
    dims = tuple(map(str, da.dims))
    for arg, name in (("time_dim", time_dim), ("neuron_dim", neuron_dim)):
        if name not in dims:
            raise ArgumentError(f"the rates have no dimension {name!r} ({arg}); their dimensions are {dims}")
    extra = [d for d in dims if d not in (trial_dim, time_dim, neuron_dim)]
    if extra:
        raise ArgumentError(f"the rates have dimension(s) {extra} besides {trial_dim!r}, {time_dim!r} and "
                            f"{neuron_dim!r}; select or stack them first (e.g. .stack({trial_dim}=[...]))")
    has_trials = trial_dim in dims
    order = ((trial_dim,) if has_trials else ()) + (time_dim, neuron_dim)
    values = np.asarray(da.transpose(*order).values)
    if not has_trials:
        values = values[None]
    if dt is None:
        if time_dim not in da.coords:
            raise ArgumentError(f"dt is needed: the {time_dim!r} dimension has no coordinate to read it from")
        dt = _dt_from(da.coords[time_dim], time_dim)

    def series(arg: str, name: str | None):
        if name is None:
            return None
        if name not in ds.data_vars:
            raise ArgumentError(f"{arg} = {name!r} is not a variable of the Dataset; it has "
                                f"{sorted(map(str, ds.data_vars))}")
        var = ds[name]
        vdims = tuple(map(str, var.dims))
        feature = [d for d in vdims if d not in (trial_dim, time_dim)]
        if time_dim not in vdims or len(feature) > 1 or (has_trials and trial_dim not in vdims):
            raise ArgumentError(f"{arg} = {name!r} must have dimensions ({trial_dim!r}, {time_dim!r}, one feature "
                                f"dimension), got {vdims}")
        out = var.transpose(*(((trial_dim,) if trial_dim in vdims else ()) + (time_dim,) + tuple(feature)))
        arr = np.asarray(out.values)
        if not feature:
            arr = arr[..., None]
        if trial_dim not in vdims:
            arr = arr[None]
        return arr

    labels = conditions
    if isinstance(conditions, str):
        source = ds if ds is not None else da
        if conditions not in source.coords and (ds is None or conditions not in ds.data_vars):
            have = sorted(map(str, source.coords)) + ([] if ds is None else sorted(map(str, ds.data_vars)))
            raise ArgumentError(f"conditions = {conditions!r} is not a coordinate or variable; there are {have}")
        var = source[conditions]
        if tuple(map(str, var.dims)) != (trial_dim,):
            raise ArgumentError(f"conditions = {conditions!r} must lie along {trial_dim!r}, got dimensions "
                                f"{tuple(map(str, var.dims))}")
        labels = np.asarray(var.values)
    neurons = {}
    for name, coord in da.coords.items():
        if tuple(map(str, coord.dims)) == (neuron_dim,) and np.asarray(coord.values).dtype.kind in "biufUS":
            neurons[str(name)] = np.asarray(coord.values)
    rates_arr = values.astype(np.float64) if values.dtype.kind in "iuf" else values
    return dict(rates=rates_arr, dt=dt, inputs=series("inputs", inputs), outputs=series("outputs", outputs),
                conditions=labels, neurons=neurons or None)
