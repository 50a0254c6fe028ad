"""Every function that draws refuses something that is not a jax.random key with the library's error.

Before, these checked only ``isinstance(key, jax.Array)``: any array passed, and JAX then raised its
own TypeError deep inside (found by the fuzz suite of issue 20).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lowrank_rnn as lr
from lowrank_rnn.learning import RateRNN
from lowrank_rnn.models import FullRankRNN, LowRankRNN
from lowrank_rnn.tasks import get_task
from lowrank_rnn.training import train

NOT_KEYS = [jnp.zeros(3), jnp.zeros((2,), jnp.float32), np.arange(2), 7]

_NET = lr.Ensemble.rank_one(mean_m=1.0, mean_n=1.0, std_m=1.0, std_n=1.0).sample(20, key=jax.random.key(0))

CALLS = {
    "LowRankRNN": lambda key: LowRankRNN(16, 1, 1, 1, key=key),
    "FullRankRNN": lambda key: FullRankRNN(16, 1, 1, key=key),
    "RateRNN": lambda key: RateRNN(16, 1, 1, key=key),
    "simulate": lambda key: lr.simulate(_NET, T=1.0, dt=0.1, noise=0.1, key=key),
    "train": lambda key: train(LowRankRNN(16, 1, 3, 1, key=jax.random.key(0)), get_task("rdm"), key=key, epochs=1),
}


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("bad", NOT_KEYS, ids=["float3", "float2", "int2", "int"])
def test_not_a_key_is_refused(name, bad):
    with pytest.raises(lr.ArgumentTypeError, match="key"):
        CALLS[name](bad)


def test_legacy_keys_still_accepted():
    model = LowRankRNN(16, 1, 1, 1, key=jax.random.PRNGKey(0))
    assert model.m.shape == (16, 1)
