"""The .keras file both ways with Keras 3, compile state, and .weights.h5 files."""
import os
import zipfile

import jax
import numpy as np
import pytest

import jkeras
from jkeras import layers

RNG = np.random.default_rng(0)


def _randomize(model):
    """Random values in every weight (BatchNorm statistics too), so nothing compares
    equal by accident of initialization."""
    rng = np.random.default_rng(1)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32")
                       if "variance" in getattr(v, "path", "") else
                       (0.3 * rng.standard_normal(w.shape)).astype("float32")
                       for w, v in zip(model.get_weights(), model.weights)])


@pytest.fixture(scope="module")
def keras_files(keras, tmp_path_factory):
    """Keras 3 models of the common layer kinds, saved as .keras files."""
    folder = tmp_path_factory.mktemp("keras_files")
    L = keras.layers
    image = keras.Sequential([keras.Input((8, 8, 3)), L.Conv2D(4, 3, padding="same"),
                              L.BatchNormalization(), L.ReLU(), L.MaxPooling2D(),
                              L.DepthwiseConv2D(3), L.AveragePooling2D(2, padding="same"),
                              L.Dropout(0.3), L.Flatten(), L.Dense(5, activation="softmax")],
                             name="image")
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    h = L.Embedding(20, 8, name="embed")(tokens)
    h = L.LSTM(8, return_sequences=True)(h)
    h = L.Bidirectional(L.GRU(4, return_sequences=True))(h)
    attended = L.MultiHeadAttention(2, 4)(h, h)
    h = L.LayerNormalization()(L.Add()([h, attended]))
    h = L.TimeDistributed(L.Dense(3))(h)
    pooled = L.GlobalAveragePooling1D()(h)
    shared = L.Dense(4, activation="tanh", name="shared")
    inner = keras.Sequential([keras.Input((4,)), L.Dense(4), L.UnitNormalization()],
                             name="inner")
    merged = L.Concatenate()([shared(pooled), inner(shared(L.Dense(3)(pooled)))])
    merged = L.Reshape((2, 4))(merged)
    out = L.Dense(2)(L.Flatten()(L.Conv1D(3, 2, name="conv")(merged)))
    sequence = keras.Model(tokens, out, name="sequence")
    files = {}
    for model in (image, sequence):
        _randomize(model)
        path = str(folder / f"{model.name}.keras")
        model.save(path)
        files[model.name] = (model, path)
    return files


def _inputs(name):
    if name == "image":
        return RNG.standard_normal((4, 8, 8, 3)).astype("float32")
    return RNG.integers(0, 20, (4, 6)).astype("int32")


@pytest.mark.parametrize("name", ["image", "sequence"])
def test_keras_files_both_ways(keras, keras_files, tmp_path, name):
    """A Keras file loads here and predicts as Keras does; saved back (new weights) it
    loads in Keras and predicts as here."""
    model, path = keras_files[name]
    ours = jkeras.models.load_model(path)
    x = _inputs(name)
    np.testing.assert_allclose(ours.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-5, rtol=1e-5)
    _randomize(ours)
    path = str(tmp_path / "ours.keras")
    ours.save(path)
    theirs = keras.saving.load_model(path)
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x, verbose=0),
                               atol=1e-5, rtol=1e-5)


def test_jkeras_built_model_loads_in_keras(keras, tmp_path):
    x = jkeras.Input((5,), name="x")
    shared = layers.Dense(4, activation="relu", name="shared")
    h = layers.Average()([shared(x), shared(layers.Dense(5)(x))])
    h = layers.Multiply()([h, layers.Dense(4, activation="sigmoid")(x)])
    model = jkeras.Model(x, layers.Dense(2)(layers.Dropout(0.1)(h)))
    _randomize(model)
    path = str(tmp_path / "m.keras")
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json",
                                              "model.weights.h5"]
    data = RNG.standard_normal((3, 5)).astype("float32")
    np.testing.assert_allclose(keras.saving.load_model(path).predict(data, verbose=0),
                               model.predict(data, verbose=0), atol=1e-5, rtol=1e-5)


def test_unsupported_keras_class_is_named(keras, tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
                              keras.layers.Normalization(mean=0.0, variance=1.0)])
    path = str(tmp_path / "m.keras")
    model.save(path)
    with pytest.raises(ValueError, match="Normalization.*not a jkeras class"):
        jkeras.models.load_model(path)


DATA = np.random.default_rng(7).standard_normal((32, 6)).astype("float32")


def _fresh(opt):
    """The same model, weights and training key every time."""
    model = jkeras.Sequential([layers.Dense(8, activation="relu", input_dim=6),
                               layers.Dropout(0.3), layers.Dense(2)])
    model.set_weights([0.3 * np.random.default_rng(i).standard_normal(w.shape)
                       for i, w in enumerate(model.get_weights())])
    model.compile(optimizer=opt, loss="mse", metrics=["mae"])
    ts = model.get_train_state()
    model.set_train_state({**ts, "rng": jax.random.key_data(jax.random.key(3))})
    return model


def _trained(epochs, model=None, opt="adam"):
    model = model if model is not None else _fresh(opt)
    model.fit(DATA, (DATA[:, :2] > 0).astype("float32"), batch_size=8, epochs=epochs,
              shuffle=False, verbose=0)
    return model


@pytest.mark.parametrize("opt", ["nadam"])  # slots and an extra scalar (u_product)
def test_compile_true_resumes_bitwise(tmp_path, opt):
    straight = _trained(4, opt=opt)
    first = _trained(2, opt=opt)
    path = str(tmp_path / "half.keras")
    first.save(path)
    resumed = jkeras.models.load_model(path)
    assert resumed.optimizer.get_config() == first.optimizer.get_config()
    _trained(2, model=resumed)
    for a, b in zip(jax.tree_util.tree_leaves(resumed.get_train_state()),
                    jax.tree_util.tree_leaves(straight.get_train_state())):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_weights_h5_both_ways(keras, tmp_path):
    ours = jkeras.Sequential([layers.Conv1D(3, 2, input_shape=(5, 2)), layers.Flatten(),
                              layers.Dense(2)])
    _randomize(ours)
    theirs = keras.Sequential([keras.Input((5, 2)), keras.layers.Conv1D(3, 2),
                               keras.layers.Flatten(), keras.layers.Dense(2)])
    path = str(tmp_path / "m.weights.h5")
    ours.save_weights(path)
    theirs.load_weights(path)
    x = RNG.standard_normal((2, 5, 2)).astype("float32")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x, verbose=0),
                               atol=1e-5)
    _randomize(theirs)
    theirs.save_weights(path)
    ours.load_weights(path)
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x, verbose=0),
                               atol=1e-5)
    standalone = layers.Dense(2)
    standalone(np.ones((1, 3), "float32"))
    standalone.save_weights(str(tmp_path / "d.weights.h5"))
    before = standalone.get_weights()
    standalone.set_weights([w + 1 for w in before])
    standalone.load_weights(str(tmp_path / "d.weights.h5"))
    for a, b in zip(standalone.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_overwrite_false_keeps_the_file(tmp_path):
    model = jkeras.Sequential([layers.Dense(2, input_dim=3)])
    path = str(tmp_path / "m.keras")
    model.save(path)
    with pytest.raises(FileExistsError):
        model.save(path, overwrite=False)
    assert os.listdir(tmp_path) == ["m.keras"]


# Keras' optimizer -> (its config, whether to check jkeras -> Keras as well)
OPTIMIZERS = [("SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}, True),
              ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}, True),
              ("Adagrad", {"learning_rate": 0.1}, False),
              ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1, "amsgrad": True}, True),
              ("Nadam", {"learning_rate": 0.01}, False),
              ("Adamax", {"learning_rate": 0.01}, False),
              ("Adadelta", {"learning_rate": 1.0, "rho": 0.9}, False),
              ("Lion", {"learning_rate": 0.01}, False)]


@pytest.mark.parametrize("name, config, both_ways", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_optimizer_state_both_ways(keras, tmp_path, name, config, both_ways):
    """Trained 3 steps on one side, saved, loaded on the other and trained 2 more steps:
    the same weights as 2 more steps where it was trained."""
    x = RNG.standard_normal((5, 8, 3)).astype("float32")
    y = x.sum(-1, keepdims=True) ** 2 / 4

    def train(model, steps):
        if isinstance(model, keras.Model):
            model.run_eagerly = True  # no XLA compile for these few steps
        for i in steps:
            model.train_on_batch(x[i], y[i])
        return model.get_weights()

    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"),
                               keras.layers.Dense(1)])
    theirs.compile(getattr(keras.optimizers, name)(**config), "mse")
    ours = jkeras.Sequential([layers.Dense(4, activation="tanh", input_dim=3), layers.Dense(1)])
    ours.compile(getattr(jkeras.optimizers, name)(**config), "mse")
    ours.set_weights(theirs.get_weights())
    sides = [(theirs, jkeras.models.load_model)]
    if both_ways:
        sides.append((ours, keras.saving.load_model))
    for model, load in sides:
        train(model, range(3))
        model.save(str(tmp_path / f"{name}.keras"))
        other = load(str(tmp_path / f"{name}.keras"))
        for got, want in zip(train(other, [3, 4]), train(model, [3, 4]), strict=True):
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
