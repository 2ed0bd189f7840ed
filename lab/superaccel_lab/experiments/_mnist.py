"""What Figures 5 and 6 share: MNIST, the paper's networks, and a run of the one training
loop (:func:`superaccel_lab.training.train`) on them.

Every optimizer starts from the same initial parameters (network seed 0). Test accuracy
and loss are measured at θ (``optimizer.eval()``) and, every ``phi_every`` steps, also at
the look-ahead point φ the parameters hold during training, to report how much they differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..data import epoch_batches, load_mnist
from ..problems.networks import accuracy, nielsen_network, quadratic_cost
from ..training import train as train_loop
from .runner import OptimizerSpec

LR = 0.5
QUICK_TRAIN, QUICK_TEST = 2000, 1000


def mnist_data(quick: bool) -> tuple[torch.Tensor, ...]:
    """MNIST from the cache (``superaccel reproduce`` downloads it first)."""
    x_train, y_train = load_mnist("train")
    x_test, y_test = load_mnist("test")
    if quick:
        return x_train[:QUICK_TRAIN], y_train[:QUICK_TRAIN], x_test[:QUICK_TEST], y_test[:QUICK_TEST]
    return x_train, y_train, x_test, y_test


@dataclass
class MnistCurve:
    spec: OptimizerSpec
    steps: np.ndarray
    accuracy: np.ndarray  # at θ
    loss: np.ndarray
    phi_steps: np.ndarray
    phi_accuracy: np.ndarray  # at φ
    phi_loss: np.ndarray
    diverged_at: int | None

    def as_data(self) -> dict:
        return {"spec": asdict(self.spec), "label": self.spec.label, "steps": self.steps, "accuracy": self.accuracy,
                "loss": self.loss, "phi_steps": self.phi_steps, "phi_accuracy": self.phi_accuracy,
                "phi_loss": self.phi_loss, "diverged_at": self.diverged_at}


def train(spec: OptimizerSpec, sizes: Sequence[int], data, steps: int, *, batch_size: int | None = None,
          batch_seed: int = 0, reading: str = "nielsen", eval_every: int = 1, phi_every: int = 10,
          desc: str = "") -> MnistCurve:
    x_train, y_train, x_test, y_test = data
    net = nielsen_network(sizes, seed=0)
    batches = None if batch_size is None else epoch_batches(len(x_train), batch_size,
                                                             torch.Generator().manual_seed(batch_seed))

    def evaluate(_step: int) -> tuple[float, float]:
        with torch.no_grad():
            out = net(x_test)
            return accuracy(out, y_test), float(quadratic_cost(out, y_test, reading))

    def loss() -> torch.Tensor:
        if batches is None:
            return quadratic_cost(net(x_train), y_train, reading)
        index = next(batches)
        return quadratic_cost(net(x_train[index]), y_train[index], reading)

    result = train_loop(spec.build(list(net.parameters())), loss, steps, evaluate=evaluate, eval_every=eval_every,
                        evaluate_lookahead=evaluate, lookahead_every=phi_every, progress=desc or spec.label)
    steps_arr, (acc, los) = _columns(result.evaluations)
    phi_steps, (phi_acc, phi_los) = _columns(result.lookahead_evaluations)
    return MnistCurve(spec, steps_arr, acc, los, phi_steps, phi_acc, phi_los, result.diverged_at)


def _columns(evaluations: list[tuple[int, tuple[float, float]]]) -> tuple[np.ndarray, list[np.ndarray]]:
    steps = np.array([step for step, _ in evaluations])
    return steps, [np.array(column) for column in zip(*(value for _, value in evaluations), strict=True)]


def theta_phi_gap(curves: Sequence[MnistCurve]) -> dict[str, float]:
    """|accuracy(θ) − accuracy(φ)| and the relative loss difference: the largest over all
    shared steps (early, while the look-ahead is far from θ) and the largest at the last step."""
    acc_gap = loss_gap = final_acc_gap = final_loss_gap = 0.0
    for curve in curves:
        at = {int(s): (a, loss) for s, a, loss in zip(curve.steps, curve.accuracy, curve.loss, strict=True)}
        for s, a, loss in zip(curve.phi_steps, curve.phi_accuracy, curve.phi_loss, strict=True):
            if int(s) in at and s > 0:
                acc, rel = abs(at[int(s)][0] - a), abs(at[int(s)][1] - loss) / at[int(s)][1]
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
