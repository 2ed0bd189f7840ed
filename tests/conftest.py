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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``make test`` runs two workers), the tests that compile kernels
    with Inductor go to one worker: Dynamo traces each kernel once per process, so spreading
    them would trace everything twice."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        if params.get("impl") == "compiled" or params.get("compiled_step") or item.path.name == "test_compile.py":
            item.add_marker(pytest.mark.xdist_group("inductor"))
