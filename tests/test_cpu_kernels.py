"""The fused CPU kernels (superaccel/optim/csrc/fused_cpu.cpp): what runs, and what happens
where they cannot be built.  Their arithmetic is tested with every other implementation
(the "fused" implementation in optim_db.py: oracle, torch equivalences, dtypes, state)."""

from __future__ import annotations

import pytest
import torch

from superaccel.optim import _cpu_kernels
from superaccel.rules import AdamCoefficients, RmspropCoefficients, SgdCoefficients

from .optim_db import native_db, optims

NAMES = {"SuperSGD": "sgd", "SuperRMSprop": "rmsprop", "SuperAdam": "adam", "SuperAdamW": "adam"}


class CountingKernels:
    """The built module, counting calls and the tensors each call was given."""

    def __init__(self, module) -> None:
        self.module, self.calls = module, []

    def __getattr__(self, name):
        kernel = getattr(self.module, name)

        def counted(lists, rows, *flags):
            self.calls.append((name, len(lists[0])))
            return kernel(lists, rows, *flags)

        return counted


@optims(native_db)
def test_a_fused_cpu_step_is_one_kernel_call_for_all_tensors(info, monkeypatch):
    module = _cpu_kernels.load()
    assert module is not None, "the C++ kernels did not build on this machine"
    counting = CountingKernels(module)
    monkeypatch.setattr(_cpu_kernels, "_module", counting)
    model = torch.nn.Sequential(*[torch.nn.Linear(3, 3) for _ in range(10)])  # 20 tensors
    opt = info.make(model.parameters(), fused=True)
    for _ in range(3):
        opt.zero_grad()
        model(torch.ones(2, 3)).sum().backward()
        opt.step()
    assert counting.calls == [(NAMES[info.name], 20)] * 3


def test_a_kernel_that_cannot_be_built_falls_back_to_the_compiled_one(monkeypatch, tmp_path):
    monkeypatch.setattr(_cpu_kernels, "SOURCE", tmp_path / "missing.cpp")
    monkeypatch.setattr(_cpu_kernels, "_module", None)
    monkeypatch.setattr(_cpu_kernels, "_failed", False)
    with pytest.warns(RuntimeWarning, match="fused CPU kernel could not be built.*pip install ninja"):
        assert _cpu_kernels.load() is None
    assert _cpu_kernels.load() is None  # warned once, not tried again

    info = next(i for i in native_db if i.name == "SuperAdam")
    results = []
    for kwargs in ({"fused": True}, {"foreach": True}):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 2).double()
        opt = info.make(model.parameters(), sigma=2.0, **kwargs)
        for _ in range(5):
            opt.zero_grad()
            model(torch.ones(4, 3, dtype=torch.float64)).square().sum().backward()
            opt.step()
        results.append([p.detach().clone() for p in model.parameters()])
    for fused, foreach in zip(*results, strict=True):
        torch.testing.assert_close(fused, foreach, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("update, coefficients", [("sgd", SgdCoefficients), ("rmsprop", RmspropCoefficients),
                                                  ("adam", AdamCoefficients)])
def test_the_kernels_read_each_coefficient_by_its_name(update, coefficients):
    """The C++ rows are superaccel.rules' tuples, field by field: its field lists give both the
    struct a row is read through and these names."""
    assert tuple(_cpu_kernels.load().fields(update)) == coefficients._fields
