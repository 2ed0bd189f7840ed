"""Figure 3: gradient descent, heavy ball, Nesterov and super-acceleration on Eq. (15)."""

from __future__ import annotations

import numpy as np

from . import runner
from ._valley import PROBLEM, REACHED, STEPS, contour, settled_away
from .figure import Claim, Figure
from .runner import find_run

LR = 0.01
SIGMAS = (0.0, 0.9, 2.0, 3.0, 4.0, 6.0, 7.0)
LONG = 2000  # to see where σ = 6 and 7 end up


def compute(quick: bool):
    specs = [runner.gradient_descent(LR)] + [runner.momentum_method(LR, s) for s in SIGMAS]
    runs = runner.run_all(PROBLEM, specs, STEPS)
    long_runs = runner.run_all(PROBLEM, [runner.momentum_method(LR, s) for s in (6.0, 7.0)], LONG)
    scan = np.arange(0.0, 8.0 + 1e-9, 0.5 if quick else 0.125)
    scan_runs = runner.run_all(PROBLEM, [runner.momentum_method(LR, s) for s in scan], STEPS)
    data = {
        "lr": LR, "momentum": 0.9, "start": PROBLEM.start(), "minimum": PROBLEM.minimum(), "steps": STEPS,
        "runs": runner.trajectory_data(runs),
        "long": [{"sigma": t.spec.sigma, "final_theta": t.thetas[-1],
                  **dict(zip(("settled_away", "final_distance", "period2"), settled_away(t), strict=True))}
                 for t in long_runs],
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

    def final(**criteria) -> float:
        return find_run(runs, **criteria)["distance"][-1]

    def distance(sigma: float) -> np.ndarray:
        return np.asarray(find_run(runs, method="momentum", sigma=sigma)["distance"])

    gd, heavy_ball = final(method="gd"), final(method="momentum", sigma=0.0)
    sigma2, nesterov = final(method="momentum", sigma=2.0), final(method="momentum", sigma=0.9)
    scan = data["scan"]
    best = float(scan["sigmas"][int(np.nanargmin(scan["final_distance"]))])
    reach = [np.inf if s is None else s for s in scan["steps_to_reach"]]
    fastest = float(scan["sigmas"][int(np.argmin(reach))]) if np.isfinite(min(reach)) else float("nan")
    dips3, dips4 = _dips(distance(3.0)), _dips(distance(4.0))
    cycle7 = next(r for r in data["long"] if r["sigma"] == 7.0)
    at180 = np.asarray(find_run(runs, method="momentum", sigma=7.0)["theta"])
    period2_180 = float(np.linalg.norm(at180[-1] - at180[-3]))
    return [
        Claim("gd-and-heavy-ball-fall-short",
              f"Gradient descent and the heavy ball (σ = 0) do not reach the minimum within 180 steps "
              f"(reaching = within {REACHED}).",
              f"distance at step 180: gd {gd:.3f}, heavy ball {heavy_ball:.3f}",
              gd > REACHED and heavy_ball > REACHED),
        Claim("sigma2-beats-nesterov",
              "Super-acceleration σ = 2 works significantly better than Nesterov (σ = 0.9).",
              f"distance at step 180: σ = 2 {sigma2:.4f}, σ = 0.9 {nesterov:.4f}",
              sigma2 < 0.5 * nesterov),
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

    def trajectory(**criteria) -> runner.Trajectory:
        return runner.Trajectory.from_data(find_run(data["runs"], **criteria))

    def momentum(sigma: float) -> runner.Trajectory:
        return trajectory(method="momentum", sigma=sigma)

    for ax, pair, title in zip(axes[0], ((trajectory(method="gd"), momentum(0.0)), (momentum(0.9), momentum(2.0)),
                                         (momentum(4.0), momentum(7.0))),
                               ("(a) gd and heavy ball", "(b) Nesterov and σ = 2", "(c) σ = 4 and 7"), strict=True):
        contour(ax, list(pair))
        ax.set_title(title)
    ax_d, ax_e, ax_s = axes[1]
    for t in (trajectory(method="gd"), momentum(0.0), momentum(0.9), momentum(2.0)):
        ax_d.plot(t.distances, label=t.spec.label)
    ax_d.set(yscale="log", xlabel="step", ylabel="distance to minimum", title="(d)")
    ax_d.legend(fontsize=7)
    for sigma in (2.0, 3.0, 4.0, 6.0, 7.0):
        ax_e.plot(momentum(sigma).distances, label=momentum(sigma).spec.label)
    ax_e.set(yscale="log", xlabel="step", ylabel="distance to minimum", title="(e)")
    ax_e.legend(fontsize=7)
    inset = ax_e.inset_axes([0.55, 0.55, 0.4, 0.4])
    sigma6 = momentum(6.0)
    inset.plot(sigma6.thetas[100:, 0], sigma6.thetas[100:, 1], ".-", ms=2, lw=0.5)
    inset.set_title("σ = 6, steps 100–180", fontsize=6)
    inset.tick_params(labelsize=5)
    ax_s.plot(data["scan"]["sigmas"], data["scan"]["final_distance"], "o-", ms=3)
    ax_s.set(yscale="log", xlabel="σ", ylabel="distance at step 180", title="σ scan (not in the paper)")


FIGURE = Figure("fig3", "Figure 3: Eq. (15) from (−1, −3.8), η = 0.01, g = 0.9, 180 steps", compute, plot,
                figsize=(15.0, 9.0))
