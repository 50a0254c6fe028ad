"""The command line's learning-rule recipe: the L2 term on the weight matrices (ModProp paper's protocol)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lowrank_rnn.training import weight_matrices


def test_l2_term_reaches_weight_matrices_only():
    # with a zero task gradient the only update is Adam's step on l2 * W: it moves the matrices and
    # leaves vectors (scales, biases, initial state) untouched
    params = {"W": jnp.full((3, 3), 2.0), "bias": jnp.full((3,), 2.0), "readout": jnp.full((3, 2), -1.0)}
    opt = optax.chain(optax.add_decayed_weights(5e-4, mask=weight_matrices), optax.adam(1e-3))
    state = opt.init(params)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    updates, _ = opt.update(zeros, state, params)
    # Adam's first step is -lr * sign(gradient) (up to eps): the L2 gradient l2 * W has the sign of W
    np.testing.assert_allclose(updates["W"], -1e-3, rtol=1e-4)
    np.testing.assert_allclose(updates["readout"], 1e-3, rtol=1e-4)
    np.testing.assert_array_equal(updates["bias"], 0.0)


def test_cli_rule_l2_recorded_and_checked(tmp_path, capsys):
    from lowrank_rnn.cli import main

    out = tmp_path / "xor"
    assert main(["train", "--task", "delayed_xor", "--rule", "bptt", "--hidden", "12", "--epochs", "1",
                 "--batch", "16", "--trials", "40", "--out", str(out), "--quiet", "--no-cache"]) == 0
    recipe = json.loads((out / "rule_recipe.json").read_text())
    assert recipe["l2"] == pytest.approx(5e-4) and recipe["lr"] == pytest.approx(5e-4)  # the paper's defaults
    out2 = tmp_path / "xor_l2"
    assert main(["train", "--task", "delayed_xor", "--rule", "eprop", "--l2", "0", "--hidden", "12", "--epochs",
                 "1", "--batch", "16", "--trials", "40", "--out", str(out2), "--quiet", "--no-cache"]) == 0
    assert json.loads((out2 / "rule_recipe.json").read_text())["l2"] == 0.0
    capsys.readouterr()
    for bad in (["--rule", "eprop", "--l2", "-1"], ["--l2", "1e-3"]):  # negative; without --rule
        with pytest.raises(SystemExit) as exc:
            main(["train", "--task", "delayed_xor", "--out", str(tmp_path / "x"), "--no-cache", *bad])
        assert exc.value.code == 2
    assert "l2" in capsys.readouterr().err
