"""torch.compile: compiled steps match eager ones and survive σ and lr schedules without
recompiling, on every implementation; the fused kernels compile once and never again."""

from __future__ import annotations

import math

import pytest
import torch
from torch._dynamo.utils import counters

from superaccel import LinearSigma

from .optim_db import native_db, optims_and_impls

# SuperAdamW is SuperAdam with a flag: one of them suffices for compilation
ALGORITHMS = [info for info in native_db if info.name != "SuperAdamW"]

STEPS = 10
WARMUP = 4  # the first steps compile: σ, then the applied σ and lr become dynamic


def graphs() -> int:
    return counters["stats"]["unique_graphs"]


def run(info, impl, *, compiled: bool, recipe: bool):
    """Train a small model with σ changing every step; ``recipe`` is torch's recipe for
    compiled optimizers with lr schedules (a tensor lr, the scheduler stepped inside the
    compiled function), otherwise ``opt.step`` itself is compiled with ``fullgraph=True``.
    Returns θ at the end and the number of graphs after each step."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    lr = info.base["lr"]
    opt = info.make(model.parameters(), lr=torch.tensor(lr) if recipe else lr, **info.impl_kwargs(impl))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2 * STEPS) if recipe else None
    x, y = torch.randn(16, 4), torch.randn(16, 1)

    def step():
        opt.step()
        if scheduler is not None:
            scheduler.step()

    fn = step if not compiled else torch.compile(step, fullgraph=not recipe)
    seen = []
    for i in range(STEPS):
        for group in opt.param_groups:
            group["sigma"] = 2.0 + math.sin(i)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        fn()
        seen.append(graphs())
    opt.eval()
    return [p.detach().clone() for p in model.parameters()], seen


@optims_and_impls(ALGORITHMS)
@pytest.mark.parametrize("recipe", [False, True], ids=["fullgraph-step", "tensor-lr-recipe"])
def test_compiled_step_matches_eager_and_compiles_nothing_after_warmup(info, impl, recipe):
    torch._dynamo.reset()  # each test compiles a new closure of the same code: a fresh cache
    eager, _ = run(info, impl, compiled=False, recipe=recipe)
    compiled, seen = run(info, impl, compiled=True, recipe=recipe)
    assert seen[WARMUP - 1] == seen[-1], f"graphs after each step: {seen}"
    for a, b in zip(eager, compiled, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("impl", ["compiled"])  # the CUDA path, here on the CPU (see conftest.py)
@pytest.mark.parametrize("info", ALGORITHMS, ids=[i.name for i in ALGORITHMS])
def test_fused_kernel_compiles_nothing_new_under_lr_and_sigma_schedules(info, impl):
    """The fused path in eager mode: every hyperparameter is data for its compiled kernel."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = info.make(model.parameters(), fused=True)
    lr_scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=30)
    sigma_scheduler = LinearSigma(opt, start=5.0, end=2.0, total_steps=20)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    seen = []
    for _ in range(30):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        lr_scheduler.step()
        sigma_scheduler.step()
        seen.append(graphs())
    assert seen[0] == seen[-1], f"graphs after each step: {seen}"
