"""Optimizer families: an optimizer and the values of its second hyperparameter that the
tuning protocol tries, the same number for every family (the learning rate is the first).

Two suites: CLASSIC (SGD-type and Adam-type, no weight decay) and TRANSFORMER (AdamW-type
and Muon, decoupled weight decay 0.1, run under the task's warmup + cosine schedule; Muon
takes the hidden matrices, with Moonshot's ``match_rms_adamw`` scaling so that one learning
rate serves it and the AdamW beside it).  ``default`` is the optimizer's own default
setting, used by the no-tuning column (None: the library has no default for it, or the
family shares its optimizer with another family).  ``build(run, lr, setting)`` gets the
task's :class:`~.tasks.Run`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from qhoptim.pyt import QHM
from torch.optim._muon import _zeropower_via_newtonschulz

from superaccel import SuperAdam, SuperAdamW, SuperMuon, SuperSGD
from superaccel.optim.muon import DEFAULT_SIGMA as SUPER_MUON_DEFAULT_SIGMA
from superaccel.rules import muon_adjusted_lr

from ..training import Combined
from .tasks import Run, Suite

__all__ = ["LrScale", "Family", "families", "OvershootAdamW", "MuonSigmaInMomentum"]

TRANSFORMER_WEIGHT_DECAY = 0.1
#: SuperMuon's σ settings (its default among them) and those of σ inside Muon's momentum
SUPER_MUON_SIGMAS = (1.0, 2.0)
MOMENTUM_SIGMAS = (2.0, 4.0)


class LrScale(enum.Enum):
    """Which of the task's learning-rate grids a family uses."""

    SGD = "sgd"
    ADAM = "adam"
    MUON = "muon"


@dataclass(frozen=True)
class Family:
    name: str
    lr_scale: LrScale
    #: ``build(run, lr, setting)``
    build: Callable[[Run, float, Any], torch.optim.Optimizer]
    settings: tuple[Any, ...]
    #: what a setting is (for the docs): e.g. "σ", "(β1, β2)"
    setting_name: str
    default: Any | None = None
    #: why there is no no-tuning entry when ``default`` is None
    no_default: str = ""


class OvershootAdamW(torch.optim.Optimizer):
    r"""AdamW with overshoot, transcribed from the equations of Kopál et al., "Overshoot:
    taking advantage of future gradients in momentum-based stochastic optimization"
    (arXiv 2501.09556), for its default recipe: the overshoot factor γ (our σ) ramps in
    linearly after ``delay`` steps, :math:`\gamma_t = \min(\max(t - \text{delay}, 0), \gamma)`.

    The parameters hold the overshot point :math:`\phi_t = \theta_t - \eta_t\gamma_t \hat m_t/
    (\sqrt{\hat v_t} + \epsilon)`.  One step, with :math:`\hat m, \hat v` bias-corrected and
    ``d`` the *current* denominator :math:`\sqrt{\hat v_t} + \epsilon`, used to undo the
    previous shift too (the method's approximation; SuperAdamW undoes it exactly):

    .. math::
        \phi \leftarrow \phi(1 - \eta\lambda) - \frac{\eta}{1 - \beta_1^t}\,
            \frac{c_m m_t + c_g g_t}{d},\quad
        c_g = \gamma_{t-1}\frac{1 - \beta_1}{\beta_1},\quad
        c_m = 1 + \gamma_t - \frac{\gamma_{t-1}}{\beta_1}.

    Weight decay acts on the parameters, i.e. on φ, as in the method's code.  ``eval()``
    moves to θ and ``train()`` back, with the current lr and moments.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, overshoot: float = 5.0, delay: int = 50) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                                  "overshoot": overshoot, "delay": delay, "train_mode": True})

    @staticmethod
    def _gamma(group: dict, step: int) -> float:
        return float(min(max(step - group["delay"], 0), group["overshoot"]))

    @torch.no_grad()
    def step(self, closure=None):
        if not all(group["train_mode"] for group in self.param_groups):
            raise RuntimeError("OvershootAdamW.step() in eval mode: call train() first")
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr = group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                grad, m, v = p.grad, state["exp_avg"], state["exp_avg_sq"]
                p.mul_(1 - lr * group["weight_decay"])
                m.lerp_(grad, 1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denominator = (v / (1 - beta2**t)).sqrt_().add_(group["eps"])
                gamma_old, gamma_new = self._gamma(group, t - 1), self._gamma(group, t)
                c_g = gamma_old * (1 - beta1) / beta1
                c_m = 1 + gamma_new - gamma_old / beta1
                step_size = lr / (1 - beta1**t)
                p.addcdiv_(m * c_m + grad * c_g, denominator, value=-step_size)
        return loss

    @torch.no_grad()
    def train(self, mode: bool = True) -> OvershootAdamW:
        for group in self.param_groups:
            if group["train_mode"] == mode:
                continue
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                state = self.state.get(p)
                if not state:
                    continue
                t = state["step"]
                denominator = (state["exp_avg_sq"] / (1 - beta2**t)).sqrt_().add_(group["eps"])
                shift = group["lr"] * self._gamma(group, t) / (1 - beta1**t)
                p.addcdiv_(state["exp_avg"], denominator, value=-shift if mode else shift)
            group["train_mode"] = mode
        return self

    def eval(self) -> OvershootAdamW:
        return self.train(False)


class MuonSigmaInMomentum(torch.optim.Muon):
    r"""Muon with the look-ahead inside its momentum, before the orthogonalization: the update
    is :math:`\mathrm{NS}(G + w(B - G))` with :math:`w = 1 - \sigma(1 - \mu)/\mu`, the
    accumulator form of super-acceleration; σ = μ is torch's Nesterov Muon (w = μ).  No
    memory beyond Muon's buffer, and the parameters hold θ.  The alternative to
    :class:`superaccel.SuperMuon` that the transformer benchmark measures."""

    def __init__(self, params, lr: float = 1e-3, sigma: float = 0.95, **kwargs: Any) -> None:
        super().__init__(params, lr=lr, nesterov=True, **kwargs)
        for group in self.param_groups:
            group["sigma"] = sigma

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            momentum, lr = group["momentum"], group["lr"]
            weight = 1 - group["sigma"] * (1 - momentum) / momentum
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p.grad, memory_format=torch.preserve_format)
                buffer = state["momentum_buffer"]
                buffer.lerp_(p.grad, 1 - momentum)
                update = _zeropower_via_newtonschulz(p.grad.lerp(buffer, weight), group["ns_coefficients"],
                                                     group["ns_steps"], group["eps"])
                p.mul_(1 - lr * group["weight_decay"])
                p.add_(update, alpha=-muon_adjusted_lr(lr, group["adjust_lr_fn"], p.shape))
        return loss


def _classic() -> list[Family]:
    adam_betas = ((0.9, 0.999), (0.9, 0.99), (0.95, 0.999), (0.95, 0.99))
    return [
        Family("SuperSGD (g = 0.9)", LrScale.SGD, lambda r, lr, s: SuperSGD(r.params, lr=lr, momentum=0.9, sigma=s),
               (1.0, 2.0, 4.0, 8.0), "σ", default=2.0),
        # g tuned too, σ = g (Nesterov) among the settings: the same freedom as tuned Nesterov
        Family("SuperSGD (g, σ)", LrScale.SGD, lambda r, lr, s: SuperSGD(r.params, lr=lr, momentum=s[0], sigma=s[1]),
               ((0.8, 0.8), (0.8, 2.0), (0.95, 0.95), (0.95, 4.0)), "(g, σ)",
               no_default="the same optimizer as SuperSGD (g = 0.9)"),
        Family("SGD Nesterov", LrScale.SGD,
               lambda r, lr, g: torch.optim.SGD(r.params, lr=lr, momentum=g, nesterov=True),
               (0.8, 0.9, 0.95, 0.98), "g", default=0.9),
        # QHM's α is the normalized step: α = lr/(1 − β) puts it on SGD's lr grid; qhoptim
        # has no default ν, β (both are required)
        Family("QHM", LrScale.SGD, lambda r, lr, nu: QHM(r.params, lr=lr / (1 - 0.9), momentum=0.9, nu=nu),
               (0.5, 0.7, 0.8, 0.9), "ν (β = 0.9)", no_default="qhoptim has no default ν, β"),
        Family("SuperAdam", LrScale.ADAM, lambda r, lr, s: SuperAdam(r.params, lr=lr, sigma=s),
               (0.5, 1.0, 2.0, 4.0), "σ", default=2.0),
        Family("Adam", LrScale.ADAM, lambda r, lr, b: torch.optim.Adam(r.params, lr=lr, betas=b), adam_betas,
               "(β1, β2)", default=(0.9, 0.999)),
        Family("NAdam", LrScale.ADAM, lambda r, lr, b: torch.optim.NAdam(r.params, lr=lr, betas=b), adam_betas,
               "(β1, β2)", default=(0.9, 0.999)),
        Family("Overshoot", LrScale.ADAM,
               lambda r, lr, g: OvershootAdamW(r.params, lr=lr, weight_decay=0.0, overshoot=g), (2.0, 3.0, 5.0, 8.0),
               "γ (ramped in after 50 steps)", default=5.0),
    ]


def _transformer() -> list[Family]:
    wd = TRANSFORMER_WEIGHT_DECAY
    betas = ((0.9, 0.999), (0.9, 0.95))
    muon = {"weight_decay": wd, "adjust_lr_fn": "match_rms_adamw"}  # one lr for Muon and the AdamW beside it

    def with_adamw(matrices: torch.optim.Optimizer, run: Run, lr: float, sigma: float | None = None):
        rest = (torch.optim.AdamW(run.others(), lr=lr, weight_decay=wd) if sigma is None else
                SuperAdamW(run.others(), lr=lr, sigma=sigma, weight_decay=wd))
        return Combined(matrices, rest)

    return [
        Family("AdamW", LrScale.ADAM,
               lambda r, lr, b: torch.optim.AdamW(r.params, lr=lr, betas=b, weight_decay=wd), betas,
               "(β1, β2)", default=(0.9, 0.999)),
        Family("SuperAdamW", LrScale.ADAM, lambda r, lr, s: SuperAdamW(r.params, lr=lr, sigma=s, weight_decay=wd),
               (1.0, 2.0), "σ", default=2.0),
        Family("NAdamW", LrScale.ADAM, lambda r, lr, b: torch.optim.NAdam(r.params, lr=lr, betas=b, weight_decay=wd,
                                                                          decoupled_weight_decay=True),
               betas, "(β1, β2)", default=(0.9, 0.999)),
        Family("Overshoot AdamW", LrScale.ADAM,
               lambda r, lr, g: OvershootAdamW(r.params, lr=lr, weight_decay=wd, overshoot=g), (3.0, 5.0),
               "γ (ramped in after 50 steps)", default=5.0),
        Family("Muon + AdamW", LrScale.MUON,
               lambda r, lr, mu: with_adamw(torch.optim.Muon(r.matrices, lr=lr, momentum=mu, **muon), r, lr),
               (0.95, 0.9), "μ (Muon's momentum)", default=0.95),
        Family("SuperMuon + AdamW", LrScale.MUON,
               lambda r, lr, s: with_adamw(SuperMuon(r.matrices, lr=lr, sigma=s, **muon), r, lr),
               SUPER_MUON_SIGMAS, "σ", default=SUPER_MUON_DEFAULT_SIGMA),
        Family("SuperMuon + SuperAdamW", LrScale.MUON,
               lambda r, lr, s: with_adamw(SuperMuon(r.matrices, lr=lr, sigma=s, **muon), r, lr, sigma=s),
               SUPER_MUON_SIGMAS, "σ (both)", no_default="no library default for the pair"),
        Family("Muon, σ in momentum + AdamW", LrScale.MUON,
               lambda r, lr, s: with_adamw(MuonSigmaInMomentum(r.matrices, lr=lr, sigma=s, **muon), r, lr),
               MOMENTUM_SIGMAS, "σ (in Muon's momentum)", no_default="not in the library: measured to decide"),
    ]


def families(suite: Suite) -> list[Family]:
    return _classic() if suite is Suite.CLASSIC else _transformer()


def describe(setting: Any) -> str:
    """A setting as the docs write it."""
    if isinstance(setting, Sequence):
        return "(" + ", ".join(f"{v:g}" for v in setting) + ")"
    return f"{setting:g}"
