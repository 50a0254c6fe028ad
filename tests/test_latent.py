"""Latent dynamics of g = 0 low-rank networks: flow, fixed points, ring, limit cycle.

Theory (N -> infinity Gaussian averages) is checked against finite-N networks sampled from the same
ensembles: the latent map n^T tanh(m kappa + I u)/N - kappa, and Euler simulations with
``lowrank_rnn.simulate``. Tolerances are stated in units of the finite-size scatter, which is
computed from the sampled network (standard errors over neurons) or was measured over seeds.
"""

import jax
import matplotlib
import numpy as np
import pytest
import scipy.optimize
from scipy.integrate import solve_ivp

from lowrank_rnn import Ensemble, simulate
from lowrank_rnn.theory import (FixedPoint, FlowField, LimitCycle, flow_field, latent_fixed_points,
                                latent_flow, limit_cycle, plot_flow_field)
from lowrank_rnn.theory import gaussian as G
from lowrank_rnn.theory._latent import _section_crossings

matplotlib.use("Agg")

CYCLE = [[1.6, -0.8], [0.8, 1.6]]      # Beiran et al. 2021 Fig. 3 E-H: eigenvalues 1.6 +- 0.8i
TWO_STATES = [[1.2, 0.0], [0.0, 1.6]]  # Beiran et al. 2021 Fig. 3 A-D
RING = [[1.6, 0.0], [0.0, 1.6]]        # Mastrogiuseppe & Ostojic 2018: continuous attractor


def _rank_two(S, eps=0.3, std_m1=1.0):
    """m_r independent Gaussian (std of m1 = std_m1, of m2 = 1), zero means, n_r = sum_s c_rs m_s +
    eps z_r with c chosen so that E[n_r m_s] = S_rs (Beiran et al. 2021 build n = S m + noise)."""
    ens = Ensemble.from_directions({
        "m1": {"x1": std_m1}, "m2": {"x2": 1.0},
        "n1": {"x1": S[0][0] / std_m1, "x2": S[0][1], "z1": eps},
        "n2": {"x1": S[1][0] / std_m1, "x2": S[1][1], "z2": eps}})
    np.testing.assert_allclose(ens.overlap, S, atol=1e-12)
    return ens


def _dphi(delta):
    with jax.enable_x64(True):
        return float(G.mean_dphi(0.0, delta))


def _radius(rho):
    """K with rho [phi'](0, K^2) = 1 (unit-variance m, zero means)."""
    return scipy.optimize.brentq(lambda K: rho * _dphi(K * K) - 1.0, 1e-6, 10.0, xtol=1e-14)


def _mixture_with_input():
    """Two populations with nonzero means, cross-covariances and one input: every term of the flow."""
    p1 = Ensemble.from_directions(
        {"m1": {"a": 1.0}, "m2": {"b": 0.8, "a": 0.3}, "n1": {"a": 1.4, "c": 0.5},
         "n2": {"b": 1.2, "a": -0.6, "d": 0.4}, "I1": {"c": 0.7, "e": 0.5}},
        means={"m1": 0.4, "n1": 0.8, "n2": -0.2, "I1": -0.3})
    p2 = Ensemble.from_directions(
        {"m1": {"a": 0.6, "b": 0.5}, "m2": {"b": 1.1}, "n1": {"b": -0.9, "f": 0.6},
         "n2": {"a": 2.0, "b": 0.7}, "I1": {"b": 0.9, "g": 0.4}},
        means={"m2": -0.5, "n2": 1.0, "I1": 0.6})
    return Ensemble.mixture([p1, p2], [0.3, 0.7])


def _finite_map(net, kappa, u):
    """n^T tanh(m kappa + I u)/N - kappa at each kappa (G, R), and its standard error over neurons
    (stratified by population: the sampler gives each population a fixed share of neurons)."""
    m = np.asarray(net.m, np.float64)
    n = np.asarray(net.n, np.float64)
    drive = kappa @ m.T
    if net.n_inputs:
        drive = drive + np.asarray(net.inputs, np.float64) @ np.asarray(u, np.float64)
    terms = n[None] * np.tanh(drive)[..., None]                    # (G, N, R)
    N = net.N
    pop = np.zeros(N, int) if net.population is None else np.asarray(net.population)
    var = sum(terms[:, pop == p].var(axis=1) * np.sum(pop == p) for p in np.unique(pop)) / N**2
    return terms.mean(axis=1) - kappa, np.sqrt(var)


# ------------------------------------------------------------------------------------ (a) flow

@pytest.mark.parametrize("case", ["mixture_with_input", "rank_one_with_input"])
def test_flow_matches_finite_network(case):
    if case == "mixture_with_input":
        ens, u = _mixture_with_input(), [0.8]
        g = np.linspace(-1.5, 1.5, 7)
        kappa = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    else:
        ens = Ensemble(names=("m1", "n1", "I1"), mean=[0.7, 1.2, -0.4],
                       cov=[[1.0, 0.6, 0.3], [0.6, 2.0, 0.5], [0.3, 0.5, 1.5]])
        u, kappa = [1.3], np.linspace(-2.0, 2.0, 21)[:, None]
    net = ens.sample(20000, key=jax.random.key(3))
    finite, se = _finite_map(net, kappa, u)
    theory = latent_flow(ens, kappa, inputs=u)
    assert theory.shape == kappa.shape and theory.dtype == np.float64
    z = (finite - theory) / se
    # per-point sampling error of a mean over 20000 neurons; 5 standard errors over <= 98 points
    assert np.max(np.abs(z)) < 5.0, np.max(np.abs(z))
    assert np.max(se) < 0.03    # the comparison has teeth: the flow itself is O(1)
    assert np.max(np.abs(theory)) > 0.5


def test_flow_is_vectorised_and_ignores_nothing():
    ens = _mixture_with_input()
    k = np.random.default_rng(0).normal(size=(3, 4, 2))
    out = latent_flow(ens, k, inputs=[0.8])
    assert out.shape == (3, 4, 2)
    np.testing.assert_allclose(out[1, 2], latent_flow(ens, k[1, 2], inputs=[0.8]), rtol=1e-13)
    # the input matters, and inputs=None means zero input
    assert not np.allclose(out, latent_flow(ens, k))
    np.testing.assert_allclose(latent_flow(ens, k), latent_flow(ens, k, inputs=[0.0]), rtol=1e-14)


def test_flow_field_grid():
    ens = _rank_two(CYCLE)
    ff = flow_field(ens, lim=((-1.0, 2.0), (-0.5, 0.5)), n=11)
    assert isinstance(ff, FlowField) and ff.K1.shape == (11, 11)
    assert ff.K1[0, 0] == -1.0 and ff.K1[0, -1] == 2.0 and ff.K2[-1, 0] == 0.5
    d = latent_flow(ens, np.stack([ff.K1, ff.K2], -1))
    np.testing.assert_allclose(ff.dK1, d[..., 0])
    np.testing.assert_allclose(ff.dK2, d[..., 1])
    np.testing.assert_allclose(ff.speed, np.hypot(ff.dK1, ff.dK2))
    # the default limits hold every fixed point: |kappa_r| <= sqrt(E[n_r^2])
    ff = flow_field(ens)
    assert ff.K1.max() >= np.sqrt(1.6**2 + 0.8**2 + 0.3**2)


# ------------------------------------------------------------------------------ (b) fixed points

def test_two_stable_states_and_saddles():
    """Beiran et al. 2021 Fig. 3 A-D: stable states along the stronger axis, saddles along the
    weaker one, an unstable origin; positions from rho [phi'](0, K^2) = 1."""
    ens = _rank_two(TWO_STATES)
    fps = latent_fixed_points(ens)
    assert all(isinstance(fp, FixedPoint) and fp.continuum is None for fp in fps)
    kinds = {tuple(np.round(fp.kappa, 6)): fp.kind for fp in fps}
    K1, K2 = _radius(1.2), _radius(1.6)
    expected = {(0.0, 0.0): "unstable node", (0.0, K2): "stable node", (0.0, -K2): "stable node",
                (K1, 0.0): "saddle", (-K1, 0.0): "saddle"}
    assert len(fps) == 5
    for fp in fps:
        match = [k for k in expected if np.allclose(fp.kappa, k, atol=1e-9)]
        assert len(match) == 1, fp
        assert fp.kind == expected[match[0]], (fp, kinds)
        assert np.max(np.abs(latent_flow(ens, fp.kappa))) < 1e-12
    origin = next(fp for fp in fps if np.allclose(fp.kappa, 0))
    np.testing.assert_allclose(origin.eigenvalues, [0.6, 0.2], atol=1e-12)   # eig(S) - 1
    # Beiran's Jacobian for unit-variance m: -I + [phi'] S + [phi'''] (S kappa) kappa^T
    S = np.asarray(TWO_STATES)
    for fp in fps:
        d = float(fp.kappa @ fp.kappa)
        with jax.enable_x64(True):
            d1, d3 = float(G.mean_dphi(0.0, d)), float(G.mean_d3phi(0.0, d))
        J = -np.eye(2) + d1 * S + d3 * np.outer(S @ fp.kappa, fp.kappa)
        np.testing.assert_allclose(fp.jacobian, J, atol=1e-10)


def test_simulated_networks_land_on_predicted_fixed_points():
    ens = _rank_two(TWO_STATES)
    stable = [fp for fp in latent_fixed_points(ens) if fp.stable]
    net = ens.sample(8000, key=jax.random.key(11))
    m = np.asarray(net.m, np.float64)
    starts = np.array([[0.3, 0.5], [0.3, -0.5], [-0.6, 0.05], [0.6, -0.05]])
    tr = simulate(net, T=60.0, dt=0.05, x0=starts @ m.T, record="kappa")
    end = tr.kappa[:, -1].astype(np.float64)
    assert np.max(np.abs(tr.kappa[:, -1] - tr.kappa[:, -2])) / 0.05 < 1e-3   # at rest
    n = np.asarray(net.n, np.float64)
    for k_end, sign in zip(end, [1, -1, 1, -1]):
        fp = next(f for f in stable if np.sign(f.kappa[1]) == sign)
        # finite-N shift of a fixed point: -J^{-1} dF with Cov(dF) = Cov_i(n_i phi(m_i kappa*)) / N
        C = np.cov((n * np.tanh(m @ fp.kappa)[:, None]).T) / net.N
        Jinv = np.linalg.inv(fp.jacobian)
        sd = np.sqrt(np.diag(Jinv @ C @ Jinv.T))           # about (0.04, 0.02) at N = 8000
        assert np.all(np.abs(k_end - fp.kappa) < 5 * sd), (k_end, fp.kappa, sd)


@pytest.mark.parametrize("cov_mn", [1.5, 0.8, 1.0])
def test_rank_one_fixed_points(cov_mn):
    ens = Ensemble.rank_one(mean_m=0.0, mean_n=0.0, std_m=1.0, std_n=2.0, cov_mn=cov_mn)
    fps = latent_fixed_points(ens)
    if cov_mn > 1:   # kappa* solves sigma_mn [phi'](0, kappa^2) = 1
        assert [fp.kind for fp in fps] == ["stable node", "unstable node", "stable node"]
        k = fps[2].kappa[0]
        assert abs(cov_mn * _dphi(k * k) - 1.0) < 1e-12
        np.testing.assert_allclose(fps[0].kappa, -fps[2].kappa, atol=1e-12)
        np.testing.assert_allclose(fps[1].eigenvalues, [cov_mn - 1.0], atol=1e-12)
    else:            # only the origin; exactly at sigma_mn = 1 it is marginal (pitchfork)
        assert len(fps) == 1 and fps[0].kappa[0] == 0.0
        assert fps[0].kind == ("marginal" if cov_mn == 1.0 else "stable node")
        np.testing.assert_allclose(fps[0].eigenvalues, [cov_mn - 1.0], atol=1e-12)


def test_rank_one_with_mean_and_input_finds_every_root():
    ens = Ensemble(names=("m1", "n1", "I1"), mean=[1.1, 2.0, 0.0],
                   cov=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.3], [0.0, 0.3, 1.0]])
    fps = latent_fixed_points(ens, inputs=[0.2])
    grid = np.linspace(-3, 3, 60001)[:, None]
    F = latent_flow(ens, grid, inputs=[0.2])[:, 0]
    assert len(fps) == np.sum(F[:-1] * F[1:] < 0) == 3
    for fp in fps:
        assert abs(latent_flow(ens, fp.kappa, inputs=[0.2])[0]) < 1e-12
    assert [fp.kind for fp in fps] == ["stable node", "unstable node", "stable node"]
    assert fps[0].kappa[0] < 0 < fps[2].kappa[0] and abs(fps[0].kappa[0]) < fps[2].kappa[0]


# ------------------------------------------------------------------------------------ (c) ring

def test_ring_attractor_for_equal_overlaps():
    ens = _rank_two(RING)
    fps = latent_fixed_points(ens, ring_points=12)
    origin, ring = fps[0], fps[1:]
    assert origin.kind == "unstable node" and origin.continuum is None
    np.testing.assert_allclose(origin.eigenvalues, [0.6, 0.6], atol=1e-12)
    K = _radius(1.6)
    with jax.enable_x64(True):
        radial = 1.6 * float(G.mean_d3phi(0.0, K * K)) * K * K   # d/dK of -K + 1.6 K [phi'](0, K^2)
    assert len(ring) == 12
    for fp in ring:
        assert fp.continuum == "ring" and fp.kind == "marginal" and not fp.stable
        assert abs(fp.radius - K) < 1e-12 and abs(np.linalg.norm(fp.kappa) - K) < 1e-12
        assert np.max(np.abs(latent_flow(ens, fp.kappa))) < 1e-12
        assert abs(fp.eigenvalues[0]) < 1e-9                   # along the ring
        assert abs(fp.eigenvalues[1] - radial) < 1e-9 and radial < -0.5


def test_ring_with_inputs():
    base = {"m1": {"x1": 1.0}, "m2": {"x2": 1.0}, "n1": {"x1": 1.6}, "n2": {"x2": 1.6}, "I1": {"h": 1.0}}
    # an input orthogonal to m and n only adds variance: a smaller ring, 1.6 [phi'](0, K^2 + u^2) = 1
    ring = [fp for fp in latent_fixed_points(Ensemble.from_directions(base), inputs=[0.7]) if fp.continuum]
    K = scipy.optimize.brentq(lambda K: 1.6 * _dphi(K * K + 0.49) - 1.0, 1e-6, 5.0, xtol=1e-14)
    assert len(ring) == 16 and all(abs(fp.radius - K) < 1e-10 for fp in ring)
    # an input correlated with n1 breaks the ring: one stable point and one saddle remain on it
    tilted = Ensemble.from_directions(base | {"n1": {"x1": 1.6, "h": 0.3}})
    fps = latent_fixed_points(tilted, inputs=[0.2])
    assert all(fp.continuum is None for fp in fps)
    assert sorted(fp.kind for fp in fps) == ["saddle", "stable node", "unstable node"]


def test_ring_is_an_ellipse_when_m_variances_differ():
    ens = _rank_two(RING, std_m1=2.0)   # Delta = 4 k1^2 + k2^2: a ring of constant Delta
    ring = [fp for fp in latent_fixed_points(ens) if fp.continuum]
    assert len(ring) == 16 and all(fp.radius is None for fp in ring)
    K = _radius(1.6)
    for fp in ring:
        assert abs(np.sqrt(4 * fp.kappa[0] ** 2 + fp.kappa[1] ** 2) - K) < 1e-12
        assert np.max(np.abs(latent_flow(ens, fp.kappa))) < 1e-12


def test_sphere_in_rank_three():
    ens = Ensemble.from_directions({f"m{r}": {f"x{r}": 1.0} for r in (1, 2, 3)}
                                   | {f"n{r}": {f"x{r}": 1.6} for r in (1, 2, 3)})
    fps = latent_fixed_points(ens)
    assert len(fps) == 1 + 6 and {fp.continuum for fp in fps[1:]} == {"sphere"}
    assert all(abs(fp.radius - _radius(1.6)) < 1e-12 for fp in fps[1:])


def test_simulated_ring_radius():
    ens = _rank_two(RING)
    K = _radius(1.6)
    net = ens.sample(8000, key=jax.random.key(5))
    m, n = np.asarray(net.m, np.float64), np.asarray(net.n, np.float64)
    th = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    x0 = 0.5 * np.stack([np.cos(th), np.sin(th)], -1) @ m.T
    end = simulate(net, T=60.0, dt=0.05, x0=x0, record="kappa").kappa[:, -1].astype(np.float64)
    with jax.enable_x64(True):
        radial = 1.6 * float(G.mean_d3phi(0.0, K * K)) * K * K
    for k in end:
        e = k / np.linalg.norm(k)
        # finite-N radial shift: (e . dF) / |radial eigenvalue|, dF = mean over neurons (sd ~ 0.015)
        sd = np.sqrt(e @ np.cov((n * np.tanh(m @ (K * e))[:, None]).T) @ e / net.N) / abs(radial)
        assert abs(np.linalg.norm(k) - K) < 5 * sd, (np.linalg.norm(k), K, sd)


# ------------------------------------------------------------------------------ (d) limit cycle

@pytest.mark.parametrize("S", [CYCLE, [[1.6, 0.8], [-0.8, 1.6]]], ids=["anticlockwise", "clockwise"])
def test_limit_cycle_closed_form(S):
    """Rotation-symmetric case: circle rho [phi'](0, K^2) = 1 at angular speed b/a: T = 2 pi a / b."""
    ens = _rank_two(S)
    cyc = limit_cycle(ens, n_samples=100)
    assert isinstance(cyc, LimitCycle)
    assert abs(cyc.period / (4 * np.pi) - 1) < 1e-7
    K = _radius(1.6)
    assert cyc.orbit.shape == (100, 2) and cyc.t.shape == (100,)
    np.testing.assert_allclose(np.linalg.norm(cyc.orbit, axis=1), K, rtol=1e-7)
    np.testing.assert_allclose(cyc.amplitude, [K, K], rtol=1e-3)   # 100 samples of a circle
    np.testing.assert_allclose(cyc.center, 0.0, atol=1e-7)
    turn = cyc.orbit[0, 0] * cyc.orbit[1, 1] - cyc.orbit[0, 1] * cyc.orbit[1, 0]   # z of k0 x k1
    assert np.sign(turn) == np.sign(S[1][0])


def test_limit_cycle_against_an_independent_integrator():
    ens = _rank_two([[1.6, -1.2], [0.5, 1.6]])      # not rotation-symmetric: an oval orbit
    cyc = limit_cycle(ens)
    sol = solve_ivp(lambda t, k: latent_flow(ens, k), (0, cyc.period), cyc.orbit[0], method="DOP853",
                    rtol=1e-11, atol=1e-12, dense_output=True)
    np.testing.assert_allclose(sol.sol(cyc.period), cyc.orbit[0], atol=1e-7)      # closes
    np.testing.assert_allclose(sol.sol(cyc.t).T, cyc.orbit, atol=1e-7)
    assert cyc.amplitude[0] > 1.2 * cyc.amplitude[1]


@pytest.mark.parametrize("S", [TWO_STATES, [[0.8, -0.5], [0.5, 0.8]]], ids=["fixed points", "stable focus"])
def test_no_limit_cycle(S):
    assert limit_cycle(_rank_two(S)) is None


def _euler_period(a, b, dt):
    """Period of the Euler map k <- k + dt(-k + (a + bJ) k [phi'](0,|k|^2)) on its invariant circle.

    On the circle the map multiplies by c + i s with c = 1 - dt + u, s = (b/a) u, u = dt a [phi'],
    and |c + i s| = 1; the angle per step is atan2(s, c). simulate() is this Euler map exactly for
    g = 0 (x stays in the span of m). At dt = 0.05 it lengthens the period by 0.61%.
    """
    r = b / a
    u = scipy.optimize.brentq(lambda u: (1 - dt + u) ** 2 + (r * u) ** 2 - 1, 1e-12, 1.0, xtol=1e-15)
    return 2 * np.pi * dt / np.arctan2(r * u, 1 - dt + u)


def test_limit_cycle_period_matches_simulations():
    ens = _rank_two(CYCLE)
    cyc = limit_cycle(ens)
    dt = 0.05
    T_euler = _euler_period(1.6, 0.8, dt)
    assert abs(T_euler / cyc.period - 1.0061) < 1e-4   # -> 2 pi a / b as dt -> 0
    for seed in range(3):
        net = ens.sample(8000, key=jax.random.key(seed))
        tr = simulate(net, T=150.0, dt=dt, x0=0.5 * np.asarray(net.m[:, 0]), record="kappa")
        late = tr.t > 50
        tc, _ = _section_crossings(tr.t[late], tr.kappa[late], tr.kappa[late].mean(axis=0))
        assert len(tc) >= 7
        period = np.mean(np.diff(tc))
        # finite-size scatter of the period: sd 0.43% over 10 seeds at N = 8000 (measured; it
        # scales as 1/sqrt(N)), so 2% is > 4 sd
        assert abs(period / T_euler - 1) < 0.02, (seed, period, T_euler)


# ---------------------------------------------------------------------------------------- plot

def test_plot_flow_field_draws_points_ring_and_cycle():
    import matplotlib.pyplot as plt

    ring = _rank_two(RING)
    ax = plot_flow_field(ring, n=15, fixed_points=latent_fixed_points(ring, ring_points=8), cycle=False)
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert "ring of fixed points" in labels
    osc = _rank_two(CYCLE)
    cyc = limit_cycle(osc, n_samples=50)
    ax = plot_flow_field(osc, n=15, cycle=cyc)
    lines = ax.get_lines()
    assert any(ln.get_label().startswith("limit cycle") for ln in lines)
    origin = [ln for ln in lines if ln.get_marker() == "o"]
    assert len(origin) == 1 and origin[0].get_markerfacecolor() == "white"   # open: unstable
    fig, ax = plt.subplots()
    assert plot_flow_field(_rank_two(TWO_STATES), ax=ax, n=15, cycle=None) is ax
    faces = sorted(str(ln.get_markerfacecolor()) for ln in ax.get_lines() if ln.get_marker() == "o")
    assert faces == ["k", "k", "white", "white", "white"]   # 2 stable filled; saddles, origin open
    plt.close("all")


# -------------------------------------------------------------------------------- (e) bad inputs

def test_bad_inputs_raise_clear_errors():
    ens = _rank_two(CYCLE)
    with pytest.raises(TypeError, match="ensemble must be a lowrank_rnn.Ensemble"):
        latent_flow("ens", [0.0, 0.0])
    with pytest.raises(ValueError, match=r"kappa must have shape \(\.\.\., R\) with R = 2"):
        latent_flow(ens, [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="kappa contains non-finite"):
        latent_flow(ens, [np.nan, 0.0])
    with pytest.raises(ValueError, match=r"no input loadings \(K = 0\)"):
        latent_flow(ens, [0.0, 0.0], inputs=[1.0])
    with pytest.raises(ValueError, match="inputs must hold K = 1"):
        latent_flow(_mixture_with_input(), [0.0, 0.0], inputs=[1.0, 2.0])
    bulky = ens.replace(g=0.5)
    with pytest.raises(ValueError, match="ensemble.g must be 0.*allow_bulk=True"):
        latent_flow(bulky, [0.1, 0.2])
    np.testing.assert_allclose(latent_flow(bulky, [0.1, 0.2], allow_bulk=True), latent_flow(ens, [0.1, 0.2]))
    with pytest.raises(ValueError, match="ensemble.g must be 0"):
        latent_fixed_points(bulky)
    rank_one = Ensemble.rank_one(mean_m=0.0, mean_n=0.0, std_m=1.0, std_n=1.0, cov_mn=0.5)
    with pytest.raises(ValueError, match="must have rank 2"):
        flow_field(rank_one)
    with pytest.raises(ValueError, match="must have rank 2"):
        limit_cycle(rank_one)
    with pytest.raises(ValueError, match="must have rank 2"):
        plot_flow_field(rank_one)
    with pytest.raises(ValueError, match="lim must be > 0"):
        flow_field(ens, lim=-1.0)
    with pytest.raises(ValueError, match="lo < hi"):
        flow_field(ens, lim=(1.0, -1.0))
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        flow_field(ens, n=1)
    with pytest.raises(ValueError, match=r"kappa0 must have shape \(2,\)"):
        limit_cycle(ens, kappa0=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="dt must be <= 0.5"):
        limit_cycle(ens, dt=1.0)
    with pytest.raises(ValueError, match="tol must be > 0"):
        latent_fixed_points(ens, tol=0.0)
    with pytest.raises(TypeError, match="n_starts must be an integer"):
        latent_fixed_points(ens, n_starts=2.5)
