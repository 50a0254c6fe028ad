"""Geometry of population codes: participation ratio and cross-condition generalization (CCGP)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from .._checks import finite_array
from .._errors import ArgumentError, ArgumentTypeError


def participation_ratio(condition_means: Any, *, zscore: bool = True):
    r"""Return the participation ratio of the conditions' mean activity, a dimensionality between 1
    and the number of conditions minus one.

    With ``condition_means`` ``X`` of shape (neurons, conditions), each neuron's row is centred
    (and, with ``zscore``, divided by its standard deviation over the conditions; a neuron that
    does not vary is left at 0), and with $\lambda_i$ the eigenvalues of the neurons' covariance
    $X X^\top$,

    $$\mathrm{PR} = \frac{(\sum_i \lambda_i)^2}{\sum_i \lambda_i^2},$$

    computed from the conditions' Gram matrix $X^\top X$, which has the same non-zero
    eigenvalues (Israely et al. 2025, Nat. Commun. 16:2574, Methods; Gao et al. 2017). Traceable
    by ``jax.jit`` and ``jax.vmap`` (a JAX scalar comes back).

    Parameters
    ----------
    condition_means: array (neurons, conditions), or a batch (..., neurons, conditions).
    zscore: divide each neuron by its standard deviation over the conditions (the published
        analysis), or only centre it.

    Returns
    -------
    The participation ratio (a JAX array of the batch shape).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(500, 8))
    >>> round(float(participation_ratio(X)), 1)  # 8 conditions: at most 7 dimensions
    6.9
    >>> round(float(participation_ratio(np.outer(np.arange(500.0), np.ones(8)) + np.arange(8))), 3)
    1.0
    """
    if not isinstance(zscore, (bool, np.bool_)):
        raise ArgumentTypeError(f"zscore must be True or False, got {type(zscore).__name__}")
    X = jnp.asarray(condition_means)
    if X.ndim < 2 or X.shape[-1] < 2:
        raise ArgumentError(f"condition_means must have shape (neurons, conditions) with >= 2 conditions, "
                            f"got {X.shape}")
    if not jnp.issubdtype(X.dtype, jnp.floating):
        X = X.astype(jnp.float32)
    X = X - X.mean(axis=-1, keepdims=True)
    if zscore:
        sd = X.std(axis=-1, keepdims=True)
        X = jnp.where(sd > 0, X / jnp.where(sd > 0, sd, 1.0), 0.0)
    G = jnp.swapaxes(X, -1, -2) @ X
    lam = jnp.linalg.eigvalsh(G)
    return jnp.sum(lam, axis=-1) ** 2 / jnp.sum(lam ** 2, axis=-1)


def _label_set(name: str, value: Any) -> frozenset:
    try:
        items = frozenset(np.atleast_1d(np.asarray(value)).tolist())
    except TypeError:
        raise ArgumentTypeError(f"{name} must be a sequence of condition labels") from None
    if not items:
        raise ArgumentError(f"{name} is empty")
    return items


def ccgp(samples: Any, labels: Any, dichotomies: Sequence, *, classifier: str = "linear_svm",
         precomputed: bool = False) -> float:
    r"""Return the cross-condition generalization performance (CCGP): the mean test accuracy of a
    linear classifier trained on some conditions of a dichotomy and tested on the others.

    Each dichotomy is ``((train_a, train_b), (test_a, test_b))``, four sets of condition labels: a
    classifier learns to tell the samples of ``train_a`` from those of ``train_b`` and is scored on
    telling ``test_a`` from ``test_b`` (conditions it never saw; Bernardi et al. 2020, Cell
    183:954; Israely et al. 2025, Nat. Commun. 16:2574). The classifier is scikit-learn's
    ``SVC(kernel="linear", C=1)`` (``classifier="linear_svm"``), as in the published analysis.

    Parameters
    ----------
    samples: array (samples, features); with ``precomputed=True``, the (samples, samples) matrix
        of their dot products $s_i^\top s_j$ instead (the same classifier, from the linear kernel).
    labels: the condition label of each sample, shape (samples,).
    dichotomies: a sequence of ``((train_a, train_b), (test_a, test_b))``.
    classifier: ``"linear_svm"``.
    precomputed: see ``samples``.

    Returns
    -------
    The mean test accuracy over the dichotomies (0.5 is chance).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat(np.arange(4), 20)
    >>> x = np.stack([labels % 2, labels // 2], axis=1) + 0.1 * rng.normal(size=(80, 2))
    >>> ccgp(x, labels, [(([0], [1]), ([2], [3])), (([0], [2]), ([1], [3]))])
    1.0
    """
    if classifier != "linear_svm":
        raise ArgumentError(f"classifier must be 'linear_svm', got {classifier!r}")
    from sklearn.svm import SVC

    X = finite_array("samples", samples, ndim=2)
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ArgumentError(f"labels must have shape (samples,) = ({X.shape[0]},), got {y.shape}")
    if precomputed and X.shape[0] != X.shape[1]:
        raise ArgumentError(f"samples must be a square (samples, samples) kernel matrix with precomputed=True, "
                            f"got {X.shape}")
    if isinstance(dichotomies, (str, bytes)) or len(dichotomies) == 0:
        raise ArgumentError("dichotomies must be a non-empty sequence of ((train_a, train_b), (test_a, test_b))")
    scores = []
    for d, dich in enumerate(dichotomies):
        try:
            (ta, tb), (sa, sb) = dich
        except (TypeError, ValueError):
            raise ArgumentError(f"dichotomies[{d}] must be ((train_a, train_b), (test_a, test_b))") from None
        sets = [_label_set(f"dichotomies[{d}]", s) for s in (ta, tb, sa, sb)]
        masks = [np.isin(y, list(s)) for s in sets]
        for s, m in zip(sets, masks):
            if not m.any():
                raise ArgumentError(f"dichotomies[{d}]: no sample has a label in {sorted(s)}")
        train = masks[0] | masks[1]
        test = masks[2] | masks[3]
        y_train = masks[1][train].astype(int)
        y_test = masks[3][test].astype(int)
        svm = SVC(kernel="precomputed" if precomputed else "linear", C=1.0)
        if precomputed:
            svm.fit(X[np.ix_(train, train)], y_train)
            pred = svm.predict(X[np.ix_(test, train)])
        else:
            svm.fit(X[train], y_train)
            pred = svm.predict(X[test])
        scores.append(float(np.mean(pred == y_test)))
    return float(np.mean(scores))
