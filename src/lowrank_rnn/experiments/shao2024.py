"""Reproduction of Shao, Dahmen, Recanatesi, Shea-Brown & Ostojic, "Identifying the impact of local
connectivity patterns on dynamics in excitatory-inhibitory networks" (arXiv 2411.06802; PRX Life
3:023008, 2025).

``lowrank-rnn reproduce shao2024 --out DIR [--quick]`` writes ``DIR/report.md``, the PNG figures and
``DIR/results.json``. Each section sets the predictions of :mod:`lowrank_rnn.motifs` (functions of a
:class:`~lowrank_rnn.motifs.MotifEnsemble`, no sampling) beside eigenvalues and linear responses of
sampled networks (several realisations, trimmed means as the authors use):

1. eigenvalues against chain strength (Fig. 2): the chain-induced positive outlier;
2. the stability boundary lambda_+ = 1 in the (g, tau) plane;
3. scaling with N at fixed connection probability against fixed in-degree (Fig. 4), on binary SONETs;
4. responses to input into E and into I against chain strength, with the paradoxical region (Fig. 7);
5. a 2-D map over cell-type-specific chains tau_EE, tau_EI with the predicted paradoxical boundary (Fig. 11);
6. the low-rank approximation as a ``Network``, simulated linear and with tanh (the link to the core).

The default run uses the paper's sizes (N = 1000-2000) and takes a few minutes on 2 CPU cores;
``quick`` uses N = 400-800 with N g^2 held fixed (the same predicted outliers and responses), one
to three realisations and coarse grids, and makes the same figures and tables in well under a minute.
"""

from __future__ import annotations

import time
from pathlib import Path

from . import _shao2024_sections as sections
from ._report import start_report
from ._shao2024_sections import Config

TITLE = ("Shao et al. 2025 (PRX Life 3:023008): connectivity motifs in E–I networks, "
         "low-rank theory against sampled networks")

SECTIONS = ("eigenvalues", "stability", "scaling", "responses", "map", "low_rank")


def _sections():
    return {"eigenvalues": sections.section_eigenvalues, "stability": sections.section_stability,
            "scaling": sections.section_scaling, "responses": sections.section_responses,
            "map": sections.section_map, "low_rank": sections.section_low_rank}


def run(out_dir, *, quick: bool = False, only=None) -> Path:
    """Return the path of ``report.md`` after reproducing the paper's results into ``out_dir``.

    Parameters
    ----------
    out_dir: folder for ``report.md``, ``results.json`` and the PNG figures (created if missing).
    quick: small networks, few realisations and coarse grids (same figures, well under a minute).
    only: optional subset of :data:`SECTIONS` (for development; the report then covers only them).
    """
    report = start_report(out_dir, TITLE, only=only, allowed=SECTIONS, what="sections")
    cfg = Config.make(bool(quick))
    report.text(
        f"Run: {'quick (small networks, N g² as at N = 1000, few realisations)' if cfg.quick else 'default'}. "
        "Linear rate dynamics dx/dt = −x + Jx + h (time in units of the membrane time constant); J_ij is the "
        "weight from j onto i; E and I populations in the ratio 4 : 1; mean J0_ij = J_E/N_E (E columns), "
        "−J_I/N_I (I columns), of rank one with eigenvalue λ0 = J_E − J_I. Motif statistics are correlation "
        "coefficients of weights sharing a neuron. Theory: `lowrank_rnn.motifs` (no sampling); numerics: "
        "dense eigenvalues and solves of networks drawn with `MotifEnsemble.sample` or `motifs.sonet_ei`; "
        "trimmed means drop the largest and smallest eighth of the realisations.")
    results: dict = {"quick": cfg.quick, "config": {k: v for k, v in cfg.__dict__.items()}, "timings_s": {}}
    t_start = time.perf_counter()
    for name, fn in _sections().items():
        if only is not None and name not in only:
            continue
        t0 = time.perf_counter()
        fn(cfg, report, results)
        results["timings_s"][name] = round(time.perf_counter() - t0, 2)
    return report.finish(results, t_start)
