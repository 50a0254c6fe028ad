r"""Low-rank inference (LINT): a low-rank RNN fitted directly to recorded population activity.

Valente, Pillow & Ostojic 2022 (NeurIPS), "Extracting computational mechanisms from neural data
using low-rank RNNs". The network's units are the recorded neurons; its connectivity is rank R,
$J = m n^\top / N$; its inputs are the recording's inputs. With $\alpha = \Delta t / \tau$,

$$x_{t+1} = x_t + \alpha\,(-x_t + m\,n^\top \phi(x_t)/N + I u_t), \qquad
\hat y_{t,i} = a_i\,\phi(x_{t+1,i}) + b_i,$$

where $\hat y$ is the predicted activity of neuron $i$ in bin $t$, $\phi = \tanh$ and the
observation gain $a_i$ and offset $b_i$ are fitted with the connectivity (``observation="affine"``;
``"rates"`` fixes $a = 1$, $b = 0$, the authors' fits of a teacher network's rates
$\tanh(x)$). The loss is the mean squared error over trials, time and neurons, minimised by Adam
with gradient clipping (the authors': lr $10^{-2}$, clip 1). The fitted network is a
:class:`~lowrank_rnn.models.LowRankRNN` whose readout is the observation map (readout vectors
$N\,\mathrm{Id}$, readout scales $a$), so ``model(u) + offset`` predicts the recording and every
analysis of trained low-rank networks (latents, flow fields, fixed points, outliers of
$m n^\top / N$) applies to it.
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from .._checks import positive_int, prng_key, real_scalar
from .._errors import ArgumentError, ArgumentTypeError, DivergenceError
from .._io import read_checkpoint, write_checkpoint
from ..models import LowRankRNN, run_trials
from ._recording import Recording

OBSERVATIONS = ("affine", "rates")


def r2_score(data: np.ndarray, prediction: np.ndarray) -> float:
    r"""Return the variance of ``data`` explained by ``prediction``, pooled over neurons.

    $$R^2 = 1 - \frac{\sum_{b,t,i} (y_{bti} - \hat y_{bti})^2}{\sum_{b,t,i} (y_{bti} - \bar y_i)^2},$$

    with $\bar y_i$ neuron $i$'s mean over trials and time (so differences of mean rate between
    neurons explain nothing). Valente et al. 2022 pool around the grand mean instead, which is
    larger when neurons' means differ.

    >>> import numpy as np
    >>> y = np.arange(12.0).reshape(1, 6, 2)
    >>> r2_score(y, y), round(r2_score(y, y.mean(axis=(0, 1), keepdims=True) + 0 * y), 6)
    (1.0, 0.0)
    """
    y = np.asarray(data, np.float64)
    yhat = np.asarray(prediction, np.float64)
    mean = y.reshape(-1, y.shape[-1]).mean(axis=0)
    sst = float(np.sum((y - mean) ** 2))
    return 1.0 - float(np.sum((y - yhat) ** 2)) / max(sst, 1e-300)


@dataclasses.dataclass(frozen=True)
class LowRankFit:
    r"""A low-rank RNN fitted to a recording (:func:`fit_lowrank`).

    Attributes
    ----------
    model: the fitted :class:`~lowrank_rnn.models.LowRankRNN`, one unit per recorded neuron; its
        readouts ``model(u)`` are $a \odot \phi(x)$ (readout vectors $N\,\mathrm{Id}$, readout
        scales the gains $a$).
    offset: ``(N,)``, the offsets $b$ (data units): ``model(u) + offset`` predicts the recording.
    observation: ``"affine"`` or ``"rates"``.
    loss: ``(epochs,)``, the training loss (mean squared error, data units squared) after each epoch.
    test_loss: ``(epochs,)``, the same on the held-out trials (empty without them).
    r2_train, r2_test: :func:`r2_score` of the prediction on the training and held-out trials
        (NaN without held-out trials).
    epochs: the number of epochs run.

    Examples
    --------
    >>> import numpy as np, jax
    >>> from lowrank_rnn.fitting import Recording, fit_lowrank
    >>> rec = Recording(np.random.default_rng(0).normal(size=(4, 20, 10)), dt=0.2, signed=True)
    >>> fit = fit_lowrank(rec, 1, key=jax.random.key(0), epochs=5, progress=False)
    >>> fit.model.rank, fit.predict(np.zeros((2, 20, 0))).shape, fit.loss.shape
    (1, (2, 20, 10), (5,))
    """

    model: LowRankRNN
    offset: np.ndarray
    observation: str
    loss: np.ndarray
    test_loss: np.ndarray
    r2_train: float
    r2_test: float
    epochs: int

    @property
    def rank(self) -> int:
        """R, the rank of the fitted connectivity."""
        return self.model.rank

    @property
    def gain(self) -> np.ndarray:
        """``(N,)``, the observation gains $a$."""
        return np.asarray(self.model.readout_scales)

    def predict(self, inputs: Any) -> np.ndarray:
        """Return the predicted activity ``(B, T, N)`` for inputs ``(B, T, K)`` (or a :class:`Recording`,
        whose inputs are used): $a \\odot \\phi(x_{t+1}) + b$ of the noiseless fitted network."""
        if isinstance(inputs, Recording):
            inputs = _inputs_of(inputs)
        u = np.asarray(inputs, np.float32)
        K = self.model.n_inputs
        if u.ndim != 3 or u.shape[-1] != K:
            raise ArgumentError(f"inputs must be (trials, time, K) with K = {K}, got shape {u.shape}")
        return np.asarray(_predict(self.model, jnp.asarray(u))) + self.offset


@jax.jit
def _predict(model, u):
    return run_trials(model, u)


def _inputs_of(recording: Recording) -> np.ndarray:
    """The recording's inputs ``(B, T, K)``, with K = 0 when it has none."""
    if recording.inputs is None:
        return np.zeros((recording.n_trials, recording.n_time, 0), np.float32)
    return np.asarray(recording.inputs, np.float32)


def check_recording(name: str, recording: Any) -> Recording:
    """Return ``recording`` after checking it is a :class:`Recording`."""
    if not isinstance(recording, Recording):
        raise ArgumentTypeError(f"{name} must be a lowrank_rnn.fitting.Recording, got {type(recording).__name__}; "
                                "wrap arrays with Recording(rates, dt=..., inputs=...)")
    return recording


def _check_rank(rank: Any, n_neurons: int, name: str = "rank") -> int:
    rank = positive_int(name, rank)
    if rank > n_neurons:
        raise ArgumentError(f"{name} must be <= the number of recorded neurons ({n_neurons}), got {rank}")
    return rank


def _alpha(recording: Recording, tau: float | None) -> float:
    """``dt / tau`` of the fitted network (tau None: 5 dt, the published alpha = 0.2)."""
    if tau is None:
        return 0.2
    tau = real_scalar("tau", tau, low=0.0, low_open=True)
    alpha = recording.dt / tau
    if alpha > 1.0:
        raise ArgumentError(f"tau must be >= the recording's dt = {recording.dt} (alpha = dt / tau <= 1), got {tau}")
    return alpha


def _initial_model(rates: np.ndarray, rank: int, n_inputs: int, alpha: float, observation: str, key,
                   init: LowRankRNN | None) -> tuple[LowRankRNN, np.ndarray]:
    """The starting network and offsets: loadings ``~ N(0, 1)``; gains of the data's spread."""
    N = rates.shape[-1]
    flat = rates.reshape(-1, N)
    if observation == "rates":
        gain, offset = np.ones(N), np.zeros(N)
    else:
        offset = flat.mean(axis=0)
        gain = np.maximum(2.0 * flat.std(axis=0), 1e-6 * max(float(np.abs(flat).max()), 1e-12))
    readout_vectors = N * jnp.eye(N, dtype=jnp.float32)
    if init is not None:
        model = LowRankRNN(N, rank, n_inputs, N, alpha=alpha, m=init.m, n=init.n, input_vectors=init.input_vectors,
                           input_scales=init.input_scales, readout_vectors=readout_vectors,
                           readout_scales=init.readout_scales if init.n_outputs == N else gain, h0=init.h0)
        return model, offset
    k_m, k_n, k_i = jax.random.split(key, 3)
    model = LowRankRNN(N, rank, n_inputs, N, alpha=alpha, m=jax.random.normal(k_m, (N, rank)),
                       n=jax.random.normal(k_n, (N, rank)), input_vectors=jax.random.normal(k_i, (N, n_inputs)),
                       readout_vectors=readout_vectors, readout_scales=gain)
    return model, offset


def _trainable(model: LowRankRNN, observation: str, train_inputs: bool):
    return model.trainable(connectivity=True, inputs=train_inputs, input_scales=train_inputs,
                           readout_scales=observation == "affine", h0=True)


def _optimizer(lr: float, clip: float | None, steps: int) -> optax.GradientTransformation:
    """Adam whose learning rate decays from ``lr`` to ``lr / 20`` along a cosine over ``steps``."""
    adam = optax.adam(optax.cosine_decay_schedule(lr, max(steps, 1), alpha=0.05))
    return optax.chain(optax.clip_by_global_norm(clip), adam) if clip is not None else adam


@partial(jax.jit, static_argnames=("lr", "clip", "steps", "train_offset"))
def _epoch(params, offset, opt_state, frozen, u, y, order, *, lr, clip, steps, train_offset: bool):
    """One epoch: an Adam step per minibatch (rows of ``order``); the mean training loss."""
    tx = _optimizer(lr, clip, steps)

    def loss_fn(p, off, ub, yb):
        model = eqx.combine(p, frozen)
        z = run_trials(model, ub)
        return jnp.mean((z + off - yb) ** 2)

    def step(carry, idx):
        p, off, st = carry
        loss, (gp, go) = jax.value_and_grad(loss_fn, argnums=(0, 1))(p, off, u[idx], y[idx])
        if not train_offset:
            go = jnp.zeros_like(go)
        updates, st = tx.update((gp, go), st, (p, off))
        p, off = optax.apply_updates((p, off), updates)
        return (p, off, st), loss

    (params, offset, opt_state), losses = jax.lax.scan(step, (params, offset, opt_state), order)
    return params, offset, opt_state, jnp.mean(losses)


@jax.jit
def _mse(params, offset, frozen, u, y):
    model = eqx.combine(params, frozen)
    return jnp.mean((run_trials(model, u) + offset - y) ** 2)


def _finite(tree) -> bool:
    return all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree_util.tree_leaves(tree))


def fit_lowrank(recording: Recording, rank: int, *, key: jax.Array, epochs: int = 500, lr: float = 3e-2,
                batch_size: int | None = None, test: Recording | None = None, test_fraction: float = 0.0,
                observation: str = "affine", tau: float | None = None, train_inputs: bool = True,
                clip: float | None = 1.0, init: LowRankRNN | None = None, checkpoint: Any = None,
                checkpoint_every: int = 50, progress: bool = True) -> LowRankFit:
    r"""Return a rank-``rank`` RNN fitted to a recording's activity given its inputs (LINT).

    The network has one unit per recorded neuron and the recording's K inputs; its connectivity
    $m n^\top / N$, input vectors, initial state $x_0$ and the observation gains and offsets are
    fitted by Adam on the mean squared error between $a \odot \tanh(x_{t+1}) + b$ and the
    recorded activity of bin $t$, over trials, time and neurons (Valente, Pillow & Ostojic 2022,
    NeurIPS; the network runs noiselessly from one shared $x_0$, driven only by the inputs, so
    single trials are fitted by their input-conditioned mean). Trial-averaged data
    (:meth:`Recording.average_by_condition`) or single trials both work.

    Parameters
    ----------
    recording: the :class:`Recording` (``rates`` ``(trials, time, N)``, optional ``inputs``).
    rank: R, ``1 <= R <= N``.
    key: ``jax.random`` key (initial loadings, held-out split, minibatch order).
    epochs: passes over the training trials; ``lr``: Adam's learning rate (decaying along a cosine
        to ``lr / 20`` by the last epoch); ``clip``: the global gradient norm clip (None: none).
    batch_size: trials per Adam step (None: all the training trials in one step).
    test: held-out trials scored by ``r2_test`` (a :class:`Recording` with the same neurons and
        inputs), or None with ``test_fraction`` (``[0, 1)``) of the trials drawn out by ``key``.
    observation: ``"affine"`` (fitted gain and offset per neuron, for rates in any unit) or
        ``"rates"`` (the activity is $\tanh(x)$ itself, as for a teacher network's rates).
    tau: the network's time constant in the recording's time unit (None: $5\,\Delta t$, i.e.
        $\alpha = 0.2$ as published).
    train_inputs: fit the input vectors (the authors' ``train_wi=True``); else they stay random.
    init: a :class:`~lowrank_rnn.models.LowRankRNN` to start from (its m, n, inputs, h0).
    checkpoint: a folder: the fit's state is written there every ``checkpoint_every`` epochs, and
        a fit of the same configuration resumes from it.
    progress: show a ``tqdm`` progress bar.

    Returns
    -------
    :class:`LowRankFit`; a non-finite loss or parameter raises :class:`~lowrank_rnn.DivergenceError`.

    Examples
    --------
    >>> import numpy as np, jax
    >>> from lowrank_rnn.fitting import Recording
    >>> rates = 5 + np.random.default_rng(0).random((6, 25, 12))
    >>> fit = fit_lowrank(Recording(rates, dt=0.01), 2, key=jax.random.key(0), epochs=10,
    ...                   test_fraction=0.3, progress=False)
    >>> fit.model.N, fit.model.rank, bool(np.isfinite(fit.r2_test))
    (12, 2, True)
    """
    recording = check_recording("recording", recording)
    N, K = recording.n_neurons, recording.n_inputs
    rank = _check_rank(rank, N)
    key = prng_key("key", key)
    epochs = positive_int("epochs", epochs)
    lr = real_scalar("lr", lr, low=0.0, low_open=True)
    if clip is not None:
        clip = real_scalar("clip", clip, low=0.0, low_open=True)
    if observation not in OBSERVATIONS:
        raise ArgumentError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
    test_fraction = real_scalar("test_fraction", test_fraction, low=0.0, high=1.0, high_open=True)
    checkpoint_every = positive_int("checkpoint_every", checkpoint_every)
    alpha = _alpha(recording, tau)
    if init is not None:
        if not isinstance(init, LowRankRNN):
            raise ArgumentTypeError(f"init must be a LowRankRNN, got {type(init).__name__}")
        if (init.N, init.rank, init.n_inputs) != (N, rank, K):
            raise ArgumentError(f"init must have N = {N} units, rank {rank} and {K} inputs, got "
                                f"N = {init.N}, rank {init.rank}, {init.n_inputs} inputs")
    if test is not None:
        test = check_recording("test", test)
        if (test.n_neurons, test.n_inputs, test.n_time) != (N, K, recording.n_time):
            raise ArgumentError(f"test must have the recording's neurons ({N}), inputs ({K}) and time steps "
                                f"({recording.n_time}), got {test.n_neurons}, {test.n_inputs}, {test.n_time}")
    k_split, k_init, k_order = jax.random.split(key, 3)
    train = recording
    if test is None and test_fraction > 0:
        n_test = int(round(test_fraction * recording.n_trials))
        if n_test >= 1 and recording.n_trials - n_test >= 1:
            perm = np.asarray(jax.random.permutation(k_split, recording.n_trials))
            test, train = recording.select_trials(np.sort(perm[:n_test])), recording.select_trials(np.sort(perm[n_test:]))
    B = train.n_trials
    batch = B if batch_size is None else min(positive_int("batch_size", batch_size), B)
    n_batches = B // batch

    y = np.asarray(train.rates, np.float32)
    u = _inputs_of(train)
    model, offset0 = _initial_model(y, rank, K, alpha, observation, k_init, init)
    filt = _trainable(model, observation, train_inputs)
    params, frozen = eqx.partition(model, filt)
    offset = jnp.asarray(offset0, jnp.float32)
    opt_state = _optimizer(lr, clip, epochs * n_batches).init((params, offset))
    train_offset = observation == "affine"
    u_j, y_j = jnp.asarray(u), jnp.asarray(y)
    if test is not None:
        u_test, y_test = jnp.asarray(_inputs_of(test)), jnp.asarray(test.rates, jnp.float32)

    config = {"what": "fit_lowrank", "rank": rank, "N": N, "K": K, "trials": B, "time": train.n_time,
              "epochs_lr_clip": [epochs, lr, clip], "batch": batch, "observation": observation, "alpha": alpha,
              "train_inputs": bool(train_inputs), "key": np.asarray(jax.random.key_data(key)).tolist()}
    losses: list[float] = []
    test_losses: list[float] = []
    start = 0
    best = (math.inf, params, offset)
    if checkpoint is not None:
        saved = read_checkpoint(checkpoint, "fit_lowrank", config, (params, offset, opt_state, best[1], best[2]),
                                what="fit_lowrank", other_run=f"{checkpoint} holds the checkpoint of another "
                                "fit_lowrank configuration; give another folder or remove fit_lowrank.*")
        if saved is not None:
            (params, offset, opt_state, bp, bo), meta = saved
            losses, test_losses, start = list(meta["loss"]), list(meta["test_loss"]), int(meta["epoch"])
            best = (float(meta["best_loss"]), bp, bo)

    order_keys = jax.random.split(k_order, epochs)
    bar = tqdm(total=epochs, initial=start, desc=f"fit_lowrank rank {rank}", unit="epoch", disable=not progress)
    try:
        for epoch in range(start, epochs):
            order = jax.random.permutation(order_keys[epoch], B)[: n_batches * batch].reshape(n_batches, batch)
            new = _epoch(params, offset, opt_state, frozen, u_j, y_j, order, lr=lr, clip=clip,
                         steps=epochs * n_batches, train_offset=train_offset)
            loss = float(new[3])
            if not math.isfinite(loss) or not _finite(new[:2]):
                raise DivergenceError(f"fit_lowrank diverged at epoch {epoch + 1} (loss {loss}); lower lr "
                                      f"(now {lr}) or set clip", time=epoch + 1)
            # the loss of an epoch is that of the parameters it started from (averaged over minibatches)
            if loss < best[0]:
                best = (loss, params, offset)
            params, offset, opt_state = new[:3]
            losses.append(loss)
            if test is not None:
                test_losses.append(float(_mse(params, offset, frozen, u_test, y_test)))
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}")
            if checkpoint is not None and ((epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs):
                write_checkpoint(checkpoint, "fit_lowrank", config, (params, offset, opt_state, best[1], best[2]),
                                 {"epoch": epoch + 1, "loss": losses, "test_loss": test_losses,
                                  "best_loss": best[0]})
    finally:
        bar.close()
    final_loss = float(_mse(params, offset, frozen, u_j, y_j))
    if final_loss > best[0]:
        params, offset = best[1], best[2]
    model = eqx.combine(params, frozen)
    offset = np.asarray(offset, np.float64)
    fit = LowRankFit(model=model, offset=offset, observation=observation, loss=np.asarray(losses),
                     test_loss=np.asarray(test_losses), r2_train=float("nan"), r2_test=float("nan"), epochs=epochs)
    r2_train = r2_score(y, fit.predict(u))
    r2_test = r2_score(np.asarray(test.rates), fit.predict(_inputs_of(test))) if test is not None else float("nan")
    return dataclasses.replace(fit, r2_train=r2_train, r2_test=r2_test)
