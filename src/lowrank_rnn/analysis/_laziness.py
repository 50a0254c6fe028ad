"""Rich and lazy learning: how much, and how, training changed a recurrent network.

Liu, Ghosh, Shea-Brown et al. 2023 (arXiv 2310.08513) measure where a trained RNN sits between the
lazy regime (the network stays close to its linearisation at initialisation: small weight change,
unchanged representation and tangent kernel) and the rich regime (the representation and the
kernel reorganise around the task), as a function of the rank of the initial connectivity. With
$W_0, W_T$ the recurrent weights before and after training, $H$ the (trials x N) activity at the
decision step and $\\Theta_{ij} = \\langle \\partial y_i / \\partial W, \\partial y_j / \\partial W \\rangle$
the tangent kernel of the outputs over trials restricted to the recurrent weights:

- weight change $\\lVert W_T - W_0 \\rVert_F$ (and relative to $\\lVert W_0 \\rVert_F$);
- representation alignment $\\mathrm{A}(H_0 H_0^\\top, H_T H_T^\\top)$ and tangent-kernel alignment
  $\\mathrm{A}(\\Theta_0, \\Theta_T)$, with the kernel alignment
  $\\mathrm{A}(K, K') = \\mathrm{tr}(K K') / (\\lVert K \\rVert_F \\lVert K' \\rVert_F)$ (1: unchanged
  up to scale; lower: richer);
- sign similarity: the fraction of recurrent weights whose sign training did not change.

:func:`effective_rank` measures the rank of a connectivity matrix.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import finite_array, positive_int, prng_key
from .._errors import ArgumentError, ArgumentTypeError
from ..models import AbstractRNN, run_trials

RANK_KINDS = ("entropy", "stable", "participation")


def effective_rank(W, kind: str = "entropy") -> float:
    """Return the effective rank of a matrix from its singular values $s_i$.

    ``"entropy"`` (Roy & Vetterli 2007): $\\exp(-\\sum_i p_i \\ln p_i)$ with $p_i = s_i / \\sum_j s_j$;
    ``"stable"``: $\\lVert W \\rVert_F^2 / \\lVert W \\rVert_2^2 = \\sum_i s_i^2 / s_1^2$;
    ``"participation"``: $(\\sum_i s_i^2)^2 / \\sum_i s_i^4$. All equal r for a matrix with r equal
    nonzero singular values.

    >>> import numpy as np
    >>> round(effective_rank(np.diag([1.0, 1.0, 1.0, 0.0])), 6)
    3.0
    """
    if kind not in RANK_KINDS:
        raise ArgumentError(f"kind must be one of {RANK_KINDS}, got {kind!r}")
    W = finite_array("W", W, ndim=2)
    s = np.linalg.svd(W, compute_uv=False)
    if s.size == 0 or s[0] == 0:
        return 0.0
    if kind == "entropy":
        p = s[s > 0] / s.sum()
        return float(np.exp(-np.sum(p * np.log(p))))
    if kind == "stable":
        return float(np.sum(s**2) / s[0] ** 2)
    return float(np.sum(s**2) ** 2 / np.sum(s**4))


def kernel_alignment(K1, K2) -> float:
    """Return $\\mathrm{tr}(K_1 K_2) / (\\lVert K_1 \\rVert_F \\lVert K_2 \\rVert_F)$ of two symmetric
    kernels (1 when one is a positive multiple of the other).

    >>> import numpy as np
    >>> K = np.array([[2.0, 1.0], [1.0, 2.0]])
    >>> round(kernel_alignment(K, 3 * K), 12)
    1.0
    """
    K1 = np.asarray(K1, np.float64)
    K2 = np.asarray(K2, np.float64)
    if K1.shape != K2.shape or K1.ndim != 2 or K1.shape[0] != K1.shape[1]:
        raise ArgumentError(f"kernels must be two square matrices of one shape, got {K1.shape} and {K2.shape}")
    den = np.linalg.norm(K1) * np.linalg.norm(K2)
    return float(np.sum(K1 * K2) / den) if den > 0 else float("nan")


@dataclasses.dataclass(frozen=True)
class Laziness:
    """What :func:`laziness` measured (see the module docstring for the definitions).

    Attributes
    ----------
    weight_change: $\\lVert W_T - W_0 \\rVert_F$.
    relative_weight_change: the same divided by $\\lVert W_0 \\rVert_F$.
    representation_alignment: alignment of the activity kernels $H H^\\top$ at the decision step.
    kernel_alignment: alignment of the tangent kernels restricted to the recurrent weights.
    sign_similarity: fraction of recurrent weights with unchanged sign.
    kernel_0, kernel_T: the tangent kernels (trials x trials).

    >>> import jax
    >>> from lowrank_rnn.learning import RateRNN
    >>> from lowrank_rnn.tasks import get_task
    >>> task = get_task("rdm")
    >>> net = RateRNN(20, task.n_inputs, task.n_outputs, key=jax.random.key(0))
    >>> lz = laziness(net, net, task, key=jax.random.key(1), n_trials=8)
    >>> lz.weight_change, round(lz.kernel_alignment, 6), lz.sign_similarity
    (0.0, 1.0, 1.0)
    """

    weight_change: float
    relative_weight_change: float
    representation_alignment: float
    kernel_alignment: float
    sign_similarity: float
    kernel_0: np.ndarray
    kernel_T: np.ndarray

    def as_dict(self) -> dict:
        """The scalar measures as a dict (for ``results.json``)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("kernel_0", "kernel_T")}


def _recurrent(model) -> jax.Array:
    W = getattr(model, "W", None)
    if not isinstance(model, AbstractRNN) or W is None:
        raise ArgumentTypeError("laziness needs full-rank models with a recurrent weight leaf W (RateRNN with "
                                f"rank=None, FullRankRNN), got {type(model).__name__}")
    return W


def _activity_at(model, inputs, step: int) -> np.ndarray:
    """The activities read out at output step ``step`` (``phi(x)``, or ``h`` for the rate form),
    ``(B, N)``; the states returned by ``run_trials`` start with the initial one."""
    _, states = run_trials(model, inputs, return_states=True)
    x = states[:, step] if step < 0 else states[:, step + 1]
    act = model.activity(x) if hasattr(model, "activity") else model.phi(x)
    return np.asarray(act, np.float64)


def tangent_kernel(model, inputs, *, step: int = -1, chunk: int = 16) -> np.ndarray:
    """Return the tangent kernel of the outputs at ``step`` over trials, restricted to the recurrent
    weights: $\\Theta_{ij} = \\sum_o \\langle \\partial y_{io} / \\partial W, \\partial y_{jo} / \\partial W \\rangle$,
    ``(B, B)`` for ``inputs`` ``(B, T, K)``. The per-trial Jacobians are computed ``chunk`` trials at a
    time (each ``O x N^2``), so memory stays bounded for N of a few hundred.

    >>> import jax, jax.numpy as jnp
    >>> from lowrank_rnn.learning import RateRNN
    >>> net = RateRNN(10, 1, 1, key=jax.random.key(0))
    >>> tangent_kernel(net, jnp.ones((3, 5, 1))).shape
    (3, 3)
    """
    _recurrent(model)
    chunk = positive_int("chunk", chunk)
    inputs = jnp.asarray(inputs)
    if inputs.ndim != 3:
        raise ArgumentError(f"inputs must be (trials, time, channels), got shape {inputs.shape}")

    def out(W, u):
        net = eqx.tree_at(lambda m: m.W, model, W)
        return run_trials(net, u[None])[0, step]  # (O,)

    jac = jax.jit(jax.vmap(jax.jacrev(out), in_axes=(None, 0)))
    rows = []
    for i in range(0, inputs.shape[0], chunk):
        J = jac(model.W, inputs[i:i + chunk])  # (c, O, N, N)
        rows.append(np.asarray(J.reshape(J.shape[0], -1), np.float64))
    J = np.concatenate(rows)
    # sum over output channels: rows are trial-major with O * N^2 columns, so one product does it
    return J @ J.T


def laziness(model_0, model_T, task, *, key: jax.Array, n_trials: int = 64, step: int = -1,
             chunk: int = 16) -> Laziness:
    """Return how lazily ``model_T`` learnt from ``model_0``: weight change, representation and
    tangent-kernel alignment, sign similarity (Liu et al. 2023, arXiv 2310.08513; definitions in the
    module docstring).

    Both models are run without noise on the same ``n_trials`` trials of ``task`` drawn with
    ``key``; ``step`` is the decision step (default the last) at which activities and outputs are
    taken. The tangent kernels are restricted to the recurrent weights and computed ``chunk`` trials
    at a time.

    >>> import jax, equinox as eqx
    >>> from lowrank_rnn.learning import RateRNN
    >>> from lowrank_rnn.tasks import get_task
    >>> task = get_task("rdm")
    >>> net0 = RateRNN(20, task.n_inputs, task.n_outputs, key=jax.random.key(0), init_rank=2)
    >>> netT = eqx.tree_at(lambda m: m.W, net0, 1.5 * net0.W)   # a stand-in for training
    >>> lz = laziness(net0, netT, task, key=jax.random.key(1), n_trials=8)
    >>> round(lz.relative_weight_change, 3), lz.sign_similarity
    (0.5, 1.0)
    """
    key = prng_key("key", key)
    n_trials = positive_int("n_trials", n_trials, low=2)
    W0, WT = _recurrent(model_0), _recurrent(model_T)
    if W0.shape != WT.shape:
        raise ArgumentError(f"model_0 and model_T must have the same size, got W of shapes {W0.shape} and {WT.shape}")
    trials = task.sample(key, n_trials)
    n_steps = trials.inputs.shape[1]
    if not -n_steps <= step < n_steps:
        raise ArgumentError(f"step must index the task's {n_steps} steps, got {step}")
    H0 = _activity_at(model_0, trials.inputs, step)
    HT = _activity_at(model_T, trials.inputs, step)
    K0 = tangent_kernel(model_0, trials.inputs, step=step, chunk=chunk)
    KT = tangent_kernel(model_T, trials.inputs, step=step, chunk=chunk)
    W0n, WTn = np.asarray(W0, np.float64), np.asarray(WT, np.float64)
    change = float(np.linalg.norm(WTn - W0n))
    norm0 = float(np.linalg.norm(W0n))
    return Laziness(weight_change=change, relative_weight_change=change / norm0 if norm0 > 0 else float("nan"),
                    representation_alignment=kernel_alignment(H0 @ H0.T, HT @ HT.T),
                    kernel_alignment=kernel_alignment(K0, KT),
                    sign_similarity=float(np.mean(np.sign(W0n) == np.sign(WTn))), kernel_0=K0, kernel_T=KT)
