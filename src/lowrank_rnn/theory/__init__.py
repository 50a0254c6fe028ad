"""Mean-field theory of low-rank networks: pure functions of an :class:`~lowrank_rnn.Ensemble`.

Gaussian integrals live in :mod:`lowrank_rnn.theory.gaussian`.
"""

from . import _gaussian as gaussian  # noqa: F401
from ._latent import FixedPoint as FixedPoint
from ._latent import FlowField as FlowField
from ._latent import LimitCycle as LimitCycle
from ._latent import flow_field as flow_field
from ._latent import latent_fixed_points as latent_fixed_points
from ._latent import latent_flow as latent_flow
from ._latent import limit_cycle as limit_cycle
from ._latent import plot_flow_field as plot_flow_field
from ._meanfield import ChaoticState as ChaoticState
from ._meanfield import StationaryState as StationaryState
from ._meanfield import chaotic_states as chaotic_states
from ._meanfield import stationary_states as stationary_states
from ._phasediagram import REGIONS as REGIONS
from ._phasediagram import PhaseDiagram as PhaseDiagram
from ._phasediagram import critical_g_B as critical_g_B
from ._phasediagram import critical_g_C as critical_g_C
from ._phasediagram import phase_diagram as phase_diagram
from ._phasediagram import plot_phase_diagram as plot_phase_diagram

__all__ = ["stationary_states", "chaotic_states", "StationaryState", "ChaoticState", "phase_diagram", "PhaseDiagram",
           "plot_phase_diagram", "critical_g_C", "critical_g_B", "REGIONS", "latent_flow", "latent_fixed_points",
           "limit_cycle", "flow_field", "plot_flow_field", "FixedPoint", "FlowField", "LimitCycle", "gaussian"]
