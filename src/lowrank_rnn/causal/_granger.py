"""Pairwise-conditional Granger causality in the time domain, from one least-squares VAR fit."""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.linalg
import scipy.stats

from .._checks import finite_array, positive_int, real_scalar
from .._errors import ArgumentError, ArgumentTypeError

CRITERIA = ("aic", "bic")


@dataclasses.dataclass(frozen=True)
class GrangerResult:
    """What :func:`granger` estimated, as NumPy arrays.

    Attributes
    ----------
    F: ``(n, n)``; ``F[i, j]`` is the Granger causality from variable ``j`` to variable ``i``,
        $\\ln(\\Sigma^{\\mathrm{red}}_{ii} / \\Sigma_{ii})$, conditional on all the others; 0 on
        the diagonal.
    order: the VAR model order used.
    pvalues: ``(n, n)``, the F-test p-values of ``F[i, j] = 0``; NaN on the diagonal.
    qvalues: ``(n, n)``, ``pvalues`` adjusted for the false discovery rate over the $n(n-1)$
        off-diagonal tests (Benjamini & Hochberg 1995); NaN on the diagonal.
    criterion: ``"aic"`` or ``"bic"`` when the order was selected, ``None`` when it was given.
    information: the criterion's value for orders ``1 .. max_order`` (NaN where undefined), or
        ``None`` when the order was given.

    Examples
    --------
    >>> import numpy as np
    >>> from lowrank_rnn import causal
    >>> rng = np.random.default_rng(0)
    >>> x = np.zeros((2000, 2))
    >>> for t in range(1, 2000):
    ...     x[t] = [0.5 * x[t - 1, 0], 0.8 * x[t - 1, 0]] + rng.normal(size=2)
    >>> res = causal.granger(x, order=1)
    >>> res.significant(0.01)
    array([[False, False],
           [ True, False]])
    """

    F: np.ndarray
    order: int
    pvalues: np.ndarray
    qvalues: np.ndarray
    criterion: str | None = None
    information: np.ndarray | None = None

    def significant(self, alpha: float = 0.05) -> np.ndarray:
        """Return the ``(n, n)`` boolean matrix of the influences whose FDR-adjusted p-value is below ``alpha``."""
        alpha = real_scalar("alpha", alpha, low=0.0, high=1.0)
        with np.errstate(invalid="ignore"):
            return np.nan_to_num(self.qvalues, nan=1.0) < alpha


def _design(X: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the regressors Z (m, 1 + order n), [1, x_{t-1}, ..., x_{t-order}], and targets Y (m, n)."""
    T, n = X.shape
    m = T - order
    lags = [X[order - lag:T - lag] for lag in range(1, order + 1)]
    Z = np.concatenate([np.ones((m, 1)), *lags], axis=1)
    return Z, X[order:]


def _cholesky(G: np.ndarray) -> np.ndarray:
    """Return the lower Cholesky factor of the regressors' Gram matrix, refusing collinear regressors."""
    try:
        L = np.linalg.cholesky(G)
    except np.linalg.LinAlgError:
        L = None
    diag = np.abs(np.diag(L)) if L is not None else np.zeros(1)
    if L is None or diag.min() <= 1e-7 * diag.max():  # cond(Z) beyond ~1e7
        raise ArgumentError("X: the lagged values are collinear (a variable is a linear combination of the others' "
                            "histories, or the order is too high for the data); drop redundant variables")
    return L


def _fit(X: np.ndarray, order: int):
    """Return (coefficients (K, n), residuals (m, n), inverse Gram matrix (K, K)) of the OLS VAR(order).

    Normal equations through a Cholesky factor: the Gram matrix costs one matrix product, several
    times cheaper than a QR of the design, and the columns are standardised, so it is well
    conditioned unless the regressors are collinear (refused).
    """
    Z, Y = _design(X, order)
    L = _cholesky(Z.T @ Z)
    beta = scipy.linalg.cho_solve((L, True), Z.T @ Y, check_finite=False)
    G_inv = scipy.linalg.cho_solve((L, True), np.eye(L.shape[0]), check_finite=False)
    return beta, Y - Z @ beta, G_inv


def _information(X: np.ndarray, max_order: int, criterion: str) -> np.ndarray:
    """Return the information criterion of the OLS VAR(q), q = 1 .. max_order (NaN where undefined).

    All orders are fitted on the same $M = T - q_{\\max}$ observations (Lutkepohl 2005, Sec. 4.3),
    so one Cholesky factor of the largest design serves every order (its leading blocks are the
    smaller designs). As the MVGC toolbox (Barnett & Seth 2014): $L = -\\frac{M}{2}
    \\ln\\det\\hat\\Sigma_q$ and $k = q n^2$ lag coefficients, AIC $= -2L + 2k M / (M - k - 1)$
    (corrected; NaN when $M \\le k + 1$) and BIC $= -2L + k \\ln M$.
    """
    T, n = X.shape
    while max_order > 1 and T - max_order <= 1 + max_order * n:
        max_order -= 1  # the largest orders cannot be fitted at all
    out = np.full(max_order, np.nan)
    Z, Y = _design(X, max_order)
    M = len(Y)
    L = _cholesky(Z.T @ Z)
    W = scipy.linalg.solve_triangular(L, Z.T @ Y, lower=True, check_finite=False)  # (K, n)
    YtY = Y.T @ Y
    for q in range(1, max_order + 1):
        Wq = W[:1 + q * n]
        sign, logdet = np.linalg.slogdet((YtY - Wq.T @ Wq) / M)
        if sign <= 0:
            continue
        k = q * n * n
        minus_2L = M * logdet
        if criterion == "bic":
            out[q - 1] = minus_2L + k * np.log(M)
        elif M - k - 1 > 0:
            out[q - 1] = minus_2L + 2 * k * M / (M - k - 1)
    return out


def _benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Return the Benjamini–Hochberg adjusted p-values of a 1-D array."""
    k = len(p)
    idx = np.argsort(p)
    ranked = p[idx] * k / np.arange(1, k + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(k)
    out[idx] = np.minimum(adjusted, 1.0)
    return out


def granger(X, *, order: int | None = None, max_order: int = 10, criterion: str = "aic") -> GrangerResult:
    """Return the pairwise-conditional Granger causality between the columns of ``X``.

    A vector autoregression with intercept, $x_t = c + \\sum_{l=1}^{q} A_l x_{t-l} + \\varepsilon_t$,
    is fitted by least squares; the reduced model of target $i$ without source $j$ drops the
    $q$ lags of $x_j$ from the regressors. The causality from $j$ to $i$ (Geweke 1982; the MVGC
    toolbox's time-domain pairwise-conditional GC, Barnett & Seth 2014) is

    $$F_{i \\leftarrow j} = \\ln \\frac{\\Sigma^{\\mathrm{red}(j)}_{ii}}{\\Sigma_{ii}},$$

    the log-ratio of the residual variances. All $n^2$ reduced models come from the one full fit:
    with $G = Z^\\top Z$ the Gram matrix of the regressors, $\\hat\\beta_{J,i}$ the full-model
    coefficients of source $j$'s lags $J$ for target $i$, dropping $J$ raises the residual sum of
    squares by $\\hat\\beta_{J,i}^\\top [(G^{-1})_{JJ}]^{-1} \\hat\\beta_{J,i}$ (Cholesky factor of $G$; one
    $q \\times q$ inverse per source). The F-test of $F_{i \\leftarrow j} = 0$ has $(q, M - K)$
    degrees of freedom ($M$ observations, $K = 1 + qn$ regressors); ``qvalues`` adjust its
    p-values for the false discovery rate (Benjamini & Hochberg 1995). Lu et al. 2023 (arXiv
    2311.06928) use this, with the order chosen by AIC up to 10, as the classical baseline.

    Parameters
    ----------
    X: ``(time, n)`` real, finite array, ``n >= 2``; one column per variable.
    order: the VAR order $q$; ``None`` chooses it by ``criterion`` among ``1 .. max_order``.
    max_order: the largest order tried when ``order`` is ``None``.
    criterion: ``"aic"`` (corrected, as in MVGC: $-2L + 2kM/(M - k - 1)$, undefined when the
        $k = qn^2$ lag coefficients outnumber the observations) or ``"bic"`` ($-2L + k \\ln M$).

    Returns
    -------
    GrangerResult
        ``F``, ``order``, ``pvalues``, ``qvalues`` (and the criterion's values).

    Examples
    --------
    >>> import numpy as np
    >>> from lowrank_rnn import causal
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=(3000, 3))
    >>> x[1:, 2] += 0.6 * x[:-1, 0]          # 0 drives 2 with one step of delay
    >>> res = causal.granger(x, max_order=3, criterion="bic")
    >>> res.order, np.unravel_index(np.argmax(res.F), res.F.shape)
    (1, (np.int64(2), np.int64(0)))
    """
    X = finite_array("X", X, ndim=2)
    T, n = X.shape
    if n < 2:
        raise ArgumentError(f"X must have at least 2 columns (variables), got shape {X.shape}")
    if not isinstance(criterion, str) or criterion.lower() not in CRITERIA:
        raise (ArgumentError if isinstance(criterion, str) else ArgumentTypeError)(
            f"criterion must be one of {CRITERIA}, got {criterion!r}")
    criterion = criterion.lower()
    if order is not None:
        order = positive_int("order", order)
        needed = order * (n + 1) + 2
        if T < needed:
            raise ArgumentError(f"X has {T} time steps; a VAR of order {order} on {n} variables needs at least "
                                f"{needed} (more observations than its {1 + order * n} regressors, plus one)")
    else:
        max_order = positive_int("max_order", max_order)
        needed = n + 3
        if T < needed:
            raise ArgumentError(f"X has {T} time steps; a VAR of order 1 on {n} variables needs at least {needed}")
    std = X.std(axis=0)
    if np.any(std == 0):
        raise ArgumentError(f"X: column {int(np.argmin(std))} is constant; Granger causality needs varying signals")
    X = (X - X.mean(axis=0)) / std  # F and the tests do not change under affine rescaling of a column

    information = None
    if order is None:
        information = _information(X, max_order, criterion)
        if np.all(np.isnan(information)):
            raise ArgumentError(f"X: the {criterion.upper()} is undefined for every order 1 .. {max_order} "
                                f"(too few time steps, {T}, for {n} variables); give more data or order=")
        order = int(np.nanargmin(information)) + 1

    beta, resid, G_inv = _fit(X, order)
    rss = (resid**2).sum(axis=0)  # (n,)
    m, K = len(resid), len(G_inv)
    # column of source j's lag l in Z: 1 + (l - 1) n + j
    cols = 1 + np.arange(order)[None, :] * n + np.arange(n)[:, None]  # (n sources, q)
    blocks = G_inv[cols[:, :, None], cols[:, None, :]]  # (n, q, q)
    b = beta[cols]  # (n sources, q, n targets)
    increase = np.einsum("jai,jai->ij", b, np.linalg.solve(blocks, b))  # (n targets, n sources)
    increase = np.maximum(increase, 0.0)
    F = np.log1p(increase / rss[:, None])
    np.fill_diagonal(F, 0.0)

    dof = m - K
    stat = (increase / order) / (rss[:, None] / dof)
    pvalues = scipy.stats.f.sf(stat, order, dof)
    off = ~np.eye(n, dtype=bool)
    qvalues = np.full((n, n), np.nan)
    qvalues[off] = _benjamini_hochberg(pvalues[off])
    pvalues[~off] = np.nan
    return GrangerResult(F=F, order=order, pvalues=pvalues, qvalues=qvalues,
                         criterion=criterion if information is not None else None, information=information)
