"""The conductance-based LIF neuron with fast synapses: its parameters, checked once."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .._checks import finite_array, real_scalar
from .._errors import ArgumentError


@dataclasses.dataclass(frozen=True)
class _LIF:
    """Checked scalar parameters (ms, mV; ``a_e``, ``a_i`` dimensionless)."""

    a_e: float
    a_i: float
    tau_m: float
    E_L: float
    E_e: float
    E_i: float
    V_th: float
    V_reset: float
    t_ref: float

    @property
    def k_e(self) -> float:
        """Factor $e^{-a_e}$ by which an excitatory event shrinks $V - E_e$."""
        return float(np.exp(-self.a_e))

    @property
    def k_i(self) -> float:
        """Factor $e^{-a_i}$ by which an inhibitory event shrinks $V - E_i$."""
        return float(np.exp(-self.a_i))

    def silent(self, nu_e: np.ndarray) -> np.ndarray:
        """True where the neuron can never fire: no drift above threshold and no excitatory event
        that can reach it."""
        if self.E_L > self.V_th:
            return np.zeros(np.shape(nu_e), dtype=bool)
        return (np.asarray(nu_e) == 0) | (self.E_e <= self.V_th)


def check_rates(nu_e: Any, nu_i: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return the input rates (Hz) as broadcast float64 arrays after checking them."""
    out = []
    for name, value in (("nu_e", nu_e), ("nu_i", nu_i)):
        arr = finite_array(name, value)
        if np.any(arr < 0):
            raise ArgumentError(f"{name} must be >= 0 (an input rate in Hz), got a minimum of {arr.min()}")
        out.append(arr)
    try:
        e, i = np.broadcast_arrays(*out)
    except ValueError:
        raise ArgumentError(f"nu_e and nu_i must broadcast together, got shapes {out[0].shape} and "
                            f"{out[1].shape}") from None
    return np.array(e), np.array(i)


def check_lif(*, a_e, a_i, tau_m, E_L, E_e, E_i, V_th, V_reset, t_ref) -> _LIF:
    """Return the neuron's parameters after checking each and their order."""
    p = _LIF(a_e=real_scalar("a_e", a_e, low=0.0, low_open=True),
             a_i=real_scalar("a_i", a_i, low=0.0, low_open=True),
             tau_m=real_scalar("tau_m", tau_m, low=0.0, low_open=True),
             E_L=real_scalar("E_L", E_L), E_e=real_scalar("E_e", E_e), E_i=real_scalar("E_i", E_i),
             V_th=real_scalar("V_th", V_th), V_reset=real_scalar("V_reset", V_reset),
             t_ref=real_scalar("t_ref", t_ref, low=0.0))
    if p.V_reset >= p.V_th:
        raise ArgumentError(f"V_reset must be < V_th = {p.V_th}, got {p.V_reset}")
    if p.E_i >= p.V_th:
        raise ArgumentError(f"E_i must be < V_th = {p.V_th}, got {p.E_i}")
    if p.E_i >= p.V_reset:
        raise ArgumentError(f"E_i must be < V_reset = {p.V_reset} (the voltage lives above E_i), got {p.E_i}")
    if p.E_i >= p.E_L:
        raise ArgumentError(f"E_i must be < E_L = {p.E_L} (the voltage lives above E_i), got {p.E_i}")
    if p.E_e <= p.E_i:
        raise ArgumentError(f"E_e must be > E_i = {p.E_i}, got {p.E_e}")
    return p
