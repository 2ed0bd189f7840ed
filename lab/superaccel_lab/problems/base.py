"""The interface every test problem implements."""

from __future__ import annotations

import numpy as np
import torch


class Problem:
    """A loss over one parameter vector θ (float64), with a start point and, where known,
    its minimizer.

    Subclasses implement :meth:`loss` (torch, differentiable) and may override
    :meth:`gradient_numpy` with an analytic form; the default uses autograd.
    """

    name: str = "problem"
    dim: int

    def start(self) -> np.ndarray:
        raise NotImplementedError

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def minimum(self) -> np.ndarray | None:
        """The minimizer, or None when it is not known."""
        return None

    def value_numpy(self, theta: np.ndarray) -> float:
        return float(self.loss(torch.as_tensor(theta, dtype=torch.float64)))

    def gradient_numpy(self, theta: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(theta, dtype=torch.float64).clone().requires_grad_(True)
        self.loss(x).backward()
        return x.grad.numpy()

    def distance_to_minimum(self, theta: np.ndarray) -> float:
        minimum = self.minimum()
        if minimum is None:
            raise ValueError(f"{self.name} has no known minimum")
        return float(np.linalg.norm(np.asarray(theta) - minimum))
