"""Rank-two, g = 0 section of the Mastrogiuseppe & Ostojic 2018 reproduction: a ring attractor (equal
overlaps) and a limit cycle (overlap matrix with complex eigenvalues), mean-field latent flow against
simulated trajectories projected on kappa."""

from __future__ import annotations

import numpy as np

from .._ensemble import Ensemble
from .._simulate import simulate
from ._m2018_common import Config, key_for, panel_label, paper_style, theory_fn, theory_result
from ._report import Report

#: overlap matrices E[n_r m_s] (Beiran et al. 2021, Neural Comput. 33:1572, Fig. 3)
RING_OVERLAP = ((1.6, 0.0), (0.0, 1.6))
CYCLE_OVERLAP = ((1.6, -0.8), (0.8, 1.6))
N_NOISE = 0.3  # independent part of n


def rank_two_ensemble(overlap) -> Ensemble:
    """Return the g = 0 rank-two ensemble with m_r ~ N(0, 1) independent and n_r = sum_s O_rs m_s + 0.3 z_r.

    Then E[n_r m_s] = O_rs (the overlap matrix) and the means vanish; the independent parts z_r do
    not enter the mean-field flow, only the finite-N fluctuations.
    """
    O = np.asarray(overlap, float)
    return Ensemble.from_directions({
        "m1": {"x1": 1.0}, "m2": {"x2": 1.0},
        "n1": {"x1": O[0, 0], "x2": O[0, 1], "z1": N_NOISE},
        "n2": {"x1": O[1, 0], "x2": O[1, 1], "z2": N_NOISE}}, g=0.0)


def _starts(n: int, radii=(0.25, 1.6)) -> np.ndarray:
    """Initial latents: n points on two circles (inside and outside the attractor), angles staggered."""
    out = []
    for j in range(n):
        r = radii[j % 2]
        th = 2 * np.pi * (j + 0.5) / n
        out.append((r * np.cos(th), r * np.sin(th)))
    return np.asarray(out)


def _simulate_latents(ens: Ensemble, cfg: Config, seed: int, tag: str):
    """Simulate from x0 = m kappa0 and return (t, kappa(t) as the coordinates of x along m, (B, T, 2))."""
    net = ens.sample(cfg.N_rank_two, key=key_for(tag, seed))
    m = np.asarray(net.m, np.float64)
    k0 = _starts(cfg.rank_two_starts)
    x0 = (k0 @ m.T).astype(np.float32)
    tr = simulate(net, T=cfg.T_rank_two, dt=cfg.dt, x0=x0, record=("x",), record_every=4)
    proj = np.linalg.pinv(m)  # (2, N): least-squares coordinates of x on the m vectors
    return tr.t, np.einsum("rn,btn->btr", proj, tr.x.astype(np.float64)), net


def _period(t, k) -> float | None:
    """Return the mean period from upward crossings of kappa_2 = 0 with kappa_1 > 0 (second half)."""
    half = t >= t[-1] / 2
    t, k = t[half], k[half]
    i = np.flatnonzero((k[:-1, 1] < 0) & (k[1:, 1] >= 0) & (k[:-1, 0] > 0))
    if len(i) < 2:
        return None
    tc = t[i] - k[i, 1] * (t[i + 1] - t[i]) / (k[i + 1, 1] - k[i, 1])
    return float(np.mean(np.diff(tc)))


#: half-width of the flow-field panels
FLOW_LIM = 1.9


def flow_grid(cfg: Config) -> int:
    """Grid points per axis of the flow-field panels."""
    return 31 if cfg.quick else 41


def rank_two_theory(cfg: Config):
    """Return (fixed points of the ring ensemble, ring radius, limit cycle of the cycle ensemble).

    Also evaluates the flow fields that the figure draws (``theory.flow_field``, same grid), so that
    when this runs in the background their compilation is done before the figure is made.
    """
    ring, cyc = rank_two_ensemble(RING_OVERLAP), rank_two_ensemble(CYCLE_OVERLAP)
    lfp, lc, ff = theory_fn("latent_fixed_points"), theory_fn("limit_cycle"), theory_fn("flow_field")
    ring_fps = lfp(ring) if lfp is not None else []
    radii = [fp.radius for fp in ring_fps if getattr(fp, "continuum", None) and fp.radius is not None]
    r_theory = float(radii[0]) if radii else None
    cycle = lc(cyc) if lc is not None else None
    if ff is not None:
        for ens in (ring, cyc):
            ff(ens, lim=FLOW_LIM, n=flow_grid(cfg))
    return ring_fps, r_theory, cycle


def section_rank_two(cfg: Config, report: Report, results: dict) -> None:
    """Ring attractor and limit cycle at g = 0: flow field, fixed points, cycle, simulated trajectories."""
    import matplotlib.pyplot as plt

    ring, cyc = rank_two_ensemble(RING_OVERLAP), rank_two_ensemble(CYCLE_OVERLAP)
    pff = theory_fn("plot_flow_field")

    r_sim, drift, per_sim, amp_sim = [], [], [], []
    traj = {}
    for s in range(cfg.seeds_rank_two):
        t, k, _ = _simulate_latents(ring, cfg, s, "ring")
        rad = np.hypot(k[:, :, 0], k[:, :, 1])
        r_sim.append(rad[:, -1])
        ang = np.unwrap(np.arctan2(k[:, :, 1], k[:, :, 0]), axis=1)
        last = t >= t[-1] - 10.0
        drift.append(np.abs(ang[:, last][:, -1] - ang[:, last][:, 0]) / 10.0)
        if s == 0:
            traj["ring"] = (t, k)
        t, k, _ = _simulate_latents(cyc, cfg, s, "cycle")
        per_sim.append([_period(t, k[b]) for b in range(k.shape[0])])
        late = t >= t[-1] / 2
        amp_sim.append(0.5 * (k[:, late].max(axis=1) - k[:, late].min(axis=1)))
        if s == 0:
            traj["cycle"] = (t, k)
    r_sim, drift = np.concatenate(r_sim), np.concatenate(drift)
    per_flat = np.array([p for ps in per_sim for p in ps if p is not None])
    amp_sim = np.concatenate(amp_sim)
    ring_fps, r_theory, cycle = theory_result("rank_two", lambda: rank_two_theory(cfg))

    with paper_style():
        fig, axes = plt.subplots(2, 2, figsize=(8.6, 6.8), gridspec_kw={"width_ratios": [1.3, 1]})
        for row, (ens, name) in enumerate(((ring, "ring"), (cyc, "cycle"))):
            ax = axes[row, 0]
            lim = FLOW_LIM
            if pff is not None:
                pff(ens, ax=ax, lim=lim, n=flow_grid(cfg),
                    fixed_points=ring_fps if name == "ring" else True, cycle=cycle if name == "cycle" else False)
            t, k = traj[name]
            for b in range(k.shape[0]):
                ax.plot(k[b, :, 0], k[b, :, 1], color="C1", lw=0.9, alpha=0.9,
                        label="simulation (x projected on m)" if b == 0 else None)
                ax.plot(k[b, 0, 0], k[b, 0, 1], "o", color="C1", ms=2.5)
            ax.set_xlim(-lim, lim), ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.legend(fontsize=5.5, loc="upper left", framealpha=0.8, frameon=True)
            ax.set_title("ring attractor, O = 1.6·I" if name == "ring"
                         else "limit cycle, O = [[1.6, −0.8], [0.8, 1.6]]")
            panel_label(ax, "AC"[row])
        ax = axes[0, 1]
        t, k = traj["ring"]
        for b in range(k.shape[0]):
            ax.plot(t, np.hypot(k[b, :, 0], k[b, :, 1]), color="C1", lw=0.8)
        if r_theory is not None:
            ax.axhline(r_theory, color="C0", ls="--", lw=1.2, label=f"theory ring radius {r_theory:.3f}")
        ax.set_xlabel("time ($\\tau$)"), ax.set_ylabel(r"$|\kappa|$")
        ax.set_title("ring: radius of simulated trajectories")
        ax.legend(fontsize=6, loc="lower right")
        panel_label(ax, "B")
        ax = axes[1, 1]
        t, k = traj["cycle"]
        b = 1 if k.shape[0] > 1 else 0  # a start outside the cycle
        ax.plot(t, k[b, :, 0], color="C1", lw=1.0, label=r"simulation $\kappa_1$")
        ax.plot(t, k[b, :, 1], color="C4", lw=1.0, label=r"simulation $\kappa_2$")
        if cycle is not None:
            # the theory orbit, phase-aligned to the simulation's last upward crossing of the section
            tt = t[t >= t[-1] / 2]
            kk = k[b, t >= t[-1] / 2]
            i = np.flatnonzero((kk[:-1, 1] < 0) & (kk[1:, 1] >= 0) & (kk[:-1, 0] > 0))
            if len(i):
                t0 = tt[i[-1]]
                tc = np.arange(t0 - 2 * cycle.period, t[-1], cycle.t[1] - cycle.t[0])
                ph = np.mod(tc - t0, cycle.period)
                orbit = np.stack([np.interp(ph, cycle.t, cycle.orbit[:, r], period=cycle.period)
                                  for r in range(2)], -1)
                ax.plot(tc, orbit[:, 0], "k--", lw=0.9, label="theory orbit (phase aligned)")
                ax.plot(tc, orbit[:, 1], "k--", lw=0.9)
        ax.set_xlabel("time ($\\tau$)"), ax.set_ylabel(r"$\kappa$")
        ax.set_title("limit cycle: latents over time")
        ax.set_ylim(-1.6, 2.7)
        ax.set_yticks([-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5])
        ax.legend(fontsize=6, loc="upper right", ncol=3)
        panel_label(ax, "D")
        fig.tight_layout()
    caption = (
        "Rank two, g = 0, zero means: m_1, m_2 ~ N(0, 1) independent, n_r = Σ_s O_rs m_s + 0.3 z_r, so the "
        "overlap matrix E[n_r m_s] = O. Ring: O = 1.6·I; limit cycle: O = [[1.6, −0.8], [0.8, 1.6]] "
        "(eigenvalues 1.6 ± 0.8i). Background, streamlines, fixed points (filled stable, open unstable) and "
        "ring/cycle: mean-field latent flow dκ/dt = −κ + O κ [φ'](0, |κ|²) "
        "(`theory.plot_flow_field`, `latent_fixed_points`, `limit_cycle`). Orange: simulated networks "
        f"(N = {cfg.N_rank_two}, dt = {cfg.dt}, T = {cfg.T_rank_two:g}) started at x0 = m κ0 from "
        f"{cfg.rank_two_starts} points, state x projected on the m vectors by least squares. (B) |κ| of the "
        "ring trajectories against the theory ring radius. (D) latents of one cycle trajectory against the "
        "theory orbit, phase-aligned at the last crossing of κ2 = 0.")
    report.section("7. Rank two at g = 0: ring attractor and limit cycle",
                   "Equal overlaps give a continuum of fixed points (a ring); an overlap matrix with complex "
                   "eigenvalues a limit cycle (Mastrogiuseppe & Ostojic 2018, Fig. 5 / S5; Beiran et al. 2021).")
    report.figure(fig, "rank_two.png", caption)
    rows = [["ring radius", r_theory, float(r_sim.mean()), float(r_sim.std())],
            ["ring angular drift at the end (rad/τ)", 0.0, float(drift.mean()), float(drift.std())],
            ["cycle period (τ)", cycle.period if cycle is not None else None,
             float(per_flat.mean()) if per_flat.size else None, float(per_flat.std()) if per_flat.size else None],
            ["cycle amplitude κ1", float(cycle.amplitude[0]) if cycle is not None else None,
             float(amp_sim[:, 0].mean()), float(amp_sim[:, 0].std())],
            ["cycle amplitude κ2", float(cycle.amplitude[1]) if cycle is not None else None,
             float(amp_sim[:, 1].mean()), float(amp_sim[:, 1].std())]]
    report.table(["quantity", "theory", "simulation (mean)", "s.d."], rows,
                 caption=f"{cfg.seeds_rank_two} network(s) × {cfg.rank_two_starts} starts, N = {cfg.N_rank_two}; "
                         "simulated values at the end (ring) or over the second half (cycle). A finite network "
                         "breaks the ring into a few slow points (hence the residual drift): trajectories settle "
                         "along the top eigenvector of the sampled overlap matrix, whose eigenvalue, the larger of "
                         "two noisy ones, is biased upward, and so is the simulated radius.")
    results["rank_two"] = {
        "N": cfg.N_rank_two, "seeds": cfg.seeds_rank_two,
        "ring_radius_theory": r_theory, "ring_radius_sim": r_sim.tolist(),
        "ring_drift_sim": drift.tolist(),
        "cycle_period_theory": cycle.period if cycle is not None else None,
        "cycle_period_sim": per_flat.tolist(),
        "cycle_amplitude_theory": cycle.amplitude.tolist() if cycle is not None else None,
        "cycle_amplitude_sim": amp_sim.tolist()}
