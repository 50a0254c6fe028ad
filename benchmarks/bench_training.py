"""Training speed and accuracy against the authors' PyTorch code, side by side in one run.

Two published recipes of Dubreuil, Valente et al. 2022 (Nat. Neurosci.), each trained by both
implementations in the same benchmark:

* ``rdm``: rank 1, N = 512, network noise 0.05 per step (sigma = 0.05 / sqrt(0.2) in the
  library's convention), 1000 trials with 20 % held out, Adam lr 5e-3, batch 32, 20 epochs;
* ``mante``: rank 1, N = 512, Adam lr 1e-2, gradient norm clipped at 0.1, input vectors trained,
  stop at a mean training loss below 0.01 (at most 100 epochs).

Paths, each a fresh process per run (``bench_training_worker.py``):

* ``reference``: the authors' package ``low_rank_rnns`` (PyTorch, CPU) running the arguments of
  their ``training_scripts/rdm_fig1.py`` / ``mante_fig1.py``; timed: its ``train`` call.
* ``cold``: ``lowrank-rnn train --task TASK`` with an empty JAX compilation cache, so the timed
  loop includes compiling the epoch;
* ``warm``: the same with the on-disk cache filled by an untimed one-epoch run before the rounds
  (what a user sees from the second run of a recipe on); timed: ``train_seconds``, the training
  loop from the first epoch's compilation to the last checkpoint;
* ``warm-noiseless`` (only when asked for with ``--paths``): ``warm`` with the network noise off
  (``--noise 0``), its own primed cache. Not the published recipe: a bound, the time our loop
  would take if drawing the noise cost nothing and nothing else changed.

Drawing the trials is outside the timed loop on both sides (the reference makes them before its
``train`` is called). The paths run in rounds: each once per round, the order reversed every
other round, the same seed for every path of a round (seeds 0, 1, ...). A speed-up is the median
over rounds of the same-round ratio reference / ours, with its range, so that the machine's
moments (memory bandwidth and load on a shared machine swing within a minute) fall on both sides
of a ratio. Also reported: CPU seconds of each loop (``resource.getrusage``; both sides use all
cores), our compile time (tracing, lowering and XLA compilation, or the cache read, from
``jax.monitoring``) apart, the whole process's wall time, the 1-minute load average before each
run, and each run's accuracy on its 200 held-out trials (network noise on).

The reference is not part of this repository: install torch with
``bash benchmarks/setup_reference.sh`` and obtain the authors' code from
github.com/adrian-valente/populations_paper_code; then

    python benchmarks/bench_training.py --reference-src PATH/populations_paper_code/src \\
        --reference-python .venv-reference/bin/python --out results/bench_training.json

(or set ``LOWRANK_RNN_REFERENCE_SRC`` / ``LOWRANK_RNN_REFERENCE_PYTHON``). ``--cpus 1`` runs every
path on one CPU: on a loaded machine torch's OpenMP threads otherwise spin-wait for a core and the
reference's times grow many-fold (a quiet machine needs no pinning). Without them only
our paths run. ``--quick`` is a smoke run (N = 64, two epochs, one round unless ``--rounds``).
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

HERE = Path(__file__).resolve().parent
WORKER = HERE / "bench_training_worker.py"
TASKS = ("rdm", "mante")
OURS = ("cold", "warm", "warm-noiseless")
DEFAULT_PATHS = ("reference", "cold", "warm")
# the extra options of a path's `lowrank-rnn train` call
EXTRA = {"warm-noiseless": ["--noise", "0"]}


def reference_setup(src: str | None, python: str | None) -> tuple[Path, str] | None:
    """Return ``(src, python)`` of the reference, or None when it is not configured; raise
    SystemExit with what is missing when it is configured but unusable."""
    src = src or os.environ.get("LOWRANK_RNN_REFERENCE_SRC")
    if not src:
        return None
    python = python or os.environ.get("LOWRANK_RNN_REFERENCE_PYTHON") or sys.executable
    path = Path(src).expanduser().resolve()
    if not (path / "low_rank_rnns" / "modules.py").is_file():
        raise SystemExit(f"--reference-src must be the 'src' folder of the authors' repository "
                         f"(it holds low_rank_rnns/modules.py); {path} does not")
    probe = subprocess.run([python, "-c", "import torch"], capture_output=True, text=True)
    if probe.returncode:
        raise SystemExit(f"the reference interpreter {python} cannot import torch; run "
                         f"benchmarks/setup_reference.sh and pass --reference-python .venv-reference/bin/python")
    return path, python


def run_path(path: str, task: str, seed: int, *, workdir: Path, caches: dict[str, Path], reference,
             size: list[str], cpus: int | None = None) -> dict:
    """Run one path once in a fresh process (on the first ``cpus`` CPUs of this process's set, or all);
    return the worker's row plus load and process time."""
    env = dict(os.environ)
    if path == "reference":
        src, python = reference
        env["PYTHONPATH"] = str(src)
        env["CUDA_VISIBLE_DEVICES"] = ""
        env.pop("XLA_FLAGS", None)
        cmd = [python, str(WORKER), "reference", task, str(seed), *size]
    else:
        env["LOWRANK_RNN_JAX_CACHE"] = str(caches[path] if path in caches else workdir / f"cold-{time.monotonic_ns()}")
        out = workdir / f"{task}-{path}-{seed}-{time.monotonic_ns()}"
        cmd = [sys.executable, str(WORKER), "ours", task, str(seed), "--out", str(out), *size, *EXTRA.get(path, [])]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    pin = None
    if cpus is not None:
        allowed = sorted(os.sched_getaffinity(0))[:cpus]
        pin = lambda: os.sched_setaffinity(0, allowed)  # noqa: E731
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, preexec_fn=pin)
    process_seconds = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{path} {task} seed {seed} failed:\n{proc.stderr[-3000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**row, "path": path, "process_seconds": process_seconds, "load": load}


def _ratios(rows: list[dict], task: str, path: str, key: str) -> list[float]:
    """Same-round ratios reference / path of ``key``."""
    out = []
    for r in {x["round"] for x in rows}:
        ref = [x for x in rows if x["round"] == r and x["task"] == task and x["path"] == "reference"]
        ours = [x for x in rows if x["round"] == r and x["task"] == task and x["path"] == path]
        if ref and ours and ref[0].get(key) and ours[0].get(key):
            out.append(ref[0][key] / ours[0][key])
    return out


def _spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)} if values else {}


def summarise(rows: list[dict]) -> list[dict]:
    """Per task and path: medians and ranges of the times, the paired ratios, epochs, accuracies."""
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        for path in ("reference", *OURS):
            sel = [r for r in rows if r["task"] == task and r["path"] == path]
            if not sel:
                continue
            s = {"task": task, "path": path, "rounds": len(sel)}
            for key in ("train_seconds", "train_cpu_seconds", "process_seconds", "compile_seconds",
                        "epoch_compile_seconds", "sample_seconds"):
                vals = [r[key] for r in sel if r.get(key) is not None]
                if vals:
                    s[key] = _spread(vals)
            s["epochs"] = [r["epochs"] for r in sel]
            s["val_accuracy"] = [r["val_accuracy"] for r in sel]
            s["load"] = [round(r["load"], 2) for r in sel]
            if path != "reference":
                for key, name in (("train_seconds", "speedup"), ("train_cpu_seconds", "cpu_speedup"),
                                  ("process_seconds", "process_speedup")):
                    s[name] = _spread(_ratios(rows, task, path, key))
            out.append(s)
    return out


def _fmt(s: dict, key: str, digits: int = 2) -> str:
    v = s.get(key)
    if not v:
        return "-"
    return f"{v['median']:.{digits}f} ({v['min']:.{digits}f}-{v['max']:.{digits}f})"


def markdown(summary: list[dict]) -> str:
    lines = ["| task | path | loop s | loop CPU s | compile s | process s | speed-up, loop | speed-up, loop CPU "
             "| speed-up, process | epochs | val. accuracy | load (1 min) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in summary:
        speed = [f"**{_fmt(s, k, 1)}**" if s.get(k) else "-" for k in ("speedup", "cpu_speedup", "process_speedup")]
        lines.append(f"| {s['task']} | {s['path']} | {_fmt(s, 'train_seconds')} | {_fmt(s, 'train_cpu_seconds', 1)} | "
                     f"{_fmt(s, 'compile_seconds')} | {_fmt(s, 'process_seconds', 1)} | {' | '.join(speed)} | "
                     f"{', '.join(map(str, s['epochs']))} | {', '.join(f'{a:.3f}' for a in s['val_accuracy'])} | "
                     f"{min(s['load']):.1f}-{max(s['load']):.1f} |")
    lines.append("")
    lines.append("Medians over rounds with (min-max); speed-ups are medians of same-round ratios reference / ours. "
                 "compile s: ours, tracing + lowering + XLA compilation (cold) or the cache read (warm), whole process.")
    return "\n".join(lines)


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
    commit = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "jax": jax.__version__,
            "commit": commit.stdout.strip() or None,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--paths", nargs="+", default=list(DEFAULT_PATHS), choices=["reference", *OURS],
                        help="the paths to run (default: reference, cold, warm); warm-noiseless is a bound "
                             "(the network noise off), not the recipe")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds per task (default 5, 1 with --quick; the seed of round r is r)")
    parser.add_argument("--reference-src", default=None,
                        help="the 'src' folder of the authors' repository (or $LOWRANK_RNN_REFERENCE_SRC)")
    parser.add_argument("--reference-python", default=None,
                        help="a Python with torch (or $LOWRANK_RNN_REFERENCE_PYTHON; default: this one)")
    parser.add_argument("--cpus", type=int, default=None,
                        help="run every path on this many CPUs (default: all). On a loaded machine, 1 keeps "
                             "torch's OpenMP threads from spin-waiting for a core, which inflates the "
                             "reference's times many-fold")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--quick", action="store_true", help="smoke run: N = 64, 2 epochs (one round unless --rounds)")
    args = parser.parse_args(argv)
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 5)
    if rounds < 1:
        parser.error("--rounds must be >= 1")
    if args.cpus is not None and not 1 <= args.cpus <= len(os.sched_getaffinity(0)):
        parser.error(f"--cpus must be between 1 and {len(os.sched_getaffinity(0))}")
    reference = reference_setup(args.reference_src, args.reference_python) if "reference" in args.paths else None
    paths = [p for p in args.paths if p != "reference" or reference is not None]
    if "reference" in args.paths and reference is None:
        print("reference not configured (--reference-src): timing our paths only, no speed-ups", file=sys.stderr)
    size = ["--hidden", "64", "--epochs", "2"] if args.quick else []
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_training_") as tmp:
        tmp = Path(tmp)
        for task in args.tasks:
            caches = {p: tmp / f"{p}-cache-{task}" for p in ("warm", "warm-noiseless")}
            for p in caches:  # untimed: fills the cache (the number of epochs does not change the program)
                if p in paths:
                    prime = ["--hidden", "64"] if args.quick else []
                    run_path(p, task, 1000, workdir=tmp, caches=caches, reference=reference,
                             size=prime + ["--epochs", "1"], cpus=args.cpus)
            for r in range(rounds):
                for path in (paths if r % 2 == 0 else paths[::-1]):
                    row = {**run_path(path, task, r, workdir=tmp, caches=caches, reference=reference, size=size,
                                      cpus=args.cpus), "round": r}
                    rows.append(row)
                    print(json.dumps({k: v for k, v in row.items() if k != "compile_by_function"}), flush=True)
    summary = summarise(rows)
    command = "python benchmarks/bench_training.py " + " ".join(argv if argv is not None else sys.argv[1:])
    result = {"machine": machine(), "command": command, "runs": rows, "summary": summary}
    print(markdown(summary))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
