"""nanoGPT's published CPU recipe for shakespeare_char, with optimizers swapped in and nothing
retuned.

The recipe (Karpathy's nanoGPT README and ``config/train_shakespeare_char.py``): 4 layers, 4
heads, width 128, context 64, no dropout, no biases; batches of 12 for 2000 iterations;
AdamW at lr 1e-3 with β = (0.9, 0.99), 100 iterations of linear warm-up and a cosine decay to
1e-4 at 2000, weight decay 0.1 on the 2-D parameters only; gradients clipped to norm 1.0.
It runs on this project's Shakespeare (train plays; the validation loss on 128 fixed windows
of the held-out plays, every 50 iterations, at θ).  Each variant keeps all of that and
changes only the optimizer:

- AdamW, as configured;
- SuperAdamW at the library's default σ, and with the paper's 5 → 2 σ schedule over the
  first half;
- Muon for the hidden matrices (AdamW, as configured, for the rest), with Moonshot's
  ``match_rms_adamw`` scaling so that it takes the recipe's lr and weight decay; SuperMuon
  the same at the library's default σ;
- the same two at the learning rate the char-lm benchmark's tuning chose for Muon (lr 2e-2,
  for both parts), for a Muon that is not held to AdamW's lr.

    python -m superaccel_lab.benchmarks.nanogpt_recipe           # 3 seeds: results/nanogpt_recipe.json
    python -m superaccel_lab.benchmarks.nanogpt_recipe --quick   # 200 iterations, 1 seed
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from superaccel import LinearSigma, SuperAdamW, SuperMuon
from superaccel.optim.muon import DEFAULT_SIGMA as SUPER_MUON_SIGMA

from ..experiments.figure import write_atomically
from ..problems.language import CharTransformer, language_model_loss, random_windows
from ..training import Combined, train
from .tasks import prepare_data, shakespeare

RESULTS = Path(__file__).resolve().parent / "results"
SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Recipe:
    """nanoGPT's shakespeare_char on the CPU."""

    layers: int = 4
    heads: int = 4
    width: int = 128
    context: int = 64
    batch: int = 12
    iterations: int = 2000
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup: int = 100
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.1
    clip: float = 1.0
    eval_every: int = 50

    def lr_at(self, iteration: int) -> float:
        """nanoGPT's get_lr: linear warm-up, then a cosine from lr to min_lr."""
        if iteration < self.warmup:
            return self.lr * (iteration + 1) / (self.warmup + 1)
        progress = min(1.0, (iteration - self.warmup) / (self.iterations - self.warmup))
        return self.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (self.lr - self.min_lr)


#: the lr the char-lm benchmark's tuning chose for its Muon families (docs/benchmarks.md)
MUON_TUNED_LR = 2e-2


def _groups(params: list[torch.nn.Parameter], decay: float) -> list[dict[str, Any]]:
    """nanoGPT's groups: weight decay on the 2-D tensors, none on the others."""
    return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]


def _muon(model: CharTransformer, recipe: Recipe, lr_scale: float, sigma: float | None) -> torch.optim.Optimizer:
    matrices = model.hidden_matrices()
    chosen = {id(p) for p in matrices}
    rest = [p for p in model.parameters() if id(p) not in chosen]
    kwargs = {"lr": recipe.lr * lr_scale, "weight_decay": recipe.weight_decay, "adjust_lr_fn": "match_rms_adamw"}
    muon = torch.optim.Muon(matrices, **kwargs) if sigma is None else SuperMuon(matrices, sigma=sigma, **kwargs)
    adamw = torch.optim.AdamW(_groups(rest, recipe.weight_decay), lr=recipe.lr * lr_scale, betas=recipe.betas)
    return Combined(muon, adamw)


#: variant name → (build the optimizer from the model and the recipe, σ schedules to attach)
VARIANTS: dict[str, Callable[[CharTransformer, Recipe], tuple[torch.optim.Optimizer, list]]] = {
    "AdamW": lambda m, r: (torch.optim.AdamW(_groups(list(m.parameters()), r.weight_decay), lr=r.lr, betas=r.betas),
                           []),
    "SuperAdamW": lambda m, r: (SuperAdamW(_groups(list(m.parameters()), r.weight_decay), lr=r.lr, betas=r.betas),
                                []),
    "SuperAdamW, σ 5 → 2": lambda m, r: _scheduled(
        SuperAdamW(_groups(list(m.parameters()), r.weight_decay), lr=r.lr, betas=r.betas, sigma=5.0), r),
    "Muon + AdamW": lambda m, r: (_muon(m, r, 1.0, None), []),
    "SuperMuon + AdamW": lambda m, r: (_muon(m, r, 1.0, SUPER_MUON_SIGMA), []),
    "Muon + AdamW, lr 2e-2": lambda m, r: (_muon(m, r, MUON_TUNED_LR / r.lr, None), []),
    "SuperMuon + AdamW, lr 2e-2": lambda m, r: (_muon(m, r, MUON_TUNED_LR / r.lr, SUPER_MUON_SIGMA), []),
}


def _scheduled(optimizer: torch.optim.Optimizer, recipe: Recipe) -> tuple[torch.optim.Optimizer, list]:
    return optimizer, [LinearSigma(optimizer, start=5.0, end=2.0, total_steps=recipe.iterations // 2)]


def run(job: tuple[str, int, Recipe]) -> dict[str, Any]:
    """One variant, one seed: the validation curve at θ and the training seconds."""
    variant, seed, recipe = job
    tokens, vocabulary, held_out = shakespeare(context=recipe.context)
    torch.manual_seed(seed)
    model = CharTransformer(vocabulary, context=recipe.context, width=recipe.width, layers=recipe.layers,
                            heads=recipe.heads, bias=False)
    optimizer, sigma_schedules = VARIANTS[variant](model, recipe)
    # nanoGPT's get_lr, as a multiple of each group's own lr
    lr_schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: recipe.lr_at(it) / recipe.lr)
    batches = random_windows(tokens, recipe.batch, recipe.context, torch.Generator().manual_seed(seed))

    def loss() -> torch.Tensor:
        return language_model_loss(model, *next(batches))

    def evaluate(step: int) -> float:
        with torch.no_grad():
            return float(language_model_loss(model, held_out[:, :-1], held_out[:, 1:]))

    result = train(optimizer, loss, recipe.iterations, evaluate=evaluate, eval_every=recipe.eval_every,
                   diverged=lambda value: not math.isfinite(value), schedulers=[lr_schedule, *sigma_schedules],
                   clip_grad_norm=recipe.clip)
    return {"variant": variant, "seed": seed, "curve": result.evaluations, "train_seconds": result.train_seconds,
            "diverged": result.diverged}


def summarize(runs: list[dict], reference: str = "AdamW") -> dict[str, Any]:
    """Per variant: the median curve, the final losses, and the iterations to reach the
    reference's median final loss (the first evaluation at or below it, per seed)."""
    by_variant: dict[str, list[dict]] = {}
    for record in runs:
        by_variant.setdefault(record["variant"], []).append(record)
    finals = {name: [r["curve"][-1][1] for r in records] for name, records in by_variant.items()}
    goal = statistics.median(finals[reference])
    out = {}
    for name, records in by_variant.items():
        reached = [next((step for step, value in r["curve"] if value <= goal), None) for r in records]
        out[name] = {"final": finals[name], "final_median": statistics.median(finals[name]),
                     "iterations_to_reference_final": reached,
                     "seconds_median": statistics.median(r["train_seconds"] for r in records)}
    return {"reference": reference, "reference_final_median": goal, "variants": out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 iterations, one seed")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    recipe = Recipe(iterations=200, warmup=10, eval_every=20) if args.quick else Recipe()
    seeds = SEEDS[:1] if args.quick else SEEDS
    prepare_data()
    jobs = [(variant, seed, recipe) for seed in seeds for variant in VARIANTS]
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_one_thread) as pool:
        runs = []
        for record in pool.map(run, jobs):
            runs.append(record)
            print(f"{record['variant']:<28} seed {record['seed']}: final {record['curve'][-1][1]:.4f} "
                  f"({record['train_seconds']:.0f} s)", flush=True)
    data = {"config": {"recipe": recipe.__dict__, "seeds": list(seeds), "torch": torch.__version__,
                       "workers": args.workers, "threads_per_worker": 1,
                       "seconds": time.perf_counter() - start,
                       "command": " ".join(["python -m superaccel_lab.benchmarks.nanogpt_recipe",
                                            *(["--quick"] if args.quick else [])])},
            "runs": runs, "summary": summarize(runs)}
    path = RESULTS / ("nanogpt_recipe_quick.json" if args.quick else "nanogpt_recipe.json")
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1)))
    print(f"wrote {path}")
    return 0


def _one_thread() -> None:
    torch.set_num_threads(1)


if __name__ == "__main__":
    sys.exit(main())
