"""Figure 8: super-accelerated RMSProp with momentum on Eq. (15), at both learning rates
the paper gives (caption η = 0.01, text η = 0.1)."""

from __future__ import annotations

import numpy as np

from . import runner
from ._valley import PROBLEM, REACHED, STEPS, contour
from .figure import Claim, Figure
from .runner import find_run

LEARNING_RATES = (0.01, 0.1)
SIGMAS = (0.0, 0.9, 2.0, 4.0, 6.0, 10.0)
LONG = 3000
ELSEWHERE = 0.02  # farther than this from the minimum after LONG steps
LOCALIZED = 0.05  # ...while moving less than this over the last 200 steps


def compute(quick: bool):
    per_lr = {}
    for lr in LEARNING_RATES:
        runs = runner.run_all(PROBLEM, [runner.rmsprop_method(lr, s) for s in SIGMAS], LONG)
        per_lr[str(lr)] = {
            "runs": [{"spec": run_data["spec"], "label": run_data["label"], "distance": t.distances[: STEPS + 1],
                      "theta": t.thetas[: STEPS + 1], "diverged_at": t.diverged_at,
                      "steps_to_reach": t.steps_to(REACHED), "final_distance": t.distances[-1],
                      "final_spread": float(np.max(np.ptp(t.thetas[-200:], axis=0)))}
                     for t, run_data in zip(runs, runner.trajectory_data(runs, with_thetas=False), strict=True)],
        }
        per_lr[str(lr)]["behaviour"] = _behaviour(per_lr[str(lr)]["runs"])
    return {"learning_rates": LEARNING_RATES, "sigmas": SIGMAS, "long": LONG, "per_lr": per_lr}, claims_for(per_lr)


def _behaviour(runs) -> dict:
    reach = {r["spec"]["sigma"]: (np.inf if r["steps_to_reach"] is None else r["steps_to_reach"]) for r in runs}
    faster = reach[0.9] > reach[2.0] > reach[4.0] or (reach[0.9] > reach[2.0] and reach[2.0] == min(reach.values()))
    elsewhere = [r["spec"]["sigma"] for r in runs
                 if r["spec"]["sigma"] > 2 and r["final_distance"] > ELSEWHERE and r["final_spread"] < LOCALIZED]
    return {"steps_to_reach": reach, "faster_past_g": bool(faster), "elsewhere_sigmas": elsewhere,
            "converges_elsewhere": bool(elsewhere) and find_run(runs, sigma=2.0)["final_distance"] < ELSEWHERE}


def claims_for(per_lr) -> list[Claim]:
    b = {lr: v["behaviour"] for lr, v in per_lr.items()}

    def reach_text(lr):
        return ", ".join(f"σ={s:g}: {'never' if not np.isfinite(n) else int(n)}"
                         for s, n in b[lr]["steps_to_reach"].items())

    def elsewhere_text(lr):
        runs = per_lr[lr]["runs"]
        return ", ".join(f"σ={r['spec']['sigma']:g}: {r['final_distance']:.2g}" for r in runs)

    shows = [lr for lr in b if b[lr]["faster_past_g"] and b[lr]["converges_elsewhere"]]
    return [
        Claim("rmsprop-faster-past-g",
              "With RMSProp, minimization becomes faster as σ is increased beyond g (σ = 0.9 → 2 → 4).",
              "; ".join(f"η = {lr}: steps to within {REACHED}: {reach_text(lr)}" for lr in b),
              any(v["faster_past_g"] for v in b.values())),
        Claim("rmsprop-large-sigma-elsewhere",
              "When σ is too large, nonlinearities make the algorithm converge elsewhere instead of at the minimum.",
              "; ".join(f"η = {lr}: distance after {LONG} steps {elsewhere_text(lr)}" for lr in b)
              + f" (elsewhere: > {ELSEWHERE} away, moving < {LOCALIZED} over the last 200 steps)",
              any(v["converges_elsewhere"] for v in b.values())),
        Claim("rmsprop-text-eta-0.1",
              "The text's η = 0.1 (the caption says 0.01) is the learning rate showing this behaviour.",
              f"learning rates showing both behaviours: {', '.join(shows) if shows else 'none'}",
              "0.1" in shows),
    ]


def plot(data, fig) -> None:
    axes = fig.subplots(2, 2)
    for row, lr in zip(axes, data["per_lr"], strict=True):
        runs = data["per_lr"][lr]["runs"]
        for run in runs:
            row[0].plot(run["distance"], label=run["label"])
        row[0].set(yscale="log", xlabel="step", ylabel="distance to minimum", title=f"η = {lr}: first {STEPS} steps")
        row[0].legend(fontsize=7)
        contour(row[1], [runner.Trajectory.from_data(find_run(runs, sigma=s)) for s in (2.0, 10.0)])
        row[1].set_title(f"η = {lr}: σ = 2 and σ = 10")


FIGURE = Figure("fig8", "Figure 8: RMSProp + momentum + super-acceleration on Eq. (15), β2 = 0.999, ε = 1e-7",
                compute, plot, figsize=(12.0, 9.0))
