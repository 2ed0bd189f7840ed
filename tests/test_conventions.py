"""torch.optim conventions, run over the optimizer table (tests/optim_db.py).

The properties are those PyTorch's generic optimizer tests check (TestOptimRenewed in
test/test_optim.py), written for this project, plus the look-ahead's own: train/eval,
σ as a hyperparameter, checkpoints in either mode.
"""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch

from superaccel import CosineSigma, LambdaSigma, LinearSigma, SuperAccelerate, SuperSGD

from .optim_db import clone_kwargs, native_db, optim_db, optims, optims_and_impls


def make_model(info=None, seed=0, dtype=torch.float32):
    """A small MLP; without biases for an optimizer that takes matrices only."""
    torch.manual_seed(seed)
    linear = torch.nn.Linear if info is None else info.linear
    return torch.nn.Sequential(linear(4, 8), torch.nn.Tanh(), linear(8, 1)).to(dtype)


def batch(dtype=torch.float32, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(16, 4, generator=gen, dtype=dtype), torch.randn(16, 1, generator=gen, dtype=dtype)


def loss_of(model, sign=1.0):
    x, y = batch(next(model.parameters()).dtype)
    return sign * torch.nn.functional.mse_loss(model(x), y)


def train_steps(model, opt, steps, sign=1.0):
    for _ in range(steps):
        opt.zero_grad()
        loss_of(model, sign).backward()
        opt.step()


def params_of(model):
    return [p.detach().clone() for p in model.parameters()]


def assert_all_equal(a, b):
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)


# ---- train / eval ------------------------------------------------------------------------


@optims()
def test_train_eval_are_no_ops_on_a_fresh_optimizer(info):
    model = make_model(info)
    start = params_of(model)
    opt = info.make(model.parameters())
    opt.eval()
    opt.train()
    assert_all_equal(start, params_of(model))


@optims()
def test_train_and_eval_are_idempotent_and_move_between_phi_and_theta(info):
    model = make_model(info)
    opt = info.make(model.parameters(), sigma=2.0)
    train_steps(model, opt, 3)
    phi = params_of(model)
    opt.eval()
    theta = params_of(model)
    assert any(not torch.equal(a, b) for a, b in zip(phi, theta, strict=True))  # eval moved to θ
    opt.eval()
    assert_all_equal(theta, params_of(model))  # a second eval stays at θ
    opt.train()
    restored = params_of(model)
    for a, b in zip(phi, restored, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)  # back at φ (to rounding)
    opt.train()
    assert_all_equal(restored, params_of(model))  # a second train stays at φ


@optims()
def test_step_in_eval_mode_is_a_clear_error(info):
    model = make_model(info)
    opt = info.make(model.parameters())
    train_steps(model, opt, 2)
    opt.eval()
    with pytest.raises(RuntimeError, match=r"eval mode.*optimizer.train\(\)"):
        train_steps(model, opt, 1)


@optims_and_impls(optim_db)
def test_eval_moves_to_theta_and_train_moves_back(info, impl):
    model = make_model(info)
    opt = info.make(model.parameters(), sigma=3.0, **info.impl_kwargs(impl))
    train_steps(model, opt, 5)
    phi = params_of(model)
    opt.eval()
    theta = params_of(model)
    assert all(not torch.equal(a, b) for a, b in zip(phi, theta, strict=True))
    opt.train()
    for a, b in zip(phi, params_of(model), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


@optims()
def test_the_new_sigma_forms_the_next_lookahead_and_never_moves_theta(info):
    """Two copies differing only in the σ of their next look-ahead: the step takes both to
    the same θ, and φ − θ doubles with σ."""
    model = make_model(info)
    opt = info.make(model.parameters(), sigma=2.0)
    train_steps(model, opt, 3)
    twin_model = copy.deepcopy(model)
    twin = info.make(twin_model.parameters(), sigma=2.0)
    twin.load_state_dict(copy.deepcopy(opt.state_dict()))
    for group in opt.param_groups:
        group["sigma"] = 1.5
    for group in twin.param_groups:
        group["sigma"] = 3.0
    train_steps(model, opt, 1)
    train_steps(twin_model, twin, 1)
    phi, twin_phi = params_of(model), params_of(twin_model)
    opt.eval()
    twin.eval()
    theta, twin_theta = params_of(model), params_of(twin_model)
    for t, tt, p, tp in zip(theta, twin_theta, phi, twin_phi, strict=True):
        torch.testing.assert_close(t, tt)
        torch.testing.assert_close(tp - tt, 2 * (p - t))


@optims()
@pytest.mark.parametrize("hyperparameter", ["sigma", "lr"])
def test_changing_sigma_or_lr_between_steps_never_moves_theta(info, hyperparameter):
    model = make_model(info)
    opt = info.make(model.parameters(), sigma=2.0)
    train_steps(model, opt, 3)
    opt.eval()
    theta = params_of(model)
    opt.train()
    for group in opt.param_groups:
        group[hyperparameter] = 7.0 if hyperparameter == "sigma" else group["lr"] * 0.3
    opt.eval()
    for a, b in zip(theta, params_of(model), strict=True):  # up to rounding of the round trip
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


@optims()
def test_mode_is_kept_in_state_dict(info):
    model = make_model(info)
    opt = info.make(model.parameters())
    train_steps(model, opt, 2)
    opt.eval()
    assert all(g["train_mode"] is False for g in opt.state_dict()["param_groups"])


@optims_and_impls(optim_db)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_checkpoint_in_either_mode_resumes_exactly(info, impl, mode):
    model = make_model(info)
    opt = info.make(model.parameters(), **info.impl_kwargs(impl))
    train_steps(model, opt, 5)
    getattr(opt, mode)()
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buffer)
    opt.train()
    train_steps(model, opt, 5)
    expected = params_of(model)

    buffer.seek(0)
    checkpoint = torch.load(buffer)
    resumed = make_model(info, seed=123)
    resumed.load_state_dict(checkpoint["model"])
    opt2 = info.make(resumed.parameters(), **info.impl_kwargs(impl))
    opt2.load_state_dict(checkpoint["opt"])
    opt2.train()
    train_steps(resumed, opt2, 5)
    assert_all_equal(expected, params_of(resumed))


@optims()
def test_parameter_without_gradient_keeps_theta_when_sigma_and_lr_change(info):
    frozen, live = torch.nn.Parameter(torch.ones(info.shape(3))), torch.nn.Parameter(torch.ones(info.shape(3)))
    opt = info.make([frozen, live], sigma=2.0)
    for _ in range(3):
        opt.zero_grad()
        ((frozen * live).sum() ** 2).backward()
        opt.step()
    opt.eval()
    frozen_theta = frozen.detach().clone()
    opt.train()
    frozen_phi = frozen.detach().clone()
    for group in opt.param_groups:
        group["sigma"] = 4.0
        group["lr"] = group["lr"] * 0.3
    opt.zero_grad()
    (live.sum() ** 2).backward()
    frozen.grad = None  # frozen gets no gradient this step
    opt.step()
    assert not torch.equal(frozen.detach(), frozen_phi)  # its look-ahead was re-formed ...
    opt.eval()
    torch.testing.assert_close(frozen.detach(), frozen_theta)  # ... around the same θ


# ---- torch.optim conventions ---------------------------------------------------------------


@optims()
def test_closure_returns_loss_and_matches_explicit_backward(info):
    model_a, model_b = make_model(info), make_model(info)
    opt_a, opt_b = info.make(model_a.parameters()), info.make(model_b.parameters())

    def closure():
        opt_a.zero_grad()
        loss = loss_of(model_a)
        loss.backward()
        return loss

    for _ in range(3):
        assert torch.is_tensor(opt_a.step(closure))
    train_steps(model_b, opt_b, 3)
    assert_all_equal(params_of(model_a), params_of(model_b))


@optims_and_impls([info for info in optim_db if info.supports_maximize])
def test_maximize_equals_minimizing_the_negation(info, impl):
    model_a, model_b = make_model(info), make_model(info)
    opt_a = info.make(model_a.parameters(), maximize=True, **info.impl_kwargs(impl))
    opt_b = info.make(model_b.parameters(), **info.impl_kwargs(impl))
    train_steps(model_a, opt_a, 5, sign=-1.0)
    train_steps(model_b, opt_b, 5)
    for a, b in zip(params_of(model_a), params_of(model_b), strict=True):
        torch.testing.assert_close(a, b)


@optims_and_impls([info for info in optim_db if info.supports_complex])
def test_complex_parameter_is_a_pair_of_real_ones(info, impl):
    """A complex parameter is optimized as its real and imaginary parts, as in torch.optim."""
    torch.manual_seed(0)
    z0 = torch.randn(5, dtype=torch.complex64)
    z = torch.nn.Parameter(z0.clone())
    xy = torch.nn.Parameter(torch.view_as_real(z0).clone())
    opt_z = info.make([z], **info.impl_kwargs(impl))
    opt_xy = info.make([xy], **info.impl_kwargs(impl))
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


@optims()
def test_sparse_gradients_are_rejected(info):
    embedding = torch.nn.Embedding(10, 3, sparse=True)
    opt = info.make(embedding.parameters())
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse"):
        opt.step()


@optims()
def test_add_param_group(info):
    model = make_model(info)
    extra = torch.nn.Parameter(torch.ones(info.shape(3)))
    opt = info.make(list(model.parameters()))
    train_steps(model, opt, 2)
    opt.add_param_group({"params": [extra], "sigma": 1.5})
    assert opt.param_groups[-1]["sigma"] == 1.5 and opt.param_groups[-1]["applied_sigma"] == 1.5
    opt.zero_grad()
    (extra**2).sum().backward()
    opt.step()
    assert not torch.equal(extra.detach(), torch.ones(info.shape(3)))
    opt.eval()
    opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(info.shape(2)))]})
    assert opt.param_groups[-1]["train_mode"] is False  # follows the optimizer's mode


@optims()
def test_state_dict_round_trip_is_deterministic(info):
    """A second optimizer loading the first's state_dict continues identically, and their
    state_dicts stay equal (torch's test_state_dict_deterministic)."""
    model = make_model(info)
    opt = info.make(model.parameters())
    train_steps(model, opt, 5)
    twin_model = copy.deepcopy(model)
    twin = info.make(twin_model.parameters())
    twin.load_state_dict(copy.deepcopy(opt.state_dict()))
    train_steps(model, opt, 5)
    train_steps(twin_model, twin, 5)
    assert_all_equal(params_of(model), params_of(twin_model))
    a, b = opt.state_dict(), twin.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for index, state in a["state"].items():
        assert state.keys() == b["state"][index].keys()
        assert all(torch.equal(v, b["state"][index][k]) for k, v in state.items())


@optims()
def test_state_dict_saved_by_torch_save_loads_with_weights_only(info):
    model = make_model(info)
    opt = info.make(model.parameters())
    train_steps(model, opt, 3)
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    torch.load(buffer, weights_only=True)


@optims()
def test_older_state_dict_without_newer_keys_still_loads(info):
    model = make_model(info)
    opt = info.make(model.parameters())
    train_steps(model, opt, 2)
    state = copy.deepcopy(opt.state_dict())
    for group in state["param_groups"]:
        for key in ("train_mode", "applied_sigma", "applied_lr", "foreach", "fused", "maximize"):
            group.pop(key, None)
    opt2 = info.make(model.parameters())
    opt2.load_state_dict(state)
    assert all(g["train_mode"] and g["applied_sigma"] == g["sigma"] for g in opt2.param_groups)
    train_steps(model, opt2, 1)


@optims()
def test_state_dict_with_a_python_number_step_loads(info):
    model = make_model(info)
    opt = info.make(model.parameters())
    train_steps(model, opt, 3)
    state = copy.deepcopy(opt.state_dict())
    for param_state in state["state"].values():
        if "step" in param_state:
            param_state["step"] = param_state["step"].item()
    opt.load_state_dict(state)
    train_steps(model, opt, 1)
    assert all(torch.is_tensor(s["step"]) for s in opt.state.values() if "step" in s)


@optims_and_impls(optim_db)
def test_step_without_gradients_is_a_noop(info, impl):
    params = [torch.randn(2, 3, requires_grad=False) for _ in range(2)]
    before = [p.clone() for p in params]
    opt = info.make(params, **info.impl_kwargs(impl))
    opt.step()
    assert_all_equal(before, params)
    assert not opt.state


@optims_and_impls(optim_db)
def test_zero_gradients_leave_the_parameters_where_they_are(info, impl):
    param = torch.randn(5, 1, requires_grad=True)
    before = param.detach().clone()
    opt = info.make([param], weight_decay=0.0, **info.impl_kwargs(impl))  # decay moves θ without gradients
    for _ in range(3):
        param.grad = torch.zeros_like(param)
        opt.step()
    assert torch.equal(param.detach(), before)


@optims_and_impls(optim_db)
def test_gradients_are_never_modified_in_place(info, impl):
    param = torch.randn(5, 1, requires_grad=True)
    maximize = {"maximize": True} if info.supports_maximize else {}
    opt = info.make([param], weight_decay=0.1, **maximize, **info.impl_kwargs(impl))
    param.grad = torch.rand_like(param)
    version, value = param.grad._version, param.grad.clone()
    for _ in range(3):
        opt.step()
    assert param.grad._version == version and torch.equal(param.grad, value)


@optims_and_impls(optim_db)
def test_param_groups_with_their_own_lr_and_weight_decay_equal_separate_optimizers(info, impl):
    model_a, model_b = make_model(info), make_model(info)
    half = len(list(model_a.parameters())) // 2
    first, second = list(model_a.parameters())[:half], list(model_a.parameters())[half:]
    grouped = info.make([{"params": first, "lr": info.base.get("lr", 0.1) * 0.5, "weight_decay": 0.1},
                         {"params": second}], **info.impl_kwargs(impl))
    b_first, b_second = list(model_b.parameters())[:half], list(model_b.parameters())[half:]
    separate = [info.make(b_first, **{"lr": info.base.get("lr", 0.1) * 0.5, "weight_decay": 0.1},
                          **info.impl_kwargs(impl)),
                info.make(b_second, **info.impl_kwargs(impl))]
    for _ in range(5):
        grouped.zero_grad()
        loss_of(model_a).backward()
        grouped.step()
        for o in separate:
            o.zero_grad()
        loss_of(model_b).backward()
        for o in separate:
            o.step()
    for a, b in zip(params_of(model_a), params_of(model_b), strict=True):
        torch.testing.assert_close(a, b)


@optims(native_db)
def test_default_lr_and_per_group_lr(info):
    """lr is optional (torch's defaults) and may be given per group only."""
    w = torch.nn.Parameter(torch.ones(2))
    opt = info.build([{"params": [w], "lr": 0.1}])
    assert opt.param_groups[0]["lr"] == 0.1
    assert info.build([torch.nn.Parameter(torch.ones(2))]).defaults["lr"] > 0


@optims(native_db)
def test_lr_schedulers_that_reach_zero_go_the_right_direction(info):
    """torch's test_param_group_with_lrscheduler_goes_right_direction, over many seeds:
    with the paper's velocity form SuperSGD coasted the wrong way on about a third of them."""
    wrong = 0
    for seed in range(40):
        torch.manual_seed(seed)
        weight, weight2 = torch.nn.Parameter(torch.randn(10, 5)), torch.nn.Parameter(torch.randn(10, 5))
        inpt = torch.randn(5)
        opt = info.build([{"params": [weight]}, {"params": [weight2], "lr": 0.01}], sigma=2.0)
        scheduler = torch.optim.lr_scheduler.PolynomialLR(opt, power=0.9, total_iters=4)

        def closure():
            opt.zero_grad()
            loss = (weight.mv(inpt) + weight2.mv(inpt)).pow(2).sum()
            loss.backward()
            return loss

        initial = closure().item()
        for _ in range(20):
            opt.step(closure)
            scheduler.step()
        wrong += closure().item() >= initial
    assert wrong == 0


@optims_and_impls(native_db)
@pytest.mark.parametrize("shape", [(), (1,), (1, 1)], ids=["0d", "1", "1x1"])
def test_tensor_lr_of_every_shape_follows_the_float_lr(info, impl, shape):
    model_a, model_b = make_model(info), make_model(info)
    lr = info.base["lr"]
    opt_a = info.make(model_a.parameters(), **info.impl_kwargs(impl))
    opt_b = info.make(model_b.parameters(), **clone_kwargs({"lr": torch.tensor(lr).reshape(shape)}),
                      **info.impl_kwargs(impl))
    train_steps(model_a, opt_a, 5)
    train_steps(model_b, opt_b, 5)
    for a, b in zip(params_of(model_a), params_of(model_b), strict=True):
        torch.testing.assert_close(a, b)
    opt_b.eval()
    opt_a.eval()
    for a, b in zip(params_of(model_a), params_of(model_b), strict=True):
        torch.testing.assert_close(a, b)


@optims_and_impls(native_db)
def test_state_is_updated_in_place(info, impl):
    """Every path writes into the state tensors it created (as torch's optimizers do), so
    whatever holds references to them (sharding, CUDA graphs, compile guards) stays valid."""
    model = make_model(info)
    opt = info.make(model.parameters(), **info.impl_kwargs(impl))
    train_steps(model, opt, 1)
    before = {(id(p), key): (value, value.clone()) for p, state in opt.state.items() for key, value in state.items()
              if torch.is_tensor(value)}
    train_steps(model, opt, 2)
    for p, state in opt.state.items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensor, old = before[(id(p), key)]
                assert value is tensor, f"{key} was replaced"
                assert not torch.equal(value, old), f"{key} did not change"


@optims(native_db)
def test_implementations_keep_the_same_state(info):
    """torch's test_foreach_matches_forloop: parameters and every state tensor agree across
    implementations, with a step where no parameter has a gradient and a frozen layer."""
    runs = []
    for impl in info.impls:
        torch.manual_seed(1)
        model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Sigmoid(), torch.nn.Linear(3, 1)).double()
        empty = torch.nn.Parameter(torch.rand((), dtype=torch.float64))  # a 0-d parameter too
        opt = info.make([*model.parameters(), empty], weight_decay=0.1, **info.impl_kwargs(impl))
        x = torch.tensor([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], dtype=torch.float64)
        with info.impl_context(impl):
            for i in range(7):
                opt.zero_grad()
                model[2].requires_grad_(i not in (3, 4))
                if i != 2:  # a step with no gradients at all
                    (model(x).sum() + empty).backward()
                opt.step()
        runs.append((list(model.parameters()) + [empty], opt))
    (ref_params, ref_opt), *others = runs
    for params, opt in others:
        for p_ref, p in zip(ref_params, params, strict=True):
            torch.testing.assert_close(p, p_ref, rtol=1e-13, atol=1e-13)
            assert ref_opt.state[p_ref].keys() == opt.state[p].keys()
            for key, value in ref_opt.state[p_ref].items():
                torch.testing.assert_close(opt.state[p][key], value, rtol=1e-13, atol=1e-13)


@optims()
def test_step_hooks_fire_in_order(info):
    model = make_model(info)
    opt = info.make(model.parameters())
    calls = []
    pre = opt.register_step_pre_hook(lambda *_: calls.append("pre"))
    post = opt.register_step_post_hook(lambda *_: calls.append("post"))
    train_steps(model, opt, 2)
    pre.remove()
    post.remove()
    train_steps(model, opt, 1)
    assert calls == ["pre", "post", "pre", "post"]


@optims()
def test_deepcopy_copies_the_public_attributes_and_continues_identically(info):
    model = make_model(info)
    opt = info.make(model.parameters())
    train_steps(model, opt, 3)
    # a copy of the model and its optimizer together, as a checkpoint in memory would be
    twin_model, twin = copy.deepcopy((model, opt))
    public = {k for k in vars(opt) if not k.startswith("_")}
    assert public == {k for k in vars(twin) if not k.startswith("_")}
    assert twin.state_dict()["param_groups"] == opt.state_dict()["param_groups"]
    train_steps(model, opt, 3)
    train_steps(twin_model, twin, 3)
    assert_all_equal(params_of(model), params_of(twin_model))
    for p, q in zip(model.parameters(), twin_model.parameters(), strict=True):
        for key, value in opt.state[p].items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(twin.state[q][key]))


@optims()
def test_optimizer_can_be_printed(info):
    """As torch's: the class and each group's hyperparameters, σ among them."""
    model = make_model(info)
    opt = info.make(model.parameters(), sigma=3.5)
    train_steps(model, opt, 1)
    text = repr(opt)
    assert type(opt).__name__ in text and "Parameter Group 0" in text
    assert "sigma: 3.5" in text and f"lr: {opt.param_groups[0]['lr']}" in text


@optims()
def test_memory_contract_state_buffers_per_parameter(info):
    """SuperSGD keeps one buffer per parameter, SuperRMSprop two and SuperAdam two (Adam's);
    the wrapper one beside its base's."""
    model = make_model(info)
    opt = info.make(model.parameters())
    train_steps(model, opt, 2)
    for p in model.parameters():
        buffers = [v for v in opt.state[p].values() if torch.is_tensor(v) and v.shape == p.shape]
        assert len(buffers) == info.state_buffers


# ---- validation --------------------------------------------------------------------------


@pytest.mark.parametrize("info, error", [(info, e) for info in optim_db for e in info.error_inputs],
                         ids=lambda v: getattr(v, "name", None) or getattr(v, "message", v))
def test_invalid_hyperparameters_raise_torch_style_errors(info, error):
    with pytest.raises(error.error) as raised:
        info.make([torch.nn.Parameter(torch.ones(info.shape(1)))], **error.kwargs)
    assert str(raised.value).startswith(error.message)


@optims(native_db)
@pytest.mark.parametrize("key, value, message", [
    ("sigma", math.nan, "Invalid sigma value: nan"),
    ("lr", -0.1, "Invalid learning rate: -0.1"),
    ("weight_decay", math.inf, "Invalid weight_decay value: inf"),
])
def test_an_invalid_value_set_by_hand_is_caught_at_step(info, key, value, message):
    opt = info.make([torch.nn.Parameter(torch.ones(1))])
    opt.param_groups[0][key] = value
    with pytest.raises(ValueError, match=message):
        opt.step()


def test_an_invalid_momentum_set_by_hand_is_caught_at_step():
    opt = SuperSGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
    opt.param_groups[0]["momentum"] = 1.5
    with pytest.raises(ValueError, match="Invalid momentum value: 1.5"):
        opt.step()


@optims(native_db)
def test_fused_on_unsupported_parameters_is_torchs_error(info):
    with torch.device("meta"):
        model = torch.nn.Linear(2, 3)
    opt = info.make(model.parameters(), fused=True)
    with torch.device("meta"):
        for p in model.parameters():
            p.grad = torch.rand_like(p)
    with pytest.raises(RuntimeError, match="`fused=True` requires all the params to be floating point Tensors"):
        opt.step()


# ---- the wrapper -------------------------------------------------------------------------


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


def test_wrapper_rejects_non_optimizers_double_wrapping_and_lbfgs():
    with pytest.raises(TypeError, match="torch.optim.Optimizer"):
        SuperAccelerate(object())
    with pytest.raises(TypeError, match="already super-accelerated"):
        SuperAccelerate(SuperSGD([torch.nn.Parameter(torch.ones(1))], lr=0.1))
    with pytest.raises(TypeError, match="does not support LBFGS"):
        SuperAccelerate(torch.optim.LBFGS([torch.nn.Parameter(torch.ones(1))]))


def test_wrapper_state_dict_of_another_optimizer_is_a_clear_error():
    p = torch.nn.Parameter(torch.ones(2))
    opt = SuperAccelerate(torch.optim.SGD([p], lr=0.1, momentum=0.9))
    with pytest.raises(ValueError, match="a param group has no 'sigma'"):
        opt.load_state_dict(torch.optim.SGD([p], lr=0.1).state_dict())


def test_wrapper_validates_sigma():
    with pytest.raises(ValueError, match="Invalid sigma value: nan"):
        SuperAccelerate(torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1), sigma=math.nan)


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


def test_sigma_schedule_validation():
    with pytest.raises(ValueError, match="Invalid sigma value: nan"):
        LinearSigma(SuperSGD([torch.nn.Parameter(torch.ones(1))], lr=0.1), start=math.nan)
    with pytest.raises(ValueError, match="Invalid total_steps: 0"):
        LinearSigma(SuperSGD([torch.nn.Parameter(torch.ones(1))], lr=0.1), total_steps=0)
