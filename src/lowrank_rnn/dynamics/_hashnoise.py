"""Standard normal draws for the network noise of training runs, cheaper than ``jax.random.normal``.

Training draws one ``(batch, N)`` vector per time step (for the published RDM recipe, 0.4 billion
numbers in 20 epochs); on a CPU the Threefry generator behind ``jax.random.normal`` then costs more
than the network itself. :func:`hash_normal` keeps ``jax.random``'s keys and determinism but draws
the bits with a counter-based integer hash:

    u_i = H(H(i xor k0) xor k1),   H = "lowbias32" (C. Wellons' 32-bit integer hash, a bijection),

with ``(k0, k1)`` two 32-bit words hashed from the key's data (:func:`key_words`) and ``i`` the
element's index;
then ``z_i = sqrt(2) erfinv(v_i)`` with ``v_i`` the top 23 bits of ``u_i`` mapped to the open
interval (-1, 1), the same inverse-CDF transform (and the same 23-bit resolution, so the same
tails, |z| < 5.3) as ``jax.random.normal``. ``erfinv`` is M. Giles' single-precision
approximation ("Approximating the erfinv function", GPU Computing Gems, 2011), written with
``ln((1 - v)(1 + v))``, which XLA evaluates faster on a CPU than its own ``erf_inv``; that
logarithm is taken from the float's exponent and a degree-7 polynomial of its mantissa
(:func:`log_normal_float`), cheaper than XLA's general ``log``. Absolute error below 1e-6 at
every point of the grid (all 2^23 values of ``v``, checked against SciPy in the tests). Same key,
same draws, on every machine.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import ArgumentError

_SQRT2 = float(np.sqrt(2.0))


def _lowbias32(x: jax.Array) -> jax.Array:
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
            -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
         -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


# ln(m) for m in [1, 2) as a polynomial in m - 1.5: a degree-7 Chebyshev fit, absolute error 5.9e-7
# in float32 (coefficients from least squares on 2e5 points; lowest degree first)
_LN_MANTISSA = (0.4054652342, 0.6666663022, -0.2222401602, 0.098786524, -0.0489959574, 0.0260157272,
                -0.0172077992, 0.0101189017)
_LN2 = float(np.log(2.0))


def log_normal_float(q: jax.Array) -> jax.Array:
    """Return ``ln q`` for positive normal float32 ``q`` (no zeros, infinities, NaN or subnormals):
    ``ln q = e ln 2 + P(m - 1.5)`` with ``q = 2^e m``, ``m`` in [1, 2), P the degree-7 fit above.

    Absolute error below ``6e-7 + 1.2e-7 |ln q|`` (the fit, plus float32 rounding of the result),
    so below 1e-6 on [2^-22, 1], where the noise generator uses it. There it replaces XLA's ``log``,
    whose handling of every special case made it the costliest step of the transform.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> round(float(log_normal_float(jnp.float32(0.5))), 6)        # ln 0.5
    -0.693147
    """
    bits = jax.lax.bitcast_convert_type(q, jnp.int32)
    e = ((bits >> 23) - 127).astype(jnp.float32)
    m = jax.lax.bitcast_convert_type((bits & 0x007FFFFF) | 0x3F800000, jnp.float32)
    x = m - 1.5
    p = jnp.float32(_LN_MANTISSA[-1])
    for c in _LN_MANTISSA[-2::-1]:
        p = c + p * x
    return e * jnp.float32(_LN2) + p


def erfinv(v: jax.Array) -> jax.Array:
    """Return the inverse error function of ``v`` in (-1, 1), float32 (Giles 2011's polynomials).

    ``w = -ln((1 - v)(1 + v))`` by :func:`log_normal_float`; on the generator's grid of ``v``
    (all 2^23 values) the absolute error against SciPy's float64 ``erfinv`` is below 1e-6.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> round(float(erfinv(jnp.float32(0.5))), 5)                  # scipy.special.erfinv(0.5)
    0.47694
    """
    w = -log_normal_float((1.0 - v) * (1.0 + v))
    wc = w - 2.5
    pc = jnp.float32(_CENTRAL[0])
    for c in _CENTRAL[1:]:
        pc = c + pc * wc
    wt = jnp.sqrt(w) - 3.0
    pt = jnp.float32(_TAIL[0])
    for c in _TAIL[1:]:
        pt = c + pt * wt
    return jnp.where(w < 5.0, pc, pt) * v


def element_index(shape: tuple[int, ...], trial_axis: int | None = None) -> jax.Array:
    """Return the uint32 index of every element of an array of ``shape`` in the generator.

    Row-major (``trial_axis`` None or 0): element ``(b, i)`` of a ``(B, N)`` array is ``b N + i``.
    ``trial_axis=1`` gives an ``(N, B)`` array (one trial per column) the same numbers as its
    transpose: element ``(i, b)`` is ``b N + i``, so a trial draws the same normals in either layout,
    whatever the number of trials beside it.

    Examples
    --------
    >>> element_index((2, 3)).tolist()
    [[0, 1, 2], [3, 4, 5]]
    >>> element_index((3, 2), trial_axis=1).tolist()
    [[0, 3], [1, 4], [2, 5]]
    """
    if trial_axis != 1 or len(shape) != 2:
        return jax.lax.iota(jnp.uint32, int(np.prod(shape))).reshape(shape)
    n_units, n_trials = shape
    return (jax.lax.iota(jnp.uint32, n_units)[:, None]
            + jnp.uint32(n_units) * jax.lax.iota(jnp.uint32, n_trials)[None, :])


def normal_from_words(k0: jax.Array, k1: jax.Array, shape: tuple[int, ...],
                      trial_axis: int | None = None) -> jax.Array:
    """Return float32 standard normals of ``shape`` from the two uint32 key words ``k0, k1``
    (element indices by :func:`element_index`).

    ``z = sqrt(2) erfinv(v)`` with ``v`` the top 23 bits of a double hash of the index and the words,
    mapped to (-1, 1).

    Examples
    --------
    >>> import jax
    >>> k0, k1 = key_words(jax.random.key(0))
    >>> z = normal_from_words(k0, k1, (100_000,))
    >>> round(float(z.mean()), 2), round(float(z.std()), 2)
    (0.0, 1.0)
    """
    i = element_index(shape, trial_axis)
    u = _lowbias32(_lowbias32(i ^ k0) ^ k1)
    # (u >> 9) + 0.5 is exact in float32; v lies in [-1 + 2^-23, 1 - 2^-23]
    v = ((u >> 9).astype(jnp.float32) + 0.5) * jnp.float32(2.0 ** -22) - 1.0
    return _SQRT2 * erfinv(v)


_MIX = (0x243F6A88, 0x85A308D3)  # two arbitrary odd-ish constants (digits of pi) separating the words


def key_words(key: jax.Array) -> jax.Array:
    """Return the two uint32 words that seed :func:`normal_from_words`: the key's two data words,
    each hashed together with the other (``w0 = H(d0 ^ H(d1 ^ c0))``, ``w1 = H(d1 ^ H(w0 ^ c1))``).

    A few scalar integer operations instead of a Threefry evaluation: inside a compiled training
    epoch each Threefry call is a loop of its own, and they made a quarter of its compile time.
    Keys with other than two data words (e.g. ``"rbg"``) go through Threefry bits as before.

    Examples
    --------
    >>> import jax
    >>> key_words(jax.random.key(0)).shape, key_words(jax.random.key(0)).dtype
    ((2,), dtype('uint32'))
    """
    data = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    data = jnp.ravel(data)
    if data.shape != (2,) or data.dtype != jnp.uint32:
        return jax.random.bits(key, (2,), jnp.uint32)
    w0 = _lowbias32(data[0] ^ _lowbias32(data[1] ^ jnp.uint32(_MIX[0])))
    w1 = _lowbias32(data[1] ^ _lowbias32(w0 ^ jnp.uint32(_MIX[1])))
    return jnp.stack([w0, w1])


def lowbias32_host(x) -> np.ndarray:
    """Return the lowbias32 hash (Wellons' integer hash: xor-shifts and two multiplications) of the
    uint32 array ``x``, computed by NumPy on the host; the same numbers as the compiled hash.

    Examples
    --------
    >>> lowbias32_host([0, 1]).dtype, lowbias32_host(0).tolist() == [0]
    (dtype('uint32'), True)
    """
    x = np.array(x, dtype=np.uint32, ndmin=1)
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x7FEB352D)
    x ^= x >> np.uint32(15)
    x *= np.uint32(0x846CA68B)
    x ^= x >> np.uint32(16)
    return x


def host_words(seed, *tags) -> np.ndarray:
    """Return uint32 words hashed on the host from the words ``seed`` and the integer ``tags``
    (scalars or arrays, broadcast): ``h <- H(h ^ w)`` over the seed words then the tags.

    Used to derive a training epoch's shuffling order and noise seeds without any compiled
    random-number code (see :func:`lowrank_rnn.training.train`).

    Examples
    --------
    >>> w = host_words([1, 2], 7)               # seed words (1, 2), tag 7 (an epoch)
    >>> w.dtype, bool(w == host_words([1, 2], 7)), bool(w != host_words([1, 2], 8))
    (dtype('uint32'), True, True)
    """
    h = np.full((), 0x9E3779B9, np.uint32)
    for w in [*np.ravel(np.asarray(seed, np.uint32)), *tags]:
        h = lowbias32_host(np.asarray(w).astype(np.uint32) ^ h)
    return h


_GOLDEN = 0x9E3779B9


def step_words(key: jax.Array, n_steps: int) -> jax.Array:
    """Return ``(n_steps, 2)`` uint32 words seeding the draws of successive steps from one key:
    ``(k0 + t * 0x9E3779B9, k1)`` with ``(k0, k1) = key_words(key)`` (the double hash decorrelates
    the steps).

    Examples
    --------
    >>> import jax
    >>> step_words(jax.random.key(0), 5).shape
    (5, 2)
    """
    k = key_words(key)
    t = jnp.arange(n_steps, dtype=jnp.uint32)
    return jnp.stack([k[0] + t * jnp.uint32(_GOLDEN), jnp.broadcast_to(k[1], (n_steps,))], axis=1)


def hash_normal(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    """Return standard normal draws of ``shape`` (at most 2**32 numbers) from ``key``.

    ``z = sqrt(2) erfinv(2 U - 1)`` with U uniform on a 2**-23 grid inside (0, 1), the bits of U
    from a keyed integer hash of the element index (see the module docstring).

    >>> import jax
    >>> z = hash_normal(jax.random.key(0), (1000,))
    >>> abs(float(z.mean())) < 0.2 and abs(float(z.std()) - 1) < 0.1
    True
    """
    k = key_words(key)
    return normal_from_words(k[0], k[1], shape).astype(dtype)


def _quantile_table(bits: int = 16) -> np.ndarray:
    """Return the ``2**bits`` midpoint quantiles ``Phi^-1((k + 1/2) / 2**bits)`` of N(0, 1) as
    float32, made exactly antisymmetric and rescaled to unit variance (the quantisation alone
    leaves it 1e-4 short)."""
    from scipy.special import ndtri  # a one-time table at import

    half = ndtri((np.arange(2 ** (bits - 1)) + 0.5) / 2**bits)  # the negative half, increasing
    table = np.concatenate([half, -half[::-1]])
    table /= np.sqrt(np.mean(table**2))
    return table.astype(np.float32)


_TABLE16 = _quantile_table(16)


def simulation_words(key_words_: jax.Array, t) -> tuple[jax.Array, jax.Array]:
    """Return the two uint32 words of step ``t`` of :func:`quantile_normal_from_words`: both
    hashed from the key's words and the step, ``a_t = H(k0 ^ H(t ^ c0))``,
    ``b_t = H(k1 ^ H(a_t ^ c1))`` (a few scalar operations per step). As neither word is a fixed
    offset of another step's, no two steps' draws are related by a shift of the element index.

    Examples
    --------
    >>> import jax
    >>> a, b = simulation_words(key_words(jax.random.key(0)), 3)
    >>> a.dtype, b.dtype
    (dtype('uint32'), dtype('uint32'))
    """
    t = jnp.asarray(t).astype(jnp.uint32)
    a = _lowbias32(key_words_[0] ^ _lowbias32(t ^ jnp.uint32(_MIX[0])))
    b = _lowbias32(key_words_[1] ^ _lowbias32(a ^ jnp.uint32(_MIX[1])))
    return a, b


def quantile_normal_from_words(w0: jax.Array, w1: jax.Array, shape: tuple[int, ...],
                               trial_axis: int | None = None) -> jax.Array:
    r"""Return float32 standard normals of ``shape`` drawn as 16-bit quantiles of N(0, 1).

    Element ``(b, i)`` (trial b, unit i; index ``j = b N + i`` by :func:`element_index`) hashes its
    index once, keyed by both words,

    $$u_j = H\big((j \oplus w_0) \cdot (w_1 \mathbin{|} 1) \bmod 2^{32}\big),$$

    with H Wellons' lowbias32 (a bijection of 32-bit words; ``|`` a bitwise or, so the multiplier
    is odd and the product a bijection too), and reads the quantile of the top 16 bits of ``u_j``
    in the table of the ``2**16`` midpoint quantiles ``Phi^-1((k + 1/2) / 2**16)`` (made exactly
    antisymmetric and rescaled to unit variance). The numbers have mean 0 and variance 1 exactly
    over the table, lie on a grid of ``2**16`` values and satisfy ``|z| <= 4.33``: the Kolmogorov
    distance of the table's distribution to N(0, 1) is 1.0e-5, ``P(|z| > 4)`` is 6.10e-5 instead
    of 6.33e-5, there is no mass beyond 4.33 (1.5e-5 for a standard normal) and the kurtosis is
    2.9992 instead of 3. Because each step's two words are
    hashed from the key and the step (:func:`simulation_words`), no two steps hash the same inputs
    (an xor alone would give every step whose ``w0`` shares the high bits the same set of numbers,
    permuted); a trial's numbers depend on its index and its units only, not on the number of
    trials.

    One table read (256 KB, held in the CPU's cache) replaces the inverse-error-function transform
    of :func:`normal_from_words`, cheaper inside a simulation step (benchmarks/README.md,
    "Simulation noise and the diffrax loop").

    Examples
    --------
    >>> import jax
    >>> w0, w1 = simulation_words(key_words(jax.random.key(0)), 0)
    >>> z = quantile_normal_from_words(w0, w1, (4, 50_000))
    >>> round(float(z.std()), 2), bool(abs(z).max() <= 4.33)
    (1.0, True)
    """
    u = _lowbias32((element_index(shape, trial_axis) ^ w0) * (w1 | jnp.uint32(1)))
    # the index is < 2**16 by construction: no clamping pass
    return jnp.asarray(_TABLE16).at[(u >> 16).astype(jnp.int32)].get(mode="promise_in_bounds")


class NoiseSource:
    """How :func:`~lowrank_rnn.models.run_trials` draws the noise of each step: ``per_step(key, T)``
    gives what the scan carries per step, ``draw(item, shape)`` the standard normals of one step.

    ``"hash"``: :func:`normal_from_words` at :func:`step_words` (the default of training);
    ``"threefry"``: ``jax.random.normal`` with one split key per step.

    Examples
    --------
    >>> import jax
    >>> source = NoiseSource("hash")
    >>> items = source.per_step(jax.random.key(0), 10)       # one item per step
    >>> source.draw(items[0], (3, 4)).shape
    (3, 4)
    """

    def __init__(self, name: str):
        if name not in ("hash", "threefry"):
            raise ArgumentError(f"noise_rng must be 'hash' or 'threefry', got {name!r}")
        self.name = name

    def per_step(self, key: jax.Array, n_steps: int) -> jax.Array:
        return step_words(key, n_steps) if self.name == "hash" else jax.random.split(key, n_steps)

    def draw(self, item: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        if self.name == "hash":
            return normal_from_words(item[0], item[1], shape)
        return jax.random.normal(item, shape, jnp.float32)

    def __eq__(self, other):
        return isinstance(other, NoiseSource) and other.name == self.name

    def __hash__(self):
        return hash(("NoiseSource", self.name))
