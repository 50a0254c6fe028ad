"""Biophysical neuron models.

The leaky integrate-and-fire neuron with fast conductance-based synapses (arXiv 2002.11181):
:func:`lif_conductance_rate` gives its stationary firing rate, exactly (the master equation of the
jump process, solved without a diffusion approximation) or in the classical Gaussian
approximation, :func:`lif_conductance_cv` its interspike CV, and :func:`simulate_lif_conductance`
an event-driven simulation that is exact for the model.

The Morris–Lecar neuron (Morris & Lecar 1981): :func:`morris_lecar_params` gives the classic
class 1 and class 2 parameter sets of Rinzel & Ermentrout, :func:`fi_curve` its firing rate
against constant current, all currents in one vmapped diffrax solve.
"""

from ._lif_rate import lif_conductance_cv as lif_conductance_cv
from ._lif_rate import lif_conductance_rate as lif_conductance_rate
from ._lif_simulate import LIFSimulation as LIFSimulation
from ._lif_simulate import simulate_lif_conductance as simulate_lif_conductance
from ._morris_lecar import MorrisLecarParams as MorrisLecarParams
from ._morris_lecar import fi_curve as fi_curve
from ._morris_lecar import morris_lecar_params as morris_lecar_params
from ._neural_ode import NeuralODE as NeuralODE
from ._neural_ode import ODEData as ODEData
from ._neural_ode import neural_ode_loss as neural_ode_loss
from ._neural_ode import oscillator_data as oscillator_data
from ._neural_ode import train_neural_ode as train_neural_ode
from ._rober import rober_data as rober_data
from ._rober import robertson as robertson

__all__ = ["lif_conductance_rate", "lif_conductance_cv", "simulate_lif_conductance", "LIFSimulation"]
__all__ += ["NeuralODE", "ODEData", "oscillator_data", "neural_ode_loss", "train_neural_ode", "robertson", "rober_data"]
__all__ += ["morris_lecar_params", "MorrisLecarParams", "fi_curve"]
from ._ml_network import MorrisLecarNetwork as MorrisLecarNetwork
from ._ml_network import SynapseParams as SynapseParams
from ._ml_network import spike_counts as spike_counts
__all__ += ["MorrisLecarNetwork", "SynapseParams", "spike_counts"]
from ._ml_train import evaluate_ml_run as evaluate_ml_run
from ._ml_train import load_ml_run as load_ml_run
from ._ml_train import ml_network_loss as ml_network_loss
from ._ml_train import train_ml_network as train_ml_network
__all__ += ["train_ml_network", "ml_network_loss", "load_ml_run", "evaluate_ml_run"]
