"""Would a native kernel bring ``simulate``'s noise within 2x of a noiseless step? Measured here.

``simulate`` draws its white noise inside the compiled step (``lowrank_rnn.dynamics.
quantile_normal_from_words``: one keyed lowbias32 hash of the element index, then a read of the
2^16-entry quantile table). XLA's CPU backend emits that table read as one scalar load per element.
This benchmark swaps in a native form of the same generator, ``native/quantile_normal_ffi.cc``
(C++, an XLA FFI custom call drawing 16 lanes at a time with AVX-512 gathers from the table's
negative half, 128 KB), compiled here with the system C++ compiler against the headers that jaxlib
ships. It checks that the native numbers equal the library's bit for bit, then times, in fresh
processes alternating the two generators:

* inside ``simulate`` (low-rank path, N = 4000, batch 32, 1000 steps, the cell of
  ``bench_simulate.py``): a noiseless and a noisy run (sigma 0.1) paired in rounds, CPU time;
  the ratio noisy / noiseless is the figure of the 2x target;
* the draws alone, 1000 steps of a (N, batch) array each added to a running sum, and the same
  scan adding a constant array instead (what writing an array and reading it back costs: the
  floor of any generator that is not fused into the step's own pass), in ns per element.

The library itself never uses the native kernel: it would need a C++ compiler at install time and
a second form of the generator to keep equal to the first; this records what it would buy.

    python benchmarks/bench_noise_native.py --out results/bench_noise_native.json

(``--quick``: N = 500, 100 steps, one run of each; ``--runs`` sets the number of process pairs.)
Where the kernel cannot be built it stops with the reason (exit status 1); a CPU without AVX-512 is
not an error: the kernel's scalar loop then runs.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "native" / "quantile_normal_ffi.cc"


def build(out_dir: Path) -> Path:
    """Compile the kernel into ``out_dir``; raise SystemExit with the reason when it cannot be."""
    import jax.ffi

    named = os.environ.get("CXX")
    cxx = shutil.which(named) if named else (shutil.which("c++") or shutil.which("g++") or shutil.which("clang++"))
    if cxx is None:
        raise SystemExit(f"no C++ compiler found ({'CXX=' + named if named else 'c++, g++, clang++'}; set CXX): "
                         "the native kernel cannot be built")
    lib = out_dir / "libquantile_normal_ffi.so"
    cmd = [cxx, "-O3", "-std=c++17", "-shared", "-fPIC", f"-I{jax.ffi.include_dir()}", str(SOURCE), "-o", str(lib)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"building the native kernel failed ({' '.join(cmd)}):\n{proc.stderr[-2000:]}")
    return lib


def native_generator(lib: Path):
    """Register the kernel and return a function with the signature of
    ``lowrank_rnn.dynamics.quantile_normal_from_words``."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from lowrank_rnn.dynamics import _hashnoise

    table = _hashnoise._TABLE16
    half = np.ascontiguousarray(table[: table.size // 2])
    if not np.array_equal(table[table.size // 2:], -half[::-1]):
        raise SystemExit("the library's quantile table is no longer antisymmetric: the kernel does not apply")
    handle = ctypes.cdll.LoadLibrary(str(lib))
    jax.ffi.register_ffi_target("lowrank_rnn_bench_quantile_normal", jax.ffi.pycapsule(handle.QuantileNormal),
                                platform="cpu")

    def draw(w0, w1, shape, trial_axis=None):
        if len(shape) == 1:
            rows, cols, row_stride, col_stride = 1, shape[0], 0, 1
        elif trial_axis == 1:  # (N, B): element (i, b) is index b N + i
            rows, cols, row_stride, col_stride = shape[0], shape[1], 1, shape[0]
        else:
            rows, cols, row_stride, col_stride = shape[0], shape[1], shape[1], 1
        words = jnp.stack([jnp.asarray(w0, jnp.uint32), jnp.asarray(w1, jnp.uint32)])
        out = jax.ffi.ffi_call("lowrank_rnn_bench_quantile_normal", jax.ShapeDtypeStruct((rows, cols), jnp.float32))(
            words, jnp.asarray(half), rows=np.int64(rows), cols=np.int64(cols), row_stride=np.int64(row_stride),
            col_stride=np.int64(col_stride))
        return out.reshape(shape)

    return draw


def check_equal(draw) -> bool:
    """True when the native draws equal the library's for every layout the integrator uses."""
    import jax
    import jax.numpy as jnp

    from lowrank_rnn.dynamics import _hashnoise

    words = _hashnoise.key_words(jax.random.key(5))
    for t, shape, axis in [(0, (4000, 32), 1), (3, (32, 4000), None), (7, (37, 5), 1), (9, (1000,), None)]:
        w0, w1 = _hashnoise.simulation_words(words, t)
        a = jax.jit(_hashnoise.quantile_normal_from_words, static_argnums=(2, 3))(w0, w1, shape, axis)
        b = jax.jit(draw, static_argnums=(2, 3))(w0, w1, shape, axis)
        if not bool(jnp.array_equal(a, b)):
            return False
    return True


def draws_alone(generator, N: int, B: int, steps: int, repeats: int) -> float:
    """CPU ns per element of ``steps`` draws of an (N, B) array, each added to a running sum."""
    import jax
    import jax.numpy as jnp

    from lowrank_rnn.dynamics import _hashnoise

    words = _hashnoise.key_words(jax.random.key(3))

    def body(acc, t):
        w0, w1 = _hashnoise.simulation_words(words, t)
        return acc + generator(w0, w1, (N, B), 1), None

    run = jax.jit(lambda: jax.lax.scan(body, jnp.zeros((N, B), jnp.float32), jnp.arange(steps))[0])
    jax.block_until_ready(run())
    cpu = []
    for _ in range(repeats):
        c0 = time.process_time()
        jax.block_until_ready(run())
        cpu.append(time.process_time() - c0)
    return statistics.median(cpu) / (N * B * steps) * 1e9


def worker(generator: str, N: int, B: int, steps: int, repeats: int) -> dict:
    """One process: the paired simulate rounds and the draws alone with one generator."""
    import jax.numpy as jnp

    sys.path.insert(0, str(HERE))
    import bench_simulate as bs

    from lowrank_rnn.dynamics import _hashnoise, _integrate

    row: dict = {"generator": generator}
    if generator == "native":
        with tempfile.TemporaryDirectory() as tmp:
            draw = native_generator(build(Path(tmp)))
            row["bit_identical"] = check_equal(draw)
        _integrate.quantile_normal_from_words = draw  # what simulate's noise calls, for this process only
    else:
        draw = _hashnoise.quantile_normal_from_words
    net = bs.make_network(N)
    x0 = bs.make_x0(net, B)
    fns = {"noiseless": lambda: bs._jax_call(net, x0, steps, "lowrank"),
           "noisy": lambda: bs._jax_call(net, x0, steps, "lowrank", noise=bs.NOISE)}
    timed = bs._timed(fns, repeats)
    row["noiseless_cpu"], row["noisy_cpu"] = timed["noiseless"][2], timed["noisy"][2]
    row["paired_noisy_over_noiseless_cpu"] = bs._paired(row["noisy_cpu"], row["noiseless_cpu"])["median"]
    row["draw_ns_per_element"] = draws_alone(draw, N, B, steps, repeats)
    row["floor_ns_per_element"] = draws_alone(lambda w0, w1, shape, axis: jnp.full(shape, 0.5, jnp.float32),
                                              N, B, steps, repeats)
    row["noiseless_ns_per_element"] = statistics.median(row["noiseless_cpu"]) / (N * B * steps) * 1e9
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=4, help="process pairs (library, native), order alternated")
    parser.add_argument("--hidden", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=9, help="rounds within a process")
    parser.add_argument("--quick", action="store_true", help="N = 500, 100 steps, 3 rounds, one pair")
    parser.add_argument("--out", default=None)
    parser.add_argument("--worker", choices=["library", "native"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.hidden, args.steps, args.repeats, args.runs = 500, 100, 3, 1
    for name in ("runs", "hidden", "batch", "steps", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    if args.worker:
        print(json.dumps(worker(args.worker, args.hidden, args.batch, args.steps, args.repeats)), flush=True)
        return 0
    with tempfile.TemporaryDirectory() as tmp:  # fail early, with the reason, where no kernel can be built
        build(Path(tmp))
    size = ["--hidden", str(args.hidden), "--batch", str(args.batch), "--steps", str(args.steps),
            "--repeats", str(args.repeats)]
    rows = []
    for run in range(args.runs):
        for generator in (("library", "native") if run % 2 == 0 else ("native", "library")):
            proc = subprocess.run([sys.executable, __file__, "--worker", generator, *size], capture_output=True,
                                  text=True, check=False)
            if proc.returncode:
                raise SystemExit(f"the {generator} run failed:\n{proc.stderr[-3000:]}")
            row = {**json.loads(proc.stdout.strip().splitlines()[-1]), "run": run, "load": os.getloadavg()[0]}
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if not isinstance(v, list)}), flush=True)
    summary = {}
    for generator in ("library", "native"):
        sel = [r for r in rows if r["generator"] == generator]
        summary[generator] = {key: statistics.median(r[key] for r in sel) for key in (
            "paired_noisy_over_noiseless_cpu", "draw_ns_per_element", "floor_ns_per_element",
            "noiseless_ns_per_element")}
        summary[generator]["ratio_range"] = [min(r["paired_noisy_over_noiseless_cpu"] for r in sel),
                                             max(r["paired_noisy_over_noiseless_cpu"] for r in sel)]
    summary["native"]["bit_identical"] = all(r["bit_identical"] for r in rows if r["generator"] == "native")
    print(f"N = {args.hidden}, batch {args.batch}, {args.steps} steps, {args.runs} process pairs (CPU time, medians):")
    for generator, s in summary.items():
        print(f"  {generator:8s} noisy / noiseless {s['paired_noisy_over_noiseless_cpu']:.2f}x "
              f"[{s['ratio_range'][0]:.2f}-{s['ratio_range'][1]:.2f}]; draws alone {s['draw_ns_per_element']:.3f} ns "
              f"per element (array floor {s['floor_ns_per_element']:.3f}); noiseless step "
              f"{s['noiseless_ns_per_element']:.3f} ns per element")
    print(f"  native draws equal the library's bit for bit: {summary['native']['bit_identical']}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"args": vars(args), "runs": rows, "summary": summary}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
