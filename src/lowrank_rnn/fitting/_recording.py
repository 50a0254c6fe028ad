"""Recorded population activity: :class:`Recording`, the data that the fitting functions take.

A recording holds rates or spike counts of ``N`` neurons over trials and time, with the time step,
and optionally the inputs the task delivered, behavioural outputs, a condition label per trial and
per-neuron metadata. It is immutable: the operations (trial and neuron selection, splits, averages
over trials of a condition) return new recordings.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

import jax
import numpy as np

from .._checks import finite_array, prng_key, real_scalar
from .._errors import ArgumentError, ArgumentTypeError


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

    __slots__ = ("_rates", "_dt", "_inputs", "_outputs", "_conditions", "_neurons", "_signed")

    def __init__(self, rates: Any, *, dt: float, inputs: Any = None, outputs: Any = None,
                 conditions: Any = None, neurons: Mapping[str, Any] | None = None, signed: bool = False):
        dt = real_scalar("dt", dt, low=0.0, low_open=True)
        if not isinstance(signed, (bool, np.bool_)):
            raise ArgumentTypeError(f"signed must be True or False, got {type(signed).__name__}")
        r = finite_array("rates", rates, ndim=(2, 3))
        single = r.ndim == 2
        if single:
            r = r[None]
        if 0 in r.shape:
            raise ArgumentError(f"rates must have at least one trial, time step and neuron, got shape {r.shape}")
        if not signed and np.any(r < 0):
            raise ArgumentError(f"rates contains negative values (min {r.min():.3g}); rates and spike counts "
                                "must be >= 0 (pass signed=True for activity that may be negative)")
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
                arr = np.asarray(v)
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

    @classmethod
    def from_arrays(cls, rates: Any, *, dt: float, inputs: Any = None, outputs: Any = None,
                    conditions: Any = None, neurons: Mapping[str, Any] | None = None,
                    signed: bool = False) -> "Recording":
        """Return ``Recording(rates, dt=dt, ...)``: the constructor under the name of its siblings
        (:meth:`from_xarray`, :meth:`from_nwb`, :meth:`from_trajectory`).

        >>> import numpy as np
        >>> from lowrank_rnn.fitting import Recording
        >>> Recording.from_arrays(np.zeros((100, 8)), dt=0.001)
        Recording(trials=1, time=100, neurons=8, dt=0.001)
        """
        return cls(rates, dt=dt, inputs=inputs, outputs=outputs, conditions=conditions, neurons=neurons,
                   signed=signed)

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
                  "conditions": self._conditions, "neurons": self._neurons, "signed": self._signed}
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
                             conditions=labels)
