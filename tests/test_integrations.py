"""The framework callbacks against the real frameworks: every weight a user saves, evaluates,
tests, predicts with or exports is θ, computed by hand from the optimizer's state right
after each step; a resumed run ends bit for bit where the uninterrupted one did, σ schedule
included.  Without the callback the same checks fail (φ leaks), which the first test of
each framework shows."""

from __future__ import annotations

import pytest
import torch

from superaccel import LinearSigma, SuperSGD, at_theta

DTYPE = torch.float64
TRUE_WEIGHTS = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=DTYPE)


def regression_data(n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(n, 4, dtype=DTYPE, generator=generator)
    return x, x @ TRUE_WEIGHTS


def make_optimizer(parameters, named_parameters, thetas: list[dict[str, torch.Tensor]]):
    """SuperSGD with a σ schedule; after every step, θ by hand (θ = φ + σ'·lr'·b, the σ and
    lr the look-ahead was formed with) is appended to ``thetas``."""
    optimizer = SuperSGD(parameters, lr=0.05, momentum=0.9, sigma=4.0)
    sigma_schedule = LinearSigma(optimizer, start=4.0, end=1.0, total_steps=30)

    def record_theta(opt, args, kwargs):
        group = opt.param_groups[0]
        coefficient = group["applied_sigma"] * group["applied_lr"]
        thetas.append({name: p.detach().add(opt.state[p]["momentum_buffer"], alpha=coefficient)
                       for name, p in named_parameters()})

    optimizer.register_step_post_hook(record_theta)
    return optimizer, sigma_schedule


def max_difference(weights: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> float:
    assert set(weights) == set(reference)
    return max((weights[name] - reference[name]).abs().max().item() for name in reference)


# -- Lightning ------------------------------------------------------------------------------

def lightning_setup():
    pl = pytest.importorskip("lightning.pytorch", reason="Lightning is not installed (pip install lightning)")
    from superaccel.integrations.lightning import SuperAccelCallback

    x, y = regression_data()
    dataset = torch.utils.data.TensorDataset(x, y)

    class Net(pl.LightningModule):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.linear = torch.nn.Linear(4, 1, dtype=DTYPE)
            self.thetas: list[dict[str, torch.Tensor]] = []
            self.seen: dict[str, list[dict[str, torch.Tensor]]] = {}

        def weights(self):
            return {name: p.detach().clone() for name, p in self.named_parameters()}

        def training_step(self, batch, index):
            x, y = batch
            return ((self.linear(x).squeeze(-1) - y) ** 2).mean()

        def validation_step(self, batch, index):
            self.seen.setdefault("validation", []).append(self.weights())

        def test_step(self, batch, index):
            self.seen.setdefault("test", []).append(self.weights())

        def predict_step(self, batch, index):
            return self.weights()

        def configure_optimizers(self):
            optimizer, self.sigma_schedule = make_optimizer(self.parameters(), self.named_parameters, self.thetas)
            return optimizer

    def loader():
        return torch.utils.data.DataLoader(dataset, batch_size=8)  # 4 steps per epoch

    def trainer(root, epochs, callback=True, averaging=None, averaging_first=False, **checkpoint):
        checkpoint = checkpoint or {"every_n_epochs": 1}
        callbacks = [pl.callbacks.ModelCheckpoint(dirpath=root, save_top_k=-1, filename="{epoch}-{step}",
                                                  **checkpoint)]
        if callback:
            callbacks.append(SuperAccelCallback())
        if averaging is not None:
            callbacks.insert(0 if averaging_first else len(callbacks), averaging)
        return pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_progress_bar=False,
                          enable_model_summary=False, callbacks=callbacks, default_root_dir=root,
                          num_sanity_val_steps=0)

    return Net, loader, trainer


def load_checkpoint(path) -> dict:
    return torch.load(path, weights_only=False)


@pytest.mark.parametrize("callback", [True, False], ids=["with_callback", "without_callback"])
def test_lightning_validation_test_predict_checkpoints_and_fit_hold_theta(tmp_path, callback):
    Net, loader, trainer = lightning_setup()
    net = Net()
    run = trainer(tmp_path, epochs=3, callback=callback)
    run.fit(net, loader(), loader())
    steps_per_epoch = 4
    errors = {
        "after fit": max_difference(net.weights(), net.thetas[-1]),
        "validation": max(max_difference(seen, net.thetas[steps_per_epoch * (epoch + 1) - 1])
                          for epoch, seen in enumerate(net.seen["validation"][::steps_per_epoch])),
    }
    for epoch in range(3):
        step = steps_per_epoch * (epoch + 1)
        saved = load_checkpoint(tmp_path / f"epoch={epoch}-step={step}.ckpt")
        errors[f"checkpoint {epoch}"] = max_difference(saved["state_dict"], net.thetas[step - 1])
    run.test(net, loader())
    errors["test"] = max_difference(net.seen["test"][0], net.thetas[-1])
    errors["predict"] = max_difference(run.predict(net, loader())[0], net.thetas[-1])
    loaded = Net.load_from_checkpoint(tmp_path / "epoch=2-step=12.ckpt")
    errors["load_from_checkpoint"] = max_difference(loaded.weights(), net.thetas[-1])
    if callback:
        assert all(error == 0 for error in errors.values()), errors
    else:  # what the callback is for: every one of them sees φ
        assert all(error > 1e-3 for error in errors.values()), errors


def test_lightning_resume_is_exact_with_the_sigma_schedule(tmp_path):
    Net, loader, trainer = lightning_setup()
    uninterrupted = Net()
    trainer(tmp_path / "a", epochs=3).fit(uninterrupted, loader(), loader())
    resumed = Net()
    trainer(tmp_path / "b", epochs=3).fit(resumed, loader(), loader(), ckpt_path=tmp_path / "a" / "epoch=0-step=4.ckpt")
    assert max_difference(resumed.weights(), uninterrupted.weights()) == 0
    assert resumed.sigma_schedule.last_step == uninterrupted.sigma_schedule.last_step == 12
    assert resumed.sigma_schedule.get_last_sigma() == uninterrupted.sigma_schedule.get_last_sigma() != [4.0]


def test_lightning_weights_only_checkpoints_mid_epoch_hold_theta(tmp_path):
    Net, loader, trainer = lightning_setup()
    net = Net()
    trainer(tmp_path, epochs=1, every_n_train_steps=3, save_weights_only=True).fit(net, loader())
    saved = load_checkpoint(tmp_path / "epoch=0-step=3.ckpt")
    assert "optimizer_states" not in saved
    assert max_difference(saved["state_dict"], net.thetas[2]) == 0


def hand_average(thetas: list[dict[str, torch.Tensor]], decay: float | None) -> dict[str, torch.Tensor]:
    """torch's AveragedModel of a trajectory: the first point copied, then an EMA of the
    given decay (``get_ema_multi_avg_fn``) or, without one, the equal average."""
    average = {name: value.clone() for name, value in thetas[0].items()}
    for n, theta in enumerate(thetas[1:], start=1):
        weight = 1 - decay if decay is not None else 1 / (n + 1)
        for name in average:
            average[name].lerp_(theta[name], weight)
    return average


@pytest.mark.parametrize("averaging_first", [False, True], ids=["averaging_last", "averaging_first"])
@pytest.mark.parametrize("kind", ["ema", "swa"])
@pytest.mark.parametrize("callback", [True, False], ids=["with_callback", "without_callback"])
def test_lightning_weight_averaging_averages_theta(tmp_path, kind, callback, averaging_first):
    pl = pytest.importorskip("lightning.pytorch")
    Net, loader, trainer = lightning_setup()
    net = Net()
    averaging = pl.callbacks.EMAWeightAveraging(decay=0.8) if kind == "ema" else pl.callbacks.WeightAveraging()
    run = trainer(tmp_path, epochs=3, callback=callback, averaging=averaging, averaging_first=averaging_first)
    run.fit(net, loader(), loader())
    expected = hand_average(net.thetas, 0.8 if kind == "ema" else None)
    # after fit the model holds the average; validation saw the average of the steps so far
    # and every checkpoint's weights are the average at its step
    errors = {"after fit": max_difference(net.weights(), expected),
              "validation": max_difference(net.seen["validation"][-1], expected),
              "checkpoint": max_difference(load_checkpoint(tmp_path / "epoch=2-step=12.ckpt")["state_dict"], expected)}
    errors["checkpoint 1"] = max_difference(load_checkpoint(tmp_path / "epoch=0-step=4.ckpt")["state_dict"],
                                            hand_average(net.thetas[:4], 0.8 if kind == "ema" else None))
    if callback:
        assert all(error < 1e-14 for error in errors.values()), errors
    else:  # Lightning alone averages the look-ahead points
        assert all(error > 1e-3 for error in errors.values()), errors


def test_lightning_validate_without_fit_runs(tmp_path):
    Net, loader, trainer = lightning_setup()
    net = Net()
    before = net.weights()
    trainer(tmp_path, epochs=1).validate(net, loader())
    assert max_difference(net.seen["validation"][0], before) == 0


# -- Hugging Face Trainer ---------------------------------------------------------------------

def transformers_setup():
    transformers = pytest.importorskip("transformers", reason="transformers is not installed "
                                                              "(pip install transformers)")
    from safetensors.torch import load_file

    from superaccel.integrations.transformers import SuperAccelCallback

    x, y = regression_data()
    dataset = [{"x": x[i], "labels": y[i]} for i in range(len(x))]

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.linear = torch.nn.Linear(4, 1, dtype=DTYPE)

        def forward(self, x, labels=None):
            prediction = self.linear(x).squeeze(-1)
            return {"loss": ((prediction - labels) ** 2).mean(), "logits": prediction}

        def weights(self):
            return {name: p.detach().clone() for name, p in self.named_parameters()}

    def run(output_dir, callback=True, resume=None, **arguments):
        model = Tiny()
        thetas: list[dict[str, torch.Tensor]] = []
        optimizer, sigma_schedule = make_optimizer(model.parameters(), model.named_parameters, thetas)
        arguments = {"max_steps": 12, "save_strategy": "steps", "save_steps": 4, "eval_strategy": "no",
                     **arguments}
        args = transformers.TrainingArguments(output_dir=str(output_dir), per_device_train_batch_size=4,
                                              report_to="none", use_cpu=True, logging_strategy="no", seed=0,
                                              disable_tqdm=True, **arguments)
        trainer = transformers.Trainer(model=model, args=args, train_dataset=dataset, eval_dataset=dataset[:8],
                                       optimizers=(optimizer, None),
                                       callbacks=[SuperAccelCallback()] if callback else [])
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        return model, trainer, thetas, sigma_schedule

    return run, load_file


@pytest.mark.parametrize("callback", [True, False], ids=["with_callback", "without_callback"])
def test_transformers_checkpoints_final_model_and_evaluation_hold_theta(tmp_path, callback):
    run, load_file = transformers_setup()
    # steps 4, 8, 12 save, 12 is the last, no evaluation (the Trainer's own eval() would put θ in place)
    model, trainer, thetas, _ = run(tmp_path, callback=callback)
    errors = {f"checkpoint {step}": max_difference(load_file(tmp_path / f"checkpoint-{step}" / "model.safetensors"),
                                                   thetas[step - 1])
              for step in (4, 8, 12)}
    errors["after train"] = max_difference(model.weights(), thetas[-1])
    trainer.save_model(str(tmp_path / "final"))
    errors["save_model"] = max_difference(load_file(tmp_path / "final" / "model.safetensors"), thetas[-1])
    if callback:
        assert all(error == 0 for error in errors.values()), errors
        # evaluation and prediction after training run at θ
        trainer.evaluate()
        trainer.predict(trainer.eval_dataset)
        assert max_difference(model.weights(), thetas[-1]) == 0
    else:
        assert all(error > 1e-3 for error in errors.values()), errors


def test_transformers_resume_is_exact_with_the_sigma_schedule(tmp_path):
    run, _ = transformers_setup()
    uninterrupted, _, _, schedule = run(tmp_path / "a")
    resumed, _, _, resumed_schedule = run(tmp_path / "b", resume=tmp_path / "a" / "checkpoint-4")
    assert max_difference(resumed.weights(), uninterrupted.weights()) == 0
    assert resumed_schedule.last_step == schedule.last_step == 12
    assert resumed_schedule.get_last_sigma() == schedule.get_last_sigma() != [4.0]


# -- Accelerate and plain PyTorch ---------------------------------------------------------------

def test_accelerated_optimizer_forwards_train_and_eval(tmp_path):
    accelerate = pytest.importorskip("accelerate", reason="accelerate is not installed (pip install accelerate)")
    x, y = regression_data()
    model = torch.nn.Linear(4, 1, dtype=DTYPE)
    thetas: list[dict[str, torch.Tensor]] = []
    optimizer, _ = make_optimizer(model.parameters(), model.named_parameters, thetas)
    accelerator = accelerate.Accelerator(cpu=True)
    model, optimizer = accelerator.prepare(model, optimizer)
    for _ in range(3):
        optimizer.zero_grad()
        accelerator.backward(((model(x).squeeze(-1) - y) ** 2).mean())
        optimizer.step()
    with at_theta(optimizer):
        exported = {name: p.detach().clone() for name, p in model.named_parameters()}
    assert max_difference(exported, thetas[-1]) == 0
    assert all(group["train_mode"] for group in optimizer.param_groups)  # φ is back


def test_at_theta_exports_theta_and_puts_phi_back():
    x, y = regression_data()
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1, dtype=DTYPE)
    thetas: list[dict[str, torch.Tensor]] = []
    optimizer, _ = make_optimizer(model.parameters(), model.named_parameters, thetas)
    for _ in range(3):
        optimizer.zero_grad()
        ((model(x).squeeze(-1) - y) ** 2).mean().backward()
        optimizer.step()
    phi = {name: p.detach().clone() for name, p in model.named_parameters()}
    with at_theta(optimizer):
        exported = {name: p.detach().clone() for name, p in model.state_dict().items()}
    assert max_difference(exported, thetas[-1]) == 0
    # (φ + σ'lr'b) − σ'lr'b is φ to rounding: within an ulp or two of these weights
    assert max_difference({name: p.detach() for name, p in model.named_parameters()}, phi) < 1e-14


def test_importing_an_integration_without_its_framework_names_the_package(monkeypatch):
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "lightning.pytorch", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "superaccel.integrations.lightning", raising=False)
    with pytest.raises(ModuleNotFoundError, match="pip install lightning"):
        importlib.import_module("superaccel.integrations.lightning")
