r"""SuperAdam and SuperAdamW: Adam (and AdamW) with super-acceleration, in Adam's memory."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from . import auto_sigma
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
        sigma = auto_sigma.AUTO if group.get("auto_sigma") else group["sigma"]
        _check_adam_hyperparameters(group["lr"], group["betas"], group["eps"], group["weight_decay"],
                                    sigma if group["decoupled_weight_decay"] else None)

    def _convert_state_dict(self, state_dict: dict[str, Any]) -> dict[str, Any]:
        """Migrate a ``torch.optim.Adam``/``AdamW`` state_dict (its parameters hold θ, so
        ``applied_sigma`` starts at 0) and SuperAdam's own 3-buffer form (superaccel 0.1 kept
        the last step in a ``velocity`` buffer; it is recomputed from the moments now)."""
        groups = state_dict["param_groups"]
        if groups and all("amsgrad" in g and "sigma" not in g for g in groups):
            if any(g["amsgrad"] for g in groups):
                raise ValueError(f"{type(self).__name__}.load_state_dict: Adam with amsgrad=True has no "
                                 f"{type(self).__name__} equivalent")
            return self._from_torch(state_dict, "Adam", lookahead=lambda g: 0.0)
        state = {index: {k: v for k, v in s.items() if k != "velocity"} for index, s in state_dict["state"].items()}
        return {**state_dict, "state": state}

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

    def _step_geometry(self, group: dict[str, Any], params: list[Tensor]) -> auto_sigma.StepGeometry:
        """Adam's heavy-ball form: the buffer m (g = β1, gain 1 − β1), the step −lr·m/(1 − β1^t)
        in the metric weighted by 1/(√v̂_t + ε), v̂_t computed here out of place."""
        beta1, beta2 = group["betas"]
        states = [self._state_of(p, group) for p in params]
        k = _steps_taken(states[0]["step"])
        l2 = 0.0 if group["decoupled_weight_decay"] else group["weight_decay"]
        grads = [real_view(g) for g in effective_grads([p.grad for p in params], params,
                                                       maximize=group["maximize"], weight_decay=l2)]
        denominators = [((beta2 * real_view(s["exp_avg_sq"]) + (1 - beta2) * g * g) / (1 - beta2 ** (k + 1))).sqrt()
                        .add_(group["eps"]) for g, s in zip(grads, states, strict=True)]
        q, n, b = auto_sigma.inner_products(grads, [real_view(s["exp_avg"]) for s in states], denominators)
        lr = float(group["lr"])
        undo = group["applied_sigma"] * float(group["applied_lr"]) / (1 - beta1**k) if k > 0 else 0.0
        return auto_sigma.StepGeometry(q, n, b, g=beta1, c=1 - beta1, eta=lr / (1 - beta1 ** (k + 1)), undo=undo)

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
        """θ = φ − σ·s or φ = θ + σ·s, with s recomputed from the moments (see :func:`lookahead_coefficients`)."""
        beta1, beta2 = group["betas"]
        decay = group["weight_decay"] if group["decoupled_weight_decay"] else 0.0
        for p in params:
            state = self.state[p]
            ref = p
            coeffs = lookahead_coefficients(_steps_taken(state["step"]), lr=kernel_scalar(lr, ref),
                                            sigma=kernel_scalar(sigma, ref), beta1=beta1, beta2=beta2,
                                            decay=decay, to_theta=to_theta)
            param, exp_avg, exp_avg_sq = real_view(p), real_view(state["exp_avg"]), real_view(state["exp_avg_sq"])
            scale, coeff, bc2 = coeffs
            denom = exp_avg_sq.sqrt().div_(kernel_tensor_or_float(bc2, param)).add_(group["eps"])
            mul_(param, scale)
            addcdiv_scaled_(param, exp_avg, denom, coeff)


def kernel_tensor_or_float(value: Scalar, like: Tensor) -> Scalar:
    return value.to(like.dtype) if isinstance(value, Tensor) else value


def _steps_taken(step: Tensor) -> Scalar:
    """A parameter's step count: a float in eager mode, the float64 tensor while compiling."""
    return step.to(torch.float64) if torch.compiler.is_compiling() else step.item()


def check_decay_undoable(lr: Any, weight_decay: Any, sigma: Any, name: str = "weight_decay value") -> None:
    """Refuse decoupled weight decay with lr·λ·(1 + σ) ≥ 1 (σ ≤ 8 for ``sigma="auto"``).

    The decay scales θ by 1 − lr·λ per step and the look-ahead by 1 − (1 + σ)·lr·λ; at
    lr·λ·(1 + σ) = 1 φ no longer depends on θ, so θ cannot be recovered from the two moment
    buffers (and beyond it the decay flips the weights' sign every step).  Values that are not
    plain numbers (an lr schedule, a traced array) and an invalid σ (its own error) are left
    alone.  Shared with superaccel.optax, whose messages say ``name`` = "weight_decay".
    """
    bound = auto_sigma.SIGMA_MAX if isinstance(sigma, str) and sigma == auto_sigma.AUTO else sigma
    numbers = (isinstance(v, (int, float)) and not isinstance(v, bool) for v in (weight_decay, bound))
    if not (all(numbers) and (isinstance(lr, (int, float)) or isinstance(lr, Tensor)) and 0 <= bound < math.inf):
        return
    product = float(lr) * weight_decay * (1 + bound)
    if product >= 1:
        raise ValueError(f"Invalid {name}: {weight_decay} (with decoupled weight decay, "
                         f"lr * weight_decay * (1 + sigma) must be below 1; here it is {product:g})")


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
        check_decay_undoable(lr, weight_decay, decoupled_sigma)


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


def _select(started: Scalar, value: Scalar, default: float) -> Scalar:
    return torch.where(started, value, default) if isinstance(started, Tensor) else (value if started else default)


def lookahead_coefficients(k: Scalar, *, lr: Scalar, sigma: Scalar, beta1: Scalar, beta2: Scalar, decay: Scalar,
                           to_theta: bool, select: Callable = _select) -> tuple[Scalar, Scalar, Scalar]:
    r"""``(a, b, bc2)`` such that ``a·param + b·m/(√v/bc2 + ε)`` is θ (``to_theta``, the
    parameters holding φ) or φ (the parameters holding θ), for a parameter that has taken
    ``k`` steps with moments ``m``, ``v``, the last at learning rate ``lr``.

    The last step is :math:`s = -(\mathrm{lr}\,u + x\,\theta_{k-1})` with
    :math:`u = \hat m/(\sqrt{\hat v} + \epsilon)` and :math:`x = \mathrm{lr}\cdot\lambda`
    (:math:`\lambda` = ``decay``, the decoupled weight decay, 0 otherwise); with
    :math:`\theta_{k-1} = \theta - s` and :math:`\theta = \phi - \sigma s` this gives
    :math:`\theta = \phi + \sigma(\mathrm{lr}\,u + x\phi)/(1 - x(1 + \sigma))` and
    :math:`\phi = \theta - \sigma(\mathrm{lr}\,u + x\theta)/(1 - x)`.  Before the first step
    (``k = 0``) there is no last step: ``(1, 0, 1)``.  Works on floats and on tensors;
    ``select(condition, value, default)`` picks elementwise (``jnp.where`` for JAX arrays,
    as superaccel.optax does).
    """
    started = k > 0
    k = select(started, k, 1.0)  # keeps the unselected branch finite
    x = lr * decay
    step_size = lr / (1 - beta1**k)
    if to_theta:
        denominator = 1 - x * (1 + sigma)
        a, b = 1 + sigma * x / denominator, sigma * step_size / denominator
    else:
        a, b = 1 - sigma * x / (1 - x), -sigma * step_size / (1 - x)
    return select(started, a, 1.0), select(started, b, 0.0), select(started, (1 - beta2**k) ** 0.5, 1.0)


def step_coefficients(k: Scalar, *, lr: Scalar, sigma: Scalar, beta1: Scalar, beta2: Scalar,
                      decay: Scalar) -> tuple[Scalar, Scalar, Scalar]:
    """``(c, e, bc2)`` of step k+1: ``φ_new = c·θ + e·m_new/(√v_new/bc2 + ε)``, that is
    θ + (1 + σ)·s with s Adam's step (torch's arithmetic at σ = 0)."""
    bias_correction1 = 1 - beta1 ** (k + 1)
    return 1 - (1 + sigma) * lr * decay, -(1 + sigma) * lr / bias_correction1, (1 - beta2 ** (k + 1)) ** 0.5


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
    decay = weight_decay if decoupled_weight_decay else 0.0
    hyper = dict(lr=kernel_scalar(lr, ref), applied_lr=kernel_scalar(applied_lr, ref), beta1=beta1, beta2=beta2,
                 eps=eps, sigma=kernel_scalar(sigma, ref), applied_sigma=kernel_scalar(applied_sigma, ref),
                 l2=weight_decay - decay, decay=decay, maximize=maximize)
    tensors = (list(params), list(grads), list(exp_avgs), list(exp_avg_sqs), list(steps))
    if implementation == "fused":
        _fused_super_adam(*tensors, views=fused_views, **hyper)
    elif implementation == "foreach":
        _multi_tensor_super_adam(*tensors, **hyper)
    else:
        _single_tensor_super_adam(*tensors, **hyper)


# Every path: θ = a·φ + b·m/(√v/bc2' + ε) undoes the look-ahead with the moments before the
# update (lookahead_coefficients), then the moments advance and φ_new = c·θ + e·m/(√v/bc2 + ε)
# takes the step and forms the new look-ahead (step_coefficients).


def _single_tensor_super_adam(params, grads, exp_avgs, exp_avg_sqs, steps, *, lr, applied_lr, beta1, beta2, eps,
                              sigma, applied_sigma, l2, decay, maximize):
    for param, grad, exp_avg, exp_avg_sq, step_t in zip(params, grads, exp_avgs, exp_avg_sqs, steps, strict=True):
        param, grad, exp_avg, exp_avg_sq = real_view(param), real_view(grad), real_view(exp_avg), real_view(exp_avg_sq)
        k = _steps_taken(step_t)
        a, b, bc2_prev = lookahead_coefficients(k, lr=applied_lr, sigma=applied_sigma, beta1=beta1, beta2=beta2,
                                                decay=decay, to_theta=True)
        c, e, bc2 = step_coefficients(k, lr=lr, sigma=sigma, beta1=beta1, beta2=beta2, decay=decay)
        grad = effective_grad(grad, param, maximize=maximize, weight_decay=l2)
        if isinstance(b, Tensor) or b != 0:  # undo the look-ahead: param = θ
            denom = exp_avg_sq.sqrt().div_(kernel_tensor_or_float(bc2_prev, param)).add_(eps)
            mul_(param, a)
            addcdiv_scaled_(param, exp_avg, denom, b)
        step_t += 1
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = (exp_avg_sq.sqrt() / kernel_tensor_or_float(bc2, param)).add_(eps)
        mul_(param, c)
        addcdiv_scaled_(param, exp_avg, denom, e)


def _multi_tensor_super_adam(params, grads, exp_avgs, exp_avg_sqs, steps, *, lr, applied_lr, beta1, beta2, eps,
                             sigma, applied_sigma, l2, decay, maximize):
    for device_params, device_grads, device_exp_avgs, device_exp_avg_sqs, device_steps in (
        group_by_device_and_dtype([params, grads, exp_avgs, exp_avg_sqs, steps])
    ):
        as_real(device_params, device_grads, device_exp_avgs, device_exp_avg_sqs)
        ks = [_steps_taken(s) for s in device_steps]
        undo = [lookahead_coefficients(k, lr=applied_lr, sigma=applied_sigma, beta1=beta1, beta2=beta2,
                                       decay=decay, to_theta=True) for k in ks]
        new = [step_coefficients(k, lr=lr, sigma=sigma, beta1=beta1, beta2=beta2, decay=decay) for k in ks]
        like = device_params[0]
        device_grads = effective_grads(device_grads, device_params, maximize=maximize, weight_decay=l2)
        if any(isinstance(b, Tensor) or b != 0 for _, b, _ in undo):  # undo the look-ahead: params = θ
            denom = torch._foreach_sqrt(device_exp_avg_sqs)
            torch._foreach_div_(denom, foreach_scalars([bc2 for _, _, bc2 in undo], like))
            torch._foreach_add_(denom, eps)
            _foreach_mul_(device_params, [a for a, _, _ in undo], like)
            _foreach_addcdiv_scaled_(device_params, device_exp_avgs, denom, [b for _, b, _ in undo], like)
        torch._foreach_add_(device_steps, 1)
        torch._foreach_lerp_(device_exp_avgs, device_grads, 1 - beta1)
        torch._foreach_mul_(device_exp_avg_sqs, beta2)
        torch._foreach_addcmul_(device_exp_avg_sqs, device_grads, device_grads, value=1 - beta2)
        denom = torch._foreach_sqrt(device_exp_avg_sqs)
        torch._foreach_div_(denom, foreach_scalars([bc2 for _, _, bc2 in new], like))
        torch._foreach_add_(denom, eps)
        _foreach_mul_(device_params, [c for c, _, _ in new], like)
        _foreach_addcdiv_scaled_(device_params, device_exp_avgs, denom, [e for _, e, _ in new], like)


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
    # θ = a·φ + b·m/(√v·r' + ε);  φ_new = c·θ + e·m_new/(√v_new·r + ε), with r = 1/bc2
    ca, cb, r_prev, e, r, eps, one_minus_beta1, beta2, one_minus_beta2, l2 = coefficients.unbind(0)
    dtype = opmath(param)
    p, g, m, v = param.to(dtype), grad.to(dtype), exp_avg.to(dtype), exp_avg_sq.to(dtype)
    g = -g if maximize else g
    g = g + l2 * p if decays else g
    m_new = m + one_minus_beta1 * (g - m)
    v_new = beta2 * v + one_minus_beta2 * g * g
    param.copy_(ca * p + cb * m / (v.sqrt() * r_prev + eps) + e * m_new / (v_new.sqrt() * r + eps))
    exp_avg.copy_(m_new)
    exp_avg_sq.copy_(v_new)


# Each optimizer has its own chunk function: Dynamo keeps its compiled graphs per code object.
def _fused_adam_chunk(tensor_lists: list[list[Tensor]], coefficients: Tensor, *flags: bool) -> None:
    for index, tensors in enumerate(zip(*tensor_lists, strict=True)):
        _fused_adam_update(*tensors, coefficients[index], *flags)


_FUSED_ADAM = FusedKernel(_fused_adam_chunk, "adam")


def _fused_row(k: Scalar, *, lr, applied_lr, beta1, beta2, eps, sigma, applied_sigma, l2, decay, maximize) -> list:
    """The fused kernel's coefficients for a parameter that has taken k steps: the two
    updates of the other paths folded into one expression (c·a, c·b, reciprocal bc2)."""
    a, b, bc2_prev = lookahead_coefficients(k, lr=applied_lr, sigma=applied_sigma, beta1=beta1, beta2=beta2,
                                            decay=decay, to_theta=True)
    c, e, bc2 = step_coefficients(k, lr=lr, sigma=sigma, beta1=beta1, beta2=beta2, decay=decay)
    # 1 − β from the host: in float32 arithmetic 1 − 0.999 loses 4 digits
    return [c * a, c * b, 1 / bc2_prev, e, 1 / bc2, eps, 1 - beta1, beta2, 1 - beta2, l2]


def _fused_super_adam(params, grads, exp_avgs, exp_avg_sqs, steps, *, views, lr, applied_lr, beta1, beta2, eps,
                      sigma, applied_sigma, l2, decay, maximize):
    hyper = dict(lr=lr, applied_lr=applied_lr, beta1=beta1, beta2=beta2, eps=eps, sigma=sigma,
                 applied_sigma=applied_sigma, l2=l2, decay=decay, maximize=maximize)
    for device_params, device_grads, device_exp_avgs, device_exp_avg_sqs, device_steps in (
        group_by_device_and_dtype([params, grads, exp_avgs, exp_avg_sqs, steps])
    ):
        ks = _steps_taken_all(device_steps)
        if isinstance(ks, list) and len(set(ks)) == 1:  # the usual case: one row for the whole group
            rows = _fused_row(ks[0], **hyper)
        else:
            rows = [_fused_row(k, **hyper) for k in ks]
        lists = [device_params, device_grads, device_exp_avgs, device_exp_avg_sqs]
        skipped = _FUSED_ADAM(lists, rows, views, (maximize, l2 != 0))
        skipped_set = set(skipped)
        fused_steps = [s for i, s in enumerate(device_steps) if i not in skipped_set]
        if fused_steps:
            torch._foreach_add_(fused_steps, 1)
        if skipped:
            _single_tensor_super_adam(*([ts[i] for i in skipped] for ts in [*lists, device_steps]), **hyper)


def _steps_taken_all(steps: list[Tensor]) -> list[Scalar]:
    """Every parameter's step count: floats read in one go in eager mode, tensors while compiling."""
    if torch.compiler.is_compiling():
        return [s.to(torch.float64) for s in steps]
    return torch.stack(steps).tolist() if len(steps) > 1 else [steps[0].item()]
