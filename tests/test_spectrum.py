"""Spectrum: predicted bulk and outliers against numerical eigenvalues."""

import jax
import numpy as np
import pytest

from lowrank_rnn import Ensemble, Network, spectrum


def test_rank_one_outlier_within_three_standard_errors():
    """Outlier of J = g chi + m n^T / N at N = 2000 against E[n m] = M_m M_n + cov_mn.

    The standard error is the finite-N spread of the outlier from `spectrum.outlier_std`
    (fluctuations of n^T m / N and of the first bulk correction n^T chi m / N; checked against the
    spread of n^T m / N over 300 seeds: 0.0567 measured, 0.0557 predicted). The test statistic,
    fixed in advance, is the mean over 4 networks, within 3 standard errors of that mean; each
    network is also checked tightly against the prediction from its own overlap matrix.
    """
    N = 2000
    ens = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=0.8)
    pred = spectrum.predict(ens)
    se = spectrum.outlier_std(ens, N)
    found = []
    for seed in range(4):
        net = ens.sample(N, key=jax.random.key(seed))
        eigs = spectrum.eigenvalues(net)
        lam = spectrum.match_outliers(eigs, pred.outliers)[0]
        assert abs(lam.imag) < 1e-8
        found.append(lam.real)
        # The network's own overlap matrix predicts its outlier far more tightly: only the bulk
        # correction theta_1 / theta_0 ~ g sqrt(E[n^2] E[m^2] / N) / lambda remains.
        own = spectrum.predict(net).outliers[0].real
        bulk_se = 0.8 * np.sqrt(5.0 * 2.21 / N) / 2.2
        assert abs(lam.real - own) < 3 * bulk_se
        # bulk: the rest of the spectrum lies in a disk of radius g (edge fluctuations at N = 2000
        # are a few percent; 6% allows them)
        rest = np.sort(np.abs(eigs))[:-1]
        assert abs(rest[-1] - 0.8) < 0.06 * 0.8
    assert abs(np.mean(found) - 2.2) < 3 * se / np.sqrt(len(found))


def test_rank_two_complex_outliers():
    ens = Ensemble.from_directions(
        {"m1": {"x1": 1.0}, "m2": {"x2": 1.0},
         "n1": {"x1": 1.6, "x2": -0.8, "z1": 0.5}, "n2": {"x1": 0.8, "x2": 1.6, "z2": 0.5}}, g=0.6)
    np.testing.assert_allclose(ens.overlap, [[1.6, -0.8], [0.8, 1.6]], atol=1e-12)
    pred = spectrum.predict(ens)
    np.testing.assert_allclose(sorted(pred.outliers.imag), [-0.8, 0.8], atol=1e-12)
    np.testing.assert_allclose(pred.outliers.real, [1.6, 1.6], atol=1e-12)
    assert pred.visible.all()
    net = ens.sample(2000, key=jax.random.key(3))
    eigs = spectrum.eigenvalues(net)
    near = spectrum.match_outliers(eigs, pred.outliers)
    own = spectrum.predict(net).outliers
    # Entries of n^T m / N fluctuate by about sqrt(E[n^2] E[m^2] / N) ~ 0.045; the eigenvalues by
    # about as much. 4 such units for two outliers in two dimensions.
    assert np.all(np.abs(near - pred.outliers) < 4 * 0.045)
    assert np.all(np.abs(near - spectrum.match_outliers(own, near)) < 0.05)


def test_predict_from_user_network_without_bulk():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(300, 1))
    n = 3.0 * m + rng.normal(size=(300, 1))
    net = Network(m=m, n=n)
    eigs = spectrum.eigenvalues(net)
    pred = spectrum.predict(net)
    assert pred.bulk_radius == 0.0
    np.testing.assert_allclose(eigs[0].real, pred.outliers[0].real, rtol=1e-5)
    assert np.all(np.abs(eigs[1:]) < 1e-5)  # rank one: every other eigenvalue is zero


def test_bad_arguments():
    with pytest.raises(TypeError, match="Ensemble or a Network"):
        spectrum.predict(np.eye(3))
    with pytest.raises(TypeError, match="Network"):
        spectrum.eigenvalues(np.eye(3))
    ens2 = Ensemble(names=("m1", "m2", "n1", "n2"), mean=np.zeros(4), cov=np.eye(4))
    with pytest.raises(ValueError, match="rank-one"):
        spectrum.outlier_std(ens2, 100)


def test_plot_draws(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    ens = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=0.5)
    net = ens.sample(300, key=jax.random.key(0))
    ax = spectrum.plot(ens, net)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("predicted bulk" in t for t in labels) and any("numerical" in t for t in labels)


def _dense_J(net):
    """J = bulk + m n^T / N formed in float64."""
    m, n = np.asarray(net.m, np.float64), np.asarray(net.n, np.float64)
    J = m @ n.T / net.N
    return J if net.bulk is None else J + np.asarray(net.bulk, np.float64)


def _dense_eigenvalues(net):
    """Eigenvalues of the dense float64 J, with the rounding noise of the zero eigenvalues set to 0."""
    J = _dense_J(net)
    eigs = np.linalg.eigvals(J)
    eigs = np.where(np.abs(eigs) < 1e-10 * np.linalg.norm(J, 2), 0.0, eigs)
    return spectrum._sorted(eigs)


@pytest.mark.parametrize("directions", [
    {"m1": {"x1": 1.0}, "n1": {"x1": 2.0, "z": 0.5}},                              # one positive outlier
    {"m1": {"x1": 1.0}, "n1": {"x1": -1.5}},                                        # negative: below the zeros
    {"m1": {"x1": 1.0}, "m2": {"x2": 1.0},
     "n1": {"x1": 1.6, "x2": -0.8, "z1": 0.5}, "n2": {"x1": 0.8, "x2": 1.6, "z2": 0.5}},  # complex pair
    {"m1": {"x1": 1.0}, "m2": {"x2": 1.0}, "m3": {"x3": 1.0},
     "n1": {"x1": 1.2}, "n2": {"x2": -0.7}, "n3": {"x3": 0.4, "x1": 0.3}},          # both signs, rank 3
])
def test_pure_low_rank_eigenvalues_match_the_dense_ones(directions):
    """Without a bulk the eigenvalues come from the R x R overlap matrix: the same values, length,
    order and dtype as the dense decomposition (whose N - R zeros are rounding noise)."""
    net = Ensemble.from_directions(directions).sample(60, key=jax.random.key(1))
    assert net.bulk is None
    eigs = spectrum.eigenvalues(net)
    dense = _dense_eigenvalues(net)
    assert eigs.shape == (60,) and eigs.dtype == np.complex128
    np.testing.assert_allclose(eigs, dense, atol=1e-10)
    R = net.m.shape[1]
    assert np.count_nonzero(eigs) == R  # the other N - R are exactly 0


def test_pure_low_rank_eigenvalues_do_not_decompose_the_dense_matrix(monkeypatch):
    """At N = 3000 the dense route is an N x N eigendecomposition; the overlap route is R x R."""
    shapes = []
    eigvals = np.linalg.eigvals

    def recording(a):
        shapes.append(np.shape(a))
        return eigvals(a)

    monkeypatch.setattr(np.linalg, "eigvals", recording)
    ens = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0)
    net = ens.sample(3000, key=jax.random.key(0))
    eigs = spectrum.eigenvalues(net)
    assert shapes == [(1, 1)]
    assert eigs.shape == (3000,)
    np.testing.assert_allclose(eigs[0], spectrum.predict(net).outliers[0], rtol=1e-12)
    assert np.all(eigs[1:] == 0)


def test_eigenvalues_with_a_bulk_stay_dense():
    net = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=0.5).sample(80, key=jax.random.key(2))
    eigs = spectrum.eigenvalues(net)
    np.testing.assert_allclose(eigs, spectrum._sorted(np.linalg.eigvals(_dense_J(net))), atol=1e-10)
    assert np.count_nonzero(np.abs(eigs) < 1e-8) == 0
