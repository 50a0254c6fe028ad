"""Adapter from NeuroGym environments (optional dependency) to :class:`Trials`."""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import ArgumentError, ArgumentTypeError
from ._base import Trials, _check_batch, _check_key

_INTERFACE = ("new_trial", "observation_space", "action_space")


def _make_env(name: str, kwargs: dict):
    try:
        import neurogym as ngym
    except ImportError as err:
        raise ImportError(
            f"from_neurogym({name!r}) needs NeuroGym to build the environment by name; install it "
            "with `pip install neurogym`, or pass an environment object instead of a name") from err
    return ngym.make(name, **kwargs)


def _seed_env(env, seed: int) -> None:
    """Seed the environment's random generator (NeuroGym's ``seed``; newer Gym's ``reset(seed=)``)."""
    if callable(getattr(env, "seed", None)):
        env.seed(seed)
    elif callable(getattr(env, "reset", None)):
        env.reset(seed=seed)
    elif hasattr(env, "rng"):
        env.rng = np.random.RandomState(seed)
    else:
        raise ArgumentTypeError("env has no seed(), reset(seed=) or rng attribute: its trials cannot be made "
                        "deterministic for a key")


def from_neurogym(env, n_trials: int, key, **make_kwargs) -> Trials:
    """Return ``n_trials`` trials of a NeuroGym environment as :class:`Trials` arrays.

    ``env`` is a NeuroGym environment (an object with ``new_trial()``, ``ob``, ``gt``, ``dt``,
    ``observation_space`` and ``action_space``), or the name of one (e.g.
    ``"PerceptualDecisionMaking-v0"``), built with ``neurogym.make(name, **make_kwargs)`` (this
    needs ``pip install neurogym``; an object does not). The environment is seeded from ``key``,
    so the same key gives the same trials; NeuroGym draws its trials with NumPy, so this runs in
    Python, one ``new_trial()`` per trial, and is not jittable.

    - inputs: ``env.ob`` of each trial (NeuroGym already adds its own observation noise);
    - targets: the one-hot encoding of ``env.gt`` over ``action_space.n`` actions for a discrete
      action space (O = n; the supervised targets of NeuroGym), or ``env.gt`` itself for a
      continuous (Box) one;
    - mask: 1 on every step of the trial, 0 on the padding: trials of different lengths are
      padded to the longest;
    - conditions: ``n_steps`` (each trial's length) and every numeric scalar entry of
      ``env.trial`` present in all trials (e.g. ``ground_truth``, ``coh``).

    Molano-Mazon et al. 2022, "NeuroGym: an open resource for developing and sharing neuroscience
    tasks".

    Examples
    --------
    Any object with NeuroGym's interface works; here a two-step "report the cue" environment:

    >>> import types
    >>> import jax
    >>> import numpy as np
    >>> class Cue:
    ...     dt = 100
    ...     observation_space = types.SimpleNamespace(shape=(1,))
    ...     action_space = types.SimpleNamespace(n=2)
    ...     def seed(self, seed):
    ...         self.rng = np.random.default_rng(seed)
    ...     def new_trial(self):
    ...         self.trial = {"cue": int(self.rng.integers(2))}
    ...         self.ob = np.array([[self.trial["cue"]], [0.0]])
    ...         self.gt = np.array([0, self.trial["cue"]])
    >>> trials = from_neurogym(Cue(), 4, jax.random.key(0))
    >>> trials.inputs.shape, trials.targets.shape, sorted(trials.conditions)
    ((4, 2, 1), (4, 2, 2), ['cue', 'n_steps'])
    """
    if isinstance(env, str):
        env = _make_env(env, make_kwargs)
    elif make_kwargs:
        raise ArgumentTypeError("keyword arguments are only used to build an environment from its name")
    missing = [a for a in _INTERFACE if not hasattr(env, a)]
    if missing:
        raise ArgumentTypeError(f"env must be a NeuroGym environment (or its name); it lacks {missing}")
    n_trials = _check_batch(n_trials, "n_trials")
    key = _check_key(key)
    seed = int(jax.random.randint(key, (), 0, 2 ** 31 - 1))
    _seed_env(env, seed)

    n_actions = getattr(env.action_space, "n", None)
    obs, gts, infos = [], [], []
    for _ in range(n_trials):
        env.new_trial()
        ob = np.asarray(env.ob, dtype=np.float32)
        gt = np.asarray(env.gt)
        if ob.ndim == 1:
            ob = ob[:, None]
        if gt.shape[0] != ob.shape[0]:
            raise ArgumentError(f"env.gt has {gt.shape[0]} steps but env.ob has {ob.shape[0]}")
        if n_actions is not None:
            if gt.ndim != 1:
                raise ArgumentError(f"a discrete action space needs env.gt of shape (T,), got {gt.shape}")
            gt = np.eye(int(n_actions), dtype=np.float32)[gt.astype(np.int64)]
        else:
            gt = np.asarray(gt, dtype=np.float32)
            gt = gt[:, None] if gt.ndim == 1 else gt
        obs.append(ob)
        gts.append(gt)
        infos.append(dict(getattr(env, "trial", None) or {}))

    T = max(o.shape[0] for o in obs)
    K, O = obs[0].shape[1], gts[0].shape[1]
    inputs = np.zeros((n_trials, T, K), np.float32)
    targets = np.zeros((n_trials, T, O), np.float32)
    mask = np.zeros((n_trials, T, O), np.float32)
    for b, (o, g) in enumerate(zip(obs, gts)):
        inputs[b, :o.shape[0]] = o
        targets[b, :g.shape[0]] = g
        mask[b, :g.shape[0]] = 1.0

    conditions = {"n_steps": jnp.asarray([o.shape[0] for o in obs], jnp.int32)}
    for name in infos[0]:
        vals = [info.get(name) for info in infos]
        if all(isinstance(v, (numbers.Real, np.number)) and np.ndim(v) == 0 for v in vals):
            conditions[name] = jnp.asarray(np.asarray(vals))
    return Trials(inputs=jnp.asarray(inputs), targets=jnp.asarray(targets), mask=jnp.asarray(mask),
                  conditions=conditions)
