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
from ..analysis import latents
from ..models import LowRankRNN, run_trials
from ._recording import Recording

OBSERVATIONS = ("affine", "rates")
INITS = ("regression", "random")


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


def _split(recording: Recording, test_fraction: float, key) -> tuple[Recording | None, Recording]:
    """(held-out, training) trials: ``round(test_fraction * trials)`` drawn by ``key`` (None when
    that leaves either side empty)."""
    n_test = int(round(test_fraction * recording.n_trials))
    if n_test < 1 or recording.n_trials - n_test < 1:
        return None, recording
    perm = np.asarray(jax.random.permutation(key, recording.n_trials))
    return recording.select_trials(np.sort(perm[:n_test])), recording.select_trials(np.sort(perm[n_test:]))


def _alpha(recording: Recording, tau: float | None) -> float:
    """``dt / tau`` of the fitted network (tau None: 5 dt, the published alpha = 0.2)."""
    if tau is None:
        return 0.2
    tau = real_scalar("tau", tau, low=0.0, low_open=True)
    alpha = recording.dt / tau
    if alpha > 1.0:
        raise ArgumentError(f"tau must be >= the recording's dt = {recording.dt} (alpha = dt / tau <= 1), got {tau}")
    return alpha


def _regression_init(rates: np.ndarray, inputs: np.ndarray, gain: np.ndarray, offset: np.ndarray, rank: int,
                     alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""Initial (m, n, I, h0) by one linear regression of the discretised dynamics on the data.

    With the states read from the data through the inverse observation map,
    $\hat x = \operatorname{artanh}(\mathrm{clip}((y - b)/a))$, the Euler update
    $\hat x_{t+1} - (1-\alpha)\hat x_t = \alpha (J \tanh(\hat x_t) + I u_{t+1})$ is linear in
    $[J, I]$: a ridge least-squares fit gives a dense $J$, whose top-R SVD gives m and n
    (the authors' SVD initialisation from a full-rank fit, with the full-rank fit replaced by a
    regression)."""
    x = np.arctanh(np.clip((rates - offset) / gain, -0.97, 0.97))      # (B, T, N)
    B, T, N = x.shape
    K = inputs.shape[-1]
    if T < 2:
        return None
    target = ((x[:, 1:] - (1.0 - alpha) * x[:, :-1]) / alpha).reshape(-1, N)
    feats = np.concatenate([np.tanh(x[:, :-1]), inputs[:, 1:]], axis=-1).reshape(-1, N + K)
    gram = feats.T @ feats
    ridge = 1e-2 * np.trace(gram) / max(gram.shape[0], 1) + 1e-9
    W = np.linalg.solve(gram + ridge * np.eye(N + K), feats.T @ target).T      # (N, N + K)
    J, I = W[:, :N], W[:, N:]
    U, S, Vt = np.linalg.svd(J)
    root = np.sqrt(S[:rank] * N)
    h0 = x[:, 0].mean(axis=0)  # the state one step before the first bin, approximately
    return U[:, :rank] * root, Vt[:rank].T * root, I, h0


def _initial_model(rates: np.ndarray, inputs: np.ndarray, rank: int, alpha: float, observation: str, key,
                   init) -> tuple[LowRankRNN, np.ndarray]:
    """The starting network and offsets: gains of the data's spread; loadings from ``init``."""
    B, T, N = rates.shape
    n_inputs = inputs.shape[-1]
    flat = rates.reshape(-1, N)
    if observation == "rates":
        gain, offset = np.ones(N), np.zeros(N)
    else:
        offset = flat.mean(axis=0)
        gain = np.maximum(2.0 * flat.std(axis=0), 1e-6 * max(float(np.abs(flat).max()), 1e-12))
    readout_vectors = N * jnp.eye(N, dtype=jnp.float32)
    if isinstance(init, LowRankRNN):
        model = LowRankRNN(N, rank, n_inputs, N, alpha=alpha, m=init.m, n=init.n, input_vectors=init.input_vectors,
                           input_scales=init.input_scales, readout_vectors=readout_vectors,
                           readout_scales=init.readout_scales if init.n_outputs == N else gain, h0=init.h0)
        return model, offset
    k_m, k_n, k_i = jax.random.split(key, 3)
    m = np.asarray(jax.random.normal(k_m, (N, rank)))
    n = np.asarray(jax.random.normal(k_n, (N, rank)))
    I = np.asarray(jax.random.normal(k_i, (N, n_inputs)))
    h0 = np.zeros(N)
    if init == "regression" and T >= 2:
        m, n, I, h0 = _regression_init(rates, inputs, gain, offset, rank, alpha)
    model = LowRankRNN(N, rank, n_inputs, N, alpha=alpha, m=m, n=n, input_vectors=I, readout_vectors=readout_vectors,
                       readout_scales=gain, h0=h0)
    return model, offset


def _jittered(recording: Recording, rank: int, alpha: float, observation: str, init, key) -> Any:
    """A restart's start: the regression initialisation with its m and n perturbed by Gaussian noise of
    a third of their spread (``init="random"`` stays random; a given model is perturbed alike)."""
    if init == "random":
        return "random"
    k_init, k_m, k_n = jax.random.split(key, 3)
    base = init if isinstance(init, LowRankRNN) else _initial_model(
        np.asarray(recording.rates, np.float32), _inputs_of(recording), rank, alpha, observation, k_init, init)[0]
    m, n = np.asarray(base.m), np.asarray(base.n)
    m = m + np.std(m) / 3 * np.asarray(jax.random.normal(k_m, m.shape))
    n = n + np.std(n) / 3 * np.asarray(jax.random.normal(k_n, n.shape))
    return LowRankRNN(base.N, rank, base.n_inputs, base.n_outputs, alpha=alpha, m=m, n=n,
                      input_vectors=base.input_vectors, input_scales=base.input_scales,
                      readout_vectors=base.readout_vectors, readout_scales=base.readout_scales, h0=base.h0)


def _trainable(model: LowRankRNN, observation: str, train_inputs: bool):
    return model.trainable(connectivity=True, inputs=train_inputs, input_scales=train_inputs,
                           readout_scales=observation == "affine", h0=True)


def _optimizer(lr: float, clip: float | None, steps: int) -> optax.GradientTransformation:
    """Adam whose learning rate decays from ``lr`` to ``lr / 20`` along a cosine over ``steps``."""
    adam = optax.adam(optax.cosine_decay_schedule(lr, max(steps, 1), alpha=0.05))
    return optax.chain(optax.clip_by_global_norm(clip), adam) if clip is not None else adam


@partial(jax.jit, static_argnames=("lr", "clip", "steps", "train_offset"))
def _epochs(state, frozen, u, y, u_test, y_test, orders, *, lr, clip, steps, train_offset: bool):
    """Several epochs in one compiled call; ``orders`` ``(E, n_batches, batch)`` holds each epoch's
    minibatches. ``state = (params, offset, opt_state, best_loss, best_params, best_offset)``;
    returns the new state and each epoch's training loss (the mean over its minibatches, at the
    parameters each started from) and held-out loss (after the epoch)."""
    tx = _optimizer(lr, clip, steps)

    def loss_fn(p, off, ub, yb):
        model = eqx.combine(p, frozen)
        return jnp.mean((run_trials(model, ub) + off - yb) ** 2)

    def step(carry, idx):
        p, off, st = carry
        loss, (gp, go) = jax.value_and_grad(loss_fn, argnums=(0, 1))(p, off, u[idx], y[idx])
        if not train_offset:
            go = jnp.zeros_like(go)
        updates, st = tx.update((gp, go), st, (p, off))
        p, off = optax.apply_updates((p, off), updates)
        return (p, off, st), loss

    def epoch(carry, order):
        p, off, st, best_loss, best_p, best_off = carry
        (p2, off2, st2), losses = jax.lax.scan(step, (p, off, st), order)
        loss = jnp.mean(losses)
        better = loss < best_loss
        pick = lambda new, old: jax.tree_util.tree_map(lambda a, b: jnp.where(better, a, b), new, old)
        carry = (p2, off2, st2, jnp.where(better, loss, best_loss), pick(p, best_p), pick(off, best_off))
        test = loss_fn(p2, off2, u_test, y_test) if u_test is not None else jnp.nan
        return carry, (loss, test)

    return jax.lax.scan(epoch, state, orders)


@jax.jit
def _mse(params, offset, frozen, u, y):
    model = eqx.combine(params, frozen)
    return jnp.mean((run_trials(model, u) + offset - y) ** 2)


def _finite(tree) -> bool:
    return all(bool(np.all(np.isfinite(np.asarray(x)))) for x in jax.tree_util.tree_leaves(tree))


def fit_lowrank(recording: Recording, rank: int, *, key: jax.Array, epochs: int = 500, lr: float = 3e-2,
                batch_size: int | None = None, test: Recording | None = None, test_fraction: float = 0.0,
                observation: str = "affine", tau: float | None = None, train_inputs: bool = True,
                clip: float | None = 1.0, init: Any = "regression", checkpoint: Any = None,
                checkpoint_every: int = 50, restarts: int = 1, progress: bool = True) -> LowRankFit:
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
    batch_size: trials per Adam step (None: all the training trials in one step). Minibatches of a
        few trials take many more steps per epoch for the same cost, and often converge far faster.
    test: held-out trials scored by ``r2_test`` (a :class:`Recording` with the same neurons and
        inputs), or None with ``test_fraction`` (``[0, 1)``) of the trials drawn out by ``key``.
    observation: ``"affine"`` (fitted gain and offset per neuron, for rates in any unit) or
        ``"rates"`` (the activity is $\tanh(x)$ itself, as for a teacher network's rates).
    tau: the network's time constant in the recording's time unit (None: $5\,\Delta t$, i.e.
        $\alpha = 0.2$ as published).
    train_inputs: fit the input vectors (the authors' ``train_wi=True``); else they stay random.
    init: where the fit starts: ``"regression"`` (m, n from the top-R SVD of the dense J of a
        ridge regression of the Euler update on the data read through the inverse observation map;
        input vectors and $x_0$ from the same regression), ``"random"`` (loadings ``~ N(0, 1)``), or
        a :class:`~lowrank_rnn.models.LowRankRNN` (its m, n, inputs, $x_0$).
    checkpoint: a folder: the fit's state is written there every ``checkpoint_every`` epochs, and
        a fit of the same configuration resumes from it.
    restarts: independent fits (the first from ``init``, the others from it with m and n perturbed by
        noise of a third of their spread, each with its own key); the one with the best training fit
        is returned (the loss is not convex).
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
    restarts = positive_int("restarts", restarts)
    if restarts > 1:
        if checkpoint is not None:
            raise ArgumentError("checkpoint works with restarts = 1 only; run the restarts as separate fits")
        kw = dict(epochs=epochs, lr=lr, batch_size=batch_size, test=test, test_fraction=test_fraction,
                  observation=observation, tau=tau, train_inputs=train_inputs, clip=clip, progress=progress)
        k_split, k_fits = jax.random.split(key)
        if test is None and test_fraction > 0:  # the same held-out trials for every restart
            test, recording = _split(recording, test_fraction, k_split)
            kw.update(test=test, test_fraction=0.0)
        keys = jax.random.split(k_fits, restarts)
        starts = [init] + [_jittered(recording, rank, alpha, observation, init, keys[i]) for i in range(1, restarts)]
        fits = [fit_lowrank(recording, rank, key=keys[i], init=starts[i], **kw) for i in range(restarts)]
        return max(fits, key=lambda f: f.r2_train)
    if not isinstance(init, LowRankRNN) and init not in INITS:
        raise ArgumentTypeError(f"init must be one of {INITS} or a LowRankRNN, got {init!r}")
    if isinstance(init, LowRankRNN):
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
        test, train = _split(recording, test_fraction, k_split)
    B = train.n_trials
    batch = B if batch_size is None else min(positive_int("batch_size", batch_size), B)
    n_batches = B // batch

    y = np.asarray(train.rates, np.float32)
    u = _inputs_of(train)
    model, offset0 = _initial_model(y, u, rank, alpha, observation, k_init, init)
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
    state = (params, offset, opt_state, jnp.asarray(jnp.inf, jnp.float32), params, offset)
    if checkpoint is not None:
        saved = read_checkpoint(checkpoint, "fit_lowrank", config, state, what="fit_lowrank",
                                other_run=f"{checkpoint} holds the checkpoint of another fit_lowrank "
                                "configuration; give another folder or remove fit_lowrank.*")
        if saved is not None:
            state, meta = saved
            losses, test_losses, start = list(meta["loss"]), list(meta["test_loss"]), int(meta["epoch"])

    order_keys = jax.random.split(k_order, epochs)
    chunk = min(checkpoint_every, 25)
    u_te, y_te = (u_test, y_test) if test is not None else (None, None)
    bar = tqdm(total=epochs, initial=start, desc=f"fit_lowrank rank {rank}", unit="epoch", disable=not progress)
    try:
        epoch = start
        while epoch < epochs:
            stop = min(epochs, (epoch // chunk + 1) * chunk)
            orders = jnp.stack([jax.random.permutation(order_keys[e], B)[: n_batches * batch].reshape(n_batches, batch)
                                for e in range(epoch, stop)])
            new, (chunk_loss, chunk_test) = _epochs(state, frozen, u_j, y_j, u_te, y_te, orders, lr=lr, clip=clip,
                                                    steps=epochs * n_batches, train_offset=train_offset)
            chunk_loss = np.asarray(chunk_loss, np.float64)
            if not _finite(chunk_loss) or not _finite(new[:2]):
                bad = epoch + 1 + int(np.argmax(~np.isfinite(chunk_loss))) if not _finite(chunk_loss) else stop
                raise DivergenceError(f"fit_lowrank diverged at epoch {bad} (non-finite loss or parameters); "
                                      f"lower lr (now {lr}) or set clip", time=bad)
            state = new
            losses.extend(chunk_loss.tolist())
            if test is not None:
                test_losses.extend(np.asarray(chunk_test, np.float64).tolist())
            bar.update(stop - epoch)
            bar.set_postfix(loss=f"{losses[-1]:.4g}")
            epoch = stop
            if checkpoint is not None and (epoch % checkpoint_every == 0 or epoch == epochs):
                write_checkpoint(checkpoint, "fit_lowrank", config, state,
                                 {"epoch": epoch, "loss": losses, "test_loss": test_losses})
    finally:
        bar.close()
    params, offset, _, best_loss, best_params, best_offset = state
    if float(_mse(params, offset, frozen, u_j, y_j)) > float(best_loss):
        params, offset = best_params, best_offset
    model = eqx.combine(params, frozen)
    offset = np.asarray(offset, np.float64)
    fit = LowRankFit(model=model, offset=offset, observation=observation, loss=np.asarray(losses),
                     test_loss=np.asarray(test_losses), r2_train=float("nan"), r2_test=float("nan"), epochs=epochs)
    r2_train = r2_score(y, fit.predict(u))
    r2_test = r2_score(np.asarray(test.rates), fit.predict(_inputs_of(test))) if test is not None else float("nan")
    return dataclasses.replace(fit, r2_train=r2_train, r2_test=r2_test)


@dataclasses.dataclass(frozen=True)
class RankSelection:
    r"""Cross-validated fit quality per rank (:func:`select_rank`).

    Attributes
    ----------
    ranks: ``(n_ranks,)``, the ranks tried.
    r2: ``(folds, n_ranks)``, :func:`r2_score` of the held-out neurons on the held-out trials
        (neither entered the network's fit; see :func:`select_rank`).
    r2_trials: ``(folds, n_ranks)``, :func:`r2_score` of the fitted neurons on the held-out trials.
    r2_train: ``(folds, n_ranks)``, :func:`r2_score` of the fitted neurons on the training trials.
    best: the selected rank: the smallest whose median ``r2`` over folds is within ``tolerance``
        (0.01 by default) of the largest median (see :func:`select_rank`).

    Examples
    --------
    >>> import numpy as np
    >>> sel = RankSelection(ranks=np.array([1, 2, 3]), r2=np.array([[0.5, 0.9, 0.91], [0.52, 0.88, 0.9]]),
    ...                     r2_trials=np.zeros((2, 3)), r2_train=np.zeros((2, 3)), best=2)
    >>> sel.mean.round(2).tolist(), sel.best
    ([0.51, 0.89, 0.9], 2)
    """

    ranks: np.ndarray
    r2: np.ndarray
    r2_trials: np.ndarray
    r2_train: np.ndarray
    best: int

    @property
    def mean(self) -> np.ndarray:
        """``(n_ranks,)``, the mean of ``r2`` over folds."""
        return self.r2.mean(axis=0)

    @property
    def sem(self) -> np.ndarray:
        """``(n_ranks,)``, the standard error of ``r2`` over folds."""
        folds = self.r2.shape[0]
        return self.r2.std(axis=0, ddof=1) / np.sqrt(folds) if folds > 1 else np.zeros(self.r2.shape[1])

    def plot(self, ax=None):
        """Return the matplotlib axes with the cross-validated R² per rank (mean ± s.e.m. over
        folds; held-out neurons and held-out trials), the selected rank marked."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.2, 3.2))
        folds = self.r2.shape[0]
        for values, label, style in ((self.r2, "held-out neurons", "o-"), (self.r2_trials, "held-out trials", "s--")):
            sem = values.std(axis=0, ddof=1) / np.sqrt(folds) if folds > 1 else None
            ax.errorbar(self.ranks, values.mean(axis=0), yerr=sem, fmt=style, capsize=3, label=label)
        ax.axvline(self.best, color="0.6", lw=1, ls=":", label=f"selected rank {self.best}")
        ax.set_xticks(self.ranks)
        ax.set_xlabel("rank")
        ax.set_ylabel("cross-validated $R^2$")
        ax.legend(frameon=False, fontsize=8)
        return ax


def _choose_rank(ranks: np.ndarray, r2: np.ndarray, tolerance: float) -> int:
    """The smallest rank whose median R² over folds is within ``tolerance`` of the best median."""
    med = np.median(r2, axis=0)
    return int(ranks[np.flatnonzero(med >= np.max(med) - tolerance)[0]])


@partial(jax.jit, static_argnames=("affine", "steps"))
def _fit_readout(F, Y, w0, g0, o0, *, affine: bool, steps: int):
    """Fit ``Y ~= g tanh(F w) + o`` (columns of Y: neurons) by Adam from ``(w0, g0, o0)``."""
    tx = optax.adam(optax.cosine_decay_schedule(0.05, steps, alpha=0.05))

    def loss(p):
        w, g, o = p
        return jnp.mean((g * jnp.tanh(F @ w) + o - Y) ** 2)

    def step(carry, _):
        p, st = carry
        grads = jax.grad(loss)(p)
        if not affine:
            grads = (grads[0], jnp.zeros_like(grads[1]), jnp.zeros_like(grads[2]))
        upd, st = tx.update(grads, st, p)
        return (optax.apply_updates(p, upd), st), None

    p = (w0, g0, o0)
    (p, _), _ = jax.lax.scan(step, (p, tx.init(p)), None, length=steps)
    return p


def _latent_features(fit: LowRankFit, inputs: np.ndarray) -> np.ndarray:
    """``(B, T, R + K + 2)``: the fitted network's latents kappa(t), input coordinates v(t), the
    decay ``(1 - alpha)^t`` of the initial state and a constant, for bins ``t = 1..T``."""
    lat = latents(fit.model, inputs)
    B, T = inputs.shape[:2]
    decay = np.broadcast_to(((1.0 - fit.model.alpha) ** np.arange(1, T + 1))[None, :, None], (B, T, 1))
    return np.concatenate([lat.kappa[:, 1:], lat.v[:, 1:], decay, np.ones((B, T, 1))], axis=-1)


def _held_out_neurons(fit: LowRankFit, train: Recording, test: Recording, observation: str) -> np.ndarray:
    """Predicted activity of held-out neurons on the test trials, ``(B_test, T, H)``."""
    F_tr = _latent_features(fit, _inputs_of(train))
    F_te = _latent_features(fit, _inputs_of(test))
    P = F_tr.shape[-1]
    Y = np.asarray(train.rates).reshape(-1, train.n_neurons)
    F = F_tr.reshape(-1, P)
    scale = np.maximum(np.abs(F).max(axis=0), 1e-12)  # features of order one
    F, F_te = F / scale, F_te / scale
    if observation == "affine":
        o0 = Y.mean(axis=0)
        g0 = np.maximum(2.0 * Y.std(axis=0), 1e-9)
    else:
        o0, g0 = np.zeros(Y.shape[1]), np.ones(Y.shape[1])
    target = np.arctanh(np.clip((Y - o0) / g0, -0.95, 0.95))
    w0 = np.linalg.lstsq(F, target, rcond=None)[0]
    w, g, o = _fit_readout(jnp.asarray(F, jnp.float32), jnp.asarray(Y, jnp.float32), jnp.asarray(w0, jnp.float32),
                           jnp.asarray(g0, jnp.float32), jnp.asarray(o0, jnp.float32),
                           affine=observation == "affine", steps=300)
    return np.asarray(g) * np.tanh(F_te @ np.asarray(w, np.float64)) + np.asarray(o)


def select_rank(recording: Recording, ranks=(1, 2, 3, 4, 5), *, folds: int = 5, key: jax.Array,
                epochs: int = 500, lr: float = 3e-2, observation: str = "affine", tau: float | None = None,
                batch_size: int | None = None, restarts: int = 2, tolerance: float = 0.01,
                progress: bool = True) -> RankSelection:
    r"""Return the cross-validated fit quality of :func:`fit_lowrank` at each rank, and the rank chosen.

    Bi-cross-validation over trials and neurons (in the spirit of the cross-validated PCA that
    Valente, Pillow & Ostojic 2022 use to choose dimensions): trials and neurons are each split
    into ``folds`` groups by ``key``. In fold $f$, a rank-$R$ network is fitted on the other
    trials' activity of the other neurons. Then

    - *held-out trials* (``r2_trials``): the fitted network, driven by the test trials' inputs,
      predicts its own neurons on them;
    - *held-out neurons* (``r2``): each held-out neuron $i$ is read out from the fitted network's
      latent state, as a new unit of a low-rank network would be. In a rank-$R$ network without
      bulk, $x_i(t) = \sum_r m_{ir}\kappa_r(t) + \sum_k I_{ik} v_k(t) + x_{0i}(1-\alpha)^t$
      (:func:`lowrank_rnn.analysis.latents`), so $y_i \approx a_i \tanh(w_i^\top f(t)) + b_i$
      with $f = (\kappa, v, (1-\alpha)^t, 1)$ computed by the fitted network. The readout $w_i$
      (and $a_i, b_i$ for ``"affine"``) is fitted on the *training* trials; the score is on the
      *test* trials, where neither the neuron nor the trials entered any fit.

    Too low a rank misses latent dimensions that held-out neurons carry; too high a rank gains
    nothing on held-out data. ``best`` is the smallest rank whose median held-out-neuron $R^2$
    over folds is within ``tolerance`` of the largest median: the median, because the loss is not
    convex and a fit stuck in a poor minimum in one fold is no evidence that the rank is too low.

    Parameters
    ----------
    recording: the :class:`Recording` (at least ``folds`` trials and neurons).
    ranks: the ranks to try (each ``1 <= R`` and below the number of fitted neurons).
    folds: the number of folds (``>= 2``).
    key: ``jax.random`` key (the splits and each fit's initialisation).
    epochs, lr, observation, tau, batch_size, restarts: as in :func:`fit_lowrank` (two restarts by
        default: a fit stuck in a poor local minimum would otherwise pass for a rank too low).
    tolerance: how far (in R²) below the best median the selected rank's median may be.
    progress: a ``tqdm`` bar over the folds and ranks.

    Examples
    --------
    >>> import numpy as np, jax
    >>> from lowrank_rnn.fitting import Recording
    >>> rec = Recording(np.random.default_rng(0).normal(size=(6, 15, 12)), dt=0.2, signed=True)
    >>> sel = select_rank(rec, (1, 2), folds=2, key=jax.random.key(0), epochs=5, progress=False)
    >>> sel.r2.shape, sel.best in (1, 2)
    ((2, 2), True)
    """
    recording = check_recording("recording", recording)
    key = prng_key("key", key)
    folds = positive_int("folds", folds, low=2)
    restarts = positive_int("restarts", restarts)
    tolerance = real_scalar("tolerance", tolerance, low=0.0)
    if folds > min(recording.n_trials, recording.n_neurons):
        raise ArgumentError(f"folds must be <= the number of trials ({recording.n_trials}) and of neurons "
                            f"({recording.n_neurons}), got {folds}")
    try:
        ranks_arr = np.asarray([positive_int("ranks", r) for r in ranks], np.int64)
    except TypeError:
        raise ArgumentTypeError(f"ranks must be a sequence of integers, got {type(ranks).__name__}") from None
    if ranks_arr.size == 0 or np.unique(ranks_arr).size != ranks_arr.size:
        raise ArgumentError(f"ranks must be distinct integers, at least one, got {list(ranks)}")
    ranks_arr = np.sort(ranks_arr)
    n_fitted = recording.n_neurons - int(np.ceil(recording.n_neurons / folds))
    if ranks_arr[-1] > n_fitted:
        raise ArgumentError(f"ranks must be <= the number of neurons fitted in each fold ({n_fitted} of "
                            f"{recording.n_neurons}), got {ranks_arr[-1]}")
    if observation not in OBSERVATIONS:
        raise ArgumentError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
    k_trials, k_neurons, k_fits = jax.random.split(key, 3)
    trial_groups = np.array_split(np.asarray(jax.random.permutation(k_trials, recording.n_trials)), folds)
    neuron_groups = np.array_split(np.asarray(jax.random.permutation(k_neurons, recording.n_neurons)), folds)
    shape = (folds, ranks_arr.size)
    r2, r2_trials, r2_train = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    fit_keys = jax.random.split(k_fits, folds * ranks_arr.size).reshape(folds, ranks_arr.size)
    bar = tqdm(total=folds * ranks_arr.size, desc="select_rank", unit="fit", disable=not progress)
    try:
        for f in range(folds):
            test_trials = np.sort(trial_groups[f])
            train_trials = np.setdiff1d(np.arange(recording.n_trials), test_trials)
            held = np.sort(neuron_groups[f])
            kept = np.setdiff1d(np.arange(recording.n_neurons), held)
            train, test = recording.select_trials(train_trials), recording.select_trials(test_trials)
            for j, rank in enumerate(ranks_arr):
                fit = fit_lowrank(train.select_neurons(kept), int(rank), key=fit_keys[f, j], epochs=epochs, lr=lr,
                                  test=test.select_neurons(kept), observation=observation, tau=tau,
                                  batch_size=batch_size, restarts=restarts, progress=False)
                r2_trials[f, j], r2_train[f, j] = fit.r2_test, fit.r2_train
                pred = _held_out_neurons(fit, train.select_neurons(held), test.select_neurons(held), observation)
                r2[f, j] = r2_score(test.select_neurons(held).rates, pred)
                bar.update(1)
                bar.set_postfix(fold=f + 1, rank=int(rank), r2=f"{r2[f, j]:.3f}")
    finally:
        bar.close()
    return RankSelection(ranks=ranks_arr, r2=r2, r2_trials=r2_trials, r2_train=r2_train,
                         best=_choose_rank(ranks_arr, r2, tolerance))
