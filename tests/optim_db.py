"""One table of the optimizers under test, in the manner of torch's ``optim_db``.

Every generic test (conventions, equivalences, properties, compile, distributed) is
parametrized over :data:`optim_db`; adding an optimizer is adding one :class:`OptimInfo`.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

from superaccel import SuperAccelerate, SuperAdam, SuperAdamW, SuperMuon, SuperRMSprop, SuperSGD
from superaccel.optim import _cpu_kernels

from . import oracle

SIGMAS = (0.0, "g", 2.0, 5.0)  # "g": σ equal to the optimizer's momentum (Nesterov for SGD)


@dataclass(frozen=True)
class Config:
    """Constructor keyword arguments (without ``params``) and a name for test ids."""

    kwargs: dict[str, Any]
    desc: str


@dataclass(frozen=True)
class ErrorInput:
    """Constructor arguments that must fail with ``error`` whose message starts with ``message``."""

    kwargs: dict[str, Any]
    error: type[Exception]
    message: str


@dataclass(frozen=True)
class TorchEquivalent:
    """Our kwargs and a torch optimizer that must follow the same trajectory (float64,
    1000 steps, under an lr schedule), e.g. SuperSGD(σ=g) and SGD(nesterov=True)."""

    desc: str
    ours: dict[str, Any]
    torch_optimizer: Callable[..., torch.optim.Optimizer]


@dataclass(frozen=True)
class OptimInfo:
    name: str
    #: ``build(params, **kwargs)`` constructs the optimizer
    build: Callable[..., torch.optim.Optimizer]
    #: kwargs every test starts from: a learning rate that is stable on the test problems
    base: dict[str, Any]
    #: the momentum-like coefficient g (σ = g is the Nesterov-like setting)
    momentum: float
    #: state tensors shaped like the parameter: the memory contract
    state_buffers: int
    #: implementations: "single", "foreach", "fused" (on the CPU: the C++ kernels) and
    #: "compiled" (``fused=True`` through the compiled kernels that CUDA and traced steps use)
    impls: tuple[str, ...] = ("single", "foreach", "fused", "compiled")
    #: extra configs beyond σ × weight decay × maximize
    extra_configs: tuple[Config, ...] = ()
    weight_decay: float = 1e-2
    error_inputs: tuple[ErrorInput, ...] = ()
    #: ``oracle(a, b, theta0, sigmas)`` → (θ, look-ahead) per step, for ``oracle_kwargs``
    oracle: Callable | None = None
    oracle_kwargs: dict[str, Any] = field(default_factory=dict)
    torch_equivalents: tuple[TorchEquivalent, ...] = ()
    #: whether the look-ahead scales with lr (native optimizers) or is the stored step (wrapper)
    native: bool = True
    #: the constructor's default weight decay, when not 0 (SuperAdamW)
    weight_decay_default: float = 0.0
    #: ``counterpart(params)``: torch's optimizer of the same method at ``base``'s settings,
    #: which need not coincide with ours at the σ tested (its behaviour on hostile input is
    #: the reference for ours)
    counterpart: Callable[[list], torch.optim.Optimizer] | None = None
    #: takes 2-D parameters only (Muon): the tests give it matrices, vectors as columns
    matrices_only: bool = False
    supports_maximize: bool = True
    supports_complex: bool = True

    def make(self, params, **kwargs) -> torch.optim.Optimizer:
        return self.build(params, **{**self.base, **kwargs})

    def shape(self, *size: int) -> tuple[int, ...]:
        """A parameter of ``size`` as this optimizer takes it: a vector becomes a column for a
        matrices-only optimizer."""
        return (*size, 1) if self.matrices_only and len(size) == 1 else size

    def linear(self, n_in: int, n_out: int) -> torch.nn.Linear:
        """A linear layer, with a bias unless the optimizer takes matrices only."""
        return torch.nn.Linear(n_in, n_out, bias=not self.matrices_only)

    def configs(self) -> list[Config]:
        """σ ∈ {0, g, 2, 5}, weight decay on/off, maximize on/off, and the extras."""
        out = []
        for sigma in SIGMAS:
            value = self.momentum if sigma == "g" else sigma
            out.append(Config({"sigma": value}, f"sigma={sigma}"))
        out.append(Config({"sigma": 2.0, "weight_decay": self.weight_decay}, "weight_decay"))
        out.append(Config({"sigma": 2.0, "weight_decay": self.weight_decay, "maximize": True}, "maximize"))
        return out + list(self.extra_configs)

    def impl_kwargs(self, impl: str) -> dict[str, Any]:
        """The constructor flags that select an implementation."""
        if not self.native:
            return {}
        return {"single": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True},
                "compiled": {"fused": True}}[impl]

    @staticmethod
    def impl_context(impl: str) -> contextlib.AbstractContextManager:
        """What must surround the steps of ``impl`` (tests parametrized over ``impl`` get it
        from the autouse fixture in conftest.py)."""
        return _cpu_kernels.disabled() if impl == "compiled" else contextlib.nullcontext()

    def __repr__(self) -> str:  # pytest ids
        return self.name


def _wrapped_adagrad(params, sigma=2.0, maximize=False, weight_decay=0.0, lr=0.1, foreach=None):
    return SuperAccelerate(torch.optim.Adagrad(params, lr=lr, maximize=maximize, weight_decay=weight_decay,
                                               foreach=foreach), sigma=sigma)


COMMON_ERRORS = (
    ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
    ErrorInput({"lr": math.nan}, ValueError, "Invalid learning rate: nan"),
    ErrorInput({"lr": torch.tensor([0.001, 0.001])}, ValueError, "Tensor lr must be 1-element"),
    ErrorInput({"sigma": math.nan}, ValueError, "Invalid sigma value: nan"),
    ErrorInput({"sigma": -0.5}, ValueError, "Invalid sigma value: -0.5"),
    ErrorInput({"sigma": math.inf}, ValueError, "Invalid sigma value: inf"),
    ErrorInput({"sigma": "2"}, ValueError, "Invalid sigma value: '2'"),
    ErrorInput({"sigma": torch.tensor(2.0)}, ValueError, "Invalid sigma value: tensor(2.)"),
    ErrorInput({"weight_decay": -1.0}, ValueError, "Invalid weight_decay value: -1.0"),
    ErrorInput({"foreach": True, "fused": True}, RuntimeError, "`fused` and `foreach` cannot be `True` together."),
)

ADAM_ERRORS = COMMON_ERRORS + (
    ErrorInput({"betas": (1.0, 0.999)}, ValueError, "Invalid beta parameter at index 0: 1.0"),
    ErrorInput({"betas": (0.9, -0.1)}, ValueError, "Invalid beta parameter at index 1: -0.1"),
    ErrorInput({"betas": (0.9,)}, ValueError, "Invalid betas"),
    ErrorInput({"eps": -1.0}, ValueError, "Invalid epsilon value: -1.0"),
)

optim_db: list[OptimInfo] = [
    OptimInfo(
        name="SuperSGD",
        build=SuperSGD,
        base={"lr": 0.05, "momentum": 0.9},
        momentum=0.9,
        state_buffers=1,
        extra_configs=(Config({"sigma": 2.0, "momentum": 0.0}, "momentum=0"),),
        error_inputs=COMMON_ERRORS + (
            ErrorInput({"momentum": 1.0}, ValueError, "Invalid momentum value: 1.0"),
            ErrorInput({"momentum": -0.5}, ValueError, "Invalid momentum value: -0.5"),
        ),
        oracle=lambda a, b, x0, s: oracle.eq4(a, b, x0, 0.05, 0.9, s),
        counterpart=lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
        torch_equivalents=(
            TorchEquivalent("sigma=g is SGD(nesterov)", {"sigma": 0.9, "weight_decay": 1e-2},
                            lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9, nesterov=True, weight_decay=1e-2)),
            TorchEquivalent("sigma=0 is SGD(momentum)", {"sigma": 0.0, "weight_decay": 1e-2},
                            lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9, weight_decay=1e-2)),
            TorchEquivalent("sigma=0, momentum=0 is SGD", {"sigma": 0.0, "momentum": 0.0},
                            lambda p, lr: torch.optim.SGD(p, lr=lr)),
        ),
    ),
    OptimInfo(
        name="SuperRMSprop",
        build=SuperRMSprop,
        base={"lr": 2e-3, "momentum": 0.9},
        momentum=0.9,
        state_buffers=2,
        error_inputs=COMMON_ERRORS + (
            ErrorInput({"alpha": 1.0}, ValueError, "Invalid alpha value: 1.0"),
            ErrorInput({"eps": -1e-8}, ValueError, "Invalid epsilon value: -1e-08"),
            ErrorInput({"momentum": -1.0}, ValueError, "Invalid momentum value: -1.0"),
        ),
        oracle=lambda a, b, x0, s: oracle.eq16(a, b, x0, 2e-3, 0.9, 0.999, 1e-7, s),
        counterpart=lambda p: torch.optim.RMSprop(p, lr=2e-3, alpha=0.999, eps=1e-7, momentum=0.9),
        # Both epsilons zero: the only setting where √(r + ε) and √r + ε agree (lr small
        # enough that no gradient component nears zero, where G/√r amplifies rounding).
        torch_equivalents=(
            TorchEquivalent("sigma=0, eps=0 is RMSprop(momentum)",
                            {"sigma": 0.0, "eps": 0.0, "alpha": 0.99, "weight_decay": 1e-2},
                            lambda p, lr: torch.optim.RMSprop(p, lr=lr, alpha=0.99, eps=0.0, momentum=0.9,
                                                              weight_decay=1e-2)),
        ),
    ),
    OptimInfo(
        name="SuperAdam",
        build=SuperAdam,
        base={"lr": 1e-2},
        momentum=0.9,
        state_buffers=2,
        extra_configs=(Config({"sigma": 2.0, "weight_decay": 1e-2, "decoupled_weight_decay": True}, "decoupled"),),
        error_inputs=ADAM_ERRORS,
        oracle=lambda a, b, x0, s: oracle.adam(a, b, x0, 2e-3, 0.9, 0.999, 1e-8, s),
        oracle_kwargs={"lr": 2e-3},
        counterpart=lambda p: torch.optim.Adam(p, lr=1e-2),
        torch_equivalents=(
            TorchEquivalent("sigma=0 is Adam", {"sigma": 0.0, "weight_decay": 1e-2},
                            lambda p, lr: torch.optim.Adam(p, lr=lr, weight_decay=1e-2)),
            TorchEquivalent("sigma=0, decoupled is AdamW",
                            {"sigma": 0.0, "weight_decay": 1e-2, "decoupled_weight_decay": True},
                            lambda p, lr: torch.optim.AdamW(p, lr=lr, weight_decay=1e-2)),
        ),
    ),
    OptimInfo(
        name="SuperAdamW",
        build=SuperAdamW,
        base={"lr": 1e-2},
        momentum=0.9,
        state_buffers=2,
        weight_decay=0.1,
        weight_decay_default=1e-2,
        error_inputs=ADAM_ERRORS + (
            # the decay would zero the look-ahead's dependence on θ (see check_decay_undoable)
            ErrorInput({"lr": 0.5, "weight_decay": 1.0, "sigma": 1.0}, ValueError, "Invalid weight_decay value: 1.0"),
            ErrorInput({"lr": 0.2, "weight_decay": 1.0, "sigma": "auto"}, ValueError, "Invalid weight_decay value"),
        ),
        oracle=lambda a, b, x0, s: oracle.adam(a, b, x0, 2e-3, 0.9, 0.999, 1e-8, s, decoupled_weight_decay=0.05),
        oracle_kwargs={"lr": 2e-3, "weight_decay": 0.05},
        counterpart=lambda p: torch.optim.AdamW(p, lr=1e-2),
        torch_equivalents=(
            TorchEquivalent("sigma=0 is AdamW", {"sigma": 0.0}, lambda p, lr: torch.optim.AdamW(p, lr=lr)),
        ),
    ),
    OptimInfo(
        name="SuperAccelerate(Adagrad)",
        build=_wrapped_adagrad,
        base={},
        momentum=0.0,
        state_buffers=1,  # its own: the last step (the base keeps Adagrad's)
        impls=("foreach",),
        oracle=None,
        native=False,
        counterpart=lambda p: torch.optim.Adagrad(p, lr=0.1),
    ),
    OptimInfo(
        name="SuperMuon",
        build=SuperMuon,
        base={"lr": 0.02},
        momentum=0.95,
        state_buffers=2,  # Muon's momentum buffer and the last step
        impls=("single",),
        weight_decay=0.1,
        weight_decay_default=0.1,
        # torch.optim.Muon's checks and messages, and σ's
        error_inputs=(
            ErrorInput({"lr": -1.0}, ValueError, "Learning rate should be >= 0 but is: -1.0"),
            ErrorInput({"lr": math.nan}, ValueError, "Learning rate should be >= 0 but is: nan"),
            ErrorInput({"lr": torch.tensor([0.1, 0.1])}, ValueError, "Tensor lr must be 1-element"),
            ErrorInput({"momentum": -0.5}, ValueError, "momentum should be >= 0 but is: -0.5"),
            ErrorInput({"weight_decay": -0.1}, ValueError, "weight decay should be >= 0 but is: -0.1"),
            ErrorInput({"adjust_lr_fn": "arbitrary"}, ValueError, "Adjust learning rate function arbitrary is not "
                       "supported"),
            ErrorInput({"sigma": math.nan}, ValueError, "Invalid sigma value: nan"),
            ErrorInput({"sigma": -1.0}, ValueError, "Invalid sigma value: -1.0"),
            ErrorInput({"sigma": "auto"}, ValueError, "SuperMuon does not support sigma='auto'"),
        ),
        native=False,  # its look-ahead is the stored last step, as the wrapper's
        counterpart=lambda p: torch.optim.Muon(p, lr=0.02),
        matrices_only=True,
        supports_maximize=False,
        supports_complex=False,
    ),
]

native_db = [info for info in optim_db if info.native]


def optims(db: list[OptimInfo] | None = None):
    """Parametrize a test over the table (argument ``info``)."""
    db = optim_db if db is None else db
    return pytest.mark.parametrize("info", db, ids=[info.name for info in db])


def optims_and_impls(db: list[OptimInfo] | None = None):
    """Parametrize over every (optimizer, implementation) pair (arguments ``info``, ``impl``)."""
    db = native_db if db is None else db
    pairs = [(info, impl) for info in db for impl in info.impls]
    return pytest.mark.parametrize("info, impl", pairs, ids=[f"{i.name}-{impl}" for i, impl in pairs])


def clone_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Fresh copies of tensor hyperparameters (a scheduler mutates a tensor lr in place)."""
    return {k: v.clone() if torch.is_tensor(v) else copy.deepcopy(v) for k, v in kwargs.items()}
