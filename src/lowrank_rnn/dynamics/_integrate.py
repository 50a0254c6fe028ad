"""The one integrator of the library's rate networks.

Every network of the library (the sampled :class:`~lowrank_rnn.Network` that ``simulate`` runs,
the trainable models, the rate networks of the learning rules) is an instance of

    dx/dt = -x + F(x, u(t)) + sigma xi(t),        time in units of tau,

and differs only in ``F`` (low-rank ``m (n^T phi(x) / N)``, a bulk or a dense ``W``, inputs
``I u``, the rate form's ``phi(W x + I u)``). With ``alpha = dt / tau`` the fixed-step solver is
Euler–Maruyama, the library's noise convention:

    x_{t+1} = x_t + alpha (F(x_t, u_t) - x_t) + sigma sqrt(alpha) xi_t,      xi_t ~ N(0, 1) i.i.d.,

which discretises the Itô equation above, so results converge as ``dt -> 0`` (the stationary
variance of a free unit is ``sigma^2 / (2 - alpha)``; Kloeden & Platen 1992, ch. 9).

:func:`integrate` is that loop, once: a ``jax.lax.scan`` over the steps that asks a
:class:`VectorField` for ``F``, applies the update, adds the noise and records what a
:class:`SaveAt` asks for. What varies between its users is passed as objects, the way diffrax's
``diffeqsolve`` takes ``solver=``, ``saveat=`` and ``adjoint=``:

- the vector field (:class:`VectorField`: ``F`` and the quantities carried with the state);
- the solver: :class:`Euler` (the fixed-step update above, written once here) or :class:`Diffrax`
  (any diffrax solver, adaptive or implicit, for stiff models; deterministic runs only);
- the noise: :class:`WhiteNoise` (None: none), with a counter-based generator (the quantile
  table of ``simulate``, or the ``"hash"`` transform of training) or Threefry;
- what is saved: :class:`SaveAt` (a function of the state, every ``k`` steps, with or without
  the initial point);
- how gradients flow: :class:`Autodiff` (differentiate the scan) or :class:`Truncated`
  (truncated backpropagation through time). A model with a hand-written adjoint wraps
  :func:`integrate` in a ``jax.custom_vjp`` (``lowrank_rnn.models``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from .._errors import ArgumentError
from ._hashnoise import NoiseSource, key_words, normal_from_words, quantile_normal_from_words, simulation_words

_GOLDEN = 0x9E3779B9  # the step increment of the hash generator's first word (as in step_words)


class VectorField:
    """``F`` of ``dx/dt = -x + F(x, u)``: what a model gives the integrator.

    ``carried(x)`` returns the quantities carried with the state between steps (e.g. ``phi(x)``,
    or the latents ``n^T phi(x) / N``), computed once after each step and handed to ``drive``
    and to the saving function; ``drive(x, aux, u)`` returns ``(F, extra)``, where ``extra`` is
    anything computed on the way that a :class:`SaveAt` function may record (None if nothing).

    Examples
    --------
    A linear network ``F = W x + u``, integrated for 10 steps, recording the mean state:

    >>> import jax.numpy as jnp
    >>> class Linear(VectorField):
    ...     def __init__(self, W):
    ...         self.W = W
    ...     def drive(self, x, aux, u):
    ...         return self.W @ x + u, None
    >>> field = Linear(0.5 * jnp.eye(3))
    >>> (x, _, t), means = integrate(field, jnp.ones(3), jnp.zeros((10, 3)), alpha=0.1,
    ...                              saveat=SaveAt(fn=lambda x, aux, extra: x.mean()))
    >>> int(t), means.shape, round(float(x[0]), 4)    # each step multiplies x by 1 - 0.1 (1 - 0.5)
    (10, (10,), 0.5987)
    """

    def carried(self, x: jax.Array) -> Any:
        """Return what the state carries along (default: nothing)."""
        return None

    def drive(self, x: jax.Array, aux: Any, u: Any) -> tuple[jax.Array, Any]:
        """Return ``(F(x, u), extra)``."""
        raise NotImplementedError

    def after_step(self, x_new: jax.Array, extra: Any) -> jax.Array:
        """Return the new state with zero-valued terms that only route gradients (the learning
        rules' taps); the default adds nothing. The forward values must not change."""
        return x_new


@dataclasses.dataclass(frozen=True)
class Euler:
    """The fixed-step Euler–Maruyama update ``x + alpha (F - x)``.

    ``convex=True`` writes the same update as ``(1 - alpha) x + alpha F`` (the form of the
    published training code of Dubreuil, Valente et al. 2022 and of the learning-rule papers):
    equal in exact arithmetic, the two round differently in the last bit, so each caller keeps
    the form its results were produced with.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> float(Euler().step(jnp.float32(1.0), jnp.float32(3.0), 0.5))   # 1 + 0.5 (3 - 1)
    2.0
    """

    convex: bool = False

    def step(self, x: jax.Array, F: jax.Array, alpha) -> jax.Array:
        """Return the deterministic part of one step."""
        if self.convex:
            return (1.0 - alpha) * x + alpha * F
        return x + alpha * (F - x)


@dataclasses.dataclass(frozen=True)
class Diffrax:
    """Integrate with a diffrax solver (``diffrax.diffeqsolve``) instead of fixed Euler steps.

    For models that need an adaptive or implicit (stiff) solver: ``Diffrax(diffrax.Kvaerno5(),
    stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-8))``. The inputs are held
    constant over each step of the grid ``alpha`` (as the Euler steps see them) and the states are
    saved on the same grid, so only the accuracy of the integration changes. Deterministic runs
    only (noise needs the Euler–Maruyama solver). ``dt0`` is the first step (default: the grid
    step); ``max_steps`` bounds the solver's steps (default: 16 per grid step, at least 4096);
    ``adjoint`` is a diffrax adjoint (default ``RecursiveCheckpointAdjoint``).

    Examples
    --------
    >>> import diffrax, jax
    >>> import lowrank_rnn as lr
    >>> ens = lr.Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0)
    >>> net = ens.sample(200, key=jax.random.key(0))
    >>> tsit = Diffrax(diffrax.Tsit5(), stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-8))
    >>> traj = lr.simulate(net, T=5.0, dt=0.1, x0=net.m[:, 0], solver=tsit)
    >>> traj.kappa.shape
    (51, 1)
    """

    solver: Any
    stepsize_controller: Any = None
    dt0: float | None = None
    max_steps: int | None = None
    adjoint: Any = None


@dataclasses.dataclass(frozen=True)
class SaveAt:
    """What :func:`integrate` records: ``fn(x, aux, extra)`` (a pytree of arrays) after every
    ``every``-th step, and at the initial state too when ``initial`` (stacked along a new leading
    time axis). ``extra`` is what the field's ``drive`` returned on the step just taken when
    ``every == 1``, else None (also at the initial point). ``fn=None`` records nothing.

    Examples
    --------
    >>> SaveAt(fn=lambda x, aux, extra: x, every=10, initial=True).every      # see VectorField
    10
    """

    fn: Callable | None = None
    every: int = 1
    initial: bool = False


@dataclasses.dataclass(frozen=True)
class Autodiff:
    """Gradients by automatic differentiation of the scan (backpropagation through time).

    Examples
    --------
    >>> Autodiff().before_step(1.0, 0)       # passes the state through unchanged
    1.0
    """

    def before_step(self, x, t):
        return x


@dataclasses.dataclass(frozen=True)
class Truncated:
    """Truncated backpropagation through time: the state's gradient is cut at the start of every
    ``k``-th step (windows of ``k`` steps; the forward values are unchanged).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> jax.grad(lambda x: Truncated(k=5).before_step(x, jnp.int32(10)))(2.0)   # step 10: cut
    Array(0., dtype=float32, weak_type=True)
    """

    k: int

    def before_step(self, x, t):
        return jnp.where(t % self.k == 0, jax.lax.stop_gradient(x), x)


@dataclasses.dataclass(frozen=True)
class QuantileSource:
    """The generator of ``simulate``'s noise: 16-bit quantiles of N(0, 1) read at a keyed hash of
    the element index, with both words of each step hashed from the key and the step
    (:func:`~lowrank_rnn.dynamics.quantile_normal_from_words`).

    Examples
    --------
    >>> import jax
    >>> white_noise(QuantileSource(), jax.random.key(0), 0.1).source.name
    'quantile'
    """

    name = "quantile"


@dataclasses.dataclass(frozen=True)
class WhiteNoise:
    """The noise term ``scale * xi_t`` of a step, ``scale = sigma sqrt(alpha)``, standard normals
    ``xi_t`` drawn by ``source``.

    ``QuantileSource()`` (``simulate``'s): element ``(b, i)`` of step t (trial b, unit i) reads the
    16-bit quantile table at a hash of ``b N + i`` keyed by two words hashed from the key and t
    (:func:`~lowrank_rnn.dynamics.quantile_normal_from_words`). ``NoiseSource("hash")`` (the
    models' and training's): the inverse-error-function transform of
    :func:`~lowrank_rnn.dynamics.hash_normal`, step t with the words ``(k0 + t * 0x9E3779B9, k1)``
    of the key, element ``(b, i)`` at index ``b N + i``. In both, ``trial_axis`` says which axis
    holds the trials, so a trial's noise depends on the key, the step, the unit and the trial's
    index only. ``NoiseSource("threefry")``: ``jax.random.normal`` with the keys
    ``jax.random.split(key, n_steps)``, one per step, over the whole array. Use
    :func:`white_noise` to build one from a key.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> noise = white_noise("quantile", jax.random.key(0), scale=0.1)
    >>> noise.draw(jnp.int32(0), None, (1000,), jnp.float32).std() > 0.9
    Array(True, dtype=bool)
    """

    scale: Any
    state: Any  # "hash", "quantile": the key's two uint32 words; "threefry": the key
    source: Any = NoiseSource("hash")
    trial_axis: int | None = None

    def items(self, n_steps: int):
        """Return what the scan hands each step (None: the draw depends on the step counter only)."""
        if self.source.name == "threefry":
            return jax.random.split(self.state, n_steps)
        return None

    def draw(self, t, item, shape, dtype) -> jax.Array:
        """Return the standard normals ``xi_t`` of ``shape`` for step ``t``."""
        if self.source.name == "quantile":
            w0, w1 = simulation_words(self.state, t)
            return quantile_normal_from_words(w0, w1, shape, self.trial_axis).astype(dtype)
        if self.source.name == "hash":
            w0 = self.state[0] + t.astype(jnp.uint32) * jnp.uint32(_GOLDEN)
            return normal_from_words(w0, self.state[1], shape, self.trial_axis).astype(dtype)
        return jax.random.normal(item, shape, dtype)


def white_noise(source: str | NoiseSource | QuantileSource, key: jax.Array, scale, *,
                trial_axis: int | None = None) -> WhiteNoise:
    """Return the :class:`WhiteNoise` of ``scale * xi_t`` drawn from ``key`` by ``source``
    (``"quantile"``, ``"hash"`` or ``"threefry"``).

    Examples
    --------
    >>> import jax
    >>> white_noise("hash", jax.random.key(0), 0.05).source.name
    'hash'
    """
    if source == "quantile":
        source = QuantileSource()
    elif not isinstance(source, (NoiseSource, QuantileSource)):
        source = NoiseSource(source)
    state = key if source.name == "threefry" else key_words(key)
    return WhiteNoise(scale=scale, state=state, source=source, trial_axis=trial_axis)


def em_update(x: jax.Array, F: jax.Array, alpha, *, solver: Euler = Euler(), scale=None,
              xi: jax.Array | None = None) -> jax.Array:
    """Return ``x + alpha (F - x) + scale * xi``: one Euler–Maruyama step from a computed ``F``
    (``scale = sigma sqrt(alpha)``; no noise term when ``xi`` is None).

    Examples
    --------
    >>> float(em_update(1.0, 3.0, 0.5, scale=0.1, xi=2.0))       # 1 + 0.5 (3 - 1) + 0.1 * 2
    2.2
    """
    x_new = solver.step(x, F, alpha)
    if xi is not None:
        x_new = x_new + scale * xi
    return x_new


def euler_step(field: VectorField, x, aux, u, alpha, *, solver: Euler = Euler(), noise: WhiteNoise | None = None,
               t=None, item=None):
    """Return ``(x_new, extra)`` after one Euler–Maruyama step of ``field`` (the update of the
    module docstring); ``t`` (the step's index) and ``item`` feed the noise.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> class Constant(VectorField):
    ...     def drive(self, x, aux, u):
    ...         return jnp.full_like(x, u), None
    >>> x_new, _ = euler_step(Constant(), jnp.zeros(2), None, 1.0, 0.5)
    >>> x_new
    Array([0.5, 0.5], dtype=float32)
    """
    F, extra = field.drive(x, aux, u)
    if noise is None:
        return field.after_step(em_update(x, F, alpha, solver=solver), extra), extra
    xi = noise.draw(t, item, x.shape, x.dtype)
    return field.after_step(em_update(x, F, alpha, solver=solver, scale=noise.scale, xi=xi), extra), extra


def integrate(field: VectorField, x0: jax.Array, inputs: Any, *, alpha, n_steps: int | None = None,
              solver: Euler | Diffrax = Euler(), noise: WhiteNoise | None = None, saveat: SaveAt = SaveAt(),
              adjoint: Autodiff | Truncated = Autodiff(), t0=0):
    """Integrate ``field`` from ``x0`` over ``n_steps`` steps of ``alpha`` (dt / tau).

    ``inputs``: a pytree whose leaves have a leading time axis of ``n_steps`` (entry ``t`` is the
    ``u`` of step ``t``), or None (``n_steps`` then required); ``t0``: the index of the first
    step (for the noise counter and :class:`Truncated`, when a run is split into pieces).

    Returns ``((x, aux, t), saved)``: the final state, what it carries and the step counter, and
    the pytree of :class:`SaveAt` records, each with a leading time axis (None when
    ``saveat.fn`` is None).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> class Leak(VectorField):
    ...     def drive(self, x, aux, u):
    ...         return u, None              # dx/dt = -x + u
    >>> (x, _, _), xs = integrate(Leak(), jnp.zeros(1), jnp.ones((100, 1)), alpha=0.1,
    ...                           saveat=SaveAt(fn=lambda x, aux, extra: x[0], every=50))
    >>> [round(float(v), 3) for v in xs]    # relaxing to 1 as 1 - 0.9^t
    [0.995, 1.0]
    """
    if n_steps is None:
        n_steps = jax.tree_util.tree_leaves(inputs)[0].shape[0]
    every = saveat.every
    if n_steps % every:
        raise ArgumentError(f"saveat.every = {every} must divide the number of steps {n_steps}")
    if isinstance(solver, Diffrax):
        return _integrate_diffrax(field, x0, inputs, alpha=alpha, n_steps=n_steps, solver=solver,
                                  noise=noise, saveat=saveat)
    record = saveat.fn
    aux0 = field.carried(x0)
    items = None if noise is None else noise.items(n_steps)

    def step(carry, xs):
        x, aux, t = carry
        u, item = xs
        x = adjoint.before_step(x, t)
        x_new, extra = euler_step(field, x, aux, u, alpha, solver=solver, noise=noise, t=t, item=item)
        # the state keeps x0's dtype: parameters of a wider type (float64 under JAX_ENABLE_X64, e.g. an
        # evolution strategy's float64 mean) must not change the scan's carry type mid-run
        x_new = x_new.astype(x.dtype)
        aux_new = field.carried(x_new)
        out = record(x_new, aux_new, extra) if (record is not None and every == 1) else None
        return (x_new, aux_new, t + 1), out

    init = (x0, aux0, jnp.asarray(t0, jnp.int32))
    xs = (inputs, items)
    if every == 1:
        carry, saved = jax.lax.scan(step, init, xs, length=n_steps)
    else:
        n_saves = n_steps // every
        blocks = jax.tree_util.tree_map(lambda a: a.reshape((n_saves, every) + a.shape[1:]), xs)

        def block(carry, xs_blk):
            carry, _ = jax.lax.scan(step, carry, xs_blk, length=every)
            return carry, None if record is None else record(carry[0], carry[1], None)

        carry, saved = jax.lax.scan(block, init, blocks, length=n_saves)
    if record is not None and saveat.initial:
        first = record(x0, aux0, None)
        saved = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b], axis=0), first, saved)
    return carry, saved


def _integrate_diffrax(field, x0, inputs, *, alpha, n_steps, solver: Diffrax, noise, saveat: SaveAt):
    """:func:`integrate` by ``diffrax.diffeqsolve`` on ``dx/dt = F(x, u(t)) - x``, ``u`` held
    constant over each grid step, saves on the grid."""
    import diffrax  # an optional solver: imported only when asked for

    if noise is not None:
        raise ArgumentError("noise needs the Euler–Maruyama solver (Euler()); a Diffrax solver runs "
                            "deterministic dynamics only")
    dtype = x0.dtype
    h = jnp.asarray(alpha, dtype)
    t_end = h * n_steps

    def u_at(t):
        if inputs is None:
            return None
        # step k holds u_k on [k h, (k + 1) h); the 1e-3 absorbs the rounding of t = k h (0.7 / 0.1 < 7)
        i = jnp.clip(jnp.floor(t / h + 1e-3).astype(jnp.int32), 0, n_steps - 1)
        return jax.tree_util.tree_map(lambda a: a[i], inputs)

    def vf(t, x, args):
        F, _ = field.drive(x, field.carried(x), u_at(t))
        return F - x

    record = saveat.fn
    every = saveat.every
    start = 0 if saveat.initial else every
    ts = jnp.arange(start, n_steps + 1, every) * h
    subs = [diffrax.SubSaveAt(t1=True)]
    if record is not None:
        subs.append(diffrax.SubSaveAt(ts=ts, fn=lambda t, x, args: record(x, field.carried(x), None)))
    max_steps = solver.max_steps if solver.max_steps is not None else max(4096, 16 * n_steps)
    kwargs = {}
    if solver.stepsize_controller is not None:
        kwargs["stepsize_controller"] = solver.stepsize_controller
    if solver.adjoint is not None:
        kwargs["adjoint"] = solver.adjoint
    sol = diffrax.diffeqsolve(diffrax.ODETerm(vf), solver.solver, t0=jnp.zeros((), dtype), t1=t_end,
                              dt0=h if solver.dt0 is None else jnp.asarray(solver.dt0, dtype), y0=x0,
                              saveat=diffrax.SaveAt(subs=subs), max_steps=max_steps, **kwargs)
    x_end = sol.ys[0][-1]
    saved = sol.ys[1] if record is not None else None
    return (x_end, field.carried(x_end), jnp.asarray(n_steps, jnp.int32)), saved
