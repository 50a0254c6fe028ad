"""Neural ODEs (an MLP vector field solved by diffrax), trajectory data sets, and their training by
backpropagation through the solver or by an evolution strategy: the neural-ODE problems of Hazelden
et al. 2023 (arXiv:2311.10869)."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from scipy.integrate import solve_ivp
from tqdm.auto import tqdm

from .._checks import float_dtype, is_concrete, positive_int, prng_key, real_scalar
from .._errors import ArgumentError, ArgumentTypeError, DivergenceError
from ..training import BPTT, CMAES, PGPE, Adam, OpenES, flat_search, traced_optimizer, traced_transformation

#: The activations of the MLP vector field, by name.
ACTIVATIONS: dict[str, Callable] = {"tanh": jnp.tanh, "gelu": jax.nn.gelu, "relu": jax.nn.relu,
                                    "softplus": jax.nn.softplus, "elu": jax.nn.elu}
#: The solvers: explicit adaptive Runge-Kutta (``"tsit5"``, ``"dopri5"``) or L-stable implicit (``"kvaerno5"``).
SOLVERS = ("tsit5", "dopri5", "kvaerno5")
HISTORY_FIELDS = ("step", "loss", "forward_passes", "grad_norm", "nonfinite_grads", "population_fitness", "sigma")


def check_times(name: str, t: Any, *, low: float | None = None, min_len: int = 1) -> np.ndarray:
    """Return ``t`` as a float64 array after checking it is 1-D, finite, strictly increasing, >= ``low``
    (None: any), with at least ``min_len`` entries."""
    if isinstance(t, jax.Array) and not is_concrete(t):
        raise ArgumentTypeError(f"{name} must hold values (a NumPy or concrete JAX array), not a traced array")
    try:
        arr = np.asarray(t)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{name} must be a 1-D array of times") from None
    if arr.dtype.kind not in "iuf":
        raise ArgumentTypeError(f"{name} must be an array of real times, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.ndim != 1 or arr.size < min_len:
        raise ArgumentError(f"{name} must be a 1-D array of at least {min_len} times, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ArgumentError(f"{name} contains non-finite values (NaN or inf)")
    if np.any(np.diff(arr) <= 0):
        i = int(np.argmax(np.diff(arr) <= 0))
        raise ArgumentError(f"{name} must be strictly increasing, but {name}[{i + 1}] = {arr[i + 1]} <= "
                            f"{name}[{i}] = {arr[i]}")
    if low is not None and arr[0] < low:
        raise ArgumentError(f"{name} must be >= {low}, got {name}[0] = {arr[0]}")
    return arr


# ------------------------------------------------------------------------------------- data
@dataclasses.dataclass(frozen=True, eq=False)
class ODEData:
    r"""Trajectories that a neural ODE learns: scaled states $\hat y$ on a time grid, from several
    initial conditions, and the map back to physical units.

    The states are stored scaled, $\hat y = (y - \mathrm{offset}) / \mathrm{scale}$ per component;
    the model's time ``t`` is either physical time (``time="linear"``) or
    $s = \log_{10}(t_\mathrm{physical} / t_\mathrm{ref})$ (``time="log10"``). Made by
    :func:`oscillator_data` and :func:`rober_data`.

    Attributes
    ----------
    name: a label.
    t: (T,) the model's times, strictly increasing.
    ys: (B, T, dim) scaled states of B trajectories; ``ys[:, 0]`` are the initial conditions.
    offset, scale: (dim,) the scaling, scale > 0.
    t_physical: (T,) the physical times.
    time: ``"linear"`` or ``"log10"``.
    t_ref: the reference time of the log time.

    >>> import numpy as np
    >>> d = ODEData("line", np.arange(3.0), np.zeros((1, 3, 2)), np.zeros(2), np.ones(2), np.arange(3.0))
    >>> d.y0.shape, d.dim
    ((1, 2), 2)
    """

    name: str
    t: np.ndarray
    ys: np.ndarray
    offset: np.ndarray
    scale: np.ndarray
    t_physical: np.ndarray
    time: str = "linear"
    t_ref: float = 1.0

    def __post_init__(self):
        t = check_times("t", self.t, min_len=2)
        ys = np.asarray(self.ys, np.float64)
        if ys.ndim != 3 or ys.shape[1] != t.size:
            raise ArgumentError(f"ys must have shape (trajectories, len(t) = {t.size}, dim), got {ys.shape}")
        if not np.all(np.isfinite(ys)):
            raise ArgumentError("ys contains non-finite values (NaN or inf)")
        offset = np.asarray(self.offset, np.float64)
        scale = np.asarray(self.scale, np.float64)
        if offset.shape != (ys.shape[2],) or scale.shape != (ys.shape[2],):
            raise ArgumentError(f"offset and scale must have shape ({ys.shape[2]},), got {offset.shape} and {scale.shape}")
        if not np.all(scale > 0):
            raise ArgumentError(f"scale must be > 0, got {scale}")
        if self.time not in ("linear", "log10"):
            raise ArgumentError(f"time must be 'linear' or 'log10', got {self.time!r}")
        for name, value in (("t", t), ("ys", ys), ("offset", offset), ("scale", scale),
                            ("t_physical", np.asarray(self.t_physical, np.float64))):
            object.__setattr__(self, name, value)

    @property
    def y0(self) -> np.ndarray:
        """(B, dim) the scaled initial conditions."""
        return self.ys[:, 0]

    @property
    def dim(self) -> int:
        """The dimension of the state."""
        return int(self.ys.shape[2])

    @property
    def n_traj(self) -> int:
        """B, the number of trajectories."""
        return int(self.ys.shape[0])

    def unscale(self, ys) -> np.ndarray:
        r"""Return scaled states in physical units, $y = \mathrm{offset} + \mathrm{scale}\,\hat y$."""
        return self.offset + self.scale * np.asarray(ys, np.float64)

    def rescale(self, y) -> np.ndarray:
        r"""Return physical states scaled, $\hat y = (y - \mathrm{offset}) / \mathrm{scale}$."""
        return (np.asarray(y, np.float64) - self.offset) / self.scale


def _van_der_pol(t, y, mu):
    return np.array([y[1], mu * (1.0 - y[0] ** 2) * y[1] - y[0]])


def oscillator_data(n_traj: int = 8, n_times: int = 25, *, key, t_max: float = 5.0, mu: float = 1.0,
                    box: float = 2.5) -> ODEData:
    r"""Return trajectories of the Van der Pol oscillator from random initial conditions: the
    low-dimensional nonlinear problem ("general neural ODE problem") of Hazelden et al. 2023.

    $$\dot x = v,\qquad \dot v = \mu (1 - x^2) v - x,$$

    a limit cycle of amplitude about 2 for $\mu = 1$ (van der Pol 1926). ``n_traj`` initial
    conditions uniform in $[-\mathrm{box}, \mathrm{box}]^2$ (drawn with ``key``), each solved in
    float64 by scipy's DOP853 (rtol 1e-10, atol 1e-12) and sampled at ``n_times`` equally spaced
    times in $[0, t_\mathrm{max}]$. Each coordinate is scaled by its largest magnitude over the
    data (offset 0), so the states lie in [-1, 1].

    Parameters
    ----------
    n_traj : number of trajectories (>= 1).
    n_times : number of times per trajectory (>= 2).
    key : a ``jax.random`` key for the initial conditions.
    t_max : last time (> 0).
    mu : the damping parameter (>= 0; 0 is the harmonic oscillator).
    box : half-width of the box of initial conditions (> 0).

    Returns
    -------
    ODEData

    Examples
    --------
    >>> import jax
    >>> data = oscillator_data(4, 10, key=jax.random.key(0))
    >>> data.ys.shape, float(abs(data.ys).max())
    ((4, 10, 2), 1.0)
    """
    n_traj = positive_int("n_traj", n_traj)
    n_times = positive_int("n_times", n_times, low=2)
    key = prng_key("key", key)
    t_max = real_scalar("t_max", t_max, low=0.0, low_open=True)
    mu = real_scalar("mu", mu, low=0.0)
    box = real_scalar("box", box, low=0.0, low_open=True)
    y0s = np.asarray(jax.random.uniform(key, (n_traj, 2), minval=-box, maxval=box), np.float64)
    t = np.linspace(0.0, t_max, n_times)
    ys = np.stack([solve_ivp(_van_der_pol, (0.0, t_max), y0, method="DOP853", t_eval=t, args=(mu,), rtol=1e-10,
                             atol=1e-12).y.T for y0 in y0s])
    scale = np.abs(ys).max(axis=(0, 1))
    return ODEData(name="van_der_pol", t=t, ys=ys / scale, offset=np.zeros(2), scale=scale, t_physical=t)


# ------------------------------------------------------------------------------------- the model
class NeuralODE(eqx.Module):
    r"""A neural ODE: $\dot y = f_\theta(y)$ with $f_\theta$ an MLP, solved by diffrax (Chen et al.
    2018, "Neural ordinary differential equations", NeurIPS, arXiv:1806.07366).

    $f_\theta$ maps $\mathbb{R}^\mathrm{dim} \to \mathbb{R}^\mathrm{dim}$ through ``depth`` hidden
    layers of ``width`` units with ``activation`` (equinox's ``MLP``, its default initialisation):
    $f_\theta(y) = W_{L} \sigma(\dots \sigma(W_1 y + b_1) \dots) + b_L$. Widths from a few units to
    hundreds span the small to over-parameterised models of Hazelden et al. 2023
    (arXiv:2311.10869). ``model(y0, t)`` solves from $y(t_0) = y_0$ and returns $y$ at every time
    of ``t``:

    * ``solver="tsit5"`` (default; Tsitouras 2011) or ``"dopri5"``: explicit adaptive Runge-Kutta
      with a PID step-size controller (``rtol``, ``atol``);
    * ``solver="kvaerno5"``: an L-stable ESDIRK method (Kværnø 2004) for stiff fields, with the
      PID coefficients diffrax advises for implicit solvers.

    Gradients go through the solver by diffrax's recursive checkpointed adjoint (discretise then
    optimise). A solve that does not finish in ``max_steps`` steps returns NaN (see
    :meth:`solve` for its success flag) rather than raising, so a population of evolution
    strategies can rank it last. ``dtype=jnp.float64`` needs JAX's 64-bit mode.

    Parameters
    ----------
    dim : dimension of the state (>= 1).
    width, depth : units per hidden layer and number of hidden layers (>= 1 each).
    key : ``jax.random`` key of the initial weights.
    activation : one of ``"tanh"``, ``"gelu"``, ``"relu"``, ``"softplus"``, ``"elu"``.
    solver : one of ``"tsit5"``, ``"dopri5"``, ``"kvaerno5"``.
    rtol, atol : tolerances of the step-size controller.
    max_steps : the most steps of one solve.
    dtype : the parameters' floating dtype (None: JAX's default).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> model = NeuralODE(2, 8, 2, key=jax.random.key(0))
    >>> model(jnp.array([1.0, 0.0]), jnp.linspace(0.0, 1.0, 5)).shape
    (5, 2)
    """

    mlp: eqx.nn.MLP
    dim: int = eqx.field(static=True)
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    activation: str = eqx.field(static=True)
    solver: str = eqx.field(static=True)
    rtol: float = eqx.field(static=True)
    atol: float = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)

    def __init__(self, dim: int, width: int, depth: int, *, key, activation: str = "tanh", solver: str = "tsit5",
                 rtol: float = 1e-5, atol: float = 1e-7, max_steps: int = 4096, dtype=None):
        self.dim = positive_int("dim", dim)
        self.width = positive_int("width", width)
        self.depth = positive_int("depth", depth)
        key = prng_key("key", key)
        if not isinstance(activation, str) or activation not in ACTIVATIONS:
            raise ArgumentError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        if not isinstance(solver, str) or solver not in SOLVERS:
            raise ArgumentError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
        self.activation, self.solver = activation, solver
        self.rtol = real_scalar("rtol", rtol, low=0.0, high=1.0, low_open=True)
        self.atol = real_scalar("atol", atol, low=0.0, high=1.0, low_open=True)
        self.max_steps = positive_int("max_steps", max_steps)
        dtype = None if dtype is None else float_dtype("dtype", dtype)
        self.mlp = eqx.nn.MLP(self.dim, self.dim, self.width, self.depth, activation=ACTIVATIONS[activation],
                              key=key, dtype=dtype)

    @property
    def dtype(self):
        """The floating dtype of the parameters."""
        return self.mlp.layers[0].weight.dtype

    @property
    def num_params(self) -> int:
        """The number of trainable parameters."""
        return int(sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(self, eqx.is_inexact_array))))

    def vector_field(self, y):
        r"""Return $f_\theta(y)$ for one state ``y`` of shape (dim,)."""
        return self.mlp(y)

    def solve(self, y0, t):
        """Return ``(ys, ok)``: the states at the times ``t`` (len(t), dim), from ``y0`` at ``t[0]``,
        and whether the solver succeeded (False: it took ``max_steps`` steps or its step size
        collapsed; ``ys`` then holds inf past the last time reached)."""
        if is_concrete(t):
            check_times("t", t, min_len=2)
        if is_concrete(y0) and np.shape(y0) != (self.dim,):
            raise ArgumentError(f"y0 must have shape ({self.dim},), got {np.shape(y0)}")
        t = jnp.asarray(t, self.dtype)
        y0 = jnp.asarray(y0, self.dtype)
        if self.solver == "kvaerno5":
            solver = diffrax.Kvaerno5()
            controller = diffrax.PIDController(rtol=self.rtol, atol=self.atol, pcoeff=0.3, icoeff=0.4)
        else:
            solver = diffrax.Tsit5() if self.solver == "tsit5" else diffrax.Dopri5()
            controller = diffrax.PIDController(rtol=self.rtol, atol=self.atol)
        mlp = self.mlp
        sol = diffrax.diffeqsolve(diffrax.ODETerm(lambda s, y, args: mlp(y)), solver, t0=t[0], t1=t[-1], dt0=None,
                                  y0=y0, saveat=diffrax.SaveAt(ts=t), stepsize_controller=controller,
                                  max_steps=self.max_steps, throw=False,
                                  adjoint=diffrax.RecursiveCheckpointAdjoint())
        return sol.ys, sol.result == diffrax.RESULTS.successful

    def __call__(self, y0, t):
        """Return the states at the times ``t`` (len(t), dim) from ``y0`` at ``t[0]``; NaN where the
        solve failed."""
        ys, ok = self.solve(y0, t)
        return jnp.where(ok, ys, jnp.nan)


def _loss(model: NeuralODE, t, y0, ys):
    """Mean squared error over trajectories, times and components; inf when a solve failed."""
    pred, ok = jax.vmap(model.solve, in_axes=(0, None))(y0, t)
    return jnp.where(jnp.all(ok), jnp.mean((pred - ys) ** 2), jnp.inf)


def _arrays(model: NeuralODE, data: ODEData):
    dtype = model.dtype
    return jnp.asarray(data.t, dtype), jnp.asarray(data.y0, dtype), jnp.asarray(data.ys, dtype)


def _check_pair(model, data):
    if not isinstance(model, NeuralODE):
        raise ArgumentTypeError(f"model must be a NeuralODE, got {type(model).__name__}")
    if not isinstance(data, ODEData):
        raise ArgumentTypeError(f"data must be an ODEData (oscillator_data, rober_data), got {type(data).__name__}")
    if data.dim != model.dim:
        raise ArgumentError(f"data has states of dimension {data.dim} but the model's dim is {model.dim}")


def neural_ode_loss(model: NeuralODE, data: ODEData) -> float:
    r"""Return the mean squared error of ``model`` on ``data``: $\frac{1}{B T d}\sum_{b,k,i}
    (\hat y^{\theta}_{b,i}(t_k) - \hat y_{b,i}(t_k))^2$ in the data's scaled units, each trajectory
    solved from its first state; inf when a solve fails.

    >>> import jax
    >>> data = oscillator_data(2, 5, key=jax.random.key(0))
    >>> model = NeuralODE(2, 4, 1, key=jax.random.key(1))
    >>> neural_ode_loss(model, data) > 0
    True
    """
    _check_pair(model, data)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    return float(_loss_jit(params, static, _arrays(model, data)))


# ------------------------------------------------------------------------------------- training
# Module-level compiled steps: the parts that do not change between runs (the model's structure and
# static fields, Adam's form or another optimizer, the strategy) are static arguments, so runs of the
# same shapes share one compilation.
@eqx.filter_jit
def _loss_jit(params, static, arrays):
    return _loss(eqx.combine(params, static), *arrays)


@eqx.filter_jit
def _bp_step(params, state, static, arrays, optimizer, hyper):
    """One step of backpropagation through the solver; a non-finite loss or gradient is not applied.
    ``optimizer, hyper``: Adam's form and ``[lr, clip]`` (one compilation for every learning rate and
    clip), or an optax transformation and None (:func:`~lowrank_rnn.training.traced_optimizer`)."""
    tx = traced_transformation(optimizer, hyper)
    loss, grads = jax.value_and_grad(lambda p: _loss(eqx.combine(p, static), *arrays))(params)
    gnorm = optax.tree.norm(grads)
    ok = jnp.isfinite(loss) & jnp.isfinite(gnorm)
    updates, new_state = tx.update(grads, state, params)
    new_params = optax.apply_updates(params, updates)
    keep = lambda a, b: jnp.where(ok, a, b)  # noqa: E731
    new_params = jax.tree_util.tree_map(keep, new_params, params)
    new_state = jax.tree_util.tree_map(keep, new_state, state)
    return new_params, new_state, {"loss": loss, "grad_norm": gnorm, "ok": ok, "population_fitness": jnp.nan,
                                   "sigma": jnp.nan}


@eqx.filter_jit
def _es_step(params, state, static, arrays, key, search, fitness, data):
    """One generation of ``search``: the population and the mean scored on the loss (or ``fitness``)."""
    flat, unravel = ravel_pytree(params)

    def member(theta, k):
        member_params = unravel(jnp.asarray(theta, flat.dtype))
        if fitness is not None:
            return jnp.asarray(fitness(eqx.combine(member_params, static), data, k), jnp.float32)
        return _loss(eqx.combine(member_params, static), *arrays)

    k_ask, k_fit = jax.random.split(key)
    state, f_pop, f_mean, ok = search.generation(state, k_ask,
                                                 lambda thetas: jax.vmap(member, in_axes=(0, None))(thetas, k_fit))
    finite = jnp.isfinite(f_pop)
    pop_mean = jnp.sum(jnp.where(finite, f_pop, 0.0)) / jnp.maximum(jnp.sum(finite), 1)
    return params, state, {"loss": f_mean, "grad_norm": jnp.nan, "ok": ok, "population_fitness": pop_mean,
                           "sigma": search.sigma(state)}


def train_neural_ode(model: NeuralODE, data: ODEData, *, key, method: Any = None, steps: int = 100,
                     max_nonfinite: int | None = 0, progress: bool = True) -> tuple[NeuralODE, dict[str, list]]:
    r"""Return ``(model, history)`` after fitting ``model`` to ``data`` by backpropagation through
    the solver or by an evolution strategy, full batch, counting forward passes.

    The loss is :func:`neural_ode_loss` (mean squared error in the data's scaled units). The two
    kinds of method compared by Hazelden et al. 2023 (arXiv:2311.10869):

    * ``method=BPTT(optimizer=...)`` (default ``BPTT()``: Adam, lr 1e-2): each step takes the
      gradient $\nabla_\theta L$ through the solver (diffrax's checkpointed adjoint) and applies
      the optimizer. One forward pass per step (the backward pass costs a few more forward passes
      of compute, not counted).
    * ``method=OpenES(...)``, ``PGPE(...)`` or ``CMAES(...)`` (:mod:`lowrank_rnn.training`, through
      :func:`~lowrank_rnn.training.flat_search`): each generation scores a population of P
      perturbed parameter vectors and the current mean on the loss alone, P + 1 forward passes;
      members whose solve fails rank last. ``fitness="loss"`` or a callable
      ``f(model, data, key) -> scalar``. The strategies keep their mean in float32, so a float64
      model trained by ES has float32-precision parameters (its solves still run in float64).

    Non-finite steps are reported, never hidden: a step whose loss or gradient norm is NaN or inf
    (for ES: whose mean scores non-finite, whose population all does, or whose update is
    non-finite) is not applied and is counted in ``history["nonfinite_grads"]``; once more than
    ``max_nonfinite`` steps were non-finite (default 0: the first; None: never), training stops
    with :class:`~lowrank_rnn.DivergenceError` whose ``time`` is the step (1-based), whose
    ``model`` attribute holds the last good model and ``history`` the history up to that step.

    Parameters
    ----------
    model : the :class:`NeuralODE` to train.
    data : its :class:`ODEData` (same dim).
    key : ``jax.random`` key (the population draws of ES; unused by BPTT's full-batch steps).
    method : ``BPTT(...)``, ``OpenES(...)``, ``PGPE(...)`` or ``CMAES(...)``; None: ``BPTT()``.
    steps : optimizer steps (BPTT) or generations (ES), >= 1.
    max_nonfinite : non-finite steps tolerated (skipped) before stopping, >= 0, or None.
    progress : show a progress bar.

    Returns
    -------
    (NeuralODE, dict)
        The trained model and its history: lists ``step`` (0..steps), ``loss`` (the loss before
        each step's update; the last row is the returned model's), ``forward_passes`` (cumulative,
        the budget axis), ``grad_norm`` (BPTT; NaN for ES), ``nonfinite_grads`` (cumulative count),
        ``population_fitness`` (ES: mean over the finite members; NaN for BPTT) and ``sigma`` (ES).

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn.training import BPTT, Adam
    >>> data = oscillator_data(2, 5, t_max=1.0, key=jax.random.key(0))
    >>> model = NeuralODE(2, 4, 1, key=jax.random.key(1))
    >>> model, hist = train_neural_ode(model, data, method=BPTT(Adam(1e-2)), steps=3, key=jax.random.key(2),
    ...                                progress=False)
    >>> hist["forward_passes"]
    [1, 2, 3, 4]
    """
    _check_pair(model, data)
    key = prng_key("key", key)
    method = BPTT() if method is None else method
    if not isinstance(method, (BPTT, OpenES, PGPE, CMAES)):
        raise ArgumentTypeError(f"method must be BPTT(...), OpenES(...), PGPE(...) or CMAES(...), "
                                f"got {type(method).__name__}")
    if isinstance(method, BPTT) and method.rule is not None:
        raise ArgumentError("method: a neural ODE trains by exact gradients only; BPTT(rule=...) must be None")
    if not isinstance(method, BPTT) and not (callable(method.fitness) or method.fitness == "loss"):
        raise ArgumentError(f"method.fitness must be 'loss' or a callable f(model, data, key) -> scalar for a "
                            f"neural ODE, got {method.fitness!r}")
    steps = positive_int("steps", steps)
    if max_nonfinite is not None:
        max_nonfinite = positive_int("max_nonfinite", max_nonfinite, low=0)
    if not isinstance(progress, bool):
        raise ArgumentTypeError(f"progress must be True or False, got {progress!r}")
    arrays = _arrays(model, data)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    history: dict[str, list] = {f: [] for f in HISTORY_FIELDS}

    if isinstance(method, BPTT):
        name = "bptt"
        optimizer = method.optimizer if method.optimizer is not None else Adam()
        step_opt, hyper = traced_optimizer(optimizer, jnp.result_type(*jax.tree_util.tree_leaves(params)))
        state = traced_transformation(step_opt, hyper).init(params)
        per_step = 1

        def step(params, state, k):
            return _bp_step(params, state, static, arrays, step_opt, hyper)

        def current(params, state):
            return params
    else:
        name = method.name
        flat, unravel = ravel_pytree(params)
        search = flat_search(method, int(flat.size))
        per_step = search.popsize + 1
        fitness = method.fitness if callable(method.fitness) else None
        key, k_init = jax.random.split(key)
        state = search.init(k_init, flat)

        def step(params, state, k):
            return _es_step(params, state, static, arrays, k, search, fitness, data if fitness else None)

        def current(params, state):
            return unravel(jnp.asarray(search.mean(state), flat.dtype))

    forward, nonfinite = 0, 0
    keys = jax.random.split(key, steps)
    bar = tqdm(range(steps), desc=f"neural ODE {name} {data.name}", unit="step", disable=not progress, leave=True)
    for i in bar:
        good = params, state
        params, state, stats = step(params, state, keys[i])
        stats = jax.device_get(stats)
        forward += per_step
        ok = bool(stats["ok"])
        nonfinite += not ok
        row = {"step": i, "loss": float(stats["loss"]), "forward_passes": forward,
               "grad_norm": float(stats["grad_norm"]), "nonfinite_grads": nonfinite,
               "population_fitness": float(stats["population_fitness"]), "sigma": float(stats["sigma"])}
        for f in HISTORY_FIELDS:
            history[f].append(row[f])
        if progress:
            bar.set_postfix(loss=f"{row['loss']:.4g}", nonfinite=nonfinite)
        if not ok and max_nonfinite is not None and nonfinite > max_nonfinite:
            bar.close()
            what = ("the loss or its gradient" if name == "bptt"
                    else "the mean's loss, every member's loss, or the update")
            err = DivergenceError(
                f"{'backpropagation through the solver' if name == 'bptt' else name} diverged on {data.name}: at "
                f"step {i + 1} of {steps} ({forward} forward passes) {what} was non-finite (loss {row['loss']}, "
                f"{nonfinite} non-finite step(s), max_nonfinite={max_nonfinite}); the update was not applied. The "
                "last good model is in this error's .model, the history in .history.", time=i + 1)
            err.model = eqx.combine(current(*good), static)
            err.history = history
            raise err
    final = current(params, state)
    forward += 1
    last = {"step": steps, "loss": float(_loss_jit(final, static, arrays)), "forward_passes": forward, "grad_norm": float("nan"),
            "nonfinite_grads": nonfinite, "population_fitness": float("nan"), "sigma": float("nan")}
    for f in HISTORY_FIELDS:
        history[f].append(last[f])
    return eqx.combine(final, static), history


__all__ = ["NeuralODE", "ODEData", "oscillator_data", "neural_ode_loss", "train_neural_ode"]
