"""The benchmark docs are generated from the scripts' JSON: the generator on small inputs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_docs_renders_tables_and_an_honest_summary(tmp_path, monkeypatch, capsys):
    make_docs = load("make_docs")
    step = {"config": {"command": "python benchmarks/step_time.py --quick", "torch": "2.13", "threads": 2,
                       "inplace_bandwidth_bytes_per_s": 2e10, "sizes": [10000],
                       "first_step_seconds": {"SuperSGD fused": 12.5, "SGD(nesterov) fused": 0.001}},
            "results": [{"name": "SuperSGD", "baseline": "SGD(nesterov)", "params": 10000, "ratio_median": 1.02,
                         "ratio_q1": 1.0, "ratio_q3": 1.1, "seconds_median": 1e-4, "baseline_seconds_median": 1e-4,
                         "state_bytes_per_param": 4, "baseline_state_bytes_per_param": 4,
                         "min_bytes_per_param": 20, "bandwidth_fraction": 0.5}]}
    families = {f: {"best": {"lr": 0.1, "extra": "x"}, "reached": 3, "steps_median": n, "steps_range": [n, n],
                    "seconds_median": 0.1} for f, n in
                [("SuperSGD", 50), ("SGD Nesterov", 100), ("QHM", 80), ("SuperAdam", 90), ("Adam", 90), ("NAdam", 95)]}
    families["NAdam"].update(steps_median=None, reached=1)
    target = {"config": {"command": "python benchmarks/time_to_target.py --quick", "seeds": [0, 1, 2], "seconds": 60,
                         "families": {"SuperSGD": ["2.0"]}},
              "tasks": {"quad": {"description": "d", "families": families, "optimal_momentum_rate": 0.8}}}
    (tmp_path / "step_time_quick.json").write_text(json.dumps(step))
    (tmp_path / "time_to_target_quick.json").write_text(json.dumps(target))
    monkeypatch.setattr(make_docs, "RESULTS", tmp_path)
    assert make_docs.main(["--quick"]) == 0
    text = capsys.readouterr().out
    assert "SuperSGD vs tuned Nesterov wins (0.50×)" in text
    assert "SuperAdam vs Adam ties (1.00×)" in text
    assert "| SuperSGD | SGD(nesterov) | 1.02 (1.00–1.10) |" in text
    assert "— (1/3 reached)" in text
    assert "| SuperSGD fused | 12.5 |" in text and "SGD(nesterov) fused | 0.0" not in text


def test_make_docs_without_results_is_a_clear_error(tmp_path, monkeypatch, capsys):
    make_docs = load("make_docs")
    monkeypatch.setattr(make_docs, "RESULTS", tmp_path)
    assert make_docs.main([]) == 2
    assert "run the benchmark scripts first" in capsys.readouterr().err
