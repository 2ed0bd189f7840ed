"""What Figures 5 and 6 share: MNIST, the paper's networks and one training loop.

Every optimizer starts from the same initial parameters (network seed 0). Test accuracy
and loss are measured at θ (``optimizer.eval()``) and, every ``phi_every`` steps, also at
the look-ahead point φ the parameters hold during training, to report how much they differ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data import epoch_batches, load_mnist
from ..problems.networks import accuracy, nielsen_network, quadratic_cost
from .runner import OptimizerSpec

LR = 0.5
QUICK_TRAIN, QUICK_TEST = 2000, 1000


def mnist_data(quick: bool) -> tuple[torch.Tensor, ...]:
    x_train, y_train = load_mnist("train")
    x_test, y_test = load_mnist("test")
    if quick:
        return x_train[:QUICK_TRAIN], y_train[:QUICK_TRAIN], x_test[:QUICK_TEST], y_test[:QUICK_TEST]
    return x_train, y_train, x_test, y_test


@dataclass
class MnistCurve:
    label: str
    sigma: float | None
    steps: np.ndarray
    accuracy: np.ndarray  # at θ
    loss: np.ndarray
    phi_steps: np.ndarray
    phi_accuracy: np.ndarray  # at φ
    phi_loss: np.ndarray
    diverged_at: int | None

    def as_data(self) -> dict:
        return {"sigma": self.sigma, "steps": self.steps, "accuracy": self.accuracy, "loss": self.loss,
                "phi_steps": self.phi_steps, "phi_accuracy": self.phi_accuracy, "phi_loss": self.phi_loss,
                "diverged_at": self.diverged_at}


def _evaluate(net, x, y, reading) -> tuple[float, float]:
    with torch.no_grad():
        out = net(x)
        return accuracy(out, y), float(quadratic_cost(out, y, reading))


def train(spec: OptimizerSpec, sizes: Sequence[int], data, steps: int, *, batch_size: int | None = None,
          batch_seed: int = 0, reading: str = "nielsen", eval_every: int = 1, phi_every: int = 10,
          desc: str = "") -> MnistCurve:
    x_train, y_train, x_test, y_test = data
    net = nielsen_network(sizes, seed=0)
    opt = spec.build(list(net.parameters()))
    batches = None if batch_size is None else epoch_batches(len(x_train), batch_size,
                                                             torch.Generator().manual_seed(batch_seed))
    record, phi_record = [], []
    diverged_at = None
    for step in tqdm(range(steps + 1), desc=desc or spec.label, leave=False, disable=None):
        if step % phi_every == 0 or step == steps:
            phi_record.append((step, *_evaluate(net, x_test, y_test, reading)))
        if step % eval_every == 0 or step == steps:
            opt.eval()
            record.append((step, *_evaluate(net, x_test, y_test, reading)))
            opt.train()
        if step == steps:
            break
        if batches is None:
            xb, yb = x_train, y_train
        else:
            index = next(batches)
            xb, yb = x_train[index], y_train[index]
        opt.zero_grad()
        loss = quadratic_cost(net(xb), yb, reading)
        if not math.isfinite(loss.item()):
            diverged_at = step
            break
        loss.backward()
        opt.step()
    steps_arr, acc, los = (np.array(v) for v in zip(*record))
    phi_steps, phi_acc, phi_los = (np.array(v) for v in zip(*phi_record))
    return MnistCurve(spec.label, spec.sigma, steps_arr, acc, los, phi_steps, phi_acc, phi_los, diverged_at)


def theta_phi_gap(curves: Sequence[MnistCurve]) -> dict[str, float]:
    """|accuracy(θ) − accuracy(φ)| and the relative loss difference: the largest over all
    shared steps (early, while the look-ahead is far from θ) and the largest at the last step."""
    acc_gap = loss_gap = final_acc_gap = final_loss_gap = 0.0
    for curve in curves:
        at = {int(s): (a, l) for s, a, l in zip(curve.steps, curve.accuracy, curve.loss)}
        for s, a, l in zip(curve.phi_steps, curve.phi_accuracy, curve.phi_loss):
            if int(s) in at and s > 0:
                acc, rel = abs(at[int(s)][0] - a), abs(at[int(s)][1] - l) / at[int(s)][1]
                acc_gap, loss_gap = max(acc_gap, acc), max(loss_gap, rel)
                if s == curve.steps[-1]:
                    final_acc_gap, final_loss_gap = max(final_acc_gap, acc), max(final_loss_gap, rel)
    return {"max_accuracy_gap": acc_gap, "max_relative_loss_gap": loss_gap,
            "final_accuracy_gap": final_acc_gap, "final_relative_loss_gap": final_loss_gap}


def theta_phi_note(gap: dict[str, float]) -> str:
    return (f"Accuracy and loss are measured at θ (optimizer.eval()). At the look-ahead point φ the parameters "
            f"hold during training, test accuracy differs by up to {100 * gap['max_accuracy_gap']:.2f} percentage "
            f"points and test loss by up to {100 * gap['max_relative_loss_gap']:.1f}% (early, while the look-ahead "
            f"is far ahead); at the last step by {100 * gap['final_accuracy_gap']:.2f} points and "
            f"{100 * gap['final_relative_loss_gap']:.1f}%.")
