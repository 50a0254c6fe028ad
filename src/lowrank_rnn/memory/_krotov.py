r"""The Krotov–Hopfield rule ("unsupervised learning by competing hidden units") and its Lyapunov function.

Krotov & Hopfield, "Unsupervised learning by competing hidden units", PNAS 116:7723 (2019); the
Lyapunov function discussed by Stern & Shea-Brown, "Network dynamics governed by Lyapunov functions:
from memory to classification" (arXiv 2004.08091, Trends Neurosci. 2020).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from .._checks import finite_array, positive_int, prng_key, real_scalar
from .._errors import ArgumentError, ArgumentTypeError, DivergenceError

#: floor of the largest entry of an update before it divides the update (the authors' ``prec``)
_PRECISION = 1e-30


def check_rule(hidden, p, k, delta) -> tuple[int, float, int, float]:
    """Return (hidden, p, k, delta) after checking them: hidden >= 2, p >= 1, 2 <= k <= hidden, delta >= 0."""
    hidden = positive_int("hidden", hidden, low=2)
    p = real_scalar("p", p, low=1.0)
    k = positive_int("k", k, low=2)
    if k > hidden:
        raise ArgumentError(f"k must be at most the number of hidden units ({hidden}), got {k}")
    delta = real_scalar("delta", delta, low=0.0)
    return hidden, p, k, delta


def check_data(name: str, data, *, n_inputs: int | None = None) -> np.ndarray:
    """Return ``data`` as float32 (samples, inputs) after checking it is 2-D, finite and non-empty."""
    arr = finite_array(name, data)
    if arr.ndim != 2:
        hint = " (flatten images to (samples, pixels))" if arr.ndim == 3 else ""
        raise ArgumentError(f"{name} must be 2-D (samples, inputs){hint}, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ArgumentError(f"{name} must hold at least one sample and one input, got shape {arr.shape}")
    if n_inputs is not None and arr.shape[1] != n_inputs:
        raise ArgumentError(f"{name} must have {n_inputs} inputs (columns) to match the weights, got shape {arr.shape}")
    return arr.astype(np.float32)


def _check_weights(weights, *, hidden: int | None = None) -> np.ndarray:
    w = finite_array("weights", weights, ndim=2).astype(np.float32)
    if hidden is not None and w.shape[0] != hidden:
        raise ArgumentError(f"weights must have hidden = {hidden} rows, got shape {w.shape}")
    if w.shape[0] < 2 or w.shape[1] == 0:
        raise ArgumentError(f"weights must be (hidden >= 2, inputs >= 1), got shape {w.shape}")
    return w


def _currents(w, v, p):
    """I[A, mu] = <W_mu, v^A>_mu = sum_i sgn(W_mu i) |W_mu i|^(p-1) v^A_i, shape (samples, hidden)."""
    return v @ (jnp.sign(w) * jnp.abs(w) ** (p - 1)).T


def _activation(currents, k, delta):
    """g: 1 for the most-driven unit, -delta for the k-th, 0 otherwise (per sample), shape of ``currents``."""
    idx = jax.lax.top_k(currents, k)[1]
    hidden = currents.shape[-1]
    dt = currents.dtype  # one_hot's default is float64 under JAX_ENABLE_X64
    return (jax.nn.one_hot(idx[:, 0], hidden, dtype=dt) - delta * jax.nn.one_hot(idx[:, k - 1], hidden, dtype=dt)).astype(dt)


def _drift(w, v, p, k, delta):
    cur = _currents(w, v, p)
    g = _activation(cur, k, delta)
    return (g.T @ v - jnp.sum(g * cur, axis=0)[:, None] * w) / v.shape[0]


def _energy(w, v, p, k, delta):
    norm = jnp.sum(jnp.abs(w) ** p, axis=1) ** ((p - 1) / p)
    q = _currents(w, v, p) / norm
    top = jax.lax.top_k(q, k)[0]
    return -jnp.mean(top[:, 0] - delta * top[:, k - 1])


def _p_norms(w, p):
    return jnp.sum(jnp.abs(w) ** p, axis=1) ** (1 / p)


def p_norms(weights, *, p: float) -> np.ndarray:
    r"""Return each hidden unit's p-norm $\|W_\mu\|_p = (\sum_i |W_{\mu i}|^p)^{1/p}$, shape (hidden,).

    The Krotov–Hopfield rule drives it to 1 for every unit that wins often enough
    (see :func:`krotov_hopfield`).

    >>> import numpy as np
    >>> from lowrank_rnn import memory
    >>> memory.p_norms(np.array([[3.0, 4.0], [1.0, 0.0]]), p=2).tolist()
    [5.0, 1.0]
    """
    p = real_scalar("p", p, low=1.0)
    return np.asarray(_p_norms(jnp.asarray(_check_weights(weights)), p))


def krotov_hopfield_drift(weights, data, *, p: float = 2.0, k: int = 2, delta: float = 0.4) -> np.ndarray:
    r"""Return the averaged Krotov–Hopfield weight change $\langle \dot W \rangle$ over ``data``, shape (hidden, inputs).

    $$\langle \dot W_{\mu i} \rangle = \frac{1}{S}\sum_{A=1}^{S} g_\mu(v^A)\,\big(v^A_i -
    \langle W_\mu, v^A\rangle_\mu\, W_{\mu i}\big), \qquad
    \langle W_\mu, v\rangle_\mu = \sum_i \mathrm{sgn}(W_{\mu i})|W_{\mu i}|^{p-1} v_i ,$$

    with $g_\mu = 1$ for the unit with the largest current, $-\Delta$ for the $k$-th largest, 0
    otherwise (Krotov & Hopfield 2019, PNAS 116:7723, Eq. 3 with $R = 1$ and the ranking of the
    authors' code). :func:`krotov_hopfield` steps along it; :func:`lyapunov` never increases along it
    on the unit p-sphere.

    >>> import numpy as np
    >>> from lowrank_rnn import memory
    >>> w = np.eye(3)[:2]                  # 2 hidden units on the unit sphere, 3 inputs
    >>> memory.krotov_hopfield_drift(w, np.array([[1.0, 0.0, 0.5]]), k=2, delta=0.0).round(3).tolist()
    [[0.0, 0.0, 0.5], [0.0, 0.0, 0.0]]
    """
    w = _check_weights(weights)
    hidden, p, k, delta = check_rule(w.shape[0], p, k, delta)
    v = check_data("data", data, n_inputs=w.shape[1])
    return np.asarray(_drift(jnp.asarray(w), jnp.asarray(v), p, k, delta))


def lyapunov(weights, data, *, p: float = 2.0, k: int = 2, delta: float = 0.4) -> float:
    r"""Return the Lyapunov function $E(W)$ of the averaged Krotov–Hopfield dynamics on ``data``.

    With the scale-free currents $Q^A_\mu = \langle W_\mu, v^A\rangle_\mu / \|W_\mu\|_p^{p-1}$ and
    $Q^A_{(1)} \ge Q^A_{(2)} \ge \dots$ their values in decreasing order for sample $A$,

    $$E(W) = -\frac{1}{S}\sum_{A=1}^{S}\Big[Q^A_{(1)} - \Delta\, Q^A_{(k)}\Big] .$$

    **Why it decreases.** Write $I_\mu = \langle W_\mu, v\rangle_\mu$ and $N_\mu = \sum_i
    |W_{\mu i}|^p$. Differentiating,

    $$\frac{\partial Q_\mu}{\partial W_{\mu i}} = (p-1)\,|W_{\mu i}|^{p-2}\, N_\mu^{-(2p-1)/p}
    \big(N_\mu v_i - I_\mu W_{\mu i}\big),$$

    so on the unit p-sphere $N_\mu = 1$ (where $Q_\mu = I_\mu$ and the ranking by $Q$ is the rule's
    ranking by $I$) the averaged rule of :func:`krotov_hopfield_drift` is a preconditioned gradient
    flow,

    $$\dot W_{\mu i} = \Big\langle g_\mu \big(v_i - I_\mu W_{\mu i}\big)\Big\rangle =
    \frac{|W_{\mu i}|^{2-p}}{p-1}\Big\langle g_\mu \frac{\partial Q_\mu}{\partial W_{\mu i}}\Big\rangle
    = -\frac{|W_{\mu i}|^{2-p}}{p-1}\,\frac{\partial E}{\partial W_{\mu i}},$$

    because $E$ is continuous and, between rank changes, $\partial E/\partial W_{\mu i} =
    -\langle g_\mu\, \partial Q_\mu/\partial W_{\mu i}\rangle$ with $g = 1$ for the top unit and
    $-\Delta$ for the $k$-th. Hence

    $$\frac{dE}{dt} = -(p-1)\sum_{\mu i} |W_{\mu i}|^{p-2}\,
    \Big\langle g_\mu \big(v_i - I_\mu W_{\mu i}\big)\Big\rangle^2 \le 0 .$$

    The sphere is invariant, $\frac{d}{dt} N_\mu = p\,\langle g_\mu I_\mu\rangle (1 - N_\mu)$, and
    attracts every unit with $\langle g_\mu I_\mu\rangle > 0$ (units that mostly win). Normalising a
    mini-batch update by its largest entry rescales time by a positive factor, so the sign of
    $dE/dt$ is kept; with a finite step or single samples $E$ decreases only on average. Off the
    sphere $E$ is still defined ($Q_\mu$ does not change when $W_\mu$ is scaled) but the decrease
    is not guaranteed. (Krotov & Hopfield 2019, PNAS 116:7723; the Lyapunov view: Stern &
    Shea-Brown 2020, arXiv 2004.08091.)

    Parameters
    ----------
    weights: (hidden, inputs) array.
    data: (samples, inputs) array.
    p, k, delta: as in :func:`krotov_hopfield`.

    Examples
    --------
    >>> import jax, numpy as np
    >>> from lowrank_rnn import memory
    >>> v = np.random.default_rng(0).random((40, 10))
    >>> w = np.random.default_rng(1).normal(size=(5, 10)); w /= memory.p_norms(w, p=3)[:, None]
    >>> e0 = memory.lyapunov(w, v, p=3)
    >>> w1 = w + 1e-3 * memory.krotov_hopfield_drift(w, v, p=3)
    >>> bool(memory.lyapunov(w1, v, p=3) < e0)
    True
    """
    w = _check_weights(weights)
    hidden, p, k, delta = check_rule(w.shape[0], p, k, delta)
    v = check_data("data", data, n_inputs=w.shape[1])
    return float(_energy(jnp.asarray(w), jnp.asarray(v), p, k, delta))


@dataclasses.dataclass(frozen=True)
class KrotovHopfield:
    """The result of :func:`krotov_hopfield`: learned weights and the record of training.

    Attributes
    ----------
    weights: (hidden, inputs) learned weights (each hidden unit's receptive field).
    p, k, delta: the rule's parameters.
    energy: :func:`lyapunov` on the monitored samples before training and after each epoch, (epochs + 1,).
    norms: each unit's p-norm at the same times, (epochs + 1, hidden).
    learning_rates: the step size of each epoch, (epochs,), annealed linearly to zero.

    Examples
    --------
    >>> import jax, numpy as np
    >>> from lowrank_rnn import memory
    >>> x = np.random.default_rng(0).random((64, 12))
    >>> res = memory.krotov_hopfield(x, hidden=6, epochs=5, batch_size=16, key=jax.random.key(0), progress=False)
    >>> res.weights.shape, res.energy.shape, res.norms.shape
    ((6, 12), (6,), (6, 6))
    """

    weights: np.ndarray
    p: float
    k: int
    delta: float
    energy: np.ndarray
    norms: np.ndarray
    learning_rates: np.ndarray

    def currents(self, data) -> np.ndarray:
        r"""Return the hidden units' input currents $\langle W_\mu, v\rangle_\mu$ for each row of ``data``, (samples, hidden)."""
        v = check_data("data", data, n_inputs=self.weights.shape[1])
        return np.asarray(_currents(jnp.asarray(self.weights), jnp.asarray(v), self.p))


@functools.partial(jax.jit, static_argnames=("k", "n_batches", "batch"))
def _epoch(w, data, key, lr, p, delta, *, k, n_batches, batch):
    order = jax.random.permutation(key, data.shape[0])[: n_batches * batch]
    batches = data[order].reshape(n_batches, batch, data.shape[1])

    def step(w, v):
        ds = _drift(w, v, p, k, delta)
        scale = jnp.maximum(jnp.max(jnp.abs(ds)), _PRECISION)
        return (w + lr * ds / scale).astype(w.dtype), None

    return jax.lax.scan(step, w, batches)[0]


_energy_jit = jax.jit(_energy, static_argnames=("k",))
_norms_jit = jax.jit(_p_norms)


def krotov_hopfield(data, *, hidden: int = 100, p: float = 2.0, k: int = 2, delta: float = 0.4,
                    epochs: int = 200, key, batch_size: int | None = 100, learning_rate: float = 0.02,
                    initial_weights=None, monitor: int = 2000, progress: bool = True) -> KrotovHopfield:
    r"""Return hidden-unit weights learned by the Krotov–Hopfield rule from ``data`` (no labels).

    Each of the ``hidden`` units has weights $W_\mu \in \mathbb{R}^N$ and receives the current
    $I_\mu = \langle W_\mu, v\rangle_\mu = \sum_i \mathrm{sgn}(W_{\mu i})|W_{\mu i}|^{p-1} v_i$.
    Global inhibition between the hidden units is replaced by a ranking: for each sample the unit
    with the largest current gets $g = 1$ (Hebbian), the $k$-th largest gets $g = -\Delta$
    (anti-Hebbian), the others $g = 0$, and

    $$\tau_L \frac{dW_{\mu i}}{dt} = g_\mu \big(R^p v_i - I_\mu W_{\mu i}\big), \qquad R = 1$$

    (Krotov & Hopfield 2019, PNAS 116:7723, Eq. 3). As in the authors' code, each mini-batch's
    summed update $\Delta W$ is applied as $W \leftarrow W + \epsilon\, \Delta W / \max_{\mu i}
    |\Delta W_{\mu i}|$, and $\epsilon$ falls linearly from ``learning_rate`` to zero,
    $\epsilon_e = \epsilon_0 (1 - e/\text{epochs})$. The weights converge to the unit p-sphere
    $\|W_\mu\|_p = 1$, and the averaged dynamics decrease the Lyapunov function
    :func:`lyapunov` (its docstring gives the derivation), recorded after every epoch.

    Parameters
    ----------
    data: (samples, inputs) array, e.g. images scaled to [0, 1] and flattened (:func:`digits`).
    hidden: number of hidden units K (the authors' default 100; the paper's MNIST network 2000).
    p: the exponent of the p-norm, >= 1 (2 in the authors' default; 3 in the paper's MNIST network).
    k: rank of the anti-Hebbian unit, 2 <= k <= hidden (2; the paper's MNIST network 7).
    delta: strength of the anti-Hebbian update, >= 0 (0.4).
    epochs: passes through the data.
    key: ``jax.random`` key (initial weights, the order of samples).
    batch_size: samples per update; ``None`` (or at least the number of samples) gives full-batch
        updates: a time step of the averaged dynamics. Samples left over after the last full
        mini-batch of an epoch are skipped in that epoch (each epoch draws a fresh order).
    learning_rate: initial step size epsilon_0 > 0 (0.02).
    initial_weights: (hidden, inputs) array; default: independent standard normal entries (as in the
        authors' code).
    monitor: the number of samples (a fixed random subset) on which the energy is recorded.
    progress: show a ``tqdm`` bar with the energy.

    Returns
    -------
    :class:`KrotovHopfield` with the weights and the energy, p-norms and learning rates per epoch.

    Raises
    ------
    DivergenceError: if the weights become non-finite.

    Examples
    --------
    >>> import jax, numpy as np
    >>> from lowrank_rnn import memory
    >>> x, _, _, _ = memory.digits()
    >>> res = memory.krotov_hopfield(x, hidden=20, epochs=20, key=jax.random.key(0), progress=False)
    >>> res.weights.shape
    (20, 64)
    >>> bool(res.energy[-1] < res.energy[0])
    True
    """
    hidden, p, k, delta = check_rule(hidden, p, k, delta)
    v = check_data("data", data)
    epochs = positive_int("epochs", epochs)
    key = prng_key("key", key)
    n_samples, n_inputs = v.shape
    batch = n_samples if batch_size is None else min(positive_int("batch_size", batch_size), n_samples)
    learning_rate = real_scalar("learning_rate", learning_rate, low=0.0, low_open=True)
    monitor = positive_int("monitor", monitor)
    if not isinstance(progress, bool):
        raise ArgumentTypeError(f"progress must be True or False, got {type(progress).__name__}")
    k_init, k_order, k_monitor = jax.random.split(key, 3)
    if initial_weights is None:
        w = jax.random.normal(k_init, (hidden, n_inputs), dtype=jnp.float32)
    else:
        w0 = finite_array("initial_weights", initial_weights, ndim=2)
        if w0.shape != (hidden, n_inputs):
            raise ArgumentError(f"initial_weights must have shape (hidden, inputs) = {(hidden, n_inputs)}, "
                                f"got {w0.shape}")
        w = jnp.asarray(w0, dtype=jnp.float32)
    vj = jnp.asarray(v)
    watch = vj if n_samples <= monitor else vj[jax.random.choice(k_monitor, n_samples, (monitor,), replace=False)]
    n_batches = n_samples // batch
    rates = learning_rate * (1.0 - np.arange(epochs) / epochs)
    energy = [float(_energy_jit(w, watch, p, k=k, delta=delta))]
    norms = [np.asarray(_norms_jit(w, p))]
    bar = tqdm(total=epochs, desc="Krotov-Hopfield", unit="epoch", disable=not progress)
    for e in range(epochs):
        w = _epoch(w, vj, jax.random.fold_in(k_order, e), jnp.float32(rates[e]), p, delta,
                   k=k, n_batches=n_batches, batch=batch)
        energy.append(float(_energy_jit(w, watch, p, k=k, delta=delta)))
        norms.append(np.asarray(_norms_jit(w, p)))
        if not (np.isfinite(energy[-1]) and np.all(np.isfinite(norms[-1]))):
            bar.close()
            raise DivergenceError(f"krotov_hopfield: the weights became non-finite in epoch {e + 1} "
                                  f"(learning_rate {learning_rate}, p {p}); lower learning_rate", time=e + 1)
        bar.set_postfix(energy=f"{energy[-1]:.4g}")
        bar.update(1)
    bar.close()
    return KrotovHopfield(weights=np.asarray(w), p=p, k=k, delta=delta, energy=np.asarray(energy),
                          norms=np.stack(norms), learning_rates=rates)
