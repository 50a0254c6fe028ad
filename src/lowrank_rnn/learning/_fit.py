"""Training a RateRNN with a credit-assignment rule on fresh trials, and the comparison figures."""

from __future__ import annotations

import time
from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._checks import positive_int, prng_key, real_scalar
from .._errors import ArgumentError, ArgumentTypeError, DivergenceError
from ._rate import RateRNN
from ._rules import BPTT, credit_assignment, cosine_similarity, rule_outputs

FIT_FIELDS = ("iteration", "train_loss", "val_loss", "val_accuracy", "cosine_to_bptt", "cosine_to_bptt_recurrent",
              "wall_time")


def _recurrent(grads) -> list:
    """The recurrent-weight leaves (W, or m and n) of a model-shaped gradient pytree."""
    return [x for x in (grads.W, grads.m, grads.n) if x is not None]


def _l2(params) -> jax.Array:
    leaves = [x for x in jax.tree_util.tree_leaves(params) if x.ndim == 2]
    return sum(jnp.sum(x ** 2) for x in leaves) / 2 if leaves else jnp.float32(0.0)


def _adam(lr, decay_every, decay) -> optax.GradientTransformation:
    """Adam with the learning rate multiplied by ``decay`` every ``decay_every`` steps (staircase)."""
    return optax.adam(optax.exponential_decay(lr, decay_every, decay, staircase=True))


@partial(jax.jit, static_argnames=("static", "task", "rule", "opt_spec", "n_steps", "batch", "val_batch", "l2",
                                   "track", "noise_rng"))
def _chunk(params, frozen, opt_state, keys, start, lr, **options):
    """:func:`_chunk_one` for runs stacked along a leading axis (``jax.vmap``: one compiled program
    advances every seed, which fills the CPU better than one small network at a time). The learning
    rate ``lr`` is an array (another rate compiles nothing); ``opt_spec`` is ``(decay_every, decay)``."""
    return jax.vmap(lambda p, f, s, k: _chunk_one(p, f, s, k, start, lr, **options))(params, frozen, opt_state, keys)


def _chunk_one(params, frozen, opt_state, key, start, lr, *, static, task, rule, opt_spec, n_steps, batch, val_batch,
               l2, track, noise_rng):
    """``n_steps`` updates on fresh trials (one ``lax.scan``), then validation and the BPTT alignment."""
    opt = _adam(lr, *opt_spec)

    def loss_of(p, trials, k, r):
        model = eqx.combine(p, frozen, static)
        out = rule_outputs(model, trials.inputs, r, key=k, noise_rng=noise_rng)
        return task.loss(out, trials) + (l2 * _l2(p) if l2 else 0.0)

    key_train, key_eval = jax.random.split(key)

    def update(carry, i):
        p, s = carry
        k_trials, k_noise = jax.random.split(jax.random.fold_in(key_train, start + i))
        trials = task.sample(k_trials, batch)
        loss, g = jax.value_and_grad(loss_of)(p, trials, k_noise, rule)
        upd, s = opt.update(g, s, p)
        return (eqx.apply_updates(p, upd), s), loss

    (params, opt_state), losses = jax.lax.scan(update, (params, opt_state), jnp.arange(n_steps))
    k_val, k_noise, k_al = jax.random.split(jax.random.fold_in(key_eval, start), 3)
    val = task.sample(k_val, val_batch)
    model = eqx.combine(params, frozen, static)
    out = rule_outputs(model, val.inputs, BPTT(), key=k_noise, noise_rng=noise_rng)
    stats = {"train_loss": jnp.mean(losses), "val_loss": task.loss(out, val), "val_accuracy": task.accuracy(out, val),
             "finite": jnp.all(jnp.isfinite(losses))}
    if track:
        trials = task.sample(k_al, batch)
        g_rule = jax.grad(loss_of)(params, trials, k_noise, rule)
        g_true = jax.grad(loss_of)(params, trials, k_noise, BPTT())
        stats["cosine_to_bptt"] = cosine_similarity(g_rule, g_true)
        # the rules differ only in the recurrent weights' update (readout and bias are exact in all but
        # RFLO / feedback alignment); this cosine is not dominated by the shared readout terms
        stats["cosine_to_bptt_recurrent"] = cosine_similarity(_recurrent(g_rule), _recurrent(g_true))
    return params, opt_state, stats


def fit(model, task, *, key: jax.Array, credit_assignment_rule="bptt", iterations: int = 3000,
        batch: int = 32, lr: float = 5e-4, decay: float = 0.8, decay_every: int = 300, l2: float = 0.0,
        eval_every: int = 20, val_batch: int = 64, track_alignment: bool = False, trainable=None,
        noise_rng: str = "hash", progress: bool = False):
    """Return the trained model and its history after ``iterations`` updates of a learning rule.

    ``model`` may also be a list of models with the same hyperparameters (e.g. one per seed): they
    train together, vmapped in one compiled program, with keys ``jax.random.split(key, len(model))``,
    and a list of ``(model, history)`` pairs comes back.

    The protocol of the ModProp paper (Liu et al. 2022, arXiv 2206.01338; code ``delayedXOR_task.py``):
    every iteration draws ``batch`` fresh trials of ``task`` and takes one Adam step (learning rate
    ``lr``, multiplied by ``decay`` every ``decay_every`` iterations) along the update of the rule
    ``credit_assignment_rule`` (:func:`credit_assignment`) on ``task.loss + l2/2 sum ||W||^2`` (the
    matrices W, W_in, W_out; 5e-4 in the paper). Every ``eval_every`` iterations it records the
    mean training loss of the last ``eval_every`` updates, the loss and accuracy on ``val_batch``
    fresh validation trials, and with ``track_alignment`` the cosine similarity of the rule's
    update to the BPTT gradient on the same fresh batch (the gradient-quality measure). Each block
    of ``eval_every`` updates is one compiled ``lax.scan``. Same key, same run. The cosine is
    recorded over every trained array (``cosine_to_bptt``) and over the recurrent weights alone
    (``cosine_to_bptt_recurrent``, where the rules differ).

    Raises DivergenceError when a loss becomes non-finite.

    >>> import jax
    >>> from lowrank_rnn.tasks import get_task
    >>> task = get_task("delayed_xor", delay=20.0, cue=10.0, dt=1.0, tau=10.0)
    >>> net = RateRNN(20, 2, 2, key=jax.random.key(0), n_excitatory=16, alpha=0.1)
    >>> net, h = fit(net, task, key=jax.random.key(1), credit_assignment_rule="eprop", iterations=40)
    >>> len(h["val_loss"])
    2
    """
    many = isinstance(model, (list, tuple))
    models = list(model) if many else [model]
    if not models or not all(isinstance(m, RateRNN) for m in models):
        raise ArgumentTypeError("model must be a RateRNN or a non-empty list of RateRNNs")
    if any(m.hyperparameters() != models[0].hyperparameters() for m in models):
        raise ArgumentError("the models of a list must share their hyperparameters (sizes, alpha, form, Dale's law)")
    model = models[0]
    key = prng_key("key", key)
    rule = credit_assignment(credit_assignment_rule)
    iterations = positive_int("iterations", iterations)
    batch = positive_int("batch", batch)
    eval_every = positive_int("eval_every", eval_every)
    val_batch = positive_int("val_batch", val_batch)
    decay_every = positive_int("decay_every", decay_every)
    lr = real_scalar("lr", lr, low=0.0, low_open=True)
    decay = real_scalar("decay", decay, low=0.0, high=1.0, low_open=True)
    l2 = real_scalar("l2", l2, low=0.0)
    if not np.isclose(model.alpha, task.dt / task.tau, rtol=1e-6):
        raise ArgumentError(f"model.alpha = {model.alpha} but the task steps alpha = dt / tau = {task.dt / task.tau}")
    if model.n_inputs != task.n_inputs or model.n_outputs != task.n_outputs:
        raise ArgumentError(f"the model has {model.n_inputs} inputs and {model.n_outputs} outputs, the task "
                         f"{task.n_inputs} and {task.n_outputs}")
    filt = model.trainable() if trainable is None else trainable
    parts = []
    for m in models:
        arrays, static = eqx.partition(m, eqx.is_array)
        parts.append(eqx.partition(arrays, filt))
    stack = lambda trees: jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)  # noqa: E731
    params, frozen = stack([p for p, _ in parts]), stack([f for _, f in parts])
    opt_spec = (decay_every, decay)
    opt_state = jax.vmap(_adam(lr, *opt_spec).init)(params)
    # the learning rate in the parameters' precision, as the Python number was cast: traced, not static
    lr_array = jnp.asarray(lr, jnp.result_type(*jax.tree_util.tree_leaves(params)))
    keys = jax.random.split(key, len(models)) if many else key[None]
    histories: list[dict[str, list]] = [{f: [] for f in FIT_FIELDS} for _ in models]
    t0 = time.perf_counter()
    done = 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=iterations, desc=f"fit {rule.spec()}", unit="it")
    while done < iterations:
        n = min(eval_every, iterations - done)
        params, opt_state, stats = _chunk(params, frozen, opt_state, keys, np.int32(done), lr_array, static=static,
                                          task=task, rule=rule, opt_spec=opt_spec, n_steps=n, batch=batch,
                                          val_batch=val_batch, l2=l2, track=bool(track_alignment),
                                          noise_rng=noise_rng)
        stats = jax.device_get(stats)
        done += n
        bad = ~np.asarray(stats["finite"]) | ~np.isfinite(np.asarray(stats["val_loss"]))
        if np.any(bad):
            raise DivergenceError(f"fit with {rule.spec()} diverged before iteration {done} (run "
                                  f"{int(np.argmax(bad))}): the loss became non-finite; lower lr", time=done)
        wall = time.perf_counter() - t0
        for i, history in enumerate(histories):
            row = {"iteration": done, "train_loss": float(stats["train_loss"][i]),
                   "val_loss": float(stats["val_loss"][i]), "val_accuracy": float(stats["val_accuracy"][i]),
                   "cosine_to_bptt": float(stats["cosine_to_bptt"][i]) if track_alignment else float("nan"),
                   "cosine_to_bptt_recurrent": (float(stats["cosine_to_bptt_recurrent"][i]) if track_alignment
                                                else float("nan")),
                   "wall_time": wall}
            for f in FIT_FIELDS:
                history[f].append(row[f])
        if bar is not None:
            bar.update(n)
            bar.set_postfix(loss=f"{np.mean(stats['val_loss']):.3f}", acc=f"{np.mean(stats['val_accuracy']):.2f}")
    if bar is not None:
        bar.close()
    out = [(eqx.combine(jax.tree_util.tree_map(lambda x: x[i], params),
                        jax.tree_util.tree_map(lambda x: x[i], frozen), static), histories[i])
           for i in range(len(models))]
    return out if many else out[0]


# ------------------------------------------------------------------------------------- summaries

def drop_extremes(curves) -> np.ndarray:
    """Return the indices of the runs kept after dropping the best and the worst by area under the curve.

    ``curves`` is ``(runs, points)``; the area is the sum over points (NaN-aware). With fewer than
    3 runs nothing is dropped. This is the averaging protocol of the ModProp paper
    (``plot_curves.py``: the best and the worst run are left out before the mean and s.d.).

    Examples
    --------
    >>> drop_extremes([[1.0, 1.0], [0.1, 0.1], [0.5, 0.4], [0.6, 0.5]]).tolist()   # drops runs 0 and 1
    [2, 3]
    """
    curves = np.asarray(curves, dtype=np.float64)
    if curves.ndim != 2:
        raise ArgumentError(f"curves must be 2-D (runs, points), got shape {curves.shape}")
    n = curves.shape[0]
    if n < 3:
        return np.arange(n)
    order = np.argsort(np.nansum(curves, axis=1), kind="stable")
    return np.sort(order[1:-1])


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
    """Return the trailing moving mean of each row over ``window`` points (fewer at the start)."""
    y = np.atleast_2d(y)
    if window <= 1:
        return y
    c = np.cumsum(np.pad(y, ((0, 0), (1, 0))), axis=1)
    i = np.arange(1, y.shape[1] + 1)
    lo = np.maximum(i - window, 0)
    return (c[:, i] - c[:, lo]) / (i - lo)


def plot_learning_curves(results: dict, *, smooth: int = 15, ylabel: str = "validation loss",
                         title: str = "", ax=None, colors: dict | None = None):
    """Return the Axes of the learning curves of several rules: mean +- s.d. after :func:`drop_extremes`.

    ``results`` maps a label to ``(x, curves)`` with ``x`` ``(points,)`` (iterations) and ``curves``
    ``(runs, points)``; each run is smoothed by a trailing moving mean of ``smooth`` points first
    (the ModProp paper's figures use 15 evaluation points; the first points average what exists).
    ``colors`` maps labels to matplotlib colours (default: the colour cycle in ``results``' order),
    so that several figures can give a rule the same colour.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> x = np.arange(5) * 20
    >>> curves = np.linspace(0.7, 0.1, 5) + np.array([[0.0], [0.05], [0.1], [0.2]])   # 4 runs
    >>> ax = plot_learning_curves({"BPTT": (x, curves)}, smooth=1)
    >>> ax.get_ylabel()
    'validation loss'
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 3.6))
    for i, (label, (x, curves)) in enumerate(results.items()):
        curves = np.atleast_2d(np.asarray(curves, dtype=np.float64))
        keep = drop_extremes(curves)
        y = _smooth(curves[keep], smooth)
        xs = np.asarray(x)[len(x) - y.shape[1]:]
        mean, sd = y.mean(axis=0), y.std(axis=0)
        color = (colors or {}).get(label, f"C{i}")
        ax.plot(xs, mean, color=color, lw=1.6, label=f"{label} ({len(keep)} of {curves.shape[0]} runs)")
        ax.fill_between(xs, mean - sd, mean + sd, color=color, alpha=0.2, lw=0)
    return _label_axes(ax, ylabel=ylabel, title=title, legend=bool(results))


def _label_axes(ax, *, ylabel: str, title: str, legend: bool):
    """Return ``ax`` with the iteration axis, ``ylabel``, the title and the legend of a curves figure."""
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize="medium")
    if legend:
        ax.legend(frameon=False, fontsize="small")
    return ax


def plot_alignment(results: dict, *, smooth: int = 1, title: str = "",
                   ylabel: str = "cosine similarity to the BPTT gradient", ax=None, colors: dict | None = None):
    """Return the Axes of each rule's cosine similarity to the BPTT gradient along training
    (mean +- s.d. over runs); ``results`` maps a label to ``(x, cosines (runs, points))``;
    ``colors`` as in :func:`plot_learning_curves`.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> x = np.arange(5) * 20
    >>> ax = plot_alignment({"e-prop": (x, np.full((3, 5), 0.5))})
    >>> ax.get_ylabel()
    'cosine similarity to the BPTT gradient'
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 3.6))
    for i, (label, (x, curves)) in enumerate(results.items()):
        y = _smooth(np.atleast_2d(np.asarray(curves, dtype=np.float64)), smooth)
        xs = np.asarray(x)[len(x) - y.shape[1]:]
        mean, sd = np.nanmean(y, axis=0), np.nanstd(y, axis=0)
        color = (colors or {}).get(label, f"C{i}")
        ax.plot(xs, mean, color=color, lw=1.6, label=label)
        ax.fill_between(xs, mean - sd, mean + sd, color=color, alpha=0.2, lw=0)
    ax.axhline(0, color="0.7", lw=0.8, zorder=0)
    ax.set_ylim(-0.2, 1.02)
    return _label_axes(ax, ylabel=ylabel, title=title, legend=bool(results))
