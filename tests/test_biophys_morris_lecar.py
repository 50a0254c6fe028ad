"""The Morris–Lecar neuron: parameter sets, their checks, and the onsets of the F–I curves."""

import dataclasses

import numpy as np
import pytest

from lowrank_rnn import ArgumentError, ArgumentTypeError, biophys


def test_parameter_sets_are_the_classic_ones_and_immutable():
    c1, c2 = biophys.morris_lecar_params("class1"), biophys.morris_lecar_params("class2")
    shared = dict(C=20.0, g_L=2.0, E_L=-60.0, E_Ca=120.0, E_K=-84.0, V1=-1.2, V2=18.0)
    for p in (c1, c2):
        assert {k: getattr(p, k) for k in shared} == shared
    assert (c1.g_Ca, c1.g_K, c1.V3, c1.V4, c1.phi) == (4.0, 8.0, 12.0, 17.4, 0.067)
    assert (c2.g_Ca, c2.g_K, c2.V3, c2.V4, c2.phi) == (4.4, 8.0, 2.0, 30.0, 0.04)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c1.g_Ca = 5.0
    changed = c1.replace(g_Ca=4.2, phi=0.1)
    assert (changed.g_Ca, changed.phi, c1.g_Ca) == (4.2, 0.1, 4.0)


# Class 1 (saddle-node on an invariant circle) starts firing at rheobase (about 40 uA/cm^2) with a
# period that diverges, so the rate rises from 0; class 2 (Hopf, near 88.5) starts at a finite
# rate (about 9 Hz). One solve per set over 1.5 s after a 0.5 s transient: rate resolution 0.67 Hz.
def _onset(name, currents):
    rates = biophys.fi_curve(name, currents, T=2000.0, transient=500.0)
    firing = rates > 0
    assert firing.any() and not firing[0], rates
    first = int(np.argmax(firing))
    assert firing[first:].all(), rates  # no silent gap above onset
    return rates, first


def test_class1_fires_at_arbitrarily_low_rates_above_rheobase():
    currents = np.arange(39.0, 45.01, 0.25)
    rates, first = _onset("class1", currents)
    assert rates[first] <= 2.0, rates  # the first firing current, within 0.25 of rheobase
    assert rates[-1] >= 4 * rates[first]  # and the rate keeps rising continuously
    # the saddle-node law: rate^2 grows linearly with I - I_c (fit above onset, a few % off at 0.67 Hz bins)
    above = rates > 0
    slope, intercept = np.polyfit(currents[above], rates[above] ** 2, 1)
    assert slope > 0 and 39.0 < -intercept / slope < currents[first], (slope, intercept)


def test_class2_jumps_to_a_finite_rate_at_onset():
    currents = np.arange(85.0, 91.01, 0.25)
    rates, first = _onset("class2", currents)
    assert rates[first] >= 8.0, rates
    assert rates[-1] < 1.3 * rates[first]  # the rate hardly changes past onset: the jump is most of it


def test_bad_arguments_are_refused():
    with pytest.raises(ArgumentError, match="name"):
        biophys.morris_lecar_params("class3")
    with pytest.raises(ArgumentError, match="g_Na"):
        biophys.morris_lecar_params("class1").replace(g_Na=1.0)
    with pytest.raises(ArgumentError, match="C"):
        biophys.morris_lecar_params("class1").replace(C=0.0)
    with pytest.raises(ArgumentError, match="g_K"):
        biophys.MorrisLecarParams(g_K=-1.0)
    with pytest.raises(ArgumentError, match="transient"):
        biophys.fi_curve("class1", [40.0], T=100.0, transient=100.0)
    with pytest.raises(ArgumentError, match="T"):
        biophys.fi_curve("class1", [40.0], T=0.0, transient=0.0)
    with pytest.raises(ArgumentError, match="currents"):
        biophys.fi_curve("class1", [40.0, np.nan])
    with pytest.raises(ArgumentTypeError, match="params"):
        biophys.fi_curve(3, [40.0])
    with pytest.raises(ArgumentError, match="name"):
        biophys.fi_curve("hopf", [40.0])


def test_save_times_stay_inside_the_solve():
    # T = 1000, transient = 200 made fi_curve fail ("saveat.ts must lie between t0 and t1"): the
    # last save time overshot T by 6e-5 ms in float32.
    import jax.numpy as jnp
    import numpy as np

    from lowrank_rnn.biophys._morris_lecar import _SAVE_DT, _save_times

    for T, transient in [(1000.0, 200.0), (600.0, 100.0), (2000.0, 500.0), (777.7, 13.3), (3000.0, 0.0)]:
        n = int(np.ceil((T - transient) / _SAVE_DT)) + 1
        ts = _save_times(jnp.float32(T), jnp.float32(transient), n)
        assert float(ts[0]) == np.float32(transient) and float(ts[-1]) == np.float32(T)
        assert float(ts.max()) <= np.float32(T) and float(ts.min()) >= np.float32(transient)
        assert bool(jnp.all(jnp.diff(ts) > 0))
