"""One training loop for the experiments, the command line and the benchmarks.

Evaluations run at θ (:func:`superaccel.at_theta`); a progress bar appears when the loop runs
on a terminal.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import torch
from tqdm.auto import tqdm

from superaccel import at_theta

__all__ = ["train", "TrainResult", "Combined"]

T = TypeVar("T")


class Combined(torch.optim.Optimizer):
    """Several optimizers stepped as one, e.g. Muon for a transformer's hidden matrices and
    AdamW for the rest: one list of their param groups (the groups themselves, so an lr
    scheduler built on this one drives them all), ``step``, ``zero_grad``, ``state_dict``, and
    ``train()``/``eval()`` on those that have them (:func:`superaccel.at_theta` works on it)."""

    def __init__(self, *optimizers: torch.optim.Optimizer) -> None:
        # not Optimizer.__init__: the parameters belong to the optimizers given
        self.optimizers = optimizers
        self.defaults: dict[str, Any] = {}
        self.state: dict = {}

    @property
    def param_groups(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return [group for optimizer in self.optimizers for group in optimizer.param_groups]

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        loss = closure() if closure is not None else None
        for optimizer in self.optimizers:
            optimizer.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none)

    def train(self, mode: bool = True) -> Combined:
        for optimizer in self.optimizers:
            if hasattr(optimizer, "train"):
                optimizer.train(mode)
        return self

    def eval(self) -> Combined:
        return self.train(False)

    def state_dict(self) -> dict[str, Any]:  # type: ignore[override]
        return {"optimizers": [optimizer.state_dict() for optimizer in self.optimizers]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:  # type: ignore[override]
        for optimizer, state in zip(self.optimizers, state_dict["optimizers"], strict=True):
            optimizer.load_state_dict(state)

    def __repr__(self) -> str:
        return "Combined(" + ", ".join(type(o).__name__ for o in self.optimizers) + ")"


@dataclass
class TrainResult(Generic[T]):
    """What :func:`train` saw: evaluations at θ (and at φ, if asked), by step."""

    evaluations: list[tuple[int, T]] = field(default_factory=list)
    lookahead_evaluations: list[tuple[int, T]] = field(default_factory=list)
    #: the step at which the loss or an evaluation stopped being finite (training stops)
    diverged_at: int | None = None
    #: the step at which ``stop`` returned True (training stops)
    stopped_at: int | None = None
    #: wall time spent in training steps (forward, backward, optimizer), evaluations excluded
    train_seconds: float = 0.0

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None


def train(
    optimizer: torch.optim.Optimizer,
    loss: Callable[[], torch.Tensor],
    steps: int,
    *,
    evaluate: Callable[[int], T],
    eval_every: int = 1,
    diverged: Callable[[T], bool] | None = None,
    stop: Callable[[T], bool] | None = None,
    evaluate_lookahead: Callable[[int], T] | None = None,
    lookahead_every: int = 1,
    progress: str | None = None,
    schedulers: Sequence[Any] = (),
    clip_grad_norm: float | None = None,
) -> TrainResult[T]:
    """Train for ``steps`` steps, evaluating at θ every ``eval_every`` steps and at the last.

    Each step: ``optimizer.zero_grad()``, ``loss().backward()``, ``optimizer.step()``.
    ``evaluate(step)`` runs inside :func:`at_theta` before the step (step 0 is the start);
    ``evaluate_lookahead(step)``, if given, runs at the point the parameters hold while
    training, every ``lookahead_every`` steps.  Training stops early, recording the step,
    when the loss is not finite or ``diverged(evaluation)`` says so, or when
    ``stop(evaluation)`` is true (a target reached).  ``progress`` names a progress bar.
    ``schedulers`` (lr or σ schedulers) are stepped after every optimizer step.
    ``clip_grad_norm`` clips the gradients of the optimizer's parameters to that total norm
    before each step.
    """
    result: TrainResult[T] = TrainResult()
    for step in _progress(range(steps + 1), progress):
        last = step == steps
        if evaluate_lookahead is not None and (step % lookahead_every == 0 or last):
            result.lookahead_evaluations.append((step, evaluate_lookahead(step)))
        if step % eval_every == 0 or last:
            with at_theta(optimizer):
                value = evaluate(step)
            result.evaluations.append((step, value))
            if diverged is not None and diverged(value):
                result.diverged_at = step
                break
            if stop is not None and stop(value):
                result.stopped_at = step
                break
        if last:
            break
        start = time.perf_counter()
        optimizer.zero_grad()
        value = loss()
        if not math.isfinite(value.item()):
            result.diverged_at = step
            break
        value.backward()
        if clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]],
                                           clip_grad_norm)
        optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
        result.train_seconds += time.perf_counter() - start
    return result


def _progress(iterable: Any, description: str | None) -> Any:
    if description is None:
        return iterable
    return tqdm(iterable, desc=description, leave=False, disable=None)
