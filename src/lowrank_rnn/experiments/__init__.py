"""Reproductions of published results: theory and simulation side by side, as figures and a report.

Each reproduction is a module with ``run(out_dir, *, quick=False) -> pathlib.Path`` (the report path),
listed in :data:`REPRODUCTIONS` and reachable as ``lowrank-rnn reproduce NAME --out DIR``.
"""

from __future__ import annotations

import importlib

from .._errors import ArgumentError

#: name on the command line -> module under lowrank_rnn.experiments
REPRODUCTIONS: dict[str, str] = {}
REPRODUCTIONS["mastrogiuseppe2018"] = "mastrogiuseppe2018"
REPRODUCTIONS["shao2024"] = "shao2024"
REPRODUCTIONS["dubreuil2022"] = "dubreuil2022"
REPRODUCTIONS["liu2022_curvature"] = "liu2022_curvature"
REPRODUCTIONS["chen2023_flatness"] = "chen2023_flatness"
REPRODUCTIONS["liu2023_richlazy"] = "liu2023_richlazy"
REPRODUCTIONS["israely2025"] = "israely2025"
REPRODUCTIONS["krotov_hopfield"] = "krotov_hopfield"
REPRODUCTIONS["chen2023_sampler"] = "chen2023_sampler"
REPRODUCTIONS["lu2023"] = "lu2023"
REPRODUCTIONS["lif_conductance"] = "lif_conductance"
REPRODUCTIONS["valente2022"] = "valente2022"
REPRODUCTIONS["langdon2025"] = "langdon2025"
REPRODUCTIONS["hazelden2023"] = "hazelden2023"


def get(name: str):
    """Return the reproduction module registered under ``name`` (a key of :data:`REPRODUCTIONS`).

    Its ``run(out_dir, *, quick=False)`` writes the figures, ``report.md`` and ``results.json``
    and returns the report's path, as ``lowrank-rnn reproduce NAME --out DIR`` does.

    Examples
    --------
    >>> get("mastrogiuseppe2018").__name__
    'lowrank_rnn.experiments.mastrogiuseppe2018'
    """
    if name not in REPRODUCTIONS:
        raise ArgumentError(f"unknown reproduction {name!r}; available: {sorted(REPRODUCTIONS)}")
    return importlib.import_module(f"{__name__}.{REPRODUCTIONS[name]}")
