r"""SuperAccelerate: super-accelerate any ``torch.optim.Optimizer``."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from ._core import (
    LastStepLookahead,
    SuperOptimizer,
    as_real,
    check_sigma,
    foreach_add_scaled_,
    group_by_device_and_dtype,
    kernel_scalar,
)

__all__ = ["SuperAccelerate"]


class SuperAccelerate(LastStepLookahead):
    r"""Super-accelerates any ``torch.optim.Optimizer``.

    The base optimizer turns a gradient into a step :math:`s_t = \theta_{t+1} - \theta_t`.
    The wrapper takes that gradient at :math:`\phi_t = \theta_t + \sigma s_{t-1}`:

    .. math::
       \begin{aligned}
            &\text{parameters hold } \phi_t;\ \text{the gradient } \nabla L(\phi_t)
                \text{ is in } \texttt{.grad} \\
            &\theta_t \leftarrow \phi_t - \sigma' s_{t-1},\quad
             \theta_{t+1} \leftarrow \texttt{base.step()} \text{ applied at } \theta_t \\
            &s_t \leftarrow \theta_{t+1} - \theta_t,\quad
             \phi_{t+1} \leftarrow \theta_{t+1} + \sigma s_t
       \end{aligned}

    It is a real :class:`~torch.optim.Optimizer`: it shares the base's ``param_groups`` (so
    lr schedulers and ``group["sigma"]`` work on either), keeps one extra buffer per
    parameter (the last step) and has the same :meth:`train` / :meth:`eval` as the native
    optimizers.  ``SuperAccelerate(SGD(params, lr, momentum=g), sigma)`` follows
    ``SuperSGD(params, lr, momentum=g, sigma=sigma)`` for a constant learning rate.

    Args:
        base_optimizer (Optimizer): the optimizer whose steps are super-accelerated.
        sigma (float, optional): super-acceleration :math:`\sigma \ge 0`, set in every group
            that has none (default: 2.0).

    .. note::
        The base optimizer runs at θ, so terms it computes from the parameter values (weight
        decay) see θ rather than the look-ahead point; SuperSGD's weight decay sees φ.
        The base must update only parameters that have a gradient (all of torch.optim does),
        and must not need several closure evaluations per step (LBFGS is not supported).

    Example:
        >>> opt = SuperAccelerate(torch.optim.Adagrad(model.parameters(), lr=0.1), sigma=2.0)
        >>> scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=30)
    """

    state_keys = frozenset({"velocity"})
    lookahead_buffer = "velocity"  # the last step itself

    def __init__(self, base_optimizer: Optimizer, sigma: float = 2.0) -> None:
        if not isinstance(base_optimizer, Optimizer):
            raise TypeError(
                f"SuperAccelerate needs a torch.optim.Optimizer, got {type(base_optimizer).__name__}"
            )
        if isinstance(base_optimizer, SuperOptimizer):
            raise TypeError(f"{type(base_optimizer).__name__} is already super-accelerated")
        if isinstance(base_optimizer, torch.optim.LBFGS):
            raise TypeError("SuperAccelerate does not support LBFGS: it evaluates the closure several times per "
                            "step at points of its own, so there is no single last step to look ahead by")
        self.base_optimizer = base_optimizer
        # Optimizer.__init__ re-adds the base's group dicts themselves (add_param_group keeps
        # the dict), so both optimizers see one set of groups: sigma lands in the base's.
        super().__init__(base_optimizer.param_groups, {"sigma": sigma})
        self.defaults = {**base_optimizer.defaults, **self.defaults}

    def __repr__(self) -> str:
        return f"SuperAccelerate({self.base_optimizer!r})"

    def __getstate__(self) -> dict[str, Any]:
        # torch.optim.Optimizer pickles defaults, state and param_groups only; the base
        # optimizer must travel too (copy.deepcopy, torch.save of the optimizer)
        return {**super().__getstate__(), "base_optimizer": self.base_optimizer}

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group to both optimizers: the base fills in its own defaults in the same dict."""
        super().add_param_group(param_group)
        base_groups = self.base_optimizer.param_groups
        if not any(group is param_group for group in base_groups):
            self.base_optimizer.add_param_group(param_group)

    @torch.no_grad()
    def step(self, closure=None):
        """Perform a single optimization step (see the class docstring)."""
        self._check_can_step()
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        stepped = [self._params_with_grad(group) for group in self.param_groups]
        buckets = [self._buckets(params) for params in stepped]
        for group, group_buckets in zip(self.param_groups, buckets, strict=True):
            for params, velocities in group_buckets:
                foreach_add_scaled_(params, velocities, -kernel_scalar(group["applied_sigma"], params[0]))  # θ_t
                torch._foreach_copy_(velocities, params)  # keep θ_t to difference later
        self.base_optimizer.step()
        for group, params_with_grad, group_buckets in zip(self.param_groups, stepped, buckets, strict=True):
            for params, velocities in group_buckets:
                torch._foreach_sub_(velocities, params)  # θ_t - θ_{t+1} = -s_t
                torch._foreach_neg_(velocities)
                foreach_add_scaled_(params, velocities, kernel_scalar(group["sigma"], params[0]))  # θ_{t+1} + σ s_t
            self._finish_group(group, params_with_grad)
        return loss

    def _buckets(self, params: list[Tensor]) -> list[tuple[list[Tensor], list[Tensor]]]:
        """(params, velocities) as real views, bucketed by device and dtype."""
        if not params:
            return []
        ps, vs = list(params), [self._buffer(p, "velocity") for p in params]
        as_real(ps, vs)
        return [(bucket_ps, bucket_vs) for bucket_ps, bucket_vs in group_by_device_and_dtype([ps, vs])]

    def state_dict(self) -> dict[str, Any]:
        """One state_dict for both optimizers, in torch's layout: the groups are shared, and
        each parameter's entry holds the last step (``velocity``) beside the base optimizer's
        state, whose keys are prefixed ``base:`` (tools that rewrite a state_dict's layout,
        such as ``torch.distributed.checkpoint``, keep it whole)."""
        state = super().state_dict()
        for index, entry in self.base_optimizer.state_dict()["state"].items():
            state["state"].setdefault(index, {}).update({BASE + key: value for key, value in entry.items()})
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError("SuperAccelerate.load_state_dict: expected a dict with 'state' and 'param_groups'")
        own, base = {}, {}
        for index, entry in state_dict["state"].items():
            own[index] = {key: value for key, value in entry.items() if not key.startswith(BASE)}
            base[index] = {key[len(BASE):]: value for key, value in entry.items() if key.startswith(BASE)}
        groups = state_dict["param_groups"]
        super().load_state_dict({"state": {i: e for i, e in own.items() if e}, "param_groups": groups})
        for group in self.param_groups:
            check_sigma(group["sigma"])
        self.base_optimizer.load_state_dict({"state": {i: e for i, e in base.items() if e}, "param_groups": groups})
        # Both loads built new group dicts; share one set again.
        self.base_optimizer.param_groups = self.param_groups


#: the prefix of the base optimizer's per-parameter state in SuperAccelerate's state_dict
BASE = "base:"
