"""Simulation of rate networks: the user's entry point to the integrator of :mod:`lowrank_rnn.dynamics`.

The one noise convention of the library: with time in units of tau and alpha = dt / tau = dt,

    x <- x + alpha (-x + J phi(x) + I(t)) + sigma sqrt(alpha) xi,      xi ~ N(0, 1) i.i.d.,

which discretises dx = (-x + J phi(x) + I) dt + sigma dW. The stationary variance of a linear
unit is sigma^2 / (2 - alpha) -> sigma^2 / 2, so results converge as dt -> 0.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
import threading
import weakref
from collections.abc import Sequence
from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from tqdm.auto import tqdm

from ._checks import finite_array, physical_memory, positive_int, prng_key, real_scalar
from ._errors import ArgumentError, ArgumentTypeError, DivergenceError
from ._network import Network
from .dynamics import Diffrax, Euler, QuantileSource, SaveAt, VectorField, WhiteNoise, integrate, key_words

RECORDABLE = ("x", "rates", "kappa", "readout")
METHODS = ("auto", "lowrank", "dense")
# Longest run simulate accepts without max_steps= (see simulate's docstring); a run of more steps
# is refused before anything compiles unless the caller raises the limit or passes None.
MAX_STEPS = 10_000_000
# The step counter is a 32-bit integer: no run may be longer, whatever max_steps says.
_HARD_MAX_STEPS = 2**31 - 1
# Runs of at least this much work show a progress bar unless progress=False: steps x trials x
# units (the element-wise pass of a step), or steps x trials x N^2 for a dense or bulk product,
# whose multiply-adds stream far faster per element than tanh and the update.
_PROGRESS_WORK = 2 * 10**10
_PROGRESS_PRODUCT = 10**12
_PROGRESS_CHUNKS = 100


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """What :func:`simulate` recorded, as NumPy arrays.

    Arrays are batch-first, ``(batch, time, ...)``, when the simulation ran a batch of trials
    (a batched ``x0`` or ``inputs``, or ``batch=``), and ``(time, ...)`` otherwise. Quantities
    that were not asked for in ``record=`` are ``None``.

    Attributes
    ----------
    t: times of the recorded points, in units of tau, starting at 0 (the initial condition).
    x: states, ``(..., time, N)``.
    rates: ``phi(x)``, ``(..., time, N)``.
    kappa: latents ``n_r^T phi(x) / N``, ``(..., time, R)``.
    readout: readouts ``w_o^T phi(x) / N``, ``(..., time, O)``.

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn import Ensemble, simulate
    >>> net = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0).sample(100, key=jax.random.key(0))
    >>> traj = simulate(net, T=2.0, dt=0.1, batch=3, record=("kappa", "rates"))
    >>> traj.batched, traj.t.shape, traj.kappa.shape, traj.rates.shape, traj.readout is None
    (True, (21,), (3, 21, 1), (3, 21, 100), True)
    """

    t: np.ndarray
    x: np.ndarray | None = None
    rates: np.ndarray | None = None
    kappa: np.ndarray | None = None
    readout: np.ndarray | None = None
    dt: float = 0.0
    noise: float = 0.0

    @property
    def batched(self) -> bool:
        """True when arrays carry a leading trial axis."""
        for name in RECORDABLE:
            arr = getattr(self, name)
            if arr is not None:
                return arr.ndim == 3
        return False


def _check_record(record) -> tuple[str, ...]:
    if isinstance(record, str):
        record = (record,)
    if not isinstance(record, Sequence) or not record:
        raise ArgumentError(f"record must be a non-empty sequence drawn from {RECORDABLE}")
    bad = [r for r in record if r not in RECORDABLE]
    if bad:
        raise ArgumentError(f"record: unknown quantities {bad}; allowed are {RECORDABLE}")
    return tuple(r for r in RECORDABLE if r in record)


def _input_array(inputs, network: Network, n_steps: int, dt: float, dtype):
    """Return inputs as an array (n_steps, K) or (B, n_steps, K) and the batch size it implies."""
    K = network.n_inputs
    if inputs is None:
        return None, None
    if callable(inputs):
        t = jnp.arange(n_steps) * dt
        try:
            arr = jax.vmap(inputs)(t)
        except Exception:  # not traceable: evaluate point by point
            try:
                arr = jnp.stack([jnp.asarray(inputs(float(ti))) for ti in np.asarray(t)])
            except (TypeError, ValueError) as err:
                raise ArgumentTypeError(f"inputs(t) must return real numbers, shape (K,) = ({K},); calling it "
                                        f"gave {type(err).__name__}: {err}") from None
        if not jnp.issubdtype(jnp.asarray(arr).dtype, jnp.number) or jnp.iscomplexobj(arr):
            raise ArgumentTypeError(f"inputs(t) must return real numbers, got dtype {jnp.asarray(arr).dtype}")
        arr = jnp.asarray(arr, dtype)
        if arr.ndim == 1 and K == 1:
            arr = arr[:, None]
        if arr.shape != (n_steps, K):
            raise ArgumentError(f"inputs(t) must return an array of shape (K,) = ({K},), giving "
                             f"({n_steps}, {K}) over the time grid; got {arr.shape}")
    else:
        arr = finite_array("inputs", inputs, dtype=dtype)  # strings, objects, ragged lists: ArgumentTypeError
        if arr.ndim not in (2, 3):
            raise ArgumentError(f"inputs must have shape (time, K) or (batch, time, K), got {arr.shape}")
        if arr.shape[-1] != K:
            raise ArgumentError(f"inputs has {arr.shape[-1]} channels but the network has K = {K} "
                             "input vectors")
        T_in = arr.shape[-2]
        if T_in == n_steps + 1:
            arr = arr[..., :n_steps, :]
        elif T_in != n_steps:
            raise ArgumentError(f"inputs has {T_in} time points; with T/dt = {n_steps} steps it needs "
                             f"{n_steps} (one per step) or {n_steps + 1}")
        arr = jnp.asarray(arr)
    if not bool(jnp.all(jnp.isfinite(arr))):
        raise ArgumentError("inputs contains non-finite values (NaN or inf)")
    if K == 0:
        return None, (arr.shape[0] if arr.ndim == 3 else None)
    return arr, (arr.shape[0] if arr.ndim == 3 else None)


def _network_dtype(network: Network) -> np.dtype:
    """Return the floating dtype the network's arrays compute in (float32 unless they are float64)."""
    arrays = [network.m, network.n, network.inputs, network.readouts]
    if network.bulk is not None:
        arrays.append(network.bulk)
    dtype = np.result_type(*(np.dtype(a.dtype) for a in arrays))
    return dtype if np.issubdtype(dtype, np.floating) else np.dtype(np.float32)


def _size(nbytes: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if nbytes < 1000 or unit == "PB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.3g} {unit}"
        nbytes /= 1000
    return ""  # not reached


def _check_steps(n_steps: int, max_steps, *, T: float, dt: float, record, record_every: int, B: int,
                 network: Network, itemsize: int) -> None:
    """Refuse a run longer than ``max_steps`` (or than the 32-bit step counter), saying what it would
    record, before anything is compiled."""
    if max_steps is not None:
        max_steps = positive_int("max_steps", max_steps)
    features = {"x": network.N, "rates": network.N, "kappa": network.rank, "readout": network.n_readouts}
    n_saves = n_steps // record_every + 1
    nbytes = float(n_saves) * B * sum(features[r] for r in record) * itemsize
    what = (f"T/dt = {T:.6g}/{dt:.6g} = {n_steps:,} steps; recording {', '.join(record)} every "
            f"{record_every} step(s) of {B} trial(s) would need {_size(nbytes)} of memory")
    too_long = (f"No run may take more than 2**31 - 1 = {_HARD_MAX_STEPS:,} steps (the step counter is a "
                "32-bit integer): raise dt or split T into several runs, passing each run's final state as "
                "the next one's x0")
    if max_steps is not None and n_steps > max_steps:
        how = (too_long if n_steps > _HARD_MAX_STEPS else
               f"Pass max_steps={n_steps} (or max_steps=None) to run it anyway, or raise dt, shorten T or "
               "record less often (record_every)")
        raise ArgumentError(f"{what}, more than max_steps = {max_steps:,}. {how}")
    if n_steps > _HARD_MAX_STEPS:
        raise ArgumentError(f"{what}. {too_long}")


def simulate(network: Network, *, T: float, dt: float, x0=None, inputs=None, noise: float = 0.0,
             key: jax.Array | None = None, record: Sequence[str] | str = ("kappa", "readout"),
             batch: int | None = None, record_every: int = 1, method: str = "auto",
             solver: Euler | Diffrax | None = None, max_steps: int | None = MAX_STEPS,
             progress: bool | None = None) -> Trajectory:
    r"""Return the trajectory of ``network`` integrated by Euler–Maruyama from 0 to ``T``.

    Integrates $dx = (-x + J\phi(x) + \sum_k u_k(t) I_k)\,dt + \sigma\, dW$ (time in units of
    $\tau$, $\sigma$ = ``noise``) with the update

    $$
    x \leftarrow x + \Delta t\,\big(-x + J\phi(x) + I(t)\big) + \sigma\sqrt{\Delta t}\;\xi,
    \qquad \xi \sim \mathcal{N}(0, 1),
    $$

    by the library's integrator
    (:func:`lowrank_rnn.dynamics.integrate`). The whole run is one ``jax.lax.scan`` under
    ``jax.jit`` over the trials' states together, held as an (N, batch) matrix, so that a dense or
    bulk step is one matrix-matrix product. With no bulk (g = 0) the recurrent input is
    ``m (n^T phi(x) / N)`` and a step costs O(N (R + K)) per trial. The arrays compute in the
    network's floating dtype (float32 by default; float64 for a float64 network with
    ``JAX_ENABLE_X64=1``).

    Parameters
    ----------
    network: the :class:`Network` to simulate.
    T, dt: duration and step, in units of tau (``0 < dt <= 1``); ``round(T / dt)`` steps are taken.
    x0: initial state, ``(N,)`` or ``(batch, N)``; zeros by default.
    inputs: input amplitudes ``u(t)``: an array ``(time, K)`` shared by all trials or
        ``(batch, time, K)``, or a function of time returning ``(K,)``. Entry ``k`` drives the
        step from ``t_k`` to ``t_k + dt``.
    noise: sigma, the strength of independent white noise on every unit (``>= 0``). The standard
        normals ``xi`` come from the library's counter-based generator
        (:func:`lowrank_rnn.dynamics.quantile_normal_from_words`: 16-bit quantiles of N(0, 1) at a
        hash of the key, the step and the element; mean 0, variance 1, ``|xi| <= 4.33``): the
        draw of unit i of trial b at step t is a function of ``key``, t, i and b only, so a
        trial's noise does not depend on the batch it is in. (lowrank-rnn 0.1.0 drew them with Threefry: noisy results for a given key
        differ from that version's, once.)
    key: ``jax.random`` key; required when ``noise > 0``. Same key, same result.
    record: any of ``"x"``, ``"rates"``, ``"kappa"``, ``"readout"``.
    batch: number of trials, when neither ``x0`` nor ``inputs`` carries a batch axis (e.g. noise
        realisations from one initial condition).
    record_every: store every k-th step only (``T / dt`` must be a multiple of it).
    method: ``"auto"`` (low-rank unless a bulk is present), ``"lowrank"`` (``m (n^T phi)/N`` plus
        bulk), or ``"dense"`` (forms J once and multiplies it every step; for comparison). On the
        CPU (Linux), a J of 8 MB or more is formed in a host buffer backed by 2 MB pages, which
        streams faster; that buffer is kept for reuse by later calls.
    solver: :class:`lowrank_rnn.dynamics.Euler` (default, the fixed-step update above) or
        :class:`lowrank_rnn.dynamics.Diffrax` (a diffrax solver, adaptive or implicit, for
        deterministic runs; the inputs are held over each step of ``dt`` and the states recorded on
        the same grid).
    max_steps: the longest run accepted, ``MAX_STEPS`` = 10**7 steps by default; a longer one is
        refused before anything is compiled, with the number of steps and the memory its
        recording would need. Pass a larger number, or None, to run it; no run may exceed
        2**31 - 1 steps.
    progress: show a progress bar (``tqdm``, on stderr) while the run goes on, in pieces of about
        1 % of the steps each; None (default) shows it for long runs (steps x trials x N of at
        least 2e10, or steps x trials x N^2 of at least 1e12 for a dense or bulk product). The
        pieces give the same result as one piece.

    Raises
    ------
    DivergenceError: the state became non-finite; the message gives the time and the trial.

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn import Ensemble, simulate
    >>> net = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0).sample(1000, key=jax.random.key(0))
    >>> traj = simulate(net, T=20.0, dt=0.1, x0=net.m[:, 0])
    >>> traj.kappa.shape
    (201, 1)
    """
    if not isinstance(network, Network):
        raise ArgumentTypeError(f"network must be a lowrank_rnn.Network, got {type(network).__name__}")
    T = real_scalar("T", T, low=0.0, low_open=True)
    dt = real_scalar("dt", dt, low=0.0, high=1.0, low_open=True)
    n_steps = int(round(T / dt))
    if n_steps < 1:
        raise ArgumentError(f"T = {T} is shorter than one step dt = {dt}")
    record = _check_record(record)
    record_every = positive_int("record_every", record_every)
    noise = real_scalar("noise", noise, low=0.0)
    if noise > 0 and key is None:
        raise ArgumentError("key is required when noise > 0, e.g. key=jax.random.key(0)")
    if key is not None:
        key = prng_key("key", key)
    if method not in METHODS:
        raise ArgumentError(f"method must be one of {METHODS}, got {method!r}")
    if method == "auto":
        method = "lowrank"
    solver = Euler() if solver is None else solver
    if not isinstance(solver, (Euler, Diffrax)):
        raise ArgumentTypeError("solver must be lowrank_rnn.dynamics.Euler() or lowrank_rnn.dynamics.Diffrax(...), "
                                f"got {type(solver).__name__}")
    if isinstance(solver, Euler) and solver.convex:
        raise ArgumentError("solver: simulate uses the update x + dt (F - x), Euler() (not convex=True)")
    if isinstance(solver, Diffrax) and noise > 0:
        raise ArgumentError("noise > 0 needs the Euler–Maruyama solver (solver=Euler()); a Diffrax solver "
                            "runs deterministic dynamics only")
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise ArgumentTypeError(f"progress must be True, False or None, got {type(progress).__name__}")

    N = network.N
    dtype = _network_dtype(network)
    batch_sizes = {}
    if x0 is None:
        x0_arr = jnp.zeros((N,), dtype)
    else:
        x0_arr = finite_array("x0", x0, dtype=dtype)  # strings, objects, ragged lists: ArgumentTypeError
        if x0_arr.ndim not in (1, 2) or x0_arr.shape[-1] != N:
            raise ArgumentError(f"x0 must have shape (N,) or (batch, N) with N = {N}, got {x0_arr.shape}")
        if not np.all(np.isfinite(x0_arr)):
            raise ArgumentError("x0 contains non-finite values (NaN or inf)")
        if x0_arr.ndim == 2:
            batch_sizes["x0"] = x0_arr.shape[0]
        x0_arr = jnp.asarray(x0_arr)
    if batch is not None:
        batch_sizes["batch"] = positive_int("batch", batch)
        have = physical_memory()
        need = batch_sizes["batch"] * N * dtype.itemsize
        if have is not None and need > have:
            raise ArgumentError(f"batch = {batch} trials of N = {N} states would need {need:.3g} bytes, more "
                                f"than this machine's memory ({have:.3g} bytes)")
    if n_steps % record_every:
        raise ArgumentError(f"record_every = {record_every} must divide the number of steps T/dt = {n_steps}")
    B_known = next(iter(batch_sizes.values())) if batch_sizes else 1
    _check_steps(n_steps, max_steps, T=T, dt=dt, record=record, record_every=record_every, B=B_known,
                 network=network, itemsize=dtype.itemsize)
    u, b_in = _input_array(inputs, network, n_steps, dt, dtype)
    if b_in is not None:
        batch_sizes["inputs"] = b_in
    if len(set(batch_sizes.values())) > 1:
        raise ArgumentError(f"batch sizes disagree: {batch_sizes}")
    batched = bool(batch_sizes)
    B = next(iter(batch_sizes.values())) if batched else 1
    product = n_steps * B * N * N if (method == "dense" or network.bulk is not None) else 0
    long_run = n_steps * B * N >= _PROGRESS_WORK or product >= _PROGRESS_PRODUCT
    show = long_run if progress is None else bool(progress)

    x0_b = jnp.broadcast_to(x0_arr, (B, N)) if x0_arr.ndim == 1 else x0_arr
    if u is None:
        u_b, u_axis = jnp.zeros((n_steps, 0), dtype), None
    elif u.ndim == 2:
        u_b, u_axis = u, None
    else:
        u_b, u_axis = u, 0
    noise_state = key_words(key) if noise > 0 else None

    if network.g != 0.0:
        # g is a static label (the bulk already holds g chi) that the integration never reads; as a
        # static field it would be part of the compiled function's key, so a sweep over g would
        # recompile for every g. The label is set to 0 on a shallow copy.
        network = copy.copy(network)
        object.__setattr__(network, "g", 0.0)
    J = _dense_connectivity(network) if method == "dense" else None
    run = partial(_run, network, J, jnp.asarray(dt, dtype), jnp.asarray(noise * np.sqrt(dt), dtype),
                  noise_state, method=method, u_axis=u_axis, solver=solver)
    out, final = _pieces(run, x0_b, u_b, u_axis, n_steps=n_steps, record=record, record_every=record_every,
                         show=show)
    diverged = ~np.all(np.isfinite(np.asarray(final)), axis=-1)
    if np.any(diverged):
        # A non-finite state stays non-finite (NaN absorbs every later step), so the final state
        # tells whether a trial diverged; only then is the run repeated recording, step by step,
        # whether each trial is still finite (a pass over the state per step, which would cost a
        # low-rank step about a quarter more) to say when.
        bad_step = np.full(B, -1)
        if isinstance(solver, Euler):
            _, finite = run(x0_b, u_b, jnp.int32(0), n_steps=n_steps, record=(), record_every=1,
                            check_steps=True, initial=False)
            finite = np.asarray(finite)
            bad_step = np.where(finite.all(axis=0), -1, np.argmin(finite, axis=0))
        if np.any(bad_step >= 0):
            trial = int(np.argmin(np.where(bad_step >= 0, bad_step, n_steps)))  # the first to diverge
            t_bad = (int(bad_step[trial]) + 1) * dt
            when = f"at t = {t_bad:.6g} tau"
        else:  # the repeated run rounded differently and stayed finite: say no more than we know
            trial, t_bad, when = int(np.argmax(diverged)), None, f"by t = {n_steps * dt:.6g} tau"
        where = f" (trial {trial})" if batched else ""
        J = run = None  # a traceback keeps this frame: it should not keep J (and its buffer) alive
        raise DivergenceError(
            f"the simulation diverged: the state became non-finite {when}{where}. "
            "Reduce dt, the connectivity strength or the inputs.", time=t_bad, trial=trial if batched else None)
    t = np.arange(0, n_steps + 1, record_every) * dt
    arrays = {name: np.asarray(val) if batched else np.asarray(val)[0] for name, val in out.items()}
    return Trajectory(t=t, dt=dt, noise=noise, **arrays)


def _pieces(run, x0, u, u_axis, *, n_steps: int, record, record_every: int, show: bool):
    """Run ``run`` over all steps, in one piece or (``show``) in about ``_PROGRESS_CHUNKS`` pieces
    with a progress bar; return the recorded arrays (B, time, .) and the final states (B, N)."""
    if not show:
        out, x_end = run(x0, u, jnp.int32(0), n_steps=n_steps, record=record, record_every=record_every,
                         check_steps=False, initial=True)
        return out, x_end
    piece = max(record_every, (n_steps // _PROGRESS_CHUNKS) // record_every * record_every)
    parts, x, start = [], x0, 0
    with tqdm(total=n_steps, desc="simulate", unit="step", unit_scale=True, file=sys.stderr) as bar:
        while start < n_steps:
            length = min(piece, n_steps - start)
            u_piece = u[start:start + length] if u_axis is None else u[:, start:start + length]
            out, x = run(x, u_piece, jnp.int32(start), n_steps=length, record=record, record_every=record_every,
                         check_steps=False, initial=start == 0)
            x.block_until_ready()
            parts.append(out)
            start += length
            bar.update(length)
    out = {name: jnp.concatenate([p[name] for p in parts], axis=1) for name in parts[0]}
    return out, x

# A dense J of at least this many bytes is formed in memory backed by 2 MB pages (see
# _dense_connectivity); smaller ones are covered by the TLB's reach with 4 KB pages.
_HUGEPAGE_MIN_BYTES = 8 << 20
_HUGEPAGE = 2 << 20
# One reusable host buffer for that J: [raw bytes, weak reference to the array aliasing it]. The
# buffer is kept between calls, because faulting in fresh huge pages is slow on some machines
# (about 4 s per GB on the benchmark VM, against 0.4 s to form J in place); a later call reuses
# it once the previous J is gone, and replaces it when it is too small.
_STAGING: list = [None, None]
_STAGING_LOCK = threading.Lock()


def _staging_buffer(shape, dtype) -> tuple[np.ndarray, list]:
    """Return a C-contiguous array view of ``shape`` that starts on a 2 MB boundary of the
    reusable buffer (or of a fresh one, while the reusable one is still in use), and the slot to
    record its user in."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    with _STAGING_LOCK:
        raw, user = _STAGING
        free = raw is not None and (user is None or user() is None)
        slot = _STAGING
        if not free or raw.nbytes < nbytes + _HUGEPAGE:
            if raw is not None and not free:  # in use (another thread, a live traceback): a private one
                slot = [None, None]
            else:
                _STAGING[0] = None  # let the old buffer go before the new one is allocated
            # not touched yet: NumPy asks for huge pages for arrays of 4 MB or more (Linux)
            raw = np.empty(nbytes + _HUGEPAGE, np.uint8)
            slot[0] = raw
        slot[1] = lambda: True  # claimed until the caller records the array that aliases it
    start = (-raw.ctypes.data) % _HUGEPAGE
    return raw[start:start + nbytes].view(dtype).reshape(shape), slot


def _dense_connectivity(network: Network) -> jax.Array | None:
    """Return the dense ``J = bulk + m n^T / N`` for ``method="dense"`` in memory backed by
    2 MB ("huge") pages where that is possible (the CPU backend on Linux, J of 8 MB or more), and
    None otherwise (then ``_run`` forms J inside the compiled program).

    A dense step with one trial is a matrix-vector product that streams J from memory. XLA
    allocates its buffers in 4 KB pages, so streaming J takes a TLB miss every 4 KB of each of
    the rows it reads at once (its kernel reads 8 rows at a time). NumPy asks the kernel for huge
    pages for arrays of 4 MB and more (``madvise(MADV_HUGEPAGE)``, effective where transparent
    huge pages are in "madvise" or "always" mode), which is likely part of why its ``sgemv``
    streamed J faster; the same compiled XLA loop is faster with J in huge pages. Here J is formed by NumPy (``m @ n.T``, then
    ``/ N``, float32; it can differ from :meth:`Network.connectivity` in the last bit of some
    entries) in a reusable buffer aligned to 2 MB and handed to XLA without a copy
    (``jax.device_put`` of an aligned host array on the CPU aliases it). The dense path's timings
    are in benchmarks/README.md, "Simulation throughput". Where huge pages or the alias are not
    granted, the run is the same, only not faster.
    """
    N = network.N
    dtype = np.result_type(np.dtype(network.m.dtype), np.dtype(network.n.dtype),
                           *(() if network.bulk is None else (np.dtype(network.bulk.dtype),)))
    if (jax.default_backend() != "cpu" or not sys.platform.startswith("linux")
            or N * N * dtype.itemsize < _HUGEPAGE_MIN_BYTES):
        return None  # formed inside the compiled program, as part of it
    buf, slot = _staging_buffer((N, N), dtype)
    try:
        np.matmul(np.asarray(network.m, dtype), np.asarray(network.n, dtype).T, out=buf)
        np.divide(buf, dtype.type(N), out=buf)
        if network.bulk is not None:
            np.add(buf, np.asarray(network.bulk), out=buf)
        J = jax.device_put(buf)
    except BaseException:
        slot[1] = None
        raise
    slot[1] = weakref.ref(J)
    return J


# Up to this many columns, a product ``A @ c`` of an (N, k) loading matrix with k coefficients per
# trial is written as k broadcast multiply-adds, which XLA fuses into the elementwise update of the
# state (one pass over memory); as a dot it is a separate, much slower call for such skinny shapes
# (benchmarks/README.md, "Simulation throughput").
_UNROLL_MAX = 8


def _columns_times(A: jax.Array, c: jax.Array) -> jax.Array:
    """Return ``A @ c`` for loadings A (N, k) and coefficients c (k, B) or (k,)."""
    k = A.shape[1]
    if k > _UNROLL_MAX:
        return A @ c
    col = (lambda j: A[:, j, None]) if c.ndim == 2 else (lambda j: A[:, j])
    out = col(0) * c[0]
    for j in range(1, k):
        out = out + col(j) * c[j]
    return out


class _NetworkField(VectorField):
    """``F(x, u) = J phi(x) + I u`` of a :class:`Network`, for a state held as an (N, B) matrix
    (one column per trial) or an (N,) vector.

    ``aux`` is ``phi(x)`` when a dense J or a bulk multiplies it, and otherwise the latents and
    readouts ``z = [n, w]^T phi(x) / N`` (R + O rows): a step is then one fused pass
    ``x <- x + dt(-x + sum_r m_r z_r + ...)`` and one product with the (R + O, N) rows.
    """

    def __init__(self, network: Network, J, L, K: int):
        self.network, self.J, self.L, self.K = network, J, L, K
        self.carry_rates = J is not None or network.bulk is not None

    def carried(self, x):
        r = self.network.phi(x)
        return r if self.carry_rates else self.L @ r

    def drive(self, x, aux, u):
        net, R = self.network, self.network.rank
        if self.J is not None:
            drive = self.J @ aux
        elif net.bulk is None:  # aux = z, the latents are its first R rows
            drive = _columns_times(net.m, aux[:R])
        else:
            drive = net.bulk @ aux + _columns_times(net.m, (self.L[:R] @ aux))
        if self.K:  # no inputs given: no input drive (shapes are static)
            inp = _columns_times(net.inputs, u)
            drive = drive + (inp if inp.ndim == x.ndim else inp[:, None])  # inputs shared by trials
        return drive, None


@partial(eqx.filter_jit)
def _run(network, J, dt, sq, noise_state, x0, u, t0, *, n_steps, record_every, record, method, u_axis,
         check_steps, initial, solver):
    """Integrate all trials at once from step ``t0``; returns the recorded arrays (B, n_saves(+1), .)
    (with the initial point when ``initial``) and the final states (B, N); with ``check_steps``,
    instead of the records, whether each trial is finite after each step, (n_steps, B).

    One :func:`~lowrank_rnn.dynamics.integrate` over the batched state held as an (N, B) matrix
    (one column per trial; a vector (N,) when B = 1, where XLA's matrix-vector kernels are faster
    than an (N, 1) matrix), so that the dense and bulk products are one matrix-matrix product
    ``J @ phi(X)`` per step, the layout that XLA's CPU dot runs fastest (about 1.4-1.8x the
    ``phi(X) @ J.T`` of a (B, N) state, and of a vmapped matrix-vector product); without a bulk the
    state carries the latents and readouts instead of ``phi(x)`` (:class:`_NetworkField`).
    ``J`` is the dense connectivity for ``method="dense"`` when :func:`_dense_connectivity` formed
    it outside (large J on the CPU), else None: then a dense J is formed here, as part of the
    compiled program.
    """
    N, R = network.N, network.rank
    K = u.shape[-1]
    single = x0.shape[0] == 1
    if single:  # one trial: vectors throughout
        X0 = x0[0]
        u = u if u_axis is None else u[0]
        u_axis = None
    else:
        X0 = x0.T
    # rows n_r^T / N, then w_o^T / N: kappa and the readouts in one product
    L = jnp.concatenate([network.n.T, network.readouts.T], axis=0) / N
    if J is None and method == "dense":
        J = network.connectivity()
    field = _NetworkField(network, J, L, K)
    # inputs time-major: (n_steps, K) shared by the trials, or (n_steps, K, B)
    u_steps = u if u_axis is None else jnp.transpose(u, (1, 2, 0))
    noise = None
    if noise_state is not None:
        noise = WhiteNoise(scale=sq, state=noise_state, source=QuantileSource(),
                           trial_axis=None if single else 1)

    def observe(x, aux, extra):
        """Recorded quantities at one time point, each (features, B) or (features,)."""
        if check_steps:  # entry by entry: a sum of large finite values could overflow
            return {"finite": jnp.all(jnp.isfinite(x), axis=0)}
        out = {}
        r = aux if field.carry_rates else (network.phi(x) if "rates" in record else None)
        z = (L @ aux if field.carry_rates else aux) if ("kappa" in record or "readout" in record) else None
        if "x" in record:
            out["x"] = x
        if "rates" in record:
            out["rates"] = r
        if "kappa" in record:
            out["kappa"] = z[:R]
        if "readout" in record:
            out["readout"] = z[R:]
        return out

    saveat = SaveAt(fn=observe, every=record_every, initial=initial and not check_steps)
    (x_end, _, _), obs = integrate(field, X0, u_steps if K else None, alpha=dt, n_steps=n_steps, solver=solver,
                                   noise=noise, saveat=saveat, t0=t0)
    if check_steps:
        finite = obs["finite"]
        return None, finite[:, None] if single else finite
    if single:  # (time, features) -> (1, time, features)
        return {name: val[None] for name, val in obs.items()}, x_end[None]
    # (time, features, B) -> (B, time, features)
    return {name: jnp.transpose(val, (2, 0, 1)) for name, val in obs.items()}, x_end.T
