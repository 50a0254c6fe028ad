"""The Morris–Lecar neuron: the two classic parameter sets and the F–I curve."""

from __future__ import annotations

import dataclasses
import functools

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import finite_array, real_scalar
from .._errors import ArgumentError, ArgumentTypeError, DivergenceError

#: fields that must be > 0, and those that must be >= 0
_POSITIVE = ("C", "V2", "V4", "phi")
_NON_NEGATIVE = ("g_L", "g_Ca", "g_K")


@dataclasses.dataclass(frozen=True)
class MorrisLecarParams:
    r"""Parameters of a Morris–Lecar neuron (µF/cm², mS/cm², mV; $\phi$ in 1/ms), immutable.

    The model (Morris & Lecar 1981, Biophys. J. 35:193; in the form of Rinzel & Ermentrout 1998,
    "Analysis of neural excitability and oscillations"):

    $$C\dot V = I - g_L(V - E_L) - g_{Ca} m_\infty(V)(V - E_{Ca}) - g_K w (V - E_K),\qquad
      \dot w = \phi\,\frac{w_\infty(V) - w}{\tau_w(V)},$$

    $m_\infty(V) = \tfrac12[1 + \tanh((V - V_1)/V_2)]$,
    $w_\infty(V) = \tfrac12[1 + \tanh((V - V_3)/V_4)]$,
    $\tau_w(V) = 1/\cosh((V - V_3)/(2V_4))$. :func:`morris_lecar_params` gives the two classic
    sets; :meth:`replace` returns a copy with some fields changed (checked).

    Examples
    --------
    >>> from lowrank_rnn import biophys
    >>> p = biophys.morris_lecar_params("class2")
    >>> p.g_Ca, p.replace(g_Ca=4.0).g_Ca, p.g_Ca
    (4.4, 4.0, 4.4)
    """

    C: float = 20.0
    g_L: float = 2.0
    E_L: float = -60.0
    g_Ca: float = 4.4
    E_Ca: float = 120.0
    g_K: float = 8.0
    E_K: float = -84.0
    V1: float = -1.2
    V2: float = 18.0
    V3: float = 2.0
    V4: float = 30.0
    phi: float = 0.04

    def __post_init__(self):
        for f in dataclasses.fields(self):
            name = f.name
            if name in _POSITIVE:
                value = real_scalar(name, getattr(self, name), low=0.0, low_open=True)
            elif name in _NON_NEGATIVE:
                value = real_scalar(name, getattr(self, name), low=0.0)
            else:
                value = real_scalar(name, getattr(self, name))
            object.__setattr__(self, name, value)

    def replace(self, **changes) -> MorrisLecarParams:
        """Return a copy with the given fields changed (names and values checked).

        Examples
        --------
        >>> from lowrank_rnn import biophys
        >>> biophys.morris_lecar_params("class1").replace(phi=0.1).phi
        0.1
        """
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ArgumentError(f"unknown Morris–Lecar parameter(s) {unknown}; the fields are {sorted(names)}")
        return dataclasses.replace(self, **changes)


_SETS = {
    # Hopf bifurcation at onset (class 2 excitability)
    "class2": dict(g_Ca=4.4, g_K=8.0, V3=2.0, V4=30.0, phi=0.04),
    # saddle-node on invariant circle at onset (class 1 excitability)
    "class1": dict(g_Ca=4.0, g_K=8.0, V3=12.0, V4=17.4, phi=0.067),
}


def morris_lecar_params(name: str = "class1") -> MorrisLecarParams:
    """Return one of the two classic Morris–Lecar parameter sets of Rinzel & Ermentrout.

    Both share $C = 20$ µF/cm², $g_L = 2$, $E_L = -60$, $E_{Ca} = 120$, $E_K = -84$,
    $V_1 = -1.2$, $V_2 = 18$ (mV, mS/cm²). ``"class1"`` (onset through a saddle-node on an
    invariant circle: the rate rises continuously from 0): $g_{Ca} = 4$, $g_K = 8$, $V_3 = 12$,
    $V_4 = 17.4$, $\\phi = 0.067$. ``"class2"`` (onset through a Hopf bifurcation: the rate jumps
    to a finite value): $g_{Ca} = 4.4$, $g_K = 8$, $V_3 = 2$, $V_4 = 30$, $\\phi = 0.04$
    (Rinzel & Ermentrout 1998, in Koch & Segev, *Methods in Neuronal Modeling*).

    Parameters
    ----------
    name: ``"class1"`` or ``"class2"``.

    Returns
    -------
    MorrisLecarParams
        Immutable; change fields with ``.replace(g_Ca=...)``.

    Examples
    --------
    >>> from lowrank_rnn import biophys
    >>> p = biophys.morris_lecar_params("class1")
    >>> p.V3, p.V4, p.phi
    (12.0, 17.4, 0.067)
    """
    if not isinstance(name, str) or name not in _SETS:
        raise ArgumentError(f"name must be one of {sorted(_SETS)}, got {name!r}")
    return MorrisLecarParams(**_SETS[name])


def _vector_field(t, y, args):
    p, current = args
    v, w = y[0], y[1]
    m_inf = 0.5 * (1 + jnp.tanh((v - p["V1"]) / p["V2"]))
    w_inf = 0.5 * (1 + jnp.tanh((v - p["V3"]) / p["V4"]))
    tau_w = 1.0 / jnp.cosh((v - p["V3"]) / (2 * p["V4"]))
    dv = (current - p["g_L"] * (v - p["E_L"]) - p["g_Ca"] * m_inf * (v - p["E_Ca"])
          - p["g_K"] * w * (v - p["E_K"])) / p["C"]
    dw = p["phi"] * (w_inf - w) / tau_w
    return jnp.stack([dv, dw])


_SAVE_DT = 0.05  # ms between saved voltages: a Morris–Lecar spike lasts several ms


def _save_times(T, transient, n_save: int) -> jax.Array:
    """``n_save`` times from ``transient`` to ``T``, both included, never outside them (diffrax
    refuses save times after ``t1``: ``transient + (T - transient) * k / (n_save - 1)`` in float32
    overshot T = 1000 by 6e-5 ms)."""
    return jnp.clip(jnp.linspace(transient, T, n_save), transient, T)


@functools.partial(jax.jit, static_argnames=("n_save",))
def _counts(p, currents, T, transient, *, n_save):
    ts = _save_times(T, transient, n_save)
    v0 = p["E_L"]
    w0 = 0.5 * (1 + jnp.tanh((v0 - p["V3"]) / p["V4"]))
    y0 = jnp.stack([v0, w0])

    def one(current):
        sol = diffrax.diffeqsolve(diffrax.ODETerm(_vector_field), diffrax.Tsit5(), 0.0, T, 0.05, y0,
                                  args=(p, current), saveat=diffrax.SaveAt(ts=ts),
                                  stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-6),
                                  max_steps=200_000, throw=False)
        v = sol.ys[:, 0]
        ok = (sol.result == diffrax.RESULTS.successful) & jnp.all(jnp.isfinite(v))
        return jnp.sum((v[:-1] < 0.0) & (v[1:] >= 0.0)), ok

    return jax.vmap(one)(currents)


def fi_curve(params, currents, *, T=2000.0, transient=500.0) -> np.ndarray:
    """Return the firing rate (Hz) of a Morris–Lecar neuron for each constant current.

    The neuron (:class:`MorrisLecarParams`) starts at rest, $V = E_L$, $w = w_\\infty(E_L)$, and
    is driven by the constant current $I$ (µA/cm²) for ``T`` ms; spikes are upward crossings of
    0 mV after ``transient`` ms, read from the voltage saved every 0.05 ms, and the rate is their
    number over ``T - transient``. All currents are solved in one compiled, vmapped diffrax solve
    (Tsit5, adaptive steps, relative and absolute tolerance $10^{-6}$). Starting from rest, a
    class 2 neuron in its bistable range (between the saddle-node of cycles and the Hopf point)
    stays silent: the curve is the one seen when the current is switched on from rest. The saved
    voltages take 4 bytes per current per 0.05 ms of window (2.4 MB per current at the defaults):
    split arrays of many thousands of currents.

    Parameters
    ----------
    params: a :class:`MorrisLecarParams`, or ``"class1"`` / ``"class2"``.
    currents: array of constant currents (µA/cm²), any shape; finite.
    T: duration of each run (ms), $> 0$.
    transient: time left out before counting (ms), $0 \\le$ ``transient`` $<$ ``T``.

    Returns
    -------
    numpy.ndarray
        Rates in Hz, the shape of ``currents``. The resolution is $1/(T - \\text{transient})$.

    Raises
    ------
    DivergenceError
        If a solve fails (non-finite voltage or too many steps).

    Examples
    --------
    >>> from lowrank_rnn import biophys
    >>> rates = biophys.fi_curve("class1", [30.0, 60.0], T=600.0, transient=100.0)
    >>> [float(r) for r in rates]
    [0.0, 16.0]
    """
    if isinstance(params, str):
        params = morris_lecar_params(params)
    if not isinstance(params, MorrisLecarParams):
        raise ArgumentTypeError(f"params must be a MorrisLecarParams or 'class1' / 'class2', "
                                f"got {type(params).__name__}")
    currents = finite_array("currents", currents)
    T = real_scalar("T", T, low=0.0, low_open=True)
    transient = real_scalar("transient", transient, low=0.0)
    if transient >= T:
        raise ArgumentError(f"transient must be < T = {T}, got {transient}")
    window = T - transient
    n_save = int(np.ceil(window / _SAVE_DT)) + 1
    p = {k: jnp.asarray(v) for k, v in dataclasses.asdict(params).items()}
    flat = jnp.asarray(currents.ravel())
    if flat.size == 0:
        return np.zeros(currents.shape)
    counts, ok = _counts(p, flat, jnp.asarray(T), jnp.asarray(transient), n_save=n_save)
    ok = np.asarray(ok)
    if not ok.all():
        bad = int(np.argmin(ok))
        raise DivergenceError(f"the Morris–Lecar solve failed at current {float(flat[bad])} (non-finite voltage or "
                              "more than 200000 steps): check the parameters", trial=bad)
    return (np.asarray(counts, dtype=float) * 1000.0 / window).reshape(currents.shape)
