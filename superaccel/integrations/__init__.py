"""Callbacks that keep θ in everything a training framework evaluates, saves or exports.

A super-accelerated optimizer trains at the look-ahead point φ = θ + σ·s; ``eval()`` puts θ
into the parameters and ``train()`` puts φ back.  A hand-written loop calls them itself (or
uses :func:`superaccel.at_theta`); a framework needs to be told.  One line does it:

- Lightning: ``Trainer(callbacks=[superaccel.integrations.lightning.SuperAccelCallback()])``
  (needs ``lightning``);
- Hugging Face ``Trainer``: ``callbacks=[superaccel.integrations.transformers.SuperAccelCallback()]``
  (needs ``transformers``).

Each module imports its framework, so import the one you use; ``superaccel`` itself never
needs either.  Both callbacks also step the σ schedulers built on the optimizer
(``LinearSigma(opt, ...)``) after every optimizer step and save them with the checkpoint.
They work for any optimizer with ``train()``/``eval()``, schedule-free's included.
See docs/integrations/ for what each framework already does and what the callback adds.
"""
