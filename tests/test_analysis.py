"""Analysis of trained networks: latents, latent flow and fixed points, truncation, mixture fits.

Each check sets a prediction beside a measurement on a network: the latent decomposition against
the Euler recursion it must obey, the finite network's fixed points against the mean-field ones of
the ensemble it was drawn from and against where a simulation settles, a truncated change against
its singular values, and a mixture fit against the populations a network was built from.
"""

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from lowrank_rnn import Ensemble  # noqa: E402
from lowrank_rnn import analysis  # noqa: E402
from lowrank_rnn.models import FullRankRNN, LowRankRNN, MixtureLowRankRNN, run_trials  # noqa: E402
from lowrank_rnn.tasks import get_task  # noqa: E402

# Beiran et al. 2021, Fig. 3 A-D: overlap diag(1.2, 1.6), two stable states and two saddles
BEIRAN = {"m1": {"x1": 1}, "m2": {"x2": 1}, "n1": {"x1": 1.2}, "n2": {"x2": 1.6}}


def _from_ensemble(ens, N, key, K=1, O=1):
    net = ens.sample(N, key=key)
    inputs = jax.random.normal(jax.random.fold_in(key, 1), (N, K))
    readouts = jax.random.normal(jax.random.fold_in(key, 2), (N, O))
    return LowRankRNN(N, ens.rank, K, O, m=net.m, n=net.n, input_vectors=inputs, readout_vectors=readouts)


# ------------------------------------------------------------------------------------ latents

def test_latents_obey_the_latent_equations(getkey):
    """Noiseless, g = 0: x = m kappa + I v exactly, with the Euler recursions of kappa and v."""
    model = LowRankRNN(300, 2, 2, 1, key=getkey(), alpha=0.2)
    u = 0.5 * jax.random.normal(getkey(), (4, 30, 2))
    lat = analysis.latents(model, u, dt=20.0)
    assert lat.kappa.shape == (4, 31, 2) and lat.v.shape == (4, 31, 2) and lat.kappa_rec.shape == (4, 31, 2)
    assert lat.residual < 1e-8
    np.testing.assert_allclose(lat.times[:3], [0.0, 20.0, 40.0])
    a = 0.2
    # v_{t+1} = v_t + alpha (u_t - v_t): the low-pass filtered input
    np.testing.assert_allclose(lat.v[:, 1:], lat.v[:, :-1] + a * (np.asarray(u) - lat.v[:, :-1]), atol=2e-5)
    # kappa_{t+1} = kappa_t + alpha (n^T phi(x_t) / N - kappa_t)
    np.testing.assert_allclose(lat.kappa[:, 1:], lat.kappa[:, :-1] + a * (lat.kappa_rec[:, :-1] - lat.kappa[:, :-1]),
                               atol=2e-5)
    np.testing.assert_allclose(lat.outputs, np.asarray(run_trials(model, u)), atol=1e-5)


def test_latents_with_noise_and_mixture_models(getkey):
    task = get_task("rdm")
    trials = task.sample(getkey(), 8)
    noisy = LowRankRNN(200, 1, 1, 1, key=getkey(), noise=0.3)
    lat = analysis.latents(noisy, trials, key=getkey())
    # the noise spreads over all N directions, 2 of which are kept: most of it is residual
    assert 0.05 < lat.residual < 1.0
    mix = MixtureLowRankRNN(150, 1, 1, 1, key=getkey())
    assert analysis.latents(mix, trials).residual < 1e-8
    levels, means = analysis.condition_means(lat.kappa, trials.conditions, "choice")
    assert means.shape == (len(levels), 52, 1)
    with pytest.raises(TypeError, match="FullRankRNN"):
        analysis.latents(FullRankRNN(20, 1, 1, key=getkey()), trials)
    with pytest.raises(ValueError, match="trials"):
        analysis.latents(noisy, jnp.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="by must be"):
        analysis.condition_means(lat.kappa, trials.conditions, "nope")


# ------------------------------------------------------------------------------------ flow and fixed points

def test_network_fixed_points_match_mean_field_and_simulation(getkey):
    """N = 4000 drawn from the Beiran ensemble: the same five fixed points as the mean field, to
    O(1/sqrt(N)); a simulation from near each stable point settles on it."""
    ens = Ensemble.from_directions(BEIRAN)
    model = _from_ensemble(ens, 4000, getkey())
    net_fps = analysis.latent_fixed_points(model, source="network")
    fitted_fps = analysis.latent_fixed_points(model, source="ensemble")  # one Gaussian fitted to the loadings
    from lowrank_rnn.theory import latent_fixed_points as theory_fps

    exact = theory_fps(ens)
    assert sorted(fp.kind for fp in exact) == sorted(["saddle", "stable node", "unstable node", "stable node",
                                                      "saddle"])

    def matched(found, reference, atol):
        assert len(found) == len(reference)
        for ref in reference:
            near = min(found, key=lambda fp: np.linalg.norm(fp.kappa - ref.kappa))
            assert near.kind == ref.kind
            np.testing.assert_allclose(near.kappa, ref.kappa, atol=atol)

    # against the mean field of its own fitted Gaussian: only non-Gaussian finite-N terms remain
    # (measured 0.003-0.016 over seeds at N = 4000)
    matched(net_fps, fitted_fps, 0.03)
    # against the ensemble it was drawn from: the sampled second moments differ by ~1/sqrt(N), and the
    # saddles near kappa ~ 0.49 sit where 1.2 [phi'](0, kappa^2) = 1 is flat, which amplifies it
    # (measured up to 0.07 at N = 4000, 0.03 at N = 16000)
    matched(net_fps, exact, 0.12)
    # flow field: zero speed at a fixed point of the network, its shape for streamplot
    ff, fps = analysis.latent_flow_field(model, n=21, lim=1.5)
    assert ff.K1.shape == (21, 21) and len(fps) == 5
    assert ff.speed[10, 10] < 1e-6  # the origin
    # simulate from near each stable point (x0 = m kappa0), no input: settles there
    for fp in [f for f in net_fps if f.stable]:
        x0 = np.asarray(model.m) @ (0.8 * fp.kappa)
        lat = analysis.latents(eqx_with_h0(model, x0), jnp.zeros((1, 200, 1)))
        np.testing.assert_allclose(lat.kappa[0, -1], fp.kappa, atol=1e-3)


def eqx_with_h0(model, x0):
    import equinox as eqx

    return eqx.tree_at(lambda m: m.h0, model, jnp.asarray(x0, jnp.float32))


def test_flow_field_checks(getkey):
    with pytest.raises(ValueError, match="rank 2"):
        analysis.latent_flow_field(LowRankRNN(50, 1, 1, 1, key=getkey()))
    with pytest.raises(ValueError, match="source"):
        analysis.latent_fixed_points(LowRankRNN(50, 1, 1, 1, key=getkey()), source="theory")
    with pytest.raises(ValueError, match="inputs"):
        analysis.latent_fixed_points(LowRankRNN(50, 1, 2, 1, key=getkey()), inputs=[1.0])
    ax = analysis.plot_latent_flow(LowRankRNN(80, 2, 1, 1, key=getkey()), n=11,
                                   trajectories=np.zeros((2, 5, 2)))
    assert ax.get_xlabel() == r"$\kappa_1$"


# ------------------------------------------------------------------------------------ truncation

def test_truncation_keeps_the_top_singular_directions_of_the_change(getkey):
    w0 = FullRankRNN(60, 1, 1, key=getkey())
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.standard_normal((60, 3)))
    V, _ = np.linalg.qr(rng.standard_normal((60, 3)))
    change = (U * [3.0, 2.0, 0.5]) @ V.T
    import equinox as eqx

    trained = eqx.tree_at(lambda m: m.W, w0, w0.W + jnp.asarray(change, jnp.float32))
    np.testing.assert_allclose(analysis.singular_values(trained, initial=w0)[:4], [3.0, 2.0, 0.5, 0.0], atol=1e-5)
    np.testing.assert_allclose(analysis.truncate(trained, 3, initial=w0).W, trained.W, atol=1e-5)
    np.testing.assert_allclose(analysis.truncate(trained, 0, initial=w0).W, w0.W, atol=1e-6)
    # Eckart-Young: the rank-1 truncation misses the change by its second singular value (spectral norm)
    err = np.linalg.norm(np.asarray(analysis.truncate(trained, 1, initial=w0.W).W - trained.W), 2)
    assert abs(err - 2.0) < 1e-4
    with pytest.raises(ValueError, match="rank"):
        analysis.truncate(trained, 61)
    with pytest.raises(TypeError, match="FullRankRNN"):
        analysis.truncate(LowRankRNN(20, 1, 1, 1, key=getkey()), 1)
    with pytest.raises(ValueError, match="initial"):
        analysis.truncate(trained, 1, initial=np.zeros((3, 3)))


# ------------------------------------------------------------------------------------ mixture fits

def test_one_gaussian_fit_and_resampling_keep_the_statistics(getkey):
    ens = Ensemble.from_directions({"m1": {"x1": 1, "y": 0.5}, "n1": {"x2": 1.0, "y": 1.5},
                                    "I1": {"x3": 1.0}, "w1": {"x1": 2.0}})
    model = _from_ensemble(ens, 3000, getkey())
    # the model's own inputs/readouts replace I1, w1: compare m and n only
    fit = analysis.fit_mixture(model, 1)
    assert fit.n_components == 1 and fit.estimator is None and fit.loadings.shape == (3000, 4)
    cov = np.asarray(fit.ensemble.cov).reshape(4, 4)
    np.testing.assert_allclose(cov[:2, :2], np.asarray(ens.cov).reshape(4, 4)[:2, :2], atol=0.15)
    new = analysis.resample(fit, key=getkey())
    assert isinstance(new, MixtureLowRankRNN) and new.N == 3000 and new.noise == model.noise
    X, names = analysis.loadings(new)
    assert names == ("m1", "n1", "I1", "w1")
    # N = 3000 Gaussian draws: each covariance entry within 5 standard errors sqrt((s_aa s_bb + s_ab^2) / N)
    d = np.diag(cov)
    se = np.sqrt((np.outer(d, d) + cov ** 2) / 3000)
    assert np.all(np.abs(np.cov(X, rowvar=False) - cov) < 5 * se)
    assert analysis.resample(fit, 500, key=getkey()).N == 500


def test_two_population_fit_finds_the_populations(getkey):
    def population(overlap, mean):
        return Ensemble.from_directions({"m1": {"x1": 1}, "n1": {"x1": overlap}, "I1": {"x2": 1}, "w1": {"x3": 1}},
                                        means={"m1": mean})

    ens = Ensemble.mixture([population(2.0, 3.0), population(-1.0, -3.0)], weights=[0.3, 0.7])
    model = MixtureLowRankRNN.from_ensemble(ens, 1000, key=getkey())
    fit = analysis.fit_mixture(model, 2, n_init=2, random_state=0)
    truth = np.asarray(model.population)
    agree = max(np.mean(fit.labels == truth), np.mean(fit.labels != truth))
    assert agree > 0.98
    np.testing.assert_allclose(sorted(np.asarray(fit.ensemble.weights)), [0.3, 0.7], atol=0.03)
    bayes = analysis.fit_mixture(model, 3, method="bayes", n_init=1)
    assert 1 <= bayes.n_components <= 3
    axes = analysis.plot_loadings(fit)
    assert len(axes) >= 2
    with pytest.raises(ValueError, match="method"):
        analysis.fit_mixture(model, 2, method="kmeans")
    with pytest.raises(ValueError, match="n_components"):
        analysis.fit_mixture(model, 0)
    with pytest.raises(TypeError, match="fit"):
        analysis.resample(model, key=getkey())


def test_task_accuracy_is_the_tasks_rule_on_fresh_trials(getkey):
    task = get_task("rdm")
    model = LowRankRNN(64, 1, 1, 1, key=getkey(), noise=0.2)
    key = getkey()
    acc, loss = analysis.task_accuracy(model, task, key=key, n_trials=200, return_loss=True)
    k_trials, k_noise = jax.random.split(key)
    trials = task.sample(k_trials, 200)
    out = run_trials(model, trials.inputs, key=k_noise)
    assert acc == pytest.approx(task.accuracy(out, trials), abs=1e-6)
    assert loss == pytest.approx(float(task.loss(out, trials)), rel=1e-5)
    with pytest.raises(ValueError, match="inputs"):
        analysis.task_accuracy(model, get_task("mante"), key=key)
    with pytest.raises(TypeError, match="key"):
        analysis.task_accuracy(model, task, key=0)


def test_rdm_psychometric_line_does_not_cross_coherence_zero():
    """Coherence 0 is not a condition of the RDM task: the plotted curve has no segment across it."""
    task = get_task("rdm")
    trials = task.sample(jax.random.key(0), 200)
    ax = task.plot_psychometric(task.psychometric(trials.targets, trials))
    line = [ln for ln in ax.lines if len(ln.get_xdata()) > 2][0]
    x = np.asarray(line.get_xdata(), float)
    for a, b in zip(x[:-1], x[1:]):
        assert not (a < 0 < b), "a line segment joins a negative and a positive coherence"
