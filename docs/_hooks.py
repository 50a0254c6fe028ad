"""MkDocs hooks of the documentation site (``hooks:`` in mkdocs.yml).

``<!-- cli-help -->`` and ``<!-- cli-help: COMMAND -->`` in a page become the ``--help`` text of
``lowrank-rnn`` and of its sub-command, taken from the command line's own parser when the site is
built, so the page cannot fall behind the options.

The benchmarks page includes ``benchmarks/README.md``, whose figures live in
``benchmarks/figures/``: they are added to the site as ``figures/...``, beside the page, so the same
relative links work on GitHub and on the site.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_MARK = re.compile(r"^<!-- cli-help(?::\s*(?P<command>[\w-]+))?\s*-->$", re.M)


def _help(command: str | None) -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from lowrank_rnn.cli import build_parser

    os.environ["COLUMNS"] = "100"   # argparse wraps to the terminal's width; fix it for the page
    parser = build_parser()
    if command is not None:
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = sub.choices[command]
    return parser.format_help()


def on_page_markdown(markdown: str, page, config, files) -> str:
    return _MARK.sub(lambda m: f"```text\n{_help(m['command']).rstrip()}\n```", markdown)


def on_files(files, config):
    from mkdocs.structure.files import File

    figures = ROOT / "benchmarks" / "figures"
    for path in sorted(figures.rglob("*.png")):
        files.append(File.generated(config, f"figures/{path.relative_to(figures).as_posix()}", abs_src_path=str(path)))
    return files
