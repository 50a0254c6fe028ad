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
   populations.
2. **Several populations.** Two zero-mean populations are fitted to the Mante and DMS networks (the
   authors' choice; clustered with their means held at 0, ``fit_mixture(..., method="zero_mean")``),
   the mixture's statistics are fine-tuned so that networks drawn from them perform the task
   (:func:`lowrank_rnn.analysis.fine_tune_mixture`), and new networks are drawn from them (DMS: of the
   authors' N = 4096 neurons, as their notebook draws them, and of the trained N beside); 3 and 4
   populations are tried where two stay below 0.9 (default run). The paper: CDM two populations
   0.895-0.975 (mean about 0.94), DMS 8 of 10 networks >= 0.985 after fine-tuning. ePAIRS
   (:func:`lowrank_rnn.analysis.epairs`) on every network's loadings, and the gain modulation of the
   CDM populations by context.
3. **Latents and flow.** kappa(t) of a trained network per task (:func:`lowrank_rnn.analysis.latents`)
   and, for rank two, the flow in the (kappa_1, kappa_2) plane of the trained network beside that of
   its one-Gaussian description.
4. **Truncation** (default run only): a full-rank RDM network's learned change W - W0 truncated to
   rank r (:func:`lowrank_rnn.analysis.truncate`), accuracy against r.

What is feasible on 2 CPU cores, and so the default run: 3 networks on RDM, Raposo and Mante and 2 on
Romo at the published N = 512, with the published recipes; 2 DMS networks at N = 512 by the published
``train_dms.py`` protocol (50 full-rank pre-training epochs at lr 1e-5, then rank two at delays up to
700, 1000 and 4000 ms, each stage stopped at loss 0.05 with its best epoch kept; the last stage capped
at 100 epochs instead of 400); 5 resampled networks per fit, 1000 fresh trials per accuracy (the
paper: 100 networks per task); fine-tuning per mixture 40 epochs at lr 1e-2 for Mante, and for DMS
the authors' 60 epochs at lr 1e-4 with the published support network's steps and fractions kept,
returning the epoch of lowest validation loss; the one-Gaussian description fine-tuned as a control;
and, for both, networks redrawn from each trained network's own loading vectors (the empirical
distribution, no fit). The DMS descriptions are fine-tuned at the trained N = 512; the DMS networks
drawn from them, the control ones and the redrawn ones have N = 4096 (``Config.resample_sizes``: the
authors' fine-tuned mixture needs that size, drawn at 512-2048 it falls to medians of 0.69-0.77), and
the one-Gaussian ones are drawn at both 512 and 4096. DMS falls short at this trained N = 512 (as
the authors' own N = 500 network does). Networks trained at N = 4096 by hand (rank two, no full-rank
pre-training; see the docs page): started from a draw of the fine-tuned N = 512 populations, one
Gaussian about 0.5 and two fine-tuned populations 1.0, the published result; started from the
N = 512 network's own loadings redrawn, two populations stay at about 0.5. One network trained at
N = 4096 by the authors' first ``train_dms.py`` (2020; :meth:`Config.dms_4096`) does not resample either
(one Gaussian 0.50, two populations fine-tuned 0.53, four 0.74).
``quick`` trains
one N = 128 network on RDM and one on Mante, and fine-tunes the Mante mixture for 15 epochs.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from .._checks import positive_int
from .._errors import ArgumentError
from . import _dubreuil2022_sections as sec
from ._dubreuil2022_config import PUBLISHED, PUBLISHED_TRUNCATION, TASKS, Config
from ._report import start_report

__all__ = ["run", "TITLE", "TASKS", "PUBLISHED", "PUBLISHED_TRUNCATION", "Config"]

TITLE = ("Dubreuil, Valente et al. 2022 (Nat. Neurosci. 25:783): population structure, "
         "networks resampled from one Gaussian and from several populations")


def run(out_dir, *, quick: bool = False, only=None, hidden: int | None = None, networks: int | None = None,
        config: Config | None = None) -> Path:
    """Return the path of ``report.md`` after reproducing the paper's central result into ``out_dir``.

    Parameters
    ----------
    out_dir: folder for ``report.md``, ``results.json`` and the PNG figures (created if missing). The
        DMS networks train in resumable run folders ``out_dir/runs/dms_N<N>_seed<seed>/`` (a run
        interrupted there continues where it stopped when started again with the same settings).
    quick: RDM and Mante only, N = 128, one network each, three resampled networks (about a minute).
    only: optional subset of :data:`TASKS` (the report then covers only them).
    hidden: neurons of every trained network (default: the published N = 512; quick: 128), e.g.
        ``only=["dms"], hidden=4096, networks=1`` (command line: ``--only dms --hidden 4096
        --networks 1``): the default protocol at N = 4096. The protocol behind the authors' N = 4096
        network is ``config=Config.dms_4096()``.
    networks: networks trained per task (default: 3 on RDM, Raposo and Mante, 2 on Romo and DMS;
        quick: 1).
    config: a :class:`Config` replacing the one ``quick`` picks (``hidden`` and ``networks`` still apply).
    """
    report = start_report(out_dir, TITLE, only=only, allowed=TASKS, what="tasks")
    hidden = None if hidden is None else positive_int("hidden", hidden)
    networks = None if networks is None else positive_int("networks", networks)
    if config is not None and not isinstance(config, Config):
        raise ArgumentError(f"config must be a dubreuil2022.Config or None, got {type(config).__name__}")
    cfg = config if config is not None else Config.make(bool(quick))
    if only is not None:
        kept = tuple(t for t in cfg.tasks if t in only)
        if not kept:
            raise ArgumentError(f"only: none of {sorted(only)} is in this run's tasks {cfg.tasks}")
        cfg = dataclasses.replace(cfg, tasks=kept)
    if hidden is not None:
        cfg = dataclasses.replace(cfg, hidden=tuple((t, hidden) for t, _ in cfg.hidden))
    if networks is not None:
        cfg = dataclasses.replace(cfg, n_networks=tuple((t, networks) for t, _ in cfg.n_networks))
    report.text(
        "Run: " + ("a configuration given by the caller" if config is not None else
                   "quick (RDM and Mante, N = 128, one network each)" if cfg.quick else "default")
        + (f", tasks {', '.join(cfg.tasks)}" if only is not None or config is not None else "")
        + (f", trained networks of N = {', '.join(str(cfg.N(t)) for t in cfg.tasks)}"
           if hidden is not None or config is not None else "")
        + (f", {', '.join(str(cfg.networks(t)) for t in cfg.tasks)} network(s) per task"
           if networks is not None or config is not None else "") + ". "
        "Networks x <- x + α(−x + m nᵀφ(x)/N + I u) + σ√α ξ with φ = tanh, α = dt/τ = 20/100 ms, readout "
        "z = wᵀφ(x)/N, trained with `lowrank_rnn.training.train` by the published recipes "
        "(`lowrank_rnn.training.RECIPES`); accuracy by each task's own rule on fresh noisy trials "
        "(`lowrank_rnn.analysis.task_accuracy`, network noise on). One Gaussian is fitted to the N loading "
        "vectors (m_i, n_i, I_i, w_i) of each trained network (`analysis.fit_mixture(model, 1, "
        f"zero_mean={cfg.zero_mean})`: their covariance, {'mean 0 as in the published code' if cfg.zero_mean else 'and their mean'}) "
        "and new networks of the same N are drawn from it (`analysis.resample`).")
    results: dict = {"quick": cfg.quick, "config": dataclasses.asdict(cfg), "published": PUBLISHED,
                     "tasks": {}, "timings_s": {}}
    t_start = time.perf_counter()
    trained = {}
    for task in cfg.tasks:
        t0 = time.perf_counter()
        trained[task] = sec.run_task(cfg, task, results, out_dir)
        results["timings_s"][task] = round(time.perf_counter() - t0, 2)
    sec.section_resampling(cfg, report, results)
    sec.section_populations(cfg, report, results)
    sec.section_gain_modulation(cfg, report, results, trained)
    t0 = time.perf_counter()
    sec.section_latents(cfg, report, results, trained)
    results["timings_s"]["latents"] = round(time.perf_counter() - t0, 2)
    if cfg.truncation and "rdm" in cfg.tasks:  # a full-rank RDM network: with the RDM part only
        t0 = time.perf_counter()
        sec.section_truncation(cfg, report, results)
        results["timings_s"]["truncation"] = round(time.perf_counter() - t0, 2)
    return report.finish(results, t_start, "Wall-clock seconds: ")
