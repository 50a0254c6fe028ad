"""Simulation of rate networks by Euler–Maruyama.

The one noise convention of the library (DESIGN.md, "Noise"): with time in units of tau and
alpha = dt / tau = dt,

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

from ._checks import positive_int, real_scalar
from ._errors import ArgumentError, ArgumentTypeError, DivergenceError
from ._network import Network

RECORDABLE = ("x", "rates", "kappa", "readout")
METHODS = ("auto", "lowrank", "dense")


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


def _input_array(inputs, network: Network, n_steps: int, dt: float):
    """Return inputs as an array (n_steps, K) or (B, n_steps, K) and the batch size it implies."""
    K = network.n_inputs
    if inputs is None:
        return None, None
    if callable(inputs):
        t = jnp.arange(n_steps) * dt
        try:
            arr = jax.vmap(inputs)(t)
        except Exception:  # not traceable: evaluate point by point
            arr = jnp.stack([jnp.asarray(inputs(float(ti))) for ti in np.asarray(t)])
        arr = jnp.asarray(arr, jnp.float32)
        if arr.ndim == 1 and K == 1:
            arr = arr[:, None]
        if arr.shape != (n_steps, K):
            raise ArgumentError(f"inputs(t) must return an array of shape (K,) = ({K},), giving "
                             f"({n_steps}, {K}) over the time grid; got {arr.shape}")
    else:
        arr = np.asarray(inputs, dtype=np.float32)
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


def simulate(network: Network, *, T: float, dt: float, x0=None, inputs=None, noise: float = 0.0,
             key: jax.Array | None = None, record: Sequence[str] | str = ("kappa", "readout"),
             batch: int | None = None, record_every: int = 1, method: str = "auto") -> Trajectory:
    """Return the trajectory of ``network`` integrated by Euler–Maruyama from 0 to ``T``.

    Integrates ``dx = (-x + J phi(x) + inputs @ u(t)) dt + noise dW`` (time in units of tau) with
    the update ``x <- x + dt(-x + J phi(x) + I) + noise sqrt(dt) xi`` (DESIGN.md, "Noise"). The
    whole run is one ``jax.lax.scan`` under ``jax.jit`` over the trials' states together, held as
    an (N, batch) matrix, so that a dense or bulk step is one matrix-matrix product. With no bulk
    (g = 0) the recurrent input is ``m (n^T phi(x) / N)`` and a step costs O(N (R + K)) per trial.

    Parameters
    ----------
    network: the :class:`Network` to simulate.
    T, dt: duration and step, in units of tau (``0 < dt <= 1``); ``round(T / dt)`` steps are taken.
    x0: initial state, ``(N,)`` or ``(batch, N)``; zeros by default.
    inputs: input amplitudes ``u(t)``: an array ``(time, K)`` shared by all trials or
        ``(batch, time, K)``, or a function of time returning ``(K,)``. Entry ``k`` drives the
        step from ``t_k`` to ``t_k + dt``.
    noise: sigma, the strength of independent white noise on every unit (``>= 0``).
    key: ``jax.random`` key; required when ``noise > 0``. Same key, same result.
    record: any of ``"x"``, ``"rates"``, ``"kappa"``, ``"readout"``.
    batch: number of trials, when neither ``x0`` nor ``inputs`` carries a batch axis (e.g. noise
        realisations from one initial condition).
    record_every: store every k-th step only (``T / dt`` must be a multiple of it).
    method: ``"auto"`` (low-rank unless a bulk is present), ``"lowrank"`` (``m (n^T phi)/N`` plus
        bulk), or ``"dense"`` (forms J once and multiplies it every step; for comparison). On the
        CPU (Linux), a J of 8 MB or more is formed in a host buffer backed by 2 MB pages, which
        streams faster; that buffer is kept for reuse by later calls.

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
    if n_steps % record_every:
        raise ArgumentError(f"record_every = {record_every} must divide the number of steps T/dt = {n_steps}")
    noise = real_scalar("noise", noise, low=0.0)
    if noise > 0 and key is None:
        raise ArgumentError("key is required when noise > 0, e.g. key=jax.random.key(0)")
    if key is not None and not isinstance(key, jax.Array):
        raise ArgumentTypeError("key must be a jax.random key, e.g. jax.random.key(0)")
    if method not in METHODS:
        raise ArgumentError(f"method must be one of {METHODS}, got {method!r}")
    if method == "auto":
        method = "lowrank"

    N = network.N
    batch_sizes = {}
    if x0 is None:
        x0_arr = jnp.zeros((N,), jnp.float32)
    else:
        x0_arr = np.asarray(x0, dtype=np.float32)
        if x0_arr.ndim not in (1, 2) or x0_arr.shape[-1] != N:
            raise ArgumentError(f"x0 must have shape (N,) or (batch, N) with N = {N}, got {x0_arr.shape}")
        if not np.all(np.isfinite(x0_arr)):
            raise ArgumentError("x0 contains non-finite values (NaN or inf)")
        if x0_arr.ndim == 2:
            batch_sizes["x0"] = x0_arr.shape[0]
        x0_arr = jnp.asarray(x0_arr)
    u, b_in = _input_array(inputs, network, n_steps, dt)
    if b_in is not None:
        batch_sizes["inputs"] = b_in
    if batch is not None:
        batch_sizes["batch"] = positive_int("batch", batch)
    if len(set(batch_sizes.values())) > 1:
        raise ArgumentError(f"batch sizes disagree: {batch_sizes}")
    batched = bool(batch_sizes)
    B = next(iter(batch_sizes.values())) if batched else 1

    x0_b = jnp.broadcast_to(x0_arr, (B, N)) if x0_arr.ndim == 1 else x0_arr
    if u is None:
        u_b, u_axis = jnp.zeros((n_steps, 0), jnp.float32), None
    elif u.ndim == 2:
        u_b, u_axis = u, None
    else:
        u_b, u_axis = u, 0
    keys = jax.random.split(key if key is not None else jax.random.key(0), B)

    if network.g != 0.0:
        # g is a static label (the bulk already holds g chi) that the integration never reads; as a
        # static field it would be part of the compiled function's key, so a sweep over g would
        # recompile for every g. The label is set to 0 on a shallow copy.
        network = copy.copy(network)
        object.__setattr__(network, "g", 0.0)
    J = _dense_connectivity(network) if method == "dense" else None
    run = partial(_run, network, J, x0_b, u_b, keys, jnp.float32(dt), jnp.float32(noise * np.sqrt(dt)),
                  has_noise=noise > 0, n_steps=n_steps, record_every=record_every, method=method,
                  u_axis=u_axis)
    out, diverged = run(record=record, check_steps=False)
    diverged = np.asarray(diverged) >= 0
    if np.any(diverged):
        # A non-finite state stays non-finite (NaN absorbs every later step), so the final state
        # tells whether a trial diverged; only then is the run repeated with a check on every step
        # (a pass over the state per step, which would cost a low-rank step about a quarter more)
        # to say when.
        _, bad_step = run(record=(), check_steps=True)
        bad_step = np.asarray(bad_step)
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
    streamed J faster: the same compiled XLA loop took 8-17 % less time a step with J in huge
    pages on one core, 5-13 % with two threads. Here J is formed by NumPy (``m @ n.T``, then
    ``/ N``, float32; it can differ from :meth:`Network.connectivity` in the last bit of some
    entries) in a reusable buffer aligned to 2 MB and handed to XLA without a copy
    (``jax.device_put`` of an aligned host array on the CPU aliases it). At N = 4000 and 16000,
    batch 1, a dense step took 10-13 % less time, and forming J at N = 16000 half the time
    (benchmarks/README.md, "Simulation throughput"). Where huge pages or the alias are not
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


@partial(eqx.filter_jit)
def _run(network, J, x0, u, keys, dt, sq, *, has_noise, n_steps, record_every, record, method, u_axis,
         check_steps):
    """Integrate all trials at once; returns recorded arrays (B, n_saves+1, .) and, per trial,
    the first non-finite step (``check_steps``) or whether the final state is non-finite
    (otherwise; 0 if so), -1 when none.

    One ``lax.scan`` over the batched state held as an (N, B) matrix (one column per trial; a
    vector (N,) when B = 1, where XLA's matrix-vector kernels are faster than an (N, 1) matrix), so
    that the dense and bulk products are one matrix-matrix product ``J @ phi(X)`` per step, the
    layout that XLA's CPU dot runs fastest (about 1.4-1.8x the ``phi(X) @ J.T`` of a (B, N)
    state, and of a vmapped matrix-vector product). Without a bulk the scan carries the latents
    and readouts ``z = [n, w]^T phi(x) / N`` instead of ``phi(x)``: a step is then one fused pass
    ``x <- x + dt(-x + sum_r m_r z_r + ...)`` and one product with the (R + O, N) rows.
    ``J`` is the dense connectivity for ``method="dense"`` when :func:`_dense_connectivity` formed
    it outside (large J on the CPU), else None: then a dense J is formed here, as part of the
    compiled program.
    """
    N, R = network.N, network.rank
    K = u.shape[-1]
    single = x0.shape[0] == 1
    if single:  # one trial: vectors throughout
        X0, keys = x0[0], keys[0]
        u = u if u_axis is None else u[0]
        u_axis = None
    else:
        X0 = x0.T
    # rows n_r^T / N, then w_o^T / N: kappa and the readouts in one product
    L = jnp.concatenate([network.n.T, network.readouts.T], axis=0) / N
    if J is None and method == "dense":
        J = network.connectivity()
    carry_rates = J is not None or network.bulk is not None
    n_saves = n_steps // record_every
    # inputs time-major: (n_steps, K) shared by the trials, or (n_steps, K, B)
    u_steps = u if u_axis is None else jnp.transpose(u, (1, 2, 0))
    u_blocks = u_steps.reshape((n_saves, record_every) + u_steps.shape[1:])

    def recurrent(aux):
        if J is not None:
            return J @ aux
        if network.bulk is None:  # aux = z, the latents are its first R rows
            return _columns_times(network.m, aux[:R])
        return network.bulk @ aux + _columns_times(network.m, (L[:R] @ aux))

    def draw(keys):
        # per-trial keys, split per step exactly as a single trial would: a trial's noise does not
        # depend on the other trials of the batch
        if single:
            keys, sub = jax.random.split(keys)
            return keys, jax.random.normal(sub, (N,), X0.dtype)
        pairs = jax.vmap(jax.random.split)(keys)
        xi = jax.vmap(lambda k: jax.random.normal(k, (N,), X0.dtype))(pairs[:, 1])
        return pairs[:, 0], xi.T

    def step(carry, u_t):
        x, aux, ks, i, bad = carry  # aux = phi(x) (dense or bulk) or z (pure low rank)
        drive = recurrent(aux)
        if K:  # no inputs given: no input drive (shapes are static)
            inp = _columns_times(network.inputs, u_t)
            drive = drive + (inp if inp.ndim == x.ndim else inp[:, None])  # inputs shared by trials
        x_new = x + dt * (-x + drive)
        if has_noise:
            ks, xi = draw(ks)
            x_new = x_new + sq * xi
        if check_steps:  # entry by entry: a sum of large finite values could overflow
            bad = jnp.where((bad < 0) & ~jnp.all(jnp.isfinite(x_new), axis=0), i, bad)
        r_new = network.phi(x_new)
        return (x_new, r_new if carry_rates else L @ r_new, ks, i + 1, bad), None

    def observe(x, aux):
        """Recorded quantities at one time point, each (features, B) or (features,)."""
        out = {}
        r = aux if carry_rates else (network.phi(x) if "rates" in record else None)
        z = (L @ aux if carry_rates else aux) if ("kappa" in record or "readout" in record) else None
        if "x" in record:
            out["x"] = x
        if "rates" in record:
            out["rates"] = r
        if "kappa" in record:
            out["kappa"] = z[:R]
        if "readout" in record:
            out["readout"] = z[R:]
        return out

    def block(carry, u_blk):
        carry, _ = jax.lax.scan(step, carry, u_blk)
        return carry, observe(carry[0], carry[1])

    R0 = network.phi(X0)
    aux0 = R0 if carry_rates else L @ R0
    init = (X0, aux0, keys, jnp.int32(0), jnp.full(X0.shape[1:], -1, jnp.int32))
    (x_end, _, _, _, bad), obs = jax.lax.scan(block, init, u_blocks)
    if not check_steps:
        bad = jnp.where(jnp.all(jnp.isfinite(x_end), axis=0), -1, 0)
    first = observe(X0, aux0)
    obs = {name: jnp.concatenate([first[name][None], obs[name]], axis=0) for name in obs}
    if single:  # (time, features) -> (1, time, features)
        return {name: val[None] for name, val in obs.items()}, bad[None]
    # (time, features, B) -> (B, time, features)
    return {name: jnp.transpose(val, (2, 0, 1)) for name, val in obs.items()}, bad
