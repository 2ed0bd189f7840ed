r"""The paper's analysis in numpy: the iteration matrix, the ODEs of Section 2.2, the
simulations of Eqs. (5) and (17), the paper's fitting procedure, and the linear model under
gradient noise.

The σ* calculator itself (exact σ*, the rate, Eqs. (12)–(14), QHM) is the library's
:mod:`superaccel.theory`; :func:`spectral_radius` and :func:`relaxation_time` here are its
functions over arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize

from superaccel import theory

__all__ = [
    "alpha",
    "ode_coefficients",
    "ode_solution",
    "iteration_matrix",
    "spectral_radius",
    "relaxation_time",
    "stationary_loss",
    "largest_stable_k_eta",
    "simulate_momentum",
    "simulate_rmsprop",
    "DampedFit",
    "fit_damped_oscillation",
    "fit_exponential_decay",
    "fitted_relaxation_times",
    "fitted_sigma_star",
]

#: :func:`superaccel.theory.spectral_radius` and :func:`~superaccel.theory.relaxation_time`
#: elementwise over arrays
spectral_radius = np.vectorize(lambda k_eta, g, sigma: theory.spectral_radius(k_eta, g, sigma), otypes=[float])
relaxation_time = np.vectorize(theory.relaxation_time, otypes=[float])


# ---- Section 2.2: the ODEs ----------------------------------------------------------


def alpha(k_eta, g, sigma):
    """α = g − kησ − 1, the coefficient of Eq. (6)."""
    return g - np.multiply(k_eta, sigma) - 1


def ode_coefficients(k_eta, g, sigma, ode: int):
    """(A, B) of x'' + A x' + B x = 0 (Eq. 7) for the ODE of Eq. (9), (10) or (11)."""
    a = alpha(k_eta, g, sigma)
    if ode == 9:  # forward differences
        return -a, np.asarray(k_eta, dtype=float) + 0 * a
    if ode == 10:  # backward difference for v
        return -a / (1 + a), k_eta / (1 + a)
    if ode == 11:  # midpoint velocity
        return -a / (1 + a / 2), k_eta / (1 + a / 2)
    raise ValueError(f"Invalid ode: {ode} (the paper's ODEs are Eqs. 9, 10 and 11)")


def ode_solution(k_eta: float, g: float, sigma: float, ode: int, t: np.ndarray,
                 x0: float = 1.0, v0: float = 0.0) -> np.ndarray:
    """x(t) of the ODE of Eq. (9), (10) or (11) from x(0) = x0, x'(0) = v0 (exactly, by
    the matrix exponential of the first-order system)."""
    a_coef, b_coef = ode_coefficients(k_eta, g, sigma, ode)
    system = np.array([[0.0, 1.0], [-float(b_coef), -float(a_coef)]])
    return np.array([(scipy.linalg.expm(system * ti) @ np.array([x0, v0]))[0] for ti in np.asarray(t)])


# ---- the exact discrete iteration ---------------------------------------------------


def iteration_matrix(k_eta: float, g: float, sigma: float) -> np.ndarray:
    """The 2×2 matrix of Eq. (5) acting on (θ^(i), m^(i−1))."""
    c = g - k_eta * sigma
    return np.array([[1 - k_eta, c], [-k_eta, c]])


def stationary_loss(k_eta: float, g: float, sigma: float) -> float:
    r"""E[L] once Eq. (5)'s map has forgotten its start, when the gradient carries additive
    noise, :math:`k\phi + \xi` with :math:`\operatorname{Var}\xi = s^2`; in units of
    :math:`\eta s^2`, inf where the map is unstable.

    The noise enters θ and m alike (:math:`-\eta\xi`), so the stationary covariance of
    :math:`(\theta^{(i)}, m^{(i-1)})` solves the discrete Lyapunov equation
    :math:`\Sigma = A\Sigma A^T + \eta^2 s^2 \mathbf{1}\mathbf{1}^T` with A of
    :func:`iteration_matrix`, and :math:`E[L] = \tfrac12 k\Sigma_{\theta\theta}`.  For plain
    SGD (g = σ = 0) this is the textbook :math:`1/(2(2 - k\eta))`.
    """
    if spectral_radius(k_eta, g, sigma) >= 1:
        return math.inf
    unit = scipy.linalg.solve_discrete_lyapunov(iteration_matrix(k_eta, g, sigma), np.ones((2, 2)))
    return 0.5 * k_eta * float(unit[0, 0])


def largest_stable_k_eta(g: float, sigma: float) -> float:
    """The kη above which Eq. (5)'s map diverges, 2(1 + g)/(1 + 2σ): where its characteristic
    polynomial has the root −1 (for g, σ ≥ 0)."""
    return 2 * (1 + g) / (1 + 2 * sigma)


# ---- simulation --------------------------------------------------------------------


def simulate_momentum(k_eta: float, g: float, sigma, steps: int, theta0: float = 1.0) -> np.ndarray:
    """θ^(0..steps) of Eq. (5) from θ^(0) = theta0, m^(−1) = 0; vectorized over ``sigma``.

    Returns an array of shape (steps + 1,) + shape(sigma).
    """
    sigma = np.asarray(sigma, dtype=float)
    theta = np.full(sigma.shape, float(theta0))
    m = np.zeros(sigma.shape)
    out = np.empty((steps + 1,) + sigma.shape)
    out[0] = theta
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is a result, not an error
        for i in range(steps):
            m = g * m - k_eta * (theta + sigma * m)
            theta = theta + m
            out[i + 1] = theta
    return out


def simulate_rmsprop(eta: float, g: float, sigma, steps: int, *, k: float = 1.0, beta2: float = 0.999,
                     eps: float = 1e-7, theta0: float = 1.0) -> np.ndarray:
    """θ^(0..steps) of Eq. (17), RMSProp with momentum and super-acceleration on ½kθ²."""
    sigma = np.asarray(sigma, dtype=float)
    theta = np.full(sigma.shape, float(theta0))
    m = np.zeros(sigma.shape)
    r = np.zeros(sigma.shape)
    out = np.empty((steps + 1,) + sigma.shape)
    out[0] = theta
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(steps):
            grad = k * (theta + sigma * m)
            r = beta2 * r + (1 - beta2) * grad**2
            m = g * m - eta / np.sqrt(r + eps) * grad
            theta = theta + m
            out[i + 1] = theta
    return out


# ---- the paper's fitting procedure ---------------------------------------------------


@dataclass
class DampedFit:
    """A fit of a·e^{−t/T}·cos(ω̄t + δ) (or a·e^{−t/T}) to a trajectory."""

    T: float
    omega: float
    delta: float
    amplitude: float
    r_squared: float
    steps: int


def _damped(t, a, b, T, omega):
    """e^{−t/T}(a cos ω̄t + b sin(ω̄t)/ω̄): the paper's a'·e^{−t/T}cos(ω̄t + δ) written so that
    the fit stays well posed as ω̄ → 0 (critical damping, where it becomes (a + bt)e^{−t/T})."""
    return np.exp(-t / T) * (a * np.cos(omega * t) + b * t * np.sinc(omega * t / np.pi))


def _fit_window(theta: np.ndarray, floor: float) -> int:
    """Points up to the last one above floor·max|θ|: the decay, not the round-off tail."""
    above = np.nonzero(np.abs(theta) > floor * np.max(np.abs(theta)))[0]
    return max(int(above[-1]) + 1 if above.size else len(theta), 8)


def _log_slope_time(t: np.ndarray, theta: np.ndarray) -> float:
    """A first guess of T from a straight line through log|θ| (data only)."""
    slope = np.polyfit(t, np.log(np.abs(theta) + 1e-300), 1)[0]
    return float(np.clip(-1 / slope if slope < 0 else len(t), 0.5, 1e6))


def fit_damped_oscillation(theta: np.ndarray, floor: float = 1e-6) -> DampedFit:
    """Fit e^{−t/T}·a'cos(ω̄t + δ) to θ^(i) vs i, as in Figures 1 and 2 (scipy curve_fit).

    The fit runs over the points until |θ| falls below ``floor`` of its maximum. Starting
    guesses come from the data alone (a straight line through log|θ| for T, the count of
    sign changes for ω̄); the best of a few starts is kept.
    """
    n = _fit_window(theta, floor)
    t, y = np.arange(n, dtype=float), np.asarray(theta[:n], dtype=float)
    T0 = _log_slope_time(t, y)
    omega0 = math.pi * np.count_nonzero(np.diff(np.sign(y))) / n
    total = float(np.sum((y - y.mean()) ** 2)) or 1.0
    best, best_sse = None, np.inf
    for p0 in ((y[0], 0.0, T0, omega0), (y[0], 0.0, T0, 0.0), (y[0], 0.0, T0 / 2, 0.5 * omega0)):
        try:
            params, _ = scipy.optimize.curve_fit(
                _damped, t, y, p0=p0, bounds=([-np.inf, -np.inf, 1e-3, 0.0], [np.inf, np.inf, 1e7, np.pi]),
                maxfev=20000,
            )
        except (RuntimeError, ValueError):
            continue
        sse = float(np.sum((_damped(t, *params) - y) ** 2))
        if sse < best_sse:
            best, best_sse = params, sse
        if best_sse < 1e-8 * total:  # an essentially perfect fit: other starts cannot matter
            break
    if best is None:
        raise RuntimeError("damped-oscillation fit did not converge")
    a, b, T, omega = (float(v) for v in best)
    sine = b / omega if omega > 0 else 0.0  # a cos ω̄t + (b/ω̄) sin ω̄t = A cos(ω̄t + δ)
    return DampedFit(T=T, omega=omega, delta=math.atan2(-sine, a), amplitude=math.hypot(a, sine),
                     r_squared=1 - best_sse / total, steps=n)


def fit_exponential_decay(theta: np.ndarray, floor: float = 1e-6) -> DampedFit:
    """Fit a·e^{−t/T} to |θ^(i)|, as the paper does for RMSProp (Figure 7a)."""
    n = _fit_window(theta, floor)
    t, y = np.arange(n, dtype=float), np.abs(np.asarray(theta[:n], dtype=float))
    params, _ = scipy.optimize.curve_fit(
        lambda t, a, T: a * np.exp(-t / T), t, y, p0=(y[0], _log_slope_time(t, y)),
        bounds=([0, 1e-3], [np.inf, 1e7]), maxfev=20000,
    )
    fitted = params[0] * np.exp(-t / params[1])
    total = float(np.sum((y - y.mean()) ** 2)) or 1.0
    return DampedFit(T=float(params[1]), omega=0.0, delta=0.0, amplitude=float(params[0]),
                     r_squared=1 - float(np.sum((fitted - y) ** 2)) / total, steps=n)


def fitted_relaxation_times(trajectories: np.ndarray, fit=fit_damped_oscillation) -> np.ndarray:
    """T from fits, one per column of a (steps + 1, n) array of trajectories.

    A trajectory that does not decay (overflow, or ending farther out than it started) has
    T = inf; one whose fit fails has T = nan.
    """
    times = []
    for j in range(trajectories.shape[1]):
        column = trajectories[:, j]
        if not np.all(np.isfinite(column)) or abs(column[-1]) >= abs(column[0]):
            times.append(np.inf)
            continue
        try:
            times.append(fit(column).T)
        except RuntimeError:
            times.append(np.nan)
    return np.array(times)


def fitted_sigma_star(simulate, sigma_max: float, fit=fit_damped_oscillation,
                      points: int = 21, refinements: int = 2) -> tuple[float, float]:
    """The paper's procedure: σ at which the fitted T is smallest, and that T.

    ``simulate(sigmas)`` returns trajectories (steps + 1, len(sigmas)). A grid of ``points``
    over [0, sigma_max] is refined ``refinements`` times around its minimum (each time to
    the two neighbouring cells), so the resolution is sigma_max / (points − 1) / 5**refinements.
    """
    low, high = 0.0, sigma_max
    best_sigma, best_time = 0.0, np.inf
    for level in range(refinements + 1):
        grid = np.linspace(low, high, points if level == 0 else 11)
        times = fitted_relaxation_times(simulate(grid), fit)
        if np.all(np.isnan(times)):
            break
        j = int(np.nanargmin(times))
        best_sigma, best_time = float(grid[j]), float(times[j])
        spacing = grid[1] - grid[0]
        low, high = max(best_sigma - spacing, 0.0), min(best_sigma + spacing, sigma_max)
    return best_sigma, best_time
