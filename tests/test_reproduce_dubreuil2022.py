"""`lowrank-rnn reproduce dubreuil2022`: the central result of Dubreuil, Valente et al. 2022.

The quick run (RDM and Mante, one N = 128 network each, three resampled networks) is executed once
for the module. The published numbers (100 networks of N = 512 per task): after resampling from
ONE Gaussian fitted to the trained loadings, RDM keeps accuracy 1.0 and Mante drops to 0.70 (mean).
The full run is marked slow.
"""

import json
import struct

import numpy as np
import pytest

from lowrank_rnn.cli import main
from lowrank_rnn.experiments import REPRODUCTIONS, get

FIGURES = ("resampling.png", "latents_rdm.png", "latents_mante.png", "loadings_mante.png", "gain_modulation_mante.png")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("dubreuil2022")
    assert main(["reproduce", "dubreuil2022", "--out", str(out), "--quick"]) == 0
    return out, json.loads((out / "results.json").read_text())


def test_registered():
    assert REPRODUCTIONS["dubreuil2022"] == "dubreuil2022"
    with pytest.raises(ValueError, match="only"):
        get("dubreuil2022").run("unused", quick=True, only=["nope"])


def test_figures_and_report(quick_run):
    out, res = quick_run
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        width, height = struct.unpack(">II", data[16:24])
        assert width > 300 and height > 200, (name, width, height)
    text = (out / "report.md").read_text()
    for title in ("Networks resampled from one Gaussian", "Several populations: fitted, then fine-tuned",
                  "ePAIRS: is the loading space clustered?", "Gain modulation in the context-dependent task",
                  "Latent dynamics of the trained networks", "Timings"):
        assert f"## {title}" in text
    for name in FIGURES:
        assert f"]({name})" in text
    assert res["quick"] is True and set(res["tasks"]) == {"rdm", "mante"}
    assert res["published"]["mante"]["resampled"] == [0.73, 0.701]


def test_one_gaussian_keeps_rdm_and_loses_mante(quick_run):
    _, res = quick_run
    rdm, mante = res["tasks"]["rdm"], res["tasks"]["mante"]
    # both tasks are learnt (published: trained accuracy 1.0 on both)
    assert rdm["trained_min"] >= 0.95 and mante["trained_min"] >= 0.95
    # RDM needs one population: resampled networks keep the accuracy (published 1.0; the quick
    # networks are small, N = 128, so a few percent are allowed for finite-N loading noise)
    assert rdm["resampled_median"] >= 0.93
    # Mante needs two: one-Gaussian networks lose it (published mean 0.70, chance 0.5; measured 0.73
    # at N = 128). The contrast, not the digit, is the claim: well below trained, well above chance.
    assert mante["resampled_mean"] <= mante["trained_median"] - 0.1
    assert 0.55 <= mante["resampled_mean"] <= 0.9
    for net in mante["networks"]:
        assert len(net["resampled"]) == 3 and len(net["resampled_2_populations"]) == 3
        assert len(net["resampled_2_populations_fit"]) == 3
        # the control without a fit: networks redrawn from the trained network's own loading vectors
        assert len(net["resampled_empirical"]) == 3 and all(0.0 <= a <= 1.0 for a in net["resampled_empirical"])
        assert abs(sum(net["weights_2_populations"]) - 1) < 1e-9
        assert abs(sum(net["weights_2_populations_tuned"]) - 1) < 1e-6
    assert mante["resampled_empirical_median"] == np.median([a for n in mante["networks"] for a in n["resampled_empirical"]])
    # the latents of a noiseless g = 0 network lie in span(m, I)
    assert all(v["residual"] < 1e-6 for v in res["latents"].values())


@pytest.mark.slow
def test_full_run_reproduces_the_published_pattern(tmp_path):
    """The default run: five tasks, several networks each (minutes)."""
    from lowrank_rnn.experiments import dubreuil2022

    dubreuil2022.run(tmp_path, quick=False)
    res = json.loads((tmp_path / "results.json").read_text())["tasks"]
    for t in ("rdm", "raposo", "romo", "mante", "dms"):
        assert res[t]["trained_median"] >= 0.9, t
    # one population suffices (published resampled means 1.0, 1.0, 0.958)
    assert res["rdm"]["resampled_mean"] >= 0.95 and res["raposo"]["resampled_mean"] >= 0.95
    assert res["romo"]["resampled_mean"] >= 0.85
    # two or more are needed (published means 0.70 and 0.54 over 100 networks). DMS by the published
    # protocol at N = 512: measured one-Gaussian mean 0.52 (2 networks, trained 0.999); the claim tested
    # is trained >> resampled.
    assert res["mante"]["resampled_mean"] <= res["mante"]["trained_median"] - 0.1
    assert res["dms"]["resampled_mean"] <= res["dms"]["trained_median"] - 0.2
    # CDM: two fine-tuned populations reach the target where one Gaussian does not (measured medians
    # 0.989 against 0.757, fitted two populations 0.893, with EM clustering; zero-mean clustering, now
    # used, measured outside the run on the same three networks, 6 draws each: fine-tuned 0.978, fitted
    # 0.87; published 0.895-0.975 and mean 0.70).
    # DMS falls short (networks trained at N = 512, drawn at the authors' N = 4096; measured by hand on the
    # first network: fine-tuned median 0.76, 0.53 drawn at 512; the authors' N = 4096 network reaches 1.0 by
    # the same fine-tuning, and its tuned mixture 0.69-0.77 drawn at 512-2048): the report says so; not
    # asserted. One Gaussian stays low at both sizes (measured 0.51 and 0.50 on that network). Default run
    # (2 networks, drawn at 4096): one Gaussian 0.50, two populations fine-tuned 0.51, four 0.88, own loadings
    # redrawn 1.0.
    assert res["dms"]["resample_N"] == 4096 and res["dms"]["resampled_at_resample_N_median"] <= 0.8
    mante = res["mante"]
    assert mante["resampled_2_populations_median"] >= 0.9 and mante["resampled_median"] <= 0.8
    assert mante["resampled_2_populations_median"] > mante["resampled_2_populations_fit_median"]
    for t in ("rdm", "romo", "raposo", "mante", "dms"):
        assert 0.0 < res[t]["epairs_p"] <= 1.0, t
    assert mante["epairs_significant_fraction"] >= 2 / 3 and res["dms"]["epairs_significant_fraction"] >= 1 / 2
    trunc = json.loads((tmp_path / "results.json").read_text())["truncation"]
    assert np.all(np.isfinite(trunc["accuracy"]))


def test_dms_networks_are_drawn_at_the_authors_size(monkeypatch):
    """The DMS descriptions are resampled into networks of the authors' N = 4096 (their tuned mixture
    needs it: drawn at 512-2048 its median falls to 0.69-0.77); other tasks at the trained N."""
    import jax

    from lowrank_rnn import analysis
    from lowrank_rnn.experiments import _dubreuil2022_sections as sec
    from lowrank_rnn.experiments._dubreuil2022_config import Config
    from lowrank_rnn.models import LowRankRNN
    from lowrank_rnn.tasks import get_task

    cfg = Config.make(False)
    assert cfg.resample_N("dms") == 4096 and cfg.N("dms") == 512
    assert all(cfg.resample_N(t) == cfg.N(t) for t in ("rdm", "romo", "raposo", "mante"))
    sizes = []
    monkeypatch.setattr(analysis, "task_accuracy", lambda net, task, **kw: sizes.append(net.N) or 1.0)
    small = Config.make(True)
    model = LowRankRNN(24, 1, 1, 1, key=jax.random.key(0), noise=0.1)
    fit = analysis.fit_mixture(model, 1)
    task = get_task("rdm")
    assert sec._resampled(small, fit, task, "rdm", 0, 40) == [1.0] * small.n_resampled
    sec._resampled(small, fit, task, "rdm", 0)
    sec._empirical(small, model, task, "rdm", 0, 40)
    assert sizes == [40] * 3 + [24] * 3 + [40] * 3


def test_populations_epairs_and_gain_modulation(quick_run):
    _, res = quick_run
    rdm, mante = res["tasks"]["rdm"], res["tasks"]["mante"]
    # ePAIRS: the Mante loadings are clustered (published: all 100 networks p < 0.05; measured p = 0.02,
    # the smallest a 50-set null allows), the RDM ones are not (measured p = 0.90)
    assert mante["epairs_p"] < 0.05 and mante["epairs_significant_fraction"] == 1.0
    assert 0.0 < rdm["epairs_p"] <= 1.0
    # two zero-mean populations (clustered with means held at 0, as the authors), fine-tuned 15 epochs,
    # reach the target and beat both the fitted mixture and one Gaussian on fresh networks (measured
    # median 0.966 against 0.724 and 0.736; 0.93-0.94 with other fine-tuning keys; EM clustering
    # gave 0.81)
    assert mante["resampled_2_populations_median"] >= 0.9
    assert mante["resampled_2_populations_median"] >= mante["resampled_2_populations_fit_median"] + 0.03
    assert mante["resampled_2_populations_median"] >= mante["resampled_median"] + 0.03
    # the mechanism: each stimulus couples more strongly to kappa in the context where it is relevant
    gm = res["gain_modulation"]
    assert gm["gated"] is True and min(gm["relevant_over_irrelevant"]) > 1.0
    assert len(gm["contexts"]["0"]["populations"]) == 2


def test_command_line_options_are_checked_before_any_work(tmp_path, capsys):
    """--only / --hidden / --networks reach dubreuil2022.run and are refused, with the argument named,
    before anything trains; reproductions without such an option refuse it."""
    for args, message in ((["dubreuil2022", "--only", "dms", "--hidden", "0"], "hidden must be an integer >= 1"),
                          (["dubreuil2022", "--only", "dms", "--networks", "-1"], "networks must be an integer >= 1"),
                          (["dubreuil2022", "--quick", "--only", "dms"], "only: none of ['dms']"),
                          (["valente2022", "--hidden", "64"], "does not take --hidden")):
        with pytest.raises(SystemExit):
            main(["reproduce", *args, "--out", str(tmp_path)])
        assert message in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()


def test_dms_training_checkpoints_and_reads_back(tmp_path):
    """The DMS protocol (full-rank pre-training, then the rank-two delay stages) trains in run folders
    under the reproduction's output; run again, it reads the finished stages back: the same network."""
    import dataclasses

    import jax

    from lowrank_rnn.experiments import _dubreuil2022_sections as sec
    from lowrank_rnn.experiments._dubreuil2022_config import Config

    cfg = dataclasses.replace(Config.make(False), dms_pretrain_epochs=1, dms_stages=((700.0, 1e-2, 0.01, 1),),
                              dms_stage_batches=(32,))
    folder = tmp_path / "runs" / "dms_N16_seed0"
    model, task, hist = sec._train_dms(cfg, 16, 0, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["pretrain", "stage1"]
    assert all((folder / s / "checkpoint.npz").exists() for s in ("pretrain", "stage1"))
    again, _, hist2 = sec._train_dms(cfg, 16, 0, folder)
    assert hist2 == hist and hist["pretrain_epochs"] == 1 and hist["stage_end"] == [1]
    same = jax.tree_util.tree_map(lambda a, b: bool(np.array_equal(a, b)), model, again)
    assert all(jax.tree_util.tree_leaves(same))


def test_dms_4096_protocol_reaches_training(monkeypatch):
    """Config.dms_4096 (the authors' 2020 train_dms.py) trains the pre-training in minibatches of 128 and the
    stages in 32 / 128 / 128, never stopping early; the default run keeps 32 everywhere and stops at 0.05."""
    from lowrank_rnn.experiments import _dubreuil2022_sections as sec
    from lowrank_rnn.experiments._dubreuil2022_config import Config

    calls = []

    def fake_train(model, task, **kw):
        calls.append((type(model).__name__, kw["batch"], kw["early_stop"], kw["epochs"], task.delay_max))
        return model, {"epoch": [1], "train_loss": [1.0], "val_loss": [1.0], "val_accuracy": [0.5]}

    monkeypatch.setattr(sec, "train", fake_train)
    cfg = Config.dms_4096()
    assert cfg.tasks == ("dms",) and cfg.N("dms") == 4096 and cfg.networks("dms") == 1
    sec._train_dms(cfg, 8, 0)
    assert calls == [("FullRankRNN", 128, None, 50, 2000.0), ("LowRankRNN", 32, None, 100, 700.0),
                     ("LowRankRNN", 128, None, 50, 1000.0), ("LowRankRNN", 128, None, 40, 4000.0)]
    calls.clear()
    sec._train_dms(Config.make(False), 8, 0)
    assert [(b, e) for _, b, e, *_ in calls] == [(32, 0.05)] * 4


class _Recorder:
    """A stand-in report that keeps what a section writes."""

    def __init__(self):
        self.blocks = []

    def section(self, title, text=""):
        self.blocks.append(("section", title, text))

    def text(self, text):
        self.blocks.append(("text", text))

    def table(self, header, rows, caption="", digits=3):
        self.blocks.append(("table", list(header), [list(r) for r in rows], caption))


def _dms_results(two_populations: float) -> dict:
    network = {"epairs_p": 0.01, "epairs_effect": 1.3, "fine_tune_2_populations": {"train_loss": [1.0, 1.0]}}
    return {"tasks": {"dms": {"N": 512, "resample_N": 4096, "networks": [network], "trained_median": 1.0,
                              "resampled_median": 0.5, "resampled_mean": 0.5, "resampled_at_resample_N_median": 0.5,
                              "resampled_2_populations_fit_median": 0.49,
                              "resampled_2_populations_median": two_populations,
                              "epairs_significant_fraction": 1.0}}}


def test_dms_shortfall_lists_the_networks_checked_by_hand():
    """When DMS falls short, the report says why in a short paragraph and a table of the networks checked
    by hand (one row per network, as many cells as the header); when it reaches the target, neither."""
    import dataclasses

    from lowrank_rnn.experiments import _dubreuil2022_sections as sec
    from lowrank_rnn.experiments.dubreuil2022 import Config

    cfg = dataclasses.replace(Config.make(False), tasks=("dms",))
    header, rows, caption = sec.SHORTFALL_NETWORKS["dms"]
    assert len(rows) >= 7 and all(len(r) == len(header) for r in rows)
    short = _Recorder()
    sec.section_populations(cfg, short, _dms_results(0.53))
    tables = [b for b in short.blocks if b[0] == "table"]
    assert ("table", header, rows, caption) in tables
    measured = next(b[1] for b in short.blocks if b[0] == "text" and b[1].startswith("Measured"))
    assert "target NOT reproduced" in measured and sec.SHORTFALL["dms"] in measured
    reached = _Recorder()
    sec.section_populations(cfg, reached, _dms_results(0.95))
    assert all(b[1] != header for b in reached.blocks if b[0] == "table")
    assert sec.SHORTFALL["dms"] not in next(b[1] for b in reached.blocks if b[1:] and str(b[1]).startswith("Measured"))
