"""superaccel.optax against the torch optimizers, optax's own optimizers and the paper's
equations, in float64 (JAX x64); and optax's idioms: schedules, inject_hyperparams, jit,
vmap, chain, masked, eval_params."""

from __future__ import annotations

import numpy as np
import pytest
import torch

jax = pytest.importorskip("jax", reason="JAX is not installed (pip install 'superaccel[jax]')")
optax = pytest.importorskip("optax", reason="optax is not installed (pip install 'superaccel[jax]')")
import jax.numpy as jnp  # noqa: E402

import superaccel  # noqa: E402
from superaccel import auto_sigma, theory  # noqa: E402
from superaccel import optax as sax  # noqa: E402

from . import oracle  # noqa: E402

jax.config.update("jax_enable_x64", True)

STEPS = 1000
DIM = 6


@pytest.fixture(scope="module")
def problem():
    a, b, theta0 = oracle.quadratic(DIM, seed=3)
    return a, b, theta0


def sigma_at(step, xp=np):
    """σ of update number ``step``: changes every step, between 0 and 5 (``xp``: numpy for
    the torch runs, jax.numpy inside optax schedules, where the count is traced)."""
    return 2.5 + 2.5 * xp.sin(0.37 * (step + 1))


def lr_at(step, base: float, xp=np):
    return base * (1.0 + 0.5 * xp.cos(0.05 * step))


def jax_sigma(step):
    return sigma_at(step, jnp)


def jax_lr(base: float):
    return lambda step: lr_at(step, base, jnp)


def split(vector: np.ndarray) -> dict[str, np.ndarray]:
    """The parameters as a pytree of two leaves (a dict), to exercise tree handling."""
    return {"w": vector[: DIM // 2], "b": vector[DIM // 2:]}


def joined(tree) -> np.ndarray:
    return np.concatenate([np.asarray(tree["w"]), np.asarray(tree["b"])])


def run_optax(transformation, problem, steps=STEPS):
    a, b, theta0 = problem
    a_j, b_j = jnp.asarray(a), jnp.asarray(b)

    def loss(params):
        x = jnp.concatenate([params["w"], params["b"]])
        return 0.5 * x @ a_j @ x - b_j @ x

    @jax.jit
    def step(params, state):
        updates, state = transformation.update(jax.grad(loss)(params), state, params)
        return optax.apply_updates(params, updates), state

    params = jax.tree.map(jnp.asarray, split(theta0.copy()))
    state = transformation.init(params)
    for _ in range(steps):
        params, state = step(params, state)
    return params, state


def run_torch(make, problem, lr=None, steps=STEPS):
    """The torch optimizer with σ (and the learning rate, unless ``lr`` is None) set before
    every step, as the optax schedules give them."""
    a, b, theta0 = problem
    a_t, b_t = torch.tensor(a), torch.tensor(b)
    tree = split(theta0.copy())
    params = [torch.nn.Parameter(torch.tensor(tree["w"])), torch.nn.Parameter(torch.tensor(tree["b"]))]
    optimizer = make(params)
    for step in range(steps):
        for group in optimizer.param_groups:
            group["sigma"] = float(sigma_at(step))
            if lr is not None:
                group["lr"] = float(lr_at(step, lr))
        optimizer.zero_grad()
        x = torch.cat(params)
        (0.5 * x @ a_t @ x - b_t @ x).backward()
        optimizer.step()
    phi = np.concatenate([p.detach().numpy() for p in params])
    optimizer.eval()
    theta = np.concatenate([p.detach().numpy() for p in params])
    return phi, theta


CASES = {
    "super_sgd": (lambda: sax.super_sgd(jax_lr(0.005), momentum=0.9, sigma=jax_sigma, weight_decay=0.01),
                  lambda p: superaccel.SuperSGD(p, lr=0.005, momentum=0.9, weight_decay=0.01), 0.005),
    "super_rmsprop": (lambda: sax.super_rmsprop(jax_lr(0.001), decay=0.99, eps=1e-6, momentum=0.8,
                                                sigma=jax_sigma, weight_decay=0.01),
                      lambda p: superaccel.SuperRMSprop(p, lr=0.001, alpha=0.99, eps=1e-6, momentum=0.8,
                                                        weight_decay=0.01), 0.001),
    "super_adam": (lambda: sax.super_adam(jax_lr(0.002), sigma=jax_sigma),
                   lambda p: superaccel.SuperAdam(p, lr=0.002), 0.002),
    "super_adamw": (lambda: sax.super_adamw(jax_lr(0.002), sigma=jax_sigma, weight_decay=0.05),
                    lambda p: superaccel.SuperAdamW(p, lr=0.002, weight_decay=0.05), 0.002),
}


@pytest.mark.parametrize("name", CASES)
def test_follows_the_torch_optimizer_with_sigma_and_lr_changing_every_step(problem, name):
    make_optax, make_torch, lr = CASES[name]
    params, state = run_optax(make_optax(), problem)
    phi, theta = run_torch(make_torch, problem, lr)
    np.testing.assert_allclose(joined(params), phi, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(joined(sax.eval_params(params, state)), theta, rtol=1e-12, atol=1e-12)
    assert np.abs(phi - theta).max() > 1e-6  # σ really shifted the parameters


def test_super_accelerate_follows_the_torch_wrapper(problem):
    """Adam wrapped in each framework, σ changing every step (the inner lr is constant)."""
    params, state = run_optax(sax.super_accelerate(optax.adam(0.02), sigma=jax_sigma), problem)
    phi, theta = run_torch(lambda p: superaccel.SuperAccelerate(torch.optim.Adam(p, lr=0.02)), problem)
    np.testing.assert_allclose(joined(params), phi, atol=1e-12, rtol=0)
    np.testing.assert_allclose(joined(sax.eval_params(params, state)), theta, atol=1e-12, rtol=0)


@pytest.mark.parametrize("sigma, nesterov", [(0.0, False), (0.9, True)])
def test_sigma_zero_and_g_are_optax_heavy_ball_and_nesterov(problem, sigma, nesterov):
    ours, _ = run_optax(sax.super_sgd(0.05, momentum=0.9, sigma=sigma), problem, steps=300)
    theirs, _ = run_optax(optax.sgd(0.05, momentum=0.9, nesterov=nesterov), problem, steps=300)
    np.testing.assert_allclose(joined(ours), joined(theirs), atol=1e-12, rtol=0)


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_super_adam_at_sigma_zero_is_optax_adam_and_adamw(problem, weight_decay):
    ours, _ = run_optax(sax.super_adam(0.02, sigma=0.0, weight_decay=weight_decay), problem, steps=300)
    reference = optax.adamw(0.02, weight_decay=weight_decay) if weight_decay else optax.adam(0.02)
    theirs, _ = run_optax(reference, problem, steps=300)
    np.testing.assert_allclose(joined(ours), joined(theirs), atol=1e-12, rtol=0)


def test_super_rmsprop_at_sigma_zero_is_optax_rmsprop_with_eps_in_the_root(problem):
    ours, _ = run_optax(sax.super_rmsprop(0.001, decay=0.9, eps=1e-6, momentum=0.8, sigma=0.0), problem, steps=300)
    theirs, _ = run_optax(optax.rmsprop(0.001, decay=0.9, eps=1e-6, momentum=0.8, eps_in_sqrt=True), problem,
                          steps=300)
    np.testing.assert_allclose(joined(ours), joined(theirs), atol=1e-12, rtol=0)


def test_follows_the_papers_equation_4(problem):
    a, b, theta0 = problem
    sigmas = np.array([float(sigma_at(i - 1)) for i in range(201)])  # sigmas[i + 1] forms the look-ahead of update i
    expected_theta, expected_phi = oracle.eq4(a, b, theta0, 0.05, 0.9, sigmas)
    params, state = run_optax(sax.super_sgd(0.05, momentum=0.9, sigma=jax_sigma), problem, steps=200)
    np.testing.assert_allclose(joined(params), expected_phi[-1], atol=1e-12, rtol=0)
    np.testing.assert_allclose(joined(sax.eval_params(params, state)), expected_theta[-1], atol=1e-12, rtol=0)


def test_inject_hyperparams_schedules_jit_give_the_same_numbers(problem):
    schedule = optax.cosine_decay_schedule(0.05, 200)
    direct, _ = run_optax(sax.super_sgd(schedule, sigma=jax_sigma), problem, steps=200)
    injected_tx = optax.inject_hyperparams(sax.super_sgd)(learning_rate=schedule, sigma=jax_sigma)
    injected, state = run_optax(injected_tx, problem, steps=200)
    np.testing.assert_allclose(joined(injected), joined(direct), atol=1e-12, rtol=0)
    assert float(state.hyperparams["sigma"]) == pytest.approx(sigma_at(199))
    sax.eval_params(injected, state)  # finds the state inside InjectHyperparamsState


def test_vmap_over_independent_problems_matches_separate_runs():
    transformation = sax.super_adam(0.05, sigma=3.0, weight_decay=0.01)
    targets = jnp.array([[1.0, -2.0], [0.5, 4.0], [-3.0, 0.0]])

    def run(target):
        params = {"x": jnp.zeros(2)}
        state = transformation.init(params)
        for _ in range(20):
            grads = jax.grad(lambda p: jnp.sum((p["x"] - target) ** 2))(params)
            updates, state = transformation.update(grads, state, params)
            params = optax.apply_updates(params, updates)
        return sax.eval_params(params, state)["x"]

    batched = jax.jit(jax.vmap(run))(targets)
    for row, target in zip(batched, targets, strict=True):
        np.testing.assert_allclose(row, run(target), atol=1e-12)


def test_chain_with_clipping_and_a_mask(problem):
    """optax.masked passes the masked-out leaves' updates through unchanged, so only "w" is
    super-accelerated: θ differs from φ there and nowhere else."""
    mask = {"w": True, "b": False}
    chained = optax.chain(optax.clip_by_global_norm(1.0), optax.masked(sax.super_sgd(0.05, sigma=3.0), mask))
    params, state = run_optax(chained, problem, steps=50)
    theta = sax.eval_params(params, state)
    np.testing.assert_array_equal(np.asarray(theta["b"]), np.asarray(params["b"]))
    assert np.abs(np.asarray(theta["w"]) - np.asarray(params["w"])).max() > 1e-6


def test_adam_weight_decay_mask_spares_the_masked_leaves():
    """On a separable loss each leaf follows the run whose weight decay it gets."""
    target = {"w": jnp.array([1.0, -2.0]), "b": jnp.array([3.0])}

    def run(transformation):
        params = jax.tree.map(jnp.zeros_like, target)
        state = transformation.init(params)
        for _ in range(50):
            grads = jax.grad(lambda p: sum(jnp.sum((p[k] - target[k]) ** 2) for k in p))(params)
            updates, state = transformation.update(grads, state, params)
            params = optax.apply_updates(params, updates)
        return params

    with_mask = run(sax.super_adam(0.05, weight_decay=0.5, mask={"w": True, "b": False}))
    without_decay = run(sax.super_adam(0.05, weight_decay=0.0))
    all_decay = run(sax.super_adam(0.05, weight_decay=0.5))
    np.testing.assert_allclose(with_mask["b"], without_decay["b"], atol=1e-12)
    np.testing.assert_allclose(with_mask["w"], all_decay["w"], atol=1e-12)
    assert np.abs(np.asarray(all_decay["b"]) - np.asarray(without_decay["b"])).max() > 1e-3


@pytest.mark.parametrize("factory, kwargs, message", [
    (sax.super_sgd, {"learning_rate": -0.1}, "Invalid learning_rate: -0.1"),
    (sax.super_sgd, {"learning_rate": 0.1, "momentum": 1.0}, "Invalid momentum: 1.0"),
    (sax.super_sgd, {"learning_rate": 0.1, "sigma": float("nan")}, "Invalid sigma: nan"),
    (sax.super_rmsprop, {"learning_rate": 0.1, "decay": 1.5}, "Invalid decay: 1.5"),
    (sax.super_adam, {"b2": -0.1}, "Invalid b2: -0.1"),
    (sax.super_adam, {"weight_decay": float("inf")}, "Invalid weight_decay: inf"),
    (sax.super_adam, {"learning_rate": 0.5, "weight_decay": 1.0, "sigma": 1.0}, "Invalid weight_decay: 1.0"),
    (sax.super_adam, {"learning_rate": 0.2, "weight_decay": 1.0, "sigma": "auto"}, "Invalid weight_decay: 1.0"),
    (sax.super_accelerate, {"inner": optax.sgd(0.1), "sigma": -1.0}, "Invalid sigma: -1.0"),
])
def test_bad_hyperparameters_are_clear_errors_at_construction(factory, kwargs, message):
    with pytest.raises(ValueError, match=message):
        factory(**kwargs)


def test_errors_for_misuse():
    with pytest.raises(TypeError, match="needs an optax.GradientTransformation"):
        sax.super_accelerate(torch.optim.SGD, sigma=1.0)
    with pytest.raises(ValueError, match="needs the parameters"):
        tx = sax.super_sgd(0.1, weight_decay=0.1)
        tx.update({"x": jnp.ones(2)}, tx.init({"x": jnp.ones(2)}))
    with pytest.raises(ValueError, match="holds no superaccel transformation"):
        sax.eval_params({"x": jnp.ones(2)}, optax.sgd(0.1).init({"x": jnp.ones(2)}))


def test_the_mnist_example_runs(tmp_path):
    from superaccel_lab.data import mnist

    if mnist._find_in(mnist.cache_directory()) is None:
        pytest.skip("MNIST is not in the cache (make reproduce or make bench fetches it)")
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "jax_mnist.py"
    proc = subprocess.run([sys.executable, str(example), "--steps", "30"], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    accuracy = float(proc.stdout.strip().splitlines()[-1].split()[-1])
    assert accuracy > 0.5  # 30 steps from chance (0.1)


def test_auto_sigma_finds_the_exact_optimum_on_a_parabola():
    transformation = sax.super_sgd(0.05, momentum=0.9, sigma="auto")
    params = {"w": jnp.array([1.0])}
    state = transformation.init(params)
    step = jax.jit(lambda p, s: transformation.update(jax.grad(lambda q: 0.5 * jnp.sum(q["w"] ** 2))(p), s, p))
    for _ in range(120):
        updates, state = step(params, state)
        params = optax.apply_updates(params, updates)
    assert float(state.auto.sigma) == pytest.approx(float(theory.exact_sigma_star(0.05, 0.9)), rel=1e-3)


@pytest.mark.parametrize("name", ["super_sgd", "super_rmsprop", "super_adam"])
def test_auto_sigma_follows_the_torch_estimator(problem, name):
    """The same rule on the device: σ within 0.01 of torch's after 200 steps (optax searches a
    grid of σ, torch a golden section), the parameters within 1e-3."""
    optax_tx, torch_opt = {
        "super_sgd": (sax.super_sgd(0.005, momentum=0.9, sigma="auto"),
                      lambda p: superaccel.SuperSGD(p, lr=0.005, momentum=0.9, sigma="auto")),
        "super_rmsprop": (sax.super_rmsprop(0.001, sigma="auto"),
                          lambda p: superaccel.SuperRMSprop(p, lr=0.001, sigma="auto")),
        "super_adam": (sax.super_adam(0.002, sigma="auto"), lambda p: superaccel.SuperAdam(p, lr=0.002, sigma="auto")),
    }[name]
    params, state = run_optax(optax_tx, problem, steps=200)
    a, b, theta0 = problem
    a_t, b_t = torch.tensor(a), torch.tensor(b)
    tree = split(theta0.copy())
    tparams = [torch.nn.Parameter(torch.tensor(tree["w"])), torch.nn.Parameter(torch.tensor(tree["b"]))]
    optimizer = torch_opt(tparams)
    for _ in range(200):
        optimizer.zero_grad()
        x = torch.cat(tparams)
        (0.5 * x @ a_t @ x - b_t @ x).backward()
        optimizer.step()
    assert float(state.auto.sigma) == pytest.approx(optimizer.param_groups[0]["sigma"], abs=0.01)
    assert float(state.auto.sigma) != pytest.approx(0.9)  # it moved
    np.testing.assert_allclose(joined(params), np.concatenate([p.detach().numpy() for p in tparams]), atol=1e-3)


def test_auto_sigma_keeps_the_cosine_guards_bound():
    """tests/test_auto_sigma.py's bound on the largest curvature kept, on a run where the
    estimator without the guard keeps 7.4·λ_max."""
    quadratic = oracle.IllConditioned(dim=30, condition_number=10.0, seed=3)
    hessian = jnp.asarray(quadratic.matrix)
    transformation = sax.super_sgd(0.1, momentum=0.9, sigma="auto")
    params = jnp.asarray(quadratic.start())
    state = transformation.init(params)
    step = jax.jit(lambda p, s: transformation.update(hessian @ p, s, p))
    highest = 0.0
    for _ in range(200):
        updates, state = step(params, state)
        params = optax.apply_updates(params, updates)
        highest = max(highest, float(state.auto.high))
    assert 0 < highest <= quadratic.eigenvalues.max() / auto_sigma.MIN_COSINE * (1 + 1e-9)


def test_auto_sigma_works_under_inject_hyperparams_and_eval_params(problem):
    transformation = optax.inject_hyperparams(sax.super_adam)(learning_rate=0.002, sigma="auto")
    params, state = run_optax(transformation, problem, steps=50)
    theta = sax.eval_params(params, state)
    assert np.abs(joined(theta) - joined(params)).max() > 0


@pytest.mark.parametrize("name", ["super_sgd", "super_rmsprop", "super_adam"])
def test_auto_sigma_stays_finite_while_the_iterates_underflow(name):
    """½‖w‖² from a start near the root of the smallest float: every sum underflows."""
    transformation = getattr(sax, name)(0.1, sigma="auto")
    params = jnp.full(3, 1e-150)
    state = transformation.init(params)

    @jax.jit
    def step(params, state):
        updates, state = transformation.update(params, state, params)
        return optax.apply_updates(params, updates), state

    for _ in range(300):
        params, state = step(params, state)
        assert np.isfinite(float(state.auto.sigma)) and 0 <= float(state.auto.sigma) <= auto_sigma.SIGMA_MAX
    assert np.all(np.isfinite(np.asarray(params)))
