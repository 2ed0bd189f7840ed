"""Figure 5: full-batch gradient descent on MNIST (each step an epoch), η = 0.5."""

from __future__ import annotations

import numpy as np

from . import runner
from ._mnist import LR, mnist_data, theta_phi_gap, theta_phi_note, train
from .figure import Claim, Figure
from .runner import find_run

NETWORKS = {"784-30-10": (784, 30, 10), "784-15-15-10": (784, 15, 15, 10)}
SIGMAS = (0.0, 0.9, 2.0, 4.0, 20.0)
READING_CHECK_SIGMAS = (0.9, 4.0, 20.0)  # rerun once with the other loss reading, with gd


def specs():
    return [runner.gradient_descent(LR)] + [runner.momentum_method(LR, s) for s in SIGMAS]


def compute(quick: bool):
    data = mnist_data(quick)
    steps = 30 if quick else 400
    curves = {name: [train(spec, sizes, data, steps, desc=f"fig5 {name} {spec.label}") for spec in specs()]
              for name, sizes in NETWORKS.items()}
    euclidean = [train(spec, NETWORKS["784-30-10"], data, steps, reading="euclidean",
                       desc=f"fig5 euclidean {spec.label}")
                 for spec in specs() if spec.method == "gd" or spec.sigma in READING_CHECK_SIGMAS]
    result = {
        "lr": LR, "steps": steps, "train_images": len(data[0]), "test_images": len(data[2]),
        "cost": "Nielsen's quadratic cost ½‖y − a‖², averaged over images",
        "networks": {name: [c.as_data() for c in cs] for name, cs in curves.items()},
        "euclidean_reading_784-30-10": [c.as_data() for c in euclidean],
        "theta_vs_phi": theta_phi_gap([c for cs in curves.values() for c in cs]),
    }
    result["notes"] = [theta_phi_note(result["theta_vs_phi"]),
                       "Cost: Nielsen's ½‖y − a‖² averaged over images; one rerun with the paper's literal "
                       "reading ‖y − a‖ is the last claim."]
    return result, claims(result)


def _mean_loss(run) -> float:
    """The area under the test-loss curve per step: lower is faster training overall."""
    loss = np.asarray(run["loss"], dtype=float)
    return float(np.mean(loss)) if np.all(np.isfinite(loss)) and run["diverged_at"] is None else float("inf")


def _sigma4_better(runs) -> tuple[bool, str]:
    """Whether σ = 4 beats gd and every smaller σ that was run, and the mean losses."""
    sigma4 = _mean_loss(find_run(runs, method="momentum", sigma=4.0))
    smaller = [r for r in runs if r["spec"]["method"] == "gd" or r["spec"]["sigma"] < 4.0]
    text = ", ".join(f"{r['label']} {_mean_loss(r):.4f}" for r in runs)
    return all(sigma4 < _mean_loss(r) for r in smaller), text


def claims(data) -> list[Claim]:
    nets = data["networks"]
    better = {name: _sigma4_better(runs) for name, runs in nets.items()}
    two_layer = nets["784-15-15-10"]
    sigma20 = {name: find_run(runs, sigma=20.0) for name, runs in nets.items()}
    works = {name: run["diverged_at"] is None and np.all(np.isfinite(run["loss"])) for name, run in sigma20.items()}
    final_acc = {name: {r["label"]: r["accuracy"][-1] for r in runs} for name, runs in nets.items()}
    large = {name: [r["accuracy"][-1] for r in runs if r["spec"]["method"] == "momentum" and r["spec"]["sigma"] >= 2]
             for name, runs in nets.items()}
    spread = {name: 100 * (max(acc) - min(acc)) for name, acc in large.items()}
    other = data["euclidean_reading_784-30-10"]
    other_better, other_text = _sigma4_better(other)
    return [
        Claim("sigma4-beats-smaller-sigma",
              "On both networks σ = 4 trains better than smaller σ (and than gd).",
              "mean test loss over the run: " + "; ".join(f"{n}: {t}" for n, (_, t) in better.items()),
              all(ok for ok, _ in better.values())),
        Claim("sigma20-works-and-beats-4-two-layer",
              "σ = 20 functions well, and outperforms σ = 4 on the two-layer network.",
              f"σ = 20 finite on both: {all(works.values())}; 784-15-15-10 mean test loss σ = 20 "
              f"{_mean_loss(find_run(two_layer, sigma=20.0)):.4f} vs σ = 4 "
              f"{_mean_loss(find_run(two_layer, method='momentum', sigma=4.0)):.4f}",
              all(works.values()) and _mean_loss(find_run(two_layer, sigma=20.0))
              < _mean_loss(find_run(two_layer, method="momentum", sigma=4.0))),
        Claim("late-curves-merge",
              f"By step {data['steps']} the curves for σ ≥ 2 have merged (we require final test accuracies "
              "within 1 percentage point).",
              "; ".join(f"{n}: final accuracy " + ", ".join(f"{label} {100 * a:.2f}%" for label, a in acc.items())
                        + f" (σ ≥ 2 spread {spread[n]:.2f} pp)" for n, acc in final_acc.items()),
              all(s < 1.0 for s in spread.values())),
        Claim("conclusion-independent-of-loss-reading",
              "(superaccel) Reading the paper's loss literally (mean Euclidean distance ‖y − a‖ instead of "
              "Nielsen's ½‖y − a‖²) does not change the conclusion that σ = 4 beats smaller σ.",
              f"784-30-10 with ‖y − a‖: mean test loss {other_text}",
              other_better),
    ]


def plot(data, fig) -> None:
    axes = fig.subplots(2, 2)
    for row, (name, runs) in zip(axes, data["networks"].items(), strict=True):
        for run in runs:
            row[0].plot(run["steps"], 100 * np.asarray(run["accuracy"]), label=run["label"], lw=1)
            row[1].plot(run["steps"], run["loss"], label=run["label"], lw=1)
        row[0].set(xlabel="step (epoch)", ylabel="test accuracy (%)", title=f"{name}: accuracy", ylim=(0, 100))
        row[1].set(xlabel="step (epoch)", ylabel="test loss ½‖y − a‖²", title=f"{name}: loss", yscale="log")
        row[0].legend(fontsize=7)


FIGURE = Figure("fig5", "Figure 5: MNIST, full-batch gradient descent, η = 0.5 (test set, at θ)", compute, plot,
                figsize=(12.0, 8.0), needs_mnist=True)
