"""Robertson's stiff chemical kinetics (ROBER): the reference solution and the scaled data set that a
neural ODE learns (the stiff benchmark of Hazelden et al. 2023, after Kim et al. 2021)."""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from .._checks import positive_int, real_scalar
from .._errors import ArgumentError, DivergenceError
from ._neural_ode import ODEData, check_times

#: The rate constants (k1, k2, k3) of Robertson (1966).
ROBER_RATES = (0.04, 3.0e7, 1.0e4)
#: The initial concentrations (y1, y2, y3) at t = 0.
ROBER_Y0 = (1.0, 0.0, 0.0)
SCALINGS = ("range", "max")
TIMES = ("log", "linear")


def _rober_rhs(t, y, k1, k2, k3):
    y1, y2, y3 = y
    return np.array([-k1 * y1 + k3 * y2 * y3, k1 * y1 - k2 * y2 ** 2 - k3 * y2 * y3, k2 * y2 ** 2])


def _rober_jac(t, y, k1, k2, k3):
    _, y2, y3 = y
    return np.array([[-k1, k3 * y3, k3 * y2],
                     [k1, -2.0 * k2 * y2 - k3 * y3, -k3 * y2],
                     [0.0, 2.0 * k2 * y2, 0.0]])


def robertson(t, *, rtol: float = 1e-10, atol: float = 1e-14) -> np.ndarray:
    r"""Return the reference solution of Robertson's chemical kinetics at the times ``t``: (len(t), 3).

    Three species, one fast reaction between slow ones (Robertson 1966, "The solution of a set of
    reaction rate equations", in *Numerical Analysis*, Academic Press, 178-182):

    $$\dot y_1 = -k_1 y_1 + k_3 y_2 y_3,\quad \dot y_2 = k_1 y_1 - k_2 y_2^2 - k_3 y_2 y_3,\quad
    \dot y_3 = k_2 y_2^2,$$

    $k = (0.04, 3\cdot 10^7, 10^4)$, $y(0) = (1, 0, 0)$. The eigenvalues of the Jacobian span
    about eleven decades, so explicit solvers crawl; the sum $y_1 + y_2 + y_3 = 1$ is conserved.
    Solved from $t = 0$ in float64 by the 5th-order implicit Radau IIA method (scipy's ``Radau``)
    with the analytic Jacobian, relative tolerance ``rtol`` and absolute tolerances
    ``(atol, atol * 1e-6, atol)`` (y2 stays below $4\cdot 10^{-5}$). Radau IIA, like every
    Runge-Kutta method, conserves linear invariants, so the sum stays 1 to rounding; at the defaults
    the solution agrees with the classic reference values (e.g. $y(40) = (0.7158271, 9.185535\cdot
    10^{-6}, 0.2841637)$, Hairer & Wanner, *Solving ODEs II*, 1996, Sec. IV.1; $y_2$ peaks at
    $3.6487\cdot 10^{-5}$ near $t = 4.6\cdot 10^{-3}$).

    Parameters
    ----------
    t : array of times, 1-D, strictly increasing, >= 0 (a log grid such as ``np.logspace(-5, 5, 50)``).
    rtol, atol : tolerances of the solver, in (0, 1e-3].

    Returns
    -------
    numpy.ndarray
        (len(t), 3) float64: y1, y2, y3 at each time.

    Examples
    --------
    >>> import numpy as np
    >>> y = robertson(np.array([0.4, 40.0]))
    >>> np.round(y[1], 4)
    array([0.7158, 0.    , 0.2842])
    >>> bool(abs(y.sum(axis=1) - 1).max() < 1e-12)
    True
    """
    t = check_times("t", t, low=0.0)
    rtol = real_scalar("rtol", rtol, low=0.0, high=1e-3, low_open=True)
    atol = real_scalar("atol", atol, low=0.0, high=1e-3, low_open=True)
    sol = solve_ivp(_rober_rhs, (0.0, float(t[-1])), np.array(ROBER_Y0), method="Radau", t_eval=t,
                    jac=_rober_jac, args=ROBER_RATES, rtol=rtol, atol=np.array([atol, atol * 1e-6, atol]))
    if not sol.success:  # pragma: no cover - the solver succeeds at every tolerance allowed
        raise DivergenceError(f"the Radau solve of ROBER failed: {sol.message}")
    return sol.y.T.copy()


def rober_data(n_times: int = 40, *, t_min: float = 1e-5, t_max: float = 1e5, time: str = "log",
               scaling: str = "range") -> ODEData:
    r"""Return the ROBER data set that a neural ODE learns: the scaled reference trajectory on a log grid.

    The stiff benchmark of neural ODEs (Kim et al. 2021, "Stiff neural ordinary differential
    equations", Chaos 31:093122; used by Hazelden et al. 2023, arXiv:2311.10869): learn
    $\dot{\hat y} = f_\theta(\hat y)$ from one trajectory of :func:`robertson` sampled at
    ``n_times`` log-spaced times in ``[t_min, t_max]``. Kim et al. name the ingredients that make it
    trainable: deep networks with rectified activations, scaling of the network outputs and of the
    loss, and stabilised gradients. What this data set does:

    * **Species scaling** (Kim et al.): each species by its own scale over the grid, so the three
      of them, whose magnitudes differ by four decades ($y_2 \le 3.65\cdot 10^{-5}$), weigh alike
      in the loss and in the learnt field. ``scaling="range"``: $\hat y_i = (y_i - \min y_i) /
      (\max y_i - \min y_i)$, each in [0, 1]; ``"max"``: $\hat y_i = y_i / \max y_i$. A mean squared
      error on $\hat y$ is the physical error weighted by $1/\mathrm{scale}_i^2$ (loss scaling), and
      a field learnt in $\hat y$ is the physical field with outputs scaled by $1/\mathrm{scale}_i$
      (output scaling).
    * **Log-spaced samples** (Kim et al.): the data resolve both the fast transient near
      $10^{-4}$ and the slow decay up to $10^5$.
    * **Log time** (``time="log"``, the default; this reparameterisation is ours): the model's
      time is $s = \log_{10}(t / t_\mathrm{min})$, in $[0, \log_{10}(t_\mathrm{max}/t_\mathrm{min})]$,
      so the fast and slow phases take comparable spans of $s$ and an explicit solver can train on
      it. The trajectory $\hat y(s)$ does not cross itself, so an autonomous field in $s$ can fit
      it. ``time="linear"`` keeps $t$ itself: the stiff problem, for an implicit solver
      (``NeuralODE(..., solver="kvaerno5")``). From a randomly initialised MLP (widths 4 and 32,
      depth 2, GELU), a solve over $[10^{-5}, 10^5]$ in linear time did not finish within 4096
      steps with either Tsit5 or Kvaerno5, so the loss is inf from the start and neither BP nor ES
      can move; the log time avoids this.

    Gradients are those of the library's solver (diffrax's checkpointed adjoint, discretise then
    optimise), not Kim et al.'s choice; rectified (``"gelu"``, ``"relu"``) or other activations are
    a choice of :class:`NeuralODE`. The trajectory starts at ``t_min`` (not at 0): ``y0`` is the
    scaled state there.

    Parameters
    ----------
    n_times : number of log-spaced times (>= 2).
    t_min, t_max : the first and last time, 0 < t_min < t_max.
    time : ``"log"`` or ``"linear"``, the model's time variable.
    scaling : ``"range"`` or ``"max"``.

    Returns
    -------
    ODEData
        One trajectory (``ys`` of shape (1, n_times, 3)); ``data.unscale(data.ys)`` gives the
        concentrations and ``data.t_physical`` the times of :func:`robertson`.

    Examples
    --------
    >>> data = rober_data(20)
    >>> data.ys.shape, float(data.t[-1])
    ((1, 20, 3), 10.0)
    >>> import numpy as np
    >>> bool(np.allclose(data.unscale(data.ys[0]), robertson(data.t_physical), rtol=1e-12, atol=1e-18))
    True
    """
    n_times = positive_int("n_times", n_times, low=2)
    t_min = real_scalar("t_min", t_min, low=0.0, low_open=True)
    t_max = real_scalar("t_max", t_max, low=0.0, low_open=True)
    if t_max <= t_min:
        raise ArgumentError(f"t_max must be > t_min = {t_min}, got {t_max}")
    if not isinstance(time, str) or time not in TIMES:
        raise ArgumentError(f"time must be one of {', '.join(TIMES)}, got {time!r}")
    if not isinstance(scaling, str) or scaling not in SCALINGS:
        raise ArgumentError(f"scaling must be one of {', '.join(SCALINGS)}, got {scaling!r}")
    s = np.linspace(0.0, np.log10(t_max / t_min), n_times)  # s[0] = 0 exactly
    t_phys = t_min * 10.0 ** s
    y = robertson(t_phys)
    if scaling == "range":
        offset = y.min(axis=0)
        scale = y.max(axis=0) - offset
    else:
        offset = np.zeros(3)
        scale = y.max(axis=0)
    ys = (y - offset) / scale
    t_model = s if time == "log" else t_phys
    return ODEData(name="rober", t=t_model, ys=ys[None], offset=offset, scale=scale, t_physical=t_phys,
                   time="log10" if time == "log" else "linear", t_ref=t_min)


__all__ = ["robertson", "rober_data", "ROBER_RATES", "ROBER_Y0"]
