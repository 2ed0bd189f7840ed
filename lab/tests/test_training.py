"""The one training loop and at_theta."""

from __future__ import annotations

import math

import pytest
import torch

from superaccel import SuperSGD, at_theta
from superaccel_lab.training import train


def quadratic():
    theta = torch.nn.Parameter(torch.tensor([3.0, -2.0], dtype=torch.float64))
    return theta, lambda: (theta**2).sum()


def test_at_theta_evaluates_at_theta_and_restores_the_lookahead():
    theta, loss = quadratic()
    opt = SuperSGD([theta], lr=0.1, sigma=3.0)
    for _ in range(3):
        opt.zero_grad()
        loss().backward()
        opt.step()
    phi = theta.detach().clone()
    opt.eval()
    expected_theta = theta.detach().clone()
    opt.train()
    with at_theta(opt):
        torch.testing.assert_close(theta.detach(), expected_theta, rtol=0, atol=1e-15)
    torch.testing.assert_close(theta.detach(), phi, rtol=0, atol=1e-15)
    assert not torch.equal(expected_theta, phi)


def test_at_theta_leaves_an_optimizer_in_eval_mode_in_eval_mode_and_others_alone():
    theta, _ = quadratic()
    opt = SuperSGD([theta], lr=0.1)
    opt.eval()
    with at_theta(opt):
        pass
    assert opt.param_groups[0]["train_mode"] is False
    plain = torch.optim.SGD([theta], lr=0.1)
    with at_theta(plain) as same:
        assert same is plain


def test_train_evaluates_at_theta_at_the_cadence_asked_and_times_only_steps():
    theta, loss = quadratic()
    opt = SuperSGD([theta], lr=0.05, sigma=2.0)
    seen_theta = []
    result = train(opt, loss, 10, evaluate=lambda step: seen_theta.append(theta.detach().clone()) or step,
                   eval_every=4)
    assert [step for step, _ in result.evaluations] == [0, 4, 8, 10]
    opt.eval()
    assert torch.equal(seen_theta[-1], theta.detach())  # the last evaluation saw θ, not φ
    assert result.train_seconds > 0 and result.diverged_at is None and result.stopped_at is None


def test_train_stops_at_a_target_and_on_divergence():
    theta, loss = quadratic()
    result = train(SuperSGD([theta], lr=0.05), loss, 500, evaluate=lambda _: float(loss().detach()),
                   stop=lambda v: v < 1e-3)
    assert result.stopped_at is not None and result.evaluations[-1][1] < 1e-3
    theta, loss = quadratic()
    blown = train(SuperSGD([theta], lr=50.0), loss, 500, evaluate=lambda _: float(loss().detach()),
                  diverged=lambda v: not math.isfinite(v) or v > 1e30)
    assert blown.diverged and blown.diverged_at < 500


def test_train_records_the_lookahead_evaluations_too():
    theta, loss = quadratic()
    opt = SuperSGD([theta], lr=0.05, sigma=4.0)
    result = train(opt, loss, 6, evaluate=lambda _: theta.detach().clone(),
                   evaluate_lookahead=lambda _: theta.detach().clone(), lookahead_every=3)
    assert [s for s, _ in result.lookahead_evaluations] == [0, 3, 6]
    at = dict(result.evaluations)
    assert not torch.equal(at[3], dict(result.lookahead_evaluations)[3])


@pytest.mark.parametrize("steps", [0, 1])
def test_train_with_no_or_one_step(steps):
    theta, loss = quadratic()
    result = train(SuperSGD([theta], lr=0.05), loss, steps, evaluate=lambda step: step)
    assert [s for s, _ in result.evaluations] == list(range(steps + 1))
