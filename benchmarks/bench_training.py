"""Training-loop speed and accuracy against the published PyTorch implementation (issue 4, item 6).

Two published recipes (Dubreuil, Valente et al. 2022, Nat. Neurosci.; reference notes §5.1), run
exactly as a user would, with ``lowrank-rnn train --task TASK --seed S --out DIR``:

* ``rdm``: rank 1, N = 512, input noise 0.1, network noise 0.05 in the published per-step
  convention (sigma = 0.05 / sqrt(0.2) = 0.1118 in ours), 1000 trials with 20 % held out, Adam
  lr 5e-3, batch 32, 20 epochs. Reference: 13.5-14.9 s in the training loop (three seeds, quiet
  2-core CPU), validation accuracy 1.0.
* ``mante``: rank 1, N = 512, Adam lr 1e-2, gradient clipping 0.1, early stop at loss 0.01 (at
  most 100 epochs), input vectors trained. Reference: 15.7-24.0 s to reach validation accuracy
  0.995-1.0.

What is timed is ``train_seconds``, which ``train`` writes to the run folder: the wall time of the
training loop from the first epoch's compilation to the last epoch's checkpoint (trial generation,
done once before the loop, is reported separately as it is in the reference, whose trials are made
before its ``train`` is called). Every run is a fresh process. Two conditions:

* ``cold``: an empty JAX compilation cache, so the time includes compiling the epoch;
* ``warm``: the on-disk cache that ``lowrank-rnn train`` keeps, filled by an earlier (untimed)
  one-epoch run of the same recipe; what a user sees from the second run of a recipe on.

Accuracy is the run's final validation accuracy (its own 200 held-out trials, network noise on)
and, from ``lowrank-rnn evaluate --json``, the accuracy on 1000 fresh trials. The load average
(``os.getloadavg``) is recorded before and after each run: the timings are only comparable with
the reference on a quiet machine.

Run ``python benchmarks/bench_training.py --out results/bench_training.json``; ``--quick`` is a
smoke run (N = 64, two epochs, one seed).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REFERENCE = {
    "rdm": {"seconds": (13.5, 14.9), "val_accuracy": "1.0"},
    "mante": {"seconds": (15.7, 24.0), "val_accuracy": "0.995-1.0"},
}


def _cli(args: list[str], cache: Path) -> tuple[str, float]:
    env = dict(os.environ, LOWRANK_RNN_JAX_CACHE=str(cache))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lowrank_rnn.cli", *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"lowrank-rnn {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout, wall


def run_one(task: str, seed: int, cache: Path, workdir: Path, extra: list[str]) -> dict:
    """Train one recipe in a fresh process; return its timings and accuracies."""
    out = workdir / f"{task}-seed{seed}-{time.monotonic_ns()}"
    load_before = os.getloadavg()
    _, process_wall = _cli(["train", "--task", task, "--seed", str(seed), "--out", str(out), "--quiet", *extra],
                           cache)
    load_after = os.getloadavg()
    history = json.loads((out / "history.json").read_text())
    timing = json.loads((out / "timing.json").read_text())
    stdout, _ = _cli(["evaluate", str(out), "--json", "--no-figures", "--trials", "1000"], cache)
    summary = json.loads(stdout)
    return {"task": task, "seed": seed, "train_seconds": float((out / "train_seconds").read_text()),
            "train_cpu_seconds": timing["cpu_seconds_this_session"], "sample_seconds": timing["sample_seconds"],
            "process_seconds": process_wall, "epochs": len(history["epoch"]),
            "first_epoch_seconds": history["wall_time"][0],
            "val_accuracy": history["val_accuracy"][-1], "val_loss": history["val_loss"][-1],
            "fresh_accuracy": summary["accuracy"], "fresh_loss": summary["loss"],
            "load_before": list(load_before), "load_after": list(load_after)}


def machine() -> dict:
    import jax

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "jax": jax.__version__,
            "date": _dt.datetime.now().isoformat(timespec="seconds")}


def summarise(rows: list[dict]) -> list[dict]:
    """Per task and condition: times, accuracies and the ratio to the reference's mean time."""
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        for cond in ("cold", "warm"):
            sel = [r for r in rows if r["task"] == task and r["condition"] == cond]
            if not sel:
                continue
            t = [r["train_seconds"] for r in sel]
            ref = REFERENCE[task]["seconds"]
            out.append({"task": task, "condition": cond, "seeds": [r["seed"] for r in sel],
                        "train_seconds": t, "mean_seconds": statistics.mean(t),
                        "ratio_to_reference_mean": statistics.mean(ref) / statistics.mean(t),
                        "ratio_range": (min(ref) / max(t), max(ref) / min(t)),
                        "epochs": [r["epochs"] for r in sel],
                        "val_accuracy": [r["val_accuracy"] for r in sel],
                        "fresh_accuracy": [r["fresh_accuracy"] for r in sel],
                        "load": [round(r["load_before"][0], 2) for r in sel]})
    return out


def markdown(summary: list[dict]) -> str:
    lines = ["| task | cache | train_seconds (per seed) | mean | reference | speed-up (ref. mean / mean) "
             "| epochs | val. accuracy | fresh-trial accuracy | load (1 min) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for s in summary:
        ref = REFERENCE[s["task"]]
        lines.append(
            f"| {s['task']} | {s['condition']} | {', '.join(f'{x:.2f}' for x in s['train_seconds'])} | "
            f"{s['mean_seconds']:.2f} s | {ref['seconds'][0]}-{ref['seconds'][1]} s, acc. {ref['val_accuracy']} | "
            f"{s['ratio_to_reference_mean']:.1f}x ({s['ratio_range'][0]:.1f}-{s['ratio_range'][1]:.1f}) | "
            f"{', '.join(map(str, s['epochs']))} | {', '.join(f'{a:.3f}' for a in s['val_accuracy'])} | "
            f"{', '.join(f'{a:.3f}' for a in s['fresh_accuracy'])} | {', '.join(map(str, s['load']))} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["rdm", "mante"], choices=sorted(REFERENCE))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--conditions", nargs="+", default=["cold", "warm"], choices=["cold", "warm"])
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--quick", action="store_true", help="smoke run: N = 64, 2 epochs, one seed")
    args = parser.parse_args(argv)
    extra = ["--hidden", "64", "--epochs", "2"] if args.quick else []
    seeds = args.seeds[:1] if args.quick else args.seeds
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_training_") as tmp:
        tmp = Path(tmp)
        for task in args.tasks:
            if "cold" in args.conditions:
                for seed in seeds:
                    cache = tmp / f"cold-cache-{task}-{seed}"  # empty: everything compiles
                    row = run_one(task, seed, cache, tmp, extra)
                    rows.append({**row, "condition": "cold"})
                    print(json.dumps(rows[-1]), flush=True)
            if "warm" in args.conditions:
                cache = tmp / f"warm-cache-{task}"
                prime = [e for e in extra if e not in ("--epochs", "2")] + ["--epochs", "1"]
                run_one(task, 1000, cache, tmp, prime)  # untimed: fills the cache (epochs do not change shapes)
                for seed in seeds:
                    row = run_one(task, seed, cache, tmp, extra)
                    rows.append({**row, "condition": "warm"})
                    print(json.dumps(rows[-1]), flush=True)
    summary = summarise(rows)
    command = "python benchmarks/bench_training.py " + " ".join(argv if argv is not None else sys.argv[1:])
    result = {"machine": machine(), "command": command, "reference": REFERENCE, "runs": rows, "summary": summary}
    print(markdown(summary))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
