"""Keras 3 guide "The Functional API" (keras.io/guides/functional_api), run on jkeras.

The guide's code with ``keras`` replaced by ``jkeras`` (the model definitions as
functions of the ``keras`` namespace), on small synthetic data instead of the MNIST and
CIFAR-10 downloads. Checked: the shapes and dtypes the guide prints, the ``summary()``
totals it prints (Keras 3's numbers), the loss going down in ``fit``, the log names, and
the values of nested, ensembled and feature-extraction models.

Also run: saving the trained model to ``my_model.keras`` and loading it back; "Extend the
API using custom layers" (``CustomDense`` with ``add_weight``, ``get_config`` and
``Model.from_config(config, custom_objects=...)``); "Mix-and-match API styles" (both
``CustomRNN`` layers, checked against a NumPy loop and what the guide prints).

Not run because they need what neither jkeras nor this test has: ``keras.utils.plot_model``
(pydot and graphviz) and ``keras.applications.VGG19()`` (a weights download; a small
functional CNN stands in for it in the feature-extraction section).
"""
import io

import jax
import numpy as np
import pytest

import jkeras
from jkeras import ops

RNG = np.random.default_rng(0)


def total_params(model):
    out = io.StringIO()
    model.summary(print_fn=lambda line, **kwargs: out.write(line + "\n"))
    line = next(line for line in out.getvalue().splitlines() if "Total params" in line)
    return line.split(":")[1].split()[0]


def synthetic_digits(n, features=784, classes=10):
    """Learnable stand-ins for MNIST: class centres plus noise, in [0, 1]."""
    labels = RNG.integers(0, classes, n)
    centres = RNG.random((classes, features))
    x = np.clip(centres[labels] + 0.1 * RNG.standard_normal((n, features)), 0, 1)
    return x.astype("float32"), labels


# --- Introduction ---------------------------------------------------------------------------


def mnist_model(keras, layers):
    inputs = keras.Input(shape=(784,))
    dense = layers.Dense(64, activation="relu")
    x = dense(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    model = keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")
    return inputs, model


@pytest.fixture(scope="module")
def mnist():
    """The introduction's model, which the guide then trains."""
    return mnist_model(jkeras, jkeras.layers)


def test_introduction_inputs_and_summary(mnist):
    inputs, model = mnist
    img_inputs = jkeras.Input(shape=(32, 32, 3))
    assert inputs.shape == (None, 784) and inputs.dtype == "float32"
    assert img_inputs.shape == (None, 32, 32, 3)
    assert model.name == "mnist_model"
    assert total_params(model) == "55,050"        # as the guide prints


def test_training_evaluation_and_inference(mnist, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, model = mnist
    keras = jkeras
    # Sizes the batches divide (64, and 32 in evaluate), after the split too.
    (x_train, y_train), (x_test, y_test) = synthetic_digits(320), synthetic_digits(128)
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.RMSprop(),
        metrics=["accuracy"],
    )
    history = model.fit(x_train, y_train, batch_size=64, epochs=2, validation_split=0.2,
                        verbose=0)
    test_scores = model.evaluate(x_test, y_test, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.history["loss"][1] < history.history["loss"][0]
    assert history.history["val_loss"][1] < history.history["val_loss"][0]
    assert len(test_scores) == 2                  # "Test loss", "Test accuracy"

    # --- Save and serialize
    trained = model
    model.save("my_model.keras")
    del model
    # Recreate the exact same model purely from the file:
    model = keras.models.load_model("my_model.keras")
    # Architecture, weights, training config and optimizer state, as the guide lists.
    assert model.get_config() == trained.get_config()
    for got, want in zip(model.get_weights(), trained.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert type(model.optimizer) is keras.optimizers.RMSprop
    for got, want in zip(*(jax.tree_util.tree_leaves(m.get_train_state()["opt_state"])
                           for m in (model, trained)), strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(model.evaluate(x_test, y_test, verbose=0), test_scores,
                               rtol=1e-6)   # the compiled loss and metrics came back


# --- Using the same graph of layers to define multiple models -------------------------------


def encoder_autoencoder(keras, layers):
    encoder_input = keras.Input(shape=(28, 28, 1), name="img")
    x = layers.Conv2D(16, 3, activation="relu")(encoder_input)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    encoder_output = layers.GlobalMaxPooling2D()(x)

    encoder = keras.Model(encoder_input, encoder_output, name="encoder")

    x = layers.Reshape((4, 4, 1))(encoder_output)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu")(x)
    x = layers.UpSampling2D(3)(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    decoder_output = layers.Conv2DTranspose(1, 3, activation="relu")(x)

    autoencoder = keras.Model(encoder_input, decoder_output, name="autoencoder")
    return encoder, autoencoder


def test_one_graph_of_layers_two_models():
    encoder, autoencoder = encoder_autoencoder(jkeras, jkeras.layers)
    assert total_params(encoder) == "18,672" and total_params(autoencoder) == "28,241"
    assert encoder.output_shape == (None, 16)
    assert autoencoder.output_shape == (None, 28, 28, 1)   # symmetrical to the input
    # The autoencoder is built on the encoder's layers: the same objects, the same weights.
    assert all(any(layer is other for other in autoencoder.layers) for layer in encoder.layers)


# --- All models are callable, just like layers ----------------------------------------------


def chained_autoencoder(keras, layers):
    encoder_input = keras.Input(shape=(28, 28, 1), name="original_img")
    x = layers.Conv2D(16, 3, activation="relu")(encoder_input)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    encoder_output = layers.GlobalMaxPooling2D()(x)

    encoder = keras.Model(encoder_input, encoder_output, name="encoder")

    decoder_input = keras.Input(shape=(16,), name="encoded_img")
    x = layers.Reshape((4, 4, 1))(decoder_input)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu")(x)
    x = layers.UpSampling2D(3)(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    decoder_output = layers.Conv2DTranspose(1, 3, activation="relu")(x)

    decoder = keras.Model(decoder_input, decoder_output, name="decoder")

    autoencoder_input = keras.Input(shape=(28, 28, 1), name="img")
    encoded_img = encoder(autoencoder_input)
    decoded_img = decoder(encoded_img)
    autoencoder = keras.Model(autoencoder_input, decoded_img, name="autoencoder")
    return encoder, decoder, autoencoder


def test_models_are_callable_like_layers():
    encoder, decoder, autoencoder = chained_autoencoder(jkeras, jkeras.layers)
    assert [total_params(m) for m in (encoder, decoder, autoencoder)] == \
        ["18,672", "9,569", "28,241"]
    img = RNG.random((2, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(autoencoder(img), decoder(encoder(img)), rtol=1e-5, atol=1e-6)


def test_ensembling():
    keras, layers = jkeras, jkeras.layers

    def get_model():
        inputs = keras.Input(shape=(128,))
        outputs = layers.Dense(1)(inputs)
        return keras.Model(inputs, outputs)

    model1 = get_model()
    model2 = get_model()
    model3 = get_model()

    inputs = keras.Input(shape=(128,))
    y1 = model1(inputs)
    y2 = model2(inputs)
    y3 = model3(inputs)
    outputs = layers.average([y1, y2, y3])
    ensemble_model = keras.Model(inputs=inputs, outputs=outputs)

    x = RNG.standard_normal((4, 128)).astype("float32")
    expected = (np.asarray(model1(x)) + np.asarray(model2(x)) + np.asarray(model3(x))) / 3
    np.testing.assert_allclose(ensemble_model(x), expected, rtol=1e-5, atol=1e-6)
    assert ensemble_model.count_params() == 3 * 129


# --- Models with multiple inputs and outputs ------------------------------------------------


def ticket_model(keras, layers):
    num_tags = 12  # Number of unique issue tags
    num_words = 10000  # Size of vocabulary obtained when preprocessing text data
    num_departments = 4  # Number of departments for predictions

    title_input = keras.Input(shape=(None,), name="title")  # Variable-length sequence of ints
    body_input = keras.Input(shape=(None,), name="body")  # Variable-length sequence of ints
    tags_input = keras.Input(shape=(num_tags,), name="tags")  # Binary vectors of size `num_tags`

    # Embed each word in the title into a 64-dimensional vector
    title_features = layers.Embedding(num_words, 64)(title_input)
    # Embed each word in the text into a 64-dimensional vector
    body_features = layers.Embedding(num_words, 64)(body_input)

    # Reduce sequence of embedded words in the title into a single 128-dimensional vector
    title_features = layers.LSTM(128)(title_features)
    # Reduce sequence of embedded words in the body into a single 32-dimensional vector
    body_features = layers.LSTM(32)(body_features)

    # Merge all available features into a single large vector via concatenation
    x = layers.concatenate([title_features, body_features, tags_input])

    # Stick a logistic regression for priority prediction on top of the features
    priority_pred = layers.Dense(1, name="priority")(x)
    # Stick a department classifier on top of the features
    department_pred = layers.Dense(num_departments, name="department")(x)

    # Instantiate an end-to-end model predicting both priority and department
    model = keras.Model(
        inputs=[title_input, body_input, tags_input],
        outputs=[priority_pred, department_pred],
    )
    return model


def test_multiple_inputs_and_outputs():
    model = ticket_model(jkeras, jkeras.layers)
    # 2 embeddings 10000 x 64, LSTM(128) and LSTM(32) on 64 features, two Dense on
    # 128 + 32 + 12 features: 2 * 640000 + 4 * 128 * (64 + 128 + 1) + 4 * 32 * (64 + 32 + 1)
    # + 173 + 4 * 173 (what Keras' summary shows for these lines).
    assert model.count_params() == 1_392_097
    keras = jkeras
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=[
            keras.losses.BinaryCrossentropy(from_logits=True),
            keras.losses.CategoricalCrossentropy(from_logits=True),
        ],
        loss_weights=[1.0, 0.2],
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss={
            "priority": keras.losses.BinaryCrossentropy(from_logits=True),
            "department": keras.losses.CategoricalCrossentropy(from_logits=True),
        },
        loss_weights={"priority": 1.0, "department": 0.2},
    )

    # Dummy input data (fewer, shorter samples than the guide's 1280 x 100 words)
    num_words, num_tags, num_departments = 10000, 12, 4
    title_data = np.random.randint(num_words, size=(32, 6))
    body_data = np.random.randint(num_words, size=(32, 8))
    tags_data = np.random.randint(2, size=(32, num_tags)).astype("float32")

    # Dummy target data
    priority_targets = np.random.random(size=(32, 1))
    dept_targets = np.random.randint(2, size=(32, num_departments))

    history = model.fit(
        {"title": title_data, "body": body_data, "tags": tags_data},
        {"priority": priority_targets, "department": dept_targets},
        epochs=2,
        batch_size=32,
        verbose=0,
    )
    assert sorted(history.history) == ["department_loss", "loss", "priority_loss"]
    assert history.history["loss"][-1] < history.history["loss"][0]


# --- A toy ResNet model -----------------------------------------------------------------------


def toy_resnet(keras, layers):
    inputs = keras.Input(shape=(32, 32, 3), name="img")
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    block_1_output = layers.MaxPooling2D(3)(x)

    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_1_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_2_output = layers.add([x, block_1_output])

    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_2_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_3_output = layers.add([x, block_2_output])

    x = layers.Conv2D(64, 3, activation="relu")(block_3_output)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(10)(x)

    model = keras.Model(inputs, outputs, name="toy_resnet")
    return model


def test_toy_resnet():
    model = toy_resnet(jkeras, jkeras.layers)
    assert total_params(model) == "223,242"       # as the guide prints
    keras = jkeras
    # CIFAR-10 stand-in: 20 random images (the guide trains on its first 1000).
    x_train = RNG.random((20, 32, 32, 3)).astype("float32")
    y_train = keras.utils.to_categorical(RNG.integers(0, 10, (20, 1)), 10)
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["acc"],
    )
    history = model.fit(x_train, y_train, batch_size=16, epochs=1, validation_split=0.2,
                        verbose=0)
    assert sorted(history.history) == ["acc", "loss", "val_acc", "val_loss"]
    assert np.isfinite(history.history["loss"][0])


# --- Shared layers; extract and reuse nodes in the graph of layers ---------------------------


def test_shared_layers():
    keras, layers = jkeras, jkeras.layers
    # Embedding for 1000 unique words mapped to 128-dimensional vectors
    shared_embedding = layers.Embedding(1000, 128)

    # Variable-length sequence of integers
    text_input_a = keras.Input(shape=(None,), dtype="int32")

    # Variable-length sequence of integers
    text_input_b = keras.Input(shape=(None,), dtype="int32")

    # Reuse the same layer to encode both inputs
    encoded_input_a = shared_embedding(text_input_a)
    encoded_input_b = shared_embedding(text_input_b)

    assert encoded_input_a.shape == encoded_input_b.shape == (None, None, 128)
    model = keras.Model([text_input_a, text_input_b], [encoded_input_a, encoded_input_b])
    assert model.count_params() == 1000 * 128        # one set of weights
    a, b = model([np.array([[1, 2]]), np.array([[2, 1]])])
    np.testing.assert_array_equal(a[0, ::-1], b[0])


def test_feature_extraction():
    keras, layers = jkeras, jkeras.layers
    # A small CNN in place of keras.applications.VGG19() (which downloads its weights).
    inputs = keras.Input(shape=(12, 12, 3))
    x = layers.Conv2D(8, 3, activation="relu", name="block1_conv1")(inputs)
    x = layers.MaxPooling2D(2, name="block1_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    vgg19 = keras.Model(inputs, outputs)

    features_list = [layer.output for layer in vgg19.layers]

    feat_extraction_model = keras.Model(inputs=vgg19.input, outputs=features_list)

    img = np.random.random((1, 12, 12, 3)).astype("float32")
    extracted_features = feat_extraction_model(img)

    # Keras lists an InputLayer first in vgg19.layers (its output is the input itself);
    # jkeras has no input layers, so the features start at the first real layer.
    assert [tuple(f.shape) for f in extracted_features] == \
        [(1, 10, 10, 8), (1, 5, 5, 8), (1, 200), (1, 10)]
    np.testing.assert_allclose(extracted_features[-1], vgg19(img), rtol=1e-5)
    np.testing.assert_allclose(extracted_features[1], vgg19.layers[1](extracted_features[0]),
                               rtol=1e-5)



# --- Extend the API using custom layers ---------------------------------------------------------


def test_custom_layers_with_get_config_and_custom_objects():
    keras, layers = jkeras, jkeras.layers

    class CustomDense(layers.Layer):
        def __init__(self, units=32):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(
                shape=(input_shape[-1], self.units),
                initializer="random_normal",
                trainable=True,
            )
            self.b = self.add_weight(
                shape=(self.units,), initializer="random_normal", trainable=True
            )

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

        def get_config(self):
            return {"units": self.units}

    inputs = keras.Input((4,))
    outputs = CustomDense(10)(inputs)

    model = keras.Model(inputs, outputs)
    config = model.get_config()

    new_model = keras.Model.from_config(config, custom_objects={"CustomDense": CustomDense})

    x = RNG.standard_normal((2, 4)).astype("float32")
    w, b = model.get_weights()
    np.testing.assert_allclose(model(x), x @ w + b, rtol=1e-5, atol=1e-6)
    assert [type(layer) for layer in new_model.layers] == [CustomDense]
    assert new_model.layers[0].units == 10 and new_model.output_shape == (None, 10)
    new_model.set_weights([w, b])
    np.testing.assert_allclose(new_model(x), x @ w + b, rtol=1e-5, atol=1e-6)


# --- Mix-and-match API styles ---------------------------------------------------------------


def rnn_reference(x, projection_1, projection_2):
    """The guide's CustomRNN loop in NumPy: the features before the classifier."""
    state, outputs = np.zeros((x.shape[0], projection_1[0].shape[1])), []
    for t in range(x.shape[1]):
        y = np.tanh(x[:, t] @ projection_1[0] + projection_1[1]) + np.tanh(
            state @ projection_2[0] + projection_2[1])
        state = y
        outputs.append(y)
    return np.stack(outputs, axis=1)


def test_mix_and_match_a_functional_model_in_a_custom_layer(capsys):
    keras, layers = jkeras, jkeras.layers
    units = 32
    timesteps = 10
    input_dim = 5

    # Define a Functional model
    inputs = keras.Input((None, units))
    x = layers.GlobalAveragePooling1D()(inputs)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)

    class CustomRNN(layers.Layer):
        def __init__(self):
            super().__init__()
            self.units = units
            self.projection_1 = layers.Dense(units=units, activation="tanh")
            self.projection_2 = layers.Dense(units=units, activation="tanh")
            # Our previously-defined Functional model
            self.classifier = model

        def call(self, inputs):
            outputs = []
            state = ops.zeros(shape=(inputs.shape[0], self.units))
            for t in range(inputs.shape[1]):
                x = inputs[:, t, :]
                h = self.projection_1(x)
                y = h + self.projection_2(state)
                state = y
                outputs.append(y)
            features = ops.stack(outputs, axis=1)
            print(features.shape)
            return self.classifier(features)

    rnn_model = CustomRNN()
    _ = rnn_model(ops.zeros((1, timesteps, input_dim)))
    # As the guide prints (Keras 3 too prints it twice: building runs ``call`` once).
    assert capsys.readouterr().out == "(1, 10, 32)\n(1, 10, 32)\n"

    x = RNG.standard_normal((2, timesteps, input_dim)).astype("float32")
    features = rnn_reference(x, rnn_model.projection_1.get_weights(),
                             rnn_model.projection_2.get_weights())
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(rnn_model(x), features.mean(axis=1) @ kernel + bias,
                               rtol=1e-4, atol=1e-5)


def test_mix_and_match_a_custom_layer_in_a_functional_model():
    keras, layers = jkeras, jkeras.layers
    units = 32
    timesteps = 10
    input_dim = 5
    batch_size = 16

    class CustomRNN(layers.Layer):
        def __init__(self):
            super().__init__()
            self.units = units
            self.projection_1 = layers.Dense(units=units, activation="tanh")
            self.projection_2 = layers.Dense(units=units, activation="tanh")
            self.classifier = layers.Dense(1)

        def call(self, inputs):
            outputs = []
            state = ops.zeros(shape=(inputs.shape[0], self.units))
            for t in range(inputs.shape[1]):
                x = inputs[:, t, :]
                h = self.projection_1(x)
                y = h + self.projection_2(state)
                state = y
                outputs.append(y)
            features = ops.stack(outputs, axis=1)
            return self.classifier(features)

    # Note that you specify a static batch size for the inputs with the `batch_shape`
    # arg, because the inner computation of `CustomRNN` requires a static batch size
    # (when you create the `state` zeros tensor).
    inputs = keras.Input(batch_shape=(batch_size, timesteps, input_dim))
    x = layers.Conv1D(32, 3)(inputs)
    outputs = CustomRNN()(x)

    model = keras.Model(inputs, outputs)

    rnn_model = CustomRNN()
    _ = rnn_model(ops.zeros((1, 10, 5)))

    assert model.output_shape == (16, 8, 1) and _.shape == (1, 10, 1)
    x = RNG.standard_normal((batch_size, timesteps, input_dim)).astype("float32")
    conv, rnn = model.layers
    k, b = conv.get_weights()     # Conv1D(32, 3), "valid": 8 windows of 3 steps
    conv_out = np.stack([np.einsum("bkc,kco->bo", x[:, t:t + 3], k) + b for t in range(8)], 1)
    features = rnn_reference(conv_out, rnn.projection_1.get_weights(),
                             rnn.projection_2.get_weights())
    kernel, bias = rnn.classifier.get_weights()
    np.testing.assert_allclose(model(x), features @ kernel + bias, rtol=1e-4, atol=1e-4)
