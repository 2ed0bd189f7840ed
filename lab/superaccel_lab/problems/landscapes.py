"""Synthetic landscapes: the paper's 2-D function and classic test functions."""

from __future__ import annotations

import functools
import math

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


class Rosenbrock(Problem):
    """(a − θ1)² + b(θ2 − θ1²)², minimum (a, a²); the classic start (−1.2, 1)."""

    name = "rosenbrock"
    dim = 2

    def __init__(self, a: float = 1.0, b: float = 100.0, start: tuple[float, float] = (-1.2, 1.0)) -> None:
        self.a, self.b, self._start = a, b, np.array(start, dtype=np.float64)

    def start(self) -> np.ndarray:
        return self._start.copy()

    def loss(self, theta):
        return (self.a - theta[0]) ** 2 + self.b * (theta[1] - theta[0] ** 2) ** 2

    def gradient_numpy(self, theta: np.ndarray) -> np.ndarray:
        t1, t2 = theta
        return np.array([-2 * (self.a - t1) - 4 * self.b * t1 * (t2 - t1**2), 2 * self.b * (t2 - t1**2)])

    def minimum(self) -> np.ndarray:
        return np.array([self.a, self.a**2])


class Beale(Problem):
    """Beale's function, minimum (3, 0.5); started at (1, 1)."""

    name = "beale"
    dim = 2
    _C = (1.5, 2.25, 2.625)

    def __init__(self, start: tuple[float, float] = (1.0, 1.0)) -> None:
        self._start = np.array(start, dtype=np.float64)

    def start(self) -> np.ndarray:
        return self._start.copy()

    def loss(self, theta):
        x, y = theta[0], theta[1]
        return sum((c - x + x * y ** (i + 1)) ** 2 for i, c in enumerate(self._C))

    def minimum(self) -> np.ndarray:
        return np.array([3.0, 0.5])


class IllConditionedQuadratic(Problem):
    """½ θᵀAθ with A's eigenvalues log-spaced from 1/κ·L to L in a random basis; minimum 0.

    For a fixed-step momentum method the best possible rate is (√κ − 1)/(√κ + 1).
    """

    name = "ill-conditioned-quadratic"

    def __init__(self, dim: int = 20, condition_number: float = 100.0, largest: float = 1.0, seed: int = 0) -> None:
        if dim < 2 or not condition_number >= 1:
            raise ValueError(f"Invalid quadratic: dim={dim}, condition_number={condition_number}")
        rng = np.random.default_rng(seed)
        basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        self.eigenvalues = np.geomspace(largest / condition_number, largest, dim)
        self.matrix = basis @ np.diag(self.eigenvalues) @ basis.T
        self.dim, self.condition_number = dim, condition_number
        self._start = rng.standard_normal(dim)
        self._matrix_t = torch.tensor(self.matrix)

    def start(self) -> np.ndarray:
        return self._start.copy()

    def loss(self, theta):
        return 0.5 * theta @ self._matrix_t @ theta

    def gradient_numpy(self, theta: np.ndarray) -> np.ndarray:
        return self.matrix @ theta

    def hessian(self) -> np.ndarray:
        return self.matrix

    def minimum(self) -> np.ndarray:
        return np.zeros(self.dim)

    def optimal_momentum_rate(self) -> float:
        root = math.sqrt(self.condition_number)
        return (root - 1) / (root + 1)
