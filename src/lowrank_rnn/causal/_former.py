"""Causalformer: a transformer forecaster whose attention reads out Granger-causal structure.

After Lu, Tabassum, Kulkarni, Mi, Kutz, Shea-Brown & Lim 2023, "Attention for causal relationship
discovery from biological neural dynamics" (NeurIPS 2023 workshop on causal representation
learning, arXiv 2311.06928). A window of $L$ steps of $n$ signals is cut into $n L$ tokens, one
per (neuron, time) pair; the model predicts the next step of every neuron. Three constraints make
the decoder's *global* cross-attention the only path by which neuron $j$'s past reaches neuron
$i$'s forecast, so that its weights read as Granger influence $j \\to i$:

1. the encoder has local self-attention only: each neuron's tokens attend to that neuron's own
   history, so an encoded token of neuron $i$ is a function of $y_{\\cdot i}$ alone;
2. the decoder's query tokens carry the value zero (only time, position and neuron embeddings),
   and the decoder has no self-attention, so queries do not mix neurons;
3. the decoder's local cross-attention lets neuron $i$'s query read neuron $i$'s history only; its
   global cross-attention reads every neuron's history.

Departure from the authors' code, by default: layer normalisation per token replaces their batch
normalisation, whose batch statistics pool tokens of all neurons during training and so break
constraint 1 while training; ``norm="batch"`` restores it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from pathlib import Path
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from .._checks import finite_array, positive_int, prng_key, real_scalar
from .._errors import (
    ArgumentError,
    ArgumentTypeError,
    DivergenceError,
)
from .._io import output_folder, read_checkpoint, write_checkpoint

#: steps per unit of the value–time embedding's time input (the authors feed step / 1000)
TIME_SCALE = 1000.0


def _keep_masks(key: jax.Array | None, rate: float, shapes: list[tuple[int, ...]]) -> list:
    """Dropout keep-masks of the given shapes from one uniform draw (one PRNG call compiles faster
    than one per mask), or ``None`` for each when not training."""
    if key is None or rate == 0.0:
        return [None] * len(shapes)
    sizes = [math.prod(sh) for sh in shapes]
    u = jax.random.uniform(key, (sum(sizes),))
    offsets = np.cumsum([0] + sizes)
    return [(u[a:b] >= rate).reshape(sh) for a, b, sh in zip(offsets[:-1], offsets[1:], shapes)]


def _dropout(x: jax.Array, rate: float, keep: jax.Array | None) -> jax.Array:
    if keep is None:
        return x
    return jnp.where(keep, x / (1.0 - rate), 0.0)


class _Dense(eqx.Module):
    """An affine map on the last axis, initialised uniformly in $\\pm 1/\\sqrt{\\text{in}}$."""

    weight: jax.Array
    bias: jax.Array

    def __init__(self, n_in: int, n_out: int, *, key: jax.Array):
        kw, kb = jax.random.split(key)
        lim = 1.0 / math.sqrt(n_in)
        self.weight = jax.random.uniform(kw, (n_in, n_out), minval=-lim, maxval=lim)
        self.bias = jax.random.uniform(kb, (n_out,), minval=-lim, maxval=lim)

    def __call__(self, x: jax.Array) -> jax.Array:
        return x @ self.weight + self.bias


class _LayerNorm(eqx.Module):
    """Layer normalisation over the last axis (each token on its own)."""

    scale: jax.Array
    shift: jax.Array

    def __init__(self, size: int):
        self.scale = jnp.ones(size)
        self.shift = jnp.zeros(size)

    def __call__(self, x: jax.Array) -> jax.Array:
        mean = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.var(x, axis=-1, keepdims=True)
        return (x - mean) * jax.lax.rsqrt(var + 1e-5) * self.scale + self.shift


class _BatchNorm(eqx.Module):
    """Batch normalisation of each channel (last axis), as PyTorch's ``BatchNorm1d``: while
    training, the mean and (biased) variance of each channel pooled over the minibatch and all its
    tokens; otherwise the running estimates, updated after every training step by
    $r \\leftarrow (1 - m) r + m\\,\\hat s$ with momentum $m = 0.1$ (the unbiased variance)."""

    scale: jax.Array
    shift: jax.Array
    running_mean: jax.Array
    running_var: jax.Array

    def __init__(self, size: int):
        self.scale = jnp.ones(size)
        self.shift = jnp.zeros(size)
        self.running_mean = jnp.zeros(size)
        self.running_var = jnp.ones(size)

    def normalise(self, x: jax.Array, mean: jax.Array, var: jax.Array) -> jax.Array:
        return (x - mean) * jax.lax.rsqrt(var + 1e-5) * self.scale + self.shift

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.normalise(x, self.running_mean, self.running_var)


#: momentum of the batch normalisation's running statistics (PyTorch's default)
_BN_MOMENTUM = 0.1


def _norm(model, name: str, x: jax.Array, batch_axis: str | None, stats: dict | None) -> jax.Array:
    """Apply ``model``'s normalisation ``name`` (none if ``None``) to the tokens ``x`` (..., d).
    A batch norm while training (``batch_axis`` names the vmapped minibatch axis) normalises with
    the statistics pooled over the tokens of ``x`` and the minibatch, and records them in ``stats``
    (mean, biased variance)."""
    norm = getattr(model, name)
    if norm is None:
        return x
    if isinstance(norm, _BatchNorm) and batch_axis is not None:
        axes = tuple(range(x.ndim - 1))
        mean = jax.lax.pmean(jnp.mean(x, axis=axes), batch_axis)
        var = jax.lax.pmean(jnp.mean(jnp.square(x - mean), axis=axes), batch_axis)
        stats[name] = (mean, var)
        return norm.normalise(x, mean, var)
    return norm(x)


def _update_running(params, old, stats: dict, count: dict):
    """``params`` with each batch norm's running statistics moved from those of ``old`` towards
    the minibatch's ``stats`` (see :func:`_norm`) pooled over ``count[name]`` tokens."""
    for name, (mean, var) in stats.items():
        count_ = count[name]
        norm = getattr(old, name)
        new = ((1.0 - _BN_MOMENTUM) * norm.running_mean + _BN_MOMENTUM * mean,
               (1.0 - _BN_MOMENTUM) * norm.running_var + _BN_MOMENTUM * var * count_ / max(count_ - 1, 1))
        params = eqx.tree_at(lambda p, name=name: (getattr(p, name).running_mean, getattr(p, name).running_var),
                             params, new)
    return params


class _FeedForward(eqx.Module):
    """Token-wise feed-forward block: Dense, GELU, dropout, Dense, dropout."""

    inner: _Dense
    outer: _Dense
    dropout: float = eqx.field(static=True)

    def __init__(self, d_model: int, d_ff: int, dropout: float, *, key: jax.Array):
        k1, k2 = jax.random.split(key)
        self.inner = _Dense(d_model, d_ff, key=k1)
        self.outer = _Dense(d_ff, d_model, key=k2)
        self.dropout = dropout

    def __call__(self, x: jax.Array, keep_inner: jax.Array | None, keep_outer: jax.Array | None) -> jax.Array:
        h = _dropout(jax.nn.gelu(self.inner(x), approximate=False), self.dropout, keep_inner)
        return _dropout(self.outer(h), self.dropout, keep_outer)


class _Attention(eqx.Module):
    """Multi-head scaled dot-product attention that also returns its weights."""

    query: _Dense
    key: _Dense
    value: _Dense
    output: _Dense
    n_heads: int = eqx.field(static=True)
    d_qk: int = eqx.field(static=True)
    d_v: int = eqx.field(static=True)

    def __init__(self, d_model: int, n_heads: int, d_qk: int, d_v: int, *, key: jax.Array):
        kq, kk, kv, ko = jax.random.split(key, 4)
        self.query = _Dense(d_model, n_heads * d_qk, key=kq)
        self.key = _Dense(d_model, n_heads * d_qk, key=kk)
        self.value = _Dense(d_model, n_heads * d_v, key=kv)
        self.output = _Dense(n_heads * d_v, d_model, key=ko)
        self.n_heads, self.d_qk, self.d_v = n_heads, d_qk, d_v

    def __call__(self, x_q: jax.Array, x_kv: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Return (outputs (n_q, d_model), weights (n_heads, n_q, n_kv)) for queries ``x_q`` and
        keys/values ``x_kv``."""
        h = self.n_heads
        q = self.query(x_q).reshape(x_q.shape[0], h, self.d_qk)
        k = self.key(x_kv).reshape(x_kv.shape[0], h, self.d_qk)
        v = self.value(x_kv).reshape(x_kv.shape[0], h, self.d_v)
        weights = jax.nn.softmax(jnp.einsum("qhc,khc->hqk", q, k) / math.sqrt(self.d_qk), axis=-1)
        out = jnp.einsum("hqk,khc->qhc", weights, v).reshape(x_q.shape[0], h * self.d_v)
        return self.output(out), weights


@eqx.filter_jit
def _initial_layers(key: jax.Array, n_neurons: int, d_model: int, n_heads: int, d_qk: int, d_v: int, d_ff: int,
                    dropout: float, periodic_only: bool, final_norm: bool, batch_norm: bool) -> tuple:
    """The initial layers of a :class:`Causalformer`, in the order of its fields (``None`` for
    the linear position component without it and for the final norms without them)."""
    ks = jax.random.split(key, 9)
    Norm = _BatchNorm if batch_norm else _LayerNorm
    final = Norm(d_model) if final_norm else None
    return (_Dense(2, d_model, key=ks[0]),
            None if periodic_only else jax.random.normal(ks[1], (2,)),                # omega_0, phi_0
            jax.random.normal(ks[2], (2, d_model if periodic_only else d_model - 1)),  # omega_k, phi_k
            jax.random.normal(ks[3], (n_neurons, d_model)),
            Norm(d_model), _Attention(d_model, n_heads, d_qk, d_v, key=ks[4]),
            Norm(d_model), _FeedForward(d_model, d_ff, dropout, key=ks[5]), final,
            Norm(d_model), _Attention(d_model, n_heads, d_qk, d_v, key=ks[6]),
            Norm(d_model), _Attention(d_model, n_heads, d_qk, d_v, key=ks[7]),
            Norm(d_model), _FeedForward(d_model, d_ff, dropout, key=ks[8]), final,
            _Dense(d_model, 1, key=jax.random.fold_in(key, 9)))


class DecoderTrace(NamedTuple):
    """The decoder's intermediate states for one window (see :meth:`Causalformer.decode`).

    Attributes
    ----------
    after_local:
        The query tokens after the local cross-attention, ``(n_neurons, d_model)``: row $i$
        depends on neuron $i$'s history only.
    global_attention:
        The global cross-attention weights ``(n_heads, n_neurons, n_neurons * seq_len)``: query of
        neuron $i$ (rows) over the encoder tokens, ordered neuron-major (neuron $j$'s $L$ tokens
        are columns $jL \\dots jL + L - 1$).
    prediction:
        The forecast of the next step, ``(n_neurons,)``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from lowrank_rnn.causal import Causalformer
    >>> model = Causalformer(3, seq_len=4, d_model=8, n_heads=2, d_qk=4, d_v=4, key=jax.random.key(0))
    >>> trace = model.decode(model.encode(jnp.zeros((4, 3))))
    >>> trace.global_attention.shape
    (2, 3, 12)
    """

    after_local: jax.Array
    global_attention: jax.Array
    prediction: jax.Array


class Causalformer(eqx.Module):
    """A one-layer encoder–decoder transformer forecasting the next step of ``n_neurons`` signals.

    The architecture of Lu et al. 2023 (arXiv 2311.06928). A window $y \\in \\mathbb{R}^{L \\times n}$
    whose first step has index $t_0$ becomes $nL$ tokens; token $(i, l)$ is embedded as

    $$e_{il} = \\mathrm{drop}\\big(W_{vt} [y_{li},\\ (t_0 + l)/1000] + b_{vt} + \\tau(l)\\big)
    + \\mathrm{drop}(E_i),$$

    a value–time embedding plus a position embedding $\\tau(l)$, and a learned neuron embedding
    $E_i$, each with its own dropout mask while training (as the authors' code). The position
    embedding is, with ``position_embedding="periodic"`` (the authors' code: a Time2Vec of width
    $d + 1$ whose linear component is dropped), $\\tau(l) = [\\sin(\\omega_k l + \\varphi_k)]_{k=1}^{d}$,
    or with ``"time2vec"`` (Kazemi et al. 2019)
    $\\tau(l) = [\\omega_0 l + \\varphi_0,\\ \\sin(\\omega_k l + \\varphi_k)_{k=1}^{d-1}]$; $\\omega, \\varphi$
    are learned. The encoder (pre-norm, residual) applies *local* self-attention, neuron $i$'s
    $L$ tokens among themselves, then a token-wise feed-forward block ($4d$ hidden units, GELU).
    The decoder's $n$ query tokens are embedded the same way with value $0$ at position
    ``query_position`` and time $t_0 + L$; with no self-attention they pass through a local
    cross-attention (query $i$ over neuron $i$'s encoded tokens), a global cross-attention (query
    $i$ over all $nL$ encoded tokens) and a feed-forward block; a linear head gives $\\hat y_{L, i}$.
    Attention is scaled dot-product, $\\mathrm{softmax}(QK^\\top/\\sqrt{d_{qk}})V$, with
    ``n_heads`` heads. Normalisation is per token (``norm="layer"``, default) or, as the authors'
    code, batch normalisation of each channel (``norm="batch"``): while training its statistics
    pool the tokens of all neurons in the minibatch, so neuron $j$'s inputs reach neuron $i$'s
    encoded tokens through them, and the encoder is local to each neuron only in the trained model
    (evaluation uses the running statistics, a fixed per-channel affine map). Dropout acts on the
    embeddings and the feed-forward blocks while training (when a ``key`` is passed).

    Parameters
    ----------
    n_neurons: number of signals $n$.
    seq_len: window length $L$ (steps of history seen).
    d_model: token width $d$.
    n_heads, d_qk, d_v: heads and per-head query/key and value sizes of every attention.
    d_ff: hidden width of the feed-forward blocks (``4 * d_model`` when ``None``).
    dropout: dropout rate while training, in $[0, 1)$.
    position_embedding: ``"periodic"`` (default, the authors' code) or ``"time2vec"`` (one
        linear component), as above.
    query_position: position $0 \\le p \\le L$ of the decoder's query tokens in the position
        embedding. Default $0$, as the authors' code, which embeds the one-step target sequence
        with its own positions counted from $0$ (the query then shares the position code of
        the window's oldest step; it is told apart by its time and value); $L$ is the step
        after the window.
    final_norm: add a layer normalisation after the encoder and one before the head. Default
        ``False``: the authors' code builds none (its final norms are switched off). On the
        authors' own $N = 5$ network, leaving them out raised every seed's attention AUROC (the
        ``lu2023`` reproduction's documentation page).
    norm: ``"layer"`` (default: per token, every constraint holds while training too) or
        ``"batch"`` (the authors' code; see above). The batch norm's running statistics are
        updated by :func:`fit` after every step, not by the optimiser. On the authors' own
        $N = 5$ network ``"batch"`` raised every seed's attention AUROC to theirs (the ``lu2023``
        reproduction's documentation page).
    key: ``jax.random`` key of the initial weights.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> model = Causalformer(3, seq_len=5, d_model=16, n_heads=2, d_qk=4, d_v=4, key=jax.random.key(0))
    >>> model(jnp.zeros((5, 3))).shape              # the next step of the 3 signals
    (3,)
    """

    value_time: _Dense
    position_linear: jax.Array | None
    position_periodic: jax.Array
    neuron_embedding: jax.Array
    encoder_norm_attention: _LayerNorm | _BatchNorm
    encoder_attention: _Attention
    encoder_norm_ff: _LayerNorm | _BatchNorm
    encoder_ff: _FeedForward
    encoder_norm_out: _LayerNorm | _BatchNorm | None
    decoder_norm_local: _LayerNorm | _BatchNorm
    decoder_local: _Attention
    decoder_norm_global: _LayerNorm | _BatchNorm
    decoder_global: _Attention
    decoder_norm_ff: _LayerNorm | _BatchNorm
    decoder_ff: _FeedForward
    decoder_norm_out: _LayerNorm | _BatchNorm | None
    head: _Dense
    n_neurons: int = eqx.field(static=True)
    seq_len: int = eqx.field(static=True)
    d_model: int = eqx.field(static=True)
    dropout: float = eqx.field(static=True)
    query_position: int = eqx.field(static=True)

    def __init__(self, n_neurons: int, *, seq_len: int = 10, d_model: int = 100, n_heads: int = 10,
                 d_qk: int = 8, d_v: int = 8, d_ff: int | None = None, dropout: float = 0.1,
                 position_embedding: str = "periodic", query_position: int = 0, final_norm: bool = False,
                 norm: str = "layer", key: jax.Array):
        n_neurons = positive_int("n_neurons", n_neurons)
        seq_len = positive_int("seq_len", seq_len)
        d_model = positive_int("d_model", d_model, low=2)
        n_heads = positive_int("n_heads", n_heads)
        d_qk = positive_int("d_qk", d_qk)
        d_v = positive_int("d_v", d_v)
        d_ff = 4 * d_model if d_ff is None else positive_int("d_ff", d_ff)
        dropout = real_scalar("dropout", dropout, low=0.0, high=1.0, high_open=True)
        if position_embedding not in ("periodic", "time2vec"):
            raise ArgumentError(f"position_embedding must be 'periodic' or 'time2vec', got {position_embedding!r}")
        query_position = positive_int("query_position", query_position, low=0)
        if query_position > seq_len:
            raise ArgumentError(f"query_position must lie in [0, seq_len] = [0, {seq_len}], got {query_position}")
        if not isinstance(final_norm, (bool, np.bool_)):
            raise ArgumentTypeError(f"final_norm must be True or False, got {type(final_norm).__name__}")
        if norm not in ("layer", "batch"):
            raise ArgumentError(f"norm must be 'layer' or 'batch', got {norm!r}")
        key = prng_key("key", key)
        # all draws in one compiled function: one compilation per model size instead of one per array shape
        (self.value_time, self.position_linear, self.position_periodic, self.neuron_embedding,
         self.encoder_norm_attention, self.encoder_attention, self.encoder_norm_ff, self.encoder_ff,
         self.encoder_norm_out, self.decoder_norm_local, self.decoder_local, self.decoder_norm_global,
         self.decoder_global, self.decoder_norm_ff, self.decoder_ff, self.decoder_norm_out,
         self.head) = _initial_layers(key, n_neurons, d_model, n_heads, d_qk, d_v, d_ff, dropout,
                                      position_embedding == "periodic", bool(final_norm), norm == "batch")
        self.n_neurons, self.seq_len, self.d_model, self.dropout = n_neurons, seq_len, d_model, dropout
        self.query_position = query_position

    @property
    def norm(self) -> str:
        """``"layer"`` or ``"batch"``: the normalisation of the residual blocks."""
        return "batch" if isinstance(self.decoder_norm_ff, _BatchNorm) else "layer"

    @property
    def n_heads(self) -> int:
        """Number of attention heads."""
        return self.decoder_global.n_heads

    def _embed(self, values: jax.Array, positions: jax.Array, times: jax.Array, keep_vt: jax.Array | None,
               keep_neuron: jax.Array | None) -> jax.Array:
        """Token embeddings ``(n, m, d)`` of values ``(n, m)`` at positions and times ``(m,)``;
        the value–time–position part and the neuron part each take their dropout keep-mask."""
        w, b = self.value_time.weight, self.value_time.bias
        value_time = values[..., None] * w[0] + (times / TIME_SCALE)[None, :, None] * w[1] + b
        position = jnp.sin(positions[:, None] * self.position_periodic[0] + self.position_periodic[1])
        if self.position_linear is not None:
            linear = self.position_linear[0] * positions + self.position_linear[1]
            position = jnp.concatenate([linear[:, None], position], axis=-1)
        neuron = jnp.broadcast_to(self.neuron_embedding[:, None, :], value_time.shape)
        return _dropout(value_time + position[None], self.dropout, keep_vt) + _dropout(neuron, self.dropout,
                                                                                       keep_neuron)

    def encode(self, y, t0=0.0, *, key: jax.Array | None = None) -> jax.Array:
        """Return the encoded history ``(n_neurons, seq_len, d_model)`` of a window ``y``
        ``(seq_len, n_neurons)`` whose first step has index ``t0``.

        Row ``i`` is a function of ``y[:, i]`` (and ``t0``) alone: the encoder's attention is
        local to each neuron. ``key`` switches dropout on (training); without it the map is
        deterministic.

        Examples
        --------
        >>> import jax, jax.numpy as jnp
        >>> model = Causalformer(2, seq_len=3, d_model=8, n_heads=2, d_qk=4, d_v=4, key=jax.random.key(0))
        >>> model.encode(jnp.ones((3, 2))).shape
        (2, 3, 8)
        """
        return self._encode(jnp.asarray(y, jnp.float32), jnp.asarray(t0, jnp.float32), key)

    @eqx.filter_jit
    def _encode(self, y: jax.Array, t0: jax.Array, key: jax.Array | None) -> jax.Array:
        return self._encode_tokens(y, t0, key, None, None)

    def _encode_tokens(self, y: jax.Array, t0: jax.Array, key: jax.Array | None, batch_axis: str | None,
                       stats: dict | None) -> jax.Array:
        L = self.seq_len
        positions = jnp.arange(L, dtype=y.dtype)
        shape, d_ff = (self.n_neurons, L, self.d_model), self.encoder_ff.inner.weight.shape[1]
        keep_vt, keep_neuron, keep_inner, keep_outer = _keep_masks(key, self.dropout,
                                                                   [shape, shape, (*shape[:2], d_ff), shape])
        tokens = self._embed(y.T, positions, t0 + positions, keep_vt, keep_neuron)

        xn = _norm(self, "encoder_norm_attention", tokens, batch_axis, stats)
        h = tokens + jax.vmap(lambda x: self.encoder_attention(x, x)[0])(xn)   # each neuron on its own
        h = h + self.encoder_ff(_norm(self, "encoder_norm_ff", h, batch_axis, stats), keep_inner, keep_outer)
        return _norm(self, "encoder_norm_out", h, batch_axis, stats)

    def decode(self, encoded: jax.Array, t0=0.0, *, key: jax.Array | None = None) -> DecoderTrace:
        """Return the decoder's :class:`DecoderTrace` (states after the local cross-attention,
        global attention weights, forecast) for the ``encoded`` history of a window starting at
        ``t0``.

        Examples
        --------
        >>> import jax, jax.numpy as jnp
        >>> model = Causalformer(2, seq_len=3, d_model=8, n_heads=2, d_qk=4, d_v=4, key=jax.random.key(0))
        >>> model.decode(model.encode(jnp.ones((3, 2)))).prediction.shape
        (2,)
        """
        return self._decode(jnp.asarray(encoded, jnp.float32), jnp.asarray(t0, jnp.float32), key)

    @eqx.filter_jit
    def _decode(self, encoded: jax.Array, t0: jax.Array, key: jax.Array | None) -> DecoderTrace:
        return self._decode_tokens(encoded, t0, key, None, None)

    def _decode_tokens(self, encoded: jax.Array, t0: jax.Array, key: jax.Array | None, batch_axis: str | None,
                       stats: dict | None) -> DecoderTrace:
        n, L = self.n_neurons, self.seq_len
        dtype = encoded.dtype
        position = jnp.full((1,), self.query_position, dtype)
        shape, d_ff = (n, 1, self.d_model), self.decoder_ff.inner.weight.shape[1]
        keep_vt, keep_neuron, keep_inner, keep_outer = _keep_masks(key, self.dropout,
                                                                   [shape, shape, (n, d_ff), (n, self.d_model)])
        q = self._embed(jnp.zeros((n, 1), dtype), position, t0 + jnp.full((1,), L, dtype), keep_vt,
                        keep_neuron)[:, 0]   # (n, d)
        qn = _norm(self, "decoder_norm_local", q, batch_axis, stats)
        local = jax.vmap(lambda qi, ei: self.decoder_local(qi[None], ei)[0][0])(qn, encoded)
        q = q + local
        after_local = q
        out, weights = self.decoder_global(_norm(self, "decoder_norm_global", q, batch_axis, stats),
                                           encoded.reshape(n * L, -1))
        q = q + out
        q = q + self.decoder_ff(_norm(self, "decoder_norm_ff", q, batch_axis, stats), keep_inner, keep_outer)
        prediction = self.head(_norm(self, "decoder_norm_out", q, batch_axis, stats))[:, 0]
        return DecoderTrace(after_local, weights, prediction)

    def __call__(self, y, t0=0.0, *, key: jax.Array | None = None) -> jax.Array:
        """Return the forecast ``(n_neurons,)`` of the step after the window ``y``
        ``(seq_len, n_neurons)`` whose first step has index ``t0``; ``key`` switches dropout on."""
        return self._forecast(jnp.asarray(y, jnp.float32), jnp.asarray(t0, jnp.float32), key)

    @eqx.filter_jit
    def _forecast(self, y: jax.Array, t0: jax.Array, key: jax.Array | None) -> jax.Array:
        k_enc, k_dec = (None, None) if key is None else tuple(jax.random.split(key))
        return self._decode(self._encode(y, t0, k_enc), t0, k_dec).prediction

    def _forecast_training(self, y: jax.Array, t0: jax.Array, key: jax.Array, batch_axis: str):
        """The forecast with dropout (``key``) and, for batch norms, the statistics of the minibatch
        vmapped over ``batch_axis``; returns (forecast, statistics by norm name)."""
        k_enc, k_dec = jax.random.split(key)
        stats = {}
        encoded = self._encode_tokens(y, t0, k_enc, batch_axis, stats)
        return self._decode_tokens(encoded, t0, k_dec, batch_axis, stats).prediction, stats


# ------------------------------------------------------------------------------------- training

#: fractions of the windows, in time order, for training, validation and test
SPLIT = (0.6, 0.2, 0.2)
#: windows evaluated at once (vmapped) when predicting or reading attention
_CHUNK = 64
#: relative improvement of the validation loss that resets the plateau counter (as PyTorch's
#: ReduceLROnPlateau default)
_PLATEAU_THRESHOLD = 1e-4


def _split(n_windows: int) -> tuple[int, int, int]:
    n_train = int(SPLIT[0] * n_windows)
    n_val = int(SPLIT[1] * n_windows)
    return n_train, n_val, n_windows - n_train - n_val


def _part_starts(n_windows: int, part: str) -> np.ndarray:
    n_train, n_val, _ = _split(n_windows)
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, n_windows),
              "all": (0, n_windows)}
    lo, hi = bounds[part]
    return np.arange(lo, hi, dtype=np.int32)


def _windows(X: jax.Array, starts: jax.Array, seq_len: int) -> tuple[jax.Array, jax.Array]:
    """Windows ``(B, L, n)`` starting at ``starts`` and the step after each, ``(B, n)``."""
    return X[starts[:, None] + jnp.arange(seq_len)], X[starts + seq_len]


def _models_of(models, name: str) -> list[Causalformer]:
    """``models`` (one Causalformer or a non-empty sequence of equal-shaped ones) as a list."""
    seq = [models] if isinstance(models, Causalformer) else models
    if not isinstance(seq, (list, tuple)) or not seq or not all(isinstance(m, Causalformer) for m in seq):
        raise ArgumentTypeError(f"{name} must be a Causalformer or a non-empty list of Causalformers, "
                                f"got {type(models).__name__}")
    first = jax.tree_util.tree_structure(seq[0])
    shapes = [np.shape(a) for a in jax.tree_util.tree_leaves(seq[0])]
    for k, m in enumerate(seq[1:], 1):
        if (jax.tree_util.tree_structure(m) != first
                or [np.shape(a) for a in jax.tree_util.tree_leaves(m)] != shapes):
            raise ArgumentError(f"{name}: model {k} differs in size or settings from model 0; "
                                "an ensemble needs models built with the same arguments")
    return list(seq)


def _check_data(X, model: Causalformer) -> np.ndarray:
    X = finite_array("X", X, ndim=2, dtype=np.float32)
    if X.shape[1] != model.n_neurons:
        raise ArgumentError(f"X must have shape (time, n_neurons) with n_neurons = {model.n_neurons} "
                            f"columns (the model's), got shape {X.shape}")
    need = model.seq_len + 5
    if X.shape[0] < need:
        raise ArgumentError(f"X must hold at least seq_len + 5 = {need} time steps (windows of "
                            f"{model.seq_len} steps and their next step, at least 5 windows to split "
                            f"60/20/20), got {X.shape[0]}")
    return X


def _stack(models: list[Causalformer]):
    params = [eqx.partition(m, eqx.is_inexact_array)[0] for m in models]
    static = eqx.partition(models[0], eqx.is_inexact_array)[1]
    return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *params), static


def _unstack(params, static, count: int) -> list[Causalformer]:
    return [eqx.combine(jax.tree_util.tree_map(lambda a, k=k: a[k], params), static) for k in range(count)]


@eqx.filter_jit
def _evaluate_chunk(params, static, X: jax.Array, starts: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Forecasts ``(models, chunk, n)`` of the stacked models for the windows at ``starts``, and
    their global cross-attention summed over heads and over each (target, source) block,
    ``(models, chunk, n, n)``."""
    def one_model(p):
        model = eqx.combine(p, static)
        n, L = model.n_neurons, model.seq_len

        def one(y, t0):
            trace = model._decode(model._encode(y, t0, None), t0, None)
            return trace.prediction, trace.global_attention.sum(0).reshape(n, n, L).sum(-1)

        y, _ = _windows(X, starts, L)
        return jax.vmap(one)(y, starts.astype(jnp.float32))

    return jax.vmap(one_model)(params)


def _evaluate(params, static, X: jax.Array, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forecasts ``(models, windows, n)`` for the windows at ``starts`` and the attention sums
    averaged over them, ``(models, n, n)``; chunks of one compiled size whatever the count."""
    preds, total = [], 0.0
    for lo in range(0, len(starts), _CHUNK):
        chunk = starts[lo: lo + _CHUNK]
        padded = np.concatenate([chunk, np.full(_CHUNK - len(chunk), chunk[-1], chunk.dtype)])
        pred, attention = _evaluate_chunk(params, static, X, jnp.asarray(padded))
        preds.append(np.asarray(pred)[:, : len(chunk)])
        total = total + np.asarray(attention, np.float64)[:, : len(chunk)].sum(axis=1)
    return np.concatenate(preds, axis=1), total / len(starts)


@eqx.filter_jit
def _epoch(params, static, opt_state, lr_scale, keys, X, n_train: int, batch_size: int, lr: jax.Array,
           weight_decay: jax.Array):
    """One epoch of every stacked model: shuffled minibatches of the training windows (a
    ``lax.scan``), AdamW with the step scaled by ``lr_scale``; returns the mean training loss.
    ``lr`` and ``weight_decay`` are arrays, so other values reuse the compiled epoch."""
    optimizer = optax.adamw(lr, weight_decay=weight_decay)
    n_batches = n_train // batch_size
    n, L = static.n_neurons, static.seq_len
    tokens = {name: batch_size * (n * L if name.startswith("encoder") else n)     # pooled by each batch norm
              for name in ("encoder_norm_attention", "encoder_norm_ff", "encoder_norm_out", "decoder_norm_local",
                           "decoder_norm_global", "decoder_norm_ff", "decoder_norm_out")}

    def one_model(p, state, scale, key):
        k_perm, k_drop = jax.random.split(key)
        order = jax.random.permutation(k_perm, n_train)[: n_batches * batch_size].reshape(n_batches, batch_size)

        def step(carry, xs):
            p, state = carry
            starts, k = xs
            y, target = _windows(X, starts, static.seq_len)

            def loss_fn(p):
                model = eqx.combine(p, static)
                pred, stats = jax.vmap(lambda *a: model._forecast_training(*a, "batch"), axis_name="batch")(
                    y, starts.astype(jnp.float32), jax.random.split(k, batch_size))
                stats = {name: (m[0], v[0]) for name, (m, v) in stats.items()}  # equal over the batch
                return jnp.mean((pred - target) ** 2), stats

            (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(p)
            updates, state = optimizer.update(grads, state, p)
            updates = jax.tree_util.tree_map(lambda u: scale * u, updates)
            # running statistics of batch norms: from the minibatch, not the optimiser
            new_p = _update_running(optax.apply_updates(p, updates), p, stats, tokens)
            return (new_p, state), loss

        (p, state), losses = jax.lax.scan(step, (p, state), (order, jax.random.split(k_drop, n_batches)))
        return p, state, jnp.mean(losses)

    return jax.vmap(one_model)(params, opt_state, lr_scale, keys)


@jax.jit
def _keep_best(best, params, improved):
    return jax.tree_util.tree_map(
        lambda b, p: jnp.where(improved.reshape((-1,) + (1,) * (p.ndim - 1)), p, b), best, params)


def _r2(pred: np.ndarray, target: np.ndarray) -> float:
    """Coefficient of determination averaged over neurons (scikit-learn's ``uniform_average``)."""
    ss_res = np.sum((target - pred) ** 2, axis=0)
    ss_tot = np.sum((target - target.mean(axis=0)) ** 2, axis=0)
    return float(np.mean(1.0 - ss_res / np.where(ss_tot > 0, ss_tot, np.nan)))


@dataclasses.dataclass(frozen=True)
class CausalformerFit:
    """What :func:`fit` returns.

    Attributes
    ----------
    model: the trained :class:`Causalformer`, at the epoch of lowest validation loss.
    history: per epoch, ``"train_loss"`` (mean over minibatches), ``"val_loss"`` and
        ``"learning_rate"`` (lists of floats).
    test_r2: $R^2$ of the forecasts on the test windows, averaged over neurons.
    best_epoch: the epoch (from 1) whose weights ``model`` holds.

    Examples
    --------
    >>> import jax, numpy as np
    >>> from lowrank_rnn import causal
    >>> X = np.random.default_rng(0).normal(size=(800, 4))
    >>> model = causal.Causalformer(4, seq_len=4, d_model=16, n_heads=2, d_qk=4, d_v=4, key=jax.random.key(0))
    >>> result = causal.fit(model, X, key=jax.random.key(1), epochs=2, progress=False)
    >>> len(result.history["val_loss"]), result.best_epoch in (1, 2)
    (2, True)
    """

    model: Causalformer
    history: dict
    test_r2: float
    best_epoch: int


@dataclasses.dataclass(frozen=True)
class EnsembleFit:
    """What :func:`fit_ensemble` returns: one entry per model, in the order given.

    Attributes
    ----------
    models: the trained models (each at its epoch of lowest validation loss).
    histories: each model's history (as :attr:`CausalformerFit.history`).
    test_r2: each model's test $R^2$, ``(models,)``.
    best_epochs: each model's best epoch, ``(models,)``.

    Examples
    --------
    >>> import jax, numpy as np
    >>> from lowrank_rnn import causal
    >>> X = np.random.default_rng(0).normal(size=(800, 4))
    >>> models = [causal.Causalformer(4, seq_len=4, d_model=16, n_heads=2, d_qk=4, d_v=4, key=k)
    ...           for k in jax.random.split(jax.random.key(0), 2)]
    >>> fits = causal.fit_ensemble(models, X, key=jax.random.key(1), epochs=1, progress=False)
    >>> len(fits.models), fits.test_r2.shape
    (2, (2,))
    """

    models: list
    histories: list
    test_r2: np.ndarray
    best_epochs: np.ndarray


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(np.asarray(a, np.float32)).tobytes())
    return h.hexdigest()[:16]


def _write_checkpoint(folder: Path, config: dict, arrays, state: dict) -> None:
    write_checkpoint(folder, "causalformer_checkpoint", config, arrays, state)


def _read_checkpoint(folder: Path, config: dict, arrays):
    return read_checkpoint(folder, "causalformer_checkpoint", config, arrays, what="Causalformer",
                           other_run=f"checkpoint: {folder} holds a checkpoint of a different run (models, data, key "
                           "or training settings differ); use another folder")


def _train(models: list[Causalformer], X: np.ndarray, *, key, epochs, batch_size, lr, weight_decay, patience,
           lr_patience, lr_factor, progress, checkpoint):
    """Fit the stacked ``models`` on the same data; return (models, histories, test R², best epochs)."""
    count, L = len(models), models[0].seq_len
    n_windows = X.shape[0] - L
    n_train = _split(n_windows)[0]
    bs = min(batch_size, n_train)
    params, static = _stack(models)
    opt_state = jax.vmap(optax.adamw(lr, weight_decay=weight_decay).init)(params)
    keys = jax.random.split(key, count)
    Xj = jnp.asarray(X)
    val_starts, test_starts = _part_starts(n_windows, "val"), _part_starts(n_windows, "test")
    val_target, test_target = X[val_starts + L], X[test_starts + L]

    best = params
    lr_scale = np.ones(count)
    best_val = np.full(count, np.inf)
    plateau_best = np.full(count, np.inf)
    since_best = np.zeros(count, int)
    since_plateau = np.zeros(count, int)
    best_epoch = np.zeros(count, int)
    stopped = np.zeros(count, bool)
    histories = [{"train_loss": [], "val_loss": [], "learning_rate": []} for _ in range(count)]
    start = 0
    config = None
    if checkpoint is not None:
        key_words = np.asarray(jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
                               else key).ravel().tolist()
        config = {"models": count, "n_neurons": models[0].n_neurons, "seq_len": L, "d_model": models[0].d_model,
                  "n_heads": models[0].n_heads, "dropout": models[0].dropout,
                  "query_position": models[0].query_position, "norm": models[0].norm,
                  "initial_weights_sha256": _digest(*jax.tree_util.tree_leaves(params)),
                  "data_shape": list(X.shape), "data_sha256": _digest(X), "key": [int(w) for w in key_words],
                  "epochs": epochs, "batch_size": bs, "lr": lr, "weight_decay": weight_decay,
                  "patience": patience, "lr_patience": lr_patience, "lr_factor": lr_factor}
        saved = _read_checkpoint(checkpoint, config, (params, opt_state, best))
        if saved is not None:
            (params, opt_state, best), meta = saved
            start, histories = int(meta["epoch"]), meta["histories"]
            lr_scale, best_val, plateau_best = (np.asarray(meta[k], float) for k in ("lr_scale", "best_val",
                                                                                      "plateau_best"))
            since_best, since_plateau, best_epoch = (np.asarray(meta[k], int) for k in ("since_best", "since_plateau",
                                                                                         "best_epoch"))
            stopped = np.asarray(meta["stopped"], bool)

    bar = tqdm(total=epochs, initial=start, desc="Causalformer", unit="epoch", leave=False) if progress else None
    try:
        for epoch in range(start + 1, epochs + 1):
            if stopped.all():
                break
            epoch_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, epoch)
            params, opt_state, train_loss = _epoch(params, static, opt_state, jnp.asarray(lr_scale, jnp.float32),
                                                   epoch_keys, Xj, n_train, bs, jnp.float32(lr),
                                                   jnp.float32(weight_decay))
            train_loss = np.asarray(train_loss, float)
            with np.errstate(over="ignore", invalid="ignore"):   # a diverging run is reported below
                val_loss = np.mean((_evaluate(params, static, Xj, val_starts)[0] - val_target) ** 2, axis=(1, 2))
            bad = ~stopped & ~(np.isfinite(train_loss) & np.isfinite(val_loss))
            if bad.any():
                k = int(np.argmax(bad))
                which = f"model {k}: " if count > 1 else ""
                raise DivergenceError(f"Causalformer fit diverged at epoch {epoch} ({which}training loss "
                                      f"{train_loss[k]}, validation loss {val_loss[k]}); lower lr", time=epoch)
            active = ~stopped
            for k in np.flatnonzero(active):
                histories[k]["train_loss"].append(float(train_loss[k]))
                histories[k]["val_loss"].append(float(val_loss[k]))
                histories[k]["learning_rate"].append(float(lr * lr_scale[k]))
            improved = active & (val_loss < best_val)
            best_val = np.where(improved, val_loss, best_val)
            best_epoch = np.where(improved, epoch, best_epoch)
            since_best = np.where(improved, 0, since_best + active)
            best = _keep_best(best, params, jnp.asarray(improved))
            # learning rate halved (lr_factor) after more than lr_patience epochs without improvement
            better = active & (val_loss < plateau_best * (1.0 - _PLATEAU_THRESHOLD))
            plateau_best = np.where(better, val_loss, plateau_best)
            since_plateau = np.where(better, 0, since_plateau + active)
            cut = since_plateau > lr_patience
            lr_scale = np.where(cut, lr_scale * lr_factor, lr_scale)
            since_plateau = np.where(cut, 0, since_plateau)
            stopped = stopped | (since_best >= patience)
            if checkpoint is not None:
                _write_checkpoint(checkpoint, config, (params, opt_state, best), {
                    "epoch": epoch, "histories": histories, "lr_scale": lr_scale.tolist(),
                    "best_val": best_val.tolist(), "plateau_best": plateau_best.tolist(),
                    "since_best": since_best.tolist(), "since_plateau": since_plateau.tolist(),
                    "best_epoch": best_epoch.tolist(), "stopped": stopped.tolist()})
            if bar is not None:
                bar.set_postfix(train=f"{np.mean(train_loss):.4g}", val=f"{np.mean(val_loss):.4g}",
                                lr=f"{lr * np.max(lr_scale):.2g}")
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    pred = _evaluate(best, static, Xj, test_starts)[0]
    r2 = np.array([_r2(pred[k], test_target) for k in range(count)])
    return _unstack(best, static, count), histories, r2, best_epoch


def _fit_arguments(X, model, key, epochs, batch_size, lr, weight_decay, patience, lr_patience, lr_factor,
                   progress, checkpoint) -> dict:
    X = _check_data(X, model)
    if not isinstance(progress, (bool, np.bool_)):
        raise ArgumentTypeError(f"progress must be True or False, got {type(progress).__name__}")
    return dict(X=X, key=prng_key("key", key), epochs=positive_int("epochs", epochs),
                batch_size=positive_int("batch_size", batch_size),
                lr=real_scalar("lr", lr, low=0.0, low_open=True),
                weight_decay=real_scalar("weight_decay", weight_decay, low=0.0),
                patience=positive_int("patience", patience), lr_patience=positive_int("lr_patience", lr_patience, low=0),
                lr_factor=real_scalar("lr_factor", lr_factor, low=0.0, high=1.0, low_open=True),
                progress=bool(progress),
                checkpoint=None if checkpoint is None else output_folder(checkpoint, name="checkpoint"))


def fit(model: Causalformer, X, *, key, epochs: int = 50, batch_size: int = 16, lr: float = 5e-4,
        weight_decay: float = 1e-3, patience: int = 10, lr_patience: int = 3, lr_factor: float = 1.0,
        progress: bool = True, checkpoint=None) -> CausalformerFit:
    """Return the :class:`CausalformerFit` of ``model`` trained to forecast the next step of ``X``.

    The schedule of Lu et al. 2023 (arXiv 2311.06928). ``X`` ``(time, n)`` is cut into windows
    ``X[s : s + L]`` with target ``X[s + L]`` (stride 1); the first 60 % of the windows train, the
    next 20 % validate and the last 20 % test, in time order. Each epoch shuffles the training
    windows into minibatches of ``batch_size`` (the remainder is left out of that epoch) and
    minimises the mean squared error of the forecast,
    $\\frac{1}{Bn}\\sum_{b,i} (\\hat y_{b,i} - y_{b,i})^2$, with AdamW (learning rate ``lr``,
    decoupled weight decay ``weight_decay``; dropout on). The learning rate is multiplied by
    ``lr_factor`` once the validation loss has not improved (by a relative $10^{-4}$) for more than
    ``lr_patience`` epochs; the default ``lr_factor=1`` keeps it constant, which is what the
    authors' published runs did: their plateau scheduler (factor 0.5, patience 3) acts only when
    told that an epoch ended, and their training loop never tells it (on their own $N = 5$
    network constant or halved made no difference to the attention AUROC beyond the spread of
    the seeds); ``lr_factor=0.5`` halves it as their scheduler was meant to. Training stops once the validation loss has not improved for
    ``patience`` epochs or after ``epochs`` (default 50, the authors' limit). The returned model
    holds the weights of the best validation epoch. One epoch is one compiled ``lax.scan`` over the minibatches; the
    shuffle and dropout of epoch $e$ come from ``jax.random.fold_in(key, e)``, so a run resumed
    from ``checkpoint`` equals an uninterrupted one.

    Parameters
    ----------
    model: the :class:`Causalformer` to train (its ``n_neurons`` must equal ``X.shape[1]``).
    X: the signals, ``(time, n)``, finite, at least ``seq_len + 5`` steps (z-scored per neuron, as
        the paper's input, is advisable).
    key: ``jax.random`` key of the shuffles and dropout.
    progress: show a progress bar over epochs.
    checkpoint: optional folder; the state is written there (atomically) after every epoch, and a
        matching checkpoint found there is resumed.

    Returns
    -------
    :class:`CausalformerFit`. A non-finite loss raises :class:`~lowrank_rnn.DivergenceError`.

    Examples
    --------
    >>> import jax, numpy as np
    >>> from lowrank_rnn import causal
    >>> X = np.random.default_rng(0).normal(size=(800, 4))
    >>> model = causal.Causalformer(4, seq_len=4, d_model=16, n_heads=2, d_qk=4, d_v=4, key=jax.random.key(0))
    >>> result = causal.fit(model, X, key=jax.random.key(1), epochs=3, progress=False)
    >>> len(result.history["train_loss"]), isinstance(result.model, causal.Causalformer)
    (3, True)
    """
    if not isinstance(model, Causalformer):
        raise ArgumentTypeError(f"model must be a Causalformer, got {type(model).__name__}")
    args = _fit_arguments(X, model, key, epochs, batch_size, lr, weight_decay, patience, lr_patience, lr_factor,
                          progress, checkpoint)
    models, histories, r2, best_epochs = _train([model], args.pop("X"), **args)
    return CausalformerFit(models[0], histories[0], float(r2[0]), int(best_epochs[0]))


def fit_ensemble(models, X, *, key, epochs: int = 50, batch_size: int = 16, lr: float = 5e-4,
                 weight_decay: float = 1e-3, patience: int = 10, lr_patience: int = 3, lr_factor: float = 1.0,
                 progress: bool = True, checkpoint=None) -> EnsembleFit:
    """Return the :class:`EnsembleFit` of several ``models`` (e.g. initialisation seeds) trained
    together on ``X``, each exactly as :func:`fit` would, in one ``vmap``.

    Each model keeps its own learning-rate schedule and early stopping (a stopped model's best
    weights no longer change); model $k$ draws its shuffles and dropout from
    ``jax.random.split(key, len(models))[k]``. Lu et al. 2023 (arXiv 2311.06928) average the
    attention scores of ten initialisation seeds: pass the result's ``models`` to
    :func:`attention_scores`.

    Parameters
    ----------
    models: a list of :class:`Causalformer` built with the same arguments (different keys).
    X, key, epochs, batch_size, lr, weight_decay, patience, lr_patience, lr_factor, progress,
    checkpoint: as in :func:`fit`.

    Examples
    --------
    >>> import jax, numpy as np
    >>> from lowrank_rnn import causal
    >>> X = np.random.default_rng(0).normal(size=(800, 4))
    >>> models = [causal.Causalformer(4, seq_len=4, d_model=16, n_heads=2, d_qk=4, d_v=4, key=k)
    ...           for k in jax.random.split(jax.random.key(0), 2)]
    >>> fits = causal.fit_ensemble(models, X, key=jax.random.key(1), epochs=2, progress=False)
    >>> causal.attention_scores(fits.models, X).shape
    (4, 4)
    """
    models = _models_of(models, "models")
    args = _fit_arguments(X, models[0], key, epochs, batch_size, lr, weight_decay, patience, lr_patience,
                          lr_factor, progress, checkpoint)
    trained, histories, r2, best_epochs = _train(models, args.pop("X"), **args)
    return EnsembleFit(trained, histories, r2, np.asarray(best_epochs))


def attention_scores(model, X, *, part: str = "test") -> np.ndarray:
    """Return the causal scores $S$ ``(n, n)`` read from the decoder's global cross-attention;
    $S_{ij}$ scores the influence of neuron $j$ on neuron $i$.

    The readout of Lu et al. 2023 (arXiv 2311.06928): for each window of ``part`` of ``X`` (the
    windows and the 60/20/20 time-ordered split of :func:`fit`; ``"train"``, ``"val"``,
    ``"test"`` or ``"all"``), the global cross-attention weights $A_{h,i,(j,l)}$ (head $h$, query
    of neuron $i$, encoded token $l$ of neuron $j$) are summed over heads and over the block of
    neuron $j$'s $L$ tokens, then averaged over windows:
    $\\tilde S_{ij} = \\langle \\sum_{h,l} A_{h,i,(j,l)} \\rangle$. Rows are normalised,
    $S_{ij} = \\tilde S_{ij} / \\sum_k \\tilde S_{ik}$, and the diagonal is set to 0. Given a list
    of models (initialisation seeds, e.g. :attr:`EnsembleFit.models`), $S$ is the mean of their
    row-normalised scores, as the authors average ten seeds.

    Examples
    --------
    >>> import jax, numpy as np
    >>> from lowrank_rnn import causal
    >>> X = np.random.default_rng(0).normal(size=(800, 4))
    >>> model = causal.Causalformer(4, seq_len=4, d_model=16, n_heads=2, d_qk=4, d_v=4, key=jax.random.key(0))
    >>> S = causal.attention_scores(model, X)
    >>> S.shape, float(np.trace(S))
    ((4, 4), 0.0)
    """
    models = _models_of(model, "model")
    if part not in ("train", "val", "test", "all"):
        raise ArgumentError(f"part must be 'train', 'val', 'test' or 'all', got {part!r}")
    X = _check_data(X, models[0])
    params, static = _stack(models)
    starts = _part_starts(X.shape[0] - models[0].seq_len, part)
    raw = _evaluate(params, static, jnp.asarray(X), starts)[1]
    S = (raw / raw.sum(axis=-1, keepdims=True)).mean(axis=0)
    np.fill_diagonal(S, 0.0)
    return S
