"""Associative memory and competing hidden units: Hopfield 1982 and Krotov & Hopfield 2019.

- :class:`Hopfield`: Hebbian storage of ±1 patterns, asynchronous and synchronous retrieval
  (:meth:`Hopfield.retrieve`), the energy; :func:`capacity_curve` and :func:`plot_capacity` for the
  retrieval overlap against the load P/N (breakdown near 0.138 for large N).
- :func:`krotov_hopfield`: the unsupervised "competing hidden units" rule (Krotov & Hopfield 2019,
  PNAS 116:7723), mini-batched, with the learning rate annealed to zero;
  :func:`krotov_hopfield_drift` its averaged update; :func:`lyapunov` the function the averaged
  dynamics decrease (the derivation is in its docstring); :func:`p_norms` the convergence to the
  unit p-sphere; :func:`plot_receptive_fields`.
- :func:`classify` (a softmax readout on the hidden units, or on the pixels) and
  :func:`backprop_network` (the same size trained end to end) for the classification claim.
- :func:`digits` (scikit-learn's 8x8 digits, no download) and :func:`split` (user-supplied images
  such as MNIST).
"""

from ._data import digits as digits
from ._data import split as split
from ._hopfield import CapacityCurve as CapacityCurve
from ._hopfield import Hopfield as Hopfield
from ._hopfield import capacity_curve as capacity_curve
from ._hopfield import flip as flip
from ._krotov import KrotovHopfield as KrotovHopfield
from ._krotov import krotov_hopfield as krotov_hopfield
from ._krotov import krotov_hopfield_drift as krotov_hopfield_drift
from ._krotov import lyapunov as lyapunov
from ._krotov import p_norms as p_norms
from ._plots import plot_capacity as plot_capacity
from ._plots import plot_receptive_fields as plot_receptive_fields
from ._readout import Readout as Readout
from ._readout import backprop_network as backprop_network
from ._readout import classify as classify
from ._readout import hidden_activity as hidden_activity

__all__ = ["Hopfield", "capacity_curve", "CapacityCurve", "flip", "plot_capacity", "krotov_hopfield",
           "KrotovHopfield", "krotov_hopfield_drift", "lyapunov", "p_norms", "plot_receptive_fields",
           "classify", "backprop_network", "Readout", "hidden_activity", "digits", "split"]
