"""One experiment runner: optimizer spec × problem × steps → trajectory.

Every quantity is recorded at θ (``optimizer.eval()``), not at the look-ahead point.
Divergence (a non-finite loss or parameters beyond ``DIVERGED_NORM``) is recorded as a
result, the run stops there, and the rest of the trajectory is NaN: never a crash.

Runs are typed: an :class:`OptimizerSpec` says what was run (method and hyperparameters),
and claims select runs by those values (:func:`find_run`), never by a plot label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from superaccel import SuperRMSprop, SuperSGD

from ..problems import Problem
from ..training import train

DIVERGED_NORM = 1e12
METHODS = ("gd", "momentum", "rmsprop")


@dataclass(frozen=True)
class OptimizerSpec:
    """A method and its hyperparameters: what a run is, and how to build its optimizer.

    ``method`` is "gd" (plain gradient descent), "momentum" (SuperSGD: σ = 0 is the heavy
    ball, σ = g Nesterov) or "rmsprop" (SuperRMSprop, Eq. 16).
    """

    method: str
    lr: float
    momentum: float = 0.0
    sigma: float = 0.0
    alpha: float = 0.999
    eps: float = 1e-7

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"Invalid method: {self.method!r} (choose from {', '.join(METHODS)})")

    @property
    def label(self) -> str:
        """The legend of a plot (never used to find a run)."""
        return "gd" if self.method == "gd" else f"σ = {self.sigma:g}"

    def build(self, params: list[torch.Tensor]) -> torch.optim.Optimizer:
        if self.method == "rmsprop":
            return SuperRMSprop(params, lr=self.lr, alpha=self.alpha, eps=self.eps, momentum=self.momentum,
                                sigma=self.sigma)
        return SuperSGD(params, lr=self.lr, momentum=self.momentum, sigma=self.sigma)

    def matches(self, **criteria: Any) -> bool:
        return all(getattr(self, key) == value for key, value in criteria.items())


def gradient_descent(lr: float) -> OptimizerSpec:
    return OptimizerSpec("gd", lr)


def momentum_method(lr: float, sigma: float, momentum: float = 0.9) -> OptimizerSpec:
    """SuperSGD with momentum g and super-acceleration σ."""
    return OptimizerSpec("momentum", lr, momentum=momentum, sigma=sigma)


def rmsprop_method(lr: float, sigma: float, momentum: float = 0.9, alpha: float = 0.999,
                   eps: float = 1e-7) -> OptimizerSpec:
    """SuperRMSprop with momentum g and super-acceleration σ (Eq. 16)."""
    return OptimizerSpec("rmsprop", lr, momentum=momentum, sigma=sigma, alpha=alpha, eps=eps)


@dataclass
class Trajectory:
    spec: OptimizerSpec
    thetas: np.ndarray  # (steps + 1, dim), at θ
    losses: np.ndarray  # (steps + 1,)
    distances: np.ndarray | None  # to the known minimum, when there is one
    diverged_at: int | None = None

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    def steps_to(self, distance: float) -> int | None:
        """First step with distance to the minimum below ``distance``, or None."""
        if self.distances is None:
            raise ValueError("no known minimum")
        hits = np.nonzero(self.distances < distance)[0]
        return int(hits[0]) if hits.size else None

    def to_data(self, with_thetas: bool = True) -> dict[str, Any]:
        """A JSON-ready record: the spec, the plot label and the curves."""
        return {
            "spec": asdict(self.spec),
            "label": self.spec.label,
            "loss": self.losses,
            **({"distance": self.distances} if self.distances is not None else {}),
            **({"theta": self.thetas} if with_thetas else {}),
            "diverged_at": self.diverged_at,
        }

    @classmethod
    def from_data(cls, run: dict[str, Any]) -> Trajectory:
        """Rebuild a trajectory from its :meth:`to_data` record (as figures plot them)."""
        return cls(OptimizerSpec(**run["spec"]), np.asarray(run["theta"]), np.asarray(run.get("loss", [])),
                   np.asarray(run["distance"]), run["diverged_at"])


def run(problem: Problem, spec: OptimizerSpec, steps: int) -> Trajectory:
    theta = torch.nn.Parameter(torch.tensor(problem.start(), dtype=torch.float64))
    thetas = np.full((steps + 1, problem.dim), np.nan)
    losses = np.full(steps + 1, np.nan)

    def record(step: int) -> tuple[float, np.ndarray]:
        with torch.no_grad():
            thetas[step], losses[step] = theta.detach().numpy(), float(problem.loss(theta))
        return losses[step], thetas[step]

    result = train(spec.build([theta]), lambda: problem.loss(theta), steps, evaluate=record,
                   diverged=lambda value: not np.isfinite(value[0]) or not np.all(np.abs(value[1]) < DIVERGED_NORM))
    minimum = problem.minimum()
    distances = None if minimum is None else np.linalg.norm(thetas - minimum, axis=1)
    return Trajectory(spec, thetas, losses, distances, result.diverged_at)


def run_all(problem: Problem, specs: Sequence[OptimizerSpec], steps: int) -> list[Trajectory]:
    return [run(problem, spec, steps) for spec in specs]


def trajectory_data(trajectories: Sequence[Trajectory], with_thetas: bool = True) -> list[dict[str, Any]]:
    """JSON-ready records of runs (select one with :func:`find_run`)."""
    return [t.to_data(with_thetas) for t in trajectories]


def find_run(runs: Sequence[dict[str, Any]], **criteria: Any) -> dict[str, Any]:
    """The one run record whose spec has these values, e.g. ``find_run(runs, method="gd")``
    or ``find_run(runs, method="momentum", sigma=2.0)``.  None or several is a ValueError
    naming the criteria and the runs there are."""
    hits = [r for r in runs if all(r["spec"][key] == value for key, value in criteria.items())]
    if len(hits) != 1:
        available = "; ".join(f"{r['spec']['method']} σ={r['spec']['sigma']:g}" for r in runs)
        raise ValueError(f"{len(hits)} runs match {criteria} (runs: {available})")
    return hits[0]
