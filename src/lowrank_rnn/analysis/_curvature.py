"""Curvature of a loss: the top eigenvalues of its Hessian from Hessian-vector products.

For a scalar loss $L(\\theta)$ of a parameter pytree, the Hessian $H = \\nabla^2 L$ is never formed:
its product with a vector is forward-over-reverse automatic differentiation,

    $$ H v = \\frac{d}{d\\epsilon} \\nabla L(\\theta + \\epsilon v) \\Big|_{\\epsilon = 0}
       \\quad (\\texttt{jax.jvp} \\text{ of } \\texttt{jax.grad}), $$

at about the cost of two gradients, and the Lanczos iteration (with full re-orthogonalisation)
turns a few tens of such products into the extreme eigenvalues (Golub & Van Loan, Matrix
Computations, ch. 10). The top eigenvalue of the exact loss's Hessian is the sharpness that Liu,
Ghosh, Richards, Shea-Brown & Lajoie 2022 (arXiv 2206.00823) relate to the generalisation of
networks trained by biologically plausible rules.

:func:`exact_loss` builds a task loss whose derivatives are the true ones whatever rule trained
the model: a local learning rule changes only the backward pass (its pseudo-gradient through
stop-gradients and custom VJPs), and a "Hessian" through it would be the Jacobian of that
pseudo-gradient, not the curvature of the loss.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .._checks import positive_int, prng_key
from .._errors import ArgumentError, ArgumentTypeError
from ..models import AbstractRNN, run_trials

METHODS = ("lanczos", "dense")


def _restrict(loss: Callable, params, wrt):
    """Return ``(f, theta0, unravel)``: the loss as a function of one flat vector of the chosen leaves."""
    if wrt is None:
        flat, unravel = ravel_pytree(params)
        return (lambda v: loss(unravel(v))), flat, unravel
    try:
        leaf = wrt(params)
    except (AttributeError, KeyError, IndexError, TypeError) as err:
        raise ArgumentError(f"wrt could not select a leaf of params: {type(err).__name__}: {err}") from None
    if leaf is None or not eqx.is_inexact_array(leaf):
        raise ArgumentError(f"wrt must select a floating-point array of params, got {type(leaf).__name__} "
                            "(e.g. wrt=lambda model: model.W)")
    flat, unravel_leaf = ravel_pytree(leaf)

    def f(v):
        return loss(eqx.tree_at(wrt, params, unravel_leaf(v)))

    return f, flat, unravel_leaf


def hessian_eigenvalues(loss: Callable, params, *, k: int = 1, method: str = "lanczos", wrt=None,
                        iterations: int | None = None, key: jax.Array | None = None,
                        return_vectors: bool = False):
    """Return the ``k`` largest (algebraic) eigenvalues of the Hessian of ``loss`` at ``params``.

    ``method="lanczos"``: ``iterations`` steps of the Lanczos iteration on Hessian-vector products
    $H v$ (forward-over-reverse differentiation; the Hessian is never formed) from a random unit
    vector drawn with ``key``, with full re-orthogonalisation; the eigenvalues of the tridiagonal
    matrix approximate the extremes of $H$'s spectrum (the largest converge first). Default
    ``iterations = min(n, max(3 k + 20, 40))`` for ``n`` parameters; with ``iterations = n`` the
    result is exact up to rounding. ``method="dense"``: forms $H$ (``jax.hessian``) and
    diagonalises it, for small problems and checks.

    Parameters
    ----------
    loss: a function of ``params`` returning a scalar.
    params: a pytree of arrays (e.g. an equinox model, or the trainable part of one).
    k: how many eigenvalues, ``1 <= k <=`` the number of parameters.
    wrt: a function selecting one leaf of ``params`` (e.g. ``lambda model: model.W``, as
        ``equinox.tree_at`` takes it): the Hessian with respect to that leaf only.
    return_vectors: also return the eigenvectors, ``(k, n)`` rows, flattened like the leaf (or
        ``jax.flatten_util.ravel_pytree(params)``).

    Returns
    -------
    The eigenvalues, descending, shape ``(k,)`` (NumPy, float64); with ``return_vectors`` the pair
    ``(eigenvalues, vectors)``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> A = jnp.diag(jnp.array([3.0, -1.0, 0.5]))
    >>> hessian_eigenvalues(lambda x: 0.5 * x @ A @ x, jnp.ones(3), k=2, key=jax.random.key(0)).round(4)
    array([3. , 0.5])
    """
    if not callable(loss):
        raise ArgumentTypeError(f"loss must be a function of params, got {type(loss).__name__}")
    if method not in METHODS:
        raise ArgumentError(f"method must be one of {METHODS}, got {method!r}")
    k = positive_int("k", k)
    f, theta, unravel = _restrict(loss, params, wrt)
    n = theta.shape[0]
    if n == 0:
        raise ArgumentError("params has no floating-point leaf to differentiate")
    if k > n:
        raise ArgumentError(f"k = {k} exceeds the number of parameters ({n})")
    out = jax.eval_shape(f, theta)
    if not (hasattr(out, "shape") and out.shape == () and jnp.issubdtype(out.dtype, jnp.floating)):
        raise ArgumentError(f"loss must return a floating-point scalar, got shape {getattr(out, 'shape', None)} "
                            f"and dtype {getattr(out, 'dtype', type(out).__name__)}")
    if method == "dense":
        H = np.asarray(jax.jit(jax.hessian(f))(theta), dtype=np.float64)
        H = 0.5 * (H + H.T)
        w, v = np.linalg.eigh(H)
        order = np.argsort(-w, kind="stable")[:k]
        return (w[order], v[:, order].T) if return_vectors else w[order]
    key = prng_key("key", key if key is not None else jax.random.key(0))
    m = min(n, max(3 * k + 20, 40)) if iterations is None else positive_int("iterations", iterations)
    if m < k:
        raise ArgumentError(f"iterations = {m} must be >= k = {k}")
    m = min(m, n)

    if isinstance(loss, eqx.Module):
        # a loss that is a pytree (exact_loss's): one compiled product for every loss, parameters and
        # leaf of the same structure, its arrays traced (a closure would compile at every call)
        mask = None if wrt is None else eqx.tree_at(wrt, jax.tree_util.tree_map(lambda _: False, params), True)

        def hvp(v):
            return _hvp(loss, params, mask, v)
    else:
        @jax.jit
        def hvp(v):
            return jax.jvp(jax.grad(f), (theta,), (v.astype(theta.dtype),))[1]

    T, Q = _lanczos(lambda v: np.asarray(hvp(jnp.asarray(v)), dtype=np.float64), n, m,
                    np.asarray(jax.random.normal(key, (n,)), dtype=np.float64))
    w, s = np.linalg.eigh(T)
    order = np.argsort(-w, kind="stable")[:k]
    if return_vectors:
        return w[order], (Q @ s[:, order]).T
    return w[order]


@eqx.filter_jit
def _hvp(loss, params, mask, v):
    """$H v$ of ``loss`` at ``params``, with respect to the leaf flagged ``True`` in ``mask`` (a pytree
    of bools shaped like ``params``), or to every leaf flattened where ``mask`` is None."""
    if mask is None:
        theta, unravel = ravel_pytree(params)

        def f(u):
            return loss(unravel(u))
    else:
        (leaf,) = [x for m, x in zip(jax.tree_util.tree_leaves(mask), jax.tree_util.tree_leaves(params)) if m]
        theta, unravel_leaf = ravel_pytree(leaf)

        def f(u):
            new = unravel_leaf(u)
            return loss(jax.tree_util.tree_map(lambda m, x: new if m else x, mask, params))

    return jax.jvp(jax.grad(f), (theta,), (v.astype(theta.dtype),))[1]


def _lanczos(matvec, n: int, m: int, v0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the tridiagonal ``T`` (m x m) and the Lanczos basis ``Q`` (n x m), in float64 on the
    host, with full re-orthogonalisation (twice, Gram–Schmidt) against every earlier vector; stops
    early on an invariant subspace (then ``T`` is smaller)."""
    Q = np.zeros((n, m))
    alpha = np.zeros(m)
    beta = np.zeros(m)
    q = v0 / np.linalg.norm(v0)
    size = m
    for j in range(m):
        Q[:, j] = q
        w = matvec(q)
        alpha[j] = q @ w
        for _ in range(2):
            w = w - Q[:, : j + 1] @ (Q[:, : j + 1].T @ w)
        b = np.linalg.norm(w)
        if j + 1 == m:
            break
        if b <= 1e-10 * max(1.0, abs(alpha[j])):
            size = j + 1
            break
        beta[j] = b
        q = w / b
    T = np.diag(alpha[:size]) + np.diag(beta[: size - 1], 1) + np.diag(beta[: size - 1], -1)
    return T, Q[:, :size]


def exact_loss(model: AbstractRNN, task, *, key: jax.Array, n_trials: int = 256, noise: bool = False,
               trainable=None):
    """Return ``(loss, params)``: the task loss of ``model`` on a fixed batch of trials, as a function
    of the model's trainable arrays, with the exact derivatives (plain backpropagation through time).

    The loss is ``task.loss(run_trials(model, trials.inputs), trials)`` on ``n_trials`` trials drawn
    once with ``key`` (so it is a deterministic function of the parameters); the network noise is
    off unless ``noise=True`` (then one fixed noise realisation, drawn from ``key``). Whatever rule
    trained the model, no learning rule enters: :func:`lowrank_rnn.models.run_trials` is the
    model's own forward pass, differentiated by JAX (or by the model's exact hand-written adjoint,
    which differentiates again exactly). ``trainable`` (an equinox filter, default
    ``model.trainable()``) chooses the arrays ``params`` holds.

    Use with :func:`hessian_eigenvalues`:

    >>> import jax
    >>> from lowrank_rnn.models import LowRankRNN
    >>> from lowrank_rnn.tasks import get_task
    >>> model = LowRankRNN(32, 1, 1, 1, key=jax.random.key(0))
    >>> loss, params = exact_loss(model, get_task("rdm"), key=jax.random.key(1), n_trials=8)
    >>> hessian_eigenvalues(loss, params, k=1, key=jax.random.key(2)).shape
    (1,)
    """
    if not isinstance(model, AbstractRNN):
        raise ArgumentTypeError(f"model must be a trainable model of lowrank_rnn.models, got {type(model).__name__}")
    key = prng_key("key", key)
    n_trials = positive_int("n_trials", n_trials)
    k_trials, k_noise = jax.random.split(key)
    trials = task.sample(k_trials, n_trials)
    spec = model.trainable() if trainable is None else trainable
    params, static = eqx.partition(model, spec)
    return _ExactLoss(static, trials, k_noise if noise else None, task), params


class _ExactLoss(eqx.Module):
    """The loss :func:`exact_loss` returns: ``task.loss(run_trials(model, trials.inputs), trials)`` as a
    function of the trainable arrays. A pytree (its trials and the model's other arrays are leaves), so
    that :func:`hessian_eigenvalues` compiles one Hessian-vector product for every loss of the same
    structure: another model of the same sizes, or other trials of the same number."""

    static: object
    trials: object
    noise_key: object
    task: object = eqx.field(static=True)

    def __call__(self, p):
        net = eqx.combine(p, self.static)
        return self.task.loss(run_trials(net, self.trials.inputs, key=self.noise_key), self.trials)
