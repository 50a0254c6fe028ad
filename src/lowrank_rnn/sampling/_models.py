"""Score models and the networks that sample with them (Chen, Jiang, Rao & Shea-Brown 2023).

For neural activity ``x`` to be samples of a distribution ``p``, its dynamics can be the Langevin
equation

$$dx = \\nabla \\log p(x)\\, dt + \\sqrt{2}\\, dB_t,$$

whose stationary distribution is ``p``. The networks here differ in which drifts (scores) they can
express (Chen, Jiang, Rao & Shea-Brown 2023, "Expressive probabilistic sampling in recurrent neural
networks", NeurIPS 2023, arXiv 2308.11809):

- :class:`ScoreModel`, the surrogate $s(x) = -x + W_1 \\phi(W_2 x + b)$ trained by denoising score
  matching, and :class:`ReservoirSampler`, the reservoir-sampler network (RSN) it defines: a
  reservoir of ``hidden`` rate neurons with recurrent weights $W_{rec} = W_2 W_1$ (rank ``dim``),
  readout $W_{out} = W_1$ and noise injected through $\\Sigma = W_1^T (W_1 W_1^T)^{-1}$, whose
  outputs follow the Langevin equation exactly;
- :class:`SamplerOnly`, networks whose ``dim`` neurons are the samples themselves, with firing-rate
  dynamics ($s(x) = \\gamma \\odot (\\phi(W x + b) - x)$) or synaptic-current dynamics
  ($s(x) = W \\phi(x) + b - \\gamma \\odot x$): a fixed, small family of drifts.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import positive_int, prng_key
from .._errors import ArgumentError, ArgumentTypeError

_ACTIVATIONS = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "softplus": jax.nn.softplus,
    "linear": lambda z: z,
}


def _activation(name) -> str:
    if not isinstance(name, str):
        raise ArgumentTypeError(f"activation must be one of {tuple(_ACTIVATIONS)}, got {type(name).__name__}")
    if name not in _ACTIVATIONS:
        raise ArgumentError(f"activation must be one of {tuple(_ACTIVATIONS)}, got {name!r}")
    return name


class ScoreModel(eqx.Module):
    """The surrogate score $s(x) = -x + W_1 \\phi(W_2 x + b)$ of Chen et al. 2023 (arXiv 2308.11809).

    ``W1`` is ``(dim, hidden)``, ``W2`` is ``(hidden, dim)``, ``b`` is ``(hidden,)``. Initial weights
    are Gaussian with variance ``1 / fan_in`` and ``b`` is standard normal (so that the kinks of a
    ReLU reservoir cover data of unit scale). ``activation`` is ``"relu"`` (the paper's), ``"tanh"``,
    ``"softplus"`` or ``"linear"`` (an affine score: the exact family of Gaussian targets). Train it
    with :func:`~lowrank_rnn.sampling.train_dsm`; turn it into a network with
    :meth:`ReservoirSampler.from_score`.

    Parameters
    ----------
    dim: dimension of the samples.
    hidden: number of reservoir units (at least ``dim`` for a reservoir sampler).
    activation: the nonlinearity $\\phi$.
    key: ``jax.random`` key of the initial weights.

    Examples
    --------
    >>> import jax
    >>> model = ScoreModel(2, 16, key=jax.random.key(0))
    >>> model(jax.numpy.zeros(2)).shape
    (2,)
    """

    W1: jax.Array
    W2: jax.Array
    b: jax.Array
    activation: str = eqx.field(static=True)

    def __init__(self, dim: int, hidden: int, *, activation: str = "relu", key):
        dim = positive_int("dim", dim)
        hidden = positive_int("hidden", hidden)
        self.activation = _activation(activation)
        k1, k2, k3 = jax.random.split(prng_key("key", key), 3)
        self.W1 = jax.random.normal(k1, (dim, hidden)) / np.sqrt(hidden)
        self.W2 = jax.random.normal(k2, (hidden, dim)) / np.sqrt(dim)
        self.b = jax.random.normal(k3, (hidden,))

    @property
    def dim(self) -> int:
        """The dimension of the samples."""
        return self.W1.shape[0]

    @property
    def hidden(self) -> int:
        """The number of reservoir units."""
        return self.W1.shape[1]

    def __call__(self, x: jax.Array) -> jax.Array:
        """Return $s(x)$ for one state ``x`` of shape ``(dim,)`` (``jax.vmap`` it for a batch)."""
        return -x + self.W1 @ _ACTIVATIONS[self.activation](self.W2 @ x + self.b)


class SamplerOnly(eqx.Module):
    """A sampler-only network: its ``dim`` neurons are the samples (Chen et al. 2023, arXiv 2308.11809).

    The drift of $dx = s(x)\\,dt + \\sqrt{2}\\,dB_t$ is that of a rate network whose neurons are the
    sampled coordinates:

    - ``dynamics="rate"`` (firing-rate): $s(x) = \\gamma \\odot (\\phi(W x + b) - x)$;
    - ``dynamics="current"`` (synaptic-current): $s(x) = W \\phi(x) + b - \\gamma \\odot x$.

    ``W`` is ``(dim, dim)``, ``b`` and the per-neuron leak ``gamma`` are ``(dim,)``; all are trained
    by :func:`~lowrank_rnn.sampling.train_dsm` like a :class:`ScoreModel`. These drifts form a
    small family: in one dimension, with a sigmoid-shaped $\\phi$ the equation $s(x) = 0$ has at most
    three roots, so the stationary density has at most two modes (with a ReLU, at most one); the
    current form's score is a combination of the fixed functions $\\phi(x_j)$ and $x_j$. The paper's
    point is that a reservoir (:class:`ReservoirSampler`) removes this limit.

    Parameters
    ----------
    dim: number of neurons (the dimension of the samples).
    dynamics: ``"rate"`` or ``"current"``.
    activation: $\\phi$: ``"tanh"`` (default), ``"relu"``, ``"softplus"`` or ``"linear"``.
    key: ``jax.random`` key of the initial weights (``W`` Gaussian of variance ``1 / dim``, ``b`` zero,
        ``gamma`` one).

    Examples
    --------
    >>> import jax
    >>> net = SamplerOnly(1, dynamics="current", key=jax.random.key(0))
    >>> net(jax.numpy.ones(1)).shape
    (1,)
    """

    W: jax.Array
    b: jax.Array
    gamma: jax.Array
    dynamics: str = eqx.field(static=True)
    activation: str = eqx.field(static=True)

    def __init__(self, dim: int, *, dynamics: str = "rate", activation: str = "tanh", key):
        dim = positive_int("dim", dim)
        if dynamics not in ("rate", "current"):
            raise ArgumentError(f"dynamics must be 'rate' or 'current', got {dynamics!r}")
        self.dynamics = dynamics
        self.activation = _activation(activation)
        self.W = jax.random.normal(prng_key("key", key), (dim, dim)) / np.sqrt(dim)
        self.b = jnp.zeros(dim)
        self.gamma = jnp.ones(dim)

    @property
    def dim(self) -> int:
        """The number of neurons, which is the dimension of the samples."""
        return self.W.shape[0]

    def __call__(self, x: jax.Array) -> jax.Array:
        """Return the drift $s(x)$ for one state ``x`` of shape ``(dim,)``."""
        phi = _ACTIVATIONS[self.activation]
        if self.dynamics == "rate":
            return self.gamma * (phi(self.W @ x + self.b) - x)
        return self.W @ phi(x) + self.b - self.gamma * x


class ReservoirSampler(eqx.Module):
    """A reservoir-sampler network (RSN) whose outputs follow Langevin dynamics on a learned score.

    Reservoir rates $r \\in R^{hidden}$ obey (Chen et al. 2023, arXiv 2308.11809)

    $$dr = [-r + \\phi(W_{rec} r + b)]\\,dt + \\sqrt{2}\\,\\Sigma\\, dB_t, \\qquad x = W_{out} r,$$

    with $W_{rec} = W_2 W_1$, $W_{out} = W_1$ and $\\Sigma = W_1^T (W_1 W_1^T)^{-1}$ (noise of
    dimension ``dim`` only). Since $W_{out} \\Sigma = I$, the output obeys
    $dx = [-x + W_1 \\phi(W_2 x + b)]\\,dt + \\sqrt{2}\\,dB_t$: exactly the Langevin equation of the
    :class:`ScoreModel` the network was built from. $W_{rec}$ has rank ``dim``; the dynamics use
    the factors ($\\phi(W_2 (W_1 r) + b)$, cost O(hidden dim) per step) and never the dense matrix.

    Build one with :meth:`from_score`.

    Examples
    --------
    >>> import jax
    >>> net = ReservoirSampler.from_score(ScoreModel(2, 32, key=jax.random.key(0)))
    >>> net.W_rec.shape, net.W_out.shape, net.Sigma.shape
    ((32, 32), (2, 32), (32, 2))
    """

    W1: jax.Array
    W2: jax.Array
    b: jax.Array
    Sigma: jax.Array
    activation: str = eqx.field(static=True)

    @classmethod
    def from_score(cls, model: ScoreModel, *, check: bool = True, key=None) -> "ReservoirSampler":
        """Return the reservoir-sampler network of a trained :class:`ScoreModel`.

        With ``check`` (default), verifies on the returned network that $W_{out}\\Sigma = I$ and
        that the output drift $W_{out}(-r + \\phi(W_{rec} r + b))$ equals the score
        $s(W_{out} r)$ at 64 random reservoir states (drawn with ``key``, default
        ``jax.random.key(0)``), both to a relative tolerance of ``1e-3`` (float32 rounding of a
        well-conditioned $W_1$); raises :class:`~lowrank_rnn.ArgumentError` naming ``model`` when
        $W_1$ has rank below ``dim`` (e.g. ``hidden < dim``) or either check fails.

        Examples
        --------
        >>> import jax, jax.numpy as jnp
        >>> net = ReservoirSampler.from_score(ScoreModel(1, 8, key=jax.random.key(1)))
        >>> bool(jnp.allclose(net.W_out @ net.Sigma, 1.0, atol=1e-5))
        True
        """
        if not isinstance(model, ScoreModel):
            raise ArgumentTypeError(f"model must be a ScoreModel, got {type(model).__name__}")
        W1 = np.asarray(model.W1, np.float64)
        dim, hidden = W1.shape
        if hidden < dim:
            raise ArgumentError(f"model: a reservoir sampler needs hidden >= dim (W1 W1^T invertible), "
                                f"got hidden = {hidden} < dim = {dim}")
        gram = W1 @ W1.T
        if not np.all(np.isfinite(gram)) or np.linalg.cond(gram) > 1e6:
            raise ArgumentError(f"model: W1 W1^T is singular or ill-conditioned (condition number "
                                f"{np.linalg.cond(gram):.3g}); W1 must have rank dim = {dim}")
        sigma = np.linalg.solve(gram, W1).T  # W1^T (W1 W1^T)^{-1}, W1 W1^T symmetric
        dtype = model.W1.dtype
        net = cls(W1=model.W1, W2=model.W2, b=model.b, Sigma=jnp.asarray(sigma, dtype),
                  activation=model.activation)
        if check:
            net._check(model, jax.random.key(0) if key is None else prng_key("key", key))
        return net

    def _check(self, model: ScoreModel, key) -> None:
        eye = np.eye(self.dim)
        err = float(np.max(np.abs(np.asarray(self.W_out @ self.Sigma, np.float64) - eye)))
        if err > 1e-3:
            raise ArgumentError(f"model: W_out Sigma differs from the identity by {err:.3g} (W1 ill-conditioned)")
        r = jax.random.normal(key, (64, self.hidden)) / np.sqrt(self.hidden)
        drift = self.output_drift(r)
        score = jax.vmap(model)(r @ self.W1.T)
        scale = float(jnp.max(jnp.abs(score))) + 1.0
        err = float(jnp.max(jnp.abs(drift - score)))
        if err > 1e-3 * scale:
            raise ArgumentError(f"model: the network's output drift differs from the score by {err:.3g}")

    @property
    def dim(self) -> int:
        """The number of outputs (the dimension of the samples)."""
        return self.W1.shape[0]

    @property
    def hidden(self) -> int:
        """The number of reservoir units."""
        return self.W1.shape[1]

    @property
    def W_out(self) -> jax.Array:
        """The readout $W_{out} = W_1$, ``(dim, hidden)``."""
        return self.W1

    @property
    def W_rec(self) -> jax.Array:
        """The recurrent weights $W_{rec} = W_2 W_1$, ``(hidden, hidden)``, of rank ``dim`` (formed
        on request; the dynamics use the factors)."""
        return self.W2 @ self.W1

    def rate_drive(self, r: jax.Array) -> jax.Array:
        """Return $\\phi(W_{rec} r + b)$ for reservoir states ``r`` of shape ``(..., hidden)``."""
        return _ACTIVATIONS[self.activation]((r @ self.W1.T) @ self.W2.T + self.b)

    def output_drift(self, r: jax.Array) -> jax.Array:
        """Return the drift of the outputs, $W_{out}(-r + \\phi(W_{rec} r + b))$, ``(..., dim)``."""
        return (self.rate_drive(r) - r) @ self.W1.T

    def score(self, x: jax.Array) -> jax.Array:
        """Return the score the outputs sample, $-x + W_1 \\phi(W_2 x + b)$, for one ``x`` of shape
        ``(dim,)``."""
        return -x + self.W1 @ _ACTIVATIONS[self.activation](self.W2 @ x + self.b)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Return :meth:`score` (so that the network is a score model too)."""
        return self.score(x)
