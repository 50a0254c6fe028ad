"""`lowrank-rnn reproduce liu2023_richlazy`: smoke run at a tiny size (quick and default runs are slow):
the files, the results' keys the issue names, and values that are the measured ones."""


import numpy as np
import pytest

from lowrank_rnn.experiments import REPRODUCTIONS, liu2023_richlazy


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, run_reproduction_with):
    out = tmp_path_factory.mktemp("liu2023")
    tiny = liu2023_richlazy.Config(quick=True, hidden=16, ranks=(1, 16), seeds=1, epochs=2, n_trials=160,
                                   probe_trials=8)
    return out, run_reproduction_with(liu2023_richlazy, out, tiny, only=["dms"])


def test_files_and_keys(tiny_run):
    out, res = tiny_run
    assert REPRODUCTIONS["liu2023_richlazy"] == "liu2023_richlazy"
    assert (out / "laziness_vs_rank.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Claim 1" in (out / "report.md").read_text()
    e = res["tasks"]["dms"]
    assert e["ranks"] == [1, 16]
    for key in ("kernel_alignment", "representation_alignment", "weight_change", "final_loss"):
        assert len(e[key]) == len(e[f"{key}_sd"]) == 2
    assert all(0.0 <= a <= 1.0 + 1e-9 for a in e["kernel_alignment"] + e["representation_alignment"])
    # rank-one initialisation: effective rank 1 before training, as init_rank makes it
    assert np.isclose(e["effective_rank_before"][0], 1.0, atol=1e-3)
    assert set(res["aligned"]["dms"]) >= {"kernel_alignment", "random_rank_one"}


def test_short_tasks_are_short():
    tasks = liu2023_richlazy.short_tasks()
    assert set(tasks) == {"2af", "dms", "context"}
    assert all(t.alpha == 1.0 and 6 <= t.n_steps <= 9 for t in tasks.values())
