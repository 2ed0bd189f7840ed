"""Lightning: :class:`SuperAccelCallback` keeps θ in every validation, test, prediction,
checkpoint and in the model ``fit`` leaves behind.

    trainer = lightning.Trainer(callbacks=[SuperAccelCallback()], ...)

Lightning calls no optimizer ``train()``/``eval()`` of its own; without the callback,
validation, ``trainer.test`` and checkpoint files see the look-ahead point φ.
"""

from __future__ import annotations

from typing import Any

try:
    from lightning.pytorch import Callback, LightningModule, Trainer
    from lightning.pytorch.callbacks import StochasticWeightAveraging, WeightAveraging
except ModuleNotFoundError as error:
    raise ModuleNotFoundError(
        "superaccel.integrations.lightning needs Lightning: pip install lightning"
    ) from error

from ._common import SigmaSchedulerDriver, in_train_mode, lookahead_optimizers, to_lookahead, to_theta

__all__ = ["SuperAccelCallback"]


class SuperAccelCallback(Callback):
    """Keep θ outside the training steps of a Lightning run.

    - training batches run at φ (``train()`` before each batch);
    - validation, test and predict run at θ, and ``fit`` ends at θ, so ``trainer.test()``,
      ``trainer.save_checkpoint()`` and ``torch.save(model.state_dict())`` after ``fit``
      see θ;
    - every checkpoint holds θ and the optimizer state in eval mode, so a model loaded with
      ``load_from_checkpoint`` for inference has θ, and ``fit(ckpt_path=...)`` resumes
      exactly (``train()`` puts φ back before the first step, as the uninterrupted run did
      after saving);
    - the σ schedulers built on the optimizers (``LinearSigma(opt, ...)`` in
      ``configure_optimizers``) are stepped after every optimizer step and saved in the
      checkpoint: create them, do not step them yourself.

    - with weight averaging (Lightning's ``WeightAveraging``, ``EMAWeightAveraging`` and
      ``StochasticWeightAveraging``), the average is an average of θ: what it evaluates
      and saves is an average of the points training passes through, not of the
      look-ahead points.

    For weight averaging, and for checkpoints saved with ``save_weights_only=True`` (which
    skip Lightning's checkpoint hooks), the callback puts θ into the parameters right after
    every optimizer step (a step hook, so it comes before any callback's batch-end hook,
    whatever their order) and φ back before the next batch: two passes over the parameters
    per step.
    """

    def __init__(self) -> None:
        self._sigma = SigmaSchedulerDriver()
        self._pending_sigma_state: list | None = None
        self._theta_after_steps: list = []
        self._trainer: Trainer | None = None

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self._trainer = trainer

    @staticmethod
    def _optimizers(trainer: Trainer) -> list:
        return lookahead_optimizers(trainer.optimizers)

    # -- training ---------------------------------------------------------------------

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        optimizers = self._optimizers(trainer)
        if self._pending_sigma_state is not None:
            SigmaSchedulerDriver.restore(optimizers, self._pending_sigma_state)
            self._pending_sigma_state = None
        self._sigma.attach(optimizers)
        self._detach_theta_hooks()
        if any(getattr(cb, "save_weights_only", False) for cb in trainer.checkpoint_callbacks) or any(
                isinstance(cb, (WeightAveraging, StochasticWeightAveraging)) for cb in trainer.callbacks):
            self._theta_after_steps = [optimizer.register_step_post_hook(_to_theta) for optimizer in optimizers]
        to_lookahead(optimizers)

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        to_lookahead(self._optimizers(trainer))

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._sigma.detach()
        self._detach_theta_hooks()
        to_theta(self._optimizers(trainer))

    def _detach_theta_hooks(self) -> None:
        for handle in self._theta_after_steps:
            handle.remove()
        self._theta_after_steps = []

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        to_theta(self._optimizers(trainer))

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        # an interrupted run leaves θ behind, ready to be saved
        self._sigma.detach()
        self._detach_theta_hooks()
        to_theta(self._optimizers(trainer))

    # -- evaluation -------------------------------------------------------------------
    # φ comes back at the next training batch, so a checkpoint saved after validation
    # finds θ already in place.

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        to_theta(self._optimizers(trainer))

    def on_test_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        to_theta(self._optimizers(trainer))

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        to_theta(self._optimizers(trainer))

    # -- checkpoints ------------------------------------------------------------------

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        optimizers = self._optimizers(trainer)
        if not any(in_train_mode(optimizer) for optimizer in optimizers):
            return
        to_theta(optimizers)
        # the weights and optimizer states were read at φ: read them again at θ
        checkpoint["state_dict"] = trainer.strategy.lightning_module_state_dict()
        if "optimizer_states" in checkpoint:
            checkpoint["optimizer_states"] = [trainer.strategy.optimizer_state(o) for o in trainer.optimizers]

    def state_dict(self) -> dict[str, Any]:
        optimizers = self._optimizers(self._trainer) if self._trainer is not None else []
        return {"sigma_schedulers": SigmaSchedulerDriver.state(optimizers)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # the optimizers do not exist yet when Lightning restores callbacks: apply at on_train_start
        self._pending_sigma_state = state_dict.get("sigma_schedulers", [])


def _to_theta(optimizer: Any, args: Any, kwargs: Any) -> None:
    optimizer.eval()
