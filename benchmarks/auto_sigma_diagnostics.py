"""The measurements behind the design note of ``sigma="auto"`` (superaccel/optim/auto_sigma.py):
why it misses the rows of docs/auto_sigma.md that it misses.

- ``curvature``: the estimator's curvature range against the top eigenvalue of the Hessian
  (power iteration on Hessian-vector products, on the batch of the step, at the point the
  gradient is taken), for SuperSGD on three benchmark tasks.
- ``first-steps``: mnist-30-fullbatch, SuperSGD, seed 0: steps to the target with σ = 3.5
  from the start, after one step at 0.9, after a 5-step ramp from 0.9, and with auto.
- ``noise``: the stationary loss of Eq. (5)'s map under additive gradient noise against σ
  (:func:`superaccel.theory.stationary_loss`), relative to σ = 0.

    python -m benchmarks.auto_sigma_diagnostics     # writes benchmarks/results/auto_sigma_diagnostics.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from superaccel import LinearSigma, SuperSGD, theory
from superaccel.experiments.figure import write_atomically
from superaccel.training import train

from .auto_sigma import chosen, optimizers_of
from .tasks import Task, prepare_data, task_named
from .time_to_target import RESULTS, execute

CURVATURE_CHECKS = {"mnist-30-fullbatch": (20, 100, 200), "cnn-mnist": (20, 100, 250), "logreg-mnist": (5, 15, 30)}
CURVATURE_SEED = 3
POWER_ITERATIONS = 25
FIRST_STEPS_SEED = 0


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


def first_steps() -> dict[str, int | None]:
    task, lr = sgd_lr("mnist-30-fullbatch")

    def ramp(total: int):
        return lambda optimizer: [LinearSigma(optimizer, start=0.9, end=3.5, total_steps=total)]

    variants = {"σ = 3.5 from the start": (3.5, lambda optimizer: []),
                "σ = 0.9 for one step, then 3.5": (0.9, ramp(1)),
                "σ from 0.9 to 3.5 over 5 steps": (0.9, ramp(5)),
                "auto": ("auto", lambda optimizer: [])}
    return {name: execute(task, lambda p, s=sigma: SuperSGD(p, lr=lr, momentum=0.9, sigma=s), FIRST_STEPS_SEED,
                          schedulers=schedulers)["reached_at"]
            for name, (sigma, schedulers) in variants.items()}


def noise() -> dict[str, dict[str, float]]:
    """kη → σ → the stationary loss over its value at σ = 0 (g = 0.9)."""
    return {f"{k_eta:g}": {f"{sigma:g}": theory.stationary_loss(k_eta, 0.9, sigma)
                           / theory.stationary_loss(k_eta, 0.9, 0.0) for sigma in (0.9, 2.0, 4.0, 8.0)}
            for k_eta in (0.01, 0.05, 0.3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    prepare_data()
    start = time.perf_counter()
    payload: dict[str, Any] = {"noise": noise(),
                               "curvature": {name: curvature(name, steps) for name, steps in CURVATURE_CHECKS.items()},
                               "first_steps": first_steps()}
    print("stationary loss under gradient noise, over its value at σ = 0 (g = 0.9):")
    for k_eta, by_sigma in payload["noise"].items():
        print(f"  kη = {k_eta}: " + ", ".join(f"σ = {sigma} {ratio:.3f}" for sigma, ratio in by_sigma.items()))
    print(f"top kη of the Hessian (power iteration) against the estimator's range (SuperSGD, seed {CURVATURE_SEED}):")
    for name, rows in payload["curvature"].items():
        for row in rows:
            print(f"  {name:<20} step {row['step']:>3}: top {row['top_k_eta']:.3g}; estimated "
                  f"[{row['estimated_low_k_eta']:.3g}, {row['estimated_high_k_eta']:.3g}], σ {row['sigma']:.2f}")
    print(f"mnist-30-fullbatch, SuperSGD, seed {FIRST_STEPS_SEED}, steps to the target:")
    for name, reached in payload["first_steps"].items():
        print(f"  {name}: {reached if reached is not None else 'not within the budget'}")
    payload["config"] = {"torch": torch.__version__, "seconds": time.perf_counter() - start,
                         "curvature_seed": CURVATURE_SEED, "first_steps_seed": FIRST_STEPS_SEED}
    out = RESULTS / "auto_sigma_diagnostics.json"
    write_atomically(out, lambda tmp: tmp.write_text(json.dumps(payload, indent=1, ensure_ascii=False)))
    print(f"wrote {out} ({payload['config']['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
