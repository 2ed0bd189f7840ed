"""The lab's commands of ``superaccel`` (reproduce) and the figure writer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from superaccel_lab.experiments import fig1, fig7, get_figure
from superaccel_lab.experiments.figure import Claim, Figure, run_figure

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "superaccel.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_unwritable_output_fails_before_computing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = run_cli("reproduce", "fig1", "--out", str(blocker / "results"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_unknown_figure_is_a_one_line_error():
    proc = run_cli("reproduce", "fig99", "--out", "/tmp/never")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def test_reproduce_quick_writes_json_and_png(tmp_path):
    proc = run_cli("reproduce", "fig7", "--quick", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "fig7.json").read_text())
    assert result["figure"] == "fig7"
    assert set(result) >= {"figure", "claims", "data"}
    # the claims written are the ones the written data imply
    recomputed = fig7.claims({k: np.asarray(v) if isinstance(v, list) else v for k, v in result["data"].items()})
    assert [(c["id"], c["holds"]) for c in result["claims"]] == [(c.id, c.holds) for c in recomputed]
    assert (tmp_path / "fig7.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob(".*tmp*"))


def test_claims_are_computed_and_can_fail():
    """Feed the claim checks data that contradicts the paper: they must say so."""
    sigmas = np.linspace(0, 20, 21)
    monotone = {"T_fitted": np.linspace(30, 10, 21), "T_exact": np.linspace(30, 10, 21)}
    data = {
        "panel_a": {"0.01": monotone},
        "k_etas": np.logspace(-3, 0, 5), "sigma_star_fitted": np.array([0.5, 0.6, 0.7, 0.8, 0.9]),
        "threshold_scan": {"k_etas": np.linspace(0.002, 0.0036, 5), "sigma_star_fitted": np.ones(5)},
        "threshold_exact": 0.00263, "sigmas": sigmas,
    }
    assert [c.holds for c in fig1.claims(data)] == [False, False, False]
    rms_data = {"scan": {"sigmas": sigmas, "T": np.linspace(20, 5, 21)},
                "etas": np.logspace(-4, -1, 4), "sigma_star_fitted": np.array([2.0, 2.0, 0.5, 0.5])}
    assert [c.holds for c in fig7.claims(rms_data)] == [False, False]


def test_a_failing_figure_leaves_no_files(tmp_path):
    def broken_plot(data, fig):
        raise RuntimeError("plot failed")

    figure = Figure("figX", "broken", lambda quick: ({"x": 1}, [Claim("c", "s", "m", True)]), broken_plot)
    with pytest.raises(RuntimeError):
        run_figure(figure, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_get_figure_rejects_unknown_names():
    with pytest.raises(ValueError, match="Invalid figure: 'fig0'"):
        get_figure("fig0")


def test_reproduce_all_isolates_a_failing_figure(tmp_path, monkeypatch):
    from superaccel_lab.experiments import report

    def fake_get_figure(name):
        if name == "fig2":
            return Figure("fig2", "boom", lambda quick: (_ for _ in ()).throw(RuntimeError("no data")), None)
        return Figure(name, f"title {name}", lambda quick: ({"x": [1.0]}, [Claim("c", "s", "m", name != "fig3")]),
                      lambda data, fig: fig.subplots().plot(data["x"]))

    monkeypatch.setattr(report, "FIGURE_NAMES", ("fig1", "fig2", "fig3"))
    monkeypatch.setattr(report, "get_figure", fake_get_figure)
    outcomes = report.reproduce_all(tmp_path, log=lambda *_: None)
    assert "error" in outcomes["fig2"] and "result" in outcomes["fig3"]
    text = (tmp_path / "report.md").read_text()
    assert "## fig2: FAILED" in text and "RuntimeError: no data" in text
    assert "1 of 2 measured claims hold; 1 figure(s) failed: fig2" in text
    assert (tmp_path / "fig3.json").exists() and not (tmp_path / "fig2.json").exists()


def test_written_files_have_the_usual_mode(tmp_path):
    import os

    from superaccel_lab.experiments.figure import write_atomically

    write_atomically(tmp_path / "x.json", lambda tmp: tmp.write_text("{}"))
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o666 & ~umask
