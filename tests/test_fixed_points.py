"""analysis.fixed_points: fixed and slow points in the full state space of any network or model.

Checked against two independent computations for low-rank networks without bulk (g = 0), where
every fixed point lies on x = m kappa: the roots of the finite network's exact latent flow
(analysis.latent_fixed_points, a grid-started Newton search in kappa space) and the mean-field
fixed points of the ensemble the network was drawn from (theory.latent_fixed_points,
Mastrogiuseppe & Ostojic 2018).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowrank_rnn import ArgumentError, ArgumentTypeError, Ensemble, Network
from lowrank_rnn.analysis import FixedPoints, fixed_points, latent_fixed_points, plot_fixed_points
from lowrank_rnn.learning import RateRNN
from lowrank_rnn.models import FullRankRNN, LowRankRNN
from lowrank_rnn.theory import latent_fixed_points as theory_fixed_points

N = 600
FAST = dict(n_starts=48, iterations=600, progress=False)


def _latent_kappa(net: Network, fps: FixedPoints) -> np.ndarray:
    x = fps.x[fps.fixed].astype(np.float64)
    return np.tanh(x) @ np.asarray(net.n, np.float64) / net.N


def _as_model(net: Network) -> LowRankRNN:
    return LowRankRNN(net.N, net.rank, 0, 1, key=jax.random.key(9), m=net.m, n=net.n)


def _match(found: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Largest distance from each expected point to its nearest found point (one-to-one counts checked apart)."""
    return np.array([np.min(np.linalg.norm(found - e, axis=1)) for e in expected])


@pytest.mark.parametrize("rank", [1, 2])
def test_low_rank_fixed_points_match_the_latent_roots_and_mean_field(rank):
    if rank == 1:
        ens = Ensemble.rank_one(mean_m=1.0, mean_n=2.0, std_m=1.0, std_n=1.0)  # overlap 2: bistable
    else:
        # two uncorrelated structures with overlaps 2 and 3 (no ring symmetry)
        ens = Ensemble.from_directions({"m1": {"a": 1.0}, "m2": {"b": 1.0}, "n1": {"a": 2.0}, "n2": {"b": 3.0}})
    net = ens.sample(N, key=jax.random.key(rank))
    # starts on the m-plane as well as along trajectories: trajectories from random states run
    # from the unstable origin to the stable points and rarely pass near the saddles
    grid = np.stack(np.meshgrid(*[np.linspace(-2.5, 2.5, 7)] * rank), -1).reshape(-1, rank)
    starts = grid @ np.asarray(net.m, np.float64).T
    fps = fixed_points(net, key=jax.random.key(0), starts=starts, **FAST)
    kappa = _latent_kappa(net, fps)

    # the finite network: every root of its exact latent flow is found, with the same stability
    exact = latent_fixed_points(_as_model(net))
    assert int(fps.fixed.sum()) == len(exact) >= (3 if rank == 1 else 5)
    exact_kappa = np.array([fp.kappa for fp in exact])
    # float32 states with q <= 1e-9: kappa agrees to ~1e-4 of its scale
    assert _match(kappa, exact_kappa).max() < 1e-3 * max(1.0, np.abs(exact_kappa).max())
    order = [int(np.argmin(np.linalg.norm(kappa - e, axis=1))) for e in exact_kappa]
    assert sorted(order) == list(range(len(exact)))
    assert [bool(fps.stable[fps.fixed][i]) for i in order] == [fp.kind.startswith("stable") for fp in exact]
    assert int(fps.stable[fps.fixed].sum()) == (2 if rank == 1 else sum(fp.kind.startswith("stable") for fp in exact))

    # the fixed points lie on x = m kappa (g = 0, no input)
    x = fps.x[fps.fixed].astype(np.float64)
    recon = kappa @ np.asarray(net.m, np.float64).T
    assert np.abs(x - recon).max() < 1e-3

    # mean field: same number and stability; kappa within the finite-size spread. The empirical
    # overlaps n^T m / N of a network of N = 600 differ from the ensemble's by about
    # sqrt(Var(m n) / N) ~ sqrt(5 / 600) ~ 0.09 (rank one: overlap 2), i.e. ~5 % of the overlap,
    # which moves the nonzero kappa* by a similar or somewhat larger relative amount (the
    # fixed-point equation is flat near kappa*); 0.25 of |kappa*| is several such deviations.
    theory = theory_fixed_points(ens)
    assert len(theory) == len(exact)
    th_kappa = np.array([fp.kappa for fp in theory])
    scale = np.abs(th_kappa).max()
    assert _match(kappa, th_kappa).max() < 0.25 * scale
    assert sorted(fp.kind.startswith("stable") for fp in theory) == sorted(bool(s) for s in fps.stable[fps.fixed])


def test_network_with_bulk_points_are_zeros_of_the_dense_field():
    rng = np.random.default_rng(0)
    n_units = 300
    m = rng.standard_normal((n_units, 1))
    net = Network(m=m, n=2.5 * m, bulk=0.6 * rng.standard_normal((n_units, n_units)) / np.sqrt(n_units))
    fps = fixed_points(net, key=jax.random.key(1), **FAST)
    assert fps.fixed.sum() >= 1
    J = np.asarray(net.connectivity(), np.float64)
    for x in fps.x[fps.fixed].astype(np.float64):
        F = -x + J @ np.tanh(x)
        assert np.mean(F**2) / 2 <= 1e-8  # the dense field, computed independently in float64
    # the Jacobian eigenvalues are those of -I + J diag(phi'(x))
    x = fps.x[0].astype(np.float64)
    jac = -np.eye(n_units) + J * (1 - np.tanh(x) ** 2)[None, :]
    w = np.sort(np.linalg.eigvals(jac).real)[::-1]
    assert np.allclose(np.sort(fps.eigenvalues[0].real)[::-1], w, atol=1e-4)


def test_models_fixed_points_are_fixed_under_their_step():
    """LowRankRNN with inputs, FullRankRNN and the rate form of RateRNN: x* is a fixed point of the
    model's own Euler step, and a stable one attracts a noiseless run started next to it."""
    key = jax.random.key(3)
    low = LowRankRNN(200, 1, 1, 1, key=key, m=jnp.ones((200, 1)), n=2 * jnp.ones((200, 1)))
    full = FullRankRNN(150, 1, 1, key=key, rho=0.8)
    rate = RateRNN(120, 1, 1, key=key, form="rate", nonlinearity="tanh", g=1.5)
    for model, u in ((low, jnp.array([0.3])), (full, jnp.array([0.5])), (rate, jnp.array([0.2]))):
        fps = fixed_points(model, inputs=u, key=jax.random.key(4), **FAST)
        assert fps.fixed.any(), type(model).__name__
        dyn = model.dynamics()
        for x, stable in zip(fps.x[fps.fixed], fps.stable[fps.fixed]):
            x = jnp.asarray(x)
            assert float(jnp.max(jnp.abs(dyn.step(x, u) - x))) <= 1e-4 * dyn.alpha
            if stable:
                y = x + 1e-2 * jax.random.normal(jax.random.key(5), x.shape)
                y = jax.jit(lambda y: jax.lax.fori_loop(0, 2000, lambda _, y: dyn.step(y, u), y))(y)
                assert float(jnp.max(jnp.abs(y - x))) < 1e-3, type(model).__name__


def test_slow_points_are_kept_and_plot_draws():
    # a rank-one network just below the bifurcation (overlap 0.98): the origin is the only fixed
    # point; with a loose slow_tol nothing else qualifies, with tol above its q it is "fixed"
    m = np.ones((100, 1))
    fps = fixed_points(Network(m=m, n=0.98 * m), key=jax.random.key(0), **FAST)
    assert len(fps) == int(fps.fixed.sum()) == 1 and bool(fps.stable[0])
    assert np.abs(fps.x[0]).max() < 1e-3
    ax = plot_fixed_points(fps, title="overlap 0.98")
    assert len(ax.collections) >= 1 and ax.get_title() == "overlap 0.98"
    assert "1 fixed" in repr(fps)


def test_bad_input_is_refused_before_compiling():
    m = np.ones((50, 1))
    net = Network(m=m, n=2 * m, inputs=np.ones((50, 2)))
    key = jax.random.key(0)
    with pytest.raises(ArgumentError, match=r"inputs must be one constant input of shape \(2,\)"):
        fixed_points(net, inputs=np.ones(3), key=key)
    with pytest.raises(ArgumentTypeError, match="system must be"):
        fixed_points(np.eye(3), key=key)
    with pytest.raises(ArgumentError, match="n_starts"):
        fixed_points(net, n_starts=0, key=key)
    with pytest.raises(ArgumentError, match="slow_tol must be >= tol"):
        fixed_points(net, key=key, tol=1e-3, slow_tol=1e-6)
    with pytest.raises(ArgumentTypeError, match="key"):
        fixed_points(net, key=0)
