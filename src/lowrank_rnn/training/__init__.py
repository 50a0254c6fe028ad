"""Training networks on tasks: one loop, methods as objects.

:func:`train` runs whole epochs compiled (a ``lax.scan`` over minibatches) by the method it is
given: :class:`BPTT` (backpropagation through time, or a local learning rule, with :class:`Adam` or
any optax optimizer) or an evolution strategy, :class:`OpenES`, :class:`CMAES` or :class:`PGPE`
(through evosax, the population scored with ``jax.vmap``); early stopping, a validation set,
keep-best, checkpoints and resume in a run folder (:class:`RunSettings`), divergence detection and
a progress bar. :data:`RECIPES` holds the published settings of each task (Dubreuil, Valente et
al. 2022) used by ``lowrank-rnn train``; :func:`evaluate` scores a run folder on fresh trials and
draws its psychometric and latent figures (``lowrank-rnn evaluate``).
"""

from ..dynamics import hash_normal as hash_normal
from ._es import CMAES as CMAES
from ._es import PGPE as PGPE
from ._es import OpenES as OpenES
from ._es import get_strategy as get_strategy
from ._es import FlatSearch as FlatSearch
from ._es import flat_search as flat_search
from ._checkpoint import claim as claim_run_folder
from ._checkpoint import finish as finish_run
from ._checkpoint import resume_run as resume_run
from ._checkpoint import write_epoch as write_checkpoint
from ._evaluate import evaluate as evaluate
from ._evaluate import load_run as load_run
from ._evaluate import plot_latents as plot_latents
from ._evaluate import register_run_model as register_run_model
from ._evaluate import run_history as run_history
from ._recipes import RECIPES as RECIPES
from ._recipes import Recipe as Recipe
from ._recipes import build_model as build_model
from ._recipes import rate_model as rate_model
from ._recipes import weight_matrices as weight_matrices
from ._recipes import train_recipe as train_recipe
from ._recipes import train_rule as train_rule
from ._setup import Adam as Adam
from ._setup import RunSettings as RunSettings
from ._setup import traced_optimizer as traced_optimizer
from ._setup import traced_transformation as traced_transformation
from ._train import BPTT as BPTT
from ._train import train as train

__all__ = ["train", "BPTT", "Adam", "RunSettings", "OpenES", "CMAES", "PGPE", "get_strategy", "evaluate", "load_run", "run_history",
           "plot_latents", "hash_normal", "RECIPES", "Recipe", "build_model", "train_recipe", "rate_model", "train_rule"]
__all__ += ["flat_search", "FlatSearch"]
__all__ += ["traced_optimizer", "traced_transformation"]
__all__ += ["claim_run_folder", "resume_run", "write_checkpoint", "finish_run"]
__all__ += ["register_run_model"]
