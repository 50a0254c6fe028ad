"""Fixed and slow points of any rate network of the library, found numerically in the full state space.

A network of the library is ``dx/dt = F(x, u)`` with ``F = -x + J phi(x) + I u`` (a sampled
:class:`~lowrank_rnn.Network`, with or without random bulk) or, for a trainable model, the
continuous-time field of its Euler step, ``F(x, u) = (step(x, u) - x) / alpha`` (the same
``-x + J phi(x) + I u`` for the voltage form, ``-h + phi(W h + I u)`` for the rate form of
:class:`~lowrank_rnn.learning.RateRNN`). With the input ``u`` held constant, the fixed points are
the zeros of ``F`` and the slow points the local minima of the speed

    $$ q(x) = \\frac{1}{2N} \\lVert F(x, u) \\rVert^2 $$

(Sussillo & Barak 2013, Neural Comput. 25:626; divided by N here so that tolerances do not depend
on the network size: ``q`` is half the mean squared speed per unit). :func:`fixed_points` samples
starting states along simulated trajectories, minimises ``q`` from all of them at once (Adam,
vmapped), polishes the candidates by damped Newton steps on ``F = 0``, merges duplicates and
classifies each point by the eigenvalues of the Jacobian ``dF/dx`` (stable when every eigenvalue
has a negative real part). Mastrogiuseppe & Ostojic 2018 (Neuron 99:609) give the fixed points of
low-rank networks in mean-field theory (:func:`lowrank_rnn.theory.latent_fixed_points`), against
which the tests check these.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from .._checks import finite_array, positive_int, prng_key, real_scalar
from .._errors import ArgumentError, ArgumentTypeError, DivergenceError
from .._network import Network
from .._simulate import simulate
from ..models import AbstractRNN, run_trials


@dataclasses.dataclass(frozen=True)
class FixedPoints:
    """The fixed and slow points found by :func:`fixed_points`, sorted by increasing ``q``.

    Attributes
    ----------
    x: the points, ``(P, N)``.
    q: the speed ``|F(x)|^2 / (2N)`` at each point, ``(P,)``.
    fixed: ``q <= tol``: a fixed point (otherwise a slow point, a local minimum of ``q``), ``(P,)``.
    eigenvalues: the eigenvalues of the Jacobian ``dF/dx`` at each point, sorted by decreasing real
        part, ``(P, N)`` complex (None when not computed).
    stable: every eigenvalue has a negative real part, ``(P,)`` (None when not computed).
    tol: the tolerance on ``q`` that separates fixed from slow points.
    inputs: the constant input ``u`` the points belong to, ``(K,)``.
    center, pcs: the mean and the top two principal axes ``(2, N)`` of the simulated states the
        starts were sampled from (for :func:`plot_fixed_points`).
    trajectories: a few of those trajectories projected on ``pcs``, ``(n, T, 2)``.

    Examples
    --------
    >>> import jax, numpy as np
    >>> from lowrank_rnn import Network
    >>> m = np.ones((100, 1))
    >>> fps = fixed_points(Network(m=m, n=2 * m), key=jax.random.key(0), n_starts=8, iterations=200,
    ...                    progress=False)
    >>> fps.x.shape[1], bool(fps.fixed.all()), fps.project(fps.x).shape == (len(fps), 2)
    (100, True, True)
    """

    x: np.ndarray
    q: np.ndarray
    fixed: np.ndarray
    eigenvalues: np.ndarray | None
    stable: np.ndarray | None
    tol: float
    inputs: np.ndarray
    center: np.ndarray
    pcs: np.ndarray
    trajectories: np.ndarray

    def __len__(self) -> int:
        return self.x.shape[0]

    def project(self, x) -> np.ndarray:
        """Return states ``(..., N)`` projected on the two principal axes, ``(..., 2)``."""
        return (np.asarray(x) - self.center) @ self.pcs.T

    def __repr__(self) -> str:
        n_fixed = int(self.fixed.sum())
        stab = "" if self.stable is None else f", {int(self.stable[self.fixed].sum())} stable"
        return f"FixedPoints({n_fixed} fixed{stab}, {len(self) - n_fixed} slow; N = {self.x.shape[1]})"


def _network_field(net: Network, u: jax.Array):
    """``F(x) = -x + J phi(x) + I u`` of one state, never forming the low-rank part as a matrix."""
    m, n, I, bulk = net.m, net.n, net.inputs, net.bulk
    N = net.N

    def F(x):
        r = net.phi(x)
        drive = m @ (n.T @ r) / N
        if bulk is not None:
            drive = drive + bulk @ r
        if I.shape[1]:
            drive = drive + I @ u
        return drive - x

    return F


def _model_field(model: AbstractRNN, u: jax.Array):
    """``F(x) = (step(x, u) - x) / alpha``, the continuous-time field of the model's Euler step."""
    dyn = model.dynamics()
    alpha = dyn.alpha

    def F(x):
        return (dyn.step(x, u) - x) / alpha

    return F


def _check_system(system, inputs):
    """Return ``(F, N, dtype, u)`` for a Network or a trainable model and a constant input."""
    if isinstance(system, Network):
        K, N, dtype = system.n_inputs, system.N, system.m.dtype
    elif isinstance(system, AbstractRNN):
        dyn = system.dynamics()
        K, N, dtype = dyn.n_inputs, dyn.N, dyn.h0.dtype
    else:
        raise ArgumentTypeError(
            "system must be a lowrank_rnn.Network or a trainable model (LowRankRNN, FullRankRNN, "
            f"MixtureLowRankRNN, RateRNN), got {type(system).__name__}")
    if inputs is None:
        u = np.zeros(K)
    else:
        u = finite_array("inputs", inputs)
        if u.shape != (K,):
            raise ArgumentError(f"inputs must be one constant input of shape ({K},) (the system has {K} "
                                f"input channels), got shape {u.shape}")
    u = jnp.asarray(u, dtype)
    F = _network_field(system, u) if isinstance(system, Network) else _model_field(system, u)
    return F, N, dtype, u


def _trajectories(system, u, N, dtype, *, n_traj: int, n_steps: int, spread: float, key) -> jax.Array:
    """States along ``n_traj`` noiseless trajectories from random initial states, ``(n_traj, T + 1, N)``."""
    if isinstance(system, Network):
        x0 = spread * jax.random.normal(key, (n_traj, N), dtype)
        dt = 0.1
        inputs = None if u.shape[0] == 0 else np.broadcast_to(np.asarray(u), (n_steps, u.shape[0]))
        traj = simulate(system, T=n_steps * dt, dt=dt, x0=np.asarray(x0), inputs=inputs, record=("x",),
                        progress=False)
        return jnp.asarray(traj.x)
    dyn = system.dynamics()
    x0 = dyn.h0 + spread * jax.random.normal(key, (n_traj, N), dtype)
    inputs = jnp.broadcast_to(u, (n_traj, n_steps, u.shape[0]))
    _, states = run_trials(system, inputs, x0=x0, return_states=True)
    return states


def _dedupe(x: np.ndarray, q: np.ndarray, radius: float) -> np.ndarray:
    """Indices of the points kept: in order of increasing q, a point is dropped when it lies within
    ``radius`` (root mean square over units) of a point already kept."""
    order = np.argsort(q, kind="stable")
    kept: list[int] = []
    for i in order:
        if all(np.sqrt(np.mean((x[i] - x[j]) ** 2)) > radius for j in kept):
            kept.append(int(i))
    return np.array(kept, dtype=int)


def fixed_points(system, *, inputs=None, n_starts: int = 256, key: jax.Array, tol: float = 1e-9,
                 slow_tol: float = 1e-4, iterations: int = 1000, learning_rate: float = 0.1,
                 newton_steps: int = 20, duplicate_radius: float = 1e-3, spread: float = 1.0,
                 trajectory_steps: int = 200, starts=None, eigenvalues: bool = True,
                 progress: bool = True) -> FixedPoints:
    """Return the fixed and slow points of a network or trained model under a constant input.

    Minimises the speed $q(x) = \\lVert F(x, u) \\rVert^2 / (2N)$ of $\\dot x = F(x, u)$ (see the
    module docstring for ``F``; Sussillo & Barak 2013, Neural Comput. 25:626):

    1. ``n_starts`` starting states are drawn along ``min(n_starts, 32)`` noiseless trajectories of
       ``trajectory_steps`` steps from random initial states (``h0`` plus ``spread`` times a standard
       normal vector for a model, ``spread`` times one for a ``Network``), with the input held at
       ``u`` (or the given ``starts``);
    2. all starts descend ``q`` together by ``iterations`` steps of Adam (``learning_rate``, cosine
       decay), vmapped and compiled once;
    3. candidates with ``q <= slow_tol`` closer than ``10 duplicate_radius`` (root mean square
       distance per unit) to one with a lower ``q`` are merged, and each remaining one is polished
       by up to ``newton_steps`` damped Newton steps on ``F(x) = 0`` (a step is halved until it
       lowers ``q``; stops once ``q`` is 100 times below ``tol``; the Jacobian is formed, so this
       costs ``O(N^3)`` per step and point);
    4. polished points closer than ``duplicate_radius`` to one with a lower ``q`` are merged;
    5. with ``eigenvalues=True`` each point gets the eigenvalues of the Jacobian ``dF/dx`` (in
       float64 on the host) and a stability label.

    A point with ``q <= tol`` is a fixed point; one with ``tol < q <= slow_tol`` a slow point.

    Parameters
    ----------
    system: a :class:`~lowrank_rnn.Network` (with or without bulk) or a trainable model
        (:class:`~lowrank_rnn.models.LowRankRNN`, :class:`~lowrank_rnn.models.FullRankRNN`,
        :class:`~lowrank_rnn.models.MixtureLowRankRNN`, :class:`~lowrank_rnn.learning.RateRNN`).
    inputs: the constant input ``u``, shape ``(K,)``; default zeros.
    starts: explicit starting states ``(S, N)`` instead of those sampled along trajectories (e.g.
        states of task trials, or points of a plane where saddles are expected: trajectories
        sample the neighbourhood of saddles poorly). The trajectories are still simulated, for the
        principal axes of the plot.
    key: ``jax.random`` key for the initial states and the sampling of the starts.
    progress: show a progress bar over the descent.

    Returns
    -------
    :class:`FixedPoints`, sorted by increasing ``q``. Raises :class:`~lowrank_rnn.DivergenceError`
    when no start gives a finite ``q`` (a diverging network).

    Examples
    --------
    >>> import jax, numpy as np
    >>> from lowrank_rnn import Network
    >>> m = np.ones((200, 1)); net = Network(m=m, n=2 * m)       # rank one, overlap 2, g = 0
    >>> fps = fixed_points(net, key=jax.random.key(0), n_starts=16, iterations=300, progress=False)
    >>> int(fps.fixed.sum()), int(fps.stable[fps.fixed].sum())  # 0 (unstable) and two stable states
    (3, 2)
    """
    key = prng_key("key", key)
    n_starts = positive_int("n_starts", n_starts)
    tol = real_scalar("tol", tol, low=0.0, low_open=True)
    slow_tol = real_scalar("slow_tol", slow_tol, low=0.0, low_open=True)
    if slow_tol < tol:
        raise ArgumentError(f"slow_tol must be >= tol, got slow_tol = {slow_tol} < tol = {tol}")
    iterations = positive_int("iterations", iterations, low=0)
    learning_rate = real_scalar("learning_rate", learning_rate, low=0.0, low_open=True)
    newton_steps = positive_int("newton_steps", newton_steps, low=0)
    duplicate_radius = real_scalar("duplicate_radius", duplicate_radius, low=0.0)
    spread = real_scalar("spread", spread, low=0.0)
    trajectory_steps = positive_int("trajectory_steps", trajectory_steps)
    F, N, dtype, u = _check_system(system, inputs)
    if starts is not None:
        starts = finite_array("starts", starts, ndim=2)
        if starts.shape[1] != N:
            raise ArgumentError(f"starts must have shape (S, {N}) (one state per row), got {starts.shape}")

    k_traj, k_pick, k_jit = jax.random.split(key, 3)
    n_traj = min(n_starts, 32)
    states = _trajectories(system, u, N, dtype, n_traj=n_traj, n_steps=trajectory_steps, spread=spread,
                           key=k_traj)
    flat = states.reshape(-1, N)
    pick = jax.random.choice(k_pick, flat.shape[0], (n_starts,), replace=flat.shape[0] < n_starts)
    # a small jitter: starts drawn at the same state (a converged trajectory) still spread out
    x0 = flat[pick] + 1e-3 * jax.random.normal(k_jit, (n_starts, N), dtype)
    if starts is not None:
        x0 = jnp.asarray(starts, dtype)

    def q_of(x):
        f = F(x)
        return 0.5 * jnp.mean(f * f)

    x = _descend(q_of, x0, iterations=iterations, learning_rate=learning_rate, progress=progress)
    q = np.asarray(jax.vmap(q_of)(x), dtype=np.float64)
    finite = np.isfinite(q) & np.all(np.isfinite(np.asarray(x)), axis=1)
    if not finite.any():
        raise DivergenceError("fixed_points: q is not finite from any start (the network diverges "
                              "along its trajectories, or learning_rate is too large)")
    x = np.asarray(x)[finite]
    q = q[finite]
    cand = q <= slow_tol
    x, q = x[cand], q[cand]
    if x.shape[0] and newton_steps:
        first = _dedupe(x, q, 10 * duplicate_radius)
        x, q = _polish(F, q_of, x[first], newton_steps, stop=1e-2 * tol)
    keep = _dedupe(x, q, duplicate_radius) if x.shape[0] else np.zeros(0, dtype=int)
    x, q = x[keep], q[keep]

    eig = stable = None
    if eigenvalues:
        jac = jax.jit(jax.jacfwd(F))
        eig = np.empty((x.shape[0], N), dtype=np.complex128)
        for i in range(x.shape[0]):
            w = np.linalg.eigvals(np.asarray(jac(jnp.asarray(x[i], dtype)), dtype=np.float64))
            eig[i] = w[np.argsort(-w.real, kind="stable")]
        stable = eig[:, 0].real < 0 if x.shape[0] else np.zeros(0, dtype=bool)

    center = np.asarray(flat.mean(axis=0), dtype=np.float64)
    centred = np.asarray(flat, dtype=np.float64) - center
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    pcs = vt[:2] if vt.shape[0] >= 2 else np.vstack([vt, np.zeros((2 - vt.shape[0], N))])
    shown = np.asarray(states[: min(n_traj, 8)], dtype=np.float64)
    return FixedPoints(x=x, q=q, fixed=q <= tol, eigenvalues=eig, stable=stable, tol=tol,
                       inputs=np.asarray(u, dtype=np.float64), center=center, pcs=pcs,
                       trajectories=(shown - center) @ pcs.T)


def _descend(q_of, x0: jax.Array, *, iterations: int, learning_rate: float, progress: bool) -> jax.Array:
    """Adam on ``q`` from every start at once; compiled in chunks so the progress bar moves."""
    if iterations == 0:
        return x0
    schedule = optax.cosine_decay_schedule(learning_rate, iterations, alpha=1e-2)
    opt = optax.adam(schedule)
    grad = jax.vmap(jax.grad(q_of))
    chunk = min(iterations, 250)

    @jax.jit
    def run(x, state, n):
        def body(carry, _):
            x, state = carry
            upd, state = opt.update(grad(x), state, x)
            return (optax.apply_updates(x, upd), state), None

        (x, state), _ = jax.lax.scan(body, (x, state), None, length=chunk)
        return x, state

    x, state = x0, opt.init(x0)
    done = 0
    with tqdm(total=iterations, desc="fixed points", unit="it", disable=not progress, leave=False) as bar:
        while done < iterations:
            x, state = run(x, state, done)
            done += chunk
            bar.update(min(chunk, iterations - (done - chunk)))
    return x


def _polish(F, q_of, x: np.ndarray, newton_steps: int, stop: float) -> tuple[np.ndarray, np.ndarray]:
    """Damped Newton on ``F(x) = 0`` for each candidate (a step is accepted only if it lowers q),
    until ``q <= stop``, no step lowers q, or ``newton_steps`` steps."""
    jac = jax.jacfwd(F)

    @jax.jit
    def newton(x):
        def cond(carry):
            x, q, i, moved = carry
            return (i < newton_steps) & (q > stop) & moved

        def body(carry):
            x, q, i, _ = carry
            f = F(x)
            dx = jnp.linalg.solve(jac(x), -f)
            ok_dx = jnp.all(jnp.isfinite(dx))
            dx = jnp.where(ok_dx, dx, 0.0)

            def try_step(s):
                xs = x + s * dx
                return xs, q_of(xs)

            # halve the step up to 8 times; keep the first that lowers q (else stay)
            scales = 0.5 ** jnp.arange(8, dtype=x.dtype)
            xs, qs = jax.vmap(try_step)(scales)
            better = jnp.isfinite(qs) & (qs < q)
            first = jnp.argmax(better)
            take = better[first]
            return jnp.where(take, xs[first], x), jnp.where(take, qs[first], q), i + 1, take

        x, q, _, _ = jax.lax.while_loop(cond, body, (x, q_of(x), 0, jnp.asarray(True)))
        return x, q

    xs, qs = [], []
    for xi in x:
        xn, qn = newton(jnp.asarray(xi))
        xs.append(np.asarray(xn))
        qs.append(float(qn))
    return np.stack(xs), np.asarray(qs, dtype=np.float64)


def plot_fixed_points(fps: FixedPoints, ax=None, *, title: str = ""):
    """Plot the points on the top two principal axes of the simulated states, with trajectories.

    Stable fixed points are filled, unstable ones open, slow points small grey crosses.

    >>> import jax, numpy as np
    >>> from lowrank_rnn import Network
    >>> m = np.ones((100, 1)); net = Network(m=m, n=2 * m)
    >>> fps = fixed_points(net, key=jax.random.key(0), n_starts=8, iterations=200, progress=False)
    >>> ax = plot_fixed_points(fps)
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    for tr in fps.trajectories:
        ax.plot(tr[:, 0], tr[:, 1], color="0.75", lw=0.8, zorder=1)
    p = fps.project(fps.x)
    fixed = fps.fixed
    stable = fps.stable if fps.stable is not None else np.zeros(len(fps), dtype=bool)
    ax.scatter(p[fixed & stable, 0], p[fixed & stable, 1], s=50, color="k", zorder=3, label="stable")
    ax.scatter(p[fixed & ~stable, 0], p[fixed & ~stable, 1], s=50, facecolors="white", edgecolors="k",
               zorder=3, label="unstable")
    if (~fixed).any():
        ax.scatter(p[~fixed, 0], p[~fixed, 1], s=20, marker="x", color="0.4", zorder=2, label="slow")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    if title:
        ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    return ax
