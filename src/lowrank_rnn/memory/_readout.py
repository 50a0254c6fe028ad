"""Supervised readouts for the classification claim of Krotov & Hopfield 2019 (PNAS 116:7723):
a softmax layer on the learned hidden units, on the pixels, or on top of a backprop-trained layer."""

from __future__ import annotations

import dataclasses
import functools
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from .._checks import positive_int, prng_key, real_scalar
from .._errors import ArgumentError, ArgumentTypeError, DivergenceError
from ._krotov import _currents, check_data


def _check_labels(labels, n: int) -> np.ndarray:
    try:
        y = np.asarray(labels)
    except (TypeError, ValueError):  # ragged nested lists
        raise ArgumentTypeError("labels must be a 1-D array of integer classes") from None
    if y.ndim != 1 or y.shape[0] != n:
        raise ArgumentError(f"labels must be 1-D with one label per sample ({n}), got shape {y.shape}")
    if y.dtype.kind not in "iu" or np.any(y < 0):
        raise ArgumentError("labels must be non-negative integers (class indices)")
    return y.astype(np.int32)


def hidden_activity(weights, data, *, p: float = 2.0, power: float = 1.0) -> np.ndarray:
    r"""Return the hidden units' activities $f(I_\mu) = \max(I_\mu, 0)^n$, (samples, hidden).

    $I_\mu = \langle W_\mu, v\rangle_\mu = \sum_i \mathrm{sgn}(W_{\mu i})|W_{\mu i}|^{p-1} v_i$ is the
    current of the Krotov–Hopfield rule and $n$ = ``power`` (Krotov & Hopfield 2019 use a rectified
    power $n > 1$ before their supervised layer).

    >>> import numpy as np
    >>> from lowrank_rnn import memory
    >>> memory.hidden_activity(np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([[2.0, 1.0]]), power=2).tolist()
    [[4.0, 0.0]]
    """
    w = check_data("weights", weights)
    v = check_data("data", data, n_inputs=w.shape[1])
    p = real_scalar("p", p, low=1.0)
    power = real_scalar("power", power, low=0.0, low_open=True)
    return np.asarray(jnp.maximum(_currents(jnp.asarray(w), jnp.asarray(v), p), 0.0) ** power)


@dataclasses.dataclass(frozen=True)
class Readout:
    """A trained classifier from :func:`classify` or :func:`backprop_network`.

    Attributes
    ----------
    kind: ``"hidden"`` (softmax on fixed hidden units), ``"pixels"`` (softmax on the inputs) or
        ``"backprop"`` (hidden layer and softmax trained together).
    params: dict of arrays (``W`` hidden weights where they exist, ``S`` readout, ``b`` bias,
        ``mean``/``scale`` the feature standardisation).
    p, power: the hidden units' current exponent and rectified power (``"hidden"`` only).
    losses: training cross-entropy per epoch.

    Examples
    --------
    >>> import jax, numpy as np
    >>> from lowrank_rnn import memory
    >>> x = np.random.default_rng(0).random((40, 5)); y = (x[:, 0] > 0.5).astype(int)
    >>> r = memory.classify(x, y, key=jax.random.key(0), epochs=5, progress=False)
    >>> r.kind, len(r.losses), r.predict(x).shape
    ('pixels', 5, (40,))
    """

    kind: str
    params: dict
    p: float
    power: float
    losses: np.ndarray

    def predict(self, data) -> np.ndarray:
        """Return the predicted class of each row of ``data``, (samples,)."""
        v = check_data("data", data, n_inputs=self.n_inputs)
        return np.asarray(jnp.argmax(_logits(self.kind, self.params, jnp.asarray(v), self.p, self.power), axis=1))

    def accuracy(self, data, labels) -> float:
        """Return the fraction of rows of ``data`` whose predicted class equals ``labels``."""
        pred = self.predict(data)
        return float(np.mean(pred == _check_labels(labels, pred.shape[0])))

    @property
    def n_inputs(self) -> int:
        """The number of inputs the classifier takes."""
        return int(self.params["W"].shape[1] if "W" in self.params else self.params["S"].shape[1])


def _features(kind, params, v, p, power):
    if kind == "pixels":
        return v
    if kind == "hidden":
        return jnp.maximum(_currents(params["W"], v, p), 0.0) ** power
    return jax.nn.relu(v @ params["W"].T + params["c"])


def _logits(kind, params, v, p, power):
    f = (_features(kind, params, v, p, power) - params["mean"]) / params["scale"]
    return f @ params["S"].T + params["b"]


@functools.lru_cache(maxsize=32)
def _epoch_fn(kind: str, trainable: tuple[str, ...], learning_rate: float, l2: float, n_batches: int, batch: int):
    """The jitted epoch of one readout kind (cached, so repeated fits reuse the compiled program)."""
    opt = optax.adam(learning_rate)

    def loss_fn(tp, fixed, p, power, xb, yb):
        logits = _logits(kind, {**fixed, **tp}, xb, p, power)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
        return ce + l2 * sum(jnp.sum(tp[n] ** 2) for n in tp if n in ("S", "W"))

    @jax.jit
    def epoch(tp, state, fixed, p, power, v, y, ekey):
        order = jax.random.permutation(ekey, v.shape[0])[: n_batches * batch]
        xb = v[order].reshape(n_batches, batch, -1)
        yb = y[order].reshape(n_batches, batch)

        def step(carry, b):
            tp, state = carry
            loss, grads = jax.value_and_grad(loss_fn)(tp, fixed, p, power, *b)
            updates, state = opt.update(grads, state, tp)
            return (optax.apply_updates(tp, updates), state), loss

        (tp, state), losses = jax.lax.scan(step, (tp, state), (xb, yb))
        return tp, state, losses.mean()

    return opt, epoch


def _train(kind, params, trainable, v, y, *, p, power, epochs, batch, learning_rate, l2, key, progress, desc):
    n_batches = max(1, v.shape[0] // batch)
    opt, epoch = _epoch_fn(kind, tuple(trainable), learning_rate, l2, n_batches, batch)
    state = opt.init({n: params[n] for n in trainable})
    tp = {n: params[n] for n in trainable}
    fixed = {n: a for n, a in params.items() if n not in trainable}
    losses = []
    bar = tqdm(total=epochs, desc=desc, unit="epoch", disable=not progress)
    for e in range(epochs):
        tp, state, loss = epoch(tp, state, fixed, jnp.float32(p), jnp.float32(power), v, y,
                               jax.random.fold_in(key, e))
        losses.append(float(loss))
        if not np.isfinite(losses[-1]):
            bar.close()
            raise DivergenceError(f"{desc}: the loss became non-finite in epoch {e + 1}; lower learning_rate",
                                  time=e + 1)
        bar.set_postfix(loss=f"{losses[-1]:.4g}")
        bar.update(1)
    bar.close()
    return {**fixed, **{n: np.asarray(a) for n, a in tp.items()}}, np.asarray(losses)


def _common(data, labels, epochs, batch_size, learning_rate, l2, key, progress, n_classes):
    v = check_data("data", data)
    y = _check_labels(labels, v.shape[0])
    epochs = positive_int("epochs", epochs)
    batch = min(positive_int("batch_size", batch_size), v.shape[0])
    learning_rate = real_scalar("learning_rate", learning_rate, low=0.0, low_open=True)
    l2 = real_scalar("l2", l2, low=0.0)
    key = prng_key("key", key)
    if not isinstance(progress, bool):
        raise ArgumentTypeError(f"progress must be True or False, got {type(progress).__name__}")
    n_classes = int(y.max()) + 1 if n_classes is None else positive_int("n_classes", n_classes)
    if y.max() >= n_classes:
        raise ArgumentError(f"labels must be below n_classes = {n_classes}, got {int(y.max())}")
    return v, y, epochs, batch, learning_rate, l2, key, n_classes


def classify(data, labels, *, weights=None, p: float = 2.0, power: float = 1.0, key, epochs: int = 200,
             batch_size: int = 128, learning_rate: float = 0.01, l2: float = 1e-4, n_classes: int | None = None,
             progress: bool = True) -> Readout:
    r"""Return a softmax classifier trained on fixed hidden units (or on the inputs) of labelled data.

    With ``weights`` (the (hidden, inputs) array of :func:`krotov_hopfield`), the features are the
    hidden activities $h_\mu = \max(I_\mu, 0)^n$ of :func:`hidden_activity`; without, the inputs
    themselves (a linear classifier on pixels). Features are standardised with the training set's
    mean and standard deviation, then a softmax layer $c = \mathrm{softmax}(S h + b)$ is trained on
    the cross-entropy plus ``l2`` times $\|S\|^2$ with Adam on mini-batches; the hidden weights stay
    fixed. This is the supervised top layer of Krotov & Hopfield 2019 (PNAS 116:7723), who use
    $\tanh$ outputs and the loss $\sum |c - t|^m$ instead of softmax and cross-entropy.

    Parameters
    ----------
    data: (samples, inputs) training inputs.
    labels: (samples,) integer classes.
    weights: optional (hidden, inputs) hidden-unit weights; ``None`` for a classifier on the inputs.
    p: the exponent of the currents (use the one the weights were learned with).
    power: the rectified power n of the hidden activity.
    key: ``jax.random`` key (initialisation and sample order).
    epochs, batch_size, learning_rate, l2: the optimisation.
    n_classes: number of classes (default: the largest label + 1).
    progress: show a ``tqdm`` bar.

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn import memory
    >>> x, y, xt, yt = memory.digits()
    >>> lin = memory.classify(x, y, key=jax.random.key(0), epochs=30, progress=False)
    >>> lin.accuracy(xt, yt) > 0.9
    True
    """
    v, y, epochs, batch, learning_rate, l2, key, n_classes = _common(
        data, labels, epochs, batch_size, learning_rate, l2, key, progress, n_classes)
    p = real_scalar("p", p, low=1.0)
    power = real_scalar("power", power, low=0.0, low_open=True)
    if weights is None:
        kind, params = "pixels", {}
    else:
        w = check_data("weights", weights, n_inputs=v.shape[1])
        kind, params = "hidden", {"W": jnp.asarray(w)}
    f = np.asarray(_features(kind, params, jnp.asarray(v), p, power))
    mean, std = f.mean(axis=0), f.std(axis=0)
    params.update(mean=jnp.asarray(mean), scale=jnp.asarray(np.where(std > 1e-6 * max(std.max(), 1e-30), std, 1.0)),
                  S=jnp.zeros((n_classes, f.shape[1]), jnp.float32), b=jnp.zeros(n_classes, jnp.float32))
    params, losses = _train(kind, params, ("S", "b"), jnp.asarray(v), jnp.asarray(y), p=p, power=power,
                            epochs=epochs, batch=batch, learning_rate=learning_rate, l2=l2, key=key,
                            progress=progress, desc=f"readout ({kind})")
    return Readout(kind=kind, params={n: np.asarray(a) for n, a in params.items()}, p=p, power=power,
                   losses=losses)


def backprop_network(data, labels, *, hidden: int, key, epochs: int = 200, batch_size: int = 128,
                     learning_rate: float = 0.003, l2: float = 1e-4, n_classes: int | None = None,
                     progress: bool = True) -> Readout:
    r"""Return a one-hidden-layer network trained end to end by backpropagation (the comparison of
    Krotov & Hopfield 2019): $c = \mathrm{softmax}(S\,\mathrm{ReLU}(W v + c_0) + b)$, ``hidden``
    units, cross-entropy plus ``l2`` times $\|W\|^2 + \|S\|^2$, Adam on mini-batches.

    >>> import jax
    >>> from lowrank_rnn import memory
    >>> x, y, xt, yt = memory.digits()
    >>> net = memory.backprop_network(x, y, hidden=32, key=jax.random.key(0), epochs=20, progress=False)
    >>> net.accuracy(xt, yt) > 0.9
    True
    """
    v, y, epochs, batch, learning_rate, l2, key, n_classes = _common(
        data, labels, epochs, batch_size, learning_rate, l2, key, progress, n_classes)
    hidden = positive_int("hidden", hidden)
    k_w, k_s, k_order = jax.random.split(key, 3)
    n_in = v.shape[1]
    params = {"W": jax.random.normal(k_w, (hidden, n_in)) * np.sqrt(2.0 / n_in),
              "c": jnp.zeros(hidden), "mean": jnp.zeros(hidden), "scale": jnp.ones(hidden),
              "S": jax.random.normal(k_s, (n_classes, hidden)) * np.sqrt(1.0 / hidden), "b": jnp.zeros(n_classes)}
    params, losses = _train("backprop", params, ("W", "c", "S", "b"), jnp.asarray(v), jnp.asarray(y), p=2.0,
                            power=1.0, epochs=epochs, batch=batch, learning_rate=learning_rate, l2=l2,
                            key=k_order, progress=progress, desc="backprop")
    return Readout(kind="backprop", params={n: np.asarray(a) for n, a in params.items()}, p=2.0, power=1.0,
                   losses=losses)
