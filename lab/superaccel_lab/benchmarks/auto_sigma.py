"""Ablation of ``sigma="auto"``: against fixed σ ∈ {0.9, 2, 4, 8}, the default σ = 2 and the
paper's 5 → 2 schedule, on every benchmark task, at the same learning rate and momentum.

For each task: SuperSGD (g = 0.9) and SuperAdam (SuperAdamW, weight decay 0.1, on the
language model) at the learning rate the tuning protocol chose for that family
(benchmarks/results/time_to_target/<task>.json; the middle of the task's grid if absent),
every variant on the seeds 3, 4, 5 (the protocol's fresh seeds), steps to the target
measured at θ; the auto runs record σ at every evaluation.  The 5 → 2 schedule is
``LinearSigma(start=5, end=2)`` over the first half of the task's step budget.

    python -m superaccel_lab.benchmarks.auto_sigma            # writes benchmarks/results/auto_sigma.json
    python -m superaccel_lab.benchmarks.auto_sigma --quick
    python -m superaccel_lab.benchmarks.auto_sigma --seeds 0 1 2 --out /tmp/dev.json     # the tuning seeds
    python -m superaccel_lab.benchmarks.auto_sigma --variants auto --out /tmp/auto.json   # only the auto rule
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from superaccel import LinearSigma, SuperAdam, SuperAdamW, SuperSGD

from ..experiments.figure import write_atomically
from .families import TRANSFORMER_WEIGHT_DECAY
from .tasks import Suite, Task, prepare_data, task_named, tasks
from .time_to_target import REPORT_SEEDS, RESULTS, _init_worker, execute, results_directory

FIXED = (0.9, 2.0, 4.0, 8.0)


@dataclass(frozen=True)
class Variant:
    """How σ is set: a constant, "auto", or the paper's schedule from ``sigma`` to 2."""

    name: str
    sigma: float | str
    scheduled: bool = False


VARIANTS = tuple(Variant(f"σ = {s:g}", s) for s in FIXED) + (Variant("auto", "auto"), Variant("5 → 2", 5.0, True))


@dataclass(frozen=True)
class Job:
    task: str
    quick: bool
    optimizer: str  # "SuperSGD" or "SuperAdam"
    lr: float
    variant: Variant
    seed: int


def optimizers_of(task: Task) -> dict[str, str]:
    """Our optimizer → the time-to-target family whose chosen lr it takes."""
    if task.suite is Suite.TRANSFORMER:
        return {"SuperAdamW": "SuperAdamW"}
    return {"SuperSGD": "SuperSGD (g = 0.9)", "SuperAdam": "SuperAdam"}


def chosen(task: Task, family: str, quick: bool) -> tuple[float, str | None]:
    """The lr the tuning protocol chose for ``family`` and the σ it chose with it (None, and
    the middle of the lr grid, where the task has no time-to-target result)."""
    path = results_directory(quick) / f"{task.name}.json"
    if path.exists():
        config = json.loads(path.read_text())["families"][family]["chosen"]
        return config["lr"], config["setting"]
    grid = task.sgd_lrs if family.startswith("SuperSGD") else task.adam_lrs
    return grid[len(grid) // 2], None


def make_optimizer(optimizer: str, params, lr: float, sigma: float | str) -> torch.optim.Optimizer:
    """``optimizer`` ("SuperSGD", "SuperAdam" or "SuperAdamW") as the ablation configures it."""
    if optimizer == "SuperSGD":
        return SuperSGD(params, lr=lr, momentum=0.9, sigma=sigma)
    if optimizer == "SuperAdamW":
        return SuperAdamW(params, lr=lr, sigma=sigma, weight_decay=TRANSFORMER_WEIGHT_DECAY)
    return SuperAdam(params, lr=lr, sigma=sigma)


def run_variant(job: Job) -> dict[str, Any]:
    task = task_named(job.task, job.quick)
    sigma = job.variant.sigma

    def schedule(optimizer):
        if not job.variant.scheduled:
            return []
        return [LinearSigma(optimizer, start=sigma, end=2.0, total_steps=max(1, task.max_steps // 2))]

    return execute(task, lambda run: make_optimizer(job.optimizer, run.params, job.lr, sigma), job.seed,
                   schedulers=schedule, record_sigma=sigma == "auto")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(REPORT_SEEDS),
                        help="seeds of every variant (default: the protocol's report seeds)")
    parser.add_argument("--variants", nargs="+", choices=[v.name for v in VARIANTS],
                        default=[v.name for v in VARIANTS], metavar="VARIANT",
                        help=f"variants to run, of {', '.join(repr(v.name) for v in VARIANTS)} (default: all)")
    parser.add_argument("--out", type=Path, help="where to write the JSON (default: benchmarks/results/)")
    args = parser.parse_args(argv)
    if len(args.variants) < len(VARIANTS) and args.out is None:
        parser.error("--variants needs --out: docs/auto_sigma.md is generated from a run of every variant")
    prepare_data()
    start = time.perf_counter()
    suite = tasks(args.quick)
    tuned = {(task.name, optimizer): chosen(task, family, args.quick)
             for task in suite for optimizer, family in optimizers_of(task).items()}
    jobs = [Job(task.name, args.quick, optimizer, tuned[task.name, optimizer][0], variant, seed)
            for task in suite for optimizer in optimizers_of(task)
            for variant in VARIANTS if variant.name in args.variants for seed in args.seeds]
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_worker) as pool:
        outcomes = list(pool.map(run_variant, jobs))
    results: dict[str, dict[str, Any]] = {}
    for job, outcome in zip(jobs, outcomes, strict=True):
        entry = results.setdefault(job.task, {}).setdefault(
            job.optimizer, {"lr": job.lr, "tuned_sigma": tuned[job.task, job.optimizer][1], "variants": {}})
        entry["variants"].setdefault(job.variant.name, []).append(
            {k: outcome[k] for k in ("reached_at", "train_seconds", "diverged", "final_metric")}
            | {"sigmas": outcome.get("sigmas")})
    for name, by_optimizer in results.items():
        for optimizer, entry in by_optimizer.items():
            steps = {v: [r["reached_at"] for r in runs] for v, runs in entry["variants"].items()}
            print(f"{name:<20} {optimizer:<10} lr {entry['lr']:g}: " + "; ".join(f"{v} {s}" for v, s in steps.items()),
                  flush=True)
    payload = {"config": {"quick": args.quick, "seeds": args.seeds, "fixed": FIXED, "torch": torch.__version__,
                          "seconds": time.perf_counter() - start,
                          "command": " ".join(["python -m superaccel_lab.benchmarks.auto_sigma",
                                               *(argv or sys.argv[1:])])},
               "tasks": results, "descriptions": {task.name: task.description for task in suite},
               "max_steps": {task.name: task.max_steps for task in suite}}
    out = args.out or RESULTS / ("auto_sigma_quick.json" if args.quick else "auto_sigma.json")
    write_atomically(out, lambda tmp: tmp.write_text(json.dumps(payload, indent=1)))
    print(f"wrote {out} ({payload['config']['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
