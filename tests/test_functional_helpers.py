"""Keras' functional conveniences: layers.add & co., layer/model input and output, dict
inputs by Input name, utils.pad_sequences, utils.PyDataset, activation functions."""

import numpy as np
import pytest

import jkeras
from jkeras import layers

RNG = np.random.default_rng(0)


def _x(*shape):
    return RNG.standard_normal(shape).astype("float32")


@pytest.mark.parametrize("name, kwargs", [("add", {}), ("subtract", {}), ("multiply", {}),
                                          ("average", {}), ("maximum", {}), ("minimum", {}),
                                          ("concatenate", {"axis": 0}),
                                          ("dot", {"axes": 1, "normalize": True})])
def test_merge_functions_match_keras(keras, name, kwargs):
    a, b = _x(3, 4), _x(3, 4)
    want = getattr(keras.layers, name)([a, b], **kwargs)
    np.testing.assert_allclose(getattr(layers, name)([a, b], **kwargs), np.asarray(want),
                               rtol=1e-5, atol=1e-6)
    x, y = jkeras.Input(shape=(4,)), jkeras.Input(shape=(4,))
    symbolic = getattr(layers, name)([x, y], **kwargs)
    assert symbolic.shape == (None,) + want.shape[1:] or name == "concatenate"
    model = jkeras.Model([x, y], symbolic)
    np.testing.assert_allclose(model([a, b]), np.asarray(want), rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def two_inputs():
    a = jkeras.Input(shape=(3,), name="a")
    b = jkeras.Input(shape=(2,), name="b")
    hidden = layers.Dense(4, activation="relu", name="hidden")(a)
    out = layers.Dense(1, name="out")(layers.concatenate([hidden, b]))
    return jkeras.Model([a, b], out)


def test_layer_and_model_input_output_extract_features(two_inputs):
    model = two_inputs
    hidden = model.get_layer("hidden")
    assert hidden.input is model.input[0]
    assert model.output is model.get_layer("out").output
    extractor = jkeras.Model(inputs=model.input, outputs=[l.output for l in model.layers])
    a, b = _x(5, 3), _x(5, 2)
    features = extractor([a, b])
    manual = hidden(a)
    np.testing.assert_allclose(features[0], manual, rtol=1e-6)
    np.testing.assert_allclose(features[-1], model([a, b]), rtol=1e-6)
    assert [tuple(f.shape) for f in features] == [(5, 4), (5, 6), (5, 1)]
    with pytest.raises(ValueError, match="never been called on a symbolic tensor"):
        layers.Dense(2).output


def test_fit_evaluate_predict_on_a_dict_keyed_by_input_names(two_inputs):
    model = two_inputs
    model.compile("sgd", "mse")
    a, b, y = _x(16, 3), _x(16, 2), _x(16, 1)
    as_dict, as_list = {"b": b, "a": a}, [a, b]
    np.testing.assert_allclose(model.predict(as_dict, verbose=0),
                               model.predict(as_list, verbose=0), rtol=1e-6)
    assert model.evaluate(as_dict, y, verbose=0) == pytest.approx(
        model.evaluate(as_list, y, verbose=0), rel=1e-6)
    before = model.evaluate(as_dict, y, verbose=0)
    model.fit(as_dict, y, epochs=3, batch_size=8, verbose=0)
    assert model.evaluate(as_dict, y, verbose=0) < before
    with pytest.raises(ValueError, match=r"keyed by \['a'\].*named \['a', 'b'\]"):
        model.predict({"a": a}, verbose=0)


@pytest.mark.parametrize("kwargs", [{}, {"maxlen": 3}, {"maxlen": 2, "padding": "post"},
                                    {"truncating": "post", "maxlen": 2, "value": -1},
                                    {"dtype": "float32", "value": 0.5}])
def test_pad_sequences_matches_keras(keras, kwargs):
    sequences = [[1, 2, 3], [4], [], [5, 6, 7, 8]]
    got = jkeras.utils.pad_sequences(sequences, **kwargs)
    want = keras.utils.pad_sequences(sequences, **kwargs)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype
    with pytest.raises(ValueError, match="padding must be 'pre' or 'post'"):
        jkeras.utils.pad_sequences(sequences, padding="middle")


class _Batches(jkeras.utils.PyDataset):
    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size = x, y, batch_size
        self.epochs_ended = 0

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, i):
        part = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[part], self.y[part]

    def on_epoch_end(self):
        self.epochs_ended += 1


@pytest.mark.parametrize("kwargs", [{}, {"workers": 3, "use_multiprocessing": True,
                                          "max_queue_size": 2}])
def test_pydataset_trains_evaluates_and_predicts_like_arrays(kwargs):
    x, y = _x(40, 4), RNG.integers(0, 3, 40)
    model = jkeras.Sequential([layers.Dense(3, activation="softmax", input_dim=4)])
    model.compile("sgd", "sparse_categorical_crossentropy")
    data = _Batches(x, y, 16, **kwargs)
    assert [len(b[0]) for b in data] == [16, 16, 8] and data.num_batches == 3
    assert model.evaluate(data, verbose=0) == pytest.approx(
        model.evaluate(x, y, batch_size=16, verbose=0), rel=1e-6)
    np.testing.assert_allclose(model.predict(data, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    data.epochs_ended = 0
    model.fit(data, epochs=2, verbose=0)
    assert data.epochs_ended == 2


@pytest.mark.parametrize("name", ["relu", "relu6", "sigmoid", "softplus", "softsign", "silu",
                                  "swish", "elu", "selu", "gelu", "tanh", "exponential",
                                  "hard_sigmoid", "hard_silu", "hard_swish", "mish", "softmax",
                                  "log_softmax", "leaky_relu", "linear"])
def test_activation_functions_match_keras(keras, name):
    x = _x(3, 5)
    np.testing.assert_allclose(getattr(jkeras.activations, name)(x),
                               np.asarray(getattr(keras.activations, name)(x)),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"negative_slope": 0.1}, {"max_value": 0.5},
                                    {"threshold": 0.3}, {"negative_slope": 0.2, "max_value": 1.0,
                                                         "threshold": -0.5}])
def test_relu_arguments_match_keras(keras, kwargs):
    x = _x(4, 6)
    np.testing.assert_allclose(jkeras.activations.relu(x, **kwargs),
                               np.asarray(keras.activations.relu(x, **kwargs)), rtol=1e-6)


def test_layers_and_weights_in_keras_order(keras):
    """A functional model lists its layers (and so its weights) as Keras 3 does: by depth
    from the inputs, ties in the order a walk from the outputs meets them."""
    def encoder_decoder(lib):  # the decoder's first argument is the deeper branch's
        L = lib.layers
        enc_in, dec_in = lib.Input((3,), name="enc_in"), lib.Input((3,), name="dec_in")
        state = L.Dense(2, name="enc")(L.Dense(2, name="e1")(enc_in))
        seq = L.Add(name="dec")([L.Dense(2, name="e2")(dec_in), state])
        return lib.Model([enc_in, dec_in], L.Dense(4, name="out")(seq))

    def branches(lib):
        L = lib.layers
        a, b = lib.Input((4,), name="a"), lib.Input((4,), name="b")
        shared = L.Dense(3, name="shared")
        left = L.Dense(3, name="l2")(L.Dense(3, name="l1")(shared(a)))
        merged = L.Concatenate(name="cat")([left, shared(b), L.Dense(2, name="r")(b)])
        return lib.Model([a, b], [L.Dense(1, name="y1")(merged), L.Dense(2, name="y2")(left)])

    for make in (encoder_decoder, branches):
        ours, theirs = make(jkeras), make(keras)
        want = [layer.name for layer in theirs.layers
                if type(layer).__name__ != "InputLayer"]
        assert [layer.name for layer in ours.layers] == want
        assert [w.shape for w in ours.get_weights()] == \
            [tuple(w.shape) for w in theirs.get_weights()]
