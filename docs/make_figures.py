"""Make the figures and reports shown on the reproduction pages of the documentation site.

Runs the quick form of each reproduction (``lowrank-rnn reproduce NAME --quick``) and copies what it
wrote into ``docs/papers/NAME/``: the PNG figures, and ``report.md`` with its title left out, its
headings moved one level down, its image links made relative to ``docs/papers/NAME.md`` (which
includes the report), its section of wall-clock timings left out (they depend on the machine), and
the papers' Gaussian averages ``[phi'](0, Delta)`` escaped so that Markdown does not read them as
links. Nothing on a paper page is pasted by hand: rerun this script after a change to a
reproduction and commit the result.

Usage, from the repository root::

    python docs/make_figures.py                      # every registered reproduction
    python docs/make_figures.py shao2024 dubreuil2022
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

PAPERS = Path(__file__).resolve().parent / "papers"


_BRACKET_CALL = re.compile(r"(?<![!\\])\[([^\]\n]*)\]\(([^)\n]*,[^)\n]*)\)")


def escape_gaussian_averages(text: str) -> str:
    """Escape the papers' Gaussian averages ``[phi'](0, Delta)`` outside code, which Markdown reads as links."""
    parts = text.split("`")
    parts[::2] = [_BRACKET_CALL.sub(r"\\[\1\\](\2)", p) for p in parts[::2]]
    return "`".join(parts)


def page_report(report: str, name: str) -> str:
    """Return ``report`` (a reproduction's report.md) as included in the page ``papers/<name>.md``."""
    out, skip = [], False
    for line in report.splitlines():
        heading = re.match(r"^(#+) (.*)$", line)
        if heading:
            # the title (the page has its own) and the timings (they depend on the machine) are left out
            skip = heading[2].strip().lower() == "timings"
            if skip or len(heading[1]) == 1:
                continue
            line = "#" + line
        if not skip:
            out.append(line)
    text = "\n".join(out).strip() + "\n"
    text = escape_gaussian_averages(text)
    # ![a.png](a.png) -> ![a.png](name/a.png): the page that includes the report sits beside the folder
    return re.sub(r"(!\[[^\]]*\]\()(?!https?:|/)([^)]+\))", rf"\g<1>{name}/\g<2>", text)


def make(name: str) -> Path:
    """Run the quick reproduction ``name`` and write its figures and report under docs/papers/name/."""
    from lowrank_rnn import experiments

    module = experiments.get(name)
    target = PAPERS / name
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(module.run(Path(tmp) / name, quick=True))
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for png in sorted(report.parent.glob("*.png")):
            shutil.copy2(png, target / png.name)
        (target / "report.md").write_text(page_report(report.read_text(), name))
    return target


def main(argv: list[str] | None = None) -> int:
    from lowrank_rnn.experiments import REPRODUCTIONS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"reproductions to run (default: all of {sorted(REPRODUCTIONS)})")
    args = parser.parse_args(argv)
    for name in args.names or sorted(REPRODUCTIONS):
        print(f"make_figures: {name} -> {make(name)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
