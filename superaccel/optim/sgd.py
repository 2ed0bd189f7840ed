r"""SuperSGD: gradient descent with super-accelerated momentum (Eq. 4 of the paper)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..auto_sigma import StepSums
from ..rules import HeavyBall, SgdCoefficients, buffer_heavy_ball, sgd_coefficients
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

__all__ = ["SuperSGD", "super_sgd"]


class SuperSGD(BufferLookahead):
    state_keys = frozenset({"momentum_buffer"})

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        momentum: float = 0.9,
        sigma: float | str = 2.0,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        check_lr(lr)
        check_hyperparameter("momentum value", momentum, 0.0, 1.0)
        check_hyperparameter("weight_decay value", weight_decay)
        defaults = dict(lr=lr, momentum=momentum, sigma=sigma, weight_decay=weight_decay, maximize=maximize,
                        foreach=foreach, fused=fused)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        check_lr(group["lr"])
        check_hyperparameter("momentum value", group["momentum"], 0.0, 1.0)
        check_hyperparameter("weight_decay value", group["weight_decay"])

    def _convert_state_dict(self, state_dict: dict[str, Any]) -> dict[str, Any]:
        """Migrate a ``torch.optim.SGD`` state_dict.

        torch keeps the gradient accumulator b as SuperSGD does, and its parameters hold θ
        for the heavy ball and the look-ahead θ − g·lr·b for Nesterov, so the loaded groups
        start with ``applied_sigma`` 0 or g; the next step forms the look-ahead with the σ
        this SuperSGD was built with.
        """
        groups = state_dict["param_groups"]
        if groups and all("nesterov" in g and "sigma" not in g for g in groups):
            return self._from_torch(state_dict, "SGD", lookahead=lambda g: g["momentum"] if g["nesterov"] else 0.0)
        return state_dict

    supports_auto_sigma = True

    def _momentum_of(self, group: dict[str, Any]) -> float:
        return group["momentum"]

    def _auto_sigma_inputs(self, group: dict[str, Any], params: list[Tensor]) -> tuple[StepSums, HeavyBall]:
        grads = effective_grads([p.grad for p in params], params, maximize=group["maximize"],
                                weight_decay=group["weight_decay"])
        sums = _auto_sigma.inner_products(grads, [self._buffer(p, "momentum_buffer") for p in params])
        return sums, buffer_heavy_ball(lr=float(group["lr"]), momentum=group["momentum"],
                                       applied_sigma=group["applied_sigma"])

    def _update_group(self, group: dict[str, Any], params: list[Tensor]) -> None:
        super_sgd(
            params,
            [p.grad for p in params],
            [self._buffer(p, "momentum_buffer") for p in params],
            lr=group["lr"],
            momentum=group["momentum"],
            sigma=group["sigma"],
            applied_sigma=group["applied_sigma"],
            weight_decay=group["weight_decay"],
            maximize=group["maximize"],
            foreach=group["foreach"],
            fused=group["fused"],
            fused_views=self._fused_views(),
        )


SuperSGD.__doc__ = r"""Implements gradient descent with super-accelerated momentum.

    The paper's algorithm (Eq. 4) in torch's convention, where the momentum buffer
    :math:`b` accumulates gradients and the current learning rate scales the step;
    :math:`\sigma = 0` is the heavy ball (``torch.optim.SGD(momentum=g)``) and
    :math:`\sigma = g` Nesterov's momentum (``SGD(momentum=g, nesterov=True)``):

    .. math::
       \begin{aligned}
            &\textbf{input}: \gamma_t \text{ (lr)},\ g \text{ (momentum)},\ \sigma \text{ (sigma)},
                \ \lambda \text{ (weight decay)},\ \theta_0,\ b_{-1} = 0 \\
            &\textbf{for}\ t = 0, 1, \ldots: \\
            &\quad \phi_t \leftarrow \theta_t - \sigma\, \gamma_t\, b_{t-1}
                \qquad \text{(the parameters hold } \phi_t \text{ in train mode)} \\
            &\quad G_t \leftarrow \nabla L(\phi_t) + \lambda\, \phi_t \\
            &\quad b_t \leftarrow g\, b_{t-1} + G_t \\
            &\quad \theta_{t+1} \leftarrow \theta_t - \gamma_t\, b_t
       \end{aligned}

    With a constant learning rate :math:`m = -\gamma b` is the paper's velocity and this is
    Eq. (4) exactly: :math:`\phi_t = \theta_t + \sigma m_{t-1}`.  The parameters move by
    :math:`\phi_{t+1} - \phi_t = -\gamma_t[(1+\sigma) b_t - \sigma b_{t-1}]`, all of it scaled
    by the current learning rate as in torch: under any schedule ``sigma=0`` and
    ``sigma=momentum`` follow ``torch.optim.SGD`` exactly, and a learning rate of 0 stops the
    parameters.  :meth:`eval` moves them to :math:`\theta = \phi + \sigma\gamma b` with the
    learning rate of the last step.

    Args:
        params (iterable): iterable of parameters or named parameters to optimize, or dicts
            defining parameter groups.
        lr (float, Tensor, optional): learning rate :math:`\gamma` (default: 1e-3).
        momentum (float, optional): momentum factor :math:`g` in :math:`[0, 1)` (default: 0.9).
        sigma (float or "auto", optional): super-acceleration :math:`\sigma \ge 0`, how many estimated
            steps ahead the gradient is taken (default: 2.0).  The paper recommends starting
            near 5 and lowering σ to about 2, because large σ speeds up the early phase but
            amplifies nonlinearities (it found spurious attractors for σ ≳ 4 on its 2-D
            example); 2 is the value it recommends keeping, so it is the constant default.
            Use :class:`superaccel.optim.LinearSigma` for the 5 → 2 schedule.  ``"auto"``:
            σ chosen every step from the curvature the step sees, by the theory
            (:mod:`superaccel.auto_sigma`; docs/auto_sigma.md says where it helps).
        weight_decay (float, optional): L2 penalty :math:`\lambda`, part of the loss, so its
            gradient is taken at the look-ahead point like the rest (default: 0).
        maximize (bool, optional): maximize the objective instead of minimizing (default: False).
        foreach (bool, optional): use the multi-tensor implementation (default: None).
        fused (bool, optional): use the fused implementation, one pass over memory: a C++
            kernel for all tensors on the CPU, compiled (Inductor) kernels on CUDA (default:
            None).  ``foreach=None, fused=None`` picks torch's default: foreach on CUDA, the
            single-tensor loop on the CPU; see
            :func:`superaccel.optim._core.select_implementation` for why fused is opt-in.

    Example:
        >>> opt = SuperSGD(model.parameters(), lr=0.1, momentum=0.9, sigma=2.0)
        >>> for x, y in loader:
        ...     opt.zero_grad()
        ...     loss_fn(model(x), y).backward()
        ...     opt.step()
        >>> opt.eval()   # parameters now hold θ: evaluate or save the model

    .. note::
        The parameters hold the look-ahead point :math:`\phi` during training.  Call
        :meth:`eval` before evaluating or checkpointing the model and :meth:`train` before
        training again; both are idempotent.  ``state_dict()`` is exact in either mode, and
        ``load_state_dict`` accepts a ``torch.optim.SGD`` state_dict (dampening 0).  In
        quasi-hyperbolic terms SuperSGD is QHM, see :func:`superaccel.theory.to_qhm`.
    """


def super_sgd(
    params: list[Tensor],
    grads: list[Tensor],
    momentum_buffers: list[Tensor],
    *,
    lr: Scalar,
    momentum: float,
    sigma: float,
    applied_sigma: float,
    weight_decay: float = 0.0,
    maximize: bool = False,
    foreach: bool | None = None,
    fused: bool | None = None,
    fused_views: dict | None = None,
) -> None:
    r"""Functional SuperSGD step on lists of tensors, in place.

    On entry ``params`` hold :math:`\phi_t = \theta_t - \text{applied\_sigma}\cdot\gamma\, b_{t-1}`
    and ``momentum_buffers`` hold :math:`b_{t-1}`; on exit they hold
    :math:`\phi_{t+1} = \theta_{t+1} - \sigma\gamma\, b_t` and :math:`b_t`.  ``fused_views`` is an
    optional dict in which the fused path keeps flat views between steps.  See :class:`SuperSGD`.
    """
    if not params:
        return
    implementation = select_implementation(params, foreach, fused)
    ref = params[0]
    coefficients = sgd_coefficients(lr=kernel_scalar(lr, ref), momentum=momentum, sigma=kernel_scalar(sigma, ref),
                                    applied_sigma=kernel_scalar(applied_sigma, ref), weight_decay=weight_decay)
    tensors = (list(params), list(grads), list(momentum_buffers))
    if implementation == "fused":
        _fused_super_sgd(*tensors, coefficients, maximize=maximize, views=fused_views)
    elif implementation == "foreach":
        _multi_tensor_super_sgd(*tensors, coefficients, maximize=maximize)
    else:
        _single_tensor_super_sgd(*tensors, coefficients, maximize=maximize)


# Every path applies superaccel.rules.SgdCoefficients: φ is updated from the old buffer before
# the buffer itself, so the step needs no memory beyond b (as SGD with momentum).


def _single_tensor_super_sgd(params, grads, bufs, c: SgdCoefficients, *, maximize):
    for param, grad, buf in zip(params, grads, bufs, strict=True):
        param, grad, buf = real_view(param), real_view(grad), real_view(buf)
        grad = effective_grad(grad, param, maximize=maximize, weight_decay=c.weight_decay)
        add_scaled_(param, buf, c.undo)
        buf.mul_(c.momentum).add_(grad)
        add_scaled_(param, buf, c.step)


def _multi_tensor_super_sgd(params, grads, bufs, c: SgdCoefficients, *, maximize):
    for device_params, device_grads, device_bufs in group_by_device_and_dtype([params, grads, bufs]):
        as_real(device_params, device_grads, device_bufs)
        device_grads = effective_grads(device_grads, device_params, maximize=maximize, weight_decay=c.weight_decay)
        foreach_add_scaled_(device_params, device_bufs, c.undo)
        torch._foreach_mul_(device_bufs, c.momentum)
        torch._foreach_add_(device_bufs, device_grads)
        foreach_add_scaled_(device_params, device_bufs, c.step)


def _fused_sgd_update(param: Tensor, grad: Tensor, buf: Tensor, coefficients: Tensor, maximize: bool,
                      decays: bool) -> None:
    c = SgdCoefficients(*coefficients.unbind(0))
    dtype = opmath(param)
    p, g, b = param.to(dtype), grad.to(dtype), buf.to(dtype)
    g = -g if maximize else g
    b_new = c.momentum * b + (g + c.weight_decay * p if decays else g)
    param.copy_(p + c.undo * b + c.step * b_new)
    buf.copy_(b_new)


# Each optimizer has its own chunk function: Dynamo keeps its compiled graphs per code object.
def _fused_sgd_chunk(tensor_lists: list[list[Tensor]], coefficients: Tensor, *flags: bool) -> None:
    for index, tensors in enumerate(zip(*tensor_lists, strict=True)):
        _fused_sgd_update(*tensors, coefficients[index], *flags)


_FUSED_SGD = FusedKernel(_fused_sgd_chunk, "sgd", SgdCoefficients)


def _fused_super_sgd(params, grads, bufs, c: SgdCoefficients, *, maximize, views):
    for device_lists in group_by_device_and_dtype([params, grads, bufs]):
        skipped = _FUSED_SGD(device_lists, c, views, (maximize, c.weight_decay != 0))
        if skipped:
            _single_tensor_super_sgd(*([ts[i] for i in skipped] for ts in device_lists), c, maximize=maximize)
