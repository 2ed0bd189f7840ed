"""Data sets: MNIST, arriving offline through the package index."""

from .batches import epoch_batches
from .mnist import MnistError, load_mnist

__all__ = ["load_mnist", "MnistError", "epoch_batches"]
