r"""Schedules for the super-acceleration σ, in the manner of ``torch.optim.lr_scheduler``.

The paper (Section 6) recommends starting with a large σ, around 5, for fast initial
minimization and lowering it to about 2 to avoid the spurious attractors that large σ
creates on strongly nonlinear landscapes.  :class:`LinearSigma` does exactly that.

A σ scheduler writes ``group["sigma"]``; the optimizer uses it for the look-ahead formed
at its next ``step()``, and θ is never moved by the change.  σ schedulers touch only
``sigma`` and lr schedulers only ``lr``, so both can drive one optimizer::

    opt = SuperSGD(model.parameters(), lr=0.1, sigma=5.0)
    sigma_sched = LinearSigma(opt, start=5.0, end=2.0, total_steps=1000)
    lr_sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=1000)
    for batch in loader:
        ...
        opt.step()
        sigma_sched.step()
        lr_sched.step()

Each scheduler is recorded on its optimizer (:func:`attached_sigma_schedulers`), so that the
framework callbacks in :mod:`superaccel.integrations` can step, save and restore it: with one
of them, create the scheduler and leave the stepping to the callback.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from torch.optim import Optimizer

from ._core import check_sigma

__all__ = ["SigmaScheduler", "LinearSigma", "CosineSigma", "LambdaSigma", "attached_sigma_schedulers"]

#: Attribute of an optimizer that lists the σ schedulers built on it (not in its state_dict).
_REGISTRY = "_sigma_schedulers"


def attached_sigma_schedulers(optimizer: Optimizer) -> list[SigmaScheduler]:
    """The σ schedulers built on ``optimizer``, oldest first."""
    return list(optimizer.__dict__.get(_REGISTRY, ()))


class SigmaScheduler:
    """Base class: subclasses implement :meth:`sigma_at` (σ for each group at a step count).

    Like ``LRScheduler``, construction applies the value for step 0, and each
    :meth:`step` advances ``last_step`` by one and applies the next value.
    """

    def __init__(self, optimizer: Optimizer, last_step: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        if not all("sigma" in group for group in optimizer.param_groups):
            raise TypeError(
                f"{type(optimizer).__name__} has no 'sigma' hyperparameter; schedule a "
                "superaccel optimizer or wrap this one in SuperAccelerate"
            )
        if any(group.get("auto_sigma") for group in optimizer.param_groups):
            raise ValueError(f"{type(optimizer).__name__} chooses σ itself (sigma='auto'); a σ schedule would be "
                             "overwritten every step")
        self.optimizer = optimizer
        self.last_step = last_step
        self.step()
        optimizer.__dict__.setdefault(_REGISTRY, []).append(self)

    def sigma_at(self, step: int) -> list[float]:
        raise NotImplementedError

    def step(self) -> None:
        self.last_step += 1
        values = self.sigma_at(self.last_step)
        for value in values:
            check_sigma(value)
        for group, value in zip(self.optimizer.param_groups, values, strict=True):
            group["sigma"] = value
        self._last_sigma = list(values)

    def get_last_sigma(self) -> list[float]:
        """σ of each group as last set by this scheduler."""
        return self._last_sigma

    def state_dict(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "optimizer" and not callable(value)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)


class _AnnealSigma(SigmaScheduler):
    """σ goes from ``start`` to ``end`` over ``total_steps`` along :meth:`shape`, then stays."""

    def __init__(self, optimizer: Optimizer, start: float = 5.0, end: float = 2.0,
                 total_steps: int = 1000, last_step: int = -1) -> None:
        check_sigma(start)
        check_sigma(end)
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"Invalid total_steps: {total_steps!r}")
        self.start, self.end, self.total_steps = start, end, total_steps
        super().__init__(optimizer, last_step)

    @staticmethod
    def shape(fraction: float) -> float:
        """Progress in [0, 1] at the given fraction of ``total_steps``."""
        raise NotImplementedError

    def sigma_at(self, step: int) -> list[float]:
        progress = self.shape(min(step, self.total_steps) / self.total_steps)
        return [self.start + (self.end - self.start) * progress] * len(self.optimizer.param_groups)


class LinearSigma(_AnnealSigma):
    """σ moves linearly from ``start`` to ``end`` over ``total_steps``, then stays at ``end``.

    The paper's recommendation is ``LinearSigma(opt, start=5.0, end=2.0, total_steps=...)``.
    """

    @staticmethod
    def shape(fraction: float) -> float:
        return fraction


class CosineSigma(_AnnealSigma):
    """σ follows half a cosine from ``start`` to ``end`` over ``total_steps``."""

    @staticmethod
    def shape(fraction: float) -> float:
        return 0.5 * (1 - math.cos(math.pi * fraction))


class LambdaSigma(SigmaScheduler):
    """σ of every group is ``sigma_lambda(step)`` (or one function per group)."""

    def __init__(self, optimizer: Optimizer,
                 sigma_lambda: Callable[[int], float] | list[Callable[[int], float]],
                 last_step: int = -1) -> None:
        groups = len(optimizer.param_groups)
        functions = sigma_lambda if isinstance(sigma_lambda, (list, tuple)) else [sigma_lambda] * groups
        if len(functions) != groups:
            raise ValueError(f"Expected {groups} sigma lambdas, got {len(functions)}")
        self.sigma_lambdas = list(functions)
        super().__init__(optimizer, last_step)

    def sigma_at(self, step: int) -> list[float]:
        return [float(fn(step)) for fn in self.sigma_lambdas]

    def state_dict(self) -> dict[str, Any]:
        # Functions are not saved, as with torch's LambdaLR.
        return {k: v for k, v in super().state_dict().items() if k != "sigma_lambdas"}

