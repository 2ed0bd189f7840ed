"""Step time of superaccel.optax against optax under jit, on the CPU.

One jitted function per optimizer computes the update and applies it (``update`` then
``optax.apply_updates``, what a training step adds to the backward pass); the contender and
its optax baseline are timed alternately on their own copies of the same parameters (200
leaves, fewer for small sizes), the ratio of each round kept: median and quartiles.

    python -m superaccel_lab.benchmarks.jax_step_time          # 1e4..1e7 parameters: results/jax_step_time.json
    python -m superaccel_lab.benchmarks.jax_step_time --quick  # 1e4..1e6, fewer rounds
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import optax

from superaccel import rules
from superaccel.optax import JAX_OPS, super_adam, super_rmsprop, super_sgd

from ._timing import interleaved, write_results

RESULTS = Path(__file__).resolve().parent / "results"

def adam_without_recomputed_step(lr: float = 1e-3, sigma: float = 2.0) -> optax.GradientTransformation:
    """A diagnostic: super_adam's update through the same coefficients and memory traffic, less
    the term that recomputes the last step from the moments (a root and a division per
    element).  Not an optimizer (it cannot undo its look-ahead): its ratio to optax.adam is
    super_adam's cost without that term."""

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return jnp.zeros([], jnp.int32), zeros, zeros

    def update(grads, state, params=None):
        count, mu, nu = state
        c = rules.adam_coefficients(count, lr=lr, applied_lr=lr, sigma=sigma, applied_sigma=sigma, beta1=0.9,
                                    beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=True, ops=JAX_OPS)
        mu = jax.tree.map(lambda m, g: m + c.one_minus_beta1 * (g - m), mu, grads)
        nu = jax.tree.map(lambda v, g: c.beta2 * v + c.one_minus_beta2 * g * g, nu, grads)
        updates = jax.tree.map(lambda m, v: c.step * m / (jnp.sqrt(v) * c.rsqrt_bc2 + c.eps), mu, nu)
        return updates, (count + 1, mu, nu)

    return optax.GradientTransformation(init, update)


PAIRS: list[tuple[str, Callable, str, Callable]] = [
    ("super_sgd", lambda: super_sgd(1e-3, momentum=0.9, sigma=2.0),
     "optax.sgd(nesterov=True)", lambda: optax.sgd(1e-3, momentum=0.9, nesterov=True)),
    ("super_adam", lambda: super_adam(1e-3, sigma=2.0), "optax.adam", lambda: optax.adam(1e-3)),
    ("super_adam(weight_decay)", lambda: super_adam(1e-3, sigma=2.0, weight_decay=1e-4),
     "optax.adamw", lambda: optax.adamw(1e-3, weight_decay=1e-4)),
    ("super_adam, last step not recomputed (diagnostic)", adam_without_recomputed_step, "optax.adam",
     lambda: optax.adam(1e-3)),
    ("super_rmsprop", lambda: super_rmsprop(1e-3, decay=0.999, eps=1e-7, momentum=0.9, sigma=2.0),
     "optax.rmsprop(momentum)", lambda: optax.rmsprop(1e-3, decay=0.999, eps=1e-7, momentum=0.9)),
]


class Bench:
    def __init__(self, transformation: optax.GradientTransformation, total: int, leaves: int) -> None:
        keys = jax.random.split(jax.random.key(0), 2 * leaves)
        size = total // leaves
        self.params = [jax.random.normal(k, (size,)) for k in keys[:leaves]]
        self.grads = [1e-3 * jax.random.normal(k, (size,)) for k in keys[leaves:]]
        self.state = transformation.init(self.params)

        @jax.jit
        def step(params, state, grads):
            updates, state = transformation.update(grads, state, params)
            return optax.apply_updates(params, updates), state

        self._step = step
        self.step()  # compile

    def step(self) -> float:
        start = time.perf_counter()
        self.params, self.state = self._step(self.params, self.state, self.grads)
        jax.block_until_ready(self.params)
        return time.perf_counter() - start


def measure(contender: Callable, baseline: Callable, total: int, rounds: int) -> dict:
    leaves = min(200, max(1, total // 5000))
    a, b = Bench(contender(), total, leaves), Bench(baseline(), total, leaves)
    return {"params": total, "leaves": leaves, "rounds": rounds, **interleaved(a.step, b.step, rounds)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    sizes = [10**4, 10**5, 10**6] if args.quick else [10**4, 10**5, 10**6, 10**7]
    results = []
    for total in sizes:
        rounds = 20 if args.quick else (40 if total <= 10**6 else 15)
        for name, contender, baseline_name, baseline in PAIRS:
            row = {"name": name, "baseline": baseline_name, **measure(contender, baseline, total, rounds)}
            results.append(row)
            print(f"{total:>10,} {name:<26} / {baseline_name:<26} ratio {row['ratio_median']:.2f} "
                  f"(IQR {row['ratio_q1']:.2f}-{row['ratio_q3']:.2f})  {1e3 * row['seconds_median']:.2f} ms",
                  flush=True)
    write_results(RESULTS / ("jax_step_time_quick.json" if args.quick else "jax_step_time.json"),
                  {"jax": jax.__version__, "optax": optax.__version__, "sizes": sizes, "device": str(jax.devices()[0]),
                   "command": " ".join(["python -m superaccel_lab.benchmarks.jax_step_time",
                                        *(argv or sys.argv[1:])])}, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
