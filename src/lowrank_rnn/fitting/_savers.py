"""Saving :class:`Recording` with :func:`lowrank_rnn.save` (JSON header plus arrays).

Registered when :mod:`lowrank_rnn.fitting` is imported (:func:`lowrank_rnn.load` imports it on
reading a saved Recording). Numeric labels and metadata are stored as arrays; string ones in the
JSON header, since a saved file holds numeric arrays only.
"""

from __future__ import annotations

import numpy as np

from .._io import register
from ._recording import Recording

_NEURON = "neuron:"


def _out(rec: Recording):
    arrays = {"rates": rec.rates}
    meta = {"dt": rec.dt, "signed": rec.signed, "counts": rec.counts, "conditions": None, "neurons": {}}
    for name in ("inputs", "outputs"):
        if getattr(rec, name) is not None:
            arrays[name] = getattr(rec, name)
    if rec.conditions is not None:
        if rec.conditions.dtype.kind == "U":
            meta["conditions"] = rec.conditions.tolist()
        else:
            arrays["conditions"] = rec.conditions
    for k, v in (rec.neurons or {}).items():
        if v.dtype.kind == "U":
            meta["neurons"][k] = v.tolist()
        else:
            arrays[_NEURON + k] = v
    return meta, {k: np.asarray(v) for k, v in arrays.items()}


def _in(meta, arrays):
    neurons = {k[len(_NEURON):]: v for k, v in arrays.items() if k.startswith(_NEURON)}
    for k, v in meta.get("neurons", {}).items():
        neurons[k] = np.asarray(v, dtype=str)
    conditions = arrays.get("conditions")
    if meta.get("conditions") is not None:
        conditions = np.asarray(meta["conditions"], dtype=str)
    return Recording(arrays["rates"], dt=meta["dt"], inputs=arrays.get("inputs"), outputs=arrays.get("outputs"),
                     conditions=conditions, neurons=neurons or None, signed=meta.get("signed", False), counts=meta.get("counts", False))


register("Recording", _out, _in)
