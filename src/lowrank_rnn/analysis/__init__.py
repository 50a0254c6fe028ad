"""Analysis of trained networks: latents, flow fields, truncation, Gaussian-mixture fits.

- :func:`latents`: kappa(t) along the connectivity vectors m and the input-driven v(t) along the
  input vectors, from simulated states (Dubreuil, Valente et al. 2022, Nat. Neurosci.);
- :func:`latent_flow_field`, :func:`latent_fixed_points`, :func:`plot_latent_flow`: the flow in the
  (kappa_1, kappa_2) plane of a rank-two network and its fixed points, of the finite network
  (``source="network"``) or of the mean-field description of its loadings (``source="ensemble"``,
  through :mod:`lowrank_rnn.theory`);
- :func:`truncate`, :func:`singular_values`: a full-rank network's learned change ``W - W0``
  truncated to rank r;
- :func:`fit_mixture`, :func:`resample`, :class:`MixtureFit`: Gaussian-mixture fits of the trained
  loadings (scikit-learn) and new networks drawn from them (a
  :class:`~lowrank_rnn.models.MixtureLowRankRNN`), and :func:`fine_tune_mixture`, which trains the
  fit's statistics so that the networks drawn from it perform a task;
- :func:`epairs`: the ePAIRS test of non-random population structure in the loadings (Hirokawa et
  al. 2019, as used by Dubreuil, Valente et al. 2022);
- :func:`participation_ratio`, :func:`ccgp`: dimensionality and cross-condition generalization of
  condition-averaged activity (Israely et al. 2025);
- :func:`fixed_points`, :class:`FixedPoints`, :func:`plot_fixed_points`: fixed and slow points of any
  network or trained model in its full state space, with their Jacobian's eigenvalues (Sussillo &
  Barak 2013);
- :func:`hessian_eigenvalues`, :func:`exact_loss`: the top eigenvalues of a loss's Hessian by
  Hessian-vector products (Lanczos), and a task loss with exact derivatives for any trained model
  (Liu et al. 2022, arXiv 2206.00823);
- :func:`laziness`, :class:`Laziness`, :func:`tangent_kernel`, :func:`kernel_alignment`,
  :func:`effective_rank`: rich against lazy learning (weight change, representation and
  tangent-kernel alignment, sign similarity; Liu et al. 2023, arXiv 2310.08513);
- :func:`representation_geometry`: maximum local sensitivity, log volumetric ratio and local
  dimensionality of a representation, and the first-layer bound tying them to sharpness (Chen,
  Recanatesi & Shea-Brown 2023, arXiv 2310.01770);
- :func:`task_accuracy`: accuracy on fresh trials; :func:`plot_loadings`, :func:`plot_truncation`.

Example
-------
>>> import jax
>>> from lowrank_rnn.models import LowRankRNN
>>> from lowrank_rnn.tasks import get_task
>>> model = LowRankRNN(200, 1, 1, 1, key=jax.random.key(0))
>>> new = resample(fit_mixture(model, 1), key=jax.random.key(1))
>>> acc = task_accuracy(new, get_task("rdm"), key=jax.random.key(2), n_trials=64)
"""

from ._curvature import exact_loss as exact_loss
from ._curvature import hessian_eigenvalues as hessian_eigenvalues
from ._epairs import EPAIRSResult as EPAIRSResult
from ._epairs import epairs as epairs
from ._fit import MixtureFit as MixtureFit
from ._fit import fine_tune_mixture as fine_tune_mixture
from ._fit import fit_mixture as fit_mixture
from ._fit import loadings as loadings
from ._fit import resample as resample
from ._fit import singular_values as singular_values
from ._fit import task_accuracy as task_accuracy
from ._fit import truncate as truncate
from ._fixed_points import FixedPoints as FixedPoints
from ._fixed_points import fixed_points as fixed_points
from ._fixed_points import plot_fixed_points as plot_fixed_points
from ._flow import latent_fixed_points as latent_fixed_points
from ._flow import latent_flow_field as latent_flow_field
from ._flow import plot_latent_flow as plot_latent_flow
from ._geometry import ccgp as ccgp
from ._geometry_local import RepresentationGeometry as RepresentationGeometry
from ._geometry_local import representation_geometry as representation_geometry
from ._geometry import participation_ratio as participation_ratio
from ._laziness import Laziness as Laziness
from ._laziness import effective_rank as effective_rank
from ._laziness import kernel_alignment as kernel_alignment
from ._laziness import laziness as laziness
from ._laziness import tangent_kernel as tangent_kernel
from ._latents import Latents as Latents
from ._latents import condition_means as condition_means
from ._latents import latents as latents
from ._plots import plot_loadings as plot_loadings
from ._plots import plot_truncation as plot_truncation

__all__ = ["Latents", "latents", "condition_means", "latent_flow_field", "latent_fixed_points", "plot_latent_flow",
           "truncate", "singular_values", "MixtureFit", "fit_mixture", "loadings", "resample", "task_accuracy",
           "plot_loadings", "plot_truncation", "epairs", "EPAIRSResult",
           "fine_tune_mixture", "participation_ratio", "ccgp",
           "FixedPoints", "fixed_points", "plot_fixed_points", "hessian_eigenvalues", "exact_loss",
           "Laziness", "laziness", "effective_rank", "kernel_alignment", "tangent_kernel",
           "RepresentationGeometry", "representation_geometry"]
