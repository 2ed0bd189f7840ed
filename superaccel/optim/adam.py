r"""SuperAdam: Adam (and AdamW) with super-acceleration."""

from __future__ import annotations

import math
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

__all__ = ["SuperAdam", "super_adam"]


class SuperAdam(LookaheadOptimizer):
    state_keys = frozenset({"step", "exp_avg", "exp_avg_sq", "velocity"})

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        sigma: float = 2.0,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        check_hyperparameter("learning rate", lr)
        check_hyperparameter("epsilon value", eps)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"Invalid betas: {betas!r} (expected a pair)")
        check_hyperparameter("beta parameter at index 0", betas[0], 0.0, 1.0)
        check_hyperparameter("beta parameter at index 1", betas[1], 0.0, 1.0)
        check_hyperparameter("weight_decay value", weight_decay)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            sigma=sigma,
            weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
            foreach=foreach,
        )
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("decoupled_weight_decay", False)

    def _update_group(self, group: dict[str, Any], params: list[Tensor]) -> None:
        exp_avgs, exp_avg_sqs, steps = [], [], []
        for p in params:
            state = self.state[p]
            if "step" not in state:
                # A float32 scalar tensor like torch.optim.Adam, so checkpoints interoperate.
                state["step"] = torch.tensor(0.0, dtype=torch.float32)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])
        velocities = [self._velocity(p) for p in params]
        new_velocities = super_adam(
            params,
            [p.grad for p in params],
            exp_avgs,
            exp_avg_sqs,
            velocities,
            steps,
            lr=group["lr"],
            beta1=group["betas"][0],
            beta2=group["betas"][1],
            eps=group["eps"],
            sigma=group["sigma"],
            applied_sigma=group["applied_sigma"],
            weight_decay=group["weight_decay"],
            decoupled_weight_decay=group["decoupled_weight_decay"],
            maximize=group["maximize"],
            foreach=group["foreach"],
        )
        for p, velocity in zip(params, new_velocities):
            self.state[p]["velocity"] = velocity


SuperAdam.__doc__ = r"""Implements Adam with super-acceleration.

    Adam's step :math:`s_t = -\eta\,\hat m_t / (\sqrt{\hat v_t} + \epsilon)` (minus
    :math:`\eta\lambda\theta_t` with decoupled weight decay, as AdamW), with the gradient taken
    at the look-ahead point :math:`\phi_t = \theta_t + \sigma s_{t-1}`:

    .. math::
       \begin{aligned}
            &\textbf{for}\ t = 1, 2, \ldots: \\
            &\quad \phi_t \leftarrow \theta_t + \sigma\, s_{t-1}
                \qquad \text{(the parameters hold } \phi_t \text{ in train mode)} \\
            &\quad G_t \leftarrow \nabla L(\phi_t)\ (+\ \lambda \phi_t \text{ if not decoupled}) \\
            &\quad m_t \leftarrow \beta_1 m_{t-1} + (1 - \beta_1) G_t, \quad
                   v_t \leftarrow \beta_2 v_{t-1} + (1 - \beta_2) G_t^2 \\
            &\quad s_t \leftarrow -\eta\, \frac{m_t / (1 - \beta_1^t)}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon}
                   \ (-\ \eta \lambda \theta_t \text{ if decoupled}) \\
            &\quad \theta_{t+1} \leftarrow \theta_t + s_t
       \end{aligned}

    ``sigma=0`` is ``torch.optim.Adam`` (``AdamW`` with ``decoupled_weight_decay=True``).
    Unlike SGD there is no σ that gives NAdam: NAdam's look-ahead uses the next first moment,
    not the last step.

    Args:
        params (iterable): iterable of parameters or dicts defining parameter groups.
        lr (float, optional): learning rate (default: 1e-3).
        betas (Tuple[float, float], optional): coefficients of the running averages of the
            gradient and its square (default: (0.9, 0.999)).
        eps (float, optional): added to the denominator, outside the root as in torch
            (default: 1e-8).
        sigma (float, optional): super-acceleration :math:`\sigma \ge 0` (default: 2.0, see
            :class:`SuperSGD` for why).
        weight_decay (float, optional): weight decay coefficient (default: 0).
        decoupled_weight_decay (bool, optional): AdamW-style decay of θ, part of the step and
            so of the look-ahead (default: False: an L2 term in the gradient at φ).
        maximize (bool, optional): maximize the objective (default: False).
        foreach (bool, optional): use the multi-tensor implementation (default: None, as torch).

    State per parameter: ``exp_avg``, ``exp_avg_sq`` and ``velocity`` (the last step
    :math:`s_{t-1}`), three buffers, plus the scalar ``step``.  Call :meth:`eval` before
    evaluating or checkpointing, :meth:`train` before training.
    """


def super_adam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    velocities: list[Tensor],
    steps: list[Tensor],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    sigma: float,
    applied_sigma: float,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False,
    maximize: bool = False,
    foreach: bool | None = None,
) -> list[Tensor]:
    r"""Functional SuperAdam step, in place. See :class:`SuperAdam`.

    Returns the velocity tensors to keep: the foreach path writes the new step into freshly
    computed tensors instead of copying it into the old buffers.
    """
    impl = _multi_tensor_super_adam if resolve_foreach(foreach, params) else _single_tensor_super_adam
    return impl(
        list(params),
        list(grads),
        list(exp_avgs),
        list(exp_avg_sqs),
        list(velocities),
        list(steps),
        lr=lr,
        beta1=beta1,
        beta2=beta2,
        eps=eps,
        sigma=sigma,
        applied_sigma=applied_sigma,
        weight_decay=weight_decay,
        decoupled_weight_decay=decoupled_weight_decay,
        maximize=maximize,
    )


def _bias_corrections(step: float, lr: float, beta1: float, beta2: float) -> tuple[float, float]:
    """(step size η/(1-β1^t), sqrt(1-β2^t)), computed as torch.optim.Adam computes them."""
    return lr / (1 - beta1**step), math.sqrt(1 - beta2**step)


def _single_tensor_super_adam(
    params, grads, exp_avgs, exp_avg_sqs, velocities, steps, *,
    lr, beta1, beta2, eps, sigma, applied_sigma, weight_decay, decoupled_weight_decay, maximize,
):
    for param, grad, exp_avg, exp_avg_sq, velocity, step_t in zip(
        params, grads, exp_avgs, exp_avg_sqs, velocities, steps
    ):
        param, grad, velocity = real_view(param), real_view(grad), real_view(velocity)
        exp_avg, exp_avg_sq = real_view(exp_avg), real_view(exp_avg_sq)
        if maximize:
            grad = -grad
        if weight_decay != 0 and not decoupled_weight_decay:
            grad = grad.add(param, alpha=weight_decay)
        step_t += 1
        step_size, bias_correction2_sqrt = _bias_corrections(step_t.item(), lr, beta1, beta2)
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        param.add_(velocity, alpha=-applied_sigma)  # param = θ_t
        if lr == 0:  # no step (tested on lr, not step_size: a traced .item() cannot be branched on)
            velocity.zero_()
        else:
            # s = m / D with D = -(sqrt(v)/bc2 + eps)/step_size: the scaling folded into D
            denom = exp_avg_sq.sqrt().div_(-bias_correction2_sqrt * step_size).add_(-eps / step_size)
            torch.div(exp_avg, denom, out=velocity)
        if weight_decay != 0 and decoupled_weight_decay:
            velocity.add_(param, alpha=-lr * weight_decay)
        param.add_(velocity, alpha=1.0 + sigma)  # θ_{t+1} + σ s_t
    return velocities


def _multi_tensor_super_adam(
    params, grads, exp_avgs, exp_avg_sqs, velocities, steps, *,
    lr, beta1, beta2, eps, sigma, applied_sigma, weight_decay, decoupled_weight_decay, maximize,
):
    if not params:
        return velocities
    index = {id(p): i for i, p in enumerate(params)}
    new_velocities = list(velocities)
    for device_params, device_grads, device_exp_avgs, device_exp_avg_sqs, device_velocities, device_steps in (
        group_by_device_and_dtype([params, grads, exp_avgs, exp_avg_sqs, velocities, steps])
    ):
        owners = list(device_params)  # the parameters themselves, before real views replace them
        as_real(device_params, device_grads, device_exp_avgs, device_exp_avg_sqs, device_velocities)
        if maximize:
            device_grads = torch._foreach_neg(device_grads)
        if weight_decay != 0 and not decoupled_weight_decay:
            if maximize:
                torch._foreach_add_(device_grads, device_params, alpha=weight_decay)
            else:
                device_grads = torch._foreach_add(device_grads, device_params, alpha=weight_decay)
        torch._foreach_add_(device_steps, 1)
        torch._foreach_lerp_(device_exp_avgs, device_grads, 1 - beta1)
        torch._foreach_mul_(device_exp_avg_sqs, beta2)
        torch._foreach_addcmul_(device_exp_avg_sqs, device_grads, device_grads, value=1 - beta2)
        torch._foreach_add_(device_params, device_velocities, alpha=-applied_sigma)  # θ_t
        if lr == 0:
            step_now = [torch.zeros_like(v) for v in device_velocities]
        else:
            corrections = [_bias_corrections(s.item(), lr, beta1, beta2) for s in device_steps]
            # s = m / D with D = -(sqrt(v)/bc2 + eps)/step_size: the scaling folded into D
            denom = torch._foreach_sqrt(device_exp_avg_sqs)
            torch._foreach_div_(denom, [-bc2 * size for size, bc2 in corrections])
            torch._foreach_add_(denom, [-eps / size for size, _ in corrections])
            # The quotient is freshly allocated and becomes the velocity: copying it into
            # the old buffer would cost a read and a write of every element.
            step_now = torch._foreach_div(device_exp_avgs, denom)
        if weight_decay != 0 and decoupled_weight_decay:
            torch._foreach_add_(step_now, device_params, alpha=-lr * weight_decay)
        torch._foreach_add_(device_params, step_now, alpha=1.0 + sigma)
        for owner, velocity in zip(owners, step_now):
            new_velocities[index[id(owner)]] = torch.view_as_complex(velocity) if owner.is_complex() else velocity
    return new_velocities
