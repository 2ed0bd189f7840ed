r"""Each update rule's scalar algebra, written once.

A super-accelerated step reads the parameters at the look-ahead point
:math:`\phi = \theta + \sigma' s` (σ' the σ its look-ahead was formed with, s the last step),
takes the method's step at θ and leaves :math:`\phi_{new} = \theta_{new} + \sigma s_{new}`.
For each method that is one elementwise expression whose coefficients depend only on
hyperparameters and the step count.  This module computes those coefficients, as named
fields; every path applies them unchanged: the single-tensor and foreach loops, the compiled
(Inductor) and C++ fused kernels (whose coefficient rows are these tuples, field by field)
and the optax port.  The functions are plain arithmetic on floats, on the 0-d tensors of a
traced ``torch.compile`` step or on JAX arrays; ``ops`` supplies the rest
(:mod:`superaccel._ops`).

Each rule also states its heavy-ball form (:class:`HeavyBall`), which ``sigma="auto"``
(:mod:`superaccel.auto_sigma`) reads its curvature through.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from ._ops import PYTHON, Ops

__all__ = [
    "SgdCoefficients",
    "sgd_coefficients",
    "RmspropCoefficients",
    "rmsprop_coefficients",
    "AdamShift",
    "adam_shift",
    "AdamCoefficients",
    "adam_coefficients",
    "HeavyBall",
    "buffer_heavy_ball",
    "adam_heavy_ball",
    "check_decay_undoable",
    "MuonCoefficients",
    "muon_coefficients",
    "muon_adjusted_lr",
]


# ---- SGD and RMSprop: the last step is −lr·b ------------------------------------------------


class SgdCoefficients(NamedTuple):
    r"""SuperSGD's step: :math:`b_{new} = \text{momentum}\cdot b + G` with
    :math:`G = \nabla L(\phi) + \text{weight\_decay}\cdot\phi`, then
    :math:`\phi_{new} = \phi + \text{undo}\cdot b + \text{step}\cdot b_{new}`."""

    undo: Any  # σ'·lr: θ = φ + σ'·lr·b, re-formed at the current learning rate
    step: Any  # −(1 + σ)·lr: the step, and the new look-ahead σ steps beyond it
    momentum: Any
    weight_decay: Any


def sgd_coefficients(*, lr: Any, momentum: Any, sigma: Any, applied_sigma: Any, weight_decay: Any) -> SgdCoefficients:
    """The coefficients of one SuperSGD step (torch's convention: the current learning rate
    scales the whole update, so σ' = 0 or g follows ``torch.optim.SGD`` under any schedule)."""
    return SgdCoefficients(applied_sigma * lr, -(1 + sigma) * lr, momentum, weight_decay)


class RmspropCoefficients(NamedTuple):
    r"""SuperRMSprop's step (Eq. 16): :math:`r_{new} = \alpha r + (1 - \alpha) G^2`,
    :math:`b_{new} = \text{momentum}\cdot b + G/\sqrt{r_{new} + \epsilon}`, then φ as in
    :class:`SgdCoefficients`."""

    undo: Any
    step: Any
    momentum: Any
    alpha: Any
    one_minus_alpha: Any  # from the host: in float32, 1 − 0.999 loses 4 digits
    eps: Any
    weight_decay: Any


def rmsprop_coefficients(*, lr: Any, alpha: Any, eps: Any, momentum: Any, sigma: Any, applied_sigma: Any,
                         weight_decay: Any) -> RmspropCoefficients:
    """The coefficients of one SuperRMSprop step."""
    return RmspropCoefficients(applied_sigma * lr, -(1 + sigma) * lr, momentum, alpha, 1 - alpha, eps, weight_decay)


# ---- Adam: the last step is recomputed from the moments ----------------------------------------


class AdamShift(NamedTuple):
    r"""A move between φ and θ: ``scale·param + coeff·m/(√v·rsqrt_bc2 + ε)``."""

    scale: Any
    coeff: Any
    rsqrt_bc2: Any  # 1/√(1 − β2^k), the bias correction of v


def adam_shift(k: Any, *, lr: Any, sigma: Any, beta1: Any, beta2: Any, decay: Any, to_theta: bool,
               ops: Ops = PYTHON) -> AdamShift:
    r"""θ from φ (``to_theta``) or φ from θ, for a parameter that has taken ``k`` steps with
    moments m, v, the last at learning rate ``lr``.

    The last step is :math:`s = -(\mathrm{lr}\,u + x\,\theta_{k-1})` with
    :math:`u = \hat m/(\sqrt{\hat v} + \epsilon)` and :math:`x = \mathrm{lr}\cdot\lambda`
    (:math:`\lambda` = ``decay``, the decoupled weight decay, 0 otherwise); with
    :math:`\theta_{k-1} = \theta - s` and :math:`\theta = \phi - \sigma s` this gives
    :math:`\theta = \phi + \sigma(\mathrm{lr}\,u + x\phi)/(1 - x(1 + \sigma))` and
    :math:`\phi = \theta - \sigma(\mathrm{lr}\,u + x\theta)/(1 - x)`.  Before the first step
    (``k = 0``) there is no last step: ``(1, 0, 1)``.
    """
    started = k > 0
    k = ops.where(started, k, 1.0)  # keeps the branch that is not chosen finite
    x = lr * decay
    step_size = lr / (1 - beta1**k)
    if to_theta:
        denominator = 1 - x * (1 + sigma)
        scale, coeff = 1 + sigma * x / denominator, sigma * step_size / denominator
    else:
        scale, coeff = 1 - sigma * x / (1 - x), -sigma * step_size / (1 - x)
    return AdamShift(ops.where(started, scale, 1.0), ops.where(started, coeff, 0.0),
                     ops.where(started, 1 / (1 - beta2**k) ** 0.5, 1.0))


class AdamCoefficients(NamedTuple):
    r"""SuperAdam's step, the look-ahead undone and re-formed in one expression:
    :math:`m_{new} = m + (1 - \beta_1)(G - m)`, :math:`v_{new} = \beta_2 v + (1 - \beta_2)G^2`
    (G with weight_decay·φ, the coupled L2 term), then

    .. math::
        \phi_{new} = \text{scale}\,\phi + \text{undo}\,\frac{m}{\sqrt v\,r' + \epsilon}
                   + \text{step}\,\frac{m_{new}}{\sqrt{v_{new}}\,r + \epsilon}

    with :math:`r' = ` ``undo_rsqrt_bc2`` and :math:`r = ` ``rsqrt_bc2``: θ = a·φ + b·m/(√v r' + ε)
    (:func:`adam_shift`), and φ_new = c·θ + e·m_new/(√v_new r + ε), which is
    θ + (1 + σ)·s_new, folded as scale = c·a, undo = c·b, step = e.
    """

    scale: Any
    undo: Any
    undo_rsqrt_bc2: Any
    step: Any
    rsqrt_bc2: Any
    eps: Any
    one_minus_beta1: Any  # 1 − β from the host: in float32, 1 − 0.999 loses 4 digits
    beta2: Any
    one_minus_beta2: Any
    weight_decay: Any  # the coupled L2 term (0 with decoupled decay)


def adam_coefficients(k: Any, *, lr: Any, applied_lr: Any, sigma: Any, applied_sigma: Any, beta1: Any, beta2: Any,
                      eps: Any, weight_decay: Any, decoupled: bool, ops: Ops = PYTHON) -> AdamCoefficients:
    """The coefficients of step k + 1 of SuperAdam(W), for a parameter that has taken ``k``
    steps, the last at ``applied_lr`` with look-ahead ``applied_sigma``.  At σ = σ' = 0 this
    is torch's Adam (AdamW with ``decoupled``) step."""
    decay = weight_decay if decoupled else 0.0
    back = adam_shift(k, lr=applied_lr, sigma=applied_sigma, beta1=beta1, beta2=beta2, decay=decay, to_theta=True,
                      ops=ops)
    decay_factor = 1 - (1 + sigma) * lr * decay
    step = -(1 + sigma) * lr / (1 - beta1 ** (k + 1))
    return AdamCoefficients(decay_factor * back.scale, decay_factor * back.coeff, back.rsqrt_bc2, step,
                            1 / (1 - beta2 ** (k + 1)) ** 0.5, eps, 1 - beta1, beta2, 1 - beta2,
                            0.0 if decoupled else weight_decay)


def check_decay_undoable(lr: Any, weight_decay: Any, sigma: Any, name: str = "weight_decay value") -> None:
    """Refuse decoupled weight decay with lr·λ·(1 + σ) ≥ 1.

    The decay scales θ by 1 − lr·λ per step and the look-ahead by 1 − (1 + σ)·lr·λ; at
    lr·λ·(1 + σ) = 1 φ no longer depends on θ, so θ cannot be recovered from the two moment
    buffers (and beyond it the decay flips the weights' sign every step).  ``sigma`` is the
    largest σ the optimizer may use; values that are not plain numbers (an lr schedule, a
    traced array) and an invalid σ (its own error) are left alone.
    """
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (weight_decay, sigma))
    try:
        lr = float(lr)
    except (TypeError, ValueError):  # a schedule
        return
    if not (numbers and 0 <= sigma < math.inf):
        return
    product = lr * weight_decay * (1 + sigma)
    if product >= 1:
        raise ValueError(f"Invalid {name}: {weight_decay} (with decoupled weight decay, "
                         f"lr * weight_decay * (1 + sigma) must be below 1; here it is {product:g})")


# ---- Muon: the last step is kept ----------------------------------------------------------------


class MuonCoefficients(NamedTuple):
    r"""SuperMuon's step, with O the orthogonalized update (Newton–Schulz of Muon's Nesterov or
    plain momentum): :math:`\theta = \phi - \text{undo}\cdot s`,
    :math:`\theta_{new} = \text{decay}\cdot\theta + \text{step}\cdot O` (torch's Muon),
    :math:`s \leftarrow \theta_{new} - \theta`,
    :math:`\phi_{new} = \theta_{new} + \text{lookahead}\cdot s`."""

    undo: Any  # σ': the look-ahead the parameters hold
    decay: Any  # 1 − lr·λ, decoupled weight decay
    step: Any  # −lr adjusted to the matrix's shape
    lookahead: Any  # σ


def muon_adjusted_lr(lr: Any, adjust_lr_fn: str | None, shape: tuple[int, ...]) -> Any:
    """The learning rate Muon applies to a matrix of ``shape``: ``"original"`` (Keller
    Jordan's, the default) scales it by √max(1, rows/columns), ``"match_rms_adamw"``
    (Moonshot's) by 0.2·√max(rows, columns), so that the update's RMS matches AdamW's."""
    rows, columns = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return lr * math.sqrt(max(1, rows / columns))
    if adjust_lr_fn == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(rows, columns))
    return lr


def muon_coefficients(*, lr: Any, weight_decay: Any, sigma: Any, applied_sigma: Any, adjust_lr_fn: str | None,
                      shape: tuple[int, ...]) -> MuonCoefficients:
    """The coefficients of one SuperMuon step for a matrix of ``shape``."""
    return MuonCoefficients(applied_sigma, 1 - lr * weight_decay, -muon_adjusted_lr(lr, adjust_lr_fn, shape), sigma)


# ---- the heavy-ball form, for sigma="auto" ---------------------------------------------------


class HeavyBall(NamedTuple):
    r"""A method as a buffer and a step: :math:`b_t = g\,b_{t-1} + c\,x_t`,
    :math:`s_t = -\eta\,b_t`; the parameters move by
    :math:`\Delta\phi_t = \text{undo}\cdot b_{t-1} - (1 + \sigma)\eta\,b_t`."""

    g: Any
    c: Any
    eta: Any
    undo: Any


def buffer_heavy_ball(*, lr: Any, momentum: Any, applied_sigma: Any) -> HeavyBall:
    """SuperSGD (x the gradient) and SuperRMSprop (x the gradient over √(r + ε))."""
    return HeavyBall(momentum, 1.0, lr, applied_sigma * lr)


def adam_heavy_ball(k: Any, *, lr: Any, applied_lr: Any, applied_sigma: Any, beta1: Any,
                    ops: Ops = PYTHON) -> HeavyBall:
    """SuperAdam at step k + 1: the buffer m (g = β1, gain 1 − β1), the step −lr·m/(1 − β1^(k+1))
    (in the metric weighted by 1/(√v̂ + ε), which the caller's inner products apply)."""
    started = k > 0
    undo = applied_sigma * applied_lr / (1 - beta1 ** ops.where(started, k, 1.0))
    return HeavyBall(beta1, 1 - beta1, lr / (1 - beta1 ** (k + 1)), ops.where(started, undo, 0.0))
