"""Super-accelerated optimizers for PyTorch."""

from ._core import SuperOptimizer
from .accelerate import SuperAccelerate
from .adam import SuperAdam, SuperAdamW, super_adam
from .rmsprop import SuperRMSprop, super_rmsprop
from .schedules import CosineSigma, LambdaSigma, LinearSigma, SigmaScheduler, attached_sigma_schedulers
from .sgd import SuperSGD, super_sgd

__all__ = [
    "SuperOptimizer",
    "SuperSGD",
    "SuperRMSprop",
    "SuperAdam",
    "SuperAdamW",
    "SuperAccelerate",
    "SigmaScheduler",
    "LinearSigma",
    "CosineSigma",
    "LambdaSigma",
    "attached_sigma_schedulers",
    "super_sgd",
    "super_rmsprop",
    "super_adam",
]
