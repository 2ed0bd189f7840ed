"""sigma="auto": the scalar rule against the theory module, the estimator on ½kθ² (the exact
σ* and rate) and on quadratics of known spectrum (the best fixed σ's rate), and the
optimizer conventions (state_dict, groups, schedules, errors).  DDP/FSDP2:
tests/test_distributed.py."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from superaccel import LinearSigma, SuperAccelerate, SuperAdam, SuperRMSprop, SuperSGD, auto_sigma, theory
from superaccel.optim import _auto_sigma
from superaccel.rules import HeavyBall

from . import oracle

AUTO_OPTIMIZERS = {
    "SuperSGD": lambda p, **kw: SuperSGD(p, lr=0.1, momentum=0.9, sigma="auto", **kw),
    "SuperRMSprop": lambda p, **kw: SuperRMSprop(p, lr=0.01, momentum=0.9, sigma="auto", **kw),
    "SuperAdam": lambda p, **kw: SuperAdam(p, lr=0.05, sigma="auto", **kw),
}


@pytest.mark.parametrize("k_etas, g", [([0.05], 0.9), ([0.003, 0.3], 0.9), ([1e-3, 0.02, 0.5], 0.8),
                                       ([0.01, 0.1], 0.99)])
def test_minimax_sigma_is_the_brute_force_minimax(k_etas, g):
    sigmas = np.linspace(0, auto_sigma.SIGMA_MAX, 80001)
    worst = np.max([[theory.spectral_radius(k, g, s) for s in sigmas] for k in k_etas], axis=0)
    expected = sigmas[np.argmin(worst)]
    found = auto_sigma.minimax_sigma(k_etas, g)
    # at least as good as the grid's best (the exact optimum of one kη is a cusp between grid points)
    assert max(theory.spectral_radius(k, g, found) for k in k_etas) <= worst.min() + 1e-9
    assert found == pytest.approx(expected, abs=2e-3)


def one_dimensional(make, k: float, steps: int):
    w = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    optimizer = make([w])
    sigmas, distances = [], []
    for _ in range(steps):
        optimizer.zero_grad()
        (0.5 * k * w**2).sum().backward()
        optimizer.step()
        sigmas.append(optimizer.param_groups[0]["sigma"])
        with torch.no_grad():
            optimizer.eval()
            distances.append(abs(w.item()))
            optimizer.train()
    return np.array(sigmas), np.array(distances)


@pytest.mark.parametrize("k, lr", [(1.0, 0.05), (1.0, 0.3), (2.0, 0.1), (10.0, 0.01)])
def test_on_a_parabola_sigma_is_the_exact_optimum_and_so_is_the_rate(k, lr):
    sigmas, distances = one_dimensional(lambda p: SuperSGD(p, lr=lr, momentum=0.9, sigma="auto"), k, 120)
    k_eta = k * lr
    assert sigmas[-1] == pytest.approx(float(theory.exact_sigma_star(k_eta, 0.9)), rel=0.05)
    # the measured rate over the last 40 steps against |1 − √kη| (a double root: a small
    # polynomial factor on top of the exponential)
    measured = (distances[-1] / distances[-41]) ** (1 / 40)
    assert measured == pytest.approx(float(theory.optimal_rate(k_eta)), rel=0.05)


@pytest.mark.parametrize("kappa, lr, seed", [(100.0, 0.3, 0), (100.0, 1.0, 1), (1000.0, 1.0, 2), (30.0, 0.5, 3)])
def test_on_a_known_spectrum_the_rate_is_within_10_percent_of_the_best_fixed_sigma(kappa, lr, seed):
    """The best fixed σ at this lr and g, from the theory: the minimax σ over the spectrum;
    its rate is the worst eigen-direction's.  The auto run's rate is measured on the distance
    over the second half of its run."""
    problem = oracle.IllConditioned(dim=30, condition_number=kappa, seed=seed)
    k_etas = problem.eigenvalues * lr
    best_sigma = auto_sigma.minimax_sigma(list(k_etas), 0.9)
    best_rate = max(theory.spectral_radius(k, 0.9, best_sigma) for k in k_etas)
    theta = torch.nn.Parameter(torch.tensor(problem.start()))
    optimizer = SuperSGD([theta], lr=lr, momentum=0.9, sigma="auto")
    steps = int(min(3000, 25 / (1 - best_rate)))
    distances = []
    for _ in range(steps):
        optimizer.zero_grad()
        problem.loss(theta).backward()
        optimizer.step()
        with torch.no_grad():
            optimizer.eval()
            distances.append(theta.detach().norm().item())
            optimizer.train()
    half = steps // 2
    measured = (distances[-1] / distances[half]) ** (1 / (steps - 1 - half))
    assert 1 - measured >= 0.9 * (1 - best_rate), (measured, best_rate, best_sigma)


@pytest.mark.parametrize("kappa, lr, seed", [(10.0, 0.1, 3), (10.0, 0.5, 1), (10.0, 0.3, 0), (30.0, 0.3, 2)])
def test_on_a_quadratic_no_estimate_exceeds_the_bound_of_the_cosine_guard(kappa, lr, seed):
    """⟨HΔφ, b⟩/⟨Δφ, b⟩ ≤ λ_max/|cos(Δφ, b)|: with the guard the largest curvature the
    estimator keeps is at most λ_max/MIN_COSINE.  (Without it these runs keep 2.3–7.4·λ_max.)"""
    problem = oracle.IllConditioned(dim=30, condition_number=kappa, seed=seed)
    theta = torch.nn.Parameter(torch.tensor(problem.start()))
    optimizer = SuperSGD([theta], lr=lr, momentum=0.9, sigma="auto")
    bound = problem.eigenvalues.max() / auto_sigma.MIN_COSINE
    for _ in range(200):
        optimizer.zero_grad()
        problem.loss(theta).backward()
        optimizer.step()
        high = optimizer.param_groups[0]["auto_sigma"]["high"]
        assert high is None or high <= bound * (1 + 1e-9)


@pytest.mark.parametrize("name", list(AUTO_OPTIMIZERS))
def test_state_dict_resumes_the_estimator_exactly(name):
    make = AUTO_OPTIMIZERS[name]
    problem = oracle.IllConditioned(dim=10, condition_number=20.0, seed=0)

    def steps(theta, optimizer, count):
        for _ in range(count):
            optimizer.zero_grad()
            problem.loss(theta).backward()
            optimizer.step()

    theta = torch.nn.Parameter(torch.tensor(problem.start()))
    optimizer = make([theta])
    steps(theta, optimizer, 15)
    saved_theta, saved_state = theta.detach().clone(), copy.deepcopy(optimizer.state_dict())
    assert saved_state["param_groups"][0]["auto_sigma"]["low"] is not None
    steps(theta, optimizer, 15)
    resumed = torch.nn.Parameter(saved_theta)
    twin = make([resumed])
    twin.load_state_dict(saved_state)
    steps(resumed, twin, 15)
    assert torch.equal(resumed.detach(), theta.detach())
    assert twin.param_groups[0]["sigma"] == optimizer.param_groups[0]["sigma"]


@pytest.mark.parametrize("name", list(AUTO_OPTIMIZERS))
def test_auto_converges_and_keeps_sigma_bounded_on_every_optimizer(name):
    problem = oracle.IllConditioned(dim=20, condition_number=50.0, seed=1)
    theta = torch.nn.Parameter(torch.tensor(problem.start()))
    optimizer = AUTO_OPTIMIZERS[name]([theta])
    start = problem.loss(theta.detach()).item()
    for _ in range(300):
        optimizer.zero_grad()
        problem.loss(theta).backward()
        optimizer.step()
        assert 0 <= optimizer.param_groups[0]["sigma"] <= auto_sigma.SIGMA_MAX
    optimizer.eval()
    assert problem.loss(theta.detach()).item() < 1e-3 * start


def test_each_group_has_its_own_estimator_and_a_number_turns_it_off():
    a, b, c = (torch.nn.Parameter(torch.ones(2)) for _ in range(3))
    optimizer = SuperSGD([{"params": [a]}, {"params": [b], "sigma": 2.0}], lr=0.1, sigma="auto")
    optimizer.add_param_group({"params": [c], "sigma": "auto"})
    first, fixed, added = optimizer.param_groups
    assert first["auto_sigma"] is not None and added["auto_sigma"] is not None
    assert first["auto_sigma"] is not added["auto_sigma"]
    assert fixed["auto_sigma"] is None and fixed["sigma"] == 2.0
    assert first["sigma"] == 0.9  # Nesterov until the first estimate


def test_auto_is_refused_where_it_does_not_apply():
    p = torch.nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError, match="SuperAccelerate does not support sigma='auto'"):
        SuperAccelerate(torch.optim.SGD([p], lr=0.1), sigma="auto")
    with pytest.raises(ValueError, match="chooses σ itself"):
        LinearSigma(SuperSGD([p], lr=0.1, sigma="auto"))
    with pytest.raises(ValueError, match="Invalid sigma value: 'automatic'"):
        SuperSGD([p], lr=0.1, sigma="automatic")


def test_noise_does_not_make_sigma_leave_its_bounds_or_produce_nans():
    """Pure-noise gradients: the secant is meaningless, estimates of either sign are drawn;
    σ stays finite and within [0, σ_max] and the parameters finite."""
    generator = torch.Generator().manual_seed(0)
    w = torch.nn.Parameter(torch.zeros(50))
    optimizer = SuperSGD([w], lr=0.01, sigma="auto")
    for _ in range(500):
        w.grad = torch.randn(50, generator=generator)
        optimizer.step()
        sigma = optimizer.param_groups[0]["sigma"]
        assert math.isfinite(sigma) and 0 <= sigma <= auto_sigma.SIGMA_MAX
    assert torch.isfinite(w).all()


def reference_choose_sigma(state: dict, q: float, n: float, b: float, g: float, c: float, eta: float, undo: float,
                           sigma: float) -> float:
    """The rule written out plainly (a product of the two norms under one root), for
    ordinary numbers: what the guarded arithmetic must reproduce."""
    if state["projection"] is not None and state["displacement"] and state["cosine"] >= auto_sigma.MIN_COSINE:
        h = (q - state["projection"]) / state["displacement"]
        if math.isfinite(h) and h > 0:
            first = state["low"] is None
            state["low"] = h if first else 0.9 * state["low"] + 0.1 * h
            state["high"] = h if first else max(h, 0.999 * state["high"])
            state["low"] = min(state["low"], state["high"])
    if state["low"] is not None:
        low, high = state["low"] * c * eta, state["high"] * c * eta
        points = [low] if high <= low * (1 + 1e-9) else [low * (high / low) ** (i / 4) for i in range(5)]
        sigma = min(max(sigma + 0.3 * (auto_sigma.minimax_sigma(points, g) - sigma), 0.0), auto_sigma.SIGMA_MAX)
    cross, norm = g * b + c * q, g * g * b + 2 * g * c * q + c * c * n
    state["projection"] = g * q + c * n
    lookahead = (1 + sigma) * eta
    state["displacement"] = undo * cross - lookahead * norm
    squared = undo**2 * b - 2 * undo * lookahead * cross + lookahead**2 * norm
    state["cosine"] = abs(state["displacement"]) / math.sqrt(squared * norm)
    return sigma


def test_with_ordinary_numbers_the_guarded_rule_gives_the_plain_rules_estimates():
    rng = np.random.default_rng(0)
    ours, plain = _auto_sigma.new_state(), _auto_sigma.new_state()
    sigma_ours = sigma_plain = 0.9
    for _ in range(200):
        x, buffer = rng.normal(size=8), rng.normal(size=8)  # sums of real vectors: q² ≤ n·b
        q, n, b = x @ buffer, x @ x, buffer @ buffer
        g, c, eta, undo = 0.9, 1.0, rng.uniform(0.01, 0.2), rng.uniform(0.0, 0.5)
        form = HeavyBall(g, c, eta, undo)
        sigma_ours = _auto_sigma.choose(ours, auto_sigma.StepSums(q, n, b), form, sigma_ours)
        sigma_plain = reference_choose_sigma(plain, q, n, b, g, c, eta, undo, sigma_plain)
        assert sigma_ours == pytest.approx(sigma_plain, rel=1e-12, abs=1e-12)
        for key in ("low", "high", "projection", "displacement", "cosine"):
            assert (ours[key] is None) == (plain[key] is None)
            assert ours[key] is None or ours[key] == pytest.approx(plain[key], rel=1e-12, abs=1e-15)
    assert ours["low"] is not None  # estimates were taken


@pytest.mark.parametrize("scale", [1e-160, 1e-300, 1e150])
def test_sums_at_the_ends_of_the_float_range_keep_sigma_finite(scale):
    """Sums whose products under- or overflow (the plain rule divides by zero or gets inf)."""
    state, sigma = _auto_sigma.new_state(), 0.9
    for i in range(50):
        q, n, b = scale * (-1) ** i, scale, scale
        sigma = _auto_sigma.choose(state, auto_sigma.StepSums(q, n, b), HeavyBall(0.9, 1.0, 0.1, 0.05), sigma)
        assert math.isfinite(sigma) and 0 <= sigma <= auto_sigma.SIGMA_MAX
    assert all(value is None or math.isfinite(value) for value in state.values())
