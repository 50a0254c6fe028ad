"""Hopfield's 1982 associative memory: Hebbian weights, ±1 units, retrieval and capacity.

Hopfield, "Neural networks and physical systems with emergent collective computational abilities",
PNAS 79:2554 (1982); the storage capacity alpha_c ~ 0.138 of Amit, Gutfreund & Sompolinsky,
Phys. Rev. Lett. 55:1530 (1985).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from .._checks import finite_array, positive_int, prng_key, real_scalar
from .._errors import ArgumentError, ArgumentTypeError

#: sweeps (asynchronous) or steps (synchronous) when ``steps=None``: retrieval stops earlier at a fixed point
MAX_STEPS = 100
UPDATES = ("async", "sync")


def pm_one(name: str, value, *, ndim: int | tuple[int, ...]) -> np.ndarray:
    """Return ``value`` as a float32 array after checking every entry is -1 or +1."""
    arr = finite_array(name, value, ndim=ndim)
    if arr.size == 0:
        raise ArgumentError(f"{name} must not be empty, got shape {arr.shape}")
    if not np.all(np.abs(arr) == 1):
        bad = arr[np.abs(arr) != 1].ravel()[0]
        raise ArgumentError(f"{name} must hold only -1 and +1 (binary ±1 units), found {bad:g}")
    return arr.astype(np.float32)


def _sign_or_keep(h: jax.Array, s: jax.Array) -> jax.Array:
    """sgn(h), keeping the current state where the field is exactly zero."""
    return jnp.where(h > 0, 1.0, jnp.where(h < 0, -1.0, s))


@functools.partial(jax.jit, static_argnames=("steps", "until_fixed", "synchronous"))
def _retrieve(weights, cues, keys, *, steps: int, until_fixed: bool, synchronous: bool):
    """Final states (n, N) and the number of sweeps each cue ran."""
    n_units = weights.shape[0]

    def sweep(s, key):
        if synchronous:
            return _sign_or_keep(weights @ s, s)

        def unit(s, i):
            return s.at[i].set(_sign_or_keep(weights[i] @ s, s[i])), None

        return jax.lax.scan(unit, s, jax.random.permutation(key, n_units), )[0]

    def one(s, key):
        def cond(carry):
            _, count, changed = carry
            return (count < steps) & (changed | (not until_fixed))

        def body(carry):
            s, count, _ = carry
            new = sweep(s, jax.random.fold_in(key, count))
            return new, count + 1, jnp.any(new != s)

        s, count, _ = jax.lax.while_loop(cond, body, (s, jnp.int32(0), jnp.bool_(True)))
        return s, count

    return jax.vmap(one)(cues, keys)


class Hopfield:
    r"""Hopfield's 1982 memory of ±1 patterns with Hebbian weights.

    The weights store $P$ patterns $\xi^\mu \in \{-1, +1\}^N$ by Hebb's rule, with no self-coupling:

    $$W_{ij} = \frac{1}{N}\sum_{\mu=1}^{P} \xi^\mu_i \xi^\mu_j \quad (i \ne j), \qquad W_{ii} = 0 .$$

    A unit takes the sign of its field, $s_i \leftarrow \mathrm{sgn}(\sum_j W_{ij} s_j)$ (it keeps its
    state where the field is exactly zero). Updated one unit at a time (asynchronously) the energy

    $$E(s) = -\tfrac12 \sum_{ij} W_{ij} s_i s_j$$

    never increases, so every cue flows to a fixed point (Hopfield 1982, PNAS 79:2554). The
    patterns are fixed points while the load $\alpha = P/N$ is small; for large $N$ retrieval breaks
    down at $\alpha_c \approx 0.138$ (Amit, Gutfreund & Sompolinsky 1985, PRL 55:1530), see
    :func:`capacity_curve`.

    Parameters
    ----------
    patterns: array (P, N) of -1 and +1, one stored pattern per row (N >= 2 units).

    Examples
    --------
    >>> import jax, numpy as np
    >>> from lowrank_rnn import memory
    >>> xi = np.where(np.random.default_rng(0).random((3, 100)) < 0.5, -1, 1)
    >>> net = memory.Hopfield(xi)
    >>> cue = xi[:1].copy(); cue[0, :10] *= -1           # 10 of 100 units flipped
    >>> out = net.retrieve(cue, key=jax.random.key(0))
    >>> float(net.overlaps(out)[0, 0])
    1.0
    >>> bool(net.energy(out)[0] <= net.energy(cue)[0])
    True
    """

    def __init__(self, patterns):
        xi = pm_one("patterns", patterns, ndim=2)
        if xi.shape[1] < 2:
            raise ArgumentError(f"patterns must have at least 2 units (columns), got shape {xi.shape}")
        self.patterns = xi
        n = xi.shape[1]
        w = xi.T.astype(np.float64) @ xi / n
        np.fill_diagonal(w, 0.0)
        self.weights = w.astype(np.float32)

    @property
    def n_units(self) -> int:
        """The number of units N."""
        return self.patterns.shape[1]

    @property
    def n_patterns(self) -> int:
        """The number of stored patterns P."""
        return self.patterns.shape[0]

    @property
    def load(self) -> float:
        """The load alpha = P / N."""
        return self.n_patterns / self.n_units

    def _states(self, name: str, states) -> tuple[np.ndarray, bool]:
        arr = pm_one(name, states, ndim=(1, 2))
        if arr.shape[-1] != self.n_units:
            raise ArgumentError(f"{name} must have {self.n_units} units (last axis), got shape {arr.shape}")
        return np.atleast_2d(arr), arr.ndim == 1

    def energy(self, states) -> np.ndarray:
        r"""Return $E(s) = -\frac12 s^\top W s$ for each row of ``states`` ((n, N) or (N,) of ±1).

        >>> import numpy as np
        >>> from lowrank_rnn import memory
        >>> net = memory.Hopfield(np.array([[1, -1, 1, -1]]))
        >>> net.energy(np.array([1, -1, 1, -1])).item()    # -(1/2)(12/4)
        -1.5
        """
        s, single = self._states("states", states)
        e = -0.5 * np.einsum("ni,ij,nj->n", s, self.weights, s)
        return e[0] if single else e

    def overlaps(self, states) -> np.ndarray:
        r"""Return the overlaps $m^\mu = \frac1N \sum_i \xi^\mu_i s_i$, shape (n, P) (or (P,) for one state).

        >>> import numpy as np
        >>> from lowrank_rnn import memory
        >>> memory.Hopfield(np.array([[1, 1, 1, 1]])).overlaps(np.array([1, 1, -1, 1])).tolist()
        [0.5]
        """
        s, single = self._states("states", states)
        m = s @ self.patterns.T / self.n_units
        return m[0] if single else m

    def retrieve(self, cues, *, key, steps: int | None = None, update: str = "async") -> np.ndarray:
        r"""Return the states the network reaches from ``cues``, one row per cue, shape (n, N).

        ``update="async"``: each sweep visits every unit once, in a fresh random order per cue and
        sweep, and sets $s_i \leftarrow \mathrm{sgn}(\sum_j W_{ij} s_j)$ with the others' current
        states (the energy never increases). ``update="sync"``: every unit at once,
        $s \leftarrow \mathrm{sgn}(W s)$ (may end in a 2-cycle, Hopfield 1982).

        Parameters
        ----------
        cues: array (n, N) or (N,) of ±1, the initial states.
        key: ``jax.random`` key (the update order); the same key gives the same result.
        steps: the number of sweeps (async) or updates (sync). ``None``: until a sweep changes
            nothing (a fixed point), at most :data:`MAX_STEPS`.
        update: ``"async"`` or ``"sync"``.

        Examples
        --------
        >>> import jax, numpy as np
        >>> from lowrank_rnn import memory
        >>> xi = np.where(np.random.default_rng(1).random((2, 64)) < 0.5, -1, 1)
        >>> net = memory.Hopfield(xi)
        >>> out = net.retrieve(xi, key=jax.random.key(0), update="sync")
        >>> out.shape, bool(np.all(out == xi))
        ((2, 64), True)
        """
        s, _ = self._states("cues", cues)
        if not isinstance(update, str) or update not in UPDATES:
            raise ArgumentError(f"update must be one of {UPDATES}, got {update!r}")
        key = prng_key("key", key)
        until_fixed = steps is None
        steps = MAX_STEPS if steps is None else positive_int("steps", steps, low=0)
        if steps == 0:
            return s.copy()
        keys = jax.random.split(key, s.shape[0])
        out, _ = _retrieve(jnp.asarray(self.weights), jnp.asarray(s), keys, steps=steps,
                           until_fixed=until_fixed, synchronous=update == "sync")
        return np.asarray(out)


def flip(states, fraction: float, *, key) -> np.ndarray:
    """Return ``states`` (±1) with a random ``fraction`` of each row's units flipped (exactly
    ``round(fraction * N)`` per row).

    >>> import jax, numpy as np
    >>> from lowrank_rnn import memory
    >>> s = np.ones((2, 50))
    >>> (memory.flip(s, 0.1, key=jax.random.key(0)) == -1).sum(axis=1).tolist()
    [5, 5]
    """
    s = pm_one("states", states, ndim=(1, 2))
    fraction = real_scalar("fraction", fraction, low=0.0, high=1.0)
    key = prng_key("key", key)
    s2 = np.atleast_2d(s)
    n_flip = int(round(fraction * s2.shape[1]))
    ranks = jnp.argsort(jax.random.uniform(key, s2.shape), axis=1)
    mask = np.asarray(ranks < n_flip)
    out = np.where(mask, -s2, s2)
    return out[0] if s.ndim == 1 else out


@dataclasses.dataclass(frozen=True)
class CapacityCurve:
    """Retrieval overlaps against load, from :func:`capacity_curve`.

    Attributes
    ----------
    n_units: N.
    loads: alpha = P / N actually used (P rounded to an integer), shape (L,).
    overlaps: final overlap with the cued pattern, shape (L, trials, cues).
    flip_fraction: fraction of units flipped in each cue.

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn import memory
    >>> c = memory.capacity_curve(60, [0.05], key=jax.random.key(0), trials=1, cues=4, progress=False)
    >>> c.overlaps.shape, c.loads.shape
    ((1, 1, 4), (1,))
    """

    n_units: int
    loads: np.ndarray
    overlaps: np.ndarray
    flip_fraction: float

    @property
    def mean_overlap(self) -> np.ndarray:
        """Mean final overlap per load, shape (L,)."""
        return self.overlaps.mean(axis=(1, 2))

    @property
    def retrieved_fraction(self) -> np.ndarray:
        """Fraction of cues whose final overlap exceeds 0.9, per load."""
        return (self.overlaps > 0.9).mean(axis=(1, 2))


def capacity_curve(n_units: int, loads, *, key, trials: int = 4, cues: int = 32, flip_fraction: float = 0.0,
                   update: str = "async", steps: int | None = None, progress: bool = True) -> CapacityCurve:
    r"""Return the retrieval overlap against the load $\alpha = P/N$ of random-pattern Hopfield networks.

    For each load, ``trials`` networks store $P = \mathrm{round}(\alpha N)$ independent random ±1
    patterns; ``cues`` cues per network start at stored patterns (chosen at random, with
    ``flip_fraction`` of their units flipped) and run :meth:`Hopfield.retrieve` to a fixed point.
    The overlap $m = \frac1N \xi^\mu \cdot s$ with the cued pattern is recorded. For large $N$ the
    mean overlap falls from about 0.97 to a small value at $\alpha_c \approx 0.138$ (Amit,
    Gutfreund & Sompolinsky 1985, PRL 55:1530); at finite $N$ the drop is smoothed and shifted.

    Parameters
    ----------
    n_units: N (>= 2).
    loads: 1-D array of loads alpha in (0, 10] (each gives at least one pattern).
    key: ``jax.random`` key.
    trials: networks per load.
    cues: cues per network.
    flip_fraction: fraction of each cue's units flipped, in [0, 0.5).
    update, steps: as in :meth:`Hopfield.retrieve`.
    progress: show a ``tqdm`` bar over the loads.

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn import memory
    >>> c = memory.capacity_curve(100, [0.05, 0.5], key=jax.random.key(0), trials=1, cues=8, progress=False)
    >>> bool(c.mean_overlap[0] > 0.9 > c.mean_overlap[1])
    True
    """
    n_units = positive_int("n_units", n_units, low=2)
    loads = finite_array("loads", loads, ndim=1)
    if loads.size == 0 or np.any(loads <= 0) or np.any(loads > 10):
        raise ArgumentError(f"loads must be a non-empty 1-D array of loads P/N in (0, 10], got {loads}")
    trials = positive_int("trials", trials)
    cues = positive_int("cues", cues)
    flip_fraction = real_scalar("flip_fraction", flip_fraction, low=0.0, high=0.5, high_open=True)
    if not isinstance(update, str) or update not in UPDATES:
        raise ArgumentError(f"update must be one of {UPDATES}, got {update!r}")
    if steps is not None:
        steps = positive_int("steps", steps)
    if not isinstance(progress, bool):
        raise ArgumentTypeError(f"progress must be True or False, got {type(progress).__name__}")
    key = prng_key("key", key)
    counts = np.maximum(1, np.rint(loads * n_units)).astype(int)
    result = np.zeros((len(loads), trials, cues), dtype=np.float32)
    bar = tqdm(total=len(loads) * trials, desc="capacity", unit="net", disable=not progress)
    for a, n_pat in enumerate(counts):
        for t in range(trials):
            k_pat, k_pick, k_flip, k_run = jax.random.split(jax.random.fold_in(jax.random.fold_in(key, a), t), 4)
            # one shape for every load (then sliced): jax.random compiles once per shape
            bits = np.asarray(jax.random.bernoulli(k_pat, 0.5, (int(counts.max()), n_units)))[:n_pat]
            xi = np.where(bits, 1.0, -1.0)
            net = Hopfield(xi)
            pick = np.asarray(jax.random.randint(k_pick, (cues,), 0, int(n_pat)))
            start = flip(xi[pick], flip_fraction, key=k_flip)
            final = net.retrieve(start, key=k_run, steps=steps, update=update)
            result[a, t] = np.einsum("ci,ci->c", final, xi[pick]) / n_units
            bar.update(1)
    bar.close()
    return CapacityCurve(n_units=n_units, loads=counts / n_units, overlaps=result, flip_fraction=flip_fraction)
