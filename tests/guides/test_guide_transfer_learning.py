"""Keras 3 guide "Transfer learning & fine-tuning" (keras.io/guides/transfer_learning), run
on jkeras.

The guide's code with ``keras`` replaced by ``jkeras``: the weight counts of ``Dense`` and
``BatchNormalization`` (built with ``layer.build(input_shape)``), ``trainable = False``
moving weights to the non-trainable ones, a frozen layer unchanged by ``fit`` (bit for bit),
the recursive setting of ``trainable``, and the typical workflow and the end-to-end
example: freeze a base model, put a new head on ``base_model(inputs, training=False)``,
train, unfreeze, recompile with a low learning rate, fine-tune. A small functional
convolutional model with a ``BatchNormalization`` stands in for Xception (its "pre-trained"
weights are set from random numbers, moving variance positive), small synthetic images for
cats vs. dogs.

Checked against Keras 3 running the same model from the same weights on the same batches
(``shuffle=False``): the weights after the frozen round and after fine-tuning, and the
counts of trainable and non-trainable weights and parameters, frozen and unfrozen. Keras 3
lets ``fit``'s ``training=True`` override the ``training=False`` the guide passes to the base
model (keras-team/keras#20285), so its fine-tuning would update the BatchNormalization
statistics the guide says stay put; the Keras reference holds that layer in inference mode
with a subclass, which is what the guide describes and jkeras does. Checked against
the guide's own claims: frozen weights unchanged bit for bit, BatchNormalization's moving
statistics unchanged while frozen and, after unfreezing, while the base runs in inference
mode (its gamma and beta do train then). The custom-loop section is run in JAX's form
(``jax.grad`` of the pure ``apply`` over ``model.params``, which holds exactly the
trainable weights).

Not run: ``keras.applications.Xception`` and the TFDS download (stood in for above),
matplotlib plots, and the ``RandomFlip``/``RandomRotation`` augmentation of the end-to-end
example, since jkeras has no image-augmentation layers (the model is the guide's without
its ``data_augmentation`` block).
"""
import jax
import numpy as np
import optax
import pytest

import jkeras

RNG = np.random.default_rng(0)


def counts(layer):
    return len(layer.weights), len(layer.trainable_weights), len(layer.non_trainable_weights)


def param_counts(model):
    size = lambda ws: sum(int(np.prod(w.shape)) for w in ws)
    return (len(model.trainable_weights), len(model.non_trainable_weights),
            size(model.trainable_weights), size(model.non_trainable_weights))


# --- Freezing layers: understanding the `trainable` attribute -------------------------------


def test_weight_counts_of_dense_and_batchnorm(keras):
    got, want = [], []
    for k, out in ((jkeras, got), (keras, want)):
        layer = k.layers.Dense(3)
        layer.build((None, 4))  # Create the weights
        out.append(counts(layer))
        layer = k.layers.BatchNormalization()
        layer.build((None, 4))
        out.append(counts(layer))
        layer = k.layers.Dense(3)
        layer.build((None, 4))
        layer.trainable = False  # Freeze the layer
        out.append(counts(layer))
    assert got == want == [(2, 2, 0), (4, 2, 2), (2, 0, 2)]   # as the guide prints


def test_a_frozen_layer_is_not_updated_by_fit():
    keras = jkeras
    # Make a model with 2 layers
    layer1 = keras.layers.Dense(3, activation="relu")
    layer2 = keras.layers.Dense(3, activation="sigmoid")
    model = keras.Sequential([keras.Input(shape=(3,)), layer1, layer2])

    # Freeze the first layer
    layer1.trainable = False

    # Keep a copy of the weights of layer1 for later reference
    initial_layer1_weights_values = layer1.get_weights()
    initial_layer2_weights_values = layer2.get_weights()

    # Train the model
    model.compile(optimizer="adam", loss="mse")
    model.fit(RNG.random((2, 3)), RNG.random((2, 3)), verbose=0)

    # Check that the weights of layer1 have not changed during training
    final_layer1_weights_values = layer1.get_weights()
    for initial, final in zip(initial_layer1_weights_values, final_layer1_weights_values,
                              strict=True):
        np.testing.assert_array_equal(initial, final)   # bit for bit
    # ...while the layer on top did train (its bias: its kernel's gradient is zero where
    # the frozen ReLUs happen to output zeros)
    assert np.any(initial_layer2_weights_values[1] != layer2.get_weights()[1])


def test_trainable_is_set_recursively():
    keras = jkeras
    inner_model = keras.Sequential([
        keras.Input(shape=(3,)),
        keras.layers.Dense(3, activation="relu"),
        keras.layers.Dense(3, activation="relu"),
    ])
    model = keras.Sequential([
        keras.Input(shape=(3,)),
        inner_model,
        keras.layers.Dense(3, activation="sigmoid"),
    ])

    model.trainable = False  # Freeze the outer model

    assert inner_model.trainable == False  # All layers in `model` are now frozen  # noqa: E712
    assert inner_model.layers[0].trainable == False  # propagated recursively  # noqa: E712
    assert model.layers[-1].trainable == False  # noqa: E712
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 6


# --- The typical transfer-learning workflow -------------------------------------------------


def make_base_model(keras, batch_norm=None):
    """Stands in for ``keras.applications.Xception(include_top=False)``."""
    inputs = keras.Input(shape=(8, 8, 3))
    x = keras.layers.Conv2D(4, 3, use_bias=False)(inputs)
    x = (batch_norm or keras.layers.BatchNormalization)()(x)
    x = keras.layers.Activation("relu")(x)
    outputs = keras.layers.Conv2D(5, 3, activation="relu")(x)
    return keras.Model(inputs, outputs, name="base")


def pretrained_weights(model):
    """Random "pre-trained" weights for the base model, the variance positive."""
    weights = [RNG.normal(0, 0.5, w.shape).astype("float32") for w in model.weights]
    for i, w in enumerate(model.weights):
        if "variance" in w.path:
            weights[i] = RNG.uniform(0.5, 2, w.shape).astype("float32")
    return weights


def transfer_model(keras, base_model):
    """The guide's new model on top of the frozen base."""
    inputs = keras.Input(shape=(8, 8, 3))
    # We make sure that the base_model is running in inference mode here,
    # by passing `training=False`.
    x = base_model(inputs, training=False)
    # Convert features of shape `base_model.output_shape[1:]` to vectors
    x = keras.layers.GlobalAveragePooling2D()(x)
    # A Dense classifier with a single unit (binary classification)
    outputs = keras.layers.Dense(1)(x)
    return keras.Model(inputs, outputs)


def compile_model(keras, model, learning_rate=1e-3):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy()])


def new_dataset(n=32):
    """Images of two classes (stand-ins for cats and dogs): brighter is class 1."""
    labels = RNG.integers(0, 2, n)
    images = RNG.random((n, 8, 8, 3)) + 0.5 * labels[:, None, None, None]
    return images.astype("float32"), labels.astype("float32")


def bn_of(base_model):
    return next(layer for layer in base_model.layers
                if isinstance(layer, jkeras.layers.BatchNormalization))


def inference_batch_norm(keras):
    """Keras 3's BatchNormalization held in inference mode, as the guide says
    ``base_model(inputs, training=False)`` keeps it: Keras 3 itself lets ``fit``'s
    ``training=True`` override that argument (keras-team/keras#20285), jkeras does not."""
    class InferenceBatchNormalization(keras.layers.BatchNormalization):
        def call(self, inputs, training=None, mask=None):
            return super().call(inputs, training=False, mask=mask)
    return InferenceBatchNormalization


def test_typical_workflow_matches_keras(keras):
    weights = pretrained_weights(make_base_model(jkeras))
    x, y = new_dataset()
    runs = {}
    for k in (jkeras, keras):
        base_model = make_base_model(k, None if k is jkeras else inference_batch_norm(k))
        base_model.set_weights(weights)
        base_model.trainable = False   # Then, freeze the base model.
        model = transfer_model(k, base_model)
        if k is jkeras:
            head = model.get_weights()[len(weights):]
        else:
            model.set_weights(weights + head)   # the same head as jkeras' to start from
        frozen = param_counts(model)
        compile_model(k, model)
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        trained = model.get_weights()

        # Fine-tuning: unfreeze, recompile with a very low learning rate, train end-to-end.
        base_model.trainable = True
        unfrozen = param_counts(model)
        compile_model(k, model, 1e-5)
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        runs[k] = frozen, unfrozen, trained, model.get_weights()

    (frozen, unfrozen, trained, tuned), (k_frozen, k_unfrozen, k_trained, k_tuned) = (
        runs[jkeras], runs[keras])
    assert frozen == k_frozen and unfrozen == k_unfrozen
    for got, want in zip(trained + tuned, k_trained + k_tuned, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


# --- An end-to-end example ------------------------------------------------------------------


@pytest.fixture(scope="module")
def end_to_end():
    """The guide's model of the end-to-end example (without data augmentation)."""
    keras = jkeras
    base_model = make_base_model(keras)
    base_model.set_weights(pretrained_weights(base_model))

    # Freeze the base_model
    base_model.trainable = False

    # Create new model on top
    inputs = keras.Input(shape=(8, 8, 3))
    # the rescaling layer outputs: `(inputs * scale) + offset`
    scale_layer = keras.layers.Rescaling(scale=1 / 127.5, offset=-1)
    x = scale_layer(inputs)

    # The base model contains batchnorm layers. We want to keep them in inference mode
    # when we unfreeze the base model for fine-tuning.
    x = base_model(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)  # Regularize with dropout
    outputs = keras.layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    return base_model, model


def keras_end_to_end(keras):
    base_model = make_base_model(keras)
    base_model.trainable = False
    inputs = keras.Input(shape=(8, 8, 3))
    x = keras.layers.Rescaling(scale=1 / 127.5, offset=-1)(inputs)
    x = base_model(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(1)(x)
    return base_model, keras.Model(inputs, outputs)


def test_end_to_end_train_top_then_fine_tune(end_to_end, keras):
    base_model, model = end_to_end
    k_base, k_model = keras_end_to_end(keras)
    assert param_counts(model) == param_counts(k_model)   # model.summary(), frozen
    x, y = new_dataset()
    x = x * 127.5                                          # raw [0, 255]-like pixels
    bn = bn_of(base_model)
    base_before = base_model.get_weights()

    # Train the top layer
    compile_model(jkeras, model, 1e-2)
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0,
                        validation_data=(x[:8], y[:8]))
    assert sorted(history.history) == ["binary_accuracy", "loss", "val_binary_accuracy",
                                       "val_loss"]
    assert history.history["val_loss"][-1] < history.history["val_loss"][0]  # no dropout
    for before, after in zip(base_before, base_model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)       # frozen: bit for bit

    # Do a round of fine-tuning of the entire model
    base_model.trainable = True
    k_base.trainable = True
    assert param_counts(model) == param_counts(k_model)   # model.summary(), unfrozen
    compile_model(jkeras, model, 1e-5)  # Low learning rate
    stats = {w.path: np.asarray(w.value) for w in bn.weights if "moving" in w.path}
    trainable = {w.path: np.asarray(w.value) for w in bn.weights if "moving" not in w.path}
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    after = {w.path: np.asarray(w.value) for w in bn.weights}
    # Still in inference mode: the batchnorm statistics are not updated...
    assert len(stats) == 2
    for path, value in stats.items():
        np.testing.assert_array_equal(after[path], value)
    # ...while its gamma and beta (and the convolutions) now train.
    assert all(np.any(after[path] != value) for path, value in trainable.items())


def test_custom_training_loop_updates_only_trainable_weights():
    keras = jkeras
    base_model = make_base_model(keras)
    base_model.set_weights(pretrained_weights(base_model))
    base_model.trainable = False
    model = transfer_model(keras, base_model)
    loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
    optimizer = keras.optimizers.Adam()

    # The params tree is exactly the trainable weights: the head's.
    trainable_paths = sorted(w.path for w in model.trainable_weights)
    assert sorted(jkeras.state.flatten(model.params)) == trainable_paths
    assert len(trainable_paths) == 2

    params, state = model.params, model.state
    opt_state = optimizer.init(params)
    base_before = base_model.get_weights()

    @jax.jit
    def train_step(params, opt_state, state, inputs, targets):
        def loss_value(params):
            predictions, new_state = model.apply(params, state, inputs, training=True)
            return loss_fn(targets, predictions), new_state
        # Gradients of the loss with respect to the *trainable* weights.
        (loss, state), gradients = jax.value_and_grad(loss_value, has_aux=True)(params)
        updates, opt_state = optimizer.update(gradients, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, state, loss

    x, y = new_dataset(16)
    for inputs, targets in ((x[:8], y[:8, None]), (x[8:], y[8:, None])):
        params, opt_state, state, _ = train_step(params, opt_state, state, inputs, targets)
    model.params, model.state = params, state
    for before, after in zip(base_before, base_model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    head = model.layers[-1]
    assert head.get_weights()[0].shape == (5, 1)
