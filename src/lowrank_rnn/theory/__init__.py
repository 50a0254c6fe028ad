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
