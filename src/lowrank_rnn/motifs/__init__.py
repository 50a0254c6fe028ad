"""Excitatory–inhibitory networks with pairwise connectivity motifs, and their low-rank predictions.

Implements the framework of Shao, Dahmen, Recanatesi, Shea-Brown & Ostojic, "Identifying the impact
of local connectivity patterns on dynamics in excitatory-inhibitory networks" (arXiv 2411.06802;
PRX Life 3:023008, 2025): given cell types, connection statistics and motif strengths, where are
the dominant eigenvalues, is the network stable, and how does it respond to input into E or I?

Descriptions and generators
    :class:`MotifEnsemble` (``.ei``, ``.homogeneous``, ``.cell_type_chains``, ``.from_sparse``,
    ``.statistics()``, ``.sample(key=...)``, ``.sample_network(key=...)``); binary second-order
    networks :func:`sonet`, :func:`sonet_ei` (Zhao et al. 2011).
Estimators
    :func:`motif_statistics` (any weighted or binary matrix, per population block),
    :func:`sonet_alphas`; :class:`MotifStatistics`.
Predictions
    :func:`chain_matrix` ([Z^2]), :func:`population_chain_matrix` (Z~), :func:`outliers`,
    :func:`bulk_edge`, :func:`is_stable`, :func:`effective_connectivity`,
    :func:`population_response`, :func:`paradoxical`, and the homogeneous closed forms
    :func:`homogeneous_outliers`, :func:`critical_chain_strength`, :func:`paradoxical_chain_strength`.
Low-rank core
    :func:`low_rank_ensemble` (an :class:`~lowrank_rnn.Ensemble`), :func:`low_rank_network`
    (a :class:`~lowrank_rnn.Network` from the outlier eigenvectors of a matrix).

Conventions: ``J[i, j]`` is the weight from j onto i; ``J_E, J_I`` are population-summed mean
couplings (``J0_ij = J_E / N_E`` for E columns); motif statistics are correlation coefficients of
weights; ``g`` (or ``sigma``) is the weight standard deviation times ``sqrt(N)``; dynamics
``dx/dt = -x + J x + h`` in units of the membrane time constant.
"""

from ._ensemble import MotifEnsemble as MotifEnsemble
from ._estimate import alpha_from_tau as alpha_from_tau
from ._estimate import motif_statistics as motif_statistics
from ._estimate import sonet_alphas as sonet_alphas
from ._estimate import tau_from_alpha as tau_from_alpha
from ._lowrank import low_rank_ensemble as low_rank_ensemble
from ._lowrank import low_rank_network as low_rank_network
from ._sonet import sonet as sonet
from ._sonet import sonet_ei as sonet_ei
from ._sonet import sonet_latent_correlations as sonet_latent_correlations
from ._statistics import MotifStatistics as MotifStatistics
from ._theory import BulkEdge as BulkEdge
from ._theory import OutlierPrediction as OutlierPrediction
from ._theory import bulk_edge as bulk_edge
from ._theory import chain_matrix as chain_matrix
from ._theory import critical_chain_strength as critical_chain_strength
from ._theory import effective_connectivity as effective_connectivity
from ._theory import homogeneous_outliers as homogeneous_outliers
from ._theory import is_stable as is_stable
from ._theory import low_rank_operator as low_rank_operator
from ._theory import outliers as outliers
from ._theory import paradoxical as paradoxical
from ._theory import paradoxical_chain_strength as paradoxical_chain_strength
from ._theory import population_chain_matrix as population_chain_matrix
from ._theory import population_response as population_response
from ._theory import reciprocal_diagonal as reciprocal_diagonal
from ._theory import stability_margin as stability_margin
from . import _savers  # noqa: F401,E402  (registers MotifEnsemble with lowrank_rnn.save/load)

__all__ = [
    "MotifEnsemble", "MotifStatistics", "motif_statistics", "sonet_alphas", "alpha_from_tau", "tau_from_alpha",
    "sonet", "sonet_ei", "sonet_latent_correlations", "chain_matrix", "population_chain_matrix",
    "reciprocal_diagonal", "effective_connectivity", "low_rank_operator", "outliers", "OutlierPrediction",
    "bulk_edge", "BulkEdge", "is_stable", "stability_margin", "population_response", "paradoxical",
    "homogeneous_outliers", "critical_chain_strength", "paradoxical_chain_strength", "low_rank_ensemble",
    "low_rank_network",
]
