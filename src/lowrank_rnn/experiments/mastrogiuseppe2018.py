"""Reproduction of Mastrogiuseppe & Ostojic 2018, "Linking connectivity, dynamics, and computations in
low-rank recurrent neural networks", Neuron 99:609-623.

``lowrank-rnn reproduce mastrogiuseppe2018 --out DIR [--quick]`` writes ``DIR/report.md`` (figures,
tables, every caption with its parameters), the PNG figures and ``DIR/results.json`` (the key numbers).
Each result sets the mean-field theory of :mod:`lowrank_rnn.theory` (a function of the
:class:`~lowrank_rnn.Ensemble` only) beside simulations of networks sampled from the same ensemble:

1. phase diagram of the rank-one network (g against the overlap) with simulated points, and kappa and
   Delta_0 against g (Fig. 1);
2. spectra: bulk of radius g and the outlier at the overlap; the stability matrix at a fixed point;
3. input-driven rank one: an input correlated with n breaks the +/- symmetry, one orthogonal to n
   shrinks the bistable range (Fig. 2);
4. Go-Nogo discrimination (Fig. 3); 5. detection of a noisy stimulus, threshold and psychometric
   curve (Fig. 4); 6. context-dependent discrimination with rank two (Fig. 5);
7. rank two at g = 0: ring attractor and limit cycle, flow fields and trajectories.

The default run uses N >= 2000 and several seeds and takes a few minutes on 2 CPU cores; ``quick``
uses small networks, one or two seeds and coarse grids, and makes the same figures and tables
in about a minute, most of it compiling the mean-field solvers.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

from . import _m2018_rank_one as one
from . import _m2018_rank_two as two
from . import _m2018_tasks as task_sections
from ._m2018_common import Config, missing_theory, single_threaded_blas, theory_in_background
from ._report import start_report

TITLE = ("Mastrogiuseppe & Ostojic 2018 (Neuron 99:609): low-rank networks, "
         "theory against simulation")

#: theory functions the reproduction uses, all from lowrank_rnn.theory
THEORY = ("stationary_states", "phase_diagram", "critical_g_C", "critical_g_B", "plot_phase_diagram",
          "latent_fixed_points", "limit_cycle", "plot_flow_field")


def _sections():
    return [
        ("phase_diagram", one.section_phase_diagram),
        ("spontaneous", one.section_sweep),
        ("spectrum", one.section_spectrum),
        ("input_driven", one.section_input_driven),
        ("go_nogo", task_sections.section_go_nogo),
        ("detection", task_sections.section_detection),
        ("context", task_sections.section_context),
        ("rank_two", two.section_rank_two),
    ]


def _theory_chains(cfg: Config, sections: set) -> list:
    """Return the theory of ``sections`` as chains of (name, function) for the background thread.

    Each chain shares compiled solvers (the rank-one sections with inputs all solve rank-one
    ensembles whose inputs are padded to the same shapes), and the chains come in the order the
    sections need them.
    """
    chains = []
    if sections & {"phase_diagram", "spontaneous"} and not missing_theory("phase_diagram", "critical_g_C",
                                                                              "critical_g_B"):
        chains += [[("diagram", partial(one.diagram_theory, cfg))],
                   [("g_C", partial(one.critical_g_C_theory, cfg)), ("g_B", partial(one.critical_g_B_theory, cfg))]]
    if "context" in sections and not missing_theory("stationary_states"):
        chains.append([("context", partial(task_sections.context_theory, cfg))])
    if "rank_two" in sections and not missing_theory("latent_fixed_points", "limit_cycle", "flow_field"):
        chains.append([("rank_two", partial(two.rank_two_theory, cfg))])
    if not missing_theory("stationary_states"):
        # last in the queue: the sections that run first (EXECUTION_ORDER) take these over themselves
        rank_one = [(name, fn) for name, fn in (("spectrum", partial(one.spectrum_theory, cfg)),
                                                ("input_driven", partial(one.input_theory, cfg)),
                                                ("go_nogo", task_sections.gonogo_theory),
                                                ("detection", partial(task_sections.detection_theory, cfg)))
                    if name in sections]
        chains += [rank_one] if rank_one else []
    return chains


SECTIONS = ("phase_diagram", "spontaneous", "spectrum", "input_driven", "go_nogo", "detection", "context",
            "rank_two")

#: the order in which the sections run (the report keeps the order of SECTIONS): those whose theory
#: is light first, solving it in line, while the background thread solves the heavy theory (the
#: phase diagram and its boundaries, the rank-two context network, the latent flow) for the last
EXECUTION_ORDER = ("spectrum", "input_driven", "go_nogo", "detection", "rank_two", "context", "phase_diagram",
                   "spontaneous")


def run(out_dir, *, quick: bool = False, only=None) -> Path:
    """Return the path of ``report.md`` after reproducing the paper's results into ``out_dir``.

    Parameters
    ----------
    out_dir: folder for ``report.md``, ``results.json`` and the PNG figures (created if missing).
    quick: small networks, few seeds and coarse grids (about a minute on 2 cores); same figures.
    only: optional subset of :data:`SECTIONS` to run (for development; the report then covers only them).
    """
    from tqdm.auto import tqdm

    report = start_report(out_dir, TITLE, only=only, allowed=SECTIONS, what="sections")
    cfg = Config.make(bool(quick))
    missing = missing_theory(*THEORY)
    report.text(
        f"Run: {'quick (small networks, coarse grids)' if cfg.quick else 'default'}. Time in units of τ; "
        "φ = tanh; J = gχ + m nᵀ/N with χ_ij ~ N(0, 1/N); κ = nᵀφ(x)/N; readout z = wᵀφ(x)/N; Euler "
        f"integration with dt = {cfg.dt}. Theory: `lowrank_rnn.theory` (mean-field, no N); simulation: "
        "`lowrank_rnn.simulate` on networks drawn with `Ensemble.sample`.")
    if missing:
        report.text("**Theory not yet available in the library** (those curves are absent from the figures): "
                    + ", ".join(f"`lowrank_rnn.theory.{m}`" for m in missing) + ".")
    results: dict = {"quick": cfg.quick, "config": {k: v for k, v in cfg.__dict__.items()},
                     "missing_theory": missing, "timings_s": {}}
    t_start = time.perf_counter()
    todo = [(n, f) for n, f in _sections() if only is None or n in only]
    head, parts, timings = len(report.blocks), {}, {}
    # the mean-field theory of every section starts at once on a worker thread (it is the larger
    # part of the work and independent of the simulations, which run here); BLAS is kept to one
    # thread so that the dense eigenvalue problems do not spin against those threads
    with theory_in_background(_theory_chains(cfg, {n for n, _ in todo})), single_threaded_blas():
        for name, fn in tqdm(sorted(todo, key=lambda nf: EXECUTION_ORDER.index(nf[0])),
                             desc="mastrogiuseppe2018", unit="section"):
            t0 = time.perf_counter()
            start = len(report.blocks)
            fn(cfg, report, results)
            parts[name] = report.blocks[start:]
            timings[name] = round(time.perf_counter() - t0, 2)
    report.blocks[head:] = [block for name, _ in todo for block in parts[name]]  # the order of SECTIONS
    for name, _ in todo:
        if name in results:  # results.json in the order of SECTIONS too
            results[name] = results.pop(name)
        results["timings_s"][name] = timings[name]
    return report.finish(results, t_start, "Wall-clock seconds per section. The sections run in the order "
                         + ", ".join(n for n in EXECUTION_ORDER if n in timings)
                         + " while the heavier theory is solved on a background thread from the start, so a "
                         "section's time is its simulations and figures plus the theory it solved itself or "
                         "waited for: ")
