"""Mini-batches drawn without replacement, reshuffled every epoch."""

from __future__ import annotations

from collections.abc import Iterator

import torch


def epoch_batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless index tensors of ``batch_size`` covering each shuffled epoch of ``n`` items
    once (the last partial batch of an epoch is dropped, as with ``drop_last=True``)."""
    if not 1 <= batch_size <= n:
        raise ValueError(f"Invalid batch_size: {batch_size} (must be between 1 and {n})")
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start: start + batch_size]
