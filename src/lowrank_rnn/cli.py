"""The ``lowrank-rnn`` command line.

Sub-commands::

    lowrank-rnn example --out DIR                 # sample, simulate, and plot a rank-one network
    lowrank-rnn reproduce NAME --out DIR [--quick]   # a paper's results, theory beside simulation
    lowrank-rnn train --task NAME --out DIR [--rank R --hidden N --epochs --lr --batch --seed]
    lowrank-rnn train --task NAME --out DIR --method es [--strategy openai_es|cma_es|pgpe --popsize --sigma]
    lowrank-rnn train --task NAME --out DIR --rule eprop|rflo|mdgl|modprop|tbptt(k)|...   # a learning rule
    lowrank-rnn evaluate DIR [--json]             # accuracy, loss and figures of a trained run
    lowrank-rnn motifs [--n-e ... --chain ...] [--json]   # E–I motif predictions (Shao et al. 2025)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_example(args: argparse.Namespace) -> int:
    from .example import run_example

    report = run_example(Path(args.out), N=args.N, g=args.g, seed=args.seed)
    print(f"wrote {report}")
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from . import experiments

    module = experiments.get(args.name)
    report = module.run(Path(args.out), quick=args.quick)
    print(f"wrote {report}")
    return 0


def _cmd_motifs(args: argparse.Namespace) -> int:
    from .motifs._cli import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``lowrank-rnn`` command."""
    from . import __version__
    from .experiments import REPRODUCTIONS

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
    rp.add_argument("--quick", action="store_true", help="small networks and few seeds (about a minute)")
    rp.set_defaults(func=_cmd_reproduce)

    from .motifs._cli import add_arguments as _motif_arguments

    mo = sub.add_parser("motifs", help="E–I network with connectivity motifs: predicted outliers, bulk, "
                                       "stability and population responses (Shao et al. 2025)")
    _motif_arguments(mo)
    mo.set_defaults(func=_cmd_motifs)

    from .training._cli import add_parsers as _add_training_parsers

    _add_training_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    from .training._cli import enable_compilation_cache

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "no_cache", False):  # train/evaluate --no-cache opt out
        enable_compilation_cache()  # repeated runs of a command skip JAX compilation
    try:
        return args.func(args)
    except (ValueError, TypeError) as err:  # bad arguments: one clear line, no traceback
        parser.exit(2, f"lowrank-rnn: error: {err}\n")


if __name__ == "__main__":
    sys.exit(main())
