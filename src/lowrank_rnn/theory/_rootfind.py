"""Root finding for the theory: bracketed scalar roots, Newton's method and its damped variants.

Everything except :func:`gauss_newton_batch` runs inside ``jax.jit`` and ``jax.vmap``.

- Brackets (:func:`chandrupatla`, :func:`safeguarded_newton`). The mean-field solvers reduce every
  self-consistency problem to nested one-dimensional roots (a variance given the latents, a latent
  given the variances). Brackets make those roots unique and keep iterations away from the trivial
  solutions (Delta_inf = Delta_0, kappa = 0) that unbracketed Newton methods collapse onto.
- Newton's method on F(x) = 0 in R^n (:func:`newton`): polishing a root from a good start, a fixed
  number of steps or until the step is small.
- Damped Newton (:func:`damped_newton`): from far starts, a least-squares Newton step shortened by
  a line search (:class:`BestOfSteps`, :class:`FirstDecrease`) until |F|^2 decreases.
- :func:`gauss_newton_batch`: damped Gauss-Newton driven from NumPy over a batch of starts, each
  stopping on its own (the latent fixed points).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


def chandrupatla(f, a, b, fa, fb, *, xtol=1e-13, maxiter=80):
    """Return a root of the scalar function ``f`` in the bracket [a, b] (``fa * fb <= 0``).

    Chandrupatla's method (Chandrupatla 1997, Adv. Eng. Softw. 28:145): inverse quadratic
    interpolation where it is safe, bisection otherwise; it never leaves the bracket, so it also
    works for functions that are only piecewise smooth (the mean-field residuals are given a
    fixed sign where a variance equation has no solution). Written with ``lax.while_loop`` so
    that it can be ``vmap``-ped over many independent problems.
    """
    a, b, fa, fb = (jnp.asarray(v) for v in (a, b, fa, fb))
    eps = jnp.finfo(a.dtype).eps

    def cond(state):
        i, done = state[0], state[-1]
        return (i < maxiter) & ~done

    def body(state):
        i, a, b, c, fa, fb, fc, t, xm, done = state
        xt = a + t * (b - a)
        ft = f(xt)
        same = jnp.sign(ft) == jnp.sign(fa)
        c, fc = jnp.where(same, a, b), jnp.where(same, fa, fb)
        b, fb = jnp.where(same, b, a), jnp.where(same, fb, fa)
        a, fa = xt, ft
        small_a = jnp.abs(fa) < jnp.abs(fb)
        xm = jnp.where(small_a, a, b)
        fm = jnp.where(small_a, fa, fb)
        tol = 2.0 * eps * jnp.abs(xm) + xtol
        width = jnp.abs(b - c)
        tlim = jnp.where(width > 0, tol / jnp.where(width > 0, width, 1.0), 1.0)
        done = (fm == 0) | (tlim > 0.5)
        xi = (a - b) / jnp.where(c - b == 0, 1.0, c - b)
        ph = (fa - fb) / jnp.where(fc - fb == 0, 1.0, fc - fb)
        iqi = (ph**2 < xi) & ((1 - ph) ** 2 < 1 - xi)

        def safe(x):
            return jnp.where(x == 0, 1.0, x)

        t_iqi = (fa / safe(fb - fa) * fc / safe(fb - fc)
                 + (c - a) / safe(b - a) * fa / safe(fc - fa) * fb / safe(fc - fb))
        t = jnp.where(iqi, t_iqi, 0.5)
        t = jnp.clip(t, tlim, 1 - tlim)
        return i + 1, a, b, c, fa, fb, fc, t, xm, done

    xm0 = jnp.where(jnp.abs(fa) < jnp.abs(fb), a, b)
    done0 = (fa == 0) | (fb == 0)
    state = (0, a, b, a, fa, fb, fa, jnp.asarray(0.5, a.dtype), xm0, done0)
    # The first step evaluates at the midpoint; a is the moving end, b the kept one.
    state = jax.lax.while_loop(cond, body, state)
    return state[8]


def safeguarded_newton(f_df, lo, hi, x0, *, n_iter=60, xtol=1e-15):
    """Return a root of ``f`` in [lo, hi] by Newton steps kept inside a shrinking bracket.

    ``f_df(x)`` returns ``(f(x), f'(x))``; the bracket must satisfy ``f(lo) >= 0 >= f(hi)`` (a
    decreasing crossing, as in every variance equation ``Delta = G(Delta)`` here). A Newton step
    that leaves the bracket is replaced by bisection, so the iteration cannot jump to a root
    outside [lo, hi]. Stops when a step is below ``xtol`` (relative) or after ``n_iter`` steps.
    """

    def cond(state):
        i, lo, hi, x, step = state
        return (i < n_iter) & (step > xtol * (1.0 + jnp.abs(x)))

    def body(state):
        i, lo, hi, x, _ = state
        fx, dfx = f_df(x)
        lo = jnp.where(fx >= 0, x, lo)
        hi = jnp.where(fx <= 0, x, hi)
        newton = x - jnp.where(dfx != 0, fx / jnp.where(dfx != 0, dfx, 1.0), jnp.inf)
        inside = (newton > lo) & (newton < hi) & jnp.isfinite(newton)
        xn = jnp.where(inside, newton, 0.5 * (lo + hi))
        xn = jnp.where(fx == 0, x, xn)
        return i + 1, lo, hi, xn, jnp.abs(xn - x)

    x0 = jnp.asarray(x0)
    state = (0, jnp.asarray(lo, x0.dtype), jnp.asarray(hi, x0.dtype), x0, jnp.asarray(jnp.inf, x0.dtype))
    return jax.lax.while_loop(cond, body, state)[3]


def value_and_jacobian(f, x):
    """f(x) and its Jacobian from one forward-mode pass (the primal is not evaluated twice)."""
    J, r = jax.jacfwd(lambda y: (f(y), f(y)), has_aux=True)(x)
    return r, J


def _newton_step(f, x):
    """One Newton step x - J^{-1} f(x), or x itself when the step is not finite; and the step size."""
    r, J = value_and_jacobian(f, x)
    dx = jnp.linalg.solve(J, r)
    fin = jnp.all(jnp.isfinite(dx))
    return jnp.where(fin, x - dx, x), jnp.where(fin, jnp.max(jnp.abs(dx)), 0.0)


def newton(f, x0, *, n_iter: int, xtol: float | None = None, unroll: bool = False):
    """Return x after Newton's method on ``f(x) = 0`` from ``x0`` (one start; ``vmap`` for more).

    ``n_iter`` steps; with ``xtol``, stops earlier once a step is below ``xtol (1 + max|x|)``. A step
    that is not finite (singular Jacobian) leaves x where it is and ends the iteration. ``unroll``
    writes the ``n_iter`` steps out instead of looping (for a step or two inside a scan; XLA then
    fuses them differently, so the last bits of the result can differ from the loop's).
    """
    if unroll:
        x = x0
        for _ in range(n_iter):
            x = _newton_step(f, x)[0]
        return x
    if xtol is None:  # a fixed count: under vmap, no point waits for the slowest
        return jax.lax.fori_loop(0, n_iter, lambda _, x: _newton_step(f, x)[0], x0)

    def cond(c):
        i, x, step = c
        return (i < n_iter) & (step > xtol * (1.0 + jnp.max(jnp.abs(x))))

    def body(c):
        i, x, _ = c
        return (i + 1, *_newton_step(f, x))

    return jax.lax.while_loop(cond, body, (0, x0, jnp.asarray(jnp.inf)))[1]


@partial(jax.jit, static_argnames=("n_iter",))
def polish_batch(f, x0, n_iter: int = 8):
    """:func:`newton` (``n_iter`` steps) from every row of ``x0``; ``f`` is a
    ``jax.tree_util.Partial`` (so that its data are traced, not baked in). Returns x and max|f(x)|."""

    def one(x):
        x = newton(f, x, n_iter=n_iter)
        return x, jnp.max(jnp.abs(f(x)))

    return jax.vmap(one)(x0)


class BestOfSteps(NamedTuple):
    """Line search: try x - s dx for every s in ``factors`` and keep the one with the smallest |F|^2."""

    factors: tuple = tuple(0.5**k for k in range(8))

    def __call__(self, f, x, dx, n0):
        steps = jnp.asarray(self.factors)
        cand = x[None] - steps[:, None] * dx[None]
        norms = jax.vmap(lambda c: jnp.sum(f(c) ** 2))(cand)
        norms = jnp.where(jnp.isfinite(norms), norms, jnp.inf)
        best = jnp.argmin(norms)
        return cand[best], norms[best]


class FirstDecrease(NamedTuple):
    """Line search: halve the step (x - dx, x - dx/2, ...) until |F|^2 < n0 and ``valid(x)``, down to
    a factor of ``min_factor``."""

    valid: Callable | None = None
    min_factor: float = 1e-3

    def __call__(self, f, x, dx, n0):
        def norm(xc):
            ok = True if self.valid is None else self.valid(xc)
            nc = jnp.where(ok, jnp.sum(f(xc) ** 2), jnp.inf)
            return jnp.where(jnp.isfinite(nc), nc, jnp.inf)

        def worse(c):
            lam, _, nc = c
            return (lam > self.min_factor) & ~(nc < n0)

        def halve(c):
            lam = c[0] * 0.5
            xc = x - lam * dx
            return lam, xc, norm(xc)

        x1 = x - dx
        _, xc, nc = jax.lax.while_loop(worse, halve, (1.0, x1, norm(x1)))
        return xc, nc


def damped_newton(f, x0, *, n_iter: int, line_search=BestOfSteps()):
    """Return x after ``n_iter`` damped Newton steps on ``f(x) = 0`` from ``x0`` (one start).

    Each step is the least-squares Newton step dx = J^+ f(x) (defined where J is singular or not
    square), shortened by ``line_search`` (:class:`BestOfSteps` or :class:`FirstDecrease`); it is
    taken only if it lowers |f|^2.
    """

    def body(_, x):
        r, J = value_and_jacobian(f, x)
        n0 = jnp.sum(r**2)
        dx = jnp.linalg.lstsq(J, r)[0]
        xc, nc = line_search(f, x, dx, n0)
        return jnp.where(nc < n0, xc, x)

    return jax.lax.fori_loop(0, n_iter, body, x0)


def gauss_newton_batch(flow, jacobian, starts: np.ndarray, max_step: float, n_iter: int = 60):
    """Damped Gauss-Newton on ``flow(k) = 0`` from every start at once; returns the end points and |F|.

    ``flow`` maps points (..., R) to (..., R) and ``jacobian`` points (S, R) to (S, R, R), both on
    NumPy arrays (they batch their own evaluation). Each iteration takes the Gauss-Newton step
    (capped at ``max_step``) scaled by the first of a few factors that lowers |F|; a start that
    cannot lower |F| any more, or has |F| < 1e-14, stops while the others go on.
    """
    k = np.array(starts, np.float64)
    S, R = k.shape
    scales = np.array([1.0, 0.5, 0.25, 0.1, 0.03, 0.01])
    f = flow(k)
    res = np.linalg.norm(f, axis=-1)
    active = res > 1e-14
    for _ in range(n_iter):
        if not np.any(active):
            break
        J = jacobian(k)
        JT = np.swapaxes(J, -1, -2)
        step = -np.linalg.solve(JT @ J + 1e-14 * np.eye(R), (JT @ f[..., None]))[..., 0]
        norm = np.linalg.norm(step, axis=-1, keepdims=True)
        step = step * np.minimum(1.0, max_step / np.maximum(norm, 1e-300))
        cand = k[None] + scales[:, None, None] * step[None]                # (n_scales, S, R)
        fc = flow(cand)
        rc = np.linalg.norm(fc, axis=-1)
        better = rc < res[None]
        first = np.argmax(better, axis=0)
        upd = active & np.any(better, axis=0)
        idx = np.flatnonzero(upd)
        k[idx], f[idx], res[idx] = cand[first[idx], idx], fc[first[idx], idx], rc[first[idx], idx]
        active = upd & (res > 1e-14)
    return k, res


def dedupe(points, tol: float, *, relative: bool = False) -> list[np.ndarray]:
    """The points in order, without those within ``tol`` (max-norm) of one kept before; with
    ``relative``, within ``tol max(1, max|kept|)``."""
    kept: list[np.ndarray] = []
    for p in points:
        if all(np.max(np.abs(p - q)) > (tol * max(1.0, np.max(np.abs(q))) if relative else tol) for q in kept):
            kept.append(p)
    return kept


def pad_rows(x: np.ndarray, size: int | None = None) -> tuple[np.ndarray, int]:
    """Pad the leading axis to ``size`` (default: a power of two, >= 4) by repeating the last row, so
    that batches of many lengths share a few compiled shapes; returns the array and the true length."""
    n = len(x)
    size = size or max(4, 1 << (n - 1).bit_length())
    return np.concatenate([x, np.repeat(x[-1:], size - n, axis=0)]), n
