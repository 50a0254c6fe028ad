"""Networks: sampled (or user-given) instances of low-rank connectivity."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._checks import float_dtype, is_concrete, real_scalar
from ._errors import ArgumentError, ArgumentTypeError
from ._tanh import tanh

NONLINEARITIES = {
    "tanh": tanh,
    "linear": lambda x: x,
    "relu": jax.nn.relu,
}


def _real_array(name: str, value: Any, dtype) -> jax.Array:
    """Return ``value`` as a JAX array of ``dtype``, refusing strings, booleans, complex numbers and
    objects, non-finite values, and values beyond the range of ``dtype``."""
    if not isinstance(value, jax.Array):
        try:
            value = np.asarray(value)
        except (TypeError, ValueError):  # ragged nested lists
            raise ArgumentTypeError(f"{name} must be an array of real numbers") from None
    if not (jnp.issubdtype(value.dtype, jnp.integer) or jnp.issubdtype(value.dtype, jnp.floating)):
        raise ArgumentTypeError(f"{name} must be an array of real numbers, got dtype {value.dtype}")
    if not is_concrete(value):  # inside jit/vmap: no values to check
        return jnp.asarray(value, dtype=dtype)
    xp = np if isinstance(value, np.ndarray) else jnp
    if not bool(xp.all(xp.isfinite(value))):
        raise ArgumentError(f"{name} contains non-finite values (NaN or inf)")
    with np.errstate(over="ignore"):
        arr = jnp.asarray(value.astype(dtype) if xp is np else value, dtype=dtype)
    if not bool(jnp.all(jnp.isfinite(arr))):
        raise ArgumentError(f"{name} has values beyond the range of {np.dtype(dtype)} (largest "
                            f"{float(jnp.finfo(dtype).max):.3g}); pass a wider dtype")
    return arr


def _as_loading(name: str, value: Any, N: int | None, dtype) -> jax.Array:
    arr = _real_array(name, value, dtype)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ArgumentError(f"{name} must have shape (N, columns) or (N,), got {arr.shape}")
    if N is not None and arr.shape[0] != N:
        raise ArgumentError(f"{name} has {arr.shape[0]} rows but the network has N = {N} neurons")
    return arr


class Network(eqx.Module):
    r"""A low-rank network instance: ``J = bulk + (1/N) m n^T``, inputs and readouts.

    The dynamics (Mastrogiuseppe & Ostojic 2018, eq. 1, time in units of $\tau$) are

    $$
    \frac{dx}{dt} = -x + J\,\phi(x) + \sum_k u_k(t)\, I_k, \qquad
    J = g\chi + \frac{1}{N}\sum_r m_r n_r^\top,
    $$

    with latents $\kappa_r = n_r^\top \phi(x) / N$ and readouts $z_o = w_o^\top \phi(x) / N$
    (``inputs`` holds the $I_k$, ``readouts`` the $w_o$, ``bulk`` the random part $g\chi$).

    Attributes
    ----------
    m, n:
        Connectivity loadings, shape ``(N, R)``.
    inputs:
        Input vectors ``I_k`` as columns, shape ``(N, K)`` (K may be 0).
    readouts:
        Readout vectors ``w_o`` as columns, shape ``(N, O)`` (O may be 0).
    bulk:
        The random part ``g chi`` as an ``(N, N)`` array, or ``None`` (pure low rank: simulations
        then cost O(N (R + K)) per step and never form an N x N matrix).
    g:
        The bulk strength (its eigenvalues fill a disk of radius g); 0 when ``bulk`` is None.
    population:
        Integer population label of each neuron, shape ``(N,)``, or ``None``.
    nonlinearity:
        ``"tanh"`` (default, the one the mean-field theory assumes), ``"linear"`` or ``"relu"``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> net = Network(m=rng.normal(size=(100, 1)), n=rng.normal(size=(100, 1)))
    >>> net.connectivity().shape
    (100, 100)
    """

    m: jax.Array
    n: jax.Array
    inputs: jax.Array
    readouts: jax.Array
    bulk: jax.Array | None
    g: float = eqx.field(static=True)
    population: jax.Array | None
    nonlinearity: str = eqx.field(static=True)

    def __init__(self, m, n, inputs=None, readouts=None, bulk=None, *, g=None, population=None,
                 nonlinearity: str = "tanh", dtype=jnp.float32):
        dtype = float_dtype("dtype", dtype)
        m = _as_loading("m", m, None, dtype)
        N = m.shape[0]
        if N < 1:
            raise ArgumentError(f"m must have at least one row (N >= 1 neurons), got shape {m.shape}")
        n = _as_loading("n", n, N, dtype)
        if n.shape != m.shape:
            raise ArgumentError(f"m and n must have the same shape (N, R), got {m.shape} and {n.shape}")
        if m.shape[1] < 1:
            raise ArgumentError("m and n must have at least one column (rank >= 1)")
        self.m, self.n = m, n
        self.inputs = jnp.zeros((N, 0), dtype) if inputs is None else _as_loading("inputs", inputs, N, dtype)
        self.readouts = (jnp.zeros((N, 0), dtype) if readouts is None
                         else _as_loading("readouts", readouts, N, dtype))
        if bulk is not None:
            bulk = _real_array("bulk", bulk, dtype)
            if bulk.shape != (N, N):
                raise ArgumentError(f"bulk must have shape (N, N) = {(N, N)}, got {bulk.shape}")
            if g is None:  # estimate the radius from the entries: Var(bulk_ij) = g^2 / N
                g = float(jnp.std(bulk)) * np.sqrt(N)
        self.bulk = bulk
        self.g = 0.0 if g is None else real_scalar("g", g, low=0.0)
        if bulk is None and self.g != 0.0:
            raise ArgumentError(f"g = {self.g} was given without a bulk; pass bulk=g*chi, or use "
                             "Ensemble.sample to draw one")
        if population is not None:
            if is_concrete(population):
                try:
                    host = np.asarray(population)
                except (TypeError, ValueError):
                    host = np.asarray(None)
                if host.dtype.kind not in "iu":
                    raise ArgumentTypeError(f"population must be an array of integer labels, got "
                                            f"{type(population).__name__} of dtype {host.dtype}")
                if host.size and host.min() < 0:
                    raise ArgumentError(f"population labels must be >= 0, got {int(host.min())}")
            population = jnp.asarray(population)
            if population.shape != (N,):
                raise ArgumentError(f"population must have shape (N,) = {(N,)}, got {population.shape}")
        self.population = population
        if not isinstance(nonlinearity, str) or nonlinearity not in NONLINEARITIES:
            raise ArgumentError(f"nonlinearity must be one of {sorted(NONLINEARITIES)}, got {nonlinearity!r}")
        self.nonlinearity = nonlinearity

    @property
    def N(self) -> int:
        """Number of neurons."""
        return self.m.shape[0]

    @property
    def rank(self) -> int:
        """R, the rank of the structured part."""
        return self.m.shape[1]

    @property
    def n_inputs(self) -> int:
        """K, the number of input vectors."""
        return self.inputs.shape[1]

    @property
    def n_readouts(self) -> int:
        """O, the number of readout vectors."""
        return self.readouts.shape[1]

    def phi(self, x: jax.Array) -> jax.Array:
        """The single-neuron transfer function applied to ``x``."""
        return NONLINEARITIES[self.nonlinearity](x)

    @property
    def overlap(self) -> np.ndarray:
        """The R x R overlap matrix ``n_r^T m_s / N`` of this instance (row r, column s)."""
        m = np.asarray(self.m, np.float64)
        n = np.asarray(self.n, np.float64)
        return n.T @ m / self.N

    def connectivity(self) -> jax.Array:
        """Return the dense connectivity ``J = bulk + m n^T / N`` as an (N, N) array."""
        J = self.m @ self.n.T / self.N
        return J if self.bulk is None else J + self.bulk

    def __repr__(self) -> str:
        bulk = f"g={self.g}" if self.bulk is not None else "no bulk"
        return (f"Network(N={self.N}, rank={self.rank}, inputs={self.n_inputs}, "
                f"readouts={self.n_readouts}, {bulk}, nonlinearity={self.nonlinearity!r})")
