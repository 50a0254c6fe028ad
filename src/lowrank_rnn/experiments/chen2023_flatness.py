"""Reproduction of Chen, Recanatesi & Shea-Brown 2023 (arXiv 2310.01770): in the final phase of
learning, flatter minima bound the compression of the representation.

``lowrank-rnn reproduce chen2023_flatness --out DIR [--quick]``: a one-hidden-layer tanh network
(``h = tanh(W_1 x + b_1)``, output ``W_2 h + b_2``, squared loss on one-hot labels) learns
scikit-learn's 8 x 8 digits (the training split of :func:`lowrank_rnn.tasks.digits`, flattened to
64 inputs) by plain SGD for several learning rates and batch sizes, well past 100 % training
accuracy. Along training: the sharpness (top eigenvalue of the training loss's Hessian,
:func:`~lowrank_rnn.analysis.hessian_eigenvalues`) and, at the hidden layer, the log volumetric
ratio, the maximum local sensitivity and the local dimensionality with the first-layer bound
(:func:`~lowrank_rnn.analysis.representation_geometry`).

Choices that are ours (the paper's experiments are VGG networks on CIFAR-10 and an MLP on
FashionMNIST; its text was not available): the data, the network, the sizes, the grid of learning
rates and batch sizes, and the number of steps.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from ..analysis import hessian_eigenvalues, representation_geometry
from ..tasks import digits
from ._report import fmt, start_report

TITLE = "Chen, Recanatesi & Shea-Brown 2023 (arXiv 2310.01770): flat minima and compressed representations"
MEASURES = ("sharpness", "log_volume", "max_local_sensitivity", "local_dimensionality")


@dataclasses.dataclass(frozen=True)
class Config:
    """Sizes of the run (default, or quick)."""

    quick: bool
    hidden: int = 64
    lrs: tuple[float, ...] = (0.05, 0.1, 0.2)
    batches: tuple[int, ...] = (16, 128)
    steps: int = 20000
    checkpoints: int = 8
    probe_inputs: int = 200
    lanczos: int = 20
    seed: int = 0

    @classmethod
    def make(cls, quick: bool) -> Config:
        if not quick:
            return cls(quick=False)
        return cls(quick=True, hidden=32, lrs=(0.05, 0.2), batches=(16, 128), steps=12000, checkpoints=4,
                   probe_inputs=100)


def _init(key, D: int, H: int, O: int) -> dict:
    k1, k2 = jax.random.split(key)
    return {"W1": jax.random.normal(k1, (H, D)) / np.sqrt(D), "b1": jnp.zeros(H),
            "W2": jax.random.normal(k2, (O, H)) / np.sqrt(H), "b2": jnp.zeros(O)}


def _hidden(p, x):
    return jnp.tanh(p["W1"] @ x + p["b1"])


def _loss(p, X, Y):
    out = jax.vmap(lambda x: p["W2"] @ _hidden(p, x) + p["b2"])(X)
    return 0.5 * jnp.mean(jnp.sum((out - Y) ** 2, axis=1))


def _accuracy(p, X, labels):
    out = jax.vmap(lambda x: p["W2"] @ _hidden(p, x) + p["b2"])(X)
    return float(jnp.mean(jnp.argmax(out, axis=1) == labels))


def _run_one(cfg: Config, lr: float, batch: int, X, Y, labels, Xt, labels_t) -> dict:
    opt = optax.sgd(lr)
    params = _init(jax.random.key(cfg.seed), X.shape[1], cfg.hidden, Y.shape[1])
    state = opt.init(params)
    per = cfg.steps // cfg.checkpoints
    n = X.shape[0]

    @jax.jit
    def segment(params, state, key):
        def step(carry, k):
            params, state = carry
            idx = jax.random.choice(k, n, (batch,), replace=False)
            g = jax.grad(_loss)(params, X[idx], Y[idx])
            upd, state = opt.update(g, state, params)
            return (optax.apply_updates(params, upd), state), None

        (params, state), _ = jax.lax.scan(step, (params, state), jax.random.split(key, per))
        return params, state

    probe = X[: cfg.probe_inputs]
    curve = []
    for c in range(cfg.checkpoints + 1):
        if c:
            params, state = segment(params, state, jax.random.fold_in(jax.random.key(cfg.seed + 1), c))
        loss = float(_loss(params, X, Y))
        if not np.isfinite(loss):
            curve.append({"step": c * per, "diverged": True})
            break
        sharp = float(hessian_eigenvalues(lambda p: _loss(p, X, Y), params, k=1, iterations=cfg.lanczos,
                                          key=jax.random.key(c))[0])
        geo = representation_geometry(_hidden, params, probe, first_layer=lambda p: p["W1"]).summary()
        curve.append({"step": c * per, "train_loss": loss, "train_accuracy": _accuracy(params, X, labels),
                      "test_accuracy": _accuracy(params, Xt, labels_t), "sharpness": sharp,
                      "log_volume": geo["log_volume"], "max_local_sensitivity": geo["max_local_sensitivity"],
                      "local_dimensionality": geo["local_dimensionality"], "bound": geo["bound"],
                      "jacobian_norm": geo["jacobian_norm"]})
    return {"lr": lr, "batch": batch, "curve": curve}


def run(out_dir, *, quick: bool = False, only=None) -> Path:
    """Return the path of ``report.md`` after reproducing the claims into ``out_dir``.

    ``quick``: 32 hidden units, learning rates (0.05, 0.2) x batches (16, 128), 12000 steps each.
    ``only`` is not used (one section); it is accepted for the command line's uniformity.
    """
    report = start_report(out_dir, TITLE, only=only, allowed=("training",), what="sections")
    cfg = Config.make(bool(quick))
    images, labels = digits("train")
    images_t, labels_t = digits("test")
    X = jnp.asarray(images.reshape(len(images), -1))
    Xt = jnp.asarray(images_t.reshape(len(images_t), -1))
    Y = jax.nn.one_hot(jnp.asarray(labels), 10)
    t_start = time.perf_counter()
    grid = [(lr, b) for lr in cfg.lrs for b in cfg.batches]
    runs = [_run_one(cfg, lr, b, X, Y, jnp.asarray(labels), Xt, jnp.asarray(labels_t))
            for lr, b in tqdm(grid, desc="chen2023_flatness", unit="run", leave=False)]
    report.text(
        f"Run: {'quick' if cfg.quick else 'default'}: a {X.shape[1]}-{cfg.hidden}-10 tanh network, squared loss on "
        f"one-hot labels, plain SGD for {cfg.steps} steps at learning rates {cfg.lrs} and batch sizes "
        f"{cfg.batches}, on the 1347 training digits (8 x 8). Measures at the hidden layer on "
        f"{cfg.probe_inputs} training inputs. The paper's claims are qualitative (VGG on CIFAR-10, an MLP on "
        "FashionMNIST); no published numbers stand beside ours.")

    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    for i, r in enumerate(runs):
        pts = [c for c in r["curve"] if not c.get("diverged")]
        steps = [c["step"] for c in pts]
        style = dict(color=f"C{cfg.lrs.index(r['lr'])}", ls="-" if r["batch"] == min(cfg.batches) else "--",
                     label=f"lr {r['lr']:g}, batch {r['batch']}")
        for ax, key in zip(axes, MEASURES):
            ax.plot(steps, [c[key] for c in pts], **style)
    for ax, key in zip(axes, MEASURES):
        ax.set(xlabel="SGD step", title=key.replace("_", " "))
    axes[0].set_yscale("log")
    axes[0].legend(frameon=False, fontsize=7)
    fig.tight_layout()
    report.section("Sharpness and the geometry of the representation along training")
    report.figure(fig, "flatness.png",
                  "Sharpness (top Hessian eigenvalue of the training loss, Lanczos), log volumetric ratio, maximum "
                  "local sensitivity and local dimensionality of the hidden layer, means over the probe inputs; "
                  "colour: learning rate, solid: small batch, dashed: large batch.")
    plt.close(fig)
    finals = []
    for r in runs:
        last = [c for c in r["curve"] if not c.get("diverged")][-1]
        finals.append({"lr": r["lr"], "batch": r["batch"], **{k: last[k] for k in MEASURES},
                       "train_accuracy": last["train_accuracy"], "test_accuracy": last["test_accuracy"],
                       "bound": last["bound"], "jacobian_norm": last["jacobian_norm"],
                       "diverged": any(c.get("diverged") for c in r["curve"])})
    report.table(["lr", "batch", "sharpness", "2 / lr", "log volume", "MLS", "LD", "train acc.", "test acc.",
                  "diverged"],
                 [[f["lr"], f["batch"], fmt(f["sharpness"]), fmt(2 / f["lr"]), fmt(f["log_volume"]),
                   fmt(f["max_local_sensitivity"]), fmt(f["local_dimensionality"]), fmt(f["train_accuracy"]),
                   fmt(f["test_accuracy"]), "yes (last finite values)" if f["diverged"] else "no"] for f in finals],
                 caption="Final values of every run (linear stability of SGD: sharpness <= 2 / lr at a stable minimum).")
    ok = [f for f in finals if not f["diverged"]]
    by_lr = {lr: [f for f in ok if f["lr"] == lr] for lr in cfg.lrs}
    lo, hi = min(cfg.lrs), max(cfg.lrs)
    mean = lambda fs, k: float(np.mean([f[k] for f in fs])) if fs else float("nan")  # noqa: E731
    c1 = mean(by_lr[hi], "sharpness") < mean(by_lr[lo], "sharpness")
    vol_falls = mean(by_lr[hi], "log_volume") < mean(by_lr[lo], "log_volume")
    mls_falls = mean(by_lr[hi], "max_local_sensitivity") < mean(by_lr[lo], "max_local_sensitivity")
    verdict2 = ("reproduced" if vol_falls and mls_falls else
                "partly reproduced: the volume falls, the maximum local sensitivity does not" if vol_falls else
                "partly reproduced: the maximum local sensitivity falls, the volume does not" if mls_falls else
                "not reproduced")
    stab = all(f["sharpness"] <= 2 / f["lr"] * 1.05 for f in ok)
    bound_ok = all(f["jacobian_norm"] <= f["bound"] * (1 + 1e-5) for f in ok)
    s = np.array([f["sharpness"] for f in ok])
    corr = {k: float(np.corrcoef(s, [f[k] for f in ok])[0, 1]) if len(ok) > 2 else float("nan")
            for k in ("log_volume", "max_local_sensitivity", "local_dimensionality")}
    interp = sum(f["train_accuracy"] == 1.0 for f in ok)
    report.text(
        f"The claims concern the final phase of learning, past interpolation: {interp} of {len(ok)} converged runs "
        f"reach 100 % training accuracy"
        f"{'' if interp == len(ok) else ' (the others are judged all the same, which weakens the test)'}"
        f"{f'; {len(finals) - len(ok)} runs diverged and are left out' if len(ok) < len(finals) else ''}.")
    report.text(
        f"**Claim 1: a larger learning rate ends flatter** (published: higher LR, lower sharpness). Mean sharpness at "
        f"lr {lo:g}: {fmt(mean(by_lr[lo], 'sharpness'))}, at lr {hi:g}: {fmt(mean(by_lr[hi], 'sharpness'))}: "
        f"**{'reproduced' if c1 else 'not reproduced'}**. Every run's sharpness is "
        f"{'within' if stab else 'NOT within'} the linear-stability edge 2 / lr.")
    report.text(
        f"**Claim 2: ... and more compressed** (published: volume and MLS fall with sharpness). Log volume "
        f"{fmt(mean(by_lr[lo], 'log_volume'))} -> {fmt(mean(by_lr[hi], 'log_volume'))}, MLS "
        f"{fmt(mean(by_lr[lo], 'max_local_sensitivity'))} -> {fmt(mean(by_lr[hi], 'max_local_sensitivity'))} from lr "
        f"{lo:g} to {hi:g}: **{verdict2}**. Correlation with sharpness across the "
        f"{len(ok)} runs: log volume {corr['log_volume']:.2f}, MLS {corr['max_local_sensitivity']:.2f}.")
    report.text(
        f"**Claim 3: local dimensionality has no such bound** (published). Its correlation with sharpness across runs: "
        f"{corr['local_dimensionality']:.2f} (a ratio of eigenvalues, unchanged by a rescaling of the representation: "
        "nothing ties it to sharpness). The first-layer bound on the Jacobian norm holds in "
        f"{'every' if bound_ok else 'NOT every'} run (it is an inequality, checked as measured).")
    results = {"quick": cfg.quick, "config": dataclasses.asdict(cfg), "runs": finals,
               "curves": [{"lr": r["lr"], "batch": r["batch"], "curve": r["curve"]} for r in runs],
               "correlation_with_sharpness": corr, "timings_s": {"training": round(time.perf_counter() - t_start, 2)},
               "published": {"claims": ["higher lr: lower sharpness and more compression",
                                        "volume and MLS bounded by sharpness", "LD not bounded"]}}
    return report.finish(results, t_start)
