"""A long run with an lr schedule and a σ schedule, checkpointed half-way through
``torch.distributed.checkpoint`` (``get_optimizer_state_dict``/``set_optimizer_state_dict``,
``dcp.save``/``dcp.load``) at θ, as a training framework saves: the resumed run ends bit for
bit where the uninterrupted one does, every optimizer."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import (
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from superaccel import LinearSigma, at_theta

from .optim_db import optims

STEPS = 2000
CHECKPOINT = 1000


def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(step)
    x = torch.randn(32, 8, generator=generator)
    return x, torch.sin(x.sum(dim=1, keepdim=True))


def fresh(info):
    torch.manual_seed(0)
    model = torch.nn.Sequential(info.linear(8, 32), torch.nn.Tanh(), info.linear(32, 1))
    optimizer = info.make(model.parameters(), sigma=5.0)
    lr_schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * step / STEPS)))
    sigma_schedule = LinearSigma(optimizer, start=5.0, end=2.0, total_steps=STEPS // 2)
    return model, optimizer, lr_schedule, sigma_schedule


def train(model, optimizer, lr_schedule, sigma_schedule, steps: range) -> None:
    for step in steps:
        x, y = batch(step)
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        lr_schedule.step()
        sigma_schedule.step()


def checkpoint_state(model, optimizer, lr_schedule, sigma_schedule) -> dict:
    return {"model": get_model_state_dict(model), "optimizer": get_optimizer_state_dict(model, optimizer),
            "lr_schedule": lr_schedule.state_dict(), "sigma_schedule": sigma_schedule.state_dict()}


@optims()
def test_a_long_run_resumed_from_a_distributed_checkpoint_equals_the_uninterrupted_one(info, tmp_path):
    warnings.filterwarnings("ignore", "torch.distributed is disabled", UserWarning)
    run = fresh(info)
    train(*run, range(CHECKPOINT))
    with at_theta(run[1]):  # saved at θ, the optimizer in eval mode, as the framework callbacks do
        dcp.save(checkpoint_state(*run), checkpoint_id=tmp_path)
    train(*run, range(CHECKPOINT, STEPS))
    uninterrupted = [p.detach().clone() for p in run[0].parameters()]

    resumed = fresh(info)
    state = checkpoint_state(*resumed)
    dcp.load(state, checkpoint_id=tmp_path)
    model, optimizer, lr_schedule, sigma_schedule = resumed
    set_model_state_dict(model, state["model"])
    set_optimizer_state_dict(model, optimizer, state["optimizer"])
    lr_schedule.load_state_dict(state["lr_schedule"])
    sigma_schedule.load_state_dict(state["sigma_schedule"])
    assert not any(group["train_mode"] for group in optimizer.param_groups)
    optimizer.train()
    train(*resumed, range(CHECKPOINT, STEPS))
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), uninterrupted, strict=True))
    assert sigma_schedule.get_last_sigma() == run[3].get_last_sigma() == [2.0] * len(optimizer.param_groups)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(run[1].param_groups[0]["lr"], abs=0)
