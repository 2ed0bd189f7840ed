"""The σ* calculator (superaccel.theory) against independent computations: numpy's
eigenvalues of Eq. (5)'s matrix, a brute-force search, and qhoptim's QHM."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qhoptim.pyt import QHM

from superaccel import SuperSGD, theory

G = 0.9
K_ETAS = [0.003, 0.01, 0.05, 0.2, 0.7]


def eq5_matrix(k_eta: float, g: float, sigma: float) -> np.ndarray:
    """Eq. (5) on (θ^(i), m^(i−1)): m^(i) = g m − kη(θ + σ m), θ^(i+1) = θ + m^(i)."""
    return np.array([[1 - k_eta, g - k_eta * sigma], [-k_eta, g - k_eta * sigma]])


def numeric_radius(k_eta: float, g: float, sigma: float) -> float:
    return float(np.max(np.abs(np.linalg.eigvals(eq5_matrix(k_eta, g, sigma)))))


def test_eq5_matrix_is_eq5():
    theta, m, k_eta, sigma = 0.7, -0.2, 0.05, 3.0
    m_new = G * m - k_eta * (theta + sigma * m)
    np.testing.assert_allclose(eq5_matrix(k_eta, G, sigma) @ [theta, m], [theta + m_new, m_new])


def test_spectral_radius_closed_form_matches_numpy_eigenvalues():
    rng = np.random.default_rng(0)
    for _ in range(500):
        k_eta, g, sigma = rng.uniform(1e-4, 3.5), rng.uniform(0, 0.99), rng.uniform(0, 30)
        assert theory.spectral_radius(k_eta, g, sigma) == pytest.approx(numeric_radius(k_eta, g, sigma), rel=1e-9,
                                                                        abs=1e-12)


@pytest.mark.parametrize("k_eta", K_ETAS + [1.5, 3.0])
def test_exact_sigma_star_minimizes_the_numeric_spectral_radius(k_eta):
    sigmas = np.linspace(-50, 60, 220001)
    radii = [numeric_radius(k_eta, G, s) for s in sigmas[::100]]
    coarse = sigmas[::100][int(np.argmin(radii))]
    fine = np.linspace(coarse - 0.06, coarse + 0.06, 1201)
    radii = [numeric_radius(k_eta, G, s) for s in fine]
    assert theory.exact_sigma_star(k_eta, G) == pytest.approx(fine[int(np.argmin(radii))], abs=2e-3)
    # ρ has a square-root cusp at the double root, so compare at σ* itself, and check that
    # no grid point does better (numeric eigenvalues of a double root are good to ~1e-8)
    at_star = numeric_radius(k_eta, G, theory.exact_sigma_star(k_eta, G))
    assert at_star == pytest.approx(theory.optimal_rate(k_eta), abs=1e-7)
    assert theory.optimal_rate(k_eta) <= min(radii) + 1e-7


def test_threshold_of_a_positive_sigma_star():
    threshold = theory.positive_sigma_star_threshold(G)
    assert threshold == pytest.approx(0.0026334, rel=1e-4)  # the paper: ≈ 0.0027 from fits
    assert theory.exact_sigma_star(threshold * 0.99, G) < 0 < theory.exact_sigma_star(threshold * 1.01, G)


def test_relaxation_time():
    assert theory.relaxation_time(np.exp(-0.25)) == pytest.approx(4.0)
    assert theory.relaxation_time(1.0) == float("inf") and theory.relaxation_time(0.0) == 0.0


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
