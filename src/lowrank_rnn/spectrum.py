r"""Eigenvalue spectra of low-rank networks: predictions beside numerics.

For $J = g\chi + \frac{1}{N}\sum_r m_r n_r^\top$ with $\chi$ independent of the loadings, the
spectrum is, as $N$ grows, a disk of radius $g$ (the circular law for $g\chi$) plus $R$ outliers at
the eigenvalues of the $R \times R$ overlap matrix

$$
O_{rs} = \frac{n_r^\top m_s}{N} \;\to\; \langle n_r m_s \rangle
$$

wherever they lie outside the disk (Mastrogiuseppe & Ostojic 2018, Neuron 99:609, Fig. 1; Rajan &
Abbott 2006; Tao 2013 for outliers of perturbed i.i.d. matrices).

- :func:`predict` gives the bulk radius and outliers of an :class:`~lowrank_rnn.Ensemble` (from its
  statistics, the N -> infinity limit) or of a :class:`~lowrank_rnn.Network` (from its own overlap
  matrix, which already carries the finite-N fluctuation of ``n^T m / N``).
- :func:`eigenvalues` gives the numerical eigenvalues of a network's J (dense with a bulk; from the
  R x R overlap matrix without one).
- :func:`match_outliers` pairs predicted outliers with the nearest numerical eigenvalues.
- :func:`plot` draws them side by side.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ._ensemble import Ensemble
from ._errors import ArgumentError, ArgumentTypeError
from ._network import Network

__all__ = ["SpectrumPrediction", "predict", "eigenvalues", "match_outliers", "outlier_std", "plot"]


@dataclasses.dataclass(frozen=True)
class SpectrumPrediction:
    """Predicted spectrum: the radius of the bulk disk and the R outliers (complex).

    ``outliers`` lists all R eigenvalues of the overlap matrix, sorted by decreasing real part;
    ``visible`` marks those outside the bulk disk, which are the ones that show up in J.

    Examples
    --------
    >>> from lowrank_rnn import Ensemble
    >>> pred = predict(Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=0.5))
    >>> pred.bulk_radius, pred.outliers.real, pred.visible
    (0.5, array([2.2]), array([ True]))
    """

    bulk_radius: float
    outliers: np.ndarray

    @property
    def visible(self) -> np.ndarray:
        """Boolean mask of the outliers that lie outside the bulk disk."""
        return np.abs(self.outliers) > self.bulk_radius


def _sorted(eigs: np.ndarray) -> np.ndarray:
    eigs = np.asarray(eigs, dtype=complex)
    return eigs[np.lexsort((-eigs.imag, -eigs.real))]


def predict(obj: Ensemble | Network) -> SpectrumPrediction:
    """Return the predicted bulk radius ``g`` and outliers ``eig(overlap)`` of an ensemble or network.

    For an ensemble the overlap is ``E[n_r m_s]``; for a network it is ``n_r^T m_s / N`` and the
    radius is the network's ``g``.

    >>> from lowrank_rnn import Ensemble
    >>> p = predict(Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1, std_n=1, g=0.5))
    >>> p.bulk_radius, complex(p.outliers[0])
    (0.5, (2.2+0j))
    """
    if isinstance(obj, Ensemble):
        overlap, g = np.asarray(obj.overlap, np.float64), float(obj.g)
    elif isinstance(obj, Network):
        overlap, g = obj.overlap, float(obj.g)
    else:
        raise ArgumentTypeError(f"predict takes an Ensemble or a Network, got {type(obj).__name__}")
    return SpectrumPrediction(bulk_radius=g, outliers=_sorted(np.linalg.eigvals(overlap)))


def eigenvalues(network: Network) -> np.ndarray:
    """Return the eigenvalues of the network's connectivity J (float64 LAPACK), complex, sorted by
    decreasing real part (then decreasing imaginary part).

    With a random bulk, those of the dense N x N matrix J: O(N^3), meant for N up to a few thousand.
    Without one, ``J = m n^T / N`` has rank at most R < N: its nonzero eigenvalues are those of the
    R x R overlap matrix ``n^T m / N`` (``m n^T x = lambda x`` with ``y = n^T x`` gives
    ``n^T m y = lambda y``), and the other N - R are exactly 0, which is what is returned then
    (an O(N R^2) computation; the dense route gives those zeros as rounding noise of order 1e-16
    times the norm of J).

    >>> import numpy as np
    >>> from lowrank_rnn import Network
    >>> net = Network(m=np.ones((4, 1)), n=2 * np.ones((4, 1)))
    >>> eigenvalues(net)
    array([2.+0.j, 0.+0.j, 0.+0.j, 0.+0.j])
    """
    if not isinstance(network, Network):
        raise ArgumentTypeError(f"eigenvalues takes a Network, got {type(network).__name__}")
    m, n = np.asarray(network.m, np.float64), np.asarray(network.n, np.float64)
    N, R = m.shape
    if network.bulk is None and R < N:
        outliers = np.linalg.eigvals(n.T @ m / N)
        return _sorted(np.concatenate([outliers, np.zeros(N - R)]))
    J = m @ n.T / N
    if network.bulk is not None:
        J = J + np.asarray(network.bulk, np.float64)
    return _sorted(np.linalg.eigvals(J))


def match_outliers(numerical: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Return, for each predicted outlier, the nearest numerical eigenvalue (each used once).

    Examples
    --------
    >>> match_outliers([0.1, 2.3, -1.0], [2.2, 0.0])
    array([2.3+0.j, 0.1+0.j])
    """
    numerical = np.asarray(numerical, dtype=complex)
    free = np.ones(len(numerical), bool)
    out = []
    for lam in np.asarray(predicted, dtype=complex):
        d = np.where(free, np.abs(numerical - lam), np.inf)
        j = int(np.argmin(d))
        free[j] = False
        out.append(numerical[j])
    return np.array(out)


def outlier_std(ensemble: Ensemble, N: int) -> float:
    """Return the finite-N standard deviation of the rank-one outlier, to leading order in 1/sqrt(N).

    The outlier ``lambda`` solves ``1 = n^T (lambda - g chi)^{-1} m / N = sum_k theta_k / lambda^{k+1}``
    (Schuessler et al. 2020, PRR 2:013111) with ``theta_0 = n^T m / N`` and
    ``theta_1 = g n^T chi m / N``. To first order ``lambda = theta_0 + theta_1 / theta_0``, whose
    variance is ``Var(n m) / N + g^2 E[n^2] E[m^2] / (N lambda^2)``, with, for Gaussian loadings,
    ``Var(n m) = s_nn s_mm + s_nm^2 + M_n^2 s_mm + M_m^2 s_nn + 2 M_m M_n s_nm``.
    Only rank one with a single Gaussian is supported.

    Examples
    --------
    >>> from lowrank_rnn import Ensemble
    >>> ens = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=0.5)
    >>> round(outlier_std(ens, 1000), 3)        # shrinks as 1 / sqrt(N)
    0.082
    """
    if not isinstance(ensemble, Ensemble) or ensemble.rank != 1 or ensemble.n_populations != 1:
        raise ArgumentError("outlier_std supports rank-one, single-population ensembles only")
    i_m, i_n = ensemble.index("m1"), ensemble.index("n1")
    mu, cov = np.asarray(ensemble.mean[0]), np.asarray(ensemble.cov[0])
    Mm, Mn = mu[i_m], mu[i_n]
    smm, snn, smn = cov[i_m, i_m], cov[i_n, i_n], cov[i_m, i_n]
    var_nm = snn * smm + smn**2 + Mn**2 * smm + Mm**2 * snn + 2 * Mm * Mn * smn
    lam = Mm * Mn + smn
    var = var_nm / N + ensemble.g**2 * (snn + Mn**2) * (smm + Mm**2) / (N * lam**2)
    return float(np.sqrt(var))


def plot(obj: Ensemble | Network, network: Network | None = None, *, ax=None, numerical=None):
    """Draw the predicted bulk disk and outliers of ``obj``, and the numerical eigenvalues of
    ``network`` (defaults to ``obj`` when it is a Network). Returns the matplotlib Axes.

    ``numerical`` passes eigenvalues already computed (from :func:`eigenvalues`) instead.

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn import Ensemble
    >>> ens = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=0.5)
    >>> ax = plot(ens, ens.sample(200, key=jax.random.key(0)))
    >>> len(ax.collections) > 0           # the numerical eigenvalues
    True
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 4.2))
    pred = predict(obj)
    if network is None and isinstance(obj, Network):
        network = obj
    if numerical is None and network is not None:
        numerical = eigenvalues(network)
    if numerical is not None:
        ax.scatter(numerical.real, numerical.imag, s=3, color="0.45", lw=0, label="numerical eigenvalues")
    th = np.linspace(0, 2 * np.pi, 400)
    r = pred.bulk_radius
    ax.plot(r * np.cos(th), r * np.sin(th), color="C0", lw=1.5, label=f"predicted bulk, radius g = {r:g}")
    ax.scatter(pred.outliers.real, pred.outliers.imag, s=70, marker="x", color="C3", lw=2,
               label="predicted outliers", zorder=3)
    if numerical is not None:
        near = match_outliers(numerical, pred.outliers)
        ax.scatter(near.real, near.imag, s=110, facecolors="none", edgecolors="k", lw=1.2,
                   label="nearest numerical eigenvalues", zorder=4)
    ax.axvline(1.0, color="k", ls=":", lw=0.8)
    ax.set_xlabel("Re $\\lambda$")
    ax.set_ylabel("Im $\\lambda$")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(fontsize=7, loc="upper left")
    return ax
