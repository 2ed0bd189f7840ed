"""Figure 3: gradient descent, heavy ball, Nesterov and super-acceleration on Eq. (15)."""

from __future__ import annotations

import numpy as np

from . import runner
from ._valley import PROBLEM, REACHED, STEPS, contour, settled_away
from .figure import Claim, Figure

LR = 0.01
SIGMAS = (0.0, 0.9, 2.0, 3.0, 4.0, 6.0, 7.0)
LONG = 2000  # to see where σ = 6 and 7 end up


def compute(quick: bool):
    specs = [runner.gradient_descent(LR)] + [runner.super_sgd(LR, s) for s in SIGMAS]
    runs = {t.label: t for t in runner.run_all(PROBLEM, specs, STEPS)}
    long_runs = {t.sigma: t for t in runner.run_all(PROBLEM, [runner.super_sgd(LR, s) for s in (6.0, 7.0)], LONG)}
    scan = np.arange(0.0, 8.0 + 1e-9, 0.5 if quick else 0.125)
    scan_runs = runner.run_all(PROBLEM, [runner.super_sgd(LR, s) for s in scan], STEPS)
    data = {
        "lr": LR, "momentum": 0.9, "start": PROBLEM.start(), "minimum": PROBLEM.minimum(), "steps": STEPS,
        "runs": runner.trajectory_data(runs.values()),
        "long": {str(s): {"final_theta": t.thetas[-1], **dict(zip(("settled_away", "final_distance", "period2"),
                                                                     settled_away(t)))}
                 for s, t in long_runs.items()},
        "scan": {"sigmas": scan,
                 "final_distance": [t.distances[-1] if not t.diverged else np.inf for t in scan_runs],
                 "steps_to_reach": [t.steps_to(REACHED) for t in scan_runs]},
    }
    return data, claims(data)


def _dips(distance: np.ndarray, rise: float = 0.05) -> list[int]:
    """Local minima of the distance after which it rises by more than ``rise`` (relative):
    the trajectory overshoots the minimum and comes back along the valley."""
    dips = []
    for i in range(1, len(distance) - 1):
        if distance[i] < distance[i - 1] and distance[i] <= distance[i + 1]:
            if np.nanmax(distance[i:]) > distance[i] * (1 + rise) and distance[i] > REACHED / 10:
                dips.append(i)
    return dips


def claims(data) -> list[Claim]:
    runs = data["runs"]
    final = {label: run["distance"][-1] for label, run in runs.items()}
    scan = data["scan"]
    best = float(scan["sigmas"][int(np.nanargmin(scan["final_distance"]))])
    reach = [np.inf if s is None else s for s in scan["steps_to_reach"]]
    fastest = float(scan["sigmas"][int(np.argmin(reach))]) if np.isfinite(min(reach)) else float("nan")
    dips3, dips4 = _dips(runs["σ = 3"]["distance"]), _dips(runs["σ = 4"]["distance"])
    cycle7 = data["long"]["7.0"]
    at180 = np.asarray(runs["σ = 7"]["theta"])
    period2_180 = float(np.linalg.norm(at180[-1] - at180[-3]))
    return [
        Claim("gd-and-heavy-ball-fall-short",
              f"Gradient descent and the heavy ball (σ = 0) do not reach the minimum within 180 steps "
              f"(reaching = within {REACHED}).",
              f"distance at step 180: gd {final['gd']:.3f}, heavy ball {final['σ = 0']:.3f}",
              final["gd"] > REACHED and final["σ = 0"] > REACHED),
        Claim("sigma2-beats-nesterov",
              "Super-acceleration σ = 2 works significantly better than Nesterov (σ = 0.9).",
              f"distance at step 180: σ = 2 {final['σ = 2']:.4f}, σ = 0.9 {final['σ = 0.9']:.4f}",
              final["σ = 2"] < 0.5 * final["σ = 0.9"]),
        Claim("best-sigma-3-to-4",
              "The optimal values appear to be around 3 or 4.",
              f"σ scan (step {scan['sigmas'][1] - scan['sigmas'][0]:g}) on [0, 8]: smallest distance at step 180 "
              f"for σ = {best:g}; fewest steps to within {REACHED}: σ = {fastest:g}",
              3.0 <= best <= 4.0),
        Claim("sigma3-overshoots-sigma4-not",
              "The σ = 3 curve has a dip (it overshoots and returns along the valley); σ = 4 does not.",
              f"dips in the distance (followed by a >5% rise): σ = 3 at steps {dips3 or 'none'}, "
              f"σ = 4 at steps {dips4 or 'none'}",
              bool(dips3) and not dips4),
        Claim("sigma7-two-point-cycle",
              "σ = 7 gets stuck away from the minimum, oscillating between two nearby points.",
              f"|θ180 − θ178| = {period2_180:.1e}; after {LONG} steps: period-2 mismatch "
              f"{cycle7['period2']:.1e}, distance from the minimum {cycle7['final_distance']:.3f}",
              bool(cycle7["settled_away"]) and period2_180 < 1e-6),
    ]


def plot(data, fig) -> None:
    axes = fig.subplots(2, 3)
    runs = {label: runner.Trajectory.from_data(label, run) for label, run in data["runs"].items()}
    for ax, (a, b), title in zip(axes[0], (("gd", "σ = 0"), ("σ = 0.9", "σ = 2"), ("σ = 4", "σ = 7")),
                                 ("(a) gd and heavy ball", "(b) Nesterov and σ = 2", "(c) σ = 4 and 7")):
        contour(ax, [runs[a], runs[b]])
        ax.set_title(title)
    ax_d, ax_e, ax_s = axes[1]
    for label in ("gd", "σ = 0", "σ = 0.9", "σ = 2"):
        ax_d.plot(runs[label].distances, label=label)
    ax_d.set(yscale="log", xlabel="step", ylabel="distance to minimum", title="(d)")
    ax_d.legend(fontsize=7)
    for label in ("σ = 2", "σ = 3", "σ = 4", "σ = 6", "σ = 7"):
        ax_e.plot(runs[label].distances, label=label)
    ax_e.set(yscale="log", xlabel="step", ylabel="distance to minimum", title="(e)")
    ax_e.legend(fontsize=7)
    inset = ax_e.inset_axes([0.55, 0.55, 0.4, 0.4])
    inset.plot(runs["σ = 6"].thetas[100:, 0], runs["σ = 6"].thetas[100:, 1], ".-", ms=2, lw=0.5)
    inset.set_title("σ = 6, steps 100–180", fontsize=6)
    inset.tick_params(labelsize=5)
    ax_s.plot(data["scan"]["sigmas"], data["scan"]["final_distance"], "o-", ms=3)
    ax_s.set(yscale="log", xlabel="σ", ylabel="distance at step 180", title="σ scan (not in the paper)")


FIGURE = Figure("fig3", "Figure 3: Eq. (15) from (−1, −3.8), η = 0.01, g = 0.9, 180 steps", compute, plot,
                figsize=(15.0, 9.0))
