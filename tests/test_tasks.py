"""Tasks: shapes, masks, targets against conditions, input noise, determinism, jit, accuracy,
loss, psychometric summaries, configuration, errors, and the NeuroGym adapter.

Each task is compiled once (``jax.jit(task.sample, static_argnums=1)``) and its trials are shared
by the tests through a module fixture. Expected arrays are rebuilt here trial by trial with NumPy
slices, independently of the library's time-index comparisons.
"""

import json
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest

from lowrank_rnn.tasks import TASKS, AbstractTask, Trials, from_neurogym, get_task

matplotlib.use("Agg")

B = 256
NAMES = list(TASKS)
# published trial lengths at the default dt (steps): rdm 100+800+100+20 ms at 20 ms, etc.
PUBLISHED_STEPS = {"rdm": 51, "romo": 70, "mante": 68, "raposo": 68, "dms": 255, "delayed_xor": 900}


@pytest.fixture(scope="module")
def sampled():
    """{name: (task, trials, jitted sample)} with B trials per task, from the jitted sampler."""
    out = {}
    for name in NAMES:
        task = get_task(name)
        f = jax.jit(task.sample, static_argnums=1)
        out[name] = (task, f(jax.random.key(1), B), f)
    return out


# ------------------------------------------------------------------ expected arrays, by hand

def _expected(name, task, tr):
    """Return (signal (B,T,K), targets, mask, noise std per step (B,T,K)) rebuilt from the conditions."""
    c = {k: np.asarray(v) for k, v in tr.conditions.items()}
    T, K, O = task.n_steps, task.n_inputs, task.n_outputs
    sig = np.zeros((B, T, K))
    y = np.zeros((B, T, O))
    m = np.zeros((B, T, O))
    std = np.zeros((B, T, K))
    std[..., list(task.noisy_channels)] = task.input_noise
    if name == "rdm":  # fix 0-5, stim 5-45, delay 45-50, decision 50-51
        sig[:, 5:45, 0] = 0.1 * c["coherence"][:, None]
        y[:, 50:51, 0] = np.sign(c["coherence"])[:, None]
        m[:, 50:51] = 1
    elif name in ("mante", "raposo"):  # fix 0-5, context 5-22, stim 22-62, delay 62-67, decision 67-68
        if name == "mante":
            sig[:, 22:62, 0] = 0.1 * c["coherence_1"][:, None]
            sig[:, 22:62, 1] = 0.1 * c["coherence_2"][:, None]
            for b in range(B):
                sig[b, 5:67, 2 + c["context"][b]] = 0.1
            rel = np.where(c["context"] == 0, c["coherence_1"], c["coherence_2"])
            y[:, 67:68, 0] = np.sign(rel)[:, None]
        else:
            sig[:, 22:62, 0] = 0.1 * c["coherence_visual"][:, None]
            sig[:, 22:62, 1] = 0.1 * c["coherence_auditory"][:, None]
            sig[:, 5:62, 2] = 0.1 * np.isin(c["context"], [0, 2])[:, None]
            sig[:, 5:62, 3] = 0.1 * np.isin(c["context"], [1, 2])[:, None]
            y[:, 67:68, 0] = c["choice"][:, None]
        m[:, 67:68] = 1
    elif name == "romo":  # fix 0-5, f1 5-10, delay d, f2, decision
        for b in range(B):
            d = int(round(c["delay"][b] / 20))
            sig[b, 5:10, 0] = (c["f1"][b] - 22) / 24
            sig[b, 10 + d:15 + d, 0] = (c["f2"][b] - 22) / 24
            y[b, 15 + d:20 + d, 0] = (c["f1"][b] - c["f2"][b]) / 24
            m[b, 15 + d:20 + d] = 1
    elif name == "dms":  # fix 0-5, s1 5-30, delay d, s2 25 steps, decision 50 steps
        for b in range(B):
            d = int(round(c["delay"][b] / 20))
            sig[b, 5:30, c["sample_1"][b]] = 1
            sig[b, 30 + d:55 + d, c["sample_2"][b]] = 1
            y[b, 55 + d:105 + d, 0] = 1 if c["sample_1"][b] == c["sample_2"][b] else -1
            m[b, 55 + d:105 + d] = 1
    elif name == "gonogo":  # fix 0-25, stimulus 25-75, response 50-75
        for b in range(B):
            sig[b, 25:75, 0 if c["go"][b] == 1 else 1] = 1
        y[:, 50:75, 0] = c["go"][:, None]
        m[:, 50:75] = 1
    elif name == "detection":  # fix 0-35, stimulus 35-145, delay 145-170, decision 170-180
        sig[:, 35:145, 0] = c["strength"][:, None]
        std[:, 35:145, 0] = np.sqrt(0.1 ** 2 + 0.4 ** 2 * 100 / 20)
        y[:, 170:180, 0] = np.where(c["strength"] > 0.5, 1, -1)[:, None]
        m[:, 170:180] = 1
    elif name == "flipflop":  # slots of 5 steps; read the pulses off slot means of the noisy inputs
        x = np.asarray(tr.inputs).reshape(B, T // 5, 5, K).mean(axis=2)  # noise std 0.1/sqrt(5)
        pulses = np.round(x)
        assert set(np.unique(pulses)) <= {-1.0, 0.0, 1.0}
        sig = np.repeat(pulses, 5, axis=1)
        for b in range(B):
            for k in range(K):
                held = 0.0
                for s in range(T // 5):
                    if pulses[b, s, k] != 0:
                        held = pulses[b, s, k]
                    y[b, 5 * s:5 * s + 5, k] = held
                    m[b, 5 * s:5 * s + 5, k] = float(held != 0 and pulses[b, s, k] == 0)
    elif name == "delayed_xor":  # 900 steps of 1 ms; bumps in the first and last 100 steps
        s = np.linspace(-50, 50, 100)
        bump = 2.0 * np.exp(-s ** 2 / (2 * 25.0 ** 2))
        sig[:] = 0.02
        sig[:, :100, 0] += c["cue_1"][:, None] * bump
        sig[:, 800:, 1] += c["cue_2"][:, None] * bump
        label = (c["cue_1"] == c["cue_2"]).astype(int)
        y[np.arange(B), T - 1, label] = 1
        m[:, T - 1, :] = 1
    elif name == "seqdigits":  # the image of the trial's index, one row per step; label at the end
        from lowrank_rnn.tasks import digits

        images, labels = digits("train")
        sig[:] = images[c["index"]]
        y[np.arange(B), T - 1, labels[c["index"]]] = 1
        m[:, T - 1, :] = 1
    elif name == "integration_memory":  # fix 0-50, 5 slots of 80 steps from 50 (pulses of 20), delay, response 750-950
        x = np.asarray(tr.inputs)[..., 0]
        amps = x[:, 50 + 80 * np.arange(5)]  # read each pulse off its first step (no input noise)
        for k in range(5):
            sig[:, 50 + 80 * k:70 + 80 * k, 0] = amps[:, k:k + 1]
        np.testing.assert_allclose(amps.sum(1) / 5, c["evidence"], atol=1e-6)
        y[:, 750:950, 0] = np.where(c["evidence"] >= 0, 1, -1)[:, None]
        m[:, 750:950] = 1
    return sig, y, m, std


# ------------------------------------------------------------------ shapes, masks, targets, noise

@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_dtypes(sampled, name):
    task, tr, _ = sampled[name]
    assert isinstance(task, AbstractTask) and isinstance(tr, Trials)
    T, K, O = task.n_steps, task.n_inputs, task.n_outputs
    assert tr.inputs.shape == (B, T, K) and tr.targets.shape == (B, T, O) and tr.mask.shape == (B, T, O)
    for a in (tr.inputs, tr.targets, tr.mask):
        assert a.dtype == jnp.float32
    assert set(np.unique(np.asarray(tr.mask))) <= {0.0, 1.0}
    assert tr.conditions and all(v.shape == (B,) for v in tr.conditions.values())
    if name in PUBLISHED_STEPS:
        assert T == PUBLISHED_STEPS[name]
    assert task.alpha == pytest.approx(task.dt / task.tau)
    assert tr[3:7].inputs.shape == (4, T, K) and tr[0].targets.shape == (1, T, O)


@pytest.mark.parametrize("name", NAMES)
def test_targets_mask_and_inputs_match_conditions(sampled, name):
    """Targets and mask equal, step for step, the ones rebuilt from the conditions; the input minus
    the rebuilt signal is white noise of the task's standard deviation (zero on noiseless channels)."""
    task, tr, _ = sampled[name]
    sig, y, m, std = _expected(name, task, tr)
    np.testing.assert_allclose(np.asarray(tr.targets), y, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(tr.mask), m)
    z = (np.asarray(tr.inputs) - sig)
    quiet = std == 0
    np.testing.assert_allclose(z[quiet], 0.0, atol=1e-6)
    for level in np.unique(std[~quiet]):
        r = z[std == level] / level  # standard normal if the noise is right
        n = r.size
        assert abs(r.mean()) < 5 / np.sqrt(n), (level, r.mean())
        assert abs(r.std() - 1) < 5 / np.sqrt(2 * n), (level, r.std())


def test_noise_in_a_silent_epoch(sampled):
    """The input std during fixation is the task's input noise (0.1 for rdm, 0.03 for dms)."""
    for name, steps in (("rdm", slice(0, 5)), ("dms", slice(0, 5)), ("romo", slice(0, 5))):
        task, tr, _ = sampled[name]
        x = np.asarray(tr.inputs)[:, steps]
        n = x.size
        assert abs(x.std() / task.input_noise - 1) < 5 / np.sqrt(2 * n)
    assert get_task("romo").input_noise == 0.01 and get_task("dms").input_noise == 0.03


def test_rdm_mask_only_on_decision_window(sampled):
    task, tr, _ = sampled["rdm"]
    assert task.epochs == {"fixation": (0, 5), "stimulus": (5, 45), "delay": (45, 50), "decision": (50, 51)}
    mask = np.asarray(tr.mask)[..., 0]
    assert mask[:, :50].sum() == 0 and mask[:, 50].min() == 1


def test_condition_distributions(sampled):
    c = {n: {k: np.asarray(v) for k, v in sampled[n][1].conditions.items()} for n in NAMES}
    assert set(np.unique(c["rdm"]["coherence"])) == {-4, -2, -1, 1, 2, 4}
    f1, f2 = c["romo"]["f1"], c["romo"]["f2"]
    assert f1.min() >= 10 and f1.max() <= 34 and f2.min() >= 10 and f2.max() <= 34
    assert set(np.unique(np.abs(f1 - f2))) == {8, 16, 24}
    assert len(get_task("romo").pairs) == 54  # 2 * (17 + 9 + 1) integer pairs
    # delays: whole steps, both ends reachable (26 values for romo, 126 for dms)
    d = c["romo"]["delay"]
    assert d.min() == 500 and d.max() == 1000 and np.all(d % 20 == 0)
    d = c["dms"]["delay"]
    assert d.min() >= 500 and d.max() <= 3000 and np.all(d % 20 == 0) and d.max() - d.min() > 2000
    kinds = 2 * c["dms"]["sample_1"] + c["dms"]["sample_2"]
    assert set(np.unique(kinds)) == {0, 1, 2, 3}
    assert set(np.unique(c["mante"]["context"])) == {0, 1}
    assert set(np.unique(c["raposo"]["context"])) == {0, 1, 2}
    r = c["raposo"]
    present = np.isin(r["context"], [0, 2])
    assert np.all(np.sign(r["coherence_visual"][present]) == r["choice"][present])
    assert np.all(r["coherence_visual"][~present] == 0)
    assert set(np.unique(np.abs(r["coherence_visual"][present]))) == {1, 2, 4}
    onset = c["romo"]["decision_onset"]
    np.testing.assert_array_equal(onset, 15 + c["romo"]["delay"] / 20)


# ------------------------------------------------------------------ determinism and jit

def test_determinism_and_jit(sampled):
    for name in NAMES:
        task, tr, f = sampled[name]
        again = f(jax.random.key(1), B)
        other = f(jax.random.key(2), B)
        for a, b in zip(jax.tree_util.tree_leaves(tr), jax.tree_util.tree_leaves(again)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert not np.array_equal(np.asarray(tr.inputs), np.asarray(other.inputs))
    # outside jit the same key gives the same trials (up to float rounding of the fused noise)
    task, tr, _ = sampled["dms"]
    eager = task.sample(jax.random.key(1), B)
    np.testing.assert_array_equal(np.asarray(eager.targets), np.asarray(tr.targets))
    np.testing.assert_allclose(np.asarray(eager.inputs), np.asarray(tr.inputs), atol=1e-6)


def test_sample_under_vmap():
    task = get_task("rdm")
    keys = jax.random.split(jax.random.key(0), 3)
    trials = jax.vmap(lambda k: task.sample(k, 4))(keys)
    assert trials.inputs.shape == (3, 4, 51, 1)


# ------------------------------------------------------------------ accuracy and loss

def _flip_half(x):
    x = np.array(x)
    x[: len(x) // 2] *= -1
    return x


@pytest.mark.parametrize("name", ["rdm", "romo", "mante", "raposo", "dms", "detection"])
def test_accuracy_sign_tasks(sampled, name):
    task, tr, _ = sampled[name]
    y = np.asarray(tr.targets)
    m = np.asarray(tr.mask)
    assert task.accuracy(y, tr) == 1.0
    assert task.accuracy(-y, tr) == 0.0
    assert task.accuracy(_flip_half(y), tr) == 0.5
    # only the sign of the mean over the decision window counts: tiny right-signed outputs are
    # right, and anything outside the window is ignored
    sgn = np.sign((y * m).sum(axis=1, keepdims=True))
    small = np.where(m > 0, 0.01 * sgn, -5.0 * sgn)
    assert task.accuracy(small, tr) == 1.0
    np.testing.assert_array_equal(task.choices(small, tr), sgn[:, 0, 0])


def test_accuracy_zero_coherence_trials_not_graded():
    task = get_task("rdm", coherences=(-1, 0, 1))
    tr = task.sample(jax.random.key(3), 64)
    coh = np.asarray(tr.conditions["coherence"])
    assert (coh == 0).any() and np.all(np.asarray(tr.targets)[coh == 0] == 0)
    # an output of +1 everywhere is right on exactly the positive-coherence trials
    acc = task.accuracy(np.ones(tr.targets.shape), tr)
    assert acc == pytest.approx((coh > 0).sum() / (coh != 0).sum())


def test_accuracy_gonogo(sampled):
    task, tr, _ = sampled["gonogo"]
    y = np.asarray(tr.targets)
    go = np.asarray(tr.conditions["go"])
    m = np.asarray(tr.mask)
    swapped = np.where(m > 0, 1.0 - go[:, None, None], 0.0)  # Go level on Nogo trials and vice versa
    assert task.accuracy(y, tr) == 1.0
    assert task.accuracy(swapped, tr) == 0.0
    half = np.concatenate([swapped[: B // 2], y[B // 2:]])
    assert task.accuracy(half, tr) == 0.5
    # the midpoint decides: 0.6 is a Go response, 0.4 is not
    assert task.accuracy(np.where(go[:, None, None] == 1, 0.6, 0.4) * np.ones(y.shape), tr) == 1.0


def test_accuracy_delayed_xor(sampled):
    task, tr, _ = sampled["delayed_xor"]
    y = np.asarray(tr.targets)
    swapped = y[..., ::-1].copy()
    assert task.accuracy(y, tr) == 1.0
    assert task.accuracy(swapped, tr) == 0.0
    assert task.accuracy(np.concatenate([swapped[: B // 2], y[B // 2:]]), tr) == 0.5
    # the label is the match of the two cues
    c = tr.conditions
    np.testing.assert_array_equal(np.asarray(c["match"]), np.asarray(c["cue_1"] == c["cue_2"]))


def test_accuracy_flipflop(sampled):
    task, tr, _ = sampled["flipflop"]
    y = np.asarray(tr.targets)
    n_masked = np.asarray(tr.mask).sum(axis=(1, 2))
    assert task.accuracy(y, tr) == 1.0
    assert task.accuracy(-y, tr) == 0.0
    # trials without any masked entry (no pulse at all) are not graded
    valid = n_masked > 0
    expect = valid[B // 2:].sum() / valid.sum()
    assert task.accuracy(_flip_half(y), tr) == pytest.approx(expect)
    # one bit wrong out of three, everywhere: a third of the masked entries of every bit... per trial
    wrong_bit0 = y.copy()
    wrong_bit0[..., 0] *= -1
    m = np.asarray(tr.mask)
    per_trial = 1 - m[..., 0].sum(axis=1) / np.maximum(n_masked, 1)
    assert task.accuracy(wrong_bit0, tr) == pytest.approx(per_trial[valid].mean(), rel=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_loss_is_the_published_masked_mse(sampled, name):
    task, tr, _ = sampled[name]
    if name in ("delayed_xor", "seqdigits"):
        task = get_task(name, loss_type="mse")
    y, m = np.asarray(tr.targets, np.float64), np.asarray(tr.mask, np.float64)
    assert float(task.loss(y, tr)) == 0.0
    assert float(task.loss(y + 0.5, tr)) == pytest.approx(0.25, rel=1e-6)
    z = np.random.default_rng(0).normal(size=y.shape)
    n = m.sum(axis=(1, 2))
    graded = n > 0  # every trial, except flip-flop trials without any pulse
    per_trial = (m * (z - y) ** 2).sum(axis=(1, 2))[graded] / n[graded]
    assert float(task.loss(z, tr)) == pytest.approx(per_trial.mean(), rel=1e-5)


def test_loss_is_differentiable_and_xor_cross_entropy(sampled):
    task, tr, _ = sampled["rdm"]
    g = jax.grad(lambda z: task.loss(z, tr))(jnp.zeros(tr.targets.shape))
    assert np.all(np.isfinite(np.asarray(g))) and float(jnp.abs(g).sum()) > 0
    task, tr, _ = sampled["delayed_xor"]
    label = np.asarray(tr.conditions["match"])
    z = np.zeros(tr.targets.shape, np.float32)
    z[np.arange(B), -1, label] = 3.0  # softmax(3, 0) on the right class
    expect = np.log1p(np.exp(-3.0))
    assert float(task.loss(z, tr)) == pytest.approx(expect, rel=1e-5)
    assert float(task.loss(np.zeros_like(z), tr)) == pytest.approx(np.log(2), rel=1e-6)


def test_accuracy_under_jit(sampled):
    task, tr, _ = sampled["romo"]
    acc = jax.jit(task.accuracy)(tr.targets, tr)
    assert isinstance(acc, jax.Array) and float(acc) == 1.0


def test_outputs_shape_checked(sampled):
    task, tr, _ = sampled["rdm"]
    with pytest.raises(ValueError, match="outputs"):
        task.accuracy(np.zeros((B, 10, 1)), tr)
    with pytest.raises(ValueError, match="outputs"):
        task.loss(np.zeros((B, 51)), tr)


# ------------------------------------------------------------------ psychometric summaries

def test_psychometric_rdm_on_synthetic_outputs(sampled):
    task, tr, _ = sampled["rdm"]
    coh = np.asarray(tr.conditions["coherence"])
    d = np.where(np.random.default_rng(1).random(B) < 0.5 + 0.1 * coh, 1.0, -1.0)
    s = task.psychometric(d[:, None, None] * np.ones(tr.targets.shape), tr)
    np.testing.assert_array_equal(s["coherence"], [-4, -2, -1, 1, 2, 4])
    for x, p, n in zip(s["coherence"], s["p_plus"], s["n_trials"]):
        assert n == (coh == x).sum() and p == pytest.approx((d[coh == x] > 0).mean())
    perfect = task.psychometric(np.asarray(tr.targets), tr)
    np.testing.assert_array_equal(perfect["p_plus"], (perfect["coherence"] > 0).astype(float))


def test_psychometric_mante_relevant_vs_irrelevant(sampled):
    task, tr, _ = sampled["mante"]
    s = task.psychometric(np.asarray(tr.targets), tr)
    # perfect behaviour: a step against the relevant coherence, about flat (~0.5) against the other
    np.testing.assert_array_equal(s["p_plus_by_coherence_1"][0], (s["coherence_1"] > 0).astype(float))
    np.testing.assert_array_equal(s["p_plus_by_coherence_2"][1], (s["coherence_2"] > 0).astype(float))
    for row in (s["p_plus_by_coherence_2"][0], s["p_plus_by_coherence_1"][1]):
        assert np.all(np.abs(row - 0.5) < 0.35)  # ~20 trials per point: binomial spread 0.11
    assert s["n_trials_by_coherence_1"].sum() == B


@pytest.mark.parametrize("name", NAMES)
def test_psychometric_summary_and_plot(sampled, name):
    import matplotlib.pyplot as plt

    task, tr, _ = sampled[name]
    s = task.psychometric(np.asarray(tr.targets), tr)
    assert isinstance(s, dict) and s
    for v in s.values():
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            finite = v[np.isfinite(v)]
            assert finite.size > 0
    probs = [v for k, v in s.items() if k.startswith("p_") or k.startswith("accuracy_")]
    for p in probs:
        p = np.asarray(p)[np.isfinite(p)]
        assert np.all((p >= 0) & (p <= 1))
    ax = task.plot_psychometric(s)
    assert ax is not None
    plt.close("all")


def test_psychometric_task_specific_values(sampled):
    task, tr, _ = sampled["dms"]
    s = task.psychometric(np.asarray(tr.targets), tr)
    np.testing.assert_array_equal(s["p_match"], [1, 0, 0, 1])
    assert np.all(s["accuracy_by_delay"][s["n_trials_by_delay"] > 0] == 1)
    task, tr, _ = sampled["romo"]
    s = task.psychometric(np.asarray(tr.targets), tr)
    np.testing.assert_array_equal(s["p_f1_greater"], (s["difference"] > 0).astype(float))
    task, tr, _ = sampled["gonogo"]
    s = task.psychometric(np.asarray(tr.targets), tr)
    np.testing.assert_array_equal(s["p_go"], [1, 0])
    task, tr, _ = sampled["delayed_xor"]
    s = task.psychometric(np.asarray(tr.targets), tr)
    np.testing.assert_array_equal(s["p_match"], [1, 0, 0, 1])


# ------------------------------------------------------------------ configuration and errors

@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name):
    task = get_task(name)
    cfg = json.loads(json.dumps(task.config()))
    assert cfg["name"] == name
    assert type(task).from_config(cfg) == task
    assert get_task(**cfg) == task
    assert get_task(name, dt=10.0).config()["dt"] == 10.0


def test_unknown_task():
    with pytest.raises(ValueError, match="rdm.*romo.*mante.*raposo.*dms.*gonogo.*detection.*flipflop.*delayed_xor"):
        get_task("nope")
    with pytest.raises(ValueError, match="describes task"):
        TASKS["rdm"].from_config(get_task("romo").config())


@pytest.mark.parametrize("kwargs, match", [
    ({"input_noise": -0.1}, "input_noise"),
    ({"dt": 0.0}, "dt"),
    ({"dt": -20.0}, "dt"),
    ({"tau": 0.0}, "tau"),
    ({"dt": 200.0}, "dt must be <= tau"),
    ({"stimulus": 810.0}, "stimulus = 810 ms is not a multiple of dt"),
    ({"fixation": -100.0}, "fixation"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        get_task("rdm", **kwargs)


def test_bad_arguments_other_tasks():
    with pytest.raises(ValueError, match="context = 350 ms is not a multiple of dt = 20"):
        get_task("mante", context=350.0)
    with pytest.raises(ValueError, match="delay_max"):
        get_task("romo", delay_min=1000.0, delay_max=500.0)
    with pytest.raises(ValueError, match="delay_max = 990"):
        get_task("dms", delay_max=990.0)
    with pytest.raises(ValueError, match="n_bits"):
        get_task("flipflop", n_bits=0)
    with pytest.raises(ValueError, match="loss_type"):
        get_task("delayed_xor", loss_type="hinge")
    with pytest.raises(TypeError):
        get_task("rdm", nonsense=1)
    task = get_task("rdm")
    with pytest.raises(ValueError, match="batch"):
        task.sample(jax.random.key(0), 0)
    with pytest.raises(TypeError, match="batch"):
        task.sample(jax.random.key(0), 2.5)
    with pytest.raises(TypeError, match="key"):
        task.sample(0, 4)


def test_changed_timing_changes_trials():
    task = get_task("rdm", dt=10.0, stimulus=400.0)
    assert task.n_steps == (100 + 400 + 100 + 20) // 10
    assert task.epochs["decision"] == (task.n_steps - 2, task.n_steps)


# ------------------------------------------------------------------ NeuroGym adapter

class _Space:
    def __init__(self, shape=None, n=None):
        self.shape, self.n = shape, n


class FakeNeuroGymEnv:
    """The part of NeuroGym's TrialEnv interface the adapter uses: a two-alternative task whose
    trials have a random stimulus length, observations (fixation, evidence) and ground truth
    actions 0 (fixate), 1, 2."""

    def __init__(self):
        self.dt = 100
        self.observation_space = _Space(shape=(2,))
        self.action_space = _Space(n=3)
        self.rng = np.random.RandomState(0)

    def seed(self, seed):
        self.rng = np.random.RandomState(seed)

    def new_trial(self):
        n_stim = int(self.rng.randint(2, 6))
        choice = int(self.rng.randint(1, 3))
        coh = float(self.rng.choice([6.4, 25.6]))
        T = 2 + n_stim + 1
        self.ob = np.zeros((T, 2), np.float32)
        self.ob[: T - 1, 0] = 1.0
        self.ob[2:2 + n_stim, 1] = (1 if choice == 1 else -1) * coh / 100 + 0.1 * self.rng.randn(n_stim)
        self.gt = np.zeros(T, np.int64)
        self.gt[-1] = choice
        self.trial = {"ground_truth": choice, "coh": coh, "label": "not a number"}
        return self.trial


def test_from_neurogym_fake_env():
    env = FakeNeuroGymEnv()
    tr = from_neurogym(env, 12, jax.random.key(0))
    n = np.asarray(tr.conditions["n_steps"])
    T = n.max()
    assert tr.inputs.shape == (12, T, 2) and tr.targets.shape == (12, T, 3) and tr.mask.shape == (12, T, 3)
    m = np.asarray(tr.mask)
    for b in range(12):
        assert m[b, : n[b]].min() == 1 and m[b, n[b]:].sum() == 0
    y = np.asarray(tr.targets)
    np.testing.assert_array_equal(y.sum(axis=-1), m[..., 0])  # one-hot on valid steps
    gt = np.asarray(tr.conditions["ground_truth"])
    np.testing.assert_array_equal(y[np.arange(12), n - 1].argmax(-1), gt)
    assert "coh" in tr.conditions and "label" not in tr.conditions
    again = from_neurogym(FakeNeuroGymEnv(), 12, jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(again.inputs), np.asarray(tr.inputs))
    other = from_neurogym(FakeNeuroGymEnv(), 12, jax.random.key(1))
    assert not np.array_equal(np.asarray(other.conditions["coh"]), np.asarray(tr.conditions["coh"])) or \
        not np.array_equal(np.asarray(other.conditions["n_steps"]), n)


def test_from_neurogym_errors(monkeypatch):
    monkeypatch.setitem(sys.modules, "neurogym", None)  # as if it were not installed
    with pytest.raises(ImportError, match="pip install neurogym"):
        from_neurogym("PerceptualDecisionMaking-v0", 4, jax.random.key(0))
    with pytest.raises(TypeError, match="NeuroGym environment"):
        from_neurogym(object(), 4, jax.random.key(0))
    with pytest.raises(ValueError, match="n_trials"):
        from_neurogym(FakeNeuroGymEnv(), 0, jax.random.key(0))


# ------------------------------------------------------------- declarations shared on the base class

class _Pulse(AbstractTask):
    """A minimal task: one pulse, then a report of its sign (uses only what the base class gives)."""

    name = "pulse"
    n_inputs = 1
    n_outputs = 1
    epoch_names = ("cue", "wait", "cue")
    cue: float = eqx.field(static=True)
    wait: float = eqx.field(static=True)

    def __init__(self, *, cue=40.0, wait=100.0, dt=20.0, tau=100.0, input_noise=0.0):
        self.dt, self.tau, self.input_noise = dt, tau, input_noise
        self._set_durations(cue=cue, wait=wait, positive=("cue",))

    def _trial(self, u):
        t = jnp.arange(self.n_steps)
        sign = jnp.where(u[0] < 0.5, 1.0, -1.0)
        (a, b), (c, d) = self.epochs["cue_1"], self.epochs["cue_2"]
        cue = ((t >= a) & (t < b)).astype(jnp.float32)
        report = ((t >= c) & (t < d)).astype(jnp.float32)
        return (sign * cue)[:, None], (sign * report)[:, None], report[:, None], {"sign": sign}

    def _judge(self, outputs, trials):
        return jnp.sign(outputs[:, -1, 0]) == trials.conditions["sign"], jnp.ones(outputs.shape[0], bool)

    def psychometric(self, outputs, trials):
        return {}

    def plot_psychometric(self, summary, ax=None):
        return ax


def test_epochs_and_steps_follow_from_epoch_names():
    task = _Pulse()
    assert task.epochs == {"cue_1": (0, 2), "wait": (2, 7), "cue_2": (7, 9)}
    assert task.n_steps == 9 and task.times()[-1] == 160.0
    trials = task.sample(jax.random.key(0), 4)
    assert trials.inputs.shape == (4, 9, 1) and task.accuracy(trials.targets, trials) == 1.0
    assert "n_inputs" not in task.config() and "epoch_names" not in task.config()
    with pytest.raises(ValueError, match="wait = 110 ms is not a multiple of dt"):
        _Pulse(wait=110.0)
    with pytest.raises(ValueError, match="cue"):
        _Pulse(cue=0.0)


def test_a_task_must_declare_its_sizes_and_epochs():
    class Missing(AbstractTask):  # the methods of _Pulse, but no n_inputs, n_outputs, epoch_names
        def __init__(self):
            self.dt, self.tau, self.input_noise = 20.0, 100.0, 0.0

        _trial = _Pulse._trial
        _judge = _Pulse._judge
        psychometric = _Pulse.psychometric
        plot_psychometric = _Pulse.plot_psychometric

    with pytest.raises(TypeError, match="abstract class attributes") as err:
        Missing()
    assert all(name in str(err.value) for name in ("n_inputs", "n_outputs", "epoch_names"))
