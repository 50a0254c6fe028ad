"""Rank truncation of full-rank networks, Gaussian-mixture fits of trained loadings, resampling.

Dubreuil, Valente et al. 2022 (Nat. Neurosci., "The role of population structure in computations
through neural dynamics"): a trained low-rank network is described by the joint distribution of
its per-neuron loadings (m_i, n_i, I_i, w_i); networks resampled from ONE Gaussian fitted to them
keep the accuracy on tasks that need no population structure (RDM, Romo, Raposo) and lose it on
those that do (context-dependent decision, delayed match-to-sample), which a mixture of two or
more Gaussians recovers.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import equinox as eqx
import jax
import numpy as np
import optax

from .._checks import positive_int, prng_key
from .._ensemble import Ensemble, canonical_names
from .._errors import ArgumentError, ArgumentTypeError
from ..models import AbstractRNN, FullRankRNN, MixtureLowRankRNN, replace_static, run_trials, to_ensemble
from ..training import BPTT, Adam, RunSettings, train
from ._latents import _low_rank_parts


# ------------------------------------------------------------------------------------------ accuracy

@partial(jax.jit, static_argnames=("task", "n_trials"))
def _scores(model, key, *, task, n_trials):

    k_trials, k_noise = jax.random.split(key)
    trials = task._sample(k_trials, n_trials)
    out = run_trials(model, trials.inputs, key=k_noise if model.noise > 0 else None)
    return task._accuracy(out, trials), task.loss(out, trials)


def task_accuracy(model, task, *, key: jax.Array, n_trials: int = 1000, return_loss: bool = False):
    """Return the accuracy (the task's own rule) of ``model`` on ``n_trials`` fresh noisy trials.

    Trials and network noise derive from ``key`` (the noise at the model's ``noise`` level, as in
    training and in the published evaluation). ``return_loss=True`` returns ``(accuracy, loss)``
    with the task's masked MSE. One compilation per model shape and task, reused for every
    resampled network.

    >>> import jax
    >>> from lowrank_rnn.models import LowRankRNN
    >>> from lowrank_rnn.tasks import get_task
    >>> acc = task_accuracy(LowRankRNN(64, 1, 1, 1, key=jax.random.key(0)), get_task("rdm"),
    ...                     key=jax.random.key(1), n_trials=100)
    >>> 0.0 <= acc <= 1.0
    True
    """

    if not isinstance(model, AbstractRNN):
        raise ArgumentTypeError(f"model must be a LowRankRNN, FullRankRNN or MixtureLowRankRNN, got {type(model).__name__}")
    for attr in ("sample", "accuracy", "n_inputs"):
        if not hasattr(task, attr):
            raise ArgumentTypeError(f"task must be a lowrank_rnn task (get_task(...)); it has no {attr!r}")
    key = prng_key("key", key)
    n_trials = positive_int("n_trials", n_trials)
    if model.n_inputs != task.n_inputs or model.n_outputs != task.n_outputs:
        raise ArgumentError(f"the model has {model.n_inputs} inputs and {model.n_outputs} outputs, the task "
                         f"{task.n_inputs} and {task.n_outputs}")
    acc, loss = jax.device_get(_scores(model, key, task=task, n_trials=n_trials))
    return (float(acc), float(loss)) if return_loss else float(acc)


# ------------------------------------------------------------------------------------------ truncation

def truncate(model, rank: int, *, initial=None):
    """Return a full-rank network whose learned connectivity change is truncated to rank ``rank``.

    With ``W`` the trained and ``W0`` the initial connectivity, ``Delta W = W - W0 = U S V^T`` and

        W_r = W0 + U_r S_r V_r^T        (the top ``rank`` singular triplets of Delta W),

    the truncation of Dubreuil, Valente et al. 2022 (Nat. Neurosci., full-rank networks: accuracy
    against r) and Schuessler et al. 2020 (NeurIPS, "The interplay between randomness and structure
    during learning in RNNs"). The returned :class:`~lowrank_rnn.models.FullRankRNN` has the trained
    inputs, readouts, ``h0``, noise and alpha; measure it with :func:`task_accuracy`. Without
    ``initial`` (None) the whole ``W`` is truncated (``W0 = 0``).

    Parameters
    ----------
    model: a trained :class:`~lowrank_rnn.models.FullRankRNN`.
    rank: r, ``0 <= r <= N`` (0 gives back ``W0``).
    initial: the network before training (a ``FullRankRNN``) or its ``W`` (N x N), or None.

    >>> import jax
    >>> from lowrank_rnn.models import FullRankRNN
    >>> w0 = FullRankRNN(50, 1, 1, key=jax.random.key(0))
    >>> trained = eqx.tree_at(lambda m: m.W, w0, w0.W + 0.1)   # a rank-one change
    >>> bool(abs(truncate(trained, 1, initial=w0).W - trained.W).max() < 1e-5)
    True
    """
    W0, dW = _learned_change(model, initial)
    rank = positive_int("rank", rank, low=0)
    if rank > model.N:
        raise ArgumentError(f"rank must be between 0 and N = {model.N}, got {rank}")
    U, S, Vt = np.linalg.svd(dW)
    Wr = W0 + (U[:, :rank] * S[:rank]) @ Vt[:rank]
    return eqx.tree_at(lambda m: m.W, model, jax.numpy.asarray(Wr, jax.numpy.float32))


def _learned_change(model, initial) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(W0, W - W0)`` in float64 for a trained FullRankRNN and its initial network, initial
    ``W`` array or None (``W0 = 0``), after checking both."""

    if not isinstance(model, FullRankRNN):
        raise ArgumentTypeError(f"model must be a FullRankRNN (a dense trained network), got {type(model).__name__}")
    W = np.asarray(model.W, np.float64)
    if initial is None:
        W0 = np.zeros_like(W)
    else:
        W0 = np.asarray(initial.W if isinstance(initial, FullRankRNN) else initial, np.float64)
        if W0.shape != W.shape:
            raise ArgumentError(f"initial must be a FullRankRNN or an array of shape {W.shape}, got {W0.shape}")
    return W0, W - W0


def singular_values(model, *, initial=None) -> np.ndarray:
    """Return the singular values of the learned change ``W - W0`` of a full-rank network (descending).

    ``Delta W = U S V^T``; a few large ``S`` mean the learned change is effectively low-rank
    (Schuessler et al. 2020, NeurIPS; Dubreuil, Valente et al. 2022, Nat. Neurosci.).

    Examples
    --------
    >>> import equinox as eqx, jax
    >>> from lowrank_rnn.models import FullRankRNN
    >>> w0 = FullRankRNN(50, 1, 1, key=jax.random.key(0))
    >>> trained = eqx.tree_at(lambda m: m.W, w0, w0.W + 0.1)      # a rank-one change
    >>> np.round(singular_values(trained, initial=w0)[:2], 3).tolist()   # 0.1 N = 5, then 0
    [5.0, 0.0]
    """
    return np.linalg.svd(_learned_change(model, initial)[1], compute_uv=False)


# ------------------------------------------------------------------------------------------ mixtures

@dataclasses.dataclass(frozen=True, eq=False)
class MixtureFit:
    """A Gaussian-mixture fit of a trained network's loadings (from :func:`fit_mixture`).

    Attributes
    ----------
    ensemble: the :class:`~lowrank_rnn.Ensemble` (one Gaussian per component, the empirical mean
        and covariance of the neurons assigned to it, weights the assigned fractions).
    labels: ``(N,)`` component of each neuron.
    loadings: ``(N, P)`` the per-neuron vectors that were fitted, in ``ensemble.names`` order.
    estimator: the fitted scikit-learn estimator (None for one component).
    noise, alpha, nonlinearity: of the fitted model, carried to resampled networks.
    N: the number of neurons fitted.
    history: None, or after :func:`fine_tune_mixture` the training history of the statistics.

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn.models import LowRankRNN
    >>> fit = fit_mixture(LowRankRNN(200, 1, 1, 1, key=jax.random.key(0)), 2)
    >>> fit.ensemble.n_populations, fit.ensemble.names
    (2, ('m1', 'n1', 'I1', 'w1'))
    """

    ensemble: Ensemble
    labels: np.ndarray
    loadings: np.ndarray
    estimator: object
    noise: float
    alpha: float
    nonlinearity: str
    N: int
    history: dict | None = None

    @property
    def n_components(self) -> int:
        """The number of populations found (components with at least one neuron)."""
        return int(np.asarray(self.ensemble.weights).shape[0])


def loadings(model) -> tuple[np.ndarray, tuple[str, ...]]:
    """Return the per-neuron loading vectors ``(N, 2R + K + O)`` of a low-rank model and their names:
    columns m_1..m_R, n_1..n_R, I_1..I_K, w_1..w_O (inputs and readouts with their scales).

    Row i is neuron i's point in "connectivity space", whose distribution (one Gaussian or a
    mixture) determines the dynamics as N -> infinity (Dubreuil, Valente et al. 2022, Nat. Neurosci.).

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn.models import LowRankRNN
    >>> X, names = loadings(LowRankRNN(100, 2, 3, 1, key=jax.random.key(0)))
    >>> X.shape, names
    ((100, 8), ('m1', 'm2', 'n1', 'n2', 'I1', 'I2', 'I3', 'w1'))
    """

    m, n, I = _low_rank_parts(model)
    w = model.dynamics().readouts
    X = np.concatenate([np.asarray(a, np.float64) for a in (m, n, I, w)], axis=1)
    return X, canonical_names(m.shape[1], I.shape[1], w.shape[1])


def fit_mixture(model, n_components: int = 1, *, method: str = "em", n_init: int = 10,
                random_state: int = 0, zero_mean: bool = False) -> MixtureFit:
    """Return a Gaussian-mixture description of a trained low-rank network's loadings.

    The N loading vectors ``(m_i, n_i, I_i, w_i)`` are clustered by a scikit-learn
    ``GaussianMixture`` (``method="em"``) or ``BayesianGaussianMixture`` (``"bayes"``, which may
    leave components empty), or by a ``BayesianGaussianMixture`` whose component means are held
    at 0 by a strong prior (``"zero_mean"``: mean prior 0, mean precision prior $10^5$, the
    published DMS clustering), so that the components differ by their covariances only; full
    covariances throughout. ``"em"`` may instead split a cloud that is symmetric under
    $x \to -x$ into two mirror-image halves of opposite means and alike covariances: with
    ``zero_mean=True`` those are one Gaussian twice. Each neuron goes to its most probable
    component, and each population is described by the empirical mean and covariance of its
    neurons (:func:`lowrank_rnn.models.to_ensemble` with the labels), as in the published
    ``to_support_net`` (Dubreuil, Valente et al. 2022, Nat. Neurosci.). ``n_components = 1`` is the
    single Gaussian of the paper's central test: no clustering, the mean and covariance of all
    neurons. ``zero_mean=True`` keeps each population's covariance (about its own mean) and sets
    its mean to 0, as the published ``to_support_net`` does by default (``take_means=False``):
    populations that differ only in their covariances, the setting of the paper's mean-field
    theory. Resample networks with :func:`resample`.

    >>> import jax
    >>> from lowrank_rnn.models import LowRankRNN
    >>> fit = fit_mixture(LowRankRNN(300, 1, 1, 1, key=jax.random.key(0)))
    >>> fit.ensemble.names, fit.n_components
    (('m1', 'n1', 'I1', 'w1'), 1)
    """

    C = positive_int("n_components", n_components)
    if method not in ("em", "bayes", "zero_mean"):
        raise ArgumentError(f"method must be 'em' (GaussianMixture), 'bayes' (BayesianGaussianMixture) or "
                            f"'zero_mean' (BayesianGaussianMixture with means held at 0), got {method!r}")
    n_init = positive_int("n_init", n_init)
    random_state = positive_int("random_state", random_state, low=0)
    X, _ = loadings(model)
    if C > X.shape[0]:
        raise ArgumentError(f"n_components must be <= N = {X.shape[0]}, got {C}")
    estimator = None
    if C == 1:
        labels = np.zeros(X.shape[0], dtype=np.int64)
    else:
        from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

        cls = GaussianMixture if method == "em" else BayesianGaussianMixture
        prior = {"mean_prior": np.zeros(X.shape[1]), "mean_precision_prior": 1e5} if method == "zero_mean" else {}
        estimator = cls(n_components=C, covariance_type="full", n_init=n_init, random_state=random_state,
                        max_iter=500, **prior).fit(X)
        raw = estimator.predict(X)
        _, labels = np.unique(raw, return_inverse=True)  # empty components dropped, labels 0..C'-1
        labels = labels.astype(np.int64)
    ens = to_ensemble(model, labels=labels)
    if not isinstance(zero_mean, (bool, np.bool_)):
        raise ArgumentTypeError(f"zero_mean must be True or False, got {zero_mean!r}")
    if zero_mean:
        ens = Ensemble(names=ens.names, mean=np.zeros_like(np.asarray(ens.mean)), cov=ens.cov, g=ens.g,
                       weights=ens.weights if len(np.unique(labels)) > 1 else None)
    return MixtureFit(ensemble=ens, labels=labels, loadings=X, estimator=estimator, noise=float(model.noise),
                      alpha=float(model.alpha), nonlinearity=model.nonlinearity, N=int(X.shape[0]))


def resample(fit: MixtureFit, N: int | None = None, *, key: jax.Array):
    """Return a new network of ``N`` neurons (default: as many as the fitted one) drawn from a fit.

    A :class:`~lowrank_rnn.models.MixtureLowRankRNN` built by ``MixtureLowRankRNN.from_ensemble``
    on ``fit.ensemble`` (loadings ``mean_p + A_p z_i`` with ``A_p A_p^T`` the population covariance),
    with the fitted model's noise, alpha and nonlinearity; call ``.resample(key=...)`` on it for
    more draws of the same statistics (Dubreuil, Valente et al. 2022, Nat. Neurosci.).

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn.models import LowRankRNN
    >>> fit = fit_mixture(LowRankRNN(200, 1, 1, 1, key=jax.random.key(0)), 1)
    >>> new = resample(fit, 500, key=jax.random.key(1))
    >>> type(new).__name__, new.N
    ('MixtureLowRankRNN', 500)
    """

    if not isinstance(fit, MixtureFit):
        raise ArgumentTypeError(f"fit must be a MixtureFit from fit_mixture, got {type(fit).__name__}")
    N = fit.N if N is None else positive_int("N", N)
    key = prng_key("key", key)
    return MixtureLowRankRNN.from_ensemble(fit.ensemble, N, key=key, noise=fit.noise, alpha=fit.alpha,
                                           nonlinearity=fit.nonlinearity)


def _published_steps(optimizer: Adam, N: int):
    """Adam with per-group learning rates: sqrt(N) lr for the m and n statistics, N lr for the readout
    ones, lr for the rest (the step sizes of the published support network's parametrisation)."""

    scale = {"m": float(np.sqrt(N)), "n": float(np.sqrt(N)), "readout": float(N)}
    groups = {"m": Adam(optimizer.lr * scale["m"], clip=optimizer.clip),
              "n": Adam(optimizer.lr * scale["n"], clip=optimizer.clip),
              "readout": Adam(optimizer.lr * scale["readout"], clip=optimizer.clip),
              "other": optimizer}

    def labels(params):
        def label(path, _leaf):
            names = [p.name for p in path if hasattr(p, "name")]
            kind = names[-1].rsplit("_", 1)[0] if names else "other"
            return kind if kind in scale else "other"
        return jax.tree_util.tree_map_with_path(label, params)

    return optax.multi_transform({k: v.transformation() for k, v in groups.items()}, labels)


def fine_tune_mixture(fit: MixtureFit, task, *, key: jax.Array, epochs: int, N: int | None = None,
                      lr: float = 1e-3, clip: float | None = 1.0, batch: int = 32, n_trials: int = 1000,
                      weights: bool = True, means: bool = True, early_stop: float | None = None, progress: bool = False,
                      lr_scaling: str = "uniform", keep_best: bool = False) -> MixtureFit:
    """Return ``fit`` with its statistics trained so that networks resampled from it perform ``task``.

    The mixture's statistics become the parameters of a
    :class:`~lowrank_rnn.models.MixtureLowRankRNN` ("support" network): population p generates
    loadings $x_i = \\mu_p + A_p z_i$ (means $\\mu_p$, covariance factors $A_p$, $A_p A_p^\\top$
    the covariance; fractions $\\mathrm{softmax}(\\log w)_p$ when ``weights``), and every minibatch
    draws a fresh basis $z_i \\sim \\mathcal{N}(0, \\mathrm{Id})$, so that the loss minimised by
    :func:`lowrank_rnn.training.train` (:class:`~lowrank_rnn.training.BPTT`, Adam) is the expected
    loss of networks resampled from the statistics,

    $$\\min_{\\mu, A, w} \\; \\mathbb{E}_{z}\\, L\\big(\\mu_{p(i)} + A_{p(i)} z_i\\big),$$

    with the reparameterised gradient. Dubreuil, Valente et al. 2022 (Nat. Neurosci. 25:783,
    Methods and Extended Data Figs. 6-9): the two-population description of a trained DMS network,
    fine-tuned in this way (60 epochs, lr 1e-4, N = 4096), gave resampled networks of accuracy
    about 1.0, where the fit alone did not.

    Parameters
    ----------
    fit: a :class:`MixtureFit` (:func:`fit_mixture`, or an earlier fine-tuning).
    task: the task (:func:`lowrank_rnn.tasks.get_task`), of the network's ``alpha``.
    key: ``jax.random`` key: the starting basis, the trials, the minibatches, the bases and noise.
    epochs: training epochs (>= 1).
    N: neurons of the network trained (default the fitted network's); larger N makes the
        resampled networks less variable.
    lr, clip: Adam's learning rate and gradient-norm clip (None: no clipping).
    batch, n_trials, early_stop, progress: as for :func:`lowrank_rnn.training.train`.
    weights: train the population fractions too (the published code keeps them).
    means: train the population means too (the published code keeps them at 0: with
        ``fit_mixture(..., zero_mean=True)`` and ``means=False`` the populations stay zero-mean).
    lr_scaling: ``"uniform"``: one Adam learning rate ``lr`` for all statistics. ``"published"``:
        the steps of the published support network, which stores the maps of m and n divided by
        $\\sqrt{N}$ and those of the readout divided by $N$; Adam's step does not scale with its
        parameter, so there the m and n maps move $\\sqrt{N}$ times and the readout maps $N$ times
        faster than the input maps. Here: learning rates $\\sqrt{N}\\,\\mathrm{lr}$ (m, n and their
        means), $N\\,\\mathrm{lr}$ (readout) and $\\mathrm{lr}$ (inputs, fractions); ``clip`` then
        applies to each group. With ``lr = 1e-4`` this is the published DMS fine-tuning.
    keep_best: return the statistics of the epoch whose validation loss (that of one network drawn
        from them, on the held-out trials) was lowest, not those of the last epoch. Steps as large as
        the published ones make the tuned loss jump between epochs (DMS: from near 0.1 back to about
        0.9); the published code kept the best epoch (by its training loss) in its later stages.

    Returns
    -------
    A :class:`MixtureFit` with the tuned ``ensemble`` (the labels, loadings and estimator of ``fit``
    kept) and ``history``, the training history; draw networks from it with :func:`resample`.

    Examples
    --------
    >>> import jax
    >>> from lowrank_rnn.models import LowRankRNN
    >>> from lowrank_rnn.tasks import get_task
    >>> fit = fit_mixture(LowRankRNN(64, 1, 1, 1, key=jax.random.key(0), noise=0.1))
    >>> tuned = fine_tune_mixture(fit, get_task("rdm"), key=jax.random.key(1), epochs=1, n_trials=40)
    >>> len(tuned.history["train_loss"]), tuned.ensemble.names == fit.ensemble.names
    (1, True)
    """
    if not isinstance(fit, MixtureFit):
        raise ArgumentTypeError(f"fit must be a MixtureFit from fit_mixture, got {type(fit).__name__}")
    for attr in ("sample", "loss", "n_inputs"):
        if not hasattr(task, attr):
            raise ArgumentTypeError(f"task must be a lowrank_rnn task (get_task(...)); it has no {attr!r}")
    key = prng_key("key", key)
    epochs = positive_int("epochs", epochs)
    for name, flag in (("weights", weights), ("means", means)):
        if not isinstance(flag, (bool, np.bool_)):
            raise ArgumentTypeError(f"{name} must be True or False, got {flag!r}")
    if lr_scaling not in ("uniform", "published"):
        raise ArgumentError(f"lr_scaling must be 'uniform' or 'published', got {lr_scaling!r}")
    if not isinstance(keep_best, (bool, np.bool_)):
        raise ArgumentTypeError(f"keep_best must be True or False, got {keep_best!r}")
    optimizer = Adam(lr, clip=clip)
    k_init, k_train = jax.random.split(key)
    model = replace_static(resample(fit, N, key=k_init), resample_per_batch=True)
    if lr_scaling == "published":
        optimizer = _published_steps(optimizer, model.N)
    tuned, history = train(model, task, key=k_train, epochs=epochs, method=BPTT(optimizer=optimizer), batch=batch,
                           n_trials=n_trials, trainable=model.trainable(weights=bool(weights), means=bool(means)),
                           early_stop=early_stop, progress=progress, run=RunSettings(keep_best=bool(keep_best)))
    return dataclasses.replace(fit, ensemble=tuned.to_ensemble(), history=history)
