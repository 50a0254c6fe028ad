"""Bracketed scalar root finding that runs inside ``jax.jit`` and ``jax.vmap``.

The mean-field solvers reduce every self-consistency problem to nested one-dimensional roots
(a variance given the latents, a latent given the variances). Brackets make those roots unique
and keep iterations away from the trivial solutions (Delta_inf = Delta_0, kappa = 0) that
unbracketed Newton methods collapse onto.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


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
