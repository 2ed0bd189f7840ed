"""Super-accelerated optimizers for PyTorch (``pip install 'superaccel[torch]'``)."""

try:
    import torch  # noqa: F401
except ModuleNotFoundError as error:
    raise ModuleNotFoundError(
        "superaccel's PyTorch optimizers need torch: pip install 'superaccel[torch]' "
        "(for the CPU build, install torch first from https://download.pytorch.org/whl/cpu)", name="torch"
    ) from error

from ._core import SuperOptimizer
from .accelerate import SuperAccelerate
from .adam import SuperAdam, SuperAdamW, super_adam
from .muon import SuperMuon, super_muon
from .rmsprop import SuperRMSprop, super_rmsprop
from .schedules import CosineSigma, LambdaSigma, LinearSigma, SigmaScheduler, attached_sigma_schedulers
from .sgd import SuperSGD, super_sgd
from .theta import at_theta

__all__ = [
    "SuperOptimizer",
    "SuperSGD",
    "SuperRMSprop",
    "SuperAdam",
    "SuperAdamW",
    "SuperMuon",
    "SuperAccelerate",
    "SigmaScheduler",
    "LinearSigma",
    "CosineSigma",
    "LambdaSigma",
    "attached_sigma_schedulers",
    "at_theta",
    "super_sgd",
    "super_rmsprop",
    "super_adam",
    "super_muon",
]
