"""The library's command line: ``superaccel sigma-star`` and ``--version``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import superaccel
from superaccel import theory
from superaccel.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "superaccel.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_sigma_star_json_has_the_documented_keys_and_values(capsys):
    assert main(["sigma-star", "--k-eta", "0.05", "--momentum", "0.9", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"k_eta", "momentum", "exact", "eq12", "eq13", "eq14", "rate"} <= set(result)
    assert result["exact"] == pytest.approx(theory.exact_sigma_star(0.05, 0.9))
    assert result["eq14"] == pytest.approx(6.0)
    assert result["rate"] == pytest.approx(1 - 0.05**0.5)


def test_sigma_star_table_for_people(capsys):
    assert main(["sigma-star", "--k-eta", "0.001"]) == 0
    out = capsys.readouterr().out
    assert "no positive σ* exists" in out and "Eq. (14)" in out


@pytest.mark.parametrize("args, fragment", [
    (["--k-eta", "0"], "Invalid k_eta value: 0.0"),
    (["--k-eta", "-1"], "Invalid k_eta value: -1.0"),
    (["--k-eta", "abc"], "not a number: 'abc'"),
    (["--k-eta", "inf"], "not a finite number"),
    (["--k-eta", "0.1", "--momentum", "1"], "Invalid momentum value: 1.0"),
    (["--k-eta", "0.1", "--momentum", "-0.5"], "Invalid momentum value: -0.5"),
    ([], "required: --k-eta"),
])
def test_bad_input_exits_2_with_one_line_and_no_traceback(args, fragment):
    proc = run_cli("sigma-star", *args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in proc.stderr


def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"superaccel {superaccel.__version__}"
