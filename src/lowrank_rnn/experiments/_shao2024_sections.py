"""Sections of the Shao et al. 2025 reproduction: each sets the predictions of
:mod:`lowrank_rnn.motifs` beside eigenvalues and responses of sampled networks, adds a figure and a
table to the report and its key numbers to ``results``.
"""

from __future__ import annotations

import dataclasses
import zlib

import jax
import numpy as np
from scipy import stats

from .. import motifs as mo
from .._simulate import simulate

NE, NI, JE, JI = 800, 200, 0.65, 1.65  # Shao et al. Figs 2, 5-7 (lambda0 = -1)


@dataclasses.dataclass(frozen=True)
class Config:
    """Sizes of the reproduction (default: the paper's N; quick: small N with N g^2 kept fixed, so
    every predicted outlier and response is the same as in the default run)."""

    quick: bool
    N: int = 1000  # E-I Gaussian sections (N_E : N_I = 4 : 1)
    trials: int = 8  # realisations per point (trimmed mean drops the largest and smallest 1/8)
    tau_eig: tuple[float, ...] = tuple(np.round(np.linspace(0, 0.1, 11), 3))
    stab_g: tuple[float, ...] = (0.1, 0.15, 0.2, 0.3)
    stab_factors: tuple[float, ...] = (0.7, 0.9, 1.1, 1.3)
    stab_trials: int = 2
    scaling_N: tuple[int, ...] = (1000, 1500, 2000)
    scaling_K: int = 300
    scaling_trials: int = 2
    tau_resp: tuple[float, ...] = tuple(np.round(np.linspace(0, 0.1, 11), 3))
    map_N: int = 1500
    map_theory: int = 41
    map_numeric: int = 5
    map_trials: int = 2
    dyn_T: float = 40.0
    dt: float = 0.1

    @classmethod
    def make(cls, quick: bool) -> Config:
        if not quick:
            return cls(quick=False)
        return cls(quick=True, N=400, trials=3, tau_eig=(0.0, 0.02, 0.04, 0.06, 0.08, 0.1), stab_g=(0.1, 0.2),
                   stab_factors=(0.8, 1.2), stab_trials=1, scaling_N=(500, 800), scaling_K=150,
                   scaling_trials=1, tau_resp=(0.0, 0.02, 0.04, 0.06, 0.08, 0.1), map_N=500, map_theory=25,
                   map_numeric=3, map_trials=1, dyn_T=30.0)

    @property
    def sizes(self) -> tuple[int, int]:
        return (4 * self.N // 5, self.N - 4 * self.N // 5)

    def g(self, g_paper: float) -> float:
        """The weight s.d. that keeps ``N g^2`` at its value for the paper's N = 1000."""
        return g_paper * np.sqrt(1000.0 / self.N)


def key(section: str, *ints: int) -> jax.Array:
    """A deterministic key per (section, indices)."""
    k = jax.random.key(zlib.crc32(section.encode()) & 0x7FFFFFFF)
    for i in ints:
        k = jax.random.fold_in(k, int(i))
    return k


TRIM = 0.125


def trimmed(x, axis=0):
    """Trimmed mean over realisations (Shao et al. drop 3 of 36 at each end; here 1/8 at each end)."""
    return stats.trim_mean(np.asarray(x), TRIM, axis=axis)


def _ei(cfg: Config, g_paper: float, chain) -> mo.MotifEnsemble:
    ne, ni = cfg.sizes
    return mo.MotifEnsemble.ei(ne, ni, JE, JI, g=cfg.g(g_paper), chain=chain)


def _ellipse(ax, bulk, **kw):
    th = np.linspace(0, 2 * np.pi, 300)
    ax.plot(float(bulk.real) * np.cos(th), float(bulk.imag) * np.sin(th), **kw)


# ----------------------------------------------------------------------------- 1. eigenvalues
def section_eigenvalues(cfg: Config, report, results) -> None:
    import matplotlib.pyplot as plt

    taus = np.array(cfg.tau_eig)
    grid = _ei(cfg, 0.2, taus)
    pred = mo.outliers(grid)
    top, bottom, edge = [], [], []
    example_tau = 0.05 if 0.05 in taus else taus[len(taus) // 2]
    example = None
    for k, tau in enumerate(taus):
        t_k, b_k, e_k = [], [], []
        for t in range(cfg.trials):
            ev = np.linalg.eigvals(grid[k].sample(key=key("eig", k, t)))
            re = np.sort(ev.real)
            t_k.append(re[-1])
            b_k.append(re[0])
            # bulk: the largest real part once the eigenvalue nearest each visible predicted outlier is removed
            outl = pred.values[k][pred.visible[k]]
            rest = ev
            for z in outl:
                rest = np.delete(rest, np.argmin(np.abs(rest - z)))
            e_k.append(rest.real.max())
            if tau == example_tau and t == 0:
                example = ev
        top.append(t_k)
        bottom.append(b_k)
        edge.append(e_k)
    top, bottom, edge = (np.array(x) for x in (top, bottom, edge))

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.4))
    ke = int(np.flatnonzero(taus == example_tau)[0])
    a1.scatter(example.real, example.imag, s=4, color="0.5", lw=0, label="eigenvalues (one network)")
    _ellipse(a1, mo.BulkEdge(real=pred.bulk.real[ke], imag=pred.bulk.imag[ke], radius=pred.bulk.radius[ke]),
             color="C0", lw=1.5, label="predicted bulk edge")
    vis = pred.values[ke][pred.visible[ke]]
    a1.scatter(vis.real, vis.imag, marker="x", s=80, color="C3", lw=2, label="predicted outliers", zorder=3)
    a1.scatter([JE - JI], [0], marker="+", s=80, color="k", label="λ0 = J_E − J_I (no motifs)", zorder=3)
    a1.axvline(1, color="k", ls=":", lw=0.8)
    a1.set_xlabel("Re λ")
    a1.set_ylabel("Im λ")
    a1.set_title(f"τ_chn = {example_tau:g}")
    a1.set_aspect("equal", adjustable="datalim")
    a1.legend(fontsize=7, loc="upper left")
    fine = np.linspace(taus.min(), taus.max(), 200)
    pf = mo.outliers(_ei(cfg, 0.2, fine))
    lp, lm = pf.values[:, 0].real, pf.values[:, -1].real
    a2.plot(fine, np.where(pf.visible[:, 0], lp, np.nan), color="C3", label="λ+ predicted")
    a2.plot(fine, np.where(pf.visible[:, 0], np.nan, lp), color="C3", ls=":", lw=1, label="λ+ (inside the bulk)")
    a2.plot(fine, lm, color="C2", label="λ− predicted")
    a2.plot(fine, pf.bulk.real, color="C0", label="bulk edge predicted")
    for arr, col, lab in ((top, "C3", "max Re λ"), (bottom, "C2", "min Re λ"), (edge, "C0", "bulk max Re λ")):
        a2.errorbar(taus, trimmed(arr, 1), yerr=arr.std(1), fmt="o", color=col, ms=4, capsize=2,
                    label=f"{lab} (trimmed mean ± s.d.)")
    a2.axhline(1, color="k", ls=":", lw=0.8)
    a2.set_xlabel("chain motif strength τ_chn")
    a2.set_ylabel("eigenvalue (real part)")
    a2.legend(fontsize=7, ncol=2)
    ne, ni = cfg.sizes
    report.section("Eigenvalues against chain strength",
                   "Homogeneous Gaussian construction of Shao et al.: z_ij = g/√N [√τ(η_i + η_j) + √(1−2τ) x_ij] "
                   "(chain = convergent = divergent = τ, reciprocal = 2τ), mean J0 of rank one with λ0 = J_E − J_I. "
                   "Chain motifs split λ0 into λ± = λ0/2 ± √(λ0²/4 + S), S = N g² τ: a positive outlier appears "
                   "in an inhibition-dominated network.")
    report.figure(fig, "eigenvalues_vs_chain.png",
                  f"Left: spectrum of one sampled network at τ = {example_tau:g} with the predicted bulk edge and "
                  f"outliers. Right: predicted λ±, bulk edge g√(1−2τ) against τ, and numerical extremes "
                  f"(trimmed means over {cfg.trials} networks). N_E = {ne}, N_I = {ni}, J_E = {JE}, J_I = {JI}, "
                  f"g = {cfg.g(0.2):.4g} (N g² = 40, as g = 0.2 at N = 1000).")
    rows = []
    for k, tau in enumerate(taus):
        rows.append([tau, pred.values[k, 0].real if pred.visible[k, 0] else None, trimmed(top[k]),
                     pred.values[k, -1].real, trimmed(bottom[k]), float(np.asarray(pred.bulk.real)[k]),
                     trimmed(edge[k])])
    report.table(["τ", "λ+ theory", "max Re λ (num.)", "λ− theory", "min Re λ (num.)", "bulk edge theory",
                  "bulk max Re (num.)"], rows, caption="Outliers and bulk edge: theory against trimmed means "
                                                       "(λ+ is blank where it lies inside the bulk).")
    vis_mask = pred.visible[:, 0]
    results["eigenvalues"] = {
        "tau": taus, "g": cfg.g(0.2), "N": cfg.N, "lambda_plus": pred.values[:, 0].real,
        "lambda_minus": pred.values[:, -1].real, "bulk_edge": np.asarray(pred.bulk.real),
        "num_max_re": trimmed(top, 1), "num_min_re": trimmed(bottom, 1), "num_bulk_max_re": trimmed(edge, 1),
        "max_abs_err_lambda_plus": float(np.max(np.abs(trimmed(top, 1) - pred.values[:, 0].real)[vis_mask]))
        if vis_mask.any() else None,
        "max_abs_err_lambda_minus": float(np.max(np.abs(trimmed(bottom, 1) - pred.values[:, -1].real))),
    }


# ----------------------------------------------------------------------------- 2. stability boundary
def _top_eigenvalue(J: np.ndarray) -> float:
    import scipy.sparse.linalg as sla

    vals = sla.eigs(J, k=2, which="LR", return_eigenvectors=False, v0=np.ones(J.shape[0]), tol=1e-8)
    return float(vals.real.max())


def section_stability(cfg: Config, report, results) -> None:
    import matplotlib.pyplot as plt

    lam0 = JE - JI
    gs = np.array(cfg.stab_g)
    rows, cross = [], []
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for ig, gp in enumerate(gs):
        g = cfg.g(gp)
        tau_c = float(mo.critical_chain_strength(cfg.N, g, lam0))
        taus = tau_c * np.array(cfg.stab_factors)
        feasible = taus <= 0.5
        taus = taus[feasible]
        grid = _ei(cfg, gp, taus)
        pred = mo.outliers(grid).values[:, 0].real
        num = np.array([[_top_eigenvalue(grid[k].sample(key=key("stab", ig, k, t))) for t in range(cfg.stab_trials)]
                        for k in range(len(taus))])
        m = num.mean(1)
        # numerical crossing of max Re lambda = 1: linear interpolation between the bracketing taus
        tau_num = np.nan
        for k in range(len(taus) - 1):
            if (m[k] - 1) * (m[k + 1] - 1) <= 0:
                tau_num = taus[k] + (1 - m[k]) * (taus[k + 1] - taus[k]) / (m[k + 1] - m[k])
        cross.append(tau_num)
        rows.append([gp, g, tau_c, tau_num, ", ".join(f"{x:.3f}" for x in m)])
        a2.errorbar(taus / tau_c, m, yerr=num.std(1) if cfg.stab_trials > 1 else None, fmt="o", color=f"C{ig}",
                    ms=4, capsize=2, label=f"numerical, g = {gp:g} (at N = 1000)")
    # lambda_+ depends on tau / tau_c only: S = N g^2 tau = (1 - lambda0) tau / tau_c
    xs = np.linspace(min(cfg.stab_factors), max(cfg.stab_factors), 100)
    a2.plot(xs, mo.homogeneous_outliers(lam0, (1 - lam0) * xs)[0].real, color="k", lw=1.2,
            label="λ+ predicted (a function of τ/τ_c only)")
    gg = np.linspace(gs.min() * 0.8, gs.max() * 1.1, 200)
    a1.plot(gg, mo.critical_chain_strength(cfg.N, cfg.g(1.0) * gg, lam0), color="k",
            label="τ_c = (1 − λ0)/(N g²) (λ+ = 1)")
    a1.fill_between(gg, mo.critical_chain_strength(cfg.N, cfg.g(1.0) * gg, lam0), 1.0, color="C3", alpha=0.12,
                    label="unstable (λ+ > 1)")
    a1.scatter(gs, cross, color="C1", zorder=3, label="numerical crossing of max Re λ = 1")
    a1.set_yscale("log")
    a1.set_ylim(min(cross + [1e-3]) * 0.5 if np.all(np.isfinite(cross)) else 1e-3, 1.0)
    a1.set_xlabel("g (weight s.d. × √N, scaled to N = 1000)")
    a1.set_ylabel("chain strength τ")
    a1.legend(fontsize=7)
    a2.axhline(1, color="k", ls=":", lw=0.8)
    a2.axvline(1, color="k", ls=":", lw=0.8)
    a2.set_xlabel("τ / τ_c")
    a2.set_ylabel("largest real part")
    a2.legend(fontsize=7)
    report.section("Stability boundary",
                   "With chain motifs the binding constraint on stability is the chain-induced outlier: λ+ < 1, "
                   "i.e. S = N g² τ < 1 − λ0, whatever the bulk. The predicted critical chain strength "
                   "τ_c = (1 − λ0)/(N g²) falls with N g².")
    report.figure(fig, "stability_boundary.png",
                  f"Left: predicted stability boundary in the (g, τ) plane for λ0 = {lam0:g}, N = {cfg.N}, and the "
                  f"chain strength where the numerical largest real part (ARPACK, {cfg.stab_trials} network(s) per "
                  "point) crosses 1. Right: largest real part against τ/τ_c, predicted λ+ (lines) and numerics.")
    report.table(["g (at N = 1000)", "g used", "τ_c theory", "τ at max Re λ = 1 (num.)", "max Re λ at the τ's"],
                 rows, caption=f"Stability boundary; τ = τ_c × {list(cfg.stab_factors)}.")
    results["stability"] = {"g_paper": gs, "tau_c": [r[2] for r in rows], "tau_cross_numerical": cross}


# ----------------------------------------------------------------------------- 3. N-scaling
def section_scaling(cfg: Config, report, results) -> None:
    import matplotlib.pyplot as plt

    # Shao et al. Fig. 4: sparse E-I networks (SONETs, alpha_recip = 2 alpha), inh_ratio 6.8, J = 0.5/sqrt(1500)
    J, ratio, alpha = 0.5 / np.sqrt(1500), 6.8, 0.6
    Ns = np.array(cfg.scaling_N)
    regimes = {"fixed connection probability c = 0.2": lambda N: 0.2,
               f"fixed in-degree K = {cfg.scaling_K}": lambda N: cfg.scaling_K / N}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    out = {}
    rows = []
    for (name, c_of), ax, ir in zip(regimes.items(), axes, range(2)):
        lp_t, lm_t = [], []
        num = {"sonet": ([], []), "gauss": ([], [])}
        for iN, N in enumerate(Ns):
            c = c_of(N)
            tau = float(mo.tau_from_alpha(alpha, c))
            ne = 4 * N // 5
            ens = mo.MotifEnsemble.from_sparse(ne, N - ne, c=c, J=J, inh_ratio=ratio, chain=tau)
            vals = mo.outliers(ens).values
            lp_t.append(vals[0].real)
            lm_t.append(vals[-1].real)
            for kind, trials in (("sonet", cfg.scaling_trials + 1), ("gauss", cfg.scaling_trials)):
                ext = []
                for t in range(trials):
                    if kind == "sonet":
                        W = mo.sonet_ei(ne, N - ne, c, J, ratio, alpha_recip=2 * alpha, alpha_conv=alpha,
                                        alpha_div=alpha, alpha_chain=alpha, key=key("scaling", ir, iN, t))
                    else:
                        W = ens.sample(key=key("scaling-gauss", ir, iN, t))
                    re = np.linalg.eigvals(W).real
                    ext.append((re.max(), re.min()))
                ext = np.array(ext)
                num[kind][0].append(ext[:, 0])
                num[kind][1].append(ext[:, 1])
            rows.append([name, int(N), c, tau, vals[0].real, np.mean(num["gauss"][0][-1]), np.mean(num["sonet"][0][-1]),
                         vals[-1].real, np.mean(num["gauss"][1][-1]), np.mean(num["sonet"][1][-1])])
        ax.plot(Ns, lp_t, "-", color="C3", label="λ+ theory")
        ax.plot(Ns, lm_t, "-", color="C2", label="λ− theory")
        for kind, mk, lab in (("gauss", "s", "Gaussian approximation"), ("sonet", "o", "SONET networks")):
            for arr, col in ((num[kind][0], "C3"), (num[kind][1], "C2")):
                m = [np.mean(a) for a in arr]
                sd = [np.std(a) for a in arr]
                ax.errorbar(Ns * (1.0 if kind == "gauss" else 1.02), m, yerr=sd, fmt=mk, color=col, ms=4,
                            capsize=2, mfc="none" if kind == "sonet" else col,
                            label=f"extreme Re λ, {lab}" if col == "C3" else None)
        ax.axhline(1, color="k", ls=":", lw=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("N")
        out[name] = {"N": Ns, "lambda_plus": lp_t, "lambda_minus": lm_t,
                     "sonet_max_re": [np.mean(a) for a in num["sonet"][0]],
                     "sonet_min_re": [np.mean(a) for a in num["sonet"][1]],
                     "gauss_max_re": [np.mean(a) for a in num["gauss"][0]],
                     "gauss_min_re": [np.mean(a) for a in num["gauss"][1]]}
    axes[0].set_ylabel("outlier (real part)")
    axes[0].legend(fontsize=7)
    report.section("Scaling with network size",
                   "Sparse E–I networks built on binary second-order networks (SONETs, re-implemented from Zhao "
                   "et al. 2011; α_recip = 2α, α_conv = α_div = α_chain = α = 0.6, then E/I signs), and their "
                   "Gaussian approximation (`MotifEnsemble.from_sparse`, standardised latents), against the theory. "
                   "At fixed connection probability S ∝ N τ and the outliers grow linearly in N; at fixed in-degree "
                   "τ = cα/(1 − c) ∝ 1/N and they do not change with N. The SONET realisations scatter widely: their "
                   "convergent and divergent motifs make in- and out-degrees heterogeneous, which adds a "
                   "realisation-dependent rank-one term to the mean connectivity (the Gaussian sampler removes it "
                   "by standardising the latent vectors, as Shao et al. do); the theory predicts the ensemble mean.")
    report.figure(fig, "n_scaling.png",
                  f"Outliers against N. J = 0.5/√1500, I/E weight ratio {ratio}, N_E : N_I = 4 : 1; mean ± s.d. over "
                  f"{cfg.scaling_trials + 1} SONET networks (open circles) and {cfg.scaling_trials} Gaussian "
                  "approximations (squares) per point.")
    report.table(["regime", "N", "c", "τ (adjacency)", "λ+ theory", "max Re λ Gauss.", "max Re λ SONET",
                  "λ− theory", "min Re λ Gauss.", "min Re λ SONET"], rows,
                 caption="Outliers of sparse E–I networks against N (means over realisations).")
    results["scaling"] = out


# ----------------------------------------------------------------------------- 4. responses
def _responses(ens, trials: int, section: str, idx: int) -> np.ndarray:
    pop = ens.population
    H = np.stack([pop == 0, pop == 1], 1).astype(float)
    out = []
    for t in range(trials):
        r = np.linalg.solve(np.eye(ens.N) - ens.sample(key=key(section, idx, t)), H)
        out.append([[r[pop == p, q].mean() for q in range(2)] for p in range(2)])
    return np.array(out)


def section_responses(cfg: Config, report, results) -> None:
    import matplotlib.pyplot as plt

    taus = np.array(cfg.tau_resp)
    grid = _ei(cfg, 0.1, taus)
    chi = mo.population_response(grid)
    num = np.array([_responses(grid[k], cfg.trials, "resp", k) for k in range(len(taus))])  # (tau, trial, p, q)
    ne, _ = cfg.sizes
    tau_star = float(mo.paradoxical_chain_strength(ne, cfg.g(0.1), JE))
    fine = np.linspace(taus.min(), taus.max(), 200)
    chi_f = mo.population_response(_ei(cfg, 0.1, fine))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for q, ax in enumerate(axes):
        for p, col in ((0, "C3"), (1, "C0")):
            ax.plot(fine, chi_f[:, p, q], color=col, label=f"{'EI'[p]} response, theory (I − W_eff)⁻¹")
            ax.errorbar(taus, trimmed(num[:, :, p, q], 1), yerr=num[:, :, p, q].std(1), fmt="o", color=col, ms=4,
                        capsize=2, label=f"{'EI'[p]} response, sampled networks")
        ax.axhline(0, color="k", lw=0.6)
        ax.axvline(tau_star, color="k", ls="--", lw=0.8)
        if q == 1:
            ax.axvspan(tau_star, taus.max(), color="C1", alpha=0.12, label="paradoxical: W_eff,EE > 1")
        ax.set_title(f"input into {'EI'[q]}")
        ax.set_xlabel("chain motif strength τ")
    axes[0].set_ylabel("population-mean response per unit input")
    axes[1].legend(fontsize=7)
    report.section("Responses to input into E and into I",
                   "Population-averaged linear responses χ_pq (mean activity of p per unit input into every neuron "
                   "of q) from the effective connectivity W_eff = W0 + Z̃, against dense solves (I − J)⁻¹h of sampled "
                   "networks. The inhibitory response to input into I turns negative (paradoxical) exactly where "
                   "W_eff,EE = J_E + N_E g² τ > 1, although the mean connectivity alone is not inhibition-stabilised "
                   f"(J_E = {JE} < 1).")
    report.figure(fig, "responses_vs_chain.png",
                  f"Responses against τ; g = {cfg.g(0.1):.4g} (N g² = 10, as g = 0.1 at N = 1000), N = {cfg.N}, "
                  f"{cfg.trials} networks per point (trimmed mean ± s.d.). Dashed: τ* = (1 − J_E)/(N_E g²) = "
                  f"{tau_star:.5g}.")
    rows = [[tau, chi[k, 1, 1], trimmed(num[k, :, 1, 1]), chi[k, 0, 1], trimmed(num[k, :, 0, 1]),
             chi[k, 0, 0], trimmed(num[k, :, 0, 0])] for k, tau in enumerate(taus)]
    report.table(["τ", "χ_II theory", "χ_II num.", "χ_EI theory", "χ_EI num.", "χ_EE theory", "χ_EE num."], rows,
                 caption="Responses: theory against trimmed means of dense solves.")
    signs_agree = np.sign(trimmed(num[:, :, 1, 1], 1)) == np.sign(chi[:, 1, 1])
    results["responses"] = {"tau": taus, "tau_star": tau_star, "chi_theory": chi,
                            "chi_numerical": trimmed(num, 1),
                            "max_abs_err": float(np.max(np.abs(trimmed(num, 1) - chi))),
                            "chi_II_signs_agree": int(signs_agree.sum()), "points": len(taus)}


# ----------------------------------------------------------------------------- 5. 2-D paradoxical map
def section_map(cfg: Config, report, results) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    # Shao et al. Fig. 11: Gaussian approximation of a sparse E-I network, c = 0.2, I/E ratio 6,
    # J = 0.00325 at N = 1500 (J_E = 0.78, J_I = 1.17); J scales as 1/N so that J_E, J_I and N J^2 stay fixed.
    N = cfg.map_N
    ne = 4 * N // 5
    c, ratio, J = 0.2, 6.0, 0.00325 * 1500 / N
    t_ee = np.linspace(0.0, 0.15, cfg.map_theory)
    t_ei = np.linspace(-0.15, 0.15, cfg.map_theory)
    grid = mo.MotifEnsemble.from_sparse(ne, N - ne, c=c, J=J, inh_ratio=ratio,
                                        chain={"EE": t_ee[:, None], "EI": t_ei[None, :]})
    chi_ii = mo.population_response(grid)[..., 1, 1]
    stable = mo.is_stable(grid)
    aE, aI = ne / N, (N - ne) / N
    rhs = (1 - J * c * ne) / (ne * N * J**2 * c * (1 - c))
    fig, ax = plt.subplots(figsize=(6.4, 5))
    lim = np.nanmax(np.abs(np.where(stable, chi_ii, np.nan)))
    im = ax.pcolormesh(t_ei, t_ee, np.where(stable, chi_ii, np.nan), cmap="RdBu_r",
                       norm=TwoSlopeNorm(0.0, -lim, lim), shading="auto")
    fig.colorbar(im, ax=ax, label="χ_II theory (I response to input into I)")
    ax.contour(t_ei, t_ee, chi_ii, levels=[0.0], colors="k", linewidths=1.5)
    line_ei = (aE * t_ee - rhs) / (ratio * aI)
    ax.plot(line_ei, t_ee, "--", color="C1", lw=2, label=f"α_E τ_EE − g α_I τ_EI = {rhs:.4f}")
    # numerics on a coarse grid
    ne_pts = np.linspace(0.0, 0.15, cfg.map_numeric)
    ni_pts = np.linspace(-0.15, 0.15, cfg.map_numeric)
    agree, total, rows = 0, 0, []
    for i, a in enumerate(ne_pts):
        for j, b in enumerate(ni_pts):
            ens = mo.MotifEnsemble.from_sparse(ne, N - ne, c=c, J=J, inh_ratio=ratio, chain={"EE": a, "EI": b})
            if not bool(mo.is_stable(ens)):
                continue
            num = trimmed(_responses(ens, cfg.map_trials, "map", i * 100 + j)[:, 1, 1])
            th = float(mo.population_response(ens)[1, 1])
            agree += int(np.sign(num) == np.sign(th))
            total += 1
            rows.append([a, b, th, num])
            ax.scatter([b], [a], s=60, marker="o", facecolors="k" if num < 0 else "w", edgecolors="k", zorder=3)
    ax.scatter([], [], s=60, facecolors="k", edgecolors="k", label="sampled: χ_II < 0")
    ax.scatter([], [], s=60, facecolors="w", edgecolors="k", label="sampled: χ_II > 0")
    ax.set_xlim(t_ei.min() - 0.01, t_ei.max() + 0.01)
    ax.set_ylim(t_ee.min() - 0.005, t_ee.max() + 0.005)
    ax.set_xlabel("τ_EI (chain E → I → any, adjacency level)")
    ax.set_ylabel("τ_EE (chain E → E → any)")
    ax.legend(fontsize=7, loc="lower left")
    report.section("Paradoxical responses over cell-type-specific chains",
                   "Cell-type-specific chain statistics τ_XY (X → Y → any) in the Gaussian approximation of a sparse "
                   "E–I network whose mean connectivity is not inhibition-stabilised (J_E = 0.78). Only chains that "
                   "start at an E neuron enter W_eff,EE, so the paradoxical boundary W_eff,EE = 1 is the line "
                   "α_E τ_EE − g α_I τ_EI = (1 − J_E)/(N_E N J² c(1 − c)): E→E chains and negative E→I chains "
                   "both make the I response paradoxical.")
    report.figure(fig, "paradoxical_map.png",
                  f"Predicted χ_II over (τ_EI, τ_EE) with τ_IE = τ_II = 0 (colour; blank where unstable), its zero "
                  f"contour (black), the analytic boundary (orange), and the sign of χ_II from dense solves of "
                  f"{cfg.map_trials} sampled network(s) per point (N = {N}, c = {c}, I/E ratio {ratio}, J = {J:.5g}).")
    report.table(["τ_EE", "τ_EI", "χ_II theory", "χ_II num."], rows,
                 caption=f"Sampled points: the sign of χ_II agrees with the theory at {agree} of {total}.")
    results["paradoxical_map"] = {"boundary_rhs": rhs, "sign_agreement": agree, "points": total,
                                  "theory_grid": {"tau_EE": t_ee, "tau_EI": t_ei, "chi_II": chi_ii}}


# ----------------------------------------------------------------------------- 6. low-rank dynamics
def _pop_means(x: np.ndarray, pop: np.ndarray) -> np.ndarray:
    return np.stack([x[..., pop == p].mean(-1) for p in range(2)], -1)


def section_low_rank(cfg: Config, report, results) -> None:
    import matplotlib.pyplot as plt

    ens = _ei(cfg, 0.1, 0.06)  # Fig. 5-7 setting, paradoxical (tau > tau* = 0.044) and stable
    pop = ens.population
    chi = mo.population_response(ens)
    dense = ens.sample_network(key=key("lowrank", 0))
    J = np.asarray(dense.connectivity(), float)
    inst = mo.low_rank_network(J, rank=2, population=pop)
    lre = mo.low_rank_ensemble(ens)
    drawn = lre.sample(ens.N, key=key("lowrank", 1))
    nets = {"dense E–I network": dense, "rank 2 from its outlier eigenvectors": inst,
            "rank 2 drawn from low_rank_ensemble": drawn}
    T, dt = cfg.dyn_T, cfg.dt
    n = int(round(T / dt))
    t_on = n // 4
    # linear dynamics: step input of 0.1 into I
    u = np.zeros((n, 2))
    u[t_on:, 1] = 0.1
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    lin = {}
    styles = {"dense E–I network": "-", "rank 2 from its outlier eigenvectors": "--",
              "rank 2 drawn from low_rank_ensemble": ":"}
    for name, net in nets.items():
        net_l = type(net)(net.m, net.n, net.inputs, net.readouts, net.bulk, g=net.g, population=net.population,
                          nonlinearity="linear")
        tr = simulate(net_l, T=T, dt=dt, inputs=u, record=("x",))
        pm = _pop_means(tr.x, pop)
        lin[name] = pm[-1]
        for p, col in ((0, "C3"), (1, "C0")):
            a1.plot(tr.t, pm[:, p], styles[name], color=col, lw=1.5,
                    label=f"{name}" if p == 1 else None)
    for p, col in ((0, "C3"), (1, "C0")):
        a1.axhline(0.1 * chi[p, 1], color=col, lw=0.8, alpha=0.6)
    a1.text(0.02, 0.95, "red: E mean, blue: I mean; thin lines: 0.1 χ_:I", transform=a1.transAxes, fontsize=7,
            va="top")
    a1.set_xlabel("time (τ)")
    a1.set_ylabel("population mean of x (linear)")
    a1.legend(fontsize=7, loc="lower left")
    # tanh dynamics: steady-state response per unit input against amplitude
    amps = np.array([0.05, 0.2, 0.5, 1.0, 2.0])
    U = np.zeros((len(amps), n, 2))
    U[:, t_on:, 1] = amps[:, None]
    gain = {}
    for name, net in nets.items():
        net_t = type(net)(net.m, net.n, net.inputs, net.readouts, net.bulk, g=net.g, population=net.population,
                          nonlinearity="tanh")
        tr = simulate(net_t, T=T, dt=dt, inputs=U, record=("x",), record_every=n)
        pm = _pop_means(tr.x[:, -1], pop)  # (amps, 2)
        gain[name] = pm / amps[:, None]
        for p, col in ((0, "C3"), (1, "C0")):
            a2.plot(amps, gain[name][:, p], styles[name], marker="o", ms=3, color=col,
                    label=name if p == 1 else None)
    for p, col in ((0, "C3"), (1, "C0")):
        a2.axhline(chi[p, 1], color=col, lw=0.8, alpha=0.6)
    a2.axhline(0, color="k", lw=0.5)
    a2.set_xscale("log")
    a2.set_xlabel("input amplitude into I")
    a2.set_ylabel("steady-state mean x per unit input (tanh)")
    a2.legend(fontsize=7)
    pred = mo.outliers(ens).visible_values()
    report.section("Low-rank approximation and nonlinear dynamics",
                   "The outliers of an E–I network with chain motifs come from a finite-rank part; keeping its outlier "
                   "modes gives a rank-2 `Network` (m: right eigenvectors, n: N × dual left eigenvectors), either "
                   "from a sampled matrix (`motifs.low_rank_network`) or from the description alone "
                   "(`motifs.low_rank_ensemble`, an `Ensemble` whose overlap matrix has eigenvalues "
                   f"{', '.join(f'{z.real:.3f}' for z in pred)}). `lowrank_rnn.simulate` integrates them at O(N R) "
                   "per step, with φ = tanh as readily as linear.")
    report.figure(fig, "low_rank_dynamics.png",
                  f"Left: linear dynamics after a step input of 0.1 into every I neuron (t = {t_on * dt:g}): the "
                  "dense network and both rank-2 approximations settle on the predicted population responses "
                  "(thin lines); the I mean falls (paradoxical response). Right: with φ = tanh, the steady-state "
                  "response per unit input approaches the linear prediction for small inputs and departs from it "
                  f"as the units saturate. N = {cfg.N}, g = {cfg.g(0.1):.4g}, τ = 0.06.")
    rows = [[name, *lin[name], *gain[name][0]] for name in nets]
    rows.append(["theory (I − W_eff)⁻¹", 0.1 * chi[0, 1], 0.1 * chi[1, 1], chi[0, 1], chi[1, 1]])
    report.table(["network", "linear: E mean", "linear: I mean", "tanh gain E (input 0.05)",
                  "tanh gain I (input 0.05)"], rows, caption="Steady states after the step into I.")
    results["low_rank"] = {"chi_I_theory": chi[:, 1], "linear_final": lin, "tanh_gain": gain, "amplitudes": amps,
                           "overlap_eigenvalues": np.linalg.eigvals(np.asarray(lre.overlap)).real}
