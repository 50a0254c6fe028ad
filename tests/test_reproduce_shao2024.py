"""`lowrank-rnn reproduce shao2024 --quick`: figures, report and the physics of its key numbers.

The quick run (N = 400-800 with N g^2 as at N = 1000, one to three realisations) is executed once
for the module; tolerances are sized for those N and stated at each assertion.
"""

import json
import struct

import numpy as np
import pytest

from lowrank_rnn.cli import main
from lowrank_rnn.experiments import REPRODUCTIONS

FIGURES = ("eigenvalues_vs_chain.png", "stability_boundary.png", "n_scaling.png", "responses_vs_chain.png",
           "paradoxical_map.png", "low_rank_dynamics.png")
SECTIONS = ("Eigenvalues against chain strength", "Stability boundary", "Scaling with network size",
            "Responses to input into E and into I", "Paradoxical responses over cell-type-specific chains",
            "Low-rank approximation and nonlinear dynamics")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("shao2024")
    assert main(["reproduce", "shao2024", "--out", str(out), "--quick"]) == 0
    return out, json.loads((out / "results.json").read_text())


def test_registered():
    assert REPRODUCTIONS["shao2024"] == "shao2024"


def test_figures_and_report(quick_run):
    out, _ = quick_run
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        width, height = struct.unpack(">II", data[16:24])
        assert width > 500 and height > 300, (name, width, height)
    text = (out / "report.md").read_text()
    for title in SECTIONS:
        assert f"## {title}" in text, title
    for name in FIGURES:
        assert f"]({name})" in text, name


def test_eigenvalues_follow_the_chain_prediction(quick_run):
    _, res = quick_run
    r = res["eigenvalues"]
    lp = np.array(r["lambda_plus"])
    tau = np.array(r["tau"])
    # S = N g^2 tau with N g^2 = 40: lambda_+ = -1/2 + sqrt(1/4 + 40 tau)
    np.testing.assert_allclose(lp, -0.5 + np.sqrt(0.25 + 40 * tau), atol=1e-9)
    far = lp > np.array(r["bulk_edge"]) + 0.3  # outliers well clear of the bulk
    # N = 400, 3 realisations: outlier fluctuations ~0.02-0.03
    np.testing.assert_allclose(np.array(r["num_max_re"])[far], lp[far], atol=0.06)
    np.testing.assert_allclose(r["num_min_re"], r["lambda_minus"], atol=0.06)
    np.testing.assert_allclose(r["num_bulk_max_re"][-1], r["bulk_edge"][-1], rtol=0.1)


def test_stability_boundary(quick_run):
    _, res = quick_run
    r = res["stability"]
    # the numerical crossing of max Re lambda = 1 (interpolated between 0.8 and 1.2 tau_c) within 15%
    np.testing.assert_allclose(r["tau_cross_numerical"], r["tau_c"], rtol=0.15)


def test_scaling_regimes(quick_run):
    _, res = quick_run
    strong, weak = (res["scaling"][k] for k in res["scaling"])
    # theory: linear in N at fixed c (lambda_- doubles... scales as N), N-independent at fixed K
    lm = np.array(strong["lambda_minus"])
    N = np.array(strong["N"])
    np.testing.assert_allclose(lm / N, lm[0] / N[0], rtol=1e-9)
    np.testing.assert_allclose(weak["lambda_minus"], weak["lambda_minus"][0], rtol=1e-9)
    # the standardised Gaussian approximation follows it closely (N = 500-800, one network)
    np.testing.assert_allclose(strong["gauss_min_re"], strong["lambda_minus"], rtol=0.1)
    np.testing.assert_allclose(weak["gauss_min_re"], weak["lambda_minus"], rtol=0.1)


def test_responses_and_paradoxical_sign(quick_run):
    _, res = quick_run
    r = res["responses"]
    assert r["tau_star"] == pytest.approx(0.04375)
    chi = np.array(r["chi_theory"])
    num = np.array(r["chi_numerical"])
    tau = np.array(r["tau"])
    assert np.all((chi[:, 1, 1] < 0) == (tau > r["tau_star"]))
    # N = 400, 3 realisations: responses within 0.12 (their spread grows with tau towards instability)
    np.testing.assert_allclose(num, chi, atol=0.12)
    assert r["chi_II_signs_agree"] == r["points"]


def test_paradoxical_map(quick_run):
    _, res = quick_run
    r = res["paradoxical_map"]
    assert r["boundary_rhs"] == pytest.approx(0.0723, abs=2e-4)  # (1 - J_E)/(N_E N J^2 c (1 - c))
    assert r["sign_agreement"] == r["points"] and r["points"] >= 6


def test_low_rank_dynamics(quick_run):
    _, res = quick_run
    r = res["low_rank"]
    chi_I = np.array(r["chi_I_theory"])
    assert chi_I[1] < 0  # paradoxical at tau = 0.06
    for name, final in r["linear_final"].items():
        # step of 0.1 into I; rank-2 networks and the dense one within 0.02 of 0.1 chi (N = 400)
        np.testing.assert_allclose(final, 0.1 * chi_I, atol=0.02, err_msg=name)
    for name, gain in r["tanh_gain"].items():
        gain = np.array(gain)
        # small inputs: tanh ~ linear (within 15%); large inputs: saturation shrinks the E response
        np.testing.assert_allclose(gain[0], chi_I, rtol=0.15, atol=0.03, err_msg=name)
        assert abs(gain[-1, 0]) < 0.8 * abs(gain[0, 0]), name
