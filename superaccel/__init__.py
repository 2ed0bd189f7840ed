"""superaccel: super-accelerated momentum for PyTorch.

Nakerst, Brennan & Haque, "Gradient descent with momentum — to accelerate or to
super-accelerate?": evaluate the gradient σ estimated steps ahead, at θ + σ·m.
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

__version__ = "0.1.0"

__all__ = [
    "SuperSGD",
    "SuperRMSprop",
    "SuperAdam",
    "SuperAdamW",
    "SuperOptimizer",
    "SuperAccelerate",
    "SigmaScheduler",
    "LinearSigma",
    "CosineSigma",
    "LambdaSigma",
]
