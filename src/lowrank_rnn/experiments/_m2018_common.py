"""Shared pieces of the Mastrogiuseppe & Ostojic 2018 reproduction: configuration, keys, plot style,
simulation summaries and the observables of mean-field states.

Nothing here solves mean-field equations: stationary and chaotic states come from
:mod:`lowrank_rnn.theory`. What is here turns a solved state into what a simulation measures
(the readout), and a simulated trajectory into the numbers the theory predicts (kappa, Delta_0).
"""

from __future__ import annotations

import dataclasses
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext

import jax
import numpy as np

from .._ensemble import Ensemble
from .._errors import ArgumentError
from .._network import Network
from .. import theory
from .._simulate import simulate
from ..theory import gaussian
from ..theory._precision import float64


@dataclasses.dataclass(frozen=True)
class Config:
    """Sizes of the reproduction: the default run (N >= 2000, several seeds) or the quick run.

    Every section reads its network size, seeds, grids and durations from here, so the quick run
    makes the same figures and tables on smaller networks and coarser grids.
    """

    quick: bool
    dt: float = 0.1
    # spontaneous rank one (Fig. 1): kappa and Delta_0 against g
    N_sweep: int = 2000
    seeds_sweep: int = 3
    g_grid: tuple[float, ...] = tuple(np.round(np.arange(0.2, 3.01, 0.2), 2))
    T_sweep: float = 150.0
    T_avg: float = 75.0
    # phase diagram points
    N_phase: int = 2000
    seeds_phase: int = 1
    #: (g, overlap) points, each inside one region: at least 0.3 in g from g_C and g_B, except in the
    #: narrow heterogeneous-chaotic band, where they sit in its middle
    phase_points: tuple[tuple[float, float], ...] = (
        (0.5, 0.5), (0.8, 0.8), (0.5, 1.5), (0.5, 3.0), (1.3, 2.2), (1.5, 3.5), (1.95, 2.2), (2.65, 3.0),
        (3.0, 3.8), (1.5, 0.5), (2.0, 1.2), (2.6, 2.2), (3.4, 2.5), (3.3, 1.5))
    # spectrum
    N_spectrum: int = 2000
    # input-driven (Fig. 2)
    N_input: int = 2000
    seeds_input: int = 2
    input_sigma_nI: tuple[float, ...] = (0.0, 0.3, 0.6, 0.9, 1.3, 1.8)
    input_overlap: tuple[float, ...] = (0.6, 1.4, 2.4, 3.5)
    # Go-Nogo (Fig. 3)
    N_gonogo: int = 2500
    seeds_gonogo: int = 4
    # detection (Fig. 4)
    N_detect: int = 2500
    seeds_detect: int = 3
    detect_c: tuple[float, ...] = (0.2, 0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9)
    detect_trials: int = 16
    detect_c_fine: tuple[float, ...] = tuple(np.round(np.arange(0.40, 0.701, 0.02), 2))
    # context-dependent discrimination (Fig. 5)
    N_context: int = 3000
    seeds_context: int = 4
    context_amplitudes: tuple[float, ...] = (0.5, 0.75, 1.0, 1.25, 1.5)
    # rank two, g = 0 (ring, limit cycle)
    N_rank_two: int = 8000
    seeds_rank_two: int = 3
    rank_two_starts: int = 8
    T_rank_two: float = 60.0

    @classmethod
    def make(cls, quick: bool) -> Config:
        """Return the default configuration, or the quick one (about a minute on 2 cores)."""
        if not quick:
            return cls(quick=False)
        # One N for the four rank-one sections: the sampler and the simulation are compiled per
        # array shape, so a shared N (and T, batch) compiles them once instead of per section.
        N1 = 600
        return cls(
            quick=True,
            N_sweep=N1, seeds_sweep=2, g_grid=(0.4, 1.0, 1.6, 2.0, 2.6), T_sweep=100.0, T_avg=50.0,
            N_phase=N1, phase_points=((0.5, 0.5), (0.5, 2.2), (1.95, 2.2), (2.65, 3.0), (2.6, 2.2), (1.5, 0.5)),
            N_spectrum=N1,
            N_input=N1, seeds_input=1, input_sigma_nI=(0.0, 0.6, 1.3), input_overlap=(1.4, 3.5),
            N_gonogo=800, seeds_gonogo=2,
            N_detect=800, seeds_detect=1, detect_c=(0.2, 0.4, 0.5, 0.6, 0.7, 0.9), detect_trials=8,
            detect_c_fine=(0.40, 0.50, 0.60, 0.70),
            N_context=1500, seeds_context=2, context_amplitudes=(0.5, 1.0, 1.5),
            N_rank_two=4000, seeds_rank_two=1, rank_two_starts=6, T_rank_two=40.0,
        )


def single_threaded_blas():
    """Return a context limiting BLAS/LAPACK to one thread (a no-op without threadpoolctl).

    Dense eigenvalue problems of a few hundred neurons take much less CPU time on one OpenBLAS
    thread than on several, whose spin-waiting also competes with JAX's own threads.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


# ---------------------------------------------------------------- theory computed in the background

_PENDING: dict[str, tuple[Future, Callable]] = {}
_CLAIM = threading.Lock()


def _claim(fut: Future) -> bool:
    """Mark ``fut`` as running for the caller; False when another thread has it or it was cancelled."""
    with _CLAIM:
        return not (fut.running() or fut.done()) and fut.set_running_or_notify_cancel()


def _compute(fut: Future, fn: Callable) -> None:
    try:
        fut.set_result(fn())
    except BaseException as exc:  # handed to the section that asks for it
        fut.set_exception(exc)


def _run_chain(chain, futures) -> None:
    for name, fn in chain:
        if _claim(futures[name]):
            _compute(futures[name], fn)


@contextmanager
def theory_in_background(chains: list[list[tuple[str, Callable]]], workers: int = 1):
    """Run mean-field computations on worker threads during the block; sections fetch them by name.

    ``chains``: lists of (name, function); the functions of one chain run one after the other (put
    together those that use the same compiled solvers, so they are compiled once), and chains run
    ``workers`` at a time, in order. :func:`theory_result` returns a result by name.

    Theory and simulation are independent until a section puts them side by side, and both spend
    most of their time in XLA (compiling and running, outside the GIL), so on two cores the theory
    of later sections is solved while earlier sections simulate. One worker by default: with two,
    the three busy threads oversubscribe two cores and cost more CPU time than they save (the cold
    quick run took longer with two workers, and longer still without the thread). The results are those computed
    in line: same functions and arguments, and JAX's float64 switch is per thread.
    """
    futures = {name: Future() for chain in chains for name, _ in chain}
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="m2018-theory")
    _PENDING.update({name: (futures[name], fn) for chain in chains for name, fn in chain})
    try:
        for chain in chains:
            pool.submit(_run_chain, chain, futures)
        yield
    finally:
        for name, fut in futures.items():  # not asked for (a section failed): do not start it
            fut.cancel()
            _PENDING.pop(name, None)
        pool.shutdown(wait=True)


def theory_result(name: str, fn: Callable):
    """Return the background result ``name``, or ``fn()`` when none was started.

    A result that no worker has started yet is computed here rather than waited for (the workers
    skip it), so the calling thread never idles behind a queue.
    """
    job = _PENDING.pop(name, None)
    if job is None:
        return fn()
    fut, job_fn = job
    if _claim(fut):
        _compute(fut, job_fn)
    return fut.result()


def key_for(section: str, seed: int) -> jax.Array:
    """Return a deterministic key for (section, seed): the same numbers on every run and machine."""
    return jax.random.fold_in(jax.random.key(seed), zlib.crc32(section.encode()))


@contextmanager
def paper_style():
    """Matplotlib style of the figures: small serif-free fonts, no top/right spines."""
    import matplotlib.pyplot as plt

    rc = {"font.size": 8, "axes.titlesize": 8.5, "axes.labelsize": 8, "legend.fontsize": 6.5,
          "xtick.labelsize": 7, "ytick.labelsize": 7, "axes.spines.top": False,
          "axes.spines.right": False, "lines.linewidth": 1.3, "figure.dpi": 150,
          "legend.frameon": False}
    with plt.rc_context(rc):
        yield


def panel_label(ax, letter: str) -> None:
    """Write a bold panel letter in the upper-left corner of ``ax``."""
    ax.text(-0.16, 1.04, letter, transform=ax.transAxes, fontsize=10, fontweight="bold", va="bottom")


@dataclasses.dataclass(frozen=True)
class Summary:
    """Time averages of a simulation over its final window, per trial (batch-first).

    kappa: mean latent, ``(B, R)``. kappa_abs: mean |kappa|, ``(B, R)``. delta0: mean over time of
    the population variance of x, ``(B,)``. delta_T: mean over neurons of the temporal variance of
    x_i, ``(B,)`` (0 for a fixed point, positive in chaos). mu: mean over time of the population
    mean of x, ``(B,)``. readout: mean readout ``(B, O)`` or None. t, kappa_t: the latent trace.
    """

    kappa: np.ndarray
    kappa_abs: np.ndarray
    delta0: np.ndarray
    delta_T: np.ndarray
    mu: np.ndarray
    readout: np.ndarray | None
    t: np.ndarray
    kappa_t: np.ndarray
    x_final: np.ndarray


def simulate_summary(network: Network, *, T: float, T_avg: float, dt: float, x0, inputs=None,
                     snapshot_every: float = 2.0) -> Summary:
    """Return the time averages (over the last ``T_avg``) of a noise-free simulation of ``network``.

    Records x every ``snapshot_every`` (in tau) so that Delta_0 = Var_i(x_i) and the temporal
    variance can be measured without storing every step.
    """
    n_steps = int(round(T / dt))
    every = max(1, int(round(snapshot_every / dt)))
    while n_steps % every:
        every -= 1
    rec = ("x", "kappa", "readout") if network.n_readouts else ("x", "kappa")
    tr = simulate(network, T=T, dt=dt, x0=x0, inputs=inputs, record=rec, record_every=every)
    x = tr.x if tr.x.ndim == 3 else tr.x[None]
    kap = tr.kappa if tr.kappa.ndim == 3 else tr.kappa[None]
    win = tr.t >= T - T_avg - 1e-9
    xw = x[:, win]
    ro = None
    if tr.readout is not None:
        r = tr.readout if tr.readout.ndim == 3 else tr.readout[None]
        ro = r[:, win].mean(axis=1)
    return Summary(kappa=kap[:, win].mean(axis=1), kappa_abs=np.abs(kap[:, win]).mean(axis=1),
                   delta0=xw.var(axis=2).mean(axis=1), delta_T=xw.var(axis=1).mean(axis=1),
                   mu=xw.mean(axis=2).mean(axis=1), readout=ro, t=tr.t, kappa_t=kap, x_final=x[:, -1])


def state_readout(ensemble: Ensemble, state, inputs=None) -> np.ndarray:
    """Return the mean-field readouts ``z_o = E[w_o phi(x)]`` of a solved state (one population).

    With ``x_i = sum_r m_ri kappa_r + sum_k I_ki u_k + (random part)`` Gaussian with mean ``mu`` and
    variance ``Delta_0`` (Mastrogiuseppe & Ostojic 2018, eq. 5 and Methods), Gaussian integration by
    parts gives ``z_o = M_wo [phi](mu, Delta_0) + Cov(w_o, x) [phi'](mu, Delta_0)`` with
    ``Cov(w_o, x) = sum_r sigma_{w_o m_r} kappa_r + sum_k sigma_{w_o I_k} u_k``; the bulk term is
    independent of w. ``state`` needs ``kappa``, ``mu``, ``delta0``.
    """
    if ensemble.n_populations != 1:
        raise ArgumentError("state_readout supports one-population ensembles")
    R, K = ensemble.rank, ensemble.n_inputs
    mean, cov = np.asarray(ensemble.mean[0]), np.asarray(ensemble.cov[0])
    iw = [ensemble.index(f"w{o + 1}") for o in range(ensemble.n_readouts)]
    im = [ensemble.index(f"m{r + 1}") for r in range(R)]
    ii = [ensemble.index(f"I{k + 1}") for k in range(K)]
    u = np.zeros(K) if inputs is None else np.asarray(inputs, float).reshape(K)
    kappa = np.atleast_1d(np.asarray(state.kappa, float))
    covwx = cov[np.ix_(iw, im)] @ kappa + (cov[np.ix_(iw, ii)] @ u if K else 0.0)
    with float64():
        f = float(gaussian.mean_phi(float(state.mu), float(state.delta0)))
        fp = float(gaussian.mean_dphi(float(state.mu), float(state.delta0)))
    return mean[iw] * f + covwx * fp


def theory_fn(name: str):
    """Return ``lowrank_rnn.theory.<name>``, or None while that solver is not in the library yet."""
    return getattr(theory, name, None)


def missing_theory(*names: str) -> list[str]:
    """Return those of ``names`` that :mod:`lowrank_rnn.theory` does not provide."""
    return [n for n in names if theory_fn(n) is None]


def branch_lines(ax, xs, values, *, color, label=None, ls="-", lw=1.4, tol_sign=1e-6, by_sign=True, **kw):
    """Draw solution branches over a scanned parameter; return the first line drawn (or None).

    ``values[i]`` lists the solutions at ``xs[i]``, each a number y or a pair (kappa, y) (then y is
    drawn and kappa tells the branches apart). Branches are told apart by the sign of kappa
    (negative, zero, positive) and by their rank among the solutions of that sign at each x;
    consecutive x of the same branch are joined, and a branch that vanishes breaks its line. Meant for
    the symmetric rank-one branches (+kappa, 0, -kappa). With ``by_sign=False`` only the rank (in
    kappa) tells branches apart, e.g. for a single unstable branch that crosses kappa = 0.
    """
    xs = np.asarray(xs, float)
    groups: dict = {}
    for i, (x, items) in enumerate(zip(xs, values)):
        per_sign: dict = {}
        for it in items:
            k, y = (it, it) if np.ndim(it) == 0 else (float(it[0]), float(it[1]))
            sgn = (0 if abs(k) <= tol_sign else int(np.sign(k))) if by_sign else 0
            per_sign.setdefault(sgn, []).append((k, y))
        for sgn, kys in per_sign.items():
            kys.sort(key=lambda t: abs(t[0]) if by_sign else t[0])
            for rank, (_, y) in enumerate(kys):
                groups.setdefault((sgn, rank), []).append((i, x, y))
    drawn = []
    for pts in groups.values():
        run = [pts[0]]
        for p in pts[1:] + [None]:
            if p is not None and p[0] == run[-1][0] + 1:
                run.append(p)
                continue
            xx, yy = [q[1] for q in run], [q[2] for q in run]
            drawn.append(ax.plot(xx, yy, ls=ls, color=color, lw=lw, marker="." if len(run) == 1 else None,
                                 ms=3, **kw)[0])
            if p is not None:
                run = [p]
    # the label goes on a line rather than an isolated point, so that the legend shows the line style
    first = next((ln for ln in drawn if len(ln.get_xdata()) > 1), drawn[0] if drawn else None)
    if first is not None and label is not None:
        first.set_label(label)
    return first


def bisect_edge(pred, lo: float, hi: float, tol: float = 1e-4) -> float | None:
    """Return the point in [lo, hi] where ``pred`` switches from True (at lo) to False (at hi), to ``tol``.

    None when ``pred(lo)`` is False or ``pred(hi)`` is True (no switch bracketed).
    """
    if not pred(lo) or pred(hi):
        return None
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if pred(mid):
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
