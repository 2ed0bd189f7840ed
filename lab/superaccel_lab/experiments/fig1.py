"""Figure 1: the relaxation time T(σ) on ½kθ² and the optimal σ* as a function of kη."""

from __future__ import annotations

import numpy as np

from superaccel import theory

from .. import analysis
from ._quadratic import MOMENTUM, STEPS, fitted_sigma_stars, k_eta_grid
from .figure import Claim, Figure, local_minima

PANEL_A_K_ETAS = (0.01, 0.05, 0.2)
PAPER_THRESHOLD = 0.0027


def compute(quick: bool):
    g = MOMENTUM
    sigmas = np.linspace(0, 20, 21 if quick else 81)
    panel_a = {}
    for k_eta in PANEL_A_K_ETAS:
        fitted = analysis.fitted_relaxation_times(analysis.simulate_momentum(k_eta, g, sigmas, STEPS))
        panel_a[str(k_eta)] = {
            "T_fitted": fitted,
            "T_exact": analysis.relaxation_time(analysis.spectral_radius(k_eta, g, sigmas)),
        }
    k_etas = k_eta_grid(quick)
    stars, _ = fitted_sigma_stars(tuple(k_etas))
    near = np.linspace(0.0020, 0.0036, 5 if quick else 17)
    near_stars, _ = fitted_sigma_stars(tuple(near), sigma_max=5.0)  # σ* < 3 near the threshold
    data = {
        "momentum": g,
        "sigmas": sigmas,
        "panel_a": panel_a,
        "k_etas": k_etas,
        "sigma_star_fitted": stars,
        "sigma_star_exact": theory.exact_sigma_star(k_etas, g),
        "threshold_scan": {"k_etas": near, "sigma_star_fitted": near_stars},
        "threshold_exact": theory.positive_sigma_star_threshold(g),
    }
    return data, claims(data)


def claims(data) -> list[Claim]:
    minima = {k: local_minima(v["T_fitted"]) for k, v in data["panel_a"].items()}
    interior = {k: 0 < int(np.nanargmin(v["T_fitted"])) < len(v["T_fitted"]) - 1 for k, v in data["panel_a"].items()}

    k_etas, stars = data["k_etas"], data["sigma_star_fitted"]
    large = stars >= 2.0
    inside = np.nonzero(large)[0]
    contiguous = inside.size > 0 and np.all(np.diff(inside) == 1)
    interior_band = bool(contiguous and not large[0] and not large[-1])
    band = f"[{k_etas[inside[0]]:.3g}, {k_etas[inside[-1]]:.3g}]" if inside.size else "empty"

    scan = data["threshold_scan"]
    positive = scan["k_etas"][scan["sigma_star_fitted"] > 0]
    threshold = float(positive.min()) if positive.size else float("nan")
    return [
        Claim(
            "T-single-minimum",
            "The time scale T for reaching the minimum is a non-monotonic function of σ with a "
            "well-defined minimum.",
            "fitted T(σ) on σ ∈ [0, 20]: local minima per kη "
            + ", ".join(f"kη={k}: {n} (interior: {interior[k]})" for k, n in minima.items()),
            all(n == 1 for n in minima.values()) and all(interior.values()),
        ),
        Claim(
            "sigma-star-above-one",
            "Except for very small and very large kη, the optimal σ is significantly larger than 1.",
            f"fitted σ* ≥ 2 for kη in {band} (max σ* = {np.nanmax(stars):.2f}); "
            f"σ* = {stars[0]:.2f} at kη = {k_etas[0]:.3g} and {stars[-1]:.2f} at kη = {k_etas[-1]:.3g}",
            interior_band,
        ),
        Claim(
            "threshold-0.0027",
            "σ* becomes ill-defined (no positive optimum) for kη ≲ 0.0027.",
            f"smallest scanned kη with a fitted σ* > 0: {threshold:.5f} "
            f"(exact map: (1 − √g)² = {data['threshold_exact']:.5f})",
            abs(threshold - PAPER_THRESHOLD) / PAPER_THRESHOLD < 0.1,
        ),
    ]


def plot(data, fig) -> None:
    ax_a, ax_b = fig.subplots(1, 2)
    for k_eta, curves in data["panel_a"].items():
        (line,) = ax_a.plot(data["sigmas"], curves["T_fitted"], "o", ms=3, label=f"kη = {k_eta} (fit)")
        ax_a.plot(data["sigmas"], curves["T_exact"], "-", color=line.get_color(), lw=1, label=f"kη = {k_eta} (−1/ln ρ)")
    ax_a.set(xlabel="σ", ylabel="T (iterations)", yscale="log", title="(a) relaxation time vs σ, g = 0.9")
    ax_a.legend(fontsize=7)
    dense = np.logspace(np.log10(data["threshold_exact"]) + 1e-3, 0, 300)
    ax_b.plot(data["k_etas"], data["sigma_star_fitted"], "o", label="σ* from fits (paper's procedure)")
    ax_b.plot(dense, theory.exact_sigma_star(dense, data["momentum"]), "-", label="exact σ* of the map")
    ax_b.axhline(1, color="grey", lw=0.8, ls=":")
    ax_b.axvline(data["threshold_exact"], color="grey", lw=0.8, ls="--", label="(1 − √g)²")
    ax_b.set(xlabel="kη", ylabel="σ*", xscale="log", title="(b) optimal σ vs kη")
    ax_b.legend(fontsize=7)


FIGURE = Figure("fig1", "Figure 1: super-acceleration on ½kθ² (Eq. 5)", compute, plot)
