r"""SuperSGD: gradient descent with super-accelerated momentum (Eq. 4 of the paper)."""

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

__all__ = ["SuperSGD", "super_sgd"]


class SuperSGD(LookaheadOptimizer):
    def __init__(
        self,
        params,
        lr: float,
        momentum: float = 0.9,
        sigma: float = 2.0,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        check_hyperparameter("learning rate", lr)
        check_hyperparameter("momentum value", momentum, 0.0, 1.0)
        check_hyperparameter("weight_decay value", weight_decay)
        defaults = dict(
            lr=lr,
            momentum=momentum,
            sigma=sigma,
            weight_decay=weight_decay,
            maximize=maximize,
            foreach=foreach,
        )
        super().__init__(params, defaults)

    def _convert_foreign_state_dict(self, state_dict: dict[str, Any]) -> dict[str, Any]:
        """Migrate a ``torch.optim.SGD`` state_dict (momentum, optionally Nesterov).

        torch keeps a gradient accumulator b with the learning rate outside; the velocity is
        m = −lr·b. torch's parameters hold θ for the heavy ball and the look-ahead
        θ + g·m for Nesterov, so the loaded groups start with ``applied_sigma`` 0 or g. The
        σ of each group is the one this SuperSGD was built with: the next step forms the
        look-ahead with it.
        """
        groups = state_dict.get("param_groups", []) if isinstance(state_dict, dict) else []
        if not groups or not all("nesterov" in g and "sigma" not in g for g in groups):
            return state_dict
        if len(groups) != len(self.param_groups):
            raise ValueError(f"SuperSGD.load_state_dict: the SGD state_dict has {len(groups)} param groups, "
                             f"this optimizer {len(self.param_groups)}")
        converted_groups, lr_of = [], {}
        for saved, mine in zip(groups, self.param_groups):
            if saved.get("dampening", 0) != 0:
                raise ValueError(f"SuperSGD.load_state_dict: SGD dampening {saved['dampening']} has no SuperSGD "
                                 "equivalent (only dampening=0 migrates)")
            converted_groups.append({
                "params": saved["params"], "lr": saved["lr"], "momentum": saved["momentum"],
                "weight_decay": saved["weight_decay"], "maximize": saved.get("maximize", False),
                "foreach": saved.get("foreach"), "sigma": mine["sigma"], "train_mode": True,
                "applied_sigma": saved["momentum"] if saved["nesterov"] else 0.0,
            })
            lr_of.update({index: float(saved["lr"]) for index in saved["params"]})
        state = {index: {"velocity": -lr_of[index] * s["momentum_buffer"]}
                 for index, s in state_dict["state"].items() if s.get("momentum_buffer") is not None}
        return {"state": state, "param_groups": converted_groups}

    def _update_group(self, group: dict[str, Any], params: list[Tensor]) -> None:
        super_sgd(
            params,
            [p.grad for p in params],
            [self._velocity(p) for p in params],
            lr=group["lr"],
            momentum=group["momentum"],
            sigma=group["sigma"],
            applied_sigma=group["applied_sigma"],
            weight_decay=group["weight_decay"],
            maximize=group["maximize"],
            foreach=group["foreach"],
        )


SuperSGD.__doc__ = r"""Implements gradient descent with super-accelerated momentum.

    The paper's algorithm (Eq. 4), with :math:`\sigma = 0` the heavy ball and
    :math:`\sigma = g` Nesterov's accelerated momentum:

    .. math::
       \begin{aligned}
            &\textbf{input}: \eta \text{ (lr)},\ g \text{ (momentum)},\ \sigma \text{ (sigma)},
                \ \lambda \text{ (weight decay)},\ \theta_0,\ m_{-1} = 0 \\
            &\textbf{for}\ t = 0, 1, \ldots: \\
            &\quad \phi_t \leftarrow \theta_t + \sigma\, m_{t-1}
                \qquad \text{(the parameters hold } \phi_t \text{ in train mode)} \\
            &\quad G_t \leftarrow \nabla L(\phi_t) + \lambda\, \phi_t \\
            &\quad m_t \leftarrow g\, m_{t-1} - \eta\, G_t \\
            &\quad \theta_{t+1} \leftarrow \theta_t + m_t
       \end{aligned}

    Args:
        params (iterable): iterable of parameters or dicts defining parameter groups.
        lr (float): learning rate :math:`\eta`.
        momentum (float, optional): momentum factor :math:`g` in :math:`[0, 1)` (default: 0.9).
        sigma (float, optional): super-acceleration :math:`\sigma \ge 0`, how many estimated
            steps ahead the gradient is taken (default: 2.0).  The paper recommends starting
            near 5 and lowering σ to about 2, because large σ speeds up the early phase but
            amplifies nonlinearities (it found spurious attractors for σ ≳ 4 on its 2-D
            example); 2 is the value it recommends keeping, so it is the constant default.
            Use :class:`superaccel.optim.LinearSigma` for the 5 → 2 schedule.
        weight_decay (float, optional): L2 penalty :math:`\lambda`, part of the loss, so its
            gradient is taken at the look-ahead point like the rest (default: 0).
        maximize (bool, optional): maximize the objective instead of minimizing (default: False).
        foreach (bool, optional): use the multi-tensor implementation. ``None`` chooses as
            torch does: foreach on CUDA, the single-tensor loop on the CPU (default: None).

    Example:
        >>> opt = SuperSGD(model.parameters(), lr=0.1, momentum=0.9, sigma=2.0)
        >>> opt.train()
        >>> for x, y in loader:
        ...     opt.zero_grad()
        ...     loss_fn(model(x), y).backward()
        ...     opt.step()
        >>> opt.eval()   # parameters now hold θ: evaluate or save the model

    .. note::
        The parameters hold the look-ahead point :math:`\phi` during training.  Call
        :meth:`eval` before evaluating or checkpointing the model and :meth:`train` before
        training again; both are idempotent.  ``state_dict()`` is exact in either mode.

    .. note::
        Reparameterisation: the velocity :math:`m` here is the paper's, a step in parameter
        units with the learning rate inside.  ``torch.optim.SGD`` keeps a gradient
        accumulator :math:`b` and multiplies by the learning rate afterwards.  For a constant
        learning rate :math:`m = -\eta b` and ``SuperSGD(sigma=g)`` follows exactly the
        trajectory of ``SGD(momentum=g, nesterov=True)``, ``sigma=0`` that of
        ``SGD(momentum=g)``; under a learning-rate schedule the two forms differ (here a new
        learning rate scales only new gradients, as in Sutskever et al. 2013).  In
        quasi-hyperbolic terms SuperSGD is QHM, see :func:`superaccel.theory.to_qhm`.
    """


def super_sgd(
    params: list[Tensor],
    grads: list[Tensor],
    velocities: list[Tensor],
    *,
    lr: float,
    momentum: float,
    sigma: float,
    applied_sigma: float,
    weight_decay: float = 0.0,
    maximize: bool = False,
    foreach: bool | None = None,
) -> None:
    r"""Functional SuperSGD step on lists of tensors, in place.

    On entry ``params`` hold :math:`\theta + \text{applied\_sigma}\cdot m_{t-1}` and
    ``velocities`` hold :math:`m_{t-1}`; on exit they hold
    :math:`\theta_{t+1} + \sigma m_t` and :math:`m_t`.  See :class:`SuperSGD`.
    """
    impl = _multi_tensor_super_sgd if resolve_foreach(foreach, params) else _single_tensor_super_sgd
    impl(
        list(params),
        list(grads),
        list(velocities),
        lr=lr,
        momentum=momentum,
        sigma=sigma,
        applied_sigma=applied_sigma,
        weight_decay=weight_decay,
        maximize=maximize,
    )


# Both paths apply the same algebra.  With φ = θ + σ' m (σ' = applied_sigma) and
# m_new = g m - η G:
#     φ_new = θ + m_new + σ m_new = φ + ((1 + σ) g - σ') m - (1 + σ) η G,
# so φ is updated from the old velocity before the velocity itself, and the step needs no
# buffer beyond m (the same memory as SGD with momentum).


def _single_tensor_super_sgd(
    params, grads, velocities, *, lr, momentum, sigma, applied_sigma, weight_decay, maximize
):
    velocity_coeff = (1.0 + sigma) * momentum - applied_sigma
    grad_coeff = -(1.0 + sigma) * lr
    for param, grad, velocity in zip(params, grads, velocities):
        param, grad, velocity = real_view(param), real_view(grad), real_view(velocity)
        if maximize:
            grad = -grad
        if weight_decay != 0:
            grad = grad.add(param, alpha=weight_decay)
        param.add_(velocity, alpha=velocity_coeff).add_(grad, alpha=grad_coeff)
        velocity.mul_(momentum).add_(grad, alpha=-lr)


def _multi_tensor_super_sgd(
    params, grads, velocities, *, lr, momentum, sigma, applied_sigma, weight_decay, maximize
):
    if not params:
        return
    for device_params, device_grads, device_velocities in group_by_device_and_dtype(
        [params, grads, velocities]
    ):
        as_real(device_params, device_grads, device_velocities)
        if maximize:
            device_grads = torch._foreach_neg(device_grads)
        if weight_decay != 0:
            if maximize:  # reuse the negated copy
                torch._foreach_add_(device_grads, device_params, alpha=weight_decay)
            else:
                device_grads = torch._foreach_add(device_grads, device_params, alpha=weight_decay)
        torch._foreach_add_(device_params, device_velocities, alpha=(1.0 + sigma) * momentum - applied_sigma)
        torch._foreach_add_(device_params, device_grads, alpha=-(1.0 + sigma) * lr)
        torch._foreach_mul_(device_velocities, momentum)
        torch._foreach_add_(device_velocities, device_grads, alpha=-lr)
