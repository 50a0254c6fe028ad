"""Simulation throughput: the low-rank path against the dense path and a plain NumPy loop.

Issue 2, item 8. For N in {1000, 4000, 16000}, rank R = 2, batch 1 and 32, 1000 Euler steps of

    x <- x + dt (-x + J tanh(x)),    J = m n^T / N    (no random bulk, g = 0),

three implementations are timed side by side in one process:

* ``lowrank``: ``simulate(net, ..., method="lowrank")``, which computes ``m (n^T tanh(x) / N)`` and
  never forms an N x N matrix (O(N R) per step and trial);
* ``dense``: ``simulate(net, ..., method="dense")``, which forms J once per call and multiplies it
  every step (O(N^2) per step and trial); on the CPU a J of 8 MB or more is formed on the host in
  a buffer backed by 2 MB pages that ``simulate`` keeps for reuse, so the first dense call of a
  cell also pays for faulting that buffer in (it shows in the compile column);
* ``numpy``: a plain NumPy loop over the same Euler steps with the same dense J (formed before the
  clock starts) and the batch held as an (N, B) matrix, so every step is one BLAS call.

``simulate`` holds the batch the same way, as one (N, B) matrix in a single ``lax.scan`` (a vector
when B = 1), so the dense path and the NumPy loop do the same product per step, ``J @ tanh(X)``,
and differ only in who runs it (XLA or OpenBLAS) and in the loop around it. These three paths draw no
noise (``noise = 0``), so none pays for random numbers. A fourth, ``noisy``, is the low-rank path
with white noise (``noise = --noise``, default 0.1, drawn by the library's counter-based generator),
timed in the same rounds; the table gives its time and the paired ratio noisy / noiseless.

All three record the latents ``kappa = n^T tanh(x) / N`` at every step and nothing else, in float32
unless ``--numpy-dtype float64``. Every cell is called once first (for JAX: to compile), then in
rounds: in each round every path is called once, in an order reversed every other round, for
``--repeats`` rounds or more, until each path's steady calls add up to ``--min-time`` seconds. The
ratios reported are **paired**: the median, over rounds, of the ratio of two paths' times in the
same round, with the range over rounds beside it. This machine's memory bandwidth changes by up to
2x within a minute (a 16000 x 16000 matrix-vector product took 19 to 36 ms a step in consecutive
calls of one process), so two paths timed in separate blocks, or their best times taken minutes
apart, compare the machine's moments rather than the code; calls seconds apart in one round see
about the same machine, and the reversal cancels a steady drift. A half-second pause wherever the
library changes (NumPy to JAX or back) keeps a call from running against the other library's
spinning worker threads (OpenBLAS and XLA both spin after a call); the two JAX paths follow each
other without one. ``--protocol blocks`` times each path's calls as one block instead (the first
two sessions' method). Times are ``time.perf_counter`` wall-clock and include the transfer of the
results to NumPy; the table gives each path's median; CPU times (``time.process_time``) are
recorded beside them in the JSON as a cross-check on a shared machine.

The dense and NumPy cells with N above ``--full-max-n`` are too costly for 1000 steps on a small
machine (N = 16000, B = 32 is about 16 TFLOP); they are timed at 1 step and at ``s`` steps
(``--scaled-steps``) and extrapolated to 1000 steps along the line through those two points,
``t(1000) = t(1) + 999 (t(s) - t(1)) / (s - 1)``, which separates the one-time cost (forming J,
dispatch, transfers) from the per-step cost instead of multiplying it by 1000 / s. The 1-step call
is cheap and repeated many times, so the difference t(s) - t(1) is large against timing noise.
(Where noise still makes the line nonsensical, a negative one-time cost or one above t(1), the
s-step time is scaled in proportion instead, and the JSON says so.) The table marks those cells.

Before any time is reported the three paths are checked against each other: the final states after
the same number of steps (a separate, untimed call recording ``x``), and the recorded latents over
the steps they share. A disagreement beyond ``--tol`` stops the benchmark with exit status 1.

Run ``python benchmarks/bench_simulate.py --out results/bench_simulate.json``; ``--quick`` is a
smoke run (small N, few steps) used by ``tests/test_bench_simulate.py``.
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
from collections.abc import Callable, Sequence

import jax
import numpy as np

from lowrank_rnn import Network, simulate

RANK = 2
DT = 0.1
NOISE = 0.1  # sigma of the noisy low-rank path
# overlaps n_r^T m_r / N of the benchmark network: above 1, so the dynamics leave the origin and
# settle on non-trivial fixed points, and distinct, so those fixed points are isolated (no ring
# attractor along which float32 rounding differences between the paths could drift).
OVERLAPS = (2.0, 1.5)
PROTOCOLS = ("rounds", "blocks")


def make_network(N: int, seed: int = 0) -> Network:
    """Return the rank-2 benchmark network with N neurons and no random bulk (g = 0)."""
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((N, RANK))
    n = m * np.asarray(OVERLAPS) + rng.standard_normal((N, RANK))
    return Network(m=m, n=n)


def make_x0(net: Network, batch: int, seed: int = 1) -> np.ndarray:
    """Return float32 initial states (batch, N): a random point of the m-plane plus unit noise."""
    rng = np.random.default_rng(seed)
    m = np.asarray(net.m)
    c = rng.uniform(-1.5, 1.5, size=(batch, RANK))
    return (c @ m.T + rng.standard_normal((batch, net.N))).astype(np.float32)


def numpy_loop(J: np.ndarray, n: np.ndarray, x0: np.ndarray, n_steps: int, dt: float = DT):
    """Return (final state (B, N), kappa (B, n_steps + 1, R)) of the plain NumPy Euler loop.

    The batch is held as an (N, B) matrix (a vector when B = 1), so each step is one BLAS call
    ``J @ tanh(X)``; updates are in place. ``kappa`` is recorded like the JAX paths record it.
    """
    N = J.shape[0]
    X = np.array(x0.T[:, 0] if x0.shape[0] == 1 else x0.T, dtype=J.dtype, order="C")
    nT = np.ascontiguousarray(n.T, dtype=J.dtype) / J.dtype.type(N)
    kappa = np.empty((n_steps + 1,) + ((RANK,) if X.ndim == 1 else (RANK, X.shape[1])), J.dtype)
    dt = J.dtype.type(dt)
    for k in range(n_steps):
        r = np.tanh(X)
        kappa[k] = nT @ r
        drive = J @ r
        drive -= X
        drive *= dt
        X += drive
    kappa[n_steps] = nT @ np.tanh(X)
    X = X[:, None] if X.ndim == 1 else X
    kappa = kappa[:, :, None] if kappa.ndim == 2 else kappa
    return X.T, np.moveaxis(kappa, 2, 0)


def _timed(fns: dict[str, Callable[[], object]], repeats: int, min_time: float = 0.0,
           max_repeats: int = 30, protocol: str = "rounds", pause: float = 0.5,
           library: Callable[[str], object] = lambda name: name) -> dict[str, tuple]:
    """Return, for each named call, (first-call wall time, steady wall times, steady CPU times,
    output of its last call).

    Each call is made once first (for JAX: compilation). Then each is repeated ``repeats`` times,
    and more (up to ``max_repeats``) until its steady calls add up to ``min_time`` seconds, so that
    cheap calls get enough samples. ``protocol="rounds"`` (default): in each round every call that
    still wants samples is made once, in the order of ``fns`` in even rounds and reversed in odd
    ones, so that the k-th times of two calls were taken seconds apart and can be paired
    (:func:`_paired`). ``protocol="blocks"``: each call's repeats run as one block.

    A steady call whose ``library(name)`` differs from the previous call's follows a ``pause``
    with nothing running: OpenBLAS (NumPy) and XLA both keep their worker threads spinning for a
    while after a call, and a call made right after the other library's runs against those
    spinning threads (quiet 2-core machine, N = 1000, B = 1: the dense path took 45.6 ms per 1000
    steps right after the NumPy loop, 33.3 ms after a pause). Calls of the same library follow each
    other without one: a short call right after idling is slower than in a steady run (low-rank,
    N = 4000, B = 32: median 65 ms after a 0.5 s pause against 49 ms back to back, one process,
    24 calls each). CPU time (``time.process_time``, all threads of this process) is kept beside
    wall time as a cross-check.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    first, out = {}, {}
    for name, fn in fns.items():
        t0 = time.perf_counter()
        out[name] = fn()
        first[name] = time.perf_counter() - t0
    times = {name: [] for name in fns}
    cpu = {name: [] for name in fns}
    previous = [None]

    def wants_more(name):
        n, total = len(times[name]), sum(times[name])
        return n < repeats or (total < min_time and n < max_repeats)

    def call(name, fn):
        if library(name) != previous[0]:
            time.sleep(pause)
        previous[0] = library(name)
        c0, t0 = time.process_time(), time.perf_counter()
        out[name] = fn()
        times[name].append(time.perf_counter() - t0)
        cpu[name].append(time.process_time() - c0)

    if protocol == "rounds":
        order = list(fns.items())
        while any(wants_more(name) for name in fns):
            for name, fn in order:
                if wants_more(name):
                    call(name, fn)
            order.reverse()
    else:
        for name, fn in fns.items():
            while wants_more(name):
                call(name, fn)
    return {name: (first[name], times[name], cpu[name], out[name]) for name in fns}


def _paired(numerator: Sequence[float], denominator: Sequence[float]) -> dict:
    """Return the median, range and list of the per-round ratios ``numerator[k] / denominator[k]``
    over the rounds both were timed in."""
    ratios = [a / b for a, b in zip(numerator, denominator)]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios),
            "rounds": len(ratios), "ratios": ratios}


def _jax_call(net: Network, x0: np.ndarray, steps: int, method: str, record=("kappa",),
              record_every: int = 1, noise: float = 0.0, solver=None):
    x0_arg = x0[0] if x0.shape[0] == 1 else x0
    key = jax.random.key(0) if noise > 0 else None
    return simulate(net, T=steps * DT, dt=DT, x0=x0_arg, record=record,
                    record_every=record_every, method=method, noise=noise, key=key, solver=solver,
                    progress=False)


def diffrax_euler():
    """The same fixed-step Euler update, run by ``diffrax.diffeqsolve`` (``diffrax.Euler()`` with
    ``ConstantStepSize``) through simulate's ``solver=Diffrax(...)``: the diffrax loop against the
    library's own scan."""
    import diffrax

    from lowrank_rnn.dynamics import Diffrax

    return Diffrax(diffrax.Euler(), stepsize_controller=diffrax.ConstantStepSize())


def _kappa_batch_first(kappa: np.ndarray) -> np.ndarray:
    return kappa[None] if kappa.ndim == 2 else kappa


def _final_x(traj) -> np.ndarray:
    x = traj.x
    return x[None, -1] if x.ndim == 2 else x[:, -1]


def measure_cell(N: int, B: int, *, steps: int, repeats: int, full_max_n: int, scaled_steps: int,
                 numpy_dtype: str, tol: float, min_time: float = 0.0, protocol: str = "rounds",
                 noise: float = NOISE, diffrax: bool = False) -> dict:
    """Time the three paths for one (N, B) cell and check that they agree; return a result dict."""
    net = make_network(N)
    x0 = make_x0(net, B)
    J = np.asarray(net.connectivity(), dtype=numpy_dtype)
    n_np = np.asarray(net.n)
    scaled = N > full_max_n and scaled_steps < steps
    points = (1, scaled_steps) if scaled else (steps,)
    if scaled and not 2 <= scaled_steps <= steps:
        raise ValueError(f"scaled_steps = {scaled_steps} must lie in [2, steps = {steps}]")

    cell: dict = {"N": N, "batch": B, "steps": steps, "scaled": scaled, "measured_steps": list(points)}

    # the low-rank path always runs the full number of steps
    fns = {("lowrank", steps): lambda: _jax_call(net, x0, steps, "lowrank"),
           ("noisy", steps): lambda: _jax_call(net, x0, steps, "lowrank", noise=noise)}
    if diffrax:
        solver = diffrax_euler()
        fns[("diffrax", steps)] = lambda: _jax_call(net, x0, steps, "lowrank", solver=solver)
    for s in points:
        fns[("dense", s)] = lambda s=s: _jax_call(net, x0, s, "dense")
    for s in points:
        fns[("numpy", s)] = lambda s=s: numpy_loop(J, n_np, x0, s)
    # a pause only where the library changes: the two JAX paths share XLA's threads
    timed = _timed(fns, repeats, min_time, protocol=protocol,
                   library=lambda key: "numpy" if key[0] == "numpy" else "jax")
    first, times, cpu, traj_lr = timed[("lowrank", steps)]
    cell["lowrank"] = _summary(first, times, cpu, compiled=True)
    kappa_lr = _kappa_batch_first(traj_lr.kappa)
    first, times, cpu, traj_noisy = timed[("noisy", steps)]
    cell["noisy"] = _summary(first, times, cpu, compiled=True)
    cell["noise"] = noise
    cell["noisy_kappa_finite"] = bool(np.all(np.isfinite(traj_noisy.kappa)))

    dense_runs, numpy_runs = {}, {}
    for s in points:
        first, times, cpu, traj_d = timed[("dense", s)]
        dense_runs[s] = (_summary(first, times, cpu, compiled=True), _kappa_batch_first(traj_d.kappa))
        first, times, cpu, (x_np, kappa_np) = timed[("numpy", s)]
        numpy_runs[s] = (_summary(first, times, cpu, compiled=False), kappa_np, x_np)
    cell["dense"] = _extrapolate({s: r[0] for s, r in dense_runs.items()}, steps)
    cell["numpy"] = _extrapolate({s: r[0] for s, r in numpy_runs.items()}, steps)

    # agreement: final states after s_check steps (untimed calls recording x), latents over shared steps
    s_check = points[-1]
    x_lr = _final_x(_jax_call(net, x0, s_check, "lowrank", record=("x",), record_every=s_check))
    x_d = _final_x(_jax_call(net, x0, s_check, "dense", record=("x",), record_every=s_check))
    x_np = numpy_runs[s_check][2].astype(np.float32)
    kappa_d, kappa_np = dense_runs[s_check][1], numpy_runs[s_check][1]
    scale = max(1.0, float(np.max(np.abs(x_np))))
    agree = {
        "x_scale": scale,
        "max_abs_dx_lowrank_dense": float(np.max(np.abs(x_lr - x_d))),
        "max_abs_dx_lowrank_numpy": float(np.max(np.abs(x_lr - x_np))),
        "max_abs_dx_dense_numpy": float(np.max(np.abs(x_d - x_np))),
        "max_abs_dkappa": float(max(np.max(np.abs(kappa_lr[:, :s_check + 1] - kappa_d)),
                                    np.max(np.abs(kappa_d - kappa_np)))),
        "kappa_final_lowrank": kappa_lr[:, -1].tolist() if B <= 4 else kappa_lr[:4, -1].tolist(),
    }
    worst = max(agree["max_abs_dx_lowrank_dense"], agree["max_abs_dx_lowrank_numpy"],
                agree["max_abs_dx_dense_numpy"]) / scale
    agree["max_rel_dx"] = worst
    agree["ok"] = bool(worst <= tol and agree["max_abs_dkappa"] <= tol)
    cell["agreement"] = agree
    # paired ratios: per round, the 1000-step estimates of the paths timed in that round
    per_round = {"lowrank": timed[("lowrank", steps)][1], "noisy": timed[("noisy", steps)][1],
                 "dense": _round_estimates([timed[("dense", s)][1] for s in points], points, steps),
                 "numpy": _round_estimates([timed[("numpy", s)][1] for s in points], points, steps)}
    cell["paired_dense_over_lowrank"] = _paired(per_round["dense"], per_round["lowrank"])
    cell["paired_numpy_over_dense"] = _paired(per_round["numpy"], per_round["dense"])
    cell["paired_noisy_over_lowrank"] = _paired(per_round["noisy"], per_round["lowrank"])
    # the same ratio in CPU time (time.process_time): on a shared machine, what the process itself spent
    cell["paired_noisy_over_lowrank_cpu"] = _paired(timed[("noisy", steps)][2], timed[("lowrank", steps)][2])
    if diffrax:
        first, times, cpu, traj_dfx = timed[("diffrax", steps)]
        cell["diffrax"] = _summary(first, times, cpu, compiled=True)
        cell["paired_diffrax_over_lowrank"] = _paired(times, per_round["lowrank"])
        cell["max_abs_dkappa_diffrax"] = float(np.max(np.abs(_kappa_batch_first(traj_dfx.kappa) - kappa_lr)))
    cell["ratio_dense_over_lowrank"] = cell["dense"]["t1000_best"] / cell["lowrank"]["best"]
    cell["ratio_numpy_over_dense"] = cell["numpy"]["t1000_best"] / cell["dense"]["t1000_best"]
    cell["ratio_dense_over_lowrank_median"] = cell["dense"]["t1000_median"] / cell["lowrank"]["median"]
    cell["ratio_numpy_over_dense_median"] = cell["numpy"]["t1000_median"] / cell["dense"]["t1000_median"]
    cell["ratio_dense_over_lowrank_cpu"] = cell["dense"]["t1000_cpu_best"] / cell["lowrank"]["cpu_best"]
    cell["ratio_numpy_over_dense_cpu"] = cell["numpy"]["t1000_cpu_best"] / cell["dense"]["t1000_cpu_best"]
    return cell


def _summary(first: float, times: Sequence[float], cpu: Sequence[float], *, compiled: bool) -> dict:
    best, med = min(times), statistics.median(times)
    out = {"first": first, "times": list(times), "best": best, "median": med,
           "cpu_times": list(cpu), "cpu_best": min(cpu)}
    if compiled:
        out["compile"] = max(0.0, first - med)
    return out


def _line(s1: int, t1: float, s2: int, t2: float, steps: int) -> tuple[float, float, bool]:
    """Return (one-time cost, cost per step, clamped) of the line through (s1, t1) and (s2, t2).

    Timing noise can make the line nonsensical (a negative one-time cost, or one above the whole
    shorter call); then the longer run is scaled in proportion instead (``clamped``), which counts
    its one-time cost ``steps / s2`` times over (an overestimate of the path's time).
    """
    per_step = (t2 - t1) / (s2 - s1)
    fixed = t1 - s1 * per_step
    clamped = not 0.0 <= fixed <= t1
    if clamped:
        fixed, per_step = 0.0, t2 / s2
    return fixed, per_step, clamped


def _round_estimates(times: Sequence[Sequence[float]], points: Sequence[int], steps: int) -> list[float]:
    """Return per-round estimates of the ``steps``-step time from the times at ``points`` steps
    (one list per point, one entry per round): the times themselves for one point, else each
    round's own line (:func:`_line`)."""
    if len(points) == 1:
        return list(times[0])
    (s1, s2), (l1, l2) = points, times
    return [fixed + steps * per for fixed, per, _ in (_line(s1, a, s2, b, steps) for a, b in zip(l1, l2))]


def _extrapolate(runs: dict[int, dict], steps: int) -> dict:
    """Return the measured summaries plus their 1000-step (``steps``) estimates, best and median."""
    out = {"runs": {str(s): r for s, r in runs.items()}}
    if len(runs) == 1:
        (s, r), = runs.items()
        out["t1000_best"], out["t1000_median"], out["t1000_cpu_best"] = r["best"], r["median"], r["cpu_best"]
        out["compile"] = r.get("compile")
        return out
    (s1, r1), (s2, r2) = sorted(runs.items())
    for stat in ("best", "median", "cpu_best"):
        fixed, per_step, clamped = _line(s1, r1[stat], s2, r2[stat], steps)
        out[f"per_step_{stat}"] = per_step
        out[f"fixed_{stat}"] = fixed
        out[f"clamped_{stat}"] = clamped
        out[f"t1000_{stat}"] = fixed + steps * per_step
    out["compile"] = r1.get("compile")
    return out


def machine_info() -> dict:
    """Return what the numbers were measured on."""
    return {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "numpy": np.__version__,
        "devices": [str(d) for d in jax.devices()],
        "loadavg_start": list(os.getloadavg()),
        "transparent_hugepage": _read("/sys/kernel/mm/transparent_hugepage/enabled"),
        "commit": _git("rev-parse", "HEAD"),
        "uncommitted_library_changes": _git("status", "--porcelain", "--", "src"),
    }


def _read(path: str) -> str | None:
    """Return the stripped contents of a small text file, or None where it cannot be read."""
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None


def _git(*args: str) -> str | None:
    """Return the output of a git command in this checkout, or None outside one."""
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                             cwd=os.path.dirname(os.path.abspath(__file__)))
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def format_table(cells: Sequence[dict], steps: int) -> str:
    """Return the results as a Markdown table: wall-clock seconds per ``steps`` steps (median of
    the steady calls) and the paired ratios (median over rounds, range in brackets)."""
    head = ("| N | batch | low-rank (s) | dense (s) | NumPy (s) | dense / low-rank [range] "
            "| NumPy / dense [range] | noisy low-rank (s) | noisy / noiseless low-rank [range] "
            "| compile low-rank / dense (s) | dense & NumPy measured at | max rel. dx |")
    lines = [head, "|" + "---|" * 12]

    def ratio(p, fmt):
        return f"{p['median']:{fmt}}x [{p['min']:{fmt}}-{p['max']:{fmt}}]"

    for c in cells:
        meas = (f"{c['measured_steps'][0]} & {c['measured_steps'][1]} steps, extrapolated"
                if c["scaled"] else f"{c['steps']} steps")
        prop = [p for p in ("dense", "numpy") if c[p].get("clamped_median")]
        if prop:
            meas += f" ({' & '.join(prop)}: noisy line, scaled in proportion)"
        lines.append(
            f"| {c['N']} | {c['batch']} | {c['lowrank']['median']:.4g} | {c['dense']['t1000_median']:.4g} "
            f"| {c['numpy']['t1000_median']:.4g} | {ratio(c['paired_dense_over_lowrank'], '.1f')} "
            f"| {ratio(c['paired_numpy_over_dense'], '.2f')} | {c['noisy']['median']:.4g} "
            f"| {ratio(c['paired_noisy_over_lowrank'], '.2f')} | {c['lowrank']['compile']:.2f} / "
            f"{c['dense']['compile']:.2f} | {meas} | {c['agreement']['max_rel_dx']:.1e} |")
    return "\n".join(lines)


def write_json_atomic(obj, path: str) -> None:
    """Write ``obj`` as JSON to ``path`` through a temporary file in the same folder and a rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".bench_simulate.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=1)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000], help="values of N")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 32], help="batch sizes")
    p.add_argument("--steps", type=int, default=1000, help="Euler steps per simulation (dt = 0.1)")
    p.add_argument("--repeats", type=int, default=9,
                   help="least number of rounds (steady calls per path) timed after the first call")
    p.add_argument("--min-time", type=float, default=3.0,
                   help="repeat cheap steady calls until they add up to this many seconds (at most 30 calls)")
    p.add_argument("--full-max-n", type=int, default=4000,
                   help="dense/NumPy cells with larger N are timed at 1 step and --scaled-steps, "
                        "then extrapolated")
    p.add_argument("--scaled-steps", type=int, default=40)
    p.add_argument("--numpy-dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--noise", type=float, default=NOISE,
                   help="sigma of the noisy low-rank path (the same simulate call with noise=sigma)")
    p.add_argument("--tol", type=float, default=1e-3,
                   help="largest allowed max|dx| / max(1, max|x|) and max|dkappa| between paths")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: N in (128, 512), batch (1, 4), 60 steps, N = 512 extrapolated")
    p.add_argument("--protocol", choices=PROTOCOLS, default="rounds",
                   help="rounds: every path once per round, order reversed every other round, ratios paired "
                        "within rounds (robust to the machine's changing memory bandwidth); blocks: each "
                        "path's calls as one block (the ratios then pair the k-th calls of two blocks)")
    p.add_argument("--diffrax", action="store_true",
                   help="also time the low-rank path integrated by diffrax's Euler solver (solver=Diffrax(...)) "
                        "in the same rounds, against the library's own fixed-step scan")
    p.add_argument("--out", help="write the results as JSON here (atomically)")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.batches, args.steps = [128, 512], [1, 4], 60
        args.repeats, args.full_max_n, args.scaled_steps, args.min_time = 2, 128, 10, 0.0
    for name in ("steps", "repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if any(v < 1 for v in args.sizes + args.batches):
        p.error("--sizes and --batches must be >= 1")
    if not 2 <= args.scaled_steps <= args.steps:
        p.error("--scaled-steps must lie in [2, --steps]")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine_info()
    info["argv"] = ["python", "benchmarks/bench_simulate.py"] + list(sys.argv[1:] if argv is None else argv)
    print(f"# {info['date']}  jax {info['jax']}  numpy {info['numpy']}  devices {info['devices']}  "
          f"{info['cpu_count']} CPUs ({info['processor']})  load {info['loadavg_start']}  "
          f"commit {info['commit']}{' (src modified)' if info['uncommitted_library_changes'] else ''}",
          flush=True)
    cells = []
    for N in args.sizes:
        for B in args.batches:
            t0 = time.perf_counter()
            cell = measure_cell(N, B, steps=args.steps, repeats=args.repeats, full_max_n=args.full_max_n,
                                scaled_steps=args.scaled_steps, numpy_dtype=args.numpy_dtype, tol=args.tol,
                                min_time=args.min_time, protocol=args.protocol, noise=args.noise,
                                diffrax=args.diffrax)
            cells.append(cell)
            a = cell["agreement"]
            print(f"N={N:6d} B={B:3d}: low-rank {cell['lowrank']['median']:.4g} s, dense "
                  f"{cell['dense']['t1000_median']:.4g} s, NumPy {cell['numpy']['t1000_median']:.4g} s "
                  f"per {args.steps} steps (medians); paired NumPy / dense "
                  f"{cell['paired_numpy_over_dense']['median']:.2f}x, noisy / noiseless low-rank "
                  f"{cell['paired_noisy_over_lowrank']['median']:.2f}x (CPU time "
                  f"{cell['paired_noisy_over_lowrank_cpu']['median']:.2f}x "
                  f"[{cell['paired_noisy_over_lowrank_cpu']['min']:.2f}-{cell['paired_noisy_over_lowrank_cpu']['max']:.2f}])"
                  + (f", diffrax / low-rank {cell['paired_diffrax_over_lowrank']['median']:.2f}x"
                     if args.diffrax else "") + f"; max rel dx {a['max_rel_dx']:.1e}, "
                  f"max dkappa {a['max_abs_dkappa']:.1e} ({time.perf_counter() - t0:.0f} s)", flush=True)
    info["loadavg_end"] = list(os.getloadavg())
    result = {"benchmark": "simulate_throughput", "machine": info, "rank": RANK, "dt": DT,
              "overlaps": list(OVERLAPS), "numpy_dtype": args.numpy_dtype, "tol": args.tol,
              "cells": cells, "all_agree": all(c["agreement"]["ok"] for c in cells)}
    print()
    print(format_table(cells, args.steps))
    print(f"\ntimes: median of >= {args.repeats} steady calls ({args.protocol}), seconds per {args.steps} steps; "
          f"ratios: median over rounds of the same-round ratio; "
          f"load average at end {info['loadavg_end']}")
    if args.out:
        write_json_atomic(result, args.out)
        print(f"wrote {args.out}")
    if not result["all_agree"]:
        bad = [(c["N"], c["batch"]) for c in cells if not c["agreement"]["ok"]]
        print(f"ERROR: the three paths disagree beyond tol = {args.tol} in cells {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
