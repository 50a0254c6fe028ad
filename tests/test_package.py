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
