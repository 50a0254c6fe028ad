"""Local learning rules on delayed XOR (issue 6): learning curves, gradient quality, BPTT time per iteration.

The ModProp paper's protocol (Liu et al. 2022, arXiv 2206.01338; code ``delayedXOR_task.py``):
cue 100 ms, delay 700 ms, cue 100 ms at dt = 1 ms (900 steps); 120 ReLU units with Dale's law
(97 E, 23 I), tau = 100 ms, sign-constrained readout; cross-entropy at the last step plus L2 5e-4;
Adam lr 5e-4 decayed x0.8 every 300 iterations; batch 32 of fresh trials each iteration; validation
every 20 iterations on fresh trials. Rules: BPTT, e-prop, MDGL, ModProp (mu = 0.25, E/I block
averages; ``--rules "modprop(0.25, unit)"`` runs W_ab = W, which is what the authors' released
delayed-XOR code computes, see benchmarks/README.md), each with the seeds vmapped in one compiled
program (:func:`lowrank_rnn.learning.fit`),
and OpenAI-ES through ``train(..., method=OpenES(...))`` with the same network and task. Curves: the
best and the worst run by area under the validation-loss curve are dropped, then mean +- s.d. of a
15-point moving mean, as the paper's ``plot_curves.py``. Gradient quality: the cosine similarity
of each rule's update to the BPTT gradient on the same fresh batch at every evaluation point.

    python benchmarks/bench_local_rules.py --out results/local_rules            # default budget
    python benchmarks/bench_local_rules.py --full --out results/local_rules_full  # 3000 iterations
    python benchmarks/bench_local_rules.py --quick --out /tmp/lr                  # smoke test (< 1 min)

Writes ``summary.json``, ``learning_curves.png``, ``accuracy_curves.png``, ``gradient_alignment.png``
and ``histories.npz`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np

from lowrank_rnn.learning import RateRNN, drop_extremes, fit, plot_alignment, plot_learning_curves
from lowrank_rnn.tasks import get_task

RULES = ("bptt", "modprop", "eprop", "mdgl")


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        return "unknown"


def _first_reach(iterations, accuracy, level=0.95, smooth=5) -> float:
    """Return the first iteration at which the ``smooth``-point moving mean of accuracy reaches ``level``."""
    acc = np.asarray(accuracy, float)
    if acc.size < smooth:
        return float("nan")
    m = np.convolve(acc, np.ones(smooth) / smooth, mode="valid")
    hit = np.nonzero(m >= level)[0]
    return float(np.asarray(iterations)[hit[0] + smooth - 1]) if hit.size else float("nan")


def _models(n_seeds, N, n_exc, alpha, seed0=0):
    return [RateRNN(N, 2, 2, key=jax.random.key(seed0 + s), n_excitatory=n_exc, alpha=alpha, nonlinearity="relu",
                    dale_readout=True) for s in range(n_seeds)]


def bptt_time_per_iteration(task, N, n_exc, batch, *, repeats=3, steps=5) -> dict:
    """Return the wall and CPU seconds of one BPTT iteration (steady state, compile excluded)."""
    net = _models(1, N, n_exc, task.dt / task.tau)[0]
    fit(net, task, key=jax.random.key(0), iterations=steps, eval_every=steps, batch=batch, l2=5e-4)  # compile
    walls, cpus = [], []
    for r in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fit(net, task, key=jax.random.key(r + 1), iterations=steps, eval_every=steps, batch=batch, l2=5e-4)
        walls.append((time.perf_counter() - t) / steps)
        cpus.append((time.process_time() - c) / steps)
    return {"wall_s": min(walls), "cpu_s": min(cpus), "wall_all": walls, "cpu_all": cpus, "steps": steps,
            "note": "each timed call also runs one validation pass (64 trials, forward only)"}


def run_es(task, models, *, iterations, batch, eval_every, val_batch, popsize, sigma, lr, seed0):
    """Train each model with OpenAI-ES (``train(..., method=OpenES(...))``); one generation per minibatch."""
    from lowrank_rnn.training import Adam, OpenES, RunSettings, train

    n_train = batch * eval_every
    n_trials = n_train + val_batch
    out = []
    for s, net in enumerate(models):
        _, h = train(net, task, key=jax.random.key(1000 + seed0 + s), epochs=max(1, iterations // eval_every),
                     batch=batch, n_trials=n_trials, run=RunSettings(val_fraction=val_batch / n_trials),
                     method=OpenES(popsize=popsize, sigma=sigma, optimizer=Adam(lr)), progress=False)
        its = np.asarray(h["epoch"]) * eval_every
        out.append({"iteration": its.tolist(), "val_loss": h["val_loss"], "val_accuracy": h["val_accuracy"],
                    "wall_time": h["wall_time"]})
    return out


def _figures(out: Path, curves: dict, acc_curves: dict, align: dict, *, title: str, smooth: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from lowrank_rnn._io import save_figure

    colors = {label: f"C{i}" for i, label in enumerate(curves)}  # a rule keeps its colour in every figure
    ax = plot_learning_curves(curves, smooth=smooth, title=title, ylabel="validation loss (cross-entropy)",
                              colors=colors)
    save_figure(ax.figure, out / "learning_curves.png")
    ax = plot_learning_curves(acc_curves, smooth=smooth, title=title, ylabel="validation accuracy", colors=colors)
    save_figure(ax.figure, out / "accuracy_curves.png")
    ax = plot_alignment(align, title=title.replace("delayed XOR", "gradient quality on delayed XOR").replace(
                            ", best and worst dropped", ", all runs"),
                        ylabel="cosine to the BPTT gradient (recurrent weights)", colors=colors)
    save_figure(ax.figure, out / "gradient_alignment.png")


def replot(out: Path, extra: list[Path]) -> int:
    """Redraw the figures of ``out`` from ``histories.npz`` files (``out``'s and those of ``extra``)."""
    summary = json.loads((out / "summary.json").read_text())
    curves, acc_curves, align = {}, {}, {}
    for folder in [out, *extra]:
        with np.load(folder / "histories.npz") as h:
            for key in h.files:
                if key.endswith("_iteration"):
                    rule = key[: -len("_iteration")]
                    label = "es (OpenAI-ES)" if rule == "es" else rule
                    # learning curves: the first folder that has the rule; alignment: the recurrent-weight
                    # cosine wherever a folder has it
                    curves.setdefault(label, (h[key], h[f"{rule}_val_loss"]))
                    acc_curves.setdefault(label, (h[key], h[f"{rule}_val_accuracy"]))
                    if f"{rule}_cosine_recurrent" in h.files and rule != "bptt":
                        align[label] = (h[key], h[f"{rule}_cosine_recurrent"])
    smooth = 3 if summary.get("quick") else (15 if summary.get("full") else 5)
    _figures(out, curves, acc_curves, align, smooth=smooth,
             title=f"delayed XOR, N = {summary['N']} (Dale), {summary['seeds']} seeds, best and worst dropped")
    print(f"redrew the figures of {out}")
    return 0


def main(argv=None) -> int:
    from lowrank_rnn.training._cli import enable_compilation_cache

    enable_compilation_cache()  # $LOWRANK_RNN_JAX_CACHE or ~/.cache/lowrank-rnn/jax: reruns skip compilation
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--quick", action="store_true", help="smoke test: short trials, small network, 3 seeds")
    p.add_argument("--full", action="store_true", help="the paper's 3000 iterations (default: --iterations)")
    p.add_argument("--iterations", type=int, default=400)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--rules", default=",".join(RULES),
                   help="comma-separated credit_assignment specs, e.g. 'bptt,eprop,modprop(0.25, unit)' "
                        "(W_ab = W: what the released ModProp code computes)")
    p.add_argument("--es-generations", type=int, default=None, help="ES budget (default: as the rules, capped)")
    p.add_argument("--es-popsize", type=int, default=16)
    p.add_argument("--no-timing", action="store_true", help="skip the BPTT time per iteration")
    p.add_argument("--no-es", action="store_true")
    p.add_argument("--replot", nargs="*", default=None, metavar="DIR",
                   help="only redraw the figures of --out from its histories.npz (and those of the DIRs, e.g. "
                        "a separate ES run)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.replot is not None:
        return replot(out, [Path(d) for d in args.replot])
    rules = [r.strip() for r in re.split(r",(?![^()]*\))", args.rules) if r.strip()]  # commas outside (...)

    if args.quick:
        task = get_task("delayed_xor", cue=10.0, delay=20.0, dt=1.0, tau=10.0)
        N, n_exc, seeds, iterations, eval_every, batch, val_batch = 24, 19, 3, 30, 10, 16, 32
        lr, es_gens, es_pop = 5e-3, 10, 8
    else:
        task = get_task("delayed_xor")
        N, n_exc, seeds = 120, 97, args.seeds
        iterations = 3000 if args.full else args.iterations
        eval_every, batch, val_batch, lr = 20, 32, 64, 5e-4
        es_gens = args.es_generations if args.es_generations is not None else min(iterations, 100)
        es_pop = args.es_popsize
    alpha = task.dt / task.tau
    load0 = os.getloadavg()
    summary = {"commit": _commit(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "task": task.config(), "N": N, "n_excitatory": n_exc, "seeds": seeds, "iterations": iterations,
               "batch": batch, "lr": lr, "eval_every": eval_every, "quick": bool(args.quick), "full": bool(args.full),
               "load_average_start": load0, "rules": {}}

    if not (args.quick or args.no_timing):
        summary["bptt_time_per_iteration"] = bptt_time_per_iteration(task, N, n_exc, batch)
        print(f"BPTT: {summary['bptt_time_per_iteration']['wall_s']:.3f} s per iteration (wall), "
              f"{summary['bptt_time_per_iteration']['cpu_s']:.3f} s CPU", flush=True)

    curves, acc_curves, align = {}, {}, {}
    arrays = {}

    def write():  # after every rule, so an interrupted run keeps what it measured
        from lowrank_rnn._io import atomic_write_bytes

        summary["load_average_end"] = os.getloadavg()
        # a 15-point moving mean as the paper over 3000 iterations; 5 points (100 iterations) for shorter runs
        smooth = 3 if args.quick else (15 if args.full else 5)
        _figures(out, curves, acc_curves, align, smooth=smooth,
                 title=f"delayed XOR, N = {N} (Dale), {seeds} seeds, best and worst dropped")
        np.savez(out / "histories.npz", **arrays)
        atomic_write_bytes(out / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    for rule in rules:
        t0 = time.perf_counter()
        runs = fit(_models(seeds, N, n_exc, alpha), task, key=jax.random.key(7), credit_assignment_rule=rule,
                   iterations=iterations, batch=batch, lr=lr, l2=5e-4, eval_every=eval_every, val_batch=val_batch,
                   track_alignment=rule != "bptt")
        seconds = time.perf_counter() - t0
        its = np.asarray(runs[0][1]["iteration"])
        loss = np.array([h["val_loss"] for _, h in runs])
        acc = np.array([h["val_accuracy"] for _, h in runs])
        cos = np.array([h["cosine_to_bptt"] for _, h in runs])
        cos_rec = np.array([h["cosine_to_bptt_recurrent"] for _, h in runs])
        keep = drop_extremes(loss)
        reach = [_first_reach(its, a) for a in acc]
        summary["rules"][rule] = {
            "seconds_all_seeds": seconds, "final_val_accuracy": acc[:, -1].tolist(),
            "final_val_loss": loss[:, -1].tolist(), "iteration_to_0.95": reach,
            "median_iteration_to_0.95": float(np.nanmedian(reach)) if np.any(np.isfinite(reach)) else None,
            "runs_reaching_0.95": int(np.sum(np.isfinite(reach))),
            "kept_runs": keep.tolist(), "mean_final_val_loss_kept": float(loss[keep, -1].mean()),
            "mean_cosine_to_bptt": None if rule == "bptt" else float(np.nanmean(cos)),
            "cosine_first_last": None if rule == "bptt" else [float(np.nanmean(cos[:, 0])),
                                                             float(np.nanmean(cos[:, -1]))],
            "mean_cosine_to_bptt_recurrent": None if rule == "bptt" else float(np.nanmean(cos_rec)),
            "cosine_recurrent_first_last": None if rule == "bptt" else [float(np.nanmean(cos_rec[:, 0])),
                                                                       float(np.nanmean(cos_rec[:, -1]))]}
        curves[rule], acc_curves[rule] = (its, loss), (its, acc)
        if rule != "bptt":
            align[rule] = (its, cos_rec)
        arrays.update({f"{rule}_iteration": its, f"{rule}_val_loss": loss, f"{rule}_val_accuracy": acc,
                       f"{rule}_cosine": cos, f"{rule}_cosine_recurrent": cos_rec})
        print(f"{rule}: {seconds:.0f} s for {seeds} seeds x {iterations} iterations; final accuracy "
              f"{np.round(acc[:, -1], 3).tolist()}; iterations to 0.95: {reach}", flush=True)
        write()

    if not args.no_es:
        gens = es_gens - es_gens % eval_every if es_gens >= eval_every else eval_every
        t0 = time.perf_counter()
        es = run_es(task, _models(seeds, N, n_exc, alpha), iterations=gens, batch=batch, eval_every=eval_every,
                    val_batch=val_batch, popsize=es_pop, sigma=0.02, lr=1e-2 if not args.quick else 2e-2, seed0=0)
        seconds = time.perf_counter() - t0
        its = np.asarray(es[0]["iteration"])
        loss = np.array([h["val_loss"] for h in es])
        acc = np.array([h["val_accuracy"] for h in es])
        reach = [_first_reach(its, a) for a in acc]
        summary["rules"]["es"] = {
            "seconds_all_seeds": seconds, "generations": int(gens), "popsize": es_pop, "sigma": 0.02,
            "final_val_accuracy": acc[:, -1].tolist(), "final_val_loss": loss[:, -1].tolist(),
            "iteration_to_0.95": reach, "runs_reaching_0.95": int(np.sum(np.isfinite(reach))),
            "kept_runs": drop_extremes(loss).tolist(),
            "note": "OpenAI-ES (train(..., method=OpenES(...))), one generation = one iteration on a minibatch of "
                    f"{batch} trials drawn from a fixed set of {batch * eval_every}; no L2 term"}
        curves["es (OpenAI-ES)"], acc_curves["es (OpenAI-ES)"] = (its, loss), (its, acc)
        arrays.update({"es_iteration": its, "es_val_loss": loss, "es_val_accuracy": acc})
        print(f"es: {seconds:.0f} s for {seeds} seeds x {gens} generations; final accuracy "
              f"{np.round(acc[:, -1], 3).tolist()}", flush=True)

    write()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
