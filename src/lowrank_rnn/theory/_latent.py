"""Latent dynamics of g = 0 low-rank networks: flow, fixed points, limit cycles, flow-field plots.

Without a random bulk (g = 0) and with tonic input amplitudes ``u_k``, the state of a rank-R network
relaxes onto the subspace spanned by its m and I vectors, ``x(t) = sum_r kappa_r(t) m_r + sum_k I_k u_k``
(components outside it decay as exp(-t)), and the R latents obey exactly

    d kappa_r/dt = -kappa_r + (1/N) sum_i n_ri phi(x_i).

As N -> infinity the sum becomes an average over the loading distribution. For a Gaussian mixture
with population weights w_p (one population with weight 1 for a single Gaussian), Gaussian
integration by parts (E[n f(x)] = E[n] E[f] + Cov(n, x) E[f']) gives

    d kappa_r/dt = -kappa_r + sum_p w_p { M^p_{n_r} [phi]_p
                                          + [phi']_p ( sum_s s^p_{n_r m_s} kappa_s + sum_k s^p_{n_r I_k} u_k ) }

where ``[f]_p = int Dz f(mu_p + sqrt(Delta_p) z)`` with

    mu_p    = sum_s M^p_{m_s} kappa_s + sum_k M^p_{I_k} u_k,
    Delta_p = sum_{s,s'} s^p_{m_s m_s'} kappa_s kappa_s' + 2 sum_{s,k} s^p_{m_s I_k} kappa_s u_k
              + sum_{k,l} s^p_{I_k I_l} u_k u_l

(M: means, s: covariances within population p). References: Mastrogiuseppe & Ostojic 2018, Neuron
99:609 (rank one and two, ring attractor); Beiran, Dubreuil, Valente, Mastrogiuseppe & Ostojic 2021,
Neural Comput. 33:1572 (mixtures; Fig. 3: two stable states, ring, limit cycle).

The latent ``kappa`` here is the coordinate of x along m. At a fixed point it equals the network's
``n^T phi(x) / N`` (what :func:`lowrank_rnn.simulate` records as ``kappa``); during transients the two
differ by ``d kappa/dt``, so trajectories share their fixed points and periods, not their shape.

A useful bound: at any fixed point (and on any limit cycle, since the box is forward invariant and
attracting) ``|kappa_r| <= E|n_r| <= sqrt(E[n_r^2])`` because ``|phi| <= 1``. The fixed-point search
and the default plot limits use this box.

Everything is computed in float64 (JAX's 64-bit mode, switched on for the duration of each call, in
the calling thread only), with Gaussian averages by the trapezoid rule on a fixed grid of 201 nodes
in z on [-8.5, 8.5] (:mod:`lowrank_rnn.theory.gaussian`).
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from .._checks import finite_array, positive_int, real_scalar
from .._ensemble import Ensemble
from .._errors import ArgumentError, ArgumentTypeError
from ._averages import phi_dphi
from ._precision import float64
from ._rootfind import dedupe, gauss_newton_batch
from ._statistics import Statistics, as_jax, check_ensemble, check_inputs, statistics

__all__ = ["FixedPoint", "FlowField", "LimitCycle", "latent_flow", "flow_field", "plot_flow_field",
           "latent_fixed_points", "limit_cycle"]

#: The classification labels of :class:`FixedPoint`.
KINDS = ("stable node", "stable focus", "saddle", "unstable node", "unstable focus", "marginal")


# ---------------------------------------------------------------------------------------------
# Arguments, and the box that holds every fixed point
# ---------------------------------------------------------------------------------------------

def _check_ensemble(ensemble, allow_bulk: bool, rank: int | None = None) -> Ensemble:
    ensemble = check_ensemble(ensemble)
    if not isinstance(allow_bulk, bool):
        raise ArgumentTypeError(f"allow_bulk must be True or False, got {allow_bulk!r}")
    g = float(ensemble.g)
    if g != 0.0 and not allow_bulk:
        raise ArgumentError(
            f"ensemble.g must be 0 for the exact latent dynamics, got g = {g}. With a random bulk the "
            "latents are driven by the bulk too; pass allow_bulk=True to get the flow of the structured "
            "part alone (the g = 0 dynamics of the same loadings), or use ensemble.replace(g=0.0)")
    return check_ensemble(ensemble, rank=rank)


def _box(ensemble: Ensemble) -> np.ndarray:
    """B_r = sqrt(E[n_r^2]): every fixed point and limit cycle satisfies |kappa_r| <= B_r."""
    sm = np.asarray(ensemble.second_moments, np.float64)
    jn = [ensemble.index(f"n{r + 1}") for r in range(ensemble.rank)]
    return np.sqrt(np.clip(np.diag(sm)[jn], 0.0, None))


# ---------------------------------------------------------------------------------------------
# The flow (pure JAX, vectorised over leading axes of kappa)
# ---------------------------------------------------------------------------------------------

def _flow(p: Statistics, kappa):
    """d kappa/dt at kappa (..., R); see the module docstring for the equation."""
    mu = kappa @ p.Mm.T + p.MI @ p.u                                                # (..., C)
    delta = (jnp.einsum("...r,crs,...s->...c", kappa, p.Smm, kappa)
             + 2.0 * kappa @ (p.SmI @ p.u).T + jnp.einsum("k,ckl,l->c", p.u, p.SII, p.u))
    mu, delta = jnp.broadcast_arrays(mu, delta)
    ph, dph = phi_dphi(mu, delta)
    drive = (ph[..., None] * p.Mn
             + dph[..., None] * (jnp.einsum("crs,...s->...cr", p.Snm, kappa) + p.SnI @ p.u))  # (..., C, R)
    return -kappa + jnp.einsum("c,...cr->...r", p.alpha, drive)


_flow_batch = jax.jit(_flow)
_jacobian_batch = jax.jit(jax.vmap(jax.jacfwd(_flow, argnums=1), in_axes=(None, 0)))


def _evaluate(fn, p: Statistics, kappa) -> np.ndarray:
    """``fn(p, kappa)`` for points ``kappa`` (..., R), in float64.

    The points are flattened and zero-padded to a power-of-two batch, so that calls with many
    different numbers of points share a handful of compiled shapes.
    """
    kappa = np.asarray(kappa, np.float64)
    R = kappa.shape[-1]
    flat = kappa.reshape(-1, R)
    S = flat.shape[0]
    padded = np.zeros((max(16, 1 << max(S - 1, 0).bit_length()), R))
    padded[:S] = flat
    with float64():
        out = np.array(fn(as_jax(p), jnp.asarray(padded)), np.float64)[:S]
    return out.reshape(kappa.shape[:-1] + out.shape[1:])


def _setup(ensemble, inputs, allow_bulk, rank=None):
    ensemble = _check_ensemble(ensemble, allow_bulk, rank)
    u = check_inputs(ensemble, inputs)
    return ensemble, u, statistics(ensemble, u)


def latent_flow(ensemble: Ensemble, kappa, inputs=None, *, allow_bulk: bool = False) -> np.ndarray:
    """Return d kappa/dt of the mean-field latent dynamics at the points ``kappa`` (shape (..., R)).

    Implements, for g = 0 and tonic inputs ``u`` (Beiran et al. 2021, Neural Comput. 33:1572;
    Mastrogiuseppe & Ostojic 2018, Neuron 99:609),

        d kappa_r/dt = -kappa_r + sum_p w_p { M^p_{n_r} [phi]_p
                         + [phi']_p ( sum_s s^p_{n_r m_s} kappa_s + sum_k s^p_{n_r I_k} u_k ) },

    with Gaussian averages at mean ``mu_p = M^p_m . kappa + M^p_I . u`` and variance
    ``Delta_p = kappa^T s^p_mm kappa + 2 kappa^T s^p_mI u + u^T s^p_II u`` (module docstring). This is
    the N -> infinity limit of ``n^T tanh(m kappa + I u) / N - kappa`` for a network drawn from the
    ensemble.

    Parameters
    ----------
    ensemble: an :class:`~lowrank_rnn.Ensemble` with ``g = 0``.
    kappa: latent points, array of shape ``(..., R)`` (any leading shape), finite.
    inputs: the K tonic input amplitudes ``u_k`` (shape ``(K,)``); ``None`` means zero input.
    allow_bulk: when the ensemble has ``g > 0``, return the flow of its structured part alone (the
        g = 0 dynamics of the same loadings) instead of raising. That is *not* the dynamics of the
        network with its bulk, whose latents the bulk also drives.

    Returns
    -------
    ``np.ndarray`` float64 of the same shape as ``kappa``.

    Examples
    --------
    >>> from lowrank_rnn import Ensemble
    >>> ens = Ensemble.rank_one(mean_m=0.0, mean_n=0.0, std_m=1.0, std_n=2.0, cov_mn=1.5)
    >>> float(latent_flow(ens, [0.0])[0])     # the origin is a fixed point
    0.0
    >>> latent_flow(ens, [[0.1], [0.2]]).shape
    (2, 1)
    """
    ensemble, _, p = _setup(ensemble, inputs, allow_bulk)
    k = finite_array("kappa", kappa)
    if k.ndim == 0 or k.shape[-1] != ensemble.rank:
        raise ArgumentError(f"kappa must have shape (..., R) with R = {ensemble.rank} (the ensemble's rank), "
                         f"got shape {k.shape}")
    return _evaluate(_flow_batch, p, k)


def _jacobian(p: Statistics, kappa: np.ndarray) -> np.ndarray:
    return _evaluate(_jacobian_batch, p, np.asarray(kappa)[None])[0]


# ---------------------------------------------------------------------------------------------
# Flow field on a grid
# ---------------------------------------------------------------------------------------------

class FlowField(NamedTuple):
    """The rank-two latent flow on a regular grid (arrays of shape ``(n, n)``, ``indexing="xy"``:
    row i has ``kappa_2 = K2[i, 0]``, column j has ``kappa_1 = K1[0, j]``), ready for
    ``ax.streamplot(K1, K2, dK1, dK2)``.

    Examples
    --------
    >>> from lowrank_rnn import Ensemble
    >>> ens = Ensemble.from_directions({"m1": {"x1": 1}, "m2": {"x2": 1},
    ...                                 "n1": {"x1": 1.2}, "n2": {"x2": 1.6}})
    >>> ff = flow_field(ens, lim=2.0, n=5)      # dK1, dK2: d kappa / dt; speed: its norm
    >>> ff.K1.shape, ff.K1[0].tolist()
    ((5, 5), [-2.0, -1.0, 0.0, 1.0, 2.0])
    """

    K1: np.ndarray
    K2: np.ndarray
    dK1: np.ndarray
    dK2: np.ndarray
    speed: np.ndarray


def grid_limits(lim, ensemble: Ensemble | None) -> tuple[tuple[float, float], tuple[float, float]]:
    """The ranges ((lo1, hi1), (lo2, hi2)) of a rank-two grid from ``lim`` (see :func:`flow_field`);
    for ``lim=None``, 1.15 times the box of ``ensemble``."""
    if lim is None:
        half = 1.15 * float(np.max(_box(ensemble)))
        half = half if half > 0 else 1.0
        return (-half, half), (-half, half)
    arr = finite_array("lim", lim, ndim=(0, 1, 2))
    if arr.ndim == 0:
        if arr <= 0:
            raise ArgumentError(f"lim must be > 0 when given as one number (the grid is [-lim, lim]^2), got {float(arr)}")
        return (-float(arr), float(arr)), (-float(arr), float(arr))
    if arr.shape == (2,):
        arr = np.stack([arr, arr])
    if arr.shape != (2, 2):
        raise ArgumentError("lim must be a number L (grid [-L, L]^2), a pair (lo, hi) for both axes, or "
                         f"((lo1, hi1), (lo2, hi2)); got shape {arr.shape}")
    if np.any(arr[:, 1] <= arr[:, 0]):
        raise ArgumentError(f"lim: each range must have lo < hi, got {arr.tolist()}")
    return (float(arr[0, 0]), float(arr[0, 1])), (float(arr[1, 0]), float(arr[1, 1]))


def flow_field(ensemble: Ensemble, lim=None, n: int = 41, inputs=None, *,
               allow_bulk: bool = False) -> FlowField:
    """Return the rank-two latent flow on an ``n x n`` grid: ``FlowField(K1, K2, dK1, dK2, speed)``.

    ``(dK1, dK2)`` is :func:`latent_flow` (Beiran et al. 2021, Neural Comput. 33:1572, mean-field
    latent dynamics at g = 0) at the grid points and ``speed = sqrt(dK1^2 + dK2^2)``.

    Parameters
    ----------
    ensemble: a rank-two :class:`~lowrank_rnn.Ensemble` with ``g = 0``.
    lim: ``L`` for the square ``[-L, L]^2``, a pair ``(lo, hi)`` for both axes, or
        ``((lo1, hi1), (lo2, hi2))``. Default: 1.15 times the largest ``sqrt(E[n_r^2])``, a box that
        holds every fixed point and limit cycle.
    n: grid points per axis (``>= 2``).
    inputs, allow_bulk: as in :func:`latent_flow`.

    Examples
    --------
    >>> from lowrank_rnn import Ensemble
    >>> ens = Ensemble.from_directions({"m1": {"x1": 1}, "m2": {"x2": 1},
    ...                                 "n1": {"x1": 1.6, "x2": -0.8}, "n2": {"x1": 0.8, "x2": 1.6}})
    >>> ff = flow_field(ens, lim=2.0, n=21)
    >>> ff.K1.shape, float(ff.speed[10, 10])   # the centre of the grid is the fixed point 0
    ((21, 21), 0.0)
    """
    ensemble, _, p = _setup(ensemble, inputs, allow_bulk, rank=2)
    n = positive_int("n", n, low=2)
    (a1, b1), (a2, b2) = grid_limits(lim, ensemble)
    K1, K2 = np.meshgrid(np.linspace(a1, b1, n), np.linspace(a2, b2, n), indexing="xy")
    d = _evaluate(_flow_batch, p, np.stack([K1, K2], -1))
    return FlowField(K1, K2, d[..., 0], d[..., 1], np.hypot(d[..., 0], d[..., 1]))


# ---------------------------------------------------------------------------------------------
# Fixed points
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, eq=False)
class FixedPoint:
    """A fixed point of the latent dynamics and its linear stability.

    Attributes
    ----------
    kappa: the latent coordinates, shape ``(R,)``.
    jacobian: ``d(d kappa/dt)/d kappa`` at ``kappa``, shape ``(R, R)`` (by ``jax.jacfwd`` of the flow).
        Its eigenvalues are ``-1`` plus the outliers of ``J diag(phi'(x*))``; directions outside the
        latent space relax at rate 1.
    eigenvalues: the Jacobian's eigenvalues (complex), sorted by decreasing real part.
    kind: ``"stable node"``, ``"stable focus"``, ``"saddle"``, ``"unstable node"``,
        ``"unstable focus"`` or ``"marginal"`` (an eigenvalue with ``|Re| <= tol``; linear stability
        is then undecided). "Focus" means complex eigenvalues; in rank one only nodes occur.
    continuum: ``None`` for an isolated fixed point; ``"ring"`` (rank two) or ``"sphere"`` (rank >= 3)
        when the point lies on a continuum of fixed points found from the symmetry of the ensemble
        (a continuous attractor, Mastrogiuseppe & Ostojic 2018, Fig. 5 / S5): the returned points
        are then a sample of that manifold.
    radius: on a continuum, its radius ``|kappa|`` when the manifold is a circle or sphere (m
        loadings of equal variance and uncorrelated), otherwise ``None`` (an ellipse
        ``kappa^T s_mm kappa = Delta*``); ``None`` for isolated points.

    Examples
    --------
    >>> from lowrank_rnn import Ensemble
    >>> ens = Ensemble.from_directions({"m1": {"x1": 1}, "m2": {"x2": 1},
    ...                                 "n1": {"x1": 1.2}, "n2": {"x2": 1.6}})
    >>> origin = [fp for fp in latent_fixed_points(ens) if not fp.kappa.any()][0]
    >>> origin.kind, origin.eigenvalues.real.round(2)     # -1 + the overlaps 1.2 and 1.6
    ('unstable node', array([0.6, 0.2]))
    """

    kappa: np.ndarray
    jacobian: np.ndarray
    eigenvalues: np.ndarray
    kind: str
    continuum: str | None = None
    radius: float | None = None

    @property
    def stable(self) -> bool:
        """True for a stable node or focus (every eigenvalue has negative real part)."""
        return self.kind in ("stable node", "stable focus")

    def __repr__(self) -> str:
        k = np.array2string(self.kappa, precision=4, separator=", ")
        extra = f", continuum={self.continuum!r}" if self.continuum else ""
        return f"FixedPoint(kappa={k}, kind={self.kind!r}{extra})"


def classify(eigs: np.ndarray, tol: float) -> str:
    """The :class:`FixedPoint` kind of a fixed point whose Jacobian has eigenvalues ``eigs``: marginal
    when one has ``|Re| <= tol``, a focus when one has ``|Im| > tol``."""
    re, im = eigs.real, eigs.imag
    if np.any(np.abs(re) <= tol):
        return "marginal"
    focus = bool(np.any(np.abs(im) > tol))
    if np.all(re < 0):
        return "stable focus" if focus else "stable node"
    if np.all(re > 0):
        return "unstable focus" if focus else "unstable node"
    return "saddle"


def _make_fixed_point(p: Statistics, kappa: np.ndarray, tol: float, continuum=None, radius=None) -> FixedPoint:
    jac = _jacobian(p, kappa)
    eigs = np.linalg.eigvals(jac).astype(complex)
    eigs = eigs[np.lexsort((-eigs.imag, -eigs.real))]
    return FixedPoint(kappa=np.asarray(kappa, np.float64), jacobian=jac, eigenvalues=eigs,
                      kind=classify(eigs, tol), continuum=continuum, radius=radius)


def _roots_rank_one(p: Statistics, bound: float, n_grid: int) -> list[np.ndarray]:
    """All sign changes of the rank-one flow on a grid over [-bound, bound], refined by Brent."""
    grid = np.linspace(-bound, bound, n_grid)
    F = _evaluate(_flow_batch, p, grid[:, None])[:, 0]

    def f(x):
        return float(_evaluate(_flow_batch, p, np.array([[x]]))[0, 0])

    roots = [grid[i] for i in np.flatnonzero(F == 0.0)]
    for i in np.flatnonzero(F[:-1] * F[1:] < 0):
        roots.append(scipy.optimize.brentq(f, grid[i], grid[i + 1], xtol=1e-14, rtol=1e-15))
    return [np.array([r]) for r in sorted(roots)]


def _isotropy(p: Statistics, rtol: float = 1e-10):
    """Detect a continuous rotational symmetry of the flow (rank >= 2).

    If in every population the inputs to phi have zero mean (M_m = 0, M_I . u = 0), the inputs add
    no oriented terms (s_mI u = 0, s_nI u = 0), all populations share s_mm = L L^T (positive
    definite), and each whitened overlap A_p = L^T s^p_nm L^{-T} is a multiple a_p of the identity,
    then with y = L^T kappa the flow is dy/dt = y (-1 + sum_p w_p a_p [phi'](0, |y|^2 + d_p)):
    every sphere |y| = K with sum_p w_p a_p [phi'](0, K^2 + d_p) = 1 is a continuum of fixed points.
    Returns (L, a) or None.
    """
    C, R = p.Mm.shape
    scale = max(1.0, float(np.max(np.abs(p.Smm))), float(np.max(np.abs(p.Snm))))
    tol = rtol * scale
    if R < 2 or np.max(np.abs(p.Mm)) > tol or np.max(np.abs(p.MI @ p.u)) > tol:
        return None
    if np.max(np.abs(p.SmI @ p.u)) > tol or np.max(np.abs(p.SnI @ p.u)) > tol:
        return None
    S = p.Smm[0]
    if np.max(np.abs(p.Smm - S)) > tol:
        return None
    try:
        L = np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        return None
    if np.min(np.linalg.eigvalsh(S)) < 1e-8 * scale:
        return None
    a = np.empty(C)
    for c in range(C):
        A = L.T @ p.Snm[c] @ np.linalg.inv(L.T)
        a[c] = np.trace(A) / R
        if np.max(np.abs(A - a[c] * np.eye(R))) > 1e3 * tol:
            return None
    return L, a


def latent_fixed_points(ensemble: Ensemble, inputs=None, *, n_starts: int | None = None,
                        ring_points: int = 16, tol: float = 1e-7, allow_bulk: bool = False
                        ) -> list[FixedPoint]:
    """Return every fixed point of the mean-field latent dynamics, with Jacobian and classification.

    Solves ``d kappa/dt = 0`` for the flow of :func:`latent_flow` (g = 0; Beiran et al. 2021,
    Neural Comput. 33:1572, Fig. 3; Mastrogiuseppe & Ostojic 2018, Neuron 99:609). All fixed points
    lie in the box ``|kappa_r| <= sqrt(E[n_r^2])`` (because ``|phi| <= 1``), which is searched:

    - rank one: sign changes of the flow on a grid of ``n_starts`` points (default 4001), each
      refined by Brent's method;
    - rank two and above: damped Gauss–Newton (in JAX, vmapped) from a regular grid of
      ``n_starts`` points per axis (default 25 for rank two, 11 for rank three, 7 above), the
      converged points (residual < 1e-10) deduplicated;
    - continuous attractors: when the ensemble has the rotational symmetry of the ring (zero means,
      equal-variance uncorrelated m or any common s_mm after whitening, overlap proportional to the
      identity, no oriented input), the fixed points away from the origin form a ring (rank two) or
      sphere (rank >= 3) on which ``sum_p w_p a_p [phi'](0, Delta*) = 1``; e.g. for one population
      with ``s_mm = I`` and overlap ``rho I`` the radius K solves ``rho [phi'](0, K^2) = 1``
      (Mastrogiuseppe & Ostojic 2018). Then ``ring_points`` points evenly spaced on the ring (rank
      two; 2R points on the axes for a sphere) are returned, marked ``continuum="ring"``/``"sphere"``,
      with ``kind="marginal"`` (a zero eigenvalue along the manifold).

    Limits: a root where the flow only touches zero (a fold, exactly at a saddle-node bifurcation)
    or two roots closer than the grid spacing can be missed in rank one; in rank >= 2 a root whose
    basin of attraction under Newton contains no grid start is missed (make ``n_starts`` larger).
    A continuum that does not come from the symmetry above shows up as many ``"marginal"`` points.

    Parameters
    ----------
    ensemble: an :class:`~lowrank_rnn.Ensemble` with ``g = 0`` (see ``allow_bulk``).
    inputs: the K tonic input amplitudes; ``None`` means zero input.
    n_starts: grid size (rank one: points; rank >= 2: points per axis).
    ring_points: number of points returned on a ring (``>= 1``).
    tol: eigenvalues with ``|Re| <= tol`` make a point ``"marginal"``; ``|Im| > tol`` makes it a focus.
    allow_bulk: as in :func:`latent_flow`.

    Returns
    -------
    list of :class:`FixedPoint`, sorted by ``kappa`` (lexicographically), isolated points first.

    Examples
    --------
    >>> from lowrank_rnn import Ensemble
    >>> ens = Ensemble.from_directions({"m1": {"x1": 1}, "m2": {"x2": 1},
    ...                                 "n1": {"x1": 1.2}, "n2": {"x2": 1.6}})
    >>> [fp.kind for fp in latent_fixed_points(ens)]   # sorted by kappa: (-k1, 0), (0, -k2), 0, ...
    ['saddle', 'stable node', 'unstable node', 'stable node', 'saddle']
    """
    ensemble, _, p = _setup(ensemble, inputs, allow_bulk)
    R = ensemble.rank
    if n_starts is not None:
        n_starts = positive_int("n_starts", n_starts, low=2)
    ring_points = positive_int("ring_points", ring_points)
    tol = real_scalar("tol", tol, low=0.0, low_open=True)
    B = _box(ensemble)
    scale = max(float(np.max(B)), 1e-12)

    if R == 1:
        roots = _roots_rank_one(p, 1.001 * scale, n_starts or 4001)
        return [_make_fixed_point(p, r, tol) for r in roots]

    sym = _isotropy(p)
    if sym is not None:
        return _symmetric_fixed_points(p, sym, scale, ring_points, tol)

    n_axis = n_starts or {2: 25, 3: 11}.get(R, 7)
    axes = [np.linspace(-b, b, n_axis) if b > 0 else np.zeros(1) for b in B]
    starts = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, R)
    ends, res = gauss_newton_batch(partial(_evaluate, _flow_batch, p), partial(_evaluate, _jacobian_batch, p),
                                   starts, 0.5 * scale)
    ok = np.isfinite(res) & (res < 1e-10 * max(1.0, scale))
    ends = ends[ok][np.argsort(res[ok])]
    roots = dedupe(ends, 1e-6 * scale)
    roots = [np.where(np.abs(r) < 1e-13 * scale, 0.0, r) for r in roots]  # -3e-26 is 0
    roots = sorted(roots, key=lambda r: tuple(r))
    return [_make_fixed_point(p, r, tol) for r in roots]


def _symmetric_fixed_points(p: Statistics, sym, scale: float, ring_points: int, tol: float) -> list[FixedPoint]:
    L, a = sym
    R = L.shape[0]
    LinvT = np.linalg.inv(L.T)

    def h(K):
        """The radial rate d|y|/dt / |y| = -1 + sum_p w_p a_p [phi'](0, K^2 + d_p), from the flow
        along the whitened axis y = K e_1 (y = L^T kappa)."""
        K = np.atleast_1d(np.asarray(K, np.float64))
        kappa = K[:, None] * LinvT[:, 0]
        return (_evaluate(_flow_batch, p, kappa) @ L)[:, 0] / K

    # |y| = |L^T kappa| <= ||L|| sqrt(R) max_r B_r on the box
    Kmax = 1.001 * float(np.linalg.norm(L, 2)) * math.sqrt(R) * scale
    grid = np.linspace(0.0, Kmax, 2001)[1:]
    H = h(grid)
    radii = [scipy.optimize.brentq(lambda K: float(h(K)[0]), grid[i], grid[i + 1], xtol=1e-15, rtol=1e-15)
             for i in np.flatnonzero(H[:-1] * H[1:] < 0)]

    out = [_make_fixed_point(p, np.zeros(R), tol)]
    circular = np.allclose(L, L[0, 0] * np.eye(R), rtol=1e-10, atol=1e-12 * scale)
    name = "ring" if R == 2 else "sphere"
    for K in radii:
        if R == 2:
            th = 2 * np.pi * np.arange(ring_points) / ring_points
            ys = K * np.stack([np.cos(th), np.sin(th)], -1)
        else:
            ys = K * np.concatenate([np.eye(R), -np.eye(R)])
        for y in ys:
            kappa = LinvT @ y
            out.append(_make_fixed_point(p, kappa, tol, continuum=name,
                                         radius=float(K / L[0, 0]) if circular else None))
    return out


# ---------------------------------------------------------------------------------------------
# Limit cycles
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, eq=False)
class LimitCycle:
    """An attracting limit cycle of the rank-two latent dynamics.

    Attributes
    ----------
    period: the period, in units of tau.
    orbit: one period sampled at equal times, shape ``(T, 2)``, in the direction of motion;
        ``orbit[0]`` lies on the Poincaré section (the half-line ``kappa_2 = c_2, kappa_1 > c_1``
        through the trajectory's centre ``c``), and ``orbit[T]`` would equal ``orbit[0]``.
    t: the sample times, ``t[j] = j * period / T``.
    amplitude: half the peak-to-peak excursion of each latent over the orbit, shape ``(2,)``.
    center: the time average of the orbit, shape ``(2,)``.

    Examples
    --------
    >>> from lowrank_rnn import Ensemble
    >>> ens = Ensemble.from_directions({"m1": {"x1": 1}, "m2": {"x2": 1},
    ...                                 "n1": {"x1": 1.6, "x2": 0.8}, "n2": {"x1": -0.8, "x2": 1.6}})
    >>> cyc = limit_cycle(ens)                 # overlap eigenvalues 1.6 +- 0.8i: a cycle
    >>> cyc.orbit.shape, bool(abs(cyc.center).max() < 1e-3)
    ((200, 2), True)
    """

    period: float
    orbit: np.ndarray
    t: np.ndarray
    amplitude: np.ndarray
    center: np.ndarray

    def __repr__(self) -> str:
        return (f"LimitCycle(period={self.period:.6g}, amplitude={np.array2string(self.amplitude, precision=4)}, "
                f"samples={len(self.t)})")


def _rk4_step(p: Statistics, k, h):
    a = _flow(p, k)
    b = _flow(p, k + 0.5 * h * a)
    c = _flow(p, k + 0.5 * h * b)
    d = _flow(p, k + h * c)
    return k + (h / 6.0) * (a + 2.0 * b + 2.0 * c + d)


@partial(jax.jit, static_argnames=("n_out",))
def _rk4(p: Statistics, k0, h, sub, n_out: int):
    """Classical RK4 with step h from k0 (..., R): ``n_out`` states (n_out, ..., R), one after every
    ``sub`` steps (``sub`` is traced, so one compilation serves every sub-stepping)."""
    def block(k, _):
        k = jax.lax.fori_loop(0, sub, lambda _, x: _rk4_step(p, x, h), k)
        return k, k

    return jax.lax.scan(block, k0, None, length=n_out)[1]


def _section_crossings(t, kappa, center, dkappa=None):
    """Times and points where a 2-D trajectory crosses the half-line kappa_2 = c_2, kappa_1 > c_1.

    An orbit around ``center`` crosses this half-line once per turn, upwards when it turns
    anticlockwise and downwards when clockwise; crossings in both directions are returned. With
    the derivatives ``dkappa`` each crossing is located on the cubic Hermite interpolant between
    the two samples (error O(dt^4)); otherwise by linear interpolation (error O(dt^2)).
    """
    t = np.asarray(t, np.float64)
    c = np.asarray(center, np.float64)
    z = np.asarray(kappa, np.float64) - c
    g = z[:, 1]
    above = g >= 0
    idx = np.flatnonzero(above[:-1] != above[1:])
    times, points = [], []
    for i in idx:
        h = t[i + 1] - t[i]
        if dkappa is None:
            s = -g[i] / (g[i + 1] - g[i])
            pt = z[i] + s * (z[i + 1] - z[i])
        else:
            p0, p1 = z[i], z[i + 1]
            m0, m1 = h * np.asarray(dkappa[i]), h * np.asarray(dkappa[i + 1])

            def herm(s):
                s2, s3 = s * s, s * s * s
                return ((2 * s3 - 3 * s2 + 1) * p0 + (s3 - 2 * s2 + s) * m0
                        + (-2 * s3 + 3 * s2) * p1 + (s3 - s2) * m1)

            lo, hi = 0.0, 1.0
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                if (herm(mid)[1] >= 0) == above[i]:
                    lo = mid
                else:
                    hi = mid
            s = 0.5 * (lo + hi)
            pt = herm(s)
        if pt[0] > 0:
            times.append(t[i] + s * h)
            points.append(pt + c)
    return np.asarray(times), np.asarray(points).reshape(-1, 2)


def limit_cycle(ensemble: Ensemble, inputs=None, *, kappa0=None, dt: float = 0.02,
                t_transient: float = 200.0, max_time: float = 4000.0, n_samples: int = 200,
                rtol: float = 1e-6, allow_bulk: bool = False) -> LimitCycle | None:
    """Return the attracting limit cycle of the rank-two latent dynamics, or None if there is none.

    Integrates the mean-field latent ODE of :func:`latent_flow` (Beiran et al. 2021, Neural Comput.
    33:1572, Fig. 3 E-H: overlap eigenvalues ``1.6 +- 0.8i`` give an oscillation) with classical RK4
    (a ``jax.lax.scan``, float64) from points just off each unstable node/focus (along its leading
    eigenvector) and from the four corners of the box ``|kappa_r| <= 1.2 sqrt(E[n_r^2])``, which
    every trajectory enters. After a transient ``t_transient`` it measures successive crossings of
    a Poincaré section (the half-line ``kappa_2 = c_2, kappa_1 > c_1`` through the trajectory's
    centre c), located to O(dt^4) on the cubic Hermite interpolant. The cycle has settled when the
    last three periods agree to ``rtol`` and the last four crossing points agree to ``rtol`` times
    their distance from the centre (so a slowly decaying spiral is not taken for a cycle). One
    period is then integrated again from the section and sampled at ``n_samples`` equal times.

    For one population with zero means, ``s_mm = I`` and overlap ``a I + b [[0, -1], [1, 0]]`` the
    flow is rotationally symmetric: the cycle is the circle ``a [phi'](0, K^2) = 1`` traversed at
    angular speed ``b / a``, so the period is ``2 pi a / b`` (``4 pi`` for a = 1.6, b = 0.8).

    Only attracting cycles are found. Returns None when every trajectory ends at a fixed point
    (speed below 1e-9, or within 1e-4 box sizes of a stable fixed point). Raises ``RuntimeError``
    when a trajectory keeps moving without settling into a periodic orbit within ``max_time``
    (e.g. a very slow approach near a bifurcation, or a period longer than about 130 tau).

    Parameters
    ----------
    ensemble: a rank-two :class:`~lowrank_rnn.Ensemble` with ``g = 0``.
    inputs: the K tonic input amplitudes; ``None`` means zero input.
    kappa0: start from this point only, shape ``(2,)``, instead of the automatic starts.
    dt: RK4 step (``0 < dt <= 0.5``).
    t_transient: time discarded before the period is measured.
    max_time: the longest time integrated before giving up.
    n_samples: samples of the returned orbit (``>= 4``).
    rtol: relative agreement of successive periods that counts as settled.
    allow_bulk: as in :func:`latent_flow`.

    Examples
    --------
    >>> from lowrank_rnn import Ensemble
    >>> ens = Ensemble.from_directions({"m1": {"x1": 1}, "m2": {"x2": 1},
    ...                                 "n1": {"x1": 1.6, "x2": -0.8}, "n2": {"x1": 0.8, "x2": 1.6}})
    >>> cyc = limit_cycle(ens)
    >>> round(cyc.period, 6), round(4 * np.pi, 6)
    (12.566371, 12.566371)
    """
    ensemble, _, p = _setup(ensemble, inputs, allow_bulk, rank=2)
    dt = real_scalar("dt", dt, low=0.0, high=0.5, low_open=True)
    t_transient = real_scalar("t_transient", t_transient, low=0.0)
    max_time = real_scalar("max_time", max_time, low=0.0, low_open=True)
    n_samples = positive_int("n_samples", n_samples, low=4)
    rtol = real_scalar("rtol", rtol, low=0.0, low_open=True)
    B = _box(ensemble)
    scale = max(float(np.max(B)), 1e-12)

    fixed = latent_fixed_points(ensemble, inputs, allow_bulk=allow_bulk)
    if kappa0 is not None:
        k0 = finite_array("kappa0", kappa0, ndim=1)
        if k0.shape != (2,):
            raise ArgumentError(f"kappa0 must have shape (2,), got {k0.shape}")
        starts = [k0]
    else:
        starts = []
        for fp in fixed:
            if fp.kind in ("unstable node", "unstable focus"):
                vals, vecs = np.linalg.eig(fp.jacobian)
                v = np.real(vecs[:, np.argmax(vals.real)])
                v = v / max(np.linalg.norm(v), 1e-300)
                starts += [fp.kappa + 1e-3 * scale * v, fp.kappa - 1e-3 * scale * v]
        corners = 1.2 * np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]]) * np.maximum(B, 1e-3 * scale)
        starts += list(corners)
    starts = np.asarray(starts, np.float64)
    # a trajectory this close to a (hyperbolic) stable fixed point has been captured by it
    attractors = np.array([fp.kappa for fp in fixed if fp.stable]).reshape(-1, 2)

    chunk, window = 50.0, 8   # integrate in chunks of 50 tau; look for crossings in the last 8
    n_chunk = max(1, int(math.ceil(chunk / dt)))
    h = chunk / n_chunk
    with float64():
        pj = as_jax(p)
        k = jnp.asarray(starts)
        elapsed = 0.0
        while elapsed < t_transient:
            k = _rk4(pj, k, h, 1, n_chunk)[-1]
            elapsed += chunk
        record = [np.asarray(k)[None]]
        while True:
            traj = np.asarray(_rk4(pj, jnp.asarray(record[-1][-1]), h, 1, n_chunk))
            record = (record + [traj])[-window - 1:]
            elapsed += chunk
            states = np.concatenate(record)                          # (T, S, 2)
            times = h * np.arange(len(states))
            end = states[-1]
            speed = np.linalg.norm(_evaluate(_flow_batch, p, end), axis=-1)
            captured = np.any(np.linalg.norm(end[:, None] - attractors[None], axis=-1) < 1e-4 * scale, axis=1)
            moving = (speed > 1e-9) & ~captured
            if not np.any(moving):
                return None
            for s in np.flatnonzero(moving):
                # the centre: the average over the last chunk (inside the orbit once it has settled)
                c = traj[:, s].mean(axis=0)
                tc, _ = _section_crossings(times, states[:, s], c)     # coarse, linear
                if len(tc) < 5:
                    continue
                # refine the last crossings on the Hermite interpolant, flow evaluated there only
                lo = max(0, int(np.searchsorted(times, tc[-5])) - 2)
                seg = states[lo:, s]
                tc, pc = _section_crossings(times[lo:], seg, c, _evaluate(_flow_batch, p, seg))
                if len(tc) < 4:
                    continue
                periods = np.diff(tc[-4:])
                # settled: equal periods AND equal crossing points (relative to the distance
                # from the centre), which rules out a slowly decaying or growing spiral
                size = np.linalg.norm(pc[-1] - c)
                drift = np.max(np.linalg.norm(pc[-4:] - pc[-1], axis=-1))
                if (np.max(np.abs(periods - periods.mean())) <= rtol * periods.mean()
                        and drift <= rtol * size and size > 1e-7 * scale):
                    return _sample_cycle(pj, pc[-1], float(periods[-1]), dt, n_samples)
            if elapsed >= max_time:
                raise RuntimeError(
                    f"limit_cycle: the latent trajectory neither reached a fixed point nor settled into "
                    f"a periodic orbit within max_time = {max_time} tau (periods agreeing to rtol = {rtol}; "
                    f"periods longer than about {window * chunk / 3:.0f} tau are not detected); "
                    "increase max_time or t_transient, or loosen rtol")


def _sample_cycle(pj: Statistics, start: np.ndarray, period: float, dt: float, n_samples: int) -> LimitCycle:
    sub = max(1, int(math.ceil(period / n_samples / dt)))
    h = period / (n_samples * sub)
    traj = np.asarray(_rk4(pj, jnp.asarray(start), h, sub, n_samples))
    orbit = np.concatenate([np.asarray(start, np.float64)[None], traj[:-1]])
    t = np.arange(n_samples) * (period / n_samples)
    return LimitCycle(period=period, orbit=orbit, t=t,
                      amplitude=0.5 * (orbit.max(axis=0) - orbit.min(axis=0)), center=orbit.mean(axis=0))


# ---------------------------------------------------------------------------------------------
# Plot
# ---------------------------------------------------------------------------------------------

def plot_flow_field(ensemble: Ensemble, ax=None, *, lim=None, n: int = 41, inputs=None,
                    fixed_points=True, cycle=True, density: float = 1.2, cmap: str = "Greys",
                    color: str = "0.25", allow_bulk: bool = False):
    """Return a matplotlib Axes showing the rank-two latent flow, its fixed points and limit cycle.

    Draws the speed ``|d kappa/dt|`` of :func:`flow_field` as a background image, streamlines of
    the flow, the fixed points of :func:`latent_fixed_points` (filled = stable, open = unstable or
    saddle, grey = marginal; a ring of fixed points is drawn as a closed curve) and the attracting
    limit cycle of :func:`limit_cycle` when there is one (as in Beiran et al. 2021, Neural Comput.
    33:1572, Fig. 3; Mastrogiuseppe & Ostojic 2018, Neuron 99:609, Fig. 5).

    Parameters
    ----------
    ensemble: a rank-two :class:`~lowrank_rnn.Ensemble` with ``g = 0``.
    ax: the Axes to draw on; a new figure when None.
    lim, n, inputs, allow_bulk: as in :func:`flow_field`.
    fixed_points: True to compute them, False to omit them, or a list of :class:`FixedPoint`.
    cycle: True to compute the limit cycle, False to omit it, or a :class:`LimitCycle` (or None).
    density: streamline density (``matplotlib.axes.Axes.streamplot``).
    cmap, color: colour map of the speed, colour of the streamlines.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from lowrank_rnn import Ensemble
    >>> ens = Ensemble.from_directions({"m1": {"x1": 1}, "m2": {"x2": 1},
    ...                                 "n1": {"x1": 1.2}, "n2": {"x2": 1.6}})
    >>> ax = plot_flow_field(ens, n=21)
    """
    import matplotlib.pyplot as plt

    ensemble, _, _ = _setup(ensemble, inputs, allow_bulk, rank=2)
    density = real_scalar("density", density, low=0.0, low_open=True)
    if not (isinstance(fixed_points, bool) or isinstance(fixed_points, (list, tuple))):
        raise ArgumentTypeError("fixed_points must be True, False or a list of FixedPoint")
    if not (isinstance(cycle, (bool, LimitCycle)) or cycle is None):
        raise ArgumentTypeError("cycle must be True, False, None or a LimitCycle")
    ff = flow_field(ensemble, lim=lim, n=n, inputs=inputs, allow_bulk=allow_bulk)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.0))
    extent = (ff.K1[0, 0], ff.K1[0, -1], ff.K2[0, 0], ff.K2[-1, 0])
    im = ax.imshow(ff.speed, origin="lower", extent=extent, cmap=cmap, aspect="auto", alpha=0.8)
    ax.figure.colorbar(im, ax=ax, label=r"speed $|\dot\kappa|$")
    ax.streamplot(ff.K1, ff.K2, ff.dK1, ff.dK2, color=color, density=density, linewidth=0.7,
                  arrowsize=0.8)

    if cycle is True:
        cycle = limit_cycle(ensemble, inputs, allow_bulk=allow_bulk)
    if isinstance(cycle, LimitCycle):
        orbit = np.concatenate([cycle.orbit, cycle.orbit[:1]])
        ax.plot(orbit[:, 0], orbit[:, 1], color="C3", lw=2.0, label=f"limit cycle (T = {cycle.period:.3g})")

    if fixed_points is True:
        fixed_points = latent_fixed_points(ensemble, inputs, allow_bulk=allow_bulk)
    if fixed_points:
        ring = [fp for fp in fixed_points if fp.continuum]
        if ring:
            pts = np.array([fp.kappa for fp in ring])
            order = np.argsort(np.arctan2(pts[:, 1], pts[:, 0]))
            pts = np.concatenate([pts[order], pts[order][:1]])
            ax.plot(pts[:, 0], pts[:, 1], color="C0", lw=2.5, label="ring of fixed points")
        for fp in fixed_points:
            if fp.continuum:
                continue
            face = "k" if fp.stable else ("0.6" if fp.kind == "marginal" else "white")
            ax.plot(*fp.kappa, "o", ms=8, mfc=face, mec="k", mew=1.5, zorder=5)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel(r"$\kappa_1$")
    ax.set_ylabel(r"$\kappa_2$")
    return ax
