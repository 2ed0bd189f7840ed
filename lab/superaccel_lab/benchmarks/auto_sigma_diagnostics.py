"""The measurements behind the design note of ``sigma="auto"`` (docs/auto_sigma_design.md):
why it misses the rows of docs/auto_sigma.md that it misses.

- ``curvature``: the estimator's curvature range against the top eigenvalue of the Hessian
  (power iteration on Hessian-vector products, on the batch of the step, at the point the
  gradient is taken), for SuperSGD on three benchmark tasks.
- ``early_steps``: mnist-30-fullbatch, both optimizers, the report seeds: steps to the target
  with auto, with σ = 4 and 8, with σ = 4 or 8 for the first 5 steps and auto after them, and
  with auto for the first 5 steps and σ = 4 or 8 after them: which steps decide the run.
- ``between``: the rows where σ = 0.9 is the best fixed σ and auto misses (logistic regression
  and the CNN with SuperSGD, the language model): fixed σ = 1.2 and 1.5, against the best.
- ``oracle``: SuperSGD with σ set to the theory's σ* of the Hessian's top eigenvalue, measured
  by power iteration every step (every 5 after the first 10): the theory's σ without estimation
  error, on logistic regression, mnist-30-fullbatch and the CNN.
- ``started_at``: every row of the ablation (results/auto_sigma.json, its seeds) with auto
  started at σ = 4 instead of Nesterov's g, scored by the ablation's rule.
- ``noise``: the stationary loss of Eq. (5)'s map under additive gradient noise against σ
  (:func:`superaccel.analysis.stationary_loss`), relative to σ = 0.

    python -m superaccel_lab.benchmarks.auto_sigma_diagnostics     # writes results/auto_sigma_diagnostics.json
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import multiprocessing
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from superaccel import SuperSGD, auto_sigma, theory
from superaccel.optim._auto_sigma import new_state as new_auto_sigma_state

from .. import analysis
from ..experiments.figure import write_atomically
from ..training import train
from .auto_sigma import chosen, make_optimizer, optimizers_of
from .make_docs import auto_sigma_rows, plan_name, ratio_text, ratio_to_best, steps_text
from .tasks import Run, Task, prepare_data, task_named
from .time_to_target import REPORT_SEEDS, RESULTS, _init_worker, execute, median_score

CURVATURE_CHECKS = {"mnist-30-fullbatch": (20, 100, 200), "cnn-mnist": (20, 100, 250), "logreg-mnist": (5, 15, 30)}
CURVATURE_SEED = 3
POWER_ITERATIONS = 25
EARLY_TASK = "mnist-30-fullbatch"
EARLY_STEPS = 5
EARLY_SIGMAS = (4.0, 8.0)
START_SIGMA = 4.0
BETWEEN_ROWS = (("logreg-mnist", "SuperSGD"), ("cnn-mnist", "SuperSGD"), ("char-lm", "SuperAdamW"))
BETWEEN_SIGMAS = (1.2, 1.5)
ORACLE_TASKS = ("logreg-mnist", "mnist-30-fullbatch", "cnn-mnist")
ORACLE_DENSE_STEPS = 10
ORACLE_EVERY = 5


def top_hessian_eigenvalue(loss: torch.Tensor, params: list[torch.Tensor], generator: torch.Generator) -> float:
    """The eigenvalue of largest magnitude of the Hessian of ``loss``, by power iteration."""
    grads = torch.autograd.grad(loss, params, create_graph=True)
    vector = [torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in params]
    eigenvalue = 0.0
    for _ in range(POWER_ITERATIONS):
        norm = math.sqrt(sum(float((v * v).sum()) for v in vector))
        vector = [v / norm for v in vector]
        product = torch.autograd.grad(grads, params, grad_outputs=vector, retain_graph=True)
        eigenvalue = sum(float((v * h).sum()) for v, h in zip(vector, product, strict=True))
        vector = [h.detach() for h in product]
    return eigenvalue


def sgd_lr(task_name: str) -> tuple[Task, float]:
    """The task and the lr the tuning protocol chose for SuperSGD on it, as the ablation uses."""
    task = task_named(task_name, False)
    return task, chosen(task, optimizers_of(task)["SuperSGD"], False)[0]


def curvature(task_name: str, steps: tuple[int, ...]) -> list[dict[str, Any]]:
    task, lr = sgd_lr(task_name)
    run = task.make_run(CURVATURE_SEED)
    optimizer = SuperSGD(run.params, lr=lr, momentum=0.9, sigma="auto")
    params = [p for p in run.params if p.requires_grad]
    generator = torch.Generator().manual_seed(0)
    rows = []

    def measure(step: int) -> None:
        if step not in steps:
            return
        group = optimizer.param_groups[0]
        with sdpa_kernel(SDPBackend.MATH):  # the fused attention kernels have no double backward
            top = top_hessian_eigenvalue(run.loss(), params, generator)
        estimator = group["auto_sigma"]
        rows.append({"step": step, "top_k_eta": top * lr, "estimated_high_k_eta": estimator["high"] * lr,
                     "estimated_low_k_eta": estimator["low"] * lr, "sigma": group["sigma"]})

    train(optimizer, run.loss, max(steps) + 1, evaluate=lambda step: None, eval_every=max(steps) + 1,
          evaluate_lookahead=measure)
    return rows


class SwitchSigma:
    """Stepped after every optimizer step (as σ schedulers are): after ``at`` steps every
    group's σ becomes ``then``, a number, or "auto" (an estimator from then on, starting from
    the σ the group has)."""

    def __init__(self, optimizer: torch.optim.Optimizer, at: int, then: float | str) -> None:
        self.optimizer, self.at, self.then, self.steps = optimizer, at, then, 0

    def step(self) -> None:
        self.steps += 1
        if self.steps != self.at:
            return
        for group in self.optimizer.param_groups:
            if self.then == auto_sigma.AUTO:
                group["auto_sigma"] = new_auto_sigma_state()
            else:
                group["auto_sigma"], group["sigma"] = None, float(self.then)


class TopCurvatureSigma:
    """Stepped after every optimizer step: σ of every group becomes the theory's σ*(kη, g) of
    the top eigenvalue of the Hessian at the point the next gradient is taken (power iteration;
    every step for the first ORACLE_DENSE_STEPS steps, every ORACLE_EVERY steps after them),
    clipped to [0, σ_max], σ_max where that eigenvalue is not positive: the theory's σ with no
    error in the curvature.  ``loss`` is the run's: on a mini-batch task each measurement draws
    a batch of its own from the training stream."""

    def __init__(self, optimizer: torch.optim.Optimizer, loss, lr: float, momentum: float) -> None:
        self.optimizer, self.loss, self.lr, self.momentum, self.steps = optimizer, loss, lr, momentum, 0
        self.params = [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]
        self.generator = torch.Generator().manual_seed(0)
        self.trace: list[tuple[int, float, float]] = []  # (step, top kη, σ)
        self.measure()

    def measure(self) -> None:
        with sdpa_kernel(SDPBackend.MATH):
            k_eta = top_hessian_eigenvalue(self.loss(), self.params, self.generator) * self.lr
        sigma = auto_sigma.SIGMA_MAX if k_eta <= 0 else float(theory.exact_sigma_star(k_eta, self.momentum))
        sigma = min(max(sigma, 0.0), auto_sigma.SIGMA_MAX)
        for group in self.optimizer.param_groups:
            group["sigma"] = sigma
        self.trace.append((self.steps, k_eta, sigma))

    def step(self) -> None:
        self.steps += 1
        if self.steps < ORACLE_DENSE_STEPS or self.steps % ORACLE_EVERY == 0:
            self.measure()


@dataclass(frozen=True)
class RunSpec:
    """One run: σ (a number or "auto"), optionally switched to ``then`` after EARLY_STEPS
    steps, or auto started at ``start`` instead of Nesterov's g, or (``oracle``) σ set by
    :class:`TopCurvatureSigma`."""

    task: str
    optimizer: str
    lr: float
    seed: int
    sigma: float | str = auto_sigma.AUTO
    then: float | str | None = None
    start: float | None = None
    oracle: bool = False


def run(spec: RunSpec) -> dict[str, Any]:
    task = task_named(spec.task, False)
    runs: list[Run] = []

    def make_run(seed: int) -> Run:  # the oracle needs the run's loss
        runs.append(task.make_run(seed))
        return runs[-1]

    def build(run: Run):
        optimizer = make_optimizer(spec.optimizer, run.params, spec.lr, spec.sigma)
        if spec.start is not None:
            for group in optimizer.param_groups:
                group["sigma"] = spec.start
        return optimizer

    oracles: list[TopCurvatureSigma] = []

    def schedulers(optimizer):
        if spec.oracle:
            oracles.append(TopCurvatureSigma(optimizer, runs[-1].loss, spec.lr, optimizer.param_groups[0]["momentum"]))
            return [oracles[-1]]
        return [] if spec.then is None else [SwitchSigma(optimizer, EARLY_STEPS, spec.then)]

    outcome = execute(dataclasses.replace(task, make_run=make_run), build, spec.seed, schedulers=schedulers)
    return ({key: outcome[key] for key in ("reached_at", "train_seconds", "diverged", "final_metric")}
            | ({"trace": oracles[0].trace} if oracles else {}))


def early_steps(pool: ProcessPoolExecutor) -> list[dict[str, Any]]:
    """Runs whose σ is ``first`` for EARLY_STEPS steps and ``then`` after them (a number or
    "auto"; equal for no switch): steps to the target on each report seed."""
    task = task_named(EARLY_TASK, False)
    plans: list[tuple[float | str, float | str]] = [(auto_sigma.AUTO, auto_sigma.AUTO)]
    for sigma in EARLY_SIGMAS:
        plans += [(sigma, sigma), (sigma, auto_sigma.AUTO), (auto_sigma.AUTO, sigma)]
    records = []
    for optimizer, family in optimizers_of(task).items():
        lr = chosen(task, family, False)[0]
        specs = [[RunSpec(task.name, optimizer, lr, seed, first, None if then == first else then)
                  for seed in REPORT_SEEDS] for first, then in plans]
        outcomes = per_plan(pool.map(run, [spec for by_seed in specs for spec in by_seed]), len(REPORT_SEEDS))
        for (first, then), by_seed in zip(plans, outcomes, strict=True):
            records.append({"optimizer": optimizer, "first": first, "then": then,
                            "reached": [outcome["reached_at"] for outcome in by_seed]})
    return records


def per_plan(outcomes: Iterable[dict[str, Any]], seeds: int) -> list[list[dict[str, Any]]]:
    """The outcomes of runs submitted plan by plan, ``seeds`` runs each, grouped by plan."""
    outcomes = list(outcomes)
    return [outcomes[start:start + seeds] for start in range(0, len(outcomes), seeds)]


def ablation() -> dict[str, Any]:
    return json.loads((RESULTS / "auto_sigma.json").read_text())


def between(pool: ProcessPoolExecutor) -> list[dict[str, Any]]:
    """Fixed σ between 0.9 and 2 on BETWEEN_ROWS, on the ablation's seeds and lrs: steps to the
    target and the score over the best fixed σ's (the ablation's rule)."""
    data = ablation()
    best = {(row["task"], row["optimizer"]): row["best"] for row in auto_sigma_rows(data)}
    seeds = data["config"]["seeds"]
    plans = [(task, optimizer, sigma) for task, optimizer in BETWEEN_ROWS for sigma in BETWEEN_SIGMAS]
    specs = [RunSpec(task, optimizer, data["tasks"][task][optimizer]["lr"], seed, sigma)
             for task, optimizer, sigma in plans for seed in seeds]
    records = []
    for (task, optimizer, sigma), runs in zip(plans, per_plan(pool.map(run, specs), len(seeds)), strict=True):
        best_runs = data["tasks"][task][optimizer]["variants"][best[task, optimizer]]
        records.append({"task": task, "optimizer": optimizer, "sigma": sigma, "best": best[task, optimizer],
                        "reached": [r["reached_at"] for r in runs], "ratio": score_ratio(runs, best_runs)})
    return records


def oracle(pool: ProcessPoolExecutor) -> list[dict[str, Any]]:
    """SuperSGD with σ from :class:`TopCurvatureSigma` on ORACLE_TASKS, on the ablation's seeds
    and lrs: steps to the target and the score over the best fixed σ's."""
    data = ablation()
    best = {(row["task"], row["optimizer"]): row["best"] for row in auto_sigma_rows(data)}
    seeds = data["config"]["seeds"]
    specs = [RunSpec(task, "SuperSGD", data["tasks"][task]["SuperSGD"]["lr"], seed, 0.9, oracle=True)
             for task in ORACLE_TASKS for seed in seeds]
    records = []
    for task, runs in zip(ORACLE_TASKS, per_plan(pool.map(run, specs), len(seeds)), strict=True):
        fixed = best[task, "SuperSGD"]
        records.append({"task": task, "optimizer": "SuperSGD", "best": fixed, "seeds": seeds,
                        "reached": [r["reached_at"] for r in runs], "traces": [r["trace"] for r in runs],
                        "ratio": score_ratio(runs, data["tasks"][task]["SuperSGD"]["variants"][fixed])})
    return records


def score_ratio(runs: list[dict[str, Any]], best_runs: list[dict[str, Any]]) -> float | None:
    """The ablation's score (median steps, a miss counting as ∞) of ``runs`` over ``best_runs``'."""
    score, best_score = (median_score(r, higher_is_better=False)[0] for r in (runs, best_runs))
    return ratio_to_best(score, best_score)


def started_at(pool: ProcessPoolExecutor, sigma: float) -> dict[str, Any]:
    """The ablation with its auto runs replaced by auto started at ``sigma``, scored as the
    ablation is (rows within 1.1× of the best fixed σ)."""
    data = ablation()
    seeds = data["config"]["seeds"]
    specs = {(task, optimizer, seed): RunSpec(task, optimizer, entry["lr"], seed, start=sigma)
             for task, by_optimizer in data["tasks"].items() for optimizer, entry in by_optimizer.items()
             for seed in seeds}
    outcomes = dict(zip(specs, pool.map(run, specs.values()), strict=True))
    started = copy.deepcopy(data)
    for task, by_optimizer in started["tasks"].items():
        for optimizer, entry in by_optimizer.items():
            entry["variants"]["auto"] = [outcomes[task, optimizer, seed] for seed in seeds]
    before, after = auto_sigma_rows(data), auto_sigma_rows(started)
    changed = {f"{old['task']} {old['optimizer']}": {"before": old["ratio"], "after": new["ratio"]}
               for old, new in zip(before, after, strict=True) if old["passes"] != new["passes"]}
    return {"start_sigma": sigma, "seeds": seeds, "rows": len(after), "changed": changed,
            "within_before": sum(row["passes"] for row in before), "within_after": sum(row["passes"] for row in after)}


def noise() -> dict[str, dict[str, float]]:
    """kη → σ → the stationary loss over its value at σ = 0 (g = 0.9)."""
    return {f"{k_eta:g}": {f"{sigma:g}": analysis.stationary_loss(k_eta, 0.9, sigma)
                           / analysis.stationary_loss(k_eta, 0.9, 0.0) for sigma in (0.9, 2.0, 4.0, 8.0)}
            for k_eta in (0.01, 0.05, 0.3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    prepare_data()
    start = time.perf_counter()
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker) as pool:
        payload: dict[str, Any] = {"noise": noise(),
                                   "curvature": {name: curvature(name, steps)
                                                 for name, steps in CURVATURE_CHECKS.items()},
                                   "early_steps": early_steps(pool), "started_at": started_at(pool, START_SIGMA),
                                   "between": between(pool), "oracle": oracle(pool)}
    print("stationary loss under gradient noise, over its value at σ = 0 (g = 0.9):")
    for k_eta, by_sigma in payload["noise"].items():
        print(f"  kη = {k_eta}: " + ", ".join(f"σ = {sigma} {ratio:.3f}" for sigma, ratio in by_sigma.items()))
    print(f"top kη of the Hessian (power iteration) against the estimator's range (SuperSGD, seed {CURVATURE_SEED}):")
    for name, rows in payload["curvature"].items():
        for row in rows:
            print(f"  {name:<20} step {row['step']:>3}: top {row['top_k_eta']:.3g}; estimated "
                  f"[{row['estimated_low_k_eta']:.3g}, {row['estimated_high_k_eta']:.3g}], σ {row['sigma']:.2f}")
    print(f"{EARLY_TASK}, steps to the target on the seeds {list(REPORT_SEEDS)} (— not within the budget):")
    for record in payload["early_steps"]:
        print(f"  {record['optimizer']:<10} {plan_name(record, EARLY_STEPS):<36} "
              + steps_text(record["reached"]))
    started = payload["started_at"]
    print(f"auto started at σ = {started['start_sigma']:g} (seeds {started['seeds']}): within 1.1× of the best "
          f"fixed σ on {started['within_after']} of {started['rows']} rows, against {started['within_before']} "
          "started at g; rows that changed (auto / best fixed σ, before → after):")
    for row, ratios in started["changed"].items():
        print(f"  {row}: {ratio_text(ratios['before'])} → {ratio_text(ratios['after'])}")
    print("fixed σ between 0.9 and 2 where σ = 0.9 is the best fixed σ (steps per seed; score / best fixed σ's):")
    for record in payload["between"]:
        print(f"  {record['task']:<14} {record['optimizer']:<10} σ = {record['sigma']:g}: "
              + steps_text(record["reached"])
              + f"; {ratio_text(record['ratio'], 'σ = ' + format(record['sigma'], 'g'))} of {record['best']}'s score")
    print("SuperSGD with σ = σ* of the Hessian's top eigenvalue, measured every step (steps per seed; score / "
          "best fixed σ's):")
    for record in payload["oracle"]:
        print(f"  {record['task']:<20} " + steps_text(record["reached"])
              + f"; {ratio_text(record['ratio'], 'the oracle')} of {record['best']}'s score")
        for seed, trace in zip(record["seeds"], record["traces"], strict=True):
            early = trace[:ORACLE_DENSE_STEPS + 2]
            print(f"    seed {seed}, (step, top kη, σ): "
                  + " ".join(f"({step}, {k_eta:.2g}, {sigma:.2f})" for step, k_eta, sigma in early))
    payload["config"] = {"torch": torch.__version__, "seconds": time.perf_counter() - start,
                         "curvature_seed": CURVATURE_SEED, "report_seeds": REPORT_SEEDS, "early_steps": EARLY_STEPS}
    out = RESULTS / "auto_sigma_diagnostics.json"
    write_atomically(out, lambda tmp: tmp.write_text(json.dumps(payload, indent=1, ensure_ascii=False)))
    print(f"wrote {out} ({payload['config']['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
