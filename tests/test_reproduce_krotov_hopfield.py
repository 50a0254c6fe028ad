"""`lowrank-rnn reproduce krotov_hopfield`: figures, report and the claims' key numbers.

The run here uses sizes smaller than ``--quick`` (tiny networks, few epochs; the quick run takes
about a minute), set by replacing ``Config.make`` for the module; tolerances are stated at each
assertion.
"""

import json
import struct

import numpy as np
import pytest

from lowrank_rnn.cli import build_parser, main
from lowrank_rnn.experiments import REPRODUCTIONS
from lowrank_rnn.experiments import krotov_hopfield as kh

FIGURES = ("lyapunov_full_batch.png", "minibatch_energy_norms.png", "receptive_fields_p2.png",
           "receptive_fields_p3.png", "hopfield_capacity.png")
SECTIONS = ("Lyapunov function under the averaged rule", "Mini-batch training: energy and the unit p-sphere",
            "Receptive fields", "Classification: readout on the hidden units", "Hopfield capacity")

SMOKE = kh.Config(quick=True, full_hidden=8, full_steps=60, hidden=16, epochs=6, readout_epochs=15, powers=(1.0,),
                  capacity_N=(120,), capacity_loads=(0.05, 0.35), capacity_trials=1, capacity_cues=8)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("krotov_hopfield")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kh.Config, "make", classmethod(lambda cls, quick: SMOKE))
        assert main(["reproduce", "krotov_hopfield", "--out", str(out), "--quick"]) == 0
    return out, json.loads((out / "results.json").read_text())


def test_registered():
    assert REPRODUCTIONS["krotov_hopfield"] == "krotov_hopfield"


def test_figures_and_report(smoke_run):
    out, _ = smoke_run
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        width, height = struct.unpack(">II", data[16:24])
        assert width > 300 and height > 200, (name, width, height)
    text = (out / "report.md").read_text()
    for title in SECTIONS:
        assert f"## {title}" in text, title
    for name in FIGURES:
        assert f"]({name})" in text, name
    assert "not comparable" in text  # the MNIST numbers beside 8x8 digits


def test_lyapunov_never_rises_in_the_averaged_dynamics(smoke_run):
    _, res = smoke_run
    r = res["lyapunov"]
    assert r["monotone"]
    for p in ("2.0", "3.0", "4.5"):
        e = np.array(r[p]["energy"])
        assert e[-1] < e[0] and np.diff(e).max() <= 1e-6  # float32 rounding only
        assert r[p]["max_norm_deviation"] < 5e-3  # starts on the sphere; leaves it at second order


def test_minibatch_energy_falls(smoke_run):
    _, res = smoke_run
    for name in ("p2", "p3"):
        r = res["minibatch"][name]
        assert r["energy_fell"]
        # 6 epochs: winners are on their way to the sphere, closer than at the start
        assert r["winners_median_deviation_end"] < r["winners_median_deviation_start"]


def test_classification_and_capacity(smoke_run):
    _, res = smoke_run
    acc = res["classification"]["accuracy"]
    assert acc["linear on pixels"]["test"] > 0.85  # 8x8 digits: a linear readout gets ~0.95
    assert all(v["test"] > 0.5 for v in acc.values())
    c = res["capacity"]["120"]
    assert c["mean_overlap"][0] > 0.95 and c["mean_overlap"][1] < 0.7  # alpha 0.05 against 0.35


def test_user_supplied_mnist_file(tmp_path):
    from lowrank_rnn import ArgumentError, memory

    x, y, xt, yt = memory.digits()
    images = lambda a: np.rint(a * 255).astype(np.uint8).reshape(len(a), 8, 8)  # noqa: E731
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=images(x), y_train=y, x_test=images(xt), y_test=yt)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kh.Config, "make", classmethod(lambda cls, quick: SMOKE))
        kh.run(tmp_path / "out", quick=True, only=("receptive_fields",), mnist=path)
    args = build_parser().parse_args(["reproduce", "krotov_hopfield", "--out", "o", "--mnist", str(path)])
    assert args.mnist == str(path)
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["data"] == "mnist"
    assert (tmp_path / "out" / "receptive_fields_p2.png").is_file()
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=images(x))
    with pytest.raises(ArgumentError, match="mnist"):
        kh.run(tmp_path / "out2", mnist=bad)
    assert not (tmp_path / "out2").exists()  # refused before any work
