"""The run folder and the command line's errors: one run at a time per folder (two real processes),
no stale lock after a killed run, Ctrl-C and SIGTERM keep the checkpoint and say how to resume,
and every user mistake (a file as --out, an unwritable folder, a damaged or foreign checkpoint, a
folder holding a Network, a missing JAX platform) ends in one line and a non-zero exit status,
while an internal error keeps its traceback."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

import lowrank_rnn as lr
from lowrank_rnn import RunFolderError
from lowrank_rnn.cli import main
from lowrank_rnn.training import _checkpoint as ckpt

SRC = Path(__file__).resolve().parents[1] / "src"
# a 8-unit network on 40 trials (4 minibatches of 8): the command, not the learning
TINY = ["--task", "rdm", "--hidden", "8", "--trials", "40", "--batch", "8", "--quiet"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One compilation cache for the module's processes: each compiles the tiny run once."""
    return tmp_path_factory.mktemp("jax-cache")


def _env(cache, **extra):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
           "LOWRANK_RNN_JAX_CACHE": str(cache), **extra}
    return env


def _default_sigint():
    """In the child: SIGINT back to its default, so Python installs its Ctrl-C handler even when the
    test runner was started as a background job (which starts children with SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _cli(cache, *args, **env):
    return subprocess.Popen([sys.executable, "-m", "lowrank_rnn.cli", *args], env=_env(cache, **env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().split("\n") if line]
    assert len(lines) == 1, stderr
    return lines[0]


def _wait_for(path: Path, proc: subprocess.Popen) -> None:
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)


# ------------------------------------------------------------------------------------- one run per folder
def test_two_processes_into_one_folder_one_is_refused(tmp_path, cache):
    """Two `train` runs (seeds 1 and 2) into one folder at once: one trains, the other is refused
    in one line (the folder in use, or, had the first finished before, a checkpoint of another
    run); the folder holds the winner's run. Before the lock, both reported success."""
    out = tmp_path / "run"
    procs = [_cli(cache, "train", *TINY, "--epochs", "3", "--seed", str(seed), "--out", str(out)) for seed in (1, 2)]
    results = [p.communicate() + (p.returncode,) for p in procs]
    codes = sorted(r[2] for r in results)
    assert codes == [0, 1], results
    winner = 1 + [r[2] for r in results].index(0)
    loser = results[2 - winner]
    line = _one_line(loser[1])
    assert line.startswith("lowrank-rnn: error: ") and ("in use by another training run" in line
                                                        or "belongs to a different run" in line), line
    config = json.loads((out / "config.json").read_text())
    expected = np.asarray(jax.random.key_data(jax.random.split(jax.random.key(winner), 3)[2])).tolist()
    assert config["training"]["key"] == expected
    assert json.loads((out / "history.json").read_text())["epoch"] == [1, 2, 3]


def test_a_held_folder_refuses_a_second_process_and_a_killed_holder_leaves_no_lock(tmp_path, cache):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from lowrank_rnn.training._checkpoint import claim\n"
         f"with claim({str(out)!r}):\n    print('held', flush=True)\n    sys.stdin.read()"],
        env=_env(cache), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        second = _cli(cache, "train", *TINY, "--epochs", "1", "--out", str(out))
        _, err = second.communicate()
        assert second.returncode == 1
        assert f"in use by another training run (process {holder.pid})" in _one_line(err)
        with pytest.raises(RunFolderError, match="in use"):  # the same, in this process
            with ckpt.claim(out):
                pass
    finally:
        holder.kill()  # SIGKILL: no cleanup runs in the holder
        holder.wait()
    assert (out / ".lock").exists()  # the file stays, the lock went with the process
    with ckpt.claim(out):
        with ckpt.claim(out):  # re-entrant in one thread (a recipe around its train calls)
            pass


# ------------------------------------------------------------------------------------- interruptions
@pytest.mark.parametrize("sig, status, word", [(signal.SIGINT, 130, "interrupted"),
                                               (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_interrupted_training_keeps_its_checkpoint_and_says_how_to_resume(tmp_path, cache, sig, status, word):
    out = tmp_path / "run"
    proc = _cli(cache, "train", *TINY, "--epochs", "100000", "--out", str(out))
    _wait_for(out / "history.json", proc)  # an epoch completed
    proc.send_signal(sig)
    _, err = proc.communicate()
    assert proc.returncode == status
    line = _one_line(err)  # no traceback
    assert line.startswith(f"lowrank-rnn: {word}; {out} keeps the last completed epoch") and "resume" in line
    epochs = json.loads((out / "history.json").read_text())["epoch"]
    with np.load(out / "checkpoint.npz") as data:  # whole, and the epochs the history says
        meta = json.loads(bytes(data["__meta__"]).decode())
    assert meta["epoch"] >= epochs[-1] >= 1
    assert not list(out.glob(".*.tmp"))  # no temporary file left behind


# ------------------------------------------------------------------------------------- bad run folders
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished one-epoch run folder (trained in this process)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(out), "--no-cache"]) == 0
    return out


def _fails(argv, capsys, status=1) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == status
    return _one_line(capsys.readouterr().err)


def test_out_that_cannot_be_a_folder(tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    line = _fails(["train", *TINY, "--epochs", "1", "--out", str(a_file), "--no-cache"], capsys)
    assert f"run folder {a_file} is a file, not a folder" in line
    line = _fails(["train", *TINY, "--epochs", "1", "--out", str(a_file / "sub"), "--no-cache"], capsys)
    assert "a part of its path is a file" in line
    assert a_file.read_text() == "not a folder"
    assert _fails(["train", *TINY, "--epochs", "1", "--out", "", "--no-cache"], capsys, status=2) == (
        "lowrank-rnn: error: out must name a folder, got an empty path")


def test_unwritable_folder(tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.access(locked, os.W_OK):  # root writes anywhere: make the file system refuse instead
        def refuse(self, *args, **kwargs):
            raise PermissionError(13, "Permission denied", str(self))

        monkeypatch.setattr(Path, "mkdir", refuse)
    try:
        line = _fails(["train", *TINY, "--epochs", "1", "--out", str(locked / "run"), "--no-cache"], capsys)
    finally:
        locked.chmod(0o700)
    assert f"run folder {locked / 'run'} cannot be written (Permission denied)" in line


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "is damaged or not a checkpoint"),
    (lambda p: p.write_bytes(b""), "is damaged or not a checkpoint"),
    (lambda p: np.savez(p, weights=np.zeros(3)), "is not a lowrank-rnn training checkpoint"),
])
def test_damaged_or_foreign_checkpoint_hints_at_restart(finished_run, tmp_path, capsys, damage, message):
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    damage(out / "checkpoint.npz")
    argv = ["train", *TINY, "--epochs", "2", "--out", str(out), "--no-cache"]
    line = _fails(argv, capsys)
    assert message in line and "--restart" in line
    assert main([*argv, "--restart"]) == 0  # and the hint works
    assert json.loads((out / "history.json").read_text())["epoch"] == [1, 2]


def test_evaluate_a_folder_that_holds_a_network(finished_run, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    lr.save(lr.Ensemble.rank_one(mean_m=1.0, mean_n=1.0, std_m=1.0, std_n=1.0).sample(20, key=jax.random.key(0)), out / "model.npz")
    line = _fails(["evaluate", str(out), "--no-figures", "--no-cache"], capsys)
    assert f"{out / 'model.npz'} holds a Network, not a trained network" in line
    (out / "config.json").write_text("{")
    assert "is not the configuration of a training run" in _fails(["evaluate", str(out), "--no-cache"], capsys)


# ------------------------------------------------------------------------------------- what is caught
def test_internal_errors_keep_their_traceback(monkeypatch, tmp_path):
    """Only the library's own errors are one-line usage errors; a ValueError from a bug is not."""
    import lowrank_rnn.training._cli as tcli

    def bug(*args, **kwargs):
        raise ValueError("an internal bug")

    monkeypatch.setattr(tcli, "train_recipe", bug)
    with pytest.raises(ValueError, match="an internal bug"):
        main(["train", *TINY, "--epochs", "1", "--out", str(tmp_path / "run"), "--no-cache"])


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine may have a GPU")
def test_missing_jax_platform(tmp_path, cache):
    proc = _cli(cache, "evaluate", str(tmp_path), "--no-cache", JAX_PLATFORMS="gpu")
    _, err = proc.communicate()
    assert proc.returncode == 1
    line = _one_line(err)
    assert line.startswith("lowrank-rnn: error: JAX cannot start the platform JAX_PLATFORMS='gpu'") and (
        "unset JAX_PLATFORMS" in line)


def test_cli_cites_shao_as_the_readme_does():
    """Issue 20: the CLI cited Shao et al. 2025 where the README said 2024. The project cites the
    published paper (PRX Life, 2025; arXiv 2411.06802) everywhere."""
    import lowrank_rnn.cli as cli

    text = Path(cli.__file__).read_text()
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert "Shao et al. 2025" in text and "Shao et al. 2024" not in text
    assert "Shao et al. 2025" in readme and "Shao et al. 2024" not in readme

def test_a_model_without_a_checkpoint_is_not_overwritten_and_an_old_archive_is_explained(tmp_path):
    # Morris-Lecar run folders written before 2026-12-07 hold a plain NumPy model.npz and no checkpoint.
    from lowrank_rnn import RunFolderError
    from lowrank_rnn.training import load_run, resume_run

    np.savez(tmp_path / "model.npz", w_out=np.zeros(3))
    (tmp_path / "config.json").write_text(json.dumps({"task": {"name": "rdm"}}))
    kept = (tmp_path / "model.npz").read_bytes()
    with pytest.raises(RunFolderError, match="no checkpoint.npz to resume from.*--restart"):
        resume_run(tmp_path, {}, resume=True, epochs=2, params={}, state=(), fields=("epoch",))
    assert (tmp_path / "model.npz").read_bytes() == kept
    with pytest.raises(RunFolderError, match="plain NumPy archive"):
        load_run(tmp_path)
    # starting over is what --restart asks for
    assert resume_run(tmp_path, {}, resume=False, epochs=2, params={}, state=(), fields=("epoch",))[3] == 0
