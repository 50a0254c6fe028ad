"""lowrank-rnn: recurrent networks whose connectivity is a random part plus a low-rank structure.

Describe a network by the statistics of its connectivity (:class:`Ensemble`), sample instances
(:class:`Network`), simulate them (:func:`simulate`), and set their spectra beside the theory
(:mod:`lowrank_rnn.spectrum`). See Mastrogiuseppe & Ostojic 2018, Neuron 99:609.
"""

__version__ = "0.1.0"

from . import spectrum as spectrum
from ._ensemble import Ensemble as Ensemble
from ._errors import DivergenceError as DivergenceError
from ._io import load as load, save as save
from ._network import Network as Network
from ._simulate import Trajectory as Trajectory, simulate as simulate
from . import _savers  # noqa: F401  (registers the savable classes)

__all__ = ["Ensemble", "Network", "simulate", "Trajectory", "spectrum", "save", "load",
           "DivergenceError", "__version__"]
