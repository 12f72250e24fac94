"""jkeras against hand-written JAX: the tutorial MLP's training step, ``train_on_batch``
and eager call; and the same MLPs written as Keras-style layers (``add_weight`` + ``call``)
against the built-in layers.

Interleaved in one run: blocks of steps alternate between the two implementations
(the order turns round each round); the table reports the median time per step of each,
the median of the per-round ratios, and whether XLA compiled the two training steps to the
same program (instructions compared without names and metadata).

``train_on_batch`` returns the loss as a Python float, so it waits for each step: its
reference is the model's own ``train_step`` jitted with the train state donated, its loss
read back with ``float`` after each step; the ratio is the per-call host overhead.

``--host-cpu`` times that row by the calling thread's CPU time instead (``time.thread_time``:
the host work per call, steadier than wall time on a shared machine).

    python benchmarks/train_step.py [--rounds 30] [--steps 50] [--host-cpu]
"""
import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jkeras
from common import normalized_hlo, summary, time_blocks
from jkeras import layers
from jkeras.losses import categorical_crossentropy

EPS = 1e-7


def hand_cce(labels, preds):
    # The same formula Keras (and jkeras) use for probabilities.
    preds = preds / jnp.sum(preds, axis=-1, keepdims=True)
    return -jnp.sum(labels * jnp.log(jnp.clip(preds, EPS, 1 - EPS)), axis=-1)


def hand_dense(p, x):
    return x @ p["kernel"] + p["bias"]


def hand_mlp(params, state, x, training, rng):
    h = jax.nn.relu(hand_dense(params["dense"], x))
    h = jax.nn.relu(hand_dense(params["dense_1"], h))
    return jax.nn.softmax(hand_dense(params["dense_2"], h)), state


def hand_bn(p, s, x, momentum=0.99, eps=1e-3):
    mean, var = jnp.mean(x, 0), jnp.var(x, 0)
    s = {"moving_mean": s["moving_mean"] * momentum + mean * (1 - momentum),
         "moving_variance": s["moving_variance"] * momentum + var * (1 - momentum)}
    return (x - mean) * (jax.lax.rsqrt(var + eps) * p["gamma"]) + p["beta"], s


def hand_dropout(rng, x, rate=0.5):
    keep = jax.random.bernoulli(rng, 1 - rate, x.shape)
    return jnp.where(keep, x / (1 - rate), 0.0)


def hand_mlp_bn(params, state, x, training, rng):
    h = jax.nn.relu(hand_dense(params["dense"], x))
    h = hand_dropout(jax.random.fold_in(rng, 1), h)
    h, s1 = hand_bn(params["batch_normalization"], state["batch_normalization"], h)
    h = jax.nn.relu(hand_dense(params["dense_1"], h))
    h = hand_dropout(jax.random.fold_in(rng, 2), h)
    h, s2 = hand_bn(params["batch_normalization_1"], state["batch_normalization_1"], h)
    out = jax.nn.softmax(hand_dense(params["dense_2"], h))
    return out, {"batch_normalization": s1, "batch_normalization_1": s2}


def mlp(with_bn):
    jkeras.utils.clear_session()
    stack = [layers.Dense(128, activation="relu", input_dim=784)]
    if with_bn:
        stack += [layers.Dropout(0.5), layers.BatchNormalization()]
    stack += [layers.Dense(128, activation="relu")]
    if with_bn:
        stack += [layers.Dropout(0.5), layers.BatchNormalization()]
    return jkeras.Sequential(stack + [layers.Dense(10, activation="softmax")])


class KerasDense(layers.Layer):
    """Dense written the Keras way."""

    def __init__(self, units, activation=None):
        super().__init__()
        self.units, self.activation = units, jkeras.activations.get(activation)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units))
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        return self.activation(inputs @ self.kernel + self.bias)


class KerasDropout(layers.Layer):
    def __init__(self, rate):
        super().__init__()
        self.rate, self.seed_generator = rate, jkeras.random.SeedGenerator(0)

    def call(self, inputs, training=False):
        if training:
            return jkeras.random.dropout(inputs, self.rate, seed=self.seed_generator)
        return inputs


class KerasBatchNorm(layers.Layer):
    """BatchNormalization's training-mode math with assigned moving statistics."""

    def build(self, input_shape):
        n = input_shape[-1]
        self.gamma = self.add_weight(shape=(n,), initializer="ones")
        self.beta = self.add_weight(shape=(n,), initializer="zeros")
        self.moving_mean = self.add_weight(shape=(n,), initializer="zeros", trainable=False)
        self.moving_variance = self.add_weight(shape=(n,), initializer="ones", trainable=False)

    def call(self, x, training=False):
        if not training:
            mean, var = self.moving_mean.value, self.moving_variance.value
        else:
            mean, var = jnp.mean(x, 0), jnp.var(x, 0)
            self.moving_mean.assign(self.moving_mean * 0.99 + mean * 0.01)
            self.moving_variance.assign(self.moving_variance * 0.99 + var * 0.01)
        return (x - mean) * (jax.lax.rsqrt(var + 1e-3) * self.gamma) + self.beta


def keras_style_mlp(with_bn):
    stack = [jkeras.Input((784,)), KerasDense(128, "relu")]
    if with_bn:
        stack += [KerasDropout(0.5), KerasBatchNorm()]
    stack += [KerasDense(128, "relu")]
    if with_bn:
        stack += [KerasDropout(0.5), KerasBatchNorm()]
    return jkeras.Sequential(stack + [KerasDense(10, "softmax")])


def make_step(forward, loss_fn, training):
    optimizer = optax.sgd(0.5)

    def step(params, state, opt_state, x, y, rng):
        def loss(params):
            preds, new_state = forward(params, state, x, training, rng)
            return jnp.mean(loss_fn(y, preds)), new_state
        (value, state), grads = jax.value_and_grad(loss, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state)
        return optax.apply_updates(params, updates), state, opt_state, value

    return jax.jit(step, donate_argnums=(0, 1, 2)), optimizer


def train_runner(step, optimizer, params, state, x, y, steps):
    carry = [jax.tree_util.tree_map(jnp.array, params), jax.tree_util.tree_map(jnp.array, state)]
    carry.append(optimizer.init(carry[0]))
    rng = jax.random.key(0)

    def run():
        p, s, o = carry
        start = time.perf_counter()
        for _ in range(steps):
            p, s, o, loss = step(p, s, o, x, y, rng)
        loss.block_until_ready()
        carry[:] = [p, s, o]
        return (time.perf_counter() - start) / steps

    run()  # compile
    p, s, o = carry
    return run, step.lower(p, s, o, x, y, rng).compile().as_text()  # from jit's cache


def bench_train(with_bn, batch, rounds, steps):
    model = mlp(with_bn)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.random((batch, 784), np.float32))
    y = jnp.asarray(np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)])
    jk_forward = lambda p, s, x, training, rng: model.apply(p, s, x, training=training, rng=rng)
    hand_forward = hand_mlp_bn if with_bn else hand_mlp
    runners, programs = {}, {}
    for name, forward, loss in (("jkeras", jk_forward, categorical_crossentropy),
                                ("hand", hand_forward, hand_cce)):
        step, opt = make_step(forward, loss, training=with_bn)
        runners[name], hlo = train_runner(step, opt, model.params, model.state, x, y, steps)
        programs[name] = normalized_hlo(hlo)
    return time_blocks(runners, rounds), programs["jkeras"] == programs["hand"]


def bench_keras_style(with_bn, batch, rounds, steps):
    """The same MLP from Keras-style layers (weights copied) against the built-in ones."""
    builtin = mlp(with_bn)
    keras_style = keras_style_mlp(with_bn)
    keras_style.set_weights(builtin.get_weights())
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.random((batch, 784), np.float32))
    y = jnp.asarray(np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)])
    np.testing.assert_allclose(keras_style(x), builtin(x), rtol=1e-5, atol=1e-6)
    runners, programs = {}, {}
    for name, model in (("keras-style", keras_style), ("built-in", builtin)):
        forward = lambda p, s, x, training, rng, m=model: m.apply(p, s, x, training=training,
                                                                  rng=rng)
        step, opt = make_step(forward, categorical_crossentropy, training=with_bn)
        runners[name], hlo = train_runner(step, opt, model.params, model.state, x, y, steps)
        programs[name] = normalized_hlo(hlo)
    return time_blocks(runners, rounds), programs["keras-style"] == programs["built-in"]


def bench_eager(rounds, calls):
    model = mlp(False)
    x = jnp.asarray(np.random.default_rng(0).random((50, 784), np.float32))
    p = model.params

    def by_hand(x):  # op by op, no jit: what a user would write in plain jax.numpy
        h = jnp.maximum(x @ p["dense"]["kernel"] + p["dense"]["bias"], 0)
        h = jnp.maximum(h @ p["dense_1"]["kernel"] + p["dense_1"]["bias"], 0)
        return jax.nn.softmax(h @ p["dense_2"]["kernel"] + p["dense_2"]["bias"])

    np.testing.assert_allclose(model(x), by_hand(x), rtol=1e-5, atol=1e-6)

    def runner(fn):
        def run():
            start = time.perf_counter()
            for _ in range(calls):
                out = fn(x)
            out.block_until_ready()
            return (time.perf_counter() - start) / calls
        run()
        return run

    return time_blocks({"jkeras": runner(model), "hand": runner(by_hand)}, rounds), "-"


def bench_train_on_batch(rounds, calls, clock=time.perf_counter):
    model = mlp(False)
    model.compile(jkeras.optimizers.SGD(0.5), "categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((50, 784), np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 50)]
    step = jax.jit(model.train_step, donate_argnums=0)
    carry = [model.get_train_state()]

    def raw():
        ts = carry[0]
        start = clock()
        for _ in range(calls):
            ts, logs = step(ts, x, y)
            float(logs["loss"])
        carry[0] = ts
        return (clock() - start) / calls

    def on_batch():
        start = clock()
        for _ in range(calls):
            model.train_on_batch(x, y)
        return (clock() - start) / calls

    raw(), on_batch()  # compile
    return time_blocks({"jkeras": on_batch, "hand": raw}, rounds), "-"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--host-cpu", action="store_true",
                        help="time the train_on_batch row by the calling thread's CPU time")
    args = parser.parse_args()
    rows = []
    for with_bn, target in ((False, 1.03), (True, 1.05)):
        for batch in (50, 512):
            times, same = bench_train(with_bn, batch, args.rounds, args.steps)
            what = "train step, Dropout+BatchNorm" if with_bn else "train step"
            rows.append((f"{what}, batch {batch}", "jit(model.apply)+optax", "hand-written JAX",
                         times, same, target))
    times, same = bench_train_on_batch(args.rounds, args.steps,
                                       time.thread_time if args.host_cpu else time.perf_counter)
    rows.append((f"train_on_batch, batch 50{', host CPU' if args.host_cpu else ''}",
                 "model.train_on_batch",
                 "jit(train_step) + float(loss)", times, same,
                 None if args.host_cpu else 1.15))  # host CPU: no device time to compare
    times, same = bench_eager(args.rounds, args.steps * 4)
    rows.append(("eager model(x), batch 50", "model(x)", "jnp op by op, no jit", times, same,
                 1.3))
    for with_bn in (False, True):
        for batch in (50, 512):
            times = bench_keras_style(with_bn, batch, args.rounds, args.steps)
            times = ({"jkeras": times[0]["keras-style"], "hand": times[0]["built-in"]}, times[1])
            what = "Keras-style layers, Dropout+BatchNorm" if with_bn else "Keras-style layers"
            rows.append((f"train step, {what}, batch {batch}", "add_weight + call",
                         "built-in layers", *times, 1.03))
    print(f"jax {jax.__version__}, {jax.devices()[0].device_kind}, {args.rounds} interleaved "
          f"rounds, medians")
    print("| case | jkeras | reference | jkeras us | reference us | ratio | target | "
          "same program |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    for case, a, b, times, same, target in rows:
        ta, tb, ratio = summary(times, "jkeras", "hand")
        print(f"| {case} | {a} | {b} | {ta * 1e6:.1f} | {tb * 1e6:.1f} | {ratio:.3f} | "
              f"{'-' if target is None else f'<= {target}'}"
              f"{'' if target is None else ' ok' if ratio <= target else ' MISSED'} | {same} |")


if __name__ == "__main__":
    main()
