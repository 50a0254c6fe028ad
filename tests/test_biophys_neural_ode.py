"""Neural ODEs, the Van der Pol and ROBER data sets, and their training by BP and ES (Hazelden et al. 2023)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest

from lowrank_rnn import ArgumentError, ArgumentTypeError, DivergenceError
from lowrank_rnn import biophys as bp
from lowrank_rnn.experiments import _hazelden2023_node as node
from lowrank_rnn.training import BPTT, Adam, OpenES

# SUNDIALS' cvRoberts_dns example output (the classic ROBER reference values, 4-5 digits), and
# Hairer & Wanner (Solving ODEs II, Sec. IV.1) at t = 40.
PUBLISHED = {0.4: (9.8517e-01, 3.3864e-05, 1.4794e-02), 4.0: (9.0552e-01, 2.2405e-05, 9.4459e-02),
             40.0: (7.158271e-01, 9.185535e-06, 2.841637e-01), 400.0: (4.5052e-01, 3.2229e-06, 5.4948e-01),
             4e4: (3.8983e-02, 1.6218e-07, 9.6102e-01), 4e5: (4.9383e-03, 1.9850e-08, 9.9506e-01)}


@pytest.fixture(scope="module")
def osc():
    return bp.oscillator_data(3, 8, t_max=2.0, key=jax.random.key(0))


def test_robertson_conserves_mass_and_matches_published_values():
    t = np.logspace(-5, 5, 41)
    y = bp.robertson(t)
    assert y.shape == (41, 3)
    # Radau IIA conserves the linear invariant y1 + y2 + y3 = 1 to rounding
    assert np.abs(y.sum(axis=1) - 1.0).max() < 1e-12
    assert np.all(y >= -1e-15)
    ts = np.array(sorted(PUBLISHED))
    got = bp.robertson(ts)
    want = np.array([PUBLISHED[x] for x in ts])
    np.testing.assert_allclose(got, want, rtol=2e-4)  # the published values carry 4-5 digits
    # the fast transient: y2 peaks at 3.6487e-5 near t = 4.6e-3
    fine = np.linspace(2e-3, 8e-3, 601)
    y2 = bp.robertson(fine)[:, 1]
    assert y2.max() == pytest.approx(3.6487e-5, rel=1e-4)
    assert fine[np.argmax(y2)] == pytest.approx(4.56e-3, abs=5e-5)


@pytest.mark.parametrize("time, scaling", [("log", "range"), ("linear", "max")])
def test_rober_data_round_trip(time, scaling):
    data = bp.rober_data(25, time=time, scaling=scaling)
    assert data.ys.shape == (1, 25, 3) and data.dim == 3
    np.testing.assert_allclose(data.t_physical, np.logspace(-5, 5, 25), rtol=1e-12)
    ref = bp.robertson(data.t_physical)
    np.testing.assert_allclose(data.unscale(data.ys[0]), ref, rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(data.rescale(ref), data.ys[0], atol=1e-9)
    # every species on a common scale: the largest value is 1 for both scalings
    np.testing.assert_allclose(data.ys[0].max(axis=0), 1.0)
    if scaling == "range":
        np.testing.assert_allclose(data.ys[0].min(axis=0), 0.0, atol=1e-15)
    if time == "log":
        assert data.t[0] == 0.0 and data.t[-1] == pytest.approx(10.0)
        np.testing.assert_allclose(10.0 ** data.t * 1e-5, data.t_physical, rtol=1e-12)
    else:
        np.testing.assert_array_equal(data.t, data.t_physical)


def test_bp_training_reduces_the_oscillator_loss(osc):
    model = bp.NeuralODE(2, 8, 1, key=jax.random.key(1))
    steps = 25
    trained, hist = bp.train_neural_ode(model, osc, method=BPTT(Adam(3e-2)), steps=steps, key=jax.random.key(2),
                                        progress=False)
    assert hist["forward_passes"] == list(range(1, steps + 2))
    assert hist["step"] == list(range(steps + 1))
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]
    assert hist["loss"][-1] == pytest.approx(bp.neural_ode_loss(trained, osc), rel=1e-5)
    assert np.all(np.isfinite(hist["grad_norm"][:-1])) and hist["grad_norm"][0] > 0
    assert hist["nonfinite_grads"][-1] == 0



def test_a_new_adam_learning_rate_does_not_compile_the_bp_step_again(osc, caplog):
    """Adam's lr (and clip) are arguments of the compiled BP step: a run that differs only in them
    compiles no new step (they were static, and each new Adam compiled it again). The first run
    shares the shapes of the test above, so in a full run of this file it compiles nothing."""
    import logging

    kw = dict(steps=1, key=jax.random.key(2), progress=False)
    a, _ = bp.train_neural_ode(bp.NeuralODE(2, 8, 1, key=jax.random.key(1)), osc, method=BPTT(Adam(3e-2)), **kw)
    jax.config.update("jax_log_compiles", True)
    try:
        with caplog.at_level(logging.WARNING):
            b, _ = bp.train_neural_ode(bp.NeuralODE(2, 8, 1, key=jax.random.key(1)), osc, method=BPTT(Adam(1e-2)),
                                       **kw)
    finally:
        jax.config.update("jax_log_compiles", False)
    compiled = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Compiling ")]
    assert not [m for m in compiled if "_bp_step" in m], compiled
    assert not all(np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(eqx.filter(a, eqx.is_array)),
                                                         jax.tree_util.tree_leaves(eqx.filter(b, eqx.is_array))))

def test_es_training_reduces_the_oscillator_loss_counting_forward_passes(osc):
    model = bp.NeuralODE(2, 8, 1, key=jax.random.key(1))
    gens, pop = 25, 16
    trained, hist = bp.train_neural_ode(model, osc, method=OpenES(popsize=pop, sigma=0.05, optimizer=Adam(3e-2)),
                                        steps=gens, key=jax.random.key(3), progress=False)
    # each generation scores P members and the mean: P + 1 forward passes; one more for the final loss
    assert hist["forward_passes"][-1] == gens * (pop + 1) + 1
    assert hist["forward_passes"][0] == pop + 1
    assert hist["loss"][-1] < 0.7 * hist["loss"][0]
    assert hist["loss"][0] == pytest.approx(bp.neural_ode_loss(model, osc), rel=1e-5)
    assert np.isnan(hist["grad_norm"][0]) and hist["sigma"][0] == pytest.approx(0.05)


def test_compare_es_bp_returns_loss_against_forward_passes_and_a_figure(osc):
    matplotlib.use("Agg")
    # the sizes and settings of the BP and ES tests above, so that it reuses their compiled steps
    result = node.compare_es_bp("oscillator", widths=(8,), depth=1, budget=34, popsize=16, bp_lr=3e-2, es_lr=3e-2,
                                data=osc, key=jax.random.key(1))
    assert result["problem"] == "oscillator" and result["widths"] == [8]
    bp_run, es_run = result["runs"]
    assert (bp_run["method"], es_run["method"]) == ("bp", "es")
    # BP: one forward pass per step; ES: P + 1 per generation (34 // 17 = 2 generations); one more for the end
    np.testing.assert_array_equal(bp_run["forward_passes"], np.arange(1, 36))
    np.testing.assert_array_equal(es_run["forward_passes"], [17, 34, 35])
    assert bp_run["loss"][0] == pytest.approx(es_run["loss"][0], rel=1e-5)  # the same initial model
    assert bp_run["num_params"] == es_run["num_params"] == 2 * 8 + 8 + 8 * 2 + 2
    assert bp_run["final_loss"] < 0.5 * bp_run["loss"][0]
    assert bp_run["nonfinite"] == 0 and bp_run["first_nonfinite"] is None
    fig = node.plot_es_bp(result)
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 2
    with pytest.raises(ArgumentError, match="problem"):
        node.compare_es_bp("lorenz")


def test_float64_path_and_the_implicit_solver(osc):
    with jax.enable_x64(True):
        model = bp.NeuralODE(2, 4, 1, key=jax.random.key(1), dtype=jnp.float64, solver="kvaerno5", rtol=1e-9,
                             atol=1e-11)
        assert model.dtype == jnp.float64
        y0, t = jnp.asarray(osc.y0[0]), jnp.asarray(osc.t)
        ys = model(y0, t)
        assert ys.dtype == jnp.float64 and bool(jnp.all(jnp.isfinite(ys)))
        # the same field by an explicit solver: the two float64 solutions agree to the tolerances
        explicit = bp.NeuralODE(2, 4, 1, key=jax.random.key(1), dtype=jnp.float64, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(ys, explicit(y0, t), atol=1e-7)


@pytest.mark.slow
def test_float64_training_by_bp_and_es_on_stiff_rober():
    with jax.enable_x64(True):
        data = bp.rober_data(12, time="linear")
        model = bp.NeuralODE(3, 8, 2, key=jax.random.key(1), activation="gelu", dtype=jnp.float64,
                             solver="kvaerno5")
        for method in (BPTT(Adam(1e-2)), OpenES(popsize=8, sigma=0.02)):
            trained, hist = bp.train_neural_ode(model, data, method=method, steps=3, key=jax.random.key(0),
                                                max_nonfinite=None, progress=False)
            assert trained.dtype == jnp.float64 and len(hist["loss"]) == 4


def test_nonfinite_steps_are_counted_and_stop_the_run_with_the_last_good_model(osc):
    # max_steps=2 cannot reach t_max: every solve fails, so the loss is inf and its gradient NaN
    model = bp.NeuralODE(2, 8, 1, key=jax.random.key(1), max_steps=2)
    with pytest.raises(DivergenceError, match="at step 1 of 3") as err:
        bp.train_neural_ode(model, osc, steps=3, key=jax.random.key(0), progress=False)
    assert err.value.time == 1 and err.value.history["nonfinite_grads"] == [1]
    assert bool(jnp.all(err.value.model.mlp.layers[0].weight == model.mlp.layers[0].weight))
    _, hist = bp.train_neural_ode(model, osc, steps=3, key=jax.random.key(0), max_nonfinite=None, progress=False)
    assert hist["nonfinite_grads"] == [1, 2, 3, 3]


@pytest.mark.slow
def test_an_es_generation_whose_every_solve_fails_stops_the_run(osc):
    model = bp.NeuralODE(2, 8, 1, key=jax.random.key(1), max_steps=2)
    with pytest.raises(DivergenceError, match="openai_es diverged on van_der_pol: at step 1 of 2") as err:
        bp.train_neural_ode(model, osc, method=OpenES(popsize=4), steps=2, key=jax.random.key(0), progress=False)
    assert err.value.history["nonfinite_grads"] == [1]


def test_bad_input_is_refused_naming_the_argument(osc):
    key = jax.random.key(0)
    for kwargs, name in (({"dim": 0}, "dim"), ({"width": -1}, "width"), ({"depth": 0}, "depth")):
        args = {"dim": 2, "width": 4, "depth": 1, **kwargs}
        with pytest.raises(ArgumentError, match=name):
            bp.NeuralODE(args["dim"], args["width"], args["depth"], key=key)
    with pytest.raises(ArgumentError, match="solver"):
        bp.NeuralODE(2, 4, 1, key=key, solver="euler")
    with pytest.raises(ArgumentError, match="activation"):
        bp.NeuralODE(2, 4, 1, key=key, activation="sine")
    model = bp.NeuralODE(2, 4, 1, key=key)
    with pytest.raises(ArgumentError, match="strictly increasing"):
        model(jnp.zeros(2), jnp.array([0.0, 1.0, 1.0]))
    with pytest.raises(ArgumentError, match="y0"):
        model(jnp.zeros(3), jnp.array([0.0, 1.0]))
    with pytest.raises(ArgumentError, match="t must be strictly increasing"):
        bp.robertson(np.array([1.0, 0.5]))
    with pytest.raises(ArgumentError, match="t must be >= 0"):
        bp.robertson(np.array([-1.0, 0.5]))
    with pytest.raises(ArgumentError, match="dimension"):
        bp.train_neural_ode(bp.NeuralODE(3, 4, 1, key=key), osc, key=key)
    with pytest.raises(ArgumentTypeError, match="method"):
        bp.train_neural_ode(model, osc, method="adam", key=key)
    with pytest.raises(ArgumentError, match="fitness"):
        bp.train_neural_ode(model, osc, method=OpenES(fitness="accuracy"), key=key)
    with pytest.raises(ArgumentError, match="steps"):
        bp.train_neural_ode(model, osc, steps=0, key=key)
    with pytest.raises(ArgumentError, match="t_max"):
        bp.rober_data(10, t_min=1.0, t_max=1.0)
    with pytest.raises(ArgumentError, match="scaling"):
        bp.rober_data(10, scaling="log")
