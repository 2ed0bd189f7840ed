"""Figure 6: mini-batch SGD on MNIST, 784-30-10, batches of 200, three stochastic runs."""

from __future__ import annotations

import numpy as np

from ._mnist import LR, mnist_data, theta_phi_gap, theta_phi_note, train
from .fig5 import specs
from .figure import Claim, Figure

BATCH = 200
RUNS = 3
PAPER_SIGMAS = ("σ = 0", "σ = 0.9", "σ = 2", "σ = 4")


def compute(quick: bool):
    data = mnist_data(quick)
    steps_per_epoch = len(data[0]) // BATCH
    steps = 30 if quick else 3 * steps_per_epoch
    eval_every = 1 if quick else 5
    curves = {seed: [train(spec, (784, 30, 10), data, steps, batch_size=BATCH, batch_seed=seed,
                           eval_every=eval_every, phi_every=10 * eval_every, desc=f"fig6 run {seed} {spec.label}")
                     for spec in specs()] for seed in range(RUNS)}
    result = {
        "lr": LR, "batch_size": BATCH, "steps": steps, "steps_per_epoch": steps_per_epoch, "eval_every": eval_every,
        "runs": {str(seed): {c.label: c.as_data() for c in cs} for seed, cs in curves.items()},
        "theta_vs_phi": theta_phi_gap([c for cs in curves.values() for c in cs]),
    }
    result["notes"] = [theta_phi_note(result["theta_vs_phi"]),
                       f"Test set evaluated every {eval_every} steps; the paper gives no η for this figure, we keep "
                       f"Figure 5's η = {LR}."]
    return result, claims(result)


def _mean_over_runs(data, label, key):
    return np.mean([np.asarray(runs[label][key], dtype=float) for runs in data["runs"].values()], axis=0)


def claims(data) -> list[Claim]:
    labels = list(next(iter(data["runs"].values())))
    steps = np.asarray(next(iter(data["runs"].values()))["gd"]["steps"])
    early = steps <= max(steps[-1] // 9, steps[1])  # the first third of the first epoch
    early_loss = {label: float(np.mean(_mean_over_runs(data, label, "loss")[early])) for label in labels}
    final_acc = {label: float(_mean_over_runs(data, label, "accuracy")[-1]) for label in labels}
    momentum = [label for label in labels if label != "gd"]
    spread = 100 * (max(final_acc[l] for l in momentum) - min(final_acc[l] for l in momentum))
    large = [label for label in momentum if label not in ("σ = 0", "σ = 0.9")]
    large_spread = 100 * (max(final_acc[l] for l in large) - min(final_acc[l] for l in large))
    ordered = [early_loss[l] for l in PAPER_SIGMAS]
    return [
        Claim("minibatch-larger-sigma-faster-early",
              "With mini-batches, larger σ (0 → 0.9 → 2 → 4) allows more rapid optimization early on.",
              f"mean test loss over the first {int(steps[early][-1])} steps, averaged over {len(data['runs'])} runs: "
              + ", ".join(f"{k} {v:.4f}" for k, v in early_loss.items()),
              all(a > b for a, b in zip(ordered, ordered[1:]))),
        Claim("minibatch-long-time-sigma-independent",
              "In the long-time limit the accuracy becomes independent of σ (we require the momentum runs' "
              "final test accuracies within 1 percentage point).",
              f"final test accuracy after {data['steps']} steps (mean of runs): "
              + ", ".join(f"{k} {100 * v:.2f}%" for k, v in final_acc.items())
              + f"; momentum runs spread {spread:.2f} pp (σ ≥ 2 alone: {large_spread:.2f} pp)",
              spread < 1.0),
    ]


def plot(data, fig) -> None:
    ax_acc, ax_loss = fig.subplots(1, 2)
    colors = {}
    for seed, runs in data["runs"].items():
        for label, run in runs.items():
            kwargs = {"color": colors.get(label), "lw": 0.8, "alpha": 0.8}
            (line,) = ax_acc.plot(run["steps"], 100 * np.asarray(run["accuracy"]), label=label if seed == "0" else None,
                                  **kwargs)
            colors.setdefault(label, line.get_color())
            ax_loss.plot(run["steps"], run["loss"], color=colors[label], lw=0.8, alpha=0.8)
    ax_acc.set(xlabel="step (mini-batch of 200)", ylabel="test accuracy (%)", title="accuracy, 3 runs", ylim=(0, 100))
    ax_loss.set(xlabel="step (mini-batch of 200)", ylabel="test loss", yscale="log", title="loss, 3 runs")
    ax_acc.legend(fontsize=7)


FIGURE = Figure("fig6", "Figure 6: MNIST 784-30-10, mini-batches of 200, η = 0.5 (test set, at θ)", compute, plot)
