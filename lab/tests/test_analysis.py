"""The paper's analysis (superaccel_lab.analysis) against independent computations: the ODEs'
critical damping, SuperSGD and SuperRMSprop on the parabola, known signals for the fits, a
simulation of the noisy iteration."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from superaccel import SuperRMSprop, SuperSGD, theory
from superaccel_lab import analysis

G = 0.9
K_ETAS = [0.003, 0.01, 0.05, 0.2, 0.7]


@pytest.mark.parametrize("ode, formula", [(9, theory.sigma_star_eq12), (10, theory.sigma_star_eq13),
                                          (11, theory.sigma_star_eq14)])
@pytest.mark.parametrize("k_eta", K_ETAS)
def test_each_sigma_star_formula_is_critical_damping_of_its_ode(ode, formula, k_eta):
    a_coef, b_coef = analysis.ode_coefficients(k_eta, G, formula(k_eta, G), ode)
    assert a_coef**2 == pytest.approx(4 * b_coef, rel=1e-10)


def test_iteration_matrix_is_eq5():
    theta, m, k_eta, sigma = 0.7, -0.2, 0.05, 3.0
    m_new = G * m - k_eta * (theta + sigma * m)
    np.testing.assert_allclose(analysis.iteration_matrix(k_eta, G, sigma) @ [theta, m], [theta + m_new, m_new])


def test_simulation_is_super_sgd_on_the_parabola():
    k, lr, sigmas = 2.0, 0.01, [0.0, 0.9, 4.0]
    expected = analysis.simulate_momentum(k * lr, G, np.array(sigmas), 200)
    for j, sigma in enumerate(sigmas):
        theta = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
        opt = SuperSGD([theta], lr=lr, momentum=G, sigma=sigma)
        for _i in range(200):
            opt.zero_grad()
            (0.5 * k * theta**2).sum().backward()
            opt.step()
        opt.eval()
        assert theta.item() == pytest.approx(expected[200, j], rel=1e-12, abs=1e-15)


def test_rmsprop_simulation_is_super_rmsprop_on_the_parabola():
    expected = analysis.simulate_rmsprop(0.01, G, 3.0, 300)
    theta = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = SuperRMSprop([theta], lr=0.01, alpha=0.999, eps=1e-7, momentum=G, sigma=3.0)
    for _ in range(300):
        opt.zero_grad()
        (0.5 * theta**2).sum().backward()
        opt.step()
    opt.eval()
    assert theta.item() == pytest.approx(expected[300], rel=1e-10, abs=1e-14)


@pytest.mark.parametrize("T, omega, delta", [(12.3, 0.2, 0.4), (30.0, 0.0, 0.0), (5.0, 1.1, -0.7)])
def test_fit_recovers_a_known_damped_oscillation(T, omega, delta):
    t = np.arange(400)
    fit = analysis.fit_damped_oscillation(1.7 * np.exp(-t / T) * np.cos(omega * t + delta))
    assert fit.T == pytest.approx(T, rel=1e-4)
    assert fit.omega == pytest.approx(omega, abs=1e-4)
    assert fit.r_squared > 0.999999


def test_exponential_fit_recovers_decay_time():
    t = np.arange(300)
    assert analysis.fit_exponential_decay(0.8 * np.exp(-t / 17.0)).T == pytest.approx(17.0, rel=1e-6)


def test_fitted_sigma_star_agrees_with_exact_at_moderate_k_eta():
    star, _ = analysis.fitted_sigma_star(lambda s: analysis.simulate_momentum(0.05, G, s, 2000), sigma_max=20)
    assert star == pytest.approx(float(theory.exact_sigma_star(0.05, G)), abs=0.1)


def test_divergent_trajectory_has_infinite_time():
    trajectories = analysis.simulate_momentum(0.5, G, np.array([1.0, 30.0]), 500)
    times = analysis.fitted_relaxation_times(trajectories)
    assert math.isfinite(times[0]) and times[1] == math.inf


def test_ode_solution_is_exact_for_the_undamped_oscillator():
    # x'' + B x = 0 with A = 0: α = 0 needs σ = (g − 1)/kη, then x = cos(√kη t)
    k_eta, g = 0.04, 0.9
    sigma = (g - 1) / k_eta
    t = np.linspace(0, 50, 11)
    np.testing.assert_allclose(analysis.ode_solution(k_eta, g, sigma, 9, t), np.cos(0.2 * t), atol=1e-10)


@pytest.mark.parametrize("k_eta", [0.01, 0.3, 1.5])
def test_stationary_loss_of_plain_sgd_is_the_textbook_value(k_eta):
    assert analysis.stationary_loss(k_eta, 0.0, 0.0) == pytest.approx(1 / (2 * (2 - k_eta)), rel=1e-12)


@pytest.mark.parametrize("k_eta, g, sigma", [(0.3, 0.9, 2.0), (0.05, 0.9, 0.0), (0.05, 0.9, 8.0)])
def test_stationary_loss_matches_a_simulation_of_the_noisy_iteration(k_eta, g, sigma):
    """Eq. (5) written out with a noisy gradient, k = 1, η s = 1: many chains, long past their
    relaxation time; the mean of ½θ²/η against the Lyapunov solution."""
    rng = np.random.default_rng(0)
    eta = k_eta  # k = 1
    chains, burn_in, steps = 4000, 1500, 1500
    theta, m = np.zeros(chains), np.zeros(chains)
    total = 0.0
    for step in range(burn_in + steps):
        noise = rng.standard_normal(chains)  # s = 1/η, so that η·s = 1
        m = g * m - eta * ((theta + sigma * m) + noise / eta)
        theta = theta + m
        if step >= burn_in:
            total += float(np.mean(0.5 * theta**2))
    measured = total / steps * eta  # E[½kθ²] / (η s²) with k = 1, η s² = 1/η
    assert measured == pytest.approx(analysis.stationary_loss(k_eta, g, sigma), rel=0.03)


@pytest.mark.parametrize("g", [0.5, 0.9])
@pytest.mark.parametrize("sigma", [0.0, 0.9, 2.0, 8.0])
def test_largest_stable_k_eta_is_where_the_spectral_radius_reaches_one(g, sigma):
    limit = analysis.largest_stable_k_eta(g, sigma)
    below, above = (analysis.spectral_radius(limit * factor, g, sigma) for factor in (1 - 1e-6, 1 + 1e-6))
    assert below < 1 <= above
    assert analysis.stationary_loss(limit * 1.01, g, sigma) == math.inf
