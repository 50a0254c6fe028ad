"""Training networks on tasks: backpropagation through time with optax.

:func:`train` runs whole epochs compiled (a ``lax.scan`` over minibatches), by backpropagation
through time or, with ``method="es"``, by evolution strategies (:class:`OpenES`, :class:`CMAES`,
:class:`PGPE` through evosax, the population scored with ``jax.vmap``), with gradient
clipping, early stopping, keep-best, a validation set, checkpoints and resume, divergence
detection and a progress bar. :data:`RECIPES` holds the published settings of each task
(Dubreuil, Valente et al. 2022) used by ``lowrank-rnn train``; :func:`evaluate` scores a run
folder on fresh trials and draws its psychometric and latent figures (``lowrank-rnn evaluate``).
"""

from ..models._hashnoise import hash_normal as hash_normal
from ._es import CMAES as CMAES
from ._es import PGPE as PGPE
from ._es import OpenES as OpenES
from ._es import get_strategy as get_strategy
from ._evaluate import evaluate as evaluate
from ._evaluate import load_run as load_run
from ._evaluate import plot_latents as plot_latents
from ._recipes import RECIPES as RECIPES
from ._recipes import Recipe as Recipe
from ._recipes import build_model as build_model
from ._recipes import train_recipe as train_recipe
from ._train import train as train

__all__ = ["train", "evaluate", "load_run", "plot_latents", "hash_normal", "RECIPES", "Recipe", "build_model",
           "train_recipe", "OpenES", "CMAES", "PGPE", "get_strategy"]
