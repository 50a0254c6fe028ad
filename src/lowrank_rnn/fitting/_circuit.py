"""Latent circuit inference (Langdon & Engel 2025, Nat. Neurosci. 28:665).

A small circuit of ``n`` nodes,

$$\\tau \\dot x = -x + \\mathrm{ReLU}(w_{rec} x + w_{in} u + b) + \\text{noise}, \\qquad z = w_{out} x,$$

is fitted to recorded (or simulated) activity ``y`` of ``N`` neurons through an orthonormal
embedding $y \\approx Q x$, $Q^T Q = I_n$. Each input channel drives its own dedicated node and each
output is read from its own dedicated node, with non-negative weights (the masks of the paper), so
the nodes carry fixed meanings (context, sensory, choice). $Q$ is the first ``n`` columns of the
Cayley transform $O = (I - A)(I + A)^{-1}$ of a skew-symmetric $A = (B - B^T)/2$, $B$ free, so every
gradient step keeps $Q$ orthonormal exactly. The loss is the paper's Eq. 7 with its two terms
normalised as in the authors' code:

$$L = \\frac{\\sum_{k,t} \\|z_{kt} - w_{out} x_{kt}\\|^2}{K T} + l_y
\\frac{\\sum_{k,t} \\|y_{kt} - Q x_{kt}\\|^2}{\\sum_{k,t} \\|y_{kt} - \\bar y\\|^2}.$$

The circuit is integrated with the library's integrator (:func:`lowrank_rnn.dynamics.integrate`,
the convex Euler step ``(1 - alpha) x + alpha F`` of the authors' code) from ``x = 0``; many random
restarts are trained in one ``jax.vmap``-ed program and the best kept.
"""

from __future__ import annotations

import dataclasses
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from .._checks import finite_array, positive_int, prng_key, real_scalar
from .._errors import ArgumentError, ArgumentTypeError, DivergenceError
from .._io import register
from ..dynamics import Euler, SaveAt, VectorField, integrate, white_noise
from ..models import AbstractRNN, run_trials

_CONVEX = Euler(convex=True)


# ---------------------------------------------------------------------------------------- the circuit
class CircuitField(VectorField):
    """The vector field ``F(x, u) = ReLU(w_rec x + w_in u + b)`` of a latent circuit, for a batch of
    states ``(B, n)`` and inputs ``(B, K)``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> field = CircuitField(jnp.zeros((2, 2)), jnp.eye(2), 0.1)
    >>> field.drive(jnp.zeros((1, 2)), None, jnp.array([[1.0, -1.0]]))[0]
    Array([[1.1, 0. ]], dtype=float32)
    """

    def __init__(self, w_rec, w_in, bias):
        self.w_rec, self.w_in, self.bias = w_rec, w_in, bias

    def drive(self, x, aux, u):
        return jax.nn.relu(x @ self.w_rec.T + u @ self.w_in.T + self.bias), None


def _circuit_states(w_rec, w_in, bias, inputs, *, alpha, noise_scale=0.0, key=None):
    """States ``(B, T, n)`` after each step driven by ``inputs`` ``(B, T, K)``, from ``x = 0``."""
    B = inputs.shape[0]
    n = w_rec.shape[0]
    noise = None if key is None or noise_scale == 0 else white_noise("hash", key, noise_scale)
    x0 = jnp.zeros((B, n), inputs.dtype)
    _, xs = integrate(CircuitField(w_rec, w_in, bias), x0, jnp.swapaxes(inputs, 0, 1), alpha=alpha,
                      solver=_CONVEX, noise=noise, saveat=SaveAt(fn=lambda x, aux, extra: x))
    return jnp.swapaxes(xs, 0, 1)


def noise_from_langdon(sigma: float, alpha: float) -> float:
    """Return the library's noise ``sigma`` (per step ``sigma sqrt(alpha) xi``, added after the
    rectification) equal to the authors' ``sigma_rec`` (their step adds ``sqrt(2 alpha) sigma_rec xi``
    inside the ReLU, then multiplies by ``alpha``): $\\sigma = \\sqrt{2}\\, \\alpha\\, \\sigma_{rec}$.
    The two agree for every node above threshold.

    Examples
    --------
    >>> round(noise_from_langdon(0.15, 0.2), 4)
    0.0424
    """
    return float(np.sqrt(2.0) * alpha * sigma)


@dataclasses.dataclass(frozen=True)
class LatentCircuit:
    """An ``n``-node latent circuit: $x_{t+1} = (1-\\alpha) x_t + \\alpha\\, \\mathrm{ReLU}(w_{rec} x_t +
    w_{in} u_t + b)$ plus noise, outputs $z = w_{out} x$ (Langdon & Engel 2025).

    Attributes: ``w_rec`` (n, n), ``w_in`` (n, K), ``w_out`` (O, n), ``bias`` (the constant drive
    ``b`` of every node), ``alpha`` (dt / tau) and ``noise`` (sigma of the library's convention).

    Examples
    --------
    >>> import numpy as np
    >>> c = LatentCircuit(np.zeros((3, 3)), np.eye(3, 1), np.eye(1, 3, 2), bias=0.0, alpha=0.2, noise=0.0)
    >>> c.simulate(np.ones((2, 10, 1))).shape          # (trials, time, nodes)
    (2, 10, 3)
    """

    w_rec: np.ndarray
    w_in: np.ndarray
    w_out: np.ndarray
    bias: float = 0.2
    alpha: float = 0.2
    noise: float = 0.0

    @property
    def n_nodes(self) -> int:
        """n, the number of nodes."""
        return int(np.shape(self.w_rec)[0])

    def simulate(self, inputs, *, key: jax.Array | None = None) -> np.ndarray:
        """Return the states ``(B, T, n)`` after each step driven by ``inputs`` ``(B, T, K)``, from
        ``x = 0`` (``key``: with the circuit's noise; None: deterministic)."""
        u = jnp.asarray(finite_array("inputs", inputs, ndim=3), jnp.float32)
        if u.shape[2] != np.shape(self.w_in)[1]:
            raise ArgumentError(f"inputs must have {np.shape(self.w_in)[1]} channels (last axis), got {u.shape[2]}")
        scale = self.noise * float(np.sqrt(self.alpha))
        xs = _circuit_states(jnp.asarray(self.w_rec, jnp.float32), jnp.asarray(self.w_in, jnp.float32),
                             jnp.float32(self.bias), u, alpha=self.alpha, noise_scale=scale, key=key)
        return np.asarray(xs)

    def outputs(self, states) -> np.ndarray:
        """Return the outputs ``z = w_out x``, ``(..., O)``, of states ``(..., n)``."""
        return np.asarray(states) @ np.asarray(self.w_out).T

    def perturbed(self, delta) -> LatentCircuit:
        """Return the circuit with ``w_rec + delta``."""
        return dataclasses.replace(self, w_rec=np.asarray(self.w_rec) + np.asarray(delta))


# ---------------------------------------------------------------------------------------- results
@dataclasses.dataclass(frozen=True)
class CircuitEmbedding:
    """The embedding test of a latent circuit in a network of known connectivity ``W``: if the
    circuit is embedded, $w_{rec} \\approx Q^T W Q$ (and $w_{in} \\approx Q^T W_{in}$).

    Attributes: ``projected`` ($Q^T W Q$, n × n), ``w_rec`` (the fitted one), ``correlation``
    (Pearson r over the n² entries), ``projected_inputs`` ($Q^T W_{in}$ or None) and
    ``input_correlation`` (over the input nodes' entries, or None).

    Examples
    --------
    >>> import numpy as np
    >>> e = embedding_test(np.eye(3), np.eye(5, 3), np.diag([1.0, 2, 3, 4, 5]))
    >>> e.projected.shape, round(e.correlation, 3)
    ((3, 3), 0.894)
    """

    projected: np.ndarray
    w_rec: np.ndarray
    correlation: float
    projected_inputs: np.ndarray | None = None
    input_correlation: float | None = None


def _corr(a, b) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def embedding_test(w_rec, Q, W, *, w_in=None, W_in=None) -> CircuitEmbedding:
    """Return the :class:`CircuitEmbedding` of a fitted circuit in a network of recurrent weights
    ``W`` (N × N): $Q^T W Q$ against ``w_rec`` and, given ``w_in`` (n × K) and ``W_in`` (N × K),
    $Q^T W_{in}$ against ``w_in`` (Langdon & Engel 2025, Fig. 3).

    Examples
    --------
    >>> import numpy as np
    >>> Q = np.linalg.qr(np.random.default_rng(0).normal(size=(20, 4)))[0]
    >>> w = np.random.default_rng(1).normal(size=(4, 4))
    >>> embedding_test(w, Q, Q @ w @ Q.T).correlation      # exactly embedded
    1.0
    """
    Q = np.asarray(Q, np.float64)
    W = finite_array("W", W, ndim=2)
    if W.shape != (Q.shape[0], Q.shape[0]):
        raise ArgumentError(f"W must be ({Q.shape[0]}, {Q.shape[0]}) (neurons x neurons), got {W.shape}")
    proj = Q.T @ W @ Q
    w_rec = np.asarray(w_rec, np.float64)
    pin = cin = None
    if w_in is not None and W_in is not None:
        W_in = finite_array("W_in", W_in, ndim=2)
        pin = Q.T @ W_in
        w_in = np.asarray(w_in, np.float64)
        on = w_in != 0
        cin = _corr(pin[on], w_in[on]) if on.sum() > 1 else None
    return CircuitEmbedding(projected=proj, w_rec=w_rec, correlation=round(_corr(proj, w_rec), 12),
                            projected_inputs=pin, input_correlation=cin)


@dataclasses.dataclass(frozen=True)
class LatentCircuitFit:
    """The result of :func:`fit_latent_circuit`.

    Attributes
    ----------
    circuit: the fitted :class:`LatentCircuit` (noise as fitted).
    Q: the embedding ``(N, n)``, orthonormal columns.
    input_nodes, output_nodes: the node of each input channel and of each output.
    nmse_y: $\\sum \\|y - Qx\\|^2 / \\sum \\|y - \\bar y\\|^2$ on all trials (noise-free circuit).
    mse_z: $\\sum \\|z - w_{out} x\\|^2 / (K T)$ on all trials (noise-free circuit).
    nmse_q: the variance outside the subspace, $\\sum \\|y - Q Q^T y\\|^2 / \\sum \\|y - \\bar y\\|^2$.
    losses: ``(epochs, restarts)`` mean training loss per epoch of every restart.
    final_losses: ``(restarts,)`` noise-free loss on all trials at the end (inf: diverged).
    best: the index of the kept restart.
    embedding: :class:`CircuitEmbedding` when the connectivity was known, else None.

    Examples
    --------
    Fitted by :func:`fit_latent_circuit`; the fields by hand:

    >>> import numpy as np
    >>> c = LatentCircuit(np.zeros((3, 3)), np.eye(3, 1), np.eye(1, 3, 2))
    >>> fit = LatentCircuitFit(c, np.eye(5, 3), (0,), (2,), 0.1, 0.01, 0.05, np.zeros((1, 1)), np.zeros(1), 0)
    >>> fit.project(np.ones((2, 5))).shape, fit.perturbation(np.eye(3)).shape
    ((2, 3), (5, 5))
    """

    circuit: LatentCircuit
    Q: np.ndarray
    input_nodes: tuple[int, ...]
    output_nodes: tuple[int, ...]
    nmse_y: float
    mse_z: float
    nmse_q: float
    losses: np.ndarray
    final_losses: np.ndarray
    best: int
    embedding: CircuitEmbedding | None = None
    node_names: tuple[str, ...] | None = None

    @property
    def w_rec(self) -> np.ndarray:
        """The fitted recurrent weights ``(n, n)``."""
        return np.asarray(self.circuit.w_rec)

    @property
    def w_in(self) -> np.ndarray:
        """The fitted input weights ``(n, K)`` (non-zero on the input nodes only)."""
        return np.asarray(self.circuit.w_in)

    @property
    def w_out(self) -> np.ndarray:
        """The fitted output weights ``(O, n)`` (non-zero on the output nodes only)."""
        return np.asarray(self.circuit.w_out)

    @property
    def n_nodes(self) -> int:
        """n."""
        return self.circuit.n_nodes

    def project(self, rates) -> np.ndarray:
        """Return activity ``(..., N)`` projected on the circuit's nodes, $Q^T y$, ``(..., n)``."""
        return np.asarray(rates) @ self.Q

    def embed(self, states) -> np.ndarray:
        """Return circuit states ``(..., n)`` embedded in the neurons' space, $Q x$, ``(..., N)``."""
        return np.asarray(states) @ self.Q.T

    def perturbation(self, delta) -> np.ndarray:
        """Return the connectivity change $Q\\, \\delta w\\, Q^T$ ``(N, N)`` that carries the circuit
        change ``delta`` (n × n) into the network (the paper's patterned perturbation)."""
        delta = finite_array("delta", delta, ndim=2)
        if delta.shape != (self.n_nodes, self.n_nodes):
            raise ArgumentError(f"delta must be ({self.n_nodes}, {self.n_nodes}), got {delta.shape}")
        return self.Q @ delta @ self.Q.T

    def plot(self, *, axes=None):
        """Draw ``w_rec`` (and, when the connectivity was known, $Q^T W Q$ and the scatter of the
        two); return the figure."""
        return plot_circuit(self, axes=axes)


def plot_circuit(fit: LatentCircuitFit, *, axes=None):
    """Plot a fitted circuit's ``w_rec`` as a signed heat map, and for a known connectivity the
    embedding test ($Q^T W Q$ beside it and the scatter of their entries); return the figure.

    Examples
    --------
    >>> import numpy as np
    >>> c = LatentCircuit(np.eye(3) * 0.5, np.eye(3, 1), np.eye(1, 3, 2))
    >>> fit = LatentCircuitFit(c, np.eye(4, 3), (0,), (2,), 0.1, 0.1, 0.1, np.zeros((1, 1)),
    ...                        np.zeros(1), 0)
    >>> fig = plot_circuit(fit)
    >>> len(fig.axes) >= 1
    True
    """
    import matplotlib.pyplot as plt

    emb = fit.embedding
    n_panels = 1 if emb is None else 3
    if axes is None:
        fig, axes = plt.subplots(1, n_panels, figsize=(4.2 * n_panels, 3.8), squeeze=False)
        axes = axes[0]
    else:
        axes = np.atleast_1d(axes)
        fig = axes[0].figure
    names = fit.node_names or tuple(str(i) for i in range(fit.n_nodes))
    mats = [(fit.w_rec, "fitted $w_{rec}$")]
    if emb is not None:
        mats.append((emb.projected, "$Q^T W Q$"))
    lim = max(float(np.abs(m).max()) for m, _ in mats) or 1.0
    for ax, (m, title) in zip(axes, mats):
        im = ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize="small")
        ax.set_yticks(range(len(names)), names, fontsize="small")
        ax.set_xlabel("from node")
        ax.set_ylabel("to node")
        ax.set_title(title)
        fig.colorbar(im, ax=ax, shrink=0.8)
    if emb is not None and len(axes) > 2:
        ax = axes[2]
        ax.scatter(emb.projected.ravel(), emb.w_rec.ravel(), s=12)
        lo = min(emb.projected.min(), emb.w_rec.min())
        hi = max(emb.projected.max(), emb.w_rec.max())
        ax.plot([lo, hi], [lo, hi], color="0.6", lw=0.8)
        ax.set_xlabel("$Q^T W Q$")
        ax.set_ylabel("$w_{rec}$")
        ax.set_title(f"embedding test, r = {emb.correlation:.2f}")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------- fitting
def cayley_embedding(B: jax.Array, n: int) -> jax.Array:
    """Return the first ``n`` columns of the Cayley transform $O = (I - A)(I + A)^{-1}$ of
    $A = (B - B^T)/2$: an ``(N, n)`` matrix with orthonormal columns (solved, no inverse formed;
    the two factors commute).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> Q = cayley_embedding(jax.random.uniform(jax.random.key(0), (6, 6)), 2)
    >>> bool(jnp.allclose(Q.T @ Q, jnp.eye(2), atol=1e-5))
    True
    """
    N = B.shape[0]
    A = 0.5 * (B - B.T)
    eye = jnp.eye(N, dtype=B.dtype)
    return jnp.linalg.solve(eye + A, (eye - A)[:, :n])


def _masks(n_nodes, n_inputs, n_outputs, input_nodes, output_nodes):
    def nodes(name, given, count, default):
        if given is None:
            return tuple(default)
        if isinstance(given, (str, bytes)) or not hasattr(given, "__len__"):
            raise ArgumentTypeError(f"{name} must be a sequence of node indices, got {type(given).__name__}")
        out = []
        for i in given:
            if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
                raise ArgumentTypeError(f"{name} must hold integer node indices, got {i!r}")
            if not 0 <= int(i) < n_nodes:
                raise ArgumentError(f"{name} must hold node indices in [0, {n_nodes - 1}] (n_nodes = {n_nodes}), "
                                    f"got {int(i)}")
            out.append(int(i))
        if len(out) != count:
            raise ArgumentError(f"{name} must give one node per {name.split('_')[0]} channel ({count}), got {len(out)}")
        if len(set(out)) != len(out):
            raise ArgumentError(f"{name} must not repeat a node (each channel has a dedicated node), got {out}")
        return tuple(out)

    ins = nodes("input_nodes", input_nodes, n_inputs, range(n_inputs))
    outs = nodes("output_nodes", output_nodes, n_outputs, range(n_nodes - n_outputs, n_nodes))
    return ins, outs


def _record_model(model, task, n_trials, key):
    """Trials of ``task`` run through ``model``: (rates, inputs, outputs, W or None, W_in or None)."""
    k_task, k_run = jax.random.split(key)
    trials = task.sample(k_task, n_trials)
    z, states = run_trials(model, trials.inputs, key=k_run, return_states=True)
    states = states[:, 1:]
    activity = model.activity(states) if hasattr(model, "activity") else model.phi(states)
    W = W_in = None
    if getattr(model, "form", None) == "rate" and hasattr(model, "weights"):
        # rate form h' = (1 - alpha) h + alpha phi(W h + W_in u): the circuit's own form, so the
        # embedding test Q^T W Q ~ w_rec applies
        W = np.asarray(model.weights())
        W_in = np.asarray(model.input_vectors * model.input_scales)
    return np.asarray(activity), np.asarray(trials.inputs), np.asarray(z), W, W_in


def _data(data, task, n_trials, key):
    if isinstance(data, AbstractRNN):
        if task is None:
            raise ArgumentError("fitting a latent circuit to a model needs task= (the trials to record)")
        if not hasattr(task, "sample") or getattr(task, "n_inputs", None) != data.n_inputs:
            raise ArgumentError(f"task must be a task of lowrank_rnn.tasks with the model's {data.n_inputs} input "
                                f"channels, got {type(task).__name__} with {getattr(task, 'n_inputs', None)}")
        n_trials = positive_int("n_trials", 512 if n_trials is None else n_trials)
        return _record_model(data, task, n_trials, key)
    if task is not None:
        raise ArgumentError("task= applies when fitting to a model; a recording carries its own inputs")
    if not hasattr(data, "rates"):
        raise ArgumentTypeError("data must be a Recording (rates (trials, time, neurons), inputs, outputs) or a "
                                f"trained model with task=, got {type(data).__name__}")
    rates = finite_array("data.rates", data.rates, ndim=3)
    inputs = getattr(data, "inputs", None)
    if inputs is None:
        raise ArgumentError("data.inputs is missing: a latent circuit is driven by the recording's inputs "
                            "(trials, time, K)")
    inputs = finite_array("data.inputs", inputs, ndim=3)
    outputs = getattr(data, "outputs", None)
    outputs = (np.zeros(rates.shape[:2] + (0,)) if outputs is None
               else finite_array("data.outputs", outputs, ndim=3))
    for name, arr in (("data.inputs", inputs), ("data.outputs", outputs)):
        if arr.shape[:2] != rates.shape[:2]:
            raise ArgumentError(f"{name} must have the trials and time steps of data.rates {rates.shape[:2]}, "
                                f"got {arr.shape[:2]}")
    return rates, inputs, outputs, None, None


def fit_latent_circuit(data, n_nodes: int, *, key: jax.Array, input_nodes=None, output_nodes=None,
                       restarts: int = 8, epochs: int = 500, lr: float = 0.02, weight_decay: float = 1e-3,
                       batch_size: int = 128, alpha: float = 0.2, sigma: float = 0.15, bias: float = 0.2,
                       l_y: float = 1.0, connectivity=None, input_weights=None, task=None,
                       n_trials: int | None = None, node_names=None, progress: bool = True) -> LatentCircuitFit:
    """Return the best of ``restarts`` latent circuits of ``n_nodes`` nodes fitted to ``data``.

    The circuit (Langdon & Engel 2025, Nat. Neurosci. 28:665, Eqs. 1-7):

    $$x_{t+1} = (1 - \\alpha) x_t + \\alpha\\, \\mathrm{ReLU}(w_{rec} x_t + w_{in} u_t + b) + \\sigma
    \\sqrt{\\alpha}\\, \\xi_t, \\qquad z_t = w_{out} x_t, \\qquad y_t \\approx Q x_t,$$

    from $x = 0$, with $Q$ ``(N, n)`` orthonormal (the Cayley transform of a free ``N × N`` matrix,
    :func:`cayley_embedding`). Input channel ``k`` drives node ``input_nodes[k]`` only, output ``o``
    reads node ``output_nodes[o]`` only, both with non-negative weights (projected after every
    step). Loss per batch: $\\mathrm{mse}_z + l_y\\, \\mathrm{nmse}_y$ (see the module docstring), with
    Adam and coupled weight decay on every parameter (as ``torch.optim.Adam(weight_decay=...)``),
    noise on during fitting. Each epoch shuffles the trials into ``max(1, trials // batch_size)``
    batches (the remainder is left out of that epoch). The ``restarts`` differ in their
    initialisation ($w_{rec} \\sim N(0, 0.025^2)$, input and output weights 0.2 ± 0.01, $B \\sim
    U(0, 1)$, as in the authors' code) and noise; they run in one vmapped program, and the one with
    the lowest noise-free loss on all trials at the end is kept. A restart whose loss becomes
    non-finite is dropped; :class:`~lowrank_rnn.DivergenceError` when all do.

    Differences from the published code: the noise is added after the rectification (the library's
    Euler–Maruyama convention), with ``sigma`` the authors' ``sigma_rec`` converted by
    :func:`noise_from_langdon` (equal for active nodes); the latents are not z-scored inside
    ``nmse_y`` (the paper's Eq. 7 compares $y$ with $Qx$ itself, which the embedding test needs).

    Parameters
    ----------
    data: a recording (an object with ``rates`` (trials, time, N), ``inputs`` (trials, time, K) and
        optionally ``outputs`` (trials, time, O), such as :class:`lowrank_rnn.fitting.Recording`), or
        a trained model (:class:`lowrank_rnn.models.AbstractRNN`) together with ``task``: then
        ``n_trials`` (default 512) trials of the task are run through the model with its noise, the
        activity is the model's (``h`` of a rate-form :class:`~lowrank_rnn.learning.RateRNN`,
        ``phi(x)`` otherwise), the outputs its readouts, and for a rate-form RateRNN the embedding
        test uses its weights.
    n_nodes: n, at least the number of input plus output channels' nodes, at most N.
    key: ``jax.random`` key (initialisations, batches, noise, the model's trials).
    input_nodes, output_nodes: node indices (default: inputs on the first K nodes, outputs on the
        last O nodes, the authors' masks).
    restarts, epochs, lr, weight_decay, batch_size: the fit (authors: 500 epochs, Adam lr 0.02,
        weight decay 1e-3, batch 128).
    alpha: dt / tau of the circuit (authors 0.2); sigma: the authors' ``sigma_rec`` (0.15);
    bias: the constant drive ``b`` of every node (0.2, fixed, in the authors' code); l_y: the
        weight of the activity term.
    connectivity, input_weights: known recurrent weights W (N × N) and input weights (N × K) of
        the network that produced ``data``, for :func:`embedding_test`.
    node_names: a name per node for the figures.
    progress: show a ``tqdm`` bar over the epochs.

    Returns
    -------
    :class:`LatentCircuitFit`

    Examples
    --------
    A 3-node circuit fitted to activity of 6 neurons (a tiny fit, for the interface):

    >>> import jax, numpy as np
    >>> from lowrank_rnn.fitting import Recording
    >>> rng = np.random.default_rng(0)
    >>> u = np.zeros((16, 20, 1)); u[:, 5:, 0] = rng.uniform(0, 1, (16, 1))
    >>> data = Recording(rng.uniform(size=(16, 20, 6)), dt=0.2, inputs=u)
    >>> fit = fit_latent_circuit(data, 3, output_nodes=(), key=jax.random.key(0), restarts=2,
    ...                          epochs=3, progress=False)
    >>> fit.Q.shape, fit.w_rec.shape, bool(np.allclose(fit.Q.T @ fit.Q, np.eye(3), atol=1e-5))
    ((6, 3), (3, 3), True)
    """
    key = prng_key("key", key)
    n_nodes = positive_int("n_nodes", n_nodes)
    restarts = positive_int("restarts", restarts)
    epochs = positive_int("epochs", epochs)
    batch_size = positive_int("batch_size", batch_size)
    lr = real_scalar("lr", lr, low=0.0, low_open=True)
    weight_decay = real_scalar("weight_decay", weight_decay, low=0.0)
    alpha = real_scalar("alpha", alpha, low=0.0, high=1.0, low_open=True)
    sigma = real_scalar("sigma", sigma, low=0.0)
    bias = real_scalar("bias", bias)
    l_y = real_scalar("l_y", l_y, low=0.0)
    if not isinstance(data, AbstractRNN) and not hasattr(data, "rates"):
        raise ArgumentTypeError("data must be a Recording (rates (trials, time, neurons), inputs, outputs) or a "
                                f"trained model with task=, got {type(data).__name__}")
    # the shape checks that need no data drawn come first
    if isinstance(data, AbstractRNN):
        N, K, O = data.N, data.n_inputs, data.n_outputs
    else:
        r = np.shape(data.rates)
        N = r[-1] if len(r) == 3 else None
        K = np.shape(data.inputs)[-1] if getattr(data, "inputs", None) is not None else None
        O = np.shape(data.outputs)[-1] if getattr(data, "outputs", None) is not None else 0
    if N is not None and n_nodes > N:
        raise ArgumentError(f"n_nodes must be <= the number of neurons ({N}), got {n_nodes}")
    if K is not None:
        ins, outs = _masks(n_nodes, K, O, input_nodes, output_nodes)
        if set(ins) & set(outs):
            raise ArgumentError(f"input_nodes {ins} and output_nodes {outs} share a node; each channel needs a "
                                f"dedicated node (n_nodes >= {K + O})")
    k_data, k_fit = jax.random.split(key)
    y, u, z, W, W_in = _data(data, task, n_trials, k_data)
    N, K, O = y.shape[2], u.shape[2], z.shape[2]
    ins, outs = _masks(n_nodes, K, O, input_nodes, output_nodes)
    if connectivity is not None:
        W = finite_array("connectivity", connectivity, ndim=2)
        if W.shape != (N, N):
            raise ArgumentError(f"connectivity must be ({N}, {N}) (neurons x neurons), got {W.shape}")
        W_in = None if input_weights is None else finite_array("input_weights", input_weights, ndim=2)
        if W_in is not None and W_in.shape != (N, K):
            raise ArgumentError(f"input_weights must be ({N}, {K}) (neurons x inputs), got {W_in.shape}")
    if node_names is not None:
        node_names = tuple(str(s) for s in node_names)
        if len(node_names) != n_nodes:
            raise ArgumentError(f"node_names must name all {n_nodes} nodes, got {len(node_names)}")

    n_trials_data = y.shape[0]
    bs = min(batch_size, n_trials_data)
    n_batches = max(1, n_trials_data // bs)
    noise_scale = noise_from_langdon(sigma, alpha) * float(np.sqrt(alpha))
    y_j, u_j, z_j = (jnp.asarray(a, jnp.float32) for a in (y, u, z))
    y_var = float(np.mean((y - y.mean(axis=(0, 1), keepdims=True)) ** 2) * N)  # per (trial, step)
    if y_var == 0:
        raise ArgumentError("data.rates is constant: there is no activity to embed")
    in_idx = jnp.asarray(ins, jnp.int32)
    out_idx = jnp.asarray(outs, jnp.int32)
    K_arange, O_arange = jnp.arange(K), jnp.arange(O)

    def weights(p):
        w_in = jnp.zeros((n_nodes, K), jnp.float32).at[in_idx, K_arange].set(p["w_in"])
        w_out = jnp.zeros((O, n_nodes), jnp.float32).at[O_arange, out_idx].set(p["w_out"])
        return p["w_rec"], w_in, w_out, cayley_embedding(p["B"], n_nodes)

    def loss_fn(p, yb, ub, zb, k):
        w_rec, w_in, w_out, Q = weights(p)
        xs = _circuit_states(w_rec, w_in, jnp.float32(bias), ub, alpha=alpha, noise_scale=noise_scale, key=k)
        nmse_y = jnp.sum((xs @ Q.T - yb) ** 2) / (yb.shape[0] * yb.shape[1] * y_var)
        mse_z = jnp.sum((xs @ w_out.T - zb) ** 2) / (yb.shape[0] * yb.shape[1])
        return mse_z + l_y * nmse_y, (nmse_y, mse_z)

    opt = optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(lr))

    def init(k):
        k1, k2, k3, k4 = jax.random.split(k, 4)
        f32 = jnp.float32  # float32 also under JAX_ENABLE_X64 (the data and masks are float32)
        p = {"w_rec": 0.025 * jax.random.normal(k1, (n_nodes, n_nodes), f32),
             "w_in": jnp.maximum(0.2 + 0.01 * jax.random.normal(k2, (K,), f32), 0.0),
             "w_out": jnp.maximum(0.2 + 0.01 * jax.random.normal(k3, (O,), f32), 0.0),
             "B": jax.random.uniform(k4, (N, N), f32)}
        return p, opt.init(p)

    def one_epoch(p, s, order, k, yy, uu, zz):
        def step(carry, xs):
            p, s = carry
            idx, kb = xs
            (loss, _), g = jax.value_and_grad(loss_fn, has_aux=True)(p, yy[idx], uu[idx], zz[idx], kb)
            upd, s = opt.update(g, s, p)
            p = optax.apply_updates(p, upd)
            p = dict(p, w_in=jnp.maximum(p["w_in"], 0.0), w_out=jnp.maximum(p["w_out"], 0.0))
            return (p, s), loss
        (p, s), losses = jax.lax.scan(step, (p, s), (order, jax.random.split(k, order.shape[0])))
        return p, s, jnp.mean(losses)

    epoch_fn = jax.jit(jax.vmap(one_epoch, in_axes=(0, 0, None, 0, None, None, None)))

    def final(p, yy, uu, zz):
        return loss_fn(p, yy, uu, zz, None)

    final_fn = jax.jit(jax.vmap(final, in_axes=(0, None, None, None)))

    k_init, k_loop = jax.random.split(k_fit)
    params, states = jax.vmap(init)(jax.random.split(k_init, restarts))
    history = np.full((epochs, restarts), np.nan)
    alive = np.ones(restarts, bool)
    bar = tqdm(total=epochs, desc="latent circuit", unit="epoch", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)
    for epoch in range(epochs):
        k_e = jax.random.fold_in(k_loop, epoch)
        k_perm, k_noise = jax.random.split(k_e)
        order = jax.random.permutation(k_perm, n_trials_data)[: n_batches * bs].reshape(n_batches, bs)
        params, states, loss = epoch_fn(params, states, order, jax.random.split(k_noise, restarts), y_j, u_j, z_j)
        loss = np.asarray(loss, np.float64)
        alive &= np.isfinite(loss)
        history[epoch] = np.where(alive, loss, np.nan)
        if not alive.any():
            bar.close()
            raise DivergenceError(f"latent circuit fit: the loss of every restart became non-finite by epoch "
                                  f"{epoch} (try a smaller lr)", time=epoch)
        bar.update(1)
        bar.set_postfix(loss=f"{np.nanmin(history[epoch]):.4g}")
    bar.close()
    finals, (nmse_ys, mse_zs) = final_fn(params, y_j, u_j, z_j)
    finals = np.where(alive & np.isfinite(np.asarray(finals)), np.asarray(finals, np.float64), np.inf)
    if not np.isfinite(finals).any():
        raise DivergenceError("latent circuit fit: no restart ended with a finite loss", time=epochs)
    best = int(np.argmin(finals))
    p_best = jax.tree_util.tree_map(lambda a: a[best], params)
    w_rec, w_in, w_out, Q = (np.asarray(a, np.float64) for a in weights(p_best))
    yc = y - y.mean(axis=(0, 1), keepdims=True)
    nmse_q = float(np.sum((y - (y @ Q) @ Q.T) ** 2) / np.sum(yc ** 2))
    circuit = LatentCircuit(w_rec=w_rec, w_in=w_in, w_out=w_out, bias=bias, alpha=alpha,
                            noise=noise_from_langdon(sigma, alpha))
    emb = None
    if W is not None:
        emb = embedding_test(w_rec, Q, W, w_in=w_in if W_in is not None else None, W_in=W_in)
    return LatentCircuitFit(circuit=circuit, Q=Q, input_nodes=ins, output_nodes=outs,
                            nmse_y=float(nmse_ys[best]), mse_z=float(mse_zs[best]), nmse_q=nmse_q,
                            losses=history, final_losses=finals, best=best, embedding=emb, node_names=node_names)


# ---------------------------------------------------------------------------------------- saving
def _fit_out(fit: LatentCircuitFit):
    meta = {"input_nodes": list(fit.input_nodes), "output_nodes": list(fit.output_nodes), "nmse_y": fit.nmse_y,
            "mse_z": fit.mse_z, "nmse_q": fit.nmse_q, "best": fit.best, "bias": fit.circuit.bias,
            "alpha": fit.circuit.alpha, "noise": fit.circuit.noise,
            "node_names": None if fit.node_names is None else list(fit.node_names)}
    arrays = {"w_rec": fit.w_rec, "w_in": fit.w_in, "w_out": fit.w_out, "Q": fit.Q, "losses": fit.losses,
              "final_losses": fit.final_losses}
    if fit.embedding is not None:
        arrays["embedding_projected"] = fit.embedding.projected
        meta["embedding_correlation"] = fit.embedding.correlation
        meta["embedding_input_correlation"] = fit.embedding.input_correlation
        if fit.embedding.projected_inputs is not None:
            arrays["embedding_projected_inputs"] = fit.embedding.projected_inputs
    return meta, arrays


def _fit_in(meta, arrays):
    circuit = LatentCircuit(w_rec=arrays["w_rec"], w_in=arrays["w_in"], w_out=arrays["w_out"], bias=meta["bias"],
                            alpha=meta["alpha"], noise=meta["noise"])
    emb = None
    if "embedding_projected" in arrays:
        emb = CircuitEmbedding(projected=arrays["embedding_projected"], w_rec=arrays["w_rec"],
                               correlation=meta["embedding_correlation"],
                               projected_inputs=arrays.get("embedding_projected_inputs"),
                               input_correlation=meta.get("embedding_input_correlation"))
    names = meta.get("node_names")
    return LatentCircuitFit(circuit=circuit, Q=arrays["Q"], input_nodes=tuple(meta["input_nodes"]),
                            output_nodes=tuple(meta["output_nodes"]), nmse_y=meta["nmse_y"], mse_z=meta["mse_z"],
                            nmse_q=meta["nmse_q"], losses=arrays["losses"], final_losses=arrays["final_losses"],
                            best=meta["best"], embedding=emb, node_names=None if names is None else tuple(names))


register("LatentCircuitFit", _fit_out, _fit_in)
