"""`lowrank-rnn reproduce valente2022`: a smoke-size run (a small teacher, few neurons, folds and
epochs) writes its figures, report and results, and its numbers are the ones it reports."""

import struct

import pytest

from lowrank_rnn.experiments import REPRODUCTIONS
from lowrank_rnn.experiments import valente2022

FIGURES = ("teacher_latent.png", "rank_selection.png", "fit.png", "latent_flow.png")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, run_reproduction_with):
    out = tmp_path_factory.mktemp("valente2022")
    cfg = valente2022.Config(quick=True, N_teacher=64, n_recorded=16, trials_per_condition=2, ranks=(1, 2),
                             folds=2, epochs=20, fit_epochs=20, restarts=1)
    return out, run_reproduction_with(valente2022, out, cfg)


def test_registered():
    assert REPRODUCTIONS["valente2022"] == "valente2022"


def test_figures_report_and_results(smoke_run):
    out, res = smoke_run
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        width, height = struct.unpack(">II", data[16:24])
        assert width > 300 and height > 200, (name, width, height)
    text = (out / "report.md").read_text()
    for claim in range(1, 5):
        assert f"## Claim {claim}:" in text
    for name in FIGURES:
        assert f"]({name})" in text, name
    # the results hold what the report states, whatever a 20-epoch fit achieves
    assert res["rank_selection"]["best"] in (1, 2)
    assert res["rank_selection"]["reproduced"] == (res["rank_selection"]["best"] == 1)
    assert f"| {res['rank_selection']['best']} (teacher 1) |" in text
    assert res["teacher"]["rank"] == 1 and res["teacher"]["accuracy"] > 0.5
    assert set(res["latent"]["fixed_points"]) == {"A", "B"}
    assert res["outliers"]["teacher"][0] == pytest.approx(res["teacher"]["outlier"])


def test_designed_teacher_solves_the_two_context_task():
    # the noiseless latent of the full-size teacher ends with the sign of the relevant stimulus
    import numpy as np
    from lowrank_rnn.analysis import latents

    teacher = valente2022.teacher_network(256)
    u, conds = valente2022.task_inputs(valente2022.Config.make(True).steps)
    k_end = latents(teacher, u).kappa[:, -1, 0]
    relevant = np.array([a if c == "A" else b for c, a, b in conds])
    assert np.all(np.sign(k_end) == np.sign(relevant))
