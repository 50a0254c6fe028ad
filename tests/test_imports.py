"""The package's import structure, read from the source with ``ast`` (nothing is imported).

Three rules keep the layers of the package apart:

(a) Layers import downward only and without cycles. A *unit* is a sub-package (``models``,
    ``training``...) or a top-level module (``_network``, ``spectrum``...); a unit may import from
    its own layer or a lower one in :data:`LAYERS`, the units' import graph (imports inside
    functions included) has no cycle, and neither has the modules' graph of module-level imports.
(b) No private name crosses a sub-package boundary: ``from ..models._lowrank import _top_svd`` is
    refused; a helper that two sub-packages share is a public name of the lower one. The
    top-level modules (``_ensemble``, ``_io``...) form the root package, and importing one of
    them as a name (``from .. import _io``) from a sub-package counts as private too.
(c) Imports of the package sit at module level, except those in :data:`LAZY_IMPORTS`, each of
    which keeps something slow or optional off the import path.
"""

from __future__ import annotations

import ast
import dataclasses
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "lowrank_rnn"

# Units from the bottom layer up. A unit may import its own layer and the layers below it.
LAYERS: tuple[frozenset[str], ...] = tuple(frozenset(layer) for layer in (
    {"_errors", "_version"},
    {"_checks", "_tanh"},
    {"_io"},                                  # the file format; classes register from above
    {"_network", "_ensemble"},                # connectivity: sampled instances and descriptions
    {"theory", "spectrum", "motifs"},         # theory of descriptions (motifs: Shao et al.)
    {"_simulate", "dynamics", "_dynamics", "models",  # the integrator and trainable networks
     "memory"},                               # Hopfield and Krotov-Hopfield memories (numpy, jax, optax)
    {"_savers", "lowrank_rnn"},               # the root package: re-exports and registration
    {"tasks"},
    {"learning"},                             # credit-assignment rules and rate networks
    {"training", "analysis", "sampling"},      # sampling: Chen et al. 2023 (DSM, reservoir samplers)
    {"sweep", "fitting", "causal", "biophys",  # biophys: Hazelden et al. 2023, LIF rates
     "io"},                                   # io: exports of trajectories for other tools
    {"experiments", "example", "cli"},
))

# (importing module, imported module): package imports allowed inside a function, and why.
LAZY_IMPORTS: dict[tuple[str, str], str] = {
    # `lowrank-rnn --help` and each sub-command import only what they run (the reproductions and
    # training pull in matplotlib, optax and evosax).
    ("lowrank_rnn.cli", "lowrank_rnn.example"): "sub-command dispatch",
    ("lowrank_rnn.cli", "lowrank_rnn.experiments"): "sub-command dispatch",
    ("lowrank_rnn.cli", "lowrank_rnn.motifs._cli"): "sub-command dispatch",
    ("lowrank_rnn.cli", "lowrank_rnn.sweep._cli"): "sub-command dispatch",
    ("lowrank_rnn.cli", "lowrank_rnn.fitting._circuit_cli"): "sub-command dispatch",
    ("lowrank_rnn.cli", "lowrank_rnn.biophys._ml_cli"): "sub-command dispatch (train/evaluate --model morris_lecar)",
    ("lowrank_rnn.cli", "lowrank_rnn.fitting._lowrank_cli"): "sub-command dispatch",
    ("lowrank_rnn.cli", "lowrank_rnn.training._cli"): "sub-command dispatch",
}


@dataclasses.dataclass(frozen=True)
class Import:
    """One imported module: ``source`` imports ``target`` (its names ``names``) at ``line``."""

    source: str
    target: str
    names: tuple[str, ...]
    line: int
    in_function: bool


def _modules(package: Path) -> dict[str, tuple[Path, bool]]:
    """Return {dotted module name: (file, is a package __init__)} for every .py file."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_package)
    return out


def _in_function(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return True
    return False


def _is_type_checking(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether ``node`` sits under ``if TYPE_CHECKING:`` (never executed, so never a cycle)."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports(package: Path) -> list[Import]:
    """Return every import of the package by one of its own modules.

    ``from pkg import name`` imports the module ``pkg.name`` when that is a module, else ``pkg``;
    an import of a module outside the importer's own sub-package also runs that sub-package's
    ``__init__`` first, which is recorded as an import of it (that is how hidden cycles arise).
    """
    root = package.name
    modules = _modules(package)
    found = []
    for name, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        here = name.split(".") if is_package else name.split(".")[:-1]
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or _is_type_checking(node, parents):
                continue
            targets: list[tuple[str, str]] = []  # (module, name as imported)
            if isinstance(node, ast.Import):
                targets = [(a.name, a.name.rsplit(".", 1)[-1]) for a in node.names]
            else:
                base = here[:len(here) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    sub = f"{module}.{alias.name}"
                    targets.append((sub if sub in modules else module, alias.name))
            lazy = _in_function(node, parents)
            for target, imported in targets:
                if target.split(".")[0] != root:
                    continue
                found.append(Import(name, target, (imported,), node.lineno, lazy))
                parts = target.split(".")
                for i in range(2, len(parts)):  # the target's packages run first
                    package_name = ".".join(parts[:i])
                    if not (name == package_name or name.startswith(package_name + ".")):
                        found.append(Import(name, package_name, (), node.lineno, lazy))
    merged: dict[tuple, set[str]] = {}
    for imp in found:  # one Import per statement and module, with all the names it takes
        merged.setdefault((imp.source, imp.target, imp.line, imp.in_function), set()).update(imp.names)
    return sorted((Import(s, t, tuple(sorted(n)), line, f) for (s, t, line, f), n in merged.items()),
                  key=lambda i: (i.source, i.line, i.target))


def unit(module: str) -> str:
    """The sub-package or top-level module that ``module`` belongs to (the root: its own name)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def subpackage(module: str, package: Path) -> str:
    """The sub-package ``module`` belongs to, or '' for the root package and its modules."""
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and (package / parts[1]).is_dir()):
        return parts[1]
    return ""


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components of more than one node, or with a self-loop."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    nodes = sorted(set(edges) | {t for ts in edges.values() for t in ts})

    def visit(v: str) -> None:  # Tarjan's algorithm; the graphs are a few hundred nodes
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                out.append(sorted(component))

    for v in nodes:
        if v not in index:
            visit(v)
    return out


def _layer(name: str) -> int | None:
    return next((i for i, layer in enumerate(LAYERS) if name in layer), None)


def violations(package: Path, lazy_allowed: dict[tuple[str, str], str] | None = None) -> dict[str, list[str]]:
    """Return the breaches of rules (a), (b), (c) in ``package``, as readable lines per rule."""
    lazy_allowed = LAZY_IMPORTS if lazy_allowed is None else lazy_allowed
    found = imports(package)
    out: dict[str, list[str]] = {"layers": [], "unit cycles": [], "module cycles": [], "private": [],
                                 "in function": []}
    unit_edges: dict[str, set[str]] = {}
    module_edges: dict[str, set[str]] = {}
    for imp in found:
        src, dst = unit(imp.source), unit(imp.target)
        where = f"{imp.source}:{imp.line} imports {imp.target}"
        if src != dst:
            unit_edges.setdefault(src, set()).add(dst)
            ls, ld = _layer(src), _layer(dst)
            if ls is None or ld is None:
                out["layers"].append(f"{where}: {src if ls is None else dst} has no layer in LAYERS")
            elif ld > ls:
                out["layers"].append(f"{where}: {src} (layer {ls}) is below {dst} (layer {ld})")
        if not imp.in_function and imp.source != imp.target:
            module_edges.setdefault(imp.source, set()).add(imp.target)
        private = [n for n in imp.names if n.startswith("_") and not n.startswith("__")]
        if private and subpackage(imp.source, package) != subpackage(imp.target, package):
            out["private"].append(f"{where}: private name {', '.join(private)} crosses a package boundary")
        if imp.in_function and imp.names and (imp.source, imp.target) not in lazy_allowed:
            out["in function"].append(f"{where} inside a function")
    out["unit cycles"] = [" <-> ".join(c) for c in cycles(unit_edges)]
    out["module cycles"] = [" <-> ".join(c) for c in cycles(module_edges)]
    return out


def _report(lines: list[str]) -> str:
    return "\n".join(lines)


# --------------------------------------------------------------------------- the package itself

@pytest.fixture(scope="module")
def found():
    return violations(PACKAGE)


def test_layers_import_downward(found):
    assert not found["layers"], _report(found["layers"])


def test_no_cycle_between_subpackages(found):
    assert not found["unit cycles"], _report(found["unit cycles"])


def test_no_module_level_import_cycle(found):
    assert not found["module cycles"], _report(found["module cycles"])


def test_no_private_name_crosses_a_package(found):
    assert not found["private"], _report(found["private"])


def test_package_imports_at_module_level(found):
    assert not found["in function"], _report(found["in function"])


def test_lazy_imports_are_still_needed():
    """Every allowed in-function import still exists (the list shrinks as the code is fixed)."""
    lazy = {(i.source, i.target) for i in imports(PACKAGE) if i.in_function}
    assert set(LAZY_IMPORTS) <= lazy, sorted(set(LAZY_IMPORTS) - lazy)


# ------------------------------------------------------------------ the checker on a tiny package

def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root / "lowrank_rnn"


_CLEAN = {
    "lowrank_rnn/__init__.py": "from ._errors import ArgumentError\n",
    "lowrank_rnn/_errors.py": "class ArgumentError(ValueError): pass\n",
    "lowrank_rnn/_network.py": "from ._errors import ArgumentError\n",
    "lowrank_rnn/theory/__init__.py": "from ._gaussian import average\n",
    "lowrank_rnn/theory/_gaussian.py": "from .._network import ArgumentError\ndef average(): pass\n",
    "lowrank_rnn/models/__init__.py": "from ._lowrank import Model\n",
    "lowrank_rnn/models/_lowrank.py": "from ..theory import average\nclass Model: pass\n",
}


def test_checker_passes_a_clean_package(tmp_path):
    found = violations(_write(tmp_path, _CLEAN))
    assert not any(found.values()), found


def test_checker_finds_a_module_cycle(tmp_path):
    files = dict(_CLEAN)
    files["lowrank_rnn/theory/_gaussian.py"] = "from ._flow import flow\ndef average(): pass\n"
    files["lowrank_rnn/theory/_flow.py"] = "from ._gaussian import average\ndef flow(): pass\n"
    found = violations(_write(tmp_path, files))
    assert found["module cycles"] == ["lowrank_rnn.theory._flow <-> lowrank_rnn.theory._gaussian"]
    assert not found["unit cycles"] and not found["layers"]


def test_checker_finds_an_upward_import_hidden_in_a_function(tmp_path):
    files = dict(_CLEAN)
    files["lowrank_rnn/theory/_gaussian.py"] = """\
        def average():
            from ..models import Model
            return Model
        """
    found = violations(_write(tmp_path, files))
    assert found["unit cycles"] == ["models <-> theory"]
    assert found["layers"] == ["lowrank_rnn.theory._gaussian:2 imports lowrank_rnn.models: "
                               "theory (layer 4) is below models (layer 5)"]
    assert found["in function"] == ["lowrank_rnn.theory._gaussian:2 imports lowrank_rnn.models inside a function"]
    assert not found["module cycles"]  # in a function: no cycle at import time, but still refused


def test_checker_finds_a_cycle_through_a_package_init(tmp_path):
    files = dict(_CLEAN)
    # models/_lowrank imports theory's module directly; theory/__init__ imports models back
    files["lowrank_rnn/models/_lowrank.py"] = "from ..theory._gaussian import average\nclass Model: pass\n"
    files["lowrank_rnn/theory/__init__.py"] = "from ._gaussian import average\nfrom ..models import Model\n"
    found = violations(_write(tmp_path, files))
    assert ["lowrank_rnn.models", "lowrank_rnn.models._lowrank", "lowrank_rnn.theory"] in \
        [c.split(" <-> ") for c in found["module cycles"]]
    assert found["unit cycles"] == ["models <-> theory"]


def test_checker_finds_private_names_across_packages(tmp_path):
    files = dict(_CLEAN)
    files["lowrank_rnn/_network.py"] = "def _matrix_sqrt(): pass\n"
    files["lowrank_rnn/_ensemble.py"] = "from ._network import _matrix_sqrt\n"  # same (root) package
    files["lowrank_rnn/models/_lowrank.py"] = ("from .._network import _matrix_sqrt\nfrom .. import _network\n"
                                               "from ..theory._gaussian import average\nclass Model: pass\n")
    found = violations(_write(tmp_path, files))
    assert found["private"] == [
        "lowrank_rnn.models._lowrank:1 imports lowrank_rnn._network: private name _matrix_sqrt crosses a package boundary",
        "lowrank_rnn.models._lowrank:2 imports lowrank_rnn._network: private name _network crosses a package boundary",
    ]


def test_checker_refuses_a_unit_without_a_layer(tmp_path):
    files = dict(_CLEAN)
    files["lowrank_rnn/newthing/__init__.py"] = "from .._errors import ArgumentError\n"
    found = violations(_write(tmp_path, files))
    assert found["layers"] == ["lowrank_rnn.newthing:1 imports lowrank_rnn._errors: newthing has no layer in LAYERS"]
