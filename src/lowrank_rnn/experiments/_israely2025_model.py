"""The cerebellar-cortical reservoir of Israely et al. 2025 (Fig. 5c, f) as one traceable function
of (ratio, key), the function that :func:`lowrank_rnn.sweep` runs over beta/alpha and networks."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ..analysis import participation_ratio
from ..models import Loop, Reservoir, readout_from_moments

#: the published model (Israely et al. 2025, Methods; the authors' code)
N_PAPER = 1000
G = 1.75
DT = 0.1
ALPHA = 0.25
N_TARGETS = 8
HOLD = 500            # steps per target episode (50 tau)
REPS = 20             # repetitions of each target per run
FIT_WINDOW = 450      # the readout is fitted on the last 450 steps of every episode
SAMPLE_STEP = 498     # the state analysed: after 498 steps of an episode
N_OUTLIERS = 4        # closed-loop eigenvalues kept (largest modulus)

#: target positions on the unit circle, angle 2 pi k / 8
TARGETS = np.stack([np.cos(2 * np.pi * np.arange(N_TARGETS) / N_TARGETS),
                    np.sin(2 * np.pi * np.arange(N_TARGETS) / N_TARGETS)], axis=1)
#: CCGP dichotomies over the quadrants {0,1}, {2,3}, {4,5}, {6,7} of adjacent targets: train on one
#: pair of quadrants, test on the other (north-south twice, east-west twice; the authors' code)
QUADRANTS = ((0, 1), (2, 3), (4, 5), (6, 7))
_DIVISIONS = ((0, 3, 1, 2), (1, 2, 0, 3), (0, 1, 3, 2), (3, 2, 0, 1))
DICHOTOMIES = tuple(((QUADRANTS[a], QUADRANTS[b]), (QUADRANTS[c], QUADRANTS[d])) for a, b, c, d in _DIVISIONS)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Sizes of one run: network size, repetitions per target, and whether to compute the spectrum."""

    N: int = N_PAPER
    reps: int = REPS
    spectrum: bool = True


def target_order(key: jax.Array, reps: int) -> jax.Array:
    """Return the episode targets: ``reps`` shuffled blocks of the 8 targets (160 for 20 reps)."""
    return jax.vmap(lambda k: jax.random.permutation(k, N_TARGETS))(jax.random.split(key, reps)).ravel()


def draw(key: jax.Array, N: int, reps: int):
    """Return the network and the draws of one replicate: (reservoir, fit order, test order, x0 fit,
    x0 test). The cortical vectors V are N(0, 1), the cerebellar U N(0, 1/2) (the authors' 1/sqrt 2)."""
    kn, ko, kc, k1, k2 = jax.random.split(key, 5)
    res = Reservoir.sample(N, g=G, channels={"cortical": N_TARGETS, "cerebellar": 2},
                           scales={"cerebellar": 1 / np.sqrt(2)}, key=kn)
    return (res, target_order(ko, reps), target_order(kc, reps), 0.5 * jax.random.normal(k1, (N,)),
            0.5 * jax.random.normal(k2, (N,)))


def fit_loop_readout(res: Reservoir, beta, order, x0):
    """Return the open-loop least-squares readout w (N, 2): the cerebellar channel carries
    ``beta * y_k``; fitted (no ridge) on the rates of the last 450 steps of every episode."""
    return readout_from_moments(*open_loop_moments(res, beta, order, x0))


def open_loop_moments(res: Reservoir, beta, order, x0):
    """Return ``(sum r r^T, sum r y^T)`` over the last 450 steps of every open-loop episode."""
    N = res.N
    Y = jnp.asarray(TARGETS, res.bulk.dtype)
    eye = jnp.eye(N_TARGETS, dtype=res.bulk.dtype)

    def episode(carry, k):
        x, gram, cross = carry
        inputs = {"cortical": ALPHA * eye[k], "cerebellar": beta * Y[k]}
        x, _ = res.run(inputs, n_steps=HOLD - FIT_WINDOW, dt=DT, x0=x)
        # the rates of states HOLD - FIT_WINDOW ... HOLD - 1 of the episode (450 rows)
        x, rates = res.run(inputs, n_steps=FIT_WINDOW - 1, dt=DT, x0=x, record=True, initial=True)
        x, _ = res.run(inputs, n_steps=1, dt=DT, x0=x)
        gram = gram + rates.T @ rates
        cross = cross + jnp.sum(rates, axis=0)[:, None] * Y[k][None, :]
        return (x, gram, cross), None

    init = (x0, jnp.zeros((N, N), res.bulk.dtype), jnp.zeros((N, 2), res.bulk.dtype))
    (_, gram, cross), _ = jax.lax.scan(episode, init, order)
    return gram, cross


def closed_loop_samples(res: Reservoir, w, beta, order, x0):
    """Return the rates after 498 steps of each closed-loop episode, (episodes, N), and the
    readout there, (episodes, 2)."""
    eye = jnp.eye(N_TARGETS, dtype=res.bulk.dtype)
    loop = Loop(w, channel="cerebellar", gain=beta)

    def episode(x, k):
        inputs = {"cortical": ALPHA * eye[k]}
        x, _ = res.run(inputs, n_steps=SAMPLE_STEP, dt=DT, x0=x, loop=loop)
        r = res.phi(x)
        x, _ = res.run(inputs, n_steps=HOLD - SAMPLE_STEP, dt=DT, x0=x, loop=loop)
        return x, (r, w.T @ r)

    _, (rates, z) = jax.lax.scan(episode, x0, order)
    return rates, z


def network_statistics(params, key, *, config: ModelConfig = ModelConfig()):
    """The sweep's function: one network at ``params["ratio"]`` = beta/alpha.

    Returns ``pr`` (participation ratio of the z-scored target means), ``gram`` (the dot products
    of the 160 closed-loop samples sorted by target, from which the CCGP's linear SVMs are trained),
    ``readout_error`` (RMS distance of the closed-loop readout from the target at the sampled
    step), and with ``config.spectrum`` the closed loop's largest eigenvalues ``outlier_re/_im``
    and the low-rank prediction ``predicted_re/_im`` (eigenvalues of ``beta w^T U``).
    """
    beta = ALPHA * params["ratio"]
    res, fit_order, test_order, x0_fit, x0_test = draw(key, config.N, config.reps)
    w = fit_loop_readout(res, beta, fit_order, x0_fit)
    rates, z = closed_loop_samples(res, w, beta, test_order, x0_test)
    idx = jnp.argsort(test_order, stable=True)
    S = rates[idx]                                       # (8 * reps, N), target by target
    means = S.reshape(N_TARGETS, config.reps, -1).mean(axis=1).T   # (N, 8)
    err = z - jnp.asarray(TARGETS, z.dtype)[test_order]
    out = {"pr": participation_ratio(means), "gram": S @ S.T,
           "readout_error": jnp.sqrt(jnp.mean(jnp.sum(err ** 2, axis=1)))}
    if config.spectrum:
        U = res.channels["cerebellar"]
        ev = jnp.linalg.eigvals(res.bulk + beta * U @ w.T)
        top = ev[jnp.argsort(-jnp.abs(ev))[:N_OUTLIERS]]
        pred = jnp.linalg.eigvals(beta * w.T @ U)
        pred = pred[jnp.argsort(-jnp.abs(pred))]
        out.update(outlier_re=top.real, outlier_im=top.imag, predicted_re=pred.real, predicted_im=pred.imag)
    return out


def sample_labels(reps: int) -> np.ndarray:
    """The target label of each row of ``gram`` (sorted by target)."""
    return np.repeat(np.arange(N_TARGETS), reps)
