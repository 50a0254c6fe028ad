"""The trainable low-rank network, and the dense one it can be distilled from."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import positive_int, prng_key, real_scalar
from .._errors import ArgumentError, ArgumentTypeError
from .._network import Network
from ._adjoint import lowrank_trials
from ._base import AbstractRNN, check_hyper, given_or_drawn


def _mark(model, spec: dict[str, bool]):
    """Return the filter pytree of ``model`` with True on the named array fields, False elsewhere."""
    filt = jax.tree_util.tree_map(lambda _: False, model)
    names = [k for k, v in spec.items() if getattr(model, k) is not None]
    return eqx.tree_at(lambda m: [getattr(m, k) for k in names], filt, [bool(spec[k]) for k in names])


class LowRankRNN(AbstractRNN):
    """A rate network with trainable rank-R connectivity: ``J = g chi + m n^T / N``.

    The dynamics (Dubreuil, Valente et al. 2022, Nat. Neurosci., with their per-step
    noise ``noise_std`` equal to our ``sigma sqrt(alpha)``, see :func:`noise_from_published`):

        x <- x + alpha (-x + g chi phi(x) + m (n^T phi(x) / N) + I u) + sigma sqrt(alpha) xi,
        z = W^T phi(x) / N,   I = input_vectors * input_scales,   W = readout_vectors * readout_scales.

    Parameters
    ----------
    N, rank, n_inputs, n_outputs:
        Neurons, rank R (``1 <= R <= N``), input channels K and readout channels O.
    key:
        ``jax.random`` key for the initialisation (not needed when every array is given).
    noise:
        sigma, the white-noise strength of the library's convention (``>= 0``).
    alpha:
        ``dt / tau`` of the Euler step, in ``(0, 1]`` (the published tasks use 20 / 100 = 0.2).
    g:
        Strength of a fixed random bulk ``g chi``, ``chi_ij ~ N(0, 1/N)`` (0: none; never trained).
    nonlinearity:
        ``"tanh"`` (default), ``"linear"`` or ``"relu"``.
    m, n, input_vectors, input_scales, readout_vectors, readout_scales, h0, bulk:
        Arrays to start from instead of the published initialisation: m, n, input vectors
        ``~ N(0, 1)``, readout vectors ``~ N(0, 4^2)``, scales 1, ``h0 = 0``.

    Which arrays train is chosen by a filter (:meth:`trainable`), not by flags.

    Example
    -------
    >>> import jax, jax.numpy as jnp
    >>> model = LowRankRNN(128, 1, 1, 1, key=jax.random.key(0), noise=0.1, alpha=0.2)
    >>> model(jnp.zeros((51, 1)), key=jax.random.key(1)).shape
    (51, 1)
    """

    m: jax.Array
    n: jax.Array
    input_vectors: jax.Array
    input_scales: jax.Array
    readout_vectors: jax.Array
    readout_scales: jax.Array
    h0: jax.Array
    bulk: jax.Array | None
    g: float = eqx.field(static=True)

    def __init__(self, N: int, rank: int, n_inputs: int, n_outputs: int, *, key: jax.Array | None = None,
                 noise: float = 0.0, alpha: float = 0.2, g: float = 0.0, nonlinearity: str = "tanh",
                 m=None, n=None, input_vectors=None, input_scales=None, readout_vectors=None,
                 readout_scales=None, h0=None, bulk=None):
        N, rank, K, O, noise, alpha = check_hyper(N, rank, n_inputs, n_outputs, noise, alpha, nonlinearity)
        g = real_scalar("g", g, low=0.0)
        needs_key = any(v is None for v in (m, n, input_vectors, readout_vectors)) or (g > 0 and bulk is None)
        if needs_key:
            key = prng_key("key", key)
        ks = jax.random.split(key, 5) if needs_key else [None] * 5
        normal = jax.random.normal
        self.m = given_or_drawn("m", m, (N, rank), lambda: normal(ks[0], (N, rank)))
        self.n = given_or_drawn("n", n, (N, rank), lambda: normal(ks[1], (N, rank)))
        self.input_vectors = given_or_drawn("input_vectors", input_vectors, (N, K), lambda: normal(ks[2], (N, K)))
        self.input_scales = given_or_drawn("input_scales", input_scales, (K,), lambda: jnp.ones(K))
        self.readout_vectors = given_or_drawn("readout_vectors", readout_vectors, (N, O),
                                              lambda: 4.0 * normal(ks[3], (N, O)))
        self.readout_scales = given_or_drawn("readout_scales", readout_scales, (O,), lambda: jnp.ones(O))
        self.h0 = given_or_drawn("h0", h0, (N,), lambda: jnp.zeros(N))
        if g > 0:
            self.bulk = given_or_drawn("bulk", bulk, (N, N), lambda: g * normal(ks[4], (N, N)) / np.sqrt(N))
        elif bulk is not None:
            raise ArgumentError("bulk was given with g = 0; pass g > 0 with it (its eigenvalue radius)")
        else:
            self.bulk = None
        self.g, self.alpha, self.noise, self.nonlinearity = g, alpha, noise, nonlinearity

    @property
    def rank(self) -> int:
        """R, the rank of the trained structure."""
        return self.m.shape[1]

    def recurrent(self, rates):
        """Return ``g chi phi + m (n^T phi / N)`` for one trial: O(N R) without bulk."""
        rec = self.m @ (rates @ self.n / self.N)
        return rec if self.bulk is None else rec + self.bulk @ rates

    def fast_trials(self, inputs_tm, h0, noise):
        """Readouts ``(T, B, O)`` by :func:`~lowrank_rnn.models._adjoint.lowrank_trials` (no bulk, tanh)."""
        if self.bulk is not None or self.nonlinearity != "tanh":
            return None
        state, source = (None, None) if noise is None else (noise.state, noise.source)
        return lowrank_trials(self.m, self.n, self.input_vectors, self.input_scales, self.readout_vectors,
                              self.readout_scales, h0, inputs_tm, state, self.alpha, self.noise_scale, source)

    def trainable(self, *, connectivity: bool = True, inputs: bool = False, readouts: bool = False,
                  input_scales: bool = True, readout_scales: bool = True, h0: bool = False):
        """Return the filter pytree (for ``eqx.partition``) of the arrays training may change.

        The defaults are the published ones: m and n train, the input and readout vectors keep
        their direction and only their scales train; ``h0`` and the bulk stay fixed (the bulk
        always does). E.g. the Mante recipe trains the input vectors: ``trainable(inputs=True)``.
        """
        return _mark(self, {"m": connectivity, "n": connectivity, "input_vectors": inputs,
                            "input_scales": input_scales, "readout_vectors": readouts,
                            "readout_scales": readout_scales, "h0": h0})

    def to_network(self):
        """Return the :class:`lowrank_rnn.Network` with this connectivity, scaled inputs and readouts.

        ``simulate(net, T=alpha * T_steps, dt=alpha, x0=model.h0, inputs=u, noise=model.noise)``
        runs the same dynamics (time in units of tau); its ``readout[1:]`` is ``model(u)``.
        """
        return Network(m=self.m, n=self.n, inputs=self.inputs, readouts=self.readouts, bulk=self.bulk,
                       g=self.g if self.bulk is not None else None, nonlinearity=self.nonlinearity)

    def svd_reparametrize(self) -> "LowRankRNN":
        """Return the same network with m, n orthogonalised: ``m n^T = U S V^T``, ``m = U sqrt(S)``,
        ``n = V sqrt(S)`` (the product ``m n^T`` and so the dynamics are unchanged)."""
        U, S, Vt = jnp.linalg.svd(self.m @ self.n.T, full_matrices=False)
        r = self.rank
        root = jnp.sqrt(S[:r])
        return eqx.tree_at(lambda s: (s.m, s.n), self, (U[:, :r] * root, Vt[:r].T * root))

    @classmethod
    def from_full_rank(cls, full: "FullRankRNN", rank: int) -> "LowRankRNN":
        """Return the rank-``rank`` network whose ``m n^T / N`` is the top-``rank`` SVD of ``full.W``.

        ``W ~= U_r S_r V_r^T = m n^T / N`` with ``m = sqrt(N) U_r sqrt(S_r)`` and
        ``n = sqrt(N) V_r sqrt(S_r)`` (the published SVD initialisation, Dubreuil, Valente et al.
        2022). Inputs, readouts, scales, ``h0``, alpha and noise are copied.
        """
        if not isinstance(full, FullRankRNN):
            raise ArgumentTypeError(f"full must be a FullRankRNN, got {type(full).__name__}")
        rank = positive_int("rank", rank)
        if rank > full.N:
            raise ArgumentError(f"rank must be <= N = {full.N}, got {rank}")
        m, n = top_svd(full.W, rank)
        return cls(full.N, rank, full.n_inputs, full.n_outputs, noise=full.noise, alpha=full.alpha,
                   nonlinearity=full.nonlinearity, m=m, n=n, input_vectors=full.input_vectors,
                   input_scales=full.input_scales, readout_vectors=full.readout_vectors,
                   readout_scales=full.readout_scales, h0=full.h0)


def top_svd(W: jax.Array, rank: int) -> tuple[jax.Array, jax.Array]:
    """Return (m, n), ``(N, rank)``, with ``m n^T / N`` the best rank-``rank`` approximation of W."""
    N = W.shape[0]
    U, S, Vt = np.linalg.svd(np.asarray(W, np.float64))
    root = np.sqrt(S[:rank] * N)
    return jnp.asarray(U[:, :rank] * root, jnp.float32), jnp.asarray(Vt[:rank].T * root, jnp.float32)


class FullRankRNN(AbstractRNN):
    """A rate network with a dense trainable connectivity ``W`` (N x N).

    ``x <- x + alpha (-x + W phi(x) + I u) + sigma sqrt(alpha) xi``, ``z = W_out^T phi(x) / N``.
    Initialisation as published (Dubreuil, Valente et al. 2022, ``FullRankRNN``): ``W ~ N(0, rho^2 / N)``
    (spectral radius about rho), input vectors ``~ N(0, 1)``, readout vectors ``~ N(0, 1)`` (their
    ``N(0, 1/N^2)`` without the ``1/N`` of our readout), scales 1, ``h0 = 0``.

    Parameters are those of :class:`LowRankRNN` with ``rho`` and ``W`` in place of ``rank``, ``g``,
    ``m``, ``n`` and ``bulk``.

    Example
    -------
    >>> import jax, jax.numpy as jnp
    >>> model = FullRankRNN(64, 1, 1, key=jax.random.key(0), rho=0.8)
    >>> model.to_network(rank=2).rank
    2
    """

    W: jax.Array
    input_vectors: jax.Array
    input_scales: jax.Array
    readout_vectors: jax.Array
    readout_scales: jax.Array
    h0: jax.Array
    rho: float = eqx.field(static=True)

    def __init__(self, N: int, n_inputs: int, n_outputs: int, *, key: jax.Array | None = None,
                 noise: float = 0.0, alpha: float = 0.2, rho: float = 1.0, nonlinearity: str = "tanh",
                 W=None, input_vectors=None, input_scales=None, readout_vectors=None,
                 readout_scales=None, h0=None):
        N, _, K, O, noise, alpha = check_hyper(N, None, n_inputs, n_outputs, noise, alpha, nonlinearity,
                                               need_rank=False)
        rho = real_scalar("rho", rho, low=0.0)
        if any(v is None for v in (W, input_vectors, readout_vectors)):
            key = prng_key("key", key)
        ks = jax.random.split(key, 3) if isinstance(key, jax.Array) else [None] * 3
        normal = jax.random.normal
        self.W = given_or_drawn("W", W, (N, N), lambda: rho * normal(ks[0], (N, N)) / np.sqrt(N))
        self.input_vectors = given_or_drawn("input_vectors", input_vectors, (N, K), lambda: normal(ks[1], (N, K)))
        self.input_scales = given_or_drawn("input_scales", input_scales, (K,), lambda: jnp.ones(K))
        self.readout_vectors = given_or_drawn("readout_vectors", readout_vectors, (N, O),
                                              lambda: normal(ks[2], (N, O)))
        self.readout_scales = given_or_drawn("readout_scales", readout_scales, (O,), lambda: jnp.ones(O))
        self.h0 = given_or_drawn("h0", h0, (N,), lambda: jnp.zeros(N))
        self.rho, self.alpha, self.noise, self.nonlinearity = rho, alpha, noise, nonlinearity

    def recurrent(self, rates):
        """Return ``W phi`` for one trial."""
        return self.W @ rates

    def latents(self, x):
        """Not defined for a dense network: use ``to_network(rank=r)`` and its ``n``."""
        raise ArgumentTypeError("a FullRankRNN has no latents; convert with LowRankRNN.from_full_rank(model, rank)")

    def trainable(self, *, connectivity: bool = True, inputs: bool = False, readouts: bool = False,
                  input_scales: bool = True, readout_scales: bool = True, h0: bool = False):
        """Return the filter pytree of the arrays training may change (defaults as published:
        ``W`` and the input and readout scales)."""
        return _mark(self, {"W": connectivity, "input_vectors": inputs, "input_scales": input_scales,
                            "readout_vectors": readouts, "readout_scales": readout_scales, "h0": h0})

    def to_network(self, rank: int | None = None):
        """Return a :class:`lowrank_rnn.Network` from the SVD of ``W``: its top-``rank`` part
        ``m n^T / N`` (None: all N singular values, so the connectivity is W up to rounding)."""
        rank = self.N if rank is None else positive_int("rank", rank)
        if rank > self.N:
            raise ArgumentError(f"rank must be <= N = {self.N}, got {rank}")
        m, n = top_svd(self.W, rank)
        return Network(m=m, n=n, inputs=self.inputs, readouts=self.readouts, nonlinearity=self.nonlinearity)
