"""θ, the point to evaluate and keep, while the parameters hold the look-ahead point φ."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["at_theta"]


@contextlib.contextmanager
def at_theta(optimizer: torch.optim.Optimizer) -> Iterator[torch.optim.Optimizer]:
    """Inside the block the parameters hold θ (evaluate, save, export); afterwards they
    are back where they were.

    A super-accelerated optimizer trains at the look-ahead point φ: this calls its
    ``eval()`` and, on leaving, ``train()`` again if it was training.  Optimizers without
    ``eval()``/``train()`` (torch's) are left alone, so the same code serves every
    optimizer.  Every rank of a distributed run must enter the block together, as every
    rank calls ``step()``.
    """
    if not (hasattr(optimizer, "eval") and hasattr(optimizer, "train")):
        yield optimizer
        return
    was_training = all(group.get("train_mode", True) for group in optimizer.param_groups)
    optimizer.eval()
    try:
        yield optimizer
    finally:
        if was_training:
            optimizer.train()
