"""DDP and FSDP2 (gloo, 2 CPU processes, half a batch each) against one process on the
whole batch, for every optimizer and implementation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from . import _distributed_worker as worker

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def distributed_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "tests._distributed_worker", str(tmp / "init"), str(tmp / "out.pt")],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return torch.load(tmp / "out.pt")


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
@pytest.mark.parametrize("info, impl, sigma", worker.CASES,
                         ids=[f"{i.name}-{impl}-sigma{sigma}" for i, impl, sigma in worker.CASES])
def test_two_processes_match_one(distributed_results, mode, info, impl, sigma):
    expected, expected_sigma = worker.single_process(info, impl, sigma)
    got, sigmas = distributed_results[(mode, info.name, impl, sigma)]
    assert len(got) == len(expected) == 4
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert sigmas[0] == sigmas[1] == pytest.approx(expected_sigma, rel=1e-12, abs=1e-12)
    if sigma == "auto":
        assert sigmas[0] != info.momentum  # the estimator moved σ from its start
