"""Reproduction of the central result of Dubreuil, Valente, Beiran, Mastrogiuseppe & Ostojic 2022,
"The role of population structure in computations through neural dynamics", Nat. Neurosci. 25:783.

``lowrank-rnn reproduce dubreuil2022 --out DIR [--quick]`` writes ``DIR/report.md``, the PNG figures
and ``DIR/results.json``:

1. **One Gaussian, resampled.** Low-rank networks are trained on each task by the published recipes
   (:data:`lowrank_rnn.training.RECIPES`; Romo and DMS start from the top-2 SVD of a pre-trained
   full-rank network, DMS with delay shaping), ONE Gaussian is fitted to each network's loadings
   (m_i, n_i, I_i, w_i) (:func:`lowrank_rnn.analysis.fit_mixture`), several networks are resampled
   from it (:func:`lowrank_rnn.analysis.resample`) and their accuracy is measured on fresh trials.
   The paper: resampled networks keep accuracy about 1.0 on RDM and Raposo and 0.96 on Romo, but
   drop to about 0.70 on Mante and 0.54 on DMS (means over 100 networks), which need two or more
   populations. A two-population fit of the Mante (and DMS) networks is resampled too.
2. **Latents and flow.** kappa(t) of a trained network per task (:func:`lowrank_rnn.analysis.latents`)
   and, for rank two, the flow in the (kappa_1, kappa_2) plane of the trained network beside that of
   its one-Gaussian description.
3. **Truncation** (default run only): a full-rank RDM network's learned change W - W0 truncated to
   rank r (:func:`lowrank_rnn.analysis.truncate`), accuracy against r.

What is feasible on 2 CPU cores, and so the default run: 3 networks on RDM, Raposo and Mante and 2 on
Romo at the published N = 512, with the published recipes; 2 DMS networks at N = 256 with a shortened
protocol (10 full-rank pre-training epochs instead of 50, at most 100 epochs at delay <= 700 ms, then
the delay widened to 1500 and 3000 ms, at most 30 epochs each, early stop at loss 0.01); 5 resampled
networks per fit, 1000 fresh trials per accuracy (the paper: 100 networks per task). It took 10.6 min
of wall time at load average 10-16 on 2 shared cores (4.3 min of process CPU time). ``quick`` trains
one N = 128 network on RDM and one on Mante (under a minute of CPU time).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path


from .._errors import ArgumentError
from ._report import Report

TITLE = ("Dubreuil, Valente et al. 2022 (Nat. Neurosci. 25:783): population structure, "
         "networks resampled from one Gaussian")

TASKS = ("rdm", "romo", "raposo", "mante", "dms")

#: Published numbers (reference code's data/*_results.npz over 100 trained networks per task):
#: trained accuracy (median, min) and accuracy after resampling from ONE Gaussian (median, mean).
PUBLISHED = {
    "rdm": {"trained": (1.000, 1.000), "resampled": (1.000, 1.000)},
    "romo": {"trained": (1.000, 0.935), "resampled": (0.980, 0.958)},
    "raposo": {"trained": (1.000, 1.000), "resampled": (1.000, 1.000)},
    "mante": {"trained": (1.000, 0.985), "resampled": (0.730, 0.701)},
    "dms": {"trained": (1.000, 0.355), "resampled": (0.510, 0.536)},
}

#: Published median accuracy of full-rank networks with the learned change truncated to rank r = 1..5.
PUBLISHED_TRUNCATION = {"rdm": (0.99, 1.0, 1.0, 1.0, 1.0), "romo": (0.21, 0.69, 0.92, 0.965, 0.965),
                        "raposo": (0.475, 0.87, 0.985, 1.0, 1.0), "mante": (0.53, 0.69, 0.78, 0.815, 0.86),
                        "dms": (0.515, 0.475, 0.495, 0.51, 0.73)}


@dataclasses.dataclass(frozen=True)
class Config:
    """Sizes of the run: the default (published N where affordable, a few networks per task) or quick."""

    quick: bool
    tasks: tuple[str, ...] = TASKS
    hidden: tuple[tuple[str, int], ...] = (("rdm", 512), ("romo", 512), ("raposo", 512), ("mante", 512),
                                           ("dms", 256))
    n_networks: tuple[tuple[str, int], ...] = (("rdm", 3), ("romo", 2), ("raposo", 3), ("mante", 3), ("dms", 2))
    n_resampled: int = 5
    n_eval_trials: int = 1000
    two_population_tasks: tuple[str, ...] = ("mante", "dms")
    #: DMS: epochs at delay <= 700 ms (published up to 300, early stop 0.01), then per shaping stage
    dms_epochs: int = 100
    dms_pretrain_epochs: int = 10
    dms_shaping: tuple[float, ...] = (1500.0, 3000.0)
    dms_shaping_epochs: int = 30
    truncation: bool = True
    truncation_hidden: int = 256
    truncation_epochs: int = 20
    truncation_ranks: tuple[int, ...] = (1, 2, 3, 4, 5)

    @classmethod
    def make(cls, quick: bool) -> "Config":
        """Return the default configuration, or the quick one (RDM and Mante, N = 128, one network)."""
        if not quick:
            return cls(quick=False)
        return cls(quick=True, tasks=("rdm", "mante"), hidden=(("rdm", 128), ("mante", 128)),
                   n_networks=(("rdm", 1), ("mante", 1)), n_resampled=3, n_eval_trials=500,
                   two_population_tasks=("mante",), truncation=False)

    def N(self, task: str) -> int:
        """Neurons of the networks trained on ``task``."""
        return dict(self.hidden)[task]

    def networks(self, task: str) -> int:
        """Networks trained on ``task``."""
        return dict(self.n_networks)[task]


def run(out_dir, *, quick: bool = False, only=None) -> Path:
    """Return the path of ``report.md`` after reproducing the paper's central result into ``out_dir``.

    Parameters
    ----------
    out_dir: folder for ``report.md``, ``results.json`` and the PNG figures (created if missing).
    quick: RDM and Mante only, N = 128, one network each, three resampled networks (about a minute).
    only: optional subset of :data:`TASKS` (for development; the report then covers only them).
    """
    import matplotlib

    matplotlib.use("Agg")
    from . import _dubreuil2022_sections as sec

    cfg = Config.make(bool(quick))
    if only is not None:
        bad = sorted(set(only) - set(TASKS))
        if bad:
            raise ArgumentError(f"only: unknown tasks {bad}; allowed are {TASKS}")
        cfg = dataclasses.replace(cfg, tasks=tuple(t for t in cfg.tasks if t in only))
    report = Report(Path(out_dir), TITLE)
    report.text(
        f"Run: {'quick (RDM and Mante, N = 128, one network each)' if cfg.quick else 'default'}. "
        "Networks x <- x + α(−x + m nᵀφ(x)/N + I u) + σ√α ξ with φ = tanh, α = dt/τ = 20/100 ms, readout "
        "z = wᵀφ(x)/N, trained with `lowrank_rnn.training.train` by the published recipes "
        "(`lowrank_rnn.training.RECIPES`); accuracy by each task's own rule on fresh noisy trials "
        "(`lowrank_rnn.analysis.task_accuracy`, network noise on). One Gaussian is fitted to the N loading "
        "vectors (m_i, n_i, I_i, w_i) of each trained network (`analysis.fit_mixture(model, 1)`: their mean "
        "and covariance) and new networks of the same N are drawn from it (`analysis.resample`).")
    results: dict = {"quick": cfg.quick, "config": dataclasses.asdict(cfg), "published": PUBLISHED,
                     "tasks": {}, "timings_s": {}}
    t_start = time.perf_counter()
    trained = {}
    for task in cfg.tasks:
        t0 = time.perf_counter()
        trained[task] = sec.run_task(cfg, task, results)
        results["timings_s"][task] = round(time.perf_counter() - t0, 2)
    sec.section_resampling(cfg, report, results)
    t0 = time.perf_counter()
    sec.section_latents(cfg, report, results, trained)
    results["timings_s"]["latents"] = round(time.perf_counter() - t0, 2)
    if cfg.truncation:
        t0 = time.perf_counter()
        sec.section_truncation(cfg, report, results)
        results["timings_s"]["truncation"] = round(time.perf_counter() - t0, 2)
    results["timings_s"]["total"] = round(time.perf_counter() - t_start, 2)
    report.section("Timings", "Wall-clock seconds: " + ", ".join(
        f"{k} {v:.1f}" for k, v in results["timings_s"].items()) + ".")
    report.write_json(results)
    return report.write()
