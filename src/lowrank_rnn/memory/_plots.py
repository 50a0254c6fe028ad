"""Figures of the memory models: receptive fields and capacity curves."""

from __future__ import annotations

import math
import operator

import numpy as np

from .._checks import finite_array, positive_int, real_scalar
from .._errors import ArgumentError, ArgumentTypeError
from ._hopfield import CapacityCurve


def plot_receptive_fields(weights, *, shape: tuple[int, int] | None = None, n: int | None = None,
                          columns: int = 10, scale: str = "unit", title: str | None = None):
    """Return a matplotlib figure with each hidden unit's weights drawn as an image (its receptive field).

    Each panel is one row of ``weights`` reshaped to ``shape`` (default: a square), on a red–blue
    scale symmetric about zero (as in Krotov & Hopfield 2019, PNAS 116:7723, Fig. 3), whose end is
    each unit's own largest absolute weight (``scale="unit"``, so that units far from the unit
    sphere do not wash out the others) or the largest of all panels (``scale="shared"``, with a
    colour bar).

    >>> import numpy as np
    >>> from lowrank_rnn import memory
    >>> fig = memory.plot_receptive_fields(np.random.default_rng(0).normal(size=(12, 64)), columns=6)
    >>> len(fig.axes)
    12
    """
    import matplotlib.pyplot as plt

    w = finite_array("weights", weights, ndim=2)
    n = w.shape[0] if n is None else min(positive_int("n", n), w.shape[0])
    columns = positive_int("columns", columns)
    if not isinstance(scale, str) or scale not in ("unit", "shared"):
        raise ArgumentError(f"scale must be 'unit' or 'shared', got {scale!r}")
    if shape is None:
        side = math.isqrt(w.shape[1])
        if side * side != w.shape[1]:
            raise ArgumentError(f"shape is needed: {w.shape[1]} inputs are not a square image")
        shape = (side, side)
    try:
        shape = tuple(operator.index(d) for d in shape)
    except TypeError:  # not a sequence, or not integers
        shape = None
    if shape is None or len(shape) != 2 or min(shape) < 1 or shape[0] * shape[1] != w.shape[1]:
        raise ArgumentError(f"shape must be (height, width) with height*width = {w.shape[1]} inputs")
    rows = math.ceil(n / columns)
    cols = min(columns, n)
    fig, axes = plt.subplots(rows, cols, figsize=(1.1 * cols + 0.8, 1.1 * rows + 0.4), squeeze=False)
    shared = float(np.abs(w[:n]).max()) or 1.0
    im = None
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i < n:
            vmax = shared if scale == "shared" else (float(np.abs(w[i]).max()) or 1.0)
            im = ax.imshow(w[i].reshape(shape), cmap="bwr", vmin=-vmax, vmax=vmax)
    if scale == "shared":
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8)
    if title is not None:
        fig.suptitle(str(title))
    return fig


def plot_capacity(curves, *, alpha_c: float = 0.138):
    """Return a matplotlib figure of mean retrieval overlap against load P/N for one or more
    :class:`CapacityCurve` (one line per N), with the large-N capacity ``alpha_c`` marked.

    >>> import jax
    >>> from lowrank_rnn import memory
    >>> c = memory.capacity_curve(50, [0.05, 0.3], key=jax.random.key(0), trials=1, cues=4, progress=False)
    >>> len(memory.plot_capacity([c]).axes)
    1
    """
    import matplotlib.pyplot as plt

    if isinstance(curves, CapacityCurve):
        curves = [curves]
    if not isinstance(curves, (list, tuple)) or not curves or not all(isinstance(c, CapacityCurve) for c in curves):
        raise ArgumentTypeError("curves must be a CapacityCurve or a non-empty list of them")
    alpha_c = real_scalar("alpha_c", alpha_c, low=0.0)
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for c in curves:
        m = c.overlaps.reshape(len(c.loads), -1)
        ax.errorbar(c.loads, m.mean(axis=1), yerr=m.std(axis=1) / np.sqrt(m.shape[1]), marker="o", ms=3,
                    capsize=2, label=f"N = {c.n_units}")
    ax.axvline(alpha_c, color="k", ls="--", lw=1, label=f"α_c ≈ {alpha_c} (large N)")
    ax.set_xlabel("load α = P / N")
    ax.set_ylabel("final overlap with the cued pattern")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(frameon=False)
    return fig
