"""Training and evaluation under JAX's 64-bit mode (JAX_ENABLE_X64=1), run in a fresh process.

Before, the epoch scan's batch counter (int64 under x64) met an int32 carry, and the states of an
evolution strategy's population (a float64 mean) met a float32 carry: every method failed with a
raw carry-type error.
"""

import os
import subprocess
import sys
import textwrap


def test_train_and_evaluate_under_x64(tmp_path):
    script = textwrap.dedent(f"""
        import json, sys
        import jax
        assert jax.config.jax_enable_x64
        from lowrank_rnn.cli import main
        root = {str(tmp_path)!r}
        runs = {{
            "bptt": ["--task", "rdm", "--rank", "1", "--hidden", "16"],
            "es": ["--task", "rdm", "--rank", "1", "--hidden", "16", "--method", "es", "--strategy", "openai_es"],
            "rule": ["--task", "delayed_xor", "--rule", "eprop"],
        }}
        for name, args in runs.items():
            rc = main(["train", *args, "--epochs", "1", "--trials", "64", "--out", f"{{root}}/{{name}}", "--no-cache"])
            assert rc == 0, (name, rc)
        rc = main(["evaluate", f"{{root}}/bptt", "--json", "--trials", "64", "--no-figures", "--no-cache"])
        assert rc == 0, rc
    """)
    env = dict(os.environ, JAX_ENABLE_X64="1")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("bptt", "es", "rule"):
        assert (tmp_path / name / "history.json").exists(), name
        assert (tmp_path / name / "model.npz").exists(), name
    assert '"accuracy"' in proc.stdout
