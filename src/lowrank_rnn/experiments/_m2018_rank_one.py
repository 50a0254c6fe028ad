"""Rank-one sections of the Mastrogiuseppe & Ostojic 2018 reproduction: spontaneous activity (phase
diagram, kappa and Delta_0 against g), spectra, and input-driven activity (Figs. 1-2)."""

from __future__ import annotations

import numpy as np

from .. import spectrum
from .._ensemble import Ensemble
from ._m2018_common import (Config, key_for, missing_theory, panel_label, paper_style, simulate_summary,
                            theory_fn)
from ._report import Report

#: Fig. 1 family: M_m = 1.1, Sigma_m = Sigma_n = 1, overlap M_m M_n (the rank-one ensemble of the paper)
MEAN_M = 1.1
MEAN_N = 2.0
#: landmarks of the authors' code constants for overlap 2.2 (lowrank_theory.md §3)
G_C_PUBLISHED = 1.796
G_B_PUBLISHED = 2.136


def spontaneous_ensemble(g: float, overlap: float = MEAN_M * MEAN_N) -> Ensemble:
    """Return the Fig. 1 ensemble: M_m = 1.1, M_n = overlap / 1.1, unit standard deviations, no input."""
    return Ensemble.rank_one(mean_m=MEAN_M, mean_n=overlap / MEAN_M, std_m=1.0, std_n=1.0, g=g)


def _pm_m(net) -> np.ndarray:
    m = np.asarray(net.m[:, 0])
    return np.stack([m, -m])


# ----------------------------------------------------------------------------------- theory helpers

def theory_branches(ens: Ensemble, inputs=None) -> dict[str, list]:
    """Return the mean-field states of ``ens``: {'stationary': [...], 'chaotic': [...]}, from
    :func:`lowrank_rnn.theory.stationary_states` and :func:`~lowrank_rnn.theory.chaotic_states`."""
    out = {"stationary": [], "chaotic": []}
    st, ch = theory_fn("stationary_states"), theory_fn("chaotic_states")
    if st is not None:
        out["stationary"] = list(st(ens, inputs=inputs))
    if ch is not None:
        out["chaotic"] = list(ch(ens, inputs=inputs))
    return out


def _kappa(state) -> float:
    return float(np.ravel(np.asarray(state.kappa))[0])


def _pick(states, kappa_sim: float, stable_only: bool = True):
    """Return the state nearest in kappa to a simulated value (stable ones first), or None."""
    cand = [s for s in states if (not stable_only or getattr(s, "stable", True))] or list(states)
    if not cand:
        return None
    return min(cand, key=lambda s: abs(_kappa(s) - kappa_sim))


# ------------------------------------------------------------------------ kappa, Delta_0 against g

def section_sweep(cfg: Config, report: Report, results: dict) -> None:
    """kappa and Delta_0 against g for overlap 2.2: theory branches against sampled networks."""
    import matplotlib.pyplot as plt

    gs = np.asarray(cfg.g_grid, float)
    S = cfg.seeds_sweep
    kap = np.full((len(gs), S, 2), np.nan)
    d0 = np.full_like(kap, np.nan)
    dT = np.full_like(kap, np.nan)
    for i, g in enumerate(gs):
        ens = spontaneous_ensemble(g)
        for s in range(S):
            net = ens.sample(cfg.N_sweep, key=key_for("sweep", 1000 * i + s))
            summ = simulate_summary(net, T=cfg.T_sweep, T_avg=cfg.T_avg, dt=cfg.dt, x0=_pm_m(net))
            kap[i, s], d0[i, s], dT[i, s] = summ.kappa[:, 0], summ.delta0, summ.delta_T

    # theory on a fine grid
    g_fine = np.round(np.linspace(0.05, 3.0, 60 if not cfg.quick else 30), 4)
    th = {"g": [], "kappa": [], "delta0": [], "stable": [], "kind": []}
    for g in g_fine:
        br = theory_branches(spontaneous_ensemble(g))
        for kind in ("stationary", "chaotic"):
            for s in br[kind]:
                th["g"].append(g), th["kappa"].append(_kappa(s)), th["delta0"].append(float(s.delta0))
                th["stable"].append(bool(getattr(s, "stable", True))), th["kind"].append(kind)
    gC = gB = None
    if theory_fn("critical_g_C") is not None:
        gC = float(theory_fn("critical_g_C")(MEAN_M * MEAN_N))
    if theory_fn("critical_g_B") is not None:
        gB = float(theory_fn("critical_g_B")(MEAN_M * MEAN_N))

    # theory at the simulated g, on the branch each simulated trial sits on
    rows, comparisons = [], []
    for i, g in enumerate(gs):
        br = theory_branches(spontaneous_ensemble(g))
        k_sim_pos = np.nanmean(kap[i, :, 0])
        st = _pick(br["stationary"] + br["chaotic"], k_sim_pos)
        k_th = _kappa(st) if st is not None else np.nan
        d_th = float(st.delta0) if st is not None else np.nan
        kind = ("chaotic" if st in br["chaotic"] else "stationary") if st is not None else None
        rows.append([g, k_th, k_sim_pos, np.nanstd(kap[i, :, 0]), d_th, np.nanmean(d0[i, :, 0]),
                     np.nanmean(dT[i, :, 0]), kind])
        comparisons.append({"g": g, "kappa_theory": k_th, "kappa_sim_mean": k_sim_pos,
                            "kappa_sim_std": np.nanstd(kap[i, :, 0]), "kappa_sim_all": kap[i].tolist(),
                            "delta0_theory": d_th, "delta0_sim_mean": np.nanmean(d0[i, :, 0]),
                            "delta_T_sim_mean": np.nanmean(dT[i, :, 0]), "theory_kind": kind})

    with paper_style():
        fig, axes = plt.subplots(1, 2, figsize=(7.2, 2.9))
        th_g, th_k, th_d = (np.asarray(th[k]) for k in ("g", "kappa", "delta0"))
        th_st, th_kind = np.asarray(th["stable"], bool), np.asarray(th["kind"])
        for ax, yth, ysim, lab in ((axes[0], th_k, kap, r"latent $\kappa$"),
                                   (axes[1], th_d, d0, r"$\Delta_0$ = population variance of $x$")):
            for kind, col in (("stationary", "C0"), ("chaotic", "C3")):
                for stab, mk, fc in ((True, "o", col), (False, "o", "none")):
                    sel = (th_kind == kind) & (th_st == stab)
                    if sel.any():
                        ax.scatter(th_g[sel], yth[sel], s=5, marker=mk, facecolors=fc, edgecolors=col, lw=0.6,
                                   label=f"theory, {kind}{'' if stab else ' (unstable)'}", zorder=2)
            for b, mk in ((0, "^"), (1, "v")):
                ax.errorbar(gs, np.nanmean(ysim[:, :, b], axis=1), yerr=np.nanstd(ysim[:, :, b], axis=1),
                            fmt=mk, color="k", ms=3.5, lw=0.8, capsize=1.5, zorder=3,
                            label=f"simulation, $x_0 = {'+' if b == 0 else '-'}m$")
            for gv, name, ls in ((gC, "$g_C$", "--"), (gB, "$g_B$", ":")):
                if gv is not None:
                    ax.axvline(gv, color="0.4", ls=ls, lw=0.9)
                    ax.text(gv, 1.0, name, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                            fontsize=7)
            ax.axvspan(gC or G_C_PUBLISHED, gB or G_B_PUBLISHED, color="0.9", zorder=0)
            ax.set_xlabel("random strength $g$")
            ax.set_ylabel(lab)
        axes[0].axhline(0, color="k", lw=0.4)
        axes[0].legend(loc="upper right", fontsize=5.5, ncol=1)
        panel_label(axes[0], "A"), panel_label(axes[1], "B")
        fig.tight_layout()
    caption = (
        f"Rank one, $M_m$ = {MEAN_M}, $M_n$ = {MEAN_N}, $\\Sigma_m = \\Sigma_n$ = 1 (overlap 2.2), no input. "
        f"Filled/open coloured dots: mean-field stationary (blue) and chaotic (red) states, stable/unstable. "
        f"Black triangles: sampled networks, N = {cfg.N_sweep}, {S} seeds (mean ± s.d.), started at "
        f"x0 = ±m, Euler dt = {cfg.dt}, T = {cfg.T_sweep:g}, averages over the last {cfg.T_avg:g} τ. "
        f"Dashed/dotted lines: g_C = {fmt_g(gC)} (stationary → chaotic, published {G_C_PUBLISHED}) and "
        f"g_B = {fmt_g(gB)} (bistable chaos collapses to κ = 0, published {G_B_PUBLISHED}); grey band: the "
        "window between them, where finite networks deviate from mean field (κ larger than predicted, "
        "switches between ±κ).")
    report.section("1b. Spontaneous activity: κ and Δ0 against g",
                   "Mean-field κ and Δ0 (stationary and chaotic branches) against simulations of sampled "
                   "networks (Mastrogiuseppe & Ostojic 2018, Fig. 1).")
    report.figure(fig, "spontaneous_kappa_delta0.png", caption)
    report.table(["g", "κ theory", "κ sim (x0=+m)", "s.d.", "Δ0 theory", "Δ0 sim", "temporal var sim",
                  "theory branch"], rows,
                 caption=f"Theory on the branch nearest the simulated κ (x0 = +m), N = {cfg.N_sweep}, "
                         f"{S} seeds.")
    results["spontaneous"] = {"N": cfg.N_sweep, "seeds": S, "overlap": MEAN_M * MEAN_N,
                              "g_C": gC, "g_B": gB, "g_C_published": G_C_PUBLISHED,
                              "g_B_published": G_B_PUBLISHED, "points": comparisons}


def fmt_g(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


# ----------------------------------------------------------------------------------- phase diagram

def classify(kappa_abs: float, delta_T: float, *, kappa_thr: float = 0.15, chaos_thr: float = 0.01) -> str:
    """Return the simulated regime: '{homogeneous|heterogeneous} {stationary|chaotic}'.

    Heterogeneous means a structured mean |kappa| > ``kappa_thr`` (a homogeneous state has kappa = 0
    up to O(1/sqrt(N)) fluctuations); chaotic means a temporal variance of x_i, averaged over
    neurons, above ``chaos_thr`` (a fixed point has 0).
    """
    return (("heterogeneous" if kappa_abs > kappa_thr else "homogeneous") + " "
            + ("chaotic" if delta_T > chaos_thr else "stationary"))


REGIME_STYLE = {"homogeneous stationary": ("o", "white"), "heterogeneous stationary": ("s", "C0"),
                "heterogeneous chaotic": ("D", "C3"), "homogeneous chaotic": ("^", "C1")}


def section_phase_diagram(cfg: Config, report: Report, results: dict) -> None:
    """Phase diagram (g, overlap) from theory, with the regime of simulated networks marked on it."""
    import matplotlib.pyplot as plt

    pts = []
    for i, g in enumerate(cfg.phase_g):
        for j, ov in enumerate(cfg.phase_overlap):
            ens = spontaneous_ensemble(g, ov)
            for s in range(cfg.seeds_phase):
                net = ens.sample(cfg.N_phase, key=key_for("phase", 100 * i + 10 * j + s))
                summ = simulate_summary(net, T=cfg.T_sweep, T_avg=cfg.T_avg, dt=cfg.dt, x0=_pm_m(net))
                kabs, dT = float(np.max(summ.kappa_abs[:, 0])), float(np.max(summ.delta_T))
                pts.append({"g": g, "overlap": ov, "seed": s, "kappa_abs": kabs, "delta_T": dT,
                            "regime_sim": classify(kabs, dT), "overlap_network": float(net.overlap[0, 0])})
    # the regime the theory predicts at the same points: stable states of the mean-field solvers
    for p in pts:
        p["regime_theory"] = theory_regime(spontaneous_ensemble(p["g"], p["overlap"]))
    agree = [p["regime_theory"] == p["regime_sim"] for p in pts if p["regime_theory"] is not None]

    with paper_style():
        fig, ax = plt.subplots(figsize=(4.6, 3.6))
        ppd = theory_fn("plot_phase_diagram")
        if ppd is not None:
            ppd(ax=ax)
        for reg, (mk, col) in REGIME_STYLE.items():
            sel = [p for p in pts if p["regime_sim"] == reg]
            if sel:
                ax.scatter([p["g"] for p in sel], [p["overlap"] for p in sel], marker=mk, s=38, facecolor=col,
                           edgecolor="k", lw=0.8, zorder=5, label=f"simulation: {reg}")
        ax.set_xlabel("random strength $g$")
        ax.set_ylabel(r"structure strength $m^Tn/N$")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=6)
        fig.tight_layout()
    caption = (
        f"Rank one, $M_m$ = {MEAN_M}, $\\Sigma_m = \\Sigma_n$ = 1, overlap set by $M_n$, no input. Regions and "
        "boundaries: mean-field theory (`lowrank_rnn.theory.plot_phase_diagram`). Markers: regime of sampled "
        f"networks (N = {cfg.N_phase}, {cfg.seeds_phase} seed(s) per point, x0 = ±m, dt = {cfg.dt}, "
        f"T = {cfg.T_sweep:g}, last {cfg.T_avg:g} τ averaged): heterogeneous if max |κ| > 0.15, chaotic if "
        "the temporal variance of x_i (mean over i) exceeds 0.01.")
    report.section("1a. Phase diagram of the rank-one network",
                   "Four regimes (Mastrogiuseppe & Ostojic 2018, Fig. 1): homogeneous/heterogeneous × "
                   "stationary/chaotic. Theory regions against the regime found in simulations.")
    report.figure(fig, "phase_diagram.png", caption)
    report.table(["g", "overlap", "overlap (network)", "max |κ| sim", "temporal var sim", "regime sim",
                  "regime theory"],
                 [[p["g"], p["overlap"], p["overlap_network"], p["kappa_abs"], p["delta_T"], p["regime_sim"],
                   p["regime_theory"]] for p in pts],
                 caption="Simulated regime against the stable mean-field state(s) at the same parameters.")
    if agree:
        report.text(f"Simulated and predicted regimes agree at {sum(agree)} of {len(agree)} points.")
    results["phase_diagram"] = {"N": cfg.N_phase, "points": pts,
                                "agreement": (sum(agree) / len(agree)) if agree else None}


def theory_regime(ens: Ensemble) -> str | None:
    """Return the regime of the stable mean-field state(s) of ``ens`` in :func:`classify`'s words.

    A stationary state is used when one is stable; otherwise the chaotic branch with the largest |kappa|.
    None while the solvers are missing.
    """
    if missing_theory("stationary_states", "chaotic_states"):
        return None
    br = theory_branches(ens)
    stable = [s for s in br["stationary"] if getattr(s, "stable", True)]
    if stable:
        k = max(abs(_kappa(s)) for s in stable)
        return ("heterogeneous" if k > 1e-6 else "homogeneous") + " stationary"
    if br["chaotic"]:
        k = max(abs(_kappa(s)) for s in br["chaotic"])
        return ("heterogeneous" if k > 1e-6 else "homogeneous") + " chaotic"
    return None


# ----------------------------------------------------------------------------------------- spectrum

def section_spectrum(cfg: Config, report: Report, results: dict) -> None:
    """Spectrum of J (bulk radius g, outlier at the overlap) and of the stability matrix at a fixed point."""
    import matplotlib.pyplot as plt

    N = cfg.N_spectrum
    g_fp = 0.5
    out, rows = {}, []
    with paper_style():
        fig, axes = plt.subplots(1, 3, figsize=(9.6, 3.6))
        for ax, g, letter in ((axes[0], g_fp, "A"), (axes[1], 1.5, "B")):
            ens = spontaneous_ensemble(g)
            net = ens.sample(N, key=key_for("spectrum", int(10 * g)))
            eigs = spectrum.eigenvalues(net)
            pred = spectrum.predict(ens)
            outlier = spectrum.match_outliers(eigs, pred.outliers)[0]
            bulk = np.sort(np.abs(eigs))[-2]
            spectrum.plot(ens, net, ax=ax, numerical=eigs)
            ax.legend(fontsize=5.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
            ax.set_title(f"J: g = {g}, N = {N}", fontsize=8)
            panel_label(ax, letter)
            sd = spectrum.outlier_std(ens, N)
            out[f"g={g}"] = {"outlier_theory": float(pred.outliers[0].real), "outlier_sim": complex(outlier),
                             "outlier_finite_N_sd": sd, "overlap_network": float(net.overlap[0, 0]),
                             "bulk_radius_theory": g, "bulk_radius_sim": float(bulk)}
            rows.append([f"J, g = {g}", pred.outliers[0].real, outlier.real, sd, g, bulk])
            if g == g_fp:
                net_fp, ens_fp = net, ens

        # stability matrix S = J diag(phi'(x*)) at the positive fixed point of the g = 0.5 network
        summ = simulate_summary(net_fp, T=100.0, T_avg=10.0, dt=cfg.dt, x0=np.asarray(net_fp.m[:, 0])[None])
        xs = summ.x_final[0].astype(np.float64)
        J = (np.asarray(net_fp.m, np.float64) @ np.asarray(net_fp.n, np.float64).T / N
             + np.asarray(net_fp.bulk, np.float64))
        Sm = J * (1.0 - np.tanh(xs) ** 2)[None, :]
        ev = np.linalg.eigvals(Sm)
        ev = ev[np.argsort(-ev.real)]
        ax = axes[2]
        ax.scatter(ev.real, ev.imag, s=3, color="0.45", lw=0, label="numerical eigenvalues")
        th_state = None
        if theory_fn("stationary_states") is not None:
            th_state = _pick(theory_fn("stationary_states")(ens_fp), float(summ.kappa[0, 0]))
        r_th = float(th_state.bulk_radius) if th_state is not None else None
        outl_th = (np.atleast_1d(np.asarray(th_state.outliers)) if th_state is not None
                   and getattr(th_state, "outliers", None) is not None else np.array([]))
        if r_th is not None:
            tt = np.linspace(0, 2 * np.pi, 300)
            ax.plot(r_th * np.cos(tt), r_th * np.sin(tt), color="C0", lw=1.5,
                    label=f"theory bulk, radius $g\\sqrt{{[\\phi'^2]}}$ = {r_th:.3f}")
        if outl_th.size:
            ax.scatter(np.real(outl_th), np.imag(outl_th), marker="x", s=60, color="C3", lw=2, zorder=3,
                       label="theory outlier(s)")
        ax.axvline(1.0, color="k", ls=":", lw=0.8)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("Re $\\lambda$"), ax.set_ylabel("Im $\\lambda$")
        ax.set_title(f"stability matrix $J\\,\\mathrm{{diag}}(\\phi'(x^*))$, g = {g_fp}", fontsize=8)
        ax.legend(fontsize=5.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
        panel_label(ax, "C")
        fig.tight_layout()
    bulk_sim = float(np.sort(np.abs(ev))[-2])
    out_sim = float(ev[0].real)
    rows.append([f"S at fixed point, g = {g_fp}", float(np.real(outl_th[0])) if outl_th.size else None,
                 out_sim, None, r_th, bulk_sim])
    out["stability_matrix"] = {"g": g_fp, "kappa_sim": float(summ.kappa[0, 0]),
                               "kappa_theory": _kappa(th_state) if th_state is not None else None,
                               "bulk_radius_theory": r_th, "bulk_radius_sim": bulk_sim,
                               "outlier_theory": [complex(o) for o in outl_th], "outlier_sim": out_sim}
    caption = (
        f"Rank one, $M_m$ = {MEAN_M}, $M_n$ = {MEAN_N}, $\\Sigma_m = \\Sigma_n$ = 1 (overlap 2.2), one sampled "
        f"network of N = {N} per panel. (A, B) eigenvalues of J at g = 0.5 and 1.5 (grey) against the predicted "
        "bulk disk of radius g and the outlier at the overlap E[nm] = 2.2 (`lowrank_rnn.spectrum.plot`). "
        f"(C) eigenvalues of the stability matrix J diag(φ'(x*)) at the positive fixed point of the network of "
        f"A (reached from x0 = m, T = 100), against the mean-field bulk radius g·sqrt([φ'²]) and outlier of "
        "the stationary state; the state is stable when every eigenvalue has real part < 1 (dotted line).")
    report.section("2. Spectra", "The random part gives a disk of radius g; the rank-one structure one real "
                   "outlier at the overlap (Mastrogiuseppe & Ostojic 2018, Fig. 1). Linearising around the "
                   "heterogeneous fixed point shrinks the bulk to g·sqrt([φ'²]) and moves the outlier below 1.")
    report.figure(fig, "spectrum.png", caption)
    report.table(["matrix", "outlier theory", "outlier numerical", "finite-N s.d. of outlier",
                  "bulk radius theory", "bulk radius numerical (2nd largest |λ|)"], rows,
                 caption=f"N = {N}; finite-N s.d. from `spectrum.outlier_std`.")
    results["spectrum"] = out


# ------------------------------------------------------------------------------------ input-driven

#: Fig. 2 (input-driven) parameters of the authors' code (lowrank_theory.md §4.3)
INPUT_MEAN_M = 3.5
INPUT_MEAN_N = 1.0
INPUT_G = 0.8
INPUT_SIGMA_PERP = 1.0


def input_ensemble(sigma_nI: float, sigma_perp: float, overlap: float = INPUT_MEAN_M * INPUT_MEAN_N,
                   g: float = INPUT_G) -> Ensemble:
    """Return the input-driven rank-one ensemble: M_m = 3.5, M_n = overlap / 3.5, Sigma_m = Sigma_n = 1,
    input I = sigma_nI (random part of n) + sigma_perp h, with h independent (applied with amplitude 1).

    Cov(n, I) = sigma_nI and Var(I) = sigma_nI^2 + sigma_perp^2 (lowrank_theory.md §1, "Inputs").
    """
    return Ensemble.from_directions(
        {"m1": {"xm": 1.0}, "n1": {"xn": 1.0}, "I1": {"xn": sigma_nI, "h": sigma_perp}},
        means={"m1": INPUT_MEAN_M, "n1": overlap / INPUT_MEAN_M}, g=g)


def _stationary_kappas(ens: Ensemble, inputs) -> list[tuple[float, bool]]:
    st = theory_fn("stationary_states")
    if st is None:
        return []
    return [(_kappa(s), bool(getattr(s, "stable", True))) for s in st(ens, inputs=inputs)]


def _scatter_branches(ax, xs, branches, label_prefix="theory"):
    """Draw theory stationary states over a scanned parameter: stable filled, unstable open."""
    xs_s, ks_s, xs_u, ks_u = [], [], [], []
    for x, states in zip(xs, branches):
        for k, stab in states:
            (xs_s if stab else xs_u).append(x), (ks_s if stab else ks_u).append(k)
    ax.plot(xs_s, ks_s, ".", ms=2.2, color="C0", label=f"{label_prefix}, stable")
    ax.plot(xs_u, ks_u, ".", ms=1.2, color="0.6", label=f"{label_prefix}, unstable")


def section_input_driven(cfg: Config, report: Report, results: dict) -> None:
    """kappa against the input correlation Sigma_nI, and against the overlap for orthogonal inputs."""
    import matplotlib.pyplot as plt

    u1 = np.ones(1)
    T, T_avg = 60.0, 20.0
    n_fine = 81 if not cfg.quick else 31
    # A: input correlated with n, Sigma_perp = 1
    s_fine = np.linspace(0.0, 2.0, n_fine)
    th_A = [_stationary_kappas(input_ensemble(s, INPUT_SIGMA_PERP), u1) for s in s_fine]
    simA = np.full((len(cfg.input_sigma_nI), cfg.seeds_input, 2), np.nan)
    for i, s in enumerate(cfg.input_sigma_nI):
        for k in range(cfg.seeds_input):
            net = input_ensemble(s, INPUT_SIGMA_PERP).sample(cfg.N_input, key=key_for("inputA", 100 * i + k))
            inp = np.ones((int(round(T / cfg.dt)), 1), np.float32)
            simA[i, k] = simulate_summary(net, T=T, T_avg=T_avg, dt=cfg.dt, x0=_pm_m(net), inputs=inp).kappa[:, 0]
    # where the negative branch disappears (theory, on the fine grid)
    neg = [any(k < 0 and st for k, st in b) for b in th_A]
    s_neg_end = float(s_fine[np.argmin(neg)]) if (neg and neg[0] and not all(neg)) else None

    # B: input orthogonal to n, kappa against the overlap for several Sigma_perp
    o_fine = np.linspace(0.2, 4.0, n_fine)
    perps = (0.0, 1.0, 2.0)
    th_B = {sp: [_stationary_kappas(input_ensemble(0.0, sp, overlap=o), u1) for o in o_fine] for sp in perps}
    onset = {}
    for sp in perps:
        bi = [sum(1 for k, st in b if st and abs(k) > 1e-6) >= 2 for b in th_B[sp]]
        onset[sp] = float(o_fine[int(np.argmax(bi))]) if any(bi) else None
    sim_perps = (0.0, 1.0) if not cfg.quick else (1.0,)
    simB = {sp: np.full((len(cfg.input_overlap), cfg.seeds_input, 2), np.nan) for sp in sim_perps}
    for sp in sim_perps:
        for i, o in enumerate(cfg.input_overlap):
            for k in range(cfg.seeds_input):
                net = input_ensemble(0.0, sp, overlap=o).sample(cfg.N_input,
                                                                key=key_for(f"inputB{sp}", 100 * i + k))
                inp = np.ones((int(round(T / cfg.dt)), 1), np.float32)
                simB[sp][i, k] = simulate_summary(net, T=T, T_avg=T_avg, dt=cfg.dt, x0=_pm_m(net),
                                                  inputs=inp).kappa[:, 0]

    with paper_style():
        fig, axes = plt.subplots(1, 2, figsize=(7.4, 3.0))
        ax = axes[0]
        if th_A and any(th_A):
            _scatter_branches(ax, s_fine, th_A)
        for b, mk in ((0, "^"), (1, "v")):
            ax.errorbar(cfg.input_sigma_nI, np.nanmean(simA[:, :, b], 1), yerr=np.nanstd(simA[:, :, b], 1),
                        fmt=mk, color="k", ms=3.5, lw=0.8, capsize=1.5,
                        label=f"simulation, $x_0 = {'+' if b == 0 else '-'}m$")
        if s_neg_end is not None:
            ax.axvline(s_neg_end, color="0.5", ls="--", lw=0.8)
        ax.axhline(0, color="k", lw=0.4)
        ax.set_xlabel(r"input–$n$ covariance $\Sigma_{nI}$")
        ax.set_ylabel(r"latent $\kappa$")
        ax.set_title(r"input correlated with $n$ ($\Sigma_\perp$ = 1)")
        ax.legend(fontsize=5.5, loc="lower right")
        panel_label(ax, "A")
        ax = axes[1]
        for sp, col in zip(perps, ("C0", "C2", "C4")):
            xs_s, ks_s = [], []
            for o, b in zip(o_fine, th_B[sp]):
                for k, st in b:
                    if st:
                        xs_s.append(o), ks_s.append(k)
            ax.plot(xs_s, ks_s, ".", ms=2.2, color=col, label=f"theory (stable), $\\Sigma_\\perp$ = {sp:g}")
        for sp, mk in zip(sim_perps, ("o", "s")):
            col = {0.0: "C0", 1.0: "C2", 2.0: "C4"}[sp]
            for b in (0, 1):
                ax.errorbar(cfg.input_overlap, np.nanmean(simB[sp][:, :, b], 1),
                            yerr=np.nanstd(simB[sp][:, :, b], 1), fmt=mk, mfc="none", color=col, ms=4, lw=0.8,
                            capsize=1.5, label=f"simulation, $\\Sigma_\\perp$ = {sp:g}" if b == 0 else None)
        ax.axhline(0, color="k", lw=0.4)
        ax.set_xlabel(r"overlap $M_m M_n$")
        ax.set_ylabel(r"latent $\kappa$")
        ax.set_title(r"input orthogonal to $n$ ($\Sigma_{nI}$ = 0)")
        ax.legend(fontsize=5.5, loc="upper left")
        panel_label(ax, "B")
        fig.tight_layout()
    caption = (
        f"Rank one with a tonic input, $M_m$ = {INPUT_MEAN_M}, $\\Sigma_m = \\Sigma_n$ = 1, g = {INPUT_G}; the input "
        "vector I = Σ_nI (random part of n) + Σ_⊥ h is applied with amplitude 1. (A) $M_n$ = 1 (overlap 3.5), "
        "Σ_⊥ = 1, κ against Σ_nI: the correlated input breaks the ± symmetry and the negative state disappears"
        + (f" at Σ_nI ≈ {s_neg_end:.3g} (dashed; published ≈ 0.73)" if s_neg_end is not None else "")
        + ". (B) Σ_nI = 0, κ against the overlap (varied through $M_n$) for Σ_⊥ = 0, 1, 2: the orthogonal input "
        "raises Δ0, lowers [φ'] and moves the onset of bistability to larger overlaps. Dots: mean-field "
        f"stationary states (`theory.stationary_states`). Markers: sampled networks, N = {cfg.N_input}, "
        f"{cfg.seeds_input} seed(s), x0 = ±m, T = {T:g}, κ averaged over the last {T_avg:g} τ (mean ± s.d.).")
    report.section("3. Input-driven rank-one networks",
                   "External inputs reshape the fixed points (Mastrogiuseppe & Ostojic 2018, Fig. 2).")
    report.figure(fig, "input_driven.png", caption)
    rows = []
    for i, s in enumerate(cfg.input_sigma_nI):
        th = _stationary_kappas(input_ensemble(s, INPUT_SIGMA_PERP), u1)
        for b in (0, 1):
            ksim = float(np.nanmean(simA[i, :, b]))
            stab = [k for k, st in th if st]
            k_th = min(stab, key=lambda k: abs(k - ksim)) if stab else None
            rows.append([s, "+m" if b == 0 else "−m", k_th, ksim])
    report.table(["Σ_nI", "x0", "κ theory (nearest stable)", "κ sim (mean over seeds)"], rows,
                 caption="Panel A: simulated κ against the nearest stable mean-field state.")
    report.table(["Σ_⊥", "onset of bistability (overlap), theory"],
                 [[sp, onset[sp]] for sp in perps],
                 caption="Panel B: smallest overlap on the grid with two stable non-zero states.")
    results["input_driven"] = {
        "sigma_nI_negative_branch_end": s_neg_end, "sigma_nI_negative_branch_end_published": 0.73,
        "bistability_onset_overlap": {str(k): v for k, v in onset.items()},
        "panel_A": [{"sigma_nI": r[0], "x0": r[1], "kappa_theory": r[2], "kappa_sim": r[3]} for r in rows]}
