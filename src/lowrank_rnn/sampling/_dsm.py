"""Denoising score matching with annealed noise levels (Vincent 2011; Chen et al. 2023).

The score of data smoothed by Gaussian noise of standard deviation $\\sigma$ minimises

$$L(\\sigma) = \\tfrac12\\, E_{x \\sim data,\\ \\tilde x = x + \\sigma \\epsilon}
  \\big\\| s_\\theta(\\tilde x) - (x - \\tilde x)/\\sigma^2 \\big\\|^2,$$

summed over dimensions and averaged over the batch (no $\\sigma^2$ weighting and no conditioning
on $\\sigma$: one score is trained at one noise level at a time, the largest first, as in the
authors' code for Chen, Jiang, Rao & Shea-Brown 2023, arXiv 2308.11809). The model is then used at
the last (smallest) level.

The loop is written here rather than through :func:`lowrank_rnn.training.train`, whose epochs
draw trials of a task and integrate a network through time; an epoch here is a pass over a fixed
data array with fresh noise, and the levels change the target between epochs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from .._checks import finite_array, positive_int, prng_key, real_scalar
from .._errors import ArgumentError, ArgumentTypeError, DivergenceError
from .._io import output_folder, read_checkpoint, write_checkpoint


def geometric_sigmas(sigma_max: float, sigma_min: float, levels: int) -> np.ndarray:
    """Return ``levels`` noise levels from ``sigma_max`` down to ``sigma_min``, geometrically spaced.

    $\\sigma_k = \\sigma_{max} (\\sigma_{min}/\\sigma_{max})^{k/(L-1)}$, $k = 0, \\dots, L-1$ (the
    annealing schedule of Chen et al. 2023; one level gives ``[sigma_min]``).

    Examples
    --------
    >>> geometric_sigmas(1.0, 0.01, 3)
    array([1.  , 0.1 , 0.01])
    """
    hi = real_scalar("sigma_max", sigma_max, low=0.0, low_open=True)
    lo = real_scalar("sigma_min", sigma_min, low=0.0, low_open=True)
    levels = positive_int("levels", levels)
    if lo > hi:
        raise ArgumentError(f"sigma_min must be <= sigma_max, got {lo} > {hi}")
    if levels == 1:
        return np.array([lo])
    return hi * (lo / hi) ** (np.arange(levels) / (levels - 1))


def dsm_loss(model, x: jax.Array, noise: jax.Array, sigma) -> jax.Array:
    """Return the denoising score-matching loss of ``model`` on a batch at noise level ``sigma``.

    $L = \\tfrac12\\, \\mathrm{mean}_i \\| s(\\tilde x_i) - (x_i - \\tilde x_i)/\\sigma^2 \\|^2$ with
    $\\tilde x_i = x_i + \\sigma \\epsilon_i$, ``noise`` holding the standard normals
    $\\epsilon_i$ (same shape as ``x``, ``(batch, dim)``).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from lowrank_rnn.sampling import ScoreModel
    >>> model = ScoreModel(1, 4, activation="linear", key=jax.random.key(0))
    >>> x, eps = jnp.zeros((3, 1)), jnp.ones((3, 1))
    >>> s = model(jnp.full(1, 0.5))  # the score at x + sigma eps, against the target -eps / sigma = -2
    >>> bool(jnp.isclose(dsm_loss(model, x, eps, 0.5), 0.5 * jnp.sum((s + 2.0) ** 2)))
    True
    """
    x_noisy = x + sigma * noise
    target = -noise / sigma  # (x - x~) / sigma^2
    pred = jax.vmap(model)(x_noisy)
    return 0.5 * jnp.mean(jnp.sum((pred - target) ** 2, axis=-1))


def _config(model, data: np.ndarray, sigmas: np.ndarray, epochs: int, batch_size: int, lr: float,
            seed: list[int]) -> dict:
    digest = hashlib.sha256(np.ascontiguousarray(data, np.float32).tobytes()).hexdigest()[:16]
    return {"model": type(model).__name__, "shapes": [list(np.shape(a)) for a in jax.tree_util.tree_leaves(model)],
            "sigmas": [float(s) for s in sigmas], "epochs_per_level": epochs, "batch_size": batch_size,
            "learning_rate": lr, "key": seed, "data_shape": list(data.shape),
            "data_sha256": digest}


def _write_checkpoint(out: Path, config: dict, params, opt_state, epoch: int, history: dict) -> None:
    write_checkpoint(out, "dsm_checkpoint", config, (params, opt_state), {"epoch": epoch, "history": history})


def _read_checkpoint(out: Path, config: dict, params, opt_state):
    saved = read_checkpoint(out, "dsm_checkpoint", config, (params, opt_state), what="DSM",
                            other_run=f"out: {out} holds a DSM checkpoint of a different run (model, data, sigmas, "
                            "epochs, batch size, learning rate or key differ); use another folder or resume=False")
    if saved is None:
        return None
    (params, opt_state), meta = saved
    return params, opt_state, int(meta["epoch"]), meta["history"]


def train_dsm(model, data, *, sigmas, epochs: int, key, batch_size: int = 128, learning_rate: float = 1e-3,
              optimizer: optax.GradientTransformation | None = None, out=None, resume: bool = True,
              checkpoint_every: int = 50, progress: bool = True) -> tuple[Any, dict]:
    """Return ``(model, history)`` after denoising score matching on ``data``, one noise level at a time.

    For each $\\sigma$ of ``sigmas``, sorted largest first, ``epochs`` passes over ``data`` minimise
    :func:`dsm_loss` (Chen et al. 2023, arXiv 2308.11809; Vincent 2011): minibatches of
    ``batch_size`` in a fresh order each epoch, fresh noise $\\epsilon$ each batch, the optimizer
    (Adam with ``learning_rate`` unless ``optimizer`` is given) carried across levels. An epoch is
    one compiled ``lax.scan`` over its minibatches; the order and the noise of epoch ``e`` come
    from ``jax.random.fold_in(key, e)``, so a resumed run equals an uninterrupted one.

    Parameters
    ----------
    model: a :class:`~lowrank_rnn.sampling.ScoreModel`, :class:`~lowrank_rnn.sampling.SamplerOnly`
        or any ``equinox.Module`` mapping a state ``(dim,)`` to a score ``(dim,)`` (its array
        leaves are trained).
    data: samples of the target, ``(n, dim)`` (``(n,)`` for ``dim = 1``).
    sigmas: positive noise levels (e.g. :func:`geometric_sigmas`).
    epochs: passes over the data at each level.
    key: ``jax.random`` key of the batch order and noise.
    out: optional folder for a checkpoint (``dsm_checkpoint.npz`` / ``.json``, written atomically
        after every ``checkpoint_every`` epochs and at the end of each level); with ``resume`` a
        matching checkpoint there is continued.
    progress: show a progress bar.

    Returns
    -------
    The trained model and ``history``: ``{"sigma": [...], "loss": [...]}``, one entry per epoch
    (the mean loss over its minibatches). A non-finite loss raises
    :class:`~lowrank_rnn.DivergenceError` naming the epoch and level.

    Examples
    --------
    >>> import jax, numpy as np
    >>> from lowrank_rnn.sampling import ScoreModel
    >>> data = np.random.default_rng(0).normal(size=(256, 1))
    >>> model = ScoreModel(1, 8, activation="linear", key=jax.random.key(0))
    >>> model, hist = train_dsm(model, data, sigmas=[0.5, 0.1], epochs=2, key=jax.random.key(1),
    ...                         progress=False)
    >>> len(hist["loss"])
    4
    """
    if not isinstance(model, eqx.Module):
        raise ArgumentTypeError(f"model must be an equinox.Module (ScoreModel, SamplerOnly...), "
                                f"got {type(model).__name__}")
    dim = getattr(model, "dim", None)
    data = finite_array("data", data, ndim=(1, 2), dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    if dim is not None and data.shape[1] != dim:
        raise ArgumentError(f"data must have shape (n, {dim}) for a model of dim {dim}, got {data.shape}")
    if data.shape[0] < 2:
        raise ArgumentError(f"data must hold at least 2 samples, got {data.shape[0]}")
    try:
        sig = np.asarray(sigmas, np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ArgumentTypeError("sigmas must be a sequence of positive numbers") from None
    if sig.size == 0 or not np.all(np.isfinite(sig)) or np.any(sig <= 0):
        raise ArgumentError(f"sigmas must be non-empty, finite and positive, got {np.asarray(sigmas).tolist()}")
    sig = np.sort(sig)[::-1]
    epochs = positive_int("epochs", epochs)
    batch_size = positive_int("batch_size", batch_size)
    checkpoint_every = positive_int("checkpoint_every", checkpoint_every)
    lr = real_scalar("learning_rate", learning_rate, low=0.0, low_open=True)
    key = prng_key("key", key)
    if optimizer is None:
        optimizer = optax.adam(lr)
    out = output_folder(out, name="out") if out is not None else None

    n = data.shape[0]
    bs = min(batch_size, n)
    n_batches = n // bs
    params, static = eqx.partition(model, eqx.is_inexact_array)
    opt_state = optimizer.init(params)
    data_j = jnp.asarray(data)
    total = len(sig) * epochs
    history: dict[str, list] = {"sigma": [], "loss": []}
    start = 0
    seed = np.asarray(jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
                      else key).ravel().tolist()
    config = _config(model, data, sig, epochs, bs, lr, [int(s) for s in seed])
    if out is not None and resume:
        saved = _read_checkpoint(out, config, params, opt_state)
        if saved is not None:
            params, opt_state, start, history = saved

    @eqx.filter_jit
    def run_epoch(params, opt_state, epoch_key, sigma):
        k_perm, k_noise = jax.random.split(epoch_key)
        order = jax.random.permutation(k_perm, n)[: n_batches * bs].reshape(n_batches, bs)
        noise_keys = jax.random.split(k_noise, n_batches)

        def step(carry, xs):
            params, opt_state = carry
            idx, k = xs
            x = data_j[idx]
            eps = jax.random.normal(k, x.shape, x.dtype)

            def loss_fn(p):
                return dsm_loss(eqx.combine(p, static), x, eps, sigma)

            loss, grads = jax.value_and_grad(loss_fn)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), (order, noise_keys))
        return params, opt_state, jnp.mean(losses)

    bar = tqdm(total=total, initial=start, desc="DSM", unit="epoch", leave=False) if progress else None
    try:
        for e in range(start, total):
            level = e // epochs
            sigma = float(sig[level])
            new_params, new_state, loss = run_epoch(params, opt_state, jax.random.fold_in(key, e),
                                                    jnp.float32(sigma))
            loss = float(loss)
            if not np.isfinite(loss) or not all(bool(jnp.all(jnp.isfinite(a)))
                                                for a in jax.tree_util.tree_leaves(new_params)):
                raise DivergenceError(f"train_dsm diverged at epoch {e + 1} (noise level sigma = {sigma:.4g}, "
                                      f"loss {loss}); lower learning_rate", time=e + 1)
            params, opt_state = new_params, new_state
            history["sigma"].append(sigma)
            history["loss"].append(loss)
            if bar is not None:
                bar.set_postfix(sigma=f"{sigma:.3g}", loss=f"{loss:.4g}")
                bar.update(1)
            done = e + 1
            if out is not None and (done % checkpoint_every == 0 or done % epochs == 0):
                _write_checkpoint(out, config, params, opt_state, done, history)
    finally:
        if bar is not None:
            bar.close()
    return eqx.combine(params, static), history
