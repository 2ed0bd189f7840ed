"""The theory module against independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from qhoptim.pyt import QHM

from superaccel import SuperRMSprop, SuperSGD, theory

G = 0.9
K_ETAS = [0.003, 0.01, 0.05, 0.2, 0.7]


@pytest.mark.parametrize("ode, formula", [(9, theory.sigma_star_eq12), (10, theory.sigma_star_eq13),
                                          (11, theory.sigma_star_eq14)])
@pytest.mark.parametrize("k_eta", K_ETAS)
def test_each_sigma_star_formula_is_critical_damping_of_its_ode(ode, formula, k_eta):
    a_coef, b_coef = theory.ode_coefficients(k_eta, G, formula(k_eta, G), ode)
    assert a_coef**2 == pytest.approx(4 * b_coef, rel=1e-10)


def test_spectral_radius_closed_form_matches_numpy_eigenvalues():
    rng = np.random.default_rng(0)
    for _ in range(500):
        k_eta, g, sigma = rng.uniform(1e-4, 3.5), rng.uniform(0, 0.99), rng.uniform(0, 30)
        numeric = np.max(np.abs(np.linalg.eigvals(theory.iteration_matrix(k_eta, g, sigma))))
        assert theory.spectral_radius(k_eta, g, sigma) == pytest.approx(numeric, rel=1e-9, abs=1e-12)


def test_iteration_matrix_is_eq5():
    theta, m, k_eta, sigma = 0.7, -0.2, 0.05, 3.0
    m_new = G * m - k_eta * (theta + sigma * m)
    np.testing.assert_allclose(theory.iteration_matrix(k_eta, G, sigma) @ [theta, m], [theta + m_new, m_new])


@pytest.mark.parametrize("k_eta", K_ETAS + [1.5, 3.0])
def test_exact_sigma_star_minimizes_the_numeric_spectral_radius(k_eta):
    sigmas = np.linspace(-50, 60, 220001)
    radii = [np.max(np.abs(np.linalg.eigvals(theory.iteration_matrix(k_eta, G, s)))) for s in sigmas[::100]]
    coarse = sigmas[::100][int(np.argmin(radii))]
    fine = np.linspace(coarse - 0.06, coarse + 0.06, 1201)
    radii = [np.max(np.abs(np.linalg.eigvals(theory.iteration_matrix(k_eta, G, s)))) for s in fine]
    assert theory.exact_sigma_star(k_eta, G) == pytest.approx(fine[int(np.argmin(radii))], abs=2e-3)
    # ρ has a square-root cusp at the double root, so compare at σ* itself, and check that
    # no grid point does better (numeric eigenvalues of a double root are good to ~1e-8)
    at_star = np.max(np.abs(np.linalg.eigvals(theory.iteration_matrix(k_eta, G, theory.exact_sigma_star(k_eta, G)))))
    assert at_star == pytest.approx(theory.optimal_rate(k_eta), abs=1e-7)
    assert theory.optimal_rate(k_eta) <= min(radii) + 1e-7


def test_threshold_of_a_positive_sigma_star():
    threshold = theory.positive_sigma_star_threshold(G)
    assert threshold == pytest.approx(0.0026334, rel=1e-4)  # the paper: ≈ 0.0027 from fits
    assert theory.exact_sigma_star(threshold * 0.99, G) < 0 < theory.exact_sigma_star(threshold * 1.01, G)


def test_simulation_is_super_sgd_on_the_parabola():
    k, lr, sigmas = 2.0, 0.01, [0.0, 0.9, 4.0]
    expected = theory.simulate_momentum(k * lr, G, np.array(sigmas), 200)
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
    expected = theory.simulate_rmsprop(0.01, G, 3.0, 300)
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
    fit = theory.fit_damped_oscillation(1.7 * np.exp(-t / T) * np.cos(omega * t + delta))
    assert fit.T == pytest.approx(T, rel=1e-4)
    assert fit.omega == pytest.approx(omega, abs=1e-4)
    assert fit.r_squared > 0.999999


def test_exponential_fit_recovers_decay_time():
    t = np.arange(300)
    assert theory.fit_exponential_decay(0.8 * np.exp(-t / 17.0)).T == pytest.approx(17.0, rel=1e-6)


def test_fitted_sigma_star_agrees_with_exact_at_moderate_k_eta():
    star, _ = theory.fitted_sigma_star(lambda s: theory.simulate_momentum(0.05, G, s, 2000), sigma_max=20)
    assert star == pytest.approx(float(theory.exact_sigma_star(0.05, G)), abs=0.1)


def test_divergent_trajectory_has_infinite_time():
    trajectories = theory.simulate_momentum(0.5, G, np.array([1.0, 30.0]), 500)
    times = theory.fitted_relaxation_times(trajectories)
    assert math.isfinite(times[0]) and times[1] == math.inf


def test_ode_solution_is_exact_for_the_undamped_oscillator():
    # x'' + B x = 0 with A = 0: α = 0 needs σ = (g − 1)/kη, then x = cos(√kη t)
    k_eta, g = 0.04, 0.9
    sigma = (g - 1) / k_eta
    t = np.linspace(0, 50, 11)
    np.testing.assert_allclose(theory.ode_solution(k_eta, g, sigma, 9, t), np.cos(0.2 * t), atol=1e-10)


# ---- QHM ----------------------------------------------------------------------------


def test_known_methods_map_to_known_nu():
    assert theory.to_qhm(0.1, 0.9, 0.0)["nu"] == pytest.approx(1.0)  # heavy ball
    assert theory.to_qhm(0.1, 0.9, 0.9)["nu"] == pytest.approx(0.9)  # Nesterov: ν = β
    assert theory.to_qhm(0.1, 0.9, 9.0)["nu"] == pytest.approx(0.0, abs=1e-12)  # plain SGD
    assert theory.to_qhm(0.1, 0.9, 9.0)["lr"] == pytest.approx(1.0)


@pytest.mark.parametrize("sigma", [0.0, 0.9, 2.0, 4.0, 20.0])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_super_sgd_follows_qhoptim_qhm_for_1000_steps(sigma, weight_decay):
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(6, 6, generator=gen, dtype=torch.float64)
    a = a @ a.T / 6 + 0.1 * torch.eye(6, dtype=torch.float64)
    b = torch.randn(6, generator=gen, dtype=torch.float64)
    start = torch.randn(6, generator=gen, dtype=torch.float64)
    ours, theirs = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    opt_ours = SuperSGD([ours], lr=0.01, momentum=G, sigma=sigma, weight_decay=weight_decay)
    opt_theirs = QHM([theirs], weight_decay=weight_decay, **theory.to_qhm(0.01, G, sigma))
    for _ in range(1000):
        for x, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad()
            (0.5 * x @ a @ x - b @ x).backward()
            opt.step()
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


def test_from_qhm_inverts_to_qhm():
    for sigma in (0.0, 0.9, 3.0, 15.0):
        back = theory.from_qhm(**theory.to_qhm(0.02, 0.8, sigma))
        assert back == pytest.approx({"lr": 0.02, "momentum": 0.8, "sigma": sigma})


def test_qhm_conversion_errors_name_the_value():
    with pytest.raises(ValueError, match="Invalid momentum value: 0"):
        theory.to_qhm(0.1, 0, 1.0)
    with pytest.raises(ValueError, match="Invalid nu value: 1.5"):
        theory.from_qhm(0.1, 0.9, 1.5)


@pytest.mark.parametrize("k_eta", [0.01, 0.3, 1.5])
def test_stationary_loss_of_plain_sgd_is_the_textbook_value(k_eta):
    assert theory.stationary_loss(k_eta, 0.0, 0.0) == pytest.approx(1 / (2 * (2 - k_eta)), rel=1e-12)


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
    assert measured == pytest.approx(theory.stationary_loss(k_eta, g, sigma), rel=0.03)


@pytest.mark.parametrize("g", [0.5, 0.9])
@pytest.mark.parametrize("sigma", [0.0, 0.9, 2.0, 8.0])
def test_largest_stable_k_eta_is_where_the_spectral_radius_reaches_one(g, sigma):
    limit = theory.largest_stable_k_eta(g, sigma)
    below, above = (theory.spectral_radius(limit * factor, g, sigma) for factor in (1 - 1e-6, 1 + 1e-6))
    assert below < 1 <= above
    assert theory.stationary_loss(limit * 1.01, g, sigma) == math.inf
