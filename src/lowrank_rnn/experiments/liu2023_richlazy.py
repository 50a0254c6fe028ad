"""Reproduction of Liu, Ghosh, Shea-Brown et al. 2023 (arXiv 2310.08513): the rank of the initial
connectivity biases learning towards the rich (low rank) or the lazy (high rank) regime, and a
low-rank initialisation aligned with the task is the exception.

``lowrank-rnn reproduce liu2023_richlazy --out DIR [--quick]``: full-rank ReLU rate networks
(:class:`~lowrank_rnn.learning.RateRNN`, alpha = 1) start from ``W0 = g randn / sqrt(N)`` (g = 1.25)
truncated to rank r at the same Frobenius norm (``init_rank=r``), for r in {1, 10, 30, N}, and learn
three tasks in the authors' short form (steps of 100 ms, about 8 per trial): a two-alternative
decision (``rdm``), delayed match-to-sample (``dms``) and a context-dependent decision (``mante``),
by backpropagation with SGD and momentum 0.9 (:func:`lowrank_rnn.training.train`). For every run,
:func:`~lowrank_rnn.analysis.laziness`: the weight change, the representation alignment at the
decision step, the tangent-kernel alignment (kernel restricted to W) and the sign similarity; the
effective rank of W before and after. The exception: a rank-one W0 aligned with the task (the top
singular component of the change a full-rank network of the same seed learnt, at its learnt size)
against a random rank-one W0.

Choices that are ours (the authors used NeuroGym's tasks, N = 300, lr 3e-3 and 10 000
iterations): the library's tasks at dt = tau = 100 ms, the sizes, the epochs, the learning rate,
the construction of the aligned initialisation.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
import optax
from tqdm.auto import tqdm

from ..analysis import effective_rank, laziness
from ..learning import RateRNN
from ..models import top_svd
from ..tasks import get_task
from ..training import BPTT, train
from ._report import fmt, start_report

TITLE = "Liu et al. 2023 (arXiv 2310.08513): initial connectivity rank, rich and lazy learning"
TASKS = ("2af", "dms", "context")
MEASURES = ("weight_change", "representation_alignment", "kernel_alignment", "sign_similarity")


def short_tasks() -> dict:
    """The three tasks in the authors' short form: dt = tau = 100 ms (alpha = 1), 7-8 steps a trial."""
    short = dict(dt=100.0, tau=100.0)
    return {"2af": get_task("rdm", fixation=100.0, stimulus=400.0, delay=100.0, decision=200.0, **short),
            "dms": get_task("dms", fixation=100.0, stimulus1=100.0, delay_min=100.0, delay_max=200.0,
                            stimulus2=100.0, decision=200.0, **short),
            "context": get_task("mante", fixation=100.0, context=100.0, stimulus=300.0, delay=100.0,
                                decision=200.0, **short)}


@dataclasses.dataclass(frozen=True)
class Config:
    """Sizes of the run (default, or quick)."""

    quick: bool
    hidden: int = 300
    ranks: tuple[int, ...] = (1, 10, 30, 300)
    seeds: int = 3
    epochs: int = 60
    lr: float = 3e-3
    momentum: float = 0.9
    g: float = 1.25
    n_trials: int = 1000
    probe_trials: int = 64

    @classmethod
    def make(cls, quick: bool) -> Config:
        if not quick:
            return cls(quick=False)
        return cls(quick=True, hidden=100, ranks=(1, 10, 30, 100), seeds=2, epochs=30)


def _model(task, cfg: Config, seed: int, rank: int | None = None, W=None) -> RateRNN:
    return RateRNN(cfg.hidden, task.n_inputs, task.n_outputs, key=jax.random.key(seed), alpha=1.0,
                   nonlinearity="relu", g=cfg.g, init_rank=None if W is not None else rank, W=W)


def _fit(model, task, cfg: Config, seed: int):
    net, hist = train(model, task, key=jax.random.key(1000 + seed), epochs=cfg.epochs,
                      method=BPTT(optimizer=optax.sgd(cfg.lr, momentum=cfg.momentum)), batch=32,
                      n_trials=cfg.n_trials, progress=False)
    return net, float(hist["val_loss"][-1])


def _measure(m0, mT, task, cfg: Config, seed: int, loss: float) -> dict:
    lz = laziness(m0, mT, task, key=jax.random.key(2000 + seed), n_trials=cfg.probe_trials).as_dict()
    return {**lz, "final_loss": loss, "effective_rank_before": effective_rank(np.asarray(m0.W)),
            "effective_rank_after": effective_rank(np.asarray(mT.W))}


def run(out_dir, *, quick: bool = False, only=None) -> Path:
    """Return the path of ``report.md`` after reproducing the claims into ``out_dir``.

    ``quick``: N = 100, ranks (1, 10, 30, 100), 2 seeds, 30 epochs; ``only``: a subset of the task
    names ``("2af", "dms", "context")``.
    """
    report = start_report(out_dir, TITLE, only=only, allowed=TASKS, what="tasks")
    cfg = Config.make(bool(quick))
    tasks = {k: v for k, v in short_tasks().items() if only is None or k in only}
    t_start = time.perf_counter()
    report.text(
        f"Run: {'quick' if cfg.quick else 'default'}: N = {cfg.hidden} ReLU units (alpha = 1), W0 = {cfg.g} randn / "
        f"sqrt(N) truncated to rank r at the same Frobenius norm, r in {cfg.ranks}; {cfg.seeds} seeds; SGD lr "
        f"{cfg.lr:g}, momentum {cfg.momentum}, batch 32, {cfg.epochs} epochs of {int(0.8 * cfg.n_trials)} trials. "
        "Published setup (the authors' code): NeuroGym tasks, N = 300, g = 1.25, SGD momentum 0.9, lr 3e-3, "
        "10 000 iterations; the paper's claims are qualitative orderings, so no published numbers stand beside ours.")
    results: dict = {"quick": cfg.quick, "config": dataclasses.asdict(cfg), "tasks": {}, "aligned": {},
                     "timings_s": {}}
    raw: dict = {}
    bar = tqdm(total=len(tasks) * cfg.seeds * (len(cfg.ranks) + 1), desc="liu2023_richlazy", unit="net", leave=False)
    for name, task in tasks.items():
        t0 = time.perf_counter()
        runs = {r: [] for r in cfg.ranks}
        full_change = {}
        for seed in range(cfg.seeds):
            for r in cfg.ranks:
                m0 = _model(task, cfg, seed, r)
                mT, loss = _fit(m0, task, cfg, seed)
                runs[r].append(_measure(m0, mT, task, cfg, seed, loss))
                bar.update()
                if r == max(cfg.ranks):
                    full_change[seed] = np.asarray(mT.W - m0.W)
        # the exception: rank one along the task-relevant direction a full-rank network learnt
        aligned, random1 = [], runs[min(cfg.ranks)]  # random rank one: at the norm of W0
        for seed in range(cfg.seeds):
            # the learnt component itself (top_svd gives m, n with m n^T / N the rank-one part): at the full
            # Frobenius norm of W0 an aligned rank-one matrix has an outlier eigenvalue ~ g sqrt(N)
            # and the ReLU network explodes
            u, v = top_svd(full_change[seed], 1)
            m0 = _model(task, cfg, seed, W=np.array(u @ v.T / cfg.hidden, dtype=np.float32))
            mT, loss = _fit(m0, task, cfg, seed)
            aligned.append(_measure(m0, mT, task, cfg, seed, loss))
            bar.update()
        raw[name] = runs
        entry = {"ranks": list(cfg.ranks)}
        for key in (*MEASURES, "final_loss", "effective_rank_before", "effective_rank_after"):
            entry[key] = [float(np.mean([x[key] for x in runs[r]])) for r in cfg.ranks]
            entry[f"{key}_sd"] = [float(np.std([x[key] for x in runs[r]])) for r in cfg.ranks]
        results["tasks"][name] = entry
        results["aligned"][name] = {k: float(np.mean([x[k] for x in aligned])) for k in (*MEASURES, "final_loss")}
        results["aligned"][name]["random_rank_one"] = {k: float(np.mean([x[k] for x in random1]))
                                                       for k in (*MEASURES, "final_loss")}
        results["timings_s"][name] = round(time.perf_counter() - t0, 2)
    bar.close()

    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    for i, name in enumerate(tasks):
        e = results["tasks"][name]
        x = np.arange(len(cfg.ranks))
        for ax, key in zip(axes, MEASURES):
            ax.errorbar(x + 0.05 * (i - 1), e[key], yerr=e[f"{key}_sd"], marker="o", capsize=3, label=name)
    for ax, key in zip(axes, MEASURES):
        ax.set(xticks=np.arange(len(cfg.ranks)), xticklabels=[str(r) for r in cfg.ranks], xlabel="initial rank r",
               title=key.replace("_", " "))
    axes[0].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    report.section("Laziness against the rank of the initial connectivity")
    report.figure(fig, "laziness_vs_rank.png",
                  f"Weight change |W_T - W_0|_F, representation alignment (activity kernels at the decision step), "
                  f"tangent-kernel alignment (kernel of the outputs restricted to W) and sign similarity, mean and s.d. "
                  f"over {cfg.seeds} seeds. Rich learning: large change, low alignments; lazy: the opposite.")
    plt.close(fig)
    rows = []
    for name in tasks:
        e = results["tasks"][name]
        for j, r in enumerate(cfg.ranks):
            rows.append([name, r, *(fmt(e[k][j]) for k in MEASURES), fmt(e["final_loss"][j]),
                         fmt(e["effective_rank_before"][j]), fmt(e["effective_rank_after"][j])])
    report.table(["task", "rank", "weight change", "repr. alignment", "kernel alignment", "sign similarity",
                  "final loss", "eff. rank before", "after"], rows, caption="Means over seeds.")
    for name in tasks:
        e = results["tasks"][name]
        lo, hi = 0, len(cfg.ranks) - 1
        richer = e["kernel_alignment"][lo] < e["kernel_alignment"][hi] and \
            e["representation_alignment"][lo] < e["representation_alignment"][hi]
        loss_ratio = max(e["final_loss"]) / max(min(e["final_loss"]), 1e-12)
        a = results["aligned"][name]
        exc = a["kernel_alignment"] > a["random_rank_one"]["kernel_alignment"]
        report.text(
            f"**{name}.** Claim 1, *low initial rank learns richly, high rank lazily* (published): kernel alignment "
            f"{fmt(e['kernel_alignment'][lo])} at r = {cfg.ranks[lo]} against {fmt(e['kernel_alignment'][hi])} at "
            f"r = {cfg.ranks[hi]}, representation alignment {fmt(e['representation_alignment'][lo])} against "
            f"{fmt(e['representation_alignment'][hi])}: **{'reproduced' if richer else 'not reproduced'}**. "
            f"Claim 2, *at equal final loss* (published): final losses range over a factor {loss_ratio:.2g} across ranks "
            f"({'comparable' if loss_ratio < 2 else 'not equal: the comparison is confounded by how well each learnt'}). "
            f"Claim 3, *an aligned rank-one initialisation is the exception* (published): kernel alignment "
            f"{fmt(a['kernel_alignment'])} aligned against {fmt(a['random_rank_one']['kernel_alignment'])} random rank one: "
            f"**{'reproduced' if exc else 'not reproduced'}** (the claim: lazier when aligned; the aligned W0 has the "
            f"learnt component's size, not W0's norm, so size and alignment are not separated here).")
    return report.finish(results, t_start, timings="Wall-clock seconds per task: ")
