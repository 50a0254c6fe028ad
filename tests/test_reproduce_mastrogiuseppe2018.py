"""`lowrank-rnn reproduce mastrogiuseppe2018 --quick`: figures, report and key numbers.

The quick run (small networks, one or two seeds) is executed once for the whole module; the tests
check that every figure and section is there and that the numbers carry the paper's physics, with
tolerances sized for the quick run's N (the reason is stated at each assertion). Published numbers:
Mastrogiuseppe & Ostojic 2018 and the constants of the authors' public code.
"""

import json
import struct

import numpy as np
import pytest

from lowrank_rnn.cli import main
from lowrank_rnn.experiments import REPRODUCTIONS
from lowrank_rnn.experiments import mastrogiuseppe2018 as m18

FIGURES = ("phase_diagram.png", "spontaneous_kappa_delta0.png", "spectrum.png", "input_driven.png",
           "go_nogo.png", "detection.png", "context.png", "rank_two.png")
SECTIONS = ("Phase diagram", "κ and Δ0 against g", "Spectra", "Input-driven", "Go–Nogo", "Detection",
            "Context-dependent", "ring attractor and limit cycle")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("m2018")
    assert main(["reproduce", "mastrogiuseppe2018", "--out", str(out), "--quick"]) == 0
    results = json.loads((out / "results.json").read_text())
    return out, results


def test_registered():
    assert REPRODUCTIONS["mastrogiuseppe2018"] == "mastrogiuseppe2018"


def test_figures_are_png(quick_run):
    out, _ = quick_run
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        width, height = struct.unpack(">II", data[16:24])
        assert width > 300 and height > 200, (name, width, height)


def test_report_mentions_every_section_and_figure(quick_run):
    out, res = quick_run
    text = (out / "report.md").read_text()
    for title in SECTIONS:
        assert title in text, title
    # the sections run in another order (EXECUTION_ORDER) but the report keeps the paper's
    assert [text.index(title) for title in SECTIONS] == sorted(text.index(title) for title in SECTIONS)
    for name in FIGURES:
        assert f"]({name})" in text, name
    assert not list(out.glob(".*.tmp"))  # the atomic writes left no temporary file
    assert set(res["timings_s"]) == set(m18.SECTIONS) | {"total"}


def test_theory_is_complete(quick_run):
    _, res = quick_run
    assert res["missing_theory"] == []


def test_phase_diagram(quick_run):
    _, res = quick_run
    pd = res["phase_diagram"]
    # critical lines at overlap 2.2 against the authors' constants
    sp = res["spontaneous"]
    assert sp["g_C"] == pytest.approx(1.796, abs=2e-3)
    assert sp["g_B"] == pytest.approx(2.136, abs=2e-3)
    # simulated regimes: every point away from the finite-size window g_C < g < g_B (where the
    # paper reports strong deviations) agrees with the mean-field regime
    for p in pd["points"]:
        if p["regime_theory"] != "heterogeneous chaotic":
            assert p["regime_sim"] == p["regime_theory"], p


def test_spontaneous_kappa_and_delta0(quick_run):
    _, res = quick_run
    pts = {p["g"]: p for p in res["spontaneous"]["points"]}
    # g = 0.4: heterogeneous fixed point. N = 600: the sampled overlap n^T m / N spreads by ~0.1
    # (spectrum.outlier_std), ~5 % of 2.2, and kappa and Delta_0 move by similar fractions; allow twice that.
    p = pts[0.4]
    assert p["theory_kind"] == "stationary"
    assert p["kappa_sim_mean"] == pytest.approx(p["kappa_theory"], rel=0.1)
    assert p["delta0_sim_mean"] == pytest.approx(p["delta0_theory"], rel=0.15)
    assert p["delta_T_sim_mean"] < 1e-6  # a fixed point
    # g = 2.6 > g_B: homogeneous chaos, kappa = 0 up to O(1/sqrt(N)) fluctuations
    p = pts[2.6]
    assert p["theory_kind"] == "chaotic" and p["kappa_theory"] == pytest.approx(0.0, abs=1e-9)
    assert abs(p["kappa_sim_mean"]) < 0.15 and p["delta_T_sim_mean"] > 0.1
    assert p["delta0_sim_mean"] == pytest.approx(p["delta0_theory"], rel=0.15)


def test_spectrum(quick_run):
    _, res = quick_run
    for g in (0.5, 1.5):
        s = res["spectrum"][f"g={g}"]
        assert s["outlier_sim"][0] == pytest.approx(2.2, abs=4 * s["outlier_finite_N_sd"])
        assert abs(s["outlier_sim"][1]) < 1e-6  # real
        # the bulk edge of a finite circular law overshoots g by O(N^-1/2); N = 600
        assert s["bulk_radius_sim"] == pytest.approx(g, rel=0.1)
    stab = res["spectrum"]["stability_matrix"]
    assert stab["bulk_radius_theory"] < 1
    assert stab["bulk_radius_sim"] == pytest.approx(stab["bulk_radius_theory"], rel=0.15)


def test_input_driven(quick_run):
    _, res = quick_run
    inp = res["input_driven"]
    # published: the negative state still exists at Sigma_nI = 0.72 and is gone at 0.74
    assert 0.72 <= inp["sigma_nI_negative_branch_end"] <= 0.74
    onset = inp["bistability_onset_overlap"]
    # without orthogonal input x = 0 at the onset, [phi'](0, 0) = 1: onset at overlap 1 exactly
    assert onset["0.0"] == pytest.approx(1.0, abs=1e-6)
    assert onset["0.0"] < onset["1.0"] < onset["2.0"]  # orthogonal input shrinks the bistable range


def test_go_nogo(quick_run):
    _, res = quick_run
    go = res["go_nogo"]
    assert go["readout_go_sim_mean"] > 0.5 > abs(go["readout_nogo_sim_mean"])
    assert go["readout_nogo_theory"] == pytest.approx(0.0, abs=1e-9)
    # N = 800: the sampled overlaps n^T I_A / N and w^T m / N spread by ~4 / sqrt(800) / 4 ~ 3.5 %
    assert go["readout_go_sim_mean"] == pytest.approx(go["readout_go_theory"], rel=0.1)


def test_detection(quick_run):
    _, res = quick_run
    det = res["detection"]
    assert det["c_star_theory"] == pytest.approx(0.54, abs=0.02)
    frac, c = np.asarray(det["fraction_go"]), np.asarray(det["c"])
    # psychometric curve: rarely Go well below threshold, always Go well above it
    assert frac[c <= 0.2].max() <= 0.25 and frac[c >= 0.9].min() >= 0.85
    assert np.all(np.diff(frac) >= -0.25)  # monotone up to the binomial noise of 8 trials


def test_context_thresholds(quick_run):
    _, res = quick_run
    ctx = res["context"]
    # theory: the published stimulus amplitude 1 flips the relevant channel but not the irrelevant one
    assert ctx["threshold_relevant_theory"] < 1.0 < ctx["threshold_irrelevant_theory"]
    assert ctx["readout_theory"]["ctxA_stimA_amp1"] > 0 > ctx["readout_theory"]["ctxA_stimB_amp1"]


def test_rank_two(quick_run):
    _, res = quick_run
    r2 = res["rank_two"]
    # N = 4000: the sampled overlap matrix deviates from 1.6 I by ~1.6 sqrt(2 / N) ~ 2.5 %, and the
    # ring radius (set by the larger of its two eigenvalues) by a few per cent
    assert np.mean(r2["ring_radius_sim"]) == pytest.approx(r2["ring_radius_theory"], rel=0.08)
    assert r2["cycle_period_theory"] == pytest.approx(4 * np.pi, rel=1e-4)  # 2 pi a / b, a = 1.6, b = 0.8
    assert np.mean(r2["cycle_period_sim"]) == pytest.approx(r2["cycle_period_theory"], rel=0.05)


def test_bad_section_name(tmp_path):
    with pytest.raises(ValueError, match="only"):
        m18.run(tmp_path, quick=True, only=["nope"])
