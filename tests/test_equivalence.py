"""Exact agreements, float64, 1000 steps, tolerance 1e-12.

Oracles: the literal numpy transcription of the paper (tests/oracle.py), torch's own
optimizers at the σ where they must coincide (under a learning-rate schedule), and the
implementations of one optimizer against each other.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from superaccel import SuperAccelerate, SuperAdam, SuperSGD

from . import oracle
from .optim_db import native_db, optims, optims_and_impls

STEPS = 1000
TOL = dict(rtol=1e-12, atol=1e-12)
SHAPES = [(2, 3), (3,), (1,)]  # θ is split over several tensors of different shapes
DIM = sum(math.prod(s) for s in SHAPES)


def split(vector: np.ndarray) -> list[torch.nn.Parameter]:
    out, start = [], 0
    for shape in SHAPES:
        n = math.prod(shape)
        out.append(torch.nn.Parameter(torch.tensor(vector[start: start + n], dtype=torch.float64).reshape(shape)))
        start += n
    return out


def flat(params) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for p in params]).numpy()


def sigma_sequence(steps: int) -> np.ndarray:
    """A σ that changes every step, between 0 and 5."""
    return 2.5 + 2.5 * np.sin(0.37 * np.arange(steps + 1))


@optims_and_impls([info for info in native_db if info.oracle is not None])
def test_follows_the_paper_oracle_with_sigma_changing_every_step(info, impl):
    sigmas = sigma_sequence(STEPS)
    a, b, theta0 = oracle.quadratic(DIM)
    expected_theta, expected_lookahead = info.oracle(a, b, theta0, sigmas)
    params = split(theta0)
    opt = info.make(params, **info.oracle_kwargs, **info.impl_kwargs(impl))
    a_t, b_t = torch.tensor(a), torch.tensor(b)
    for i in range(STEPS):
        for group in opt.param_groups:
            group["sigma"] = sigmas[i]  # σ of the look-ahead the parameters hold now
        opt.zero_grad()
        x = torch.cat([p.reshape(-1) for p in params])
        (0.5 * x @ a_t @ x - b_t @ x).backward()
        for group in opt.param_groups:
            group["sigma"] = sigmas[i + 1]  # σ of the look-ahead this step forms
        opt.step()
        # train mode: the parameters hold the look-ahead point
        np.testing.assert_allclose(flat(params), expected_lookahead[i], **TOL)
        if i % 7 == 0:  # eval mode: the parameters hold θ; back to train for the next step
            opt.eval()
            np.testing.assert_allclose(flat(params), expected_theta[i], **TOL)
            opt.eval()  # idempotent
            opt.train()
            opt.train()
            np.testing.assert_allclose(flat(params), expected_lookahead[i], **TOL)


# ---- a nonlinear problem shared by the comparisons below ------------------------------------


def mlp_loss(params, x, y):
    w1, b1, w2, b2 = params
    return ((torch.tanh(x @ w1 + b1) @ w2 + b2 - y) ** 2).mean()


def trajectories(make_a, make_b, steps=STEPS, seed=0, schedule=None, sigmas=None):
    """Run two optimizers from the same start on the same nonlinear regression.

    ``schedule(step)`` multiplies every group's initial lr (a LambdaLR on both);
    ``sigmas[step]`` is set as σ before each step.  The learning rates used keep the runs
    out of the chaotic regime: there, two algebraically equal updates that round
    differently agree to 1e-15 for hundreds of steps and then part (measured: SGD σ=3 at
    lr=0.05, Adam σ=2 at lr=1e-2, RMSprop with eps=0 at lr=1e-3), which says nothing about
    the algorithms.
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(32, 4, generator=gen, dtype=torch.float64)
    y = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    init = [torch.randn(4, 8, generator=gen, dtype=torch.float64) * 0.5,
            torch.zeros(8, dtype=torch.float64),
            torch.randn(8, 2, generator=gen, dtype=torch.float64) * 0.5,
            torch.zeros(2, dtype=torch.float64)]
    runs = []
    for make in (make_a, make_b):
        params = [torch.nn.Parameter(t.clone()) for t in init]
        opt = make(params)
        scheduler = torch.optim.lr_scheduler.LambdaLR(opt, schedule) if schedule else None
        runs.append((params, opt, scheduler))
    for step in range(steps):
        for params, opt, scheduler in runs:
            if sigmas is not None:
                for group in opt.param_groups:
                    group["sigma"] = float(sigmas[step])
            opt.zero_grad()
            mlp_loss(params, x, y).backward()
            opt.step()
            if scheduler:
                scheduler.step()
    return [params for params, _, _ in runs], [opt for _, opt, _ in runs]


def assert_same(pa, pb, **tol):
    for a, b in zip(pa, pb, strict=True):
        torch.testing.assert_close(a, b, **(tol or TOL))


def wavy_lr(step: int) -> float:
    """An lr factor that changes every step, from 1 down to 0.2 and back."""
    return 0.6 + 0.4 * math.cos(0.05 * step)


@pytest.mark.parametrize("info, equivalent, impl", [
    (info, eq, impl) for info in native_db for eq in info.torch_equivalents for impl in info.impls
], ids=lambda v: getattr(v, "name", None) or getattr(v, "desc", None) or v)
def test_coincides_with_torch_under_an_lr_schedule(info, equivalent, impl):
    lr = 1e-4 if info.name == "SuperRMSprop" else info.base["lr"]  # RMSprop with ε = 0: see trajectories
    (ours, theirs), _ = trajectories(
        lambda p: info.make(p, **{"lr": lr, **equivalent.ours}, **info.impl_kwargs(impl)),
        lambda p: equivalent.torch_optimizer(p, lr),
        schedule=wavy_lr,
    )
    assert_same(ours, theirs)


@pytest.mark.parametrize("info, impl", [(i, impl) for i in native_db for impl in i.impls if impl != "single"],
                         ids=lambda v: getattr(v, "name", v))
def test_implementations_agree_with_sigma_and_lr_changing_every_step(info, impl):
    """Every implementation against the single-tensor one (float64, 1000 steps, 1e-12)."""
    sigmas = sigma_sequence(STEPS)
    kwargs = {"weight_decay": info.weight_decay}
    (single, other), _ = trajectories(
        lambda p: info.make(p, **kwargs, **info.impl_kwargs("single")),
        lambda p: info.make(p, **kwargs, **info.impl_kwargs(impl)),
        schedule=wavy_lr, sigmas=sigmas, steps=STEPS,
    )
    assert_same(single, other)


@optims(native_db)
def test_a_schedule_that_reaches_zero_stops_the_parameters(info):
    """torch's convention: the current lr scales the whole update, so lr = 0 is no step
    (the paper's velocity form would coast on by up to g/(1−g) steps)."""
    params = [torch.nn.Parameter(torch.randn(5, dtype=torch.float64))]
    opt = info.make(params)
    scheduler = torch.optim.lr_scheduler.PolynomialLR(opt, total_iters=4, power=1.0)
    target = torch.ones(5, dtype=torch.float64)
    history = []
    for _ in range(12):
        opt.zero_grad()
        ((params[0] - target) ** 2).sum().backward()
        opt.step()
        scheduler.step()
        history.append(params[0].detach().clone())
    assert opt.param_groups[0]["lr"] == 0
    for later in history[4:]:
        assert torch.equal(later, history[4])
    opt.eval()  # the look-ahead of a zero-lr step is zero: θ = φ
    assert torch.equal(params[0].detach(), history[-1])


@pytest.mark.parametrize("sigma", [0.0, 0.9, 3.0])
def test_wrapped_sgd_is_super_sgd(sigma):
    # lr=0.02: at lr=0.05 and σ=3 this regression is chaotic (the runs agree to 1e-14 for
    # 400 steps, then rounding differences grow to 0.2 by step 1000).
    (a, b), _ = trajectories(
        lambda p: SuperAccelerate(torch.optim.SGD(p, lr=0.02, momentum=0.9), sigma=sigma),
        lambda p: SuperSGD(p, lr=0.02, momentum=0.9, sigma=sigma),
    )
    assert_same(a, b)


@pytest.mark.parametrize("sigma", [0.0, 2.0])
def test_wrapped_adam_is_super_adam(sigma):
    (a, b), _ = trajectories(
        lambda p: SuperAccelerate(torch.optim.Adam(p, lr=1e-3), sigma=sigma),
        lambda p: SuperAdam(p, lr=1e-3, sigma=sigma),
    )
    assert_same(a, b)
