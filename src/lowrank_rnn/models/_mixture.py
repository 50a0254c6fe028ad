"""Low-rank networks whose loadings are drawn from a Gaussian mixture ("support" networks)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import finite_array, positive_int, prng_key
from .._ensemble import Ensemble, canonical_names, matrix_sqrt, population_sizes
from .._errors import ArgumentError, ArgumentTypeError
from .._network import Network
from ._base import AbstractRNN, check_hyper, given_or_drawn
from ._lowrank import FullRankRNN, LowRankRNN, _mark

_KINDS = ("m", "n", "input", "readout")


class MixtureLowRankRNN(AbstractRNN):
    r"""A low-rank network whose loadings are a Gaussian mixture over a shared standard-normal basis.

    Neuron i of population p has the loading vector (m_i, n_i, I_i, w_i) equal to
    ``mean_p + A_p z_i`` with ``z_i ~ N(0, Id_b)`` (the ``basis``, fixed) and per-population linear
    maps ``A_p`` and means ``mean_p`` (trained). Population p is thus the Gaussian
    ``N(mean_p, A_p A_p^T)``, and :meth:`resample` draws a new network of the same statistics
    (Beiran et al. 2021, Neural Comput. 33:1572; the "support" networks of Dubreuil, Valente et
    al. 2022, Nat. Neurosci.). The dynamics are those of :class:`LowRankRNN` with these loadings
    (scales 1, no bulk).

    Parameters
    ----------
    N, rank, n_inputs, n_outputs, key, noise, alpha, nonlinearity:
        As for :class:`LowRankRNN`.
    n_populations:
        C, the number of mixture components (``weights`` gives their fractions; equal by default).
    basis_dim:
        b, the dimension of the shared basis (default ``2 R + K + O``, enough for any covariance).
    m_map, m_mean, n_map, n_mean, input_map, input_mean, readout_map, readout_mean, basis, h0:
        Arrays to start from: maps ``(C, rows, b)``, means ``(C, rows)``, basis ``(N, b)``. By
        default the maps are ``N(0, 1/b)`` (loadings of unit variance; readouts ``4x`` as in
        :class:`LowRankRNN`), means 0, ``h0 = 0``.
    log_weights:
        ``(C,)`` trainable log-fractions of the populations (default ``log(weights)``). The
        populations keep their sizes ``N weights_p``; a neuron of population p weighs
        ``c_p = softmax(log_weights)_p / weights_p`` in every population sum (its n and readout
        loadings are scaled by ``c_p``), so that

        $$\kappa_r = \frac{1}{N} \sum_i c_{p(i)} n_{ri} \phi(x_i) \approx
          \sum_p \mathrm{softmax}(\log w)_p \, \langle n_r \phi(x) \rangle_p ,$$

        the mean-field sum of a mixture with the trained fractions, differentiable in them
        (``c_p = 1`` until they train).
    resample_per_batch:
        When True, every batch of trials run with a key (:func:`run_trials`, hence every minibatch
        of :func:`lowrank_rnn.training.train` and its validation pass) draws a fresh basis from
        that key: the loss is that of networks resampled from the mixture, and its gradient the
        reparameterised gradient with respect to the statistics (the fine-tuning of Dubreuil,
        Valente et al. 2022; see :func:`lowrank_rnn.analysis.fine_tune_mixture`).

    Example
    -------
    >>> import jax
    >>> from lowrank_rnn import Ensemble
    >>> ens = Ensemble.rank_one(mean_m=0.0, mean_n=0.0, std_m=1.0, std_n=1.0, cov_mn=0.5)
    >>> model = MixtureLowRankRNN.from_ensemble(ens, 500, key=jax.random.key(0))
    >>> model.resample(key=jax.random.key(1)).to_network().N
    500
    """

    m_map: jax.Array
    m_mean: jax.Array
    n_map: jax.Array
    n_mean: jax.Array
    input_map: jax.Array
    input_mean: jax.Array
    readout_map: jax.Array
    readout_mean: jax.Array
    basis: jax.Array
    population: jax.Array
    h0: jax.Array
    log_weights: jax.Array
    weights: tuple = eqx.field(static=True)
    resample_per_batch: bool = eqx.field(static=True)

    def __init__(self, N: int, rank: int, n_inputs: int, n_outputs: int, *, key: jax.Array | None = None,
                 n_populations: int = 1, weights=None, basis_dim: int | None = None, noise: float = 0.0,
                 alpha: float = 0.2, nonlinearity: str = "tanh", m_map=None, m_mean=None, n_map=None,
                 n_mean=None, input_map=None, input_mean=None, readout_map=None, readout_mean=None,
                 basis=None, h0=None, log_weights=None, resample_per_batch: bool = False):
        N, R, K, O, noise, alpha = check_hyper(N, rank, n_inputs, n_outputs, noise, alpha, nonlinearity)
        C = positive_int("n_populations", n_populations)
        if weights is None:
            weights = np.full(C, 1.0 / C)
        weights = finite_array("weights", weights, ndim=1)
        if weights.shape[0] != C or np.any(weights <= 0) or abs(weights.sum() - 1) > 1e-6:
            raise ArgumentError(f"weights must be {C} positive fractions summing to 1, got {weights.tolist()}")
        b = 2 * R + K + O if basis_dim is None else positive_int("basis_dim", basis_dim)
        given = (m_map, n_map, input_map, readout_map, basis)
        if any(v is None for v in given):
            key = prng_key("key", key)
        ks = jax.random.split(key, 5) if isinstance(key, jax.Array) else [None] * 5
        rows = {"m": R, "n": R, "input": K, "readout": O}
        gain = {"m": 1.0, "n": 1.0, "input": 1.0, "readout": 4.0}
        maps = {"m": m_map, "n": n_map, "input": input_map, "readout": readout_map}
        means = {"m": m_mean, "n": n_mean, "input": input_mean, "readout": readout_mean}
        for i, kind in enumerate(_KINDS):
            r = rows[kind]
            setattr(self, f"{kind}_map", given_or_drawn(
                f"{kind}_map", maps[kind], (C, r, b),
                lambda i=i, r=r, kind=kind: gain[kind] * jax.random.normal(ks[i], (C, r, b)) / np.sqrt(b)))
            setattr(self, f"{kind}_mean", given_or_drawn(f"{kind}_mean", means[kind], (C, r),
                                                         lambda r=r: jnp.zeros((C, r))))
        self.basis = given_or_drawn("basis", basis, (N, b), lambda: jax.random.normal(ks[4], (N, b)))
        self.population = jnp.asarray(np.repeat(np.arange(C), population_sizes(weights, N)), jnp.int32)
        self.h0 = given_or_drawn("h0", h0, (N,), lambda: jnp.zeros(N))
        self.weights = tuple(float(w) for w in weights)
        self.log_weights = given_or_drawn("log_weights", log_weights, (C,), lambda: jnp.log(jnp.asarray(weights)))
        if not isinstance(resample_per_batch, (bool, np.bool_)):
            raise ArgumentTypeError(f"resample_per_batch must be True or False, got {resample_per_batch!r}")
        self.resample_per_batch = bool(resample_per_batch)
        self.alpha, self.noise, self.nonlinearity = alpha, noise, nonlinearity

    # ------------------------------------------------------------------ sizes
    @property
    def rank(self) -> int:
        """R, the rank of the connectivity."""
        return self.m_map.shape[1]

    @property
    def n_inputs(self) -> int:
        """K, the number of input channels."""
        return self.input_map.shape[1]

    @property
    def n_outputs(self) -> int:
        """O, the number of readout channels."""
        return self.readout_map.shape[1]

    @property
    def n_populations(self) -> int:
        """C, the number of populations."""
        return self.m_map.shape[0]

    @property
    def basis_dim(self) -> int:
        """b, the dimension of the shared basis."""
        return self.basis.shape[1]

    # ------------------------------------------------------------------ loadings and dynamics
    @property
    def fractions(self) -> jax.Array:
        """The population fractions ``softmax(log_weights)``, ``(C,)`` (equal to ``weights`` until trained)."""
        return jax.nn.softmax(self.log_weights)

    @property
    def population_gains(self) -> jax.Array:
        """``c_p = fractions_p / weights_p``, ``(C,)``: the weight of a neuron of population p in the
        population sums (1 until the fractions train)."""
        return self.fractions / jnp.asarray(self.weights, self.log_weights.dtype)

    def loadings(self, kind: str) -> jax.Array:
        """Return the generated loadings of ``kind`` (``"m"``, ``"n"``, ``"input"``, ``"readout"``),
        ``(N, rows)``: ``mean_p + A_p z_i`` for each neuron i of population p, times ``c_p``
        (:attr:`population_gains`) for the loadings summed over neurons (n and readout)."""
        A = getattr(self, f"{kind}_map")[self.population]          # (N, rows, b)
        vec = jnp.einsum("irb,ib->ir", A, self.basis) + getattr(self, f"{kind}_mean")[self.population]
        if kind in ("n", "readout"):
            vec = vec * self.population_gains[self.population][:, None]
        return vec

    def trial_dynamics(self, key):
        """Return :meth:`dynamics`; with ``resample_per_batch`` and a key, that of a fresh basis drawn
        from ``key`` (folded with a constant, apart from the noise drawn from the same key)."""
        if not self.resample_per_batch or key is None:
            return self.dynamics()
        basis = jax.random.normal(jax.random.fold_in(key, 0x6D6978), self.basis.shape, self.basis.dtype)
        return eqx.tree_at(lambda s: s.basis, self, basis).dynamics()

    def dynamics(self) -> LowRankRNN:
        """Return the :class:`LowRankRNN` with the generated loadings (what :meth:`step` runs)."""
        return LowRankRNN(self.N, self.rank, self.n_inputs, self.n_outputs, noise=self.noise,
                          alpha=self.alpha, nonlinearity=self.nonlinearity, m=self.loadings("m"),
                          n=self.loadings("n"), input_vectors=self.loadings("input"),
                          input_scales=jnp.ones(self.n_inputs), readout_vectors=self.loadings("readout"),
                          readout_scales=jnp.ones(self.n_outputs), h0=self.h0)

    @property
    def input_vectors(self):
        """The generated input vectors, ``(N, K)``."""
        return self.loadings("input")

    @property
    def input_scales(self):
        """Ones: a mixture network carries the scale in its maps."""
        return jnp.ones(self.n_inputs)

    @property
    def readout_vectors(self):
        """The generated readout vectors, ``(N, O)``."""
        return self.loadings("readout")

    @property
    def readout_scales(self):
        """Ones: a mixture network carries the scale in its maps."""
        return jnp.ones(self.n_outputs)

    def recurrent(self, rates):
        """Return ``m (n^T phi / N)`` with the generated loadings (prefer :meth:`dynamics` in loops)."""
        return self.dynamics().recurrent(rates)

    def step(self, x, u, xi=None):
        """One Euler–Maruyama step (that of :meth:`dynamics`; see :meth:`AbstractRNN.step`)."""
        return self.dynamics().step(x, u, xi)

    def readout(self, x):
        """Return the outputs of one state (that of :meth:`dynamics`)."""
        return self.dynamics().readout(x)

    def trainable(self, *, connectivity: bool = True, inputs: bool = True, readouts: bool = True,
                  h0: bool = False, weights: bool = False, means: bool = True):
        """Return the filter pytree of what training changes: the maps and (unless ``means=False``)
        the means of the chosen loadings (all by default) and, with ``weights=True``, the
        population fractions (``log_weights``); the basis and the population labels never train."""
        spec = {}
        for kind, flag in (("m", connectivity), ("n", connectivity), ("input", inputs), ("readout", readouts)):
            spec[f"{kind}_map"] = flag
            spec[f"{kind}_mean"] = flag and means
        spec["h0"] = h0
        spec["log_weights"] = weights
        return _mark(self, spec)

    def to_network(self):
        """Return the :class:`lowrank_rnn.Network` with the generated loadings and population labels."""
        dyn = self.dynamics()
        return Network(m=dyn.m, n=dyn.n, inputs=dyn.inputs, readouts=dyn.readouts,
                       population=self.population, nonlinearity=self.nonlinearity)

    def to_low_rank(self) -> LowRankRNN:
        """Return the generated network as a :class:`LowRankRNN` (to train it further, freely)."""
        return self.dynamics()

    def resample(self, *, key: jax.Array) -> "MixtureLowRankRNN":
        """Return a new network drawn from the same mixture: a fresh basis ``z ~ N(0, Id_b)``."""
        key = prng_key("key", key)
        return eqx.tree_at(lambda s: s.basis, self, jax.random.normal(key, self.basis.shape))

    def to_ensemble(self) -> Ensemble:
        """Return the exact description: population p is ``N(mean_p, A_p A_p^T)`` with its fraction
        (:attr:`fractions`)."""
        A = np.concatenate([np.asarray(getattr(self, f"{k}_map"), np.float64) for k in _KINDS], axis=1)
        mean = np.concatenate([np.asarray(getattr(self, f"{k}_mean"), np.float64) for k in _KINDS], axis=1)
        names = canonical_names(self.rank, self.n_inputs, self.n_outputs)
        cov = np.einsum("cpb,cqb->cpq", A, A)
        w = np.asarray(self.fractions, np.float64)
        w = w / w.sum()
        return Ensemble(names=names, mean=mean if len(w) > 1 else mean[0], cov=cov if len(w) > 1 else cov[0],
                        weights=w if len(w) > 1 else None)

    @classmethod
    def from_ensemble(cls, ensemble: Ensemble, N: int, *, key: jax.Array, noise: float = 0.0,
                      alpha: float = 0.2, nonlinearity: str = "tanh") -> "MixtureLowRankRNN":
        """Return a network of N neurons drawn from ``ensemble`` (g = 0), with maps ``A_p`` the
        square roots of its covariances so that :meth:`resample` keeps its statistics."""
        if not isinstance(ensemble, Ensemble):
            raise ArgumentTypeError(f"ensemble must be an Ensemble, got {type(ensemble).__name__}")
        if float(ensemble.g) != 0.0:
            raise ArgumentError(f"a MixtureLowRankRNN has no random bulk; the ensemble has g = {ensemble.g}")
        R, K, O = ensemble.rank, ensemble.n_inputs, ensemble.n_readouts
        mean = np.asarray(ensemble.mean, np.float64)
        A = np.stack([matrix_sqrt(np.asarray(c, np.float64)) for c in ensemble.cov])  # (C, P, P)
        bounds = np.cumsum([0, R, R, K, O])
        parts = {}
        for i, kind in enumerate(_KINDS):
            sl = slice(bounds[i], bounds[i + 1])
            parts[f"{kind}_map"] = A[:, sl, :]
            parts[f"{kind}_mean"] = mean[:, sl]
        P = mean.shape[1]
        C = mean.shape[0]
        return cls(N, R, K, O, key=key, n_populations=C, weights=np.asarray(ensemble.weights),
                   basis_dim=P, noise=noise, alpha=alpha, nonlinearity=nonlinearity, **parts)


def to_ensemble(model, *, labels=None, rank: int | None = None) -> Ensemble:
    """Return an :class:`~lowrank_rnn.Ensemble` fitted to a model's loadings.

    The per-neuron loading vectors ``(m_i, n_i, I_i, w_i)`` (inputs and readouts with their scales)
    are described by their empirical mean and covariance, one Gaussian per label in ``labels``
    (``(N,)`` integers 0..C-1, e.g. from a Gaussian-mixture clustering; one population when None),
    with weights the label fractions; ``g`` is the model's bulk strength. This is the description
    whose resampled networks test whether the trained structure is "one population" (Dubreuil,
    Valente et al. 2022). A :class:`MixtureLowRankRNN` returns its exact description instead
    (when ``labels`` is None); a :class:`FullRankRNN` needs ``rank`` (its top-``rank`` SVD).

    >>> import jax
    >>> model = LowRankRNN(1000, 1, 1, 1, key=jax.random.key(0))
    >>> to_ensemble(model).names
    ('m1', 'n1', 'I1', 'w1')
    """
    if isinstance(model, MixtureLowRankRNN) and labels is None:
        return model.to_ensemble()
    if isinstance(model, FullRankRNN):
        if rank is None:
            raise ArgumentError("rank is required to describe a FullRankRNN by low-rank loadings")
        net, g = model.to_network(rank=rank), 0.0
    elif isinstance(model, AbstractRNN):
        net = model.to_network()
        g = float(net.g)
    else:
        raise ArgumentTypeError(f"model must be a LowRankRNN, FullRankRNN or MixtureLowRankRNN, got {type(model).__name__}")
    X = np.concatenate([np.asarray(a, np.float64) for a in (net.m, net.n, net.inputs, net.readouts)], axis=1)
    names = canonical_names(net.rank, net.n_inputs, net.n_readouts)
    if labels is None:
        labels = np.zeros(net.N, dtype=int)
    labels = np.asarray(labels)
    if labels.shape != (net.N,) or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ArgumentError(f"labels must be non-negative integers of shape (N,) = ({net.N},)")
    present = np.unique(labels)
    means, covs, weights = [], [], []
    for c in present:
        Xc = X[labels == c]
        means.append(Xc.mean(axis=0))
        covs.append(np.atleast_2d(np.cov(Xc, rowvar=False, bias=True)))
        weights.append(len(Xc) / net.N)
    if len(present) == 1:
        return Ensemble(names=names, mean=means[0], cov=covs[0], g=g)
    w = np.asarray(weights)
    return Ensemble(names=names, mean=np.stack(means), cov=np.stack(covs), g=g, weights=w / w.sum())
