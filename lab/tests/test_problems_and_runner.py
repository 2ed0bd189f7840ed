"""The problem library and the experiment runner."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from superaccel_lab.experiments import fig3, fig8, runner
from superaccel_lab.problems import Beale, IllConditionedQuadratic, PaperRegression, PaperValley2D, Rosenbrock

PROBLEMS = [PaperValley2D(), PaperRegression(), Rosenbrock(), Beale(),
            IllConditionedQuadratic(dim=8, condition_number=50)]


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
def test_gradient_and_minimum(problem):
    x = problem.start() + 0.1
    autograd = torch.func.grad(problem.loss)(torch.tensor(x))
    np.testing.assert_allclose(problem.gradient_numpy(x), autograd.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(problem.gradient_numpy(problem.minimum()), 0, atol=1e-8)


def test_paper_valley_minimum_is_the_papers():
    np.testing.assert_allclose(PaperValley2D().minimum(), [1.690, 1.963], atol=1e-3)


def test_paper_regression_setup():
    problem = PaperRegression()
    assert problem.dim == 51 and problem.design.shape == (1000, 51)
    np.testing.assert_array_equal(problem.start(), np.full(51, 0.2))
    features = problem.design[:, 1:]
    assert features.min() >= 0 and features.max() < 1
    np.testing.assert_allclose(problem.targets, np.sum((features / 50) ** 3, axis=1))
    hessian = torch.func.hessian(problem.loss)(torch.tensor(problem.start()))
    np.testing.assert_allclose(problem.hessian(), hessian.numpy(), rtol=1e-10)
    assert PaperRegression(seed=1).targets[0] != problem.targets[0]


def test_ill_conditioned_quadratic_has_the_condition_number_asked_for():
    problem = IllConditionedQuadratic(dim=10, condition_number=1e3)
    eigenvalues = np.linalg.eigvalsh(problem.hessian())
    assert eigenvalues[-1] / eigenvalues[0] == pytest.approx(1e3)
    assert problem.optimal_momentum_rate() == pytest.approx((np.sqrt(1e3) - 1) / (np.sqrt(1e3) + 1))


def test_runner_records_theta_not_the_lookahead():
    trajectory = runner.run(PaperValley2D(), runner.momentum_method(0.01, 4.0), 30)
    theta = torch.nn.Parameter(torch.tensor(PaperValley2D().start()))
    opt = runner.momentum_method(0.01, 4.0).build([theta])
    for _ in range(30):
        opt.zero_grad()
        PaperValley2D().loss(theta).backward()
        opt.step()
    opt.eval()
    np.testing.assert_allclose(trajectory.thetas[-1], theta.detach().numpy())


def test_divergence_is_recorded_not_raised():
    trajectory = runner.run(Rosenbrock(), runner.momentum_method(0.1, 5.0), 200)
    assert trajectory.diverged and trajectory.diverged_at < 200
    assert np.all(np.isnan(trajectory.losses[trajectory.diverged_at + 1:]))


def _record(method, sigma, distance, theta=None):
    spec = runner.OptimizerSpec(method, 0.01, momentum=0.0 if method == "gd" else 0.9, sigma=sigma)
    return {"spec": dataclasses.asdict(spec), "label": spec.label, "distance": distance,
            "theta": np.zeros((len(distance), 2)) if theta is None else theta, "loss": np.ones(len(distance)),
            "diverged_at": None}


def test_fig3_claims_fail_on_contrary_data():
    flat = np.full(181, 1.0)
    runs = [_record("gd", 0.0, np.full(181, 1e-3))]
    runs += [_record("momentum", s, flat) for s in (0.0, 0.9, 2.0, 3.0, 4.0, 7.0)]
    data = {
        "runs": runs,
        "scan": {"sigmas": np.arange(0, 8.5, 0.5), "final_distance": np.linspace(1, 0.1, 17),
                 "steps_to_reach": [None] * 17},
        "long": [{"sigma": 7.0, "settled_away": False, "final_distance": 0.0, "period2": 1.0}],
    }
    holds = [c.holds for c in fig3.claims(data)]
    assert holds == [False, False, False, False, False]


def test_runs_are_found_by_their_hyperparameters_not_their_label():
    runs = [_record("gd", 0.0, np.ones(3)), _record("momentum", 0.0, np.zeros(3))]
    runs[1]["label"] = "renamed"
    assert runner.find_run(runs, method="momentum", sigma=0.0) is runs[1]
    with pytest.raises(ValueError, match="2 runs match"):
        runner.find_run(runs, sigma=0.0)
    with pytest.raises(ValueError, match="0 runs match"):
        runner.find_run(runs, sigma=5.0)


def test_fig8_behaviour_detects_neither_speedup_nor_trapping():
    runs = [{**_record("rmsprop", s, np.ones(3)), "steps_to_reach": 100, "final_distance": 1e-12,
             "final_spread": 0.0} for s in fig8.SIGMAS]
    behaviour = fig8._behaviour(runs)
    assert not behaviour["faster_past_g"] and not behaviour["converges_elsewhere"]


def test_reproduce_fig3_quick(tmp_path):
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "superaccel.cli", "reproduce", "fig3", "--quick", "--out",
                           str(tmp_path)], cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "fig3.json").read_text())
    assert len(result["claims"]) == 5 and (tmp_path / "fig3.png").exists()
