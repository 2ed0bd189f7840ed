"""Figure 4: the 51-parameter linear regression, η = 0.005, explained by the theory."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from superaccel import theory

from .. import analysis
from ..problems import PaperRegression
from . import runner
from .figure import Claim, Figure
from .runner import find_run

LR, MOMENTUM = 0.005, 0.9
PAPER_SIGMAS = (0.0, 0.9, 2.0, 4.0)
EXTRA_SIGMAS = (8.0,)  # beyond σ* of the steepest direction: not in the paper
EARLY = 10  # "initial minimization": the first steps, where the steep direction dominates
LATE_WINDOW = 0.2  # the last fifth of the run gives the late-time rate


def compute(quick: bool):
    problem = PaperRegression()
    steps = 2000 if quick else 10000
    specs = [runner.gradient_descent(LR)] + [runner.momentum_method(LR, s, MOMENTUM)
                                             for s in PAPER_SIGMAS + EXTRA_SIGMAS]
    runs = runner.run_all(problem, specs, steps)
    minimum_loss = problem.minimum_loss()
    curvatures = np.linalg.eigvalsh(problem.hessian())
    k_eta = curvatures * LR
    start = int(steps * (1 - LATE_WINDOW))
    late = []
    for run in runs:
        excess = run.losses - minimum_loss
        slope = np.polyfit(np.arange(start, steps + 1), np.log(excess[start:]), 1)[0]
        # the excess loss decays as ρ^(2t) along the slowest direction
        late.append({"label": run.spec.label, "measured_rate": float(np.exp(slope / 2)),
                     "predicted_rate": float(analysis.spectral_radius(k_eta[0], run.spec.momentum, run.spec.sigma))})
    data = {
        "lr": LR, "momentum": MOMENTUM, "steps": steps, "minimum_loss": minimum_loss,
        "runs": runner.trajectory_data(runs, with_thetas=False),
        "hessian_eigenvalues": curvatures, "k_eta": k_eta,
        "threshold": theory.positive_sigma_star_threshold(MOMENTUM),
        "directions_above_threshold": int(np.sum(k_eta > theory.positive_sigma_star_threshold(MOMENTUM))),
        "steepest_sigma_star": float(theory.exact_sigma_star(k_eta[-1], MOMENTUM)),
        "late_time": late,
    }
    return data, claims(data)


def claims(data) -> list[Claim]:
    runs, m = data["runs"], data["minimum_loss"]

    def excess(step: int, **criteria) -> float:
        return find_run(runs, **criteria)["loss"][step] - m

    early_paper = [excess(EARLY, method="momentum", sigma=s) for s in PAPER_SIGMAS]
    early_gd, early_sigma8 = excess(EARLY, method="gd"), excess(EARLY, method="momentum", sigma=8.0)
    early_heavy_ball, early_nesterov = early_paper[0], early_paper[1]
    final_gd = excess(-1, method="gd")
    momentum_final = [r["loss"][-1] - m for r in runs if r["spec"]["method"] == "momentum"]
    spread = max(momentum_final) / min(momentum_final) - 1
    late = data["late_time"]
    rate_error = max(abs(v["measured_rate"] - v["predicted_rate"]) / (1 - v["predicted_rate"]) for v in late)
    return [
        Claim("larger-sigma-faster-early",
              "As σ is increased (σ = 0, 0.9, 2, 4), the initial minimization is more effective.",
              f"excess loss at step {EARLY}: "
              + ", ".join(f"σ = {s:g} {e:.3g}" for s, e in zip(PAPER_SIGMAS, early_paper, strict=True))
              + f"; σ = 8 (not in the paper, past the steep direction's σ* = {data['steepest_sigma_star']:.2f}): "
              f"{early_sigma8:.3g}",
              all(a > b for a, b in pairwise(early_paper))),
        Claim("sigma0-slower-than-gd-early",
              "For initial minimization σ = 0 is slower even than gd, while σ = 0.9 is similar to gd.",
              f"excess loss at step {EARLY}: gd {early_gd:.3g}, σ = 0 {early_heavy_ball:.3g}, "
              f"σ = 0.9 {early_nesterov:.3g}",
              early_heavy_ball > early_gd and 0.5 < early_nesterov / early_gd < 2),
        Claim("late-time-merge",
              "At late times all momentum runs follow the same σ-independent curve.",
              f"excess loss at step {data['steps']}: momentum runs within {100 * spread:.1f}% of each other "
              f"({min(momentum_final):.3g} to {max(momentum_final):.3g})",
              spread < 0.1),
        Claim("gd-slowest-asymptotically",
              "Pure gradient descent trains slower than any momentum method asymptotically.",
              f"excess loss at step {data['steps']}: gd {final_gd:.3g}, momentum at most {max(momentum_final):.3g}",
              final_gd > max(momentum_final)),
        Claim("theory-explains-late-rate",
              "The late-time decay is that of the shallowest Hessian direction, in the overdamped regime of "
              "Section 2 (kη below the threshold), nearly independent of σ.",
              f"{data['directions_above_threshold']} of {len(data['k_eta'])} directions have kη above "
              f"(1 − √g)² = {data['threshold']:.5f}; smallest kη = {data['k_eta'][0]:.2e}; late rate measured vs "
              "ρ(kη_min, g, σ): " + ", ".join(f"{v['label']} {v['measured_rate']:.6f}/{v['predicted_rate']:.6f}"
                                               for v in late),
              rate_error < 0.05),
    ]


def plot(data, fig) -> None:
    ax, ax_k = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    for run in data["runs"]:
        ax.plot(run["loss"][:200], label=run["label"])
    ax.set(yscale="log", xlabel="step", ylabel="L(θ)", title=f"loss, η = {data['lr']} (first 200 steps)")
    ax.legend(fontsize=7)
    inset = ax.inset_axes([0.5, 0.45, 0.45, 0.45])
    for run in data["runs"]:
        inset.plot(np.asarray(run["loss"]) - data["minimum_loss"], lw=1)
    inset.set(yscale="log", title=f"L − L* over {data['steps']} steps", xlabel="step")
    inset.title.set_fontsize(7)
    inset.tick_params(labelsize=6)
    ax_k.semilogy(np.sort(data["k_eta"])[::-1], "o", ms=3)
    ax_k.axhline(data["threshold"], color="grey", ls="--", label="(1 − √g)²: σ* > 0 above")
    ax_k.set(xlabel="Hessian direction (sorted)", ylabel="k_i η", title="curvatures × η")
    ax_k.legend(fontsize=7)


FIGURE = Figure("fig4", "Figure 4: 51-parameter linear regression (Section 3.2)", compute, plot, figsize=(13.0, 4.5))
