"""superaccel: super-accelerated momentum for PyTorch and JAX.

Nakerst, Brennan & Haque, "Gradient descent with momentum — to accelerate or to
super-accelerate?": evaluate the gradient σ estimated steps ahead, at θ + σ·m.

The package needs no framework of its own: ``superaccel.theory`` (σ*), ``superaccel.rules``
and ``superaccel.auto_sigma`` are plain Python.  The PyTorch optimizers (``superaccel.SuperSGD``
and the rest, ``superaccel.optim``) need torch (``pip install 'superaccel[torch]'``); the
optax transformations (``superaccel.optax``) need JAX and optax (``pip install
'superaccel[jax]'``).  Each is imported when first used, with an error naming the install
line when its framework is missing.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.3.0"

#: the PyTorch names, from superaccel.optim (imported on first use: it needs torch)
_TORCH_NAMES = (
    "SuperSGD",
    "SuperRMSprop",
    "SuperAdam",
    "SuperAdamW",
    "SuperMuon",
    "SuperAccelerate",
    "SuperOptimizer",
    "SigmaScheduler",
    "LinearSigma",
    "CosineSigma",
    "LambdaSigma",
    "at_theta",
)

__all__ = [*_TORCH_NAMES]


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        return getattr(importlib.import_module(".optim", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_TORCH_NAMES])
