"""Integration of rate networks: one integrator (:func:`integrate`) and the noise generator.

``dx/dt = -x + F(x, u) + sigma xi`` stepped by Euler–Maruyama
(``x <- x + alpha (F - x) + sigma sqrt(alpha) xi``) or by a diffrax solver, with what varies
passed as objects: the :class:`VectorField`, the solver (:class:`Euler`, :class:`Diffrax`), the
noise (:class:`WhiteNoise`), what is saved (:class:`SaveAt`) and how gradients flow
(:class:`Autodiff`, :class:`Truncated`). :func:`lowrank_rnn.simulate` is the user's entry point;
the models and learning rules build on the same loop.
"""

from ._hashnoise import NoiseSource as NoiseSource
from ._hashnoise import element_index as element_index
from ._hashnoise import erfinv as erfinv
from ._hashnoise import hash_normal as hash_normal
from ._hashnoise import host_words as host_words
from ._hashnoise import key_words as key_words
from ._hashnoise import log_normal_float as log_normal_float
from ._hashnoise import lowbias32_host as lowbias32_host
from ._hashnoise import normal_from_words as normal_from_words
from ._hashnoise import quantile_normal_from_words as quantile_normal_from_words
from ._hashnoise import simulation_words as simulation_words
from ._hashnoise import step_words as step_words
from ._integrate import Autodiff as Autodiff
from ._integrate import Diffrax as Diffrax
from ._integrate import Euler as Euler
from ._integrate import QuantileSource as QuantileSource
from ._integrate import SaveAt as SaveAt
from ._integrate import Truncated as Truncated
from ._integrate import VectorField as VectorField
from ._integrate import WhiteNoise as WhiteNoise
from ._integrate import em_update as em_update
from ._integrate import euler_step as euler_step
from ._integrate import integrate as integrate
from ._integrate import white_noise as white_noise

__all__ = ["integrate", "euler_step", "em_update", "VectorField", "Euler", "Diffrax", "SaveAt", "Autodiff", "Truncated",
           "WhiteNoise", "white_noise", "NoiseSource", "QuantileSource", "quantile_normal_from_words",
           "simulation_words", "hash_normal", "normal_from_words", "element_index",
           "key_words", "step_words", "host_words", "lowbias32_host", "erfinv", "log_normal_float"]
