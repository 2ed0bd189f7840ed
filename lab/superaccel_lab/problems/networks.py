"""The paper's MNIST networks (Nielsen, Neural Networks and Deep Learning, ch. 1-3)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["nielsen_network", "quadratic_cost", "accuracy", "COST_READINGS"]

COST_READINGS = ("nielsen", "euclidean")


def nielsen_network(sizes: Sequence[int] = (784, 30, 10), seed: int = 0) -> nn.Sequential:
    """Sigmoid layers (output too); weights N(0, 1/n_in), biases N(0, 1), from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        linear = nn.Linear(n_in, n_out)
        with torch.no_grad():
            linear.weight.copy_(torch.randn(n_out, n_in, generator=generator) / n_in**0.5)
            linear.bias.copy_(torch.randn(n_out, generator=generator))
        layers += [linear, nn.Sigmoid()]
    return nn.Sequential(*layers)


def quadratic_cost(outputs: torch.Tensor, labels: torch.Tensor, reading: str = "nielsen") -> torch.Tensor:
    """Cost against the one-hot target, averaged over images.

    ``"nielsen"``: ½‖y − a‖² (Nielsen's quadratic cost, used by default). ``"euclidean"``:
    ‖y − a‖, the paper's words read literally ("the Euclidean distance of the output from
    the one-hot vector").
    """
    target = nn.functional.one_hot(labels, outputs.shape[1]).to(outputs.dtype)
    squared = ((target - outputs) ** 2).sum(dim=1)
    if reading == "nielsen":
        return 0.5 * squared.mean()
    if reading == "euclidean":
        return squared.sqrt().mean()
    raise ValueError(f"Invalid cost reading: {reading!r} (choose from {', '.join(COST_READINGS)})")


def accuracy(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    return (outputs.argmax(dim=1) == labels).float().mean().item()
