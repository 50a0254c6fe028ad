"""Local geometry of a learned representation: sensitivity, volume and dimensionality, and the
sharpness bound they obey.

For a representation map $h = f_\\theta(x)$ from inputs $x \\in \\mathbb{R}^D$ to $\\mathbb{R}^d$, with
Jacobian $J(x) = \\partial h / \\partial x$ (singular values $\\sigma_1 \\ge \\sigma_2 \\ge \\dots$):

- maximum local sensitivity $\\mathrm{MLS}(x) = \\sigma_1$;
- log volumetric ratio $\\log \\mathrm{vol}(x) = \\sum_{i \\le \\min(d, D)} \\log \\sigma_i$, the log of
  the volume of the image of a small input neighbourhood over its own volume;
- local dimensionality $\\mathrm{LD}(x) = (\\sum_i \\sigma_i^2)^2 / \\sum_i \\sigma_i^4$, a ratio of
  eigenvalues of $J J^\\top$ and so unchanged by a rescaling of $h$.

Chen, Recanatesi & Shea-Brown 2023 (arXiv 2310.01770) show that in the final phase of learning
flatter minima bound the first two: if the first layer acts as $z = W x$, then $\\partial h / \\partial x =
(\\partial h / \\partial z) W$ and $\\nabla_W h = (\\partial h / \\partial z) x^\\top$, so

    $$ \\lVert J(x) \\rVert_F \\le \\lVert W \\rVert_2 \\, \\lVert \\nabla_W h(x) \\rVert_F / \\lVert x \\rVert , $$

and at an interpolating minimum of a squared loss $\\sum_i \\lVert \\nabla_\\theta f(x_i) \\rVert_F^2 =
n\\,\\mathrm{tr}(H) \\le n\\,\\mathrm{rank}(H)\\,\\lambda_{\\max}(H)$ ties the right side to the sharpness
$\\lambda_{\\max}$ (the construction follows Ma & Ying's linear-stability argument; LD has no such
bound). :func:`representation_geometry` returns the three measures and, given the first layer's
weights, the per-input bound; :func:`~lowrank_rnn.analysis.hessian_eigenvalues` gives the sharpness.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import finite_array
from .._errors import ArgumentError, ArgumentTypeError


@dataclasses.dataclass(frozen=True)
class RepresentationGeometry:
    """Per-input local geometry of a representation map (see the module docstring).

    Attributes
    ----------
    max_local_sensitivity, log_volume, local_dimensionality: ``(n,)`` arrays, one entry per input.
    jacobian_norm: $\\lVert J(x) \\rVert_F$, ``(n,)``.
    bound: $\\lVert W \\rVert_2 \\lVert \\nabla_W h(x) \\rVert_F / \\lVert x \\rVert$ per input, or None when
        no first-layer weights were named.

    >>> import jax.numpy as jnp
    >>> g = representation_geometry(lambda p, x: p @ x, 2.0 * jnp.eye(3), jnp.ones((4, 3)))
    >>> g.max_local_sensitivity.round(6).tolist(), g.local_dimensionality.round(6).tolist()[0]
    ([2.0, 2.0, 2.0, 2.0], 3.0)
    """

    max_local_sensitivity: np.ndarray
    log_volume: np.ndarray
    local_dimensionality: np.ndarray
    jacobian_norm: np.ndarray
    bound: np.ndarray | None

    def summary(self) -> dict:
        """Means over inputs, as plain floats (for ``results.json``)."""
        out = {name: float(np.mean(getattr(self, name))) for name in
               ("max_local_sensitivity", "log_volume", "local_dimensionality", "jacobian_norm")}
        if self.bound is not None:
            out["bound"] = float(np.mean(self.bound))
        return out


def representation_geometry(fn: Callable, params, inputs, *, first_layer=None,
                            eps: float = 1e-12) -> RepresentationGeometry:
    """Return the maximum local sensitivity, log volumetric ratio and local dimensionality of the
    representation ``h = fn(params, x)`` at each row ``x`` of ``inputs`` ``(n, D)`` (Chen,
    Recanatesi & Shea-Brown 2023, arXiv 2310.01770; definitions in the module docstring).

    The Jacobian $\\partial h / \\partial x$ is ``jax.jacfwd`` of ``fn`` in ``x``, vmapped over inputs;
    its singular values below ``eps`` times the largest are left out of the log volume.
    ``first_layer``: a function selecting the weight leaf ``W`` of ``params`` through which the input
    enters as ``z = W x`` (``W`` of shape ``(H, D)``); then the per-input bound
    $\\lVert W \\rVert_2 \\lVert \\nabla_W h \\rVert_F / \\lVert x \\rVert$ on $\\lVert J \\rVert_F$ is returned too.

    >>> import jax, jax.numpy as jnp
    >>> params = {"W": jax.random.normal(jax.random.key(0), (8, 3))}
    >>> geo = representation_geometry(lambda p, x: jnp.tanh(p["W"] @ x), params, jnp.ones((5, 3)),
    ...                               first_layer=lambda p: p["W"])
    >>> bool((geo.jacobian_norm <= geo.bound * (1 + 1e-6)).all())
    True
    """
    if not callable(fn):
        raise ArgumentTypeError(f"fn must be a function (params, x) -> representation, got {type(fn).__name__}")
    X = jnp.asarray(finite_array("inputs", inputs, ndim=2), jnp.float32)
    out = jax.eval_shape(fn, params, X[0])
    if len(getattr(out, "shape", (None, None))) != 1:
        raise ArgumentError(f"fn(params, x) must return a vector (the representation), got shape "
                            f"{getattr(out, 'shape', None)}")

    J = jax.vmap(jax.jacfwd(lambda x: fn(params, x)))(X)  # (n, d, D)
    s = np.asarray(jax.vmap(lambda A: jnp.linalg.svd(A, compute_uv=False))(J), np.float64)
    s1 = s[:, :1]
    keep = s > eps * np.maximum(s1, np.finfo(np.float64).tiny)
    logvol = np.where(keep, np.log(np.where(keep, s, 1.0)), 0.0).sum(axis=1)
    s2 = s**2
    ld = s2.sum(axis=1) ** 2 / np.maximum((s2**2).sum(axis=1), np.finfo(np.float64).tiny)
    jnorm = np.sqrt(s2.sum(axis=1))

    bound = None
    if first_layer is not None:
        try:
            W = first_layer(params)
        except (AttributeError, KeyError, IndexError, TypeError) as err:
            raise ArgumentError(f"first_layer could not select a leaf of params: {type(err).__name__}: {err}") from None
        if not (eqx.is_inexact_array(W) and W.ndim == 2 and W.shape[1] == X.shape[1]):
            raise ArgumentError(f"first_layer must select the (H, D = {X.shape[1]}) input weights, got "
                                f"{getattr(W, 'shape', type(W).__name__)}")

        def h_of_W(Wv, x):
            return fn(eqx.tree_at(first_layer, params, Wv), x)

        gW = jax.vmap(jax.jacrev(h_of_W), in_axes=(None, 0))(W, X)  # (n, d, H, D)
        gnorm = np.sqrt(np.sum(np.asarray(gW, np.float64) ** 2, axis=(1, 2, 3)))
        xnorm = np.linalg.norm(np.asarray(X, np.float64), axis=1)
        bound = np.linalg.norm(np.asarray(W, np.float64), 2) * gnorm / np.maximum(xnorm, np.finfo(np.float64).tiny)
    return RepresentationGeometry(max_local_sensitivity=s[:, 0], log_volume=logvol, local_dimensionality=ld,
                                  jacobian_norm=jnorm, bound=bound)
