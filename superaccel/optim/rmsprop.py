r"""SuperRMSprop: RMSProp with momentum and super-acceleration (Eq. 16 of the paper)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._core import (
    LookaheadOptimizer,
    as_real,
    check_hyperparameter,
    group_by_device_and_dtype,
    real_view,
    resolve_foreach,
)

__all__ = ["SuperRMSprop", "super_rmsprop"]


class SuperRMSprop(LookaheadOptimizer):
    state_keys = frozenset({"square_avg", "velocity"})

    def __init__(
        self,
        params,
        lr: float,
        alpha: float = 0.999,
        eps: float = 1e-7,
        momentum: float = 0.9,
        sigma: float = 2.0,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        check_hyperparameter("learning rate", lr)
        check_hyperparameter("alpha value", alpha, 0.0, 1.0)
        check_hyperparameter("epsilon value", eps)
        check_hyperparameter("momentum value", momentum, 0.0, 1.0)
        check_hyperparameter("weight_decay value", weight_decay)
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            momentum=momentum,
            sigma=sigma,
            weight_decay=weight_decay,
            maximize=maximize,
            foreach=foreach,
        )
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any], params: list[Tensor]) -> None:
        square_avgs = []
        for p in params:
            state = self.state[p]
            if "square_avg" not in state:
                state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            square_avgs.append(state["square_avg"])
        super_rmsprop(
            params,
            [p.grad for p in params],
            square_avgs,
            [self._velocity(p) for p in params],
            lr=group["lr"],
            alpha=group["alpha"],
            eps=group["eps"],
            momentum=group["momentum"],
            sigma=group["sigma"],
            applied_sigma=group["applied_sigma"],
            weight_decay=group["weight_decay"],
            maximize=group["maximize"],
            foreach=group["foreach"],
        )


SuperRMSprop.__doc__ = r"""Implements RMSProp with momentum and super-acceleration, Eq. (16) of the paper.

    .. math::
       \begin{aligned}
            &\textbf{input}: \eta \text{ (lr)},\ \beta_2 \text{ (alpha)},\ \epsilon \text{ (eps)},
                \ g \text{ (momentum)},\ \sigma \text{ (sigma)},\ \lambda \text{ (weight decay)} \\
            &\textbf{for}\ t = 0, 1, \ldots: \\
            &\quad \phi_t \leftarrow \theta_t + \sigma\, m_{t-1} \\
            &\quad G_t \leftarrow \nabla L(\phi_t) + \lambda\, \phi_t \\
            &\quad r_t \leftarrow \beta_2\, r_{t-1} + (1 - \beta_2)\, G_t^2 \\
            &\quad m_t \leftarrow g\, m_{t-1} - \frac{\eta}{\sqrt{r_t + \epsilon}}\, G_t \\
            &\quad \theta_{t+1} \leftarrow \theta_t + m_t
       \end{aligned}

    Args:
        params (iterable): iterable of parameters or dicts defining parameter groups.
        lr (float): learning rate :math:`\eta`.
        alpha (float, optional): smoothing constant of the squared-gradient average, the
            paper's :math:`\beta_2` under torch's name (default: 0.999, the paper's value).
        eps (float, optional): :math:`\epsilon`, added *inside* the square root as in the
            paper (default: 1e-7, the paper's value).
        momentum (float, optional): momentum factor :math:`g` in :math:`[0, 1)` (default: 0.9).
        sigma (float, optional): super-acceleration :math:`\sigma \ge 0` (default: 2.0, see
            :class:`SuperSGD` for why).
        weight_decay (float, optional): L2 penalty, taken at the look-ahead point (default: 0).
        maximize (bool, optional): maximize the objective (default: False).
        foreach (bool, optional): use the multi-tensor implementation (default: None, as torch).

    .. note::
        ``torch.optim.RMSprop`` adds its epsilon *outside* the root,
        :math:`g/(\sqrt{r} + \epsilon')`.  With both epsilons zero the two coincide and
        ``SuperRMSprop(sigma=0, momentum=g)`` follows ``RMSprop(momentum=g)`` exactly.
        Otherwise the steps differ by the factor :math:`(\sqrt{r}+\epsilon')/\sqrt{r+\epsilon}`.
        Against torch with :math:`\epsilon' = 0` and ours at the default
        :math:`\epsilon = 10^{-7}`, ours is smaller by :math:`1 - \sqrt{r/(r+\epsilon)}
        \approx \epsilon/2r`: under 5e-4 once :math:`r > 10^{-4}`, approaching 100 % where
        :math:`r \ll \epsilon` (a vanishing gradient history, where ours stays bounded).  torch's momentum
        buffer is in gradient units with lr outside; the two agree for a constant lr.
        Call :meth:`eval` before evaluating or checkpointing, :meth:`train` before training.
    """


def super_rmsprop(
    params: list[Tensor],
    grads: list[Tensor],
    square_avgs: list[Tensor],
    velocities: list[Tensor],
    *,
    lr: float,
    alpha: float,
    eps: float,
    momentum: float,
    sigma: float,
    applied_sigma: float,
    weight_decay: float = 0.0,
    maximize: bool = False,
    foreach: bool | None = None,
) -> None:
    r"""Functional SuperRMSprop step on lists of tensors, in place. See :class:`SuperRMSprop`."""
    impl = _multi_tensor_super_rmsprop if resolve_foreach(foreach, params) else _single_tensor_super_rmsprop
    impl(
        list(params),
        list(grads),
        list(square_avgs),
        list(velocities),
        lr=lr,
        alpha=alpha,
        eps=eps,
        momentum=momentum,
        sigma=sigma,
        applied_sigma=applied_sigma,
        weight_decay=weight_decay,
        maximize=maximize,
    )


# As in SuperSGD, φ_new = φ + ((1 + σ) g - σ') m - (1 + σ) η G / sqrt(r + ε): the old
# velocity enters φ before it is overwritten, so two buffers (r, m) suffice.


def _single_tensor_super_rmsprop(
    params, grads, square_avgs, velocities, *, lr, alpha, eps, momentum, sigma, applied_sigma, weight_decay, maximize
):
    velocity_coeff = (1.0 + sigma) * momentum - applied_sigma
    for param, grad, square_avg, velocity in zip(params, grads, square_avgs, velocities):
        param, grad = real_view(param), real_view(grad)
        square_avg, velocity = real_view(square_avg), real_view(velocity)
        if maximize:
            grad = -grad
        if weight_decay != 0:
            grad = grad.add(param, alpha=weight_decay)
        square_avg.mul_(alpha).addcmul_(grad, grad, value=1.0 - alpha)
        denom = square_avg.add(eps).sqrt_()
        param.add_(velocity, alpha=velocity_coeff).addcdiv_(grad, denom, value=-(1.0 + sigma) * lr)
        velocity.mul_(momentum).addcdiv_(grad, denom, value=-lr)


def _multi_tensor_super_rmsprop(
    params, grads, square_avgs, velocities, *, lr, alpha, eps, momentum, sigma, applied_sigma, weight_decay, maximize
):
    if not params:
        return
    for device_params, device_grads, device_square_avgs, device_velocities in group_by_device_and_dtype(
        [params, grads, square_avgs, velocities]
    ):
        as_real(device_params, device_grads, device_square_avgs, device_velocities)
        if maximize:
            device_grads = torch._foreach_neg(device_grads)
        if weight_decay != 0:
            if maximize:
                torch._foreach_add_(device_grads, device_params, alpha=weight_decay)
            else:
                device_grads = torch._foreach_add(device_grads, device_params, alpha=weight_decay)
        torch._foreach_mul_(device_square_avgs, alpha)
        torch._foreach_addcmul_(device_square_avgs, device_grads, device_grads, value=1.0 - alpha)
        denom = torch._foreach_add(device_square_avgs, eps)
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(device_params, device_velocities, alpha=(1.0 + sigma) * momentum - applied_sigma)
        torch._foreach_addcdiv_(device_params, device_grads, denom, value=-(1.0 + sigma) * lr)
        torch._foreach_mul_(device_velocities, momentum)
        torch._foreach_addcdiv_(device_velocities, device_grads, denom, value=-lr)
