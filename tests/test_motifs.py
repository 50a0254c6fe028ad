"""E–I networks with motifs (issue 5): generators, estimators, predictions against dense numerics.

Reference numbers are those of Shao et al. 2025 (arXiv 2411.06802), recomputed from its equations
and the parameters of the authors' notebooks; sampled networks use N = 1000 and few seeds (each dense
eigendecomposition costs a second or two), with tolerances stated at each assertion.
"""

import json

import jax
import numpy as np
import pytest
import scipy.sparse.linalg as sla

import lowrank_rnn as lr
from lowrank_rnn.cli import main
from lowrank_rnn.motifs import (MotifEnsemble, bulk_edge, chain_matrix, critical_chain_strength,
                                effective_connectivity, homogeneous_outliers, is_stable, low_rank_ensemble,
                                low_rank_network, motif_statistics, outliers, paradoxical,
                                paradoxical_chain_strength, population_chain_matrix, population_response,
                                sonet, sonet_alphas, sonet_ei, tau_from_alpha)
from lowrank_rnn.motifs._sonet import _coefficients, sonet_latent_correlations, sonet_moments

NE, NI, JE, JI = 800, 200, 0.65, 1.65  # Shao et al. Figs 2, 5-7: lambda0 = -1


def _population_specific():
    """A two-population ensemble with block-specific sigma, loadings, rho and i.i.d. reciprocity."""
    return MotifEnsemble((NE, NI), [[JE, -JI], [JE, -JI]], [[0.2, 0.3], [0.25, 0.35]],
                         conv_loading=[[0.3, 0.2], [0.25, -0.3]], div_loading=[[0.3, 0.25], [-0.2, 0.3]],
                         latent_corr=[0.9, -0.7], iid_reciprocal=[[0.2, 0.1], [0.1, -0.1]])


def _eigs(J):
    return np.linalg.eigvals(J)


# ----------------------------------------------------------------------------- estimators
def test_estimator_matches_brute_force_triple_sums():
    rng = np.random.default_rng(3)
    N = 9
    W = rng.normal(size=(N, N)) + 0.5 * rng.normal(size=N)[:, None]
    pop = np.array([0] * 5 + [1] * 4)
    st = motif_statistics(W, pop)
    # brute force: standardise each block (off-diagonal), then average products over distinct triples
    U = np.zeros_like(W)
    for p in range(2):
        for q in range(2):
            rows, cols = np.flatnonzero(pop == p), np.flatnonzero(pop == q)
            vals = [W[i, j] for i in rows for j in cols if i != j]
            for i in rows:
                for j in cols:
                    U[i, j] = (W[i, j] - np.mean(vals)) / np.std(vals)
    acc = {k: np.zeros((2, 2, 2)) for k in ("con", "div", "chn")}
    cnt = {k: np.zeros((2, 2, 2)) for k in acc}
    rec, rcnt = np.zeros((2, 2)), np.zeros((2, 2))
    for i in range(N):
        for j in range(N):
            if i == j:
                continue
            rec[pop[i], pop[j]] += U[i, j] * U[j, i]
            rcnt[pop[i], pop[j]] += 1
            for k in range(N):
                if k in (i, j):
                    continue
                acc["con"][pop[i], pop[j], pop[k]] += U[i, j] * U[i, k]
                cnt["con"][pop[i], pop[j], pop[k]] += 1
                acc["div"][pop[j], pop[i], pop[k]] += U[i, j] * U[k, j]
                cnt["div"][pop[j], pop[i], pop[k]] += 1
                acc["chn"][pop[i], pop[j], pop[k]] += U[i, j] * U[j, k]
                cnt["chn"][pop[i], pop[j], pop[k]] += 1
    np.testing.assert_allclose(st.reciprocal, rec / rcnt, atol=1e-12)
    np.testing.assert_allclose(st.convergent, acc["con"] / cnt["con"], atol=1e-12)
    np.testing.assert_allclose(st.divergent, acc["div"] / cnt["div"], atol=1e-12)
    np.testing.assert_allclose(st.chain, acc["chn"] / cnt["chn"], atol=1e-12)


def test_estimator_recovers_known_statistics_of_a_hand_built_matrix():
    # w_ij = u eta_i + v zeta_j + s x_ij with independent eta, zeta: convergent u^2/V, divergent
    # v^2/V, no chain or reciprocity (eta and zeta independent); V = u^2 + v^2 + s^2.
    rng = np.random.default_rng(0)
    N, u, v, s = 1500, 0.4, 0.3, 0.8
    W = u * rng.normal(size=N)[:, None] + v * rng.normal(size=N)[None, :] + s * rng.normal(size=(N, N))
    st = motif_statistics(W)
    V = u**2 + v**2 + s**2
    # sampling error of these averages is ~ tau sqrt(2/N) + 1/N ~ 0.005 at N = 1500
    assert st.pooled["convergent"] == pytest.approx(u**2 / V, abs=0.015)
    assert st.pooled["divergent"] == pytest.approx(v**2 / V, abs=0.015)
    assert abs(st.pooled["chain"]) < 0.01 and abs(st.pooled["reciprocal"]) < 0.01
    assert float(st.sigma[0, 0]) == pytest.approx(np.sqrt(V * N), rel=0.05)


def test_binary_estimators_agree_with_sonet_definitions():
    A = sonet(400, 0.15, alpha_conv=0.4, alpha_div=0.2, alpha_chain=0.25, alpha_recip=0.5, key=jax.random.key(2))
    al = sonet_alphas(A)
    st = motif_statistics(A)
    p = al["p"]
    # the same counts: tau = alpha p / (1 - p) up to the N/(N-1) of the variance convention
    for name, key in (("reciprocal", "alpha_recip"), ("convergent", "alpha_conv"), ("divergent", "alpha_div"),
                      ("chain", "alpha_chain")):
        assert st.pooled[name] == pytest.approx(tau_from_alpha(al[key], p), abs=2e-3), name


def test_estimator_errors():
    with pytest.raises(ValueError, match="square"):
        motif_statistics(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="population"):
        motif_statistics(np.zeros((5, 5)), np.array([0, 0, 2, 2, 2]))
    with pytest.raises(ValueError, match="binary"):
        sonet_alphas(np.full((5, 5), 0.5))


# ----------------------------------------------------------------------------- Gaussian generator
def test_homogeneous_generator_reproduces_statistics():
    ens = MotifEnsemble.ei(NE, NI, JE, JI, g=0.2, chain=0.05)
    J = ens.sample(key=jax.random.key(0))
    st = motif_statistics(J, ens.population)
    # Shao et al.'s construction: chain = convergent = divergent = tau, reciprocal = 2 tau.
    # Standardised latents make the latent parts exact; the i.i.d. part leaves errors ~ 1/sqrt(#motifs).
    assert st.pooled["chain"] == pytest.approx(0.05, abs=0.005)
    assert st.pooled["convergent"] == pytest.approx(0.05, abs=0.005)
    assert st.pooled["divergent"] == pytest.approx(0.05, abs=0.005)
    assert st.pooled["reciprocal"] == pytest.approx(0.10, abs=0.01)
    np.testing.assert_allclose(st.sigma, 0.2, rtol=0.02)
    np.testing.assert_allclose(st.couplings, ens.couplings, atol=0.03)


def test_population_specific_generator_reproduces_block_statistics():
    ens = _population_specific()
    pred = ens.statistics()
    st = motif_statistics(ens.sample(key=jax.random.key(1)), ens.population)
    # Block-wise sampling errors: the smallest block (I, I) has 200 x 199 pairs, so the reciprocal
    # statistic there errs by ~ 1/sqrt(19900) ~ 0.007 (4 s.d. below); triplet statistics are tighter.
    np.testing.assert_allclose(st.reciprocal, pred.reciprocal, atol=0.03)
    np.testing.assert_allclose(st.convergent, pred.convergent, atol=0.012)
    np.testing.assert_allclose(st.divergent, pred.divergent, atol=0.012)
    np.testing.assert_allclose(st.chain, pred.chain, atol=0.012)
    np.testing.assert_allclose(st.sigma, ens.sigma, rtol=0.02)
    # the chain statistic really is population-specific here: signs differ across blocks
    assert pred.chain.min() < -0.05 and pred.chain.max() > 0.05


def test_cell_type_chains_and_sparse_signs():
    tau = {"EE": 0.12, "EI": -0.06, "IE": 0.03, "II": 0.09}
    ens = MotifEnsemble.from_sparse(400, 100, c=0.2, J=0.01, inh_ratio=5.0, chain=tau)
    st = ens.statistics()
    sign = {"E": 1, "I": -1}
    for key, t in tau.items():
        # weight-level chain X -> Y -> any = sign(s_X s_Y) tau_XY, for every postsynaptic population
        np.testing.assert_allclose(st.chain_xy(key[0], key[1]), sign[key[0]] * sign[key[1]] * t, atol=1e-12)
    J = ens.sample(key=jax.random.key(4))
    est = motif_statistics(J, ens.population)
    np.testing.assert_allclose(est.chain, st.chain, atol=0.02)


@pytest.mark.parametrize("kwargs, bound", [
    (dict(chain=0.1, convergent=0.01, divergent=0.1), r"\|chain\| must be <= sqrt\(convergent \* divergent\)"),
    (dict(chain=0.0, convergent=0.6, divergent=0.5), r"convergent \+ divergent must be <= 1"),
    (dict(chain=0.0, convergent=-0.1, divergent=0.0), r"convergent must be >= 0"),
    (dict(chain=0.1, reciprocal=-0.9), r"\|reciprocal - 2 chain\| must be <= 1 - convergent - divergent"),
])
def test_infeasible_gaussian_statistics_name_the_bound(kwargs, bound):
    with pytest.raises(ValueError, match=bound):
        MotifEnsemble.ei(NE, NI, JE, JI, g=0.2, **kwargs)


def test_description_errors():
    with pytest.raises(ValueError, match="conv_loading\\^2"):
        MotifEnsemble((10, 5), np.zeros((2, 2)), np.ones((2, 2)), conv_loading=0.8, div_loading=0.8)
    with pytest.raises(ValueError, match="symmetric"):
        MotifEnsemble((10, 5), np.zeros((2, 2)), np.ones((2, 2)), iid_reciprocal=[[0, 0.1], [0.2, 0]])
    with pytest.raises(ValueError, match="sizes\\[1\\]"):
        MotifEnsemble((10, 0), np.zeros((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="batch shape"):
        MotifEnsemble.ei(NE, NI, JE, JI, g=0.2, chain=[0.0, 0.1]).sample(key=jax.random.key(0))


def test_save_load_round_trip(tmp_path):
    ens = _population_specific()
    back = lr.load(lr.save(ens, tmp_path / "ens.npz"))
    assert isinstance(back, MotifEnsemble) and back.sizes == ens.sizes
    np.testing.assert_array_equal(back.div_loading, ens.div_loading)
    np.testing.assert_allclose(outliers(back).values, outliers(ens).values)


# ----------------------------------------------------------------------------- SONETs
def test_sonet_moment_equations_are_exact_at_small_n():
    # Build G for N = 6 as an explicit linear map of the N(N-1) i.i.d. x's and compare covariances.
    N = 6
    coef = np.array([0.9, 0.2, 0.15, 0.1, 0.05])
    P_, Q_, a, b, c = coef
    idx = {(i, j): k for k, (i, j) in enumerate((i, j) for i in range(N) for j in range(N) if i != j)}
    rows = {}
    for (i, j) in idx:
        v = np.zeros(len(idx))
        v[idx[i, j]] += P_
        v[idx[j, i]] += Q_
        for k in range(N):
            if k in (i, j):
                continue
            v[idx[i, k]] += a
            v[idx[k, j]] += b
            v[idx[j, k]] += c
            v[idx[k, i]] += c
        rows[i, j] = v
    exact = [rows[0, 1] @ rows[0, 1], rows[0, 1] @ rows[1, 0], rows[0, 1] @ rows[0, 2],
             rows[0, 1] @ rows[2, 1], rows[0, 1] @ rows[1, 2]]
    np.testing.assert_allclose(sonet_moments(coef, N), exact, rtol=1e-12)


def test_sonet_coefficients_solve_the_moments():
    lat = sonet_latent_correlations(0.2, 1.2, 0.6, 0.6, 0.6)
    coef = _coefficients(1000, lat)
    np.testing.assert_allclose(sonet_moments(coef, 1000),
                               [1.0, lat["recip"], lat["conv"], lat["div"], lat["chain"]], atol=1e-9)


def test_sonet_reproduces_requested_statistics():
    # Shao et al.'s setting: p = 0.2, alpha_recip = 2 alpha, the others alpha = 0.6 (tau = 0.15).
    taus = []
    for seed in range(3):
        A = sonet(1000, 0.2, alpha_recip=1.2, alpha_conv=0.6, alpha_div=0.6, alpha_chain=0.6,
                  key=jax.random.key(seed))
        assert np.all(np.diag(A) == 0) and set(np.unique(A)) <= {0.0, 1.0}
        taus.append([motif_statistics(A).pooled[k] for k in ("reciprocal", "convergent", "divergent", "chain")])
    taus = np.mean(taus, 0)
    # measured realisation s.d. at N = 1000: 0.011 (reciprocal), 0.006 (others); 3 seeds, ~4 s.e.
    np.testing.assert_allclose(taus, [0.30, 0.15, 0.15, 0.15], atol=0.02)


def test_sonet_mixed_signs_and_ei_weights():
    A = sonet(800, 0.1, alpha_recip=0.5, alpha_conv=0.2, alpha_div=0.4, alpha_chain=-0.1, key=jax.random.key(7))
    al = sonet_alphas(A)
    # realisation s.d. measured over 12 seeds at N = 1000: 0.026, 0.010, 0.018, 0.007 (x ~1.1 at 800)
    assert al["alpha_recip"] == pytest.approx(0.5, abs=0.1)
    assert al["alpha_conv"] == pytest.approx(0.2, abs=0.045)
    assert al["alpha_div"] == pytest.approx(0.4, abs=0.08)
    assert al["alpha_chain"] == pytest.approx(-0.1, abs=0.035)
    W = sonet_ei(80, 20, 0.2, 0.1, 4.0, key=jax.random.key(0))
    assert set(np.unique(W[:, :80])) <= {0.0, 0.1} and set(np.unique(W[:, 80:])) <= {0.0, -0.4}


@pytest.mark.parametrize("kwargs, msg", [
    (dict(alpha_recip=5.0), r"alpha_recip <= \(1 - p\) / p"),
    (dict(alpha_conv=-0.3), "alpha_conv and alpha_div must be >= 0"),
    (dict(alpha_conv=0.1, alpha_div=0.1, alpha_chain=0.5), r"\|rho_chain\| <= sqrt\(rho_conv rho_div\)"),
])
def test_sonet_infeasible_statistics_name_the_bound(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        sonet(100, 0.2, key=jax.random.key(0), **kwargs)


# ----------------------------------------------------------------------------- predictions
def test_homogeneous_predictions_closed_forms():
    taus = np.array([0.01, 0.02, 0.05, 0.1])
    ens = MotifEnsemble.ei(NE, NI, JE, JI, g=0.2, chain=taus)
    S = 1000 * 0.2**2 * taus
    np.testing.assert_allclose(population_chain_matrix(ens).sum(-1), S[:, None] * np.ones(2))
    np.testing.assert_allclose(chain_matrix(ens), 0.04 * taus[:, None, None] * np.ones((2, 2)))
    pred = outliers(ens)
    lp, lm = homogeneous_outliers(JE - JI, S)
    np.testing.assert_allclose(pred.values[:, 0], lp, atol=1e-12)
    np.testing.assert_allclose(pred.values[:, -1], lm, atol=1e-12)
    # the published values (with S = N g^2 tau): lambda_+ = 0.306, 0.525, 1.0, 1.562 ...
    np.testing.assert_allclose(pred.values[:, 0].real, [0.3062, 0.5247, 1.0, 1.5616], atol=1e-3)
    np.testing.assert_allclose(bulk_edge(ens).real, 0.2 * np.sqrt(1 - 2 * taus))
    assert critical_chain_strength(1000, 0.2, -1.0) == pytest.approx(0.05)
    assert critical_chain_strength(1000, 0.1, -1.0) == pytest.approx(0.2)
    assert paradoxical_chain_strength(800, 0.1, 0.65) == pytest.approx(0.04375)
    # grids evaluate like single points
    one = outliers(ens[2])
    np.testing.assert_allclose(one.values, pred.values[2])


def test_sparse_gaussian_approximation_numbers():
    # Shao et al. Figs 3/8 (J = 0.5/sqrt(1500)) and 10 (J = 0.00325), N = 1500, c = 0.2, g = 6
    ens = MotifEnsemble.from_sparse(1200, 300, c=0.2, J=0.5 / np.sqrt(1500), inh_ratio=6.0, chain=[0.1, 0.225])
    vals = outliers(ens).values
    np.testing.assert_allclose(vals[:, 0].real, [0.474, 0.887], atol=1e-3)
    np.testing.assert_allclose(vals[:, -1].real, [-2.024, -2.436], atol=1e-3)
    np.testing.assert_allclose(bulk_edge(ens).real, 0.566 * np.sqrt(1 - 2 * np.array([0.1, 0.225])), rtol=1e-3)
    ens10 = MotifEnsemble.from_sparse(1200, 300, c=0.2, J=0.00325, inh_ratio=6.0, chain=[0.1, 0.225])
    np.testing.assert_allclose(outliers(ens10).values[:, 0].real, [0.119, 0.223], atol=1e-3)
    # Fig. 11 paradoxical boundary: alpha_E tau_EE - g alpha_I tau_EI = (1 - J_E)/(N_E N J^2 c (1 - c)) = 0.0723
    tee = np.array([0.0, 0.1, 0.15])
    tei = np.linspace(-0.1, 0.1, 2001)
    grid = MotifEnsemble.from_sparse(1200, 300, c=0.2, J=0.00325, inh_ratio=6.0,
                                     chain={"EE": tee[:, None], "EI": tei[None, :]})
    chi_ii = population_response(grid)[..., 1, 1]
    for k, expect in enumerate((-0.0603, 0.0064, 0.0397)):
        flip = tei[np.flatnonzero(np.diff(np.sign(chi_ii[k])))]
        assert flip.size == 1 and flip[0] == pytest.approx(expect, abs=3e-4)
    par = paradoxical(grid)
    assert np.array_equal(par, effective_connectivity(grid)[..., 0, 0] > 1)


def test_outliers_and_bulk_match_dense_numerics():
    ens = MotifEnsemble.ei(NE, NI, JE, JI, g=0.2, chain=0.02)
    pred = outliers(ens)
    lp, lm = pred.visible_values().real
    top, bottom, edge = [], [], []
    for seed in range(3):
        ev = np.sort(_eigs(ens.sample(key=jax.random.key(seed))).real)
        top.append(ev[-1])
        bottom.append(ev[0])
        edge.append(ev[-2])
    # outliers: realisation s.d. ~ 0.01-0.02 at N = 1000 (measured over realisations); mean of 3 within 0.04
    assert np.mean(top) == pytest.approx(lp, abs=0.04)
    assert np.mean(bottom) == pytest.approx(lm, abs=0.04)
    # bulk edge g sqrt(1 - 2 tau) = 0.192; the largest bulk real part fluctuates by ~ N^(-2/3)
    assert np.mean(edge) == pytest.approx(float(pred.bulk.real), rel=0.05)


def test_population_specific_complex_outliers_match_dense_numerics():
    ens = _population_specific()
    pred = outliers(ens)
    vis = pred.visible_values()
    assert np.sum(np.abs(vis.imag) > 0.5) == 2  # a complex-conjugate pair from cell-type-specific chains
    found = []
    for seed in range(2):
        ev = _eigs(ens.sample(key=jax.random.key(10 + seed)))
        found.append(lr.spectrum.match_outliers(ev, vis))
    # realisation spread of these outliers at N = 1000 is ~0.05-0.1 (measured over realisations)
    np.testing.assert_allclose(np.mean(found, 0), vis, atol=0.1)
    # bulk edge of a residual with population-specific variance and reciprocity (bisection criterion)
    ev = np.sort(_eigs(ens.sample(key=jax.random.key(12))).real)
    bulk_max = ev[ev < 0.6 * float(vis.real.max())].max()
    assert bulk_max == pytest.approx(float(pred.bulk.real), rel=0.07)


def test_reciprocal_shift_and_elliptic_bulk():
    # pure i.i.d. reciprocity (no chain): the outlier moves from lambda0 = -1 to -1 + g^2 rec / lambda0
    ens = MotifEnsemble.ei(NE, NI, JE, JI, g=0.5, chain=0.0, convergent=0.0, divergent=0.0, reciprocal=0.8)
    pred = outliers(ens)
    assert pred.visible_values()[0].real == pytest.approx(-1.2, abs=1e-9)
    assert pred.low_rank.real.min() == pytest.approx(-1.0)
    assert float(pred.bulk.real) == pytest.approx(0.9) and float(pred.bulk.imag) == pytest.approx(0.1)
    low, right, high = [], [], []
    for seed in range(2):
        ev = _eigs(ens.sample(key=jax.random.key(seed)))
        low.append(ev.real.min())
        right.append(ev.real.max())
        high.append(np.abs(ev.imag).max())
    # measured realisations: -1.147, -1.191, -1.183; finite-N s.d. ~ 0.02 -> mean of 2 within 0.05
    assert np.mean(low) == pytest.approx(-1.2, abs=0.05)
    assert np.mean(right) == pytest.approx(0.9, rel=0.05)
    assert np.mean(high) == pytest.approx(0.1, abs=0.03)


def test_stability_boundary_matches_numerics():
    tau_c = critical_chain_strength(1000, 0.2, JE - JI)
    grid = MotifEnsemble.ei(NE, NI, JE, JI, g=0.2, chain=tau_c * np.array([0.85, 1.0, 1.15]))
    stable = is_stable(grid)
    assert stable.tolist() == [True, False, False]  # exactly at tau_c: marginal, reported unstable
    for k, factor in ((0, 0.85), (2, 1.15)):
        lam_plus = outliers(grid[k]).values[0].real
        for seed in range(2):
            J = grid[k].sample(key=jax.random.key(seed))
            top = sla.eigs(J, k=2, which="LR", return_eigenvectors=False, v0=np.ones(J.shape[0])).real.max()
            # lambda_+ = 0.896 and 1.097; realisations differ from it by ~0.01
            assert top == pytest.approx(lam_plus, abs=0.04)
            assert (top < 1) == bool(stable[k]), factor


def test_responses_match_dense_solves_and_paradoxical_sign():
    # Shao et al. Fig. 7: g = 0.1; chi_II changes sign at tau* = 0.04375
    taus = np.array([0.02, 0.08])
    grid = MotifEnsemble.ei(NE, NI, JE, JI, g=0.1, chain=taus)
    chi = population_response(grid)
    np.testing.assert_allclose(chi, population_response(grid, method="effective"))
    assert paradoxical(grid).tolist() == [False, True]
    assert chi[0, 1, 1] > 0 > chi[1, 1, 1]
    pop = grid.population
    H = np.stack([pop == 0, pop == 1], 1).astype(float)
    for k in range(2):
        ens = grid[k]
        num = []
        for seed in range(2):
            r = np.linalg.solve(np.eye(ens.N) - ens.sample(key=jax.random.key(seed)), H)
            num.append([[r[pop == p, q].mean() for q in range(2)] for p in range(2)])
        # digest tolerance: within 0.03 of (I - W_eff)^-1 (finite-N fluctuations ~0.01)
        np.testing.assert_allclose(np.mean(num, 0), chi[k], atol=0.03)
        assert np.sign(np.mean(num, 0)[1, 1]) == np.sign(chi[k, 1, 1])


def test_resolvent_response_with_residual_reciprocity():
    # Strong reciprocity of the i.i.d. residual (kappa ~ 0.6) changes the population response through
    # the residual's resolvent g(1) = 1/(1 - D g); (I - W_eff)^-1 misses it. The network has an
    # unstable outlier (1.69), so these responses are its fixed point (I - J)^-1 h, solved densely.
    ens = MotifEnsemble((NE, NI), [[0.4, -1.2], [0.4, -1.2]], [[0.5, 0.6], [0.55, 0.6]],
                        conv_loading=[[0.12, 0.1], [0.1, -0.12]], div_loading=[[0.12, 0.1], [-0.1, 0.12]],
                        latent_corr=[0.8, -0.6], iid_reciprocal=[[0.6, 0.4], [0.4, 0.7]])
    chi = population_response(ens)
    eff = population_response(ens, method="effective")
    pop = ens.population
    H = np.stack([pop == 0, pop == 1], 1).astype(float)
    num = []
    for seed in range(3):
        r = np.linalg.solve(np.eye(ens.N) - ens.sample(key=jax.random.key(seed)), H)
        num.append([[r[pop == p, q].mean() for q in range(2)] for p in range(2)])
    num = np.mean(num, 0)
    # realisations scatter by ~0.03 (measured: chi_EE = -0.585, -0.540, -0.572 against -0.535)
    np.testing.assert_allclose(num, chi, atol=0.06)
    assert abs(eff[0, 0] - num[0, 0]) > 0.12  # the effective-connectivity formula alone is off here
    vis = outliers(ens).visible_values()
    ev = _eigs(ens.sample(key=jax.random.key(0)))
    np.testing.assert_allclose(lr.spectrum.match_outliers(ev, vis), vis, atol=0.1)


# ----------------------------------------------------------------------------- low-rank core
def test_low_rank_ensemble_has_the_outliers_and_the_linear_response():
    ens = MotifEnsemble.ei(NE, NI, JE, JI, g=0.1, chain=0.06)
    lre = low_rank_ensemble(ens)
    assert lre.rank == 2 and lre.n_populations == 2
    pred = outliers(ens).visible_values()
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(np.asarray(lre.overlap)).real), np.sort(pred.real),
                               atol=1e-9)
    net = lre.sample(ens.N, key=jax.random.key(0))
    net = lr.Network(net.m, net.n, net.inputs, net.readouts, population=net.population, nonlinearity="linear")
    chi = population_response(ens)
    T = 40.0
    u = np.zeros((int(T / 0.1), 2))
    u[:, 1] = 0.1  # input into I
    traj = lr.simulate(net, T=T, dt=0.1, inputs=u, record=("readout",))
    # the paradoxical response: the I mean falls when I is driven; theory 0.1 chi[:, 1]
    # (sampling the loadings at N = 1000 moves the overlaps by ~1/sqrt(N))
    np.testing.assert_allclose(traj.readout[-1], 0.1 * chi[:, 1], atol=0.015)
    assert traj.readout[-1, 1] < 0


def test_low_rank_network_from_a_sampled_matrix():
    ens = MotifEnsemble.ei(NE, NI, JE, JI, g=0.1, chain=0.06)
    J = ens.sample(key=jax.random.key(3))
    net = low_rank_network(J, rank=2, population=ens.population)
    num = np.sort(np.linalg.eigvals(np.asarray(net.overlap, float)).real)
    ev = np.linalg.eigvals(J)
    top = ev[np.argsort(-np.abs(ev))[:2]]
    np.testing.assert_allclose(num, np.sort(top.real), atol=1e-4)
    full = low_rank_network(J, rank=2, population=ens.population, keep_bulk=True)
    np.testing.assert_allclose(np.asarray(full.connectivity(), float), J, atol=1e-5)
    # steady state of the rank-2 network against the dense network's linear response
    pop = ens.population
    r_dense = np.linalg.solve(np.eye(ens.N) - J, (pop == 1).astype(float))
    T = 40.0
    u = np.zeros((int(T / 0.1), 2))
    u[:, 1] = 1.0
    traj = lr.simulate(net, T=T, dt=0.1, inputs=u, record=("readout",))
    dense_means = [r_dense[pop == p].mean() for p in range(2)]
    np.testing.assert_allclose(traj.readout[-1], dense_means, atol=0.02)
    with pytest.raises(ValueError, match="exactly one"):
        low_rank_network(J)


# ----------------------------------------------------------------------------- command line
def test_cli_motifs_json(capsys):
    args = ["motifs", "--n-e", "800", "--n-i", "200", "--j-e", "0.65", "--j-i", "1.65", "--g", "0.1",
            "--chain", "0.06", "--reciprocal", "0.12", "--convergent", "0.06", "--divergent", "0.06", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"outliers", "bulk_radius", "stable", "response"}
    lam = [complex(z["re"], z["im"]) for z in out["outliers"]]
    lp, lm = homogeneous_outliers(-1.0, 1000 * 0.1**2 * 0.06)  # S = N g^2 tau = 0.6
    np.testing.assert_allclose(lam, [complex(lp), complex(lm)], atol=1e-9)
    assert out["stable"] is True
    assert out["bulk_radius"] == pytest.approx(0.1 * np.sqrt(1 - 0.12))
    chi = np.array(out["response"])
    assert chi.shape == (2, 2) and chi[1, 1] < 0 < chi[0, 0]  # rows: E, I; columns: input into E, I
    # the example sits exactly on the stability boundary (lambda_+ = 1): response undefined
    assert main(args[:-1][:9] + ["--g", "0.2", "--chain", "0.05", "--reciprocal", "0.1", "--convergent", "0.05",
                                 "--divergent", "0.05", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["stable"] is False and out["outliers"][0]["re"] == pytest.approx(1.0)
    assert out["response"][1][1] is None
    assert main(["motifs", "--chain", "0.03"]) == 0
    text = capsys.readouterr().out
    assert "predicted outliers" in text and "bulk edge" in text and "stable" in text


def test_cli_motifs_bad_values(capsys):
    with pytest.raises(SystemExit) as err:
        main(["motifs", "--chain", "0.2", "--convergent", "0.01"])
    assert err.value.code == 2
    msg = capsys.readouterr().err
    assert msg.count("\n") == 1 and "sqrt(convergent * divergent)" in msg
    with pytest.raises(SystemExit):
        main(["motifs", "--n-i", "0"])
    assert "--n-i must be" in capsys.readouterr().err


def test_benchmark_smoke(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_motifs.py"
    spec = importlib.util.spec_from_file_location("bench_motifs", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n| ") == 3 and "population-specific" in out  # three grids
