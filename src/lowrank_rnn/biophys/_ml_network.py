"""Networks of Morris–Lecar neurons coupled by kinetic conductance synapses, solved by diffrax: the
biophysical networks of Hazelden et al. 2023 (arXiv:2311.10869)."""

from __future__ import annotations

import copy
import dataclasses

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import float_dtype, is_concrete, positive_int, prng_key, real_scalar
from .._errors import ArgumentError, ArgumentTypeError, FileFormatError, RunFolderError
from .._io import register
from ._morris_lecar import MorrisLecarParams, morris_lecar_params

#: The solvers of :class:`MorrisLecarNetwork`: explicit adaptive Runge–Kutta or L-stable implicit.
ML_SOLVERS = ("tsit5", "kvaerno5")


@dataclasses.dataclass(frozen=True)
class SynapseParams:
    r"""Kinetic synapse parameters (Destexhe, Mainen & Sejnowski 1994), immutable.

    The fraction of open channels of presynaptic cell $j$ follows
    $\dot s_j = \alpha\,T(V_j)(1 - s_j) - \beta s_j$ with the transmitter concentration
    $T(V) = 1/(1 + e^{-(V - V_p)/K_p})$; excitatory cells (AMPA-like) use ``alpha_exc``,
    ``beta_exc`` and reversal ``E_exc``, inhibitory ones (GABA_A-like) ``alpha_inh``, ``beta_inh``,
    ``E_inh``. Rates in 1/ms, voltages in mV.

    >>> SynapseParams().E_inh
    -80.0
    """

    alpha_exc: float = 1.1
    beta_exc: float = 0.19
    alpha_inh: float = 5.0
    beta_inh: float = 0.18
    V_p: float = 2.0
    K_p: float = 5.0
    E_exc: float = 0.0
    E_inh: float = -80.0

    def __post_init__(self):
        for f in dataclasses.fields(self):
            if f.name.startswith(("alpha", "beta")) or f.name == "K_p":
                value = real_scalar(f.name, getattr(self, f.name), low=0.0, low_open=True)
            else:
                value = real_scalar(f.name, getattr(self, f.name))
            object.__setattr__(self, f.name, value)
        if self.E_inh >= self.E_exc:
            raise ArgumentError(f"E_inh must be < E_exc, got E_inh = {self.E_inh}, E_exc = {self.E_exc}")


def _softplus_inverse(x):
    return x + jnp.log(-jnp.expm1(-x))


class MorrisLecarNetwork(eqx.Module):
    r"""A network of ``n`` Morris–Lecar neurons coupled by kinetic conductance synapses, with input
    currents and a linear readout of the synaptic activations, solved by diffrax.

    Neuron $i$ (Morris & Lecar 1981; parameters of Rinzel & Ermentrout 1998, see
    :class:`MorrisLecarParams`) with synaptic gating $s_i$ (Destexhe, Mainen & Sejnowski 1994,
    :class:`SynapseParams`):

    $$C\dot V_i = I^{\mathrm{ext}}_i(t) + I^{\mathrm{syn}}_i - g_L(V_i - E_L)
        - g_{Ca} m_\infty(V_i)(V_i - E_{Ca}) - g_K w_i (V_i - E_K),\qquad
      \dot w_i = \phi\,\frac{w_\infty(V_i) - w_i}{\tau_w(V_i)},$$
    $$\dot s_i = \alpha_i T(V_i)(1 - s_i) - \beta_i s_i,\qquad
      I^{\mathrm{syn}}_i = \sum_j g_{ij}\, s_j\,(E_j - V_i),\qquad
      I^{\mathrm{ext}}_i = b_i + \sum_k W^{\mathrm{in}}_{ik} u_k(t),$$

    and the readout $y(t) = W^{\mathrm{out}} s(t) + b^{\mathrm{out}}$. The first
    ``round(frac_exc * n)`` cells are excitatory ($E_j = E_{exc} = 0$ mV), the others inhibitory
    ($E_j = E_{inh} = -80$ mV): the sign of each presynaptic cell's effect is fixed by its type
    (Dale's law by construction). The conductances are $g_{ij} = \mathrm{softplus}(\rho_{ij})
    \ge 0$ (mS/cm²; no autapses) with $\rho$ the trained array; initially $g_{ij}$ is log-normal
    with mean ``g_mean / n``. Units: mV, ms, µA/cm², mS/cm².

    The inputs $u$ of a trial are samples every ``dt`` ms, ``(T, K)``; sample $k$ sits at
    $(k + \tfrac12)\,dt$ and $u$ is interpolated linearly between samples (constant beyond the
    ends), and the state is saved at $t = (k + 1)\,dt$, $k = 0..T-1$. Every trial starts at rest:
    $V = E_L$, $w = w_\infty(E_L)$, $s = 0$. ``solver="tsit5"`` (explicit adaptive, default) or
    ``"kvaerno5"`` (L-stable implicit, for stiff regimes), both with a PID step-size controller
    (``rtol``, ``atol``); gradients go through the solver by diffrax's recursive checkpointed
    adjoint. ``dtype=jnp.float64`` (with JAX's 64-bit mode) for double precision. This is the
    network of Hazelden, Liu, Shlizerman & Shea-Brown 2023 (arXiv:2311.10869) as we reconstruct it:
    the paper's synapse model and readout are not public, these are our choices.

    Parameters
    ----------
    n: number of neurons, >= 1.
    n_inputs, n_outputs: input channels K and readout channels O, >= 1; ``n_outputs <= n``.
    params: a :class:`MorrisLecarParams` or ``"class1"`` / ``"class2"``.
    frac_exc: fraction of excitatory cells, in [0, 1].
    key: ``jax.random`` key of the initial weights.
    dt: time between input samples and saved states (ms), > 0.
    g_mean: mean total conductance onto a cell at initialisation (mS/cm²), >= 0.
    bias_mean, bias_std: the bias currents $b_i$ are drawn from a normal (µA/cm²); the default
        mean sits near the class 1 rheobase, so that part of the network fires at rest.
    input_std: standard deviation of $W^{\mathrm{in}}$ (µA/cm² per unit input).
    synapse: :class:`SynapseParams`.
    solver, rtol, atol, max_steps: the diffrax solve.
    dtype: floating dtype of the weights and the solve (None: JAX's default).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> net = MorrisLecarNetwork(6, 1, 1, key=jax.random.key(0))
    >>> net(jnp.zeros((20, 1))).shape                        # 20 samples of 1 ms: (T, outputs)
    (20, 1)
    >>> bool(jnp.all(net.conductances >= 0)), net.n_exc
    (True, 5)
    """

    g_raw: jax.Array
    w_in: jax.Array
    bias: jax.Array
    w_out: jax.Array
    b_out: jax.Array
    n: int = eqx.field(static=True)
    n_exc: int = eqx.field(static=True)
    params: MorrisLecarParams = eqx.field(static=True)
    synapse: SynapseParams = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    solver: str = eqx.field(static=True)
    rtol: float = eqx.field(static=True)
    atol: float = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)

    def __init__(self, n: int, n_inputs: int, n_outputs: int, *, params="class1", frac_exc: float = 0.8, key,
                 dt: float = 1.0, g_mean: float = 1.0, bias_mean: float = 40.0, bias_std: float = 5.0,
                 input_std: float = 10.0, synapse: SynapseParams | None = None, solver: str = "tsit5",
                 rtol: float = 1e-5, atol: float = 1e-5, max_steps: int = 100_000, dtype=None):
        self.n = positive_int("n", n)
        n_inputs = positive_int("n_inputs", n_inputs)
        n_outputs = positive_int("n_outputs", n_outputs)
        if n_outputs > self.n:
            raise ArgumentError(f"n_outputs must be <= n = {self.n} (the readout cells are the first n_outputs), "
                                f"got {n_outputs}")
        if isinstance(params, str):
            params = morris_lecar_params(params)
        if not isinstance(params, MorrisLecarParams):
            raise ArgumentTypeError(f"params must be a MorrisLecarParams or 'class1' / 'class2', "
                                    f"got {type(params).__name__}")
        self.params = params
        frac_exc = real_scalar("frac_exc", frac_exc, low=0.0, high=1.0)
        self.n_exc = int(round(frac_exc * self.n))
        key = prng_key("key", key)
        self.dt = real_scalar("dt", dt, low=0.0, low_open=True)
        g_mean = real_scalar("g_mean", g_mean, low=0.0)
        bias_mean = real_scalar("bias_mean", bias_mean)
        bias_std = real_scalar("bias_std", bias_std, low=0.0)
        input_std = real_scalar("input_std", input_std, low=0.0)
        synapse = SynapseParams() if synapse is None else synapse
        if not isinstance(synapse, SynapseParams):
            raise ArgumentTypeError(f"synapse must be a SynapseParams, got {type(synapse).__name__}")
        self.synapse = synapse
        if not isinstance(solver, str) or solver not in ML_SOLVERS:
            raise ArgumentError(f"solver must be one of {', '.join(ML_SOLVERS)}, got {solver!r}")
        self.solver = solver
        self.rtol = real_scalar("rtol", rtol, low=0.0, high=1.0, low_open=True)
        self.atol = real_scalar("atol", atol, low=0.0, low_open=True)
        self.max_steps = positive_int("max_steps", max_steps)
        dtype = jnp.zeros(()).dtype if dtype is None else float_dtype("dtype", dtype)
        k_g, k_in, k_b, k_out = jax.random.split(key, 4)
        # log-normal conductances of mean g_mean / n (sigma 0.5), stored through the inverse softplus
        g0 = (g_mean / self.n) * jnp.exp(0.5 * jax.random.normal(k_g, (self.n, self.n), dtype) - 0.125)
        self.g_raw = jnp.where(g0 > 0, _softplus_inverse(jnp.maximum(g0, 1e-30)), -1e4).astype(dtype)
        self.w_in = (input_std * jax.random.normal(k_in, (self.n, n_inputs), dtype)).astype(dtype)
        self.bias = (bias_mean + bias_std * jax.random.normal(k_b, (self.n,), dtype)).astype(dtype)
        self.w_out = (jax.random.normal(k_out, (n_outputs, self.n), dtype) / np.sqrt(self.n)).astype(dtype)
        self.b_out = jnp.zeros((n_outputs,), dtype)

    # ------------------------------------------------------------------ sizes and derived arrays
    @property
    def n_inputs(self) -> int:
        """K, the number of input channels."""
        return self.w_in.shape[1]

    @property
    def n_outputs(self) -> int:
        """O, the number of readout channels (and readout cells, the first O)."""
        return self.w_out.shape[0]

    @property
    def dtype(self):
        """The floating dtype of the weights and of the solve."""
        return self.w_in.dtype

    @property
    def conductances(self) -> jax.Array:
        r"""$g_{ij} = \mathrm{softplus}(\rho_{ij}) \ge 0$ (mS/cm²), zero on the diagonal, ``(n, n)``."""
        return jax.nn.softplus(self.g_raw) * (1.0 - jnp.eye(self.n, dtype=self.g_raw.dtype))

    @property
    def reversal(self) -> jax.Array:
        """The reversal potential of each presynaptic cell's synapses (mV), ``(n,)``: ``E_exc`` for the
        first ``n_exc`` cells, ``E_inh`` for the others."""
        return jnp.where(jnp.arange(self.n) < self.n_exc, self.synapse.E_exc, self.synapse.E_inh).astype(self.dtype)

    def synaptic_current(self, v: jax.Array, s: jax.Array) -> jax.Array:
        r"""Return $I^{\mathrm{syn}}_i = \sum_j g_{ij} s_j (E_j - V_i)$ (µA/cm²), ``(n,)``, for the
        voltages ``v`` and gatings ``s`` (both ``(n,)``).

        >>> import jax, jax.numpy as jnp
        >>> net = MorrisLecarNetwork(5, 1, 1, key=jax.random.key(0))
        >>> net.synaptic_current(jnp.full(5, -60.0), jnp.zeros(5)).shape
        (5,)
        """
        g = self.conductances
        return g @ (s * self.reversal) - (g @ s) * v

    def rest_state(self) -> jax.Array:
        """The initial state $(V, w, s) = (E_L, w_\\infty(E_L), 0)$ of every trial, ``(3n,)``."""
        p = self.params
        w0 = 0.5 * (1 + np.tanh((p.E_L - p.V3) / p.V4))
        return jnp.concatenate([jnp.full(self.n, p.E_L), jnp.full(self.n, w0), jnp.zeros(self.n)]).astype(self.dtype)

    def vector_field(self, y: jax.Array, current: jax.Array) -> jax.Array:
        """Return the time derivative of the state ``y = (V, w, s)`` ``(3n,)`` under the external
        currents ``current`` ``(n,)`` (µA/cm²)."""
        p, syn, n = self.params, self.synapse, self.n
        v, w, s = y[:n], y[n:2 * n], y[2 * n:]
        m_inf = 0.5 * (1 + jnp.tanh((v - p.V1) / p.V2))
        w_inf = 0.5 * (1 + jnp.tanh((v - p.V3) / p.V4))
        tau_w = 1.0 / jnp.cosh((v - p.V3) / (2 * p.V4))
        dv = (current + self.synaptic_current(v, s) - p.g_L * (v - p.E_L) - p.g_Ca * m_inf * (v - p.E_Ca)
              - p.g_K * w * (v - p.E_K)) / p.C
        dw = p.phi * (w_inf - w) / tau_w
        exc = jnp.arange(n) < self.n_exc
        a = jnp.where(exc, syn.alpha_exc, syn.alpha_inh)
        b = jnp.where(exc, syn.beta_exc, syn.beta_inh)
        transmitter = jax.nn.sigmoid((v - syn.V_p) / syn.K_p)
        ds = a * transmitter * (1 - s) - b * s
        return jnp.concatenate([dv, dw, ds]).astype(y.dtype)

    # ------------------------------------------------------------------ solving
    def solve(self, inputs: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Return ``(states, ok)`` for one trial of inputs ``(T, K)``: the states ``(T, 3n)``
        ($V$, $w$, $s$ of every cell) at $t = (k+1)\\,dt$, and whether the solve succeeded (False:
        ``max_steps`` steps or a collapsed step size; the states are then inf past the last time
        reached).

        >>> import jax, jax.numpy as jnp
        >>> net = MorrisLecarNetwork(4, 1, 1, key=jax.random.key(0))
        >>> states, ok = net.solve(jnp.zeros((10, 1)))
        >>> states.shape, bool(ok)
        ((10, 12), True)
        """
        if is_concrete(inputs) and (np.ndim(inputs) != 2 or np.shape(inputs)[1] != self.n_inputs):
            raise ArgumentError(f"inputs must have shape (time, {self.n_inputs}), got {np.shape(inputs)}")
        u = jnp.asarray(inputs, self.dtype)
        T = u.shape[0]
        dt = self.dt
        drive = u @ self.w_in.T + self.bias  # (T, n) external currents at the sample points

        def current(t):
            x = jnp.clip(t / dt - 0.5, 0.0, T - 1.0)
            i = jnp.minimum(jnp.floor(x).astype(jnp.int32), T - 2) if T > 1 else jnp.int32(0)
            if T == 1:
                return drive[0]
            f = x - i
            return (1 - f) * drive[i] + f * drive[i + 1]

        term = diffrax.ODETerm(lambda t, y, args: self.vector_field(y, current(t)))
        if self.solver == "kvaerno5":
            solver = diffrax.Kvaerno5()
            controller = diffrax.PIDController(rtol=self.rtol, atol=self.atol, pcoeff=0.3, icoeff=0.4)
        else:
            solver = diffrax.Tsit5()
            controller = diffrax.PIDController(rtol=self.rtol, atol=self.atol)
        ts = (jnp.arange(T, dtype=self.dtype) + 1) * dt
        # t1 is the last save time itself: T * dt rounded once can fall below it (dt = 0.1, T = 9).
        sol = diffrax.diffeqsolve(term, solver, t0=0.0, t1=ts[-1], dt0=0.05, y0=self.rest_state(),
                                  saveat=diffrax.SaveAt(ts=ts), stepsize_controller=controller,
                                  max_steps=self.max_steps, throw=False,
                                  adjoint=diffrax.RecursiveCheckpointAdjoint())
        return sol.ys, sol.result == diffrax.RESULTS.successful

    def run(self, inputs: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Return ``(outputs, voltages, ok)`` of one trial ``(T, K)``: the readout ``(T, O)``, the
        voltages of the O readout cells (the first O) ``(T, O)`` and whether the solve succeeded;
        outputs and voltages are NaN where it failed.

        >>> import jax, jax.numpy as jnp
        >>> net = MorrisLecarNetwork(4, 1, 2, key=jax.random.key(0))
        >>> z, v, ok = net.run(jnp.zeros((10, 1)))
        >>> z.shape, v.shape
        ((10, 2), (10, 2))
        """
        states, ok = self.solve(inputs)
        s = states[:, 2 * self.n:]
        z = s @ self.w_out.T + self.b_out
        v = states[:, : self.n_outputs]
        return jnp.where(ok, z, jnp.nan), jnp.where(ok, v, jnp.nan), ok

    def __call__(self, inputs: jax.Array) -> jax.Array:
        """Return the readout ``(T, O)`` of one trial of inputs ``(T, K)`` (NaN where the solve failed)."""
        return self.run(inputs)[0]

    def with_solver(self, solver: str | None = None, *, rtol: float | None = None, atol: float | None = None,
                    max_steps: int | None = None) -> "MorrisLecarNetwork":
        """Return a copy solved by ``solver`` (``"tsit5"`` or ``"kvaerno5"``) with the given
        tolerances and step budget (None: unchanged); the weights are shared.

        >>> import jax
        >>> net = MorrisLecarNetwork(3, 1, 1, key=jax.random.key(0)).with_solver("kvaerno5", rtol=1e-6)
        >>> net.solver, net.rtol
        ('kvaerno5', 1e-06)
        """
        solver = self.solver if solver is None else solver
        if not isinstance(solver, str) or solver not in ML_SOLVERS:
            raise ArgumentError(f"solver must be one of {', '.join(ML_SOLVERS)}, got {solver!r}")
        new = copy.copy(self)
        object.__setattr__(new, "solver", solver)
        if rtol is not None:
            object.__setattr__(new, "rtol", real_scalar("rtol", rtol, low=0.0, high=1.0, low_open=True))
        if atol is not None:
            object.__setattr__(new, "atol", real_scalar("atol", atol, low=0.0, low_open=True))
        if max_steps is not None:
            object.__setattr__(new, "max_steps", positive_int("max_steps", max_steps))
        return new

    def trainable(self) -> "MorrisLecarNetwork":
        """Return a filter pytree: every array (conductances, input weights, biases, readout) is trained.

        >>> import jax
        >>> f = MorrisLecarNetwork(3, 1, 1, key=jax.random.key(0)).trainable()
        >>> f.g_raw, f.w_out
        (True, True)
        """
        return jax.tree_util.tree_map(lambda _: True, self)


def spike_counts(voltages: jax.Array, mask: jax.Array | None = None, *, threshold: float = 0.0) -> jax.Array:
    """Return the number of upward crossings of ``threshold`` (mV) by each voltage trace, counted
    over time (axis -2) where ``mask`` (the shape of ``voltages``) is nonzero at the crossing's
    later sample.

    ``voltages``: ``(..., T, O)``. Returns ``(..., O)`` (the dtype of the voltages).

    >>> import jax.numpy as jnp
    >>> v = jnp.array([-60.0, 10.0, -50.0, 5.0, 20.0])[:, None]
    >>> spike_counts(v)
    Array([2.], dtype=float32)
    """
    v = jnp.asarray(voltages)
    up = (v[..., :-1, :] < threshold) & (v[..., 1:, :] >= threshold)
    if mask is not None:
        up = up & (jnp.asarray(mask)[..., 1:, :] > 0)
    return jnp.sum(up, axis=-2).astype(v.dtype)


#: the arrays of a :class:`MorrisLecarNetwork`, as saved
ML_ARRAYS = ("g_raw", "w_in", "bias", "w_out", "b_out")


def model_config(net: MorrisLecarNetwork) -> dict:
    """Return the hyperparameters that rebuild ``net``'s structure (its arrays aside), JSON-able.

    >>> import jax
    >>> model_config(MorrisLecarNetwork(4, 1, 1, key=jax.random.key(0)))["n_exc"]
    3
    """
    return {"class": "MorrisLecarNetwork", "n": net.n, "n_inputs": net.n_inputs, "n_outputs": net.n_outputs,
            "n_exc": net.n_exc, "params": dataclasses.asdict(net.params), "synapse": dataclasses.asdict(net.synapse),
            "dt": net.dt, "solver": net.solver, "rtol": net.rtol, "atol": net.atol, "max_steps": net.max_steps,
            "dtype": str(net.dtype)}


def network_from_config(config: dict, arrays: dict) -> MorrisLecarNetwork:
    """Return the :class:`MorrisLecarNetwork` described by :func:`model_config` with the given arrays.

    >>> import jax
    >>> net = MorrisLecarNetwork(4, 1, 1, key=jax.random.key(0))
    >>> arrays = {k: getattr(net, k) for k in ("g_raw", "w_in", "bias", "w_out", "b_out")}
    >>> bool((network_from_config(model_config(net), arrays).bias == net.bias).all())
    True
    """
    c = dict(config)
    net = MorrisLecarNetwork(c["n"], c["n_inputs"], c["n_outputs"], params=MorrisLecarParams(**c["params"]),
                             frac_exc=c["n_exc"] / c["n"], key=jax.random.key(0), dt=c["dt"],
                             synapse=SynapseParams(**c["synapse"]), solver=c["solver"], rtol=c["rtol"], atol=c["atol"],
                             max_steps=c["max_steps"], dtype=c["dtype"])
    for name in ML_ARRAYS:
        a = jnp.asarray(arrays[name], net.dtype)
        if a.shape != getattr(net, name).shape:
            raise RunFolderError(f"the saved {name} has shape {a.shape}, the configuration says "
                                 f"{getattr(net, name).shape}")
        net = eqx.tree_at(lambda m, name=name: getattr(m, name), net, a)
    return net


def _to_saved(net: MorrisLecarNetwork):
    return model_config(net), {k: np.asarray(getattr(net, k)) for k in ML_ARRAYS}


def _from_saved(meta: dict, arrays: dict) -> MorrisLecarNetwork:
    missing = [k for k in ML_ARRAYS if k not in arrays]
    if missing:
        raise FileFormatError(f"a saved MorrisLecarNetwork lacks the arrays {', '.join(missing)}")
    return network_from_config(meta, arrays)


register("MorrisLecarNetwork", _to_saved, _from_saved)  # lowrank_rnn.save / load, and the run folders' model.npz

__all__ = ["MorrisLecarNetwork", "SynapseParams", "spike_counts", "ML_SOLVERS", "ML_ARRAYS", "model_config",
           "network_from_config"]
