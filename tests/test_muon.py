"""SuperMuon against torch.optim.Muon (σ = 0) and SuperAccelerate(torch.optim.Muon) (any σ),
in training (φ) and after eval() (θ), under lr and σ schedules; Muon's own constraints, its
checkpoints migrating, Lightning.  The conventions every optimizer here keeps (memory,
validation, state_dict, train/eval, averages of θ, hooks, hostile gradients, the soak run)
come from its entry in the table (tests/optim_db.py)."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from superaccel import SuperAccelerate, SuperMuon

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
