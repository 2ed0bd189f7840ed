"""What the framework callbacks share: finding the look-ahead optimizers behind a
framework's wrappers, moving them between θ and φ, and driving their σ schedulers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch.optim import Optimizer
from torch.utils.hooks import RemovableHandle

from ..optim.schedules import attached_sigma_schedulers


def unwrap(optimizer: Any) -> Any:
    """The optimizer inside framework wrappers (Accelerate's ``AcceleratedOptimizer``,
    Lightning's ``LightningOptimizer``), which keep it in ``.optimizer``."""
    seen = set()
    while isinstance(getattr(optimizer, "optimizer", None), Optimizer) and id(optimizer) not in seen:
        seen.add(id(optimizer))
        optimizer = optimizer.optimizer
    return optimizer


def lookahead_optimizers(optimizers: Iterable[Any]) -> list[Optimizer]:
    """The optimizers, unwrapped, that keep a training point apart from θ: those with
    ``train()`` and ``eval()`` (superaccel's and schedule-free's).  Others are left alone."""
    found = []
    for optimizer in optimizers:
        if optimizer is None:
            continue
        optimizer = unwrap(optimizer)
        if callable(getattr(optimizer, "train", None)) and callable(getattr(optimizer, "eval", None)):
            found.append(optimizer)
    return found


def in_train_mode(optimizer: Optimizer) -> bool:
    return any(group.get("train_mode", False) for group in optimizer.param_groups)


def to_theta(optimizers: Iterable[Optimizer]) -> None:
    for optimizer in optimizers:
        optimizer.eval()


def to_lookahead(optimizers: Iterable[Optimizer]) -> None:
    for optimizer in optimizers:
        optimizer.train()


class SigmaSchedulerDriver:
    """Steps the σ schedulers built on the optimizers once after every optimizer step (a
    step-post hook, so a step that a gradient scaler skips does not advance σ), and saves
    and restores their positions."""

    def __init__(self) -> None:
        self._handles: list[RemovableHandle] = []

    def attach(self, optimizers: list[Optimizer]) -> None:
        self.detach()
        for optimizer in optimizers:
            schedulers = attached_sigma_schedulers(optimizer)
            if schedulers:
                self._handles.append(optimizer.register_step_post_hook(_stepper(schedulers)))

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    @staticmethod
    def state(optimizers: list[Optimizer]) -> list[list[dict[str, Any]]]:
        return [[scheduler.state_dict() for scheduler in attached_sigma_schedulers(optimizer)]
                for optimizer in optimizers]

    @staticmethod
    def restore(optimizers: list[Optimizer], states: list[list[dict[str, Any]]]) -> None:
        if len(states) != len(optimizers):
            raise ValueError(f"the checkpoint holds σ schedulers for {len(states)} optimizers, this run has "
                             f"{len(optimizers)} look-ahead optimizers")
        for index, (optimizer, saved) in enumerate(zip(optimizers, states, strict=True)):
            schedulers = attached_sigma_schedulers(optimizer)
            if len(saved) != len(schedulers):
                raise ValueError(f"the checkpoint holds {len(saved)} σ schedulers for optimizer {index}, this run "
                                 f"built {len(schedulers)} on it")
            for scheduler, state in zip(schedulers, saved, strict=True):
                scheduler.load_state_dict(state)


def _stepper(schedulers: list) -> Any:
    def step_schedulers(optimizer: Optimizer, args: Any, kwargs: Any) -> None:
        for scheduler in schedulers:
            scheduler.step()

    return step_schedulers
