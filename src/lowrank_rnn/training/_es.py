"""Evolution strategies: OpenAI-ES, CMA-ES and PGPE through evosax, behind one thin wrapper.

``train(model, task, method=OpenES(...) | PGPE(...) | CMAES(...))`` lands here (:func:`train_es`). The trainable
arrays of the model (``eqx.partition`` with ``model.trainable(...)``) are flattened into one vector
theta of D numbers; a strategy proposes a population theta_1..theta_P around its mean mu; every
member is scored by a *fitness* (lower is better: the task loss by default, or any callable,
differentiable or not, e.g. the error rate ``1 - accuracy``), the whole population at once with
``jax.vmap``; and the strategy moves mu. Each member of a generation sees the same minibatch of
trials and the same network noise (common random numbers), so fitness differences come from the
parameters alone.

Strategies (evosax 0.3 does the updates; only this module touches its interface, which changes
between releases):

* :class:`OpenES`, OpenAI-ES (Salimans et al. 2017, arXiv:1703.03864): antithetic pairs
  ``theta = mu +- sigma eps``, eps ~ N(0, I); centered-rank fitness shaping F_k in [-0.5, 0.5];
  the search-gradient estimate ``g = (1 / (P sigma)) sum_k F_k eps_k`` is handed to an optax
  optimiser (Adam by default) that updates mu.
* :class:`PGPE` (Sehnke et al. 2010, Neural Networks 23:551): antithetic pairs with a per-parameter
  sigma that is itself adapted (``sigma_lr``, at most ``sigma_max_change`` relative change per
  generation); centered ranks; the mean's gradient estimate goes to the optax optimiser.
* :class:`CMAES` (Hansen 2016, arXiv:1604.00772): full covariance adaptation with cumulative
  step-size control and recombination weights; no optimiser. Its D x D covariance and
  eigendecomposition each generation limit it to D <= 5000 parameters.

One *epoch* is one pass over the training trials: ``n_train // batch`` generations, one per
minibatch, all compiled into one ``lax.scan`` (as one BPTT epoch is one scan of minibatch steps).
Progress bar, checkpoints and resume, history, keep-best, early stopping, divergence detection and
the run folder are those of BPTT (:mod:`._loop`, :mod:`._checkpoint`).
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import Any, Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from .._checks import positive_int, real_scalar
from .._errors import ArgumentError, ArgumentTypeError
from ..dynamics import host_words
from ..models import run_trials
from . import _loop
from ._setup import (HISTORY_FIELDS, Adam, Optimizer, Setup, check_optimizer, mean_before, transformation,
                     validation)

STRATEGIES = ("openai_es", "cma_es", "pgpe")
FITNESSES = ("loss", "accuracy")
ES_HISTORY_FIELDS = ("generation", "population_fitness", "sigma")
CMA_MAX_DIMS = 5000


# ------------------------------------------------------------------------------------- strategies
@dataclasses.dataclass(frozen=True)
class _Antithetic:
    """The fields of the strategies that sample antithetic pairs ``mu +- sigma eps`` and move the mean
    with an optimizer: ``popsize`` (even), ``sigma``, and, keyword-only, ``optimizer`` and ``fitness``."""

    popsize: int = 64
    sigma: float = 0.05
    _: dataclasses.KW_ONLY
    optimizer: Optimizer | None = None
    fitness: str | Callable = "loss"

    def __post_init__(self):
        _check_common(self)
        _set(self, "popsize", _even_popsize(self.popsize))
        _set(self, "sigma", real_scalar("sigma", self.sigma, low=0.0, low_open=True))


@dataclasses.dataclass(frozen=True)
class OpenES(_Antithetic):
    """OpenAI-ES: antithetic Gaussian perturbations, centered ranks, an optax optimiser on the mean.

    ``theta_k = mu + sigma eps_k`` and ``mu - sigma eps_k`` (eps_k ~ N(0, I), k = 1..P/2);
    ``g = (1 / (P sigma)) sum_k F_k eps_k`` with ``F_k`` the centered ranks of the fitness in
    [-0.5, 0.5]; ``mu <- optimiser(mu, g)`` (Salimans et al. 2017, arXiv:1703.03864, Algorithm 2).
    ``sigma`` may decay geometrically: ``sigma_t = max(sigma * sigma_decay^t, sigma_min)``.

    Attributes
    ----------
    popsize: population size P, even (antithetic pairs), >= 2.
    sigma: perturbation scale (> 0), in the units of the parameters (loadings are of order 1).
    sigma_decay: factor per generation, in (0, 1] (1: constant sigma).
    sigma_min: floor of the decayed sigma, in [0, sigma].
    optimizer: what moves the mean along the search gradient: :class:`~lowrank_rnn.training.Adam`
        or any optax ``GradientTransformation``; None: ``Adam()`` (lr 1e-2), or the recipe's in
        :func:`~lowrank_rnn.training.train_recipe`.
    fitness: what is minimised: ``"loss"`` (the task loss), ``"accuracy"`` (the error rate
        ``1 - accuracy``) or any ``f(model, trials, key) -> scalar``, differentiable or not.

    >>> OpenES(popsize=32, sigma=0.05).popsize
    32
    """

    sigma_decay: float = 1.0
    sigma_min: float = 0.0
    name = "openai_es"

    def __post_init__(self):
        super().__post_init__()
        _set(self, "sigma_decay", real_scalar("sigma_decay", self.sigma_decay, low=0.0, high=1.0, low_open=True))
        _set(self, "sigma_min", real_scalar("sigma_min", self.sigma_min, low=0.0, high=self.sigma))


@dataclasses.dataclass(frozen=True)
class PGPE(_Antithetic):
    """PGPE: antithetic sampling with an adapted per-parameter sigma and an optax optimiser on the mean.

    With ``d_k = sigma * eps_k`` and symmetric pairs ``mu +- d_k``, the mean's gradient estimate is
    ``sum_k (F_k^+ - F_k^-) d_k / P`` and sigma's is
    ``sum_k (F_k^+ + F_k^- - 2 b) (d_k^2 - sigma^2) / (sigma P)`` (b the mean shaped fitness);
    sigma moves by ``sigma_lr`` times its estimate, by at most ``sigma_max_change`` of itself per
    generation (Sehnke et al. 2010, Neural Networks 23:551, Eqs. 6-9, with centered-rank fitness).

    Attributes
    ----------
    popsize: population size P, even, >= 2.
    sigma: initial perturbation scale (> 0), the same for every parameter.
    sigma_lr: learning rate of sigma (> 0).
    sigma_max_change: largest relative change of sigma per generation, in (0, 1].
    optimizer, fitness: as for :class:`OpenES`.

    >>> PGPE(sigma=0.1).sigma_lr
    0.1
    """

    sigma_lr: float = 0.1
    sigma_max_change: float = 0.2
    name = "pgpe"

    def __post_init__(self):
        super().__post_init__()
        _set(self, "sigma_lr", real_scalar("sigma_lr", self.sigma_lr, low=0.0, low_open=True))
        _set(self, "sigma_max_change", real_scalar("sigma_max_change", self.sigma_max_change, low=0.0, high=1.0,
                                                   low_open=True))


@dataclasses.dataclass(frozen=True)
class CMAES:
    """CMA-ES: a full-covariance Gaussian search distribution, adapted from ranked samples.

    ``theta_k = mu + sigma B D z_k`` (``C = B D^2 B^T``); mu moves to the weighted mean of the
    best half; sigma follows cumulative step-size adaptation and C the rank-one and rank-mu
    updates (Hansen 2016, arXiv:1604.00772, Eqs. 38-47, negative weights included). No optimiser:
    the mean moves by recombination.

    Attributes
    ----------
    popsize: population size P (>= 2); None: Hansen's default ``4 + floor(3 ln D)``.
    sigma: initial step size (> 0).
    fitness: as for :class:`OpenES`.

    >>> CMAES(sigma=0.1).popsize is None
    True
    """

    popsize: int | None = None
    sigma: float = 0.05
    _: dataclasses.KW_ONLY
    fitness: str | Callable = "loss"
    name = "cma_es"
    optimizer = None  # the mean moves by recombination

    def __post_init__(self):
        _check_common(self)
        if self.popsize is not None:
            _set(self, "popsize", positive_int("popsize", self.popsize, low=2))
        _set(self, "sigma", real_scalar("sigma", self.sigma, low=0.0, low_open=True))


Strategy = OpenES | PGPE | CMAES
_CLASSES = {"openai_es": OpenES, "cma_es": CMAES, "pgpe": PGPE}


def _set(obj, name, value):
    object.__setattr__(obj, name, value)


def _check_common(strategy) -> None:
    """Check the ``fitness`` and ``optimizer`` fields of a strategy."""
    fitness = strategy.fitness
    if not callable(fitness) and fitness not in FITNESSES:
        raise ArgumentError(f"fitness must be 'loss', 'accuracy' (minimises 1 - accuracy) or a callable "
                            f"f(model, trials, key) -> scalar, got {fitness!r}")
    if strategy.optimizer is not None:
        check_optimizer(strategy.optimizer)


def _even_popsize(popsize) -> int:
    popsize = positive_int("popsize", popsize, low=2)
    if popsize % 2:
        raise ArgumentError(f"popsize must be even (antithetic pairs mu +- sigma eps), got {popsize}")
    return popsize


def get_strategy(strategy: str | Strategy = "openai_es", *, popsize: int | None = None,
                 sigma: float | None = None, fitness: str | Callable | None = None) -> Strategy:
    """Return the strategy object named ``strategy`` (or ``strategy`` itself), with ``popsize``,
    ``sigma`` and ``fitness`` overriding its defaults; every hyperparameter checked.

    ``strategy`` is one of ``"openai_es"`` (:class:`OpenES`), ``"cma_es"`` (:class:`CMAES`) or
    ``"pgpe"`` (:class:`PGPE`), or an instance of one of them.

    >>> get_strategy("pgpe", popsize=16).popsize
    16
    """
    if isinstance(strategy, str):
        if strategy not in _CLASSES:
            raise ArgumentError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        strategy = _CLASSES[strategy]()
    elif not isinstance(strategy, (OpenES, PGPE, CMAES)):
        raise ArgumentTypeError(f"strategy must be a name ({', '.join(STRATEGIES)}) or an OpenES, CMAES or PGPE, "
                        f"got {type(strategy).__name__}")
    changes = {k: v for k, v in (("popsize", popsize), ("sigma", sigma), ("fitness", fitness)) if v is not None}
    return dataclasses.replace(strategy, **changes) if changes else strategy


def _resolve(strategy: Strategy, num_dims: int) -> Strategy:
    """Return ``strategy`` with a concrete population size for ``num_dims`` parameters (checked)."""
    if isinstance(strategy, CMAES):
        if num_dims > CMA_MAX_DIMS:
            raise ArgumentError(f"cma_es keeps a D x D covariance and decomposes it every generation; this model "
                             f"trains D = {num_dims} parameters (> {CMA_MAX_DIMS}): use openai_es or pgpe, or "
                             "train fewer arrays (trainable=...)")
        if strategy.popsize is None:
            return dataclasses.replace(strategy, popsize=4 + int(math.floor(3 * math.log(num_dims))))
    return strategy


def _algorithm(strategy: Strategy, num_dims: int, hyper: dict | None = None):
    """Return the evosax algorithm and its parameters for a flat solution of ``num_dims`` numbers.

    With ``hyper`` (from :func:`_traced`), sigma, sigma_min, PGPE's sigma_lr and sigma_max_change
    and Adam's lr and clip are read from its arrays, not from ``strategy``: a compiled epoch then
    serves every value of them.

    The only place that speaks evosax (0.3.x): ``Open_ES``, ``PGPE`` and ``CMA_ES`` of
    ``evosax.algorithms``, each minimising; Open_ES and PGPE shape the fitness by centered ranks.
    """
    # imported here: evosax takes about a second to import, which backpropagation runs need not pay
    from evosax.algorithms import CMA_ES, Open_ES
    from evosax.algorithms import PGPE as EvosaxPGPE

    def value(name):
        return hyper[name] if hyper is not None and name in hyper else getattr(strategy, name)

    def optimizer():
        if hyper is not None and "lr" in hyper:
            return strategy.optimizer.transformation(lr=hyper["lr"])
        return transformation(strategy.optimizer)

    solution = jnp.zeros((num_dims,), jnp.float32)
    if isinstance(strategy, OpenES):
        if strategy.sigma_decay == 1.0:
            schedule = optax.constant_schedule(value("sigma"))
        else:
            schedule = optax.exponential_decay(value("sigma"), 1, strategy.sigma_decay,
                                               end_value=value("sigma_min"))
        es = Open_ES(strategy.popsize, solution, use_antithetic_sampling=True, optimizer=optimizer(),
                     std_schedule=schedule)
        return es, es.default_params
    if isinstance(strategy, PGPE):
        es = EvosaxPGPE(strategy.popsize, solution, optimizer=optimizer())
        params = es.default_params.replace(std_init=value("sigma"), std_lr=value("sigma_lr"),
                                           std_max_change=value("sigma_max_change"))
        return es, params
    es = CMA_ES(strategy.popsize, solution)
    return es, es.default_params.replace(std_init=jnp.asarray(value("sigma"), jnp.float32))


#: the continuous hyperparameters of each strategy, traced in the compiled epoch (:func:`_traced`)
_TRACED = {OpenES: ("sigma", "sigma_min"), PGPE: ("sigma", "sigma_lr", "sigma_max_change"), CMAES: ("sigma",)}


def _traced(strategy: Strategy) -> tuple[Strategy, dict]:
    """Return ``(form, hyper)``: what the compiled epoch specialises on, and the arrays it reads.

    ``form`` is ``strategy`` with its continuous hyperparameters (:data:`_TRACED`) set to None and
    its :class:`~lowrank_rnn.training.Adam`'s learning rate to 1; ``hyper`` holds their values as
    float32 arrays (``"lr"`` for an Adam; another optax transformation stays in ``form``). Two
    strategies that differ only in these values share one compilation. Adam's ``clip`` stays in
    ``form``: traced, it changed the trained arrays in the last bit (XLA arranges the clipped update
    differently when the norm is not a constant), and a strategy's results must not depend on
    whether its epoch was compiled before.
    """
    form = dataclasses.replace(strategy)  # a copy; its fields are set below without the checks
    hyper = {name: jnp.asarray(getattr(strategy, name), jnp.float32) for name in _TRACED[type(strategy)]}
    for name in hyper:
        _set(form, name, None)
    if isinstance(strategy.optimizer, Adam):
        hyper["lr"] = jnp.asarray(strategy.optimizer.lr, jnp.float32)
        _set(form, "optimizer", dataclasses.replace(strategy.optimizer, lr=1.0))
    return form, hyper


def _strong(tree):
    """Return ``tree`` with every array of a fixed ("strong") type: a strategy's init returns weakly
    typed scalars, which a generation makes strong, and an epoch compiled on the first would compile
    again on the second."""
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, x.dtype), tree)


def strategy_config(strategy: Strategy) -> dict:
    """Return the strategy as a JSON-ready dict (name and the hyperparameters of the search; the
    optimizer and the fitness are recorded beside it)."""
    return {"name": strategy.name, **{f.name: getattr(strategy, f.name) for f in dataclasses.fields(strategy)
                                      if f.name not in ("optimizer", "fitness")}}


# ------------------------------------------------------------------------------------- fitness
def _fitness_fn(fitness, task, noise_rng) -> Callable:
    """Return ``f(model, trials, key) -> scalar`` (lower is better) for a fitness name or callable."""
    if callable(fitness):
        return fitness

    def score(model, trials, key):
        outputs = run_trials(model, trials.inputs, key=key, noise_rng=noise_rng)
        if fitness == "accuracy":
            return 1.0 - task.accuracy(outputs, trials)
        return task.loss(outputs, trials)

    return score


def _population_fitness(fitness, task, noise_rng, unravel, frozen, static) -> Callable:
    """Return ``f(thetas (P, D), trials, key) -> (P,)``: every member's fitness, by ``jax.vmap``,
    each member on the same trials with the same network noise."""
    score = _fitness_fn(fitness, task, noise_rng)

    def member_fitness(theta, trials, k):
        return jnp.asarray(score(eqx.combine(unravel(theta), frozen, static), trials, k), jnp.float32)

    return jax.vmap(member_fitness, in_axes=(0, None, None))


# ------------------------------------------------------------------------------------- compiled pieces
@partial(jax.jit, static_argnames=("strategy",))
def _es_init(key, mean, hyper, *, strategy):
    es, ep = _algorithm(strategy, mean.shape[0], hyper)
    return _strong(es.init(key, mean, ep))


@partial(jax.jit, static_argnames=("static", "strategy", "task", "n_batches", "batch", "noise_rng"))
def _es_epoch(es_state, params, frozen, train_set, val_set, order, words, ask_words, hyper, *, static, strategy,
              task, n_batches, batch, noise_rng):
    """One epoch of evolution, compiled: ``n_batches`` generations in one ``lax.scan``, then validation.

    ``params`` gives only the structure of the trainable arrays (to unflatten the mean). ``order``
    and ``words`` are BPTT's minibatch order and noise seeds of the epoch (:func:`~._setup.epoch_streams`,
    hashed on the host), ``ask_words`` the seeds of the population draws, ``hyper`` the traced
    hyperparameters of ``strategy`` (:func:`_traced`).
    Returns (evosax state, trainable arrays at the mean, statistics).
    """
    es, ep = _algorithm(strategy, es_state.mean.shape[0], hyper)
    _, unravel = ravel_pytree(params)
    population_fitness = _population_fitness(strategy.fitness, task, noise_rng, unravel, frozen, static)
    keys = jax.random.wrap_key_data(words, impl="threefry2x32")  # a reinterpretation, no Threefry call
    ask_keys = jax.random.wrap_key_data(ask_words, impl="threefry2x32")

    def generation(carry, inp):
        state, bad = carry
        i, idx, k_noise, k_ask = inp
        k_tell = k_ask  # the three strategies draw nothing in tell
        trials = train_set[idx]
        pop, asked = es.ask(k_ask, state, ep)
        # the mean is scored beside its population (one more vmapped member): the training loss
        f = population_fitness(jnp.concatenate([pop, state.mean[None]]), trials, k_noise)
        f_pop, f_mean = f[:-1], f[-1]
        finite = jnp.isfinite(f_pop)
        # a member whose fitness is NaN or inf ranks last; it does not stop the run
        new, _ = es.tell(k_tell, pop, jnp.where(finite, f_pop, jnp.inf), asked, ep)
        ok = ((bad < 0) & jnp.isfinite(f_mean) & jnp.any(finite) & jnp.all(jnp.isfinite(new.mean))
              & jnp.all(jnp.isfinite(new.std)))
        new = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, state)
        bad = jnp.where((bad < 0) & ~ok, i, bad)
        pop_mean = jnp.sum(jnp.where(finite, f_pop, 0.0)) / jnp.maximum(jnp.sum(finite), 1)
        return (new, bad), (f_mean, pop_mean)

    steps = (jnp.arange(n_batches, dtype=jnp.int32), order, keys[:n_batches], ask_keys)
    (es_state, bad), (f_means, pop_means) = jax.lax.scan(generation, (es_state, jnp.int32(-1)), steps)
    params = unravel(es_state.mean)
    stats = {"train_loss": mean_before(f_means, bad), "population_fitness": mean_before(pop_means, bad),
             "sigma": jnp.mean(es_state.std), "bad_batch": bad,
             **validation(params, frozen, static, val_set, keys[n_batches], task=task, noise_rng=noise_rng)}
    return es_state, params, stats


# ------------------------------------------------------------------------------------- the loop
def _fitness_name(fitness) -> str:
    if fitness is None or isinstance(fitness, str):
        return fitness or "loss"
    return f"callable:{getattr(fitness, '__module__', '?')}.{getattr(fitness, '__qualname__', type(fitness).__name__)}"


def train_es(setup: Setup, strategy: Strategy) -> tuple[Any, dict[str, list]]:
    """Return the model and history after evolution strategies; called by :func:`train` after its checks."""
    params, frozen = setup.params, setup.frozen
    flat, _ = ravel_pytree(params)
    flat = jnp.asarray(flat, jnp.float32)
    strategy = _resolve(strategy, int(flat.shape[0]))
    if not isinstance(strategy, CMAES) and strategy.optimizer is None:
        strategy = dataclasses.replace(strategy, optimizer=check_optimizer(None))
    n_batches = setup.n_batches
    fields = HISTORY_FIELDS + ES_HISTORY_FIELDS
    config = setup.config({"method": "es", "strategy": strategy_config(strategy),
                           "fitness": _fitness_name(strategy.fitness), "num_params": int(flat.shape[0]),
                           "generations_per_epoch": n_batches}, strategy.optimizer)
    form, hyper = _traced(strategy)
    es_state = _es_init(jax.random.split(setup.key)[1], flat, hyper, strategy=form)
    run_epoch = partial(_es_epoch, hyper=hyper, static=setup.static, strategy=form, task=setup.task, n_batches=n_batches,
                        batch=setup.batch, noise_rng=setup.noise_rng)
    seed = setup.seed
    gens = np.arange(n_batches, dtype=np.uint32)

    def epoch_fn(epoch, params, es_state, train_set, val_set):
        # the minibatch order and network noise of BPTT's epoch for this key; tags 5, 6: the population draws
        order, words = setup.streams(epoch)
        ask_words = np.stack([host_words(seed, 5, epoch, gens), host_words(seed, 6, epoch, gens)], axis=1)
        es_state, params, stats = run_epoch(es_state, params, frozen, train_set, val_set, order, words, ask_words)
        return params, es_state, stats

    def diverged(epoch, bad, where):
        return (f"evolution diverged: in epoch {epoch + 1}, generation {bad + 1} of "
                f"{n_batches}, the fitness of the mean or of every member, or the updated mean or sigma, "
                f"became non-finite{where}. Lower sigma or the learning rate, or reduce the noise.")

    def extra(stats, epoch):
        return {"generation": (epoch + 1) * n_batches, "population_fitness": float(stats["population_fitness"]),
                "sigma": float(stats["sigma"])}

    return _loop.run_epochs(setup, epoch_fn, params, es_state, config=config, fields=fields,
                            desc=f"es {strategy.name} {config['task'].get('name', '')}", diverged=diverged,
                            extra=extra)


# ------------------------------------------------------------------------------------- a flat search
@dataclasses.dataclass(frozen=True)
class FlatSearch:
    """One of the strategies on a flat vector of ``num_dims`` parameters, one generation at a time.

    The same evosax algorithms and the same rules as :func:`~lowrank_rnn.training.train` with an
    evolution strategy, for problems that are not a task of trials (a neural ODE fitted to
    trajectories, say): each generation asks for a population ``theta_1..theta_P`` around the mean
    mu, scores it together with mu itself by ``fitness(thetas (P + 1, D)) -> (P + 1,)`` (lower is
    better, the mean in the last row), ranks a member whose fitness is NaN or inf last, and moves mu.
    A generation whose mean scores non-finite, whose members all do, or whose update is non-finite
    leaves the state unchanged and reports ``ok = False``. Build it with :func:`flat_search`.

    Attributes
    ----------
    strategy: the resolved :class:`OpenES`, :class:`PGPE` or :class:`CMAES` (concrete popsize and optimizer).
    num_dims: D, the length of the parameter vector.

    >>> import jax, jax.numpy as jnp
    >>> search = flat_search(OpenES(popsize=8, sigma=0.1), 3)
    >>> state = search.init(jax.random.key(0), jnp.ones(3))
    >>> state, f_pop, f_mean, ok = search.generation(state, jax.random.key(1), lambda th: jnp.sum(th ** 2, axis=1))
    >>> f_pop.shape, float(f_mean), bool(ok)
    ((8,), 3.0, True)
    """

    strategy: Strategy
    num_dims: int

    @property
    def popsize(self) -> int:
        """P, the number of members scored each generation besides the mean."""
        return int(self.strategy.popsize)

    def init(self, key, theta0):
        """Return the strategy's state with its mean at ``theta0`` (D numbers, stored as float32).

        Every array of the state has a fixed ("strong") type, as after :meth:`generation`: a step
        compiled on the initial state serves the later ones (with the weakly typed scalars that the
        strategy's own init returns, the second generation compiled the step again)."""
        es, ep = _algorithm(self.strategy, self.num_dims)
        return _strong(es.init(key, jnp.asarray(theta0, jnp.float32).reshape(self.num_dims), ep))

    def generation(self, state, key, fitness: Callable):
        """Return ``(state, f_pop (P,), f_mean, ok)`` after one generation; traceable (jit, scan)."""
        es, ep = _algorithm(self.strategy, self.num_dims)
        pop, asked = es.ask(key, state, ep)
        f = jnp.asarray(fitness(jnp.concatenate([pop, state.mean[None]])), jnp.float32)
        f_pop, f_mean = f[:-1], f[-1]
        finite = jnp.isfinite(f_pop)
        new, _ = es.tell(key, pop, jnp.where(finite, f_pop, jnp.inf), asked, ep)  # tell draws nothing
        ok = (jnp.isfinite(f_mean) & jnp.any(finite) & jnp.all(jnp.isfinite(new.mean))
              & jnp.all(jnp.isfinite(new.std)))
        new = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, state)
        return new, f_pop, f_mean, ok

    @staticmethod
    def mean(state):
        """Return the mean mu of the search distribution (D numbers)."""
        return state.mean

    @staticmethod
    def sigma(state):
        """Return the search distribution's mean standard deviation (sigma)."""
        return jnp.mean(state.std)


def flat_search(strategy: Strategy, num_dims: int) -> FlatSearch:
    """Return a :class:`FlatSearch`: ``strategy`` on a flat vector of ``num_dims`` parameters.

    CMA-ES gets Hansen's default population for ``num_dims`` when its popsize is None (and refuses
    more than 5000 parameters); OpenES and PGPE get ``Adam()`` when their optimizer is None.

    >>> flat_search(CMAES(sigma=0.1), 10).popsize
    10
    """
    if not isinstance(strategy, (OpenES, PGPE, CMAES)):
        raise ArgumentTypeError(f"strategy must be an OpenES, CMAES or PGPE, got {type(strategy).__name__}")
    num_dims = positive_int("num_dims", num_dims)
    strategy = _resolve(strategy, num_dims)
    if not isinstance(strategy, CMAES) and strategy.optimizer is None:
        strategy = dataclasses.replace(strategy, optimizer=check_optimizer(None))
    return FlatSearch(strategy, num_dims)
