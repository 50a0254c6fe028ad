"""Mean-field theory of low-rank networks: pure functions of an :class:`~lowrank_rnn.Ensemble`.

Gaussian integrals live in :mod:`lowrank_rnn.theory.gaussian`.
"""

from . import _gaussian as gaussian  # noqa: F401
