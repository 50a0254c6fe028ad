"""The rate RNN core shared by every credit-assignment rule: leak, ReLU or tanh, Dale's law, optional rank."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import positive_int, prng_key, real_scalar
from .._errors import ArgumentError, ArgumentTypeError
from .._tanh import tanh
from .._network import Network
from ..dynamics import Euler
from ..models import AbstractRNN, check_hyper, given_or_drawn, top_svd

FORMS = ("voltage", "rate")


def _phi_prime(nonlinearity: str, x: jax.Array) -> jax.Array:
    """Return phi'(x) for the transfer functions of the library (tanh, relu, linear)."""
    if nonlinearity == "tanh":
        return 1.0 - tanh(x) ** 2
    if nonlinearity == "relu":
        return (x > 0).astype(x.dtype)
    return jnp.ones_like(x)


def truncate_frobenius(W, rank: int | None):
    """Return ``W`` truncated to its top ``rank`` singular components and rescaled to the Frobenius
    norm of ``W`` (``W`` itself when ``rank`` is None): ``W_r = (|W|_F / |U_r S_r V_r^T|_F) U_r S_r V_r^T``
    (Liu et al. 2023, arXiv 2310.08513).

    >>> import numpy as np
    >>> W = np.random.default_rng(0).normal(size=(50, 50))
    >>> Wr = np.asarray(truncate_frobenius(W, 3))
    >>> int(np.linalg.matrix_rank(Wr)), bool(np.isclose(np.linalg.norm(Wr), np.linalg.norm(W)))
    (3, True)
    """
    if rank is None:
        return W
    W = jnp.asarray(W)
    U, S, Vt = jnp.linalg.svd(W, full_matrices=False)
    Wr = (U[:, :rank] * S[:rank]) @ Vt[:rank]
    return Wr * (jnp.linalg.norm(W) / jnp.linalg.norm(Wr))


def _mark(model, names: dict[str, bool]):
    filt = jax.tree_util.tree_map(lambda _: False, model)
    keys = [k for k, v in names.items() if getattr(model, k) is not None]
    return eqx.tree_at(lambda m: [getattr(m, k) for k in keys], filt, [bool(names[k]) for k in keys])


class RateRNN(AbstractRNN):
    """A leaky rate network with optional Dale's law (E/I cell types) and optional rank-R weights.

    Two model forms, as in the learning-rule literature (alpha = dt / tau):

    - ``form="voltage"`` (default; the library's convention and that of e-prop, MDGL and ModProp,
      Bellec et al. 2020, Liu et al. 2021, 2022): ``v_t = (1 - alpha) v_{t-1} + alpha (W phi(v_{t-1})
      + W_in u_t) + sigma sqrt(alpha) xi_t``, activity ``r_t = phi(v_t)``;
    - ``form="rate"`` (RFLO, Murray 2019, eLife 8:e43299): ``h_t = (1 - alpha) h_{t-1} + alpha
      phi(W h_{t-1} + W_in u_t) + sigma sqrt(alpha) xi_t``, activity ``r_t = h_t``.

    The readout is ``y_t = W_out^T r_t + b`` (no 1/N: weights of order 1/sqrt(N), as in the papers).

    Weights. Full rank: a trainable ``W`` (N, N). Low rank (``rank=R``): ``W = m n^T / N`` with
    trainable m, n (N, R). Dale's law (``n_excitatory=N_E``): units ``0..N_E-1`` are excitatory and
    the rest inhibitory; the effective weights are ``W_eff_ij = s_j |W_ij|`` with ``s_j = +1`` (E)
    or ``-1`` (I), so every presynaptic unit keeps its sign through training (with a rank, ``|m n^T|``
    is then no longer of rank R). ``dale_readout`` applies the same signs to ``W_out``, as in the
    ModProp code. The initial full-rank weights are ``|N(0, 1)|`` with inhibitory columns scaled by
    ``N_E / N_I`` (balanced in the mean) and the whole matrix rescaled to spectral radius ``g``;
    without Dale's law ``W ~ N(0, g^2 / N)``. A fixed random feedback matrix ``feedback`` (N, O),
    ``N(0, 1 / N)``, is drawn once and never trained: RFLO and feedback alignment use it in place of
    ``W_out`` (:mod:`lowrank_rnn.learning`).

    Parameters
    ----------
    N, n_inputs, n_outputs: neurons, input channels K, readout channels O.
    key: ``jax.random`` key of the initialisation.
    rank: None (full rank) or R in [1, N].
    n_excitatory: None (no Dale's law) or the number of excitatory units, in [1, N - 1].
    alpha: dt / tau in (0, 1]; noise: sigma (>= 0); nonlinearity: ``"relu"`` (default) or ``"tanh"``
    (or ``"linear"``); form: ``"voltage"`` or ``"rate"``; g: initial spectral radius (full rank) or
    bulk scale; dale_readout: sign-constrain the readout too.
    init_rank: None, or r in [1, N]: a full-rank model whose initial W is the drawn matrix truncated
    to its top r singular components and rescaled to the drawn matrix's Frobenius norm (the
    rank-controlled initialisation of Liu et al. 2023, arXiv 2310.08513: low r biases learning
    towards the rich regime, r = N is the usual random initialisation). W stays a full trainable
    (N, N) matrix.

    Example
    -------
    >>> import jax, jax.numpy as jnp
    >>> net = RateRNN(120, 2, 2, key=jax.random.key(0), n_excitatory=97, alpha=0.01)
    >>> net(jnp.zeros((900, 2))).shape
    (900, 2)
    """

    W: jax.Array | None
    m: jax.Array | None
    n: jax.Array | None
    input_vectors: jax.Array
    input_scales: jax.Array
    readout_vectors: jax.Array
    readout_scales: jax.Array
    readout_bias: jax.Array
    feedback: jax.Array
    h0: jax.Array
    form: str = eqx.field(static=True)
    n_excitatory: int | None = eqx.field(static=True)
    dale_readout: bool = eqx.field(static=True)
    solver: ClassVar[Euler] = Euler(convex=True)
    g: float = eqx.field(static=True)

    def __init__(self, N: int, n_inputs: int, n_outputs: int, *, key: jax.Array | None = None,
                 rank: int | None = None, n_excitatory: int | None = None, alpha: float = 0.1,
                 noise: float = 0.0, nonlinearity: str = "relu", form: str = "voltage", g: float = 1.0,
                 dale_readout: bool = False, W=None, m=None, n=None, input_vectors=None, input_scales=None,
                 readout_vectors=None, readout_scales=None, readout_bias=None, feedback=None, h0=None,
                 init_rank: int | None = None):
        N, rank_, K, O, noise, alpha = check_hyper(N, 1 if rank is None else rank, n_inputs, n_outputs, noise,
                                                   alpha, nonlinearity)
        if form not in FORMS:
            raise ArgumentError(f"form must be one of {FORMS}, got {form!r}")
        if n_excitatory is not None:
            n_excitatory = positive_int("n_excitatory", n_excitatory)
            if n_excitatory >= N:
                raise ArgumentError(f"n_excitatory must be in [1, N - 1] = [1, {N - 1}] (at least one inhibitory "
                                 f"unit), got {n_excitatory}")
        g = real_scalar("g", g, low=0.0)
        if not isinstance(dale_readout, (bool, np.bool_)):
            raise ArgumentTypeError(f"dale_readout must be a bool, got {type(dale_readout).__name__}")
        if dale_readout and n_excitatory is None:
            raise ArgumentError("dale_readout=True needs n_excitatory (Dale's law on the recurrent weights)")
        needs_key = any(v is None for v in (input_vectors, readout_vectors, feedback)) or (
            (W is None) if rank is None else (m is None or n is None))
        if needs_key:
            key = prng_key("key", key)
        ks = jax.random.split(key, 6) if needs_key else [None] * 6
        normal = jax.random.normal
        sqN = float(np.sqrt(N))
        if rank is None:
            if m is not None or n is not None:
                raise ArgumentError("m and n are the loadings of a low-rank model: pass rank=R with them")
            if init_rank is not None:
                init_rank = positive_int("init_rank", init_rank)
                if init_rank > N:
                    raise ArgumentError(f"init_rank must be in [1, N] = [1, {N}], got {init_rank}")
                if W is not None:
                    raise ArgumentError("init_rank shapes the drawn W: pass either W or init_rank, not both")
            self.W = given_or_drawn("W", W, (N, N), lambda: truncate_frobenius(
                self._init_W(ks[0], N, n_excitatory, g), init_rank))
            self.m = self.n = None
        else:
            if W is not None:
                raise ArgumentError("W is the weight matrix of a full-rank model: pass rank=None with it")
            if init_rank is not None:
                raise ArgumentError("init_rank applies to full-rank models (rank=None); a low-rank model has rank R")
            self.W = None
            self.m = given_or_drawn("m", m, (N, rank_), lambda: normal(ks[0], (N, rank_)))
            self.n = given_or_drawn("n", n, (N, rank_), lambda: g * normal(ks[1], (N, rank_)))
        self.input_vectors = given_or_drawn("input_vectors", input_vectors, (N, K), lambda: normal(ks[2], (N, K)))
        self.input_scales = given_or_drawn("input_scales", input_scales, (K,), lambda: jnp.ones(K))
        self.readout_vectors = given_or_drawn("readout_vectors", readout_vectors, (N, O),
                                              lambda: normal(ks[3], (N, O)) / sqN)
        self.readout_scales = given_or_drawn("readout_scales", readout_scales, (O,), lambda: jnp.ones(O))
        self.readout_bias = given_or_drawn("readout_bias", readout_bias, (O,), lambda: jnp.zeros(O))
        self.feedback = given_or_drawn("feedback", feedback, (N, O), lambda: normal(ks[4], (N, O)) / sqN)
        self.h0 = given_or_drawn("h0", h0, (N,), lambda: jnp.zeros(N))
        self.alpha, self.noise, self.nonlinearity, self.form = alpha, noise, nonlinearity, form
        self.n_excitatory, self.dale_readout, self.g = n_excitatory, bool(dale_readout), g

    @staticmethod
    def _init_W(key, N, n_exc, g):
        if n_exc is None:
            return g * jax.random.normal(key, (N, N)) / np.sqrt(N)
        raw = np.abs(np.asarray(jax.random.normal(key, (N, N)), np.float64))
        raw[:, n_exc:] *= n_exc / (N - n_exc)
        eff = raw * np.where(np.arange(N) < n_exc, 1.0, -1.0)[None, :]
        radius = np.max(np.abs(np.linalg.eigvals(eff)))
        return raw * (g / radius if radius > 0 else 1.0)

    # ---------------------------------------------------------------- sizes and structure
    @property
    def rank(self) -> int | None:
        """R for a low-rank model, None for a full-rank one."""
        return None if self.m is None else self.m.shape[1]

    def signs(self) -> jax.Array:
        """Return the presynaptic sign of each unit, ``(N,)``: +1 (E) / -1 (I), all +1 without Dale's law."""
        if self.n_excitatory is None:
            return jnp.ones(self.N, jnp.float32)
        return jnp.where(jnp.arange(self.N) < self.n_excitatory, 1.0, -1.0).astype(jnp.float32)

    def cell_types(self) -> np.ndarray:
        """Return each unit's cell type, ``(N,)`` ints: 0 = E, 1 = I with Dale's law, all 0 without."""
        if self.n_excitatory is None:
            return np.zeros(self.N, np.int32)
        return (np.arange(self.N) >= self.n_excitatory).astype(np.int32)

    def weights(self) -> jax.Array:
        """Return the effective recurrent weights ``W_eff`` (N, N): signed by Dale's law when it applies."""
        W = self.W if self.W is not None else self.m @ self.n.T / self.N
        if self.n_excitatory is None:
            return W
        return jnp.abs(W) * self.signs()[None, :]

    @property
    def factored(self) -> bool:
        """True when ``W_eff = m n^T / N`` can be applied in O(N R) (low rank, no Dale's law)."""
        return self.m is not None and self.n_excitatory is None

    def apply_weights(self, r: jax.Array) -> jax.Array:
        """Return ``W_eff r`` for activities ``r`` (..., N): O(N R) for a low-rank model without Dale's law."""
        if self.factored:
            return (r @ self.n) @ self.m.T / self.N
        return r @ self.weights().T

    def readout_weights(self) -> jax.Array:
        """Return the effective readout ``W_out`` (N, O), sign-constrained when ``dale_readout``."""
        Wo = self.readout_vectors * self.readout_scales
        return jnp.abs(Wo) * self.signs()[:, None] if self.dale_readout else Wo

    # ---------------------------------------------------------------- dynamics
    def recurrent(self, rates: jax.Array) -> jax.Array:
        """Return the recurrent input ``W_eff r`` of one trial."""
        return self.apply_weights(rates)

    def activity(self, x: jax.Array) -> jax.Array:
        """Return the activity read out and fed back: ``phi(v)`` (voltage form) or ``h`` (rate form)."""
        return self.phi(x) if self.form == "voltage" else x

    def drive(self, x: jax.Array, u: jax.Array) -> jax.Array:
        """Return ``F`` of one trial: ``W_eff phi(v) + W_in u`` (voltage form) or
        ``phi(W_eff h + W_in u)`` (rate form); the step is ``(1 - alpha) x + alpha F`` plus noise."""
        drive = self.input_vectors @ (self.input_scales * u) if u.shape[-1] else 0.0
        if self.form == "voltage":
            return self.recurrent(self.phi(x)) + drive
        return self.phi(self.recurrent(x) + drive)

    def readout(self, x: jax.Array) -> jax.Array:
        """Return ``y = W_out^T r + b`` of one state (``r`` from :meth:`activity`), ``(O,)``."""
        return self.activity(x) @ self.readout_weights() + self.readout_bias

    def latents(self, x: jax.Array) -> jax.Array:
        """Return latent coordinates of states (..., N): ``n^T r / N`` (low rank) or the activity
        projected on the top two right singular vectors of ``W_eff`` (full rank)."""
        r = self.activity(x)
        if self.m is not None and self.n_excitatory is None:
            return r @ self.n / self.N
        _, _, Vt = jnp.linalg.svd(self.weights())
        return r @ Vt[:2].T

    def trainable(self, *, recurrent: bool = True, inputs: bool = True, readout: bool = True,
                  bias: bool = True, h0: bool = False):
        """Return the filter pytree of trained arrays: by default W (or m, n), W_in, W_out and b;
        never the feedback matrix or the scales."""
        return _mark(self, {"W": recurrent, "m": recurrent, "n": recurrent, "input_vectors": inputs,
                            "readout_vectors": readout, "readout_bias": bias, "h0": h0})

    def to_network(self, rank: int | None = None):
        """Return a :class:`lowrank_rnn.Network` from the SVD of ``W_eff`` (voltage form only):
        ``simulate`` then runs the same dynamics; its readouts are ``N W_out`` (the bias is dropped)."""
        if self.form != "voltage":
            raise ArgumentError("to_network needs form='voltage': the rate form is not the library's convention")
        rank = self.N if rank is None else positive_int("rank", rank)
        if rank > self.N:
            raise ArgumentError(f"rank must be <= N = {self.N}, got {rank}")
        m, n = top_svd(self.weights(), rank)
        return Network(m=m, n=n, inputs=self.inputs, readouts=self.N * self.readout_weights(),
                       nonlinearity=self.nonlinearity)

    def hyperparameters(self) -> dict:
        """Return the JSON-able constructor arguments (everything but the arrays)."""
        return {"N": self.N, "n_inputs": self.n_inputs, "n_outputs": self.n_outputs, "rank": self.rank,
                "n_excitatory": self.n_excitatory, "alpha": float(self.alpha), "noise": float(self.noise),
                "nonlinearity": self.nonlinearity, "form": self.form, "g": float(self.g),
                "dale_readout": self.dale_readout}


_ARRAYS = ("W", "m", "n", "input_vectors", "input_scales", "readout_vectors", "readout_scales", "readout_bias",
           "feedback", "h0")


def _out(model: RateRNN):
    return model.hyperparameters(), {k: np.asarray(getattr(model, k)) for k in _ARRAYS
                                     if getattr(model, k) is not None}


def _in(meta, arrays):
    meta = dict(meta)
    args = [meta.pop(k) for k in ("N", "n_inputs", "n_outputs")]
    return RateRNN(*args, **meta, **arrays)
