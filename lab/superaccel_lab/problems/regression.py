"""The paper's linear regression (Section 3.2, Figure 4)."""

from __future__ import annotations

import numpy as np
import torch

from .base import Problem


class PaperRegression(Problem):
    r"""Mean-squared linear regression with an intercept: 51 parameters for N_f = 50.

    Features :math:`x_\alpha \sim U(0, 1)`, targets :math:`y = \sum_\alpha (x_\alpha/N_f)^3`,
    every θ starting at 0.2, :math:`L = \frac{1}{N}\sum_i (y_i - \theta_0 - \sum_\alpha \theta_\alpha x_{i\alpha})^2`.
    The loss is quadratic with Hessian :math:`\frac{2}{N} X^\top X` (X with a column of ones).
    """

    name = "paper-regression"

    def __init__(self, n_features: int = 50, n_data: int = 1000, seed: int = 0, start_value: float = 0.2) -> None:
        rng = np.random.default_rng(seed)
        features = rng.uniform(0.0, 1.0, size=(n_data, n_features))
        self.targets = np.sum((features / n_features) ** 3, axis=1)
        self.design = np.hstack([np.ones((n_data, 1)), features])
        self.dim, self.n_data, self.start_value = n_features + 1, n_data, start_value
        self._design_t, self._targets_t = torch.tensor(self.design), torch.tensor(self.targets)

    def start(self) -> np.ndarray:
        return np.full(self.dim, self.start_value)

    def loss(self, theta):
        residual = self._targets_t - self._design_t @ theta
        return (residual**2).mean()

    def gradient_numpy(self, theta: np.ndarray) -> np.ndarray:
        return 2 / self.n_data * self.design.T @ (self.design @ theta - self.targets)

    def hessian(self) -> np.ndarray:
        return 2 / self.n_data * self.design.T @ self.design

    def minimum(self) -> np.ndarray:
        return np.linalg.lstsq(self.design, self.targets, rcond=None)[0]

    def minimum_loss(self) -> float:
        return self.value_numpy(self.minimum())
