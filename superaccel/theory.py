r"""The theory of super-acceleration as pure functions (Sections 2 and 5.1 of the paper).

Notation: ``k_eta`` is :math:`k\eta` for the loss :math:`L(\theta) = \tfrac12 k\theta^2`,
``g`` the momentum, ``sigma`` the super-acceleration. Equation numbers are the paper's.

The exact optimum of the discrete iteration
------------------------------------------
Eq. (5) is linear in :math:`(\theta^{(i)}, m^{(i-1)})`. With :math:`h = k\eta` and
:math:`c = g - h\sigma` it is

.. math::
    \begin{pmatrix}\theta^{(i+1)} \\ m^{(i)}\end{pmatrix}
    = \begin{pmatrix} 1 - h & c \\ -h & c \end{pmatrix}
      \begin{pmatrix}\theta^{(i)} \\ m^{(i-1)}\end{pmatrix},
    \qquad \lambda^2 - (1 + c - h)\lambda + c = 0 .

For complex eigenvalues :math:`|\lambda| = \sqrt{c}`, which falls as σ grows; past the
double root the larger real eigenvalue grows again. The fastest asymptotic rate is at the
double root (critical damping *of the map*): :math:`(1 + c - h)^2 = 4c`, i.e.
:math:`\sqrt{c} = 1 - \sqrt{h}`, so

.. math::
    \sigma^*_{\text{exact}} = \frac{g - (1 - \sqrt{h})^2}{h}
                            = \frac{2}{\sqrt{h}} - 1 - \frac{1 - g}{h},
    \qquad \rho^* = |1 - \sqrt{h}|, \qquad T^* = -1/\ln\rho^*,

for :math:`0 < h < 4`. It is positive only for :math:`h > (1 - \sqrt{g})^2` (0.00263 for
g = 0.9; the paper finds ≈ 0.0027 from fits). Compared with Eqs. (12)–(14), Eq. (12) lacks
the −1, and Eq. (14) replaces :math:`2/\sqrt{h}` by :math:`\sqrt{1 + 4/h}`, an excess of
about :math:`\sqrt{h}/4`: the midpoint ODE is the closest, as the paper observes.

Relation to quasi-hyperbolic momentum
-------------------------------------
With a constant σ, the look-ahead points :math:`\phi_t` of SuperSGD (what the parameters
hold in train mode) follow exactly QHM (Ma & Yarats 2019) with
:math:`\alpha = \eta/(1-g)`, :math:`\beta = g`, :math:`\nu = 1 - \sigma(1-g)/g`; see
:func:`to_qhm`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize

__all__ = [
    "alpha",
    "ode_coefficients",
    "sigma_star_eq12",
    "sigma_star_eq13",
    "sigma_star_eq14",
    "SIGMA_STAR_BY_ODE",
    "iteration_matrix",
    "spectral_radius",
    "relaxation_time",
    "stationary_loss",
    "largest_stable_k_eta",
    "exact_sigma_star",
    "optimal_rate",
    "positive_sigma_star_threshold",
    "sigma_star_summary",
    "simulate_momentum",
    "simulate_rmsprop",
    "ode_solution",
    "DampedFit",
    "fit_damped_oscillation",
    "fit_exponential_decay",
    "fitted_relaxation_times",
    "fitted_sigma_star",
    "to_qhm",
    "from_qhm",
    "validate_k_eta_and_momentum",
]


def validate_k_eta_and_momentum(k_eta: float, g: float) -> None:
    """ValueError naming the bad value unless kη > 0 is finite and 0 ≤ g < 1."""
    if not (isinstance(k_eta, (int, float)) and math.isfinite(k_eta) and k_eta > 0):
        raise ValueError(f"Invalid k_eta value: {k_eta} (must be a finite number > 0)")
    if not (isinstance(g, (int, float)) and 0 <= g < 1):
        raise ValueError(f"Invalid momentum value: {g} (must be in [0, 1))")


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


def sigma_star_eq12(k_eta, g):
    """Eq. (12): critical damping of ODE (9)."""
    return 2 / np.sqrt(k_eta) - (1 - g) / k_eta


def sigma_star_eq13(k_eta, g):
    """Eq. (13): critical damping of ODE (10)."""
    return -2 + 2 * np.sqrt(1 + 1 / k_eta) - (1 - g) / k_eta


def sigma_star_eq14(k_eta, g):
    """Eq. (14): critical damping of ODE (11), the midpoint ODE."""
    return -1 + np.sqrt(1 + 4 / k_eta) - (1 - g) / k_eta


SIGMA_STAR_BY_ODE = {9: sigma_star_eq12, 10: sigma_star_eq13, 11: sigma_star_eq14}


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


def spectral_radius(k_eta, g, sigma):
    """ρ(kη, g, σ): the largest |eigenvalue| of :func:`iteration_matrix` (vectorized).

    Closed form from λ² − (1 + c − kη)λ + c = 0 with c = g − kησ.
    """
    c = g - np.multiply(k_eta, sigma)
    trace = 1 + c - k_eta
    disc = trace**2 - 4 * c
    root = np.sqrt(np.abs(disc))
    real_radius = np.maximum(np.abs(trace + root), np.abs(trace - root)) / 2
    complex_radius = np.sqrt(np.abs(c))
    return np.where(disc >= 0, real_radius, complex_radius)


def relaxation_time(rate):
    """T = −1/ln ρ: the iteration count over which the distance shrinks by e (inf if ρ ≥ 1)."""
    rate = np.asarray(rate, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(rate < 1, -1 / np.log(np.where(rate < 1, rate, 0.5)), np.inf)


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


def exact_sigma_star(k_eta, g):
    """σ minimizing ρ: (g − (1 − √kη)²)/kη, for 0 < kη < 4. Negative below the threshold
    :func:`positive_sigma_star_threshold`, where σ = 0 is the best non-negative σ."""
    return (g - (1 - np.sqrt(k_eta)) ** 2) / k_eta


def optimal_rate(k_eta):
    """ρ at the exact σ*: |1 − √kη|."""
    return np.abs(1 - np.sqrt(k_eta))


def positive_sigma_star_threshold(g: float) -> float:
    """kη below which no positive σ* exists: (1 − √g)²."""
    return (1 - math.sqrt(g)) ** 2


def sigma_star_summary(k_eta: float, g: float) -> dict[str, float]:
    """Everything ``superaccel sigma-star`` reports for ½kθ²: the exact σ* of the discrete
    map and Eqs. (12)–(14), the optimal rate and time scale, and the best σ ≥ 0.

    ValueError for kη ≤ 0, kη ≥ 4 (the iteration diverges for every σ), non-finite values
    or g outside [0, 1).
    """
    validate_k_eta_and_momentum(k_eta, g)
    if k_eta >= 4:
        raise ValueError(f"Invalid k_eta value: {k_eta} (the iteration diverges for every σ when kη ≥ 4)")
    exact = float(exact_sigma_star(k_eta, g))
    best_sigma = max(exact, 0.0)
    return {
        "k_eta": k_eta,
        "momentum": g,
        "exact": exact,
        "eq12": float(sigma_star_eq12(k_eta, g)),
        "eq13": float(sigma_star_eq13(k_eta, g)),
        "eq14": float(sigma_star_eq14(k_eta, g)),
        "rate": float(optimal_rate(k_eta)),
        "time_scale": float(relaxation_time(optimal_rate(k_eta))),
        "best_nonnegative_sigma": best_sigma,
        "best_nonnegative_rate": float(spectral_radius(k_eta, g, best_sigma)),
        "positive_sigma_star_threshold": positive_sigma_star_threshold(g),
    }


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


# ---- relations to known methods ------------------------------------------------------


def to_qhm(lr: float, momentum: float, sigma: float) -> dict[str, float]:
    r"""QHM hyperparameters whose iterates equal SuperSGD's look-ahead points :math:`\phi_t`.

    QHM (Ma & Yarats 2019): :math:`g \leftarrow \beta g + (1-\beta)\nabla`,
    :math:`\theta \leftarrow \theta - \alpha[(1-\nu)\nabla + \nu g]`. For SuperSGD with
    velocity :math:`m_t = g m_{t-1} - \eta\nabla_t` the look-ahead moves by
    :math:`(1+\sigma)m_t - \sigma m_{t-1}`; eliminating :math:`m_{t-1}` gives

    .. math:: \alpha = \frac{\eta}{1-g}, \quad \beta = g, \quad \nu = 1 - \sigma\frac{1-g}{g}.

    So σ = 0 (heavy ball) is ν = 1, σ = g (Nesterov) is ν = g, σ = g/(1−g) is ν = 0 (plain
    SGD with learning rate η/(1−g)), and larger σ is a negative ν. Returns a dict for
    ``qhoptim.pyt.QHM(params, **to_qhm(...))``. Needs 0 < g < 1.
    """
    if not 0 < momentum < 1:
        raise ValueError(f"Invalid momentum value: {momentum} (QHM form needs 0 < momentum < 1)")
    return {"lr": lr / (1 - momentum), "momentum": momentum, "nu": 1 - sigma * (1 - momentum) / momentum}


def from_qhm(lr: float, momentum: float, nu: float) -> dict[str, float]:
    """The inverse of :func:`to_qhm`: SuperSGD's ``lr``, ``momentum`` and ``sigma`` (a dict).

    ν > 1 would need σ < 0, which SuperSGD does not accept: ValueError.
    """
    if not 0 <= momentum < 1:
        raise ValueError(f"Invalid momentum value: {momentum} (must be in [0, 1))")
    sigma = (1 - nu) * momentum / (1 - momentum)
    if sigma < 0:
        raise ValueError(f"Invalid nu value: {nu} (nu > 1 corresponds to sigma < 0)")
    return {"lr": lr * (1 - momentum), "momentum": momentum, "sigma": sigma}
