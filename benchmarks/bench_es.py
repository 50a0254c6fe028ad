"""Evolution strategies: generations per second with the population vmapped against a Python loop
over its members, and the time of one BPTT iteration, on delayed XOR (issue 6, item 7).

Model and task: the ``delayed_xor`` recipe of ``lowrank-rnn train`` (Liu et al. 2022's delayed
XOR: 900 steps of 1 ms, tau = 100 ms, cross-entropy at the last step) with a rank-2
:class:`~lowrank_rnn.models.LowRankRNN` of N neurons (default 128), network noise 0.05 in the
published per-step convention, input vectors trained (the recipe's ``trainable``), minibatches of
32 trials. OpenAI-ES (antithetic, centered ranks, Adam) with sigma 0.05.

Timed, for several population sizes P, each generation scoring P members on one minibatch of
trials with the same network noise:

* ``loop``: the baseline. ``ask`` and ``tell`` compiled, and one compiled single-member fitness
  called from a Python loop over the P members (what one writes without ``jax.vmap``);
* ``vmap``: one compiled call per generation: ``ask``, the P members scored by ``jax.vmap`` of the
  same fitness, ``tell``. It evaluates the *same generation* as ``loop`` (same population, same
  trials, same noise); their fitness values are compared and the largest difference recorded;
* ``train``: the library, ``train(model, task, method=OpenES(...))``, whose compiled epoch runs
  ``n_train // batch`` generations in one ``lax.scan`` (and scores the mean as a (P+1)-th member,
  its training loss): the time of a timed run divided by its generations, compilation excluded
  (an identical untimed run first fills the in-memory cache), no validation set, no run folder.

and ``bptt``: ``train(model, task)`` (backpropagation through time, Adam) on the same model,
trials and minibatch size, per iteration (one minibatch update), measured the same way.

Each measurement gives wall and CPU (``time.process_time``, all threads) seconds. The machine may
be shared: ``loop`` and ``vmap`` alternate within each repetition (A/B interleaved, medians
reported), and the load average is recorded before and after.

Run ``python benchmarks/bench_es.py --out results/bench_es.json``; ``--hidden``, ``--batch`` and
``--delay`` change the size of each member's work (e.g. ``--hidden 32 --batch 8 --delay 100``, small
members, where the loop's per-member dispatch matters); ``--quick`` is a smoke run (N = 32, a
100 ms delay, P = 8 and 16, one repetition).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from lowrank_rnn.models import noise_from_published, run_trials
from lowrank_rnn.tasks import get_task
from lowrank_rnn.training import BPTT, Adam, OpenES, RunSettings, build_model, train
from lowrank_rnn.training._es import _algorithm
from lowrank_rnn.training._recipes import get_recipe


def _clock(fn):
    """Return (result, wall seconds, CPU seconds) of ``fn()`` with its arrays ready."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - t0, time.process_time() - c0


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        return "unknown"


def setup(hidden: int, task_overrides: dict):
    recipe = get_recipe("delayed_xor")
    task = get_task("delayed_xor", **task_overrides)
    alpha = task.dt / task.tau
    model = build_model(task, rank=recipe.rank, hidden=hidden, noise=noise_from_published(recipe.noise_std, alpha),
                        key=jax.random.key(0))
    return recipe, task, model


def bench_generation(task, model, filt, popsize: int, sigma: float, lr: float, batch: int, reps: int) -> dict:
    """Time one generation scored by a Python loop over members and by ``jax.vmap``, interleaved."""
    arrays, static = eqx.partition(model, eqx.is_array)
    params, frozen = eqx.partition(arrays, filt)
    flat, unravel = ravel_pytree(params)
    strategy = OpenES(popsize=popsize, sigma=sigma, optimizer=Adam(lr))
    es, ep = _algorithm(strategy, flat.shape[0])
    state = es.init(jax.random.key(0), flat, ep)

    def fitness(theta, inputs, trials, key):
        m = eqx.combine(unravel(theta), frozen, static)
        return task.loss(run_trials(m, inputs, key=key, noise_rng="hash"), trials)

    one = jax.jit(fitness)
    ask = jax.jit(lambda k, s: es.ask(k, s, ep))
    tell = jax.jit(lambda k, pop, f, s: es.tell(k, pop, f, s, ep)[0])

    @jax.jit
    def vmapped(state, k_ask, trials, k_noise):
        pop, s = es.ask(k_ask, state, ep)
        f = jax.vmap(fitness, in_axes=(0, None, None, None))(pop, trials.inputs, trials, k_noise)
        return es.tell(k_ask, pop, f, s, ep)[0], f

    def looped(state, k_ask, trials, k_noise):
        pop, s = ask(k_ask, state)
        f = jnp.stack([one(pop[i], trials.inputs, trials, k_noise) for i in range(popsize)])
        return tell(k_ask, pop, f, s), f

    sample = jax.jit(task.sample, static_argnums=1)
    trials = sample(jax.random.key(1), batch)
    # compile both (not timed)
    jax.block_until_ready(vmapped(state, jax.random.key(2), trials, jax.random.key(3)))
    jax.block_until_ready(looped(state, jax.random.key(2), trials, jax.random.key(3)))
    rows = {"loop": [], "vmap": []}
    max_diff = 0.0
    for r in range(reps):
        k_ask, k_noise = jax.random.key(100 + r), jax.random.key(200 + r)
        order = ("loop", "vmap") if r % 2 == 0 else ("vmap", "loop")
        fits = {}
        for name in order:
            fn = looped if name == "loop" else vmapped
            (_, f), wall, cpu = _clock(lambda: fn(state, k_ask, trials, k_noise))  # noqa: B023
            rows[name].append((wall, cpu))
            fits[name] = np.asarray(f)
        max_diff = max(max_diff, float(np.max(np.abs(fits["loop"] - fits["vmap"]))))
    out = {"popsize": popsize, "num_params": int(flat.shape[0]), "max_fitness_difference_loop_vs_vmap": max_diff,
           "fitness_scale": float(np.mean(np.abs(fits["vmap"])))}
    for name, v in rows.items():
        out[f"{name}_wall_s"] = [w for w, _ in v]
        out[f"{name}_cpu_s"] = [c for _, c in v]
        out[f"{name}_generations_per_s"] = 1.0 / statistics.median(w for w, _ in v)
        out[f"{name}_generations_per_cpu_s"] = 1.0 / statistics.median(c for _, c in v)
    return out


def bench_train(task, model, filt, *, method, batch: int, generations: int) -> dict:
    """Per-update seconds of ``train`` (one ES generation or one BPTT iteration), compilation excluded."""
    kw = dict(key=jax.random.key(7), epochs=1, n_trials=generations * batch, batch=batch,
              run=RunSettings(val_fraction=0.0), trainable=filt, progress=False, method=method)
    jax.block_until_ready(train(model, task, **kw)[0])  # compiles (in-memory cache for the timed run)
    _, wall, cpu = _clock(lambda: train(model, task, **kw)[0])
    return {"updates": generations, "wall_s_per_update": wall / generations, "cpu_s_per_update": cpu / generations}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="JSON file for the results")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--popsizes", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32, help="trials per minibatch (default 32)")
    ap.add_argument("--delay", type=float, default=None, help="delay of the task in ms (default: the task's 700)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    task_overrides = {} if args.delay is None else {"delay": args.delay}
    if args.quick:
        args.hidden, args.popsizes, args.reps, task_overrides = 32, [8, 16], 1, {"delay": 100.0}
    batch, sigma, lr = args.batch, 0.05, 1e-2
    recipe, task, model = setup(args.hidden, task_overrides)
    filt = model.trainable(inputs=recipe.train_inputs)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    results = {"task": task.config(), "n_steps": task.n_steps, "model": {"class": "LowRankRNN", "N": args.hidden,
               "rank": recipe.rank, "noise": model.noise, "trainable_inputs": recipe.train_inputs},
               "batch": batch, "sigma": sigma, "lr": lr, "strategy": "openai_es", "generations": [], "train": []}
    bptt = bench_train(task, model, filt, method=BPTT(optimizer=Adam(lr)), batch=batch,
                       generations=4 if args.quick else 8)
    results["bptt"] = bptt
    print(f"BPTT iteration: {bptt['wall_s_per_update'] * 1e3:.1f} ms wall, {bptt['cpu_s_per_update'] * 1e3:.1f} ms CPU")
    for P in args.popsizes:
        g = bench_generation(task, model, filt, P, sigma, lr, batch, args.reps)
        results["generations"].append(g)
        tr = bench_train(task, model, filt, method=OpenES(popsize=P, sigma=sigma, optimizer=Adam(lr)), batch=batch,
                         generations=2 if args.quick else 4)
        tr["popsize"] = P
        results["train"].append(tr)
        print(f"P = {P:4d}: loop {g['loop_generations_per_s']:.3f} gen/s, vmap {g['vmap_generations_per_s']:.3f} gen/s "
              f"({g['vmap_generations_per_s'] / g['loop_generations_per_s']:.2f}x; CPU "
              f"{g['vmap_generations_per_cpu_s'] / g['loop_generations_per_cpu_s']:.2f}x), train "
              f"{1 / tr['wall_s_per_update']:.3f} gen/s; |f_loop - f_vmap| <= {g['max_fitness_difference_loop_vs_vmap']:.2e}"
              f"; one generation = {tr['wall_s_per_update'] / bptt['wall_s_per_update']:.1f} BPTT iterations")
    results.update({"load_before": list(load_before), "load_after": list(os.getloadavg()),
                    "seconds": time.perf_counter() - t0, "commit": _commit(), "jax": jax.__version__,
                    "evosax": importlib.metadata.version("evosax"), "xla_flags": os.environ.get("XLA_FLAGS", ""),
                    "cpu_count": os.cpu_count(), "machine": platform.platform(),
                    "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                    "device": str(jax.devices()[0])})
    print(f"load average before {load_before[0]:.1f}, after {results['load_after'][0]:.1f}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
