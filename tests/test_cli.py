"""The command line: the example runs end to end; bad arguments give one clear line."""

import json

import pytest

from lowrank_rnn.cli import main


def test_example_writes_figure_and_summary(tmp_path):
    assert main(["example", "--out", str(tmp_path), "--N", "400", "--g", "0.5"]) == 0
    png = (tmp_path / "example.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    summary = json.loads((tmp_path / "summary.json").read_text())
    # the two initial conditions reach the two symmetric states
    k_plus, k_minus = summary["final_kappa"]
    assert k_plus > 0.5 and abs(k_plus + k_minus) < 1e-3
    assert abs(summary["numerical_outlier"][0] - summary["network_overlap"]) < 0.15
    assert (tmp_path / "network.npz").exists() and (tmp_path / "ensemble.npz").exists()


def test_bad_arguments_exit_with_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        main(["example", "--out", str(tmp_path), "--N", "0"])
    assert err.value.code == 2
    assert "N must be" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["reproduce", "no-such-paper", "--out", str(tmp_path)])
    assert "unknown reproduction" in capsys.readouterr().err
