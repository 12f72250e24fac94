"""Keras 3 guide "Training & evaluation with the built-in methods"
(keras.io/guides/training_with_built_in_methods), run on jkeras.

The guide's code with ``keras`` replaced by ``jkeras`` and ``keras.ops`` by
``jkeras.ops``, on small synthetic digits (learnable class centres plus noise) instead
of the MNIST download, and fewer epochs. The guide's ``tf.data.Dataset`` pipelines
(``from_tensor_slices(...).shuffle(1024).batch(64)``) are a re-iterable of batches
here: jkeras takes any iterable of ``(x, y[, sample_weight])`` batches and does not
import TensorFlow. Checked: what the guide prints (history keys, the ``evaluate``
list, prediction shapes), the loss going down, and, for the first end-to-end example,
``evaluate``'s numbers against Keras 3 running the same model from the same weights.

Also run: "Handling losses and metrics that don't fit the standard signature"
(``ActivityRegularizationLayer``'s ``self.add_loss`` and the ``LogisticEndpoint`` layer
trained with ``compile(optimizer="adam")`` and no loss, both checked against NumPy),
"Checkpointing models" (``ModelCheckpoint`` with the messages Keras prints, and
``make_or_restore_model`` run twice, creating then restoring with ``load_model``) and
"Using the TensorBoard callback" (its epoch logs read back).

Not run: "Training & evaluation using PyTorch DataLoader objects" (needs torch) and
``keras.utils.plot_model`` (needs pydot and graphviz).
"""
import os

import jax
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import jkeras as keras
from jkeras import layers
from jkeras import ops

RNG = np.random.default_rng(0)


def synthetic_mnist(n):
    labels = RNG.integers(0, 10, n)
    x = np.clip(CENTRES[labels] + 0.2 * RNG.standard_normal((n, 784)), 0, 1)
    return x.astype("float32"), labels


CENTRES = RNG.random((10, 784))


@pytest.fixture(scope="module")
def data():
    # Sizes that batches of 32 and 64 divide, also after validation_split=0.2: no
    # smaller last batch, so no extra compilation.
    (x_train, y_train), (x_test, y_test) = synthetic_mnist(448), synthetic_mnist(128)
    # Preprocess the data (these are NumPy arrays)
    y_train = y_train.astype("float32")
    y_test = y_test.astype("float32")
    # Reserve 128 samples for validation (the guide: 10,000)
    x_val = x_train[-128:]
    y_val = y_train[-128:]
    x_train = x_train[:-128]
    y_train = y_train[:-128]
    return x_train, y_train, x_val, y_val, x_test, y_test


class Dataset:
    """Stands in for ``tf.data.Dataset.from_tensor_slices(arrays).shuffle(...).batch(n)``:
    a re-iterable of batches, reshuffled on each pass."""

    def __init__(self, arrays, batch_size, shuffle=True):
        self.arrays, self.batch_size, self.shuffle = arrays, batch_size, shuffle

    def __iter__(self):
        n = len(jax.tree_util.tree_leaves(self.arrays)[0])
        order = RNG.permutation(n) if self.shuffle else np.arange(n)
        for i in range(0, n, self.batch_size):
            take = order[i:i + self.batch_size]
            yield jax.tree_util.tree_map(lambda a: a[take], self.arrays)


def get_uncompiled_model():
    inputs = keras.Input(shape=(784,), name="digits")
    x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    return model


def get_compiled_model():
    model = get_uncompiled_model()
    model.compile(
        optimizer="rmsprop",
        loss="sparse_categorical_crossentropy",
        metrics=["sparse_categorical_accuracy"],
    )
    return model


def decreasing(values):
    return values[-1] < values[0]


@pytest.fixture(scope="module")
def split_model():
    """One ``get_compiled_model()`` for the sections that fit it on ``x_train`` with
    ``batch_size=64, validation_split=0.2`` (validation, callbacks, checkpoints,
    TensorBoard): the guide makes a fresh one in each, but their checks hold for any
    compiled model, and sharing it compiles its steps once."""
    return get_compiled_model()


# --- API overview: a first end-to-end example -----------------------------------------------


def test_first_end_to_end_example(data, keras_3):
    x_train, y_train, x_val, y_val, x_test, y_test = data
    model = get_uncompiled_model()
    model.compile(
        optimizer=keras.optimizers.RMSprop(),  # Optimizer
        # Loss function to minimize
        loss=keras.losses.SparseCategoricalCrossentropy(),
        # List of metrics to monitor
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    history = model.fit(
        x_train,
        y_train,
        batch_size=64,
        epochs=2,
        # We pass some validation for
        # monitoring validation loss and metrics
        # at the end of each epoch
        validation_data=(x_val, y_val),
        verbose=0,
    )
    assert sorted(history.history) == ["loss", "sparse_categorical_accuracy", "val_loss",
                                       "val_sparse_categorical_accuracy"]
    assert decreasing(history.history["loss"]) and decreasing(history.history["val_loss"])

    results = model.evaluate(x_test, y_test, batch_size=128, verbose=0)  # test loss, test acc
    predictions = model.predict(x_test[:3], verbose=0)
    assert predictions.shape == (3, 10)

    # The same model in Keras 3, from the same weights, evaluates to the same numbers.
    inputs = keras_3.Input(shape=(784,), name="digits")
    x = keras_3.layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = keras_3.layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = keras_3.layers.Dense(10, activation="softmax", name="predictions")(x)
    reference = keras_3.Model(inputs=inputs, outputs=outputs)
    reference.set_weights(model.get_weights())
    reference.compile(loss=keras_3.losses.SparseCategoricalCrossentropy(),
                      metrics=[keras_3.metrics.SparseCategoricalAccuracy()])
    expected = reference.evaluate(x_test, y_test, batch_size=128, verbose=0)
    np.testing.assert_allclose(results, expected, rtol=1e-4)
    np.testing.assert_allclose(predictions, reference.predict(x_test[:3], verbose=0),
                               rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def keras_3():
    import keras as keras_3
    return keras_3


def test_compile_with_string_identifiers():
    model = get_uncompiled_model()
    model.compile(
        optimizer="rmsprop",
        loss="sparse_categorical_crossentropy",
        metrics=["sparse_categorical_accuracy"],
    )
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)


# --- Custom losses and metrics --------------------------------------------------------------


def custom_mean_squared_error(y_true, y_pred):
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


class CustomMSE(keras.losses.Loss):
    def __init__(self, regularization_factor=0.1, name="custom_mse"):
        super().__init__(name=name)
        self.regularization_factor = regularization_factor

    def call(self, y_true, y_pred):
        mse = ops.mean(ops.square(y_true - y_pred), axis=-1)
        reg = ops.mean(ops.square(0.5 - y_pred), axis=-1)
        return mse + reg * self.regularization_factor


@pytest.mark.parametrize("loss", [custom_mean_squared_error, CustomMSE()],
                         ids=["function", "Loss subclass"])
def test_custom_losses(data, loss):
    x_train, y_train = data[:2]
    model = get_uncompiled_model()
    model.compile(optimizer=keras.optimizers.Adam(), loss=loss)

    # We need to one-hot encode the labels to use MSE
    y_train_one_hot = ops.one_hot(y_train, num_classes=10)
    history = model.fit(x_train, y_train_one_hot, batch_size=64, epochs=2, verbose=0)
    assert decreasing(history.history["loss"])


class CategoricalTruePositives(keras.metrics.Metric):
    def __init__(self, name="categorical_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(
            shape=(), name="ctp", initializer="zeros"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
        values = ops.cast(y_true, "int32") == ops.cast(y_pred, "int32")
        values = ops.cast(values, "float32")
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, "float32")
            values = ops.multiply(values, sample_weight)
        self.true_positives.assign_add(ops.sum(values))

    def result(self):
        return self.true_positives.value

    def reset_state(self):
        # The state of the metric will be reset at the start of each epoch.
        self.true_positives.assign(0.0)


def test_custom_metric(data):
    x_train, y_train = data[:2]
    model = get_uncompiled_model()
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[CategoricalTruePositives()],
    )
    history = model.fit(x_train, y_train, batch_size=64, epochs=3, verbose=0)
    # As written, the guide's metric compares (batch, 1) predictions with (batch,) labels:
    # it counts matching (prediction, label) pairs across the batch, in Keras as here.
    # Each epoch starts from reset_state(), and a count is at most batch_size per example.
    counts = history.history["categorical_true_positives"]
    assert len(counts) == 3 and all(0 < c <= 64 * len(x_train) for c in counts)


# --- Validation holdout; datasets --------------------------------------------------------------


def test_validation_split(data, split_model):
    x_train, y_train = data[:2]
    model = split_model  # the guide: get_compiled_model()
    history = model.fit(x_train, y_train, batch_size=64, validation_split=0.2, epochs=1,
                        verbose=0)
    assert "val_sparse_categorical_accuracy" in history.history


def test_training_and_evaluation_from_datasets(data):
    x_train, y_train, x_val, y_val, x_test, y_test = data
    model = get_compiled_model()

    # First, let's create a training Dataset instance.
    train_dataset = Dataset((x_train, y_train), 64)
    # Now we get a test dataset.
    test_dataset = Dataset((x_test, y_test), 64, shuffle=False)

    # Since the dataset already takes care of batching,
    # we don't pass a `batch_size` argument.
    history = model.fit(train_dataset, epochs=3, verbose=0)
    assert decreasing(history.history["loss"])

    # You can also evaluate or predict on a dataset.
    result = model.evaluate(test_dataset, verbose=0)
    logs = dict(zip(model.metrics_names, result))
    assert sorted(logs) == ["loss", "sparse_categorical_accuracy"]
    assert logs["loss"] == pytest.approx(
        model.evaluate(x_test, y_test, batch_size=64, verbose=0)[0], rel=1e-5)

    # Only use 2 batches per epoch (the guide: 100), on the same model (the guide: a new
    # get_compiled_model(); the same one runs the same compiled step)
    history = model.fit(train_dataset, epochs=3, steps_per_epoch=2, verbose=0)
    assert len(history.history["loss"]) == 3

    # Using a validation dataset, all of it or its first batches only
    val_dataset = Dataset((x_val, y_val), 64, shuffle=False)
    history = model.fit(train_dataset, epochs=1, validation_data=val_dataset, verbose=0)
    assert "val_loss" in history.history
    history = model.fit(
        train_dataset,
        epochs=1,
        # Only run validation using the first batch of the dataset
        # using the `validation_steps` argument
        validation_data=val_dataset,
        validation_steps=1,
        verbose=0,
    )
    first_batch = model.evaluate(x_val[:64], y_val[:64], verbose=0)[0]
    assert history.history["val_loss"][0] == pytest.approx(first_batch, rel=1e-5)


class ExamplePyDataset(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x = x
        self.y = y
        self.batch_size = batch_size

    def __len__(self):
        return int(np.ceil(len(self.x) / float(self.batch_size)))

    def __getitem__(self, idx):
        batch_x = self.x[idx * self.batch_size : (idx + 1) * self.batch_size]
        batch_y = self.y[idx * self.batch_size : (idx + 1) * self.batch_size]
        return batch_x, batch_y


def test_pydataset(data):
    x_train, y_train, x_val, y_val = data[:4]
    train_py_dataset = ExamplePyDataset(x_train, y_train, batch_size=32)
    val_py_dataset = ExamplePyDataset(x_val, y_val, batch_size=32)

    model = get_compiled_model()
    model.fit(train_py_dataset, batch_size=64, validation_data=val_py_dataset, epochs=1,
              verbose=0)
    val_loss = model.evaluate(val_py_dataset, verbose=0)[0]
    assert val_loss == pytest.approx(model.evaluate(x_val, y_val, verbose=0)[0], rel=1e-5)

    train_py_dataset = ExamplePyDataset(x_train, y_train, batch_size=32, workers=4)
    model.fit(train_py_dataset, batch_size=64, validation_data=val_py_dataset, epochs=1,
              verbose=0)

    train_py_dataset = ExamplePyDataset(
        x_train, y_train, batch_size=32, workers=4, use_multiprocessing=True
    )
    history = model.fit(train_py_dataset, batch_size=64, validation_data=val_py_dataset,
                        epochs=1, verbose=0)
    assert history.history["val_loss"][0] < val_loss


# --- Class weights and sample weights ---------------------------------------------------------


def test_class_and_sample_weights(data):
    x_train, y_train = data[:2]
    class_weight = {
        0: 1.0,
        1: 1.0,
        2: 1.0,
        3: 1.0,
        4: 1.0,
        # Set weight "2" for class "5",
        # making this class 2x more important
        5: 2.0,
        6: 1.0,
        7: 1.0,
        8: 1.0,
        9: 1.0,
    }
    model = get_compiled_model()
    with_class_weight = model.fit(x_train, y_train, class_weight=class_weight, batch_size=64,
                                  epochs=1, verbose=0)

    sample_weight = np.ones(shape=(len(y_train),))
    sample_weight[y_train == 5] = 2.0
    # (the guide: a new get_compiled_model(); the same one runs the same compiled step)
    with_sample_weight = model.fit(x_train, y_train, sample_weight=sample_weight,
                                   batch_size=64, epochs=1, verbose=0)
    assert np.isfinite(with_class_weight.history["loss"][0])
    assert np.isfinite(with_sample_weight.history["loss"][0])

    # Create a Dataset that includes sample weights
    # (3rd element in the return tuple).
    train_dataset = Dataset((x_train, y_train, sample_weight), 64)
    model = get_compiled_model()
    history = model.fit(train_dataset, epochs=2, verbose=0)
    assert decreasing(history.history["loss"])


# --- Passing data to multi-input, multi-output models -----------------------------------------


def test_multi_input_multi_output_models():
    image_input = keras.Input(shape=(32, 32, 3), name="img_input")
    timeseries_input = keras.Input(shape=(None, 10), name="ts_input")

    x1 = layers.Conv2D(3, 3)(image_input)
    x1 = layers.GlobalMaxPooling2D()(x1)

    x2 = layers.Conv1D(3, 3)(timeseries_input)
    x2 = layers.GlobalMaxPooling1D()(x2)

    x = layers.concatenate([x1, x2])

    score_output = layers.Dense(1, name="score_output")(x)
    class_output = layers.Dense(5, name="class_output")(x)

    model = keras.Model(
        inputs=[image_input, timeseries_input], outputs=[score_output, class_output]
    )

    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=[
            keras.losses.MeanSquaredError(),
            keras.losses.CategoricalCrossentropy(),
        ],
        metrics=[
            [
                keras.metrics.MeanAbsolutePercentageError(),
                keras.metrics.MeanAbsoluteError(),
            ],
            [keras.metrics.CategoricalAccuracy()],
        ],
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss={
            "score_output": keras.losses.MeanSquaredError(),
            "class_output": keras.losses.CategoricalCrossentropy(),
        },
        metrics={
            "score_output": [
                keras.metrics.MeanAbsolutePercentageError(),
                keras.metrics.MeanAbsoluteError(),
            ],
            "class_output": [keras.metrics.CategoricalAccuracy()],
        },
        loss_weights={"score_output": 2.0, "class_output": 1.0},
    )

    # Generate dummy NumPy data (32 samples; the guide: 100)
    img_data = np.random.random_sample(size=(32, 32, 32, 3))
    ts_data = np.random.random_sample(size=(32, 20, 10))
    score_targets = np.random.random_sample(size=(32, 1))
    class_targets = np.random.random_sample(size=(32, 5))

    # Fit on dicts
    history = model.fit(
        {"img_input": img_data, "ts_input": ts_data},
        {"score_output": score_targets, "class_output": class_targets},
        batch_size=32,
        epochs=2,
        verbose=0,
    )
    assert sorted(history.history) == [
        "class_output_categorical_accuracy", "class_output_loss", "loss",
        "score_output_loss", "score_output_mean_absolute_error",
        "score_output_mean_absolute_percentage_error"]
    assert decreasing(history.history["loss"])

    # You could also choose not to compute a loss for certain outputs
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=[None, keras.losses.CategoricalCrossentropy()],
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss={"class_output": keras.losses.CategoricalCrossentropy()},
    )

    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=[keras.losses.MeanSquaredError(), keras.losses.CategoricalCrossentropy()],
    )
    # Fit on lists
    on_lists = model.fit([img_data, ts_data], [score_targets, class_targets], batch_size=32,
                         epochs=1, verbose=0)
    # The Dataset use case: a tuple of dicts per batch
    train_dataset = Dataset(({"img_input": img_data, "ts_input": ts_data},
                             {"score_output": score_targets, "class_output": class_targets}),
                            32)
    on_dicts = model.fit(train_dataset, epochs=1, verbose=0)
    assert sorted(on_dicts.history) == sorted(on_lists.history) == [
        "class_output_loss", "loss", "score_output_loss"]
    as_lists = model.evaluate([img_data, ts_data], [score_targets, class_targets], verbose=0)
    as_dicts = model.evaluate({"img_input": img_data, "ts_input": ts_data},
                              {"score_output": score_targets, "class_output": class_targets},
                              verbose=0)
    np.testing.assert_allclose(as_dicts, as_lists, rtol=1e-6)


# --- Callbacks and learning rate schedules ----------------------------------------------------


def test_early_stopping_and_a_custom_callback(data, split_model):
    x_train, y_train = data[:2]
    model = split_model  # the guide: get_compiled_model()

    class LossHistory(keras.callbacks.Callback):
        def on_train_begin(self, logs):
            self.per_batch_losses = []

        def on_batch_end(self, batch, logs):
            self.per_batch_losses.append(logs.get("loss"))

    loss_history = LossHistory()
    callbacks = [
        keras.callbacks.EarlyStopping(
            # Stop training when `val_loss` is no longer improving
            monitor="val_loss",
            # "no longer improving" being defined as "no better than 1e-2 less"
            min_delta=1e-2,
            # "no longer improving" being further defined as "for at least 2 epochs"
            patience=2,
            verbose=0,
        ),
        loss_history,
    ]
    history = model.fit(
        x_train,
        y_train,
        epochs=20,
        batch_size=64,
        callbacks=callbacks,
        validation_split=0.2,
        verbose=0,
    )
    epochs_run = len(history.history["loss"])
    val_loss = history.history["val_loss"]
    if epochs_run < 20:   # stopped: the last 2 epochs did not improve on the best by 1e-2
        assert min(val_loss[-2:]) >= min(val_loss[:-2]) - 1e-2
    steps_per_epoch = int(np.ceil(int(len(x_train) * 0.8) / 64))
    assert len(loss_history.per_batch_losses) == epochs_run * steps_per_epoch


def test_learning_rate_schedule(data):
    x_train, y_train = data[:2]
    initial_learning_rate = 0.1
    lr_schedule = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate, decay_steps=100000, decay_rate=0.96, staircase=True
    )
    optimizer = keras.optimizers.RMSprop(learning_rate=lr_schedule)
    model = get_uncompiled_model()
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, batch_size=64, epochs=1, verbose=0)
    assert model.get_learning_rate() == pytest.approx(0.1)   # staircase: not decayed yet


# --- Handling losses and metrics that don't fit the standard signature ---------------------


class ActivityRegularizationLayer(layers.Layer):
    def call(self, inputs):
        self.add_loss(ops.sum(inputs) * 0.1)
        return inputs  # Pass-through layer.


def test_activity_regularization_layer_add_loss(data):
    x_train, y_train, _, _, x_test, y_test = data
    inputs = keras.Input(shape=(784,), name="digits")
    x = layers.Dense(64, activation="relu", name="dense_1")(inputs)

    # Insert activity regularization as a layer
    x = ActivityRegularizationLayer()(x)

    x = layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = layers.Dense(10, name="predictions")(x)

    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )

    # The displayed loss will be much higher than before
    # due to the regularization component.
    model.fit(x_train, y_train, batch_size=64, epochs=1, verbose=0)

    # In one batch: the mean cross-entropy plus 0.1 x the sum of dense_1's activations.
    (w1, b1), (w2, b2), (w3, b3) = (model.get_layer(n).get_weights()
                                    for n in ("dense_1", "dense_2", "predictions"))
    h1 = np.maximum(x_test @ w1 + b1, 0)
    logits = np.maximum(h1 @ w2 + b2, 0) @ w3 + b3
    log_probs = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(
        1, keepdims=True)) - logits.max(1, keepdims=True)
    cross_entropy = -log_probs[np.arange(len(y_test)), y_test.astype(int)].mean()
    loss = model.evaluate(x_test, y_test, batch_size=len(x_test), verbose=0)
    assert loss == pytest.approx(cross_entropy + 0.1 * h1.sum(), rel=1e-4)


class LogisticEndpoint(keras.layers.Layer):
    def __init__(self, name=None):
        super().__init__(name=name)
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

    def call(self, targets, logits, sample_weights=None):
        # Compute the training-time loss value and add it
        # to the layer using `self.add_loss()`.
        loss = self.loss_fn(targets, logits, sample_weights)
        self.add_loss(loss)

        # Return the inference-time prediction tensor (for `.predict()`).
        return ops.softmax(logits)


def test_logistic_endpoint_compiled_without_a_loss():
    inputs = keras.Input(shape=(3,), name="inputs")
    targets = keras.Input(shape=(10,), name="targets")
    logits = keras.layers.Dense(10)(inputs)
    predictions = LogisticEndpoint(name="predictions")(targets, logits)

    model = keras.Model(inputs=[inputs, targets], outputs=predictions)
    model.compile(optimizer="adam")  # No loss argument!

    data = {
        "inputs": np.random.random((3, 3)),
        "targets": np.random.random((3, 10)),
    }
    history = model.fit(data, verbose=0)

    # The model's loss is the endpoint's: binary cross-entropy on the logits.
    kernel, bias = model.get_weights()
    z = data["inputs"] @ kernel + bias
    t = data["targets"]
    expected = np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))))
    assert model.evaluate(data, verbose=0) == pytest.approx(expected, rel=1e-5)
    assert list(history.history) == ["loss"]
    softmax = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    np.testing.assert_allclose(model.predict(data, verbose=0), softmax, rtol=1e-5, atol=1e-6)


# --- Checkpointing models -----------------------------------------------------------------------


def test_model_checkpoint(data, split_model, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    x_train, y_train = data[:2]
    model = split_model  # the guide: get_compiled_model()

    callbacks = [
        keras.callbacks.ModelCheckpoint(
            # Path where to save the model
            # The two parameters below mean that we will overwrite
            # the current checkpoint if and only if
            # the `val_loss` score has improved.
            # The saved model name will include the current epoch.
            filepath="mymodel_{epoch}.keras",
            save_best_only=True,  # Only save a model if `val_loss` has improved.
            monitor="val_loss",
            verbose=1,
        )
    ]
    history = model.fit(
        x_train, y_train, epochs=2, batch_size=64, callbacks=callbacks,
        validation_split=0.2, verbose=0
    )
    first, second = history.history["val_loss"]
    printed = [line for line in capsys.readouterr().out.splitlines() if line]
    # Keras' messages: the first epoch always improves on None.
    assert printed[0] == (f"Epoch 1: val_loss improved from None to {first:.5f}, saving "
                          f"model to mymodel_1.keras")
    if second < first:
        assert printed[1] == (f"Epoch 2: val_loss improved from {first:.5f} to "
                              f"{second:.5f}, saving model to mymodel_2.keras")
    else:
        assert printed[1] == f"Epoch 2: val_loss did not improve from {first:.5f}"
    assert sorted(os.listdir()) == ["mymodel_1.keras"] + ["mymodel_2.keras"] * (second < first)


def test_make_or_restore_model(data, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    x_train, y_train = data[:2]

    # Prepare a directory to store all the checkpoints.
    checkpoint_dir = "./ckpt"
    if not os.path.exists(checkpoint_dir):
        os.makedirs(checkpoint_dir)

    def make_or_restore_model():
        # Either restore the latest model, or create a fresh one
        # if there is no checkpoint available.
        checkpoints = [checkpoint_dir + "/" + name for name in os.listdir(checkpoint_dir)]
        if checkpoints:
            latest_checkpoint = max(checkpoints, key=os.path.getctime)
            print("Restoring from", latest_checkpoint)
            return keras.models.load_model(latest_checkpoint)
        print("Creating a new model")
        return get_compiled_model()

    def run():   # the guide's script, run twice: a fresh start, then a restart
        model = make_or_restore_model()
        callbacks = [
            # This callback saves the model every 5 batches (the guide: 100).
            # We include the training loss in the saved model name.
            keras.callbacks.ModelCheckpoint(
                filepath=checkpoint_dir + "/model-loss={loss:.2f}.keras", save_freq=5
            )
        ]
        history = model.fit(x_train, y_train, epochs=1, callbacks=callbacks, verbose=0)
        return model, history.history["loss"][0]

    model, loss = run()
    # 10 batches of 32: saved after batches 5 and 10, the last with the epoch's loss.
    assert capsys.readouterr().out == "Creating a new model\n"
    assert f"model-loss={loss:.2f}.keras" in os.listdir(checkpoint_dir)
    weights = model.get_weights()
    restored, _ = run()
    assert capsys.readouterr().out == f"Restoring from ./ckpt/model-loss={loss:.2f}.keras\n"
    assert type(restored.optimizer) is keras.optimizers.RMSprop
    # The restart began from the last checkpoint: its first step is the optimizer's 11th.
    assert int(restored.get_train_state()["step"]) == 20
    assert not all(np.array_equal(a, b) for a, b in zip(weights, restored.get_weights()))


# --- Using the TensorBoard callback ---------------------------------------------------------------


def test_tensorboard_callback(data, split_model, tmp_path):
    x_train, y_train = data[:2]
    model = split_model  # the guide: get_compiled_model()
    log_dir = str(tmp_path / "full_path_to_your_logs")
    tensorboard_callback = keras.callbacks.TensorBoard(
        log_dir=log_dir,
        histogram_freq=0,  # How often to log histogram visualizations
        embeddings_freq=0,  # How often to log embedding visualizations
        update_freq="epoch",
    )  # How often to write logs (default: once per epoch)
    history = model.fit(x_train, y_train, batch_size=64, epochs=2, validation_split=0.2,
                        callbacks=[tensorboard_callback], verbose=0)
    events = EventAccumulator(os.path.join(log_dir, "train"))
    events.Reload()
    logged = [(e.step, e.value) for e in events.Scalars("epoch_loss")]
    assert [step for step, _ in logged] == [0, 1]
    np.testing.assert_allclose([v for _, v in logged], history.history["loss"], rtol=1e-6)
