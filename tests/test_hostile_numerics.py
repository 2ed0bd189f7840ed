"""Hostile gradient streams on every optimizer × σ (fixed, a schedule, "auto") × path × dtype.

The property: no exception, σ stays a finite number in its bounds, and ours holds nothing
non-finite at a step where torch's counterpart of the same method (tests/optim_db.py), fed
the same stream, still holds finite parameters.  NaN and inf gradients propagate, as in
torch (a GradScaler skips such steps: tests/test_reliability.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from superaccel import LinearSigma, auto_sigma

from .optim_db import OptimInfo, optim_db

DTYPES = (torch.float64, torch.float32, torch.bfloat16)
SHAPES = ((4, 3), (5,))
STEPS = 24

#: a stream gives the gradient of step i for a parameter, in the parameter's dtype
Stream = Callable[[int, torch.Tensor], torch.Tensor]


def _normal(i: int, param: torch.Tensor) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1000 * i + param.numel())
    return torch.randn(param.shape, generator=generator).to(param.dtype)


def _with_event(at: tuple[int, ...], value: Callable[[torch.dtype], float]) -> Stream:
    """Normal gradients, one element replaced by ``value`` at the steps ``at``."""
    def stream(i: int, param: torch.Tensor) -> torch.Tensor:
        grad = _normal(i, param)
        if i in at:
            grad.view(-1)[0] = value(param.dtype)
        return grad

    return stream


STREAMS: dict[str, Stream] = {
    "zero": lambda i, p: torch.zeros_like(p),
    "subnormal": lambda i, p: torch.full_like(p, torch.finfo(p.dtype).tiny / 4) * (-1) ** i,
    "smallest normal": lambda i, p: torch.full_like(p, torch.finfo(p.dtype).tiny),
    "1e-300 (float64)": lambda i, p: torch.full_like(p, 1e-300 if p.dtype == torch.float64 else 0.0),
    # ½‖θ‖² from a start whose square is near underflow: the iterates and every sum over them vanish
    "converging to underflow": lambda i, p: p.detach().clone(),
    "huge spikes": _with_event((5, 13), lambda dtype: 1e200 if dtype == torch.float64 else 1e30),
    "alternating signs": lambda i, p: torch.full_like(p, 1.0 if i % 2 else -1.0),
    "nan": _with_event((7,), lambda dtype: math.nan),
    "inf": _with_event((7,), lambda dtype: math.inf),
}

SIGMAS = ("fixed", "schedule", "auto")


def cases() -> list:
    out = []
    for info in optim_db:
        for sigma in SIGMAS:
            if sigma == "auto" and not info.native:
                continue
            for impl in info.impls:
                for dtype in DTYPES:
                    name = f"{info.name}-{sigma}-{impl}-{str(dtype).removeprefix('torch.')}"
                    out.append(pytest.param(info, sigma, impl, dtype, id=name))
    return out


def start(dtype: torch.dtype, stream: str, shapes: tuple = SHAPES) -> list[torch.nn.Parameter]:
    scale = math.sqrt(torch.finfo(dtype).tiny) * 4 if stream == "converging to underflow" else 1.0
    generator = torch.Generator().manual_seed(0)
    return [torch.nn.Parameter((scale * torch.randn(shape, generator=generator, dtype=torch.float64)).to(dtype))
            for shape in shapes]


def finite(params: list[torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in params)


def build(info: OptimInfo, sigma: str, impl: str, params: list) -> tuple[torch.optim.Optimizer, list]:
    kwargs = {"sigma": "auto"} if sigma == "auto" else {"sigma": 5.0}
    optimizer = info.make(params, **kwargs, **info.impl_kwargs(impl))
    schedulers = [LinearSigma(optimizer, start=5.0, end=2.0, total_steps=STEPS // 2)] if sigma == "schedule" else []
    return optimizer, schedulers


def assert_finite_while_torch_is(name: str, stream: Stream, ours: list, optimizer, schedulers: list, theirs: list,
                                 reference: torch.optim.Optimizer, steps: int = STEPS) -> None:
    """Feed ``stream`` to both optimizers: no exception, σ a finite number in its bounds, and
    ours finite (φ at every step, θ at the end) wherever the reference is."""
    for i in range(steps):
        for params, opt in ((ours, optimizer), (theirs, reference)):
            for p in params:
                p.grad = stream(i, p)
            opt.step()
        for scheduler in schedulers:
            scheduler.step()
        for group in optimizer.param_groups:
            assert math.isfinite(group["sigma"]) and 0 <= group["sigma"] <= max(5.0, auto_sigma.SIGMA_MAX), \
                f"{name}, step {i}: sigma {group['sigma']}"
        if finite(theirs):
            assert finite(ours), f"{name}, step {i}: non-finite where {type(reference).__name__} is finite"
    if finite(theirs):
        optimizer.eval()
        assert finite(ours), f"{name}: θ non-finite where {type(reference).__name__} is finite"


@pytest.mark.parametrize("info, sigma, impl, dtype", cases())
def test_no_hostile_stream_makes_an_optimizer_raise_or_go_non_finite_before_torch(info, sigma, impl, dtype):
    for name, stream in STREAMS.items():
        shapes = tuple(info.shape(*size) for size in SHAPES)
        ours, theirs = start(dtype, name, shapes), start(dtype, name, shapes)
        optimizer, schedulers = build(info, sigma, impl, ours)
        assert_finite_while_torch_is(name, stream, ours, optimizer, schedulers, theirs, info.counterpart(theirs))
