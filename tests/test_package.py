"""The package surface: sub-packages reachable as attributes, imported on first use."""

import subprocess
import sys

_CODE = """
import sys
import lowrank_rnn as lr
subs = ("theory", "motifs", "tasks", "models", "training", "analysis", "learning", "experiments")
assert not [s for s in subs if f"lowrank_rnn.{s}" in sys.modules], "imported eagerly"
for s in subs:
    assert getattr(lr, s) is sys.modules[f"lowrank_rnn.{s}"], s
    assert s in dir(lr)
assert callable(lr.tasks.get_task) and hasattr(lr.theory, "stationary_states")
try:
    lr.no_such_thing
except AttributeError as err:
    assert "no_such_thing" in str(err)
else:
    raise AssertionError("no AttributeError")
print("ok")
"""


def test_subpackages_are_lazy_attributes():
    """Before: lr.theory, lr.tasks, ... raised AttributeError unless imported by hand."""
    res = subprocess.run([sys.executable, "-c", _CODE], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]


def test_source_compiles_without_warnings():
    """No invalid escape sequence (``"\\s"`` in a docstring's LaTeX) or other compile-time warning:
    Python 3.12 turns these DeprecationWarnings into SyntaxWarnings, a later version into errors."""
    import warnings
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "src" / "lowrank_rnn"
    bad = []
    for path in sorted(package.rglob("*.py")):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            compile(path.read_text(), str(path), "exec")
        bad += [f"{path.relative_to(package)}:{w.lineno}: {w.message}" for w in caught]
    assert not bad, "\n".join(bad)
