"""analysis.hessian_eigenvalues and analysis.exact_loss: Lanczos on Hessian-vector products against
the dense Hessian, and the exact curvature of a model trained by a local rule."""

import logging
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowrank_rnn import ArgumentError, ArgumentTypeError
from lowrank_rnn.analysis import exact_loss, hessian_eigenvalues
from lowrank_rnn.learning import RateRNN, rule_outputs
from lowrank_rnn.models import LowRankRNN
from lowrank_rnn.tasks import get_task


def _dense_top(f, x, k):
    H = np.asarray(jax.hessian(f)(x), np.float64)
    return np.sort(np.linalg.eigvalsh(0.5 * (H + H.T)))[::-1][:k]


def test_lanczos_matches_the_dense_hessian_of_a_nonconvex_function():
    key = jax.random.key(0)
    A = jax.random.normal(key, (30, 12))
    b = jax.random.normal(jax.random.key(1), (30,))

    def f(w):  # a small tanh network's squared error: indefinite Hessian
        return 0.5 * jnp.sum((jnp.tanh(A @ w) - b) ** 2) + 0.1 * jnp.sum(w**4)

    w = 0.5 * jax.random.normal(jax.random.key(2), (12,))
    dense = _dense_top(f, w, 4)
    assert dense.min() < dense.max()
    lanczos = hessian_eigenvalues(f, w, k=4, key=jax.random.key(3))
    # 12 parameters: the default 40 Lanczos steps reach the whole space, so the result is exact up
    # to float32 rounding of the Hessian-vector products
    np.testing.assert_allclose(lanczos, dense, rtol=1e-4, atol=1e-4 * abs(dense).max())
    np.testing.assert_allclose(hessian_eigenvalues(f, w, k=4, method="dense"), dense, rtol=1e-5)


def test_lanczos_top_eigenvalue_of_a_large_quadratic_with_few_products():
    # 2000 parameters, spectrum with a clear gap at the top: 40 products give the top 3 to 1e-6
    rng = np.random.default_rng(0)
    n = 2000
    Q, _ = np.linalg.qr(rng.standard_normal((n, 60)))
    top = np.array([50.0, 30.0, 20.0])
    spec = np.concatenate([top, rng.uniform(-1.0, 1.0, 57)])
    U = jnp.asarray(Q, jnp.float32)
    s = jnp.asarray(spec, jnp.float32)

    def f(x):
        y = U.T @ x
        return 0.5 * jnp.sum(s * y * y)

    got, vecs = hessian_eigenvalues(f, jnp.zeros(n), k=3, key=jax.random.key(0), return_vectors=True)
    np.testing.assert_allclose(got, top, rtol=1e-5)
    # the eigenvectors are the corresponding columns of Q (up to sign)
    overlap = np.abs(vecs @ Q[:, :3])
    assert np.all(np.diag(overlap) > 0.999)


def test_wrt_restricts_to_one_leaf():
    model = LowRankRNN(16, 1, 1, 1, key=jax.random.key(0))
    task = get_task("rdm")
    loss, params = exact_loss(model, task, key=jax.random.key(1), n_trials=4)

    def only_m(p):
        return p.m

    lam = hessian_eigenvalues(loss, params, k=2, wrt=only_m, key=jax.random.key(2))

    def f_m(m):
        return loss(eqx.tree_at(only_m, params, m))

    dense = _dense_top(lambda v: f_m(v.reshape(params.m.shape)), params.m.ravel(), 2)
    np.testing.assert_allclose(lam, dense, rtol=2e-3, atol=1e-6)


def test_exact_loss_hessian_is_the_true_one_for_a_rule_trained_model():
    """A RateRNN as trained by e-prop: the rule's pseudo-gradient differs from the true gradient, and
    exact_loss's Hessian equals the dense Hessian of the plain loss, not the Jacobian of the rule."""
    task = get_task("rdm")
    model = RateRNN(12, task.n_inputs, task.n_outputs, key=jax.random.key(0), nonlinearity="tanh")
    key = jax.random.key(1)
    loss, params = exact_loss(model, task, key=key, n_trials=4)
    trials = task.sample(jax.random.split(key)[0], 4)
    _, static = eqx.partition(model, model.trainable())

    def rule_loss(p):
        return task.loss(rule_outputs(eqx.combine(p, static), trials.inputs, "eprop"), trials)

    def on_w(f):
        return lambda w: f(eqx.tree_at(lambda p: p.W, params, w.reshape(params.W.shape)))

    w0 = params.W.ravel()
    g_true, g_rule = jax.grad(on_w(loss))(w0), jax.grad(on_w(rule_loss))(w0)
    assert float(jnp.linalg.norm(g_true - g_rule)) > 1e-3 * float(jnp.linalg.norm(g_true))  # e-prop truncates
    # the plain loss's Hessian, written here without exact_loss, by jax.hessian of run_trials' own path
    dense = _dense_top(on_w(lambda p: task.loss(jax.vmap(eqx.combine(p, static))(trials.inputs), trials)), w0, 3)
    got = hessian_eigenvalues(loss, params, k=3, wrt=lambda p: p.W, iterations=144, key=jax.random.key(2))
    np.testing.assert_allclose(got, dense, rtol=2e-3, atol=1e-3 * abs(dense).max())
    rule_jac = np.asarray(jax.jacfwd(jax.grad(on_w(rule_loss)))(w0), np.float64)
    rule_top = np.sort(np.linalg.eigvals(rule_jac).real)[::-1][:3]
    assert not np.allclose(rule_top, dense, rtol=1e-2)


def test_bad_input():
    x = jnp.ones(3)
    with pytest.raises(ArgumentError, match="scalar"):
        hessian_eigenvalues(lambda v: v * 2.0, x)
    with pytest.raises(ArgumentError, match="k = 4 exceeds the number of parameters"):
        hessian_eigenvalues(lambda v: jnp.sum(v**2), x, k=4)
    with pytest.raises(ArgumentError, match="method"):
        hessian_eigenvalues(lambda v: jnp.sum(v**2), x, method="power")
    with pytest.raises(ArgumentTypeError, match="loss must be a function"):
        hessian_eigenvalues(3.0, x)
    model = LowRankRNN(8, 1, 1, 1, key=jax.random.key(0))
    with pytest.raises(ArgumentError, match="wrt"):
        hessian_eigenvalues(lambda p: jnp.sum(p.m**2), model, wrt=lambda p: p.W)
    with pytest.raises(ArgumentTypeError, match="model must be"):
        exact_loss("model", get_task("rdm"), key=jax.random.key(0))


def test_exact_losses_of_one_structure_share_one_compiled_product(caplog):
    # a measurement per model and checkpoint (liu2022_curvature) compiled the Hessian-vector product
    # again at every call while it closed over the loss; the pytree loss compiles it once, with the
    # same eigenvalues as the loss's plain function
    # counted per loss, from "Compiling" (logged before the persistent cache is read, so a program another
    # test process already wrote there counts too); the first may find it compiled by an earlier test
    task = get_task("rdm")
    runs, compiles = [], []
    with jax.log_compiles(), caplog.at_level(logging.WARNING):
        for seed in (0, 1):
            caplog.clear()
            model = LowRankRNN(16, 1, 1, 1, key=jax.random.key(seed))
            loss, params = exact_loss(model, task, key=jax.random.key(seed + 5), n_trials=4)
            lam = hessian_eigenvalues(loss, params, k=1, wrt=lambda p: p.m, iterations=6, key=jax.random.key(2))
            runs.append((loss, params, lam))
            compiles.append([r.getMessage() for r in caplog.records
                             if re.search(r"Compiling jit\(_?hvp\)", r.getMessage())])
    assert len(compiles[0]) <= 1 and compiles[1] == [], compiles
    for loss, params, lam in runs:
        plain = hessian_eigenvalues(lambda p, loss=loss: loss(p), params, k=1, wrt=lambda p: p.m, iterations=6,
                                    key=jax.random.key(2))
        np.testing.assert_allclose(lam, plain, rtol=1e-6)
