"""A random (untrained) rate network driven through named input channels, with a readout loop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import positive_int, prng_key, real_scalar
from .._errors import ArgumentError, ArgumentTypeError
from .._network import NONLINEARITIES, Network
from ..dynamics import SaveAt, VectorField, integrate


class Loop(eqx.Module):
    r"""A closed loop: the readout ``z = w^T phi(x)`` fed back through the vectors of one input
    channel, ``gain * I_channel z``.

    Attributes
    ----------
    readout: ``w``, shape (N, O); the channel must have O vectors.
    channel: the name of the input channel the readout is routed through.
    gain: the loop's strength (a scalar, traceable).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> Loop(jnp.zeros((10, 2)), channel="cerebellar", gain=0.5).channel
    'cerebellar'
    """

    readout: jax.Array
    gain: Any
    channel: str = eqx.field(static=True)

    def __init__(self, readout, *, channel: str, gain=1.0):
        self.readout = jnp.asarray(readout)
        self.channel = channel
        self.gain = gain


class _ReservoirField(VectorField):
    """``F(x, u) = J phi(x) + sum_c I_c u_c (+ gain I_f w^T phi(x))``; carries ``phi(x)``."""

    def __init__(self, reservoir: Reservoir, names: tuple[str, ...], loop: Loop | None):
        self.r, self.names, self.loop = reservoir, names, loop

    def carried(self, x):
        return self.r.phi(x)

    def drive(self, x, rates, u):
        F = self.r.bulk @ rates
        for name in self.names:
            F = F + self.r.channels[name] @ u[name]
        if self.loop is not None:
            z = self.loop.readout.T @ rates
            F = F + self.loop.gain * (self.r.channels[self.loop.channel] @ z)
        return F, None


class Reservoir(eqx.Module):
    r"""A random rate network with named input channels and an open- or closed-loop readout.

    The dynamics (time in units of tau; Euler steps of ``dt`` through
    :func:`lowrank_rnn.dynamics.integrate`) are

    $$\dot x = -x + J\phi(x) + \sum_c I_c\, u_c(t)
      \;\Big[+\; \gamma\, I_f\, w^\top \phi(x)\Big],$$

    with $J_{ij} \sim \mathcal N(0, g^2/N)$ (the bulk, not trained), one matrix $I_c$ of input
    vectors per named channel, and, in closed loop (a :class:`Loop`), the readout
    $z = w^\top\phi(x)$ routed back with gain $\gamma$ through the vectors $I_f$ of channel $f$,
    in place of that channel's external input. The closed-loop connectivity is then
    $J + \gamma I_f w^\top$, a random bulk plus a low-rank loop (:meth:`closed_loop`). This is the
    cortical network of Israely et al. 2025 (Nat. Commun. 16:2574, Fig. 5): a high-dimensional
    "cortical" channel and a low-dimensional "cerebellar-like" channel whose input is replaced by
    the fed-back readout.

    Attributes
    ----------
    bulk: ``J``, shape (N, N).
    channels: ``{name: I_c}``, each of shape (N, K_c).
    g: the bulk's strength (its eigenvalues fill a disk of radius g).
    nonlinearity: ``"tanh"`` (default), ``"linear"`` or ``"relu"``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> res = Reservoir.sample(200, g=1.5, channels={"cortical": 8, "cerebellar": 2}, key=jax.random.key(0))
    >>> x, rates = res.run({"cortical": jnp.eye(8)[0]}, n_steps=100, dt=0.1, x0=jnp.zeros(200),
    ...                    record=True)
    >>> rates.shape
    (100, 200)
    >>> res.closed_loop(jnp.ones((200, 2)) / 200, channel="cerebellar", gain=0.5).rank
    2
    """

    bulk: jax.Array
    channels: dict[str, jax.Array]
    g: float = eqx.field(static=True)
    nonlinearity: str = eqx.field(static=True)

    def __init__(self, bulk, channels: Mapping[str, Any], *, g: float | None = None, nonlinearity: str = "tanh"):
        bulk = jnp.asarray(bulk)
        if bulk.ndim != 2 or bulk.shape[0] != bulk.shape[1]:
            raise ArgumentError(f"bulk must be a square (N, N) matrix, got shape {bulk.shape}")
        N = bulk.shape[0]
        if not isinstance(channels, Mapping):
            raise ArgumentTypeError(f"channels must be a dict of name -> (N, K) input vectors, got "
                                    f"{type(channels).__name__}")
        chans = {}
        for name, vecs in channels.items():
            if not isinstance(name, str):
                raise ArgumentTypeError(f"channels: names must be strings, got {name!r}")
            vecs = jnp.asarray(vecs)
            vecs = vecs[:, None] if vecs.ndim == 1 else vecs
            if vecs.ndim != 2 or vecs.shape[0] != N:
                raise ArgumentError(f"channels[{name!r}] must have shape (N, K) with N = {N}, got {vecs.shape}")
            chans[name] = vecs.astype(bulk.dtype)
        if nonlinearity not in NONLINEARITIES:
            raise ArgumentError(f"nonlinearity must be one of {sorted(NONLINEARITIES)}, got {nonlinearity!r}")
        self.bulk = bulk
        self.channels = chans
        self.g = float(g) if g is not None else 0.0
        self.nonlinearity = nonlinearity

    @classmethod
    def sample(cls, N: int, *, g: float, channels: Mapping[str, int], key: jax.Array,
               scales: Mapping[str, float] | None = None, nonlinearity: str = "tanh") -> Reservoir:
        r"""Return a reservoir with $J_{ij} \sim \mathcal N(0, g^2/N)$ and input vectors of
        i.i.d. $\mathcal N(0, s_c^2)$ entries, ``channels = {name: number of vectors}``,
        ``scales = {name: s_c}`` (default 1). Traceable in ``key`` (N and the channels static)."""
        N = positive_int("N", N)
        if isinstance(g, (int, float, np.floating)):
            real_scalar("g", g, low=0.0)
        key = prng_key("key", key)
        scales = dict(scales or {})
        for name in scales:
            if name not in channels:
                raise ArgumentError(f"scales: {name!r} is not a channel; the channels are {list(channels)}")
        kJ, *kc = jax.random.split(key, 1 + len(channels))
        bulk = g / jnp.sqrt(N) * jax.random.normal(kJ, (N, N))
        vecs = {name: scales.get(name, 1.0) * jax.random.normal(k, (N, positive_int(f"channels[{name!r}]", K)))
                for (name, K), k in zip(channels.items(), kc)}
        out = cls(bulk, vecs, nonlinearity=nonlinearity)
        object.__setattr__(out, "g", g if isinstance(g, float) else 0.0)
        return out

    @property
    def N(self) -> int:
        """Number of neurons."""
        return self.bulk.shape[0]

    def phi(self, x):
        """The transfer function."""
        return NONLINEARITIES[self.nonlinearity](x)

    def run(self, inputs: Mapping[str, Any], *, n_steps: int, dt: float, x0, loop: Loop | None = None,
            record: bool = False, initial: bool = False):
        """Return ``(x, rates)``: the state after ``n_steps`` Euler steps of ``dt`` from ``x0`` and,
        with ``record``, the rates ``phi(x)`` after every step, shape (n_steps, N) (with
        ``initial``, those of ``x0`` first: (n_steps + 1, N)), else None.

        ``inputs = {channel: u}``, ``u`` of shape (K,) (held for the whole run) or (n_steps, K);
        channels not named get no input. With a :class:`Loop`, its channel carries the fed-back
        readout and must not be in ``inputs``. Traceable (``jax.jit``, ``jax.vmap``).
        """
        names = tuple(inputs)
        for name in names:
            if name not in self.channels:
                raise ArgumentError(f"inputs: unknown channel {name!r}; the channels are {list(self.channels)}")
        if loop is not None:
            if loop.channel not in self.channels:
                raise ArgumentError(f"loop.channel {loop.channel!r} is not a channel; the channels are "
                                    f"{list(self.channels)}")
            if loop.channel in names:
                raise ArgumentError(f"channel {loop.channel!r} carries the loop's feedback: give it no input")
            if loop.readout.shape != (self.N, self.channels[loop.channel].shape[1]):
                raise ArgumentError(f"loop.readout must have shape (N, K) = {(self.N, self.channels[loop.channel].shape[1])}, "
                                    f"got {loop.readout.shape}")
        u = {}
        for name in names:
            a = jnp.asarray(inputs[name], self.bulk.dtype)
            u[name] = jnp.broadcast_to(a, (n_steps, *a.shape)) if a.ndim == 1 else a
        field = _ReservoirField(self, names, loop)
        saveat = SaveAt(fn=(lambda x, aux, extra: aux) if record else None, initial=initial)
        (x, _, _), rates = integrate(field, jnp.asarray(x0, self.bulk.dtype), u if names else None,
                                     alpha=dt, n_steps=n_steps, saveat=saveat)
        return x, rates

    def network(self) -> Network:
        """Return the open-loop network as a :class:`lowrank_rnn.Network`: bulk ``J``, no low-rank
        part (a zero rank-one term), input vectors the channels' in order."""
        zeros = jnp.zeros((self.N, 1), self.bulk.dtype)
        return Network(zeros, zeros, inputs=jnp.concatenate(list(self.channels.values()), axis=1),
                       bulk=self.bulk, g=self.g or None, nonlinearity=self.nonlinearity, dtype=self.bulk.dtype)

    def closed_loop(self, readout, *, channel: str, gain) -> Network:
        r"""Return the closed-loop network $J + \gamma I_f w^\top$ as a :class:`lowrank_rnn.Network`
        of rank K_f: ``m = gain * I_f``, ``n = N w`` (so ``m n^T / N = gain I_f w^T``), the bulk
        ``J``, the other channels' vectors as inputs (in order) and ``N w`` as readouts (so the
        network's readout ``w^T phi / N`` is the loop's ``z``). Its spectrum, simulation and
        mean-field tools then apply as to any low-rank network."""
        if channel not in self.channels:
            raise ArgumentError(f"channel {channel!r} is not a channel; the channels are {list(self.channels)}")
        w = jnp.asarray(readout, self.bulk.dtype)
        If = self.channels[channel]
        if w.shape != If.shape:
            raise ArgumentError(f"readout must have shape {If.shape} (one column per vector of {channel!r}), "
                                f"got {w.shape}")
        others = [v for k, v in self.channels.items() if k != channel]
        inputs = jnp.concatenate(others, axis=1) if others else None
        return Network(gain * If, self.N * w, inputs=inputs, readouts=self.N * w, bulk=self.bulk,
                       g=self.g or None, nonlinearity=self.nonlinearity, dtype=self.bulk.dtype)


def readout_from_moments(gram, cross, *, ridge: float = 0.0):
    r"""Return the least-squares readout $w = (\sum_t r_t r_t^\top + \rho I)^{-1} \sum_t r_t y_t^\top$
    from the moments ``gram`` $= \sum_t r_t r_t^\top$ (N, N) and ``cross`` $= \sum_t r_t y_t^\top$
    (N, O); ``ridge`` $\rho$ (default 0: plain normal equations, as Israely et al. 2025).

    Examples
    --------
    >>> import numpy as np
    >>> r = np.random.default_rng(0).normal(size=(50, 3)); y = r @ np.array([[1.0], [2.0], [3.0]])
    >>> np.round(np.asarray(readout_from_moments(r.T @ r, r.T @ y)).ravel(), 4)
    array([1., 2., 3.], dtype=float32)
    """
    gram = jnp.asarray(gram)
    if ridge:
        gram = gram + ridge * jnp.eye(gram.shape[0], dtype=gram.dtype)
    return jnp.linalg.solve(gram, jnp.asarray(cross, gram.dtype))


def fit_readout(rates, targets, *, ridge: float = 0.0):
    r"""Return the least-squares readout ``w`` (N, O) with ``rates @ w ~ targets``: rates (T, N),
    targets (T, O) (:func:`readout_from_moments` of their moments).

    Examples
    --------
    >>> import numpy as np
    >>> r = np.random.default_rng(0).normal(size=(50, 3))
    >>> np.round(np.asarray(fit_readout(r, r[:, :1] - r[:, 2:])).ravel(), 4)
    array([ 1.,  0., -1.], dtype=float32)
    """
    rates = jnp.asarray(rates)
    targets = jnp.asarray(targets, rates.dtype)
    if targets.ndim == 1:
        targets = targets[:, None]
    if rates.ndim != 2 or targets.shape[0] != rates.shape[0]:
        raise ArgumentError(f"rates (T, N) and targets (T, O) must have the same T, got {rates.shape} and "
                            f"{targets.shape}")
    return readout_from_moments(rates.T @ rates, rates.T @ targets, ridge=ridge)
