"""Figure 7: RMSProp with momentum and super-acceleration on ½θ² (Eq. 17)."""

from __future__ import annotations

import numpy as np

from .. import analysis
from .figure import Claim, Figure, local_minima

MOMENTUM, BETA2, EPS = 0.9, 0.999, 1e-7
PANEL_A_ETA = 0.01
PANEL_A_SIGMAS = (0.0, 0.9, 2.0, 6.0)
STEPS = 6000
SIGMA_MAX = 40.0


def _simulate(eta):
    return lambda sigmas: analysis.simulate_rmsprop(eta, MOMENTUM, sigmas, STEPS, beta2=BETA2, eps=EPS)


def compute(quick: bool):
    trajectories = _simulate(PANEL_A_ETA)(np.array(PANEL_A_SIGMAS))
    fits = [analysis.fit_exponential_decay(trajectories[:, j]) for j in range(len(PANEL_A_SIGMAS))]
    scan_sigmas = np.linspace(0, SIGMA_MAX, 41 if quick else 161)
    scan_times = analysis.fitted_relaxation_times(_simulate(PANEL_A_ETA)(scan_sigmas), analysis.fit_exponential_decay)
    etas = np.logspace(-4, -1, 5 if quick else 13)
    stars = [analysis.fitted_sigma_star(_simulate(eta), SIGMA_MAX, analysis.fit_exponential_decay)[0] for eta in etas]
    data = {
        "momentum": MOMENTUM, "beta2": BETA2, "eps": EPS, "k": 1.0,
        "panel_a": {"eta": PANEL_A_ETA, "sigmas": PANEL_A_SIGMAS, "abs_theta": np.abs(trajectories[:400]),
                    "T": [f.T for f in fits], "amplitude": [f.amplitude for f in fits],
                    "r_squared": [f.r_squared for f in fits]},
        "scan": {"eta": PANEL_A_ETA, "sigmas": scan_sigmas, "T": scan_times},
        "etas": etas, "sigma_star_fitted": np.array(stars),
    }
    return data, claims(data)


def claims(data) -> list[Claim]:
    times = data["scan"]["T"]
    best = int(np.nanargmin(times))
    non_monotonic = 0 < best < len(times) - 1
    etas, stars = data["etas"], data["sigma_star_fitted"]
    # an optimum on the edge of the searched range is no optimum: T was still falling there
    undefined = stars >= SIGMA_MAX
    above = (stars > MOMENTUM) & ~undefined
    # "unless η is very small": σ* > g must hold for every η from some value on
    first = int(np.argmax(above)) if above.any() else len(above)
    holds_above = bool(above.any() and above[first:].all())
    return [
        Claim(
            "rmsprop-T-non-monotonic",
            "For RMSProp, T(σ) decreases and then increases: there is an optimal σ (η = 0.01, k = 1).",
            f"fitted T(σ) on σ ∈ [0, {SIGMA_MAX:g}] is smallest at σ = {data['scan']['sigmas'][best]:.2f} "
            f"(T = {times[best]:.2f}; T(0) = {times[0]:.2f}, T({SIGMA_MAX:g}) = {times[-1]:.2f}); "
            f"{local_minima(times)} local minima",
            non_monotonic,
        ),
        Claim(
            "rmsprop-sigma-star-above-g",
            "σ considerably larger than g ≈ 1 is beneficial for RMSProp as long as η is not very small.",
            "fitted σ* per η: "
            + ", ".join(f"η={e:.1e}: " + ("undefined (T still falling at σ = 40)" if u else f"{s:.2f}")
                        for e, s, u in zip(etas, stars, undefined, strict=True))
            + (f"; σ* > g for η ≥ {etas[first]:.1e}" if above.any() else "; σ* ≤ g for every η"),
            holds_above,
        ),
    ]


def plot(data, fig) -> None:
    ax_a, ax_s, ax_b = fig.subplots(1, 3)
    panel = data["panel_a"]
    steps = np.arange(len(panel["abs_theta"]))
    for j, sigma in enumerate(panel["sigmas"]):
        (line,) = ax_a.plot(steps, panel["abs_theta"][:, j], lw=1, label=f"σ = {sigma:g} (T = {panel['T'][j]:.1f})")
        ax_a.plot(steps, panel["amplitude"][j] * np.exp(-steps / panel["T"][j]), "--", color=line.get_color(), lw=1)
    ax_a.set(xlabel="i", ylabel="|θ^(i)|", yscale="log", ylim=(1e-8, 10), title=f"(a) η = {panel['eta']}: |θ| and fits")
    ax_a.legend(fontsize=7)
    ax_s.plot(data["scan"]["sigmas"], data["scan"]["T"], "o-", ms=2.5)
    ax_s.set(xlabel="σ", ylabel="T", title=f"T(σ) from fits, η = {data['scan']['eta']}")
    stars = np.asarray(data["sigma_star_fitted"], dtype=float)
    undefined = stars >= SIGMA_MAX
    ax_b.plot(data["etas"], np.where(undefined, np.nan, stars), "o-")
    if undefined.any():
        ax_b.plot(np.asarray(data["etas"])[undefined], np.zeros(undefined.sum()), "rx",
                  label=f"undefined (T falls up to σ = {SIGMA_MAX:g})")
    ax_b.axhline(data["momentum"], color="grey", ls=":", label="g")
    ax_b.set(xlabel="η", ylabel="σ*", xscale="log", title="(b) optimal σ vs η (k = 1)")
    ax_b.legend(fontsize=7)


FIGURE = Figure("fig7", "Figure 7: super-accelerated RMSProp on ½θ² (Eq. 17), β2 = 0.999, ε = 1e-7",
                compute, plot, figsize=(15.0, 4.2))
