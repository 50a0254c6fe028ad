"""Reports of reproductions: Markdown text, tables and PNG figures, every file written atomically.

A :class:`Report` collects sections in memory; figures are written as they are made (so a long run
that is interrupted leaves the finished figures behind), and :meth:`Report.write` writes
``report.md`` and ``results.json`` at the end. Every write goes through
:func:`lowrank_rnn._io.atomic_write_bytes` (temporary file, fsync, rename), so a reader never sees a
half-written file.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import ArgumentError
from .._io import atomic_write_bytes, save_figure


def fmt(x: Any, digits: int = 3) -> str:
    """Return a short string for a number (``digits`` significant figures), a bool or text."""
    if x is None:
        return "—"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if math.isnan(x):
            return "—"
        if x == 0:
            return "0"
        if abs(x) >= 10 ** digits or abs(x) < 10 ** (-digits):
            return f"{x:.{digits - 1}e}"
        return f"{x:.{digits}g}" if abs(x) >= 1 else f"{x:.{digits}f}".rstrip("0").rstrip(".")
    return str(x)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 3) -> str:
    """Return a Markdown table with ``header`` and ``rows`` (numbers formatted by :func:`fmt`)."""
    def cell(text: str) -> str:  # a literal '|' would end the cell
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        if len(row) != len(header):
            raise ArgumentError(f"rows: a row has {len(row)} cells, the header {len(header)}")
        lines.append("| " + " | ".join(cell(fmt(c, digits)) for c in row) + " |")
    return "\n".join(lines)


def to_jsonable(obj: Any) -> Any:
    """Return ``obj`` with NumPy/JAX scalars and arrays turned into plain Python (NaN -> None)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, complex):
        return [float(obj.real), float(obj.imag)]
    if hasattr(obj, "shape") and hasattr(obj, "dtype"):
        return to_jsonable(np.asarray(obj).tolist())
    return obj


def start_report(out_dir, title: str, *, only, allowed: Sequence[str], what: str) -> "Report":
    """Return an empty :class:`Report` in ``out_dir``, for a reproduction's ``run``.

    ``only`` (None, or names among ``allowed``, the reproduction's ``what``: sections or tasks) is
    checked first; matplotlib is then switched to its file-only Agg backend, since a reproduction
    writes its figures and shows none.
    """
    if only is not None:
        bad = sorted(set(only) - set(allowed))
        if bad:
            raise ArgumentError(f"only: unknown {what} {bad}; allowed are {tuple(allowed)}")
    import matplotlib

    matplotlib.use("Agg")
    return Report(Path(out_dir), title)


class Report:
    """A Markdown report under construction in ``out_dir``; returns paths as it writes files.

    >>> import tempfile
    >>> rep = Report(tempfile.mkdtemp(), "Demo")
    >>> rep.section("One", "Some text.")
    >>> rep.table(["a", "b"], [[1, 2.5]])
    >>> rep.write().name
    'report.md'
    """

    def __init__(self, out_dir: str | Path, title: str):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.title = title
        self.blocks: list[str] = []
        self.figures: list[Path] = []

    def text(self, text: str) -> None:
        """Append a paragraph."""
        self.blocks.append(text.strip())

    def section(self, title: str, text: str = "") -> None:
        """Start a level-2 section, with an optional opening paragraph."""
        self.blocks.append(f"## {title}")
        if text:
            self.text(text)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "",
              digits: int = 3) -> None:
        """Append a table, preceded by its caption in bold-free italics."""
        if caption:
            self.blocks.append(f"*{caption.strip()}*")
        self.blocks.append(markdown_table(header, rows, digits))

    def figure(self, fig, name: str, caption: str) -> Path:
        """Write ``fig`` to ``out_dir/name`` (PNG, atomically), link it with its caption; return the path."""
        if not name.endswith(".png"):
            raise ArgumentError(f"name must end in .png, got {name!r}")
        path = save_figure(fig, self.out_dir / name)
        self.figures.append(path)
        self.blocks.append(f"![{name}]({name})\n\n**Figure: {name}.** {caption.strip()}")
        return path

    def write(self, name: str = "report.md") -> Path:
        """Write the report (atomically) and return its path."""
        body = f"# {self.title}\n\n" + "\n\n".join(self.blocks) + "\n"
        return atomic_write_bytes(self.out_dir / name, body.encode())

    def write_json(self, data: dict, name: str = "results.json") -> Path:
        """Write ``data`` as indented JSON (atomically) and return its path."""
        return atomic_write_bytes(self.out_dir / name,
                                  json.dumps(to_jsonable(data), indent=2, allow_nan=False).encode())

    def finish(self, results: dict, t_start: float, timings: str = "Wall-clock seconds per section: ") -> Path:
        """Return the path of ``report.md`` after closing a reproduction's run.

        Adds the total wall-clock time since ``t_start`` (``time.perf_counter()``) to
        ``results["timings_s"]``, ends the report with a Timings section (``timings`` followed by
        every entry of ``results["timings_s"]``) and writes ``results.json`` and ``report.md``.
        """
        results["timings_s"]["total"] = round(time.perf_counter() - t_start, 2)
        self.section("Timings", timings + ", ".join(f"{k} {v:.1f}" for k, v in results["timings_s"].items()) + ".")
        self.write_json(results)
        return self.write()
