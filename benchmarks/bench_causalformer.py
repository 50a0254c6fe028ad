"""CPU time of one training epoch of a paper-size Causalformer (Lu et al. 2023) at N = 5, 10, 20, 40.

One model (d_model 100, 10 heads, d_qk = d_v = 8, windows of 10 steps), batch 16, 5000 steps of
data: the 60 % training windows make 187 minibatches an epoch, then the validation pass over the
next 20 % (998 windows). The epoch and the validation pass are compiled ahead of time (their
compile time is reported apart), then each is run once and timed by the process's CPU time
(``time.process_time``, all threads); run it pinned to one core (``taskset -c 0``) so that CPU
time is what one core spends whatever the load. The data are white noise: the cost does not
depend on the values.

    taskset -c 0 python benchmarks/bench_causalformer.py [--sizes 5 10 20 40]

Prints one JSON line per N.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lowrank_rnn.causal import Causalformer, _former


def measure(n: int, steps: int = 5000, batch: int = 16) -> dict:
    model = Causalformer(n, key=jax.random.key(0))
    X = jnp.asarray(np.random.default_rng(0).normal(size=(steps, n)).astype(np.float32))
    n_windows = steps - model.seq_len
    n_train = _former._split(n_windows)[0]
    params, static = _former._stack([model])
    opt_state = jax.vmap(optax.adamw(5e-4, weight_decay=1e-3).init)(params)
    args = (params, static, opt_state, jnp.ones(1, jnp.float32), jax.random.split(jax.random.key(1), 1), X,
            n_train, batch, jnp.float32(5e-4), jnp.float32(1e-3))
    val = jnp.asarray(_former._part_starts(n_windows, "val")[: _former._CHUNK])

    c0 = time.process_time()
    epoch = _former._epoch.lower(*args).compile()
    evaluate = _former._evaluate_chunk.lower(params, static, X, val).compile()
    compile_s = time.process_time() - c0

    c0, w0 = time.process_time(), time.perf_counter()
    out = epoch(*args)
    jax.block_until_ready(out)
    train_s, train_wall = time.process_time() - c0, time.perf_counter() - w0
    n_val = len(_former._part_starts(n_windows, "val"))
    chunks = -(-n_val // _former._CHUNK)
    c0 = time.process_time()
    for _ in range(chunks):
        jax.block_until_ready(evaluate(params, static, X, val))
    val_s = time.process_time() - c0
    return {"N": n, "minibatches": n_train // batch, "train_cpu_s": round(train_s, 2),
            "train_wall_s": round(train_wall, 2), "validation_cpu_s": round(val_s, 2),
            "epoch_cpu_s": round(train_s + val_s, 2), "compile_cpu_s": round(compile_s, 2),
            "loss": float(out[2][0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 10, 20, 40])
    for n in parser.parse_args().sizes:
        print(json.dumps(measure(n)), flush=True)


if __name__ == "__main__":
    main()
