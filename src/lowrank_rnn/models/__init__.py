"""Trainable recurrent networks (``equinox.Module``\\ s) in the library's convention.

- :class:`LowRankRNN`: ``J = g chi + m n^T / N`` with trainable m, n (Dubreuil, Valente et al. 2022);
- :class:`FullRankRNN`: a dense trainable ``W``;
- :class:`MixtureLowRankRNN`: loadings drawn from a Gaussian mixture over a shared basis, so a new
  network can be resampled from the same statistics (Beiran et al. 2021);
- :class:`Reservoir`: a random, untrained network with named input channels and a least-squares
  readout that a :class:`Loop` feeds back through one channel (Israely et al. 2025).

Each is a vector field ``F(x, u) = J phi(x) + I u`` (``drive``) of the library's integrator
(:func:`lowrank_rnn.dynamics.integrate`: ``x <- x + alpha (-x + F) + sigma sqrt(alpha) xi``), run
by its ``__call__`` (one trial; batch with ``jax.vmap`` or :func:`run_trials`), converts to a :class:`lowrank_rnn.Network` with ``to_network()``, and is saved
and loaded with :func:`lowrank_rnn.save` / :func:`lowrank_rnn.load`. The published PyTorch code
adds ``noise_std * xi`` per step; :func:`noise_from_published` converts it to this library's sigma.
"""

from ._base import AbstractRNN as AbstractRNN
from ._base import noise_from_published as noise_from_published
from ._base import run_trials as run_trials
from ._base import TrialField as TrialField
from ._base import check_hyper as check_hyper
from ._base import given_or_drawn as given_or_drawn
from ._base import replace_static as replace_static
from ._lowrank import FullRankRNN as FullRankRNN
from ._lowrank import LowRankRNN as LowRankRNN
from ._lowrank import top_svd as top_svd
from ._mixture import MixtureLowRankRNN as MixtureLowRankRNN
from ._reservoir import Loop as Loop
from ._reservoir import Reservoir as Reservoir
from ._reservoir import fit_readout as fit_readout
from ._reservoir import readout_from_moments as readout_from_moments
from ._mixture import to_ensemble as to_ensemble
from . import _savers  # noqa: F401  (registers the models with save/load)
from ._savers import hyperparameters as hyperparameters

__all__ = ["AbstractRNN", "LowRankRNN", "FullRankRNN", "MixtureLowRankRNN", "run_trials", "to_ensemble",
           "noise_from_published", "hyperparameters", "Reservoir", "Loop", "fit_readout", "readout_from_moments"]
