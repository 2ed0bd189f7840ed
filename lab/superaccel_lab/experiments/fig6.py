"""Figure 6: mini-batch SGD on MNIST, 784-30-10, batches of 200, three stochastic runs."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from ._mnist import LR, mnist_data, theta_phi_gap, theta_phi_note, train
from .fig5 import specs
from .figure import Claim, Figure
from .runner import find_run

BATCH = 200
RUNS = 3
PAPER_SIGMAS = (0.0, 0.9, 2.0, 4.0)


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
        "runs": {str(seed): [c.as_data() for c in cs] for seed, cs in curves.items()},
        "theta_vs_phi": theta_phi_gap([c for cs in curves.values() for c in cs]),
    }
    result["notes"] = [theta_phi_note(result["theta_vs_phi"]),
                       f"Test set evaluated every {eval_every} steps; the paper gives no η for this figure, we keep "
                       f"Figure 5's η = {LR}."]
    return result, claims(result)


def _mean_over_runs(data, key, spec) -> np.ndarray:
    """The mean over the stochastic runs of the curve ``key`` of the run with ``spec``."""
    return np.mean([np.asarray(find_run(runs, method=spec["method"], sigma=spec["sigma"])[key], dtype=float)
                    for runs in data["runs"].values()], axis=0)


def claims(data) -> list[Claim]:
    runs = next(iter(data["runs"].values()))  # one seed's runs: every spec, with its plot label
    steps = np.asarray(find_run(runs, method="gd")["steps"])
    early = steps <= max(steps[-1] // 9, steps[1])  # the first third of the first epoch
    early_loss = {r["label"]: float(np.mean(_mean_over_runs(data, "loss", r["spec"])[early])) for r in runs}
    final_acc = {r["label"]: float(_mean_over_runs(data, "accuracy", r["spec"])[-1]) for r in runs}
    momentum = [r for r in runs if r["spec"]["method"] == "momentum"]
    spread = 100 * (max(final_acc[r["label"]] for r in momentum) - min(final_acc[r["label"]] for r in momentum))
    large = [r for r in momentum if r["spec"]["sigma"] >= 2]
    large_spread = 100 * (max(final_acc[r["label"]] for r in large) - min(final_acc[r["label"]] for r in large))
    ordered = [early_loss[find_run(runs, method="momentum", sigma=s)["label"]] for s in PAPER_SIGMAS]
    return [
        Claim("minibatch-larger-sigma-faster-early",
              "With mini-batches, larger σ (0 → 0.9 → 2 → 4) allows more rapid optimization early on.",
              f"mean test loss over the first {int(steps[early][-1])} steps, averaged over {len(data['runs'])} runs: "
              + ", ".join(f"{k} {v:.4f}" for k, v in early_loss.items()),
              all(a > b for a, b in pairwise(ordered))),
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
        for run in runs:
            label = run["label"]
            kwargs = {"color": colors.get(label), "lw": 0.8, "alpha": 0.8}
            (line,) = ax_acc.plot(run["steps"], 100 * np.asarray(run["accuracy"]), label=label if seed == "0" else None,
                                  **kwargs)
            colors.setdefault(label, line.get_color())
            ax_loss.plot(run["steps"], run["loss"], color=colors[label], lw=0.8, alpha=0.8)
    ax_acc.set(xlabel="step (mini-batch of 200)", ylabel="test accuracy (%)", title="accuracy, 3 runs", ylim=(0, 100))
    ax_loss.set(xlabel="step (mini-batch of 200)", ylabel="test loss", yscale="log", title="loss, 3 runs")
    ax_acc.legend(fontsize=7)


FIGURE = Figure("fig6", "Figure 6: MNIST 784-30-10, mini-batches of 200, η = 0.5 (test set, at θ)", compute, plot,
                needs_mnist=True)
