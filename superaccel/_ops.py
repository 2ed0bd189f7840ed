"""The few operations the scalar rules need beyond arithmetic, for one kind of number.

The rules (:mod:`superaccel.rules`, :mod:`superaccel.auto_sigma`, :mod:`superaccel.theory`)
are written once, in plain Python arithmetic, and take an :class:`Ops` for what arithmetic
does not cover: a square root, an elementwise choice, a loop.  :data:`PYTHON` runs them on
floats on the host; the PyTorch optimizers pass torch's operations while ``torch.compile``
traces a step, and :mod:`superaccel.optax` passes ``jax.numpy``'s, so the same algebra runs
on a device without a copy of it.

A choice ``where(condition, a, b)`` evaluates both branches on arrays, so the rules keep the
branch that is not chosen finite (never a division by zero or the root of a negative
number): on floats that branch would raise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["Ops", "PYTHON"]


class Ops(NamedTuple):
    sqrt: Callable[[Any], Any]
    #: ``where(condition, if_true, if_false)``
    where: Callable[[Any, Any, Any], Any]
    abs: Callable[[Any], Any]
    maximum: Callable[[Any, Any], Any]
    minimum: Callable[[Any, Any], Any]
    isfinite: Callable[[Any], Any]
    #: ``fori_loop(lower, upper, body, value)``: ``value = body(i, value)`` for i in [lower, upper)
    fori_loop: Callable[[int, int, Callable[[int, Any], Any], Any], Any]


def _fori_loop(lower: int, upper: int, body: Callable[[int, Any], Any], value: Any) -> Any:
    for i in range(lower, upper):
        value = body(i, value)
    return value


PYTHON = Ops(sqrt=math.sqrt, where=lambda condition, a, b: a if condition else b, abs=abs, maximum=max,
             minimum=min, isfinite=math.isfinite, fori_loop=_fori_loop)
