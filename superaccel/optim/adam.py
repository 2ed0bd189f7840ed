r"""SuperAdam and SuperAdamW: Adam (and AdamW) with super-acceleration, in Adam's memory."""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import Tensor

from ..auto_sigma import AUTO, SIGMA_MAX, StepSums
from ..rules import AdamCoefficients, HeavyBall, adam_coefficients, adam_heavy_ball, adam_shift, check_decay_undoable
from . import _auto_sigma
from ._core import (
    Scalar,
    SuperOptimizer,
    addcdiv_scaled_,
    as_real,
    check_hyperparameter,
    check_lr,
    effective_grad,
    effective_grads,
    foreach_scalars,
    group_by_device_and_dtype,
    kernel_scalar,
    mul_,
    ops_for,
    real_view,
    select_implementation,
)
from ._fused import FusedKernel, opmath

__all__ = ["SuperAdam", "SuperAdamW", "super_adam"]


class SuperAdam(SuperOptimizer):
    state_keys = frozenset({"step", "exp_avg", "exp_avg_sq"})

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        sigma: float | str = 2.0,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        # before ``params`` is read, as torch; each group is checked again as it is added
        _check_adam_hyperparameters(lr, betas, eps, weight_decay, sigma if decoupled_weight_decay else None)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, sigma=sigma, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        fused=fused)
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("decoupled_weight_decay", False)
            for p in group["params"]:
                p_state = self.state.get(p, {})
                if "step" in p_state and not torch.is_tensor(p_state["step"]):  # as torch.optim.Adam
                    p_state["step"] = torch.tensor(float(p_state["step"]), dtype=torch.float32)

    def _validate_group(self, group: dict[str, Any]) -> None:
        sigma = AUTO if group.get("auto_sigma") else group["sigma"]
        _check_adam_hyperparameters(group["lr"], group["betas"], group["eps"], group["weight_decay"],
                                    sigma if group["decoupled_weight_decay"] else None)

    def _convert_state_dict(self, state_dict: dict[str, Any]) -> dict[str, Any]:
        """Migrate a ``torch.optim.Adam``/``AdamW`` state_dict (its parameters hold θ, so
        ``applied_sigma`` starts at 0)."""
        groups = state_dict["param_groups"]
        if groups and all("amsgrad" in g and "sigma" not in g for g in groups):
            if any(g["amsgrad"] for g in groups):
                raise ValueError(f"{type(self).__name__}.load_state_dict: Adam with amsgrad=True has no "
                                 f"{type(self).__name__} equivalent")
            return self._from_torch(state_dict, "Adam", lookahead=lambda g: 0.0)
        return state_dict

    def _state_of(self, p: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        state = self.state[p]
        if "step" not in state:
            # A float32 CPU scalar like torch.optim.Adam's, so checkpoints interoperate.  The
            # fused path keeps it on the CPU too: bias corrections are computed on the host.
            state["step"] = torch.tensor(0.0, dtype=torch.float32)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    supports_auto_sigma = True

    def _momentum_of(self, group: dict[str, Any]) -> float:
        return group["betas"][0]

    def _auto_sigma_inputs(self, group: dict[str, Any], params: list[Tensor]) -> tuple[StepSums, HeavyBall]:
        """Adam's heavy-ball form, its inner products in the metric weighted by
        1/(√v̂_t + ε), v̂_t computed here out of place."""
        beta1, beta2 = group["betas"]
        states = [self._state_of(p, group) for p in params]
        k = _steps_taken(states[0]["step"])
        l2 = 0.0 if group["decoupled_weight_decay"] else group["weight_decay"]
        grads = [real_view(g) for g in effective_grads([p.grad for p in params], params,
                                                       maximize=group["maximize"], weight_decay=l2)]
        denominators = [((beta2 * real_view(s["exp_avg_sq"]) + (1 - beta2) * g * g) / (1 - beta2 ** (k + 1))).sqrt()
                        .add_(group["eps"]) for g, s in zip(grads, states, strict=True)]
        sums = _auto_sigma.inner_products(grads, [real_view(s["exp_avg"]) for s in states], denominators)
        return sums, adam_heavy_ball(k, lr=float(group["lr"]), applied_lr=float(group["applied_lr"]),
                                     applied_sigma=group["applied_sigma"], beta1=beta1)

    def _update_group(self, group: dict[str, Any], params: list[Tensor]) -> None:
        states = [self._state_of(p, group) for p in params]
        super_adam(
            params,
            [p.grad for p in params],
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [s["step"] for s in states],
            lr=group["lr"],
            applied_lr=group["applied_lr"],
            beta1=group["betas"][0],
            beta2=group["betas"][1],
            eps=group["eps"],
            sigma=group["sigma"],
            applied_sigma=group["applied_sigma"],
            weight_decay=group["weight_decay"],
            decoupled_weight_decay=group["decoupled_weight_decay"],
            maximize=group["maximize"],
            foreach=group["foreach"],
            fused=group["fused"],
            fused_views=self._fused_views(),
        )

    @torch.no_grad()
    def _shift_lookahead(self, group, params, *, sigma, lr, to_theta):
        """θ = φ − σ·s or φ = θ + σ·s, with s recomputed from the moments (:func:`superaccel.rules.adam_shift`)."""
        beta1, beta2 = group["betas"]
        decay = group["weight_decay"] if group["decoupled_weight_decay"] else 0.0
        for p in params:
            state = self.state[p]
            k = _steps_taken(state["step"])
            shift = adam_shift(k, lr=kernel_scalar(lr, p), sigma=kernel_scalar(sigma, p), beta1=beta1, beta2=beta2,
                               decay=decay, to_theta=to_theta, ops=ops_for(k))
            param, exp_avg, exp_avg_sq = real_view(p), real_view(state["exp_avg"]), real_view(state["exp_avg_sq"])
            denom = exp_avg_sq.sqrt().mul_(_like(shift.rsqrt_bc2, param)).add_(group["eps"])
            mul_(param, shift.scale)
            addcdiv_scaled_(param, exp_avg, denom, shift.coeff)

    def _lerp_group_to_theta_(self, group, averages, params, weight):
        # θ = a·φ + b·m/(√v·r + ε), one parameter at a time (one temporary of its size)
        beta1, beta2 = group["betas"]
        decay = group["weight_decay"] if group["decoupled_weight_decay"] else 0.0
        for average, param in zip(averages, params, strict=True):
            state = self.state[param]
            shift = adam_shift(state["step"].item(), lr=float(group["applied_lr"]), sigma=float(group["applied_sigma"]),
                               beta1=beta1, beta2=beta2, decay=decay, to_theta=True)
            theta = state["exp_avg_sq"].sqrt().mul_(shift.rsqrt_bc2).add_(group["eps"])
            torch.div(state["exp_avg"], theta, out=theta).mul_(shift.coeff).add_(param, alpha=shift.scale)
            average.lerp_(theta.to(average.dtype), weight)


def _like(value: Scalar, like: Tensor) -> Scalar:
    """A coefficient in ``like``'s dtype if it is a (traced) tensor."""
    return value.to(like.dtype) if isinstance(value, Tensor) else value


def _steps_taken(step: Tensor) -> Scalar:
    """A parameter's step count: a float in eager mode, the float64 tensor while compiling."""
    return step.to(torch.float64) if torch.compiler.is_compiling() else step.item()


def _check_adam_hyperparameters(lr, betas, eps, weight_decay, decoupled_sigma=None) -> None:
    """torch's checks, and ``check_decay_undoable`` with ``decoupled_sigma`` (the group's σ or
    "auto") when the decay is decoupled."""
    check_lr(lr)
    check_hyperparameter("epsilon value", eps)
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"Invalid betas: {betas!r} (expected a pair)")
    check_hyperparameter("beta parameter at index 0", betas[0], 0.0, 1.0)
    check_hyperparameter("beta parameter at index 1", betas[1], 0.0, 1.0)
    check_hyperparameter("weight_decay value", weight_decay)
    if decoupled_sigma is not None:
        check_decay_undoable(lr, weight_decay, SIGMA_MAX if decoupled_sigma == AUTO else decoupled_sigma)


class SuperAdamW(SuperAdam):
    r"""SuperAdam with decoupled weight decay, as ``torch.optim.AdamW`` is to ``Adam``:
    ``sigma=0`` is ``torch.optim.AdamW``.  The arguments are :class:`SuperAdam`'s, without
    ``decoupled_weight_decay`` (always on) and with ``weight_decay`` defaulting to 1e-2,
    torch's AdamW default.
    """

    def __init__(self, params, lr: float | Tensor = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, sigma: float | str = 2.0, weight_decay: float = 1e-2, *, maximize: bool = False,
                 foreach: bool | None = None, fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, sigma, weight_decay, decoupled_weight_decay=True,
                         maximize=maximize, foreach=foreach, fused=fused)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True


SuperAdam.__doc__ = r"""Implements Adam with super-acceleration, with Adam's memory: two buffers.

    Adam's step :math:`s_t = -\gamma_t\,\hat m_t / (\sqrt{\hat v_t} + \epsilon)` (minus
    :math:`\gamma_t\lambda\theta_t` with decoupled weight decay, as AdamW), with the gradient
    taken at the look-ahead point :math:`\phi_t = \theta_t + \sigma s_{t-1}`:

    .. math::
       \begin{aligned}
            &\textbf{for}\ t = 1, 2, \ldots: \\
            &\quad \phi_t \leftarrow \theta_t + \sigma\, s_{t-1}
                \qquad \text{(the parameters hold } \phi_t \text{ in train mode)} \\
            &\quad G_t \leftarrow \nabla L(\phi_t)\ (+\ \lambda \phi_t \text{ if not decoupled}) \\
            &\quad m_t \leftarrow \beta_1 m_{t-1} + (1 - \beta_1) G_t, \quad
                   v_t \leftarrow \beta_2 v_{t-1} + (1 - \beta_2) G_t^2 \\
            &\quad s_t \leftarrow -\gamma_t\, \frac{m_t / (1 - \beta_1^t)}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon}
                   \ (-\ \gamma_t \lambda \theta_t \text{ if decoupled}) \\
            &\quad \theta_{t+1} \leftarrow \theta_t + s_t
       \end{aligned}

    The last step is not stored: :math:`s_{t-1}` is a function of :math:`m_{t-1}`,
    :math:`v_{t-1}`, the step count, the learning rate of that step (``applied_lr``) and,
    with decoupled weight decay, of the parameters, so each step undoes the look-ahead from
    the moments before updating them.  The state per parameter is Adam's: ``exp_avg``,
    ``exp_avg_sq`` and the scalar ``step``.

    ``sigma=0`` is ``torch.optim.Adam`` (``AdamW`` with ``decoupled_weight_decay=True``,
    or :class:`SuperAdamW`).  Unlike SGD there is no σ that gives NAdam: NAdam's look-ahead
    uses the next first moment, not the last step.

    Args:
        params (iterable): iterable of parameters or named parameters to optimize, or dicts
            defining parameter groups.
        lr (float, Tensor, optional): learning rate (default: 1e-3).
        betas (Tuple[float, float], optional): coefficients of the running averages of the
            gradient and its square (default: (0.9, 0.999)).
        eps (float, optional): added to the denominator, outside the root as in torch
            (default: 1e-8).
        sigma (float or "auto", optional): super-acceleration :math:`\sigma \ge 0` (default:
            2.0, see :class:`SuperSGD` for why and for ``"auto"``).
        weight_decay (float, optional): weight decay coefficient (default: 0).
        decoupled_weight_decay (bool, optional): AdamW-style decay of θ, part of the step and
            so of the look-ahead (default: False: an L2 term in the gradient at φ).
        maximize (bool, optional): maximize the objective (default: False).
        foreach (bool, optional): use the multi-tensor implementation (default: None).
        fused (bool, optional): use the fused implementation, one pass that reads φ, g, m, v
            and writes φ, m, v (default: None, see :class:`SuperSGD`).

    .. note::
        The look-ahead of a parameter that gets no gradient in a step is its last step
        expressed at the group's current learning rate: when the learning rate changes, such
        parameters are moved so that θ stays where it is.  Betas, ε and the weight decay are
        taken to be the same as at the last step (changing them by hand between steps
        re-expresses the last step with the new values).  Call :meth:`eval` before evaluating
        or checkpointing, :meth:`train` before training; ``load_state_dict`` accepts a
        ``torch.optim.Adam``/``AdamW`` state_dict (without amsgrad).
    """


def super_adam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    steps: list[Tensor],
    *,
    lr: Scalar,
    applied_lr: Scalar,
    beta1: float,
    beta2: float,
    eps: float,
    sigma: float,
    applied_sigma: float,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False,
    maximize: bool = False,
    foreach: bool | None = None,
    fused: bool | None = None,
    fused_views: dict | None = None,
) -> None:
    r"""Functional SuperAdam step, in place (``fused_views``: see :func:`super_sgd`). See :class:`SuperAdam`.

    On entry ``params`` hold φ = θ + applied_sigma·s, s being the last step (taken at
    ``applied_lr``); on exit they hold θ_new + σ·s_new, and the moments and ``steps`` are
    advanced.
    """
    if not params:
        return
    implementation = select_implementation(params, foreach, fused)
    ref = params[0]
    coefficients_of = functools.partial(
        adam_coefficients, lr=kernel_scalar(lr, ref), applied_lr=kernel_scalar(applied_lr, ref),
        sigma=kernel_scalar(sigma, ref), applied_sigma=kernel_scalar(applied_sigma, ref), beta1=beta1, beta2=beta2,
        eps=eps, weight_decay=weight_decay, decoupled=decoupled_weight_decay)
    tensors = (list(params), list(grads), list(exp_avgs), list(exp_avg_sqs), list(steps))
    if implementation == "fused":
        _fused_super_adam(*tensors, coefficients_of, maximize=maximize, views=fused_views)
    elif implementation == "foreach":
        _multi_tensor_super_adam(*tensors, coefficients_of, maximize=maximize)
    else:
        _single_tensor_super_adam(*tensors, coefficients_of, maximize=maximize)


# Every path applies superaccel.rules.AdamCoefficients: the look-ahead is undone with the old
# moments, the moments advance, and the step and the new look-ahead are added, in one pass.
# ``coefficients_of(k)`` gives the coefficients of a parameter that has taken k steps.


def _coefficients(coefficients_of, k: Scalar) -> AdamCoefficients:
    return coefficients_of(k, ops=ops_for(k))


def _single_tensor_super_adam(params, grads, exp_avgs, exp_avg_sqs, steps, coefficients_of, *, maximize):
    for param, grad, exp_avg, exp_avg_sq, step_t in zip(params, grads, exp_avgs, exp_avg_sqs, steps, strict=True):
        param, grad, exp_avg, exp_avg_sq = real_view(param), real_view(grad), real_view(exp_avg), real_view(exp_avg_sq)
        c = _coefficients(coefficients_of, _steps_taken(step_t))
        grad = effective_grad(grad, param, maximize=maximize, weight_decay=c.weight_decay)
        undo_denom = None
        if isinstance(c.undo, Tensor) or c.undo != 0:  # the old moments, before they advance
            undo_denom = exp_avg_sq.sqrt().mul_(_like(c.undo_rsqrt_bc2, param)).add_(c.eps)
        mul_(param, c.scale)
        if undo_denom is not None:
            addcdiv_scaled_(param, exp_avg, undo_denom, c.undo)
        step_t += 1
        exp_avg.lerp_(grad, c.one_minus_beta1)
        exp_avg_sq.mul_(c.beta2).addcmul_(grad, grad, value=c.one_minus_beta2)
        denom = exp_avg_sq.sqrt().mul_(_like(c.rsqrt_bc2, param)).add_(c.eps)
        addcdiv_scaled_(param, exp_avg, denom, c.step)


def _multi_tensor_super_adam(params, grads, exp_avgs, exp_avg_sqs, steps, coefficients_of, *, maximize):
    for device_params, device_grads, device_exp_avgs, device_exp_avg_sqs, device_steps in (
        group_by_device_and_dtype([params, grads, exp_avgs, exp_avg_sqs, steps])
    ):
        as_real(device_params, device_grads, device_exp_avgs, device_exp_avg_sqs)
        cs = [_coefficients(coefficients_of, _steps_taken(s)) for s in device_steps]
        first, like = cs[0], device_params[0]
        device_grads = effective_grads(device_grads, device_params, maximize=maximize,
                                       weight_decay=first.weight_decay)
        undo_denom = None
        if any(isinstance(c.undo, Tensor) or c.undo != 0 for c in cs):  # the old moments, before they advance
            undo_denom = torch._foreach_sqrt(device_exp_avg_sqs)
            torch._foreach_mul_(undo_denom, foreach_scalars([c.undo_rsqrt_bc2 for c in cs], like))
            torch._foreach_add_(undo_denom, first.eps)
        _foreach_mul_(device_params, [c.scale for c in cs], like)
        if undo_denom is not None:
            _foreach_addcdiv_scaled_(device_params, device_exp_avgs, undo_denom, [c.undo for c in cs], like)
        torch._foreach_add_(device_steps, 1)
        torch._foreach_lerp_(device_exp_avgs, device_grads, first.one_minus_beta1)
        torch._foreach_mul_(device_exp_avg_sqs, first.beta2)
        torch._foreach_addcmul_(device_exp_avg_sqs, device_grads, device_grads, value=first.one_minus_beta2)
        denom = torch._foreach_sqrt(device_exp_avg_sqs)
        torch._foreach_mul_(denom, foreach_scalars([c.rsqrt_bc2 for c in cs], like))
        torch._foreach_add_(denom, first.eps)
        _foreach_addcdiv_scaled_(device_params, device_exp_avgs, denom, [c.step for c in cs], like)


def _foreach_mul_(tensors: list[Tensor], factors: list[Scalar], like: Tensor) -> None:
    if isinstance(factors[0], Tensor):
        torch._foreach_mul_(tensors, foreach_scalars(factors, like))
    elif any(f != 1 for f in factors):
        torch._foreach_mul_(tensors, factors)


def _foreach_addcdiv_scaled_(outs: list[Tensor], numerators: list[Tensor], denominators: list[Tensor],
                             coeffs: list[Scalar], like: Tensor) -> None:
    if isinstance(coeffs[0], Tensor):
        torch._foreach_add_(outs, torch._foreach_mul(torch._foreach_div(numerators, denominators),
                                                     foreach_scalars(coeffs, like)))
    else:
        torch._foreach_addcdiv_(outs, numerators, denominators, coeffs)


def _fused_adam_update(param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, coefficients: Tensor,
                       maximize: bool, decays: bool) -> None:
    c = AdamCoefficients(*coefficients.unbind(0))
    dtype = opmath(param)
    p, g, m, v = param.to(dtype), grad.to(dtype), exp_avg.to(dtype), exp_avg_sq.to(dtype)
    g = -g if maximize else g
    g = g + c.weight_decay * p if decays else g
    m_new = m + c.one_minus_beta1 * (g - m)
    v_new = c.beta2 * v + c.one_minus_beta2 * g * g
    param.copy_(c.scale * p + c.undo * m / (v.sqrt() * c.undo_rsqrt_bc2 + c.eps)
                + c.step * m_new / (v_new.sqrt() * c.rsqrt_bc2 + c.eps))
    exp_avg.copy_(m_new)
    exp_avg_sq.copy_(v_new)


# Each optimizer has its own chunk function: Dynamo keeps its compiled graphs per code object.
def _fused_adam_chunk(tensor_lists: list[list[Tensor]], coefficients: Tensor, *flags: bool) -> None:
    for index, tensors in enumerate(zip(*tensor_lists, strict=True)):
        _fused_adam_update(*tensors, coefficients[index], *flags)


_FUSED_ADAM = FusedKernel(_fused_adam_chunk, "adam", AdamCoefficients)


def _fused_super_adam(params, grads, exp_avgs, exp_avg_sqs, steps, coefficients_of, *, maximize, views):
    for device_params, device_grads, device_exp_avgs, device_exp_avg_sqs, device_steps in (
        group_by_device_and_dtype([params, grads, exp_avgs, exp_avg_sqs, steps])
    ):
        ks = _steps_taken_all(device_steps)
        if isinstance(ks[0], float) and len(set(ks)) == 1:  # the usual case: one row for the whole group
            rows = _coefficients(coefficients_of, ks[0])
        else:
            rows = [_coefficients(coefficients_of, k) for k in ks]
        lists = [device_params, device_grads, device_exp_avgs, device_exp_avg_sqs]
        l2 = (rows if isinstance(rows, AdamCoefficients) else rows[0]).weight_decay
        skipped = _FUSED_ADAM(lists, rows, views, (maximize, l2 != 0))
        skipped_set = set(skipped)
        fused_steps = [s for i, s in enumerate(device_steps) if i not in skipped_set]
        if fused_steps:
            torch._foreach_add_(fused_steps, 1)
        if skipped:
            _single_tensor_super_adam(*([ts[i] for i in skipped] for ts in [*lists, device_steps]), coefficients_of,
                                      maximize=maximize)


def _steps_taken_all(steps: list[Tensor]) -> list[Scalar]:
    """Every parameter's step count: floats read in one go in eager mode, tensors while compiling."""
    if torch.compiler.is_compiling():
        return [s.to(torch.float64) for s in steps]
    return torch.stack(steps).tolist() if len(steps) > 1 else [steps[0].item()]
