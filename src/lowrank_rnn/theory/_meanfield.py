"""Dynamic mean-field theory of low-rank networks: stationary and chaotic states, and their stability.

Network (Mastrogiuseppe & Ostojic 2018, Neuron 99:609, eq. 1; time in units of tau, phi = tanh):

    dx_i/dt = -x_i + sum_j J_ij phi(x_j) + sum_k I_ki u_k,    J = g chi + (1/N) sum_r m_r n_r^T.

Mean field (M&O 2018, Methods; Beiran et al. 2021, Neural Comput. 33:1572, for mixtures). Neuron i
of population p sees ``x_i = sum_r m_ri kappa_r + sum_k I_ki u_k + g eta_i`` with eta_i a Gaussian
process shared in law by all neurons. With M = means and s = covariances of the loadings *within*
population p, and [f]_p the Gaussian average of f at mean mu_p and variance Delta0_p:

    mu_p     = sum_r M_{m_r} kappa_r + sum_k M_{I_k} u_k
    Q_p      = sum_{rs} s_{m_r m_s} kappa_r kappa_s + 2 sum_{rk} s_{m_r I_k} kappa_r u_k
               + sum_{kl} s_{I_k I_l} u_k u_l                     (structured variance)
    kappa_r  = sum_p alpha_p { M_{n_r} [phi]_p + [phi']_p ( sum_s s_{n_r m_s} kappa_s + sum_k s_{n_r I_k} u_k ) }
    Delta0_p = d0 + Q_p,        Delta_inf_p = d_inf + Q_p

The random part ``g eta`` has the same statistics in every population, because eta_i = sum_j
chi_ij phi(x_j) sums over all neurons: its variance d0 (and its static part d_inf) is shared.

- Stationary states (:mod:`._stationary`): ``d0 = d_inf = d = g^2 sum_p alpha_p [phi^2]_p``, with
  the bulk radius and outliers of each state.
- Chaotic states (:mod:`._chaotic`; M&O 2018, Methods, after Sompolinsky, Crisanti & Sommers 1988):
  the averages in the kappa equation are taken at the full variance Delta0_p, d_inf solves
  ``d_inf = g^2 sum_p alpha_p <<phi>>^2_p`` and d0 the energy equation, written so that the
  stationary solution d_inf = d0 is not one of its roots.

The other parts: the loading statistics and the structured terms (mu_p, Q_p, covariances) in
:mod:`._statistics`, the Gaussian averages (trapezoid rule on a fixed grid, with their derivatives)
in :mod:`._averages`, root finding in :mod:`._rootfind`. This module gathers the two solvers.
"""

from __future__ import annotations

from ._averages import DEFAULT_NESTED as N_NODES_NESTED
from ._averages import DEFAULT_NODES as N_NODES
from ._averages import quadrature as _quad  # noqa: F401  (name used by tests/test_meanfield.py)
from ._chaotic import ChaoticState as ChaoticState
from ._chaotic import chaotic_states as chaotic_states
from ._chaotic import energy as _Etilde  # noqa: F401  (name used by tests/test_meanfield.py)
from ._stationary import StationaryState as StationaryState
from ._stationary import stationary_states as stationary_states
from ._statistics import solver_statistics as _params  # noqa: F401  (name used by tests/test_meanfield.py)

__all__ = ["StationaryState", "ChaoticState", "stationary_states", "chaotic_states", "N_NODES", "N_NODES_NESTED"]
