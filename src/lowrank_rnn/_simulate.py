"""Simulation of rate networks by Euler–Maruyama.

The one noise convention of the library (DESIGN.md, "Noise"): with time in units of tau and
alpha = dt / tau = dt,

    x <- x + alpha (-x + J phi(x) + I(t)) + sigma sqrt(alpha) xi,      xi ~ N(0, 1) i.i.d.,

which discretises dx = (-x + J phi(x) + I) dt + sigma dW. The stationary variance of a linear
unit is sigma^2 / (2 - alpha) -> sigma^2 / 2, so results converge as dt -> 0.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._checks import positive_int, real_scalar
from ._errors import DivergenceError
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
        raise ValueError(f"record must be a non-empty sequence drawn from {RECORDABLE}")
    bad = [r for r in record if r not in RECORDABLE]
    if bad:
        raise ValueError(f"record: unknown quantities {bad}; allowed are {RECORDABLE}")
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
            raise ValueError(f"inputs(t) must return an array of shape (K,) = ({K},), giving "
                             f"({n_steps}, {K}) over the time grid; got {arr.shape}")
    else:
        arr = np.asarray(inputs, dtype=np.float32)
        if arr.ndim not in (2, 3):
            raise ValueError(f"inputs must have shape (time, K) or (batch, time, K), got {arr.shape}")
        if arr.shape[-1] != K:
            raise ValueError(f"inputs has {arr.shape[-1]} channels but the network has K = {K} "
                             "input vectors")
        T_in = arr.shape[-2]
        if T_in == n_steps + 1:
            arr = arr[..., :n_steps, :]
        elif T_in != n_steps:
            raise ValueError(f"inputs has {T_in} time points; with T/dt = {n_steps} steps it needs "
                             f"{n_steps} (one per step) or {n_steps + 1}")
        arr = jnp.asarray(arr)
    if not bool(jnp.all(jnp.isfinite(arr))):
        raise ValueError("inputs contains non-finite values (NaN or inf)")
    if K == 0:
        return None, (arr.shape[0] if arr.ndim == 3 else None)
    return arr, (arr.shape[0] if arr.ndim == 3 else None)


def simulate(network: Network, *, T: float, dt: float, x0=None, inputs=None, noise: float = 0.0,
             key: jax.Array | None = None, record: Sequence[str] | str = ("kappa", "readout"),
             batch: int | None = None, record_every: int = 1, method: str = "auto") -> Trajectory:
    """Return the trajectory of ``network`` integrated by Euler–Maruyama from 0 to ``T``.

    Integrates ``dx = (-x + J phi(x) + inputs @ u(t)) dt + noise dW`` (time in units of tau) with
    the update ``x <- x + dt(-x + J phi(x) + I) + noise sqrt(dt) xi`` (DESIGN.md, "Noise"). The
    whole run is one ``jax.lax.scan`` under ``jax.jit``; trials are ``vmap``-ped. With no bulk
    (g = 0) the recurrent input is ``m (n^T phi(x) / N)`` and a step costs O(N (R + K)).

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
        bulk), or ``"dense"`` (forms J once and multiplies it every step; for comparison).

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
        raise TypeError(f"network must be a lowrank_rnn.Network, got {type(network).__name__}")
    T = real_scalar("T", T, low=0.0, low_open=True)
    dt = real_scalar("dt", dt, low=0.0, high=1.0, low_open=True)
    n_steps = int(round(T / dt))
    if n_steps < 1:
        raise ValueError(f"T = {T} is shorter than one step dt = {dt}")
    record = _check_record(record)
    record_every = positive_int("record_every", record_every)
    if n_steps % record_every:
        raise ValueError(f"record_every = {record_every} must divide the number of steps T/dt = {n_steps}")
    noise = real_scalar("noise", noise, low=0.0)
    if noise > 0 and key is None:
        raise ValueError("key is required when noise > 0, e.g. key=jax.random.key(0)")
    if key is not None and not isinstance(key, jax.Array):
        raise TypeError("key must be a jax.random key, e.g. jax.random.key(0)")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "auto":
        method = "lowrank"

    N = network.N
    batch_sizes = {}
    if x0 is None:
        x0_arr = jnp.zeros((N,), jnp.float32)
    else:
        x0_arr = np.asarray(x0, dtype=np.float32)
        if x0_arr.ndim not in (1, 2) or x0_arr.shape[-1] != N:
            raise ValueError(f"x0 must have shape (N,) or (batch, N) with N = {N}, got {x0_arr.shape}")
        if not np.all(np.isfinite(x0_arr)):
            raise ValueError("x0 contains non-finite values (NaN or inf)")
        if x0_arr.ndim == 2:
            batch_sizes["x0"] = x0_arr.shape[0]
        x0_arr = jnp.asarray(x0_arr)
    u, b_in = _input_array(inputs, network, n_steps, dt)
    if b_in is not None:
        batch_sizes["inputs"] = b_in
    if batch is not None:
        batch_sizes["batch"] = positive_int("batch", batch)
    if len(set(batch_sizes.values())) > 1:
        raise ValueError(f"batch sizes disagree: {batch_sizes}")
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

    out, bad_step = _run(network, x0_b, u_b, keys, jnp.float32(dt), jnp.float32(noise * np.sqrt(dt)),
                         has_noise=noise > 0, n_steps=n_steps,
                         record_every=record_every, record=record, method=method, u_axis=u_axis)
    bad_step = np.asarray(bad_step)
    if np.any(bad_step >= 0):
        trial = int(np.argmax(bad_step >= 0)) if B > 1 else 0
        t_bad = (int(bad_step[trial]) + 1) * dt
        where = f" (trial {trial})" if batched else ""
        raise DivergenceError(
            f"the simulation diverged: the state became non-finite at t = {t_bad:.6g} tau{where}. "
            "Reduce dt, the connectivity strength or the inputs.", time=t_bad, trial=trial if batched else None)
    t = np.arange(0, n_steps + 1, record_every) * dt
    arrays = {name: np.asarray(val) if batched else np.asarray(val)[0] for name, val in out.items()}
    return Trajectory(t=t, dt=dt, noise=noise, **arrays)


def _observables(network: Network, x: jax.Array, r: jax.Array, nT_over_N: jax.Array,
                 record: tuple[str, ...]) -> dict[str, jax.Array]:
    out = {}
    if "x" in record:
        out["x"] = x
    if "rates" in record:
        out["rates"] = r
    if "kappa" in record:
        out["kappa"] = nT_over_N @ r
    if "readout" in record:
        out["readout"] = r @ network.readouts / network.N
    return out


@partial(eqx.filter_jit)
def _run(network, x0, u, keys, dt, sq, *, has_noise, n_steps, record_every, record, method, u_axis):
    """Integrate every trial (vmapped); returns recorded arrays (B, n_saves+1, .) and the first
    non-finite step per trial (-1 when none)."""
    N = network.N
    J = network.connectivity() if method == "dense" else None
    # Loadings as (R, N) rows: XLA's CPU dot is several times faster on these skinny products
    # than on the (N, R) layout (measured in benchmarks/README.md, "Simulation throughput").
    mT, nT_over_N = network.m.T, network.n.T / N
    n_saves = n_steps // record_every

    def recurrent(r):
        if J is not None:
            return J @ r
        rec = (nT_over_N @ r) @ mT
        return rec if network.bulk is None else rec + network.bulk @ r

    def one_trial(x_init, u_trial, key):
        u_blocks = u_trial.reshape(n_saves, record_every, u_trial.shape[-1])

        def step(carry, u_t):
            x, r, k, i, bad = carry  # r = phi(x), carried so that recording does not recompute it
            drive = recurrent(r)
            if u_t.shape[-1]:  # no inputs given: no input drive (shapes are static)
                drive = drive + network.inputs @ u_t
            x_new = x + dt * (-x + drive)
            if has_noise:
                k, sub = jax.random.split(k)
                x_new = x_new + sq * jax.random.normal(sub, x.shape, x.dtype)
            # a non-finite entry makes the sum non-finite: one reduction, no boolean pass
            bad = jnp.where((bad < 0) & ~jnp.isfinite(jnp.sum(x_new)), i, bad)
            return (x_new, network.phi(x_new), k, i + 1, bad), None

        def block(carry, u_blk):
            carry, _ = jax.lax.scan(step, carry, u_blk)
            return carry, _observables(network, carry[0], carry[1], nT_over_N, record)

        r_init = network.phi(x_init)
        init = (x_init, r_init, key, jnp.int32(0), jnp.int32(-1))
        (_, _, _, _, bad), obs = jax.lax.scan(block, init, u_blocks)
        first = _observables(network, x_init, r_init, nT_over_N, record)
        obs = {name: jnp.concatenate([first[name][None], obs[name]], axis=0) for name in obs}
        return obs, bad

    return jax.vmap(one_trial, in_axes=(0, u_axis, 0))(x0, u, keys)
