"""torch.optim conventions, run over one table of optimizers."""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch

from superaccel import CosineSigma, LambdaSigma, LinearSigma, SuperAccelerate, SuperAdam, SuperRMSprop, SuperSGD

OPTIMIZERS = {
    "sgd": lambda params, **kw: SuperSGD(params, lr=0.05, **kw),
    "rmsprop": lambda params, **kw: SuperRMSprop(params, lr=1e-3, **kw),
    "adam": lambda params, **kw: SuperAdam(params, lr=1e-2, **kw),
    "adamw": lambda params, **kw: SuperAdam(params, lr=1e-2, weight_decay=1e-2, decoupled_weight_decay=True, **kw),
    "wrapped-adagrad": lambda params, sigma=2.0, **kw: SuperAccelerate(
        torch.optim.Adagrad(params, lr=0.1, **kw), sigma=sigma),
}
# State buffers shaped like the parameter, per optimizer: the memory contract.
BUFFERS = {"sgd": 1, "rmsprop": 2, "adam": 3, "adamw": 3}

table = pytest.mark.parametrize("name", list(OPTIMIZERS))


def make_model(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).to(dtype)


def batch(dtype=torch.float32):
    gen = torch.Generator().manual_seed(1)
    return torch.randn(16, 4, generator=gen, dtype=dtype), torch.randn(16, 1, generator=gen, dtype=dtype)


def train_steps(model, opt, steps):
    x, y = batch(next(model.parameters()).dtype)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()


def params_of(model):
    return [p.detach().clone() for p in model.parameters()]


# ---- train / eval ------------------------------------------------------------------------


@table
def test_train_eval_idempotent_and_safe_on_fresh_optimizer(name):
    model = make_model()
    start = params_of(model)
    opt = OPTIMIZERS[name](model.parameters())
    opt.eval()
    opt.eval()
    opt.train()
    opt.train()
    for a, b in zip(start, params_of(model)):
        assert torch.equal(a, b)


@table
def test_step_in_eval_mode_is_a_clear_error(name):
    model = make_model()
    opt = OPTIMIZERS[name](model.parameters())
    train_steps(model, opt, 2)
    opt.eval()
    with pytest.raises(RuntimeError, match=r"eval mode.*optimizer.train\(\)"):
        train_steps(model, opt, 1)


@table
def test_eval_moves_parameters_to_theta_and_train_back(name):
    model = make_model()
    opt = OPTIMIZERS[name](model.parameters(), sigma=3.0)
    train_steps(model, opt, 5)
    phi = params_of(model)
    opt.eval()
    theta = params_of(model)
    for p, ph, th in zip(model.parameters(), phi, theta):
        expected = ph - 3.0 * opt.state[p]["velocity"]
        torch.testing.assert_close(th, expected)
        assert not torch.equal(th, ph)
    opt.train()
    for p, ph in zip(model.parameters(), phi):
        torch.testing.assert_close(p.detach(), ph)


@table
def test_mode_is_kept_in_state_dict(name):
    model = make_model()
    opt = OPTIMIZERS[name](model.parameters())
    train_steps(model, opt, 2)
    opt.eval()
    assert all(g["train_mode"] is False for g in opt.state_dict()["param_groups"])


@table
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_checkpoint_in_either_mode_resumes_exactly(name, mode):
    model = make_model()
    opt = OPTIMIZERS[name](model.parameters())
    train_steps(model, opt, 5)
    getattr(opt, mode)()
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buffer)
    opt.train()
    train_steps(model, opt, 5)
    expected = params_of(model)

    buffer.seek(0)
    checkpoint = torch.load(buffer)
    resumed = make_model(seed=123)
    resumed.load_state_dict(checkpoint["model"])
    opt2 = OPTIMIZERS[name](resumed.parameters())
    opt2.load_state_dict(checkpoint["opt"])
    opt2.train()
    train_steps(resumed, opt2, 5)
    for a, b in zip(expected, params_of(resumed)):
        assert torch.equal(a, b)


# ---- σ as a per-group hyperparameter ------------------------------------------------------


@table
def test_changing_sigma_never_moves_theta(name):
    model = make_model()
    opt = OPTIMIZERS[name](model.parameters(), sigma=2.0)
    train_steps(model, opt, 3)
    opt.eval()
    theta = params_of(model)
    opt.train()
    for group in opt.param_groups:
        group["sigma"] = 7.0
    opt.eval()
    for a, b in zip(theta, params_of(model)):
        assert torch.equal(a, b)


@table
def test_new_sigma_used_for_the_next_lookahead(name):
    model = make_model()
    opt = OPTIMIZERS[name](model.parameters(), sigma=2.0)
    train_steps(model, opt, 3)
    for group in opt.param_groups:
        group["sigma"] = 5.0
    train_steps(model, opt, 1)
    phi = params_of(model)
    opt.eval()
    for p, ph in zip(model.parameters(), phi):
        torch.testing.assert_close(ph - p.detach(), 5.0 * opt.state[p]["velocity"])


@table
def test_parameter_without_gradient_keeps_theta_when_sigma_changes(name):
    frozen, live = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opt = OPTIMIZERS[name]([frozen, live], sigma=2.0)
    for _ in range(3):
        opt.zero_grad()
        ((frozen * live).sum() ** 2).backward()
        opt.step()
    opt.eval()
    frozen_theta = frozen.detach().clone()
    opt.train()
    for group in opt.param_groups:
        group["sigma"] = 4.0
    opt.zero_grad()
    (live.sum() ** 2).backward()
    frozen.grad = None  # frozen gets no gradient this step
    opt.step()
    torch.testing.assert_close(frozen.detach() - 4.0 * opt.state[frozen]["velocity"], frozen_theta)
    opt.eval()
    torch.testing.assert_close(frozen.detach(), frozen_theta)


# ---- torch.optim conventions ---------------------------------------------------------------


@table
def test_closure_returns_loss_and_matches_explicit_backward(name):
    x, y = batch()
    model_a, model_b = make_model(), make_model()
    opt_a, opt_b = OPTIMIZERS[name](model_a.parameters()), OPTIMIZERS[name](model_b.parameters())

    def closure():
        opt_a.zero_grad()
        loss = torch.nn.functional.mse_loss(model_a(x), y)
        loss.backward()
        return loss

    for _ in range(3):
        loss = opt_a.step(closure)
        assert torch.is_tensor(loss)
    train_steps(model_b, opt_b, 3)
    for a, b in zip(params_of(model_a), params_of(model_b)):
        assert torch.equal(a, b)


@table
def test_maximize_equals_minimizing_the_negation(name):
    x, y = batch()
    model_a, model_b = make_model(), make_model()
    opt_a = OPTIMIZERS[name](model_a.parameters(), maximize=True)
    opt_b = OPTIMIZERS[name](model_b.parameters())
    for _ in range(5):
        for model, opt, sign in ((model_a, opt_a, -1.0), (model_b, opt_b, 1.0)):
            opt.zero_grad()
            (sign * torch.nn.functional.mse_loss(model(x), y)).backward()
            opt.step()
    for a, b in zip(params_of(model_a), params_of(model_b)):
        torch.testing.assert_close(a, b)


@table
@pytest.mark.parametrize("foreach", [False, True])
def test_complex_parameter_is_a_pair_of_real_ones(name, foreach):
    """A complex parameter is optimized as its real and imaginary parts, as in torch.optim."""
    torch.manual_seed(0)
    z0 = torch.randn(5, dtype=torch.complex64)
    z = torch.nn.Parameter(z0.clone())
    xy = torch.nn.Parameter(torch.view_as_real(z0).clone())
    opt_z = OPTIMIZERS[name]([z], foreach=foreach)
    opt_xy = OPTIMIZERS[name]([xy], foreach=foreach)
    target = torch.randn(5, dtype=torch.complex64)
    for _ in range(10):
        opt_z.zero_grad()
        opt_xy.zero_grad()
        ((z - target).abs() ** 2).sum().backward()
        ((torch.view_as_complex(xy) - target).abs() ** 2).sum().backward()
        opt_z.step()
        opt_xy.step()
    torch.testing.assert_close(torch.view_as_real(z.detach()), xy.detach())
    opt_z.eval()
    opt_xy.eval()
    torch.testing.assert_close(torch.view_as_real(z.detach()), xy.detach())


@table
def test_sparse_gradients_are_rejected(name):
    embedding = torch.nn.Embedding(10, 3, sparse=True)
    opt = OPTIMIZERS[name](embedding.parameters())
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse"):
        opt.step()


@table
def test_add_param_group(name):
    model = make_model()
    extra = torch.nn.Parameter(torch.ones(3))
    opt = OPTIMIZERS[name](list(model.parameters()))
    train_steps(model, opt, 2)
    opt.add_param_group({"params": [extra], "sigma": 1.5})
    assert opt.param_groups[-1]["sigma"] == 1.5
    assert opt.param_groups[-1]["applied_sigma"] == 1.5
    opt.zero_grad()
    (extra**2).sum().backward()
    opt.step()
    assert not torch.equal(extra.detach(), torch.ones(3))


@table
def test_group_added_in_eval_mode_follows_the_optimizer_mode(name):
    model = make_model()
    opt = OPTIMIZERS[name](list(model.parameters()))
    train_steps(model, opt, 2)
    opt.eval()
    opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(2))]})
    assert opt.param_groups[-1]["train_mode"] is False


@table
def test_state_dict_round_trip(name):
    model = make_model()
    opt = OPTIMIZERS[name](model.parameters())
    train_steps(model, opt, 3)
    state = copy.deepcopy(opt.state_dict())
    opt2 = OPTIMIZERS[name](model.parameters())
    opt2.load_state_dict(state)
    reloaded = opt2.state_dict()
    assert reloaded["param_groups"] == state["param_groups"]
    for key, value in state["state"].items():
        for k, v in value.items():
            assert torch.equal(reloaded["state"][key][k], v)


@table
def test_old_state_dict_without_new_keys_still_loads(name):
    model = make_model()
    opt = OPTIMIZERS[name](model.parameters())
    train_steps(model, opt, 2)
    state = copy.deepcopy(opt.state_dict())
    for group in state["param_groups"]:
        del group["train_mode"], group["applied_sigma"]
    opt2 = OPTIMIZERS[name](model.parameters())
    opt2.load_state_dict(state)
    assert all(g["train_mode"] and g["applied_sigma"] == g["sigma"] for g in opt2.param_groups)


@table
def test_zero_velocity_memory_contract(name):
    """SuperSGD keeps one buffer per parameter, SuperRMSprop two, SuperAdam three."""
    if name not in BUFFERS:
        pytest.skip("the wrapper adds one buffer to its base's")
    model = make_model()
    opt = OPTIMIZERS[name](model.parameters())
    train_steps(model, opt, 2)
    for p in model.parameters():
        buffers = [v for v in opt.state[p].values() if torch.is_tensor(v) and v.shape == p.shape]
        assert len(buffers) == BUFFERS[name]


def test_wrapper_adds_exactly_one_buffer():
    model = make_model()
    opt = SuperAccelerate(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    train_steps(model, opt, 2)
    for p in model.parameters():
        assert list(opt.state[p]) == ["velocity"]
        assert list(opt.base_optimizer.state[p]) == ["momentum_buffer"]


def test_wrapper_is_an_optimizer_sharing_groups_with_lr_schedulers():
    model = make_model()
    base = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt = SuperAccelerate(base, sigma=3.0)
    assert isinstance(opt, torch.optim.Optimizer)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    train_steps(model, opt, 1)
    scheduler.step()
    assert base.param_groups[0]["lr"] == pytest.approx(0.05)
    assert base.param_groups[0]["sigma"] == 3.0


def test_wrapper_rejects_non_optimizers_and_double_wrapping():
    with pytest.raises(TypeError, match="torch.optim.Optimizer"):
        SuperAccelerate(object())
    with pytest.raises(TypeError, match="already super-accelerated"):
        SuperAccelerate(SuperSGD([torch.nn.Parameter(torch.ones(1))], lr=0.1))


def test_wrapper_state_dict_of_another_optimizer_is_a_clear_error():
    p = torch.nn.Parameter(torch.ones(2))
    opt = SuperAccelerate(torch.optim.SGD([p], lr=0.1, momentum=0.9))
    with pytest.raises(ValueError, match="base_optimizer"):
        opt.load_state_dict(torch.optim.SGD([p], lr=0.1).state_dict())


# ---- validation -------------------------------------------------------------------------

P = [torch.nn.Parameter(torch.ones(1))]
INVALID = [
    (lambda: SuperSGD(P, lr=-1.0), "Invalid learning rate: -1.0"),
    (lambda: SuperSGD(P, lr=math.nan), "Invalid learning rate: nan"),
    (lambda: SuperSGD(P, lr=0.1, sigma=math.nan), "Invalid sigma value: nan"),
    (lambda: SuperSGD(P, lr=0.1, sigma=-0.5), "Invalid sigma value: -0.5"),
    (lambda: SuperSGD(P, lr=0.1, sigma=math.inf), "Invalid sigma value: inf"),
    (lambda: SuperSGD(P, lr=0.1, sigma="2"), "Invalid sigma value: '2'"),
    (lambda: SuperSGD(P, lr=0.1, momentum=1.0), "Invalid momentum value: 1.0"),
    (lambda: SuperSGD(P, lr=0.1, momentum=-0.1), "Invalid momentum value: -0.1"),
    (lambda: SuperSGD(P, lr=0.1, weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    (lambda: SuperRMSprop(P, lr=0.1, alpha=1.0), "Invalid alpha value: 1.0"),
    (lambda: SuperRMSprop(P, lr=0.1, eps=-1e-8), "Invalid epsilon value: -1e-08"),
    (lambda: SuperAdam(P, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (lambda: SuperAdam(P, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (lambda: SuperAdam(P, betas=(0.9,)), "Invalid betas"),
    (lambda: SuperAccelerate(torch.optim.SGD(P, lr=0.1), sigma=math.nan), "Invalid sigma value: nan"),
    (lambda: SuperSGD([{"params": P, "sigma": -1.0}], lr=0.1), "Invalid sigma value: -1.0"),
    (lambda: LinearSigma(SuperSGD(P, lr=0.1), start=math.nan), "Invalid sigma value: nan"),
    (lambda: LinearSigma(SuperSGD(P, lr=0.1), total_steps=0), "Invalid total_steps: 0"),
]


@pytest.mark.parametrize("build, message", INVALID, ids=[m for _, m in INVALID])
def test_invalid_hyperparameters_raise_clear_value_errors(build, message):
    with pytest.raises(ValueError) as info:
        build()
    assert str(info.value).startswith(message)


def test_invalid_sigma_set_on_a_group_is_caught_at_step():
    opt = SuperSGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
    opt.param_groups[0]["sigma"] = math.nan
    with pytest.raises(ValueError, match="Invalid sigma value: nan"):
        opt.step()


# ---- σ schedules ------------------------------------------------------------------------


def test_linear_sigma_goes_from_five_to_two_and_stays():
    opt = SuperSGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
    scheduler = LinearSigma(opt, start=5.0, end=2.0, total_steps=3)
    seen = [opt.param_groups[0]["sigma"]]
    for _ in range(4):
        scheduler.step()
        seen.append(opt.param_groups[0]["sigma"])
    assert seen == pytest.approx([5.0, 4.0, 3.0, 2.0, 2.0])
    assert scheduler.get_last_sigma() == pytest.approx([2.0])


def test_cosine_and_lambda_sigma():
    opt = SuperSGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
    cosine = CosineSigma(opt, start=5.0, end=1.0, total_steps=2)
    cosine.step()
    assert opt.param_groups[0]["sigma"] == pytest.approx(3.0)
    LambdaSigma(opt, lambda step: 1.0 + step)
    assert opt.param_groups[0]["sigma"] == 1.0


def test_sigma_scheduler_state_dict_resumes():
    opt = SuperSGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
    scheduler = LinearSigma(opt, start=5.0, end=2.0, total_steps=10)
    for _ in range(4):
        scheduler.step()
    state = scheduler.state_dict()
    opt2 = SuperSGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
    resumed = LinearSigma(opt2, start=5.0, end=2.0, total_steps=10)
    resumed.load_state_dict(state)
    scheduler.step()
    resumed.step()
    assert opt2.param_groups[0]["sigma"] == opt.param_groups[0]["sigma"] == pytest.approx(3.5)


def test_sigma_and_lr_schedulers_chain():
    model = make_model()
    opt = SuperSGD(model.parameters(), lr=0.1, sigma=5.0)
    sigma_scheduler = LinearSigma(opt, start=5.0, end=2.0, total_steps=3)
    lr_scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        train_steps(model, opt, 1)
        sigma_scheduler.step()
        lr_scheduler.step()
    assert opt.param_groups[0]["sigma"] == pytest.approx(2.0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**3)


def test_sigma_scheduler_rejects_optimizers_without_sigma():
    with pytest.raises(TypeError, match="no 'sigma'"):
        LinearSigma(torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1))
