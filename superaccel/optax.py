r"""superaccel for JAX: super-accelerated optax gradient transformations.

Needs JAX and optax (``pip install 'superaccel[jax]'``); importing ``superaccel`` never does.

As with the torch optimizers, the parameters you train hold the look-ahead point
:math:`\phi = \theta + \sigma s` (s the method's last step); the updates move φ, and
:func:`eval_params` gives θ, the parameters to evaluate and ship, like
``optax.contrib.schedule_free_eval_params``::

    optimizer = superaccel.optax.super_adam(learning_rate=1e-3, sigma=2.0, weight_decay=1e-4)
    opt_state = optimizer.init(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    ...
    theta = superaccel.optax.eval_params(params, opt_state)   # evaluate at θ

Every transformation takes optax's parameter names, a learning rate and a σ that are floats
or schedules (functions of the update count, as optax schedules; the native three also take
``sigma="auto"``, the rule of :mod:`superaccel.auto_sigma` computed on the device), works under
``optax.inject_hyperparams``, ``jax.jit`` and ``jax.vmap``, and chains (clipping before it,
``optax.masked`` around it).  The numbers are those of the torch classes: SuperSGD,
SuperRMSprop and SuperAdamW are followed to 1e-12 in float64 (tests/test_optax.py).

The σ of update number k (counting from 0) forms the look-ahead of that update, as
``group["sigma"]`` does at the k-th ``step()`` in torch.  The update rules' algebra is
:mod:`superaccel.rules`, the same functions the torch classes use, evaluated in
``jax.numpy``; this module imports no torch.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

try:
    import jax
    import jax.numpy as jnp
    import optax
except ModuleNotFoundError as error:
    raise ModuleNotFoundError(
        "superaccel.optax needs JAX and optax: pip install 'superaccel[jax]'"
    ) from error

from . import auto_sigma, rules
from ._ops import Ops

__all__ = ["super_sgd", "super_rmsprop", "super_adam", "super_adamw", "super_accelerate", "eval_params",
           "SuperSGDState", "SuperRMSpropState", "SuperAdamState", "SuperAccelerateState", "AutoSigmaState"]

ScalarOrSchedule = float | jax.Array | Callable[[jax.Array], jax.Array]


# -- helpers ----------------------------------------------------------------------------------

def _float(value: Any) -> jax.Array:
    """A scalar in the default float type (float64 when x64 is on), so that the state keeps
    one dtype from update to update (jit and scan need it)."""
    return jnp.asarray(value, dtype=jax.dtypes.canonicalize_dtype(jnp.float64))


def _fori_loop(lower: int, upper: int, body: Callable, value: Any) -> Any:
    return jax.lax.fori_loop(lower, upper, body, jax.tree.map(_float, value))


#: the scalar rules' operations in jax.numpy (superaccel._ops)
JAX_OPS = Ops(sqrt=jnp.sqrt, where=jnp.where, abs=jnp.abs, maximum=jnp.maximum, minimum=jnp.minimum,
              isfinite=jnp.isfinite, fori_loop=_fori_loop)


def _at(hyperparameter: ScalarOrSchedule, count: jax.Array) -> Any:
    return hyperparameter(count) if callable(hyperparameter) else hyperparameter


def _check(name: str, value: Any, low: float = 0.0, high: float | None = None) -> None:
    """torch-style validation of a concrete number; schedules and arrays (possibly traced,
    under ``inject_hyperparams``) are not checked."""
    if callable(value) or isinstance(value, jax.Array) or isinstance(value, bool) or _is_auto(value, name):
        return
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"Invalid {name}: {value!r} (expected a number or a schedule)") from None
    if not math.isfinite(number) or number < low or (high is not None and number >= high):
        raise ValueError(f"Invalid {name}: {value}")


def _is_masked(leaf: Any) -> bool:
    return isinstance(leaf, optax.MaskedNode)


def _map(function: Callable, tree: Any, *rest: Any) -> Any:
    """``jax.tree.map`` over ``tree`` that leaves the leaves ``optax.masked`` hid alone."""
    return jax.tree.map(lambda leaf, *others: leaf if _is_masked(leaf) or any(map(_is_masked, others))
                        else function(leaf, *others), tree, *rest, is_leaf=_is_masked)


def _with_weight_decay(grads: Any, params: Any, weight_decay: Any, name: str) -> Any:
    """L2 weight decay as part of the loss, its gradient taken at the point the parameters
    hold (the look-ahead point), as the torch classes do."""
    if isinstance(weight_decay, (int, float)) and weight_decay == 0:
        return grads
    if params is None:
        raise ValueError(f"{name} with weight_decay needs the parameters: update(grads, state, params)")
    return _map(lambda g, p: g + weight_decay * p, grads, params)


# -- sigma="auto" (superaccel.auto_sigma, in jax.numpy: no host round trip) -------------------

def _is_auto(value: Any, name: str = "sigma") -> bool:
    return name == "sigma" and isinstance(value, str) and value == auto_sigma.AUTO


class AutoSigmaState(NamedTuple):
    """σ and the estimator of ``sigma="auto"`` (:class:`superaccel.auto_sigma.Estimate`'s fields)."""

    sigma: jax.Array
    low: jax.Array
    high: jax.Array
    projection: jax.Array
    displacement: jax.Array
    cosine: jax.Array
    estimated: jax.Array
    primed: jax.Array


def _auto_init(momentum: Any) -> AutoSigmaState:
    zero = _float(0.0)
    return AutoSigmaState(_float(momentum), zero, zero, zero, zero, zero, jnp.array(False), jnp.array(False))


def _auto_step(auto: AutoSigmaState, sums: auto_sigma.StepSums, form: rules.HeavyBall) -> AutoSigmaState:
    sigma, estimate = auto_sigma.choose_sigma(auto_sigma.Estimate(*auto[1:]), sums, form, auto.sigma, ops=JAX_OPS)
    *values, estimated, primed = estimate
    return AutoSigmaState(_float(sigma), *map(_float, values), jnp.asarray(estimated), jnp.asarray(primed))


def _sums(xs: Any, buffers: Any, denominators: Any = None) -> auto_sigma.StepSums:
    """(Σ⟨x, b⟩, Σ‖x‖², Σ‖b‖²) over the leaves, weighted by 1/``denominators`` if given."""
    if denominators is None:
        denominators = _map(lambda x: 1.0, xs)
    terms = _map(lambda x, b, d: _Results((jnp.sum(x * b / d), jnp.sum(x * x / d), jnp.sum(b * b / d))),
                 xs, buffers, denominators)
    leaves = jax.tree.leaves(terms)
    return auto_sigma.StepSums(*(sum((leaf[i] for leaf in leaves), _float(0.0)) for i in range(3)))


# -- SuperSGD and SuperRMSprop -------------------------------------------------------------

def _buffer_theta(state: Any, params: optax.Params) -> optax.Params:
    """θ = φ + applied_sigma·applied_lr·b for the states that keep torch's accumulator b."""
    coefficient = state.applied_sigma * state.applied_lr
    return _map(lambda p, b: p + coefficient * b, params, state.momentum_buffer)


class SuperSGDState(NamedTuple):
    """``momentum_buffer`` is torch's gradient accumulator b; the parameters hold
    φ = θ − applied_sigma·applied_lr·b."""

    count: jax.Array
    momentum_buffer: optax.Updates
    applied_sigma: jax.Array
    applied_lr: jax.Array
    auto: AutoSigmaState | None = None

    theta = _buffer_theta


class SuperRMSpropState(NamedTuple):
    """As :class:`SuperSGDState`, with RMSprop's average of squared gradients ``nu``."""

    count: jax.Array
    nu: optax.Updates
    momentum_buffer: optax.Updates
    applied_sigma: jax.Array
    applied_lr: jax.Array
    auto: AutoSigmaState | None = None

    theta = _buffer_theta


def _accumulate(state: Any, xs: Any, lr: Any, momentum: Any, sigma: Any) -> tuple[Any, Any, Any, Any]:
    """SuperSGD's and SuperRMSprop's common step (:class:`superaccel.rules.SgdCoefficients`):
    σ (chosen when ``sigma="auto"``), the new accumulator b = g·b + x, and the updates
    φ_new − φ = undo·b + step·b_new."""
    estimator = None
    if _is_auto(sigma):
        form = rules.buffer_heavy_ball(lr=lr, momentum=momentum, applied_sigma=state.applied_sigma)
        estimator = _auto_step(state.auto, _sums(xs, state.momentum_buffer), form)
    sig = estimator.sigma if estimator is not None else _at(sigma, state.count)
    c = rules.sgd_coefficients(lr=lr, momentum=momentum, sigma=sig, applied_sigma=state.applied_sigma,
                               weight_decay=0.0)
    buffer = _map(lambda b, x: c.momentum * b + x, state.momentum_buffer, xs)
    updates = _map(lambda old, new: c.undo * old + c.step * new, state.momentum_buffer, buffer)
    return updates, buffer, sig, estimator


def super_sgd(learning_rate: ScalarOrSchedule, momentum: float = 0.9, sigma: ScalarOrSchedule = 2.0,
              weight_decay: float = 0.0) -> optax.GradientTransformation:
    r"""SGD with super-accelerated momentum (the paper's Eq. 4 in torch's convention).

    .. math::
        b_t = g\, b_{t-1} + \nabla L(\phi_t) + \lambda\phi_t,\qquad
        \theta_{t+1} = \theta_t - \eta_t b_t,\qquad \phi_{t+1} = \theta_{t+1} - \sigma\eta_t b_t.

    ``sigma=0`` is ``optax.sgd(learning_rate, momentum)``, ``sigma=momentum`` is
    ``optax.sgd(learning_rate, momentum, nesterov=True)``.  One buffer per parameter.
    """
    _check("learning_rate", learning_rate)
    _check("momentum", momentum, 0.0, 1.0)
    _check("sigma", sigma)
    _check("weight_decay", weight_decay)

    auto = _is_auto(sigma)

    def init(params: optax.Params) -> SuperSGDState:
        return SuperSGDState(jnp.zeros([], jnp.int32), optax.tree.zeros_like(params), _float(0.0), _float(0.0),
                             _auto_init(momentum) if auto else None)

    def update(grads, state: SuperSGDState, params=None):
        lr = _at(learning_rate, state.count)
        grads = _with_weight_decay(grads, params, weight_decay, "super_sgd")
        updates, buffer, sig, estimator = _accumulate(state, grads, lr, momentum, sigma)
        return updates, SuperSGDState(optax.safe_increment(state.count), buffer, _float(sig), _float(lr), estimator)

    return optax.GradientTransformation(init, update)


def super_rmsprop(learning_rate: ScalarOrSchedule, decay: float = 0.999, eps: float = 1e-7, momentum: float = 0.9,
                  sigma: ScalarOrSchedule = 2.0, weight_decay: float = 0.0) -> optax.GradientTransformation:
    r"""RMSprop with super-accelerated momentum, the paper's Eq. (16): ε inside the root
    (optax's ``eps_in_sqrt=True``), the defaults of ``superaccel.SuperRMSprop``.

    .. math::
        \nu_t = d\,\nu_{t-1} + (1 - d) G_t^2,\quad b_t = g\, b_{t-1} + G_t/\sqrt{\nu_t + \epsilon},\quad
        \phi_{t+1} = \theta_{t+1} - \sigma\eta_t b_t.

    ``sigma=0`` is ``optax.rmsprop(learning_rate, decay, eps, momentum=momentum)``.
    """
    _check("learning_rate", learning_rate)
    _check("decay", decay, 0.0, 1.0)
    _check("eps", eps)
    _check("momentum", momentum, 0.0, 1.0)
    _check("sigma", sigma)
    _check("weight_decay", weight_decay)

    auto = _is_auto(sigma)

    def init(params: optax.Params) -> SuperRMSpropState:
        zeros = optax.tree.zeros_like(params)
        return SuperRMSpropState(jnp.zeros([], jnp.int32), zeros, zeros, _float(0.0), _float(0.0),
                                 _auto_init(momentum) if auto else None)

    def update(grads, state: SuperRMSpropState, params=None):
        lr = _at(learning_rate, state.count)
        grads = _with_weight_decay(grads, params, weight_decay, "super_rmsprop")
        nu = _map(lambda n, g: decay * n + (1 - decay) * g * g, state.nu, grads)
        scaled = _map(lambda g, n: g / jnp.sqrt(n + eps), grads, nu)
        updates, buffer, sig, estimator = _accumulate(state, scaled, lr, momentum, sigma)
        return updates, SuperRMSpropState(optax.safe_increment(state.count), nu, buffer, _float(sig), _float(lr),
                                          estimator)

    return optax.GradientTransformation(init, update)


# -- SuperAdam(W) ----------------------------------------------------------------------------

class _Results(tuple):
    """Several arrays computed per leaf; a plain tuple subclass is a leaf to ``jax.tree``
    (unlike a tuple), so a tree of them splits with one ``tree.map`` per position."""


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class DecayMask:
    """Which leaves the weight decay applies to (``optax.adamw``'s ``mask``), kept in the
    tree's structure rather than as one array per leaf, so that a jitted step carries none."""

    treedef: Any
    flags: tuple[bool, ...]

    @classmethod
    def of(cls, chosen: Any) -> DecayMask:
        flags, treedef = jax.tree.flatten(chosen, is_leaf=_is_masked)
        return cls(treedef, tuple(bool(flag) for flag in flags))

    def tree(self) -> Any:
        return jax.tree.unflatten(self.treedef, self.flags)


class SuperAdamState(NamedTuple):
    """Adam's moments only: the last step is recomputed from them (and the parameters, with
    weight decay), as in ``superaccel.SuperAdam``; ``decay_mask`` says which leaves the
    weight decay ``weight_decay`` applies to (all when None)."""

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates
    applied_sigma: jax.Array
    applied_lr: jax.Array
    b1: Any
    b2: Any
    eps: Any
    weight_decay: Any
    decay_mask: DecayMask | None
    auto: AutoSigmaState | None = None

    def decayed(self, params: optax.Params) -> optax.Params:
        """Per leaf, whether the weight decay applies to it."""
        return _map(lambda p: True, params) if self.decay_mask is None else self.decay_mask.tree()

    def theta(self, params: optax.Params) -> optax.Params:
        def leaf(param, mu, nu, decayed):
            shift = rules.adam_shift(self.count, lr=self.applied_lr, sigma=self.applied_sigma, beta1=self.b1,
                                     beta2=self.b2, decay=self.weight_decay if decayed else 0.0, to_theta=True,
                                     ops=JAX_OPS)
            return shift.scale * param + shift.coeff * mu / (jnp.sqrt(nu) * shift.rsqrt_bc2 + self.eps)

        return _map(leaf, params, self.mu, self.nu, self.decayed(params))


def super_adam(learning_rate: ScalarOrSchedule = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
               sigma: ScalarOrSchedule = 2.0, weight_decay: float = 0.0,
               mask: Any | Callable[[optax.Params], Any] | None = None) -> optax.GradientTransformation:
    r"""Adam with super-acceleration: the gradient is taken at :math:`\theta_t + \sigma s_{t-1}`,
    s Adam's step, with decoupled weight decay as ``optax.adamw`` (``mask`` selects the
    leaves it applies to, as there).  ``sigma=0`` is ``optax.adam`` (``optax.adamw`` with
    ``weight_decay``).  Two buffers per parameter, as Adam.
    """
    _check("learning_rate", learning_rate)
    _check("b1", b1, 0.0, 1.0)
    _check("b2", b2, 0.0, 1.0)
    _check("eps", eps)
    _check("sigma", sigma)
    _check("weight_decay", weight_decay)
    auto = _is_auto(sigma)
    rules.check_decay_undoable(learning_rate, weight_decay, auto_sigma.SIGMA_MAX if auto else sigma,
                               name="weight_decay")
    # without weight decay the update does not read the parameters (as optax.adam)
    decays_at_all = not (isinstance(weight_decay, (int, float)) and weight_decay == 0)

    def decay_mask(params) -> DecayMask | None:
        if mask is None:
            return None
        return DecayMask.of(mask(params) if callable(mask) else mask)

    def init(params: optax.Params) -> SuperAdamState:
        zeros = optax.tree.zeros_like(params)
        return SuperAdamState(jnp.zeros([], jnp.int32), zeros, zeros, _float(0.0), _float(0.0), b1, b2, eps,
                              weight_decay, decay_mask(params), _auto_init(b1) if auto else None)

    def update(grads, state: SuperAdamState, params=None):
        lr = _at(learning_rate, state.count)
        state = state._replace(b1=b1, b2=b2, eps=eps, weight_decay=weight_decay, decay_mask=decay_mask(grads))
        k = state.count
        estimator = None
        if auto:  # Adam's heavy-ball form in its preconditioned metric, as superaccel.SuperAdam
            denominators = _map(lambda v, g: jnp.sqrt((b2 * v + (1 - b2) * g * g) / (1 - b2 ** (k + 1))) + eps,
                                state.nu, grads)
            form = rules.adam_heavy_ball(k, lr=lr, applied_lr=state.applied_lr, applied_sigma=state.applied_sigma,
                                         beta1=b1, ops=JAX_OPS)
            estimator = _auto_step(state.auto, _sums(grads, state.mu, denominators), form)
        sig = estimator.sigma if auto else _at(sigma, state.count)
        if params is None and decays_at_all:
            raise ValueError("super_adam with weight_decay needs the parameters: update(grads, state, params)")

        def coefficients(decay):
            return rules.adam_coefficients(k, lr=lr, applied_lr=state.applied_lr, sigma=sig,
                                           applied_sigma=state.applied_sigma, beta1=b1, beta2=b2, eps=eps,
                                           weight_decay=decay, decoupled=True, ops=JAX_OPS)

        # one set of coefficients per decay, not per leaf: XLA does not always hoist the
        # scalar work out of every leaf's loop
        with_decay, without_decay = coefficients(weight_decay), coefficients(0.0)

        def leaf(param, grad, mu, nu, decayed):
            c = with_decay if decayed else without_decay
            mu_new = mu + c.one_minus_beta1 * (grad - mu)
            nu_new = c.beta2 * nu + c.one_minus_beta2 * grad * grad
            update = (c.undo * mu / (jnp.sqrt(nu) * c.undo_rsqrt_bc2 + c.eps)
                      + c.step * mu_new / (jnp.sqrt(nu_new) * c.rsqrt_bc2 + c.eps))  # φ_new − φ, less (scale − 1)·φ
            if decays_at_all:
                update = update + (c.scale - 1) * param
            return _Results((update, mu_new, nu_new))

        if params is None:
            params = grads  # not read (no weight decay): any tree of the right structure
        results = _map(leaf, params, grads, state.mu, state.nu, state.decayed(grads))
        updates, mu, nu = (jax.tree.map(lambda r, i=i: r[i], results) for i in range(3))
        return updates, SuperAdamState(optax.safe_increment(state.count), mu, nu, _float(sig), _float(lr), b1, b2,
                                       eps, weight_decay, state.decay_mask, estimator)

    return optax.GradientTransformation(init, update)


def super_adamw(learning_rate: ScalarOrSchedule = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                sigma: ScalarOrSchedule = 2.0, weight_decay: float = 1e-4,
                mask: Any | Callable[[optax.Params], Any] | None = None) -> optax.GradientTransformation:
    """:func:`super_adam` with ``optax.adamw``'s default weight decay (1e-4)."""
    return super_adam(learning_rate, b1, b2, eps, sigma, weight_decay, mask)


# -- any optax transformation ------------------------------------------------------------------

class SuperAccelerateState(NamedTuple):
    """The inner transformation's state and its last update s (one extra buffer); the
    parameters hold φ = θ + applied_sigma·s."""

    count: jax.Array
    inner_state: optax.OptState
    last_update: optax.Updates
    applied_sigma: jax.Array

    def theta(self, params: optax.Params) -> optax.Params:
        return _map(lambda p, s: p - self.applied_sigma * s, params, self.last_update)


def super_accelerate(inner: optax.GradientTransformation,
                     sigma: ScalarOrSchedule = 2.0) -> optax.GradientTransformation:
    r"""Super-accelerate any optax transformation whose updates are the steps to apply
    (learning rate included, e.g. ``optax.adagrad(0.1)``): the gradient is taken at
    :math:`\theta_t + \sigma s_{t-1}`, and the inner transformation sees θ as its parameters
    (so its weight decay acts on θ).  The update moves φ:
    :math:`\phi_{t+1} - \phi_t = (1 + \sigma)s_t - \sigma' s_{t-1}`.
    """
    if not isinstance(inner, optax.GradientTransformation):
        raise TypeError(f"super_accelerate needs an optax.GradientTransformation, got {type(inner).__name__}")
    _check("sigma", sigma)

    def init(params: optax.Params) -> SuperAccelerateState:
        return SuperAccelerateState(jnp.zeros([], jnp.int32), inner.init(params), optax.tree.zeros_like(params),
                                    _float(0.0))

    def update(grads, state: SuperAccelerateState, params=None, **extra_args):
        sig = _at(sigma, state.count)
        theta = None if params is None else state.theta(params)
        steps, inner_state = optax.with_extra_args_support(inner).update(grads, state.inner_state, theta,
                                                                         **extra_args)
        updates = _map(lambda s, last: (1 + sig) * s - state.applied_sigma * last, steps, state.last_update)
        return updates, SuperAccelerateState(optax.safe_increment(state.count), inner_state, steps, _float(sig))

    return optax.GradientTransformationExtraArgs(init, update)


# -- evaluation parameters ----------------------------------------------------------------------

_STATES = (SuperSGDState, SuperRMSpropState, SuperAdamState, SuperAccelerateState)


def eval_params(params: optax.Params, opt_state: optax.OptState) -> optax.Params:
    """θ, the parameters to evaluate, save and ship, from the training parameters φ and the
    optimizer state, wherever the superaccel transformation sits in it (a chain,
    ``inject_hyperparams``, ``masked``...).  Like ``optax.contrib.schedule_free_eval_params``."""
    found = [leaf for leaf in jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, _STATES))
             if isinstance(leaf, _STATES)]
    if not found:
        raise ValueError("eval_params: the optimizer state holds no superaccel transformation")
    for state in found:
        params = state.theta(params)
    return params
