"""Inferring connectivity from activity: ground-truth spiking networks, Granger causality, AUROC.

After Lu, Tabassum, Kulkarni, Mi, Kutz, Shea-Brown & Lim 2023, "Attention for causal relationship
discovery from biological neural dynamics" (NeurIPS 2023 workshop on causal representation
learning, arXiv 2311.06928). :func:`izhikevich_network` simulates random networks of Izhikevich
neurons whose true connectivity ``M`` is known (``M[i, j] != 0`` means $j \\to i$); :func:`granger`
estimates pairwise-conditional Granger causality from their activity, the classical baseline, and
:func:`auroc` scores any such estimate against ``M``.
:class:`Causalformer` forecasts the next step of every neuron with a transformer whose decoder's
global cross-attention reads out which neurons' pasts drive which: :func:`fit` (or
:func:`fit_ensemble` for several initialisation seeds at once) trains it and
:func:`attention_scores` reads the scores.
"""

from ._auroc import auroc as auroc
from ._former import Causalformer as Causalformer
from ._former import CausalformerFit as CausalformerFit
from ._former import DecoderTrace as DecoderTrace
from ._former import EnsembleFit as EnsembleFit
from ._former import attention_scores as attention_scores
from ._former import fit as fit
from ._former import fit_ensemble as fit_ensemble
from ._granger import GrangerResult as GrangerResult
from ._granger import granger as granger
from ._izhikevich import IzhikevichActivity as IzhikevichActivity
from ._izhikevich import izhikevich_network as izhikevich_network

__all__ = ["izhikevich_network", "IzhikevichActivity", "granger", "GrangerResult", "auroc", "Causalformer", "DecoderTrace",
           "fit", "fit_ensemble", "CausalformerFit", "EnsembleFit", "attention_scores"]
