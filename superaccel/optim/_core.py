r"""Shared machinery of every super-accelerated optimizer.

A base method produces a step :math:`s_t` (:math:`\theta_{t+1} = \theta_t + s_t`).
Super-acceleration evaluates the gradient at the look-ahead point

.. math:: \phi_t = \theta_t + \sigma\, s_{t-1}

instead of at :math:`\theta_t` (Eq. 4 of Nakerst, Brennan & Haque).  During training
the parameters hold :math:`\phi`, so a training loop needs one forward/backward per step
and no closure, exactly as with ``torch.optim.SGD(nesterov=True)``.

Each parameter group remembers the hyperparameters its look-ahead was formed with:
``group["applied_sigma"]`` and, for the native optimizers, ``group["applied_lr"]`` (the
learning rate of the last step, which scales :math:`s_{t-1}`).  Keeping them apart from
``sigma`` and ``lr`` is what lets a user or a schedule change either between steps without
moving :math:`\theta`: the new values are used for the look-ahead formed at the next
:meth:`~SuperOptimizer.step`.

Hyperparameters reach the update kernels through :func:`kernel_scalar`: Python numbers in
eager mode (the fastest form for ``alpha=`` arguments), 0-d tensors while ``torch.compile``
traces the step, so that a σ or a learning rate that changes every step is data for the
compiled graph instead of a constant it must be recompiled for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from .._ops import PYTHON, Ops
from ..auto_sigma import AUTO, StepSums
from ..rules import HeavyBall
from . import _auto_sigma

__all__ = ["SuperOptimizer", "check_hyperparameter", "check_lr", "check_sigma"]

Scalar = float | Tensor


# ---- validation ----------------------------------------------------------------------


def check_hyperparameter(
    name: str,
    value: Any,
    low: float = 0.0,
    high: float = math.inf,
    *,
    high_inclusive: bool = False,
) -> None:
    """Raise ``ValueError(f"Invalid {name}: {value}")`` unless ``low <= value < high``.

    The comparison is written so that NaN fails it, and booleans, strings and tensors are
    refused before they reach the arithmetic (``True`` would pass as 1).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"Invalid {name}: {value!r}")
    upper_ok = value <= high if high_inclusive else value < high
    if not (low <= value and upper_ok and math.isfinite(value)):
        raise ValueError(f"Invalid {name}: {value}")


def check_lr(lr: Any) -> None:
    """A learning rate is a finite number ≥ 0 or a 1-element tensor holding one (as in torch)."""
    if isinstance(lr, Tensor):
        if lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr.is_complex() or not (0 <= lr.item() < math.inf):
            raise ValueError(f"Invalid learning rate: {lr}")
        return
    check_hyperparameter("learning rate", lr)


def check_sigma(sigma: Any) -> None:
    if isinstance(sigma, Tensor):
        raise ValueError(f"Invalid sigma value: {sigma!r} (sigma is a float; a float that changes every step "
                         "does not make torch.compile recompile the step)")
    check_hyperparameter("sigma value", sigma)


def check_implementation_flags(foreach: bool | None, fused: bool | None) -> None:
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


# ---- hyperparameters as the kernels take them ----------------------------------------

#: the scalar rules' operations on the 0-d tensors of a traced step (see :func:`kernel_scalar`)
TORCH_OPS = Ops(sqrt=torch.sqrt, where=torch.where, abs=torch.abs, maximum=torch.maximum, minimum=torch.minimum,
                isfinite=torch.isfinite, fori_loop=PYTHON.fori_loop)


def ops_for(value: Scalar) -> Ops:
    """The operations for a hyperparameter as :func:`kernel_scalar` made it."""
    return TORCH_OPS if isinstance(value, Tensor) else PYTHON



def kernel_scalar(value: Scalar, reference: Tensor) -> Scalar:
    """A hyperparameter for the update kernels.

    Eager mode: a Python float (a tensor learning rate is read once; for a CUDA tensor this
    synchronizes, as ``alpha=tensor`` does in torch.optim).  While ``torch.compile`` traces
    the step: a 0-d float64 tensor on the parameters' device, made by arithmetic so that
    Dynamo treats a changing value as data (``fill_`` and ``torch.tensor`` of a traced float
    would specialize on it, and a 0-d float64 *input* that is written to loses the write).
    """
    if torch.compiler.is_compiling():
        base = torch.zeros((), dtype=torch.float64, device=reference.device)
        return base + value.reshape(()).to(base) if isinstance(value, Tensor) else base + value
    return value.item() if isinstance(value, Tensor) else value


def add_scaled_(out: Tensor, other: Tensor, coeff: Scalar) -> None:
    """``out += coeff * other`` (skipped for a Python zero, like an absent term)."""
    if isinstance(coeff, Tensor):
        out.add_(other * coeff.to(out.dtype))
    elif coeff != 0:
        out.add_(other, alpha=coeff)


def addcdiv_scaled_(out: Tensor, numerator: Tensor, denominator: Tensor, coeff: Scalar) -> None:
    """``out += coeff * numerator / denominator``."""
    if isinstance(coeff, Tensor):
        out.add_(numerator / denominator * coeff.to(out.dtype))
    elif coeff != 0:
        out.addcdiv_(numerator, denominator, value=coeff)


def mul_(out: Tensor, factor: Scalar) -> None:
    """``out *= factor`` (skipped for a Python one)."""
    if isinstance(factor, Tensor):
        out.mul_(factor.to(out.dtype))
    elif factor != 1:
        out.mul_(factor)


def foreach_add_scaled_(outs: list[Tensor], others: list[Tensor], coeff: Scalar) -> None:
    if isinstance(coeff, Tensor):
        torch._foreach_add_(outs, torch._foreach_mul(others, coeff.to(outs[0].dtype)))
    elif coeff != 0:
        torch._foreach_add_(outs, others, alpha=coeff)


def foreach_scalars(values: list[Scalar], like: Tensor) -> list[float] | list[Tensor]:
    """Per-tensor coefficients for a foreach op: floats, or 0-d tensors of ``like``'s dtype."""
    if values and isinstance(values[0], Tensor):
        return [v.to(like.dtype) for v in values]
    return values


# ---- tensors -------------------------------------------------------------------------


def as_real(*tensor_lists: list[Tensor]) -> None:
    """Replace complex tensors by their real views in place, as torch's optimizers do.

    A complex parameter is then optimized as a pair of real parameters, which is what
    ``torch.optim`` does for complex parameters, so the per-component second moments of
    RMSprop and Adam agree with torch's.
    """
    for tensors in tensor_lists:
        tensors[:] = [real_view(t) for t in tensors]


def real_view(tensor: Tensor) -> Tensor:
    """The real view of a complex tensor (shares storage), the tensor itself otherwise."""
    return torch.view_as_real(tensor) if torch.is_complex(tensor) else tensor


def group_by_device_and_dtype(tensor_lists: list[list[Tensor]]) -> list[list[list[Tensor]]]:
    """Bucket aligned tensor lists by the (device, dtype) of the first list's tensors, for
    the foreach and fused kernels (which take tensors of one device and dtype)."""
    first = tensor_lists[0]
    if not first:
        return []
    device, dtype = first[0].device, first[0].dtype
    if all(t.device == device and t.dtype == dtype for t in first):  # the usual case, 4x faster
        return [[list(tensors) for tensors in tensor_lists]]
    buckets: dict[tuple, list[list[Tensor]]] = {}
    for tensors in zip(*tensor_lists, strict=True):
        key = (tensors[0].device, tensors[0].dtype)
        if key not in buckets:
            buckets[key] = [[] for _ in tensor_lists]
        for bucket, tensor in zip(buckets[key], tensors, strict=True):
            bucket.append(tensor)
    return list(buckets.values())


def effective_grads(grads: list[Tensor], params: list[Tensor], *, maximize: bool,
                    weight_decay: float) -> list[Tensor]:
    """The gradients a step uses: negated for ``maximize`` and with an L2 term λ·param, in
    new tensors (the parameters' gradients are never modified)."""
    if maximize:
        grads = torch._foreach_neg(grads)
    if weight_decay != 0:
        if maximize:  # reuse the negated copy
            torch._foreach_add_(grads, params, alpha=weight_decay)
        else:
            grads = torch._foreach_add(grads, params, alpha=weight_decay)
    return grads


def effective_grad(grad: Tensor, param: Tensor, *, maximize: bool, weight_decay: float) -> Tensor:
    """One tensor's :func:`effective_grads`."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)
    return grad


def select_implementation(params: list[Tensor], foreach: bool | None, fused: bool | None) -> str:
    """"single", "foreach" or "fused", from the flags; both ``None`` follows torch's rule.

    torch's rule: the multi-tensor path where foreach kernels exist (CUDA and friends), the
    single-tensor loop on the CPU, where torch's foreach "kernels" are an unfused loop over
    tensors and the per-tensor loop keeps each tensor in cache across the update's
    operations.  ``fused`` is opt-in, as in torch, because its first use needs a compiler:
    on the CPU it builds the C++ kernels of :mod:`._cpu_kernels` (once per machine, then
    cached; a C++ compiler and ninja), on CUDA it compiles Inductor/Triton kernels per
    optimizer and dtype.  How the paths compare in time: docs/benchmarks.md.
    """
    if fused:
        return "fused"
    if foreach is None and fused is None:
        foreach = all(p.device.type not in ("cpu", "meta") for p in params)
    return "foreach" if foreach else "single"


def fused_supported_devices() -> list[str]:
    return ["cpu", "cuda"]


def check_fused_support(param: Tensor) -> None:
    """torch's check and wording for ``fused=True`` (the conformance suite matches it)."""
    devices = fused_supported_devices()
    if not (param.device.type in devices and (torch.is_floating_point(param) or param.is_complex())):
        raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of "
                           f"supported devices: {devices} but {param.dtype} and {param.device.type}")


# ---- the optimizer base class ----------------------------------------------------------


class SuperOptimizer(Optimizer):
    """Base class of the super-accelerated optimizers: parameters hold the look-ahead point φ
    while training.

    Subclasses implement

    - :meth:`_update_group`, which receives the parameters that have gradients and must
      leave ``param = θ_new + σ·s_new`` given ``param = θ + applied_sigma·s_last`` on entry;
    - :meth:`_shift_lookahead`, which moves parameters between φ and θ for given σ and lr
      (used by :meth:`train`, :meth:`eval` and for parameters that got no gradient);
    - :meth:`_validate_group`, the constructor's checks on a group's current values.
    """

    #: The per-parameter state keys this optimizer writes; a state_dict with others is foreign.
    state_keys: frozenset[str] = frozenset()
    #: Whether the look-ahead scales with the learning rate of the last step (true of the
    #: native optimizers, whose last step is lr × a buffer; the wrapper stores the step itself).
    lookahead_scales_with_lr: bool = True

    def __init__(self, params: Iterable, defaults: dict[str, Any]) -> None:
        defaults = self._with_auto_sigma(defaults)
        check_sigma(defaults["sigma"])
        check_implementation_flags(defaults.get("foreach"), defaults.get("fused"))
        defaults = {**defaults, "train_mode": True}
        super().__init__(params, defaults)

    def _with_auto_sigma(self, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        """``sigma="auto"``: σ starts at the momentum (Nesterov) and the group gets an
        estimator (:mod:`superaccel.auto_sigma`); a number: no estimator."""
        if isinstance(hyperparameters.get("sigma"), str) and hyperparameters["sigma"] == AUTO:
            if not self.supports_auto_sigma:
                raise ValueError(f"{type(self).__name__} does not support sigma='auto'")
            return {**hyperparameters, "sigma": float(self._momentum_of(hyperparameters)), "auto_sigma": True}
        return {**hyperparameters, "auto_sigma": None}

    #: whether ``sigma="auto"`` is available (the native optimizers; not the wrapper)
    supports_auto_sigma: bool = False

    def _momentum_of(self, group: dict[str, Any]) -> float:
        """The momentum g of the heavy-ball form (SGD's momentum, Adam's β1)."""
        raise NotImplementedError

    def _auto_sigma_inputs(self, group: dict[str, Any], params: list[Tensor]) -> tuple[StepSums, HeavyBall]:
        """This step's sums and heavy-ball form for the σ estimator (subclasses with auto σ)."""
        raise NotImplementedError

    # -- parameter groups -------------------------------------------------------------

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if "sigma" in param_group:  # the group's own σ, "auto" or a number, overrides the default
            chosen = self._with_auto_sigma({**self.defaults, **param_group})
            param_group.update(sigma=chosen["sigma"], auto_sigma=chosen["auto_sigma"])
            check_sigma(param_group["sigma"])
        if "lr" in param_group:
            check_lr(param_group["lr"])
        # A group added to an optimizer in eval mode starts in eval mode, so that one
        # train() later moves every group together.
        if self.param_groups and "train_mode" not in param_group:
            param_group["train_mode"] = self.param_groups[0]["train_mode"]
        super().add_param_group(param_group)
        self._validate_group(param_group)
        self._need_fused_check = True
        if param_group.get("auto_sigma") is True:  # each group its own estimator
            param_group["auto_sigma"] = _auto_sigma.new_state()
        param_group.setdefault("applied_sigma", param_group["sigma"])
        if self.lookahead_scales_with_lr:
            param_group.setdefault("applied_lr", _copy_lr(param_group["lr"]))

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in (("maximize", False), ("foreach", None), ("fused", None)):
                if key in self.defaults:  # torch's flags, where the optimizer has them (Muon has none)
                    group.setdefault(key, value)
            group.setdefault("train_mode", True)
            group.setdefault("auto_sigma", None)
            group.setdefault("applied_sigma", group["sigma"])
            if self.lookahead_scales_with_lr:
                group.setdefault("applied_lr", _copy_lr(group["lr"]))

    # -- checkpoints ------------------------------------------------------------------

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state_dict saved by this optimizer (in train or eval mode) or by the torch
        optimizer it extends (:meth:`_convert_state_dict`).

        A state_dict of another optimizer is a ValueError naming what does not fit.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups'")
        state_dict = self._convert_state_dict(state_dict)
        for group in state_dict["param_groups"]:
            if "sigma" not in group:
                keys = sorted(k for k in group if k != "params")
                raise ValueError(f"{name}.load_state_dict: a param group has no 'sigma'; this state_dict was "
                                 f"saved by another optimizer (group keys: {keys})")
        for index, param_state in state_dict["state"].items():
            if not set(param_state) <= self.state_keys:
                raise ValueError(f"{name}.load_state_dict: the state of parameter {index} has keys "
                                 f"{sorted(param_state)}, {name} keeps {sorted(self.state_keys)}; this "
                                 "state_dict was saved by another optimizer")
        super().load_state_dict(state_dict)

    def _convert_state_dict(self, state_dict: dict[str, Any]) -> dict[str, Any]:
        """Hook for subclasses: migrate a foreign (torch) state_dict. Identity here."""
        return state_dict

    def _from_torch(self, state_dict: dict[str, Any], torch_name: str, *,
                    lookahead: Callable[[dict[str, Any]], float]) -> dict[str, Any]:
        """A torch SGD/RMSprop state_dict as this optimizer's: the same buffer and learning-rate
        convention.  torch's parameters hold θ − a·lr·b with ``a = lookahead(group)`` (g for
        Nesterov, 0 otherwise), which becomes ``applied_sigma``; the loaded groups keep this
        optimizer's σ, used from the next step."""
        name = type(self).__name__
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the {torch_name} state_dict has {len(groups)} param groups, "
                             f"this optimizer {len(self.param_groups)}")
        converted = []
        for saved, mine in zip(groups, self.param_groups, strict=True):
            if saved.get("dampening", 0) != 0:
                raise ValueError(f"{name}.load_state_dict: {torch_name} dampening {saved['dampening']} has no "
                                 f"{name} equivalent (only dampening=0 migrates)")
            if saved.get("centered", False):
                raise ValueError(f"{name}.load_state_dict: a centered {torch_name} has no {name} equivalent")
            group = {k: v for k, v in saved.items() if k in mine or k == "params"}
            group.update(sigma=mine["sigma"], train_mode=True, applied_sigma=lookahead(saved),
                         applied_lr=_copy_lr(saved["lr"]))
            converted.append(group)
        state = {index: {k: v for k, v in s.items() if k in self.state_keys and v is not None}
                 for index, s in state_dict["state"].items()}
        return {"state": state, "param_groups": converted}

    # -- train / eval -----------------------------------------------------------------

    @torch.no_grad()
    def train(self, mode: bool = True) -> SuperOptimizer:
        """Put the look-ahead point φ into the parameters (the training state).

        Idempotent; ``train(False)`` is :meth:`eval`.
        """
        for group in self.param_groups:
            if group["train_mode"] != mode:
                self._shift_lookahead(group, self._params_with_state(group), sigma=group["applied_sigma"],
                                      lr=group.get("applied_lr"), to_theta=not mode)
                group["train_mode"] = mode
        return self

    def eval(self) -> SuperOptimizer:
        """Put θ into the parameters: evaluate, checkpoint or export in this mode."""
        return self.train(False)

    def _params_with_state(self, group: dict[str, Any]) -> list[Tensor]:
        return [p for p in group["params"] if self.state.get(p)]

    def _shift_lookahead(self, group: dict[str, Any], params: list[Tensor], *, sigma: Scalar, lr: Scalar | None,
                         to_theta: bool) -> None:
        """Move ``params`` from φ = θ + σ·s to θ (``to_theta``) or back, s being the last step
        expressed at learning rate ``lr``."""
        raise NotImplementedError

    # -- averages of θ ----------------------------------------------------------------

    @torch.no_grad()
    def lerp_to_theta_(self, averages: Iterable[Tensor], params: Iterable[Tensor], weight: float) -> None:
        r"""``average += weight·(θ − average)`` for each average and its parameter: one step of an
        exponential moving average of θ (``weight`` = 1 − decay), or of an equal average
        (``weight`` = 1/(n + 1)), computed from the parameters and this optimizer's state
        without moving the parameters.

        θ is what :meth:`eval` would put into a parameter: the parameter itself in eval mode,
        before its first step, or when this optimizer does not hold it.  Averages may have
        another dtype than their parameters (a float32 average of bfloat16 weights).  Start
        the average at θ (a copy taken inside :func:`superaccel.at_theta`, or before the first
        step); buffers (BatchNorm statistics) are not parameters: average or copy them yourself.
        """
        group_of = {id(p): group for group in self.param_groups for p in group["params"]}
        pending: dict[int, tuple[dict[str, Any], list[Tensor], list[Tensor]]] = {}
        for average, param in zip(averages, params, strict=True):
            group = group_of.get(id(param))
            if group is None or not group["train_mode"] or not self.state.get(param):
                average.lerp_(param.to(average.dtype), weight)
                continue
            _, group_averages, group_params = pending.setdefault(id(group), (group, [], []))
            group_averages.append(average)
            group_params.append(param)
        for group, group_averages, group_params in pending.values():
            self._lerp_group_to_theta_(group, group_averages, group_params, weight)

    def _lerp_group_to_theta_(self, group: dict[str, Any], averages: list[Tensor], params: list[Tensor],
                              weight: float) -> None:
        """:meth:`lerp_to_theta_` for parameters of ``group`` that hold φ and have state."""
        raise NotImplementedError

    # -- step -------------------------------------------------------------------------

    def _check_can_step(self) -> None:
        for group in self.param_groups:
            if not group["train_mode"]:
                raise RuntimeError(
                    f"{type(self).__name__}.step() called in eval mode: the parameters hold θ, "
                    "not the look-ahead point the gradient must be taken at. Call "
                    "optimizer.train() before training steps (and optimizer.eval() before "
                    "evaluating or checkpointing)."
                )
            if not torch.compiler.is_compiling():  # the checks read traced floats as numbers
                check_sigma(group["sigma"])
                self._validate_group(group)

    def _validate_group(self, group: dict[str, Any]) -> None:
        """Re-run the constructor's checks on values a user may have set by hand."""

    def _params_with_grad(self, group: dict[str, Any]) -> list[Tensor]:
        params = []
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError(
                    f"{type(self).__name__} does not support sparse gradients; use a dense "
                    "gradient (e.g. nn.Embedding(sparse=False))"
                )
            params.append(p)
        if group.get("fused") and getattr(self, "_need_fused_check", True):
            for p in params:
                check_fused_support(p)
            self._need_fused_check = False  # as torch: once, until the parameters change
        return params

    def _finish_group(self, group: dict[str, Any], stepped: list[Tensor]) -> None:
        """Record the hyperparameters the new look-ahead was formed with, and re-form the
        look-ahead of parameters that got no gradient this step.

        Their θ and last step stay as they are (torch skips such parameters), but if σ or
        the learning rate changed they must now hold θ + σ·s like the rest of the group.
        """
        lr = group.get("lr")
        if len(stepped) == len(group["params"]):
            idle = []
        else:
            stepped_ids = {id(p) for p in stepped}
            idle = [p for p in self._params_with_state(group) if id(p) not in stepped_ids]
        if idle and (torch.compiler.is_compiling() or self._lookahead_changed(group)):
            self._shift_lookahead(group, idle, sigma=group["applied_sigma"], lr=group.get("applied_lr"),
                                  to_theta=True)
            self._shift_lookahead(group, idle, sigma=group["sigma"], lr=lr, to_theta=False)
        group["applied_sigma"] = group["sigma"]
        if self.lookahead_scales_with_lr:
            if isinstance(lr, Tensor) and isinstance(group["applied_lr"], Tensor):
                group["applied_lr"].copy_(lr.reshape(group["applied_lr"].shape))
            else:
                group["applied_lr"] = _copy_lr(lr)

    def _lookahead_changed(self, group: dict[str, Any]) -> bool:
        if group["sigma"] != group["applied_sigma"]:
            return True
        if not self.lookahead_scales_with_lr:
            return False
        lr, applied = group["lr"], group["applied_lr"]
        return bool((lr != applied).any()) if isinstance(lr, Tensor) or isinstance(applied, Tensor) else lr != applied

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform a single optimization step.

        Args:
            closure (Callable, optional): A closure that reevaluates the model and returns
                the loss. It is evaluated at the look-ahead point the parameters hold.
        """
        self._check_can_step()
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = self._params_with_grad(group)
            if params:
                if group.get("auto_sigma"):
                    group["sigma"] = _auto_sigma.choose(group["auto_sigma"], *self._auto_sigma_inputs(group, params),
                                                        group["sigma"])
                self._update_group(group, params)
            self._finish_group(group, params)
        return loss

    def _update_group(self, group: dict[str, Any], params: list[Tensor]) -> None:
        raise NotImplementedError

    def _fused_views(self) -> dict[int, tuple[Tensor, ...]]:
        """Flat views of parameters and buffers kept between steps by the fused kernels
        (not part of the state: rebuilt when a tensor's address changes)."""
        return self.__dict__.setdefault("_fused_view_cache", {})

    def _buffer(self, p: Tensor, key: str) -> Tensor:
        """The state tensor ``key`` of ``p``, created as zeros on first use."""
        state = self.state[p]
        if key not in state:
            state[key] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state[key]


@torch.no_grad()
def lerp_to_sum_(averages: list[Tensor], params: list[Tensor], steps: list[Tensor], weight: float,
                 coeff: float) -> None:
    """``average += weight·(param + coeff·step − average)``, foreach where the average has its
    parameter's dtype and device (the usual case), one tensor at a time where it has not."""
    same = [a.dtype == p.dtype and a.device == p.device for a, p in zip(averages, params, strict=True)]
    if all(same):
        for bucket_averages, bucket_params, bucket_steps in group_by_device_and_dtype([averages, params, steps]):
            torch._foreach_lerp_(bucket_averages, bucket_params, weight)
            torch._foreach_add_(bucket_averages, bucket_steps, alpha=weight * coeff)
        return
    for average, param, step in zip(averages, params, steps, strict=True):
        average.lerp_(param.to(average.dtype), weight)
        average.add_(step.to(average.dtype), alpha=weight * coeff)


def _copy_lr(lr: Any) -> Any:
    """The applied learning rate must not alias a tensor lr that a scheduler fills in place."""
    return lr.detach().clone() if isinstance(lr, Tensor) else lr


class BufferLookahead(SuperOptimizer):
    """A look-ahead along one state buffer b: φ = θ + c·b.

    SuperSGD and SuperRMSprop keep torch's gradient accumulator b (``momentum_buffer``)
    and take a step of −lr·b, so φ = θ + σ·s = θ − σ·lr·b: c = −σ·lr.
    """

    lookahead_buffer = "momentum_buffer"

    @staticmethod
    def _lookahead_coefficient(sigma: Scalar, lr: Scalar | None, like: Tensor) -> Scalar:
        """c in φ = θ + c·b, as a kernel scalar for tensors like ``like``."""
        return -kernel_scalar(sigma, like) * kernel_scalar(lr, like)

    @torch.no_grad()
    def _shift_lookahead(self, group, params, *, sigma, lr, to_theta):
        if not params:
            return
        coeff = self._lookahead_coefficient(sigma, lr, params[0])
        ps = list(params)
        bufs = [self.state[p][self.lookahead_buffer] for p in ps]
        as_real(ps, bufs)
        for device_ps, device_bufs in group_by_device_and_dtype([ps, bufs]):
            foreach_add_scaled_(device_ps, device_bufs, -coeff if to_theta else coeff)

    def _lerp_group_to_theta_(self, group, averages, params, weight):
        # θ = φ − c'·b, c' the look-ahead the parameters hold
        coeff = self._lookahead_coefficient(group["applied_sigma"], group.get("applied_lr"), params[0])
        lerp_to_sum_(averages, params, [self.state[p][self.lookahead_buffer] for p in params], weight, -float(coeff))


class LastStepLookahead(BufferLookahead):
    """A look-ahead along the last step itself, kept in the state: φ = θ + σ·s (c = σ).

    For methods whose step cannot be recomputed from their state (any torch optimizer under
    :class:`SuperAccelerate`; Muon, whose step is an orthogonalization).
    """

    lookahead_scales_with_lr = False

    @staticmethod
    def _lookahead_coefficient(sigma: Scalar, lr: Scalar | None, like: Tensor) -> Scalar:
        return kernel_scalar(sigma, like)
