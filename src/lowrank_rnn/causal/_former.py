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

Departure from the authors' code: layer normalisation per token replaces their batch
normalisation, whose batch statistics pool tokens of all neurons during training and so would
break constraint 1.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

from .._checks import positive_int, prng_key, real_scalar

#: steps per unit of the value–time embedding's time input (the authors feed step / 1000)
TIME_SCALE = 1000.0


def _dropout(x: jax.Array, rate: float, key: jax.Array | None) -> jax.Array:
    if key is None or rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
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

    def __call__(self, x: jax.Array, key: jax.Array | None) -> jax.Array:
        k1, k2 = (None, None) if key is None else tuple(jax.random.split(key))
        h = _dropout(jax.nn.gelu(self.inner(x), approximate=False), self.dropout, k1)
        return _dropout(self.outer(h), self.dropout, k2)


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

    $$e_{il} = W_{vt} [y_{li},\\ (t_0 + l)/1000] + b_{vt} + \\tau(l) + E_i,$$

    a value–time embedding, a Time2Vec position embedding
    $\\tau(l) = [\\omega_0 l + \\varphi_0,\\ \\sin(\\omega_k l + \\varphi_k)_{k=1}^{d-1}]$ and a
    learned neuron embedding $E_i$. The encoder (pre-norm, residual) applies *local*
    self-attention, neuron $i$'s $L$ tokens among themselves, then a token-wise feed-forward
    block ($4d$ hidden units, GELU). The decoder's $n$ query tokens are embedded the same way with
    value $0$ at position $L$ and time $t_0 + L$; with no self-attention they pass through a local
    cross-attention (query $i$ over neuron $i$'s encoded tokens), a global cross-attention (query
    $i$ over all $nL$ encoded tokens) and a feed-forward block; a linear head gives $\\hat y_{L, i}$.
    Attention is scaled dot-product, $\\mathrm{softmax}(QK^\\top/\\sqrt{d_{qk}})V$, with
    ``n_heads`` heads. Layer normalisation is per token, and dropout acts on the embeddings and
    the feed-forward blocks while training (when a ``key`` is passed).

    Parameters
    ----------
    n_neurons: number of signals $n$.
    seq_len: window length $L$ (steps of history seen).
    d_model: token width $d$.
    n_heads, d_qk, d_v: heads and per-head query/key and value sizes of every attention.
    d_ff: hidden width of the feed-forward blocks (``4 * d_model`` when ``None``).
    dropout: dropout rate while training, in $[0, 1)$.
    key: ``jax.random`` key of the initial weights.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> model = Causalformer(3, seq_len=5, d_model=16, n_heads=2, d_qk=4, d_v=4, key=jax.random.key(0))
    >>> model(jnp.zeros((5, 3))).shape              # the next step of the 3 signals
    (3,)
    """

    value_time: _Dense
    position_linear: jax.Array
    position_periodic: jax.Array
    neuron_embedding: jax.Array
    encoder_norm_attention: _LayerNorm
    encoder_attention: _Attention
    encoder_norm_ff: _LayerNorm
    encoder_ff: _FeedForward
    encoder_norm_out: _LayerNorm
    decoder_norm_local: _LayerNorm
    decoder_local: _Attention
    decoder_norm_global: _LayerNorm
    decoder_global: _Attention
    decoder_norm_ff: _LayerNorm
    decoder_ff: _FeedForward
    decoder_norm_out: _LayerNorm
    head: _Dense
    n_neurons: int = eqx.field(static=True)
    seq_len: int = eqx.field(static=True)
    d_model: int = eqx.field(static=True)
    dropout: float = eqx.field(static=True)

    def __init__(self, n_neurons: int, *, seq_len: int = 10, d_model: int = 100, n_heads: int = 10,
                 d_qk: int = 8, d_v: int = 8, d_ff: int | None = None, dropout: float = 0.1,
                 key: jax.Array):
        n_neurons = positive_int("n_neurons", n_neurons)
        seq_len = positive_int("seq_len", seq_len)
        d_model = positive_int("d_model", d_model, low=2)
        n_heads = positive_int("n_heads", n_heads)
        d_qk = positive_int("d_qk", d_qk)
        d_v = positive_int("d_v", d_v)
        d_ff = 4 * d_model if d_ff is None else positive_int("d_ff", d_ff)
        dropout = real_scalar("dropout", dropout, low=0.0, high=1.0, high_open=True)
        key = prng_key("key", key)
        ks = jax.random.split(key, 9)
        self.value_time = _Dense(2, d_model, key=ks[0])
        self.position_linear = jax.random.normal(ks[1], (2,))          # omega_0, phi_0
        self.position_periodic = jax.random.normal(ks[2], (2, d_model - 1))  # omega_k, phi_k
        self.neuron_embedding = jax.random.normal(ks[3], (n_neurons, d_model))
        self.encoder_norm_attention = _LayerNorm(d_model)
        self.encoder_attention = _Attention(d_model, n_heads, d_qk, d_v, key=ks[4])
        self.encoder_norm_ff = _LayerNorm(d_model)
        self.encoder_ff = _FeedForward(d_model, d_ff, dropout, key=ks[5])
        self.encoder_norm_out = _LayerNorm(d_model)
        self.decoder_norm_local = _LayerNorm(d_model)
        self.decoder_local = _Attention(d_model, n_heads, d_qk, d_v, key=ks[6])
        self.decoder_norm_global = _LayerNorm(d_model)
        self.decoder_global = _Attention(d_model, n_heads, d_qk, d_v, key=ks[7])
        self.decoder_norm_ff = _LayerNorm(d_model)
        self.decoder_ff = _FeedForward(d_model, d_ff, dropout, key=ks[8])
        self.decoder_norm_out = _LayerNorm(d_model)
        self.head = _Dense(d_model, 1, key=jax.random.fold_in(key, 9))
        self.n_neurons, self.seq_len, self.d_model, self.dropout = n_neurons, seq_len, d_model, dropout

    @property
    def n_heads(self) -> int:
        """Number of attention heads."""
        return self.decoder_global.n_heads

    def _embed(self, values: jax.Array, positions: jax.Array, times: jax.Array) -> jax.Array:
        """Token embeddings ``(n, m, d)`` of values ``(n, m)`` at positions and times ``(m,)``."""
        w, b = self.value_time.weight, self.value_time.bias
        value_time = values[..., None] * w[0] + (times / TIME_SCALE)[None, :, None] * w[1] + b
        linear = self.position_linear[0] * positions + self.position_linear[1]
        periodic = jnp.sin(positions[:, None] * self.position_periodic[0] + self.position_periodic[1])
        position = jnp.concatenate([linear[:, None], periodic], axis=-1)
        return value_time + position[None] + self.neuron_embedding[:, None, :]

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
        L = self.seq_len
        positions = jnp.arange(L, dtype=y.dtype)
        tokens = self._embed(y.T, positions, t0 + positions)
        k_emb, k_ff = (None, None) if key is None else tuple(jax.random.split(key))
        tokens = _dropout(tokens, self.dropout, k_emb)

        def local(x):
            xn = self.encoder_norm_attention(x)
            return x + self.encoder_attention(xn, xn)[0]

        h = jax.vmap(local)(tokens)
        h = h + self.encoder_ff(self.encoder_norm_ff(h), k_ff)
        return self.encoder_norm_out(h)

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
        n, L = self.n_neurons, self.seq_len
        dtype = encoded.dtype
        position = jnp.full((1,), L, dtype)
        queries = self._embed(jnp.zeros((n, 1), dtype), position, t0 + position)[:, 0]   # (n, d)
        k_emb, k_ff = (None, None) if key is None else tuple(jax.random.split(key))
        q = _dropout(queries, self.dropout, k_emb)
        qn = self.decoder_norm_local(q)
        local = jax.vmap(lambda qi, ei: self.decoder_local(qi[None], ei)[0][0])(qn, encoded)
        q = q + local
        after_local = q
        out, weights = self.decoder_global(self.decoder_norm_global(q), encoded.reshape(n * L, -1))
        q = q + out
        q = q + self.decoder_ff(self.decoder_norm_ff(q), k_ff)
        prediction = self.head(self.decoder_norm_out(q))[:, 0]
        return DecoderTrace(after_local, weights, prediction)

    def __call__(self, y, t0=0.0, *, key: jax.Array | None = None) -> jax.Array:
        """Return the forecast ``(n_neurons,)`` of the step after the window ``y``
        ``(seq_len, n_neurons)`` whose first step has index ``t0``; ``key`` switches dropout on."""
        return self._forecast(jnp.asarray(y, jnp.float32), jnp.asarray(t0, jnp.float32), key)

    @eqx.filter_jit
    def _forecast(self, y: jax.Array, t0: jax.Array, key: jax.Array | None) -> jax.Array:
        k_enc, k_dec = (None, None) if key is None else tuple(jax.random.split(key))
        return self._decode(self._encode(y, t0, k_enc), t0, k_dec).prediction
