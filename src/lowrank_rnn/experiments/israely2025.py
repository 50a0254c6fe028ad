"""Israely et al. 2025 (Nat. Commun. 16:2574), Fig. 5c, f: low-dimensional (cerebellar-like)
feedback into a random cortical network lowers the dimensionality of its target representation and
raises its cross-condition generalization (CCGP).

A chaotic rate network (N = 1000, g = 1.75, tanh, Euler dt = 0.1 tau) is driven by a
high-dimensional "cortical" input alpha V e_k (one random direction per target k of 8) and a 2-D
"cerebellar-like" input beta U y_k (y_k the target on the unit circle). A least-squares readout w is
fitted in open loop; in closed loop the 2-D input is replaced by the fed-back readout
beta U w^T phi(x), so the connectivity is J + beta U w^T. Sweeping beta/alpha from 0.5 to 1.5, the
participation ratio (PR) of the target means falls and the CCGP of linear SVMs rises.

The sweep runs through :func:`lowrank_rnn.sweep` (one network at every ratio per chunk, so one
random matrix multiplies all the ratios' states; the store ``DIR/sweep-<config>.zarr`` makes an
interrupted run resume). ``run(out_dir, quick=..., networks=..., ratios=..., scheduler=...)``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import time
from pathlib import Path

import jax
import numpy as np

from .._checks import positive_int, real_scalar
from .._errors import ArgumentError, ArgumentTypeError
from ..analysis import ccgp
from ..sweep import sweep
from ._israely2025_model import (ALPHA, DICHOTOMIES, G, N_PAPER, REPS, ModelConfig, network_statistics,
                                 sample_labels)
from ._report import start_report

TITLE = "Israely et al. 2025: cerebellar-like low-dimensional feedback in a random cortical network"
#: mean and SD over 600 networks at the ends of the sweep (the authors' saved results)
PUBLISHED = {"ratio": (0.5, 1.5), "pr_mean": (5.53, 4.85), "pr_sd": (0.40, 0.35),
             "ccgp_mean": (0.63, 0.87), "ccgp_sd": (0.12, 0.06), "n_networks": 600}
#: monkey data (control; cerebellar block by high-frequency stimulation, HFS)
MONKEY = {"pr": {"control": 5.0, "HFS": 5.5}, "ccgp": {"control": 0.83, "HFS": 0.75}}
#: default number of networks: enough to resolve both trends (paired across ratios) on 2 cores
DEFAULT_NETWORKS = 8
DEFAULT_RATIOS = tuple(np.round(np.linspace(0.5, 1.5, 30), 6))


@dataclasses.dataclass(frozen=True)
class Config:
    """One run's sizes."""

    quick: bool
    N: int
    reps: int
    networks: int
    ratios: tuple[float, ...]

    @classmethod
    def make(cls, quick: bool, networks: int | None, ratios) -> Config:
        if quick:
            base = cls(True, 200, 4, 6, (0.5, 1.0, 1.5))
        else:
            base = cls(False, N_PAPER, REPS, DEFAULT_NETWORKS, DEFAULT_RATIOS)
        if networks is not None:
            base = dataclasses.replace(base, networks=int(networks))
        if ratios is not None:
            base = dataclasses.replace(base, ratios=tuple(float(r) for r in ratios))
        return base

    def tag(self) -> str:
        text = json.dumps([self.N, self.reps, self.networks, list(self.ratios)])
        return hashlib.sha256(text.encode()).hexdigest()[:10]


def _check(networks, ratios, scheduler):
    if networks is not None:
        networks = positive_int("networks", networks, low=2)
    if ratios is not None:
        if isinstance(ratios, str):
            try:
                ratios = [float(r) for r in ratios.split(",") if r.strip()]
            except ValueError:
                raise ArgumentError(f"ratios must be comma-separated numbers such as 0.5,1.0,1.5, got {ratios!r}") from None
        ratios = [real_scalar("ratios", r, low=0.0, low_open=True) for r in ratios]
        if len(ratios) < 2 or len(set(ratios)) != len(ratios):
            raise ArgumentError(f"ratios must hold at least two distinct values, got {ratios}")
        ratios = sorted(ratios)
    if scheduler is not None and not isinstance(scheduler, str):
        raise ArgumentTypeError(f"scheduler must be an address such as tcp://host:8786, got {type(scheduler).__name__}")
    return networks, ratios, scheduler


def _mean_sem(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard error and count over the last axis, ignoring NaN (failed chunks)."""
    n = np.sum(np.isfinite(a), axis=-1)
    mean = np.nanmean(a, axis=-1)
    sd = np.nanstd(a, axis=-1, ddof=1)
    return mean, sd / np.sqrt(np.maximum(n, 1)), n


def run(out_dir, *, quick: bool = False, networks: int | None = None, ratios=None,
        scheduler: str | None = None) -> Path:
    """Return the path of ``report.md`` after reproducing Fig. 5c, f of Israely et al. 2025.

    Parameters
    ----------
    out_dir: folder for ``report.md``, ``results.json``, the figures and the sweep's Zarr store.
    quick: N = 200, 4 repetitions per target, 3 ratios, 6 networks (the same figures, a few minutes).
    networks: networks per ratio (default 8; 600 is the paper's sweep, for a cluster or a GPU).
    ratios: the beta/alpha values (default: 30 from 0.5 to 1.5, as published); a list or
        "0.5,1.0,1.5".
    scheduler: the address of a Dask scheduler to run the chunks on (default: a local cluster).

    The sweep's store is ``out_dir/sweep-<hash>.zarr``, the hash of N, the repetitions, the
    networks and the ratios: the same command again resumes it (computing only the networks not yet
    stored); other ``networks`` or ``ratios`` start another store.
    """
    networks, ratios, scheduler = _check(networks, ratios, scheduler)
    report = start_report(out_dir, TITLE, only=None, allowed=(), what="sections")
    cfg = Config.make(bool(quick), networks, ratios)
    t_start = time.perf_counter()
    results: dict = {"quick": cfg.quick, "config": dataclasses.asdict(cfg), "timings_s": {}}
    report.text(
        f"Run: {'quick (N = 200, 4 repetitions per target, few networks: trends only)' if cfg.quick else 'default'}; "
        f"N = {cfg.N}, g = {G}, alpha = {ALPHA}, {cfg.reps} repetitions of each of 8 targets per run (episodes of "
        f"500 Euler steps of dt = 0.1 tau), {cfg.networks} networks at each of {len(cfg.ratios)} values of beta/alpha "
        f"in [{cfg.ratios[0]:g}, {cfg.ratios[-1]:g}]. Each network (J, V, U, target orders and initial states drawn "
        "from its replicate key) is run at every ratio (common random numbers: the ratios are compared on the "
        "same networks; the authors drew a new network for every run, which changes no mean). The published "
        f"numbers are means ± SD over {PUBLISHED['n_networks']} networks from the authors' saved results.")

    t0 = time.perf_counter()
    fn = functools.partial(network_statistics, config=ModelConfig(N=cfg.N, reps=cfg.reps, spectrum=True))
    store = Path(out_dir) / f"sweep-{cfg.tag()}.zarr"
    ds = sweep(fn, {"ratio": list(cfg.ratios)}, replicates=cfg.networks, key=jax.random.key(2025), store=store,
               chunk={"replicate": 1}, client=scheduler)
    ds = ds.load()
    results["timings_s"]["sweep"] = round(time.perf_counter() - t0, 2)
    results["sweep"] = {"store": store.name, "computed_chunks": ds.attrs["computed_chunks"],
                        "reused_chunks": ds.attrs["reused_chunks"], "failed_chunks": ds.attrs["failed_chunks"],
                        "failures": ds.attrs["failures"]}

    t0 = time.perf_counter()
    ratios_arr = np.asarray(ds["ratio"].values, float)
    pr = np.asarray(ds["pr"].values, float)                      # (ratio, network)
    labels = sample_labels(cfg.reps)
    gram = np.asarray(ds["gram"].values, float)
    cc = np.full(pr.shape, np.nan)
    for i in range(pr.shape[0]):
        for j in range(pr.shape[1]):
            if np.all(np.isfinite(gram[i, j])):
                cc[i, j] = ccgp(gram[i, j], labels, DICHOTOMIES, precomputed=True)
    results["timings_s"]["ccgp"] = round(time.perf_counter() - t0, 2)
    pr_mean, pr_sem, n_pr = _mean_sem(pr)
    cc_mean, cc_sem, _ = _mean_sem(cc)
    results.update(ratios=ratios_arr, pr_mean=pr_mean, pr_sem=pr_sem, ccgp_mean=cc_mean, ccgp_sem=cc_sem,
                   n_networks=int(n_pr.min()), n_networks_per_ratio=n_pr,
                   readout_error_mean=np.nanmean(np.asarray(ds["readout_error"].values, float), axis=1))

    _section_trends(report, results, cfg, ratios_arr, pr, cc)
    _section_spectrum(report, results, cfg, ds)
    return report.finish(results, t_start)


def _paired(values: np.ndarray, i: int, j: int) -> tuple[float, float]:
    """Mean and standard error of values[j] - values[i] over the networks run at both."""
    d = values[j] - values[i]
    d = d[np.isfinite(d)]
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")


def _section_trends(report, results, cfg, ratios, pr, cc) -> None:
    import matplotlib.pyplot as plt

    pr_mean, pr_sem, cc_mean, cc_sem = (results[k] for k in ("pr_mean", "pr_sem", "ccgp_mean", "ccgp_sem"))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, mean, sem, key, name, sd_key in ((axes[0], pr_mean, pr_sem, "pr", "participation ratio", "pr_sd"),
                                             (axes[1], cc_mean, cc_sem, "ccgp", "CCGP", "ccgp_sd")):
        ax.fill_between(ratios, mean - sem, mean + sem, color="C0", alpha=0.25, lw=0)
        ax.plot(ratios, mean, "o-", color="C0", ms=3, label=f"this run, mean ± s.e.m. ({results['n_networks']} networks)")
        ax.errorbar(PUBLISHED["ratio"], PUBLISHED[f"{key}_mean"], yerr=PUBLISHED[sd_key], fmt="s", color="k",
                    capsize=4, label="published mean ± SD (600 networks)")
        for (cond, val), style in zip(MONKEY[key].items(), ("--", ":")):
            ax.axhline(val, color="C3", ls=style, lw=1.2, label=f"monkey, {cond}")
        ax.set_xlabel("β/α (low-D feedback / high-D input)")
        ax.set_ylabel(name)
        ax.legend(fontsize=7)
    axes[1].axhline(0.5, color="0.6", lw=0.8)
    fig.suptitle("Closed loop: dimensionality falls and generalization rises with the low-D loop's strength")
    report.section("Participation ratio and CCGP against β/α")
    report.figure(fig, "pr_ccgp_vs_ratio.png",
                  "Left: participation ratio of the z-scored target means (8 targets, rates after 498 steps of each "
                  "closed-loop episode). Right: CCGP, the test accuracy of a linear SVM (C = 1) trained on one pair of "
                  "adjacent-target quadrants and tested on the other, averaged over the 4 dichotomies. Black: the "
                  "published means ± SD at β/α = 0.5 and 1.5; red: the monkey data.")

    rows, verdicts = [], {}
    for k, r_pub in enumerate(PUBLISHED["ratio"]):
        i = int(np.argmin(np.abs(ratios - r_pub)))
        for key, mean, sem in (("pr", pr_mean, pr_sem), ("ccgp", cc_mean, cc_sem)):
            pub = PUBLISHED[f"{key}_mean"][k]
            pub_se = PUBLISHED[f"{key}_sd"][k] / np.sqrt(PUBLISHED["n_networks"])
            se = float(np.hypot(sem[i], pub_se))
            z = (mean[i] - pub) / se if se > 0 else float("nan")
            ok = bool(abs(z) <= 2.0)
            verdicts[f"{key}_at_{r_pub:g}"] = {"ours": float(mean[i]), "sem": float(sem[i]), "published": pub,
                                               "z": float(z), "within_2se": ok, "ratio": float(ratios[i])}
            rows.append([f"{key.upper()} at β/α = {ratios[i]:.3g}", pub, PUBLISHED[f"{key}_sd"][k], mean[i], sem[i],
                         z, "yes" if ok else "no"])
    report.table(["quantity", "published mean", "published SD", "this run", "s.e.m.", "z", "within 2 s.e."], rows,
                 caption="Means at the ends of the sweep against the published ones (z: difference over the "
                         "combined standard error, ours and the published SD/√600).")
    first, last = 0, len(ratios) - 1
    d_pr, se_pr = _paired(pr, first, last)
    d_cc, se_cc = _paired(cc, first, last)
    pub_dpr = PUBLISHED["pr_mean"][1] - PUBLISHED["pr_mean"][0]
    pub_dcc = PUBLISHED["ccgp_mean"][1] - PUBLISHED["ccgp_mean"][0]
    pr_falls = d_pr + 2 * se_pr < 0
    cc_rises = d_cc - 2 * se_cc > 0
    results["claims"] = {
        "pr_falls_with_ratio": {"paired_change": d_pr, "sem": se_pr, "published_change": pub_dpr,
                                "reproduced": bool(pr_falls)},
        "ccgp_rises_with_ratio": {"paired_change": d_cc, "sem": se_cc, "published_change": pub_dcc,
                                  "reproduced": bool(cc_rises)},
        "endpoints": verdicts,
    }
    in_range = (pr_mean >= 4.7) & (pr_mean <= 5.8) & (cc_mean >= 0.71) & (cc_mean <= 0.86)
    results["claims"]["data_like_ratios"] = ratios[in_range]
    report.text(
        f"**Claim 1: PR falls as the low-D loop strengthens.** From β/α = {ratios[first]:.3g} to {ratios[last]:.3g}, "
        f"PR changes by {d_pr:+.3f} ± {se_pr:.3f} (paired over the same networks; published {pub_dpr:+.2f}): "
        f"**{'reproduced' if pr_falls else 'not resolved'}** (a fall larger than 2 s.e.m.).\n\n"
        f"**Claim 2: CCGP rises as the low-D loop strengthens.** CCGP changes by {d_cc:+.3f} ± {se_cc:.3f} "
        f"(published {pub_dcc:+.2f}): **{'reproduced' if cc_rises else 'not resolved'}**.\n\n"
        f"**Claim 3: the means match the published ones** (table): "
        f"{sum(v['within_2se'] for v in verdicts.values())} of {len(verdicts)} endpoint means lie within 2 combined "
        "standard errors." + (" The quick run uses N = 200 and 4 repetitions per target, so its absolute values are "
                              "not expected to match (PR and CCGP depend on N and on the number of samples per "
                              "target); only the directions are checked." if cfg.quick else "") + "\n\n"
        f"**Claim 4: the model reaches the monkeys' values** (PR in [4.7, 5.8] and CCGP in [0.71, 0.86], the "
        f"authors' 'close to data' box): at β/α = {', '.join(f'{r:.3g}' for r in ratios[in_range]) or 'none of the ratios run'}.")


def _section_spectrum(report, results, cfg, ds) -> None:
    import matplotlib.pyplot as plt

    ratios = np.asarray(ds["ratio"].values, float)
    out = np.asarray(ds["outlier_re"].values) + 1j * np.asarray(ds["outlier_im"].values)   # (ratio, net, 4)
    pred = np.asarray(ds["predicted_re"].values) + 1j * np.asarray(ds["predicted_im"].values)  # (ratio, net, 2)
    radius = np.nanmean(np.abs(out[..., 0]), axis=1)
    pred_abs = np.nanmean(np.abs(pred), axis=1)          # (ratio, 2)
    pred_re = np.nanmean(pred.real, axis=1)
    g_finite = G  # the bulk's radius (its finite-N edge fluctuates by O(N^-1/2))
    outside = np.abs(pred).max(axis=-1) > g_finite
    results["spectrum"] = {"ratios": ratios, "spectral_radius_mean": radius, "predicted_abs_mean": pred_abs,
                           "bulk_radius": g_finite, "fraction_predicted_outside_bulk": np.nanmean(outside, axis=1)}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    ax.plot(ratios, radius, "o-", ms=3, label="closed loop: spectral radius (mean)")
    ax.axhline(g_finite, color="k", ls="--", lw=1, label=f"bulk radius g = {G}")
    for c in range(pred_abs.shape[1]):
        ax.plot(ratios, pred_abs[:, c], "s-", ms=3, label=f"low-rank prediction |λ{c + 1}| of β wᵀU")
    ax.set_xlabel("β/α")
    ax.set_ylabel("|eigenvalue|")
    ax.legend(fontsize=7)
    ax = axes[1]
    for i, (size, face) in zip((0, len(ratios) - 1), ((40, "none"), (8, None))):
        # the same networks at both ends: hollow circles for the first, so neither hides the other
        ax.scatter(out[i, :, :].real.ravel(), out[i, :, :].imag.ravel(), s=size, facecolors=face,
                   edgecolors=f"C{2 * (i > 0)}", label=f"largest 4, β/α = {ratios[i]:.3g}")
        ax.scatter(pred[i].real.ravel(), pred[i].imag.ravel(), marker="x", s=25, color=f"C{1 + 2 * (i > 0)}",
                   label=f"β wᵀU, β/α = {ratios[i]:.3g}")
    t = np.linspace(0, 2 * np.pi, 200)
    ax.plot(G * np.cos(t), G * np.sin(t), "k--", lw=0.8)
    ax.set_aspect("equal")
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")
    ax.legend(fontsize=6)
    report.section("Spectrum of the closed loop: a low-rank view (beyond the paper)")
    report.figure(fig, "spectrum_vs_ratio.png",
                  "The closed-loop connectivity J + β U wᵀ is a random bulk (radius g) plus a rank-2 loop. Left: the "
                  "spectral radius of J + β U wᵀ and the moduli of the eigenvalues of the 2×2 overlap matrix β wᵀU, "
                  "the outliers low-rank theory predicts for loop vectors independent of the bulk (Mastrogiuseppe & "
                  "Ostojic 2018; `lowrank_rnn.spectrum`). Right: the 4 largest eigenvalues and the predictions at the "
                  "two ends of the sweep (all networks).")
    edge = bool(np.nanmax(radius) < 1.05 * G)   # finite-N bulk edges fluctuate by a few percent
    results["spectrum"]["radius_is_bulk_edge"] = edge
    report.text(
        f"The predicted loop eigenvalues grow with β/α (mean |λ1| {pred_abs[0, 0]:.2f} at β/α = {ratios[0]:.3g}, "
        f"{pred_abs[-1, 0]:.2f} at {ratios[-1]:.3g}) and stay "
        f"{'inside' if np.nanmax(pred_abs) < G else 'partly outside'} the bulk of radius g = {G}. The measured "
        f"spectral radius ({radius[0]:.2f} at β/α = {ratios[0]:.3g}, {radius[-1]:.2f} at {ratios[-1]:.3g}) "
        + ("is the bulk's edge (within 5 % of g): the loop adds no eigenvalue outside the bulk, so the closed loop "
           "stays chaotic and the loop acts by shaping the bulk's response rather than through an isolated "
           "low-rank mode. " if edge else "exceeds the bulk's edge: the loop adds an outlier. ")
        + "The readout w is fitted on the network's own activity, so it is correlated with J and the "
        "independent-vector prediction is only a guide here.")
