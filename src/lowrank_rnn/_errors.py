"""Exceptions raised by lowrank-rnn.

Every error the library raises on purpose derives from :class:`LowRankRNNError`, so a caller (the
command line among them) can tell the library's own messages about a bad argument, a damaged file
or a diverging run from a bug. :class:`ArgumentError` and :class:`ArgumentTypeError` subclass
``ValueError`` and ``TypeError``, so code that caught those keeps working.
"""

from __future__ import annotations


class LowRankRNNError(Exception):
    """Base class of the errors lowrank-rnn raises on purpose.

    Examples
    --------
    >>> import lowrank_rnn as lr
    >>> try:
    ...     lr.Ensemble.rank_one(mean_m=1.0, mean_n=1.0, std_m=-1.0, std_n=1.0)
    ... except lr.LowRankRNNError as err:
    ...     print(type(err).__name__)
    ArgumentError
    """


class ArgumentError(LowRankRNNError, ValueError):
    """An argument has a value outside what is allowed; the message names it and the allowed range.

    A ``ValueError``, raised before anything is compiled.

    Examples
    --------
    >>> import jax
    >>> import lowrank_rnn as lr
    >>> ens = lr.Ensemble.rank_one(mean_m=1.0, mean_n=1.0, std_m=1.0, std_n=1.0)
    >>> net = ens.sample(10, key=jax.random.key(0))
    >>> try:
    ...     lr.simulate(net, T=1.0, dt=2.0)
    ... except ValueError as err:
    ...     print(err)
    dt must be <= 1.0, got 2.0
    """


class ArgumentTypeError(ArgumentError, TypeError):
    """An argument has the wrong type; the message names it and the accepted types.

    A ``TypeError`` (and an :class:`ArgumentError`).

    Examples
    --------
    >>> import lowrank_rnn as lr
    >>> try:
    ...     lr.Ensemble.rank_one(mean_m=1.0, mean_n=1.0, std_m=1.0, std_n=1.0).sample(10, key=0)
    ... except TypeError as err:
    ...     print(type(err).__name__)
    ArgumentTypeError
    """


class FileFormatError(LowRankRNNError, ValueError):
    """A file is not a lowrank-rnn file, or is damaged; the message names the file and what is wrong.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import lowrank_rnn as lr
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "notes.npz"
    >>> _ = path.write_text("not an archive")
    >>> try:
    ...     lr.load(path)
    ... except lr.FileFormatError as err:
    ...     print(type(err).__name__)
    FileFormatError
    """


class RunFolderError(LowRankRNNError, RuntimeError):
    """A run folder cannot be used (in use by another run, foreign or damaged contents).

    Examples
    --------
    >>> import tempfile
    >>> import lowrank_rnn as lr
    >>> from lowrank_rnn.training import load_run
    >>> try:
    ...     load_run(tempfile.mkdtemp())          # an empty folder is not a training run
    ... except lr.RunFolderError as err:
    ...     print(type(err).__name__)
    RunFolderError
    """


class DivergenceError(LowRankRNNError, RuntimeError):
    """A simulation or training run produced a non-finite value.

    Attributes
    ----------
    time:
        The time (in units of tau for simulations; the step or iteration for training) at which
        the first non-finite value appeared.
    trial:
        The index of the first trial that diverged, or ``None`` when not applicable.

    Examples
    --------
    >>> import jax
    >>> import lowrank_rnn as lr
    >>> ens = lr.Ensemble.rank_one(mean_m=5.0, mean_n=5.0, std_m=1.0, std_n=1.0)
    >>> net = ens.sample(50, key=jax.random.key(0))
    >>> net = lr.Network(net.m, net.n, nonlinearity="linear")   # overlap 25 > 1: grows without bound
    >>> try:
    ...     lr.simulate(net, T=200.0, dt=0.1, x0=net.m[:, 0])
    ... except lr.DivergenceError as err:
    ...     print(err.time is not None, err.trial)
    True None
    """

    def __init__(self, message: str, *, time: float | None = None, trial: int | None = None):
        super().__init__(message)
        self.time = time
        self.trial = trial
