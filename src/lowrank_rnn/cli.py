"""The ``lowrank-rnn`` command line.

Sub-commands::

    lowrank-rnn example --out DIR                 # sample, simulate, and plot a rank-one network
    lowrank-rnn reproduce NAME --out DIR [--quick]   # a paper's results, theory beside simulation
    lowrank-rnn reproduce israely2025 --out DIR [--networks K --ratios 0.5,1.0,1.5 --scheduler ADDRESS]
    lowrank-rnn reproduce lu2023 --out DIR [--quick] [--methods granger]   # Granger table only
    lowrank-rnn train --task NAME --out DIR [--rank R --hidden N --epochs --lr --batch --seed]
    lowrank-rnn train --task NAME --out DIR --method es [--strategy openai_es|cma_es|pgpe --popsize --sigma]
    lowrank-rnn train --task NAME --out DIR --rule eprop|rflo|mdgl|modprop|tbptt(k)|...   # a learning rule
    lowrank-rnn train --task integration_memory --model morris_lecar --hidden N --method bptt|es [--loss mse|window_mse|spike_count]
    lowrank-rnn evaluate DIR [--json]             # accuracy, loss and figures of a trained run
    lowrank-rnn sweep rank-one --out DIR [--g 0.5,1.5 --overlap 0.5,2 --N 500 --replicates 4]   # resumable
    lowrank-rnn motifs [--n-e ... --chain ...] [--json]   # E–I motif predictions (Shao et al. 2025)
    lowrank-rnn fit --data FILE (--rank R | --select-rank) --out DIR   # low-rank RNN fitted to a recording
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

import jax

from . import __version__
from ._errors import ArgumentError, LowRankRNNError
from ._io import output_folder

# The sub-commands' modules are imported when they run: `lowrank-rnn --help` and each sub-command
# load only what they use (the reproductions and training pull in matplotlib, optax and evosax).


def _cmd_example(args: argparse.Namespace) -> int:
    from .example import run_example

    report = run_example(args.out, N=args.N, g=args.g, seed=args.seed)  # str: Path("") would be "."
    print(f"wrote {report}")
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from . import experiments

    module = experiments.get(args.name)
    extra = {name: getattr(args, name) for name in ("networks", "ratios", "scheduler", "mnist", "methods", "only",
                                                    "hidden")
             if getattr(args, name, None) is not None}
    if "only" in extra:
        extra["only"] = [part.strip() for part in extra["only"].split(",") if part.strip()]
    if extra:  # options of some reproductions only (israely2025's sweep)
        import inspect

        accepted = inspect.signature(module.run).parameters
        refused = [name for name in extra if name not in accepted]
        if refused:
            raise ArgumentError(f"reproduce {args.name} does not take {', '.join('--' + n for n in refused)}")
    report = module.run(output_folder(args.out), quick=args.quick, **extra)  # '' or a file: refused before any work
    print(f"wrote {report}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep._cli import run

    return run(args)


def _cmd_fit_circuit(args: argparse.Namespace) -> int:
    from .fitting._circuit_cli import run

    return run(args)


def _cmd_fit(args: argparse.Namespace) -> int:
    from .fitting._lowrank_cli import run

    return run(args)


def _cmd_motifs(args: argparse.Namespace) -> int:
    from .motifs._cli import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``lowrank-rnn`` command."""
    from .experiments import REPRODUCTIONS
    from .motifs._cli import add_arguments as _motif_arguments
    from .training._cli import add_parsers as _add_training_parsers


    parser = argparse.ArgumentParser(
        prog="lowrank-rnn",
        description="Low-rank recurrent networks: connectivity statistics -> dynamics -> computation.")
    parser.add_argument("--version", action="version", version=f"lowrank-rnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    ex = sub.add_parser("example", help="sample a rank-one network, simulate it, plot spectrum and latent")
    ex.add_argument("--out", required=True, help="output folder (created if missing)")
    ex.add_argument("--N", type=int, default=2000, help="number of neurons (default 2000)")
    ex.add_argument("--g", type=float, default=0.5, help="random bulk strength g (default 0.5)")
    ex.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    ex.set_defaults(func=_cmd_example)

    rp = sub.add_parser("reproduce", help="reproduce a paper's results (figures and a report)")
    rp.add_argument("name", help=f"which paper: {', '.join(sorted(REPRODUCTIONS)) or '(none yet)'}")
    rp.add_argument("--out", required=True, help="output folder (created if missing)")
    rp.add_argument("--quick", action="store_true", help="small networks and few seeds (a few minutes)")
    rp.add_argument("--networks", type=int, default=None, help="networks per parameter value (israely2025), per "
                    "(N, p) cell (lu2023) or per task (dubreuil2022)")
    rp.add_argument("--only", default=None, help="comma-separated parts to run, e.g. dms (dubreuil2022: tasks; "
                    "most reproductions: sections)")
    rp.add_argument("--hidden", type=int, default=None, help="neurons of every trained network (dubreuil2022; "
                    "default the published 512)")
    rp.add_argument("--ratios", default=None, help="comma-separated beta/alpha values (israely2025)")
    rp.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://host:8786 (sweeps)")
    rp.add_argument("--mnist", default=None, help="an .npz with x_train, y_train, x_test, y_test used instead "
                    "of the 8x8 digits (krotov_hopfield)")
    rp.add_argument("--methods", default=None, help="comma-separated methods to run, e.g. granger (lu2023: "
                    "granger, attention; default both)")
    rp.set_defaults(func=_cmd_reproduce)

    from .sweep._cli import add_arguments as _sweep_arguments

    sw = sub.add_parser("sweep", help="a built-in parameter sweep on Dask, stored in Zarr and resumable "
                                      "(rank-one: simulations over g, overlap, N beside the mean-field theory)")
    _sweep_arguments(sw)
    sw.set_defaults(func=_cmd_sweep)

    mo = sub.add_parser("motifs", help="E–I network with connectivity motifs: predicted outliers, bulk, "
                                       "stability and population responses (Shao et al. 2025)")
    _motif_arguments(mo)
    mo.set_defaults(func=_cmd_motifs)

    from .fitting._circuit_cli import add_arguments as _circuit_arguments

    fc = sub.add_parser("fit-circuit", help="fit a latent circuit to a recording (Langdon & Engel 2025): "
                                            "w_rec, the embedding Q, report and figures")
    _circuit_arguments(fc)
    fc.set_defaults(func=_cmd_fit_circuit)

    from .fitting._lowrank_cli import add_arguments as _fit_arguments

    fl = sub.add_parser("fit", help="fit a low-rank RNN to a recording (Valente et al. 2022): rank selection, "
                                    "fitted model, report and figures")
    _fit_arguments(fl)
    fl.set_defaults(func=_cmd_fit)

    _add_training_parsers(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where SIGINT raises KeyboardInterrupt, so a run stops the same way."""


def _raise_terminated(signum, frame):
    raise Terminated


def _check_backend() -> None:
    """Start JAX's backend; LowRankRNNError in one line when the platform asked for is missing."""
    try:
        jax.devices()
    except RuntimeError as err:
        platforms = os.environ.get("JAX_PLATFORMS", "")
        first = str(err).strip().split("\n")[0]
        raise LowRankRNNError(f"JAX cannot start the platform JAX_PLATFORMS={platforms!r} ({first}); unset "
                              "JAX_PLATFORMS or set it to cpu, or install the JAX build for that accelerator") from None


def _interrupted(args: argparse.Namespace, err: KeyboardInterrupt) -> str:
    """The line printed when a command is interrupted: for ``train``, whether and how it resumes."""
    what = "terminated (SIGTERM)" if isinstance(err, Terminated) else "interrupted"
    if args.command == "sweep" or (args.command == "reproduce" and args.name == "israely2025"):
        return (f"lowrank-rnn: {what}; the finished chunks are kept in the sweep's store under {args.out}: run the "
                "same command again to compute only the missing ones")
    if args.command != "train":
        return f"lowrank-rnn: {what}"
    out = Path(args.out)
    if (out / "checkpoint.npz").exists() or (out / "pretrain" / "checkpoint.npz").exists():
        return (f"lowrank-rnn: {what}; {out} keeps the last completed epoch: run the same command again to resume "
                "(add --restart to start over)")
    return f"lowrank-rnn: {what} before the first epoch completed; nothing to resume in {out}"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    The library's own errors (:class:`~lowrank_rnn.LowRankRNNError`) and the operating system's
    (a folder that cannot be written, a full disk) end the command with one line on stderr: exit
    status 2 for a bad argument, 1 otherwise. Ctrl-C and SIGTERM stop a training run after its last
    checkpoint reaches the disk, with a line on how to resume (exit status 130 and 143). Anything
    else is a bug in lowrank-rnn and shows its traceback.
    """
    from .training._cli import enable_compilation_cache

    parser = build_parser()
    args = parser.parse_args(argv)
    on_main_thread = threading.current_thread() is threading.main_thread()  # only it may set handlers
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if on_main_thread else None
    try:
        _check_backend()
        if not getattr(args, "no_cache", False):  # train/evaluate --no-cache opt out
            enable_compilation_cache()  # repeated runs of a command skip JAX compilation
        if args.command == "train" and args.model == "morris_lecar":  # evaluate reads every run folder
            from .biophys._ml_cli import cmd_train as _ml_train

            args.func = _ml_train
        return args.func(args)
    except ArgumentError as err:  # a bad argument: one clear line, no traceback
        parser.exit(2, f"lowrank-rnn: error: {err}\n")
    except LowRankRNNError as err:  # a run folder in use, a damaged file, a diverging run
        parser.exit(1, f"lowrank-rnn: error: {err}\n")
    except OSError as err:  # the file system: a folder that cannot be written, a full disk
        parser.exit(1, f"lowrank-rnn: error: {err}\n")
    except KeyboardInterrupt as err:
        parser.exit(143 if isinstance(err, Terminated) else 130, _interrupted(args, err) + "\n")
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
