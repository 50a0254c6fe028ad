"""The example: arguments checked before any work, progress on standard error."""

import pytest

from lowrank_rnn import ArgumentError
from lowrank_rnn.cli import main
from lowrank_rnn.example import run_example


def test_bad_arguments_fail_before_any_work(tmp_path):
    """Before: --N 1 raised IndexError after the simulation; --out <file> failed after 11 s of work."""
    with pytest.raises(ArgumentError, match="N must be an integer >= 2, got 1"):
        run_example(tmp_path / "run", N=1)
    assert not (tmp_path / "run").exists()
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ArgumentError, match="is an existing file, not a folder"):
        run_example(afile, N=20)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


@pytest.mark.parametrize("argv, message", [
    (["--out", "", "--N", "20"], "--out must name a folder, got an empty path"),
    (["--N", "1"], "N must be an integer >= 2"),
    (["--g", "nan"], "g must be finite"),
])
def test_cli_example_errors_are_one_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)  # --out "" used to write into the current folder
    argv = argv if "--out" in argv else ["--out", str(tmp_path / "run"), *argv]
    with pytest.raises(SystemExit) as info:
        main(["example", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_example_reports_progress(tmp_path, capsys):
    """Before: a minute without output at the default N."""
    run_example(tmp_path, N=30, g=0.5)
    err = capsys.readouterr().err
    for step in ("sampling", "simulating", "eigenvalues of the 30 x 30", "writing", "done"):
        assert step in err
    assert {p.name for p in tmp_path.iterdir()} == {"example.png", "ensemble.npz", "network.npz", "summary.json"}
