"""DeepOBS's ``quadratic_deep``: the standard stochastic quadratic of optimizer benchmarks.

Schneider, Balles & Hennig, "DeepOBS: a deep learning optimizer benchmark suite" (ICLR 2019),
after Chaudhari et al.'s observation that a network's Hessian has a bulk of small and a few
large eigenvalues. In 100 dimensions,

    loss(θ; x) = ½ (θ − x)ᵀ Q (θ − x),    Q = Rᵀ diag(λ) R,

with 90 eigenvalues drawn from U(0, 1) and 10 from U(30, 60), R a rotation drawn uniformly
(the subgroup algorithm of Diaconis & Shahshahani), and "data" x ~ N(0, 0.6² I): 1000 fixed
training points (NumPy ``RandomState(42)``) and 1000 test points (``RandomState(43)``); θ
starts at all ones; a mini-batch loss is the mean over its points. The eigenvalues and the
rotation come from one ``RandomState(42)`` stream in that order, as in DeepOBS, so Q is
DeepOBS's own.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["QuadraticDeep", "haar_rotation"]


def haar_rotation(dim: int, rng: np.random.RandomState) -> np.ndarray:
    """A rotation drawn uniformly from SO(dim), built up one dimension at a time: start from
    a random 2-D rotation; to go from d to d + 1 dimensions, embed the current rotation in
    the lower-right block and reflect it with the Householder reflection that takes the
    first axis to a uniformly random unit vector.  (DeepOBS draws from ``rng`` in exactly
    this order and negates the result at the end.)"""
    if dim < 2:
        raise ValueError(f"Invalid dim: {dim} (a rotation needs at least 2)")
    angle = 2 * np.pi * rng.uniform()
    rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    for d in range(2, dim):
        direction = rng.normal(size=(d + 1, 1))
        direction /= np.sqrt(direction.T @ direction)
        axis = np.zeros((d + 1, 1))
        axis[0] = 1.0
        normal = (axis - direction) / np.sqrt((axis - direction).T @ (axis - direction))
        embedded = np.eye(d + 1)
        embedded[1:, 1:] = rotation
        rotation = embedded - 2 * normal @ (normal.T @ embedded)
    return -rotation


class QuadraticDeep:
    """The problem and its data; :meth:`loss` is differentiable in θ."""

    dim = 100
    noise = 0.6
    points = 1000

    def __init__(self) -> None:
        rng = np.random.RandomState(42)
        self.eigenvalues = np.concatenate([rng.uniform(0.0, 1.0, 90), rng.uniform(30.0, 60.0, 10)])
        rotation = haar_rotation(self.dim, rng)
        self.hessian = torch.tensor(rotation.T @ np.diag(self.eigenvalues) @ rotation, dtype=torch.float32)
        self.train_data = torch.tensor(np.random.RandomState(42).normal(0.0, self.noise, (self.points, self.dim)),
                                       dtype=torch.float32)
        self.test_data = torch.tensor(np.random.RandomState(43).normal(0.0, self.noise, (self.points, self.dim)),
                                      dtype=torch.float32)

    def start(self) -> torch.Tensor:
        return torch.ones(self.dim)

    def loss(self, theta: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
        """Mean over the points of ½ (θ − x)ᵀ Q (θ − x)."""
        difference = theta - data
        return 0.5 * ((difference @ self.hessian) * difference).sum(dim=1).mean()

    def test_floor(self) -> float:
        """The least test loss: at θ = the mean of the test points."""
        return float(self.loss(self.test_data.mean(dim=0), self.test_data))
