"""Property-based checks over the optimizer table (hypothesis): every valid combination of
hyperparameters, shapes and implementations steps and round-trips through eval/train;
every invalid σ is refused with a message naming it."""

from __future__ import annotations

import math

import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from superaccel import SuperSGD

from .optim_db import native_db

valid_sigma = st.floats(0.0, 50.0)
shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)
bad_sigma = st.one_of(st.floats(max_value=-1e-9), st.just(math.nan), st.just(math.inf), st.just(-math.inf))
infos = st.sampled_from(native_db)


@settings(max_examples=60, deadline=None)
@given(info=infos, shape=shapes, sigma=valid_sigma, lr=st.floats(0.0, 1.0), weight_decay=st.floats(0.0, 1.0),
       impl=st.sampled_from(["single", "foreach"]), maximize=st.booleans())
def test_valid_hyperparameters_step_and_eval_train_round_trip(info, shape, sigma, lr, weight_decay, impl, maximize):
    if info.name == "SuperAdamW":  # beyond this bound the decay is refused (test_reliability)
        assume(lr * weight_decay * (1 + sigma) < 1)
    p = torch.nn.Parameter(torch.linspace(-1, 1, max(1, math.prod(shape)), dtype=torch.float64).reshape(shape))
    opt = info.make([p], sigma=sigma, lr=lr, weight_decay=weight_decay, maximize=maximize, **info.impl_kwargs(impl))
    for _ in range(3):
        opt.zero_grad()
        (p**2).sum().backward()
        opt.step()
    phi = p.detach().clone()
    opt.eval()
    opt.train()
    torch.testing.assert_close(p.detach(), phi, rtol=1e-9, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(info=infos, sigma=bad_sigma)
def test_invalid_sigma_always_raises_value_error_naming_it(info, sigma):
    try:
        info.make([torch.nn.Parameter(torch.ones(2))], sigma=sigma)
    except ValueError as error:
        assert str(error).startswith("Invalid sigma value: ")
    else:
        raise AssertionError(f"sigma={sigma} was accepted")


@settings(max_examples=40, deadline=None)
@given(momentum=st.one_of(st.floats(1.0, 1e6), st.floats(max_value=-1e-9), st.just(math.nan)))
def test_invalid_momentum_always_raises(momentum):
    try:
        SuperSGD([torch.nn.Parameter(torch.ones(2))], lr=0.1, momentum=momentum)
    except ValueError as error:
        assert str(error).startswith("Invalid momentum value: ")
    else:
        raise AssertionError(f"momentum={momentum} was accepted")
