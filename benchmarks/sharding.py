"""jkeras.sharding against hand-written ``jax.jit`` steps on the same mesh (8 simulated
CPU devices), and the per-device memory of the weights.

* DataParallel ``train_step``: ``jax.jit(model.train_step)`` with the train state placed
  by ``DataParallel`` and ``out_shardings`` from it, against a hand-written step whose
  params are replicated ``NamedSharding``s and whose batch is split over ``data``;
  the tutorial MLP (784-128-128-10) at batch 512, and a small CNN
  (Conv2D 8x3x3 + relu, Flatten, Dense 10) at batch 128.
* DataParallel ``fit`` per step (one epoch of 20 batches of 512, ``shuffle=False``)
  against a hand loop that puts each host batch on the mesh and runs the jitted step.
* ModelParallel on a 2x4 (data, model) mesh, the hidden layers' kernels and biases split
  over ``model`` by columns and the output kernel by rows, against the hand-written step
  with the same shardings.

Rounds are interleaved (the order turns round each round); medians, and the median of
the per-round ratios.

    python benchmarks/sharding.py [--rounds 15] [--steps 20] [--cpu-time]
"""
import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=8").strip()

import argparse  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec as P  # noqa: E402

import jkeras  # noqa: E402
from common import summary, time_blocks  # noqa: E402
from jkeras import layers, sharding  # noqa: E402
from train_step import hand_cce, hand_dense, hand_mlp  # noqa: E402

LR = 0.1


def mlp():
    jkeras.utils.clear_session()
    return jkeras.Sequential([layers.Dense(128, activation="relu", input_dim=784),
                              layers.Dense(128, activation="relu"),
                              layers.Dense(10, activation="softmax")])


def cnn():
    jkeras.utils.clear_session()
    return jkeras.Sequential([layers.Conv2D(8, 3, activation="relu", input_shape=(28, 28, 1)),
                              layers.Flatten(), layers.Dense(10, activation="softmax")])


def hand_cnn(params, state, x, training, rng):
    k = params["conv2d"]
    h = jax.lax.conv_general_dilated(x, k["kernel"], (1, 1), "VALID",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    h = jax.nn.relu(h + k["bias"]).reshape(x.shape[0], -1)
    return jax.nn.softmax(hand_dense(params["dense"], h)), state


def hand_step(forward):
    optimizer = optax.sgd(LR)

    def step(params, opt_state, x, y):
        def loss(params):
            return jnp.mean(hand_cce(y, forward(params, {}, x, False, None)[0]))
        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = optimizer.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, value
    return step, optimizer


def data(shape, batch, rng=np.random.default_rng(0)):
    x = rng.random((batch, *shape), np.float32)
    return x, np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]


CLOCK = [time.perf_counter]


def timed(fn, steps):
    def run():
        start = CLOCK[0]()
        out = fn(steps)
        jax.block_until_ready(out)
        return (CLOCK[0]() - start) / steps
    run()  # compile
    return run


def step_runners(model, forward, dist, x, y, steps):
    """(jkeras train_step, hand step), both jitted on ``dist``'s mesh, donated."""
    model.compile(optax.sgd(LR), "categorical_crossentropy", distribution=dist)
    ts = [model.get_train_state()]  # placed by the distribution
    xs, ys = dist.distribute_batch((x, y))
    jk = jax.jit(model.train_step, donate_argnums=0,
                 out_shardings=(dist.train_state_shardings(ts[0]), None))

    def run_jkeras(steps):
        for _ in range(steps):
            ts[0], logs = jk(ts[0], xs, ys)
        return logs

    step, optimizer = hand_step(forward)
    shardings = dist.shardings(model.params)
    params = jax.device_put(jax.tree_util.tree_map(jnp.copy, model.params), shardings)
    carry = [params, optimizer.init(params)]
    hand = jax.jit(step, donate_argnums=(0, 1), out_shardings=(shardings, None, None))

    def run_hand(steps):
        for _ in range(steps):
            carry[0], carry[1], loss = hand(carry[0], carry[1], xs, ys)
        return loss

    return {"jkeras": timed(run_jkeras, steps), "hand": timed(run_hand, steps)}


def fit_runners(dist, batches):
    model = mlp()
    model.compile(optax.sgd(LR), "categorical_crossentropy", distribution=dist)
    x, y = data((784,), 512 * batches)
    step, optimizer = hand_step(hand_mlp)
    shardings = dist.shardings(model.params)
    carry = [jax.device_put(jax.tree_util.tree_map(jnp.copy, model.params), shardings)]
    carry.append(optimizer.init(carry[0]))
    hand = jax.jit(step, donate_argnums=(0, 1), out_shardings=(shardings, None, None))
    split = NamedSharding(dist.mesh, P("data"))

    def run_hand(_):
        loss = None
        for i in range(batches):  # host batches put on the mesh, as fit does
            xb, yb = (jax.device_put(a[i * 512:(i + 1) * 512], split) for a in (x, y))
            carry[0], carry[1], loss = hand(carry[0], carry[1], xb, yb)
        return loss

    def run_fit(_):
        model.fit(x, y, batch_size=512, shuffle=False, verbose=0)
        return model.params

    return {"jkeras": timed(run_fit, batches), "hand": timed(run_hand, batches)}


def param_bytes(params):
    """Bytes of weights held by device 0 (the most loaded one: all shards are equal)."""
    device = jax.devices()[0]
    return sum(s.data.nbytes for a in jax.tree_util.tree_leaves(params)
               for s in a.addressable_shards if s.device == device)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cpu-time", action="store_true",
                        help="time CPU seconds of this process (all threads) instead of wall "
                             "time: steadier on a machine shared with other work")
    args = parser.parse_args()
    if args.cpu_time:
        CLOCK[0] = time.process_time
    dp = sharding.DataParallel()
    layout = sharding.LayoutMap(sharding.mesh((2, 4), ("data", "model")))
    layout["dense(_1)?/kernel"] = (None, "model")  # hidden layers: columns split
    layout["dense(_1)?/bias"] = ("model",)
    layout["dense_2/kernel"] = ("model", None)     # the output layer: rows split
    mp = sharding.ModelParallel(layout)

    rows = []
    x, y = data((784,), 512)
    rows.append(("DataParallel train_step, MLP, batch 512", time_blocks(
        step_runners(mlp(), hand_mlp, dp, x, y, args.steps), args.rounds), 1.05))
    cx, cy = data((28, 28, 1), 128)
    rows.append(("DataParallel train_step, CNN, batch 128", time_blocks(
        step_runners(cnn(), hand_cnn, dp, cx, cy, args.steps), args.rounds), 1.05))
    rows.append(("DataParallel fit per step, MLP, batch 512", time_blocks(
        fit_runners(dp, args.steps), max(3, args.rounds // 3)), 1.05))
    mp_model = mlp()
    rows.append(("ModelParallel 2x4 train_step, MLP, batch 512", time_blocks(
        step_runners(mp_model, hand_mlp, mp, x, y, args.steps), args.rounds), 1.05))

    clock = "CPU" if args.cpu_time else "wall"
    print(f"jax {jax.__version__}, {len(jax.devices())} x {jax.devices()[0].device_kind}, "
          f"{args.rounds} interleaved rounds, medians, {clock} time")
    print(f"| case | jkeras {clock} us/step | hand-written {clock} us/step | ratio | target |")
    print("|---|---:|---:|---:|---:|")
    for case, times, target in rows:
        ta, tb, ratio = summary(times, "jkeras", "hand")
        print(f"| {case} | {ta * 1e6:.0f} | {tb * 1e6:.0f} | {ratio:.3f} | <= {target} "
              f"{'ok' if ratio <= target else 'MISSED'} |")
    replicated = dp.distribute(mp_model.params)
    split = mp.distribute(mp_model.params)
    print(f"\nMLP weights on device 0: replicated {param_bytes(replicated):,} bytes, "
          f"ModelParallel 2x4 {param_bytes(split):,} bytes "
          f"({param_bytes(split) / param_bytes(replicated):.2f}x)")


if __name__ == "__main__":
    main()
