"""Task sections of the Mastrogiuseppe & Ostojic 2018 reproduction: Go-Nogo discrimination (Fig. 3),
detection of a noisy stimulus (Fig. 4), context-dependent discrimination with rank two (Fig. 5)."""

from __future__ import annotations

import jax
import numpy as np

from .._ensemble import Ensemble
from .._simulate import simulate
from ._m2018_common import (Config, bisect_edge, branch_lines, key_for, panel_label, paper_style, state_readout,
                            theory_fn, theory_result)
from ._report import Report, fmt


def _stable(states):
    return [s for s in states if s.stable]


def _kvec(state) -> np.ndarray:
    return np.atleast_1d(np.asarray(state.kappa, float))


# ------------------------------------------------------------------------------------------ Go-Nogo

#: Fig. 3 parameters of the authors' public code (Mastrogiuseppe & Ostojic 2018)
GONOGO_G = 0.1
GONOGO_SIGMA = 2.0  # Sigma_I = Sigma_w
GONOGO_T = {"discard": 10.0, "rest": 5.0, "stimulus": 10.0, "decay": 15.0}


def gonogo_ensemble() -> Ensemble:
    """Return the Go-Nogo ensemble: m = w, n = I_A (Go), I_B (Nogo) independent, all N(0, 2^2), g = 0.1."""
    s = GONOGO_SIGMA
    return Ensemble.from_directions({"m1": {"w": s}, "n1": {"A": s}, "I1": {"A": s}, "I2": {"B": s},
                                     "w1": {"w": s}}, g=GONOGO_G)


def gonogo_theory() -> dict:
    """Return the mean-field readouts of the stable stationary states under Go, Nogo and no input.

    Readout of a state: :func:`state_readout` (Gaussian integration by parts); empty without theory.
    """
    ens = gonogo_ensemble()
    z_th = {}
    st = theory_fn("stationary_states")
    if st is not None:
        for name, inp in (("go", [1.0, 0.0]), ("nogo", [0.0, 1.0]), ("rest", [0.0, 0.0])):
            stab = _stable(st(ens, inputs=np.asarray(inp)))
            z_th[name] = ([float(state_readout(ens, s_, inp)[0]) for s_ in stab] if stab else [])
    return z_th


def section_go_nogo(cfg: Config, report: Report, results: dict) -> None:
    """Readout for Go and Nogo stimuli over time, simulation against the mean-field stationary readout."""
    import matplotlib.pyplot as plt

    ens = gonogo_ensemble()
    dt, P = cfg.dt, GONOGO_T
    n = {k: int(round(v / dt)) for k, v in P.items()}
    n_tot = sum(n.values())
    u = np.zeros((2, n_tot, 2), np.float32)  # trial 0: Go (I_A), trial 1: Nogo (I_B)
    on = n["discard"] + n["rest"]
    u[0, on:on + n["stimulus"], 0] = 1.0
    u[1, on:on + n["stimulus"], 1] = 1.0
    every = 2
    readouts, proj = [], None
    for s in range(cfg.seeds_gonogo):
        key = key_for("gonogo", s)
        net = ens.sample(cfg.N_gonogo, key=key)
        x0 = 0.1 * np.asarray(jax.random.normal(jax.random.fold_in(key, 7), (cfg.N_gonogo,)))
        # x is used for the first network only, but recorded for all: one compiled simulation
        tr = simulate(net, T=n_tot * dt, dt=dt, x0=x0, inputs=u, record=("readout", "x"), record_every=every)
        readouts.append(tr.readout[:, :, 0])
        if s == 0:
            N = cfg.N_gonogo
            IA, IB = np.asarray(net.inputs)[:, 0], np.asarray(net.inputs)[:, 1]
            w = np.asarray(net.readouts)[:, 0]
            proj = {"go": (tr.x[0] @ IA / N, tr.x[0] @ w / N), "nogo": (tr.x[1] @ IB / N, tr.x[1] @ w / N)}
    t = tr.t - (on * dt)
    R = np.stack(readouts)  # (seeds, 2, time)
    keep = t >= -P["rest"]
    i_end = int(np.argmin(np.abs(t - P["stimulus"])))
    z_go, z_nogo = R[:, 0, i_end], R[:, 1, i_end]

    z_th = theory_result("go_nogo", gonogo_theory)
    th_go = max(z_th["go"], default=None) if z_th else None
    th_nogo = min(z_th["nogo"], key=abs, default=None) if z_th else None

    with paper_style():
        fig, axes = plt.subplots(1, 2, figsize=(7.4, 2.9), gridspec_kw={"width_ratios": [1.5, 1]})
        ax = axes[0]
        ax.axvspan(0, P["stimulus"], color="0.92", zorder=0)
        for b, col, lab in ((0, "C3", "Go (stimulus $I_A$)"), (1, "C0", "Nogo (stimulus $I_B$)")):
            for s in range(R.shape[0]):
                ax.plot(t[keep], R[s, b, keep], color=col, lw=0.5, alpha=0.45)
            ax.plot(t[keep], R[:, b, keep].mean(0), color=col, lw=1.6, label=f"{lab}, mean of {R.shape[0]} networks")
        if th_go is not None:
            ax.hlines(th_go, 0, P["stimulus"], color="C3", ls="--", lw=1.0, label="theory, Go (stationary)")
        if th_nogo is not None:
            ax.hlines(th_nogo, 0, P["stimulus"], color="C0", ls="--", lw=1.0, label="theory, Nogo")
        ax.axhline(0, color="k", lw=0.4)
        ax.set_xlabel("time from stimulus onset ($\\tau$)")
        ax.set_ylabel("readout $z = w^T\\phi(x)/N$")
        ax.set_ylim(top=1.25 * max(float(R.max()), th_go or 0.0))
        ax.legend(fontsize=5.5, loc="upper right", ncol=2)
        panel_label(ax, "A")
        ax = axes[1]
        for name, col, lab in (("go", "C3", "Go: x along $I_A$"), ("nogo", "C0", "Nogo: x along $I_B$")):
            a, b = proj[name]
            ax.plot(a, b, color=col, lw=1.2, label=lab)
            ax.plot(a[-1], b[-1], "o", color=col, ms=3)
        ax.set_xlabel("projection on the presented stimulus, $x^T I/N$")
        ax.set_ylabel("projection on the readout, $x^T w/N$")
        ax.legend(fontsize=5.5, loc="upper left")
        panel_label(ax, "B")
        fig.tight_layout()
    caption = (
        f"Rank one with m = w and n = $I_A$; $I_A$, $I_B$, w independent N(0, {GONOGO_SIGMA:g}²), g = {GONOGO_G}, "
        f"N = {cfg.N_gonogo}, {cfg.seeds_gonogo} sampled networks. Protocol (τ): discard {P['discard']:g} from "
        f"x0 ~ N(0, 0.1²), rest {P['rest']:g}, stimulus {P['stimulus']:g} (grey; amplitude 1 along $I_A$ or "
        f"$I_B$), decay {P['decay']:g}; Euler dt = {dt}. (A) readout, thin lines single networks, thick the mean; "
        "dashed: mean-field readout of the stable stationary state under each stimulus "
        "(`theory.stationary_states`, readout E[wφ(x)] by Gaussian integration by parts). "
        "(B) first network: population activity projected on the presented stimulus vector and on w: "
        "the Go stimulus drives activity along m = w, the Nogo stimulus only along itself.")
    report.section("4. Go–Nogo discrimination (rank one)",
                   "The network answers the Go stimulus (the one aligned with n) and ignores the other "
                   "(Mastrogiuseppe & Ostojic 2018, Fig. 3).")
    report.figure(fig, "go_nogo.png", caption)
    report.table(["stimulus", "readout theory", "readout sim (mean)", "s.d. over networks"],
                 [["Go", th_go, float(z_go.mean()), float(z_go.std())],
                  ["Nogo", th_nogo, float(z_nogo.mean()), float(z_nogo.std())]],
                 caption=f"Readout at the end of the stimulus, N = {cfg.N_gonogo}. For comparison, the authors' "
                         "public code gives one simulated network of N = 2500 with z_Go = 1.104 and "
                         "z_Nogo = −0.12 (a finite-size effect; the mean-field Nogo value is 0).")
    results["go_nogo"] = {"N": cfg.N_gonogo, "seeds": cfg.seeds_gonogo,
                          "readout_go_sim": z_go.tolist(), "readout_nogo_sim": z_nogo.tolist(),
                          "readout_go_sim_mean": float(z_go.mean()), "readout_nogo_sim_mean": float(z_nogo.mean()),
                          "readout_go_theory": th_go, "readout_nogo_theory": th_nogo}


# ---------------------------------------------------------------------------------------- detection

#: Fig. 4 parameters of the authors' public code (Mastrogiuseppe & Ostojic 2018)
DETECT_G = 0.8
DETECT_SIGMA_I = 1.2  # Sigma_I = Sigma_w
DETECT_RHO = 2.0      # rho_m = rho_n: m = w + 2y, n = I + 2y, so sigma_mn = 4
DETECT_NOISE = 0.4    # sigma of the common fluctuation along I
DETECT_T = {"discard": 10.0, "rest": 7.0, "stimulus": 22.0}
DETECT_C_PUBLISHED = 0.54


def detection_ensemble() -> Ensemble:
    """Return the detection ensemble: m = w + 2y, n = I + 2y, stimulus I, tonic input h, readout w.

    I, w ~ N(0, 1.2^2), y, h ~ N(0, 1) independent; g = 0.8. Inputs: I1 = I (amplitude c), I2 = h
    (amplitude 1 during the stimulus).
    """
    s, r = DETECT_SIGMA_I, DETECT_RHO
    return Ensemble.from_directions({"m1": {"w": s, "y": r}, "n1": {"I": s, "y": r}, "I1": {"I": s},
                                     "I2": {"h": 1.0}, "w1": {"w": s}}, g=DETECT_G)


def _has_negative_state(ens: Ensemble, c: float) -> bool:
    return any(_kvec(s)[0] < 0 for s in _stable(theory_fn("stationary_states")(ens, inputs=np.array([c, 1.0]))))


def detection_threshold(ens: Ensemble, lo: float = 0.0, hi: float = 1.0, tol: float = 1e-4) -> float | None:
    """Return c*, the stimulus strength at which the stable negative stationary state disappears.

    Bisection on "a stable stationary state with kappa < 0 exists" under inputs (c, 1), using
    :func:`lowrank_rnn.theory.stationary_states` (Mastrogiuseppe & Ostojic 2018, Fig. 4: published 0.54).
    """
    if theory_fn("stationary_states") is None:
        return None
    return bisect_edge(lambda c: _has_negative_state(ens, c), lo, hi, tol)


def _logistic_fit(c, frac, n):
    """Return (c50, width) of a logistic fitted to the fraction of Go outcomes, or (None, None)."""
    from scipy.optimize import curve_fit

    c, frac = np.asarray(c, float), np.asarray(frac, float)
    if frac.min() > 0.5 or frac.max() < 0.5:
        return None, None
    try:
        (c50, width), _ = curve_fit(lambda x, a, b: 1 / (1 + np.exp(-(x - a) / b)), c, frac,
                                    p0=(float(np.interp(0.5, np.sort(frac), c[np.argsort(frac)])), 0.05),
                                    bounds=((c.min() - 0.5, 1e-3), (c.max() + 0.5, 1.0)),
                                    sigma=np.sqrt(np.clip(frac * (1 - frac), 0.02, None) / n))
        return float(c50), float(width)
    except (RuntimeError, ValueError):
        return None, None


def detection_theory(cfg: Config) -> tuple:
    """Return (c*, c grid, stationary branches [(kappa, stable), ...] per c) of the detection network."""
    ens = detection_ensemble()
    st = theory_fn("stationary_states")
    c_star = detection_threshold(ens)
    c_grid = np.linspace(0.0, 1.0, 51 if not cfg.quick else 21)
    branches = []
    if st is not None:
        for c in c_grid:
            branches.append([(_kvec(s)[0], bool(s.stable)) for s in st(ens, inputs=np.array([c, 1.0]))])
    return c_star, c_grid, branches


def section_detection(cfg: Config, report: Report, results: dict) -> None:
    """Detection threshold c* from theory against noise-free and noisy simulations (psychometric curve)."""
    import matplotlib.pyplot as plt

    ens = detection_ensemble()
    dt, P = cfg.dt, DETECT_T

    n_pre = int(round((P["discard"] + P["rest"]) / dt))
    n_stim = int(round(P["stimulus"] / dt))
    T_fine = 60.0
    n_fine = int(round(T_fine / dt))
    cs, n_tr = np.asarray(cfg.detect_c, float), cfg.detect_trials
    go = np.zeros((cfg.seeds_detect, len(cs)))
    thr_sim, traces = [], None
    for s in range(cfg.seeds_detect):
        key = key_for("detection", s)
        net = ens.sample(cfg.N_detect, key=key)
        x0 = -(np.asarray(net.m)[:, 0] + np.asarray(net.n)[:, 0])
        pre = simulate(net, T=n_pre * dt, dt=dt, x0=x0, record=("x",), record_every=n_pre)
        x_start = pre.x[-1]
        # noise-free: the finite network's own threshold, on a fine grid of c, with a long stimulus
        cf = np.asarray(cfg.detect_c_fine, float)
        uf = np.zeros((len(cf), n_fine, 2), np.float32)
        uf[:, :, 0], uf[:, :, 1] = cf[:, None], 1.0
        trf = simulate(net, T=T_fine, dt=dt, x0=x_start, inputs=uf, record=("readout",), record_every=n_fine)
        pos = trf.readout[:, -1, 0] > 0
        if pos.any() and not pos.all():
            j = int(np.argmax(pos))
            thr_sim.append(0.5 * (cf[j - 1] + cf[j]) if j > 0 else float(cf[0]))
        # noisy trials: u_1(t) = c + sigma xi(t) / sqrt(dt), i.e. sqrt(dt) sigma xi I per Euler step
        xi = np.asarray(jax.random.normal(jax.random.fold_in(key, 1), (len(cs) * n_tr, n_stim)))
        u = np.zeros((len(cs) * n_tr, n_stim, 2), np.float32)
        u[:, :, 0] = np.repeat(cs, n_tr)[:, None] + DETECT_NOISE * xi / np.sqrt(dt)
        u[:, :, 1] = 1.0
        tr = simulate(net, T=P["stimulus"], dt=dt, x0=x_start, inputs=u, record=("readout",), record_every=5)
        z = tr.readout[:, :, 0].reshape(len(cs), n_tr, -1)
        go[s] = (z[:, :, -1] > 0).mean(axis=1)
        if s == 0:
            traces = (tr.t, z)
    frac = go.mean(axis=0)
    c50, width = _logistic_fit(cs, frac, n_tr * cfg.seeds_detect)
    c_star, c_grid, branches = theory_result("detection", lambda: detection_theory(cfg))

    with paper_style():
        fig, axes = plt.subplots(1, 3, figsize=(10.2, 2.9))
        ax = axes[0]
        if branches:
            for stab in (True, False):
                branch_lines(ax, c_grid, [[k for k, st_ in b if st_ == stab] for b in branches], color="C0",
                             ls="-" if stab else "--", lw=1.4 if stab else 0.8,
                             label=f"theory, {'stable' if stab else 'unstable'}")
        if c_star is not None:
            ax.axvline(c_star, color="C3", ls="--", lw=1, label=f"theory $c^*$ = {c_star:.3f}")
        ax.axhline(0, color="k", lw=0.4)
        ax.set_xlabel("stimulus strength $c$"), ax.set_ylabel(r"stationary $\kappa$")
        ax.legend(fontsize=5.5, loc="lower right")
        panel_label(ax, "A")
        ax = axes[1]
        t_tr, z = traces
        show = [int(np.argmin(np.abs(cs - c))) for c in (0.4, 0.6, 0.9) if np.min(np.abs(cs - c)) < 0.051]
        for j, col in zip(show, ("C0", "C2", "C3")):
            for k in range(min(n_tr, 8)):
                ax.plot(t_tr, z[j, k], color=col, lw=0.6, alpha=0.7, label=f"c = {cs[j]:g}" if k == 0 else None)
        ax.axhline(0, color="k", lw=0.4)
        ax.set_xlabel("time from stimulus onset ($\\tau$)"), ax.set_ylabel("readout $z$")
        ax.legend(fontsize=5.5, loc="upper left")
        panel_label(ax, "B")
        ax = axes[2]
        err = np.sqrt(np.clip(frac * (1 - frac), 0, None) / (n_tr * cfg.seeds_detect))
        ax.errorbar(cs, frac, yerr=err, fmt="o", color="k", ms=3.5, capsize=1.5,
                    label=f"simulation, σ = {DETECT_NOISE}")
        if c50 is not None:
            cc = np.linspace(cs.min(), cs.max(), 200)
            ax.plot(cc, 1 / (1 + np.exp(-(cc - c50) / width)), color="k", lw=0.8,
                    label=f"logistic fit, $c_{{50}}$ = {c50:.3f}")
        if c_star is not None:
            ax.axvline(c_star, color="C3", ls="--", lw=1, label=f"theory $c^*$ = {c_star:.3f}")
        # triangles above the c* line (a network's threshold often falls on it), visible in the legend too
        for k, th in enumerate(thr_sim):
            ax.plot(th, -0.04, "^", color="C2", mec="k", mew=0.5, ms=6, zorder=4, clip_on=False,
                    label="noise-free threshold, per network" if k == 0 else None)
        ax.set_ylim(-0.08, 1.05)
        ax.set_xlabel("stimulus strength $c$"), ax.set_ylabel("fraction of Go choices ($z > 0$ at the end)")
        ax.legend(fontsize=5.5, loc="upper left")
        panel_label(ax, "C")
        fig.tight_layout()
    caption = (
        f"Rank one, bistable: m = w + {DETECT_RHO:g}y, n = I + {DETECT_RHO:g}y (σ_mn = {DETECT_RHO ** 2:g}), I, w ~ "
        f"N(0, {DETECT_SIGMA_I}²), y, h ~ N(0, 1), g = {DETECT_G}. Input during the stimulus: c·I + h + noise "
        "along I. "
        f"(A) mean-field stationary κ against c under inputs (c, 1) (`theory.stationary_states`); the negative "
        f"state disappears at c* (dashed; published {DETECT_C_PUBLISHED}). (B) readout of noisy trials, first "
        f"network. (C) fraction of Go outcomes (readout > 0 at the end of a {P['stimulus']:g} τ stimulus), "
        f"{n_tr} trials × {cfg.seeds_detect} network(s) per c, N = {cfg.N_detect}, binomial s.e.; green triangles: the "
        f"threshold of each network without noise (fine c grid, {T_fine:g} τ stimulus). Networks start at "
        f"x0 = −m − n and relax for {P['discard'] + P['rest']:g} τ without input. Noise convention: the stimulus "
        f"channel is u_1(t) = c + σ ξ_t / sqrt(dt) with σ = {DETECT_NOISE}, ξ_t ~ N(0, 1) i.i.d. per step, so "
        "each "
        f"Euler step (dt = {dt}) adds sqrt(dt) σ ξ_t I, a common white-noise fluctuation of the stimulus "
        "strength (as in the authors' code); `simulate(noise=...)` is not used.")
    report.section("5. Detection of a noisy stimulus (rank one, bistable)",
                   "Above c* the low state disappears and the network jumps to the high ('Go') state and stays "
                   "there (Mastrogiuseppe & Ostojic 2018, Fig. 4).")
    report.figure(fig, "detection.png", caption)
    report.table(["quantity", "value"],
                 [["c* theory", c_star], ["c* published", DETECT_C_PUBLISHED],
                  ["noise-free threshold per network (sim)", ", ".join(f"{v:.2f}" for v in thr_sim) or None],
                  ["noise-free threshold, mean over networks", float(np.mean(thr_sim)) if thr_sim else None],
                  ["c50 of the noisy psychometric curve (sim)", c50],
                  ["logistic width (sim)", width]], digits=4,
                 caption="Detection threshold. Common input noise lets trials below c* cross, so c50 lies below "
                         "the noise-free threshold.")
    report.table(["c"] + [f"{c:g}" for c in cs], [["fraction Go"] + [float(f) for f in frac]],
                 caption=f"Psychometric curve, {n_tr * cfg.seeds_detect} trials per c.")
    results["detection"] = {"N": cfg.N_detect, "seeds": cfg.seeds_detect, "trials_per_c": n_tr,
                            "noise_sigma": DETECT_NOISE, "c_star_theory": c_star,
                            "c_star_published": DETECT_C_PUBLISHED, "threshold_noise_free_sim": thr_sim,
                            "c": cs.tolist(), "fraction_go": frac.tolist(), "fraction_go_per_network": go.tolist(),
                            "c50_sim": c50, "logistic_width_sim": width}


# -------------------------------------------------------------------- context-dependent (rank two)

#: Fig. 5 parameters of the authors' public code (Mastrogiuseppe & Ostojic 2018)
CTX_G = 0.8
CTX_SIGMA_I = 1.2          # I_A, I_B, y1, y2 ~ N(0, 1.2^2); w, I_ctxA, I_ctxB ~ N(0, 1)
CTX_RHO_M, CTX_RHO_N = 1.6, 3.0
CTX_BETA_M, CTX_BETA_N = 0.6, 1.0
CTX_GAMMA_ON, CTX_GAMMA_OFF = 0.08, -0.14
CTX_T = {"discard": 10.0, "context": 15.0, "stimulus": 85.0}


def context_ensemble() -> Ensemble:
    """Return the rank-two context ensemble (Fig. 5): m_r = y_r + 1.6 ctx_r + 0.6 w, n_r = I_r + 3 ctx_r + w.

    Inputs in order: I1 = I_A, I2 = I_B (stimuli), I3 = I_ctxA, I4 = I_ctxB (contexts); readout w1 = w.
    The context vectors are shared by m_r and n_r, so a context input changes the gain of one channel.
    """
    s, rm, rn, bm, bn = CTX_SIGMA_I, CTX_RHO_M, CTX_RHO_N, CTX_BETA_M, CTX_BETA_N
    return Ensemble.from_directions({
        "m1": {"y1": s, "cA": rm, "w": bm}, "n1": {"IA": s, "cA": rn, "w": bn},
        "m2": {"y2": s, "cB": rm, "w": bm}, "n2": {"IB": s, "cB": rn, "w": bn},
        "I1": {"IA": s}, "I2": {"IB": s}, "I3": {"cA": 1.0}, "I4": {"cB": 1.0}, "w1": {"w": 1.0}}, g=CTX_G)


def _ctx_amplitudes(ctx: str) -> tuple[float, float]:
    return (CTX_GAMMA_ON, CTX_GAMMA_OFF) if ctx == "A" else (CTX_GAMMA_OFF, CTX_GAMMA_ON)


def context_solver_options(cfg: Config) -> dict:
    """Keyword arguments of ``stationary_states`` for the rank-two context network (grid of starts)."""
    return {"n_starts": 5 if cfg.quick else 7}


def context_theory(cfg: Config):
    """Return (states_A, thresholds) of the context network in context A (no simulation involved).

    ``states_A(stim, a)`` gives (stable states, inputs, readouts) under stimulus ``stim`` ("A", "B"
    or None) of amplitude ``a``, solved once per condition and cached; every condition of the
    section is solved here. ``thresholds``: for the relevant (A) and irrelevant (B) stimulus, the
    amplitude above which no stable state with a negative readout (Nogo) remains, bracketed on the
    simulated amplitudes and bisected. (None, thresholds of None) without theory.
    """
    ens = context_ensemble()
    st = theory_fn("stationary_states")
    thr = {"relevant": None, "irrelevant": None}
    if st is None:
        return None, thr
    amps = sorted(a for a in cfg.context_amplitudes if a > 0)
    solve_kw = context_solver_options(cfg)
    cache = {}

    def states_A(stim, a):
        if a == 0.0:  # a stimulus of amplitude 0 is no stimulus: one solve for both
            stim = None
        key = (stim, round(float(a), 9))
        if key not in cache:
            inp = np.zeros(4)
            inp[2:4] = _ctx_amplitudes("A")
            if stim is not None:
                inp["AB".index(stim)] = a
            stab = _stable(st(ens, inputs=inp, **solve_kw))
            cache[key] = (stab, inp, [float(state_readout(ens, s_, inp)[0]) for s_ in stab])
        return cache[key]

    for name, stim in (("relevant", "A"), ("irrelevant", "B")):
        has_nogo = lambda a, stim=stim: any(z < 0 for z in states_A(stim, a)[2])  # noqa: E731
        # bracket on the simulated amplitudes (cached), then bisect inside the bracket
        grid = [0.0] + amps + [3.0]
        ok = [has_nogo(a) for a in grid]
        j = next((k for k in range(1, len(grid)) if ok[k - 1] and not ok[k]), None)
        if j is not None:
            thr[name] = bisect_edge(has_nogo, grid[j - 1], grid[j], tol=0.05 if cfg.quick else 0.005)
    for stim in ("A", "B"):  # every simulated condition (context B maps onto these by symmetry)
        for a in amps:
            states_A(stim, a)
    return states_A, thr


def section_context(cfg: Config, report: Report, results: dict) -> None:
    """Context-dependent discrimination: readout against each stimulus in each context."""
    import matplotlib.pyplot as plt

    ens = context_ensemble()
    dt, P = cfg.dt, CTX_T
    n = {k: int(round(v / dt)) for k, v in P.items()}
    n_tot = sum(n.values())
    amps = sorted(a for a in cfg.context_amplitudes if a > 0)
    a1 = min(amps, key=lambda a: abs(a - 1.0))  # the published amplitude
    conds = [(ctx, None, 0.0) for ctx in "AB"] + [(ctx, stim, a) for ctx in "AB" for stim in "AB" for a in amps]
    idx = {c: i for i, c in enumerate(conds)}
    u = np.zeros((len(conds), n_tot, 4), np.float32)
    for i, (ctx, stim, a) in enumerate(conds):
        u[i, n["discard"]:, 2:4] = _ctx_amplitudes(ctx)
        if stim is not None:
            u[i, n["discard"] + n["context"]:, "AB".index(stim)] = a
    every = 10
    i_on = (n["discard"] + n["context"]) // every
    Z, Kpre = [], []
    for s in range(cfg.seeds_context):
        net = ens.sample(cfg.N_context, key=key_for("context", s))
        x0 = -(np.asarray(net.m).sum(axis=1) + np.asarray(net.n).sum(axis=1))  # NumPy: nothing to compile
        tr = simulate(net, T=n_tot * dt, dt=dt, x0=x0, inputs=u, record=("readout", "kappa"), record_every=every)
        Z.append(tr.readout[:, :, 0]), Kpre.append(tr.kappa[:, i_on])
    Z, Kpre = np.stack(Z), np.stack(Kpre)  # (seeds, conds, time), (seeds, conds, 2)
    t = tr.t - P["discard"] - P["context"]
    z_end = Z[:, :, -1]

    def solves(s_, a):
        return bool(z_end[s_, idx[("A", "A", a)]] > 0 and z_end[s_, idx[("A", "B", a)]] < 0
                    and z_end[s_, idx[("B", "B", a)]] > 0 and z_end[s_, idx[("B", "A", a)]] < 0)

    solved = {a: [solves(s_, a) for s_ in range(cfg.seeds_context)] for a in amps}

    # Theory (rank two, four inputs). Context B is context A with the labels 1 <-> 2 swapped (the
    # ensemble is symmetric under I_A <-> I_B, ctx_A <-> ctx_B), so only context A is solved.
    # Thresholds: the stimulus amplitude above which no stable state with a negative readout (Nogo)
    # remains, for the relevant and for the irrelevant stimulus. Prediction for one condition: the
    # stable state nearest in kappa to the pre-stimulus state (the network stays on its branch while
    # it exists and jumps when it disappears); the pre-stimulus branch is the stable context-only
    # state nearest the simulated kappa.
    th = {}
    solve_kw = context_solver_options(cfg)
    states_A, thr = theory_result("context", lambda: context_theory(cfg))
    if states_A is not None:
        swap = {"A": "B", "B": "A", None: None}
        for ctx in "AB":
            flip = (lambda k: k[::-1]) if ctx == "B" else (lambda k: k)
            k_pre_sim = flip(Kpre[:, idx[(ctx, None, 0.0)]].mean(axis=0))
            pre_states = states_A(None, 0.0)[0]
            if not pre_states:
                continue
            pre = min(pre_states, key=lambda s_: float(np.sum((_kvec(s_) - k_pre_sim) ** 2)))
            for c in conds:
                if c[0] != ctx:
                    continue
                stab, _, zs = states_A(c[1] if ctx == "A" else swap[c[1]], c[2])
                if not stab:
                    th[c] = (None, 0)
                    continue
                j = min(range(len(stab)), key=lambda j_: float(np.sum((_kvec(stab[j_]) - _kvec(pre)) ** 2)))
                th[c] = (zs[j], len(stab))

    with paper_style():
        fig, axes = plt.subplots(1, 3, figsize=(11.6, 3.0), gridspec_kw={"width_ratios": [1, 1, 1.1]})
        show = t >= -P["context"]
        for ax, ctx, letter in ((axes[0], "A", "A"), (axes[1], "B", "B")):
            ax.axvspan(0, P["stimulus"], color="0.94", zorder=0)
            for stim, col in (("A", "C3"), ("B", "C0")):
                j = idx[(ctx, stim, a1)]
                for s_ in range(Z.shape[0]):
                    ax.plot(t[show], Z[s_, j, show], color=col, lw=1.0, alpha=0.8,
                            label=(f"stimulus {stim}" + (" (relevant)" if stim == ctx else " (irrelevant)"))
                            if s_ == 0 else None)
            ax.axhline(0, color="k", lw=0.4)
            ax.set_xlabel("time from stimulus onset ($\\tau$)"), ax.set_ylabel("readout $z$")
            ax.set_title(f"context {ctx}, stimulus amplitude {a1:g}")
            ax.set_ylim(top=0.45)
            ax.legend(fontsize=6, loc="upper left")
            panel_label(ax, letter)
        ax = axes[2]
        xs = np.array([0.0] + amps)
        for rel, col, mk in ((True, "C3", "o"), (False, "C0", "s")):
            if th:  # identical in both contexts (symmetry), drawn once
                cs_ = [("A", None, 0.0)] + [("A", "A" if rel else "B", a) for a in amps]
                ax.plot(xs, [th[c][0] if th.get(c, (None,))[0] is not None else np.nan for c in cs_], color=col,
                        lw=0.9, marker=mk, mfc="none", ms=7, mew=0.9,
                        label=f"theory, {'relevant' if rel else 'irrelevant'} stimulus")
            for k, ctx in enumerate("AB"):
                stim = ctx if rel else {"A": "B", "B": "A"}[ctx]
                js = [idx[(ctx, None, 0.0)]] + [idx[(ctx, stim, a)] for a in amps]
                off = 0.03 * (2 * k - 1) + (0.012 if rel else -0.012)
                for s_ in range(z_end.shape[0]):
                    ax.plot(xs + off, z_end[s_, js], ls="none", marker=mk, ms=2.8, color=col, alpha=0.75,
                            mfc=col if ctx == "A" else "white",
                            label=f"simulation, context {ctx}, stimulus {stim}" if s_ == 0 else None)
        for name, col in (("relevant", "C3"), ("irrelevant", "C0")):
            if thr[name] is not None:
                ax.axvline(thr[name], color=col, ls=":", lw=1.1, label=f"theory threshold, {name} ({thr[name]:.2f})")
        ax.axhline(0, color="k", lw=0.4)
        ax.set_xlabel("stimulus amplitude"), ax.set_ylabel("readout at the end of the stimulus")
        ax.legend(fontsize=5.5, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        panel_label(ax, "C")
        fig.tight_layout()
    caption = (
        f"Rank two: m_r = y_r + {CTX_RHO_M}·ctx_r + {CTX_BETA_M}·w, n_r = I_r + {CTX_RHO_N:g}·ctx_r + "
        f"{CTX_BETA_N:g}·w (r = A, B); I_A, I_B, y_r ~ N(0, {CTX_SIGMA_I}²), w, ctx_r ~ N(0, 1); g = {CTX_G}. "
        f"Protocol: x0 = −m1−m2−n1−n2, discard {P['discard']:g} τ without input, context {P['context']:g} τ "
        f"(input {CTX_GAMMA_ON} along the relevant context vector and {CTX_GAMMA_OFF} along the other), then "
        f"{P['stimulus']:g} τ of stimulus along I_A or I_B. N = {cfg.N_context}, {cfg.seeds_context} sampled "
        f"networks, dt = {dt}. (A, B) readout at the published amplitude {a1:g}, one line per network. "
        "(C) readout at the end against the stimulus amplitude, relevant (red) and irrelevant (blue) stimulus; "
        "small markers: single networks (filled context A, open context B). Theory (`theory.stationary_states`, "
        "rank two with four inputs; identical in both contexts by symmetry): large open markers, readout of "
        "the stable state nearest in κ to the pre-stimulus state (the "
        "network stays on its branch while it exists); dotted lines, the amplitude above which no Nogo "
        "(negative-readout) state remains, for the relevant and the irrelevant stimulus: the task is solved "
        "between the two"
        + f" (stationary states from a {solve_kw['n_starts']} × {solve_kw['n_starts']} grid of Newton starts)"
        + ". The authors warn of strong finite-size effects in this model.")
    report.section("6. Context-dependent discrimination (rank two)",
                   "Context inputs along directions shared by m_r and n_r select which stimulus drives the "
                   "readout (Mastrogiuseppe & Ostojic 2018, Fig. 5).")
    report.figure(fig, "context.png", caption)
    rows = []
    for ctx in "AB":
        for stim in "AB":
            c = (ctx, stim, a1)
            rows.append([ctx, stim, "Go" if ctx == stim else "Nogo", float(z_end[:, idx[c]].mean()),
                         float(z_end[:, idx[c]].std()), float((z_end[:, idx[c]] > 0).mean()),
                         th.get(c, (None, None))[0], th.get(c, (None, None))[1]])
    report.table(["context", "stimulus", "target", "readout sim", "s.d.", "fraction z > 0", "readout theory",
                  "# stable states (theory)"], rows,
                 caption=f"Stimulus amplitude {a1:g}, N = {cfg.N_context}.")
    report.table(["amplitude"] + [f"{a:g}" for a in amps],
                 [["networks solving the task"] + [f"{sum(solved[a])}/{len(solved[a])}" for a in amps]],
                 caption="A network solves the task at an amplitude when its readout ends positive for the relevant "
                         "and negative for the irrelevant stimulus, in both contexts. Theory: solved for amplitudes "
                         f"between {fmt(thr['relevant'])} and {fmt(thr['irrelevant'])}.")
    results["context"] = {
        "N": cfg.N_context, "seeds": cfg.seeds_context, "amplitudes": amps, "published_amplitude": a1,
        "networks_solving": {f"{a:g}": int(sum(v)) for a, v in solved.items()},
        "threshold_relevant_theory": thr["relevant"], "threshold_irrelevant_theory": thr["irrelevant"],
        "readout_end": {f"ctx{c[0]}_stim{c[1] or '0'}_amp{c[2]:g}": z_end[:, i].tolist() for i, c in enumerate(conds)},
        "readout_theory": {f"ctx{c[0]}_stim{c[1] or '0'}_amp{c[2]:g}": v[0] for c, v in th.items()}}
