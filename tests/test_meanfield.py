"""Dynamic mean-field theory: stationary and chaotic states, stability, the rank-one phase diagram.

Three kinds of checks:

- published numbers of the authors' code (Mastrogiuseppe & Ostojic 2018): g_C = 1.796 and
  g_B = 2.136 for M_m = 1.1, M_n = 2, Sigma_m = Sigma_n = 1; the detection threshold c* = 0.54 and
  its kappa values; the input-driven threshold Sigma_nI ~ 0.73;
- internal consistency: the outliers against the authors' 3 x 3 stability matrix, the two forms of
  the energy equation, rank two and mixtures against rank one, g = 0 against the latent-dynamics
  fixed points, the phase diagram against the root-found boundaries and the single-point solvers;
- theory against simulations of sampled networks (``lowrank_rnn.simulate``) and against the
  eigenvalues of J diag(phi'(x*)) at the networks' fixed points.

For the simulations, theory is evaluated on the *empirical* statistics of each sampled network
(means and covariances of its loadings), which removes the leading finite-N effect (the sampled
overlap n^T m / N differs from its mean by ~2.5% at N = 3000, and kappa is sensitive to it); the
remaining differences are the O(g / sqrt(N)) corrections of the bulk, measured at a few percent.
"""

import jax
import matplotlib
import numpy as np
import pytest

from lowrank_rnn import Ensemble, simulate
from lowrank_rnn.theory import (REGIONS, ChaoticState, PhaseDiagram, StationaryState, chaotic_states,
                                critical_g_B, critical_g_C, phase_diagram, plot_phase_diagram,
                                stationary_states)
from lowrank_rnn.theory import _meanfield as mf

matplotlib.use("Agg")

MEAN_M, MEAN_N = 1.1, 2.0  # Fig. 1 family of the authors' code, overlap 2.2


def _fig1(g, overlap=MEAN_M * MEAN_N):
    return Ensemble.rank_one(mean_m=MEAN_M, mean_n=overlap / MEAN_M, std_m=1.0, std_n=1.0, g=g)


def _detection():
    """m = w + 2y, n = I + 2y, Sigma_w = Sigma_I = 1.2, tonic h orthogonal; inputs (I, h), g = 0.8."""
    return Ensemble.from_directions({"m1": {"w": 1.2, "y": 2.0}, "n1": {"I": 1.2, "y": 2.0},
                                     "I1": {"I": 1.2}, "I2": {"h": 1.0}, "w1": {"w": 1.2}}, g=0.8)


def _input_driven(sigma_nI):
    """M_m = 3.5, M_n = 1, Sigma_m = Sigma_n = 1, I = Sigma_nI x_n + h (Sigma_perp = 1), g = 0.8."""
    return Ensemble.from_directions({"m1": {"xm": 1.0}, "n1": {"xn": 1.0}, "I1": {"xn": sigma_nI, "h": 1.0}},
                                    means={"m1": 3.5, "n1": 1.0}, g=0.8)


def _empirical(ens, net):
    """The ensemble with the sample means and covariances of the network's loadings, per population."""
    L = np.concatenate([np.asarray(a, np.float64) for a in (net.m, net.n, net.inputs)], axis=1)
    names = ([f"m{r + 1}" for r in range(net.rank)] + [f"n{r + 1}" for r in range(net.rank)]
             + [f"I{k + 1}" for k in range(net.n_inputs)])
    pop = np.zeros(net.N, int) if net.population is None else np.asarray(net.population)
    C = ens.n_populations
    means = np.stack([L[pop == p].mean(0) for p in range(C)])
    covs = np.stack([np.cov(L[pop == p].T, bias=True).reshape(len(names), len(names)) for p in range(C)])
    weights = np.bincount(pop, minlength=C) / net.N
    if C == 1:
        return Ensemble(names=names, mean=means[0], cov=covs[0], g=ens.g)
    return Ensemble(names=names, mean=means, cov=covs, g=ens.g, weights=weights)


def _kappas(states):
    return [float(s.kappa[0]) for s in states]


# --------------------------------------------------------------------------- published numbers

def test_published_g_C_and_g_B():
    """M_m = 1.1, M_n = 2, Sigma_m = Sigma_n = 1: g_C = 1.796, g_B = 2.136 (authors' code constants)."""
    assert round(critical_g_C(2.2), 3) == 1.796
    assert round(critical_g_B(2.2), 3) == 2.136
    # vectorised calls agree with scalar ones; below overlap 1 there is no boundary
    gc = critical_g_C(np.array([0.8, 2.2]))
    assert np.isnan(gc[0]) and abs(gc[1] - critical_g_C(2.2)) < 1e-10
    assert np.isnan(critical_g_B(0.9))


def test_g_B_is_where_the_chaotic_pair_collapses_and_g_C_where_the_fixed_point_turns_chaotic():
    """Check the definitions of the boundaries on the solvers' states (overlap 2.2).

    g_B: the chaotic states +-kappa exist just below g_B with kappa -> 0, and only kappa = 0 chaos
    remains above it (where it becomes stable in kappa). g_C: the fixed points +-kappa are stable
    just below g_C and bulk-unstable just above it, where chaotic +-kappa states with a small
    temporal variance appear.
    """
    gB, gC = critical_g_B(2.2), critical_g_C(2.2)
    below, above = chaotic_states(_fig1(gB - 0.01)), chaotic_states(_fig1(gB + 0.01))
    assert len(below) == 3 and 0 < below[2].kappa[0] < 0.15 and not below[1].stable
    assert len(above) == 1 and abs(above[0].kappa[0]) < 1e-10 and above[0].stable
    # kappa^2 vanishes linearly at the pitchfork: halving the distance halves kappa^2
    k_half = chaotic_states(_fig1(gB - 0.005))[2].kappa[0]
    assert abs(below[2].kappa[0] ** 2 / k_half**2 - 2.0) < 0.1

    st_below = [s for s in stationary_states(_fig1(gC - 0.01)) if s.kappa[0] > 0.1]
    st_above = [s for s in stationary_states(_fig1(gC + 0.01)) if s.kappa[0] > 0.1]
    assert st_below[0].stable and st_below[0].bulk_radius < 1
    assert not st_above[0].stable and st_above[0].bulk_radius > 1
    ch_above = [s for s in chaotic_states(_fig1(gC + 0.01)) if s.kappa[0] > 0.1]
    assert len(ch_above) == 1 and 0 < ch_above[0].temporal_variance < 0.1
    assert not [s for s in chaotic_states(_fig1(gC - 0.01)) if s.kappa[0] > 0.1]


def test_detection_threshold_and_branches():
    """Detection design: kappa = +-1.2042 at c = 0 and (-1.0982, 1.2849) at c = 0.2 (reference
    values of the authors' solver); the negative branch still exists at c = 0.54 (kappa = -0.710)
    and is gone at c = 0.56.

    Tolerance 0.2% on kappa: at c = 0 the kappa equation reads [phi'](0, Delta0) = 1/4, which fixes
    Delta0 = 9.382 and kappa^2 = (Delta0 - g^2 [phi^2] - 1) / 5.44; an independent Gauss-Hermite-200
    evaluation of that closed form gives 1.2052, like this solver. The reference's 1.2042 is 0.08%
    lower, which we attribute to the convergence of the authors' damped iteration.
    """
    ens = _detection()
    st0 = stationary_states(ens, inputs=[0.0, 1.0])
    assert len(st0) == 3
    np.testing.assert_allclose(_kappas(st0), [-1.2042, 0.0, 1.2042], rtol=2e-3, atol=1e-9)
    assert [s.stable for s in st0] == [True, False, True]
    st = stationary_states(ens, inputs=np.array([0.2, 1.0]))
    assert len(st) == 3 and [s.stable for s in st] == [True, False, True]
    np.testing.assert_allclose([st[0].kappa[0], st[2].kappa[0]], [-1.0982, 1.2849], rtol=2e-3)
    assert st[0].kappa[0] < st[1].kappa[0] < 0  # the middle (saddle) branch between them
    at = stationary_states(ens, inputs=[0.54, 1.0])
    assert len(at) == 3 and at[0].stable and abs(at[0].kappa[0] + 0.710) < 2e-3
    assert len(stationary_states(ens, inputs=[0.56, 1.0])) == 1


def test_input_driven_threshold():
    """M_m = 3.5, M_n = 1, g = 0.8, Sigma_perp = 1: the negative branch disappears at Sigma_nI ~ 0.73
    (it exists at 0.72; gone at 0.74)."""
    at, after = stationary_states(_input_driven(0.72), [1.0]), stationary_states(_input_driven(0.74), [1.0])
    assert len(at) == 3 and at[0].kappa[0] < 0 and [s.stable for s in at] == [True, False, True]
    assert len(after) == 1 and after[0].kappa[0] > 0 and after[0].stable


# ----------------------------------------------------------------------- internal consistency

def test_rank_one_branches_without_input():
    """g = 0.5, overlap 2.2: x = 0 (unstable: outlier at the overlap, bulk radius g) and the stable
    symmetric pair."""
    st = stationary_states(_fig1(0.5))
    assert len(st) == 3 and all(isinstance(s, StationaryState) for s in st)
    neg, zero, pos = st
    assert zero.kappa[0] == 0 and zero.delta0 == 0 and zero.mu == 0
    assert zero.bulk_radius == pytest.approx(0.5) and not zero.stable
    # at x = 0 the map decouples: the overlap, and g^2 for the variance (hidden in the bulk disk)
    np.testing.assert_allclose(zero.outliers, [2.2, 0.25], atol=1e-10)
    np.testing.assert_allclose(zero.visible_outliers, [2.2], atol=1e-10)
    assert neg.stable and pos.stable
    assert pos.kappa[0] == pytest.approx(-neg.kappa[0], abs=1e-10)
    assert pos.delta0 == pytest.approx(neg.delta0, rel=1e-10)
    assert pos.mu == pytest.approx(MEAN_M * pos.kappa[0])


def _numpy_average(f, mu, D, n=2001):
    z = np.linspace(-9, 9, n)
    w = np.exp(-z * z / 2)
    return np.sum(w * f(mu + np.sqrt(D) * z)) / np.sum(w)


@pytest.mark.parametrize("g", [0.5, 1.2, 1.7])
def test_outliers_equal_the_authors_3x3_stability_matrix(g):
    """The (R + 1)-dimensional linearisation has the non-zero eigenvalues of the 3 x 3 matrix in
    (mu, Delta0, kappa) of Mastrogiuseppe & Ostojic 2018 (authors' code, ``EigStationary``)."""
    pos = stationary_states(_fig1(g))[-1]
    mu, D, k = pos.mu, pos.delta0, pos.kappa[0]
    t = np.tanh
    phi, dphi = t, lambda x: 1 - t(x) ** 2
    d2phi = lambda x: -2 * t(x) * (1 - t(x) ** 2)  # noqa: E731
    A = {name: _numpy_average(f, mu, D) for name, f in (
        ("phi_dphi", lambda x: phi(x) * dphi(x)), ("dphi2", lambda x: dphi(x) ** 2),
        ("phi_d2phi", lambda x: phi(x) * d2phi(x)), ("dphi", dphi), ("d2phi", d2phi))}
    row_mu = np.array([0.0, 0.0, MEAN_M])
    row_d = np.array([2 * g**2 * A["phi_dphi"], g**2 * (A["dphi2"] + A["phi_d2phi"]), 2 * 1.0 * k])
    a, b = MEAN_M * MEAN_N * A["dphi"], 0.5 * MEAN_N * A["d2phi"]
    M = np.stack([row_mu, row_d, b * row_d + np.array([0.0, 0.0, a])])
    ev = np.linalg.eigvals(M)
    ev = np.sort_complex(ev[np.abs(ev) > 1e-12])
    np.testing.assert_allclose(np.sort_complex(pos.outliers), ev, atol=1e-8)
    assert pos.bulk_radius == pytest.approx(g * np.sqrt(A["dphi2"]), rel=1e-9)


def test_energy_equation_forms_agree():
    """The ln cosh form (with the d_inf equation added, G/T) and the Gauss-Legendre form of E/T^2
    agree in value and gradient, on and off the solution, down to small temporal variances."""
    ens = _fig1(2.0)
    with jax.enable_x64(True):
        P = mf._params(ens, np.zeros(0))
        q = mf._quad(201, 81)
        for mu, Q, dinf, T in [(0.0, 0.0, 0.0, 1.9), (0.3, 0.09, 1.16, 0.97), (0.9, 0.64, 2.5, 0.04),
                               (0.5, 3.0, 1.0, 3.0), (0.5, 3.0, 1.0, 1e-3)]:
            m, Qa = jax.numpy.asarray([mu]), jax.numpy.asarray([Q])

            def phi_form(x):
                return mf._Etilde(P, m + x[0], Qa, dinf + x[1], T + x[2], q, form="phi")

            def gl_form(x):
                return mf._Etilde(P, m + x[0], Qa, dinf + x[1], T + x[2], q, form="gl")

            x0 = jax.numpy.zeros(3)
            vp, gp = jax.jit(jax.value_and_grad(phi_form))(x0)
            vg, gg = jax.jit(jax.value_and_grad(gl_form))(x0)
            assert abs(float(vp) - float(vg)) < 1e-7
            np.testing.assert_allclose(gp, gg, atol=1e-5)


def test_homogeneous_chaos_matches_the_classic_equation():
    """kappa = 0 chaos: Delta0^2 / 2 = g^2 ([Phi^2] - [Phi]^2), Delta_inf = 0 (Sompolinsky et al. 1988)."""
    from scipy.optimize import brentq

    for g in (1.5, 2.5):
        (st,) = chaotic_states(_fig1(g, overlap=0.5))
        assert abs(st.kappa[0]) < 1e-12 and st.delta_inf == pytest.approx(0.0, abs=1e-12) and st.stable
        Phi = lambda x: np.abs(x) + np.log1p(np.exp(-2 * np.abs(x))) - np.log(2)  # noqa: E731

        def energy(D):
            return D * D / 2 - g**2 * (_numpy_average(lambda x: Phi(x) ** 2, 0, D) - _numpy_average(Phi, 0, D) ** 2)

        assert st.delta0 == pytest.approx(brentq(energy, 0.1, g**2), rel=1e-9)
    assert chaotic_states(_fig1(0.9)) == [] and chaotic_states(_fig1(0.0)) == []


def test_rank_two_mixture_with_a_silent_pair_equals_rank_one():
    """Rank two, two identical populations, the second (m2, n2) pair without any overlap: the states
    are those of the rank-one, one-population ensemble with kappa_2 = 0, and Delta0, mu, Delta_inf are
    the same in both populations. Exercises the multistart solvers (stationary and chaotic) and the
    mixture equations against the rank-one scans."""
    pop = Ensemble.from_directions({"m1": {"xm": 1.0}, "n1": {"xn": 1.0}, "m2": {"a": 1.0}, "n2": {"b": 1.0}},
                                   means={"m1": MEAN_M, "n1": MEAN_N}, g=2.0)
    mix = Ensemble.mixture([pop, pop], [0.3, 0.7])
    for solver in (stationary_states, chaotic_states):
        r1, r2 = solver(_fig1(2.0)), solver(mix)
        assert len(r2) == len(r1) >= 3
        for s1, s2 in zip(r1, r2):
            np.testing.assert_allclose(s2.kappa, [s1.kappa[0], 0.0], atol=1e-8)
            np.testing.assert_allclose(s2.delta0, [s1.delta0] * 2, rtol=1e-8)
            np.testing.assert_allclose(s2.mu, [s1.mu] * 2, atol=1e-8)
            if solver is chaotic_states:
                np.testing.assert_allclose(s2.delta_inf, [s1.delta_inf] * 2, rtol=1e-7, atol=1e-12)
                assert s2.stable == s1.stable
            else:
                assert s2.stable == s1.stable and s2.bulk_radius == pytest.approx(s1.bulk_radius, rel=1e-8)
                # the silent pair adds an outlier 0 (its overlap) to the rank-one ones
                np.testing.assert_allclose(np.sort_complex(s2.outliers[np.abs(s2.outliers) > 1e-9]),
                                           np.sort_complex(s1.outliers[np.abs(s1.outliers) > 1e-9]), atol=1e-7)


def test_g_zero_matches_the_latent_fixed_points():
    """At g = 0 the stationary states are the fixed points of the latent dynamics (Beiran et al.
    2021); their Jacobian eigenvalues are -1 + outliers (the variance direction has eigenvalue 0)."""
    from lowrank_rnn.theory import latent_fixed_points

    p1 = Ensemble.from_directions(
        {"m1": {"a": 1.0}, "m2": {"b": 0.8, "a": 0.3}, "n1": {"a": 1.4, "c": 0.5},
         "n2": {"b": 1.2, "a": -0.6, "d": 0.4}, "I1": {"c": 0.7, "e": 0.5}},
        means={"m1": 0.4, "n1": 0.8, "n2": -0.2, "I1": -0.3})
    p2 = Ensemble.from_directions(
        {"m1": {"a": 0.6, "b": 0.5}, "m2": {"b": 1.1}, "n1": {"b": -0.9, "f": 0.6},
         "n2": {"a": 2.0, "b": 0.7}, "I1": {"b": 0.9, "g": 0.4}},
        means={"m2": -0.5, "n2": 1.0, "I1": 0.6})
    ens = Ensemble.mixture([p1, p2], [0.3, 0.7])
    ours = stationary_states(ens, inputs=[0.4])
    theirs = latent_fixed_points(ens, inputs=[0.4])
    assert len(ours) == len(theirs) >= 1
    for fp in theirs:
        s = min(ours, key=lambda s: np.max(np.abs(s.kappa - fp.kappa)))
        np.testing.assert_allclose(s.kappa, fp.kappa, atol=1e-7)
        np.testing.assert_allclose(np.sort_complex(s.outliers[np.abs(s.outliers) > 1e-12]),
                                   np.sort_complex(np.asarray(fp.eigenvalues) + 1.0), atol=1e-6)
        assert s.bulk_radius == 0.0 and s.stable == bool(np.all(np.real(fp.eigenvalues) < 0))


def test_rank_two_two_stable_states():
    """Overlap diag(1.2, 1.6), g = 0.3 (Beiran et al. 2021, Fig. 3 A-D with a bulk): the origin, a
    saddle pair on axis 1 and a stable pair on axis 2."""
    ens = Ensemble.from_directions({"m1": {"x1": 1.0}, "m2": {"x2": 1.0}, "n1": {"x1": 1.2, "z1": 0.3},
                                    "n2": {"x2": 1.6, "z2": 0.3}}, g=0.3)
    st = stationary_states(ens)
    assert len(st) == 5
    stable = [s for s in st if s.stable]
    assert len(stable) == 2 and all(abs(s.kappa[0]) < 1e-8 and abs(s.kappa[1]) > 0.5 for s in stable)
    saddles = [s for s in st if not s.stable and abs(s.kappa[0]) > 0.1]
    assert len(saddles) == 2 and all(abs(s.kappa[1]) < 1e-8 for s in saddles)
    for s in saddles:  # one outlier above 1 (towards axis 2), one below
        assert np.sum(s.outliers.real > 1) == 1


# ----------------------------------------------------------------------------- phase diagram

def test_phase_diagram_regions_and_values():
    """Regions agree with the root-found boundaries away from them; branch values agree with the
    single-point solvers; kappa = 0 states per g."""
    g = np.linspace(0.2, 3.0, 15)
    ov = np.linspace(0.3, 3.5, 12)
    pd = phase_diagram(g, ov)
    assert isinstance(pd, PhaseDiagram) and pd.region.shape == (15, 12)
    gC, gB = critical_g_C(ov), critical_g_B(ov)
    for i, gv in enumerate(g):
        for j, o in enumerate(ov):
            if o < 1:
                want = 0 if gv < 1 else 3
                if abs(gv - 1) < 0.05 or abs(o - 1) < 0.05:
                    continue
            else:
                want = 1 if gv < gC[j] else (2 if gv < gB[j] else 3)
                if min(abs(gv - gC[j]), abs(gv - gB[j])) < 0.05 or abs(o - 1) < 0.05:
                    continue
            assert pd.region[i, j] == want, (gv, o, REGIONS[pd.region[i, j]], REGIONS[want])
    # every region occurs
    assert set(np.unique(pd.region)) == {0, 1, 2, 3}
    # branch values against the single-point solvers
    i, j = np.argmin(abs(g - 0.6)), np.argmin(abs(ov - 2.2))
    pos = stationary_states(_fig1(g[i], ov[j]))[-1]
    assert pd.stationary_kappa[i, j] == pytest.approx(pos.kappa[0], abs=1e-6)
    assert pd.stationary_delta0[i, j] == pytest.approx(pos.delta0, abs=1e-6)
    assert pd.stationary_radius[i, j] == pytest.approx(pos.bulk_radius, abs=1e-5)
    chaotic_points = np.argwhere(np.isfinite(pd.chaotic_kappa))
    assert len(chaotic_points)
    for i, j in chaotic_points[:3]:
        ch = chaotic_states(_fig1(g[i], ov[j]))[-1]
        assert pd.chaotic_kappa[i, j] == pytest.approx(ch.kappa[0], abs=1e-4)
        assert pd.chaotic_delta0[i, j] == pytest.approx(ch.delta0, abs=1e-4)
        # Delta_inf is ill-conditioned near g_C, where the chaotic and static solutions merge
        assert pd.chaotic_delta_inf[i, j] == pytest.approx(ch.delta_inf, abs=3e-3)
    # kappa = 0 states per g
    assert np.all(pd.static_delta0[g < 1] == 0) and np.all(np.isnan(pd.chaos_delta0[g <= 1]))
    k = np.argmin(abs(g - 2.6))
    (hom,) = chaotic_states(_fig1(g[k], 0.5))
    assert pd.chaos_delta0[k] == pytest.approx(hom.delta0, rel=1e-6)
    ax = plot_phase_diagram(pd)
    assert ax.get_xlabel() and len(ax.lines) >= 2


# ---------------------------------------------------------------------- theory vs simulation

@pytest.mark.parametrize("g", [0.5, 1.2])
def test_stationary_states_match_simulation(g):
    """Fig. 1 family, N = 3000, two seeds, started at x0 = +m: kappa and Delta0 (the population
    variance of x) of the network's fixed point against the stable positive state, within 4%.

    Theory uses each network's empirical loading statistics (module docstring); the remaining
    seed-to-seed scatter measured over 3 seeds is ~1.5% at g = 0.5 and ~3% at g = 1.2.
    """
    ens = _fig1(g)
    for seed in range(2):
        net = ens.sample(3000, key=jax.random.key(seed))
        tr = simulate(net, T=60.0, dt=0.1, x0=np.asarray(net.m[:, 0]), record=("x", "kappa"), record_every=100)
        assert np.max(np.abs(tr.x[-1] - tr.x[-2])) < 1e-3  # reached a fixed point
        th = max(stationary_states(_empirical(ens, net)), key=lambda s: s.kappa[0])
        assert th.stable
        assert tr.kappa[-1, 0] == pytest.approx(th.kappa[0], rel=0.04)
        assert np.var(tr.x[-1].astype(np.float64)) == pytest.approx(th.delta0, rel=0.04)


def _network_fixed_point(net, kappa, u):
    """The network's fixed point near the mean-field state: the bulk part relaxed with the structured
    part clamped at m kappa + I u, then Newton on -x + J phi(x) + I u (finds saddles too)."""
    J = np.asarray(net.connectivity(), np.float64)
    m, B = np.asarray(net.m, np.float64), np.asarray(net.bulk, np.float64)
    drive = np.asarray(net.inputs, np.float64) @ u
    x = m @ kappa + drive
    for _ in range(100):
        x = m @ kappa + drive + B @ np.tanh(x)
    for _ in range(20):
        F = -x + J @ np.tanh(x) + drive
        dx = np.linalg.solve(-np.eye(net.N) + J * (1 - np.tanh(x) ** 2)[None, :], -F)
        x = x + dx
        if np.max(np.abs(dx)) < 1e-12:
            break
    assert np.max(np.abs(-x + J @ np.tanh(x) + drive)) < 1e-10
    return x, J


def test_stability_and_outliers_against_network_eigenvalues():
    """Detection design at c = 0.3 (three states), N = 1200: at each of the network's fixed points
    (found next to each mean-field state, the saddle included), the eigenvalues of J diag(phi'(x*))
    agree with the theory. Stable iff every real part < 1. The saddle's outlier (> 1) within 6%
    (measured 0.1-3% over 3 seeds). The largest bulk eigenvalue against the bulk radius within 10%
    where no outlier sits within 25% of the disk edge (the edge of a finite bulk overshoots its
    radius: measured 0.6-8% at N = 1200 over 3 seeds; an outlier just outside the edge merges with
    it at this N, which is why those states are left out of the radius check)."""
    from lowrank_rnn import spectrum

    ens = _detection()
    u = np.array([0.3, 1.0])
    net = ens.sample(1200, key=jax.random.key(0))
    states = stationary_states(_empirical(ens, net), inputs=u)
    assert [s.stable for s in states] == [True, False, True]
    for s in states:
        x, J = _network_fixed_point(net, s.kappa, u)
        ev = np.linalg.eigvals(J * (1 - np.tanh(x) ** 2)[None, :])
        ev = ev[np.argsort(-ev.real)]
        assert s.stable == bool(ev[0].real < 1)
        vis = s.visible_outliers
        if not s.stable:
            assert np.sum(vis.real > 1) == 1 and ev[0].real == pytest.approx(vis[0].real, rel=0.06)
            assert ev[1].real < 1
        if np.all(np.abs(vis) > 1.25 * s.bulk_radius):
            matched = spectrum.match_outliers(ev, vis) if len(vis) else np.array([])
            bulk = np.max(np.abs([e for e in ev if not np.any(e == matched)]))
            assert bulk == pytest.approx(s.bulk_radius, rel=0.10)


def test_mixture_stationary_matches_simulation():
    """Two populations (30% / 70%) with different means, variances and overlaps, g = 0.6, N = 3000:
    kappa, and the mean and variance of x within each population, against the positive state."""
    a = Ensemble.from_directions({"m1": {"x": 1.5}, "n1": {"x": 0.8, "e": 1.0}}, means={"m1": 0.5, "n1": 2.5})
    b = Ensemble.from_directions({"m1": {"x": 0.7}, "n1": {"x": 1.5, "f": 0.5}}, means={"m1": 1.0, "n1": 0.5})
    ens = Ensemble.mixture([a.replace(g=0.6), b.replace(g=0.6)], [0.3, 0.7])
    net = ens.sample(3000, key=jax.random.key(3))
    tr = simulate(net, T=60.0, dt=0.1, x0=np.asarray(net.m[:, 0]), record=("x", "kappa"), record_every=100)
    th = max(stationary_states(_empirical(ens, net)), key=lambda s: s.kappa[0])
    assert th.stable and np.shape(th.delta0) == (2,)
    x, pop = tr.x[-1].astype(np.float64), np.asarray(net.population)
    assert tr.kappa[-1, 0] == pytest.approx(th.kappa[0], rel=0.03)
    for p in range(2):
        assert x[pop == p].mean() == pytest.approx(th.mu[p], rel=0.03)
        assert x[pop == p].var() == pytest.approx(th.delta0[p], rel=0.05)


def _autocovariance(x, lags):
    """Population-averaged autocovariance of x (time, N) around the instantaneous population mean."""
    xc = x - x.mean(axis=1, keepdims=True)
    return np.array([np.mean(np.sum(xc[: len(xc) - k] * xc[k:], axis=1) / x.shape[1]) for k in lags])


def test_homogeneous_chaos_matches_simulation():
    """g = 2.5, overlap 0.5: kappa = 0 chaos. N = 2000, two seeds, 150 tau after a transient of 50
    (sampled every 0.5 tau): Delta0 (the population variance of x, averaged over time) within 4%
    (measured 1.4-1.9%); the autocovariance decays to Delta_inf = 0 (at lags 20-40 tau it is below
    0.15 Delta0; measured |C| <= 0.13 Delta0, the noise of a 150 tau estimate); kappa ~ 0."""
    ens = _fig1(2.5, overlap=0.5)
    (th,) = chaotic_states(ens)
    for seed in range(2):
        net = ens.sample(2000, key=jax.random.key(seed))
        tr = simulate(net, T=200.0, dt=0.1, x0=np.asarray(net.m[:, 0]), record=("x", "kappa"), record_every=5)
        late = tr.t >= 50
        C = _autocovariance(tr.x[late].astype(np.float64), [0, 40, 60, 80])
        assert C[0] == pytest.approx(th.delta0, rel=0.04)
        assert abs(np.mean(C[1:])) < 0.15 * th.delta0
        assert np.mean(np.abs(tr.kappa[late, 0])) < 0.05


def test_chaotic_state_with_input_matches_simulation():
    """A chaotic state with structure and input: g = 3, M_m = 1, M_n = 0.5, input I = 0.5 x_n + 0.2
    (Cov(n, I) = 0.5) with amplitude 1; no bistability. N = 2000, four seeds, 150 tau after a
    transient of 50. Seed averages against the theory: kappa within 5%, Delta0 within 4%, Delta_inf
    (autocovariance at lags 20-40 tau) within 15%, the population mean of x within 12%.

    At g = 3 the O(g / sqrt(N)) corrections of the bulk are sizeable: over 5 seeds the per-seed
    deviations were kappa -5..+13%, Delta0 -4..+6%, Delta_inf -10..+29% (also the noise of a 150 tau
    estimate) and mu -11..+18% (the population mean of g chi phi is O(g / sqrt(N)), not 0); the
    tolerances are about twice the standard error of a four-seed mean. Measured seed means (seeds
    0-3): -0.8%, -1.2%, +0.9%, +2.5%."""
    ens = Ensemble.from_directions({"m1": {"xm": 1.0}, "n1": {"xn": 1.0}, "I1": {"xn": 0.5}},
                                   means={"m1": 1.0, "n1": 0.5, "I1": 0.2}, g=3.0)
    u = np.array([1.0])
    (th,) = chaotic_states(ens, inputs=u)
    assert th.temporal_variance > 1.0 and th.stable
    sims = []
    for seed in range(4):
        net = ens.sample(2000, key=jax.random.key(seed))
        tr = simulate(net, T=200.0, dt=0.1, inputs=np.ones((2000, 1), np.float32), record=("x", "kappa"),
                      record_every=5)
        late = tr.t >= 50
        x = tr.x[late].astype(np.float64)
        C = _autocovariance(x, [0, 40, 60, 80])
        sims.append([np.mean(tr.kappa[late, 0]), C[0], np.mean(C[1:]), x.mean()])
    kappa, delta0, delta_inf, mu = np.mean(sims, axis=0)
    assert kappa == pytest.approx(th.kappa[0], rel=0.05)
    assert delta0 == pytest.approx(th.delta0, rel=0.04)
    assert delta_inf == pytest.approx(th.delta_inf, rel=0.15)
    assert mu == pytest.approx(th.mu, rel=0.12)


def test_heterogeneous_chaos_in_simulation_qualitatively():
    """Between g_C = 1.796 and g_B = 2.136 (overlap 2.2) the theory has chaotic states +-kappa
    (kappa = 0.332, temporal variance 0.88) and no stable fixed point; above g_B, kappa = 0 chaos.
    Finite-size effects are large in this window (the authors report larger kappa at N = 2000 and
    switching between +-kappa for larger N; at N = 2000 we see, over 4 seeds, time-averaged |kappa|
    from 0.20 to 0.64, one network at a fixed point and one switching sign), so the check is
    qualitative, over three seeds started at +m: the time-averaged |kappa| is above 0.2 at g = 2.0
    and at least 1.5 times its value at g = 2.6 (measured 0.46 against 0.16 over 4 seeds)."""
    ens = _fig1(2.0)
    ch = chaotic_states(ens)
    assert [round(s.kappa[0], 3) for s in ch] == [-0.332, 0.0, 0.332]
    assert not any(s.stable for s in stationary_states(ens))
    mean_abs = {}
    for g in (2.0, 2.6):
        vals = []
        for seed in range(3):
            net = _fig1(g).sample(2000, key=jax.random.key(seed))
            tr = simulate(net, T=150.0, dt=0.1, x0=np.asarray(net.m[:, 0]), record="kappa", record_every=5)
            vals.append(np.mean(np.abs(tr.kappa[tr.t >= 50, 0])))
        mean_abs[g] = np.mean(vals)
    assert mean_abs[2.0] > 0.2 and mean_abs[2.0] > 1.5 * mean_abs[2.6]


# ----------------------------------------------------------------------------------- errors

def test_bad_arguments():
    ens = _detection()
    with pytest.raises(ValueError, match="2 entries"):
        stationary_states(ens, inputs=[0.3])
    with pytest.raises(ValueError, match="0 entries"):
        chaotic_states(_fig1(2.0), inputs=[1.0])
    with pytest.raises(ValueError, match="non-finite"):
        stationary_states(ens, inputs=[np.nan, 1.0])
    with pytest.raises(TypeError, match="Ensemble"):
        stationary_states({"m1": 1.0})
    with pytest.raises(TypeError, match="Ensemble"):
        chaotic_states(None)
    with pytest.raises(ValueError, match="n_nodes"):
        stationary_states(_fig1(0.5), n_nodes=5)
    with pytest.raises(TypeError, match="n_nested"):
        chaotic_states(_fig1(2.0), n_nested=40.5)
    with pytest.raises(ValueError, match="overlap"):
        critical_g_B(-1.0)
    with pytest.raises(ValueError, match="mean_m"):
        critical_g_C(2.2, mean_m=0.0)
    with pytest.raises(ValueError, match="g_values"):
        phase_diagram([[0.5, 1.0]], [1.0, 2.0])
    with pytest.raises(ValueError, match="overlap"):
        phase_diagram([0.5, 1.0], [-1.0, 2.0])
    with pytest.raises(TypeError, match="PhaseDiagram"):
        plot_phase_diagram("not a diagram")


def test_states_are_frozen_and_typed():
    s = stationary_states(_fig1(0.5))[0]
    with pytest.raises(Exception):
        s.kappa = np.zeros(1)
    c = chaotic_states(_fig1(2.5))[0]
    assert isinstance(c, ChaoticState) and isinstance(c.delta0, float) and c.kappa.shape == (1,)
