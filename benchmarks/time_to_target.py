"""Steps and wall time to a target, with an equal tuning budget for every method.

Every method family gets the same learning-rate grid per task and three values of its own
second hyperparameter (σ for ours, momentum for Nesterov, ν for QHM); Adam and NAdam get
their default betas plus one alternative (two values). Tuning runs on seed 0: the
configuration that reaches the target in the fewest steps (ties: the better final metric)
is then run on seeds 0, 1, 2 (model initialization, mini-batch order, quadratic basis), and
the median and range of steps and wall time are reported. Metrics are measured at θ
(``optimizer.eval()`` for superaccel optimizers).

On the ill-conditioned quadratics the best fixed-step momentum rate is known,
(√κ − 1)/(√κ + 1); each method's measured asymptotic rate is reported against it.

    python benchmarks/time_to_target.py            # full (about 20 minutes on 2 cores)
    python benchmarks/time_to_target.py --quick    # a few minutes
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from qhoptim.pyt import QHM
from torch import nn

from superaccel import SuperAdam, SuperSGD
from superaccel.data import epoch_batches, load_mnist
from superaccel.experiments.figure import write_atomically
from superaccel.problems import IllConditionedQuadratic, PaperRegression
from superaccel.problems.networks import accuracy, nielsen_network, quadratic_cost
from superaccel.training import train

warnings.filterwarnings("ignore", category=UserWarning, module="qhoptim")
RESULTS = Path(__file__).resolve().parent / "results"
SEEDS = (0, 1, 2)

# family -> (builder(params, lr, extra), extras): the same budget except Adam/NAdam (2 betas)
FAMILIES: dict[str, tuple[Callable, list]] = {
    "SuperSGD": (lambda p, lr, s: SuperSGD(p, lr=lr, momentum=0.9, sigma=s), [2.0, 4.0, 8.0]),
    "SGD Nesterov": (lambda p, lr, g: torch.optim.SGD(p, lr=lr, momentum=g, nesterov=True), [0.8, 0.9, 0.95]),
    # QHM's α is the normalized step: α = lr/(1 − β) puts it on the same lr grid as SGD
    "QHM": (lambda p, lr, nu: QHM(p, lr=lr / (1 - 0.9), momentum=0.9, nu=nu), [0.5, 0.7, 0.9]),
    "SuperAdam": (lambda p, lr, s: SuperAdam(p, lr=lr, sigma=s), [1.0, 2.0, 4.0]),
    "Adam": (lambda p, lr, b: torch.optim.Adam(p, lr=lr, betas=b), [(0.9, 0.999), (0.95, 0.999)]),
    "NAdam": (lambda p, lr, b: torch.optim.NAdam(p, lr=lr, betas=b), [(0.9, 0.999), (0.95, 0.999)]),
}


@dataclass
class Run:
    """One training run: ``step()`` trains once, ``metric()`` measures at θ, ``reached(m)``."""

    params: list[torch.Tensor]
    step: Callable[[], torch.Tensor]
    metric: Callable[[], float]
    reached: Callable[[float], bool]


@dataclass
class Task:
    name: str
    description: str
    make_run: Callable[[int], Run]
    lrs: list[float]
    max_steps: int
    eval_every: int = 1
    condition_number: float | None = None
    higher_is_better: bool = False  # accuracy; the quadratics and the regression use a loss ratio


def quadratic_task(kappa: float) -> Task:
    def make(seed):
        problem = IllConditionedQuadratic(dim=50, condition_number=kappa, seed=seed)
        theta = nn.Parameter(torch.tensor(problem.start()))
        initial = float(problem.loss(theta.detach()))
        return Run([theta], lambda: problem.loss(theta), lambda: float(problem.loss(theta.detach())) / initial,
                   lambda m: m <= 1e-8)

    return Task(f"quadratic-k{kappa:g}", f"½θᵀAθ, 50 dims, κ = {kappa:g}, L = 1: loss down by 1e8",
                make, [0.1, 0.3, 1.0, 3.0], 4000, condition_number=kappa)


def regression_task() -> Task:
    problem = PaperRegression()
    floor = problem.minimum_loss()

    def make(seed):
        noise = torch.randn(problem.dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        theta = nn.Parameter(torch.tensor(problem.start()) + 0.01 * noise)
        initial = float(problem.loss(theta.detach())) - floor
        return Run([theta], lambda: problem.loss(theta),
                   lambda: (float(problem.loss(theta.detach())) - floor) / initial, lambda m: m <= 1e-5)

    return Task("regression-51", "the paper's 51-parameter regression: excess loss down by 1e5", make,
                [0.001, 0.003, 0.01, 0.03], 3000)


def _mnist(train_size: int, test_size: int):
    x, y = load_mnist("train", download=True)
    xt, yt = load_mnist("test", download=True)
    return x[:train_size], y[:train_size], xt[:test_size], yt[:test_size]


def classification_task(name, description, model_fn, loss_fn, data, target, lrs, max_steps, batch=None,
                        eval_every=1) -> Task:
    x, y, xt, yt = data

    def make(seed):
        torch.manual_seed(seed)
        model = model_fn(seed)
        batches = None if batch is None else epoch_batches(len(x), batch, torch.Generator().manual_seed(seed))

        def step():
            if batches is None:
                return loss_fn(model(x), y)
            index = next(batches)
            return loss_fn(model(x[index]), y[index])

        def metric():
            with torch.no_grad():
                return accuracy(model(xt), yt)

        return Run(list(model.parameters()), step, metric, lambda m: m >= target)

    return Task(name, description, make, lrs, max_steps, eval_every, higher_is_better=True)


def small_cnn(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(256, 10))


def tasks(quick: bool) -> list[Task]:
    lrs = [0.001, 0.01, 0.1, 1.0]
    ce = nn.functional.cross_entropy
    result = [quadratic_task(100.0), regression_task()]
    if quick:
        small = _mnist(2000, 1000)
        return result + [classification_task(
            "logreg-mnist", "logistic regression, 2000 images full batch: 85% test accuracy",
            lambda s: nn.Linear(784, 10), ce, small, 0.85, lrs, 150)]
    sub = _mnist(10000, 10000)
    full = _mnist(60000, 2000)
    return result + [
        quadratic_task(1000.0),
        classification_task("logreg-mnist", "logistic regression, 10k images full batch: 90% test accuracy",
                            lambda s: nn.Linear(784, 10), ce, sub, 0.90, lrs, 300),
        classification_task("mnist-30-fullbatch", "784-30-10 sigmoid, quadratic cost, 10k images full batch: "
                            "85% test accuracy", lambda s: nielsen_network((784, 30, 10), seed=s),
                            lambda o, t: quadratic_cost(o, t), sub, 0.85, lrs + [3.0], 300),
        classification_task("mnist-30-minibatch", "784-30-10 sigmoid, quadratic cost, batches of 200: "
                            "92% test accuracy (2000 test images)", lambda s: nielsen_network((784, 30, 10), seed=s),
                            lambda o, t: quadratic_cost(o, t), full, 0.92, lrs + [3.0], 1500, batch=200, eval_every=25),
        classification_task("cnn-mnist", "small CNN (2 conv + linear), batches of 128: 97% test accuracy "
                            "(2000 test images)", small_cnn, ce, full, 0.97, lrs, 600, batch=128, eval_every=25),
    ]


def run_once(task: Task, family: str, lr: float, extra, seed: int) -> dict:
    build, _ = FAMILIES[family]
    run = task.make_run(seed)
    result = train(build(run.params, lr, extra), run.step, task.max_steps, evaluate=lambda _: run.metric(),
                   eval_every=task.eval_every, diverged=lambda value: not math.isfinite(value), stop=run.reached)
    final = float("nan") if result.diverged else result.evaluations[-1][1]
    return {"reached_at": result.stopped_at, "train_seconds": result.train_seconds, "final_metric": final,
            "metrics": result.evaluations if task.condition_number else None}


def measured_rate(metrics) -> float | None:
    """Per-step rate of the distance (√loss) over the second half of a quadratic run."""
    steps, values = np.array([m[0] for m in metrics], float), np.array([m[1] for m in metrics], float)
    half = steps >= steps[-1] / 2
    if half.sum() < 5 or np.any(values[half] <= 0):
        return None
    return float(np.exp(np.polyfit(steps[half], np.log(values[half]), 1)[0] / 2))


def score(result: dict) -> tuple:
    steps = result["reached_at"] if result["reached_at"] is not None else math.inf
    final = result["final_metric"] if math.isfinite(result["final_metric"]) else math.inf
    return steps, final


def benchmark_task(task: Task, log) -> dict:
    families = {}
    for family, (_, extras) in FAMILIES.items():
        tuning = []
        for lr in task.lrs:
            for extra in extras:
                tuning.append(((lr, extra), run_once(task, family, lr, extra, seed=0)))
        # better = fewer steps; ties go to the better final metric
        sign = -1 if task.higher_is_better else 1
        (lr, extra), _ = min(tuning, key=lambda item: (score(item[1])[0], sign * score(item[1])[1]))
        seeds = [run_once(task, family, lr, extra, seed) for seed in SEEDS]
        reached = [r["reached_at"] for r in seeds if r["reached_at"] is not None]
        walls = [r["train_seconds"] for r in seeds if r["reached_at"] is not None]
        entry = {
            "best": {"lr": lr, "extra": extra}, "configs_tried": len(tuning),
            "reached": len(reached), "steps": [r["reached_at"] for r in seeds],
            "steps_median": statistics.median(reached) if len(reached) == len(SEEDS) else None,
            "steps_range": [min(reached), max(reached)] if reached else None,
            "seconds_median": statistics.median(walls) if len(walls) == len(SEEDS) else None,
            "seconds_range": [min(walls), max(walls)] if walls else None,
        }
        if task.condition_number:
            entry["rate"] = measured_rate(seeds[0]["metrics"])
        families[family] = entry
        log(f"  {task.name:<20} {family:<13} best lr={lr:g} {extra!s:<12} steps {entry['steps']} "
            f"median {entry['steps_median']}")
    out = {"description": task.description, "lrs": task.lrs, "max_steps": task.max_steps, "families": families}
    if task.condition_number:
        root = math.sqrt(task.condition_number)
        out["optimal_momentum_rate"] = (root - 1) / (root + 1)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(torch.get_num_threads())
    start = time.perf_counter()
    results = {}
    for task in tasks(args.quick):
        print(f"{task.name}: {task.description}", flush=True)
        results[task.name] = benchmark_task(task, lambda line: print(line, flush=True))
    out = args.out or RESULTS / ("time_to_target_quick.json" if args.quick else "time_to_target.json")
    payload = {"config": {"quick": args.quick, "seeds": list(SEEDS), "threads": torch.get_num_threads(),
                          "torch": torch.__version__, "seconds": time.perf_counter() - start,
                          "families": {f: [str(e) for e in extras] for f, (_, extras) in FAMILIES.items()},
                          "command": " ".join(["python", "benchmarks/time_to_target.py", *(argv or sys.argv[1:])])},
               "tasks": results}
    write_atomically(out, lambda tmp: tmp.write_text(json.dumps(payload, indent=1, default=str)))
    print(f"wrote {out} ({payload['config']['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
