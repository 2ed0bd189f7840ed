"""What Figures 3 and 8 share: the paper's 2-D function and how to draw it."""

from __future__ import annotations

import numpy as np

from ..problems import PaperValley2D
from .runner import Trajectory

PROBLEM = PaperValley2D()
STEPS = 180  # the paper's Figure 3 shows the first 180 steps
REACHED = 1e-2  # "reaching the minimum": within this distance


def settled_away(trajectory: Trajectory, tail: int = 20) -> tuple[bool, float, float]:
    """(settled away from the minimum?, final distance, period-2 mismatch).

    Settled means the last ``tail`` iterates repeat with period 1 or 2 to within 1e-6,
    and away means farther than 0.1 from the minimum.
    """
    thetas = trajectory.thetas[~np.isnan(trajectory.thetas).any(axis=1)]
    if len(thetas) < tail + 2:
        return False, float("nan"), float("nan")
    period2 = float(np.max(np.linalg.norm(thetas[-tail:] - thetas[-tail - 2:-2], axis=1)))
    distance = float(trajectory.distances[len(thetas) - 1])
    return period2 < 1e-6 and distance > 0.1, distance, period2


def contour(ax, trajectories: list[Trajectory], styles=("o-", "*-")) -> None:
    xs, ys = np.meshgrid(np.linspace(-3, 3.5, 200), np.linspace(-4.5, 4, 200))
    values = PROBLEM.loss(np.stack([xs, ys]))
    ax.contour(xs, ys, np.log10(values + 1e-3), levels=20, colors="0.75", linewidths=0.6)
    minimum = PROBLEM.minimum()
    ax.plot(*minimum, "o", color="green", ms=8, mfc="none", mew=2)
    colors = ("tab:red", "tab:blue")
    for trajectory, style, color in zip(trajectories, styles, colors, strict=True):
        ax.plot(trajectory.thetas[:, 0], trajectory.thetas[:, 1], style, color=color, ms=3 if "*" in style else 4,
                mfc="none" if "o" in style else color, lw=0.6, label=trajectory.spec.label)
    ax.set(xlim=(-3, 3.5), ylim=(-4.5, 4), xlabel="θ1", ylabel="θ2")
    ax.legend(fontsize=7, loc="lower right")
