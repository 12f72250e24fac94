"""jkeras' built-in optimizers against their optax counterparts: jitted training-step time.

For every optimizer with an optax counterpart, on the tutorial MLP (784-128-128-10,
softmax cross-entropy, batch 50 and 512) and a deeper MLP (8 Dense layers of 512,
batch 50), this times one jitted, buffer-donating training step (loss gradient +
optimizer update + apply) with the jkeras optimizer and with optax's. The two run
interleaved in one process: alternate blocks of steps (which one goes first alternates
too), the median step time per block; the ratio is the median over pairs of adjacent
blocks. The same ratio of process CPU time (all threads) is printed too: on a machine
shared with other work it is much steadier than wall time. It also trains both for 100
steps from the same start on the same batches and prints the largest parameter
difference where the two formulas agree (docs/optimizers.md says where and why they do
not), next to the difference between two optax runs whose starts differ by about one
ulp: float rounding grows chaotically in training, and that is the floor a "same
formula" difference should be compared with.

    python benchmarks/optimizers.py             # the full table: ~4 min of CPU on 2 cores
    python benchmarks/optimizers.py --quick     # a smoke run
"""
import argparse
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from common import normalized_hlo  # noqa: E402
from jkeras import optimizers  # noqa: E402

# label -> (jkeras optimizer, optax counterpart with Keras' hyperparameters, formulas agree)
CASES = {
    "sgd": (lambda: optimizers.SGD(), lambda: optax.sgd(0.01), True),
    "sgd+momentum": (lambda: optimizers.SGD(momentum=0.9),
                     lambda: optax.sgd(0.01, momentum=0.9), True),
    "sgd nesterov": (lambda: optimizers.SGD(momentum=0.9, nesterov=True),
                     lambda: optax.sgd(0.01, momentum=0.9, nesterov=True), True),
    "adam": (lambda: optimizers.Adam(), lambda: optax.adam(1e-3, eps=1e-7), False),
    "adamw": (lambda: optimizers.AdamW(),
              lambda: optax.adamw(1e-3, eps=1e-7, weight_decay=0.004), False),
    "rmsprop": (lambda: optimizers.RMSprop(), lambda: optax.rmsprop(1e-3, eps=1e-7), True),
    "adagrad": (lambda: optimizers.Adagrad(), lambda: optax.adagrad(1e-3), True),
    "adamax": (lambda: optimizers.Adamax(), lambda: optax.adamax(1e-3, eps=1e-7), False),
    "nadam": (lambda: optimizers.Nadam(), lambda: optax.nadam(1e-3, eps=1e-7), False),
    "lion": (lambda: optimizers.Lion(), lambda: optax.lion(1e-3, weight_decay=0.0), True),
    "adadelta": (lambda: optimizers.Adadelta(),
                 lambda: optax.adadelta(1e-3, rho=0.95, eps=1e-7), True),
}
MODELS = {"mlp": [784, 128, 128, 10], "deep mlp": [784] + [512] * 8 + [10]}
SETTINGS = [("mlp", 50), ("mlp", 512), ("deep mlp", 50)]


def init_mlp(key, sizes):
    """Glorot-uniform kernels, zero biases: {"dense_i": {"kernel", "bias"}}."""
    params = {}
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        key, sub = jax.random.split(key)
        limit = np.sqrt(6.0 / (n_in + n_out))
        params[f"dense_{i}"] = {
            "kernel": jax.random.uniform(sub, (n_in, n_out), jnp.float32, -limit, limit),
            "bias": jnp.zeros((n_out,), jnp.float32)}
    return params


def loss_fn(params, x, y):
    layers = [params[f"dense_{i}"] for i in range(len(params))]
    for layer in layers[:-1]:
        x = jax.nn.relu(x @ layer["kernel"] + layer["bias"])
    logits = x @ layers[-1]["kernel"] + layers[-1]["bias"]
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


def make_step(opt, is_jkeras):
    def step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        if is_jkeras:
            params, opt_state = opt.apply(grads, opt_state, params)
        else:
            updates, opt_state = opt.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
        return params, opt_state, loss

    return jax.jit(step, donate_argnums=(0, 1))


def copy(tree):
    return jax.tree_util.tree_map(jnp.copy, tree)


def run_block(step, carry, x, y, n):
    """Runs n steps, timing each; returns the carry, the median wall time of a step and
    the process CPU time (all threads) per step."""
    params, state = carry
    times = []
    cpu_start = time.process_time()
    for _ in range(n):
        start = time.perf_counter()
        params, state, loss = jax.block_until_ready(step(params, state, x, y))
        times.append(time.perf_counter() - start)
    # The median shrugs off the odd step slowed by another process on the machine; CPU
    # time, which waiting for a core does not add to, is steadier still on a busy one.
    return (params, state), statistics.median(times), (time.process_time() - cpu_start) / n


def max_diff(a, b):
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
               for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def train(step, opt, init, batches, n):
    params, state = copy(init), opt.init(copy(init))
    for i in range(n):
        params, state, _ = step(params, state, *batches[i % len(batches)])
    return params


def compare(label, model, batch, args):
    make_jk, make_ox, agree = CASES[label]
    jk_opt, ox_opt = make_jk(), make_ox()
    steps = {"jkeras": make_step(jk_opt, True), "optax": make_step(ox_opt, False)}
    init = init_mlp(jax.random.PRNGKey(0), MODELS[model])
    rng = np.random.default_rng(0)
    batches = [(jnp.asarray(rng.normal(size=(batch, 784)), jnp.float32),
                jnp.asarray(rng.integers(0, 10, size=batch), jnp.int32)) for _ in range(10)]

    # 100 steps from the same start on the same batches (where the formulas agree, or
    # if asked). Rounding differences grow chaotically in training, so the same is done
    # for optax against itself from a start moved by ~1 ulp: the noise floor to compare to.
    diff = floor = None
    if agree or args.show_all_diffs:
        ours = train(steps["jkeras"], jk_opt, init, batches, args.diff_steps)
        theirs = train(steps["optax"], ox_opt, init, batches, args.diff_steps)
        nudged = jax.tree_util.tree_map(lambda p: p * (1 + 1e-7), init)
        floor = max_diff(theirs, train(steps["optax"], ox_opt, nudged, batches,
                                       args.diff_steps))
        diff = max_diff(ours, theirs)

    carries = {"jkeras": (copy(init), jk_opt.init(copy(init))),
               "optax": (copy(init), ox_opt.init(copy(init)))}
    x, y = batches[0]
    per_block = max(1, args.steps // args.blocks)
    for name in carries:  # compiles (if not yet) and warms up: untimed
        carries[name], *_ = run_block(steps[name], carries[name], x, y, per_block)
    same = len({tuple(normalized_hlo(steps[name].lower(*carries[name], x, y).compile().as_text()))
                for name in carries}) == 1
    times = {"jkeras": [], "optax": []}
    cpu = {"jkeras": [], "optax": []}
    for block in range(args.blocks):
        order = ("jkeras", "optax") if block % 2 == 0 else ("optax", "jkeras")
        for name in order:
            carries[name], t, c = run_block(steps[name], carries[name], x, y, per_block)
            times[name].append(t)
            cpu[name].append(c)
    # Ratios per pair of adjacent blocks, so that slow drifts of the machine cancel.
    ratio, cpu_ratio = (statistics.median(a / b for a, b in zip(d["jkeras"], d["optax"]))
                        for d in (times, cpu))
    jk, ox = (statistics.median(times[n]) * 1e6 for n in ("jkeras", "optax"))
    return jk, ox, ratio, cpu_ratio, same, diff, floor, agree


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100,
                        help="timed steps per implementation and setting (default 100)")
    parser.add_argument("--blocks", type=int, default=10,
                        help="interleaved blocks the timed steps are split into (default 10)")
    parser.add_argument("--diff-steps", type=int, default=100,
                        help="training steps before comparing parameters (default 100)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 40 timed steps in 4 blocks, 20 steps before diffs")
    parser.add_argument("--only", default="",
                        help="comma-separated optimizer labels, e.g. 'adam,sgd'")
    parser.add_argument("--show-all-diffs", action="store_true",
                        help="print the parameter difference where the formulas differ too")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.blocks, args.diff_steps = 40, 4, 20
    labels = [s.strip() for s in args.only.split(",") if s.strip()] or list(CASES)
    unknown = set(labels) - set(CASES)
    if unknown:
        parser.error(f"unknown optimizer(s) {sorted(unknown)}; choose from {list(CASES)}")

    print(f"# jax {jax.__version__}, optax {optax.__version__}, {jax.devices()[0].platform}, "
          f"{os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}")
    print(f"# {args.steps} timed steps per implementation in {args.blocks} interleaved blocks; "
          f"us/step: median over blocks of the blocks' median step time; ratios: median over "
          f"block pairs; params compared after {args.diff_steps} steps; load average "
          f"{os.getloadavg()[0]:.1f} at start")
    header = ("optimizer", "model", "batch", "jkeras us/step", "optax us/step", "ratio",
              "CPU-time ratio", "same program",
              f"max param diff after {args.diff_steps} steps",
              "optax vs optax, 1-ulp start")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    ratios, cpu_ratios = [], []
    for label in labels:
        for model, batch in SETTINGS:
            jk, ox, ratio, cpu_ratio, same, diff, floor, agree = compare(label, model, batch,
                                                                         args)
            ratios.append(ratio)
            cpu_ratios.append(cpu_ratio)
            shown = f"{diff:.1e}" if agree else "differs (see docs)"
            if not agree and diff is not None:
                shown += f": {diff:.1e}"
            floor = "" if floor is None else f"{floor:.1e}"
            print(f"| {label} | {model} | {batch} | {jk:.1f} | {ox:.1f} | {ratio:.2f} | "
                  f"{cpu_ratio:.2f} | {'yes' if same else 'no'} | {shown} | {floor} |", flush=True)
    for name, values in (("ratio", ratios), ("CPU-time ratio", cpu_ratios)):
        print(f"# {name} jkeras/optax: median {statistics.median(values):.3f}, "
              f"min {min(values):.3f}, max {max(values):.3f}")


if __name__ == "__main__":
    main()
