"""Motif statistics: a container shared by descriptions (predicted) and estimators (measured)."""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["MotifStatistics", "motif_counts"]


def motif_counts(sizes) -> dict[str, np.ndarray]:
    """Return the number of ordered motifs of each kind per population block (distinct neurons).

    Keys and shapes follow :class:`MotifStatistics`: ``reciprocal`` ``(P, P)`` (ordered pairs
    i in p, j in q), ``convergent`` ``(P, P, P)`` (i in p; j in q, k in r), ``divergent``
    ``(P, P, P)`` (j in q; i in p, k in r), ``chain`` ``(P, P, P)`` (k in r -> j in q -> i in p).
    """
    n = np.asarray(sizes, float)
    P = len(n)
    d = np.eye(P)
    p, q, r = np.meshgrid(np.arange(P), np.arange(P), np.arange(P), indexing="ij")
    rec = n[:, None] * (n[None, :] - d)
    con = n[p] * ((n[q] - d[p, q]) * (n[r] - d[p, r]) - d[q, r] * (n[q] - d[p, q]))
    # divergent index [q, p, r]: shared presynaptic j in q (first), targets i in p, k in r
    div = n[p] * ((n[q] - d[p, q]) * (n[r] - d[p, r]) - d[q, r] * (n[q] - d[p, q]))
    # chain index [p, q, r]: i in p, j in q, k in r; i != j, k != j, i != k
    chn = n[q] * ((n[p] - d[p, q]) * (n[r] - d[q, r]) - d[p, r] * (n[p] - d[p, q]))
    return {"reciprocal": rec, "convergent": con, "divergent": div, "chain": chn}


@dataclasses.dataclass(frozen=True, eq=False)
class MotifStatistics:
    """The four second-order motif statistics of a connectivity, per population block.

    All are correlation coefficients of two weights sharing a neuron (Shao et al. 2025, arXiv
    2411.06802; Zhao et al. 2011, Front. Comput. Neurosci. 5:28), for distinct i in p, j in q,
    k in r:

    * ``reciprocal[..., p, q] = Corr(w_ij, w_ji)``;
    * ``convergent[..., p, q, r] = Corr(w_ij, w_ik)`` (two inputs onto i);
    * ``divergent[..., q, p, r] = Corr(w_ij, w_kj)`` (two outputs of j; the shared neuron first);
    * ``chain[..., p, q, r] = Corr(w_ij, w_jk)`` (k -> j -> i). The population-specific chain
      ``tau_XY`` of Shao et al. (X -> Y -> any) is ``chain[..., :, Y, X]``.

    ``sigma[..., p, q]`` is the weight standard deviation times ``sqrt(N)`` and
    ``couplings[..., p, q]`` the population-summed mean coupling ``N_q E[w_ij]``.
    ``pooled`` holds the four statistics averaged over blocks with weights equal to the number of
    motifs in each block (for one population: the plain statistics). Blocks without variance give NaN.

    Examples
    --------
    >>> from lowrank_rnn.motifs import MotifEnsemble
    >>> st = MotifEnsemble.ei(800, 200, 0.65, 1.65, g=0.2, chain=0.05).statistics()
    >>> st.chain.shape, round(float(st.pooled["chain"]), 3), round(float(st.pooled["reciprocal"]), 3)
    ((2, 2, 2), 0.05, 0.1)
    """

    sizes: tuple[int, ...]
    populations: tuple[str, ...]
    reciprocal: np.ndarray
    convergent: np.ndarray
    divergent: np.ndarray
    chain: np.ndarray
    sigma: np.ndarray
    couplings: np.ndarray
    pooled: dict

    @classmethod
    def from_blocks(cls, sizes, reciprocal, convergent, divergent, chain, *, sigma, couplings,
                    populations=None) -> MotifStatistics:
        """Return the statistics with ``pooled`` filled in from block values (motif-count weights)."""
        sizes = tuple(int(s) for s in sizes)
        P = len(sizes)
        if populations is None:
            populations = ("E", "I") if P == 2 else tuple(f"P{k}" for k in range(P))
        counts = motif_counts(sizes)
        pooled = {}
        for name, val in (("reciprocal", reciprocal), ("convergent", convergent), ("divergent", divergent),
                          ("chain", chain)):
            w = counts[name]
            val = np.asarray(val, float)
            ok = np.isfinite(val)
            axes = tuple(range(val.ndim - w.ndim, val.ndim))
            num = np.sum(np.where(ok, val * w, 0.0), axis=axes)
            den = np.sum(np.where(ok, w, 0.0), axis=axes)
            with np.errstate(invalid="ignore", divide="ignore"):
                pooled[name] = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
            if pooled[name].ndim == 0:
                pooled[name] = float(pooled[name])
        return cls(sizes, tuple(populations), np.asarray(reciprocal, float), np.asarray(convergent, float),
                   np.asarray(divergent, float), np.asarray(chain, float), np.asarray(sigma, float),
                   np.asarray(couplings, float), pooled)

    def chain_xy(self, x: str, y: str) -> np.ndarray:
        """Return the chain statistic ``X -> Y -> i`` for every population of i, ``(..., P)``."""
        ix, iy = self.populations.index(x), self.populations.index(y)
        return self.chain[..., :, iy, ix]

    def as_dict(self) -> dict:
        """Return the statistics as plain nested lists (for JSON)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in out.items()}
