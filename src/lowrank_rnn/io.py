"""Exports of population activity for other analysis tools, as plain NumPy arrays.

:func:`to_marble` writes per-condition point clouds of states and their velocities, the input of
MARBLE (Gosztolai, Peach, Arnaudon, Barahona & Vandergheynst 2025, Nat. Methods, "MARBLE:
interpretable representations of neural population dynamics using geometric deep learning");
:func:`to_tidhy` writes (time × features) arrays split into training, validation and test parts,
the input of TiDHy (Abe & Brunton 2025, "Timescale demixing via hypernetworks"). Both take a
:class:`lowrank_rnn.fitting.Recording`, a :class:`lowrank_rnn.Trajectory` or an array
``(trials, time, n)`` of states or rates, and return a dict of arrays; with a ``path`` they also
write it as an ``.npz`` archive (atomically) that ``numpy.load`` reads without this library and
without ``allow_pickle``.
"""

from __future__ import annotations

import io as _bytes_io
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ._checks import finite_array, positive_int, real_scalar
from ._errors import ArgumentError, ArgumentTypeError
from ._io import atomic_write_bytes
from ._simulate import Trajectory
from .fitting import Recording

__all__ = ["to_marble", "to_tidhy"]


def _activity(obj: Any, dt: float | None, conditions: Any) -> tuple[np.ndarray, float, np.ndarray | None,
                                                                    np.ndarray | None]:
    """Return (activity (trials, time, n), dt, condition labels (trials,) or None, inputs or None)."""
    if isinstance(obj, Trajectory):
        obj = Recording.from_trajectory(obj, quantity="x" if obj.x is not None else "rates")
    if isinstance(obj, Recording):
        data, inputs = obj.rates, obj.inputs
        dt = obj.dt if dt is None else real_scalar("dt", dt, low=0.0, low_open=True)
        labels = obj.conditions if conditions is None else conditions
    else:
        data = finite_array("obj", obj, ndim=(2, 3))
        if data.ndim == 2:
            data = data[None]
        inputs = None
        dt = 1.0 if dt is None else real_scalar("dt", dt, low=0.0, low_open=True)
        labels = conditions
    if 0 in data.shape:
        raise ArgumentError(f"obj must hold at least one trial, time step and feature, got shape {data.shape}")
    if labels is not None:
        try:
            labels = np.asarray(labels)
        except (TypeError, ValueError):  # ragged nested lists
            raise ArgumentTypeError("conditions must be a 1-D sequence of labels (numbers or strings)") from None
        if labels.dtype.kind == "S":
            labels = labels.astype(str)
        if labels.dtype.kind not in "biufU":
            raise ArgumentTypeError(f"conditions must hold numbers or strings, got dtype {labels.dtype}")
        if labels.shape != (data.shape[0],):
            raise ArgumentError(f"conditions must hold one label per trial ({data.shape[0]}), got shape {labels.shape}")
    return data, dt, labels, inputs


def _write(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)) or str(path).strip() == "":
        raise ArgumentTypeError(f"path must be a file path, got {path!r}")
    if Path(path).is_dir():
        raise ArgumentError(f"path {str(path)!r} is a folder; give a file path such as {str(Path(path) / 'x.npz')!r}")
    buf = _bytes_io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def to_marble(obj: Any, path: str | os.PathLike | None = None, *, conditions: Any = None, dt: float | None = None,
              transient: int = 0, n_pcs: int | None = None) -> dict[str, Any]:
    r"""Return per-condition point clouds of states and their velocities, the input of MARBLE.

    For each trial's activity $X_b$ (time × n, after dropping ``transient`` steps, projected on
    ``n_pcs`` principal components if given) every time step $t$ but the last gives a sample:
    the state $x_t$ (an *anchor*) and its velocity by forward difference
    $v_t = (x_{t+1} - x_t) / \Delta t$ (a *vector*). The samples of all trials of one condition
    are stacked into one point cloud; conditions are the sorted distinct labels (one cloud when
    there are no labels). The principal components are fitted on all conditions together (mean
    removed), and velocities are taken in the same projected space. This is the form of
    ``MARBLE.construct_dataset(anchor=..., vector=...)`` (Gosztolai et al. 2025, Nat. Methods):
    one list element per condition.

    Parameters
    ----------
    obj: a :class:`~lowrank_rnn.fitting.Recording` (its rates, ``dt`` and condition labels), a
        :class:`~lowrank_rnn.Trajectory` (its states ``x`` if recorded, else its rates), or an
        array ``(trials, time, n)`` (``(time, n)``: one trial) of states or rates.
    path: where to write the ``.npz`` archive, or None to write nothing.
    conditions: one label per trial, replacing the recording's labels (None: the recording's;
        for an array, no labels: one condition).
    dt: the time step; default the recording's, or 1 for an array (velocities per step).
    transient: number of leading time steps of each trial to drop (e.g. the relaxation from the
        initial condition).
    n_pcs: number of principal components to project on, or None to keep all ``n`` features.

    Returns
    -------
    A dict:

    - ``"anchor"``: list of ``C`` float32 arrays ``(n_c, d)``, the states of condition ``c``
      (``d = n_pcs`` or ``n``; ``n_c = trials_c * (time - transient - 1)``), in the data's units;
    - ``"vector"``: list of ``C`` float32 arrays ``(n_c, d)``, their velocities (data units per
      time unit of ``dt``);
    - ``"trial"``, ``"time"``: lists of ``C`` arrays ``(n_c,)``: the trial index (int64, position
      in the input) and the time of each sample (float64, $t\,\Delta t$ from the trial's start,
      transient included), to map MARBLE's subsampled ``data.sample_ind`` back;
    - ``"conditions"``: the ``C`` labels ``(C,)`` (``[0]`` without labels);
    - ``"dt"``: the time step (a 0-d float64 array);
    - ``"components"`` ``(d, n)`` and ``"mean"`` ``(n,)`` (float64): the projection,
      $y = \mathrm{components}\,(x - \mathrm{mean})$; identity and zeros without ``n_pcs``.

    The ``.npz`` file holds the same arrays under flat keys: ``anchor_0 ... anchor_{C-1}``,
    ``vector_i``, ``trial_i``, ``time_i``, ``conditions``, ``dt``, ``components``, ``mean``; read
    it without this library::

        d = np.load(path)
        anchor = [d[f"anchor_{i}"] for i in range(len(d["conditions"]))]
        vector = [d[f"vector_{i}"] for i in range(len(d["conditions"]))]
        data = MARBLE.construct_dataset(anchor=anchor, vector=vector)

    Examples
    --------
    >>> import numpy as np
    >>> from lowrank_rnn.io import to_marble
    >>> t = np.arange(50) * 0.1
    >>> circle = np.stack([np.cos(t), np.sin(t)], axis=-1)            # (time, 2)
    >>> trials = np.stack([circle, 2 * circle, circle, 2 * circle])    # (4, 50, 2)
    >>> out = to_marble(trials, conditions=["small", "big", "small", "big"], dt=0.1)
    >>> out["conditions"].tolist(), [a.shape for a in out["anchor"]]
    (['big', 'small'], [(98, 2), (98, 2)])
    >>> bool(np.allclose(out["vector"][1][0], [0.0, 1.0], atol=0.06))  # d/dt (cos, sin) at t = 0
    True
    """
    data, dt, labels, _ = _activity(obj, dt, conditions)
    transient = positive_int("transient", transient, low=0)
    if data.shape[1] - transient < 2:
        raise ArgumentError(f"transient = {transient} leaves {data.shape[1] - transient} time step(s) of "
                            f"{data.shape[1]}; velocities need at least 2")
    x = data[:, transient:]
    n = x.shape[2]
    mean = np.zeros(n)
    components = np.eye(n)
    if n_pcs is not None:
        n_pcs = positive_int("n_pcs", n_pcs)
        if n_pcs > n:
            raise ArgumentError(f"n_pcs must be <= the number of features ({n}), got {n_pcs}")
        flat = x.reshape(-1, n)
        mean = flat.mean(axis=0)
        _, _, vt = np.linalg.svd(flat - mean, full_matrices=False)
        components = vt[:n_pcs]
        x = (x - mean) @ components.T
    velocity = np.diff(x, axis=1) / dt
    anchor = x[:, :-1]
    steps = x.shape[1] - 1
    if labels is None:
        keys, which = np.array([0]), np.zeros(x.shape[0], dtype=np.int64)
    else:
        keys, which = np.unique(labels, return_inverse=True)
        which = which.reshape(-1)
    out: dict[str, Any] = {"anchor": [], "vector": [], "trial": [], "time": []}
    for c in range(len(keys)):
        trials = np.flatnonzero(which == c)
        out["anchor"].append(anchor[trials].reshape(-1, x.shape[2]).astype(np.float32))
        out["vector"].append(velocity[trials].reshape(-1, x.shape[2]).astype(np.float32))
        out["trial"].append(np.repeat(trials, steps).astype(np.int64))
        out["time"].append(np.tile((transient + np.arange(steps)) * dt, len(trials)))
    out.update(conditions=keys, dt=np.asarray(dt, dtype=np.float64), components=components, mean=mean)
    if path is not None:
        flat_out = {f"{k}_{i}": a for k in ("anchor", "vector", "trial", "time") for i, a in enumerate(out[k])}
        flat_out.update({k: out[k] for k in ("conditions", "dt", "components", "mean")})
        _write(path, flat_out)
    return out


def to_tidhy(obj: Any, path: str | os.PathLike | None = None, *, split: Sequence[float] = (0.8, 0.1, 0.1),
             sequence_length: int | None = None, conditions: Any = None, dt: float | None = None) -> dict[str, np.ndarray]:
    r"""Return (time × features) arrays split into training, validation and test parts, the input
    of TiDHy (Abe & Brunton 2025).

    The trials are laid end to end in their order. With at least one trial for each part, the
    parts are consecutive blocks of whole trials, ``split = (train, val, test)`` fractions of the
    trials (rounded, each at least one); with fewer trials the concatenated time series itself is
    cut at those fractions of its length. With ``sequence_length``, each part is trimmed at its
    end to a whole number of sequences (TiDHy reshapes its validation data to
    ``(-1, sequence_length, features)``).

    Parameters
    ----------
    obj: a :class:`~lowrank_rnn.fitting.Recording` (its rates, inputs, ``dt`` and labels), a
        :class:`~lowrank_rnn.Trajectory` (states ``x`` if recorded, else rates), or an array
        ``(trials, time, n)`` (``(time, n)``: one trial).
    path: where to write the ``.npz`` archive, or None to write nothing.
    split: fractions ``(train, val, test)`` of the data, non-negative, summing to 1.
    sequence_length: trim each part to a multiple of it (None: no trimming).
    conditions: one label per trial, replacing the recording's (None: the recording's, if any).
    dt: the time step; default the recording's, or 1 for an array.

    Returns
    -------
    A dict of arrays, for each part ``P`` in ``train``, ``val``, ``test``:

    - ``"inputs_P"``: float32 ``(T_P, n)``, the activity (the observations TiDHy calls
      *inputs*), rows in time order, data units;
    - ``"trial_P"``: int64 ``(T_P,)``, the trial each row comes from (position in the input);
    - ``"time_P"``: float64 ``(T_P,)``, the row's time from its trial's start ($t\,\Delta t$);
    - ``"annotations_P"``: ``(T_P,)``, the trial's condition label per row (only with labels);
    - ``"stimulus_P"``: float32 ``(T_P, K)``, the task inputs of a recording that has them;

    and ``"dt"`` (0-d float64). The ``.npz`` file holds the same keys; TiDHy's dataset dict is
    ``{k: d[k] for k in ("inputs_train", "inputs_val", "inputs_test")}`` of ``d = np.load(path)``,
    and its model's ``input_dim`` is ``n``.

    Examples
    --------
    >>> import numpy as np
    >>> from lowrank_rnn.io import to_tidhy
    >>> out = to_tidhy(np.ones((10, 30, 4)), sequence_length=20)
    >>> out["inputs_train"].shape, out["inputs_val"].shape, out["inputs_test"].shape
    ((240, 4), (20, 4), (20, 4))
    >>> out["trial_val"][0], out["time_val"][:2]
    (np.int64(8), array([0., 1.]))
    """
    data, dt, labels, inputs = _activity(obj, dt, conditions)
    try:
        fractions = [real_scalar("split", f, low=0.0) for f in split]
    except TypeError:
        raise ArgumentTypeError(f"split must be three fractions (train, val, test), got {split!r}") from None
    if len(fractions) != 3 or not np.isclose(sum(fractions), 1.0):
        raise ArgumentError(f"split must be three fractions (train, val, test) summing to 1, got {tuple(split)}")
    if sequence_length is not None:
        sequence_length = positive_int("sequence_length", sequence_length)
    B, T, _ = data.shape
    rows = B * T
    trial_of = np.repeat(np.arange(B), T)
    time_of = np.tile(np.arange(T) * dt, B)
    wanted = [f > 0 for f in fractions]
    if B >= sum(wanted):  # whole trials per part
        bounds = _cuts(B, fractions) * T
    else:
        bounds = _cuts(rows, fractions)
    flat = data.reshape(rows, -1)
    flat_in = None if inputs is None else inputs.reshape(rows, -1)
    out: dict[str, np.ndarray] = {}
    for name, lo, hi in zip(("train", "val", "test"), bounds[:-1].tolist(), bounds[1:].tolist()):
        if sequence_length is not None:
            hi = lo + (hi - lo) // sequence_length * sequence_length
        out[f"inputs_{name}"] = flat[lo:hi].astype(np.float32)
        out[f"trial_{name}"] = trial_of[lo:hi].astype(np.int64)
        out[f"time_{name}"] = time_of[lo:hi]
        if labels is not None:
            out[f"annotations_{name}"] = labels[trial_of[lo:hi]]
        if flat_in is not None:
            out[f"stimulus_{name}"] = flat_in[lo:hi].astype(np.float32)
    for name, f in zip(("train", "val", "test"), fractions):
        if f > 0 and len(out[f"inputs_{name}"]) == 0:
            raise ArgumentError(f"the {name} part is empty: {rows} rows are too few for split={tuple(split)}"
                                + ("" if sequence_length is None else f" and sequence_length={sequence_length}"))
    out["dt"] = np.asarray(dt, dtype=np.float64)
    if path is not None:
        _write(path, out)
    return out


def _cuts(total: int, fractions: list[float]) -> np.ndarray:
    """Return the 4 boundaries splitting ``total`` items by ``fractions``: each non-zero fraction
    gets at least one item when ``total`` allows, the rest as rounded."""
    sizes = [int(round(f * total)) for f in fractions]
    for i, f in enumerate(fractions):
        if f > 0 and sizes[i] == 0:
            sizes[i] = 1
    while sum(sizes) > total:  # take the excess from the largest part
        sizes[int(np.argmax(sizes))] -= 1
    sizes[int(np.argmax(fractions))] += total - sum(sizes)
    return np.concatenate([[0], np.cumsum(sizes)])
