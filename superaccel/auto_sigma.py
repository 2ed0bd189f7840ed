r"""``sigma="auto"``: σ chosen every step from the curvature the optimizer sees.

For one curvature :math:`h` the theory gives the rate :math:`\rho(h\eta, g, \sigma)` of the
map of Eq. (5) and its exact minimizer σ*.  A real problem has many curvatures; for a range
:math:`[h_{lo}, h_{hi}]` the σ that minimizes the *worst* rate over it is a one-dimensional
problem on scalars (:func:`minimax_sigma`).  The range is estimated online from a secant:

- **The estimate.**  Every method is a buffer and a step in its heavy-ball form
  (:class:`superaccel.rules.HeavyBall`): :math:`b_t = g\,b_{t-1} + c\,x_t`,
  :math:`s_t = -\eta_t b_t`, and the parameters move by
  :math:`\Delta\phi_t = u\,b_{t-1} - (1+\sigma)\eta_t b_t`.  The curvature along the path is
  the secant :math:`h = \langle x_t - x_{t-1}, b_{t-1}\rangle / \langle \Delta\phi_{t-1},
  b_{t-1}\rangle`, exact for ½kθ² (then h = k).  In general it is
  :math:`\langle H\Delta\phi, b\rangle/\langle\Delta\phi, b\rangle`, bounded by
  :math:`\lambda_{max}/\cos(\Delta\phi, b)`, so an estimate counts only where
  :math:`|\cos(\Delta\phi_{t-1}, b_{t-1})| \ge` :data:`MIN_COSINE`: a displacement nearly
  orthogonal to the buffer makes the quotient a ratio of two small numbers.  Everything
  follows from three sums over the current step (:class:`StepSums`) and three scalars kept
  from the step before: no extra buffer, no extra forward or backward pass.
- **The range.**  :math:`h_{lo}` is an exponential average of the estimates, :math:`h_{hi}`
  their running maximum, forgotten slowly, so that a curvature that has disappeared stops
  constraining σ after a few hundred steps.  Non-finite and non-positive estimates (noise,
  negative curvature) are skipped.
- **σ.**  The minimax σ over :data:`POINTS` curvatures spaced geometrically across the range,
  bounded to :math:`[0, \sigma_{max}]` and approached by :data:`SIGMA_RATE` of the distance
  per step, so it changes smoothly.  Before the first estimate σ stays where it started
  (the optimizers start it at g, Nesterov).

For ½kθ² the estimate is exact, so σ converges to the exact σ*(kη) and the rate to
:math:`|1 - \sqrt{k\eta}|`.  The arithmetic never divides by a number that may be zero and
never multiplies two sums whose product may underflow (it takes their roots apart), so a run
whose gradients shrink to nothing or blow up keeps a finite σ.  Where it helps and where it
does not, measured: docs/auto_sigma.md.

The functions are plain Python over an :class:`~superaccel._ops.Ops`: the PyTorch optimizers
run them on floats on the host, :mod:`superaccel.optax` in ``jax.numpy`` on the device.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from ._ops import PYTHON, Ops
from .rules import HeavyBall
from .theory import spectral_radius

__all__ = ["AUTO", "SIGMA_MAX", "Estimate", "StepSums", "initial_estimate", "minimax_sigma", "choose_sigma"]

AUTO = "auto"
#: the largest σ chosen: the paper saw spurious attractors from σ ≈ 4 on a nonlinear landscape;
#: the bound only cuts off what the theory would choose for very flat directions
SIGMA_MAX = 8.0
SMOOTHING = 0.9  # of the low end of the range
HIGH_DECAY = 0.999  # per step, of the remembered high end
SIGMA_RATE = 0.3  # of the way to the target σ per step
POINTS = 5
MIN_COSINE = 0.5  # an estimate counts where |cos(Δφ, b)| ≥ this: then it is at most λ_max / MIN_COSINE
GOLDEN_STEPS = 60


class Estimate(NamedTuple):
    """The estimator's state: the curvature range and what the next secant needs."""

    low: Any  # smoothed curvature
    high: Any  # largest curvature seen, decaying
    projection: Any  # ⟨x_t, b_t⟩ of the last step
    displacement: Any  # ⟨Δφ_t, b_t⟩ of the last step
    cosine: Any  # |cos(Δφ_t, b_t)|
    estimated: Any  # low and high hold an estimate
    primed: Any  # projection, displacement and cosine hold a step's sums


def initial_estimate() -> Estimate:
    return Estimate(0.0, 0.0, 0.0, 0.0, 0.0, False, False)


class StepSums(NamedTuple):
    """What a step reports, in its metric (the three reductions over its tensors)."""

    q: Any  # ⟨x_t, b_{t−1}⟩
    n: Any  # ‖x_t‖²
    b: Any  # ‖b_{t−1}‖², measured every step (a recursion for it would accumulate rounding)


def minimax_sigma(k_etas: Sequence[Any], g: Any, sigma_max: Any = SIGMA_MAX, ops: Ops = PYTHON) -> Any:
    """The σ in [0, sigma_max] minimizing the worst rate over ``k_etas``.

    The worst rate is quasi-convex in σ (each rate falls until its double root, then rises),
    so a golden-section search finds the minimum; when every kη is the same (and in (0, 4))
    it is the exact ``(g − (1 − √kη)²)/kη`` clipped to the interval.
    """
    def worst(sigma: Any) -> Any:
        return functools.reduce(ops.maximum, [spectral_radius(k, g, sigma, ops) for k in k_etas])

    ratio = (math.sqrt(5) - 1) / 2
    low, high = 0.0 * sigma_max, sigma_max
    a, b = high - ratio * (high - low), low + ratio * (high - low)

    def narrow(_: int, bracket: tuple) -> tuple:
        low, high, a, b, fa, fb = bracket
        left = fa <= fb  # the minimum lies in [low, b]: b becomes the upper end, a the inner point
        low, high = ops.where(left, low, a), ops.where(left, b, high)
        new = ops.where(left, high - ratio * (high - low), low + ratio * (high - low))
        f_new = worst(new)
        return (low, high, ops.where(left, new, b), ops.where(left, a, new), ops.where(left, f_new, fb),
                ops.where(left, fa, f_new))

    low, high, *_ = ops.fori_loop(0, GOLDEN_STEPS, narrow, (low, high, a, b, worst(a), worst(b)))
    k = k_etas[0]
    single = functools.reduce(lambda x, y: x & y, [other == k for other in k_etas[1:]], (k > 0) & (k < 4))
    safe_k = ops.where(single, k, 1.0)
    exact = ops.minimum(ops.maximum((g - (1 - ops.sqrt(safe_k)) ** 2) / safe_k, 0.0), sigma_max)
    return ops.where(single, exact, (low + high) / 2)


def choose_sigma(estimate: Estimate, sums: StepSums, form: HeavyBall, sigma: Any, *, sigma_max: Any = SIGMA_MAX,
                 ops: Ops = PYTHON) -> tuple[Any, Estimate]:
    """This step's σ (the one its look-ahead is formed with; ``sigma`` is the current one) and
    the estimator's next state."""
    g, c, eta, undo = form
    # the secant: this step's ⟨x_t, b_{t−1}⟩ against the last step's ⟨x_{t−1}, b_{t−1}⟩
    usable = (estimate.primed & (estimate.displacement != 0) & ops.isfinite(estimate.displacement)
              & (estimate.cosine >= MIN_COSINE))
    h = (sums.q - estimate.projection) / ops.where(usable, estimate.displacement, 1.0)
    counts = usable & ops.isfinite(h) & (h > 0)
    h = ops.where(counts, h, 1.0)
    high = ops.where(counts, ops.where(estimate.estimated, ops.maximum(h, HIGH_DECAY * estimate.high), h),
                     estimate.high)
    low = ops.where(counts, ops.where(estimate.estimated, SMOOTHING * estimate.low + (1 - SMOOTHING) * h, h),
                    estimate.low)
    low = ops.minimum(low, high)
    estimated = estimate.estimated | counts

    # σ: the minimax over the range, in units of kη, approached smoothly
    lowest, highest = low * c * eta, high * c * eta
    spread = highest / ops.where(lowest > 0, lowest, 1.0)
    spread = ops.where((lowest > 0) & ops.isfinite(spread) & (spread > 1 + 1e-9), spread, 1.0)
    target = minimax_sigma([lowest * spread ** (i / (POINTS - 1)) for i in range(POINTS)], g, sigma_max, ops)
    moved = ops.minimum(ops.maximum(sigma + SIGMA_RATE * (target - sigma), 0.0), sigma_max)
    sigma = ops.where(estimated & ops.isfinite(moved), moved, sigma)

    # what the next step needs, ⟨x_t, b_t⟩ and ⟨Δφ_t, b_t⟩, from the sums of this one
    cross = g * sums.b + c * sums.q  # ⟨b_{t−1}, b_t⟩
    norm = g * g * sums.b + 2 * g * c * sums.q + c * c * sums.n  # ‖b_t‖²
    lookahead = (1 + sigma) * eta
    displacement = undo * cross - lookahead * norm
    squared = undo * undo * sums.b - 2 * undo * lookahead * cross + lookahead * lookahead * norm  # ‖Δφ_t‖²
    # the two norms' roots apart: their product may underflow while each is positive
    lengths = ops.sqrt(ops.maximum(squared, 0.0)) * ops.sqrt(ops.maximum(norm, 0.0))
    measurable = (lengths > 0) & ops.isfinite(lengths)
    cosine = ops.where(measurable, ops.abs(displacement) / ops.where(measurable, lengths, 1.0), 0.0)
    return sigma, Estimate(low, high, g * sums.q + c * sums.n, displacement, cosine, estimated, True)
