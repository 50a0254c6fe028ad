"""The noise generator now lives in :mod:`lowrank_rnn.dynamics` (below the models); these names
are kept here for the modules that import them from the models."""

from ..dynamics import NoiseSource as NoiseSource
from ..dynamics import erfinv as erfinv
from ..dynamics import hash_normal as hash_normal
from ..dynamics import host_words as host_words
from ..dynamics import key_words as key_words
from ..dynamics import log_normal_float as log_normal_float
from ..dynamics import lowbias32_host as lowbias32_host
from ..dynamics import normal_from_words as normal_from_words
from ..dynamics import step_words as step_words
