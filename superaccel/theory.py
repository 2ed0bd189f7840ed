r"""σ* as a tool: the theory of super-acceleration for one curvature, in plain Python.

Notation: ``k_eta`` is :math:`k\eta` for the loss :math:`L(\theta) = \tfrac12 k\theta^2`,
``g`` the momentum, ``sigma`` the super-acceleration.  Equation numbers are the paper's
(Nakerst, Brennan & Haque).  ``superaccel sigma-star`` prints these numbers; the paper's
simulations, ODE solutions and fits are in the lab (``superaccel_lab.analysis``).

The exact optimum of the discrete iteration
------------------------------------------
Eq. (5) is linear in :math:`(\theta^{(i)}, m^{(i-1)})`.  With :math:`h = k\eta` and
:math:`c = g - h\sigma` it is

.. math::
    \begin{pmatrix}\theta^{(i+1)} \\ m^{(i)}\end{pmatrix}
    = \begin{pmatrix} 1 - h & c \\ -h & c \end{pmatrix}
      \begin{pmatrix}\theta^{(i)} \\ m^{(i-1)}\end{pmatrix},
    \qquad \lambda^2 - (1 + c - h)\lambda + c = 0 .

For complex eigenvalues :math:`|\lambda| = \sqrt{c}`, which falls as σ grows; past the
double root the larger real eigenvalue grows again.  The fastest asymptotic rate is at the
double root (critical damping *of the map*): :math:`(1 + c - h)^2 = 4c`, i.e.
:math:`\sqrt{c} = 1 - \sqrt{h}`, so

.. math::
    \sigma^*_{\text{exact}} = \frac{g - (1 - \sqrt{h})^2}{h}
                            = \frac{2}{\sqrt{h}} - 1 - \frac{1 - g}{h},
    \qquad \rho^* = |1 - \sqrt{h}|, \qquad T^* = -1/\ln\rho^*,

for :math:`0 < h < 4`.  It is positive only for :math:`h > (1 - \sqrt{g})^2` (0.00263 for
g = 0.9; the paper finds ≈ 0.0027 from fits).  Compared with Eqs. (12)–(14), Eq. (12) lacks
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
from typing import Any

from ._ops import PYTHON, Ops

__all__ = [
    "spectral_radius",
    "relaxation_time",
    "exact_sigma_star",
    "optimal_rate",
    "positive_sigma_star_threshold",
    "sigma_star_eq12",
    "sigma_star_eq13",
    "sigma_star_eq14",
    "SIGMA_STAR_BY_ODE",
    "sigma_star_summary",
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


# ---- the exact discrete iteration ---------------------------------------------------


def spectral_radius(k_eta: Any, g: Any, sigma: Any, ops: Ops = PYTHON) -> Any:
    """ρ(kη, g, σ): the largest |eigenvalue| of Eq. (5)'s map, the rate at which the
    distance to the minimum shrinks per step.

    Closed form from λ² − (1 + c − kη)λ + c = 0 with c = g − kησ.  ``ops``: see
    :mod:`superaccel._ops` (the optax port evaluates it in ``jax.numpy``).
    """
    c = g - k_eta * sigma
    trace = 1 + c - k_eta
    disc = trace * trace - 4 * c
    root = ops.sqrt(ops.abs(disc))
    real = ops.maximum(ops.abs(trace + root), ops.abs(trace - root)) / 2
    return ops.where(disc >= 0, real, ops.sqrt(ops.abs(c)))


def relaxation_time(rate: float) -> float:
    """T = −1/ln ρ: the iteration count over which the distance shrinks by e (inf if ρ ≥ 1)."""
    if rate >= 1:
        return math.inf
    if rate <= 0:
        return 0.0
    return -1 / math.log(rate)


def exact_sigma_star(k_eta: float, g: float) -> float:
    """σ minimizing ρ: (g − (1 − √kη)²)/kη, for 0 < kη < 4.  Negative below the threshold
    :func:`positive_sigma_star_threshold`, where σ = 0 is the best non-negative σ."""
    return (g - (1 - k_eta**0.5) ** 2) / k_eta


def optimal_rate(k_eta: float) -> float:
    """ρ at the exact σ*: |1 − √kη|."""
    return abs(1 - k_eta**0.5)


def positive_sigma_star_threshold(g: float) -> float:
    """kη below which no positive σ* exists: (1 − √g)²."""
    return (1 - math.sqrt(g)) ** 2


# ---- Section 2.2: critical damping of the paper's ODEs ------------------------------


def sigma_star_eq12(k_eta: float, g: float) -> float:
    """Eq. (12): critical damping of ODE (9), forward differences."""
    return 2 / k_eta**0.5 - (1 - g) / k_eta


def sigma_star_eq13(k_eta: float, g: float) -> float:
    """Eq. (13): critical damping of ODE (10), a backward difference for the velocity."""
    return -2 + 2 * (1 + 1 / k_eta) ** 0.5 - (1 - g) / k_eta


def sigma_star_eq14(k_eta: float, g: float) -> float:
    """Eq. (14): critical damping of ODE (11), the midpoint velocity."""
    return -1 + (1 + 4 / k_eta) ** 0.5 - (1 - g) / k_eta


SIGMA_STAR_BY_ODE = {9: sigma_star_eq12, 10: sigma_star_eq13, 11: sigma_star_eq14}


def sigma_star_summary(k_eta: float, g: float) -> dict[str, float]:
    """Everything ``superaccel sigma-star`` reports for ½kθ²: the exact σ* of the discrete
    map and Eqs. (12)–(14), the optimal rate and time scale, and the best σ ≥ 0.

    ValueError for kη ≤ 0, kη ≥ 4 (the iteration diverges for every σ), non-finite values
    or g outside [0, 1).
    """
    validate_k_eta_and_momentum(k_eta, g)
    if k_eta >= 4:
        raise ValueError(f"Invalid k_eta value: {k_eta} (the iteration diverges for every σ when kη ≥ 4)")
    exact = exact_sigma_star(k_eta, g)
    best_sigma = max(exact, 0.0)
    return {
        "k_eta": k_eta,
        "momentum": g,
        "exact": exact,
        "eq12": sigma_star_eq12(k_eta, g),
        "eq13": sigma_star_eq13(k_eta, g),
        "eq14": sigma_star_eq14(k_eta, g),
        "rate": optimal_rate(k_eta),
        "time_scale": relaxation_time(optimal_rate(k_eta)),
        "best_nonnegative_sigma": best_sigma,
        "best_nonnegative_rate": spectral_radius(k_eta, g, best_sigma),
        "positive_sigma_star_threshold": positive_sigma_star_threshold(g),
    }


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
