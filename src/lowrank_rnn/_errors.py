"""Exceptions raised by lowrank-rnn.

Every error the library raises on purpose derives from :class:`LowRankRNNError`, so a caller (the
command line among them) can tell the library's own messages about a bad argument, a damaged file
or a diverging run from a bug. :class:`ArgumentError` and :class:`ArgumentTypeError` subclass
``ValueError`` and ``TypeError``, so code that caught those keeps working.
"""

from __future__ import annotations


class LowRankRNNError(Exception):
    """Base class of the errors lowrank-rnn raises on purpose."""


class ArgumentError(LowRankRNNError, ValueError):
    """An argument has a value outside what is allowed; the message names it and the allowed range."""


class ArgumentTypeError(ArgumentError, TypeError):
    """An argument has the wrong type; the message names it and the accepted types."""


class FileFormatError(LowRankRNNError, ValueError):
    """A file is not a lowrank-rnn file, or is damaged; the message names the file and what is wrong."""


class RunFolderError(LowRankRNNError, RuntimeError):
    """A run folder cannot be used (in use by another run, foreign or damaged contents)."""


class DivergenceError(LowRankRNNError, RuntimeError):
    """A simulation or training run produced a non-finite value.

    Attributes
    ----------
    time:
        The time (in units of tau for simulations; the step or iteration for training) at which
        the first non-finite value appeared.
    trial:
        The index of the first trial that diverged, or ``None`` when not applicable.
    """

    def __init__(self, message: str, *, time: float | None = None, trial: int | None = None):
        super().__init__(message)
        self.time = time
        self.trial = trial
