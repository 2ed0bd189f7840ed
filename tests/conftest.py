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
    """Under pytest-xdist (``make test`` runs two workers), the tests that compile an
    optimizer's kernels with Inductor go to one worker per optimizer: Dynamo traces each kernel
    once per process, so spreading one optimizer's compiled tests would trace it twice, and
    keeping every optimizer's on one worker would leave the other idle."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        if params.get("impl") == "compiled" or params.get("compiled_step") or item.path.name == "test_compile.py":
            info = params.get("info")
            kernel = getattr(info, "name", "other").replace("SuperAdamW", "SuperAdam")  # one kernel for both
            item.add_marker(pytest.mark.xdist_group(f"inductor-{kernel}"))
