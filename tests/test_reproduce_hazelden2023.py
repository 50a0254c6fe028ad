"""`lowrank-rnn reproduce hazelden2023`: a smoke-size run writes the figures, every section of the
report and results.json with one claim per claim of the abstract."""

import struct

import pytest

from lowrank_rnn.experiments import REPRODUCTIONS, hazelden2023

FIGURES = ("ml_budget.png", "window.png", "neural_ode.png", "rober.png")
SECTIONS = ("Morris–Lecar network: loss against forward passes", "BP gradients against the evaluation window",
            "A discrete loss: the spike count", "Neural ODE (Van der Pol): BP against ES at several widths",
            "Stiff neural ODE (ROBER): BP against ES at several widths", "Claims")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, run_reproduction_with):
    out = tmp_path_factory.mktemp("hazelden2023")
    # the neural-ODE budget is the smallest with two ES generations (popsize + 1 = 5 forward passes each)
    cfg = hazelden2023.Config(quick=True, n=4, trial=(0.0, 20.0, 10.0, 10.0), n_pulses=2, pulse_width=5.0,
                              n_train=8, n_val=4, n_test=6, batch=4, bp_epochs=2, popsize=4, windows=(40.0, 80.0),
                              couplings=(1.0,), window_trials=1, spike_epochs=1, node_widths=(4,), node_budget=10,
                              node_popsize=4)
    return out, run_reproduction_with(hazelden2023, out, cfg)


def test_registered():
    assert REPRODUCTIONS["hazelden2023"] == "hazelden2023"


def test_figures_report_and_results(smoke):
    out, res = smoke
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        width, height = struct.unpack(">II", data[16:24])
        assert width > 250 and height > 200, (name, width, height)
    text = (out / "report.md").read_text()
    for title in SECTIONS:
        assert f"## {title}" in text, title
    assert "Only the paper's abstract is public" in text
    assert len(res["claims"]) == 4
    # one neural-ODE claim per problem: the general one and the stiff benchmark
    assert [res[k]["problem"] for k in ("neural_ode", "rober")] == ["oscillator", "rober"]
    assert "ROBER" in res["claims"][2]["claim"]
    for claim in res["claims"]:
        assert isinstance(claim["reproduced"], bool) and claim["evidence"] and claim["criterion"]
    assert res["spike_count"]["bp_refused"] is True
    assert [e["window_ms"] for e in res["window"]] == [40.0, 80.0]
    # the gradient sweep is a finding, not evidence for a claim
    assert "nonfinite_gradients_in_sweep" not in str(res["claims"])
    assert res["findings"][0]["evidence"]["grad_norm_growth_by_g_mean"]
    runs = res["ml_budget"]["runs"]
    # ES gets at least BP's training solves; validation solves are not counted
    assert runs["es"]["train_solves"][-1] >= runs["bp"]["train_solves"][-1] == 2 * 2 * 4
    # the networks are judged on fresh test trials, with the paired standard error of each difference
    test = res["ml_budget"]["test"]
    for k in ("init", "bp", "es"):
        assert 0.0 <= test[k]["accuracy"] <= 1.0
    assert set(test["es_minus_bp"]["loss"]) == {"diff", "se"}
    claim1 = res["claims"][0]["evidence"]
    assert claim1["test_loss_init_bp_es"] == [test["init"]["loss"], test["bp"]["loss"], test["es"]["loss"]]
    assert set(res["spike_count"]["test"]) == {"init", "es", "es_minus_init"}
    assert "window_mse" in text


def test_a_bp_run_that_diverged_after_its_best_is_a_finding():
    # the claims compare best losses; a BP run that went non-finite afterwards must still be reported
    runs = [{"method": "bp", "width": 4, "best_loss": 0.01, "final_loss": 0.012, "nonfinite": 0,
             "first_nonfinite": None},
            {"method": "es", "width": 4, "best_loss": 0.1, "final_loss": 0.1, "nonfinite": 0, "first_nonfinite": None},
            {"method": "bp", "width": 64, "best_loss": 1e-3, "final_loss": 9e24, "nonfinite": 142,
             "first_nonfinite": 1859},
            {"method": "es", "width": 64, "best_loss": 0.095, "final_loss": 0.098, "nonfinite": 0,
             "first_nonfinite": None}]
    found = hazelden2023._findings({"rober": {"runs": runs}})
    assert len(found) == 1 and "width 64" in found[0]["finding"] and "ROBER" in found[0]["finding"]
    assert found[0]["evidence"]["bp_nonfinite_steps"] == 142
    assert found[0]["evidence"]["es_best_final_loss"] == [0.095, 0.098]
