"""SuperMuon against torch.optim.Muon (σ = 0) and SuperAccelerate(torch.optim.Muon) (any σ),
in training (φ) and after eval() (θ), under lr and σ schedules; and the conventions every
optimizer here keeps: memory, validation with torch's messages, state_dict, train/eval,
averages of θ, hooks, hostile gradients, Lightning."""

from __future__ import annotations

import copy
import io
import math
import re

import pytest
import torch

from superaccel import LinearSigma, SuperAccelerate, SuperMuon, at_theta

from .test_hostile_numerics import STREAMS, assert_finite_while_torch_is, start

STEPS = 12
SHAPES = ((8, 6), (6, 3))
MUON_VARIANTS = [
    pytest.param({}, id="nesterov"),
    pytest.param({"nesterov": False}, id="plain"),
    pytest.param({"adjust_lr_fn": "match_rms_adamw"}, id="match_rms_adamw"),
    pytest.param({"adjust_lr_fn": "original", "weight_decay": 0.0}, id="original-no-decay"),
]


def matrices(dtype=torch.float32, seed: int = 0) -> list[torch.nn.Parameter]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(shape, generator=generator, dtype=dtype)) for shape in SHAPES]


def loss(params: list[torch.Tensor], step: int) -> torch.Tensor:
    x = torch.randn(5, 8, generator=torch.Generator().manual_seed(step), dtype=params[0].dtype)
    return (torch.tanh(x @ params[0]) @ params[1]).square().mean()


def run(make, sigmas=None, steps: int = STEPS) -> tuple[list[list[torch.Tensor]], list[torch.Tensor]]:
    """φ after every step and θ at the end, under a cosine lr schedule; ``sigmas[i]`` is set
    as σ before step i (for both optimizers, which share their groups' meaning)."""
    params = matrices()
    optimizer = make(params)
    lr_schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 0.5 * (1 + math.cos(math.pi * i / steps)))
    phis = []
    for i in range(steps):
        if sigmas is not None:
            for group in optimizer.param_groups:
                group["sigma"] = sigmas[i]
        optimizer.zero_grad()
        loss(params, i).backward()
        optimizer.step()
        lr_schedule.step()
        phis.append([p.detach().clone() for p in params])
    if hasattr(optimizer, "eval"):
        optimizer.eval()
    return phis, [p.detach().clone() for p in params]


def assert_same(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("variant", MUON_VARIANTS)
def test_sigma_zero_is_torch_muon(variant):
    theirs, _ = run(lambda p: torch.optim.Muon(p, lr=0.02, **variant))
    ours, theta = run(lambda p: SuperMuon(p, lr=0.02, sigma=0.0, **variant))
    for a, b in zip(ours, theirs, strict=True):
        assert_same(a, b)
    assert_same(theta, theirs[-1])


@pytest.mark.parametrize("variant", MUON_VARIANTS)
def test_any_sigma_is_super_accelerate_of_torch_muon_in_phi_and_theta(variant):
    sigmas = [2.5 + 2.5 * math.sin(0.7 * i) for i in range(STEPS)]  # σ changes every step
    theirs, their_theta = run(lambda p: SuperAccelerate(torch.optim.Muon(p, lr=0.02, **variant)), sigmas)
    ours, our_theta = run(lambda p: SuperMuon(p, lr=0.02, **variant), sigmas)
    for a, b in zip(ours, theirs, strict=True):
        assert_same(a, b)
    assert_same(our_theta, their_theta)
    assert max((a - b).abs().max().item() for a, b in zip(ours[-1], our_theta, strict=True)) > 1e-4  # σ moved φ


def test_a_sigma_schedule_drives_it_as_the_others():
    params = matrices()
    optimizer = SuperMuon(params, lr=0.02, sigma=4.0)
    schedule = LinearSigma(optimizer, start=4.0, end=1.0, total_steps=6)
    for i in range(8):
        optimizer.zero_grad()
        loss(params, i).backward()
        optimizer.step()
        schedule.step()
    assert optimizer.param_groups[0]["sigma"] == 1.0 == optimizer.param_groups[0]["applied_sigma"]


def test_memory_is_muons_buffer_and_the_last_step():
    params = matrices()
    optimizer = SuperMuon(params, lr=0.02)
    optimizer.zero_grad()
    loss(params, 0).backward()
    optimizer.step()
    for p in params:
        assert sorted(optimizer.state[p]) == ["last_step", "momentum_buffer"]
        assert all(v.shape == p.shape for v in optimizer.state[p].values())


@pytest.mark.parametrize("kwargs, error, message", [
    ({"lr": -1.0}, ValueError, "Learning rate should be >= 0 but is: -1.0"),
    ({"lr": math.nan}, ValueError, "Learning rate should be >= 0 but is: nan"),
    ({"lr": torch.tensor([0.1, 0.1])}, ValueError, "Tensor lr must be 1-element"),
    ({"momentum": -0.5}, ValueError, "momentum should be >= 0 but is: -0.5"),
    ({"weight_decay": -0.1}, ValueError, "weight decay should be >= 0 but is: -0.1"),
    ({"adjust_lr_fn": "arbitrary"}, ValueError, "Adjust learning rate function arbitrary is not supported"),
    ({"sigma": math.nan}, ValueError, "Invalid sigma value: nan"),
    ({"sigma": -1.0}, ValueError, "Invalid sigma value: -1.0"),
    ({"sigma": "auto"}, ValueError, "SuperMuon does not support sigma='auto'"),
])
def test_bad_hyperparameters_are_torch_style_errors(kwargs, error, message):
    with pytest.raises(error, match="^" + re.escape(message)):
        SuperMuon(matrices(), **kwargs)


def test_matrices_only_and_no_complex_as_torch_muon():
    with pytest.raises(ValueError, match="Muon only supports 2D parameters"):
        SuperMuon([torch.nn.Parameter(torch.ones(3))])
    optimizer = SuperMuon(matrices())
    with pytest.raises(ValueError, match="Muon only supports 2D parameters"):
        optimizer.add_param_group({"params": [torch.nn.Parameter(torch.ones(3))]})
    assert len(optimizer.param_groups) == 1  # the refused group is not kept
    complex_param = torch.nn.Parameter(torch.randn(2, 3, dtype=torch.complex64))
    complex_param.grad = torch.randn_like(complex_param)
    with pytest.raises(RuntimeError, match="Muon does not support complex parameters"):
        SuperMuon([complex_param]).step()


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_a_checkpoint_in_either_mode_resumes_exactly(mode):
    params = matrices()
    optimizer = SuperMuon(params, lr=0.02, sigma=2.0)
    for i in range(4):
        optimizer.zero_grad()
        loss(params, i).backward()
        optimizer.step()
    if mode == "eval":
        optimizer.eval()
    buffer = io.BytesIO()
    torch.save((optimizer.state_dict(), [p.detach() for p in params]), buffer)
    buffer.seek(0)
    saved_state, saved_params = torch.load(buffer, weights_only=True)
    twin_params = [torch.nn.Parameter(p.clone()) for p in saved_params]
    twin = SuperMuon(twin_params, lr=0.02, sigma=2.0)
    twin.load_state_dict(saved_state)
    for opt, ps in ((optimizer, params), (twin, twin_params)):
        opt.train()
        for i in range(4, 8):
            opt.zero_grad()
            loss(ps, i).backward()
            opt.step()
    assert all(torch.equal(a, b) for a, b in zip(params, twin_params, strict=True))


def test_a_torch_muon_checkpoint_migrates():
    theirs = matrices()
    muon = torch.optim.Muon(theirs, lr=0.02)
    for i in range(3):
        muon.zero_grad()
        loss(theirs, i).backward()
        muon.step()
    ours = [torch.nn.Parameter(p.detach().clone()) for p in theirs]
    migrated = SuperMuon(ours, lr=0.02, sigma=0.0)
    migrated.load_state_dict(copy.deepcopy(muon.state_dict()))  # a live state_dict shares its tensors
    for opt, ps in ((muon, theirs), (migrated, ours)):
        for i in range(3, 6):
            opt.zero_grad()
            loss(ps, i).backward()
            opt.step()
    assert_same(ours, theirs)


def test_train_eval_and_the_average_of_theta():
    params = matrices(torch.float64)
    optimizer = SuperMuon(params, lr=0.02, sigma=3.0)
    average = [p.detach().clone() for p in params]
    hand = [a.clone() for a in average]
    for i in range(STEPS):
        optimizer.zero_grad()
        loss(params, i).backward()
        optimizer.step()
        optimizer.lerp_to_theta_(average, params, 0.2)
        with at_theta(optimizer):
            hand = [h.lerp_(p.detach(), 0.2) for h, p in zip(hand, params, strict=True)]
    phi = [p.detach().clone() for p in params]
    optimizer.eval()
    optimizer.eval()
    theta = [p.detach().clone() for p in params]
    optimizer.train()
    optimizer.train()
    assert_same([p.detach() for p in params], phi)
    assert max((a - b).abs().max().item() for a, b in zip(phi, theta, strict=True)) > 1e-4
    for a, b in zip(average, hand, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-14)


def test_step_hooks_run():
    params = matrices()
    optimizer = SuperMuon(params, lr=0.02)
    calls = []
    optimizer.register_step_pre_hook(lambda opt, args, kwargs: calls.append("pre"))
    optimizer.register_step_post_hook(lambda opt, args, kwargs: calls.append("post"))
    loss(params, 0).backward()
    optimizer.step()
    assert calls == ["pre", "post"]


@pytest.mark.parametrize("sigma", ["fixed", "schedule"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_no_hostile_stream_makes_it_raise_or_go_non_finite_before_torch_muon(sigma, dtype):
    """tests/test_hostile_numerics.py's streams on matrices, against torch.optim.Muon."""
    for name, stream in STREAMS.items():
        ours, theirs = start(dtype, name, SHAPES), start(dtype, name, SHAPES)
        optimizer = SuperMuon(ours, lr=0.02, sigma=5.0)
        schedules = [LinearSigma(optimizer, start=5.0, end=2.0, total_steps=10)] if sigma == "schedule" else []
        reference = torch.optim.Muon(theirs, lr=0.02)
        assert_finite_while_torch_is(name, stream, ours, optimizer, schedules, theirs, reference, steps=20)


def test_lightning_checkpoints_and_the_model_after_fit_hold_theta(tmp_path):
    pl = pytest.importorskip("lightning.pytorch")
    from superaccel.integrations.lightning import SuperAccelCallback

    class Net(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.weights = torch.nn.ParameterList(matrices())
            self.thetas = []

        def training_step(self, batch, index):
            return loss(list(self.weights), index)

        def configure_optimizers(self):
            optimizer = SuperMuon(self.parameters(), lr=0.02, sigma=2.0)

            def record(opt, args, kwargs):  # θ = φ − σ'·s by hand
                group = opt.param_groups[0]
                self.thetas.append([p.detach() - group["applied_sigma"] * opt.state[p]["last_step"]
                                    for p in self.parameters()])

            optimizer.register_step_post_hook(record)
            return optimizer

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(6, 1)), batch_size=1)
    net = Net()
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[SuperAccelCallback()], default_root_dir=tmp_path,
                         enable_checkpointing=False)
    trainer.fit(net, loader)
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    saved = torch.load(tmp_path / "last.ckpt", weights_only=False)["state_dict"]
    for p, theta, key in zip(net.parameters(), net.thetas[-1], ["weights.0", "weights.1"], strict=True):
        assert torch.equal(p.detach(), theta) and torch.equal(saved[key], theta)
