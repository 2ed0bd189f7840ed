"""Hugging Face ``Trainer``: :class:`SuperAccelCallback` keeps θ in every checkpoint and in
the model training leaves behind.

    trainer = transformers.Trainer(..., optimizers=(opt, None), callbacks=[SuperAccelCallback()])

The Trainer already calls ``optimizer.train()`` in every training step and
``optimizer.eval()`` in its evaluation loop (for schedule-free), so evaluation runs at θ.
What it does not do: checkpoints saved at a step without evaluation, and the model after
``train()`` when the last step was not an evaluation, hold the look-ahead point φ, so
``trainer.save_model()`` writes φ.
"""

from __future__ import annotations

from typing import Any

try:
    from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
    from transformers.trainer_callback import ExportableState
except ModuleNotFoundError as error:
    raise ModuleNotFoundError(
        "superaccel.integrations.transformers needs transformers: pip install transformers"
    ) from error

from ._common import SigmaSchedulerDriver, lookahead_optimizers, to_theta

__all__ = ["SuperAccelCallback"]


class SuperAccelCallback(TrainerCallback, ExportableState):
    """Keep θ in everything the Trainer saves and in the model it leaves.

    - before a step's checkpoint is written, and after the last step, the parameters are
      put at θ (``optimizer.eval()``); the Trainer's next training step calls
      ``optimizer.train()`` itself.  So every ``checkpoint-N`` holds θ with the optimizer
      state in eval mode (``from_pretrained`` gets θ, and resuming is exact: the first
      step puts φ back exactly as the uninterrupted run did after saving), and after
      ``trainer.train()`` the model, ``trainer.save_model()``, ``evaluate()`` and
      ``predict()`` see θ;
    - the σ schedulers built on the optimizer (``LinearSigma(opt, ...)``) are stepped
      after every optimizer step and their positions saved in ``trainer_state.json``:
      create them, do not step them yourself.
    """

    def __init__(self) -> None:
        self._sigma = SigmaSchedulerDriver()
        self._optimizers: list = []

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       optimizer: Any = None, **kwargs: Any) -> None:
        self._optimizers = lookahead_optimizers([optimizer])
        saved = state.stateful_callbacks.get(type(self).__name__)
        # a fresh run holds the state this callback had before training (no optimizers yet)
        if isinstance(saved, dict) and saved["attributes"]["sigma_schedulers"]:
            SigmaSchedulerDriver.restore(self._optimizers, saved["attributes"]["sigma_schedulers"])
        self._sigma.attach(self._optimizers)

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    **kwargs: Any) -> None:
        # the Trainer decides here whether this step saves or ends training (its flow
        # callback runs first); evaluation puts θ in place by itself
        if control.should_save or control.should_training_stop:
            to_theta(self._optimizers)

    def on_epoch_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     **kwargs: Any) -> None:
        if control.should_save or control.should_training_stop:
            to_theta(self._optimizers)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     **kwargs: Any) -> None:
        self._sigma.detach()
        to_theta(self._optimizers)

    def state(self) -> dict[str, Any]:
        return {"args": {}, "attributes": {"sigma_schedulers": SigmaSchedulerDriver.state(self._optimizers)}}
