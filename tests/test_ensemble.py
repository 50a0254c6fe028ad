"""Ensembles: derived statistics, sampling statistics, and errors on bad descriptions."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowrank_rnn import ArgumentError, ArgumentTypeError, Ensemble, Network


def _rank_two_with_io():
    """A rank-two ensemble with two inputs and a readout, correlated through shared directions."""
    return Ensemble.from_directions(
        {
            "m1": {"a": 1.0, "y1": 0.8},
            "m2": {"b": 1.0, "y2": 0.6},
            "n1": {"c": 1.2, "y1": 1.5, "ctx": 0.4},
            "n2": {"d": 0.9, "y2": 2.0},
            "I1": {"c": 1.2},
            "I2": {"ctx": 1.0, "e": 0.3},
            "w1": {"a": 1.0},
        },
        means={"m1": 0.5, "n1": -0.3, "w1": 0.2},
        g=0.7,
    )


def test_canonical_order_and_sizes():
    ens = Ensemble(names=("w1", "n1", "I1", "m1"), mean=[4.0, 2.0, 3.0, 1.0], cov=np.diag([4.0, 2.0, 3.0, 1.0]))
    assert ens.names == ("m1", "n1", "I1", "w1")
    np.testing.assert_allclose(ens.mean[0], [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(np.diag(ens.cov[0]), [1.0, 2.0, 3.0, 4.0])
    assert (ens.rank, ens.n_inputs, ens.n_readouts, ens.n_populations) == (1, 1, 1, 1)


def test_derived_overlaps():
    ens = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.5, cov_mn=0.3, g=0.5)
    assert ens.overlap.shape == (1, 1)
    np.testing.assert_allclose(ens.overlap[0, 0], 1.1 * 2.0 + 0.3)
    # Detection design of Mastrogiuseppe & Ostojic 2018: m = w + 2y, n = I + 2y.
    det = Ensemble.from_directions({"m1": {"w": 1.2, "y": 2.0}, "n1": {"I": 1.2, "y": 2.0},
                                    "I1": {"I": 1.2}, "w1": {"w": 1.2}})
    np.testing.assert_allclose(det.overlap, [[4.0]])
    np.testing.assert_allclose(det.input_overlaps, [[1.44]])
    np.testing.assert_allclose(det.readout_overlaps, [[1.44]])
    np.testing.assert_allclose(det.moment("m1", "m1"), 1.44 + 4.0)


def test_mixture_overlap_is_weighted_average():
    a = Ensemble.rank_one(mean_m=1.0, mean_n=1.0, std_m=1.0, std_n=1.0, cov_mn=0.5)
    b = Ensemble.rank_one(mean_m=-1.0, mean_n=2.0, std_m=1.0, std_n=1.0, cov_mn=-0.2)
    mix = Ensemble.mixture([a, b], weights=[0.25, 0.75])
    assert mix.n_populations == 2
    np.testing.assert_allclose(mix.overlap[0, 0], 0.25 * 1.5 + 0.75 * (-2.2))


def _check_moments(loads, mean, cov, nsig=4.5):
    """Sample mean and covariance agree with (mean, cov) within nsig standard errors, entrywise."""
    N = loads.shape[0]
    var = np.diag(cov)
    se_mean = np.sqrt(var / N)
    assert np.all(np.abs(loads.mean(0) - mean) <= nsig * se_mean + 1e-12)
    emp = np.cov(loads, rowvar=False)
    # Var of a sample covariance of Gaussians: (s_aa s_bb + s_ab^2) / N.
    se_cov = np.sqrt((np.outer(var, var) + cov**2) / N)
    assert np.all(np.abs(emp - cov) <= nsig * se_cov + 1e-12), np.max(np.abs(emp - cov) / (se_cov + 1e-12))


def _loadings(net: Network):
    return np.concatenate([np.asarray(a, np.float64) for a in (net.m, net.n, net.inputs, net.readouts)], axis=1)


def test_sampled_loadings_reproduce_statistics(getkey):
    ens = _rank_two_with_io().replace(g=0.0)  # no N x N bulk at N = 40000
    net = ens.sample(40_000, key=getkey())
    assert net.m.shape == (40_000, 2) and net.inputs.shape == (40_000, 2) and net.readouts.shape == (40_000, 1)
    _check_moments(_loadings(net), ens.mean[0], ens.cov[0])


def test_sampled_bulk_has_variance_g2_over_N(getkey):
    ens = Ensemble.rank_one(mean_m=0.0, mean_n=0.0, std_m=1.0, std_n=1.0, g=1.3)
    N = 1000
    net = ens.sample(N, key=getkey())
    bulk = np.asarray(net.bulk, np.float64)
    # N^2 = 1e6 entries: the sample variance has relative standard error sqrt(2 / N^2).
    assert abs(bulk.var() * N / 1.3**2 - 1.0) < 5 * np.sqrt(2.0) / N
    assert abs(bulk.mean()) < 5 * 1.3 / N  # standard error of the mean: (g / sqrt(N)) / N


def test_mixture_sampling_per_population(getkey):
    a = Ensemble.rank_one(mean_m=1.0, mean_n=1.0, std_m=1.0, std_n=0.5, cov_mn=0.3)
    b = Ensemble.rank_one(mean_m=-1.0, mean_n=2.0, std_m=0.5, std_n=1.0, cov_mn=-0.2)
    mix = Ensemble.mixture([a, b], weights=[0.3, 0.7])
    net = mix.sample(30_001, key=getkey())
    pop = np.asarray(net.population)
    counts = np.bincount(pop)
    assert counts.sum() == 30_001 and abs(counts[0] - 0.3 * 30_001) <= 1
    loads = _loadings(net)
    for p in range(2):
        _check_moments(loads[pop == p], mix.mean[p], mix.cov[p])


def test_singular_covariance_is_allowed(getkey):
    """m = w exactly (the Go–Nogo design) has a singular covariance; sampling must still work."""
    ens = Ensemble.from_directions({"m1": {"w": 2.0}, "n1": {"a": 2.0}, "I1": {"a": 2.0}, "w1": {"w": 2.0}})
    net = ens.sample(500, key=getkey())
    np.testing.assert_allclose(np.asarray(net.m), np.asarray(net.readouts), atol=1e-5)
    np.testing.assert_allclose(np.asarray(net.n), np.asarray(net.inputs), atol=1e-5)


# ------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("names, match", [
    (("m1",), "pair up"),
    (("m1", "n2"), "pair up"),
    (("m2", "n2"), "numbered 1..1"),
    (("m1", "n1", "x1"), "not a loading name"),
    (("m1", "n1", "m1"), "more than once"),
    (("m1", "n1", "I2"), "numbered 1..1"),
    (("n1", "m1", "w0"), "not a loading name"),
    ((), "at least one"),
])
def test_inconsistent_names(names, match):
    P = len(names)
    with pytest.raises(ValueError, match=match):
        Ensemble(names=names, mean=np.zeros(P), cov=np.eye(P))


def test_names_must_be_a_sequence_of_strings():
    with pytest.raises(TypeError, match="names"):
        Ensemble(names="m1n1", mean=[0, 0], cov=np.eye(2))


def test_covariance_not_symmetric():
    with pytest.raises(ValueError, match="not symmetric"):
        Ensemble(names=("m1", "n1"), mean=[0, 0], cov=[[1.0, 0.5], [0.2, 1.0]])


def test_covariance_not_psd():
    with pytest.raises(ValueError, match="not positive semi-definite"):
        Ensemble(names=("m1", "n1"), mean=[0, 0], cov=[[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="cov_mn must satisfy"):
        Ensemble.rank_one(mean_m=0, mean_n=0, std_m=1, std_n=1, cov_mn=1.5)


def test_negative_g():
    with pytest.raises(ValueError, match="g must be >= 0"):
        Ensemble(names=("m1", "n1"), mean=[0, 0], cov=np.eye(2), g=-0.1)


def test_shape_and_weight_errors():
    with pytest.raises(ValueError, match="names lists 2"):
        Ensemble(names=("m1", "n1"), mean=[0, 0, 0], cov=np.eye(3))
    with pytest.raises(ValueError, match="cov must have shape"):
        Ensemble(names=("m1", "n1"), mean=[0, 0], cov=np.eye(3))
    with pytest.raises(ValueError, match="weights are required"):
        Ensemble(names=("m1", "n1"), mean=np.zeros((2, 2)), cov=np.stack([np.eye(2)] * 2))
    with pytest.raises(ValueError, match="sum to 1"):
        Ensemble(names=("m1", "n1"), mean=np.zeros((2, 2)), cov=np.stack([np.eye(2)] * 2), weights=[0.5, 0.6])
    with pytest.raises(ValueError, match="positive"):
        Ensemble(names=("m1", "n1"), mean=np.zeros((2, 2)), cov=np.stack([np.eye(2)] * 2), weights=[1.5, -0.5])
    with pytest.raises(ValueError, match="non-finite"):
        Ensemble(names=("m1", "n1"), mean=[np.nan, 0], cov=np.eye(2))
    with pytest.raises(ValueError, match="disagree on the number of populations"):
        Ensemble(names=("m1", "n1"), mean=np.zeros((1, 2)), cov=np.eye(2))


def test_sample_argument_errors():
    ens = Ensemble.rank_one(mean_m=0, mean_n=0, std_m=1, std_n=1)
    with pytest.raises(ValueError, match="N must be"):
        ens.sample(0, key=jax.random.key(0))
    with pytest.raises(TypeError, match="key"):
        ens.sample(10, key=0)
    with pytest.raises(TypeError, match="positional"):
        Ensemble.rank_one(1.0, 2.0, 1.0, 1.0)


def test_replace_rechecks_and_keeps_shapes():
    ens = Ensemble.rank_one(mean_m=1.0, mean_n=2.0, std_m=1.0, std_n=1.0, g=0.5)
    moved = ens.replace(mean=[0.5, 0.5])
    np.testing.assert_allclose(moved.overlap, [[0.25]])
    assert moved.g == 0.5 and ens.replace(g=1.0).g == 1.0
    with pytest.raises(ValueError, match="not positive semi-definite"):
        ens.replace(cov=[[1.0, 3.0], [3.0, 1.0]])
    with pytest.raises(TypeError, match="unknown fields"):
        ens.replace(rank=2)


# ---------------------------------------------------------------- dtypes and degenerate inputs (issue 20)
@pytest.mark.parametrize("dtype", [jnp.int32, "int8", np.bool_, jnp.complex64, None, "not a dtype"])
def test_sample_refuses_non_floating_dtypes(dtype):
    """int32 used to round the loadings to integers, silently."""
    ens = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=0.5)
    with pytest.raises(ArgumentTypeError, match="dtype must be a floating dtype"):
        ens.sample(20, key=jax.random.key(0), dtype=dtype)
    with pytest.raises(ArgumentTypeError, match="dtype must be a floating dtype"):
        Network(m=np.ones(3), n=np.ones(3), dtype=dtype)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32])
def test_sample_honours_floating_dtypes(dtype):
    """float16 used to come back as float32."""
    net = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=0.5).sample(
        20, key=jax.random.key(0), dtype=dtype)
    for field in ("m", "n", "inputs", "readouts", "bulk"):
        assert getattr(net, field).dtype == dtype, field


def test_float64_needs_x64_and_works_with_it():
    ens = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=0.5)
    if not jax.config.jax_enable_x64:
        with pytest.raises(ArgumentError, match="JAX_ENABLE_X64=1"):
            ens.sample(20, key=jax.random.key(0), dtype=jnp.float64)
    # in a fresh process with 64-bit mode on: float64 throughout, same draws as float32 to rounding
    code = ("import jax, jax.numpy as jnp, numpy as np, lowrank_rnn as lr\n"
            "e = lr.Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=0.5)\n"
            "a = e.sample(50, key=jax.random.key(0), dtype=jnp.float64)\n"
            "b = e.sample(50, key=jax.random.key(0))\n"
            "assert {str(getattr(a, f).dtype) for f in ('m', 'n', 'bulk')} == {'float64'}\n"
            "assert {str(getattr(b, f).dtype) for f in ('m', 'n', 'bulk')} == {'float32'}\n"
            "np.testing.assert_allclose(a.m, b.m, rtol=1e-6, atol=1e-6)\n"
            "print('ok')\n")
    env = {**os.environ, "JAX_ENABLE_X64": "1"}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]


def test_huge_g_is_refused_not_infinite():
    """g = 1e300 used to give a bulk of inf."""
    ens = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=1e300)
    with pytest.raises(ArgumentError, match="g = 1e.300 is too large for dtype float32"):
        ens.sample(20, key=jax.random.key(0))
    big = Ensemble(names=("m1", "n1"), mean=[1e100, 2.0], cov=np.eye(2))
    with pytest.raises(ArgumentError, match="too large for dtype float32"):
        big.sample(20, key=jax.random.key(0))
    with pytest.raises(ArgumentError, match="mean_m must be <= 1e.153"):  # its square would overflow float64
        Ensemble.rank_one(mean_m=1e300, mean_n=2.0, std_m=1.0, std_n=1.0)
    with pytest.raises(ArgumentError, match="second moments E.a b. overflow float64"):
        Ensemble(names=("m1", "n1"), mean=[1e200, 2.0], cov=np.eye(2))
    with pytest.raises(ArgumentError, match="N = 10000000000 neurons would need"):
        Ensemble.rank_one(mean_m=1.0, mean_n=2.0, std_m=1.0, std_n=1.0, g=0.5).sample(10**10, key=jax.random.key(0))


def test_network_non_finite_and_degenerate_inputs():
    ones = np.ones(4)
    with pytest.raises(ArgumentError, match="bulk contains non-finite"):  # used to say "g must be finite"
        Network(m=ones, n=ones, bulk=np.full((4, 4), np.nan))
    with pytest.raises(ArgumentError, match="bulk contains non-finite"):
        Network(m=ones, n=ones, bulk=np.full((4, 4), np.nan), g=0.5)
    with pytest.raises(ArgumentError, match="bulk has values beyond the range of float32"):
        Network(m=ones, n=ones, bulk=np.full((4, 4), 1e300))
    with pytest.raises(ArgumentError, match="N >= 1"):
        Network(m=np.ones((0, 1)), n=np.ones((0, 1)))
    with pytest.raises(ArgumentTypeError, match="m must be an array of real numbers"):
        Network(m=["1.1", "2", "3", "4"], n=ones)
    with pytest.raises(ArgumentTypeError, match="population must be an array of integer labels"):
        Network(m=ones, n=ones, population=np.array(["a", "b", "c", "d"]))
    with pytest.raises(ArgumentError, match="nonlinearity must be one of"):
        Network(m=ones, n=ones, nonlinearity=None)


@pytest.mark.parametrize("bad", [True, "1.1", b"1", np.bool_(True), 1 + 2j])
def test_string_bool_and_complex_numbers_are_refused(bad):
    """float('1.1') and float(True) used to let these through as 1.1 and 1.0."""
    with pytest.raises(ArgumentTypeError, match="g must be a real number"):
        Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0, g=bad)
    with pytest.raises(ArgumentTypeError, match="g must be a real number"):
        Network(m=np.ones(3), n=np.ones(3), bulk=np.eye(3), g=bad)
    with pytest.raises(ArgumentTypeError, match="mean must be an array of real numbers"):
        Ensemble(names=("m1", "n1"), mean=["1.1", bad], cov=np.eye(2))


def test_sample_refuses_zero_neurons():
    ens = Ensemble.rank_one(mean_m=1.1, mean_n=2.0, std_m=1.0, std_n=1.0)
    for N in (0, -3):
        with pytest.raises(ArgumentError, match="N must be an integer >= 1"):
            ens.sample(N, key=jax.random.key(0))
    with pytest.raises(ArgumentTypeError, match="N must be an integer"):
        ens.sample("10", key=jax.random.key(0))


def test_mixture_of_a_mixture_flattens_the_populations():
    """Used to fail with 'weights has 2 entries for 3 populations'."""
    a = Ensemble.rank_one(mean_m=1.0, mean_n=1.0, std_m=1.0, std_n=1.0)
    b = Ensemble.rank_one(mean_m=-1.0, mean_n=2.0, std_m=0.5, std_n=1.0)
    c = Ensemble.rank_one(mean_m=0.0, mean_n=3.0, std_m=1.0, std_n=0.5)
    nested = Ensemble.mixture([Ensemble.mixture([a, b], weights=[0.4, 0.6]), c], weights=[0.5, 0.5])
    flat = Ensemble.mixture([a, b, c], weights=[0.2, 0.3, 0.5])
    np.testing.assert_allclose(nested.weights, flat.weights)
    np.testing.assert_array_equal(nested.mean, flat.mean)
    np.testing.assert_allclose(nested.overlap, flat.overlap)
    with pytest.raises(ArgumentError, match="one entry per component: 2 components, got 3 weights"):
        Ensemble.mixture([a, b], weights=[0.2, 0.3, 0.5])
    with pytest.raises(ArgumentTypeError, match="components must be a non-empty sequence"):
        Ensemble.mixture(a, weights=[1.0])
