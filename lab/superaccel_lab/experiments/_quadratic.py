"""The σ* scan over kη on ½kθ² (Section 2), shared by Figures 1 and 2."""

from __future__ import annotations

import functools

import numpy as np

from .. import analysis

MOMENTUM = 0.9
STEPS = 3000  # enough for |θ| to fall below the fit floor at the smallest kη scanned
SIGMA_MAX = 20.0


def k_eta_grid(quick: bool) -> np.ndarray:
    return np.logspace(-3, 0, 7 if quick else 19)


@functools.lru_cache(maxsize=8)
def fitted_sigma_stars(k_etas: tuple[float, ...], g: float = MOMENTUM,
                       sigma_max: float = SIGMA_MAX) -> tuple[np.ndarray, np.ndarray]:
    """(σ*, T at σ*) from the paper's fitting procedure, one per kη."""
    stars, times = [], []
    for k_eta in k_etas:
        star, time = analysis.fitted_sigma_star(
            lambda sigmas: analysis.simulate_momentum(k_eta, g, sigmas, STEPS), sigma_max=sigma_max
        )
        stars.append(star)
        times.append(time)
    return np.array(stars), np.array(times)
