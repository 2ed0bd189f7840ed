"""Checkpoints across optimizers, precision, non-finite gradients, interrupted runs."""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch

from superaccel import SuperAccelerate, SuperAdam, SuperRMSprop, SuperSGD
from superaccel.cli import main

from .optim_db import native_db, optims_and_impls


def regression(seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(32, 5, generator=gen, dtype=dtype)
    return x, torch.sin(x.sum(1))


def steps(param, opt, n, x, y):
    for _ in range(n):
        opt.zero_grad()
        ((x @ param - y) ** 2).mean().backward()
        opt.step()


def assert_continues_torch(make_torch, make_ours):
    """20 steps of a torch optimizer, its state_dict loaded into ours at the same point (deep-
    copied, as through torch.save: no shared tensors), then 30 more steps each: the same
    trajectory.  Returns our optimizer."""
    x, y = regression()
    torch_param = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
    torch_opt = make_torch([torch_param])
    steps(torch_param, torch_opt, 20, x, y)
    ours = torch.nn.Parameter(torch_param.detach().clone())
    migrated = make_ours([ours])
    migrated.load_state_dict(copy.deepcopy(torch_opt.state_dict()))
    steps(torch_param, torch_opt, 30, x, y)
    steps(ours, migrated, 30, x, y)
    torch.testing.assert_close(ours, torch_param, rtol=1e-12, atol=1e-12)
    return migrated


@pytest.mark.parametrize("nesterov", [False, True])
def test_torch_sgd_checkpoint_migrates_into_super_sgd(nesterov):
    # the σ that continues the same method: g for Nesterov, 0 for the heavy ball
    assert_continues_torch(
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=nesterov, weight_decay=1e-3),
        lambda p: SuperSGD(p, lr=0.05, momentum=0.9, sigma=0.9 if nesterov else 0.0, weight_decay=1e-3))


@pytest.mark.parametrize("decoupled", [False, True])
def test_torch_adam_checkpoint_migrates_into_super_adam(decoupled):
    reference = torch.optim.AdamW if decoupled else torch.optim.Adam
    migrated = assert_continues_torch(
        lambda p: reference(p, lr=1e-2, weight_decay=1e-2),
        lambda p: SuperAdam(p, lr=1e-2, weight_decay=1e-2, decoupled_weight_decay=decoupled, sigma=0.0))
    assert migrated.param_groups[0]["decoupled_weight_decay"] is decoupled


def test_torch_rmsprop_checkpoint_migrates_into_super_rmsprop():
    assert_continues_torch(
        lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.99, eps=0.0, momentum=0.9),
        lambda p: SuperRMSprop(p, lr=1e-3, alpha=0.99, eps=0.0, momentum=0.9, sigma=0.0))


def test_migrated_run_can_switch_to_super_acceleration():
    x, y = regression()
    p = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
    torch_opt = torch.optim.SGD([p], lr=0.05, momentum=0.9, nesterov=True)
    steps(p, torch_opt, 10, x, y)
    migrated = SuperSGD([p], lr=0.05, momentum=0.9, sigma=4.0)
    migrated.load_state_dict(torch_opt.state_dict())
    assert migrated.param_groups[0]["applied_sigma"] == 0.9 and migrated.param_groups[0]["sigma"] == 4.0
    migrated.eval()  # θ = φ + 0.9·lr·b: the θ the torch run had
    theta = p.detach().clone()
    migrated.train()
    steps(p, migrated, 1, x, y)
    migrated.eval()
    assert not torch.equal(theta, p.detach())


def test_sgd_with_dampening_does_not_migrate():
    p = torch.nn.Parameter(torch.zeros(2))
    sgd = torch.optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    with pytest.raises(ValueError, match="dampening 0.5"):
        SuperSGD([p], lr=0.1).load_state_dict(sgd.state_dict())


def test_adam_with_amsgrad_does_not_migrate():
    p = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match="amsgrad"):
        SuperAdam([p]).load_state_dict(torch.optim.Adam([p], amsgrad=True).state_dict())


@pytest.mark.parametrize("source, target", [
    (lambda p: torch.optim.Adam([p]), lambda p: SuperSGD([p], lr=0.1)),
    (lambda p: SuperAdam([p]), lambda p: SuperSGD([p], lr=0.1)),
    (lambda p: SuperAdam([p]), lambda p: SuperRMSprop([p], lr=0.1)),
    (lambda p: SuperRMSprop([p], lr=0.1), lambda p: SuperAdam([p])),
    (lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9), lambda p: SuperAdam([p])),
])
def test_state_dict_of_another_optimizer_is_a_clear_error(source, target):
    p = torch.nn.Parameter(torch.ones(3))
    opt = source(p)
    p.grad = torch.ones(3)
    opt.step()
    with pytest.raises(ValueError, match="saved by another optimizer"):
        target(p).load_state_dict(opt.state_dict())


def test_mismatched_state_dict_is_a_clear_error():
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError, match="doesn't match the size"):
        SuperSGD([a, b], lr=0.1).load_state_dict(SuperSGD([a], lr=0.1).state_dict())


@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-5), (torch.bfloat16, 5e-2), (torch.float16, 1e-2)])
@optims_and_impls(native_db)
def test_low_precision_tracks_float64_and_keeps_state_in_param_dtype(dtype, tolerance, info, impl):
    """After 10 steps the low-precision run ends within ``tolerance`` (relative) of the
    float64 run, measured against how far the float64 run moved: an optimizer that did not
    move, or moved elsewhere, fails."""
    x64, y64 = regression()
    results = {}
    for dt in (torch.float64, dtype):
        p = torch.nn.Parameter(torch.zeros(5, dtype=dt))
        opt = info.make([p], sigma=2.0, **info.impl_kwargs(impl))
        steps(p, opt, 10, x64.to(dt), y64.to(dt))
        opt.eval()
        results[dt] = p.detach().double()
        for key, value in opt.state[p].items():
            if key != "step":
                assert value.dtype == dt, key
    moved = results[torch.float64].abs().max()  # the start is 0
    assert moved > 1e-2
    assert (results[dtype] - results[torch.float64]).abs().max() <= tolerance * moved


@pytest.mark.parametrize("make", [
    lambda p: (SuperSGD([p], lr=0.1), torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True)),
    lambda p: (SuperAdam([p]), torch.optim.Adam([p])),
], ids=["sgd", "adam"])
def test_non_finite_gradients_propagate_like_torch(make):
    """Neither torch.optim nor superaccel skips a step with a NaN/inf gradient: both poison θ."""
    for bad in (math.nan, math.inf):
        outcomes = []
        for opt_index in range(2):
            p = torch.nn.Parameter(torch.ones(3))
            opt = make(p)[opt_index]
            p.grad = torch.tensor([1.0, bad, 1.0])
            opt.step()
            outcomes.append(torch.isfinite(p.detach()).tolist())
        assert outcomes[0] == outcomes[1]


def test_interrupted_reproduce_leaves_no_files(tmp_path, monkeypatch):
    def interrupted_savefig(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("matplotlib.figure.Figure.savefig", interrupted_savefig)
    assert main(["reproduce", "fig7", "--quick", "--out", str(tmp_path)]) == 130
    assert list(tmp_path.iterdir()) == []


def test_wrapper_checkpoint_resumes_exactly():
    x, y = regression()
    p = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
    opt = SuperAccelerate(torch.optim.Adam([p], lr=1e-2), sigma=2.0)
    steps(p, opt, 5, x, y)
    opt.eval()
    # through torch.save, as a real checkpoint: a live state_dict shares torch Adam's `step`
    # tensors with the optimizer it came from (torch.optim's own behaviour)
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer)
    q = torch.nn.Parameter(p.detach().clone())
    resumed = SuperAccelerate(torch.optim.Adam([q], lr=1e-2), sigma=2.0)
    resumed.load_state_dict(checkpoint)
    opt.train()
    resumed.train()
    steps(p, opt, 5, x, y)
    steps(q, resumed, 5, x, y)
    assert torch.equal(p, q)
