"""Sections of the Dubreuil, Valente et al. 2022 reproduction: training, resampling, latents, truncation."""

from __future__ import annotations

import time

import jax
import numpy as np

from .. import analysis
from ..models import FullRankRNN, LowRankRNN, noise_from_published, to_ensemble
from ..tasks import get_task
from ..theory import limit_cycle
from ..training import BPTT, RECIPES, Adam, plot_latents, train, train_recipe
from ._dubreuil2022_config import PUBLISHED, PUBLISHED_TRUNCATION, Config


def _eval_key(task: str, seed: int, j: int = 0) -> jax.Array:
    """Keys of the fresh evaluation trials: fixed per (task, network, draw), apart from training's."""
    return jax.random.fold_in(jax.random.fold_in(jax.random.key(2022), TASK_IDS[task] * 100 + seed), j)


TASK_IDS = {"rdm": 1, "romo": 2, "raposo": 3, "mante": 4, "dms": 5}


def _train_dms(cfg: Config, N: int, seed: int):
    """DMS by the published protocol, shortened: full-rank pre-training (lr 1e-5, delay <= 2000 ms),
    top-2 SVD, rank-two training at delay <= 700 ms (lr 1e-2, clip 0.01, early stop 0.01), then
    shaping: the maximum delay widened stage by stage. Returns (model, final task, history, seconds)."""
    rec = RECIPES["dms"]
    alpha = 0.2
    sigma = noise_from_published(rec.noise_std, alpha)
    k_init, k_pre, k_train = jax.random.split(jax.random.key(seed), 3)
    pre_task = get_task("dms", **rec.pretrain["task_overrides"])
    full = FullRankRNN(N, 2, 1, key=k_init, alpha=alpha, noise=noise_from_published(rec.pretrain["noise_std"], alpha))
    full, _ = train(full, pre_task, key=k_pre, epochs=cfg.dms_pretrain_epochs,
                    method=BPTT(optimizer=Adam(float(rec.pretrain["lr"]))), batch=rec.batch, progress=False)
    init = LowRankRNN.from_full_rank(full, 2)
    model = LowRankRNN(N, 2, 2, 1, noise=sigma, alpha=alpha, m=init.m, n=init.n, input_vectors=init.input_vectors,
                       input_scales=init.input_scales, readout_vectors=init.readout_vectors,
                       readout_scales=init.readout_scales, h0=init.h0)
    task = get_task("dms", **rec.task_overrides)
    history = {}
    stages = [(task, cfg.dms_epochs)] + [(get_task("dms", delay_max=d), cfg.dms_shaping_epochs)
                                         for d in cfg.dms_shaping]
    for i, (task, epochs) in enumerate(stages):
        model, h = train(model, task, key=jax.random.fold_in(k_train, i), epochs=epochs,
                         method=BPTT(optimizer=Adam(rec.lr, clip=rec.clip)), batch=rec.batch, early_stop=rec.early_stop,
                         trainable=model.trainable(), progress=False)
        for k, v in h.items():
            history.setdefault(k, []).extend(v)
        history.setdefault("stage_end", []).append(len(history["epoch"]))
    return model, task, history


def run_task(cfg: Config, name: str, results: dict):
    """Train ``cfg.networks(name)`` networks on task ``name``, fit one Gaussian to each, resample,
    and measure every accuracy; store the numbers in ``results["tasks"][name]``; return the models."""
    rec = RECIPES[name]
    N = cfg.N(name)
    entry = {"rank": rec.rank, "N": N, "recipe": rec.source, "networks": []}
    models = []
    for seed in range(cfg.networks(name)):
        t0 = time.perf_counter()
        if name == "dms":
            model, task, hist = _train_dms(cfg, N, seed)
        else:
            model, hist = train_recipe(name, hidden=N, seed=seed, progress=False, resume=False)
            task = get_task(name, **rec.task_overrides)
        seconds = time.perf_counter() - t0
        acc, loss = analysis.task_accuracy(model, task, key=_eval_key(name, seed), n_trials=cfg.n_eval_trials,
                                           return_loss=True)
        net = {"seed": seed, "train_seconds": round(seconds, 1), "epochs": len(hist["epoch"]),
               "final_val_accuracy": hist["val_accuracy"][-1], "final_val_loss": hist["val_loss"][-1],
               "accuracy": acc, "loss": loss, "eval_task": task.config()}
        if "stage_end" in hist:
            net["shaping_stage_ends"] = hist["stage_end"]
        fits = {1: analysis.fit_mixture(model, 1)}
        if name in cfg.two_population_tasks:
            fits[2] = analysis.fit_mixture(model, 2, random_state=seed)
        for C, fit in fits.items():
            base = analysis.resample(fit, key=jax.random.key(1000 + seed))
            accs = []
            for j in range(cfg.n_resampled):
                new = base.resample(key=jax.random.fold_in(jax.random.key(3000 + seed), j))
                accs.append(analysis.task_accuracy(new, task, key=_eval_key(name, seed, j + 1),
                                                   n_trials=cfg.n_eval_trials))
            key = "resampled" if C == 1 else f"resampled_{C}_populations"
            net[key] = accs
            if C > 1:
                net[f"weights_{C}_populations"] = np.asarray(fit.ensemble.weights).tolist()
        entry["networks"].append(net)
        models.append((model, task, fits))
    acc = np.array([n["accuracy"] for n in entry["networks"]])
    res = np.concatenate([n["resampled"] for n in entry["networks"]])
    entry["trained_median"], entry["trained_min"] = float(np.median(acc)), float(acc.min())
    entry["resampled_median"], entry["resampled_mean"] = float(np.median(res)), float(res.mean())
    two = [a for n in entry["networks"] for a in n.get("resampled_2_populations", [])]
    if two:
        entry["resampled_2_populations_median"] = float(np.median(two))
        entry["resampled_2_populations_mean"] = float(np.mean(two))
    results["tasks"][name] = entry
    return models


def section_resampling(cfg: Config, report, results: dict) -> None:
    """The central table and figure: trained against one-Gaussian resampled accuracy per task."""
    import matplotlib.pyplot as plt

    names = [t for t in cfg.tasks if t in results["tasks"]]
    rows = []
    for t in names:
        e = results["tasks"][t]
        pub = PUBLISHED[t]
        rows.append([t, e["rank"], e["N"], len(e["networks"]), e["trained_median"], e["trained_min"],
                     e["resampled_median"], e["resampled_mean"], pub["resampled"][0], pub["resampled"][1],
                     e.get("resampled_2_populations_mean")])
    report.section(
        "Networks resampled from one Gaussian",
        "Each trained network's loadings are replaced by fresh draws from ONE Gaussian with their mean and "
        f"covariance ({cfg.n_resampled} draws per network), and the accuracy is measured on "
        f"{cfg.n_eval_trials} fresh trials. The paper's claim: RDM, Romo and Raposo keep their accuracy (one "
        "population suffices), Mante and DMS lose it (they need two or more populations; Dubreuil, Valente et "
        "al. 2022, Fig. 4 and the networks of `data/*_results.npz`: 100 per task).")
    report.table(["task", "rank", "N", "networks", "trained median", "trained min", "resampled median",
                  "resampled mean", "published resampled median", "published resampled mean",
                  "2-population resampled mean"], rows,
                 caption="Accuracy of the trained networks and of networks resampled from one Gaussian fitted "
                         "to their loadings; published values over 100 networks per task.")
    fig, ax = plt.subplots(figsize=(1.5 + 1.3 * len(names), 3.4))
    rng = np.random.default_rng(0)
    two_labelled = False
    for i, t in enumerate(names):
        e = results["tasks"][t]
        tr = [n["accuracy"] for n in e["networks"]]
        rs = [a for n in e["networks"] for a in n["resampled"]]
        ax.scatter(i - 0.2 + 0.04 * rng.standard_normal(len(tr)), tr, s=22, color="C0",
                   label="trained" if i == 0 else None, zorder=3)
        ax.scatter(i + 0.15 + 0.04 * rng.standard_normal(len(rs)), rs, s=12, color="C3", alpha=0.7,
                   label="resampled, one Gaussian" if i == 0 else None, zorder=3)
        two = [a for n in e["networks"] for a in n.get("resampled_2_populations", [])]
        if two:
            ax.scatter(i + 0.35 + 0.03 * rng.standard_normal(len(two)), two, s=12, color="C2", marker="^",
                       label=None if two_labelled else "resampled, two Gaussians", zorder=3)
            two_labelled = True
        ax.hlines(PUBLISHED[t]["resampled"][1], i + 0.02, i + 0.28, color="k", lw=2,
                  label="published mean, one Gaussian" if i == 0 else None, zorder=4)
        ax.hlines(PUBLISHED[t]["trained"][0], i - 0.32, i - 0.08, color="0.5", lw=2, ls=":",
                  label="published median, trained" if i == 0 else None, zorder=4)
    ax.axhline(0.5, color="0.85", lw=0.8, zorder=0)
    ax.set_xticks(range(len(names)), [f"{t}\n(rank {results['tasks'][t]['rank']})" for t in names])
    ax.set_ylim(0.3, 1.04)
    ax.set_ylabel("accuracy (fresh trials)")
    ax.legend(frameon=False, fontsize="x-small", loc="lower left")
    report.figure(fig, "resampling.png",
                  "Accuracy of trained networks (blue) and of networks resampled from one Gaussian fitted to "
                  "each network's loadings (red; green triangles: from a two-component Gaussian mixture), per "
                  "task. Black bars: the published mean after one-Gaussian resampling; dotted: the published "
                  "median trained accuracy (Dubreuil, Valente et al. 2022).")
    lines = []
    for t in names:
        e = results["tasks"][t]
        for n in e["networks"]:
            if "weights_2_populations" in n:
                lines.append(f"{t} seed {n['seed']}: two-Gaussian fit with weights "
                             f"{', '.join(f'{w:.2f}' for w in n['weights_2_populations'])}, resampled accuracy "
                             f"{', '.join(f'{a:.3f}' for a in n['resampled_2_populations'])}")
            if "shaping_stage_ends" in n:
                lines.append(f"{t} seed {n['seed']}: shaping stages ended at epochs {n['shaping_stage_ends']} "
                             f"(delay <= 700 ms, then {', '.join(f'{d:g}' for d in cfg.dms_shaping)} ms)")
    if lines:
        report.text("Details:\n\n" + "\n".join(f"- {ln}" for ln in lines))


def section_latents(cfg: Config, report, results: dict, trained: dict) -> None:
    """kappa(t) of one trained network per task; rank-two flow fields, trained against one Gaussian."""
    import matplotlib.pyplot as plt

    report.section("Latent dynamics of the trained networks",
                   "States projected on span(m, I) (`analysis.latents`, noiseless network, noisy inputs): "
                   "x(t) = Σ_r κ_r(t) m_r + Σ_k v_k(t) I_k, averaged per condition.")
    out = {}
    for t, models in trained.items():
        model, task, fits = models[0]
        trials = task.sample(jax.random.key(77), 240)
        lat = analysis.latents(model, trials, dt=task.dt)
        cond = {k: np.asarray(v) for k, v in trials.conditions.items()}
        fig = plot_latents(lat.kappa, lat.times, cond, title=f"{t}: κ(t) of a trained rank-{model.rank} network")
        report.figure(fig, f"latents_{t}.png", f"{t}: latent trajectories κ_r(t) of the first trained network, "
                      f"averaged per condition; the states lie in span(m, I) up to a fraction "
                      f"{lat.residual:.2e} of their squared norm.")
        out[t] = {"residual": lat.residual}
        if model.rank == 2:
            fig, axes = plt.subplots(1, 2, figsize=(8.6, 3.8))
            # one box for both panels: every fixed point of the network has |kappa_r| <= mean |n_r|
            lim = 1.15 * float(np.max(np.mean(np.abs(np.asarray(model.n)), axis=0)))
            fps = {}
            for ax, source in zip(axes, ("network", "ensemble")):
                found = analysis.latent_fixed_points(model, source=source)
                analysis.plot_latent_flow(model, ax, source=source, n=31, lim=lim,
                                          title="trained network" if source == "network"
                                          else "one-Gaussian description (mean field)")
                fps[source] = [{"kappa": fp.kappa.tolist(), "kind": fp.kind} for fp in found]
            n_stable = {k: sum("stable" in f["kind"] and "unstable" not in f["kind"] for f in v)
                        for k, v in fps.items()}
            cycle_text = ""
            if n_stable["ensemble"] == 0:  # no stable point: the mean-field flow may settle on a cycle
                try:
                    cycle = limit_cycle(to_ensemble(model))
                except RuntimeError:  # a trajectory that never settles: reported as no cycle found
                    cycle = None
                if cycle is not None:
                    orbit = np.concatenate([cycle.orbit, cycle.orbit[:1]])
                    axes[1].plot(orbit[:, 0], orbit[:, 1], color="C3", lw=2.0)
                    out[t]["ensemble_limit_cycle_period"] = cycle.period
                    cycle_text = (f" The one-Gaussian flow has no stable fixed point: it settles on a limit cycle "
                                  f"(red) of period {cycle.period:.3g} τ.")
            report.figure(fig, f"flow_{t}.png",
                          f"{t}: flow of κ with no input (the delay epoch) in the (κ_1, κ_2) plane, with fixed "
                          "points "
                          "(filled: stable; open: saddle or unstable). Left: the finite trained network, "
                          "dκ/dt = −κ + nᵀtanh(mκ)/N; right: the mean-field flow of one Gaussian fitted to its "
                          "loadings (`lowrank_rnn.theory.flow_field`), i.e. of the networks resampled from it. "
                          f"Stable fixed points: {n_stable['network']} in the trained network, "
                          f"{n_stable['ensemble']} in the one-Gaussian description." + cycle_text)
            out[t]["fixed_points"] = fps
            out[t]["stable_fixed_points"] = n_stable
        if 2 in fits:
            axes = analysis.plot_loadings(fits[2], title=f"{t}: loadings coloured by a two-component fit")
            report.figure(axes[0].figure, f"loadings_{t}.png",
                          f"{t}: loadings of the first trained network, coloured by the component of a two-component "
                          "Gaussian mixture (scikit-learn, full covariances).")
    results["latents"] = out


def section_truncation(cfg: Config, report, results: dict) -> None:
    """A full-rank RDM network: accuracy with its learned change truncated to rank r."""
    task = get_task("rdm")
    N = cfg.truncation_hidden
    w0 = FullRankRNN(N, 1, 1, key=jax.random.key(11), alpha=0.2, noise=noise_from_published(0.05, 0.2))
    full, hist = train(w0, task, key=jax.random.key(12), epochs=cfg.truncation_epochs,
                       method=BPTT(optimizer=Adam(1e-3)), progress=False)
    key = _eval_key("rdm", 99)
    acc_full = analysis.task_accuracy(full, task, key=key, n_trials=cfg.n_eval_trials)
    # r = 0: W0 with the trained input and readout scales
    acc_init = analysis.task_accuracy(analysis.truncate(full, 0, initial=w0), task, key=key,
                                      n_trials=cfg.n_eval_trials)
    ranks = list(cfg.truncation_ranks)
    accs = [analysis.task_accuracy(analysis.truncate(full, r, initial=w0), task, key=key,
                                   n_trials=cfg.n_eval_trials) for r in ranks]
    sv = analysis.singular_values(full, initial=w0)[:10]
    results["truncation"] = {"task": "rdm", "N": N, "epochs": len(hist["epoch"]), "accuracy_full": acc_full,
                             "accuracy_rank_0": acc_init, "ranks": ranks, "accuracy": accs,
                             "singular_values": sv.tolist(), "published_median": PUBLISHED_TRUNCATION["rdm"]}
    report.section("Full-rank network, learned change truncated",
                   f"A full-rank RDM network (N = {N}, W0 ~ N(0, 1/N), {len(hist['epoch'])} epochs, Adam lr 1e-3) "
                   "is truncated to W0 + (rank-r SVD of W − W0) (`analysis.truncate`).")
    report.table(["r", "accuracy", "published median (100 networks, N = 512)"],
                 [[r, a, p] for r, a, p in zip(ranks, accs, PUBLISHED_TRUNCATION["rdm"])],
                 caption=f"Full network: accuracy {acc_full:.3f}; r = 0 (W0 with the trained input and readout "
                         f"scales): {acc_init:.3f}. Top singular values "
                         f"of W − W0: {', '.join(f'{s:.3g}' for s in sv[:5])}.")
    ax = analysis.plot_truncation(ranks, accs, reference=PUBLISHED_TRUNCATION["rdm"])
    ax.set_title("RDM, full rank, truncated")
    report.figure(ax.figure, "truncation.png", "Accuracy of the full-rank RDM network with its learned change "
                  "truncated to rank r; open squares: published medians.")
