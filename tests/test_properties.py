"""Property-based checks over hyperparameters and shapes (hypothesis)."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from superaccel import SuperAdam, SuperRMSprop, SuperSGD

valid_sigma = st.floats(0.0, 50.0)
unit = st.floats(0.0, 0.999)
shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)
bad_sigma = st.one_of(st.floats(max_value=-1e-9), st.just(math.nan), st.just(math.inf))


def build(name, params, sigma, momentum, lr):
    if name == "sgd":
        return SuperSGD(params, lr=lr, momentum=momentum, sigma=sigma)
    if name == "rmsprop":
        return SuperRMSprop(params, lr=lr, momentum=momentum, sigma=sigma)
    return SuperAdam(params, lr=lr, betas=(momentum, 0.999), sigma=sigma)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(["sgd", "rmsprop", "adam"]), shape=shapes, sigma=valid_sigma, momentum=unit,
       lr=st.floats(0.0, 1.0), foreach=st.booleans())
def test_valid_hyperparameters_step_and_eval_train_round_trip(name, shape, sigma, momentum, lr, foreach):
    p = torch.nn.Parameter(torch.linspace(-1, 1, max(1, math.prod(shape)), dtype=torch.float64).reshape(shape))
    opt = build(name, [p], sigma, momentum, lr)
    for group in opt.param_groups:
        group["foreach"] = foreach
    for _ in range(3):
        opt.zero_grad()
        (p**2).sum().backward()
        opt.step()
    phi = p.detach().clone()
    opt.eval()
    opt.train()
    torch.testing.assert_close(p.detach(), phi, rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(["sgd", "rmsprop", "adam"]), sigma=bad_sigma)
def test_invalid_sigma_always_raises_value_error_naming_it(name, sigma):
    try:
        build(name, [torch.nn.Parameter(torch.ones(2))], sigma, 0.9, 0.1)
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
