"""Training networks on tasks: backpropagation through time with optax.

:func:`train` runs whole epochs compiled (a ``lax.scan`` over minibatches), with gradient
clipping, early stopping, keep-best, a validation set, checkpoints and resume, divergence
detection and a progress bar. :data:`RECIPES` holds the published settings of each task
(Dubreuil, Valente et al. 2022) used by ``lowrank-rnn train``.
"""

from ..models._hashnoise import hash_normal as hash_normal
from ._recipes import RECIPES as RECIPES
from ._recipes import Recipe as Recipe
from ._recipes import build_model as build_model
from ._recipes import train_recipe as train_recipe
from ._train import train as train

__all__ = ["train", "hash_normal", "RECIPES", "Recipe", "build_model", "train_recipe"]
