"""lowrank_rnn.causal: Izhikevich ground-truth networks, Granger causality and AUROC (Lu et al. 2023)."""

from __future__ import annotations

import re

import jax
import numpy as np
import pytest

from lowrank_rnn import ArgumentError, ArgumentTypeError, causal

# ---------------------------------------------------------------- izhikevich_network


@pytest.fixture(scope="module")
def batch():
    return causal.izhikevich_network(16, 4, 0.4, key=jax.random.key(3), steps=3000, networks=3)


def test_izhikevich_same_key_same_network():
    a = causal.izhikevich_network(4, 1, 0.5, key=jax.random.key(7), steps=400)
    b = causal.izhikevich_network(4, 1, 0.5, key=jax.random.key(7), steps=400)
    c = causal.izhikevich_network(4, 1, 0.5, key=jax.random.key(8), steps=400)
    np.testing.assert_array_equal(a.v, b.v)
    np.testing.assert_array_equal(a.M, b.M)
    assert not np.array_equal(a.v, c.v)


def test_izhikevich_batch_member_equals_single_network(batch):
    keys = jax.random.split(jax.random.key(3), 3)
    one = causal.izhikevich_network(16, 4, 0.4, key=keys[1], steps=3000)
    np.testing.assert_allclose(batch.v[1], one.v, rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(batch.M[1], one.M)
    assert batch.batched and not one.batched


def test_izhikevich_shapes_and_connectivity(batch):
    n, ne = 20, 16
    assert batch.v.shape == batch.v_normed.shape == batch.spikes.shape == (3, 3001, n)
    assert batch.M.shape == (3, n, n)
    M = batch.M
    assert set(np.unique(M)) <= {-5.0, 0.0, 5.0}
    assert (M[:, :, :ne] >= 0).all() and (M[:, :, ne:] <= 0).all()  # sign of the presynaptic type
    assert (np.diagonal(M, axis1=1, axis2=2) == 0).all()
    density = (M != 0).sum() / (3 * n * (n - 1))
    assert abs(density - 0.4) < 0.06  # 1140 Bernoulli(0.4) draws: s.d. 0.015
    np.testing.assert_array_equal(batch.v[:, 0], -65.0)


def test_izhikevich_cell_parameters(batch):
    ne = 16
    assert np.all(batch.b == -0.1)
    assert np.all(batch.a[:, :ne] == pytest.approx(0.02))
    assert np.all((batch.a[:, ne:] >= 0.02) & (batch.a[:, ne:] <= 0.1))
    assert np.all((batch.c[:, :ne] >= -65) & (batch.c[:, :ne] <= -50)) and np.all(batch.c[:, ne:] == -65)
    # c = -65 + 15 r^2 and d = 8 - 6 r^2 share one r per excitatory cell
    np.testing.assert_allclose((batch.c[:, :ne] + 65) / 15, (8 - batch.d[:, :ne]) / 6, atol=1e-5)
    assert np.all(batch.d[:, ne:] == 2)


def test_izhikevich_spiking_statistics(batch):
    rates = batch.firing_rates
    exc, inh = rates[:, :16], rates[:, 16:]
    # regular-spiking E cells fire tens of Hz, fast-spiking I cells (a up to 0.1) over 50 Hz; the
    # authors' released N = 20 networks show the same split (E about 20 Hz, I over 100 Hz)
    assert 5 < exc.mean() < 40 and 50 < inh.mean() < 250
    assert (rates > 1).all()  # every neuron fires
    assert inh.mean() > 3 * exc.mean()
    # spikes are the recorded crossings, and a spike is reset at the next step
    assert batch.spikes.any()
    t = np.argwhere(batch.spikes[:, :-1])
    assert (batch.v[t[:, 0], t[:, 1] + 1, t[:, 2]] < 30).all()


def test_izhikevich_normalised_voltages(batch):
    z = batch.v_normed
    np.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=1), 1, atol=1e-4)
    clipped = np.minimum(batch.v, 30.0)
    expected = (clipped - clipped.mean(axis=1, keepdims=True)) / clipped.std(axis=1, keepdims=True)
    np.testing.assert_allclose(z, expected, atol=1e-3)


def test_izhikevich_no_connections_means_independent_cells():
    a = causal.izhikevich_network(3, 1, 0.0, key=jax.random.key(0), steps=300)
    assert not a.M.any()
    full = causal.izhikevich_network(3, 1, 1.0, key=jax.random.key(0), steps=300)
    assert (full.M != 0).sum() == 12


@pytest.mark.parametrize("kwargs, name", [
    (dict(p=1.5), "p"), (dict(p=-0.1), "p"), (dict(p=float("nan")), "p"),
    (dict(n_exc=0, n_inh=0), "n_exc + n_inh"), (dict(n_exc=-1), "n_exc"), (dict(n_inh=-2), "n_inh"),
    (dict(steps=0), "steps"), (dict(networks=0), "networks"), (dict(s0=-1.0), "s0"),
    (dict(input_var=-1.0), "input_var"),
])
def test_izhikevich_bad_arguments(kwargs, name, monkeypatch):
    monkeypatch.setattr(causal._izhikevich, "_simulate_batch", None)  # nothing may compile
    args = dict(n_exc=4, n_inh=1, p=0.5, key=jax.random.key(0), steps=100) | kwargs
    with pytest.raises(ArgumentError, match=re.escape(name)):
        causal.izhikevich_network(**args)


def test_izhikevich_bad_types():
    with pytest.raises(ArgumentTypeError, match="key"):
        causal.izhikevich_network(4, 1, 0.5, key=0)
    with pytest.raises(ArgumentTypeError, match="n_exc"):
        causal.izhikevich_network(4.5, 1, 0.5, key=jax.random.key(0))


# ---------------------------------------------------------------- granger

#: a VAR(2) on 5 variables: (target, source, lag, coefficient) of each cross-influence
_EDGES = [(1, 0, 1, 0.4), (2, 1, 1, 0.35), (0, 3, 1, -0.4), (3, 4, 2, 0.4)]


def _var_process(T=4000, seed=0):
    rng = np.random.default_rng(seed)
    n = 5
    A = np.zeros((2, n, n))
    A[0] += 0.3 * np.eye(n)
    for i, j, lag, coef in _EDGES:
        A[lag - 1, i, j] = coef
    x = np.zeros((T + 100, n))
    noise = rng.normal(size=x.shape)
    for t in range(2, len(x)):
        x[t] = A[0] @ x[t - 1] + A[1] @ x[t - 2] + noise[t] + 0.5
    truth = np.zeros((n, n), bool)
    for i, j, _, _ in _EDGES:
        truth[i, j] = True
    return x[100:], truth


def _direct_F(x, order):
    """F[i, j] and the F-test p-values from separate least-squares fits of every full and reduced model."""
    import scipy.stats

    T, n = x.shape
    lagged = {(lag, j): x[order - lag:T - lag, j] for lag in range(1, order + 1) for j in range(n)}
    y = x[order:]
    full_cols = [np.ones(T - order)] + [lagged[lag, j] for lag in range(1, order + 1) for j in range(n)]
    Z = np.column_stack(full_cols)
    rss = ((y - Z @ np.linalg.lstsq(Z, y, rcond=None)[0]) ** 2).sum(axis=0)
    F, p = np.zeros((n, n)), np.full((n, n), np.nan)
    for j in range(n):
        cols = [np.ones(T - order)] + [lagged[lag, k] for lag in range(1, order + 1) for k in range(n) if k != j]
        Zr = np.column_stack(cols)
        rss_r = ((y - Zr @ np.linalg.lstsq(Zr, y, rcond=None)[0]) ** 2).sum(axis=0)
        for i in range(n):
            if i != j:
                F[i, j] = np.log(rss_r[i] / rss[i])
                dof = len(y) - Z.shape[1]
                p[i, j] = scipy.stats.f.sf((rss_r[i] - rss[i]) / order / (rss[i] / dof), order, dof)
    return F, p


def test_granger_matches_direct_least_squares():
    x, _ = _var_process(T=1500)
    res = causal.granger(x, order=3)
    F, p = _direct_F(x, 3)
    np.testing.assert_allclose(res.F, F, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(res.pvalues, p, rtol=1e-6, atol=1e-14)
    assert res.order == 3 and res.criterion is None and res.information is None


def test_granger_finds_exactly_the_true_edges():
    x, truth = _var_process()
    for criterion in ("aic", "bic"):
        res = causal.granger(x, criterion=criterion, max_order=6)
        assert res.order >= 2  # an edge acts at lag 2
        np.testing.assert_array_equal(res.significant(0.01), truth)
        assert res.F[truth].min() > 10 * res.F[~truth].max()
    assert causal.granger(x, criterion="bic", max_order=6).order == 2


def test_granger_fdr_adjustment():
    import scipy.stats

    x, _ = _var_process(T=800, seed=3)
    res = causal.granger(x, order=2)
    off = ~np.eye(5, dtype=bool)
    np.testing.assert_allclose(res.qvalues[off], scipy.stats.false_discovery_control(res.pvalues[off]), rtol=1e-12)
    assert np.isnan(res.pvalues.diagonal()).all() and np.isnan(res.qvalues.diagonal()).all()
    assert (res.F.diagonal() == 0).all() and not res.significant(1.0).diagonal().any()


def test_granger_information_criteria():
    x, _ = _var_process(T=200)
    aic = causal.granger(x, criterion="aic", max_order=10).information
    bic = causal.granger(x, criterion="bic", max_order=10).information
    # M = 190 observations, k = 25 q lag coefficients: the corrected AIC needs M > k + 1 (q <= 7)
    assert np.isfinite(aic[:7]).all() and np.isnan(aic[7:]).all()
    assert np.isfinite(bic).all()
    assert len(aic) == len(bic) == 10


def test_granger_bad_input():
    x, _ = _var_process(T=300)
    bad = x.copy()
    bad[5, 2] = np.nan
    with pytest.raises(ArgumentError, match="non-finite"):
        causal.granger(bad)
    with pytest.raises(ArgumentError, match="time steps"):
        causal.granger(x[:20], order=4)  # 4 * 6 + 2 = 26 steps needed
    with pytest.raises(ArgumentError, match="time steps"):
        causal.granger(x[:7])
    const = x.copy()
    const[:, 1] = 2.0
    with pytest.raises(ArgumentError, match="column 1 is constant"):
        causal.granger(const)
    with pytest.raises(ArgumentError, match="collinear"):
        causal.granger(np.column_stack([x, x[:, 0] + 2 * x[:, 1]]), order=1)
    with pytest.raises(ArgumentError, match="criterion"):
        causal.granger(x, criterion="hqic")
    with pytest.raises(ArgumentError, match="2-D"):
        causal.granger(x[:, 0])
    with pytest.raises(ArgumentError, match="at least 2 columns"):
        causal.granger(x[:, :1])
    with pytest.raises(ArgumentError, match="order"):
        causal.granger(x, order=0)
    with pytest.raises(ArgumentTypeError, match="max_order"):
        causal.granger(x, max_order=2.5)


# ---------------------------------------------------------------- auroc


def test_auroc_matches_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    for trial in range(20):
        n = int(rng.integers(3, 9))
        M = rng.choice([-5.0, 0.0, 0.0, 5.0], size=(n, n))
        S = rng.integers(0, 4, size=(n, n)).astype(float)  # many ties
        if trial % 2:
            S = rng.normal(size=(n, n))
        for diag in (True, False):
            keep = np.ones((n, n), bool) if diag else ~np.eye(n, dtype=bool)
            y = np.abs(M[keep]) > 0
            if y.all() or not y.any():
                continue
            assert causal.auroc(M, S, include_diagonal=diag) == pytest.approx(roc_auc_score(y, S[keep]), abs=1e-12)


def test_auroc_extremes_and_diagonal():
    M = np.array([[0, 1, 0], [1, 0, 1], [0, 0, 0]], float)
    assert causal.auroc(M, M) == 1.0 and causal.auroc(M, -M) == 0.0
    assert causal.auroc(M, np.zeros_like(M)) == 0.5  # all tied
    # the diagonal of a score with no self-connections in M counts as negatives
    S = np.where(M != 0, 1.0, 0.5)
    np.fill_diagonal(S, 2.0)
    assert causal.auroc(M, S, include_diagonal=False) == 1.0
    # with it: each connection beats the 3 off-diagonal negatives and loses to the 3 diagonal ones
    assert causal.auroc(M, S) == 0.5


def test_auroc_degenerate_and_bad_input():
    with pytest.raises(ArgumentError, match="no connection"):
        causal.auroc(np.zeros((3, 3)), np.ones((3, 3)))
    full = np.ones((3, 3)) - np.eye(3)
    with pytest.raises(ArgumentError, match="only connections"):
        causal.auroc(full, np.ones((3, 3)), include_diagonal=False)
    assert causal.auroc(full, full) == 1.0  # the diagonal supplies the negatives
    with pytest.raises(ArgumentError, match="square"):
        causal.auroc(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ArgumentError, match="shape of M"):
        causal.auroc(full, np.ones((4, 4)))
    with pytest.raises(ArgumentError, match="non-finite"):
        causal.auroc(full, np.full((3, 3), np.nan))
    with pytest.raises(ArgumentTypeError, match="include_diagonal"):
        causal.auroc(full, full, include_diagonal="no")
