"""Random networks of Izhikevich neurons: the ground truth of Lu et al. 2023's causal discovery."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import positive_int, prng_key, real_scalar
from .._errors import ArgumentError, DivergenceError

#: the spike threshold (mV): a neuron with v >= V_PEAK fires and is reset at the next step
V_PEAK = 30.0


@dataclasses.dataclass(frozen=True)
class IzhikevichActivity:
    """What :func:`izhikevich_network` simulated, as NumPy arrays.

    Arrays are ``(networks, time, n)`` (and ``M``: ``(networks, n, n)``) when a batch of networks
    was simulated (``networks=``), and ``(time, n)`` otherwise. ``time = steps + 1``: row 0 is the
    initial state, row ``t`` the state after ``t`` steps of 1 ms. Neurons ``0 .. n_exc - 1`` are
    excitatory, the rest inhibitory.

    Attributes
    ----------
    v: membrane potentials (mV); a value $\\ge 30$ is a spike, reset at the next step.
    v_normed: ``v`` clipped at 30 mV, then z-scored per neuron over time (population standard
        deviation): the input of the causal-discovery methods.
    spikes: boolean, ``v >= 30``.
    M: the true connectivity; ``M[i, j]`` is the weight of the synapse $j \\to i$: $+S_0$ from an
        excitatory cell, $-S_0$ from an inhibitory one, 0 where there is none (and on the diagonal).
    a, b, c, d: the neurons' Izhikevich parameters, ``(n,)`` (or ``(networks, n)``).
    n_exc: number of excitatory neurons.

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn import causal
    >>> act = causal.izhikevich_network(4, 1, 0.5, key=jax.random.key(0), steps=200)
    >>> act.v.shape, act.v_normed.shape, act.M.shape, act.batched
    ((201, 5), (201, 5), (5, 5), False)
    """

    v: np.ndarray
    v_normed: np.ndarray
    spikes: np.ndarray
    M: np.ndarray
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    d: np.ndarray
    n_exc: int

    @property
    def batched(self) -> bool:
        """True when arrays carry a leading network axis."""
        return self.v.ndim == 3

    @property
    def firing_rates(self) -> np.ndarray:
        """Spikes per second of each neuron over the run (1 ms steps), ``(n,)`` or ``(networks, n)``."""
        steps = self.spikes.shape[-2] - 1
        return self.spikes.sum(axis=-2) * (1000.0 / steps)


def _simulate_one(key, p, s0, input_mean, input_std, *, n_exc: int, n_inh: int, steps: int):
    n = n_exc + n_inh
    k_exc, k_inh, k_conn, k_noise = jax.random.split(key, 4)
    re = jax.random.uniform(k_exc, (n_exc,))
    ri = jax.random.uniform(k_inh, (n_inh,))
    a = jnp.concatenate([jnp.full((n_exc,), 0.02), 0.02 + 0.08 * ri])
    b = jnp.full((n,), -0.1)
    c = jnp.concatenate([-65.0 + 15.0 * re**2, jnp.full((n_inh,), -65.0)])
    d = jnp.concatenate([8.0 - 6.0 * re**2, jnp.full((n_inh,), 2.0)])
    sign = jnp.concatenate([jnp.ones(n_exc), -jnp.ones(n_inh)])
    connected = (jax.random.uniform(k_conn, (n, n)) < p) & ~jnp.eye(n, dtype=bool)
    M = s0 * connected * sign[None, :]
    noise = jax.random.normal(k_noise, (steps, n))

    def half_step(v, u, current):
        return v + 0.5 * (0.04 * v**2 + 4.1 * v + 108.0 - u + current)

    def step(carry, xi):
        v, u = carry
        fired = v >= V_PEAK
        v = jnp.where(fired, c, v)
        u = jnp.where(fired, u + d, u)
        current = input_mean + input_std * xi + M @ fired.astype(v.dtype)
        v = half_step(half_step(v, u, current), u, current)
        u = u + a * (b * v - u)
        return (v, u), v

    v0 = jnp.full((n,), -65.0)
    _, vs = jax.lax.scan(step, (v0, b * v0), noise)
    v = jnp.concatenate([v0[None], vs])
    clipped = jnp.minimum(v, V_PEAK)
    std = clipped.std(axis=0)
    v_normed = (clipped - clipped.mean(axis=0)) / jnp.where(std > 0, std, 1.0)
    return v, v_normed, M, a, b, c, d


@functools.partial(jax.jit, static_argnames=("n_exc", "n_inh", "steps"))
def _simulate_batch(keys, p, s0, input_mean, input_std, *, n_exc, n_inh, steps):
    one = functools.partial(_simulate_one, n_exc=n_exc, n_inh=n_inh, steps=steps)
    return jax.vmap(one, in_axes=(0, None, None, None, None))(keys, p, s0, input_mean, input_std)


def izhikevich_network(n_exc: int, n_inh: int, p: float, *, key, steps: int = 5000, networks: int | None = None,
                       s0: float = 5.0, input_mean: float = 5.0, input_var: float = 5.0) -> IzhikevichActivity:
    """Return the activity and true connectivity of a random network of Izhikevich neurons.

    The ground-truth networks of Lu et al. 2023 ("Attention for causal relationship discovery from
    biological neural dynamics", arXiv 2311.06928). Each ordered pair $j \\ne i$ is connected
    independently with probability ``p``, with weight $M_{ij} = S_0$ if $j$ is excitatory and
    $-S_0$ if inhibitory. With $r \\sim U(0, 1)$ per cell, excitatory cells have $a = 0.02$,
    $c = -65 + 15 r^2$, $d = 8 - 6 r^2$; inhibitory cells $a = 0.02 + 0.08 r$, $c = -65$, $d = 2$;
    $b = -0.1$ for all. Starting from $v = -65$, $u = b v$, each step of 1 ms

    1. resets the cells that fired ($v \\ge 30$): $v \\leftarrow c$, $u \\leftarrow u + d$;
    2. draws the input $I_i = \\mu + \\sigma \\xi_i + \\sum_{j \\text{ fired}} M_{ij}$,
       $\\xi_i \\sim N(0, 1)$, $\\mu$ = ``input_mean``, $\\sigma^2$ = ``input_var``;
    3. integrates $v$ twice by 0.5 ms, $v \\leftarrow v + \\tfrac12 (0.04 v^2 + 4.1 v + 108 - u + I)$,
       then $u \\leftarrow u + a (b v - u)$

    (Izhikevich 2003, IEEE Trans. Neural Netw. 14:1569, with the constants of Lu et al.). The
    whole run is one compiled ``lax.scan``; a batch of networks (``networks=``) is one ``vmap``.

    Parameters
    ----------
    n_exc, n_inh: numbers of excitatory and inhibitory neurons (the paper uses an 80/20 split:
        4+1, 8+2, 16+4, 32+8); ``n_exc >= 0``, ``n_inh >= 0``, ``n_exc + n_inh >= 1``.
    p: connection probability in $[0, 1]$.
    key: a ``jax.random`` key; the same key gives the same network and activity.
    steps: number of 1 ms steps (5000 in the paper).
    networks: if given, simulate this many networks, from ``jax.random.split(key, networks)``
        (network ``k`` equals the single network of key ``split(key, networks)[k]``); arrays then
        carry a leading network axis.
    s0: synaptic strength $S_0 \\ge 0$.
    input_mean, input_var: mean and variance of the external input per neuron and step.

    Returns
    -------
    IzhikevichActivity
        ``v``, ``v_normed``, ``spikes`` ``(..., steps + 1, n)``, ``M`` and the cell parameters.

    Raises
    ------
    DivergenceError
        If the voltages overflow (a huge ``s0`` or input).

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn import causal
    >>> act = causal.izhikevich_network(8, 2, 0.4, key=jax.random.key(1), steps=1000, networks=3)
    >>> act.v_normed.shape, act.M.shape
    ((3, 1001, 10), (3, 10, 10))
    >>> bool((act.M[:, :, :8] >= 0).all() and (act.M[:, :, 8:] <= 0).all())
    True
    """
    for name, value in (("n_exc", n_exc), ("n_inh", n_inh)):
        positive_int(name, value, low=0)
    if n_exc + n_inh < 1:
        raise ArgumentError(f"n_exc + n_inh must be >= 1, got n_exc = {n_exc}, n_inh = {n_inh}")
    p = real_scalar("p", p, low=0.0, high=1.0)
    key = prng_key("key", key)
    steps = positive_int("steps", steps)
    if networks is not None:
        networks = positive_int("networks", networks)
    s0 = real_scalar("s0", s0, low=0.0)
    input_mean = real_scalar("input_mean", input_mean)
    input_var = real_scalar("input_var", input_var, low=0.0)

    keys = jax.random.split(key, networks) if networks is not None else key[None]
    out = _simulate_batch(keys, p, s0, input_mean, float(np.sqrt(input_var)),
                          n_exc=int(n_exc), n_inh=int(n_inh), steps=steps)
    v, v_normed, M, a, b, c, d = (np.asarray(x) for x in out)
    if not np.all(np.isfinite(v)):
        bad = np.argwhere(~np.isfinite(v))[0]
        raise DivergenceError(f"the Izhikevich voltages overflowed at step {bad[1]} of network {bad[0]}: "
                              f"lower s0 (= {s0}) or the input (mean {input_mean}, variance {input_var})",
                              time=float(bad[1]), trial=int(bad[0]))
    if networks is None:
        v, v_normed, M, a, b, c, d = (x[0] for x in (v, v_normed, M, a, b, c, d))
    return IzhikevichActivity(v=v, v_normed=v_normed, spikes=v >= V_PEAK, M=M, a=a, b=b, c=c, d=d,
                              n_exc=int(n_exc))
