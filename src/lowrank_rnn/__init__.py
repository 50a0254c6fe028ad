"""lowrank-rnn: recurrent networks whose connectivity is a random part plus a low-rank structure.

Describe a network by the statistics of its connectivity (:class:`Ensemble`), sample instances
(:class:`Network`), simulate them (:func:`simulate`), and set their spectra beside the theory
(:mod:`lowrank_rnn.spectrum`). See Mastrogiuseppe & Ostojic 2018, Neuron 99:609.

The sub-packages (``theory``, ``motifs``, ``tasks``, ``models``, ``training``, ``analysis``,
``learning``, ``sampling``, ``experiments``) are attributes of the package, imported on first use, so
``import lowrank_rnn as lr; lr.theory.stationary_states(...)`` works and ``import lowrank_rnn``
stays quick.
"""

from ._version import __version__ as __version__


def _cpu_reduce_fusion_workaround() -> None:
    """Turn off XLA:CPU's YNNPACK reduce fusion on the jaxlib releases where it returns wrong sums.

    jaxlib 0.10.2 computes some multi-axis reductions wrongly on CPU (jax-ml/jax#39103): here, the
    delayed-XOR cross-entropy of a vmapped population of networks came back with members' losses
    repeated. ``--xla_cpu_experimental_ynn_fusion_type=-reduce`` (XLA_FLAGS) avoids it. XLA reads
    the flags when JAX first computes, so this only acts if that has not happened yet; a flag the
    user set is left alone. JAX's compilation cache keys include XLA_FLAGS, so no wrong program is
    reused from it.
    """
    import os
    import re
    import warnings

    import jaxlib.version

    # leading digits of each part, so that e.g. "0.11.0rc1" or "0.10.2.dev20260101" parse
    version = tuple(int(re.match(r"\d*", p).group() or 0) for p in jaxlib.version.__version__.split(".")[:3])
    if not (0, 10, 2) <= version < (0, 12, 0):
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_experimental_ynn_fusion_type" in flags:
        return
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        warnings.warn("lowrank_rnn was imported after JAX had computed: on jaxlib 0.10.2 some CPU reductions "
                      "may be wrong (jax-ml/jax#39103); import lowrank_rnn first or set "
                      "XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=-reduce", RuntimeWarning, stacklevel=3)
        return
    os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_experimental_ynn_fusion_type=-reduce").strip()


_cpu_reduce_fusion_workaround()

from . import spectrum as spectrum
from ._ensemble import Ensemble as Ensemble
from ._errors import (ArgumentError as ArgumentError, ArgumentTypeError as ArgumentTypeError,
                      DivergenceError as DivergenceError, FileFormatError as FileFormatError,
                      LowRankRNNError as LowRankRNNError, RunFolderError as RunFolderError)
from ._io import load as load, save as save
from ._network import Network as Network
from ._simulate import Trajectory as Trajectory, simulate as simulate
from . import _savers  # noqa: F401  (registers the savable classes)

#: sub-packages imported on first attribute access (module __getattr__, PEP 562)
_LAZY_SUBPACKAGES = ("theory", "motifs", "tasks", "models", "training", "analysis", "learning", "experiments", "sampling", "sweep")
_LAZY_SUBPACKAGES += ("memory",)  # Hopfield 1982, Krotov & Hopfield 2019
_LAZY_SUBPACKAGES += ("causal",)  # Lu et al. 2023: connectivity from activity
_LAZY_SUBPACKAGES += ("fitting",)  # networks fitted to recordings
_LAZY_SUBPACKAGES += ("io",)  # exports for MARBLE and TiDHy
_LAZY_SUBPACKAGES += ("biophys",)  # biophysical neurons: the conductance-based LIF rate


def __getattr__(name: str):
    if name in _LAZY_SUBPACKAGES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")  # the import binds it on the package
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_SUBPACKAGES))


__all__ = ["Ensemble", "Network", "simulate", "Trajectory", "spectrum", "save", "load",
           "DivergenceError", "LowRankRNNError", "ArgumentError", "ArgumentTypeError",
           "FileFormatError", "RunFolderError", "__version__"]
