"""Steps and wall time to a target under one tuning protocol, the same for every family.

Protocol (for every task and optimizer family, benchmarks.families):

1. **Search**: every configuration of the family's grid (the task's learning rates for the
   family's lr scale × the family's settings of its second hyperparameter; the same count for
   every family of a suite) runs on the search seeds 0, 1, 2.
2. **Choice**: the configuration with the best *median* over the search seeds (fewest steps
   to the target, a seed that misses counting as infinitely many; ties: the better median
   final metric), never the best of one seed.
3. **Report**: the chosen configuration runs on the fresh seeds 3, 4, 5; the tables give the
   median steps, their range and the median training seconds of those runs.
4. **Sensitivity**: the fraction of the grid whose median search run reaches the target
   (Schmidt et al.'s tuning sensitivity).
5. **No tuning**: each optimizer at its own default setting with only the lr chosen (by the
   same median rule), reported on the fresh seeds.

Metrics are measured at θ (``superaccel.at_theta``).  Runs go to worker processes, one
thread each (``--workers``, default 2); each run's steps do not depend on the worker.
Results: one JSON per task in ``benchmarks/results/time_to_target/`` (``..._quick/`` for
``--quick``), so one task can be rerun alone:

    python -m superaccel_lab.benchmarks.time_to_target                   # the full suite (about 40 minutes on 2 cores)
    python -m superaccel_lab.benchmarks.time_to_target --tasks char-lm   # the language model alone
    python -m superaccel_lab.benchmarks.time_to_target --quick           # small versions of five tasks (a few minutes)
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..experiments.figure import write_atomically
from ..training import train
from .families import Family, LrScale, describe, families
from .tasks import Run, Task, prepare_data, task_named, tasks

RESULTS = Path(__file__).resolve().parent / "results"
SEARCH_SEEDS = (0, 1, 2)
REPORT_SEEDS = (3, 4, 5)


@dataclass(frozen=True)
class Config:
    family: str
    lr: float
    setting: int  # index into the family's settings


@dataclass(frozen=True)
class Job:
    task: str
    quick: bool
    config: Config
    seed: int
    #: stop when the target is reached (else run the whole budget, for a curve)
    stop_at_target: bool = True


def lrs_of(task: Task, family: Family) -> tuple[float, ...]:
    return {LrScale.SGD: task.sgd_lrs, LrScale.ADAM: task.adam_lrs, LrScale.MUON: task.muon_lrs}[family.lr_scale]


def grid(task: Task, family: Family) -> list[Config]:
    return [Config(family.name, lr, index) for lr in lrs_of(task, family) for index in range(len(family.settings))]


# -- one run (in a worker) -------------------------------------------------------------------

def _init_worker() -> None:
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=UserWarning)  # qhoptim's deprecated add_ signature


def run_job(job: Job) -> dict[str, Any]:
    task = task_named(job.task, job.quick)
    family = next(f for f in families(task.suite) if f.name == job.config.family)
    return execute(task, lambda run: family.build(run, job.config.lr, family.settings[job.config.setting]),
                   job.seed, job.stop_at_target)


def execute(task: Task, build: Callable[[Run], torch.optim.Optimizer], seed: int, stop_at_target: bool = True,
            schedulers: Callable[[torch.optim.Optimizer], list] = lambda optimizer: [],
            record_sigma: bool = False) -> dict[str, Any]:
    """One run of ``task`` with the optimizer ``build`` makes: steps to the target (measured
    at θ), training seconds, the final metric, and the whole curve when it runs the full
    budget (and σ at every evaluation with ``record_sigma``)."""
    run = task.make_run(seed)
    optimizer = build(run)
    schedules = [torch.optim.lr_scheduler.LambdaLR(optimizer, task.lr_multiplier)] if task.lr_multiplier else []
    sigmas: list[tuple[int, float]] = []

    def evaluate(step: int) -> float:
        if record_sigma:
            sigmas.append((step, float(optimizer.param_groups[0]["sigma"])))
        return run.metric()

    result = train(optimizer, run.loss, task.max_steps, evaluate=evaluate, eval_every=task.eval_every,
                   diverged=lambda value: not math.isfinite(value), stop=run.reached if stop_at_target else None,
                   schedulers=schedules + schedulers(optimizer))
    curve = result.evaluations
    reached_at = next((step for step, value in curve if run.reached(value)), None)
    final = float("nan") if result.diverged else curve[-1][1]
    return {"reached_at": reached_at, "train_seconds": result.train_seconds, "final_metric": final,
            "diverged": result.diverged, "curve": None if stop_at_target else curve,
            **({"sigmas": sigmas} if record_sigma else {})}


# -- the protocol --------------------------------------------------------------------------------

def median_score(results: list[dict], higher_is_better: bool) -> tuple[float, float]:
    """(median steps, a missed seed counting as ∞; median final metric, oriented so that
    smaller is better and a diverged run is worst)."""
    steps = statistics.median([r["reached_at"] if r["reached_at"] is not None else math.inf for r in results])
    finals = [r["final_metric"] if math.isfinite(r["final_metric"]) else (-math.inf if higher_is_better else math.inf)
              for r in results]
    final = statistics.median(finals)
    return steps, -final if higher_is_better else final


def choose(configs: Iterable[Config], search: dict[Config, list[dict]], higher_is_better: bool) -> Config:
    return min(configs, key=lambda c: median_score(search[c], higher_is_better))


def summary(results: list[dict]) -> dict[str, Any]:
    reached = [r["reached_at"] for r in results if r["reached_at"] is not None]
    seconds = [r["train_seconds"] for r in results if r["reached_at"] is not None]
    return {"steps": [r["reached_at"] for r in results], "reached": len(reached),
            "steps_median": statistics.median(reached) if len(reached) == len(results) else None,
            "steps_range": [min(reached), max(reached)] if reached else None,
            "seconds_median": statistics.median(seconds) if len(seconds) == len(results) else None,
            "final_metrics": [r["final_metric"] for r in results]}


def benchmark_task(task: Task, quick: bool, pool: ProcessPoolExecutor, log) -> dict[str, Any]:
    family_list = families(task.suite)
    search_jobs = [Job(task.name, quick, config, seed) for family in family_list for config in grid(task, family)
                   for seed in SEARCH_SEEDS]
    outcomes = dict(zip(search_jobs, pool.map(run_job, search_jobs), strict=True))
    search = {config: [outcomes[Job(task.name, quick, config, seed)] for seed in SEARCH_SEEDS]
              for family in family_list for config in grid(task, family)}

    chosen, untuned = {}, {}
    for family in family_list:
        chosen[family.name] = choose(grid(task, family), search, task.higher_is_better)
        if family.default is not None:
            index = family.settings.index(family.default)
            untuned[family.name] = choose([c for c in grid(task, family) if c.setting == index], search,
                                          task.higher_is_better)
    report_configs = list(dict.fromkeys([*chosen.values(), *untuned.values()]))
    report_jobs = {(config, seed): Job(task.name, quick, config, seed, stop_at_target=not task.keep_curves)
                   for config in report_configs for seed in REPORT_SEEDS}
    report_outcomes = dict(zip(report_jobs, pool.map(run_job, report_jobs.values()), strict=True))
    report = {config: [report_outcomes[config, seed] for seed in REPORT_SEEDS] for config in report_configs}

    out_families = {}
    for family in family_list:
        configs = grid(task, family)
        best = chosen[family.name]
        entry = {
            "setting_name": family.setting_name,
            "grid": [{"lr": c.lr, "setting": describe(family.settings[c.setting]),
                      "median_steps": _finite(median_score(search[c], task.higher_is_better)[0])} for c in configs],
            "reaching_fraction": sum(median_score(search[c], task.higher_is_better)[0] < math.inf
                                     for c in configs) / len(configs),
            "chosen": {"lr": best.lr, "setting": describe(family.settings[best.setting])},
            "report": summary(report[best]),
        }
        if task.keep_curves:
            entry["curves"] = [r["curve"] for r in report[best]]
        if family.name in untuned:
            config = untuned[family.name]
            entry["untuned"] = {"lr": config.lr, "setting": describe(family.settings[config.setting]),
                                "report": summary(report[config])}
        out_families[family.name] = entry
        r = entry["report"]
        log(f"  {task.name:<18} {family.name:<20} chose lr {best.lr:g} {entry['chosen']['setting']:<12} "
            f"fresh seeds {r['steps']} (median {r['steps_median']}); grid reaching "
            f"{100 * entry['reaching_fraction']:.0f}%")
    result = {"name": task.name, "description": task.description, "regime": task.regime.name,
              "regime_description": task.regime.value, "suite": task.suite.value, "max_steps": task.max_steps,
              "eval_every": task.eval_every, "higher_is_better": task.higher_is_better,
              "lrs": {"sgd": task.sgd_lrs, "adam": task.adam_lrs, "muon": task.muon_lrs}, "families": out_families}
    if task.condition_number:
        root = math.sqrt(task.condition_number)
        result["optimal_momentum_rate"] = (root - 1) / (root + 1)
    return result


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def results_directory(quick: bool) -> Path:
    return RESULTS / ("time_to_target_quick" if quick else "time_to_target")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small versions of five tasks (a few minutes)")
    parser.add_argument("--tasks", nargs="*", help="task names to run (default: all of the suite)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes, one thread each (default 2)")
    parser.add_argument("--out", type=Path, default=None, help="directory of the per-task JSON files")
    args = parser.parse_args(argv)
    suite = tasks(args.quick)
    names = [task.name for task in suite]
    unknown = set(args.tasks or []) - set(names)
    if unknown:
        parser.error(f"unknown task(s): {', '.join(sorted(unknown))} (choose from {', '.join(names)})")
    if args.workers < 1:
        parser.error(f"invalid --workers: {args.workers}")
    selected = [task for task in suite if not args.tasks or task.name in args.tasks]
    out = args.out or results_directory(args.quick)
    prepare_data()
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_worker) as pool:
        for task in selected:
            began = time.perf_counter()
            print(f"{task.name}: {task.description}", flush=True)
            result = benchmark_task(task, args.quick, pool, lambda line: print(line, flush=True))
            result["config"] = {"quick": args.quick, "search_seeds": SEARCH_SEEDS, "report_seeds": REPORT_SEEDS,
                                "workers": args.workers, "threads_per_worker": 1, "torch": torch.__version__,
                                "seconds": time.perf_counter() - began,
                                "command": " ".join(["python -m superaccel_lab.benchmarks.time_to_target",
                                                     *(["--quick"] if args.quick else []), "--tasks", task.name]),
                                "families": {f.name: {"settings": [describe(s) for s in f.settings],
                                                      "setting_name": f.setting_name, "lr_scale": f.lr_scale.value,
                                                      "default": None if f.default is None else describe(f.default),
                                                      "no_default": f.no_default}
                                             for f in families(task.suite)}}
            path = out / f"{task.name}.json"
            write_atomically(path, lambda tmp, data=result: tmp.write_text(json.dumps(data, indent=1)))
            print(f"wrote {path} ({result['config']['seconds']:.0f} s)", flush=True)
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
