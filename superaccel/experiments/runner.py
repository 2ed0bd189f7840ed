"""One experiment runner: optimizer spec × problem × steps → trajectory.

Every quantity is recorded at θ (``optimizer.eval()``), not at the look-ahead point.
Divergence (a non-finite loss or parameters beyond ``DIVERGED_NORM``) is recorded as a
result, the run stops there, and the rest of the trajectory is NaN: never a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..optim import SuperRMSprop, SuperSGD
from ..optim import SuperOptimizer
from ..problems import Problem

DIVERGED_NORM = 1e12


@dataclass(frozen=True)
class OptimizerSpec:
    """How to build an optimizer for one parameter tensor, and what to call it in a plot."""

    label: str
    build: Callable[[list[torch.Tensor]], torch.optim.Optimizer]
    sigma: float | None = None


def gradient_descent(lr: float) -> OptimizerSpec:
    return OptimizerSpec("gd", lambda p: SuperSGD(p, lr=lr, momentum=0.0, sigma=0.0))


def super_sgd(lr: float, sigma: float, momentum: float = 0.9) -> OptimizerSpec:
    return OptimizerSpec(f"σ = {sigma:g}", lambda p: SuperSGD(p, lr=lr, momentum=momentum, sigma=sigma), sigma)


def super_rmsprop(lr: float, sigma: float, momentum: float = 0.9, alpha: float = 0.999,
                  eps: float = 1e-7) -> OptimizerSpec:
    return OptimizerSpec(f"σ = {sigma:g}", lambda p: SuperRMSprop(p, lr=lr, alpha=alpha, eps=eps,
                                                                   momentum=momentum, sigma=sigma), sigma)


@dataclass
class Trajectory:
    label: str
    sigma: float | None
    thetas: np.ndarray  # (steps + 1, dim), at θ
    losses: np.ndarray  # (steps + 1,)
    distances: np.ndarray | None  # to the known minimum, when there is one
    diverged_at: int | None = None

    @classmethod
    def from_data(cls, label: str, run: dict[str, Any]) -> Trajectory:
        """Rebuild a trajectory from its :func:`trajectory_data` entry (as figures plot them)."""
        return cls(label, run["sigma"], np.asarray(run["theta"]), np.asarray(run.get("loss", [])),
                   np.asarray(run["distance"]), run["diverged_at"])

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    def steps_to(self, distance: float) -> int | None:
        """First step with distance to the minimum below ``distance``, or None."""
        if self.distances is None:
            raise ValueError("no known minimum")
        hits = np.nonzero(self.distances < distance)[0]
        return int(hits[0]) if hits.size else None


def run(problem: Problem, spec: OptimizerSpec, steps: int) -> Trajectory:
    theta = torch.nn.Parameter(torch.tensor(problem.start(), dtype=torch.float64))
    optimizer = spec.build([theta])
    lookahead = isinstance(optimizer, SuperOptimizer)
    thetas = np.full((steps + 1, problem.dim), np.nan)
    losses = np.full(steps + 1, np.nan)
    diverged_at = None
    for step in range(steps + 1):
        if lookahead:
            optimizer.eval()
        with torch.no_grad():
            loss = float(problem.loss(theta))
            thetas[step] = theta.detach().numpy()
        losses[step] = loss
        if not np.isfinite(loss) or not np.all(np.abs(thetas[step]) < DIVERGED_NORM):
            diverged_at = step
            break
        if step == steps:
            break
        if lookahead:
            optimizer.train()
        optimizer.zero_grad()
        problem.loss(theta).backward()
        optimizer.step()
    minimum = problem.minimum()
    distances = None if minimum is None else np.linalg.norm(thetas - minimum, axis=1)
    return Trajectory(spec.label, spec.sigma, thetas, losses, distances, diverged_at)


def run_all(problem: Problem, specs: Sequence[OptimizerSpec], steps: int) -> list[Trajectory]:
    return [run(problem, spec, steps) for spec in specs]


def trajectory_data(trajectories: Sequence[Trajectory], with_thetas: bool = True) -> dict[str, Any]:
    """A JSON-ready summary of runs, keyed by label."""
    return {
        t.label: {
            "sigma": t.sigma,
            "loss": t.losses,
            **({"distance": t.distances} if t.distances is not None else {}),
            **({"theta": t.thetas} if with_thetas else {}),
            "diverged_at": t.diverged_at,
        }
        for t in trajectories
    }
