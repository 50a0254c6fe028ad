"""Figures of trained networks: loading scatter plots coloured by population, truncation curves."""

from __future__ import annotations

import numpy as np

from .._errors import ArgumentError


def plot_loadings(fit, pairs=None, *, axes=None, max_points: int = 2000, title: str = ""):
    """Return the Axes of pairwise scatter plots of a :class:`MixtureFit`'s loadings, coloured by
    population (Dubreuil, Valente et al. 2022, Nat. Neurosci., connectivity-space plots).

    ``pairs``: a list of (name, name) from ``fit.ensemble.names`` (default: (n_r, m_r) for each r,
    then (I_k, n_1) for each input, then (w_1, m_1)).

    Examples
    --------
    >>> import jax, matplotlib
    >>> matplotlib.use("Agg")
    >>> from lowrank_rnn.analysis import fit_mixture
    >>> from lowrank_rnn.models import LowRankRNN
    >>> axes = plot_loadings(fit_mixture(LowRankRNN(200, 1, 1, 1, key=jax.random.key(0)), 2))
    >>> len(axes)
    3
    """
    import matplotlib.pyplot as plt

    names = list(fit.ensemble.names)
    if pairs is None:
        R = sum(nm.startswith("m") for nm in names)
        pairs = [(f"n{r + 1}", f"m{r + 1}") for r in range(R)]
        pairs += [(nm, "n1") for nm in names if nm.startswith("I")]
        pairs += [("w1", "m1")] if "w1" in names else []
    for a, b in pairs:
        for nm in (a, b):
            if nm not in names:
                raise ArgumentError(f"pairs: {nm!r} is not a loading of this fit; names are {names}")
    if axes is None:
        _, axes = plt.subplots(1, len(pairs), figsize=(2.6 * len(pairs), 2.5), squeeze=False)
        axes = axes[0]
    X, lab = fit.loadings, fit.labels
    sel = np.arange(X.shape[0])[: int(max_points)]
    for ax, (a, b) in zip(axes, pairs):
        ia, ib = names.index(a), names.index(b)
        for c in np.unique(lab):
            s = sel[lab[sel] == c]
            ax.scatter(X[s, ia], X[s, ib], s=3, alpha=0.5, color=f"C{int(c)}", rasterized=True)
        ax.set_xlabel(a)
        ax.set_ylabel(b)
    if title:
        axes[0].figure.suptitle(title, fontsize="medium")
    axes[0].figure.tight_layout()
    return axes


def plot_truncation(ranks, accuracies, ax=None, *, label=None, reference=None):
    """Return an Axes with accuracy against the rank r of the truncated learned change (and the
    published medians ``reference``, a list of the same length, as open markers).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> ax = plot_truncation([1, 2, 3], [0.7, 0.95, 1.0], reference=[0.75, 0.9, 1.0])
    >>> ax.get_xlabel()
    'rank r of the truncated change'
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(3.6, 3.0))
    ranks = np.asarray(ranks)
    acc = np.asarray(accuracies, dtype=float)
    if acc.ndim == 2:  # (networks, ranks)
        for row in acc:
            ax.plot(ranks, row, "-", color="0.75", lw=0.8)
        acc = np.median(acc, axis=0)
    ax.plot(ranks, acc, "o-", lw=1.5, label=label or "measured (median)")
    if reference is not None:
        ax.plot(ranks[: len(reference)], reference, "s", mfc="none", mec="k", label="published median")
    ax.set_xlabel("rank r of the truncated change")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0.3, 1.03)
    ax.legend(frameon=False, fontsize="small")
    return ax
