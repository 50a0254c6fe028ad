"""The documentation site: its code blocks run, its commands parse, and it builds strictly.

- Every ```python block of ``docs/**/*.md`` runs, page by page (a page's blocks share one namespace,
  in order), in a temporary folder. A block preceded by the line ``<!-- docs-test: slow -->`` and
  every block after it on that page run only in the slow test of that page.
- Every ``lowrank-rnn ...`` line of a ```console block parses with the command line's own parser.
- ``mkdocs build --strict`` succeeds (when mkdocs is installed: the ``test`` and ``docs`` extras
  install it), and every public name of the package and of each sub-package has an entry in the
  built API reference (its ``objects.inv``).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
import shlex
import subprocess
import sys
import types
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SLOW_MARK = "<!-- docs-test: slow -->"
_FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```", re.S | re.M)


def _blocks(page: Path, lang: str) -> list[tuple[str, bool]]:
    """Return ``(code, slow)`` for each fenced block of ``lang`` on the page."""
    text = page.read_text()
    out, slow = [], False
    for m in _FENCE.finditer(text):
        before = text[:m.start()].rstrip().splitlines()
        slow = slow or bool(before and before[-1].strip() == SLOW_MARK)
        if m["lang"] == lang:
            body = "\n".join(line[len(m["indent"]):] for line in m["body"].splitlines())
            out.append((body, slow))
    return out


PAGES = sorted(p for p in DOCS.rglob("*.md") if _blocks(p, "python"))


def _page_id(page: Path) -> str:
    return str(page.relative_to(DOCS))


def _run_blocks(page: Path, blocks: list[str], tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # a real module, so that classes defined on a page (dataclasses, Equinox modules) find theirs
    module = types.ModuleType("docs_page")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    try:
        for k, code in enumerate(blocks):
            exec(compile(code, f"{_page_id(page)} (python block {k + 1})", "exec"), module.__dict__)
    finally:
        plt.close("all")


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_page_code_runs(page: Path, tmp_path, monkeypatch):
    fast = [code for code, slow in _blocks(page, "python") if not slow]
    _run_blocks(page, fast, tmp_path, monkeypatch)


SLOW_PAGES = [p for p in PAGES if any(slow for _, slow in _blocks(p, "python"))]


@pytest.mark.slow
@pytest.mark.parametrize("page", SLOW_PAGES, ids=_page_id)
def test_page_code_runs_in_full(page: Path, tmp_path, monkeypatch):
    _run_blocks(page, [code for code, _ in _blocks(page, "python")], tmp_path, monkeypatch)


def _command_lines() -> list[tuple[str, str]]:
    lines = []
    for page in sorted(DOCS.rglob("*.md")):
        for code, _ in _blocks(page, "console"):
            for line in code.splitlines():
                line = line.split(" # ")[0].strip()
                m = re.search(r"(?:^|&& |\S*/)lowrank-rnn (.*)$", line)
                if m:
                    lines.append((_page_id(page), m[1]))
    return lines


@pytest.mark.parametrize("where, args", _command_lines(), ids=lambda v: v if "/" in v else None)
def test_page_commands_parse(where, args):
    from lowrank_rnn.cli import build_parser

    try:
        build_parser().parse_args(shlex.split(args))
    except SystemExit as exit_:
        pytest.fail(f"{where}: `lowrank-rnn {args}` does not parse (exit {exit_.code})")


def test_pages_have_code_and_commands():
    """The collectors above find what the pages hold (a regex that matches nothing would pass)."""
    assert len(PAGES) >= 3
    assert len(_command_lines()) >= 2


def _load_extension():
    spec = importlib.util.spec_from_file_location("_griffe_docstrings", DOCS / "_griffe_docstrings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docstring_extension_reads_house_style():
    pytest.importorskip("griffe")
    ext = _load_extension()
    doc = ("Return x.\n\nParameters\n----------\nx: the value,\ncontinued.\na, b:\n    two more.\n"
           ">>> f(1)\n1\n\nReturns\n-------\nx itself.\n")
    assert ext.rewrite(doc).split("\n") == [
        "Return x.", "", "", "**Returns:** x itself.", "", "Parameters", "----------", "x", "    the value,",
        "    continued.", "a, b", "    two more.", "", "Examples", "--------", ">>> f(1)", "1", ""]
    # a doctest in the prose is fenced, so that Markdown does not read its output as a link
    assert ext.rewrite("Text.\n>>> [1]\n[1]\n\nMore.") == "Text.\n\n```pycon\n>>> [1]\n[1]\n```\n\n\nMore."
    # the papers' Gaussian average [f](mu, delta) is not a link, except in code
    assert ext.rewrite("a [phi'](0, K^2) and `[f](a, b)`") == "a \\[phi'\\](0, K^2) and `[f](a, b)`"


def test_every_reproduction_has_its_page():
    """``lowrank-rnn reproduce NAME`` has docs/papers/NAME.md in the nav and in the home page's list,
    with the figures of its quick run."""
    from lowrank_rnn.experiments import REPRODUCTIONS

    nav = (ROOT / "mkdocs.yml").read_text()
    index = (DOCS / "index.md").read_text()
    for name in REPRODUCTIONS:
        assert f"(papers/{name}.md)" in index, f"docs/index.md does not list the page of reproduction {name!r}"
        page = DOCS / "papers" / f"{name}.md"
        assert page.exists() and f"papers/{name}.md" in nav, (
            f"reproduction {name!r} has no page: write docs/papers/{name}.md (see the others), run "
            f"`python docs/make_figures.py {name}` and add the page to mkdocs.yml's nav")
        assert f'--8<-- "docs/papers/{name}/report.md"' in page.read_text()
        assert list((DOCS / "papers" / name).glob("*.png")), f"no figures in docs/papers/{name}/"


def _public_modules() -> list[str]:
    """``lowrank_rnn``, its public modules and sub-packages, and their public sub-packages."""
    import lowrank_rnn

    names = ["lowrank_rnn"]
    for info in pkgutil.iter_modules(lowrank_rnn.__path__):
        if info.name.startswith("_") or info.name in {"cli", "example"}:
            continue
        names.append(f"lowrank_rnn.{info.name}")
    return names


def _public_names(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, v in vars(module).items() if not n.startswith("_") and getattr(v, "__module__", "").startswith("lowrank_rnn")]
    return [f"{module_name}.{n}" for n in names]


#: public objects still without a ``>>>`` example in their docstring; the list may only shrink
WITHOUT_EXAMPLE: set[str] = set()


def test_every_public_object_has_an_example():
    """Every public class and function of the package and its sub-packages shows a ``>>>`` example
    (the examples run with the suite, ``--doctest-modules``)."""
    missing = set()
    for module_name in _public_modules():
        module = importlib.import_module(module_name)
        for name in _public_names(module_name):
            obj = getattr(module, name.rsplit(".", 1)[1], None)
            if obj is None or inspect.ismodule(obj) or not callable(obj):
                continue
            if ">>>" not in (inspect.getdoc(obj) or ""):
                missing.add(name)
    assert not missing - WITHOUT_EXAMPLE, f"public objects without a >>> example: {sorted(missing - WITHOUT_EXAMPLE)}"
    assert not WITHOUT_EXAMPLE - missing, f"these have examples now: remove them from WITHOUT_EXAMPLE: {sorted(WITHOUT_EXAMPLE - missing)}"


def test_site_builds_strictly_with_every_public_name(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)], cwd=ROOT,
                          capture_output=True, text=True, env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert proc.returncode == 0, "mkdocs build --strict failed:\n" + "\n".join(warnings or proc.stderr.splitlines()[-30:])
    raw = (site / "objects.inv").read_bytes()
    inventory = {line.split()[0] for line in zlib.decompress(raw.split(b"\n", 4)[4]).decode().splitlines()}
    missing = [name for module in _public_modules() for name in _public_names(module) if name not in inventory]
    assert not missing, ("public names without an API entry (a new sub-package needs a page "
                         "docs/api/<name>.md holding `::: lowrank_rnn.<name>` and a line in mkdocs.yml's nav): "
                         f"{missing}")
