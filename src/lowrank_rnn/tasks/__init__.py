"""Cognitive tasks as arrays of trials: inputs, targets, a loss mask and the trial conditions.

Each task is an :class:`AbstractTask` whose ``sample(key, batch)`` returns :class:`Trials`
(batch-first, pure JAX, jittable), and which owns its loss, its accuracy rule and its psychometric
summary. Timing is in milliseconds; ``dt`` and ``tau`` set the network's step (alpha = dt / tau).

==============  ===============================  ==============================================
name            class                            source
==============  ===============================  ==============================================
rdm             :class:`PerceptualDecision`      Dubreuil, Valente et al. 2022, Nat. Neurosci.
romo            :class:`ParametricWorkingMemory`  idem (Romo et al. 1999)
mante           :class:`ContextDependentDecision` idem (Mante et al. 2013)
raposo          :class:`MultisensoryDecision`    idem (Raposo et al. 2014)
dms             :class:`DelayedMatchToSample`    idem
gonogo          :class:`GoNogo`                  Mastrogiuseppe & Ostojic 2018, Neuron, Fig. 3
detection       :class:`Detection`               idem, Fig. 4
flipflop        :class:`FlipFlop`                Sussillo & Barak 2013
delayed_xor     :class:`DelayedXOR`              Liu et al. 2022 (ModProp)
==============  ===============================  ==============================================

Example
-------
>>> import jax
>>> from lowrank_rnn.tasks import get_task
>>> task = get_task("mante", context_amplitude=0.5)
>>> trials = task.sample(jax.random.key(0), 64)
>>> task.accuracy(trials.targets, trials)
1.0
"""

from .._errors import ArgumentError, ArgumentTypeError
from ._base import AbstractTask as AbstractTask, Trials as Trials, masked_mean as masked_mean, \
    mse_loss as mse_loss
from ._decision import (ContextDependentDecision as ContextDependentDecision,
                        MultisensoryDecision as MultisensoryDecision,
                        PerceptualDecision as PerceptualDecision)
from ._memory import (DelayedMatchToSample as DelayedMatchToSample,
                      ParametricWorkingMemory as ParametricWorkingMemory)
from ._mo2018 import Detection as Detection, GoNogo as GoNogo
from ._digits import SequentialDigits as SequentialDigits
from ._digits import digits as digits
from ._neurogym import from_neurogym as from_neurogym
from ._sequence import DelayedXOR as DelayedXOR, FlipFlop as FlipFlop
from ._integration_memory import IntegrationMemory as IntegrationMemory

TASKS: dict[str, type[AbstractTask]] = {
    cls.name: cls
    for cls in (PerceptualDecision, ParametricWorkingMemory, ContextDependentDecision,
                MultisensoryDecision, DelayedMatchToSample, GoNogo, Detection, FlipFlop, DelayedXOR,
                SequentialDigits, IntegrationMemory)
}


def get_task(name: str, **overrides) -> AbstractTask:
    """Return the task called ``name`` with its published defaults, changed by ``overrides``.

    ``name`` is one of ``rdm, romo, mante, raposo, dms, gonogo, detection, flipflop,
    delayed_xor, seqdigits`` (the keys of :data:`TASKS`); ``overrides`` are constructor arguments of its
    class (timing in ms, ``dt``, ``tau``, ``input_noise``...). ``get_task(**task.config())``
    rebuilds a task.

    >>> get_task("romo").n_steps
    70
    """
    if not isinstance(name, str):
        raise ArgumentTypeError(f"name must be a string, one of {sorted(TASKS)}, got {type(name).__name__}")
    if name not in TASKS:
        raise ArgumentError(f"unknown task {name!r}; known tasks are: {', '.join(TASKS)}")
    return TASKS[name](**overrides)


__all__ = ["AbstractTask", "Trials", "TASKS", "get_task", "from_neurogym", "masked_mean", "mse_loss",
           "PerceptualDecision", "ParametricWorkingMemory", "ContextDependentDecision",
           "MultisensoryDecision", "DelayedMatchToSample", "GoNogo", "Detection", "FlipFlop",
           "DelayedXOR", "SequentialDigits", "digits"]
__all__ += ["IntegrationMemory"]
