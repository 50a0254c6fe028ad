"""Sampling circuits: networks whose activity samples a distribution by Langevin dynamics.

After Chen, Jiang, Rao & Shea-Brown 2023, "Expressive probabilistic sampling in recurrent neural
networks" (NeurIPS 2023, arXiv 2308.11809). A score $s \\approx \\nabla \\log p$ is learned from
samples of ``p`` by denoising score matching (:func:`train_dsm`, :func:`geometric_sigmas`) with
the surrogate :class:`ScoreModel` $s(x) = -x + W_1 \\phi(W_2 x + b)$; the trained weights define a
reservoir-sampler network (:class:`ReservoirSampler`) whose outputs follow
$dx = s(x)\\,dt + \\sqrt{2}\\,dB_t$ exactly. :class:`SamplerOnly` networks (firing-rate or
synaptic-current dynamics, no reservoir) are trained the same way for comparison.
:func:`sample` runs any of them (batched Euler–Maruyama on the library's integrator);
:func:`wasserstein_per_coordinate`, :func:`excess_kurtosis` and :func:`mmd` compare samples with
the target. ``lowrank-rnn reproduce chen2023_sampler`` reproduces the paper's comparison.
"""

from ._dsm import dsm_loss as dsm_loss
from ._dsm import geometric_sigmas as geometric_sigmas
from ._dsm import train_dsm as train_dsm
from ._metrics import excess_kurtosis as excess_kurtosis
from ._metrics import mmd as mmd
from ._metrics import wasserstein_per_coordinate as wasserstein_per_coordinate
from ._models import ReservoirSampler as ReservoirSampler
from ._models import SamplerOnly as SamplerOnly
from ._models import ScoreModel as ScoreModel
from ._sample import sample as sample

__all__ = ["ScoreModel", "SamplerOnly", "ReservoirSampler", "train_dsm", "dsm_loss", "geometric_sigmas", "sample",
           "wasserstein_per_coordinate", "excess_kurtosis", "mmd"]
