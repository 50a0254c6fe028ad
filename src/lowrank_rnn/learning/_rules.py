"""Credit-assignment rules as gradient surgery on one scan: every rule's update is ``jax.grad``.

The forward pass is the same for every rule (that of :func:`~lowrank_rnn.models.run_trials`);
what changes is the backward pass, edited with ``stop_gradient`` and zero-valued "taps" whose
custom vector-Jacobian product injects the rule's surrogate credit:

- BPTT: plain autodiff. TBPTT(k): the state's gradient is cut every k steps.
- e-prop (Bellec et al. 2020, Nat. Commun. 11:3625): the recurrent input's dependence on the
  previous activity is cut (``W sg(r_{t-1})``); the leak path stays, so the gradient equals the
  learning signal ``L_t = W_out dE/dy_t`` times the exact eligibility trace.
- RFLO (Murray 2019, eLife 8:e43299): the same cut, with the fixed random matrix ``B`` in place of
  ``W_out`` in the learning signal; on the rate form the trace is
  ``P_ij <- (1 - alpha) P_ij + alpha phi'(u_i) h_j``.
- MDGL (Liu et al. 2021, PNAS 118:e2111821118): the e-prop learning signal plus one hop through
  the recurrent weights, ``L~_{t-1} = L_{t-1} + alpha W~^T (psi_t L_t)``, with ``W~ = W`` or its
  cell-type block average.
- ModProp (Liu et al. 2022, arXiv 2206.01338): BPTT except on the recurrent branch, where
  ``phi'`` becomes a constant mu and ``W`` its cell-type block average ``W_ab`` (recomputed from the
  current weights at every call, so after every update); the eligibility trace stays exact.
- Feedback alignment (Lillicrap et al. 2016): BPTT with ``B`` in place of ``W_out`` in the
  readout's backward pass.
"""

from __future__ import annotations

import dataclasses
import numbers
import re
from functools import partial
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._errors import ArgumentError, ArgumentTypeError
from ..dynamics import Autodiff, NoiseSource, SaveAt, Truncated, VectorField, integrate, white_noise
from ._rate import RateRNN, _phi_prime

sg = jax.lax.stop_gradient


# ------------------------------------------------------------------------------------------ rules

def _types_arg(name: str, cell_types) -> Any:
    """Return cell types as None, "unit" or a tuple of ints (hashable, so a rule stays static)."""
    if cell_types is None or cell_types == "unit":
        return cell_types
    if isinstance(cell_types, str):
        raise ArgumentError(f"{name} must be None (the model's E/I types), 'unit' (every unit its own type, "
                         f"so W_ab = W) or a sequence of non-negative ints, got {cell_types!r}")
    arr = np.asarray(cell_types)
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer) or np.any(arr < 0):
        raise ArgumentError(f"{name} must be a 1-D sequence of non-negative ints (one per unit), got {cell_types!r}")
    return tuple(int(v) for v in arr)


@dataclasses.dataclass(frozen=True)
class CreditAssignment:
    """Base class of the rules: a frozen, hashable description (a static argument under ``jit``).

    Examples
    --------
    >>> rule = credit_assignment("eprop")
    >>> isinstance(rule, CreditAssignment), rule.spec(), rule.cut_recurrence
    (True, 'eprop', True)
    """

    name = "abstract"
    cut_recurrence = False     # the recurrent input's dependence on the previous activity is cut
    random_feedback = False    # the readout's backward pass uses the fixed random matrix B

    def spec(self) -> str:
        """Return the rule as a string that :func:`credit_assignment` parses back."""
        return self.name


@dataclasses.dataclass(frozen=True)
class BPTT(CreditAssignment):
    """Backpropagation through time: the exact gradient.

    Examples
    --------
    >>> credit_assignment("bptt") == BPTT()
    True
    """

    name = "bptt"


@dataclasses.dataclass(frozen=True)
class TBPTT(CreditAssignment):
    """Truncated BPTT: the state's gradient is cut every ``k`` steps (windows of k steps).

    Examples
    --------
    >>> TBPTT(k=20).spec()
    'tbptt(20)'
    """

    k: int = 10
    name = "tbptt"

    def __post_init__(self):
        if isinstance(self.k, bool) or not isinstance(self.k, (numbers.Integral, np.integer)) or self.k < 1:
            raise ArgumentError(f"tbptt's window k must be an integer >= 1, got {self.k!r}")

    def spec(self) -> str:
        return f"tbptt({self.k})"


@dataclasses.dataclass(frozen=True)
class EProp(CreditAssignment):
    """e-prop (Bellec et al. 2020): learning signal through ``W_out`` times the exact eligibility trace.

    Examples
    --------
    >>> EProp().cut_recurrence, EProp().random_feedback
    (True, False)
    """

    name = "eprop"
    cut_recurrence = True


@dataclasses.dataclass(frozen=True)
class RFLO(CreditAssignment):
    """Random-feedback local online learning (Murray 2019): e-prop's cut with a random feedback B.

    Examples
    --------
    >>> RFLO().cut_recurrence, RFLO().random_feedback
    (True, True)
    """

    name = "rflo"
    cut_recurrence = True
    random_feedback = True


@dataclasses.dataclass(frozen=True)
class MDGL(CreditAssignment):
    """Multidigraph learning (Liu et al. 2021): e-prop plus one hop through ``W`` (``celltype=False``)
    or through its cell-type block average (``celltype=True``; types from ``cell_types``).

    Examples
    --------
    >>> MDGL(celltype=True).spec(), credit_assignment("mdgl_celltype") == MDGL(celltype=True)
    ('mdgl_celltype', True)
    """

    celltype: bool = False
    cell_types: Any = None
    name = "mdgl"
    cut_recurrence = True

    def __post_init__(self):
        if not isinstance(self.celltype, (bool, np.bool_)):
            raise ArgumentTypeError(f"mdgl's celltype must be a bool, got {type(self.celltype).__name__}")
        object.__setattr__(self, "cell_types", _types_arg("mdgl's cell_types", self.cell_types))

    def spec(self) -> str:
        return "mdgl_celltype" if self.celltype else "mdgl"


@dataclasses.dataclass(frozen=True)
class ModProp(CreditAssignment):
    """ModProp (Liu et al. 2022): BPTT with ``phi' -> mu`` and ``W -> W_ab`` on the recurrent branch.

    ``mu``: a real number (0.25 for delayed XOR in the paper) or ``"exact"`` (the true ``phi'``);
    ``cell_types``: None (the model's E/I types, or one type without Dale's law), ``"unit"``
    (every unit its own type, so ``W_ab = W``) or one int per unit.

    ``ModProp(0.25, "unit")`` (spec ``"modprop(0.25, unit)"``) is what the authors' released
    delayed-XOR code computes: its ``ModProp_Wab`` runs assign ``|W_ab|`` to the weight variable
    before ``tf.gradients``, but in that TF1 graph the recurrent matrix has already been read (W_ab
    is computed from it), so the backward pass keeps the exact W and only ``phi' -> mu`` acts
    (checked on a small graph of the same pattern; ``benchmarks/README.md``, local learning rules).

    Examples
    --------
    >>> ModProp().spec(), ModProp(0.5).spec(), ModProp(0.25, "unit").spec()
    ('modprop', 'modprop(0.5)', 'modprop(0.25, unit)')
    """

    mu: Any = 0.25
    cell_types: Any = None
    name = "modprop"
    cut_recurrence = True

    def __post_init__(self):
        if self.mu != "exact":
            if isinstance(self.mu, bool) or not isinstance(self.mu, (numbers.Real, np.floating)):
                raise ArgumentError(f"modprop's mu must be a finite real number or 'exact', got {self.mu!r}")
            if not np.isfinite(self.mu):
                raise ArgumentError(f"modprop's mu must be finite, got {self.mu}")
            object.__setattr__(self, "mu", float(self.mu))
        object.__setattr__(self, "cell_types", _types_arg("modprop's cell_types", self.cell_types))

    def spec(self) -> str:
        if self.cell_types == "unit":
            return f"modprop({self.mu}, unit)"
        return "modprop" if self.mu == 0.25 else f"modprop({self.mu})"


@dataclasses.dataclass(frozen=True)
class FeedbackAlignment(CreditAssignment):
    """Feedback alignment on the readout (Lillicrap et al. 2016): BPTT with B in place of ``W_out``.

    Examples
    --------
    >>> credit_assignment("fa") == FeedbackAlignment()
    True
    """

    name = "feedback_alignment"
    random_feedback = True


RULES = {"bptt": BPTT, "tbptt": TBPTT, "eprop": EProp, "rflo": RFLO, "mdgl": MDGL, "mdgl_celltype": MDGL,
         "modprop": ModProp, "feedback_alignment": FeedbackAlignment}
_ALIASES = {"e-prop": "eprop", "fa": "feedback_alignment"}
_CALL = re.compile(r"^\s*([a-z_\-]+)\s*(?:\(\s*([^()]*?)\s*\))?\s*$")


def credit_assignment(spec) -> CreditAssignment:
    """Return the rule object described by ``spec``.

    Accepted: a :class:`CreditAssignment` instance; a name (``"bptt"``, ``"eprop"``, ``"rflo"``,
    ``"mdgl"``, ``"mdgl_celltype"``, ``"modprop"``, ``"feedback_alignment"`` or ``"fa"``);
    ``"tbptt(k)"`` / ``("tbptt", k)``; ``"modprop(mu)"`` / ``("modprop", mu)``; ``"modprop(mu, unit)"``
    (W_ab = W: the released ModProp code's effective rule); or ``(name, {options})``.

    >>> credit_assignment("tbptt(20)")
    TBPTT(k=20)
    >>> credit_assignment(("modprop", 0.2)).mu
    0.2
    >>> credit_assignment("modprop(0.25, unit)").cell_types
    'unit'
    """
    if isinstance(spec, CreditAssignment):
        return spec
    options: dict = {}
    if isinstance(spec, tuple) and spec and isinstance(spec[0], str):
        name, rest = spec[0], spec[1:]
        if len(rest) == 1 and isinstance(rest[0], dict):
            options = dict(rest[0])
        elif len(rest) == 1:
            options = {"k": rest[0]} if name == "tbptt" else {"mu": rest[0]} if name == "modprop" else None
            if options is None:
                raise ArgumentError(f"credit_assignment {name!r} takes no positional parameter; got {spec!r}")
        elif rest:
            raise ArgumentError(f"credit_assignment must be a name or (name, parameter), got {spec!r}")
    elif isinstance(spec, str):
        match = _CALL.match(spec.lower())
        if match is None:
            raise ArgumentError(f"credit_assignment {spec!r} is not understood; use one of {sorted(RULES)} "
                             "or 'tbptt(k)' / 'modprop(mu)'")
        name, arg = match.group(1), match.group(2)
        if arg is not None:
            if name == "tbptt":
                try:
                    options = {"k": int(arg)}
                except ValueError:
                    raise ArgumentError(f"tbptt's window k must be an integer >= 1, got {arg!r}") from None
            elif name == "modprop":
                mu_arg, comma, types = (part.strip() for part in arg.partition(","))
                if comma and types != "unit":
                    raise ArgumentError(f"modprop's second parameter can only be 'unit' (W_ab = W), got {types!r}")
                try:
                    options = {"mu": mu_arg if mu_arg == "exact" else float(mu_arg)}
                except ValueError:
                    raise ArgumentError(f"modprop's mu must be a real number or 'exact', got {mu_arg!r}") from None
                if types:
                    options["cell_types"] = "unit"
            else:
                raise ArgumentError(f"credit_assignment {name!r} takes no parameter, got {spec!r}")
    else:
        raise ArgumentTypeError(f"credit_assignment must be a rule name, a (name, parameter) tuple or a "
                        f"CreditAssignment, got {type(spec).__name__}")
    name = _ALIASES.get(name, name)
    if name not in RULES:
        raise ArgumentError(f"unknown credit_assignment {name!r}; the rules are {sorted(RULES)}")
    if name == "mdgl_celltype":
        options = {"celltype": True, **options}
    allowed = {f.name for f in dataclasses.fields(RULES[name])}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ArgumentError(f"credit_assignment {name!r} has no option {unknown[0]!r}; its options are "
                         f"{sorted(allowed) or 'none'}")
    return RULES[name](**options)


# ------------------------------------------------------------------------ zero-valued gradient taps

@partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _tap(kind: str, scale_first: bool, x, scale, a, b):
    """Zero in the forward pass; in the backward pass the cotangent ``c`` becomes ``scale * (c M)``
    (or ``(scale * c) M`` with ``scale_first``: a postsynaptic factor), with ``M`` given by ``kind``:
    "dense" ``a`` (N, N), "lowrank" ``a b^T`` (a = m, b = n / N), "typed" ``a b a^T`` (a one-hot
    types (N, K), b the block average (K, K))."""
    return jnp.zeros_like(x)


def _tap_fwd(kind, scale_first, x, scale, a, b):
    return jnp.zeros_like(x), (scale, a, b)


def _tap_bwd(kind, scale_first, res, c):
    scale, a, b = res
    if scale_first:
        c = scale * c
    if kind == "dense":
        g = c @ a
    elif kind == "lowrank":
        g = (c @ a) @ b.T
    else:
        g = ((c @ a) @ b) @ a.T
    return (g if scale_first else scale * g), jnp.zeros_like(scale), jnp.zeros_like(a), jnp.zeros_like(b)


_tap.defvjp(_tap_fwd, _tap_bwd)


@jax.custom_vjp
def _readout_tap(r, B):
    """Zero (..., O) in the forward pass; the readout cotangent ``c`` comes back as ``c B^T``."""
    return jnp.zeros(r.shape[:-1] + (B.shape[1],), r.dtype)


def _readout_tap_fwd(r, B):
    return _readout_tap(r, B), B


def _readout_tap_bwd(B, c):
    return c @ B.T, jnp.zeros_like(B)


_readout_tap.defvjp(_readout_tap_fwd, _readout_tap_bwd)


def _types_of(model: RateRNN, cell_types) -> np.ndarray:
    if cell_types == "unit":
        return np.arange(model.N)
    if cell_types is None:
        return model.cell_types()
    types = np.asarray(cell_types)
    if types.shape != (model.N,):
        raise ArgumentError(f"cell_types must give one type per unit ({model.N}), got {types.shape[0]}")
    return types


def block_average(model: RateRNN, cell_types=None) -> tuple[jax.Array, jax.Array]:
    """Return (one-hot types (N, K), W_ab (K, K)): the block average of ``W_eff`` over cell types.

    ``W_ab[a, b] = mean_{i in a, j in b} W_eff_ij`` (ModProp's type-specific weights, Liu et al. 2022);
    O(N R) for a low-rank model without Dale's law. Types that no unit has are dropped.

    Examples
    --------
    >>> import jax
    >>> net = RateRNN(10, 1, 1, key=jax.random.key(0), n_excitatory=8)
    >>> onehot, W_ab = block_average(net)            # E and I
    >>> onehot.shape, W_ab.shape
    ((10, 2), (2, 2))
    """
    types = _types_of(model, cell_types)
    _, types = np.unique(types, return_inverse=True)
    K = int(types.max()) + 1
    onehot = jnp.asarray(np.eye(K, dtype=np.float32)[types])
    counts = jnp.asarray(np.bincount(types, minlength=K).astype(np.float32))
    if model.factored:
        Wab = ((onehot.T @ model.m) @ (onehot.T @ model.n).T / model.N) / jnp.outer(counts, counts)
    else:
        Wab = onehot.T @ model.weights() @ onehot / jnp.outer(counts, counts)
    return onehot, Wab


def _transposed(model: RateRNN, rule, celltype: bool):
    """Return (kind, a, b) for a tap that multiplies a cotangent by ``W~`` (rows: postsynaptic)."""
    if celltype:
        onehot, Wab = block_average(model, getattr(rule, "cell_types", None))
        if onehot.shape[1] == model.N and getattr(rule, "cell_types", None) == "unit":
            return "dense", sg(model.weights()), jnp.zeros((1, 1))  # W_ab = W exactly
        return "typed", onehot, sg(Wab)
    if model.factored:
        return "lowrank", sg(model.m), sg(model.n) / model.N
    return "dense", sg(model.weights()), jnp.zeros((1, 1))


# ---------------------------------------------------------------------------------------- forward

def _check_model(model) -> RateRNN:
    if not isinstance(model, RateRNN):
        raise ArgumentTypeError(f"model must be a lowrank_rnn.learning.RateRNN, got {type(model).__name__}")
    return model


def rule_outputs(model: RateRNN, inputs, rule="bptt", *, key: jax.Array | None = None,
                 noise_rng: str = "threefry", return_states: bool = False):
    """Return the outputs ``(B, T, O)`` of a batch of trials, whose ``jax.grad`` is the rule's update.

    The forward values equal :func:`~lowrank_rnn.models.run_trials` (same key and ``noise_rng``,
    same noise); the backward pass is edited as the rule ``rule`` (see :func:`credit_assignment`)
    prescribes, so ``jax.grad`` of any loss of these outputs gives the rule's "gradient":

    - e-prop / RFLO / MDGL / ModProp: ``W sg(r_{t-1})`` in the recurrent input (the weight update
      keeps the exact presynaptic activity; the leak path keeps the exact eligibility trace);
    - MDGL adds ``alpha W~^T (phi'(.) L_t)`` to the credit of ``r_{t-1}`` (one hop, readout signal only);
    - ModProp adds ``alpha mu W_ab^T delta_t`` (the full BPTT credit ``delta_t``, through type averages);
    - RFLO and feedback alignment return ``dE/dy B^T`` to the activity instead of ``dE/dy W_out^T``.

    ``inputs`` ``(B, T, K)``; ``key``: network noise (None: none). ``return_states`` also returns
    the states ``(B, T + 1, N)``.

    >>> import jax, jax.numpy as jnp
    >>> net = RateRNN(16, 1, 1, key=jax.random.key(0))
    >>> rule_outputs(net, jnp.ones((4, 20, 1)), "eprop").shape
    (4, 20, 1)
    """
    model = _check_model(model)
    rule = credit_assignment(rule)
    source = NoiseSource(noise_rng)
    inputs = jnp.asarray(inputs, model.h0.dtype)
    if inputs.ndim != 3 or inputs.shape[2] != model.n_inputs:
        raise ArgumentError(f"inputs must have shape (batch, time, {model.n_inputs}), got {inputs.shape}")
    B, T = inputs.shape[:2]
    N = model.N
    noisy = key is not None and model.noise > 0
    noise = white_noise(source, key, model.noise_scale) if noisy else None
    drives = jnp.swapaxes(inputs @ (model.input_vectors * model.input_scales).T, 0, 1)  # (T, B, N)
    field = _RuleField(model, rule)
    W_out, bias = model.readout_weights(), model.readout_bias

    def read(x_new, aux, extra):
        r = field.read_activity(x_new, extra)
        if rule.random_feedback:
            y = sg(r) @ W_out + bias + _readout_tap(r, sg(model.feedback))
        else:
            y = r @ W_out + bias
        return y, x_new if return_states else None

    adjoint = Truncated(rule.k) if isinstance(rule, TBPTT) else Autodiff()
    x0 = jnp.broadcast_to(model.h0, (B, N))
    _, (z, xs) = integrate(field, x0, drives, alpha=model.alpha, solver=model.solver, noise=noise,
                           saveat=SaveAt(fn=read), adjoint=adjoint)
    z = jnp.swapaxes(z, 0, 1)
    if return_states:
        return z, jnp.concatenate([x0[:, None], jnp.swapaxes(xs, 0, 1)], axis=1)
    return z


class _RuleField(VectorField):
    """``F`` of a :class:`RateRNN` batch ``(B, N)`` with the rule's edits of the backward pass.

    Voltage form: ``F = W_eff r + I u`` with ``r = phi(x)`` (``W sg(r)`` for the rules that cut the
    recurrence; ModProp's tap on the recurrent branch); the read-out activity is ``phi(x')`` (MDGL:
    plus a zero-valued tap carrying the one-hop credit to ``r``). Rate form:
    ``F = phi(W_eff x + I u)`` (ModProp's postsynaptic tap added after the update, zero in the
    forward pass); the activity is ``x'``. The step's extra is what the read-out needs of the previous state.
    """

    def __init__(self, model: RateRNN, rule: CreditAssignment):
        self.model, self.rule = model, rule
        self.cut = rule.cut_recurrence
        self.mdgl, self.modprop = isinstance(rule, MDGL), isinstance(rule, ModProp)
        if self.mdgl:
            self.hop = _transposed(model, rule, rule.celltype)
        if self.modprop:
            self.back = _transposed(model, rule, True)
            self.exact_mu = rule.mu == "exact"
            self.mu = None if self.exact_mu else jnp.float32(rule.mu)

    def drive(self, x, aux, drive):
        model, phi = self.model, self.model.phi
        if model.form == "voltage":
            r_prev = phi(x)
            rec = model.apply_weights(sg(r_prev) if self.cut else r_prev)
            if self.modprop:
                scale = _phi_prime(model.nonlinearity, sg(x)) if self.exact_mu else self.mu
                rec = rec + _tap(self.back[0], False, x, scale, self.back[1], self.back[2])
            return rec + drive, r_prev
        pre = model.apply_weights(sg(x) if self.cut else x) + drive
        return phi(pre), (x, pre)

    def after_step(self, x_new, extra):
        """Rate-form ModProp: the tap on the recurrent branch, added after the update."""
        if self.modprop and self.model.form != "voltage":
            x, pre = extra
            scale = _phi_prime(self.model.nonlinearity, sg(pre)) if self.exact_mu else self.mu
            # the postsynaptic phi'(u) of the rate form multiplies the credit before W_ab^T
            return x_new + self.model.alpha * _tap(self.back[0], True, x, scale, self.back[1], self.back[2])
        return x_new

    def read_activity(self, x_new, extra):
        """Return the activity the readout sees after the step (with MDGL's hop tap)."""
        model, phi, alpha = self.model, self.model.phi, self.model.alpha
        hop = self.hop if self.mdgl else None
        if model.form == "voltage":
            if self.mdgl:
                return phi(x_new + alpha * _tap(hop[0], False, extra, jnp.float32(1.0), hop[1], hop[2]))
            return phi(x_new)
        if self.mdgl:
            x, pre = extra
            hop_term = phi(sg(pre) + _tap(hop[0], False, x, jnp.float32(1.0), hop[1], hop[2])) - sg(phi(pre))
            return x_new + alpha * hop_term
        return x_new


def rule_gradient(model: RateRNN, loss_fn, inputs, rule="bptt", *, key: jax.Array | None = None,
                  trainable: Any = None, noise_rng: str = "threefry"):
    """Return ``(loss, grads)``: the loss ``loss_fn(outputs)`` and the rule's update direction.

    ``grads`` is ``jax.grad`` of ``loss_fn(rule_outputs(model, inputs, rule))`` with respect to the
    arrays selected by ``trainable`` (default ``model.trainable()``), as a model-shaped pytree
    (None elsewhere). With ``rule="bptt"`` it is the exact gradient.

    >>> import jax, jax.numpy as jnp
    >>> net = RateRNN(16, 1, 1, key=jax.random.key(0))
    >>> loss, g = rule_gradient(net, lambda y: jnp.mean(y ** 2), jnp.ones((4, 20, 1)), "rflo")
    >>> g.W.shape
    (16, 16)
    """
    model = _check_model(model)
    rule = credit_assignment(rule)
    filt = model.trainable() if trainable is None else trainable
    params, rest = eqx.partition(model, filt)

    def f(p):
        return loss_fn(rule_outputs(eqx.combine(p, rest), inputs, rule, key=key, noise_rng=noise_rng))

    return jax.value_and_grad(f)(params)


def cosine_similarity(a, b) -> jax.Array:
    """Return ``<a, b> / (|a| |b|)`` over every array leaf of two pytrees of the same structure.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> a = {"W": jnp.array([1.0, 0.0]), "b": jnp.array([0.0])}
    >>> b = {"W": jnp.array([1.0, 1.0]), "b": jnp.array([0.0])}
    >>> round(float(cosine_similarity(a, b)), 4)     # cos 45 degrees
    0.7071
    """
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    dot = sum(jnp.vdot(x, y) for x, y in zip(la, lb))
    na = jnp.sqrt(sum(jnp.vdot(x, x) for x in la))
    nb = jnp.sqrt(sum(jnp.vdot(y, y) for y in lb))
    return dot / jnp.maximum(na * nb, 1e-30)
