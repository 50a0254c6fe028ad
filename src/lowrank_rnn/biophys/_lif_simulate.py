"""Event-driven simulation of the LIF neuron with fast conductance synapses (exact, no time step)."""

from __future__ import annotations

import dataclasses
import sys

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from .._checks import positive_int, prng_key, real_scalar
from ._lif_params import check_lif, check_rates

_CHUNK = 2048  # input events per compiled chunk


@dataclasses.dataclass(frozen=True)
class LIFSimulation:
    """What :func:`simulate_lif_conductance` measured, arrays of the broadcast shape of the input rates.

    Attributes
    ----------
    rate: output rate (Hz), intervals counted over their total duration, all neurons pooled.
    rate_se: its standard error (Hz), from the spread of the neurons' counts (ratio estimator).
    cv: coefficient of variation of the interspike intervals (NaN with fewer than 2 intervals).
    n_intervals: number of interspike intervals measured.
    duration: total simulated time over which they were counted (ms, all neurons).
    censored: neurons stopped at ``3 T`` before their first spike after ``T``.

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn import biophys
    >>> sim = biophys.simulate_lif_conductance(4000.0, 1000.0, a_e=0.01, a_i=0.04, T=500.0,
    ...                                        n_neurons=8, key=jax.random.key(0))
    >>> sim.rate.shape, bool(sim.rate > 0), bool(sim.rate_se > 0)
    ((), True, True)
    """

    rate: np.ndarray
    rate_se: np.ndarray
    cv: np.ndarray
    n_intervals: np.ndarray
    duration: np.ndarray
    censored: np.ndarray


def _chunk(state, key, nu_e, nu_i, prm, T):
    """Advance one neuron by ``_CHUNK`` input events (or until it is done)."""
    a_e, a_i, tau_m, E_L, E_e, E_i, V_th, V_reset, t_ref = prm
    k_e, k_i = jnp.exp(-a_e), jnp.exp(-a_i)
    lam = (nu_e + nu_i) / 1000.0  # events per ms
    p_exc = jnp.where(lam > 0, nu_e / 1000.0 / jnp.where(lam > 0, lam, 1.0), 0.0)
    drift_fires = E_L > V_th
    t_cap = 3.0 * T

    def step(st, u):
        v, t, since, n, sx, sx2, done = st
        u_dt, u_type = u
        dt = jnp.where(lam > 0, -jnp.log1p(-u_dt) / jnp.where(lam > 0, lam, 1.0), jnp.inf)
        # time for the relaxation alone to reach threshold (only when E_L > V_th)
        t_drift = jnp.where(drift_fires & (v < V_th),
                            tau_m * jnp.log(jnp.where(drift_fires, (v - E_L) / (V_th - E_L), 2.0)), jnp.inf)
        by_drift = t_drift <= dt
        wait = jnp.minimum(dt, t_drift)
        relaxed = E_L + (v - E_L) * jnp.exp(-wait / tau_m)
        excitatory = u_type < p_exc
        jumped = jnp.where(excitatory, E_e + (relaxed - E_e) * k_e, E_i + (relaxed - E_i) * k_i)
        v_new = jnp.where(by_drift, V_th, jumped)
        spike = by_drift | (excitatory & (jumped >= V_th))
        t_new = t + wait
        interval = since + wait
        capped = t_new >= t_cap
        n_new = n + spike
        sx_new = sx + jnp.where(spike, interval, 0.0)
        sx2_new = sx2 + jnp.where(spike, interval * interval, 0.0)
        finished = (spike & (t_new >= T)) | capped
        # after a spike: refractory, then restart at V_reset (input events in between are lost,
        # and by memorylessness the clock of the next event restarts)
        v_next = jnp.where(spike, V_reset, v_new)
        t_next = jnp.where(spike, t_new + t_ref, t_new)
        since_next = jnp.where(spike, t_ref, interval)
        new = (v_next, t_next, since_next, n_new, sx_new, sx2_new, done | finished)
        return jax.tree.map(lambda a, b: jnp.where(done, a, b).astype(a.dtype), st, new), None

    uniforms = jax.random.uniform(key, (_CHUNK, 2), dtype=jnp.float32)  # float32 in 64-bit mode too
    state, _ = jax.lax.scan(step, state, (uniforms[:, 0], uniforms[:, 1]))
    return state


@jax.jit
def _advance(states, keys, nu_e, nu_i, prm, T):
    """Advance every (parameter set, neuron) pair by one chunk."""
    per_neuron = jax.vmap(_chunk, in_axes=(0, 0, None, None, None, None))
    return jax.vmap(per_neuron, in_axes=(0, 0, 0, 0, None, None))(states, keys, nu_e, nu_i, prm, T)


def simulate_lif_conductance(nu_e, nu_i, *, T, key, n_neurons=64, a_e, a_i, tau_m=20.0, E_L=-70.0, E_e=0.0,
                             E_i=-80.0, V_th=-50.0, V_reset=-60.0, t_ref=2.0, progress=False) -> LIFSimulation:
    r"""Return the firing rate, its standard error and the ISI CV of an event-driven simulation.

    The neuron of :func:`lif_conductance_rate` (arXiv 2002.11181's LIF with fast conductance
    synapses), simulated without a time step, which is exact for this model: the time to the next
    input event is drawn from the exponential law of rate $\nu_e + \nu_i$ and its type is
    excitatory with probability $\nu_e / (\nu_e + \nu_i)$; in between, the voltage relaxes
    analytically, $V(t) = E_L + (V_0 - E_L)e^{-t/\tau_m}$; the event applies
    $V \to E_A + (V - E_A)e^{-a_A}$. A spike is an excitatory jump to $V \ge V_\theta$ or, only
    when $E_L > V_\theta$, the relaxation reaching $V_\theta$ at
    $t = \tau_m \ln\frac{V_0 - E_L}{V_\theta - E_L}$ (with $E_L < V_\theta$ relaxation moves away
    from threshold and cannot cross it). After a spike the neuron is refractory for $t_\mathrm{ref}$
    and restarts at $V_r$; as the input is Poisson, the event clock restarts then too.

    Each of ``n_neurons`` independent neurons starts with a spike at time 0 and runs until its
    first spike at or after ``T`` (or until $3T$ if it has none). The intervals $X_k$ are
    independent and identically distributed and the count of each neuron is a stopping time, so
    Wald's identity makes $\sum X_k / \#\{X_k\}$ a consistent estimate of the mean interval with
    no start or end bias; the rate is its inverse, its standard error comes from the neurons'
    spread (ratio estimator), and the CV is that of the pooled intervals. Runs in compiled chunks
    of input events (``lax.scan``), vmapped over neurons and over the input rates.

    Parameters
    ----------
    nu_e, nu_i: excitatory and inhibitory input rates (Hz), arrays that broadcast together;
        finite and $\ge 0$.
    T: simulated time per neuron (ms), $> 0$.
    key: a ``jax.random`` key.
    n_neurons: independent neurons per rate pair ($\ge 2$).
    a_e, a_i, tau_m, E_L, E_e, E_i, V_th, V_reset, t_ref: the neuron, as in
        :func:`lif_conductance_rate`.
    progress: show a ``tqdm`` bar (on stderr) of the chunks.

    Returns
    -------
    LIFSimulation
        ``rate``, ``rate_se`` (Hz), ``cv`` and the counts, each of the broadcast shape of the rates.

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn import biophys
    >>> sim = biophys.simulate_lif_conductance([3000.0, 4000.0], 1000.0, a_e=0.01, a_i=0.04,
    ...                                        T=1000.0, n_neurons=16, key=jax.random.key(0))
    >>> sim.rate.shape, sim.cv.shape
    ((2,), (2,))
    """
    p = check_lif(a_e=a_e, a_i=a_i, tau_m=tau_m, E_L=E_L, E_e=E_e, E_i=E_i, V_th=V_th, V_reset=V_reset,
                  t_ref=t_ref)
    nu_e, nu_i = check_rates(nu_e, nu_i)
    T = real_scalar("T", T, low=0.0, low_open=True)
    key = prng_key("key", key)
    n_neurons = positive_int("n_neurons", n_neurons, low=2)
    shape = nu_e.shape
    ne, ni = nu_e.ravel(), nu_i.ravel()
    sets = ne.size
    f32 = jnp.float32
    silent = p.silent(ne)
    zeros = jnp.zeros((sets, n_neurons), f32)
    states = (jnp.full((sets, n_neurons), p.V_reset, f32), jnp.full((sets, n_neurons), p.t_ref, f32),
              jnp.full((sets, n_neurons), p.t_ref, f32), jnp.zeros((sets, n_neurons), jnp.int32), zeros, zeros,
              jnp.broadcast_to(jnp.asarray(silent)[:, None], (sets, n_neurons)))
    prm = jnp.asarray([p.a_e, p.a_i, p.tau_m, p.E_L, p.E_e, p.E_i, p.V_th, p.V_reset, p.t_ref], f32)
    nu_e_j, nu_i_j = jnp.asarray(ne, f32), jnp.asarray(ni, f32)
    with tqdm(total=100, desc="simulate_lif_conductance", unit="%", disable=not progress, file=sys.stderr) as bar:
        shown = 0
        while not bool(states[6].all()):
            key, sub = jax.random.split(key)
            keys = jax.random.split(sub, (sets, n_neurons))  # typed or legacy uint32 keys alike
            states = _advance(states, keys, nu_e_j, nu_i_j, prm, f32(T))
            t, done = np.asarray(states[1]), np.asarray(states[6])
            frac = int(100 * float(np.where(done, 1.0, np.minimum(t / T, 1.0)).min()))
            bar.update(max(frac - shown, 0))
            shown = max(shown, frac)
    _, t, _, n, sx, sx2, _ = (np.asarray(x, np.float64) for x in states)
    # a neuron stopped at 3T before its first spike after T counts its spikes over the time it ran
    censored = t >= 3.0 * T
    duration = np.where(censored, np.minimum(t, 3.0 * T), sx)
    return _summarise(n, duration, sx, sx2, censored, shape)


def _summarise(n, duration, sx, sx2, censored, shape) -> LIFSimulation:
    k = n.shape[1]
    total_n, total_t = n.sum(1), duration.sum(1)
    rate = np.where(total_t > 0, total_n / np.where(total_t > 0, total_t, 1.0), 0.0)  # per ms
    mean_t = total_t / k
    resid = n - rate[:, None] * duration
    se = np.sqrt((resid**2).sum(1) / (k * (k - 1))) / np.where(mean_t > 0, mean_t, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        m1 = sx.sum(1) / total_n
        m2 = sx2.sum(1) / total_n
        cv = np.where(total_n >= 2, np.sqrt(np.maximum(m2 - m1**2, 0.0)) / m1, np.nan)
    return LIFSimulation(rate=(1000.0 * rate).reshape(shape), rate_se=(1000.0 * se).reshape(shape),
                         cv=cv.reshape(shape), n_intervals=total_n.astype(int).reshape(shape),
                         duration=total_t.reshape(shape), censored=censored.sum(1).astype(int).reshape(shape))
