"""Synthetic landscapes: the paper's 2-D function and classic test functions."""

from __future__ import annotations

import functools

import numpy as np
import scipy.optimize
import torch

from .base import Problem


class PaperValley2D(Problem):
    r"""Eq. (15): :math:`(\theta_1^2 + 2\theta_2 - 7)^2 + (2\theta_1 + \theta_2 - 5)^2
    + 10^{-3}(\theta_1^6 + \theta_2^6)`, started at (−1, −3.8) as in Figures 3 and 8.

    Non-convex with a curved valley; the paper gives the minimum as ≈ (1.690, 1.963).
    """

    name = "paper-valley-2d"
    dim = 2

    def __init__(self, start: tuple[float, float] = (-1.0, -3.8)) -> None:
        self._start = np.array(start, dtype=np.float64)

    def start(self) -> np.ndarray:
        return self._start.copy()

    def loss(self, theta):
        t1, t2 = theta[0], theta[1]
        return (t1**2 + 2 * t2 - 7) ** 2 + (2 * t1 + t2 - 5) ** 2 + 1e-3 * (t1**6 + t2**6)

    def gradient_numpy(self, theta: np.ndarray) -> np.ndarray:
        t1, t2 = theta
        a = t1**2 + 2 * t2 - 7
        b = 2 * t1 + t2 - 5
        return np.array([4 * t1 * a + 4 * b + 6e-3 * t1**5, 4 * a + 2 * b + 6e-3 * t2**5])

    def minimum(self) -> np.ndarray:
        return _valley_minimum()


@functools.cache
def _valley_minimum() -> np.ndarray:
    problem = PaperValley2D()
    result = scipy.optimize.minimize(
        problem.value_numpy, np.array([1.69, 1.96]), jac=problem.gradient_numpy,
        method="BFGS", options={"gtol": 1e-12},
    )
    return result.x
