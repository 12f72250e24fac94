"""One epoch of ``fit`` against a hand-written jitted loop over the same batches.

The tutorial's MLP (784-128-128-10, softmax, categorical crossentropy) on 60,000 examples
of 784 random features, batch 50, SGD with learning rate 0.5. Every variant starts from
the same NumPy arrays and the same weights, and its time includes moving the data to the
device:

* hand loop: ``jax.device_put`` of x and y, then one jitted step per batch that takes
  the batch index and slices its batch on the device (one dispatch per step); it is the
  baseline of the ratios. For reference, the same loop is also timed with the data
  already on the device (its difference from the baseline is the cost of the transfer);
* jkeras ``fit`` with ``steps_per_execution`` 1 and 20 (``shuffle=False``: the same
  batches in the same order);
* Keras 3's ``fit`` (JAX backend), if Keras is installed.

Rounds are interleaved (the order rotates each round) and the table reports medians and
the ratio of each median to the hand loop's.

    python benchmarks/fit.py [--rounds 5] [--examples 60000] [--no-keras]
"""
import os

os.environ["KERAS_BACKEND"] = "jax"  # Keras 3 reads this when imported

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jkeras  # noqa: E402
from common import summary, time_blocks  # noqa: E402
from jkeras import layers  # noqa: E402

BATCH, LR, EPS = 50, 0.5, 1e-7
TARGETS = {"jkeras fit, steps_per_execution=1": 1.10,
           "jkeras fit, steps_per_execution=20": 0.85}


def make_data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
    return x, y


def make_model():
    model = jkeras.Sequential([layers.Dense(128, activation="relu", input_dim=784),
                               layers.Dense(128, activation="relu"),
                               layers.Dense(10, activation="softmax")])
    model.compile(jkeras.optimizers.SGD(LR), "categorical_crossentropy")
    return model


# --- The hand-written loop ---------------------------------------------------------------


def hand_forward(params, x):
    (k1, b1), (k2, b2), (k3, b3) = params
    h = jax.nn.relu(x @ k1 + b1)
    h = jax.nn.relu(h @ k2 + b2)
    return jax.nn.softmax(h @ k3 + b3)


def hand_loss(params, x, y):
    p = hand_forward(params, x)
    p = p / jnp.sum(p, axis=-1, keepdims=True)  # Keras' crossentropy on probabilities
    return jnp.mean(-jnp.sum(y * jnp.log(jnp.clip(p, EPS, 1 - EPS)), axis=-1))


def hand_step(params, xs, ys, i):
    x = jax.lax.dynamic_slice_in_dim(xs, i * BATCH, BATCH)
    y = jax.lax.dynamic_slice_in_dim(ys, i * BATCH, BATCH)
    loss, grads = jax.value_and_grad(hand_loss)(params, x, y)
    return jax.tree_util.tree_map(lambda p, g: p - LR * g, params, grads), loss


hand_step_jit = jax.jit(hand_step, donate_argnums=0)


def hand_epoch(weights, x, y):
    params = [tuple(jnp.asarray(w) for w in weights[i:i + 2]) for i in range(0, 6, 2)]
    xs, ys = jax.device_put((x, y))  # a no-op for arrays already on the device
    for i in range(len(x) // BATCH):
        params, loss = hand_step_jit(params, xs, ys, i)
    return float(loss)  # waits for the last step


# --- The variants ------------------------------------------------------------------------


def variants(x, y, weights, with_keras):
    fit1, fit20 = make_model(), make_model()

    def run_fit(model, spe):
        def run():
            model.set_weights(weights)
            start = time.perf_counter()
            model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
                      steps_per_execution=spe)
            return time.perf_counter() - start
        return run

    def run_hand(x, y):
        def run():
            start = time.perf_counter()
            hand_epoch(weights, x, y)
            return time.perf_counter() - start
        return run

    on_device = jax.device_put((x, y))
    out = {"hand-written jitted loop": run_hand(x, y),
           "(hand loop, data already on device)": run_hand(*on_device),
           "jkeras fit, steps_per_execution=1": run_fit(fit1, 1),
           "jkeras fit, steps_per_execution=20": run_fit(fit20, 20)}
    if with_keras:
        out["Keras 3 fit (JAX backend)"] = keras_variant(x, y, weights)
    return out


def keras_variant(x, y, weights):
    import keras

    model = keras.Sequential([keras.Input((784,)),
                              keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.SGD(LR), "categorical_crossentropy")

    def run():
        model.set_weights(weights)
        start = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        return time.perf_counter() - start
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--examples", type=int, default=60_000)
    parser.add_argument("--no-keras", action="store_true")
    args = parser.parse_args()

    x, y = make_data(args.examples)
    weights = make_model().get_weights()
    with_keras = not args.no_keras and importlib.util.find_spec("keras") is not None
    runs = variants(x, y, weights, with_keras)
    for run in runs.values():  # compile everything before timing
        run()
    times = time_blocks(runs, args.rounds)
    steps = args.examples // BATCH
    print(f"One epoch: {args.examples} examples, batch {BATCH} ({steps} steps), MLP "
          f"784-128-128-10, SGD {LR}; {jax.devices()[0].device_kind} "
          f"({jax.default_backend()}), median of {args.rounds} interleaved rounds, ratio = median of per-round ratios")
    print()
    print(f"| {'variant':<36} | {'epoch (s)':>9} | {'per step':>9} | {'ratio':>6} | target  |")
    print(f"|{'-' * 38}|{'-' * 11}|{'-' * 11}|{'-' * 8}|---------|")
    for name in runs:
        median, _, ratio = summary(times, name, "hand-written jitted loop")
        target = f"<= {TARGETS[name]:.2f}" if name in TARGETS else ""
        print(f"| {name:<36} | {median:9.3f} | {median / steps * 1e6:6.0f} us | "
              f"{ratio:5.2f}x | {target:<7} |")


if __name__ == "__main__":
    main()
