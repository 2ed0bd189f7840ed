"""superaccel: super-accelerated momentum for PyTorch.

Nakerst, Brennan & Haque, "Gradient descent with momentum — to accelerate or to
super-accelerate?": evaluate the gradient σ estimated steps ahead, at θ + σ·m.

Importing ``superaccel`` needs torch only; ``superaccel.experiments``, ``superaccel.theory``
and the command line need the ``experiments`` extra (numpy, scipy, matplotlib, tqdm).
"""

from .optim import (
    CosineSigma,
    LambdaSigma,
    LinearSigma,
    SigmaScheduler,
    SuperAccelerate,
    SuperAdam,
    SuperAdamW,
    SuperOptimizer,
    SuperRMSprop,
    SuperSGD,
)
from .training import at_theta

__version__ = "0.2.0"

__all__ = [
    "SuperSGD",
    "SuperRMSprop",
    "SuperAdam",
    "SuperAdamW",
    "SuperAccelerate",
    "SuperOptimizer",
    "SigmaScheduler",
    "LinearSigma",
    "CosineSigma",
    "LambdaSigma",
    "at_theta",
]
