"""Flow fields and fixed points of trained low-rank networks in their latent (kappa) space.

Two sources, chosen by ``source``:

- ``"network"``: the finite trained network itself. With no random bulk and tonic inputs ``u``,
  the latents obey exactly ``d kappa/dt = -kappa + n^T phi(m kappa + I u) / N`` (the state relaxes
  onto ``x = m kappa + I u``), evaluated here in float64 from the network's own vectors.
- ``"ensemble"``: the mean-field flow of the Gaussian (mixture) description of the loadings
  (:func:`lowrank_rnn.models.to_ensemble`: one Gaussian fitted to the trained loadings, or the
  exact mixture of a ``MixtureLowRankRNN``), through :func:`lowrank_rnn.theory.flow_field` and
  :func:`lowrank_rnn.theory.latent_fixed_points`: the N -> infinity flow of networks resampled
  from that description.

Comparing the two says whether the one-Gaussian description keeps the trained dynamics
(Dubreuil, Valente et al. 2022, Nat. Neurosci.).
"""

from __future__ import annotations

import numpy as np

from .._checks import finite_array, positive_int, real_scalar
from .._errors import ArgumentError
from ..models import to_ensemble
from ..theory import FixedPoint, FlowField, flow_field
from ..theory import latent_fixed_points as theory_fixed_points
from ..theory._latent import classify, grid_limits
from ..theory._rootfind import dedupe
from ._latents import _low_rank_parts

_SOURCES = ("network", "ensemble")


def _check_source(source) -> str:
    if source not in _SOURCES:
        raise ArgumentError(f"source must be one of {_SOURCES}, got {source!r}")
    return source


def _network_arrays(model, inputs):
    m, n, I = (np.asarray(a, np.float64) for a in _low_rank_parts(model))
    if model.nonlinearity != "tanh":
        raise ArgumentError(f"the latent flow is implemented for phi = tanh, the model has {model.nonlinearity!r}")
    K = I.shape[1]
    u = np.zeros(K) if inputs is None else finite_array("inputs", inputs, ndim=(0, 1)).reshape(-1)
    if u.shape != (K,):
        raise ArgumentError(f"inputs must hold K = {K} tonic amplitudes, got shape {u.shape}")
    return m, n, I @ u


def _net_flow(m, n, h, kappa):
    """``-kappa + n^T tanh(m kappa + h) / N`` at points ``kappa`` (..., R)."""
    x = kappa @ m.T + h                                     # (..., N)
    return -kappa + np.tanh(x) @ n / m.shape[0]


def _net_jacobian(m, n, h, kappa):
    """``-Id + n^T diag(phi'(x)) m / N`` at points ``kappa`` (..., R) -> (..., R, R)."""
    x = kappa @ m.T + h
    d = 1.0 - np.tanh(x) ** 2
    R = m.shape[1]
    return -np.eye(R) + np.einsum("...i,ir,is->...rs", d, n, m) / m.shape[0]


def _box(n):
    """Every fixed point has |kappa_r| <= mean_i |n_ri| (because |tanh| <= 1)."""
    return np.mean(np.abs(n), axis=0)


def _make_fp(m, n, h, kappa, tol) -> FixedPoint:
    jac = _net_jacobian(m, n, h, kappa)
    eigs = np.linalg.eigvals(jac).astype(complex)
    eigs = eigs[np.lexsort((-eigs.imag, -eigs.real))]
    return FixedPoint(kappa=np.asarray(kappa, np.float64), jacobian=jac, eigenvalues=eigs,
                      kind=classify(eigs, tol))


def _network_fixed_points(m, n, h, n_starts: int, tol: float) -> list[FixedPoint]:
    R = m.shape[1]
    B = _box(n)
    axes = [np.linspace(-1.05 * b, 1.05 * b, n_starts) for b in B]
    k = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, R)
    scale = max(float(np.max(B)), 1e-12)
    f = _net_flow(m, n, h, k)
    res = np.linalg.norm(f, axis=-1)
    active = np.flatnonzero(res > 1e-13)
    for _ in range(60):  # damped Newton, backtracking by halving, on the starts not yet converged
        if active.size == 0:
            break
        ka, fa, ra = k[active], f[active], res[active]
        J = _net_jacobian(m, n, h, ka)
        step = -np.linalg.solve(J + 1e-12 * np.eye(R), fa[..., None])[..., 0]
        norm = np.linalg.norm(step, axis=-1, keepdims=True)
        step *= np.minimum(1.0, 0.5 * scale / np.maximum(norm, 1e-300))
        lam = np.ones((ka.shape[0], 1))
        for _ in range(6):
            cand = ka + lam * step
            fc = _net_flow(m, n, h, cand)
            rc = np.linalg.norm(fc, axis=-1)
            worse = rc >= ra
            if not np.any(worse):
                break
            lam = np.where(worse[:, None], lam * 0.5, lam)
        ok = rc < ra
        idx = active[ok]
        k[idx], f[idx], res[idx] = cand[ok], fc[ok], rc[ok]
        active = idx[res[idx] > 1e-13]
    good = res < 1e-9 * max(1.0, scale)
    pts = k[good][np.argsort(res[good])]
    roots = sorted(dedupe(pts, 1e-5 * scale), key=lambda r: tuple(r))
    return [_make_fp(m, n, h, r, tol) for r in roots]


def latent_fixed_points(model, inputs=None, *, source: str = "network", n_starts: int = 21,
                        tol: float = 1e-7) -> list[FixedPoint]:
    """Return the fixed points of a trained low-rank model's latent dynamics, with their stability.

    ``source="network"``: the roots of the finite network's exact latent flow
    ``F(kappa) = -kappa + n^T tanh(m kappa + I u) / N`` (g = 0, tonic inputs ``u``), found by damped
    Newton from an ``n_starts``-per-axis grid over the box ``|kappa_r| <= mean |n_r|`` that holds
    them all; Jacobian ``-Id + n^T diag(phi'(x*)) m / N``. ``source="ensemble"``: the mean-field
    fixed points of the Gaussian description (:func:`lowrank_rnn.theory.latent_fixed_points` on
    :func:`lowrank_rnn.models.to_ensemble` of the model). Mastrogiuseppe & Ostojic 2018, Neuron
    99:609; Dubreuil, Valente et al. 2022, Nat. Neurosci. (rank-two flow fields).

    Returns a list of :class:`lowrank_rnn.theory.FixedPoint` sorted by kappa.

    >>> import jax
    >>> from lowrank_rnn.models import LowRankRNN
    >>> model = LowRankRNN(300, 1, 1, 1, key=jax.random.key(0), m=jax.numpy.ones((300, 1)),
    ...                    n=2 * jax.numpy.ones((300, 1)))
    >>> [fp.kind for fp in latent_fixed_points(model)]
    ['stable node', 'unstable node', 'stable node']
    """
    source = _check_source(source)
    n_starts = positive_int("n_starts", n_starts, low=2)
    tol = real_scalar("tol", tol, low=0.0, low_open=True)
    if source == "ensemble":
        _low_rank_parts(model)
        return theory_fixed_points(to_ensemble(model), inputs, tol=tol)
    m, n, h = _network_arrays(model, inputs)
    return _network_fixed_points(m, n, h, n_starts if m.shape[1] <= 3 else min(n_starts, 7), tol)


def latent_flow_field(model, *, inputs=None, lim=None, n: int = 41, source: str = "network",
                      fixed_points: bool = True):
    """Return ``(FlowField, fixed points)`` of a rank-two trained model in its (kappa_1, kappa_2) plane.

    The flow ``d kappa/dt`` on an ``n x n`` grid (``FlowField(K1, K2, dK1, dK2, speed)``, ready for
    ``streamplot``), of the finite network (``source="network"``: ``-kappa + n^T tanh(m kappa +
    I u) / N``) or of the mean-field description of its loadings (``source="ensemble"``:
    :func:`lowrank_rnn.theory.flow_field` on the fitted Gaussian), with the fixed points of
    :func:`latent_fixed_points` (an empty list when ``fixed_points`` is False).
    ``lim`` as in :func:`lowrank_rnn.theory.flow_field` (default: 1.15 times the largest
    ``mean |n_r|`` for the network, ``sqrt(E[n_r^2])`` for the ensemble). Dubreuil, Valente et al.
    2022, Nat. Neurosci. (flow fields of Romo and DMS networks); Mastrogiuseppe & Ostojic 2018, Neuron 99:609.

    >>> import jax
    >>> from lowrank_rnn.models import LowRankRNN
    >>> ff, fps = latent_flow_field(LowRankRNN(100, 2, 1, 1, key=jax.random.key(0)), n=11)
    >>> ff.K1.shape
    (11, 11)
    """
    source = _check_source(source)
    n = positive_int("n", n, low=2)
    if getattr(model, "rank", None) != 2:
        raise ArgumentError(f"model must have rank 2 for a flow field in the (kappa_1, kappa_2) plane, "
                         f"got rank {getattr(model, 'rank', None)}")
    if source == "ensemble":
        _low_rank_parts(model)
        ff = flow_field(to_ensemble(model), lim=lim, n=n, inputs=inputs)
    else:
        m, nn, h = _network_arrays(model, inputs)
        if lim is None:
            lim = 1.15 * float(np.max(_box(nn)))
        (a1, b1), (a2, b2) = grid_limits(lim, None)
        K1, K2 = np.meshgrid(np.linspace(a1, b1, n), np.linspace(a2, b2, n), indexing="xy")
        d = _net_flow(m, nn, h, np.stack([K1, K2], -1))
        ff = FlowField(K1, K2, d[..., 0], d[..., 1], np.hypot(d[..., 0], d[..., 1]))
    fps = latent_fixed_points(model, inputs, source=source) if fixed_points else []
    return ff, fps


def plot_latent_flow(model, ax=None, *, inputs=None, lim=None, n: int = 31, source: str = "network",
                     trajectories=None, title: str = ""):
    """Return a matplotlib Axes with the rank-two latent flow of a trained model, its fixed points
    and optional latent trajectories ``(B, T, 2)`` (e.g. condition means of :func:`latents`).

    Speed as a background image, streamlines, fixed points (filled: stable; open: unstable or
    saddle), as in Dubreuil, Valente et al. 2022 (Nat. Neurosci.), from :func:`latent_flow_field`.

    Examples
    --------
    >>> import jax, matplotlib
    >>> matplotlib.use("Agg")
    >>> from lowrank_rnn.models import LowRankRNN
    >>> ax = plot_latent_flow(LowRankRNN(200, 2, 1, 1, key=jax.random.key(0)), n=11)
    >>> len(ax.collections) > 0          # the fixed points and the flow are drawn
    True
    """
    import matplotlib.pyplot as plt

    ff, fps = latent_flow_field(model, inputs=inputs, lim=lim, n=n, source=source)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.8))
    extent = (ff.K1[0, 0], ff.K1[0, -1], ff.K2[0, 0], ff.K2[-1, 0])
    ax.imshow(ff.speed, origin="lower", extent=extent, cmap="Greys", aspect="auto", alpha=0.7)
    ax.streamplot(ff.K1, ff.K2, ff.dK1, ff.dK2, color="0.3", density=1.0, linewidth=0.6, arrowsize=0.7)
    if trajectories is not None:
        tr = np.asarray(trajectories)
        if tr.ndim != 3 or tr.shape[-1] != 2:
            raise ArgumentError(f"trajectories must have shape (B, T, 2), got {tr.shape}")
        cmap = plt.get_cmap("coolwarm")
        for i, t in enumerate(tr):
            ax.plot(t[:, 0], t[:, 1], color=cmap(i / max(len(tr) - 1, 1)), lw=1.3)
    for fp in fps:
        face = "k" if fp.stable else ("0.6" if fp.kind == "marginal" else "white")
        ax.plot(*fp.kappa[:2], "o", ms=7, mfc=face, mec="k", mew=1.3, zorder=5)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel(r"$\kappa_1$")
    ax.set_ylabel(r"$\kappa_2$")
    if title:
        ax.set_title(title, fontsize="medium")
    return ax
