"""Ensembles: statistical descriptions of low-rank networks.

An :class:`Ensemble` describes the distribution of the per-neuron loadings of a low-rank network

    J = g chi + (1/N) sum_r m_r n_r^T,    chi_ij ~ N(0, 1/N),

(Mastrogiuseppe & Ostojic 2018, Neuron 99:609, eq. 1). Across neurons i the tuple
``(m_1i..m_Ri, n_1i..n_Ri, I_1i..I_Ki, w_1i..w_Oi)`` is drawn i.i.d. from a Gaussian, or from a
mixture of Gaussians whose components are cell populations (Beiran et al. 2021, Neural Comput.
33:1572), independently of chi. The ensemble holds no N and no randomness: theory consumes it as
is, and :meth:`Ensemble.sample` draws a :class:`~lowrank_rnn.Network` from it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._checks import finite_array, float_dtype, is_concrete, physical_memory, positive_int, prng_key, real_scalar
from ._errors import ArgumentError, ArgumentTypeError
from ._network import Network

_NAME = re.compile(r"^(m|n|I|w)([1-9][0-9]*)$")
_KINDS = ("m", "n", "I", "w")
#: the largest mean or standard deviation of a loading whose square is finite in float64 (1e153)
_LARGEST_LOADING = 1e153
#: g z must stay representable for standard Gaussian draws z up to this size
_BULK_SIGMAS = 10.0
_KIND_WORDS = {"m": "output (m)", "n": "input-selection (n)", "I": "input (I)", "w": "readout (w)"}


def canonical_names(rank: int, n_inputs: int = 0, n_readouts: int = 0) -> tuple[str, ...]:
    """Return the loading names of a rank-``rank`` ensemble, in the library's canonical order.

    >>> canonical_names(2, 1, 1)
    ('m1', 'm2', 'n1', 'n2', 'I1', 'w1')
    """
    return (tuple(f"m{r + 1}" for r in range(rank)) + tuple(f"n{r + 1}" for r in range(rank))
            + tuple(f"I{k + 1}" for k in range(n_inputs)) + tuple(f"w{o + 1}" for o in range(n_readouts)))


def _parse_names(names: Any) -> tuple[tuple[str, ...], np.ndarray, tuple[int, int, int]]:
    """Check that ``names`` form a consistent set; return canonical names, the permutation into
    canonical order, and (rank, n_inputs, n_readouts)."""
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ArgumentTypeError("names must be a sequence of strings such as ('m1', 'n1', 'I1', 'w1')")
    names = tuple(names)
    indices: dict[str, set[int]] = {k: set() for k in _KINDS}
    for nm in names:
        if not isinstance(nm, str):
            raise ArgumentTypeError(f"names must be strings, got {nm!r}")
        mt = _NAME.match(nm)
        if mt is None:
            raise ArgumentError(
                f"names: {nm!r} is not a loading name; allowed are m1..mR, n1..nR (connectivity), "
                "I1..IK (inputs) and w1..wO (readouts)")
        kind, idx = mt.group(1), int(mt.group(2))
        if idx in indices[kind]:
            raise ArgumentError(f"names: {nm!r} appears more than once")
        indices[kind].add(idx)
    if not indices["m"]:
        raise ArgumentError("names must contain at least one connectivity pair m1, n1")
    if indices["m"] != indices["n"]:
        raise ArgumentError(
            f"names: the m and n loadings must pair up, got m indices {sorted(indices['m'])} and "
            f"n indices {sorted(indices['n'])}")
    counts = []
    for kind in _KINDS:
        idx = sorted(indices[kind])
        if idx != list(range(1, len(idx) + 1)):
            raise ArgumentError(
                f"names: the {_KIND_WORDS[kind]} loadings must be numbered 1..{len(idx)} without gaps, "
                f"got {[f'{kind}{i}' for i in idx]}")
        counts.append(len(idx))
    rank, n_inputs, n_readouts = counts[0], counts[2], counts[3]
    canon = canonical_names(rank, n_inputs, n_readouts)
    perm = np.array([names.index(nm) for nm in canon])
    return canon, perm, (rank, n_inputs, n_readouts)


def _check_cov(cov: np.ndarray, label: str) -> None:
    asym = np.max(np.abs(cov - cov.T)) if cov.size else 0.0
    scale = max(1.0, float(np.max(np.abs(cov)))) if cov.size else 1.0
    if asym > 1e-9 * scale:
        raise ArgumentError(f"{label} is not symmetric (largest |cov - cov.T| = {asym:.3g})")
    lo = float(np.min(np.linalg.eigvalsh(cov))) if cov.size else 0.0
    if lo < -1e-9 * scale:
        raise ArgumentError(
            f"{label} is not positive semi-definite (smallest eigenvalue {lo:.4g}); "
            "a covariance of Gaussian loadings must be")


def matrix_sqrt(cov: np.ndarray) -> np.ndarray:
    """Return S with S S^T = cov for a symmetric PSD matrix (singular allowed, e.g. m = w)."""
    vals, vecs = np.linalg.eigh(cov)
    return vecs * np.sqrt(np.clip(vals, 0.0, None))



def _check_memory(N: int, P: int, dtype, *, bulk: bool) -> None:
    """Refuse a network whose arrays would not fit in this machine's memory (before drawing)."""
    need = N * P * 8 + (N * N * np.dtype(dtype).itemsize if bulk else 0)  # float64 loadings; the bulk
    have = physical_memory()
    if have is not None and need > have:
        raise ArgumentError(f"N = {N} neurons would need {need:.3g} bytes ({'an N x N bulk and ' if bulk else ''}"
                            f"loadings), more than this machine's memory ({have:.3g} bytes)")


def population_sizes(weights: np.ndarray, N: int) -> np.ndarray:
    """Split N neurons into populations with fractions ``weights`` (largest remainder rounding)."""
    raw = np.asarray(weights) * N
    counts = np.floor(raw).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: N - counts.sum()]] += 1
    return counts


class Ensemble(eqx.Module):
    """Statistics of the loadings of a low-rank network: a Gaussian or a Gaussian mixture, plus g.

    The per-neuron loading vector, in the canonical order ``m1..mR, n1..nR, I1..IK, w1..wO``
    (:attr:`names`), is drawn from the mixture ``sum_p weights[p] N(mean[p], cov[p])``; the random
    bulk ``g chi`` is independent of it (Mastrogiuseppe & Ostojic 2018, eq. 1; Beiran et al. 2021).

    Parameters
    ----------
    names:
        Loading names, any order; they must form a consistent set (m1..mR paired with n1..nR,
        optional I1..IK and w1..wO, numbered without gaps).
    mean:
        Means, shape ``(P,)`` for one Gaussian or ``(C, P)`` for a mixture of C populations.
    cov:
        Covariances, shape ``(P, P)`` or ``(C, P, P)``; symmetric positive semi-definite.
    g:
        Strength of the random bulk (its eigenvalues fill a disk of radius g). ``g >= 0``.
    weights:
        Population fractions (positive, summing to 1) for a mixture; ``None`` for one Gaussian.

    Examples
    --------
    >>> ens = Ensemble(names=("m1", "n1"), mean=[1.1, 2.0], cov=[[1.0, 0.0], [0.0, 1.0]], g=0.5)
    >>> float(ens.overlap[0, 0])   # E[n m] = M_m M_n + cov_mn
    2.2
    >>> net = ens.sample(2000, key=jax.random.key(0))
    """

    names: tuple[str, ...] = eqx.field(static=True)
    mean: Any  # (C, P)
    cov: Any  # (C, P, P)
    weights: Any  # (C,)
    g: Any  # scalar

    def __init__(self, names, mean, cov, g=0.0, weights=None):
        canon, perm, _ = _parse_names(names)
        P = len(canon)
        concrete = all(is_concrete(v) for v in (mean, cov, g, weights))
        if not concrete:  # inside jit/vmap: trust the caller, keep the tracers
            self.names, self.mean, self.cov = canon, mean, cov
            self.g = g
            self.weights = jnp.ones((1,)) if weights is None else weights
            return
        mean = finite_array("mean", mean, ndim=(1, 2))
        cov = finite_array("cov", cov, ndim=(2, 3))
        mixture = mean.ndim == 2
        if mixture != (cov.ndim == 3):
            raise ArgumentError(
                f"mean and cov disagree on the number of populations: mean has shape {mean.shape}, "
                f"cov has shape {cov.shape} (use (P,) with (P, P), or (C, P) with (C, P, P))")
        mean = mean if mixture else mean[None]
        cov = cov if mixture else cov[None]
        C = mean.shape[0]
        if mean.shape[1] != P:
            raise ArgumentError(f"mean has {mean.shape[1]} loadings per population but names lists {P}")
        if cov.shape[1:] != (P, P) or cov.shape[0] != C:
            raise ArgumentError(f"cov must have shape {(C, P, P) if mixture else (P, P)}, got "
                             f"{cov.shape if mixture else cov.shape[1:]}")
        mean = mean[:, perm]
        cov = cov[:, perm][:, :, perm]
        for c in range(C):
            _check_cov(cov[c], "cov" if C == 1 else f"cov of population {c}")
        if weights is None:
            if C != 1:
                raise ArgumentError(f"weights are required for a mixture of {C} populations")
            weights = np.ones(1)
        else:
            weights = finite_array("weights", weights, ndim=1)
            if weights.shape[0] != C:
                raise ArgumentError(f"weights has {weights.shape[0]} entries for {C} populations")
            if np.any(weights <= 0):
                raise ArgumentError(f"weights must be positive, got {weights.tolist()}")
            if abs(weights.sum() - 1.0) > 1e-8:
                raise ArgumentError(f"weights must sum to 1, got sum {weights.sum():.10g}")
        with np.errstate(over="ignore"):
            moments = cov + mean[:, :, None] * mean[:, None, :]
        if not np.all(np.isfinite(moments)):
            raise ArgumentError(f"mean and cov are too large: the second moments E[a b] overflow float64 "
                                f"(largest |mean| {np.max(np.abs(mean)):.3g}, largest |cov| {np.max(np.abs(cov)):.3g})")
        self.names = canon
        self.mean = mean
        self.cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
        self.weights = weights
        self.g = real_scalar("g", g, low=0.0)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def rank_one(cls, *, mean_m: float, mean_n: float, std_m: float, std_n: float,
                 cov_mn: float = 0.0, g: float = 0.0) -> Ensemble:
        """Return the rank-one ensemble with Gaussian m, n of the given means, standard deviations
        and covariance (Mastrogiuseppe & Ostojic 2018, Fig. 1: overlap ``M_m M_n + cov_mn``).

        >>> ens = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=1.0)
        >>> round(float(ens.overlap[0, 0]), 6)
        2.2
        """
        big = _LARGEST_LOADING  # second moments (squares) must stay finite in float64
        std_m = real_scalar("std_m", std_m, low=0.0, high=big)
        std_n = real_scalar("std_n", std_n, low=0.0, high=big)
        cov_mn = real_scalar("cov_mn", cov_mn, low=-big * big, high=big * big)
        mean_m = real_scalar("mean_m", mean_m, low=-big, high=big)
        mean_n = real_scalar("mean_n", mean_n, low=-big, high=big)
        if abs(cov_mn) > std_m * std_n * (1 + 1e-12):
            raise ArgumentError(f"cov_mn must satisfy |cov_mn| <= std_m * std_n = {std_m * std_n:.6g}, "
                             f"got {cov_mn}")
        return cls(names=("m1", "n1"), mean=[mean_m, mean_n],
                   cov=[[std_m**2, cov_mn], [cov_mn, std_n**2]], g=g)

    @classmethod
    def from_directions(cls, loadings: Mapping[str, Mapping[str, float]],
                        means: Mapping[str, float] | None = None, g: float = 0.0) -> Ensemble:
        """Return the ensemble whose loadings are sums of shared random directions.

        Each loading is ``mean + sum_d c_d y_d`` with independent standard Gaussian directions
        ``y_d`` (named freely), so ``cov(a, b) = sum_d c_ad c_bd``. This is how Mastrogiuseppe &
        Ostojic 2018 build overlaps: e.g. the detection task uses ``m = w + 2 y``, ``n = I + 2 y``.

        >>> ens = Ensemble.from_directions(
        ...     {"m1": {"w": 1.2, "y": 2.0}, "n1": {"I": 1.2, "y": 2.0},
        ...      "I1": {"I": 1.2}, "I2": {"h": 1.0}, "w1": {"w": 1.2}}, g=0.8)
        >>> float(ens.overlap[0, 0])   # rho_m rho_n = 4
        4.0
        """
        if not isinstance(loadings, Mapping) or not loadings:
            raise ArgumentTypeError("loadings must be a non-empty mapping {loading name: {direction: coefficient}}")
        means = dict(means or {})
        unknown = set(means) - set(loadings)
        if unknown:
            raise ArgumentError(f"means names loadings that are not in loadings: {sorted(unknown)}")
        names = list(loadings)
        directions = sorted({d for coefs in loadings.values() for d in coefs})
        A = np.zeros((len(names), len(directions)))
        for i, nm in enumerate(names):
            coefs = loadings[nm]
            if not isinstance(coefs, Mapping):
                raise ArgumentTypeError(f"loadings[{nm!r}] must be a mapping {{direction: coefficient}}")
            for d, c in coefs.items():
                A[i, directions.index(d)] = real_scalar(f"loadings[{nm!r}][{d!r}]", c)
        mean = np.array([real_scalar(f"means[{nm!r}]", means.get(nm, 0.0)) for nm in names])
        return cls(names=names, mean=mean, cov=A @ A.T, g=g)

    @classmethod
    def mixture(cls, components: Sequence[Ensemble], weights: Sequence[float]) -> Ensemble:
        """Return the mixture of ensembles (one per population) with these weights.

        The components must share their loading names and g (the bulk is common to all neurons). A
        component that is itself a mixture contributes its populations with their weights scaled by
        the component's weight: ``mixture([mixture([a, b], [0.5, 0.5]), c], [0.5, 0.5])`` is
        ``mixture([a, b, c], [0.25, 0.25, 0.5])``.
        """
        if isinstance(components, (Ensemble, str)) or not isinstance(components, Sequence):
            raise ArgumentTypeError("components must be a non-empty sequence of Ensemble")
        components = list(components)
        if not components or not all(isinstance(c, Ensemble) for c in components):
            raise ArgumentTypeError("components must be a non-empty sequence of Ensemble")
        weights = finite_array("weights", weights, ndim=1)
        if weights.shape[0] != len(components):
            raise ArgumentError(f"weights must have one entry per component: {len(components)} components, "
                                f"got {weights.shape[0]} weights")
        if np.any(weights <= 0):
            raise ArgumentError(f"weights must be positive, got {weights.tolist()}")
        if abs(weights.sum() - 1.0) > 1e-8:
            raise ArgumentError(f"weights must sum to 1, got sum {weights.sum():.10g}")
        names, g = components[0].names, components[0].g
        for i, c in enumerate(components):
            if c.names != names:
                raise ArgumentError(f"components[{i}] has loadings {c.names}, components[0] has {names}")
            if c.g != g:
                raise ArgumentError(f"components[{i}] has g = {c.g}, components[0] has g = {g}; "
                                 "the random bulk is shared, so g must be equal")
        flat = np.concatenate([w * np.asarray(c.weights) for w, c in zip(weights, components)])
        return cls(names=names, mean=np.concatenate([c.mean for c in components]),
                   cov=np.concatenate([c.cov for c in components]), g=g, weights=flat / flat.sum())

    def replace(self, **changes) -> Ensemble:
        """Return a copy with some of ``names, mean, cov, g, weights`` replaced (and re-checked)."""
        if self.n_populations == 1:  # a single Gaussian is described by (P,) and (P, P)
            kw = dict(names=self.names, mean=self.mean[0], cov=self.cov[0], g=self.g, weights=None)
        else:
            kw = dict(names=self.names, mean=self.mean, cov=self.cov, g=self.g, weights=self.weights)
        bad = set(changes) - set(kw)
        if bad:
            raise ArgumentTypeError(f"replace() got unknown fields {sorted(bad)}; allowed: {sorted(kw)}")
        kw.update(changes)
        return Ensemble(**kw)

    # ------------------------------------------------------------------ sizes and lookups
    @property
    def rank(self) -> int:
        """R, the number of (m, n) pairs."""
        return sum(nm[0] == "m" for nm in self.names)

    @property
    def n_inputs(self) -> int:
        """K, the number of input vectors."""
        return sum(nm[0] == "I" for nm in self.names)

    @property
    def n_readouts(self) -> int:
        """O, the number of readout vectors."""
        return sum(nm[0] == "w" for nm in self.names)

    @property
    def n_populations(self) -> int:
        """C, the number of Gaussian components (cell populations)."""
        return int(np.shape(self.mean)[0])

    def index(self, name: str) -> int:
        """Return the position of loading ``name`` in :attr:`names`."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ArgumentError(f"{name!r} is not a loading of this ensemble; it has {self.names}") from None

    def _slice(self, kind: str) -> slice:
        idx = [i for i, nm in enumerate(self.names) if nm[0] == kind]
        return slice(idx[0], idx[-1] + 1) if idx else slice(0, 0)

    # ------------------------------------------------------------------ derived statistics
    @property
    def second_moments(self):
        """E[a b] for every pair of loadings, averaged over populations: ``(P, P)``."""
        xp = np if is_concrete(self.mean) else jnp
        per_pop = self.cov + self.mean[:, :, None] * self.mean[:, None, :]
        return xp.einsum("c,cab->ab", xp.asarray(self.weights), per_pop)

    @property
    def overlap(self):
        """The R x R overlap matrix ``E[n_r m_s]`` (row r, column s); its eigenvalues are the
        outliers of the connectivity spectrum (Mastrogiuseppe & Ostojic 2018)."""
        return self.second_moments[self._slice("n"), self._slice("m")]

    @property
    def input_overlaps(self):
        """The R x K matrix ``E[n_r I_k]``: how strongly input k drives latent r."""
        return self.second_moments[self._slice("n"), self._slice("I")]

    @property
    def readout_overlaps(self):
        """The O x R matrix ``E[w_o m_r]``: how strongly latent r is read out by readout o."""
        return self.second_moments[self._slice("w"), self._slice("m")]

    def moment(self, a: str, b: str) -> float:
        """E[a b] for two loadings named ``a`` and ``b`` (population average)."""
        return self.second_moments[self.index(a), self.index(b)]

    # ------------------------------------------------------------------ sampling
    def sample(self, N: int, *, key: jax.Array, dtype=jnp.float32):
        """Return a :class:`~lowrank_rnn.Network` of N neurons drawn from this ensemble.

        Population p receives ``round(weights[p] N)`` neurons (largest-remainder rounding), in
        contiguous blocks recorded in ``network.population``. The bulk ``g chi`` with
        ``chi_ij ~ N(0, 1/N)`` is drawn only when ``g > 0``; otherwise ``network.bulk`` is None and
        simulations never form an N x N matrix.

        >>> net = Ensemble.rank_one(mean_m=1, mean_n=2, std_m=1, std_n=1).sample(500, key=jax.random.key(1))
        >>> net.m.shape, net.bulk is None
        ((500, 1), True)
        """
        N = positive_int("N", N)
        key = prng_key("key", key)
        dtype = float_dtype("dtype", dtype)
        _check_memory(N, len(self.names), dtype, bulk=self.g > 0)
        largest = float(jnp.finfo(dtype).max)
        if self.g * _BULK_SIGMAS > largest:  # the bulk is drawn as (g z) / sqrt(N), z ~ N(0, 1)
            raise ArgumentError(f"g = {self.g:.3g} is too large for dtype {dtype}: drawing the bulk g chi "
                                f"would exceed its largest value {largest:.3g}")
        counts = population_sizes(np.asarray(self.weights), N)
        k_load, k_bulk = jax.random.split(key)
        blocks = []
        for p, (count, kp) in enumerate(zip(counts, jax.random.split(k_load, len(counts)))):
            z = np.asarray(jax.random.normal(kp, (int(count), len(self.names))), dtype=np.float64)
            blocks.append(self.mean[p] + z @ matrix_sqrt(np.asarray(self.cov[p])).T)
        loads = np.concatenate(blocks, axis=0)
        if not np.all(np.isfinite(loads)) or np.max(np.abs(loads), initial=0.0) > largest:
            raise ArgumentError(f"the ensemble's means or covariances are too large for dtype {dtype}: "
                                f"sampled loadings reach {np.max(np.abs(loads)):.3g}, beyond its largest "
                                f"value {largest:.3g}")
        population = np.repeat(np.arange(len(counts)), counts)
        bulk = None
        if self.g > 0:
            # (g z) / sqrt(N) with z ~ N(0, 1), in dtype throughout (float64 stays float64)
            z = jax.random.normal(k_bulk, (N, N), dtype=dtype)
            bulk = jnp.asarray(self.g, dtype) * z / jnp.asarray(np.sqrt(N), dtype)
        col = lambda kind: loads[:, self._slice(kind)]  # noqa: E731
        return Network(m=col("m"), n=col("n"), inputs=col("I"), readouts=col("w"), bulk=bulk,
                       g=float(self.g), population=population, dtype=dtype)

    def __repr__(self) -> str:
        pops = "" if self.n_populations == 1 else f", populations={self.n_populations}"
        return f"Ensemble(names={self.names}, g={self.g}{pops})"
