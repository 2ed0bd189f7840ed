r"""SuperMuon: Muon with the gradient taken σ of its steps ahead."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim._muon import DEFAULT_A, DEFAULT_B, DEFAULT_C, DEFAULT_NS_STEPS, EPS, _zeropower_via_newtonschulz

from ..rules import MuonCoefficients, muon_coefficients
from ._core import LastStepLookahead, kernel_scalar

__all__ = ["SuperMuon", "super_muon"]

#: σ when none is given: of the σ tried on the character transformer (1 and 2, which tied on
#: the search seeds) the milder; on nanoGPT's CPU recipe σ = 1 ended a little below Muon on
#: every seed.  It did not make Muon faster to the character transformer's target
#: (docs/benchmarks.md): σ does little for Muon.
DEFAULT_SIGMA = 1.0


class SuperMuon(LastStepLookahead):
    state_keys = frozenset({"momentum_buffer", "last_step"})
    lookahead_buffer = "last_step"

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = (DEFAULT_A, DEFAULT_B, DEFAULT_C),
        eps: float = EPS,
        ns_steps: int = DEFAULT_NS_STEPS,
        adjust_lr_fn: str | None = None,
        sigma: float = DEFAULT_SIGMA,
    ) -> None:
        _check_muon_hyperparameters(lr, weight_decay, momentum, adjust_lr_fn)
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                        ns_coefficients=ns_coefficients, eps=eps, ns_steps=ns_steps, adjust_lr_fn=adjust_lr_fn,
                        sigma=sigma)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        for p in self.param_groups[-1]["params"]:
            if p.ndim != 2:  # torch.optim.Muon's check and words; the group is not kept
                self.param_groups.pop()
                raise ValueError(f"Muon only supports 2D parameters whereas we found a parameter with size: {p.size()}")

    def _validate_group(self, group: dict[str, Any]) -> None:
        _check_muon_hyperparameters(group["lr"], group["weight_decay"], group["momentum"], group["adjust_lr_fn"])

    def _convert_state_dict(self, state_dict: dict[str, Any]) -> dict[str, Any]:
        """Migrate a ``torch.optim.Muon`` state_dict: the same momentum buffer, and parameters
        that hold θ (no look-ahead yet: the last step starts at zero); the loaded groups keep
        this optimizer's σ, used from the next step."""
        groups = state_dict["param_groups"]
        if not (groups and all("ns_steps" in g and "sigma" not in g for g in groups)):
            return state_dict
        if len(groups) != len(self.param_groups):
            raise ValueError(f"SuperMuon.load_state_dict: the Muon state_dict has {len(groups)} param groups, this "
                             f"optimizer {len(self.param_groups)}")
        converted = [{**saved, "sigma": mine["sigma"], "train_mode": True, "applied_sigma": 0.0}
                     for saved, mine in zip(groups, self.param_groups, strict=True)]
        return {"state": state_dict["state"], "param_groups": converted}

    def _update_group(self, group: dict[str, Any], params: list[Tensor]) -> None:
        for p in params:
            if torch.is_complex(p):
                raise RuntimeError("Muon does not support complex parameters")
        super_muon(
            params,
            [p.grad for p in params],
            [self._buffer_like_grad(p) for p in params],
            [self._buffer(p, "last_step") for p in params],
            lr=group["lr"],
            weight_decay=group["weight_decay"],
            momentum=group["momentum"],
            nesterov=group["nesterov"],
            ns_coefficients=group["ns_coefficients"],
            eps=group["eps"],
            ns_steps=group["ns_steps"],
            adjust_lr_fn=group["adjust_lr_fn"],
            sigma=group["sigma"],
            applied_sigma=group["applied_sigma"],
        )

    def _buffer_like_grad(self, p: Tensor) -> Tensor:
        """Muon's momentum buffer, created like the gradient (as torch.optim.Muon)."""
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p.grad, memory_format=torch.preserve_format)
        return state["momentum_buffer"]


SuperMuon.__doc__ = r"""Implements Muon with super-acceleration.

    Muon (Keller Jordan et al.) orthogonalizes its momentum with a Newton–Schulz iteration
    and steps along the result; this takes its gradient at the look-ahead point
    :math:`\phi_t = \theta_t + \sigma s_{t-1}`, :math:`s_{t-1}` being Muon's last step, weight
    decay included (Eq. 4 of Nakerst, Brennan & Haque for any method that makes steps):

    .. math::
       \begin{aligned}
            &\textbf{for}\ t = 1, 2, \ldots: \\
            &\quad \phi_t \leftarrow \theta_t + \sigma\, s_{t-1}
                \qquad \text{(the parameters hold } \phi_t \text{ in train mode)} \\
            &\quad G_t \leftarrow \nabla L(\phi_t), \quad B_t \leftarrow \mu B_{t-1} + (1 - \mu) G_t \\
            &\quad O_t \leftarrow \mathrm{NS}\big(\text{nesterov}\ ?\ (1 - \mu) G_t + \mu B_t : B_t\big) \\
            &\quad \theta_{t+1} \leftarrow (1 - \gamma\lambda)\,\theta_t - \tilde\gamma\, O_t,
                \quad s_t \leftarrow \theta_{t+1} - \theta_t
       \end{aligned}

    with :math:`\tilde\gamma` the learning rate adjusted to the matrix's shape
    (``adjust_lr_fn``).  ``sigma=0`` is ``torch.optim.Muon`` exactly; for any σ it is
    ``SuperAccelerate(torch.optim.Muon(...), sigma)`` with the same arithmetic, in Muon's
    memory plus the last step (the look-ahead needs it: recomputing it would take another
    Newton–Schulz iteration).  Muon's own Nesterov momentum (``nesterov=True``, as torch)
    looks ahead inside the momentum before orthogonalizing; σ looks ahead in parameter space,
    after it.

    Args:
        params (iterable): 2-D parameters (hidden matrices; embeddings, the output layer,
            gains and biases go to another optimizer, as with torch's Muon), or dicts
            defining parameter groups.
        lr (float, Tensor, optional): learning rate (default: 1e-3).
        weight_decay (float, optional): decoupled weight decay (default: 0.1).
        momentum (float, optional): momentum factor (default: 0.95).
        nesterov (bool, optional): Muon's Nesterov momentum (default: True).
        ns_coefficients (tuple of three floats, optional): the Newton–Schulz polynomial's
            coefficients (default: torch's).
        eps (float, optional): added to the norm before the iteration (default: 1e-7).
        ns_steps (int, optional): Newton–Schulz iterations (default: 5).
        adjust_lr_fn (str, optional): ``"original"`` or ``"match_rms_adamw"``, as torch's Muon
            (default: None, the original).
        sigma (float, optional): super-acceleration :math:`\sigma \ge 0` (default: 1.0; on
            the transformer benchmarks σ did little for Muon, docs/benchmarks.md).

    .. note::
        Call :meth:`eval` before evaluating or checkpointing and :meth:`train` before
        training, as for every optimizer here; ``load_state_dict`` accepts a
        ``torch.optim.Muon`` state_dict.
    """


def super_muon(
    params: list[Tensor],
    grads: list[Tensor],
    momentum_buffers: list[Tensor],
    last_steps: list[Tensor],
    *,
    lr: float | Tensor,
    weight_decay: float,
    momentum: float,
    nesterov: bool,
    ns_coefficients: tuple[float, float, float],
    eps: float,
    ns_steps: int,
    adjust_lr_fn: str | None,
    sigma: float,
    applied_sigma: float,
) -> None:
    r"""Functional SuperMuon step, in place: ``params`` hold φ = θ + applied_sigma·s on
    entry and θ_new + σ·s_new on exit, ``last_steps`` s then s_new.  See :class:`SuperMuon`."""
    for param, grad, buffer, last_step in zip(params, grads, momentum_buffers, last_steps, strict=True):
        if grad.ndim != 2:
            raise ValueError("Param gradient must be a 2D matrix")
        c: MuonCoefficients = muon_coefficients(lr=kernel_scalar(lr, param), weight_decay=weight_decay,
                                                sigma=kernel_scalar(sigma, param),
                                                applied_sigma=kernel_scalar(applied_sigma, param),
                                                adjust_lr_fn=adjust_lr_fn, shape=tuple(param.shape))
        buffer.lerp_(grad, 1 - momentum)
        update = grad.lerp(buffer, momentum) if nesterov else buffer
        orthogonal = _zeropower_via_newtonschulz(update, ns_coefficients, ns_steps, eps)
        if c.undo != 0:
            param.add_(last_step, alpha=-c.undo)  # θ
        last_step.copy_(param)
        param.mul_(c.decay).add_(orthogonal, alpha=c.step)  # θ_new, torch's Muon arithmetic
        last_step.sub_(param).neg_()  # s = θ_new − θ
        if c.lookahead != 0:
            param.add_(last_step, alpha=c.lookahead)  # φ_new


def _check_muon_hyperparameters(lr: Any, weight_decay: Any, momentum: Any, adjust_lr_fn: Any) -> None:
    """torch.optim.Muon's checks and messages (NaN fails them too)."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
    if not 0.0 <= momentum:
        raise ValueError(f"momentum should be >= 0 but is: {momentum}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"weight decay should be >= 0 but is: {weight_decay}")
    if adjust_lr_fn is not None and adjust_lr_fn not in ("original", "match_rms_adamw"):
        raise ValueError(f"Adjust learning rate function {adjust_lr_fn} is not supported")

