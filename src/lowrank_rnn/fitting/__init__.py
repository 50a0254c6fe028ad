"""Fitting networks to recordings.

:class:`Recording` holds recorded population activity (rates or spike counts over trials, time and
neurons, with the inputs, outputs, condition labels and neuron metadata), the data every fitting
function takes.
"""

from . import _savers  # noqa: F401  (registers Recording with lowrank_rnn.save / load)
from ._recording import Recording as Recording

__all__ = [
    "Recording",
]
