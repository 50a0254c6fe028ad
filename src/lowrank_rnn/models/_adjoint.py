"""A batch of trials of a pure low-rank tanh network, with a hand-written adjoint for training.

This is :meth:`LowRankRNN.step <lowrank_rnn.models.LowRankRNN.step>` scanned over time (the same
update, rearranged), whose gradient is computed by the discrete adjoint instead of automatic
differentiation of the scan. With ``r_t = tanh(x_t)``, ``kappa_t = n^T r_t / N`` and the noise
``eps_t = sigma sqrt(alpha) xi_t``,

    x_{t+1} = (1 - alpha) x_t + alpha (m kappa_t + I (s * u_t)) + eps_t,    z_t = (W^T r_{t+1} / N) * s_out.

For a loss L(z) with ``g_t = dL/dz_t``, the adjoints ``a_t = dL/dx_t`` run backwards from
``a_{T+1} = 0``:

    c_t = alpha m^T a_{t+1},
    a_t = (1 - alpha) a_{t+1} + (1 - r_t^2) * (W (s_out g_{t-1}) + n c_t) / N    (no g term at t = 0),

and the parameter gradients accumulate along the way:

    dL/dm = alpha sum_t a_{t+1} kappa_t^T,    dL/dn = sum_t r_t c_t^T / N,
    dL/dI = alpha sum_t a_{t+1} (s * u_t)^T,  dL/ds = alpha sum_t (I^T a_{t+1}) * u_t,
    dL/dW = sum_t r_{t+1} (s_out g_t)^T / N,  dL/ds_out = sum_t (W^T r_{t+1} / N) * g_t,
    dL/dh0 = sum over trials of a_0.

The forward scan is the library's integrator (:func:`lowrank_rnn.dynamics.integrate`, with
the update written ``(1 - alpha) x + alpha F``). Each step of either scan is a few small matrix products on arrays that stay in cache and one
element-wise pass; the noise of a step is drawn inside the step. Only ``r_t`` is stored between
the two scans. On a CPU, XLA runs this several times faster than the differentiated scan (whose
backward step recomputes the element-wise chain inside several small products, and which stores
and re-reads every intermediate). The sums over trials behind dL/dm, dL/dn, dL/dI and dL/dW
are matrix products (:func:`_gram_t`). Tests check outputs and gradients against
:func:`jax.grad` of the step-by-step scan.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from .._tanh import tanh
from ..dynamics import Euler, SaveAt, VectorField, WhiteNoise, integrate


_SMALL = 8  # products over at most this many columns are written element-wise (XLA fuses them)


def _outer(c: jax.Array, vT: jax.Array) -> jax.Array:
    """Return ``c @ vT`` for ``c`` (B, R) and the transposed vectors ``vT`` (R, N): (B, N).

    Rows of ``vT`` are contiguous, so the element-wise form (small R) vectorises along N.
    """
    if vT.shape[0] == 0:
        return jnp.zeros(c.shape[:-1] + (vT.shape[1],), c.dtype)
    if vT.shape[0] <= _SMALL:
        out = c[..., 0:1] * vT[0]
        for r in range(1, vT.shape[0]):
            out = out + c[..., r:r + 1] * vT[r]
        return out
    return c @ vT


def _gram_t(a: jax.Array, c: jax.Array) -> jax.Array:
    """Return ``c.T @ a`` for ``a`` (B, N) and ``c`` (B, P): the transpose (P, N) of ``a.T @ c``.

    A matrix product whose output rows are contiguous along N. Written instead as P sums over the
    batch axis, XLA:CPU (without YNNPACK's reduce fusion, which jax-ml/jax#39103 turns off) emits
    column reductions that cost about 3x more per minibatch from P = 3 on (the Mante recipe has
    P = 5); as P separate sums it is as fast but compiles P more kernels.
    """
    return c.T @ a


class _LowRankField(VectorField):
    """``F = m kappa + I (s * u)`` with ``kappa = n^T r / N`` of a batch ``(B, N)``; the state
    carries ``r = tanh(x)``, and ``kappa`` comes back as the step's extra (the adjoint stores it).
    ``mT`` and ``inputs_vT`` are transposed (rows contiguous)."""

    def __init__(self, mT, n, inputs_vT):
        self.mT, self.n, self.inputs_vT = mT, n, inputs_vT

    def carried(self, x):
        return tanh(x)

    def drive(self, x, r, du):
        kappa = (r @ self.n) / self.n.shape[0]
        drive = _outer(kappa, self.mT)
        if self.inputs_vT.shape[0]:
            drive = drive + du @ self.inputs_vT  # a product, not the fused form: faster for K >= 3 on a CPU
        return drive, kappa


_CONVEX = Euler(convex=True)


def _forward(m, n, inputs_v, inputs_s, readout_v, h0, u, noise_state, alpha, scale, source, *, residuals: bool):
    """The forward scan of :func:`lowrank_trials` by :func:`~lowrank_rnn.dynamics.integrate`:
    the raw readouts ``W^T r_{t+1} / N`` ``(T, B, O)``, and with ``residuals`` also ``r_{t+1}``
    and ``kappa_t``."""
    B, N = u.shape[1], m.shape[0]
    x0 = jnp.broadcast_to(h0, (B, N))
    field = _LowRankField(m.T, n, inputs_v.T)
    noise = None if source is None else WhiteNoise(scale=scale, state=noise_state, source=source)

    def save(x, r, kappa):
        z_raw = (r @ readout_v) / N
        return (r, kappa, z_raw) if residuals else z_raw

    _, saved = integrate(field, x0, u * inputs_s, alpha=alpha, solver=_CONVEX, noise=noise, saveat=SaveAt(fn=save))
    return saved


@partial(jax.custom_vjp, nondiff_argnums=(9, 10, 11))
def lowrank_trials(m, n, inputs_v, inputs_s, readout_v, readout_s, h0, u, noise, alpha, scale, source):
    """Return the readouts ``(T, B, O)`` of the trials ``u`` ``(T, B, K)`` (time-major).

    ``noise`` is the state of a :class:`~lowrank_rnn.dynamics.WhiteNoise` drawn by ``source`` (a
    :class:`~lowrank_rnn.dynamics.NoiseSource`, or None for no noise): the key's words
    (``"hash"``) or the key (``"threefry"``); ``scale`` is ``sigma sqrt(alpha)``. See the module
    docstring.
    """
    z_raw = _forward(m, n, inputs_v, inputs_s, readout_v, h0, u, noise, alpha, scale, source, residuals=False)
    return z_raw * readout_s


def _fwd(m, n, inputs_v, inputs_s, readout_v, readout_s, h0, u, noise, alpha, scale, source):
    params = (m, n, inputs_v, inputs_s, readout_v, readout_s)
    r_out, kappas, z_raw = _forward(m, n, inputs_v, inputs_s, readout_v, h0, u, noise, alpha, scale, source,
                                    residuals=True)
    return z_raw * readout_s, (params, h0, u, r_out, kappas, z_raw)


def _bwd(alpha, scale, source, res, g):
    params, h0, u, r_out, kappas, z_raw = res
    m, n, inputs_v, inputs_s, readout_v, readout_s = params
    N, R, K, O = m.shape[0], m.shape[1], inputs_v.shape[1], readout_v.shape[1]
    B = u.shape[1]
    gs = g * readout_s  # (T, B, O)
    nT, readout_vT = n.T, readout_v.T

    def body(carry, inp):
        a_next, acc_a, acc_r = carry          # a_{j+2}; sums for (m | I) and (n | W)
        g_j, r_j1, kappa_j, u_j = inp         # g_j, r_{j+1}, kappa_j, u_j
        c = alpha * (a_next @ m)              # c_{j+1}
        a = (1.0 - alpha) * a_next + (1.0 - r_j1 * r_j1) * (_outer(g_j, readout_vT) + _outer(c, nT)) / N
        acc_a = acc_a + _gram_t(a, jnp.concatenate([kappa_j, u_j], axis=1))      # (R + K, N)
        acc_r = acc_r + _gram_t(r_j1, jnp.concatenate([c, g_j], axis=1))       # (R + O, N)
        du = alpha * (a @ inputs_v) * inputs_s if K else jnp.zeros((B, 0), a.dtype)
        return (a, acc_a, acc_r), du

    init = (jnp.zeros((B, N), g.dtype), jnp.zeros((R + K, N), g.dtype), jnp.zeros((R + O, N), g.dtype))
    (a_1, acc_a, acc_r), d_u = jax.lax.scan(body, init, (gs, r_out, kappas, u), reverse=True)
    acc_a, acc_r = acc_a.T, acc_r.T
    r_0 = tanh(h0)
    c_0 = alpha * (a_1 @ m)                                   # (B, R)
    a_0 = (1.0 - alpha) * a_1 + (1.0 - r_0 * r_0) * _outer(c_0, nT) / N
    d_m = alpha * acc_a[:, :R]
    acc_u = alpha * acc_a[:, R:]
    d_inputs_v = acc_u * inputs_s
    d_inputs_s = jnp.sum(inputs_v * acc_u, axis=0)
    d_n = (acc_r[:, :R] + r_0[:, None] * jnp.sum(c_0, axis=0)) / N
    d_readout_v = acc_r[:, R:] / N
    d_readout_s = jnp.sum(z_raw * g, axis=(0, 1))
    d_h0 = jnp.sum(a_0, axis=0)
    return d_m, d_n, d_inputs_v, d_inputs_s, d_readout_v, d_readout_s, d_h0, d_u, None


lowrank_trials.defvjp(_fwd, _bwd)
