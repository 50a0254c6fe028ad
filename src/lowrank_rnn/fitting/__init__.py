"""Fitting networks to recordings.

:class:`Recording` holds recorded population activity (rates or spike counts over trials, time and
neurons, with the inputs, outputs, condition labels and neuron metadata), the data every fitting
function takes.
"""

from . import _savers  # noqa: F401  (registers Recording with lowrank_rnn.save / load)
from ._recording import Recording as Recording
from ._lowrank import LowRankFit as LowRankFit, fit_lowrank as fit_lowrank, r2_score as r2_score  # Valente et al. 2022

__all__ = [
    "Recording",
    "LowRankFit", "fit_lowrank", "r2_score",
]
