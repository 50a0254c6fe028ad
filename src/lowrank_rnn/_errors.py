"""Exceptions raised by lowrank-rnn."""

from __future__ import annotations


class DivergenceError(RuntimeError):
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
