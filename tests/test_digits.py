"""The sequential-digits task (stand-in for sequential MNIST, Liu et al. 2022): data without
download, a disjoint fixed train/test split, trials built from the images, and a learnable task."""

import jax
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from lowrank_rnn import ArgumentError
from lowrank_rnn.tasks import SequentialDigits, digits, get_task


def test_split_is_fixed_disjoint_and_complete():
    (xtr, ytr), (xte, yte) = digits("train"), digits("test")
    assert xtr.shape == (1347, 8, 8) and xte.shape == (450, 8, 8)
    assert 0.0 <= xtr.min() and xtr.max() <= 1.0
    assert set(np.unique(ytr)) == set(range(10)) == set(np.unique(yte))
    train_rows = {x.tobytes() for x in xtr}
    # the UCI set holds a few exact duplicate images; beyond those the split is disjoint
    assert sum(x.tobytes() in train_rows for x in xte) <= 5
    assert np.array_equal(digits("train")[1], ytr)  # cached and fixed


def test_trials_are_the_images_row_by_row():
    task = get_task("seqdigits", split="test")
    trials = task.sample(jax.random.key(0), 32)
    images, labels = digits("test")
    idx = np.asarray(trials.conditions["index"])
    np.testing.assert_array_equal(np.asarray(trials.inputs), images[idx])  # no input noise by default
    np.testing.assert_array_equal(np.asarray(trials.conditions["label"]), labels[idx])
    assert np.all(np.asarray(trials.mask)[:, :7] == 0) and np.all(np.asarray(trials.mask)[:, 7] == 1)
    assert task.accuracy(trials.targets, trials) == 1.0
    summary = task.psychometric(trials.targets, trials)
    assert summary["confusion"].sum() == 32 and np.trace(summary["confusion"]) == 32
    assert SequentialDigits.from_config(task.config()) == task


def test_the_task_is_learnable_from_its_inputs():
    # a linear classifier on the 64 pixels a network sees reaches ~95 % on the test split: the
    # task is well posed and the split generalises
    (xtr, ytr), (xte, yte) = digits("train"), digits("test")
    clf = LogisticRegression(max_iter=2000).fit(xtr.reshape(len(xtr), -1), ytr)
    assert clf.score(xte.reshape(len(xte), -1), yte) > 0.9


def test_bad_input():
    with pytest.raises(ArgumentError, match="split"):
        SequentialDigits(split="validation")
    with pytest.raises(ArgumentError, match="loss_type"):
        SequentialDigits(loss_type="hinge")
