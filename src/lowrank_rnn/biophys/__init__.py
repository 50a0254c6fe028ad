"""Biophysical neuron models.

The leaky integrate-and-fire neuron with fast conductance-based synapses (arXiv 2002.11181):
:func:`lif_conductance_rate` gives its stationary firing rate, exactly (the master equation of the
jump process, solved without a diffusion approximation) or in the classical Gaussian
approximation, :func:`lif_conductance_cv` its interspike CV, and :func:`simulate_lif_conductance`
an event-driven simulation that is exact for the model.
"""

from ._lif_rate import lif_conductance_cv as lif_conductance_cv
from ._lif_rate import lif_conductance_rate as lif_conductance_rate
from ._lif_simulate import LIFSimulation as LIFSimulation
from ._lif_simulate import simulate_lif_conductance as simulate_lif_conductance

__all__ = ["lif_conductance_rate", "lif_conductance_cv", "simulate_lif_conductance", "LIFSimulation"]
