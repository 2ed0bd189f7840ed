"""A bfloat16 and a float32 parameter group in one optimizer, on every path and under
``torch.compile(opt.step)``: steps run, a checkpoint taken mid-run resumes exactly, and
``eval()`` recovers θ within each dtype's precision (against the same state in float64)."""

from __future__ import annotations

import io

import pytest
import torch

from .optim_db import OptimInfo, native_db

STEPS = 8
#: how far θ from eval() may be from θ computed in float64 from the same φ and state
PRECISION = {torch.bfloat16: 2**-7, torch.float32: 1e-6}


def model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 6).to(torch.bfloat16), torch.nn.Linear(6, 2))


def groups(net: torch.nn.Module) -> list[dict]:
    low, high = net
    return [{"params": list(low.parameters())}, {"params": list(high.parameters())}]


def batch(i: int) -> torch.Tensor:
    return torch.randn(8, 4, generator=torch.Generator().manual_seed(i))


def loss(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    low, high = net
    return high(low(x.to(torch.bfloat16)).float()).square().mean()


def weights(net: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def train(net, optimizer, step, steps: range) -> None:
    for i in steps:
        optimizer.zero_grad()
        loss(net, batch(i)).backward()
        step()


def saved(optimizer) -> dict:
    buffer = io.BytesIO()
    torch.save(optimizer.state_dict(), buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def cases() -> list:
    out = [pytest.param(info, impl, False, id=f"{info.name}-{impl}") for info in native_db for impl in info.impls]
    out += [pytest.param(info, impl, True, id=f"{info.name}-{impl}-compiled_step") for info in native_db
            for impl in ("foreach", "fused")]
    return out


@pytest.mark.parametrize("info, impl, compiled_step", cases())
def test_bfloat16_and_float32_groups_step_resume_exactly_and_recover_theta(info: OptimInfo, impl, compiled_step):
    net = model()
    optimizer = info.make(groups(net), sigma=3.0, **info.impl_kwargs(impl))
    torch._dynamo.reset()  # a fresh cache: Dynamo would fall back to eager past its recompile limit
    step = torch.compile(optimizer.step, fullgraph=True) if compiled_step else optimizer.step
    train(net, optimizer, step, range(STEPS // 2))
    assert [p.dtype for p in net.parameters()] == [torch.bfloat16] * 2 + [torch.float32] * 2
    middle_weights, middle_state = weights(net), saved(optimizer)
    train(net, optimizer, step, range(STEPS // 2, STEPS))
    uninterrupted = weights(net)
    # resume: the same objects put back to the middle (a compiled step stays compiled)
    with torch.no_grad():
        for p, w in zip(net.parameters(), middle_weights, strict=True):
            p.copy_(w)
    optimizer.load_state_dict(middle_state)
    train(net, optimizer, step, range(STEPS // 2, STEPS))
    assert all(torch.equal(a, b) for a, b in zip(weights(net), uninterrupted, strict=True))
    for p, state in optimizer.state.items():  # buffers keep their parameter's dtype
        assert all(v.dtype == p.dtype for k, v in state.items() if k != "step")

    # θ: eval() in each group's dtype against the same φ and state upcast to float64
    wide = model()
    wide.double()
    with torch.no_grad():
        for p, w in zip(wide.parameters(), net.parameters(), strict=True):
            p.copy_(w)
    reference = info.make(groups(wide), sigma=3.0)
    reference.load_state_dict(saved(optimizer))  # the state takes each parameter's dtype: float64
    optimizer.eval()
    reference.eval()
    for p, exact in zip(net.parameters(), wide.parameters(), strict=True):
        tolerance = PRECISION[p.dtype]
        torch.testing.assert_close(p.double(), exact.detach(), rtol=tolerance,
                                   atol=tolerance * exact.abs().max().item())
