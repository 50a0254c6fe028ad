"""How each public class is written by :func:`lowrank_rnn.save` and rebuilt by :func:`lowrank_rnn.load`."""

from __future__ import annotations

import numpy as np

from ._ensemble import Ensemble
from ._io import register
from ._network import Network
from ._simulate import RECORDABLE, Trajectory


def _ensemble_out(e: Ensemble):
    return ({"names": list(e.names), "g": float(e.g)},
            {"mean": np.asarray(e.mean), "cov": np.asarray(e.cov), "weights": np.asarray(e.weights)})


def _ensemble_in(meta, arrays):
    return Ensemble(names=meta["names"], mean=arrays["mean"], cov=arrays["cov"], g=meta["g"],
                    weights=arrays["weights"])


def _network_out(net: Network):
    arrays = {"m": net.m, "n": net.n, "inputs": net.inputs, "readouts": net.readouts}
    if net.bulk is not None:
        arrays["bulk"] = net.bulk
    if net.population is not None:
        arrays["population"] = net.population
    meta = {"g": float(net.g), "nonlinearity": net.nonlinearity, "N": net.N, "rank": net.rank,
            "dtype": str(np.asarray(net.m).dtype)}
    return meta, {k: np.asarray(v) for k, v in arrays.items()}


def _network_in(meta, arrays):
    return Network(m=arrays["m"], n=arrays["n"], inputs=arrays["inputs"], readouts=arrays["readouts"],
                   bulk=arrays.get("bulk"), g=meta["g"], population=arrays.get("population"),
                   nonlinearity=meta["nonlinearity"], dtype=meta.get("dtype", "float32"))


def _trajectory_out(tr: Trajectory):
    arrays = {"t": tr.t}
    arrays.update({k: getattr(tr, k) for k in RECORDABLE if getattr(tr, k) is not None})
    return {"dt": tr.dt, "noise": tr.noise}, arrays


def _trajectory_in(meta, arrays):
    return Trajectory(dt=meta["dt"], noise=meta["noise"], **arrays)


register("Ensemble", _ensemble_out, _ensemble_in)
register("Network", _network_out, _network_in)
register("Trajectory", _trajectory_out, _trajectory_in)
