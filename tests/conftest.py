"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest

from .optim_db import OptimInfo


@pytest.fixture(autouse=True)
def _implementation_under_test(request):
    """Tests parametrized over ``impl`` run in that implementation's context (for
    "compiled": the CPU's C++ kernels switched off)."""
    callspec = getattr(request.node, "callspec", None)
    impl = callspec.params.get("impl") if callspec is not None else None
    with OptimInfo.impl_context(impl if isinstance(impl, str) else "single"):
        yield
