"""How the trainable models are written by :func:`lowrank_rnn.save` and rebuilt by :func:`lowrank_rnn.load`.

The header holds the class and its hyperparameters; every array of the model is stored by name, so
a saved model loads with ``load(path)`` alone.
"""

from __future__ import annotations

import numpy as np

from .._errors import ArgumentTypeError
from .._io import register
from ._lowrank import FullRankRNN, LowRankRNN
from ._mixture import MixtureLowRankRNN

_ARRAYS = {
    "LowRankRNN": ("m", "n", "input_vectors", "input_scales", "readout_vectors", "readout_scales", "h0", "bulk"),
    "FullRankRNN": ("W", "input_vectors", "input_scales", "readout_vectors", "readout_scales", "h0"),
    "MixtureLowRankRNN": ("m_map", "m_mean", "n_map", "n_mean", "input_map", "input_mean", "readout_map",
                          "readout_mean", "basis", "h0", "log_weights"),
}


def hyperparameters(model) -> dict:
    """Return the JSON-able constructor arguments of a model (everything but its arrays).

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn.models import LowRankRNN
    >>> sorted(hyperparameters(LowRankRNN(64, 1, 1, 1, key=jax.random.key(0))))
    ['N', 'alpha', 'g', 'n_inputs', 'n_outputs', 'noise', 'nonlinearity', 'rank']
    """
    if callable(getattr(model, "hyperparameters", None)):  # models that describe themselves (learning.RateRNN)
        return model.hyperparameters()
    common = {"N": model.N, "n_inputs": model.n_inputs, "n_outputs": model.n_outputs,
              "noise": float(model.noise), "alpha": float(model.alpha), "nonlinearity": model.nonlinearity}
    if isinstance(model, LowRankRNN):
        return {"rank": model.rank, "g": float(model.g), **common}
    if isinstance(model, FullRankRNN):
        return {"rho": float(model.rho), **common}
    if isinstance(model, MixtureLowRankRNN):
        return {"rank": model.rank, "n_populations": model.n_populations, "weights": list(model.weights),
                "basis_dim": model.basis_dim, "resample_per_batch": model.resample_per_batch, **common}
    raise ArgumentTypeError(f"not a lowrank_rnn model: {type(model).__name__}")


def _out(model):
    arrays = {k: np.asarray(getattr(model, k)) for k in _ARRAYS[type(model).__name__]
              if getattr(model, k) is not None}
    return hyperparameters(model), arrays


def _in_factory(cls):
    def _in(meta, arrays):
        meta = dict(meta)
        args = [meta.pop("N")]
        if "rank" in meta:
            args.append(meta.pop("rank"))
        args += [meta.pop("n_inputs"), meta.pop("n_outputs")]
        return cls(*args, **meta, **{k: v for k, v in arrays.items()})
    return _in


for _cls in (LowRankRNN, FullRankRNN, MixtureLowRankRNN):
    register(_cls.__name__, _out, _in_factory(_cls))
