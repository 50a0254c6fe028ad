"""Local learning rules: the autodiff rules against explicit-trace oracles, BPTT limits, errors, training."""

import json
import logging
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowrank_rnn import load, save
from lowrank_rnn.learning import (MDGL, RateRNN, block_average, cosine_similarity, credit_assignment, fit,
                                  rule_gradient, rule_outputs)
from lowrank_rnn.learning._rate import _phi_prime
from lowrank_rnn.models import LowRankRNN, run_trials
from lowrank_rnn.tasks import get_task

ALL_RULES = ["bptt", "tbptt(4)", "eprop", "rflo", "mdgl", "mdgl_celltype", "modprop", "feedback_alignment"]
T, B = 30, 3


def _loss(y):
    """A loss that weighs every step differently, so every learning signal matters."""
    target = jnp.sin(jnp.arange(y.shape[1]) / 3.0)[None, :, None]
    return jnp.mean((y - target) ** 2 * (1 + jnp.arange(y.shape[1]))[None, :, None] / y.shape[1])


def _inputs(key, K=2):
    return jax.random.normal(key, (B, T, K))


def _net(key, **kw):
    opts = dict(N=14, n_inputs=2, n_outputs=2, alpha=0.2, g=0.9)
    opts.update(kw)
    N, K, O = opts.pop("N"), opts.pop("n_inputs"), opts.pop("n_outputs")
    return RateRNN(N, K, O, key=key, **opts)


def _forward(net, u):
    """States v (B, T, N), previous activities, pre-activations, outputs, and dE/dy (B, T, O)."""
    y, states = run_trials(net, u, return_states=True)
    dEdy = jax.grad(_loss)(y)
    return states, y, dEdy


def _rel(a, b):
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


# ------------------------------------------------------------------------------ explicit-trace oracles

def _eprop_oracle(net, u, hop=None):
    """e-prop (voltage form) with explicit eligibility traces; ``hop`` (N, N) adds MDGL's extra hop.

    eps_t = (1 - alpha) eps_{t-1} + alpha r_{t-1}, e_ji = psi_j eps_i, dW_ji = sum_t Lt_j psi_j eps_i,
    L_t = dE/dy_t W_out^T, Lt_{t-1} = L_{t-1} + alpha hop^T (psi_t L_t) (MDGL, Liu et al. 2021).
    """
    states, y, dEdy = _forward(net, u)
    a, Wout = net.alpha, net.readout_weights()
    v = states[:, 1:]                        # v_t, t = 1..T
    r_prev = net.phi(states[:, :-1])         # r_{t-1}
    psi = _phi_prime(net.nonlinearity, v)
    L = dEdy @ Wout.T                         # (B, T, N)
    if hop is not None:
        nxt = jnp.concatenate([(psi * L)[:, 1:], jnp.zeros_like(L[:, :1])], axis=1)
        L = L + a * nxt @ hop
    eps, eps_in = jnp.zeros((B, net.N)), jnp.zeros((B, net.n_inputs))
    dW, dWin = jnp.zeros((net.N, net.N)), jnp.zeros((net.N, net.n_inputs))
    for t in range(T):
        eps = (1 - a) * eps + a * r_prev[:, t]
        eps_in = (1 - a) * eps_in + a * u[:, t]
        s = L[:, t] * psi[:, t]
        dW += s.T @ eps
        dWin += s.T @ eps_in
    dWout = jnp.einsum("btn,bto->no", net.phi(v), dEdy)
    return dW, dWin, dWout


def _rflo_oracle(net, u):
    """RFLO (Murray 2019) on the rate form: P_ij <- (1 - alpha) P_ij + alpha phi'(u_i) h_j, dW = sum_t q_i P_ij,
    q_t = B (dE/dy_t) with the fixed random feedback B."""
    states, y, dEdy = _forward(net, u)
    a = net.alpha
    h_prev = states[:, :-1]
    pre = h_prev @ net.weights().T + u @ net.input_vectors.T
    dphi = _phi_prime(net.nonlinearity, pre)
    q = dEdy @ net.feedback.T
    P, P_in = jnp.zeros((B, net.N, net.N)), jnp.zeros((B, net.N, net.n_inputs))
    dW, dWin = jnp.zeros((net.N, net.N)), jnp.zeros((net.N, net.n_inputs))
    for t in range(T):
        P = (1 - a) * P + a * dphi[:, t, :, None] * h_prev[:, t, None, :]
        P_in = (1 - a) * P_in + a * dphi[:, t, :, None] * u[:, t, None, :]
        dW += jnp.einsum("bi,bij->ij", q[:, t], P)
        dWin += jnp.einsum("bi,bij->ij", q[:, t], P_in)
    dWout = jnp.einsum("btn,bto->no", states[:, 1:], dEdy)
    return dW, dWin, dWout


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_eprop_equals_explicit_traces(getkey, nonlinearity):
    net = _net(getkey(), nonlinearity=nonlinearity)
    u = _inputs(getkey())
    _, g = rule_gradient(net, _loss, u, "eprop")
    dW, dWin, dWout = _eprop_oracle(net, u)
    assert _rel(g.W, dW) < 1e-5
    assert _rel(g.input_vectors, dWin) < 1e-5
    assert _rel(g.readout_vectors, dWout) < 1e-5
    # and it is not BPTT: the cut is real
    _, gb = rule_gradient(net, _loss, u, "bptt")
    assert _rel(g.W, gb.W) > 1e-2


def test_rflo_equals_explicit_traces(getkey):
    net = _net(getkey(), form="rate", nonlinearity="tanh")
    u = _inputs(getkey())
    _, g = rule_gradient(net, _loss, u, "rflo")
    dW, dWin, dWout = _rflo_oracle(net, u)
    assert _rel(g.W, dW) < 1e-5
    assert _rel(g.input_vectors, dWin) < 1e-5
    assert _rel(g.readout_vectors, dWout) < 1e-5


def test_mdgl_equals_explicit_hop(getkey):
    net = _net(getkey(), nonlinearity="tanh", n_excitatory=10)
    u = _inputs(getkey())
    _, g = rule_gradient(net, _loss, u, "mdgl")
    dW, _, _ = _eprop_oracle(net, u, hop=net.weights())
    # Dale's law: the gradient reaches the raw weights through |W| (sign(W_raw) s_j)
    chain = jnp.sign(net.W) * net.signs()[None, :]
    assert _rel(g.W, dW * chain) < 1e-5
    _, gc = rule_gradient(net, _loss, u, "mdgl_celltype")
    onehot, Wab = block_average(net)
    dWc, _, _ = _eprop_oracle(net, u, hop=onehot @ Wab @ onehot.T)
    assert _rel(gc.W, dWc * chain) < 1e-5


def test_block_average_is_the_cell_type_mean(getkey):
    net = _net(getkey(), N=12, n_excitatory=9)
    onehot, Wab = block_average(net)
    W = np.asarray(net.weights())
    want = [[W[:9, :9].mean(), W[:9, 9:].mean()], [W[9:, :9].mean(), W[9:, 9:].mean()]]
    np.testing.assert_allclose(np.asarray(Wab), want, rtol=1e-5)
    assert float(Wab[0, 0]) > 0 and float(Wab[0, 1]) < 0  # E columns positive, I columns negative
    low = _net(getkey(), N=12, rank=2)
    _, Wl = block_average(low, cell_types=[0] * 6 + [1] * 6)
    Wd = np.asarray(low.weights())
    np.testing.assert_allclose(np.asarray(Wl)[1, 0], Wd[6:, :6].mean(), rtol=1e-5)


def _modprop_oracle(net, u, mu, W_back):
    """ModProp (voltage form) unrolled by hand: BPTT with ``a * mu * W_back`` in place of
    ``a * W diag(phi'(v_t))`` on the recurrent branch; leak, readout and presynaptic rates exact.

    delta_t = psi_t L_t + (1 - a) delta_{t+1} + a mu delta_{t+1} W_back,  dW_eff = a sum_t delta_t^T r_{t-1}.
    """
    states, y, dEdy = _forward(net, u)
    a = net.alpha
    v, r_prev = states[:, 1:], net.phi(states[:, :-1])
    psi = _phi_prime(net.nonlinearity, v)
    L = dEdy @ net.readout_weights().T
    delta = jnp.zeros((B, net.N))
    dW, dWin = jnp.zeros((net.N, net.N)), jnp.zeros((net.N, net.n_inputs))
    for t in reversed(range(T)):
        delta = psi[:, t] * L[:, t] + (1 - a) * delta + a * mu * delta @ W_back
        dW += a * delta.T @ r_prev[:, t]
        dWin += a * delta.T @ u[:, t]
    return dW, dWin


@pytest.mark.parametrize("cell_types", ["unit", None])
def test_modprop_matches_its_unrolled_formula(getkey, cell_types):
    # W_back = W ("unit": what the released delayed-XOR code computes) or the E/I block average
    net = _net(getkey(), nonlinearity="relu", n_excitatory=10)
    u = _inputs(getkey())
    W = net.weights()
    if cell_types is None:
        onehot, Wab = block_average(net)
        W_back = onehot @ Wab @ onehot.T
    else:
        W_back = W
    dWeff, dWin = _modprop_oracle(net, u, 0.25, W_back)
    _, g = rule_gradient(net, _loss, u, ("modprop", {"mu": 0.25, "cell_types": cell_types}))
    # W_eff = |W| s: the trained W's gradient is dW_eff * sign(W) * s
    assert _rel(g.W, dWeff * jnp.sign(net.W) * net.signs()[None, :]) < 1e-5
    assert _rel(g.input_vectors, dWin) < 1e-5


# ------------------------------------------------------------------------------------ BPTT limits

@pytest.mark.parametrize("kw", [dict(nonlinearity="relu", n_excitatory=10), dict(nonlinearity="tanh", rank=2),
                                dict(nonlinearity="tanh", form="rate", n_excitatory=10)])
def test_modprop_with_exact_derivative_and_weights_is_bptt(getkey, kw):
    net = _net(getkey(), **kw)
    u = _inputs(getkey())
    _, gb = rule_gradient(net, _loss, u, "bptt")
    _, gm = rule_gradient(net, _loss, u, ("modprop", {"mu": "exact", "cell_types": "unit"}))
    for a, b in zip(jax.tree_util.tree_leaves(gm), jax.tree_util.tree_leaves(gb)):
        assert _rel(a, b) < 1e-5
    # the published approximation (mu = 0.25, E/I block averages) is a different, still aligned, update
    _, gp = rule_gradient(net, _loss, u, "modprop")
    assert 0.0 < float(cosine_similarity(gp, gb)) < 0.9999


def test_other_limits_reduce_to_bptt_or_eprop(getkey):
    net = _net(getkey(), nonlinearity="tanh")
    u = _inputs(getkey())
    _, gb = rule_gradient(net, _loss, u, "bptt")
    _, gt = rule_gradient(net, _loss, u, ("tbptt", T + 5))       # a window longer than the trial
    assert _rel(gt.W, gb.W) < 1e-6
    _, gt4 = rule_gradient(net, _loss, u, "tbptt(4)")
    assert _rel(gt4.W, gb.W) > 1e-3
    sym = eqx.tree_at(lambda m: m.feedback, net, net.readout_weights())   # B = W_out
    _, gf = rule_gradient(sym, _loss, u, "feedback_alignment")
    assert _rel(gf.W, gb.W) < 1e-6
    _, ge = rule_gradient(sym, _loss, u, "eprop")
    _, gr = rule_gradient(sym, _loss, u, "rflo")
    assert _rel(gr.W, ge.W) < 1e-6


@pytest.mark.parametrize("kw", [dict(), dict(rank=2), dict(rank=2, n_excitatory=10), dict(form="rate")])
def test_every_rule_runs_on_low_and_full_rank(getkey, kw):
    net = _net(getkey(), nonlinearity="tanh", **kw)
    u = _inputs(getkey())
    ref = run_trials(net, u)
    _, gb = rule_gradient(net, _loss, u, "bptt")
    for rule in ALL_RULES:
        loss, g = rule_gradient(net, _loss, u, rule)
        np.testing.assert_allclose(float(loss), float(_loss(ref)), rtol=1e-5)  # the forward pass is the model's
        leaves = jax.tree_util.tree_leaves(g)
        assert all(bool(jnp.all(jnp.isfinite(x))) for x in leaves)
        assert float(jnp.sum(jnp.abs(g.readout_vectors))) > 0
        cos = float(cosine_similarity(g, gb))
        assert cos > 0.05, (rule, cos)  # every rule is a descent-like direction on this small problem


def test_noise_matches_run_trials(getkey):
    net = _net(getkey(), noise=0.3)
    u, k = _inputs(getkey()), getkey()
    for rng in ("hash", "threefry"):
        np.testing.assert_allclose(np.asarray(rule_outputs(net, u, "modprop", key=k, noise_rng=rng)),
                                   np.asarray(run_trials(net, u, key=k, noise_rng=rng)), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------ errors

@pytest.mark.parametrize("spec, err", [("foo", ValueError), ("tbptt(0)", ValueError), ("tbptt(x)", ValueError),
                                       (("tbptt", 2.5), ValueError), ("eprop(3)", ValueError),
                                       ("modprop(abc)", ValueError), (("modprop", float("nan")), ValueError),
                                       (("mdgl", {"celltype": "yes"}), TypeError), (5, TypeError),
                                       (("modprop", {"cell_types": [0, -1]}), ValueError),
                                       (("modprop", {"bogus": 1}), ValueError), ("modprop(0.25, ei)", ValueError)])
def test_bad_rules_raise(spec, err):
    with pytest.raises(err):
        credit_assignment(spec)


def test_rule_specs_parse():
    assert credit_assignment("tbptt(7)").k == 7
    assert credit_assignment(("tbptt", 3)).k == 3
    assert credit_assignment("modprop(0.2)").mu == 0.2
    assert credit_assignment("modprop(0.25, unit)") == credit_assignment(("modprop", {"cell_types": "unit"}))
    assert credit_assignment("MDGL_celltype") == MDGL(celltype=True)
    assert credit_assignment("fa").name == "feedback_alignment"
    for r in ALL_RULES + ["modprop(0.5, unit)", ("modprop", {"mu": "exact", "cell_types": "unit"})]:
        assert credit_assignment(credit_assignment(r).spec()) == credit_assignment(r)


def test_bad_model_arguments(getkey):
    with pytest.raises(ValueError, match="n_excitatory"):
        RateRNN(10, 1, 1, key=getkey(), n_excitatory=10)
    with pytest.raises(ValueError, match="form"):
        RateRNN(10, 1, 1, key=getkey(), form="spiking")
    with pytest.raises(ValueError, match="rank"):
        RateRNN(10, 1, 1, key=getkey(), rank=11)
    with pytest.raises(ValueError, match="nonlinearity"):
        RateRNN(10, 1, 1, key=getkey(), nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dale_readout"):
        RateRNN(10, 1, 1, key=getkey(), dale_readout=True)
    with pytest.raises(TypeError, match="RateRNN"):
        rule_outputs(LowRankRNN(10, 1, 1, 1, key=getkey()), jnp.zeros((1, 5, 1)), "eprop")
    net = _net(getkey())
    with pytest.raises(ValueError, match="cell_types"):
        rule_outputs(net, _inputs(getkey()), ("modprop", {"cell_types": [0, 1]}))
    with pytest.raises(ValueError, match="inputs"):
        rule_outputs(net, jnp.zeros((2, 5, 3)), "eprop")


# ------------------------------------------------------------------------------ model, saving, training

def test_dale_signs_and_spectral_radius(getkey):
    net = RateRNN(120, 2, 2, key=getkey(), n_excitatory=97, alpha=0.01, g=1.0, dale_readout=True)
    W = np.asarray(net.weights())
    assert np.all(W[:, :97] >= 0) and np.all(W[:, 97:] <= 0)
    assert abs(np.max(np.abs(np.linalg.eigvals(W))) - 1.0) < 1e-3
    Wo = np.asarray(net.readout_weights())
    assert np.all(Wo[:97] >= 0) and np.all(Wo[97:] <= 0)


def test_save_load_round_trip(getkey, tmp_path):
    for kw in (dict(n_excitatory=10, dale_readout=True), dict(rank=2, form="rate")):
        net = _net(getkey(), **kw)
        back = load(save(net, tmp_path / "net.npz"))
        assert isinstance(back, RateRNN) and back.hyperparameters() == net.hyperparameters()
        u = _inputs(getkey())
        np.testing.assert_array_equal(np.asarray(run_trials(back, u)), np.asarray(run_trials(net, u)))


def _small_xor():
    return get_task("delayed_xor", cue=10.0, delay=20.0, dt=1.0, tau=10.0)


def test_fit_learns_small_delayed_xor_and_tracks_alignment(getkey):
    task = _small_xor()
    net = RateRNN(32, 2, 2, key=getkey(), n_excitatory=26, alpha=0.1, nonlinearity="relu")
    _, h = fit(net, task, key=getkey(), credit_assignment_rule="bptt", iterations=100, lr=3e-3, eval_every=20,
               track_alignment=True)
    assert h["val_loss"][-1] < 0.5 * np.log(2)  # half the cross-entropy of chance
    assert h["val_accuracy"][-1] >= 0.9
    np.testing.assert_allclose(h["cosine_to_bptt"], 1.0, atol=1e-4)  # BPTT against itself
    np.testing.assert_allclose(h["cosine_to_bptt_recurrent"], 1.0, atol=1e-4)


def test_train_with_rule_writes_a_run_that_evaluate_reads(getkey, tmp_path):
    from lowrank_rnn.training import BPTT, Adam, RunSettings, evaluate, train

    task = _small_xor()
    net = RateRNN(16, 2, 2, key=getkey(), n_excitatory=13, alpha=0.1)
    _, h = train(net, task, key=getkey(), epochs=2, n_trials=96, method=BPTT(optimizer=Adam(1e-3), rule="modprop"),
                 run=RunSettings(tmp_path / "run"), progress=False)
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["training"]["credit_assignment"] == "modprop" and cfg["model"]["class"] == "RateRNN"
    summary = evaluate(tmp_path / "run", n_trials=64, figures=False)
    assert summary["model"] == "RateRNN" and 0.0 <= summary["accuracy"] <= 1.0
    with pytest.raises(ValueError, match="RateRNN"):
        train(LowRankRNN(16, 1, 2, 2, key=getkey(), alpha=0.1), task, key=getkey(), epochs=1,
              method=BPTT(rule="eprop"), progress=False)
    with pytest.raises(ValueError, match="unknown credit_assignment"):
        BPTT(rule="backprop")


def test_cli_train_rule_and_evaluate(tmp_path, capsys):
    from lowrank_rnn.cli import main

    out = tmp_path / "cli"
    # a 12-unit network, one epoch of 2 minibatches on the published 900-step task: the command, not the learning
    assert main(["train", "--task", "delayed_xor", "--rule", "eprop", "--hidden", "12", "--epochs", "1",
                 "--batch", "16", "--trials", "40", "--out", str(out), "--quiet", "--no-cache"]) == 0
    assert "with eprop" in capsys.readouterr().out
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["training"]["credit_assignment"] == "eprop" and cfg["model"]["n_excitatory"] == 10
    assert main(["evaluate", str(out), "--trials", "32", "--no-figures", "--json", "--no-cache"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "RateRNN"
    for bad in (["--rule", "eprop_typo"], ["--rule", "tbptt(0)"], ["--rule", "eprop", "--method", "es"]):
        with pytest.raises(SystemExit) as exc:
            main(["train", "--task", "delayed_xor", "--out", str(tmp_path / "x"), "--no-cache", *bad])
        assert exc.value.code == 2
    assert "credit_assignment" in capsys.readouterr().err


def test_bench_local_rules_quick(tmp_path, monkeypatch):
    import importlib.util

    # the benchmark enables a persistent compilation cache: keep it the tests' own
    monkeypatch.setenv("LOWRANK_RNN_JAX_CACHE", jax.config.jax_compilation_cache_dir or str(tmp_path / "cache"))
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_local_rules.py"
    spec = importlib.util.spec_from_file_location("bench_local_rules", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--quick", "--rules", "modprop", "--no-es", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["rules"]) == {"modprop"}
    assert len(summary["rules"]["modprop"]["final_val_accuracy"]) == 3
    cos = summary["rules"]["modprop"]["cosine_first_last"]
    assert all(-1.0 <= c < 0.9999 for c in cos)  # an approximation of the gradient, not the gradient
    for name in ("learning_curves.png", "accuracy_curves.png", "gradient_alignment.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_a_new_learning_rate_compiles_nothing(caplog):
    # liu2022_curvature's late phase trains at 3x the rate: the rate is an array of the compiled chunk
    task = get_task("delayed_xor", delay=20.0, cue=10.0, dt=1.0, tau=10.0)
    net = RateRNN(12, 2, 2, key=jax.random.key(0), n_excitatory=10, alpha=0.1)
    # counted per rate from "Compiling" (logged before the persistent cache is read); the first fit may find
    # the chunk compiled by an earlier test of this process
    compiles = []
    with jax.log_compiles(), caplog.at_level(logging.WARNING):
        for lr in (1e-3, 3e-3):
            caplog.clear()
            fit(net, task, key=jax.random.key(1), iterations=5, eval_every=5, lr=lr)
            compiles.append(sum(r.getMessage().startswith("Compiling jit(_chunk)") for r in caplog.records))
    assert compiles[0] <= 1 and compiles[1] == 0, compiles
