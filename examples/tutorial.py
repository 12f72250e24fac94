"""The tutorial "Keras as a simplified interface to TensorFlow", parts I to IV, in jkeras.

Runs on the embedded digits data (scikit-learn's 8x8 digits), or on MNIST when its
files are in jkeras' dataset cache. Each step prints what the tutorial's step shows.
On a machine with a single CPU device, part III runs on 8 simulated CPU devices.

    python examples/tutorial.py [--dataset digits|mnist] [--epochs N]
"""
import argparse
import os
import tempfile
import time

if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    # Part III's replicas need several devices; on a CPU-only machine XLA simulates them.
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_force_host_platform_device_count=8").strip()

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jkeras
from jkeras import layers
from jkeras.losses import categorical_crossentropy
from jkeras.metrics import categorical_accuracy as accuracy


def load(name):
    """Flat float32 images in [0, 1] and one-hot labels, as the tutorial's ``input_data``."""
    module = jkeras.datasets.mnist if name == "mnist" else jkeras.datasets.digits
    (x_train, y_train), (x_test, y_test) = module.load_data()
    flat = lambda x: x.reshape(len(x), -1).astype("float32") / 255.0
    onehot = lambda y: jkeras.utils.to_categorical(y, 10)
    return (flat(x_train), onehot(y_train)), (flat(x_test), onehot(y_test))


def batches(x, y, batch_size, steps, seed):
    """``steps`` shuffled mini-batches, like ``mnist_data.train.next_batch(50)``."""
    order = np.random.default_rng(seed).permutation(len(x))
    for i in range(steps):
        if (i + 1) * batch_size > len(order):
            order = np.concatenate([order, np.random.default_rng(seed + i).permutation(len(x))])
        take = order[i * batch_size:(i + 1) * batch_size]
        yield x[take], y[take]


def train(net, params, state, data, steps, training, seed=0):
    """SGD(0.5) with optax on the layers' pytrees; the tutorial's ``train_step``."""
    optimizer = optax.sgd(0.5)
    opt_state = optimizer.init(params)

    @jax.jit
    def train_step(params, state, opt_state, img, labels, rng):
        def loss_fn(params):
            preds, new_state = net.apply(params, state, img, training=training, rng=rng)
            return jnp.mean(categorical_crossentropy(labels, preds)), new_state
        (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state)
        return optax.apply_updates(params, updates), state, opt_state, loss

    key = jax.random.key(seed)
    for i, (img, labels) in enumerate(batches(*data, 50, steps, seed)):
        params, state, opt_state, loss = train_step(params, state, opt_state, img, labels,
                                                    jax.random.fold_in(key, i))
        if i == 0:  # time the steps after the one that compiles
            loss.block_until_ready()
            start = time.perf_counter()
    loss.block_until_ready()
    return params, state, float(loss), (time.perf_counter() - start) / max(steps - 1, 1)


def evaluate(net, params, state, data):
    preds, _ = net.apply(params, state, data[0], training=False)
    return float(jnp.mean(accuracy(data[1], preds)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["auto", "digits", "mnist"], default="auto")
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    dataset = args.dataset
    if dataset == "auto":
        dataset = "mnist" if jkeras.datasets.mnist.available() else "digits"
    epochs = args.epochs or (2 if dataset == "mnist" else 10)
    jkeras.utils.set_random_seed(0)
    t0 = time.perf_counter()
    train_data, test_data = load(dataset)
    features, steps = train_data[0].shape[1], epochs * len(train_data[0]) // 50
    print(f"jkeras {jkeras.__version__} on {jax.devices()[0].platform}: {dataset}, "
          f"{len(train_data[0])} training and {len(test_data[0])} test images of {features} "
          f"features; {steps} SGD steps of 50")

    print("\n== I. Calling layers on arrays ==")
    d1 = layers.Dense(128, activation="relu")
    d2 = layers.Dense(128, activation="relu")
    d3 = layers.Dense(10, activation="softmax")
    img = jnp.asarray(train_data[0][:50])
    preds = d3(d2(d1(img)))  # layers called on a jax.Array build and run eagerly
    print(f"Dense(128)(img) on {img.shape} -> preds {preds.shape}; loss "
          f"{float(jnp.mean(categorical_crossentropy(train_data[1][:50], preds))):.3f}")
    net = jkeras.pure(lambda img: d3(d2(d1(img))))  # "Keras as a syntactic shortcut"
    params, state = net.init(jax.random.key(0), img)
    params, state, loss, step_s = train(net, params, state, train_data, steps, training=False)
    acc_plain = evaluate(net, params, state, test_data)
    optax_ms = 1e3 * step_s
    print(f"optax SGD(0.5), {steps} steps of {optax_ms:.3f} ms: last loss {loss:.3f}, "
          f"test accuracy {acc_plain:.4f}")

    print("\n== I. The Keras way: compile and fit with a built-in optimizer ==")
    keras_model = jkeras.Sequential([layers.Dense(128, activation="relu", input_dim=features),
                                     layers.Dense(128, activation="relu"),
                                     layers.Dense(10, activation="softmax")])
    keras_model.compile(optimizer=jkeras.optimizers.SGD(0.5),
                        loss="categorical_crossentropy", metrics=["accuracy"])
    epoch_ends = []  # step time from the epochs after the first (which compiles)
    timer = jkeras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: epoch_ends.append(time.perf_counter()))
    keras_model.fit(*train_data, batch_size=50, epochs=epochs, verbose=2, callbacks=[timer])
    fit_steps = max(epochs - 1, 1) * -(-len(train_data[0]) // 50)
    fit_ms = 1e3 * (epoch_ends[-1] - epoch_ends[0]) / fit_steps
    _, acc_fit = keras_model.evaluate(*test_data, verbose=0)
    print(f"jkeras.optimizers.SGD(0.5) with fit: test accuracy {acc_fit:.4f}, "
          f"{fit_ms:.3f} ms/step; optax SGD(0.5) loop above: {acc_plain:.4f}, "
          f"{optax_ms:.3f} ms/step (both after compiling)")

    print("\n== I. Different behaviours in training and testing ==")
    drop1, drop2 = layers.Dropout(0.5), layers.Dropout(0.5)
    e1, e2, e3 = (layers.Dense(128, activation="relu"), layers.Dense(128, activation="relu"),
                  layers.Dense(10, activation="softmax"))
    print(f"Dropout uses_training={drop1.uses_training}, Dense uses_training={e1.uses_training}")
    dnet = jkeras.pure(lambda img: e3(drop2(e2(drop1(e1(img))))))
    params, state = dnet.init(jax.random.key(1), img)
    params, state, loss, _ = train(dnet, params, state, train_data, 2 * steps,
                                         training=True, seed=1)
    acc_dropout = evaluate(dnet, params, state, test_data)
    print(f"trained with training=True (dropout on, rng per step), evaluated with "
          f"training=False: test accuracy {acc_dropout:.4f}")

    print("\n== I. Name scopes and device scopes ==")
    x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 20, 64)), jnp.float32)
    with jkeras.name_scope("block1"):
        lstm_layer = layers.LSTM(32, name="mylstm")
        y = lstm_layer(x)
    print(f"LSTM(32) weights: {[w.path for w in lstm_layer.weights]}")
    device = jax.devices()[-1]
    with jax.default_device(device):
        y = layers.LSTM(32)(x)
    print(f"under jax.default_device({device}): output on {set(y.devices())}")

    print("\n== I. Weight sharing by reuse ==")
    lstm = layers.LSTM(32)
    x_in, y_in = x, x[::-1]
    x_encoded, y_encoded = lstm(x_in), lstm(y_in)
    shared = jkeras.pure(lambda a, b: (lstm(a), lstm(b)))
    sp, _ = shared.init(jax.random.key(0), x_in, y_in)
    print(f"one LSTM called on two inputs -> {list(jkeras.state.flatten(sp))} "
          f"(one set of weights, {jkeras.state.count(sp):,} parameters)")

    print("\n== I. Collecting trainable weights and state updates ==")
    bn = layers.BatchNormalization()
    h = bn(img)  # builds
    out, updates = bn.apply(bn.params, bn.state, img, training=True)
    moved = float(jnp.abs(updates["moving_mean"] - bn.state["moving_mean"]).max())
    print(f"bn.apply(..., training=True) returns the updates as new state {list(updates)} "
          f"(moving_mean moved by up to {moved:.4f}); eager bn(x, training=True) writes it back")
    dense = layers.Dense(32)
    dense(img)
    print(f"Dense(32).trainable_weights: {[(w.path, w.shape) for w in dense.trainable_weights]}")

    print("\n== II. A Sequential model reused on new input with pre-trained weights ==")
    model = jkeras.Sequential([layers.Dense(32, activation="relu", input_dim=features),
                               layers.Dense(10, activation="softmax")])
    mp, ms, _, _ = train(model, model.params, model.state, train_data, steps, training=False)
    model.params = mp
    weights_file = os.path.join(tempfile.mkdtemp(), "pretrained.weights.npz")
    model.save_weights(weights_file)
    model = jkeras.Sequential([layers.Dense(32, activation="relu", input_dim=features),
                               layers.Dense(10, activation="softmax")])
    model.load_weights(weights_file)
    my_input = jnp.asarray(test_data[0])
    output = model(my_input)  # the tutorial's set_input + model.output
    acc_seq = float(jnp.mean(accuracy(test_data[1], output)))
    print(f"fresh Sequential + load_weights, called on the test images: {output.shape}, "
          f"test accuracy {acc_seq:.4f}")
    model.summary()

    print("\n== II. Calling a model like a layer ==")
    inp = jkeras.Input(shape=(features,))
    top = layers.Dense(10, activation="softmax")(layers.Dense(10)(model(inp)))
    bigger = jkeras.Model(inp, top)
    print(f"Model(inp, Dense(Dense(model(inp)))): {len(bigger.weights)} weights, "
          f"of which {len(model.weights)} are the reused model's: {model.path}/...")

    print("\n== III. Replicas on several devices that share weights ==")
    devices = jax.devices()[:2]
    preds = jkeras.sharding.replicas(model, test_data[0], devices, merge="concat")
    acc_replicas = float(jnp.mean(accuracy(test_data[1], preds)))
    print(f"one model, replicas on {[str(d) for d in devices]}, each on half the test "
          f"images, outputs concatenated: test accuracy {acc_replicas:.4f} (same weights: "
          f"{acc_replicas == acc_seq})")

    print("\n== III. Distributed (data-parallel) training ==")
    dp = jkeras.Sequential([layers.Dense(128, activation="relu", input_dim=features),
                            layers.Dense(10, activation="softmax")])
    dist = jkeras.sharding.DataParallel()
    dp.compile(optimizer=jkeras.optimizers.SGD(0.5), loss="categorical_crossentropy",
               metrics=["accuracy"], distribution=dist)
    batch = 8 * len(jax.devices())
    dp.fit(*train_data, batch_size=batch, epochs=epochs, verbose=0)
    _, acc_dp = dp.evaluate(*test_data, batch_size=batch, verbose=0)
    kernel = dp.layers[0].params["kernel"]
    print(f"DataParallel over {len(jax.devices())} devices (batch {batch} split on 'data', "
          f"weights replicated: {kernel.sharding.is_fully_replicated}): test accuracy "
          f"{acc_dp:.4f}")

    print("\n== IV. Exporting the model, frozen in inference mode ==")
    export_base = tempfile.mkdtemp()
    with jkeras.training_mode(True):  # the export is frozen whatever the default says
        artifact = os.path.join(export_base, "jax", "1")
        jkeras.serve.save(keras_model, artifact)
    served = jkeras.serve.load(artifact)
    gap = float(np.abs(served(test_data[0]) - keras_model.predict(test_data[0], verbose=0)).max())
    print(f"TF-free artifact (StableHLO + weights) at {artifact}: max difference to predict "
          f"{gap:.2e}; serve it with `python -m jkeras.serve --model_base_path "
          f"{os.path.dirname(artifact)} --model_name digits`")
    try:
        version_dir = jkeras.serve.export_saved_model(keras_model, os.path.join(export_base, "tf"))
    except ImportError as err:
        print(f"SavedModel for TensorFlow Serving skipped: {err}")
    else:
        import tensorflow as tf
        serving = tf.saved_model.load(version_dir).signatures["serving_default"]
        (name,) = serving.structured_input_signature[1]
        out = next(iter(serving(**{name: tf.constant(test_data[0])}).values())).numpy()
        acc_tf = float(jnp.mean(accuracy(test_data[1], out)))
        print(f"SavedModel for TF Serving at {version_dir}: reloaded with TensorFlow, test "
              f"accuracy {acc_tf:.4f} (fit's model: {acc_fit:.4f})")

    total = time.perf_counter() - t0
    print(f"\nTest accuracy (MLP 128-128-10, optax SGD 0.5): {acc_plain:.4f}; compile/fit "
          f"with jkeras SGD 0.5: {acc_fit:.4f}; with dropout {acc_dropout:.4f}; reloaded "
          f"Sequential {acc_seq:.4f}; data parallel {acc_dp:.4f}. Total time {total:.1f}s.")
    target = 0.97 if dataset == "mnist" else 0.95
    if min(acc_plain, acc_fit) < target:
        raise SystemExit(f"test accuracy {min(acc_plain, acc_fit):.4f} is below the target "
                         f"{target}")


if __name__ == "__main__":
    main()
