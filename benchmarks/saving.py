"""Saving and loading a ~100 MB model: jkeras against Keras 3, same architecture, same run.

An MLP of 4 Dense(2560) layers (about 105 MB of float32 weights) is saved as a ``.keras``
file and loaded back, by jkeras and by Keras 3 (JAX backend), in interleaved rounds.
Reported: median save and load times and the median of the rounds' paired ratios
jkeras/Keras (goal <= 1; each round times both back to back), the file
size against the raw weight bytes (goal <= 1.05x), and the peak host memory a load
allocates (NumPy and Python objects, by ``tracemalloc``, in a separate pass so it does not
slow the timed ones) against the weight bytes (goal <= 1.2x). Device buffers, which hold
the loaded weights themselves, are not counted by ``tracemalloc``.

    python benchmarks/saving.py [--rounds 5] [--units 2560] [--layers 4]
"""
import os

os.environ["KERAS_BACKEND"] = "jax"

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

import jkeras  # noqa: E402


def models(units, depth):
    import keras
    ours = jkeras.Sequential([jkeras.layers.Dense(units, input_dim=units)
                              for _ in range(depth)])
    theirs = keras.Sequential([keras.Input((units,))] + [keras.layers.Dense(units)
                                                         for _ in range(depth)])
    theirs.set_weights(ours.get_weights())
    return ours, theirs, keras


def timed(fn):
    start = time.perf_counter()
    out = fn()
    jax.block_until_ready(jax.tree_util.tree_leaves(getattr(out, "params", None) or {}))
    return time.perf_counter() - start


def peak(fn):
    tracemalloc.start()
    fn()
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--units", type=int, default=2560)
    parser.add_argument("--layers", type=int, default=4)
    args = parser.parse_args()
    ours, theirs, keras = models(args.units, args.layers)
    raw = sum(w.nbytes for w in ours.get_weights())
    folder = tempfile.mkdtemp()
    ours_path, theirs_path = os.path.join(folder, "j.keras"), os.path.join(folder, "k.keras")
    cases = {
        "save": (lambda: ours.save(ours_path), lambda: theirs.save(theirs_path)),
        "load": (lambda: jkeras.models.load_model(ours_path),
                 lambda: keras.saving.load_model(theirs_path)),
    }
    times = {(case, who): [] for case in cases for who in ("jkeras", "keras")}
    for i in range(args.rounds + 1):  # the first round warms up (imports, compiles)
        for case, (mine, reference) in cases.items():
            pair = [("jkeras", mine), ("keras", reference)]
            for who, fn in pair if i % 2 else pair[::-1]:
                t = timed(fn)
                if i:
                    times[(case, who)].append(t)
    memory = {"jkeras": peak(cases["load"][0]), "keras": peak(cases["load"][1])}
    # the loaded files must agree with the models they came from
    x = np.random.default_rng(0).standard_normal((2, args.units)).astype("float32")
    np.testing.assert_allclose(jkeras.models.load_model(theirs_path).predict(x, verbose=0),
                               theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-4)

    print(f"jax {jax.__version__}, keras {keras.__version__}, {jax.default_backend()}; "
          f"{args.layers} x Dense({args.units}): {raw / 1e6:.1f} MB of weights; "
          f"{args.rounds} interleaved rounds, medians")
    print("| case | jkeras s | Keras 3 s | paired ratio | target |")
    print("|---|---:|---:|---:|---|")
    for case in cases:
        ours_t, theirs_t = times[(case, "jkeras")], times[(case, "keras")]
        a, b = statistics.median(ours_t), statistics.median(theirs_t)
        ratio = statistics.median(x / y for x, y in zip(ours_t, theirs_t))
        ok = "ok" if ratio <= 1.0 else "MISSED"
        print(f"| {case} .keras | {a:.3f} | {b:.3f} | {ratio:.2f} | <= 1.0 {ok} |")
    for who, path in (("jkeras", ours_path), ("keras", theirs_path)):
        size = os.path.getsize(path)
        ok = "ok" if size / raw <= 1.05 else "MISSED"
        print(f"| file bytes / weight bytes, {who} | {size / raw:.4f} | | | <= 1.05 "
              f"{ok if who == 'jkeras' else ''} |")
    for who in ("jkeras", "keras"):
        ok = "ok" if memory[who] / raw <= 1.2 else "MISSED"
        print(f"| load peak host memory / weight bytes, {who} | {memory[who] / raw:.3f} | | | "
              f"<= 1.2 {ok if who == 'jkeras' else ''} |")


if __name__ == "__main__":
    main()
