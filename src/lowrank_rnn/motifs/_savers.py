"""Saving :class:`MotifEnsemble` with :func:`lowrank_rnn.save` (JSON header plus arrays).

Registered when :mod:`lowrank_rnn.motifs` is imported; import it before :func:`lowrank_rnn.load`
reads a saved MotifEnsemble.
"""

from __future__ import annotations

import numpy as np

from .._io import register
from ._ensemble import MotifEnsemble


def _out(e: MotifEnsemble):
    meta = {"sizes": list(e.sizes), "populations": list(e.populations)}
    arrays = {"couplings": e.couplings, "sigma": e.sigma, "conv_loading": e.conv_loading,
              "div_loading": e.div_loading, "latent_corr": e.latent_corr, "iid_reciprocal": e.iid_reciprocal}
    return meta, {k: np.asarray(v) for k, v in arrays.items()}


def _in(meta, arrays):
    return MotifEnsemble(meta["sizes"], arrays["couplings"], arrays["sigma"], arrays["conv_loading"],
                         arrays["div_loading"], arrays["latent_corr"], arrays["iid_reciprocal"],
                         populations=meta["populations"])


register("MotifEnsemble", _out, _in)
