"""The configuration and the published numbers of the Dubreuil, Valente et al. 2022 reproduction."""

from __future__ import annotations

import dataclasses

TASKS = ("rdm", "romo", "raposo", "mante", "dms")

#: Published numbers (reference code's data/*_results.npz over 100 trained networks per task):
#: trained accuracy (median, min) and accuracy after resampling from ONE Gaussian (median, mean).
PUBLISHED = {
    "rdm": {"trained": (1.000, 1.000), "resampled": (1.000, 1.000)},
    "romo": {"trained": (1.000, 0.935), "resampled": (0.980, 0.958)},
    "raposo": {"trained": (1.000, 1.000), "resampled": (1.000, 1.000)},
    "mante": {"trained": (1.000, 0.985), "resampled": (0.730, 0.701)},
    "dms": {"trained": (1.000, 0.355), "resampled": (0.510, 0.536)},
}

#: Published median accuracy of full-rank networks with the learned change truncated to rank r = 1..5.
PUBLISHED_TRUNCATION = {"rdm": (0.99, 1.0, 1.0, 1.0, 1.0), "romo": (0.21, 0.69, 0.92, 0.965, 0.965),
                        "raposo": (0.475, 0.87, 0.985, 1.0, 1.0), "mante": (0.53, 0.69, 0.78, 0.815, 0.86),
                        "dms": (0.515, 0.475, 0.495, 0.51, 0.73)}


@dataclasses.dataclass(frozen=True)
class Config:
    """Sizes of the run: the default (published N where affordable, a few networks per task) or quick."""

    quick: bool
    tasks: tuple[str, ...] = TASKS
    hidden: tuple[tuple[str, int], ...] = (("rdm", 512), ("romo", 512), ("raposo", 512), ("mante", 512),
                                           ("dms", 256))
    n_networks: tuple[tuple[str, int], ...] = (("rdm", 3), ("romo", 2), ("raposo", 3), ("mante", 3), ("dms", 2))
    n_resampled: int = 5
    n_eval_trials: int = 1000
    two_population_tasks: tuple[str, ...] = ("mante", "dms")
    #: DMS: epochs at delay <= 700 ms (published up to 300, early stop 0.01), then per shaping stage
    dms_epochs: int = 100
    dms_pretrain_epochs: int = 10
    dms_shaping: tuple[float, ...] = (1500.0, 3000.0)
    dms_shaping_epochs: int = 30
    truncation: bool = True
    truncation_hidden: int = 256
    truncation_epochs: int = 20
    truncation_ranks: tuple[int, ...] = (1, 2, 3, 4, 5)

    @classmethod
    def make(cls, quick: bool) -> "Config":
        """Return the default configuration, or the quick one (RDM and Mante, N = 128, one network)."""
        if not quick:
            return cls(quick=False)
        return cls(quick=True, tasks=("rdm", "mante"), hidden=(("rdm", 128), ("mante", 128)),
                   n_networks=(("rdm", 1), ("mante", 1)), n_resampled=3, n_eval_trials=500,
                   two_population_tasks=("mante",), truncation=False)

    def N(self, task: str) -> int:
        """Neurons of the networks trained on ``task``."""
        return dict(self.hidden)[task]

    def networks(self, task: str) -> int:
        """Networks trained on ``task``."""
        return dict(self.n_networks)[task]
