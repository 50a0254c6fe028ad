"""Local learning rules on one recurrent core: credit assignment is a switch.

- :class:`RateRNN`: a leaky rate network (ReLU or tanh, optional Dale's law with E/I cell types,
  optional rank-R weights, voltage or rate form) that :func:`lowrank_rnn.training.train` accepts.
- :func:`credit_assignment` parses a rule (``"bptt"``, ``"tbptt(k)"``, ``"eprop"``, ``"rflo"``,
  ``"mdgl"``, ``"mdgl_celltype"``, ``"modprop"``, ``"feedback_alignment"``) into a rule object
  (:class:`BPTT`, :class:`TBPTT`, :class:`EProp`, :class:`RFLO`, :class:`MDGL`, :class:`ModProp`,
  :class:`FeedbackAlignment`).
- :func:`rule_outputs` runs trials with the rule's backward pass, so ``jax.grad`` of any loss of
  its outputs is the rule's update; :func:`rule_gradient` returns it; :func:`cosine_similarity`
  compares it with BPTT.
- :func:`fit` trains with fresh trials every iteration and tracks the alignment with BPTT;
  :func:`plot_learning_curves` and :func:`plot_alignment` draw the comparison figures.
"""

from .._io import register
from ._fit import drop_extremes as drop_extremes
from ._fit import fit as fit
from ._fit import plot_alignment as plot_alignment
from ._fit import plot_learning_curves as plot_learning_curves
from ._rate import RateRNN as RateRNN
from ._rate import _in, _out
from ._rules import BPTT as BPTT
from ._rules import MDGL as MDGL
from ._rules import RFLO as RFLO
from ._rules import RULES as RULES
from ._rules import TBPTT as TBPTT
from ._rules import CreditAssignment as CreditAssignment
from ._rules import EProp as EProp
from ._rules import FeedbackAlignment as FeedbackAlignment
from ._rules import ModProp as ModProp
from ._rules import block_average as block_average
from ._rules import cosine_similarity as cosine_similarity
from ._rules import credit_assignment as credit_assignment
from ._rules import rule_gradient as rule_gradient
from ._rules import rule_outputs as rule_outputs

register("RateRNN", _out, _in)

__all__ = ["RateRNN", "credit_assignment", "CreditAssignment", "BPTT", "TBPTT", "EProp", "RFLO", "MDGL",
           "ModProp", "FeedbackAlignment", "RULES", "rule_outputs", "rule_gradient", "cosine_similarity",
           "block_average", "fit", "drop_extremes", "plot_learning_curves", "plot_alignment"]
