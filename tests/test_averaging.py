"""Averages of θ in a hand-written loop: torch's AveragedModel updated inside at_theta, and
``lerp_to_theta_``, which computes θ from the parameters and the optimizer's state without
moving them; both against an average of the θ trajectory taken by hand (eval() after
every step).  Lightning's weight averaging: tests/test_integrations.py."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from superaccel import at_theta

from .optim_db import optims

STEPS = 15
DECAY = 0.8


def setup(info, dtype=torch.float64, **kwargs):
    torch.manual_seed(0)
    model = torch.nn.Sequential(info.linear(4, 6), torch.nn.Tanh(), info.linear(6, 2)).to(dtype)
    x = torch.randn(16, 4, dtype=dtype)
    optimizer = info.make(model.parameters(), sigma=3.0, **kwargs)
    return model, x, optimizer


def step(model, x, optimizer):
    optimizer.zero_grad()
    model(x).square().mean().backward()
    optimizer.step()


def thetas(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


@optims()
def test_averaged_model_updated_at_theta_is_the_ema_of_theta(info):
    model, x, optimizer = setup(info)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(DECAY))
    hand = None
    for _ in range(STEPS):
        step(model, x, optimizer)
        with at_theta(optimizer):
            ema.update_parameters(model)
            theta = thetas(model)
        hand = theta if hand is None else [h.lerp_(t, 1 - DECAY) for h, t in zip(hand, theta, strict=True)]
    for average, expected in zip(ema.module.parameters(), hand, strict=True):
        torch.testing.assert_close(average, expected, rtol=1e-14, atol=1e-15)


@optims()
@pytest.mark.parametrize("mode", ["train", "eval every 5"])
def test_lerp_to_theta_is_the_ema_of_theta_without_moving_the_parameters(info, mode):
    model, x, optimizer = setup(info)
    average = copy.deepcopy(model)  # θ₀: no step yet
    hand = thetas(model)
    for i in range(STEPS):
        step(model, x, optimizer)
        if mode == "eval every 5" and i % 5 == 4:
            optimizer.eval()  # in eval mode the parameters are θ: averaged as they are
        phi = thetas(model)
        optimizer.lerp_to_theta_(average.parameters(), model.parameters(), 1 - DECAY)
        assert all(torch.equal(a, b) for a, b in zip(phi, thetas(model), strict=True))  # nothing moved
        with at_theta(optimizer):
            hand = [h.lerp_(t, 1 - DECAY) for h, t in zip(hand, thetas(model), strict=True)]
        optimizer.train()
    for averaged, expected in zip(average.parameters(), hand, strict=True):
        torch.testing.assert_close(averaged, expected, rtol=1e-13, atol=1e-14)


@optims()
def test_a_float32_average_of_bfloat16_weights(info):
    model, x, optimizer = setup(info, dtype=torch.bfloat16)
    average = [p.detach().float() for p in model.parameters()]
    hand = [a.clone() for a in average]
    for _ in range(STEPS):
        step(model, x, optimizer)
        optimizer.lerp_to_theta_(average, model.parameters(), 1 - DECAY)
        with at_theta(optimizer):
            hand = [h.lerp_(t.float(), 1 - DECAY) for h, t in zip(hand, thetas(model), strict=True)]
    for averaged, expected in zip(average, hand, strict=True):
        # θ recomputed in float32 against θ moved into bfloat16 weights: bfloat16's precision
        torch.testing.assert_close(averaged, expected, rtol=2e-2, atol=2e-2)
