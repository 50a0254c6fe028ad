"""Fitting networks to recordings.

:class:`Recording` holds recorded population activity (rates or spike counts over trials, time and
neurons, with the inputs, outputs, condition labels and neuron metadata), the data every fitting
function takes.

:func:`fit_latent_circuit` fits a small latent circuit embedded in the activity by an orthonormal
``Q`` (Langdon & Engel 2025, Nat. Neurosci.), with :func:`embedding_test` against a known
connectivity and :func:`plot_circuit`.

:func:`fit_lowrank` fits a low-rank RNN whose units are the recorded neurons (LINT: Valente, Pillow
& Ostojic 2022, NeurIPS), and :func:`select_rank` chooses its rank by cross-validation over held-out
trials and neurons.
"""

from . import _savers  # noqa: F401  (registers Recording with lowrank_rnn.save / load)
from ._circuit import CircuitEmbedding as CircuitEmbedding
from ._circuit import LatentCircuit as LatentCircuit
from ._circuit import LatentCircuitFit as LatentCircuitFit
from ._circuit import cayley_embedding as cayley_embedding
from ._circuit import embedding_test as embedding_test
from ._circuit import fit_latent_circuit as fit_latent_circuit
from ._circuit import noise_from_langdon as noise_from_langdon
from ._circuit import plot_circuit as plot_circuit
from ._lowrank import LowRankFit as LowRankFit  # Valente et al. 2022
from ._lowrank import RankSelection as RankSelection
from ._lowrank import fit_lowrank as fit_lowrank
from ._lowrank import r2_score as r2_score
from ._lowrank import select_rank as select_rank
from ._recording import Recording as Recording

__all__ = [
    "Recording",
    "LowRankFit", "fit_lowrank", "r2_score", "RankSelection", "select_rank",
    "fit_latent_circuit",
    "LatentCircuit",
    "LatentCircuitFit",
    "CircuitEmbedding",
    "embedding_test",
    "cayley_embedding",
    "noise_from_langdon",
    "plot_circuit",
]
