"""A griffe extension that reads the library's docstrings the way they are written.

The docstrings follow numpy's layout with two house habits that griffe's numpy parser does not read:
parameters written ``name: what it is`` on one line (numpy writes ``name : type`` with the
description indented below), and Sphinx roles (``:func:`simulate```, ``:class:`~lowrank_rnn.Ensemble```).
Before griffe parses a docstring, this extension

- rewrites ``name: description`` items of Parameters / Attributes sections into numpy's
  ``name`` + indented description (lines that continue an item are indented with it);
- turns Returns / Raises sections written as prose into a bold heading and the prose;
- puts ``>>>`` examples that stand outside an Examples section into a fenced ``pycon`` block
  (or opens an Examples section when they sit at the end of a Parameters section);
- replaces Sphinx roles by cross-references to the object's page (optional ones: a name the site
  does not document stays plain code, without a warning).

It changes nothing in the source files. Used by ``mkdocs.yml`` (mkdocstrings' ``extensions``) and
tested in ``tests/test_docs.py``.
"""

from __future__ import annotations

import re

import griffe

_UNDERLINE = re.compile(r"^\s*-{3,}\s*$")
_ITEM_SECTIONS = {"parameters", "other parameters", "attributes", "raises", "warns"}
_PROSE_SECTIONS = {"returns", "yields"}
_EXAMPLE_SECTIONS = {"example", "examples"}
# ``name: text``, ``a, b: text`` (no space before the colon: numpy's ``name : type`` is left alone)
_NAME_DESC = re.compile(r"^(?P<names>\*{0,2}[A-Za-z_]\w*(?:,\s*\*{0,2}[A-Za-z_]\w*)*):(?:\s+(?P<desc>.*))?$")
# ``[phi'](mu, delta)``, the papers' Gaussian average, which Markdown would read as a link
_BRACKET_CALL = re.compile(r"\[([^\]\n]*)\]\(([^)\n]*,[^)\n]*)\)")
_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|data|meth|attr|obj|exc|const):`(?P<tilde>~?)(?P<target>[^`<>]+)`")


def _sections(lines: list[str]) -> list[tuple[str | None, int, int]]:
    """Split docstring lines into (section name or None, first body line, end) spans."""
    heads = [i for i in range(len(lines) - 1)
             if lines[i].strip() and not lines[i][0].isspace() and _UNDERLINE.match(lines[i + 1])]
    spans = [(None, 0, heads[0] if heads else len(lines))]
    for k, i in enumerate(heads):
        spans.append((lines[i].strip().lower(), i + 2, heads[k + 1] if k + 1 < len(heads) else len(lines)))
    return spans


def _escape_brackets(lines: list[str], indent: int) -> list[str]:
    """Escape ``[f](a, b)`` in prose lines (indented less than ``indent + 4``; deeper lines are code)."""

    def escape(line: str) -> str:
        parts = line.split("`")
        parts[::2] = [_BRACKET_CALL.sub(r"\\[\1\\](\2)", p) for p in parts[::2]]   # outside backticks
        return "`".join(parts)

    return [escape(l) if len(l) - len(l.lstrip()) < indent + 4 else l for l in lines]


def _fence_doctests(body: list[str]) -> list[str]:
    """Put runs of ``>>>`` lines starting at column 0 (and their output, up to a blank line) in a pycon fence."""
    out, i = [], 0
    while i < len(body):
        if body[i].startswith(">>>"):
            j = i
            while j < len(body) and body[j].strip():
                j += 1
            if out and out[-1].strip():
                out.append("")
            out += ["```pycon", *body[i:j], "```", ""]
            i = j
        else:
            out.append(body[i])
            i += 1
    return out


def _items(body: list[str]) -> tuple[list[str], list[str]]:
    """Rewrite the items of a Parameters-like section; return (items, trailing doctest lines)."""
    out: list[str] = []
    for k, line in enumerate(body):
        if line.startswith(">>>"):
            return out, body[k:]
        m = _NAME_DESC.match(line)
        if m and not line[0].isspace():
            out.append(m["names"])
            if m["desc"]:
                out.append("    " + m["desc"])
        elif line.strip() and not line[0].isspace() and out:
            out.append("    " + line)          # a prose line continuing the item above
        else:
            out.append(line)
    return out, []


def rewrite(text: str) -> str:
    """Return the docstring ``text`` in the numpy layout griffe parses (see the module docstring)."""
    lines = text.split("\n")
    out: list[str] = []
    prose: list[str] = []
    pending_examples: list[str] = []
    for name, start, end in _sections(lines):
        body = lines[start:end]
        if name is None:
            out += _fence_doctests(_escape_brackets(body, 0))
            continue
        heading = lines[start - 2:start]
        if name in _ITEM_SECTIONS:
            items, doctests = _items(body)
            out += heading + _escape_brackets(items, 4)
            pending_examples += doctests
        elif name in _PROSE_SECTIONS:      # griffe would read the prose as a type: keep it as text
            prose += ["", f"**{heading[0].strip()}:** " + "\n".join(_escape_brackets(body, 0)).strip()]
        elif name in _EXAMPLE_SECTIONS:
            out += heading + body
        else:
            out += heading + _fence_doctests(_escape_brackets(body, 0))
    if prose:
        lead = next((k for k, (n, _, _) in enumerate(_sections(out)) if n is not None), None)
        cut = len(out) if lead is None else _sections(out)[lead][1] - 2
        out = out[:cut] + prose + [""] + out[cut:]
    if pending_examples:
        has_examples = any(n in _EXAMPLE_SECTIONS for n, _, _ in _sections(lines))
        if not has_examples:
            out += ["", "Examples", "--------"]
        out += pending_examples
    text = "\n".join(out)
    return text


def _public_path(obj: griffe.Object, target: str) -> str | None:
    """Return the public path of ``target`` as seen from ``obj``'s module, or None if unknown."""
    modules = []
    module = obj if obj.is_module else obj.module
    while module is not None:
        modules.append(module)
        module = module.parent
    root = modules[-1]
    if obj.is_class or obj.parent is not None and obj.parent.is_class:
        cls = obj if obj.is_class else obj.parent
        if target in cls.members:
            return _strip_private(root, f"{cls.path}.{target}")
    if target.split(".")[0] == root.name:
        return _strip_private(root, target) if _exists(root, target) else None
    for module in modules:
        if _exists(root, f"{module.path}.{target}"):
            return _strip_private(root, f"{module.path}.{target}")
    return None


def _exists(root: griffe.Object, path: str) -> bool:
    parts = path.split(".")[1:]
    try:
        root[".".join(parts)] if parts else root
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return False
    return True


def _strip_private(root: griffe.Object, path: str) -> str:
    """``lowrank_rnn.analysis._fit.truncate`` -> ``lowrank_rnn.analysis.truncate`` where that exists."""
    parts = path.split(".")
    while any(p.startswith("_") and not p.startswith("__") for p in parts[:-1]):
        k = next(i for i, p in enumerate(parts[:-1]) if p.startswith("_") and not p.startswith("__"))
        shorter = parts[:k] + parts[k + 1:]
        if not _exists(root, ".".join(shorter)):
            break
        parts = shorter
    return ".".join(parts)


def roles_to_links(text: str, obj: griffe.Object) -> str:
    """Replace Sphinx roles by optional autorefs (plain code where the target is unknown)."""

    def link(m: re.Match) -> str:
        target = m["target"].strip().rstrip("()")
        title = target.split(".")[-1] if m["tilde"] else target
        path = _public_path(obj, target)
        if path is None:
            return f"`{title}`"
        return f'<autoref identifier="{path}" optional><code>{title}</code></autoref>'

    return _ROLE.sub(link, text)


class HouseDocstrings(griffe.Extension):
    """Rewrite every docstring of the package once it is loaded (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        seen: set[int] = set()

        def visit(obj: griffe.Object) -> None:
            if id(obj) in seen:
                return
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = roles_to_links(rewrite(obj.docstring.value), obj)
            for member in obj.members.values():
                if not member.is_alias:
                    visit(member)

        visit(pkg)
