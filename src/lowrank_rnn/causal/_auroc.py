"""Area under the ROC curve of a causal-score matrix against the true connectivity."""

from __future__ import annotations

import numpy as np
import scipy.stats

from .._checks import finite_array
from .._errors import ArgumentError, ArgumentTypeError


def auroc(M, S, *, include_diagonal: bool = True) -> float:
    """Return the area under the ROC curve of the scores ``S`` for the connections ``|M| > 0``.

    The entries of the two ``(n, n)`` matrices are pooled (``M[i, j] != 0`` marks a true
    connection, whatever its sign or weight); the AUROC is the probability that a connected pair
    scores higher than an unconnected one, ties counting one half (the Mann–Whitney statistic,
    with mid-ranks $r$ of the scores, $P$ positives and $N$ negatives):

    $$\\mathrm{AUROC} = \\frac{\\sum_{\\text{positives}} r - P (P + 1) / 2}{P N},$$

    as ``sklearn.metrics.roc_auc_score``. Lu et al. 2023 (arXiv 2311.06928) score over the full
    matrix, the diagonal included (as negatives scored 0 by the zeroed diagonal of ``S``):
    ``include_diagonal=False`` scores the $n(n - 1)$ off-diagonal pairs only.

    Parameters
    ----------
    M: ``(n, n)`` true connectivity, finite.
    S: ``(n, n)`` scores (Granger ``F``, attention), finite; higher means more likely connected.
    include_diagonal: pool the diagonal entries too.

    Returns
    -------
    float
        The AUROC in $[0, 1]$; 0.5 is chance.

    Raises
    ------
    ArgumentError
        If the pooled entries hold no connection or only connections (the AUROC is undefined),
        ``M`` is not square, or ``S`` has another shape.

    Examples
    --------
    >>> import numpy as np
    >>> from lowrank_rnn import causal
    >>> M = np.array([[0, 5, 0], [0, 0, -5], [5, 0, 0]])
    >>> S = np.array([[0, 0.9, 0.2], [0.1, 0, 0.7], [0.8, 0.3, 0]])
    >>> causal.auroc(M, S)
    1.0
    >>> causal.auroc(M, S.T, include_diagonal=False)
    0.0
    """
    M = finite_array("M", M, ndim=2)
    S = finite_array("S", S, ndim=2)
    if M.shape[0] != M.shape[1]:
        raise ArgumentError(f"M must be a square (n, n) matrix, got shape {M.shape}")
    if S.shape != M.shape:
        raise ArgumentError(f"S must have the shape of M, {M.shape}, got {S.shape}")
    if not isinstance(include_diagonal, (bool, np.bool_)):
        raise ArgumentTypeError(f"include_diagonal must be True or False, got {include_diagonal!r}")
    keep = np.ones(M.shape, bool) if include_diagonal else ~np.eye(len(M), dtype=bool)
    labels, scores = np.abs(M[keep]) > 0, S[keep]
    positives = int(labels.sum())
    negatives = labels.size - positives
    if positives == 0 or negatives == 0:
        what = "no connection" if positives == 0 else "only connections"
        raise ArgumentError(f"M: the scored entries hold {what} ({positives} of {labels.size}); the AUROC "
                            "needs both connected and unconnected pairs")
    ranks = scipy.stats.rankdata(scores)  # mid-ranks of ties
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))
