"""Morris–Lecar networks (issue 12 item 2): shapes, Dale's law, non-negative conductances, the stiff
and explicit solvers, and the uncoupled network against the single-neuron F–I curve."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowrank_rnn import ArgumentError, ArgumentTypeError, biophys


def test_shapes_and_types():
    net = biophys.MorrisLecarNetwork(10, 2, 3, key=jax.random.key(0), frac_exc=0.7)
    assert net.n_exc == 7 and net.n_inputs == 2 and net.n_outputs == 3
    z, v, ok = net.run(jnp.zeros((15, 2)))
    assert z.shape == (15, 3) and v.shape == (15, 3) and bool(ok)
    states, _ = net.solve(jnp.zeros((15, 2)))
    assert states.shape == (15, 30)
    assert net.conductances.shape == (10, 10) and float(jnp.max(jnp.abs(jnp.diag(net.conductances)))) == 0.0


@pytest.mark.parametrize("kwargs, err", [
    (dict(n=0), ArgumentError), (dict(n_outputs=20), ArgumentError), (dict(params="class3"), ArgumentError),
    (dict(frac_exc=1.5), ArgumentError), (dict(solver="euler"), ArgumentError), (dict(dt=0.0), ArgumentError),
    (dict(params=3), ArgumentTypeError), (dict(g_mean=-1.0), ArgumentError)])
def test_bad_arguments(kwargs, err):
    args = dict(n=10, n_inputs=1, n_outputs=1, key=jax.random.key(0)) | kwargs
    n, k, o = args.pop("n"), args.pop("n_inputs"), args.pop("n_outputs")
    with pytest.raises(err):
        biophys.MorrisLecarNetwork(n, k, o, **args)


def test_dale_sign_of_each_presynaptic_column():
    """The synaptic current's derivative in s_j has the sign of E_j - V_i for every postsynaptic
    i: positive (depolarising) for excitatory cells, negative for inhibitory ones, whatever the
    trained conductances."""
    net = biophys.MorrisLecarNetwork(10, 1, 1, key=jax.random.key(1), frac_exc=0.6)
    net = eqx.tree_at(lambda m: m.g_raw, net, 3.0 * jax.random.normal(jax.random.key(2), (10, 10)))
    for v_rest in (-70.0, -40.0, -10.0):
        jac = jax.jacobian(net.synaptic_current, argnums=1)(jnp.full(10, v_rest), jnp.full(10, 0.3))
        off = ~np.eye(10, dtype=bool)
        exc, inh = np.asarray(jac[:, :6])[off[:, :6]], np.asarray(jac[:, 6:])[off[:, 6:]]
        assert np.all(exc > 0) and np.all(inh < 0)


def test_conductances_stay_non_negative_after_a_gradient_step():
    net = biophys.MorrisLecarNetwork(5, 1, 1, key=jax.random.key(3))
    u = jnp.ones((30, 1))

    def loss(m):
        return jnp.sum(m(u) ** 2) - jnp.sum(m.conductances)  # pulls some g up, and (sign flipped) down

    grads = jax.grad(loss)(net)
    assert np.all(np.isfinite(np.asarray(grads.g_raw)))
    for lr in (1e3, -1e3):  # huge steps either way: the reparameterisation keeps g >= 0
        stepped = jax.tree_util.tree_map(lambda p, g: p - lr * g, net, grads)
        g = np.asarray(stepped.conductances)
        assert np.all(g >= 0) and np.all(np.isfinite(g))
        assert not np.allclose(g, np.asarray(net.conductances))


def test_stiff_and_explicit_solvers_agree():
    net = biophys.MorrisLecarNetwork(3, 1, 1, key=jax.random.key(4), g_mean=2.0)
    u = jnp.concatenate([jnp.zeros((10, 1)), jnp.ones((30, 1))])
    z1, v1, ok1 = net.with_solver(rtol=1e-6, atol=1e-6).run(u)
    z2, v2, ok2 = net.with_solver("kvaerno5", rtol=1e-6, atol=1e-6).run(u)
    assert bool(ok1) and bool(ok2)
    # readouts of s in [0, 1] scaled by O(1) weights; both solves at rtol 1e-6
    np.testing.assert_allclose(np.asarray(z1), np.asarray(z2), atol=1e-3)
    np.testing.assert_allclose(np.asarray(v1), np.asarray(v2), atol=0.05)


def test_uncoupled_network_fires_at_the_single_neuron_rate():
    """With every conductance zero, cell i is a lone Morris–Lecar neuron driven by its bias: its
    spike count after the transient equals the F–I curve's."""
    currents = np.array([30.0, 45.0, 60.0])
    rates = biophys.fi_curve("class1", currents, T=350.0, transient=100.0)
    net = biophys.MorrisLecarNetwork(3, 1, 3, key=jax.random.key(5), g_mean=0.0)
    assert float(jnp.max(net.conductances)) == 0.0
    net = eqx.tree_at(lambda m: m.bias, net, jnp.asarray(currents, net.dtype))
    _, v, ok = net.run(jnp.zeros((350, 1)))
    assert bool(ok)
    counts = np.asarray(biophys.spike_counts(v[99:]))  # samples at 100..350 ms
    np.testing.assert_array_equal(counts, rates * 0.25)
    assert rates[0] == 0 and rates[2] > rates[1] > 0


def test_time_steps_that_do_not_round_to_the_end_of_the_solve():
    # dt = 0.1, 9 steps: float32(9) * float32(0.1) > float32(0.9), and diffrax refused a save time
    # after t1 = T * dt; the solve now ends at the last save time itself.
    net = biophys.MorrisLecarNetwork(4, 1, 1, key=jax.random.key(0), dt=0.1)
    assert np.float32(9) * np.float32(0.1) > np.float32(9 * 0.1)
    z, v, ok = net.run(jnp.zeros((9, 1)))
    assert z.shape == (9, 1) and bool(ok) and bool(jnp.all(jnp.isfinite(v)))
