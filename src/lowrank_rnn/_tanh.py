"""``tanh`` for the library: on the CPU in float32, the same values as ``jnp.tanh``, computed faster.

XLA:CPU evaluates float32 ``tanh`` with a rational approximation (odd degree-13 numerator over an
even degree-6 denominator in x, ``x`` itself where ``|x| < 0.0004``, ``sign(x)`` where
``|x| >= 7.9988117``). Written as ordinary multiply-adds, two selects and a division, the same
arithmetic fuses with the operations around it and vectorizes, where XLA's own ``tanh`` is a
separate, slower kernel. A low-rank simulation step is mostly ``tanh``, so this sets the speed of
``simulate`` (measured in benchmarks/README.md, "Simulation throughput").

:func:`tanh` gives **bit-for-bit** the values of ``jnp.tanh`` on the CPU for every float32 input
(checked over all 2^32 bit patterns with JAX 0.10.2; ``tests/test_tanh.py`` checks a dense sample
of them, the saturation and small-argument boundaries included, so a change of XLA's
approximation is noticed). That rests on its multiply-adds being compiled as fused multiply-adds,
as in XLA's own kernel: they are within a compiled loop (and a call outside ``jit`` is compiled as
one). Its derivative is ``jnp.tanh``'s rule, ``(g + g tanh x)(1 - tanh x)``. A whole program using
it can still differ from one using ``jnp.tanh`` in the last bit of some results, because XLA fuses
the surrounding operations differently (a batched low-rank simulation: 1-ulp differences in some
states, latents within 2e-5 after 200 steps). On other platforms and for other dtypes it is
``jnp.tanh`` (``jax.lax.platform_dependent`` picks the branch when the program is lowered).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# coefficients of XLA:CPU's float32 approximation tanh(x) ~ x P(x^2) / Q(x^2), lowest order first:
# x P(x^2) holds x^1, x^3, ..., x^13 and Q(x^2) x^0, x^2, x^4, x^6
_P = (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
      -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16)
_Q = (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06)
_SMALL = np.float32(0.0004)  # below: tanh(x) = x to float32 precision
_SATURATE = np.float32(7.9988117)  # from here on: tanh(x) = sign(x) in float32


def _horner(coefficients, x2):
    out = jnp.float32(coefficients[-1])
    for c in coefficients[-2::-1]:
        out = out * x2 + jnp.float32(c)
    return out


@jax.jit
def _cpu_tanh(x: jax.Array) -> jax.Array:
    # jitted so that a call outside jit is compiled as one fused loop too: its multiply-adds are
    # then fused multiply-adds, as in XLA's own tanh (op by op they are not, and an ulp can differ)
    if x.dtype != jnp.float32:
        return jnp.tanh(x)
    ax = jnp.abs(x)
    x2 = x * x
    rational = x * _horner(_P, x2) / _horner(_Q, x2)
    return jnp.where(ax < _SMALL, x, jnp.where(ax >= _SATURATE, jnp.copysign(jnp.float32(1.0), x), rational))


@jax.custom_jvp
def _tanh(x: jax.Array) -> jax.Array:
    return jax.lax.platform_dependent(x, cpu=_cpu_tanh, default=jnp.tanh)


@_tanh.defjvp
def _tanh_jvp(primals, tangents):
    (x,), (g,) = primals, tangents
    ans = _tanh(x)
    return ans, (g + g * ans) * (1 - ans)  # jnp.tanh's rule, operation for operation


def tanh(x) -> jax.Array:
    """Return ``tanh(x)`` elementwise: ``jnp.tanh``'s values, faster on the CPU (module docstring)."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        return jnp.tanh(x)
    return _tanh(x)
