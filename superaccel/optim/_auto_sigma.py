"""``sigma="auto"`` for the PyTorch optimizers: the three sums a step reports over its tensors
and the estimator's state as it lives in a param group.

The rule itself is :mod:`superaccel.auto_sigma` (plain Python, shared with the optax port).
Its state is kept in ``group["auto_sigma"]`` as plain floats (``None`` before the first
estimate), hence in ``state_dict()``; reading the sums costs one device synchronization per
step.  With FSDP2 the sharded parameters' partial sums are all-reduced, with DDP the
gradients are already equal on every rank, so every rank computes the same σ.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ..auto_sigma import SIGMA_MAX, Estimate, StepSums, choose_sigma
from ..rules import HeavyBall

__all__ = ["new_state", "choose", "inner_products"]


def new_state(sigma_max: float = SIGMA_MAX) -> dict[str, Any]:
    """The estimator's state for one parameter group, before any step."""
    if not (math.isfinite(sigma_max) and sigma_max > 0):
        raise ValueError(f"Invalid sigma_max value: {sigma_max}")
    return {"sigma_max": float(sigma_max), "low": None, "high": None, "projection": None, "displacement": None,
            "cosine": None}


def choose(state: dict[str, Any], sums: StepSums, form: HeavyBall, sigma: float) -> float:
    """Update the group's ``state`` with this step and return the σ of the look-ahead it forms."""
    estimated, primed = state["low"] is not None, state["projection"] is not None
    estimate = Estimate(state["low"] or 0.0, state["high"] or 0.0, state["projection"] or 0.0,
                        state["displacement"] or 0.0, state["cosine"] or 0.0, estimated, primed)
    sigma, estimate = choose_sigma(estimate, sums, form, sigma, sigma_max=state["sigma_max"])
    state.update(low=estimate.low if estimate.estimated else None, high=estimate.high if estimate.estimated else None,
                 projection=estimate.projection, displacement=estimate.displacement, cosine=estimate.cosine)
    return sigma


def inner_products(xs: list[Tensor], bs: list[Tensor], denominators: list[Tensor] | None = None) -> StepSums:
    """(Σ⟨x, b⟩, Σ‖x‖², Σ‖b‖²) over the tensors, in the metric weighted by 1/``denominators``
    if given; complex tensors as real pairs; the partial sums of sharded DTensors (FSDP2)
    all-reduced."""
    local: list[Tensor] = []
    sharded: list[Tensor] = []
    for index, (x, b) in enumerate(zip(xs, bs, strict=True)):
        w = None if denominators is None else denominators[index]
        target = local
        if hasattr(x, "to_local"):  # a DTensor: work on the local shard
            if any(placement.is_shard() for placement in x.placements):
                target = sharded
            x, b, w = x.to_local(), b.to_local(), None if w is None else w.to_local()
        x, b = _real(x), _real(b)
        x_w, b_w = (x, b) if w is None else (x / _real(w), b / _real(w))
        target.append(torch.stack([(x_w * b).sum(), (x_w * x).sum(), (b_w * b).sum()]).double())
    total = torch.zeros(3, dtype=torch.float64)
    if local:
        total += torch.stack(local).sum(0).cpu()
    if sharded:
        partial = torch.stack(sharded).sum(0)
        mesh = next(x for x in xs if hasattr(x, "to_local") and any(p.is_shard() for p in x.placements)).device_mesh
        torch.distributed.all_reduce(partial, group=mesh.get_group())
        total += partial.cpu()
    q, n, b = total.tolist()
    return StepSums(q, n, b)


def _real(tensor: Tensor) -> Tensor:
    return torch.view_as_real(tensor) if tensor.is_complex() else tensor
