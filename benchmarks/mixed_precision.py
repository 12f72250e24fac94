"""Mixed precision: the small CNN's training step under each dtype policy, against float32.

The CNN of benchmarks/layers.py (28x28x1 -> Conv2D(32, 3) -> MaxPooling2D(2) ->
Conv2D(64, 3) -> MaxPooling2D(2) -> Flatten -> Dense(10), batch 64), one model per
policy with the same initial weights, compiled with Adam and sparse categorical
cross-entropy from logits; each step is the model's own pure ``train_step``, jitted with
its train state donated. ``mixed_float16`` runs under a ``LossScaleOptimizer``. Blocks
of steps alternate between the policies, the order turning round every round; the table
gives each policy's median time per step and the median of its per-round ratio to
float32. The first step's losses must agree with float32's to the low precision's
tolerance. XLA's CPU backend has no fast 16-bit convolutions or matmuls, so expect no
speed-up (and likely a slow-down) on CPU; on accelerators the same code runs in 16 bits.

    python benchmarks/mixed_precision.py            # ~1-2 minutes on 2 busy cores
    python benchmarks/mixed_precision.py --quick    # a smoke run (its ratios are noise)
    python benchmarks/mixed_precision.py [--rounds 20] [--steps 3]
"""
import argparse
import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import jkeras  # noqa: E402
from common import summary, time_blocks  # noqa: E402
from jkeras import layers, mixed_precision  # noqa: E402
from jkeras.losses import sparse_categorical_crossentropy  # noqa: E402
from jkeras.optimizers import Adam, LossScaleOptimizer  # noqa: E402

SHAPE = (64, 28, 28, 1)
POLICIES = ["float32", "mixed_bfloat16", "mixed_float16"]
TOLERANCE = {"float32": 0.0, "mixed_bfloat16": 2e-2, "mixed_float16": 2e-3}


def cnn(policy, weights):
    mixed_precision.set_global_policy(policy)
    try:
        model = jkeras.Sequential([
            layers.Conv2D(32, 3), layers.MaxPooling2D(2), layers.Conv2D(64, 3),
            layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(10)])
        model.build(SHAPE)
    finally:
        mixed_precision.set_global_policy("float32")
    if weights is not None:
        model.set_weights(weights)
    optimizer = Adam(1e-3)
    if policy == "mixed_float16":
        optimizer = LossScaleOptimizer(optimizer)
    model.compile(optimizer, lambda y, logits: sparse_categorical_crossentropy(
        y, logits, from_logits=True))
    return model


def runner(model, x, y, steps):
    """(runner timing ``steps`` steps, the first step's loss)."""
    step = jax.jit(model.train_step, donate_argnums=0)
    ts, logs = step(model.get_train_state(), x, y)  # compiles
    first = float(logs["loss"])
    carry = [ts]

    def run():
        ts = carry[0]
        start = time.perf_counter()
        for _ in range(steps):
            ts, logs = step(ts, x, y)
        jax.block_until_ready(logs)
        carry[0] = ts
        return (time.perf_counter() - start) / steps

    return run, first


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--steps", type=int, default=3, help="steps per timed block")
    parser.add_argument("--quick", action="store_true", help="4 rounds of 1 step")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.steps = 4, 1
    jkeras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random(SHAPE, dtype=np.float32)
    y = rng.integers(0, 10, SHAPE[0])
    runners, firsts, weights = {}, {}, None
    for policy in POLICIES:
        model = cnn(policy, weights)
        weights = model.get_weights()
        runners[policy], firsts[policy] = runner(model, x, y, args.steps)
    for policy in POLICIES:
        gap = abs(firsts[policy] - firsts["float32"])
        assert gap <= TOLERANCE[policy] * max(1.0, abs(firsts["float32"])), (policy, firsts)
    times = time_blocks(runners, args.rounds)
    print(f"jax {jax.__version__}, {jax.default_backend()}, {args.rounds} interleaved rounds "
          f"of {args.steps} steps, medians; ratio = median of per-round ratios to float32")
    print("| policy | compute dtype | first-step loss | ms per step | float32 ms | ratio |")
    print("|---|---|---:|---:|---:|---:|")
    for policy in POLICIES:
        mine, ref, ratio = summary(times, policy, "float32")
        compute = mixed_precision.DTypePolicy(policy).compute_dtype
        print(f"| {policy} | {compute} | {firsts[policy]:.4f} | {mine * 1e3:.2f} | "
              f"{ref * 1e3:.2f} | {ratio:.3f} |")


if __name__ == "__main__":
    main()
