r"""Shared machinery of every super-accelerated optimizer.

A base method produces a step :math:`s_t` (:math:`\theta_{t+1} = \theta_t + s_t`).
Super-acceleration evaluates the gradient at the look-ahead point

.. math:: \phi_t = \theta_t + \sigma\, s_{t-1}

instead of at :math:`\theta_t` (Eq. 4 of Nakerst, Brennan & Haque).  During training
the parameters hold :math:`\phi`, so a training loop needs one forward/backward per step
and no closure, exactly as with ``torch.optim.SGD(nesterov=True)``.

Every optimizer keeps the last step :math:`s_{t-1}` in ``state[p]["velocity"]`` and, per
parameter group, the σ that the parameters currently hold in ``group["applied_sigma"]``:

.. math:: \text{param} = \theta + \text{applied\_sigma}\cdot\text{velocity}
          \quad\text{(train mode)}, \qquad \text{param} = \theta \quad\text{(eval mode)}.

Keeping ``applied_sigma`` apart from ``sigma`` is what lets a user or a schedule change
``group["sigma"]`` between steps without moving :math:`\theta`: the new value is used for the
look-ahead formed at the next :meth:`step`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

__all__ = ["LookaheadOptimizer", "check_hyperparameter"]

VELOCITY = "velocity"


def check_hyperparameter(
    name: str,
    value: Any,
    low: float = 0.0,
    high: float = math.inf,
    *,
    high_inclusive: bool = False,
) -> None:
    """Raise ``ValueError(f"Invalid {name}: {value}")`` unless ``low <= value < high``.

    The comparison is written so that NaN fails it, and booleans and strings are refused
    before they reach the arithmetic (``True`` would pass as 1).
    """
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"Invalid {name}: tensor {name} must have one element")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"Invalid {name}: {value!r}")
    upper_ok = value <= high if high_inclusive else value < high
    if not (low <= value and upper_ok and math.isfinite(value)):
        raise ValueError(f"Invalid {name}: {value}")


def check_sigma(sigma: Any) -> None:
    check_hyperparameter("sigma value", sigma)


def default_foreach(params: list[Tensor]) -> bool:
    """torch's rule: the multi-tensor path where foreach kernels exist (CUDA and friends).

    On the CPU torch's own optimizers default to the single-tensor loop because the
    foreach "kernels" there are a Python-free loop with no fusion, and the per-tensor loop
    keeps each tensor in cache across the update's operations.
    """
    from torch.optim.optimizer import _default_to_fused_or_foreach

    _, foreach = _default_to_fused_or_foreach(params, differentiable=False, use_fused=False)
    return foreach


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


def group_by_device_and_dtype(tensor_lists: list[list[Tensor]]):
    """Bucket aligned tensor lists by (device, dtype) for the foreach kernels."""
    grouped = Optimizer._group_tensors_by_device_and_dtype(tensor_lists)
    return [lists for lists, _ in grouped.values()]


class LookaheadOptimizer(Optimizer):
    """Base class: parameters hold the look-ahead point φ while training.

    Subclasses implement :meth:`_update_group`, which receives the parameters that have
    gradients and must leave ``param = θ_new + sigma * velocity_new``, given
    ``param = θ + applied_sigma * velocity`` on entry.
    """

    def __init__(self, params: Iterable, defaults: dict[str, Any]) -> None:
        check_sigma(defaults["sigma"])
        defaults = {**defaults, "train_mode": True}
        super().__init__(params, defaults)

    # -- parameter groups -------------------------------------------------------------

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if "sigma" in param_group:
            check_sigma(param_group["sigma"])
        # A group added to an optimizer in eval mode starts in eval mode, so that one
        # train() later moves every group together.
        if self.param_groups and "train_mode" not in param_group:
            param_group["train_mode"] = self.param_groups[0]["train_mode"]
        super().add_param_group(param_group)
        param_group.setdefault("applied_sigma", param_group["sigma"])

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("train_mode", True)
            group.setdefault("applied_sigma", group["sigma"])

    # -- checkpoints ------------------------------------------------------------------

    #: The per-parameter state keys this optimizer writes; a state_dict with others is foreign.
    state_keys: frozenset[str] = frozenset({VELOCITY})

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state_dict saved by this optimizer (in train or eval mode).

        A state_dict of another optimizer is a ValueError naming what does not fit, except
        the conversions a subclass offers in :meth:`_convert_foreign_state_dict`.
        """
        state_dict = self._convert_foreign_state_dict(state_dict)
        name = type(self).__name__
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups'")
        for group in state_dict["param_groups"]:
            if "sigma" not in group:
                raise ValueError(f"{name}.load_state_dict: a param group has no 'sigma'; this state_dict was "
                                 f"saved by another optimizer (group keys: {sorted(k for k in group if k != 'params')})")
        for index, param_state in state_dict["state"].items():
            if set(param_state) != self.state_keys:
                raise ValueError(f"{name}.load_state_dict: the state of parameter {index} has keys "
                                 f"{sorted(param_state)}, {name} keeps {sorted(self.state_keys)}; this "
                                 "state_dict was saved by another optimizer")
        super().load_state_dict(state_dict)

    def _convert_foreign_state_dict(self, state_dict: dict[str, Any]) -> dict[str, Any]:
        return state_dict

    # -- train / eval -----------------------------------------------------------------

    @torch.no_grad()
    def train(self, mode: bool = True) -> LookaheadOptimizer:
        """Put the look-ahead point φ into the parameters (the training state).

        Idempotent; ``train(False)`` is :meth:`eval`.
        """
        for group in self.param_groups:
            if group["train_mode"] != mode:
                sign = 1.0 if mode else -1.0
                self._shift_by_velocity(group["params"], sign * group["applied_sigma"])
                group["train_mode"] = mode
        return self

    def eval(self) -> LookaheadOptimizer:
        """Put θ into the parameters: evaluate, checkpoint or export in this mode."""
        return self.train(False)

    def _shift_by_velocity(self, params: Iterable[Tensor], alpha: float) -> None:
        """params += alpha * velocity, for every parameter that has a velocity."""
        if alpha == 0:
            return
        pairs = [(p, self.state[p][VELOCITY]) for p in params if VELOCITY in self.state.get(p, {})]
        if not pairs:
            return
        ps, vs = (list(t) for t in zip(*pairs))
        as_real(ps, vs)
        for device_ps, device_vs in group_by_device_and_dtype([ps, vs]):
            torch._foreach_add_(device_ps, device_vs, alpha=alpha)

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
            check_sigma(group["sigma"])

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
        return params

    def _finish_group(self, group: dict[str, Any], stepped: list[Tensor]) -> None:
        """Re-form the look-ahead of parameters that got no gradient this step.

        Their θ and velocity stay as they are (torch skips such parameters), but if σ
        changed they must now hold θ + σ·velocity like the rest of the group.
        """
        change = group["sigma"] - group["applied_sigma"]
        if change != 0:
            stepped_ids = {id(p) for p in stepped}
            idle = [p for p in group["params"] if id(p) not in stepped_ids]
            self._shift_by_velocity(idle, change)
        group["applied_sigma"] = group["sigma"]

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
                self._update_group(group, params)
            self._finish_group(group, params)
        return loss

    def _update_group(self, group: dict[str, Any], params: list[Tensor]) -> None:
        raise NotImplementedError

    def _velocity(self, p: Tensor) -> Tensor:
        state = self.state[p]
        if VELOCITY not in state:
            state[VELOCITY] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state[VELOCITY]


def resolve_foreach(foreach: bool | None, params: list[Tensor]) -> bool:
    if foreach is None:
        return default_foreach(params)
    return foreach
