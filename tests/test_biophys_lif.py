"""The LIF neuron with fast conductance synapses: exact rate against an exact simulation, the
small-jump limit, silent cases and argument checks."""

import jax
import numpy as np
import pytest

from lowrank_rnn import ArgumentError, ArgumentTypeError, biophys

# (nu_e, nu_i, neuron): mean voltage mu of the Gaussian approximation below threshold (first two:
# fluctuation-driven, 8 and 1 Hz), above it (large jumps, 373 Hz), and leak reversal above threshold
# (the drift itself crosses V_th)
SETS = [
    (3000.0, 1000.0, dict(a_e=0.01, a_i=0.04)),
    (300.0, 500.0, dict(a_e=0.2, a_i=0.1, E_L=-75.0)),
    (1500.0, 500.0, dict(a_e=0.3, a_i=0.2)),
    (200.0, 300.0, dict(a_e=0.1, a_i=0.1, E_L=-45.0)),
]


@pytest.mark.parametrize("nu_e, nu_i, neuron", SETS)
def test_exact_rate_and_cv_match_the_event_driven_simulation(nu_e, nu_i, neuron):
    sim = biophys.simulate_lif_conductance(nu_e, nu_i, T=4000.0, n_neurons=32, key=jax.random.key(3), **neuron)
    rate = biophys.lif_conductance_rate(nu_e, nu_i, **neuron)
    assert sim.n_intervals > 500 and sim.censored == 0
    assert abs(sim.rate - rate) < 3 * sim.rate_se, (sim.rate, sim.rate_se, rate)
    assert sim.rate_se < 0.06 * rate  # the test has power: 3 SE is under 20 % of the rate
    # the CV's sampling error with n intervals is about CV * sqrt(1 / (2 n)) times a shape factor <= 2
    cv = biophys.lif_conductance_cv(nu_e, nu_i, **neuron)
    assert abs(sim.cv - cv) < 4 * 2 * cv / np.sqrt(2 * sim.n_intervals), (sim.cv, cv)


def test_the_diffusion_approximation_is_off_where_it_should_be():
    # large jumps at high rate: the Gaussian approximation overestimates the rate by several %
    exact = biophys.lif_conductance_rate(1500.0, 500.0, a_e=0.3, a_i=0.2)
    diffusion = biophys.lif_conductance_rate(1500.0, 500.0, a_e=0.3, a_i=0.2, method="diffusion")
    assert diffusion / exact - 1 > 0.05


def test_small_jumps_with_fixed_mean_conductance_approach_the_diffusion_rate():
    # a -> 0 with a * nu fixed: the noise (nu a^2) vanishes and the first neglected jump moment is
    # O(a), so above threshold exact and Gaussian rates meet, their gap shrinking like a
    gaps, km_gaps = [], []
    for s in (1.0, 0.25, 1 / 16):
        kw = dict(a_e=0.01 * s, a_i=0.04 * s)
        exact = biophys.lif_conductance_rate(6000.0 / s, 1000.0 / s, **kw)
        diffusion = biophys.lif_conductance_rate(6000.0 / s, 1000.0 / s, method="diffusion", **kw)
        km = biophys.lif_conductance_rate(6000.0 / s, 1000.0 / s, method="kramers_moyal", **kw)
        gaps.append(abs(exact / diffusion - 1))
        km_gaps.append(abs(exact / km - 1))
    assert gaps[0] > 0.02
    assert gaps[0] / gaps[1] > 2.5 and gaps[1] / gaps[2] > 2.5, gaps
    assert gaps[2] < 0.005, gaps
    # the voltage-dependent diffusion: the same O(a) convergence to the exact rate
    assert km_gaps[0] / km_gaps[1] > 2.5 and km_gaps[1] / km_gaps[2] > 2.5 and km_gaps[2] < 0.005, km_gaps


def test_kramers_moyal_limits():
    # no input, leak reversal above threshold: deterministic relaxation from V_r to V_th
    got = biophys.lif_conductance_rate(0.0, 0.0, a_e=0.1, a_i=0.1, E_L=-45.0, method="kramers_moyal")
    np.testing.assert_allclose(got, 1000 / (2.0 + 20.0 * np.log(15 / 5)), rtol=1e-12)
    # near threshold with small jumps a diffusion is not the answer: the exponentially small escape
    # rate depends on the jump moments beyond the second, so both diffusions miss the exact rate
    kw = dict(a_e=0.005, a_i=0.04)
    exact = biophys.lif_conductance_rate(6000.0, 1000.0, **kw)
    km = biophys.lif_conductance_rate(6000.0, 1000.0, method="kramers_moyal", **kw)
    assert km / exact > 1.3  # 1.48 measured (4.4 Hz exact)


def test_deterministic_limit_of_the_diffusion_rate():
    # with sigma -> 0 above threshold the Siegert formula becomes t_ref + tau_eff ln((mu-V_r)/(mu-V_th))
    s = 1e-4
    a_e, a_i, nu_e, nu_i = 0.01 * s, 0.04 * s, 6000.0 / s, 1000.0 / s
    ce, ci = 1 - np.exp(-a_e), 1 - np.exp(-a_i)
    g = 1 / 20.0 + nu_e / 1000 * ce + nu_i / 1000 * ci
    mu = (-70.0 / 20.0 + nu_i / 1000 * ci * -80.0) / g
    expected = 1000 / (2.0 + np.log((mu + 60.0) / (mu + 50.0)) / g)
    got = biophys.lif_conductance_rate(nu_e, nu_i, a_e=a_e, a_i=a_i, method="diffusion")
    np.testing.assert_allclose(got, expected, rtol=1e-3)


def test_vectorised_and_silent():
    nu_e = np.array([[0.0, 2000.0, 4000.0]])
    nu_i = np.array([[1000.0], [0.0]])
    rates = biophys.lif_conductance_rate(nu_e, nu_i, a_e=0.01, a_i=0.04)
    assert rates.shape == (2, 3)
    assert np.all(rates[:, 0] == 0.0)  # no excitation, E_L < V_th: never fires
    assert np.all(np.diff(rates, axis=1) > 0)
    assert np.all(rates[1, 1:] > rates[0, 1:])  # inhibition lowers the rate
    one = biophys.lif_conductance_rate(4000.0, 1000.0, a_e=0.01, a_i=0.04)
    assert one.shape == () and one == rates[0, 2]
    assert biophys.lif_conductance_rate(0.0, 0.0, a_e=0.1, a_i=0.1, method="diffusion") == 0.0
    assert biophys.lif_conductance_rate(500.0, 0.0, a_e=0.1, a_i=0.1, E_e=-55.0) == 0.0  # E_e below threshold
    sim = biophys.simulate_lif_conductance([0.0, 500.0], 300.0, T=200.0, n_neurons=4, key=jax.random.key(0),
                                           a_e=0.1, a_i=0.1, E_e=-55.0)
    assert np.all(sim.rate == 0.0) and np.all(sim.n_intervals == 0)


def test_exact_rate_converges_with_the_grid():
    kw = dict(a_e=0.01, a_i=0.04)
    coarse = biophys.lif_conductance_rate(4000.0, 1000.0, n_grid=1000, **kw)
    fine = biophys.lif_conductance_rate(4000.0, 1000.0, n_grid=4000, **kw)
    assert abs(coarse / fine - 1) < 1e-4


@pytest.mark.parametrize("kw, name", [
    (dict(nu_e=-1.0), "nu_e"), (dict(nu_i=np.nan), "nu_i"), (dict(nu_e=[1.0, np.inf]), "nu_e"),
    (dict(a_e=0.0), "a_e"), (dict(a_i=-0.1), "a_i"), (dict(method="Kramers-Moyal"), "method"),
    (dict(tau_m=0.0), "tau_m"), (dict(t_ref=-1.0), "t_ref"),
    (dict(V_reset=-50.0), "V_reset"), (dict(E_i=-50.0), "E_i"), (dict(method="gauss"), "method"),
    (dict(n_grid=101), "n_grid"), (dict(a_e=1e-7, a_i=1e-7), "a_e"),
])
def test_rate_refuses_bad_arguments(kw, name):
    args = dict(nu_e=1000.0, nu_i=100.0, a_e=0.1, a_i=0.1) | kw
    with pytest.raises(ArgumentError, match=name):
        biophys.lif_conductance_rate(args.pop("nu_e"), args.pop("nu_i"), **args)


def test_simulation_refuses_bad_arguments():
    key = jax.random.key(0)
    base = dict(a_e=0.1, a_i=0.1, T=100.0, key=key)
    for kw, name in [(dict(T=0.0), "T"), (dict(n_neurons=1), "n_neurons"), (dict(V_reset=-40.0), "V_reset"),
                     (dict(a_i=np.inf), "a_i")]:
        with pytest.raises(ArgumentError, match=name):
            biophys.simulate_lif_conductance(100.0, 100.0, **(base | kw))
    with pytest.raises(ArgumentError, match="nu_i"):
        biophys.simulate_lif_conductance(100.0, -5.0, **base)
    with pytest.raises(ArgumentTypeError, match="key"):
        biophys.simulate_lif_conductance(100.0, 100.0, **(base | dict(key=0)))


def test_simulation_runs_in_64_bit_mode():
    # the event loop keeps float32 state; in 64-bit mode JAX's defaults are float64 and the scan's
    # carry must not change type (it did before the casts)
    with jax.enable_x64(True):
        sim = biophys.simulate_lif_conductance(1500.0, 500.0, a_e=0.3, a_i=0.2, T=300.0, n_neurons=4,
                                               key=jax.random.key(0))
    assert sim.n_intervals > 100 and np.isfinite(sim.rate)


def test_simulation_takes_legacy_keys_and_is_reproducible():
    kw = dict(a_e=0.3, a_i=0.2, T=200.0, n_neurons=4)
    a = biophys.simulate_lif_conductance(1500.0, 500.0, key=jax.random.PRNGKey(0), **kw)
    b = biophys.simulate_lif_conductance(1500.0, 500.0, key=jax.random.PRNGKey(0), **kw)
    assert a.n_intervals > 100 and a.rate == b.rate and a.cv == b.cv
