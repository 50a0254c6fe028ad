"""Image data for the Krotov–Hopfield rule without downloads: scikit-learn's 8x8 digits, or a
user-supplied MNIST-like array."""

from __future__ import annotations

import numpy as np

from .._checks import finite_array, positive_int, real_scalar
from .._errors import ArgumentError, ArgumentTypeError


def digits(*, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(x_train, y_train, x_test, y_test)``: the 1797 8x8 handwritten digits that
    scikit-learn ships (UCI optical digits; no download), pixels scaled to [0, 1] and flattened to
    64 inputs, split at random (``seed``) with ``test_fraction`` of them held out.

    >>> from lowrank_rnn import memory
    >>> x, y, xt, yt = memory.digits()
    >>> x.shape, xt.shape, float(x.max()), sorted(set(y.tolist())) == list(range(10))
    ((1438, 64), (359, 64), 1.0, True)
    """
    from sklearn.datasets import load_digits

    test_fraction = real_scalar("test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    seed = positive_int("seed", seed, low=0)
    d = load_digits()
    return split(d.data / 16.0, d.target, test_fraction=test_fraction, seed=seed)


def split(images, labels, *, test_fraction: float = 0.2, seed: int = 0):
    """Return ``(x_train, y_train, x_test, y_test)`` from images and integer labels, e.g. MNIST loaded
    by the user: ``images`` (samples, height, width) or (samples, pixels) are flattened and divided
    by their largest value (255 for 8-bit images) so pixels lie in [0, 1]; the split is random
    (``seed``) with ``test_fraction`` held out. For MNIST's own split call it twice, or pass the
    arrays directly to :func:`krotov_hopfield` after scaling.

    >>> import numpy as np
    >>> from lowrank_rnn import memory
    >>> x, y, xt, yt = memory.split(np.arange(40, dtype=np.uint8).reshape(10, 2, 2), np.arange(10) % 2)
    >>> x.shape, xt.shape, float(max(x.max(), xt.max()))
    ((8, 4), (2, 4), 1.0)
    """
    x = finite_array("images", images, ndim=(2, 3))
    if x.ndim == 3:
        x = x.reshape(x.shape[0], -1)
    if x.shape[0] < 2 or x.shape[1] == 0:
        raise ArgumentError(f"images must hold at least 2 samples of at least 1 pixel, got shape {x.shape}")
    if x.min() < 0:
        raise ArgumentError("images must be non-negative pixel intensities")
    try:
        y = np.asarray(labels)
    except (TypeError, ValueError):  # ragged nested lists
        raise ArgumentTypeError("labels must be a 1-D array of integer classes") from None
    if y.ndim != 1 or y.shape[0] != x.shape[0] or y.dtype.kind not in "iu" or (y.size and y.min() < 0):
        raise ArgumentError(f"labels must be 1-D non-negative integers, one per image ({x.shape[0]}), "
                            f"got shape {y.shape} and dtype {y.dtype}")
    test_fraction = real_scalar("test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    seed = positive_int("seed", seed, low=0)
    top = x.max()
    x = (x / top if top > 0 else x).astype(np.float32)
    order = np.random.default_rng(seed).permutation(x.shape[0])
    n_test = min(max(1, int(round(test_fraction * x.shape[0]))), x.shape[0] - 1)
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train].astype(np.int32), x[test], y[test].astype(np.int32)
