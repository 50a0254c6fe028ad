"""One timed training run in a fresh process, for ``bench_training.py``; prints one JSON line.

Two sub-commands, each run by ``bench_training.py`` with the right interpreter:

``ours TASK SEED OUT``
    ``lowrank-rnn train --task TASK --seed SEED --out OUT --quiet`` in this process (the library's
    command line, as a user runs it), with JAX's compile events recorded
    (``jax.monitoring``): tracing, lowering to MLIR and the XLA compilation, or the read of the
    compiled program from the on-disk cache (``LOWRANK_RNN_JAX_CACHE``). Reports the run folder's
    ``train_seconds`` and history, and the compile time apart.

``reference TASK SEED``
    The published recipe with the authors' own PyTorch code (``low_rank_rnns``, Dubreuil,
    Valente et al. 2022, Nat. Neurosci.; its ``src`` folder on ``PYTHONPATH``): the trials with
    ``generate_rdm_data(1000)`` / ``generate_mante_data(1000)``, a ``LowRankRNN`` of rank 1 and
    N = 512, the package's ``train`` with the arguments of ``training_scripts/rdm_fig1.py`` /
    ``mante_fig1.py`` (on the CPU), then ``test_rdm`` / ``test_mante`` on the 200 held-out
    trials. Only its ``train`` call is timed as the training loop, as ours is; drawing the
    trials is timed apart on both sides.

Only the standard library is imported at module level: the reference side runs in an
environment without JAX, ours without torch.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import resource
import sys
import time
from pathlib import Path

T_PROCESS = time.perf_counter()

# The published recipes (training_scripts/rdm_fig1.py and mante_fig1.py of the authors' repository).
PUBLISHED = {
    "rdm": {"n_inputs": 1, "train_wi": False,
            "train": {"lr": 5e-3, "n_epochs": 20, "batch_size": 32, "keep_best": True}},
    "mante": {"n_inputs": 4, "train_wi": True,
              "train": {"lr": 1e-2, "n_epochs": 100, "keep_best": True, "early_stop": 0.01, "clip_gradient": 0.1}},
}
NOISE_STD, ALPHA, RANK, HIDDEN, N_TRIALS = 5e-2, 0.2, 1, 512, 1000


def _cpu() -> float:
    """CPU seconds of this process so far (all threads, user + system)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_reference(task: str, seed: int, *, hidden: int, epochs: int | None) -> dict:
    t0, c0 = time.perf_counter(), _cpu()
    import random

    import numpy as np
    import torch
    from low_rank_rnns import modules

    data_module = __import__(f"low_rank_rnns.{task}", fromlist=["_"])
    import_seconds, import_cpu = time.perf_counter() - t0, _cpu() - c0
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    recipe = PUBLISHED[task]
    t0 = time.perf_counter()
    if task == "rdm":
        x, y, mask, x_val, y_val, mask_val = data_module.generate_rdm_data(N_TRIALS)
    else:
        x, y, mask, x_val, y_val, mask_val = data_module.generate_mante_data(N_TRIALS, fraction_validation_trials=0.2)
    sample_seconds = time.perf_counter() - t0
    net = modules.LowRankRNN(recipe["n_inputs"], hidden, 1, NOISE_STD, ALPHA, rank=RANK, train_wi=recipe["train_wi"])
    kwargs = dict(recipe["train"], cuda=False)
    if epochs is not None:
        kwargs["n_epochs"] = epochs
    log = io.StringIO()
    t0, c0 = time.perf_counter(), _cpu()
    with contextlib.redirect_stdout(log):
        modules.train(net, x, y, mask, **kwargs)
    train_seconds, train_cpu = time.perf_counter() - t0, _cpu() - c0
    test = data_module.test_rdm if task == "rdm" else data_module.test_mante
    val_loss, val_accuracy = test(net, x_val, y_val, mask_val)
    epochs_log = re.findall(r"^epoch \d+:\s+loss=([0-9.naif]+)\s+\(took ([0-9.]+) s\)", log.getvalue(), re.M)
    epoch_seconds = [float(t) for _, t in epochs_log]
    return {"side": "reference", "task": task, "seed": seed, "train_seconds": train_seconds,
            "train_cpu_seconds": train_cpu, "sample_seconds": sample_seconds, "import_seconds": import_seconds,
            "import_cpu_seconds": import_cpu, "epochs": len(epoch_seconds), "epoch_seconds": epoch_seconds,
            "train_loss": [float(x) for x, _ in epochs_log],
            "val_loss": float(val_loss), "val_accuracy": float(val_accuracy), "torch": torch.__version__,
            "threads": torch.get_num_threads()}


def run_ours(task: str, seed: int, out: Path, extra: list[str]) -> dict:
    t0, c0 = time.perf_counter(), _cpu()
    import jax.monitoring

    from lowrank_rnn import cli

    import_seconds, import_cpu = time.perf_counter() - t0, _cpu() - c0
    compile_events: dict[str, dict[str, float]] = {}

    def listener(event: str, duration: float, **kwargs) -> None:
        stage = {"/jax/core/compile/jaxpr_trace_duration": "trace",
                 "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
                 "/jax/core/compile/backend_compile_duration": "compile"}.get(event)
        if stage is not None:
            name = str(kwargs.get("fun_name", "?"))
            per = compile_events.setdefault(name, {"trace": 0.0, "lower": 0.0, "compile": 0.0})
            per[stage] += duration

    cache_events = {"hits": 0, "requests": 0}

    def count(event: str, **kwargs) -> None:
        if event == "/jax/compilation_cache/cache_hits":
            cache_events["hits"] += 1
        elif event == "/jax/compilation_cache/compile_requests_use_cache":
            cache_events["requests"] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    jax.monitoring.register_event_listener(count)
    t0, c0 = time.perf_counter(), _cpu()
    with contextlib.redirect_stdout(io.StringIO()):
        status = cli.main(["train", "--task", task, "--seed", str(seed), "--out", str(out), "--quiet", *extra])
    main_seconds, main_cpu = time.perf_counter() - t0, _cpu() - c0
    if status:
        raise SystemExit(f"lowrank-rnn train exited with {status}")
    history = json.loads((out / "history.json").read_text())
    timing_file = out / "timing.json"
    timing = json.loads(timing_file.read_text()) if timing_file.exists() else {}
    wall = history.get("wall_time", [])
    later = sorted(b - a for a, b in zip(wall, wall[1:]))
    epoch_compile = sum(sum(v.values()) for k, v in compile_events.items() if "epoch" in k)
    return {"side": "ours", "task": task, "seed": seed,
            "train_seconds": float((out / "train_seconds").read_text()),
            "train_cpu_seconds": timing.get("cpu_seconds_this_session"),
            "sample_seconds": timing.get("sample_seconds"), "import_seconds": import_seconds,
            "import_cpu_seconds": import_cpu, "main_seconds": main_seconds, "main_cpu_seconds": main_cpu,
            "epochs": len(history["epoch"]), "first_epoch_seconds": wall[0] if wall else None,
            "median_epoch_seconds": later[len(later) // 2] if later else None,
            "compile_seconds": sum(sum(v.values()) for v in compile_events.values()),
            "epoch_compile_seconds": epoch_compile, "compile_by_function": compile_events,
            "cache_hits": cache_events["hits"], "cache_requests": cache_events["requests"],
            "val_loss": history["val_loss"][-1], "val_accuracy": history["val_accuracy"][-1],
            "xla_flags": os.environ.get("XLA_FLAGS", "")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("side", choices=["ours", "reference"])
    parser.add_argument("task", choices=sorted(PUBLISHED))
    parser.add_argument("seed", type=int)
    parser.add_argument("--out", default=None, help="run folder (ours)")
    parser.add_argument("--hidden", type=int, default=HIDDEN)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--noise", type=float, default=None,
                        help="ours: the network noise sigma instead of the recipe's (0: none; a bound, not the recipe)")
    args = parser.parse_args(argv)
    if args.side == "reference":
        row = run_reference(args.task, args.seed, hidden=args.hidden, epochs=args.epochs)
    else:
        extra = [] if args.hidden == HIDDEN else ["--hidden", str(args.hidden)]
        extra += [] if args.epochs is None else ["--epochs", str(args.epochs)]
        extra += [] if args.noise is None else ["--noise", str(args.noise)]
        row = run_ours(args.task, args.seed, Path(args.out), extra)
    row["cpus"] = len(os.sched_getaffinity(0))
    row["process_cpu_seconds"] = _cpu()
    row["in_process_seconds"] = time.perf_counter() - T_PROCESS
    print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
