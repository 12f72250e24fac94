"""Keras 3 guide "The Sequential model" (keras.io/guides/sequential_model), run on jkeras.

The guide's code with ``keras`` replaced by ``jkeras`` (``tf.ones`` by ``jkeras.ops.ones``).
Checked: each model's output against NumPy on its own weights; ``layers`` and
``weights`` before and after building; ``add``/``pop`` (``pop`` returns the layer and a
model built on a known shape is built again, as in Keras 3); the output shapes and
totals of every ``summary()`` the guide prints, against the same models in Keras 3 or
by hand (the conv stack: the guide's (40, 40, 32), then 4x4 maps, and the totals
Keras 3 prints); feature extraction from ``layer.output`` and
``get_layer(name=...).output`` (values against the model and its layers); both transfer
learning blueprints (frozen weights stay put through ``fit``, the others move).

The guide says ``model.weights`` and ``model.summary()`` cannot be used on a model not
built yet (it comments them out); Keras 3 has moved on: ``weights`` is ``[]`` there and
``summary()`` prints each layer as ``0 (unbuilt)``. jkeras does the same (checked).

Changed because they cannot run as written: the transfer-learning blueprints are prose
code with ``...`` arguments; they run here on synthetic data, with ``Input(shape=(784,))``
(``shape=(784)`` is an int, which Keras 3 refuses too), a few ``Dense`` layers as the
"pre-trained" model in place of ``keras.applications.Xception`` (a weights download), and
without ``load_weights(...)`` (there is no file to load).
"""
import io

import numpy as np
import pytest

import jkeras
from jkeras import layers, ops

RNG = np.random.default_rng(0)


def summary_text(model):
    out = io.StringIO()
    model.summary(print_fn=lambda line, **kwargs: out.write(line + "\n"))
    return out.getvalue()


def summary_of(model):
    """The "Total params" figure of ``model.summary()``."""
    total = next(line for line in summary_text(model).splitlines() if "Total params" in line)
    return total.split(":")[1].split()[0]


def output_shapes(model):
    return [tuple(layer.output_shape) for layer in model.layers]


def relu(x):
    return np.maximum(x, 0)


def dense_stack(x, model):
    """The guide's three Dense layers (relu, relu, linear) in NumPy on ``model``'s weights."""
    (k1, b1), (k2, b2), (k3, b3) = (layer.get_weights() for layer in model.layers)
    return relu(relu(x @ k1 + b1) @ k2 + b2) @ k3 + b3


# --- When to use a Sequential model ---------------------------------------------------------


def test_a_sequential_model_is_its_layers_called_in_turn():
    keras = jkeras
    # Define Sequential model with 3 layers
    model = keras.Sequential(
        [
            layers.Dense(2, activation="relu", name="layer1"),
            layers.Dense(3, activation="relu", name="layer2"),
            layers.Dense(4, name="layer3"),
        ]
    )
    # Call model on a test input
    x = ops.ones((3, 3))
    y = model(x)
    np.testing.assert_allclose(y, dense_stack(np.ones((3, 3)), model), rtol=1e-5, atol=1e-6)

    # Create 3 layers
    layer1 = layers.Dense(2, activation="relu", name="layer1")
    layer2 = layers.Dense(3, activation="relu", name="layer2")
    layer3 = layers.Dense(4, name="layer3")

    # Call layers on a test input
    x = ops.ones((3, 3))
    y = layer3(layer2(layer1(x)))

    # Equivalent: the same weights give the same output.
    for layer, twin in zip((layer1, layer2, layer3), model.layers, strict=True):
        layer.set_weights(twin.get_weights())
    np.testing.assert_allclose(layer3(layer2(layer1(x))), model(x), rtol=1e-6)


# --- Creating a Sequential model ------------------------------------------------------------


def test_creating_adding_and_popping():
    keras = jkeras
    model = keras.Sequential(
        [
            layers.Dense(2, activation="relu"),
            layers.Dense(3, activation="relu"),
            layers.Dense(4),
        ]
    )
    assert [layer.name for layer in model.layers] == ["dense", "dense_1", "dense_2"]
    assert all(isinstance(layer, layers.Dense) for layer in model.layers)

    model = keras.Sequential()
    model.add(layers.Dense(2, activation="relu"))
    model.add(layers.Dense(3, activation="relu"))
    model.add(layers.Dense(4))
    last = model.layers[-1]

    assert model.pop() is last            # Keras 3 returns the layer it removed
    assert len(model.layers) == 2

    model = keras.Sequential(name="my_sequential")
    model.add(layers.Dense(2, activation="relu", name="layer1"))
    model.add(layers.Dense(3, activation="relu", name="layer2"))
    model.add(layers.Dense(4, name="layer3"))
    assert model.name == "my_sequential"
    assert [layer.name for layer in model.layers] == ["layer1", "layer2", "layer3"]


def test_pop_on_a_built_model_rebuilds_it():
    model = jkeras.Sequential([jkeras.Input(shape=(4,)), layers.Dense(2), layers.Dense(3),
                               layers.Dense(5)])
    model.pop()
    # What Keras 3 gives for the same lines: built again, (None, 3), 10 + 9 weights.
    assert model.built and model.output_shape == (None, 3)
    assert model.count_params() == 10 + 9 and model.outputs[0].shape == (None, 3)
    x = RNG.standard_normal((2, 4)).astype("float32")
    (k1, b1), (k2, b2) = (layer.get_weights() for layer in model.layers)
    np.testing.assert_allclose(model(x), (x @ k1 + b1) @ k2 + b2, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="no layers"):
        jkeras.Sequential().pop()


# --- Specifying the input shape in advance --------------------------------------------------


def test_weights_are_created_on_the_first_call(keras):
    layer = layers.Dense(3)
    assert layer.weights == []  # Empty

    # Call layer on a test input
    x = ops.ones((1, 4))
    y = layer(x)
    assert [w.shape for w in layer.weights] == [(4, 3), (3,)]

    model = jkeras.Sequential(
        [
            layers.Dense(2, activation="relu"),
            layers.Dense(3, activation="relu"),
            layers.Dense(4),
        ]
    )  # No weights at this stage!
    # At this point, you can't do this (the guide): Keras 3 gives [] and an unbuilt summary.
    assert model.weights == [] and not model.built
    assert keras.Sequential([keras.layers.Dense(2)]).weights == []
    assert summary_of(model) == "0" and "0 (unbuilt)" in summary_text(model)

    # Call the model on a test input
    x = ops.ones((1, 4))
    y = model(x)
    assert len(model.weights) == 6  # "Number of weights after calling the model: 6"
    np.testing.assert_allclose(y, dense_stack(np.ones((1, 4)), model), rtol=1e-5, atol=1e-6)
    assert summary_of(model) == "35"                          # Keras 3's total (checked)
    assert output_shapes(model) == [(1, 2), (1, 3), (1, 4)]   # as Keras 3 shows them


def test_an_input_object_first_or_an_input_shape_argument(keras):
    def with_input(keras, layers):
        model = keras.Sequential()
        model.add(keras.Input(shape=(4,)))
        model.add(layers.Dense(2, activation="relu"))
        return model

    def with_input_shape(keras, layers):
        model = keras.Sequential()
        model.add(layers.Dense(2, activation="relu", input_shape=(4,)))
        return model

    for build in (with_input, with_input_shape):
        model, reference = build(jkeras, layers), build(keras, keras.layers)
        assert model.built and reference.built          # weights before any data
        assert summary_of(model) == "10" == f"{reference.count_params():,}"
        assert output_shapes(model) == [(None, 2)] == \
            [tuple(layer.output.shape) for layer in reference.layers]
        # The Input object is not a layer: model.layers holds only the Dense.
        assert [type(layer) for layer in model.layers] == [layers.Dense]
        assert [type(layer) for layer in reference.layers] == [keras.layers.Dense]


# --- A common debugging workflow: add() + summary() -----------------------------------------


def grow(model, step):
    """The guide's three stages of its growing conv stack (``step`` 0, 1, 2)."""
    keras = jkeras
    if step == 0:
        model.add(keras.Input(shape=(250, 250, 3)))  # 250x250 RGB images
        model.add(layers.Conv2D(32, 5, strides=2, activation="relu"))
        model.add(layers.Conv2D(32, 3, activation="relu"))
        model.add(layers.MaxPooling2D(3))
    elif step == 1:
        model.add(layers.Conv2D(32, 3, activation="relu"))
        model.add(layers.Conv2D(32, 3, activation="relu"))
        model.add(layers.MaxPooling2D(3))
        model.add(layers.Conv2D(32, 3, activation="relu"))
        model.add(layers.Conv2D(32, 3, activation="relu"))
        model.add(layers.MaxPooling2D(2))
    else:
        # Now that we have 4x4 feature maps, time to apply global max pooling.
        model.add(layers.GlobalMaxPooling2D())
        # Finally, we add a classification layer.
        model.add(layers.Dense(10))


def test_add_and_summary_debugging_workflow():
    model = jkeras.Sequential()
    # By hand (Keras 3 prints the same): Conv2D(32, 5) on 3 channels has 5*5*3*32 + 32 =
    # 2,432 weights, Conv2D(32, 3) on 32 channels 3*3*32*32 + 32 = 9,248, Dense(10) 330.
    conv = [(None, 123, 123, 32), (None, 121, 121, 32), (None, 40, 40, 32)]
    more = [(None, 38, 38, 32), (None, 36, 36, 32), (None, 12, 12, 32),
            (None, 10, 10, 32), (None, 8, 8, 32), (None, 4, 4, 32)]
    stages = [("11,680", conv), ("48,672", conv + more),
              ("49,002", conv + more + [(None, 32), (None, 10)])]
    for step, (total, shapes) in enumerate(stages):
        grow(model, step)
        assert summary_of(model) == total
        assert output_shapes(model) == shapes


# --- Feature extraction with a Sequential model ---------------------------------------------


def test_feature_extraction():
    keras = jkeras
    initial_model = keras.Sequential(
        [
            keras.Input(shape=(250, 250, 3)),
            layers.Conv2D(32, 5, strides=2, activation="relu"),
            layers.Conv2D(32, 3, activation="relu"),
            layers.Conv2D(32, 3, activation="relu"),
        ]
    )
    feature_extractor = keras.Model(
        inputs=initial_model.inputs,
        outputs=[layer.output for layer in initial_model.layers],
    )

    # Call feature extractor on test input.
    x = ops.ones((1, 250, 250, 3))
    features = feature_extractor(x)

    assert [tuple(f.shape) for f in features] == \
        [(1, 123, 123, 32), (1, 121, 121, 32), (1, 119, 119, 32)]
    np.testing.assert_allclose(features[-1], initial_model(x), rtol=1e-5, atol=1e-6)
    # Each feature map is its layer applied to the one before (a 1x1 window checked in NumPy).
    kernel, bias = initial_model.layers[1].get_weights()
    np.testing.assert_allclose(
        features[1][0, 0, 0],
        relu(np.einsum("hwc,hwco->o", np.asarray(features[0][0, :3, :3]), kernel) + bias),
        rtol=1e-4, atol=1e-5)

    initial_model = keras.Sequential(
        [
            keras.Input(shape=(250, 250, 3)),
            layers.Conv2D(32, 5, strides=2, activation="relu"),
            layers.Conv2D(32, 3, activation="relu", name="my_intermediate_layer"),
            layers.Conv2D(32, 3, activation="relu"),
        ]
    )
    feature_extractor = keras.Model(
        inputs=initial_model.inputs,
        outputs=initial_model.get_layer(name="my_intermediate_layer").output,
    )
    # Call feature extractor on test input.
    x = ops.ones((1, 250, 250, 3))
    features = feature_extractor(x)
    first, middle, _ = initial_model.layers
    np.testing.assert_allclose(features, middle(first(x)), rtol=1e-5, atol=1e-6)


# --- Transfer learning with a Sequential model ----------------------------------------------


def test_transfer_learning_freezing_all_but_the_last_layer():
    keras = jkeras
    model = keras.Sequential([
        keras.Input(shape=(784,)),
        layers.Dense(32, activation='relu'),
        layers.Dense(32, activation='relu'),
        layers.Dense(32, activation='relu'),
        layers.Dense(10),
    ])

    # Freeze all layers except the last one.
    for layer in model.layers[:-1]:
        layer.trainable = False

    before = [layer.get_weights() for layer in model.layers]
    # Recompile and train (this will only update the weights of the last layer).
    model.compile(optimizer="adam", loss="mse")
    x = RNG.random((16, 784)).astype("float32")
    model.fit(x, RNG.random((16, 10)).astype("float32"), epochs=1, batch_size=8, verbose=0)

    assert len(model.trainable_weights) == 2
    for layer, old in zip(model.layers[:-1], before):
        for got, want in zip(layer.get_weights(), old, strict=True):
            np.testing.assert_array_equal(got, want)
    assert not np.allclose(model.layers[-1].get_weights()[0], before[-1][0])


def test_transfer_learning_a_frozen_base_under_a_new_classifier():
    keras = jkeras
    # A small "pre-trained" base in place of keras.applications.Xception(...).
    inputs = keras.Input(shape=(12,))
    base_model = keras.Model(inputs, layers.Dense(8, activation="relu")(
        layers.Dense(16, activation="relu")(inputs)))

    # Freeze the base model
    base_model.trainable = False

    # Use a Sequential model to add a trainable classifier on top
    model = keras.Sequential([
        base_model,
        layers.Dense(1000),
    ])

    base_weights = base_model.get_weights()
    # Compile & train
    model.compile(optimizer="sgd", loss="mse")
    x = RNG.random((8, 12)).astype("float32")
    history = model.fit(x, RNG.random((8, 1000)).astype("float32"), epochs=2, verbose=0)

    assert history.history["loss"][1] < history.history["loss"][0]
    assert [w.path for w in model.trainable_weights] == ["dense_2/kernel", "dense_2/bias"]
    for got, want in zip(base_model.get_weights(), base_weights, strict=True):
        np.testing.assert_array_equal(got, want)
