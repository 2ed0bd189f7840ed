r"""SuperRMSprop: RMSProp with momentum and super-acceleration (Eq. 16 of the paper)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..auto_sigma import StepSums
from ..rules import HeavyBall, RmspropCoefficients, buffer_heavy_ball, rmsprop_coefficients
from . import _auto_sigma
from ._core import (
    BufferLookahead,
    Scalar,
    add_scaled_,
    as_real,
    check_hyperparameter,
    check_lr,
    effective_grad,
    effective_grads,
    foreach_add_scaled_,
    group_by_device_and_dtype,
    kernel_scalar,
    real_view,
    select_implementation,
)
from ._fused import FusedKernel, opmath

__all__ = ["SuperRMSprop", "super_rmsprop"]


class SuperRMSprop(BufferLookahead):
    state_keys = frozenset({"square_avg", "momentum_buffer"})

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-2,
        alpha: float = 0.999,
        eps: float = 1e-7,
        momentum: float = 0.9,
        sigma: float | str = 2.0,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        check_lr(lr)
        check_hyperparameter("alpha value", alpha, 0.0, 1.0)
        check_hyperparameter("epsilon value", eps)
        check_hyperparameter("momentum value", momentum, 0.0, 1.0)
        check_hyperparameter("weight_decay value", weight_decay)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, momentum=momentum, sigma=sigma, weight_decay=weight_decay,
                        maximize=maximize, foreach=foreach, fused=fused)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        check_lr(group["lr"])
        check_hyperparameter("alpha value", group["alpha"], 0.0, 1.0)
        check_hyperparameter("epsilon value", group["eps"])
        check_hyperparameter("momentum value", group["momentum"], 0.0, 1.0)
        check_hyperparameter("weight_decay value", group["weight_decay"])

    def _convert_state_dict(self, state_dict: dict[str, Any]) -> dict[str, Any]:
        """Migrate a ``torch.optim.RMSprop`` state_dict (not centered).  torch's parameters
        hold θ, so ``applied_sigma`` starts at 0.
        torch adds ε outside the root; the loaded ``eps`` is used inside it from here on."""
        groups = state_dict["param_groups"]
        if groups and all("centered" in g and "sigma" not in g for g in groups):
            return self._from_torch(state_dict, "RMSprop", lookahead=lambda g: 0.0)
        return state_dict

    supports_auto_sigma = True

    def _momentum_of(self, group: dict[str, Any]) -> float:
        return group["momentum"]

    def _auto_sigma_inputs(self, group: dict[str, Any], params: list[Tensor]) -> tuple[StepSums, HeavyBall]:
        """x = G/√(ν_t + ε), with ν_t computed here out of place (the step computes it again)."""
        alpha, eps = group["alpha"], group["eps"]
        grads = [real_view(g) for g in effective_grads([p.grad for p in params], params,
                                                       maximize=group["maximize"], weight_decay=group["weight_decay"])]
        square_avgs = [real_view(self._buffer(p, "square_avg")) for p in params]
        xs = [g / (alpha * v + (1 - alpha) * g * g + eps).sqrt() for g, v in zip(grads, square_avgs, strict=True)]
        sums = _auto_sigma.inner_products(xs, [real_view(self._buffer(p, "momentum_buffer")) for p in params])
        return sums, buffer_heavy_ball(lr=float(group["lr"]), momentum=group["momentum"],
                                       applied_sigma=group["applied_sigma"])

    def _update_group(self, group: dict[str, Any], params: list[Tensor]) -> None:
        super_rmsprop(
            params,
            [p.grad for p in params],
            [self._buffer(p, "square_avg") for p in params],
            [self._buffer(p, "momentum_buffer") for p in params],
            lr=group["lr"],
            alpha=group["alpha"],
            eps=group["eps"],
            momentum=group["momentum"],
            sigma=group["sigma"],
            applied_sigma=group["applied_sigma"],
            weight_decay=group["weight_decay"],
            maximize=group["maximize"],
            foreach=group["foreach"],
            fused=group["fused"],
            fused_views=self._fused_views(),
        )


SuperRMSprop.__doc__ = r"""Implements RMSProp with momentum and super-acceleration, Eq. (16) of the paper.

    In torch's convention (the momentum buffer :math:`b` accumulates normalized gradients and
    the current learning rate scales the step):

    .. math::
       \begin{aligned}
            &\textbf{input}: \gamma_t \text{ (lr)},\ \beta_2 \text{ (alpha)},\ \epsilon \text{ (eps)},
                \ g \text{ (momentum)},\ \sigma \text{ (sigma)},\ \lambda \text{ (weight decay)} \\
            &\textbf{for}\ t = 0, 1, \ldots: \\
            &\quad \phi_t \leftarrow \theta_t - \sigma\, \gamma_t\, b_{t-1}
                \qquad \text{(the parameters hold } \phi_t \text{ in train mode)} \\
            &\quad G_t \leftarrow \nabla L(\phi_t) + \lambda\, \phi_t \\
            &\quad r_t \leftarrow \beta_2\, r_{t-1} + (1 - \beta_2)\, G_t^2 \\
            &\quad b_t \leftarrow g\, b_{t-1} + G_t / \sqrt{r_t + \epsilon} \\
            &\quad \theta_{t+1} \leftarrow \theta_t - \gamma_t\, b_t
       \end{aligned}

    With a constant learning rate :math:`m = -\gamma b` is the paper's velocity and this is
    Eq. (16) exactly.  Under a schedule the whole update is scaled by the current learning
    rate, as in ``torch.optim.RMSprop``, so a learning rate of 0 stops the parameters.

    Args:
        params (iterable): iterable of parameters or named parameters to optimize, or dicts
            defining parameter groups.
        lr (float, Tensor, optional): learning rate :math:`\gamma` (default: 1e-2, torch's).
        alpha (float, optional): smoothing constant of the squared-gradient average, the
            paper's :math:`\beta_2` under torch's name (default: 0.999, the paper's value).
        eps (float, optional): :math:`\epsilon`, added *inside* the square root as in the
            paper (default: 1e-7, the paper's value).
        momentum (float, optional): momentum factor :math:`g` in :math:`[0, 1)` (default: 0.9).
        sigma (float or "auto", optional): super-acceleration :math:`\sigma \ge 0` (default:
            2.0, see :class:`SuperSGD` for why and for ``"auto"``).
        weight_decay (float, optional): L2 penalty, taken at the look-ahead point (default: 0).
        maximize (bool, optional): maximize the objective (default: False).
        foreach (bool, optional): use the multi-tensor implementation (default: None).
        fused (bool, optional): use the fused implementation (default: None, see :class:`SuperSGD`).

    .. note::
        ``torch.optim.RMSprop`` adds its epsilon *outside* the root,
        :math:`G/(\sqrt{r} + \epsilon')`.  With both epsilons zero the two coincide and
        ``SuperRMSprop(sigma=0, momentum=g)`` follows ``RMSprop(momentum=g)`` exactly, under
        any learning-rate schedule.  Otherwise the steps differ by the factor
        :math:`(\sqrt{r}+\epsilon')/\sqrt{r+\epsilon}`.  Against torch with
        :math:`\epsilon' = 0` and ours at the default :math:`\epsilon = 10^{-7}`, ours is
        smaller by :math:`1 - \sqrt{r/(r+\epsilon)} \approx \epsilon/2r`: under 5e-4 once
        :math:`r > 10^{-4}`, approaching 100 % where :math:`r \ll \epsilon` (a vanishing
        gradient history, where ours stays bounded).
        Call :meth:`eval` before evaluating or checkpointing, :meth:`train` before training.
    """


def super_rmsprop(
    params: list[Tensor],
    grads: list[Tensor],
    square_avgs: list[Tensor],
    momentum_buffers: list[Tensor],
    *,
    lr: Scalar,
    alpha: float,
    eps: float,
    momentum: float,
    sigma: float,
    applied_sigma: float,
    weight_decay: float = 0.0,
    maximize: bool = False,
    foreach: bool | None = None,
    fused: bool | None = None,
    fused_views: dict | None = None,
) -> None:
    r"""Functional SuperRMSprop step on lists of tensors, in place (``fused_views``: see
    :func:`super_sgd`). See :class:`SuperRMSprop`."""
    if not params:
        return
    implementation = select_implementation(params, foreach, fused)
    ref = params[0]
    coefficients = rmsprop_coefficients(lr=kernel_scalar(lr, ref), alpha=alpha, eps=eps, momentum=momentum,
                                        sigma=kernel_scalar(sigma, ref),
                                        applied_sigma=kernel_scalar(applied_sigma, ref), weight_decay=weight_decay)
    tensors = (list(params), list(grads), list(square_avgs), list(momentum_buffers))
    if implementation == "fused":
        _fused_super_rmsprop(*tensors, coefficients, maximize=maximize, views=fused_views)
    elif implementation == "foreach":
        _multi_tensor_super_rmsprop(*tensors, coefficients, maximize=maximize)
    else:
        _single_tensor_super_rmsprop(*tensors, coefficients, maximize=maximize)


# Every path applies superaccel.rules.RmspropCoefficients; as in SuperSGD the old buffer enters
# φ before it is overwritten, so two buffers (r, b) suffice.


def _single_tensor_super_rmsprop(params, grads, square_avgs, bufs, c: RmspropCoefficients, *, maximize):
    for param, grad, square_avg, buf in zip(params, grads, square_avgs, bufs, strict=True):
        param, grad, square_avg, buf = real_view(param), real_view(grad), real_view(square_avg), real_view(buf)
        grad = effective_grad(grad, param, maximize=maximize, weight_decay=c.weight_decay)
        square_avg.mul_(c.alpha).addcmul_(grad, grad, value=c.one_minus_alpha)
        denom = square_avg.add(c.eps).sqrt_()
        add_scaled_(param, buf, c.undo)
        buf.mul_(c.momentum).addcdiv_(grad, denom)
        add_scaled_(param, buf, c.step)


def _multi_tensor_super_rmsprop(params, grads, square_avgs, bufs, c: RmspropCoefficients, *, maximize):
    for device_params, device_grads, device_square_avgs, device_bufs in group_by_device_and_dtype(
        [params, grads, square_avgs, bufs]
    ):
        as_real(device_params, device_grads, device_square_avgs, device_bufs)
        device_grads = effective_grads(device_grads, device_params, maximize=maximize, weight_decay=c.weight_decay)
        torch._foreach_mul_(device_square_avgs, c.alpha)
        torch._foreach_addcmul_(device_square_avgs, device_grads, device_grads, value=c.one_minus_alpha)
        denom = torch._foreach_add(device_square_avgs, c.eps)
        torch._foreach_sqrt_(denom)
        foreach_add_scaled_(device_params, device_bufs, c.undo)
        torch._foreach_mul_(device_bufs, c.momentum)
        torch._foreach_addcdiv_(device_bufs, device_grads, denom)
        foreach_add_scaled_(device_params, device_bufs, c.step)


def _fused_rmsprop_update(param: Tensor, grad: Tensor, square_avg: Tensor, buf: Tensor, coefficients: Tensor,
                          maximize: bool, decays: bool) -> None:
    c = RmspropCoefficients(*coefficients.unbind(0))
    dtype = opmath(param)
    p, g, r, b = param.to(dtype), grad.to(dtype), square_avg.to(dtype), buf.to(dtype)
    g = -g if maximize else g
    g = g + c.weight_decay * p if decays else g
    r_new = c.alpha * r + c.one_minus_alpha * g * g
    b_new = c.momentum * b + g / (r_new + c.eps).sqrt()
    param.copy_(p + c.undo * b + c.step * b_new)
    square_avg.copy_(r_new)
    buf.copy_(b_new)


# Each optimizer has its own chunk function: Dynamo keeps its compiled graphs per code object.
def _fused_rmsprop_chunk(tensor_lists: list[list[Tensor]], coefficients: Tensor, *flags: bool) -> None:
    for index, tensors in enumerate(zip(*tensor_lists, strict=True)):
        _fused_rmsprop_update(*tensors, coefficients[index], *flags)


_FUSED_RMSPROP = FusedKernel(_fused_rmsprop_chunk, "rmsprop", RmspropCoefficients)


def _fused_super_rmsprop(params, grads, square_avgs, bufs, c: RmspropCoefficients, *, maximize, views):
    for device_lists in group_by_device_and_dtype([params, grads, square_avgs, bufs]):
        skipped = _FUSED_RMSPROP(device_lists, c, views, (maximize, c.weight_decay != 0))
        if skipped:
            _single_tensor_super_rmsprop(*([ts[i] for i in skipped] for ts in device_lists), c, maximize=maximize)
