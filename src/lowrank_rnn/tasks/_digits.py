"""Sequential digit classification from the 8 x 8 digits that scikit-learn ships (no download)."""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._errors import ArgumentError
from ._base import AbstractTask, Trials, _check_common, _check_outputs, _new_axes, masked_mean
from ._sequence import masked_cross_entropy

SPLITS = ("train", "test")
_LOSSES = ("cross_entropy", "mse")
TEST_FRACTION = 0.25


@functools.lru_cache(maxsize=None)
def digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images, labels)`` of one split of scikit-learn's 1797 handwritten 8 x 8 digits
    (UCI optical digits; pixels 0..16 scaled to [0, 1]): a fixed shuffle (NumPy seed 0), the last
    25 % the test set. Images ``(n, 8, 8)`` float32, labels ``(n,)`` int32.

    >>> images, labels = digits("test")
    >>> images.shape, int(labels.max())
    ((450, 8, 8), 9)
    """
    if split not in SPLITS:
        raise ArgumentError(f"split must be one of {SPLITS}, got {split!r}")
    from sklearn.datasets import load_digits  # shipped with scikit-learn: read from disk, no download

    data = load_digits()
    order = np.random.default_rng(0).permutation(len(data.target))
    n_test = int(np.ceil(TEST_FRACTION * len(order)))  # 450 of 1797
    idx = order[:-n_test] if split == "train" else order[-n_test:]
    images = (data.images[idx] / 16.0).astype(np.float32)
    return images, data.target[idx].astype(np.int32)


class SequentialDigits(AbstractTask):
    """Sequential digits ("seqdigits"): read an 8 x 8 digit one row per step, name it at the end.

    The stand-in for sequential MNIST (rows of a 28 x 28 image, one per step) of Liu, Ghosh,
    Richards, Shea-Brown & Lajoie 2022 (arXiv 2206.00823), with the digits scikit-learn ships so
    nothing is downloaded: 8 input channels (the pixels of row t, in [0, 1]) over 8 steps of
    ``dt`` ms (one row per step), 10 outputs. A trial is one image of ``split`` (``"train"``: 1347 images, ``"test"``:
    450, disjoint; see :func:`digits`) drawn uniformly. Targets: the one-hot label at the last step,
    where the mask is 1 (all outputs). Loss: softmax cross-entropy at the last step (default) or
    masked MSE; accuracy: the argmax of the outputs at the last step is the label. Conditions:
    ``label``, ``index`` (the image's row in its split).

    Examples
    --------
    >>> import jax
    >>> task = SequentialDigits()
    >>> trials = task.sample(jax.random.key(0), 16)
    >>> trials.inputs.shape, trials.targets.shape, task.accuracy(trials.targets, trials)
    ((16, 8, 8), (16, 8, 10), 1.0)
    """

    name = "seqdigits"
    n_inputs = 8
    n_outputs = 10
    epoch_names = ("rows",)
    split: str = eqx.field(static=True)
    loss_type: str = eqx.field(static=True)

    def __init__(self, *, split="train", loss_type="cross_entropy", dt=100.0, tau=100.0, input_noise=0.0):
        self.dt, self.tau, self.input_noise = _check_common(dt, tau, input_noise)
        if split not in SPLITS:
            raise ArgumentError(f"split must be one of {SPLITS}, got {split!r}")
        if loss_type not in _LOSSES:
            raise ArgumentError(f"loss_type must be one of {_LOSSES}, got {loss_type!r}")
        self.split, self.loss_type = split, loss_type

    @property
    def rows(self) -> float:
        """The trial's duration in ms: eight rows, one per step of ``dt``."""
        return 8 * self.dt

    def _trial(self, u):
        images, labels = digits(self.split)
        i = jnp.minimum(jnp.floor(u[0] * len(labels)).astype(jnp.int32), len(labels) - 1)
        inputs = jnp.asarray(images)[i]
        label = jnp.asarray(labels)[i]
        final = (jnp.arange(8) == 7).astype(jnp.float32)
        targets = final[:, None] * jax.nn.one_hot(label, 10, dtype=jnp.float32)[None, :]
        mask = jnp.repeat(final[:, None], 10, axis=1)
        return inputs, targets, mask, {"label": label, "index": i}

    def loss(self, outputs, trials: Trials) -> jax.Array:
        """Softmax cross-entropy of the outputs at the last step (default), or the masked MSE."""
        out = _check_outputs(outputs, trials)
        if self.loss_type == "mse":
            return super().loss(out, trials)
        return masked_cross_entropy(out, trials)

    def _predictions(self, outputs, trials):
        return jnp.argmax(masked_mean(outputs, trials.mask), axis=-1)

    def _judge(self, outputs, trials):
        label = trials.conditions["label"]
        return self._predictions(outputs, trials) == label, jnp.ones_like(label, dtype=bool)

    def psychometric(self, outputs, trials: Trials) -> dict:
        """Return the confusion matrix ``confusion[true, predicted]`` (counts) and per-digit accuracy."""
        out = _check_outputs(outputs, trials)
        pred = np.asarray(self._predictions(out, trials))
        true = np.asarray(trials.conditions["label"])
        conf = np.zeros((10, 10), dtype=np.int64)
        np.add.at(conf, (true, pred), 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.diag(conf) / conf.sum(axis=1)
        return {"confusion": conf, "accuracy": acc}

    def plot_psychometric(self, summary: dict, ax=None):
        """Draw the confusion matrix; return the Axes."""
        ax = _new_axes(ax)
        ax.imshow(summary["confusion"], cmap="Blues")
        ax.set_xlabel("predicted digit")
        ax.set_ylabel("true digit")
        ax.set_xticks(range(10))
        ax.set_yticks(range(10))
        ax.set_title(f"sequential digits ({self.split})")
        return ax
