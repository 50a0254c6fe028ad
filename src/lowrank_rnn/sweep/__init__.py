"""Parameter sweeps on Dask with results in Zarr: :func:`sweep` (Israely et al. 2025 as the showcase).

``lowrank_rnn.sweep`` is this sub-package, and calling it calls :func:`sweep`
(``lowrank_rnn.sweep(fn, grid, replicates=..., key=..., store=...)``); ``from lowrank_rnn.sweep
import sweep`` gives the function itself.
"""

import sys as _sys
import types as _types

from ._sweep import sweep as sweep


class _CallableModule(_types.ModuleType):
    """The sub-package, callable as :func:`sweep` (the name is both the sub-package and its verb)."""

    def __call__(self, *args, **kwargs):
        return sweep(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule

__all__ = ["sweep"]
