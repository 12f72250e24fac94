"""jkeras' LSTM and convolution layers against the same models hand-written in JAX.

Interleaved in one run: blocks of training steps alternate between jkeras, the model
hand-written in plain JAX (and Keras 3's ``train_on_batch`` when keras is importable),
the order turning round every round. The table reports the median time per step of each
and, as the ratio, the median over rounds of the per-round ratio (both blocks of a round
see about the same machine load, so the ratio is steadier than a ratio of medians on a
busy machine). Both jitted steps are ``value_and_grad`` + optax Adam, donating their
buffers; the hand-written params are jkeras' initial weights and the loss is the same
formula, so the first-step losses must agree (to 1e-4), and the "same HLO" column says
whether XLA compiled the two steps to the same program (names and source locations
aside): if so, any ratio away from 1 is timing noise.

* LSTM(32) over (32, 20, 64) then Dense(10), softmax cross-entropy on random labels;
* the small CNN: 28x28x1 -> Conv2D(32, 3) -> MaxPooling2D(2) -> Conv2D(64, 3) ->
  MaxPooling2D(2) -> Flatten -> Dense(10), batch 64;
* LSTM compile time (lowering + XLA compile of the training step, a fresh ``jax.jit`` each
  time) at 20 and at 200 time steps: a ``lax.scan`` keeps it nearly flat. Wall time is
  the target; the process CPU time, steadier on a busy machine, is printed beside it.
  The same for ``RNN`` over a user-written cell (jkeras' pure form, Keras' MinimalRNNCell)
  stacked on an ``LSTMCell``: the generic path of ``RNN(cell)``, also one scan.

    python benchmarks/layers.py            # the full table, ~3-4 minutes on 2 busy cores
    python benchmarks/layers.py --quick    # a smoke run (~1.5 minutes; its ratios are noise)
    python benchmarks/layers.py [--rounds 30] [--steps 20] [--cnn-steps 2] [--compiles 3]
    python benchmarks/layers.py --hlo      # also the HLO op counts of the two steps
"""
import argparse
import collections
import os
import re
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")  # before anything can import keras

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import jkeras  # noqa: E402
from common import normalized_hlo, summary, time_blocks  # noqa: E402
from jkeras import layers  # noqa: E402
from jkeras.layers import LSTM  # noqa: E402
from jkeras.losses import sparse_categorical_crossentropy  # noqa: E402

try:
    import keras
except ImportError:
    keras = None

LR = 1e-3
START = time.perf_counter()


def progress(message):
    print(f"[{time.perf_counter() - START:6.1f}s] {message}", file=sys.stderr, flush=True)


LSTM_SHAPE = (32, 20, 64)  # batch, time steps, features
CNN_SHAPE = (64, 28, 28, 1)


# -- the models, hand-written ------------------------------------------------------------------
def hand_lstm(p, x):
    """Keras' LSTM (gates i, f, c, o; sigmoid/tanh), last output, as one scan over time."""
    xz = jnp.swapaxes(x, 0, 1) @ p["kernel"] + p["bias"]  # (time, batch, 4u): one matmul

    def cell(carry, xz_t):
        h, c = carry
        # One split, as jkeras does: its gradient is one concatenate. Four slices
        # z[:, :u], ... compute the same, but their gradient is four pads and three adds,
        # and that step measured 2-28% slower here: the reference should be the best version.
        i, f, g, o = jnp.split(xz_t + h @ p["recurrent_kernel"], 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), None

    zeros = jnp.zeros((x.shape[0], p["recurrent_kernel"].shape[0]), x.dtype)
    (h, _), _ = jax.lax.scan(cell, (zeros, zeros), xz)
    return h


def hand_dense(p, x):
    return x @ p["kernel"] + p["bias"]


def hand_lstm_model(params, x):
    return hand_dense(params["dense"], hand_lstm(params["lstm"], x))


def hand_conv(p, x):
    y = jax.lax.conv_general_dilated(x, p["kernel"], (1, 1), "VALID",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + p["bias"]


def hand_maxpool(x):
    # A NumPy (concrete) init value: a traced one would break differentiation.
    return jax.lax.reduce_window(x, np.array(-np.inf, x.dtype), jax.lax.max, (1, 2, 2, 1),
                                 (1, 2, 2, 1), "VALID")


def hand_cnn_model(params, x):
    h = hand_maxpool(hand_conv(params["conv2d"], x))
    h = hand_maxpool(hand_conv(params["conv2d_1"], h))
    return hand_dense(params["dense"], h.reshape(h.shape[0], -1))


# -- the models, in jkeras and Keras -------------------------------------------------------
def lstm_stack(lib):
    return [LSTM(32) if lib is layers else lib.LSTM(32), lib.Dense(10)]


class MinimalCell(layers.Layer):
    """Keras' MinimalRNNCell example in jkeras' pure form: h = tanh(x W + h U)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.state_size = units

    def build(self, rng, input_shape, states_shape=None):
        k1, k2 = jax.random.split(rng)
        units = self.state_size
        return {"kernel": jax.random.normal(k1, (input_shape[-1], units)) * 0.1,
                "recurrent_kernel": jax.random.normal(k2, (units, units)) * 0.1}, {}

    def call(self, params, state, inputs, states, *, training=False, rng=None):
        h = jnp.tanh(inputs @ params["kernel"] + states[0] @ params["recurrent_kernel"])
        return (h, [h]), state


def cell_stack(lib):
    return [layers.RNN([layers.LSTMCell(32), MinimalCell(32)]), layers.Dense(10)]


def cnn_stack(lib):
    return [lib.Conv2D(32, 3), lib.MaxPooling2D(2), lib.Conv2D(64, 3), lib.MaxPooling2D(2),
            lib.Flatten(), lib.Dense(10)]


# Paths of the hand-written params, in jkeras' get_weights() order (Keras' order too).
LSTM_PATHS = [("lstm", "kernel"), ("lstm", "recurrent_kernel"), ("lstm", "bias"),
              ("dense", "kernel"), ("dense", "bias")]
CNN_PATHS = [("conv2d", "kernel"), ("conv2d", "bias"), ("conv2d_1", "kernel"),
             ("conv2d_1", "bias"), ("dense", "kernel"), ("dense", "bias")]


def hand_params(weights, paths):
    """jkeras' initial weights, as the hand-written model's nested dict."""
    assert len(weights) == len(paths), (len(weights), paths)
    params = collections.defaultdict(dict)
    for w, (layer, name) in zip(weights, paths):
        params[layer][name] = jnp.asarray(w)
    return dict(params)


def jkeras_model(stack_fn, shape):
    jkeras.utils.clear_session()
    model = jkeras.Sequential(stack_fn(layers))
    model(jnp.zeros(shape, jnp.float32))  # builds
    return model


# -- training steps ----------------------------------------------------------------------------
def jk_loss(model):
    def loss(params, state, x, y):
        logits, state = model.apply(params, state, x, training=True)
        return jnp.mean(sparse_categorical_crossentropy(y, logits, from_logits=True)), state
    return loss


def hand_loss(forward):
    def loss(params, state, x, y):
        # The formula of jkeras' (and Keras') loss, so that only the layers may differ.
        log_probs = jax.nn.log_softmax(forward(params, x))
        return jnp.mean(-jnp.sum(jax.nn.one_hot(y, 10) * log_probs, axis=-1)), state
    return loss


def make_step(loss_fn, optimizer):
    """A fresh jitted training step: (params, state, opt_state, x, y) -> (..., loss)."""
    def step(params, state, opt_state, x, y):
        (value, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, state, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), state, opt_state, value

    return jax.jit(step, donate_argnums=(0, 1, 2))


def train_runner(loss_fn, params, state, x, y, steps):
    """(runner timing ``steps`` steps, the first step's loss, the compiled HLO text)."""
    optimizer = optax.adam(LR)
    step = make_step(loss_fn, optimizer)
    copy = lambda tree: jax.tree_util.tree_map(jnp.array, tree)  # donation eats buffers
    p, s = copy(params), copy(state)
    p, s, o, first = step(p, s, optimizer.init(p), x, y)  # compiles
    hlo = step.lower(p, s, o, x, y).compile().as_text()  # from jit's cache: no new compile
    carry = [p, s, o]

    def run():
        p, s, o = carry
        start = time.perf_counter()
        for _ in range(steps):
            p, s, o, loss = step(p, s, o, x, y)
        loss.block_until_ready()
        carry[:] = [p, s, o]
        return (time.perf_counter() - start) / steps

    return run, float(first), hlo


def keras_runner(stack_fn, weights, x, y, steps):
    """Keras 3's ``train_on_batch`` on the same model and weights, Adam, from logits."""
    keras.utils.clear_session()
    model = keras.Sequential([keras.Input(x.shape[1:])] + stack_fn(keras.layers))
    model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.Adam(LR),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = np.asarray(x), np.asarray(y)

    def run():
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)  # returns the loss as a Python float: it waits
        return (time.perf_counter() - start) / steps

    first = float(np.asarray(model.train_on_batch(x, y)))  # compiles
    return run, first


def op_counts(text):
    return collections.Counter(re.findall(r"= [^ ]+ ([a-z][a-z0-9-]*)\(", text))


def bench_train(what, stack_fn, forward, paths, shape, rounds, steps, with_keras, show_hlo):
    """Per-round seconds per step of jkeras, hand-written JAX (and Keras), and whether the
    jkeras and hand-written steps compiled to the same program."""
    model = jkeras_model(stack_fn, shape)
    weights = model.get_weights()
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal(shape, np.float32))
    y = jnp.asarray(rng.integers(0, 10, shape[0]), jnp.int32)
    runners, first, hlo = {}, {}, {}
    runners["jkeras"], first["jkeras"], hlo["jkeras"] = train_runner(
        jk_loss(model), model.params, model.state, x, y, steps)
    runners["hand"], first["hand"], hlo["hand"] = train_runner(
        hand_loss(forward), hand_params(weights, paths), {}, x, y, steps)
    if abs(first["jkeras"] - first["hand"]) > 1e-4:
        raise AssertionError(f"{what}: first-step losses differ: jkeras {first['jkeras']:.6f}, "
                             f"hand-written {first['hand']:.6f}; not the same computation")
    same = normalized_hlo(hlo["jkeras"]) == normalized_hlo(hlo["hand"])
    if show_hlo or not same:
        a, b = op_counts(hlo["jkeras"]), op_counts(hlo["hand"])
        diff = {op: (a[op], b[op]) for op in sorted(set(a) | set(b)) if a[op] != b[op]}
        print(f"{what}, compiled HLO: jkeras {sum(a.values())} instructions, hand-written "
              f"{sum(b.values())}; same program: {same}; op counts that differ "
              f"(jkeras, hand): {diff or 'none'}", file=sys.stderr)
    if with_keras:
        runners["keras"], first["keras"] = keras_runner(stack_fn, weights, x, y, steps)
        if abs(first["keras"] - first["hand"]) > 1e-4:
            print(f"note: {what}: Keras' first loss {first['keras']:.6f} differs from the "
                  f"hand-written {first['hand']:.6f}", file=sys.stderr)
    progress(f"{what}: first-step loss jkeras {first['jkeras']:.6f}, hand-written "
             f"{first['hand']:.6f}" + (f", keras {first['keras']:.6f}" if with_keras else "")
             + f"; same compiled program: {same}; timing")
    return time_blocks(runners, rounds), same


# -- compile time ------------------------------------------------------------------------------
def compile_timer(loss_fn, params, state, shape, cpu_times):
    """Times lowering + compile of a fresh jitted training step on abstract inputs: returns
    the wall time, and appends the process' CPU time (steadier on a busy machine, where the
    wall time also counts waiting for a core) to ``cpu_times``."""
    optimizer = optax.adam(LR)
    spec = lambda tree: jax.tree_util.tree_map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), tree)
    args = (spec(params), spec(state), jax.eval_shape(optimizer.init, params),
            jax.ShapeDtypeStruct(shape, jnp.float32), jax.ShapeDtypeStruct(shape[:1], jnp.int32))

    def run():
        step = make_step(loss_fn, optimizer)  # a new function: nothing cached from before
        start, cpu = time.perf_counter(), time.process_time()
        step.lower(*args).compile()
        cpu_times.append(time.process_time() - cpu)
        return time.perf_counter() - start

    return run


def bench_compile(repeats):
    """Per-round wall and CPU seconds of each (jkeras or hand, 20 or 200 steps) compile."""
    model = jkeras_model(lstm_stack, LSTM_SHAPE)
    cells = jkeras_model(cell_stack, LSTM_SHAPE)
    hand = hand_params(model.get_weights(), LSTM_PATHS)
    runners, cpu = {}, collections.defaultdict(list)
    for t in (20, 200):
        shape = (LSTM_SHAPE[0], t, LSTM_SHAPE[2])
        runners[f"jkeras {t}"] = compile_timer(jk_loss(model), model.params, model.state, shape,
                                               cpu[f"jkeras {t}"])
        runners[f"cells {t}"] = compile_timer(jk_loss(cells), cells.params, cells.state, shape,
                                              cpu[f"cells {t}"])
        runners[f"hand {t}"] = compile_timer(hand_loss(hand_lstm_model), hand, {}, shape,
                                             cpu[f"hand {t}"])
    return time_blocks(runners, repeats), cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--steps", type=int, default=20, help="LSTM steps per timed block")
    parser.add_argument("--cnn-steps", type=int, default=2, help="CNN steps per timed block")
    parser.add_argument("--compiles", type=int, default=3,
                        help="fresh compilations timed per compile-time case (median)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 4 rounds of 10 LSTM / 1 CNN steps, 1 compile each "
                        "(too few for the ratios to mean much on a busy machine)")
    parser.add_argument("--no-keras", action="store_true", help="skip Keras 3 even if present")
    parser.add_argument("--hlo", action="store_true",
                        help="also print the HLO op counts of the jkeras and hand-written steps")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.steps, args.cnn_steps, args.compiles = 4, 10, 1, 1
    with_keras = keras is not None and not args.no_keras
    if with_keras and keras.backend.backend() != "jax":
        print(f"note: keras runs on {keras.backend.backend()}, not jax: skipped", file=sys.stderr)
        with_keras = False

    rows = []
    for what, stack_fn, forward, paths, shape, steps in (
            (f"LSTM(32)+Dense(10) train step, {LSTM_SHAPE}", lstm_stack, hand_lstm_model,
             LSTM_PATHS, LSTM_SHAPE, args.steps),
            (f"CNN train step, batch {CNN_SHAPE[0]}", cnn_stack, hand_cnn_model, CNN_PATHS,
             CNN_SHAPE, args.cnn_steps)):
        t, same = bench_train(what, stack_fn, forward, paths, shape, args.rounds, steps,
                              with_keras, args.hlo)
        rows.append((what, "jit(model.apply)+optax", "hand-written JAX",
                     *summary(t, "jkeras", "hand"), "yes" if same else "NO", 1.05))
        if with_keras:
            rows.append((what, "Keras 3 train_on_batch", "hand-written JAX",
                         *summary(t, "keras", "hand"), "", None))
    progress("LSTM compile times")
    t, cpu = bench_compile(args.compiles)
    progress("done")
    case = "LSTM compile (lower+compile)"
    rows.append((f"{case}, 200 vs 20 steps", "jkeras, 200 steps", "jkeras, 20 steps",
                 *summary(t, "jkeras 200", "jkeras 20"), "", 1.5))
    rows.append((f"{case} CPU time, 200 vs 20 steps", "jkeras, 200 steps", "jkeras, 20 steps",
                 *summary(cpu, "jkeras 200", "jkeras 20"), "", None))
    cells = "RNN([LSTMCell, user cell]) compile (lower+compile)"
    rows.append((f"{cells}, 200 vs 20 steps", "jkeras, 200 steps", "jkeras, 20 steps",
                 *summary(t, "cells 200", "cells 20"), "", 1.5))
    rows.append((f"{cells} CPU time, 200 vs 20 steps", "jkeras, 200 steps", "jkeras, 20 steps",
                 *summary(cpu, "cells 200", "cells 20"), "", None))
    rows.append((f"{case}, 200 vs 20 steps", "hand-written, 200 steps", "hand-written, 20 steps",
                 *summary(t, "hand 200", "hand 20"), "", None))
    rows.append((f"{case}, 20 steps", "jkeras", "hand-written JAX",
                 *summary(t, "jkeras 20", "hand 20"), "", None))

    keras_note = f", keras {keras.__version__}" if with_keras else ", keras not timed"
    print(f"jax {jax.__version__}, {jax.devices()[0].device_kind}{keras_note}; "
          f"{args.rounds} interleaved rounds of {args.steps} (LSTM) / {args.cnn_steps} (CNN) "
          f"steps, {args.compiles} fresh compiles per compile-time case; medians, ratio = "
          f"median of per-round ratios")
    print("| case | measured | reference | measured ms | reference ms | ratio | same HLO | "
          "target |")
    print("|---|---|---|---:|---:|---:|:-:|---:|")
    for case, a, b, ta, tb, ratio, same, target in rows:
        verdict = ("(for reference)" if target is None
                   else f"<= {target} {'ok' if ratio <= target else 'MISSED'}")
        print(f"| {case} | {a} | {b} | {ta * 1e3:.3f} | {tb * 1e3:.3f} | {ratio:.3f} | {same} | "
              f"{verdict} |")


if __name__ == "__main__":
    main()
