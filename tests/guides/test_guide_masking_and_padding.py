"""Keras 3 guide "Understanding masking & padding"
(keras.io/guides/understanding_masking_and_padding), run on jkeras.

The guide's code with ``keras`` replaced by ``jkeras`` and its ``tf.*`` calls by
``jkeras.ops`` (``tf.split`` -> ``ops.split``, ``tf.not_equal`` -> ``ops.not_equal``,
``tf.nn.embedding_lookup`` -> ``ops.take(..., axis=0)``, ...), as its Keras 3 edition
has them; ``pad_sequences`` is ``jkeras.utils.pad_sequences``. Every section runs:
padding, the masks ``Embedding(mask_zero=True)`` and ``Masking`` attach as
``_keras_mask``, mask propagation in the Sequential and functional models, a mask passed
by hand from ``compute_mask`` to an ``LSTM`` in a subclassed layer, ``TemporalSplit``
(a layer that splits the mask), ``CustomEmbedding`` (a layer that makes one),
``MyActivation`` (``supports_masking``) and ``TemporalSoftmax`` (``call(inputs,
mask=None)``).

Checked: the padded array and every mask against NumPy and Keras 3; that a masked
``LSTM`` ignores the padding (its output for a padded sequence is its output for the
sequence without the padding); the subclassed layer's and ``TemporalSoftmax``'s outputs
against the same layers in Keras 3 on the same weights; that a layer which does not opt in
drops the mask, as the guide says.

Changed: the guide's last call, ``model(x, np.random.random((32, 100, 1)))``, passes a
random array as ``training``; Keras 3 refuses it ("got multiple values for argument
'training'"), so the model is called on ``x`` alone. ``TemporalSoftmax`` sums over the
last axis, of size 1, so each kept step comes out 1 and each masked one 0/0 (NaN), in
Keras 3 as here; the softmax over time the guide describes is checked as well, with the
sum over axis 1.
"""
import numpy as np
import pytest

import jkeras
from jkeras import layers, ops

RNG = np.random.default_rng(0)

raw_inputs = [
    [711, 632, 71],
    [73, 8, 3215, 55, 927],
    [83, 91, 1, 645, 1253, 927],
]
PADDED = np.array([[711, 632, 71, 0, 0, 0],
                   [73, 8, 3215, 55, 927, 0],
                   [83, 91, 1, 645, 1253, 927]])   # what the guide prints


def copy_weights(source, target):
    target.set_weights([np.asarray(w) for w in source.get_weights()])


def assert_ignores_padding(model, padded):
    """A masked model's output for the first row, post-padded from 3 steps to 6, is its
    output for those 3 steps alone (no padding, no mask there): the padding was skipped."""
    out = np.asarray(model(padded))
    np.testing.assert_allclose(out[0], np.asarray(model(padded[:, :3]))[0], rtol=1e-5,
                               atol=1e-6)
    return out


# --- Padding sequence data ------------------------------------------------------------------


def test_padding_sequence_data(keras):
    # By default, this will pad using 0s; it is configurable via the
    # "value" parameter.
    # Note that you could use "pre" padding (at the beginning) or
    # "post" padding (at the end).
    padded_inputs = jkeras.utils.pad_sequences(raw_inputs, padding="post")
    np.testing.assert_array_equal(padded_inputs, PADDED)
    np.testing.assert_array_equal(padded_inputs,
                                  keras.utils.pad_sequences(raw_inputs, padding="post"))
    assert padded_inputs.dtype == "int32"


# --- Mask-generating layers: Embedding and Masking ------------------------------------------


def masked_embedding_of(padded_inputs):
    masking_layer = layers.Masking()
    # Simulate the embedding lookup by expanding the 2D input to 3D,
    # with embedding dimension of 10.
    unmasked_embedding = ops.cast(
        ops.tile(ops.expand_dims(padded_inputs, axis=-1), [1, 1, 10]), "float32"
    )
    return masking_layer(unmasked_embedding)


def test_mask_generating_layers(keras):
    padded_inputs = jkeras.utils.pad_sequences(raw_inputs, padding="post")
    embedding = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
    masked_output = embedding(padded_inputs)

    # A 2D boolean (batch_size, sequence_length) mask, False on the padding.
    expected = keras.layers.Embedding(5000, 16, mask_zero=True)(PADDED)._keras_mask
    np.testing.assert_array_equal(expected, PADDED != 0)
    np.testing.assert_array_equal(masked_output._keras_mask, expected)
    assert masked_output._keras_mask.dtype == bool

    masked_embedding = masked_embedding_of(padded_inputs)
    np.testing.assert_array_equal(masked_embedding._keras_mask, expected)
    np.testing.assert_array_equal(masked_embedding, np.repeat(PADDED[..., None], 10, -1))


# --- Mask propagation in the Functional API and Sequential API ------------------------------


def test_mask_propagation_in_sequential_and_functional_models():
    keras = jkeras
    model = keras.Sequential(
        [
            layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True),
            layers.LSTM(32),
        ]
    )
    out = assert_ignores_padding(model, PADDED)
    sequential = model

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(inputs)
    outputs = layers.LSTM(32)(x)

    model = keras.Model(inputs, outputs)
    assert x._keras_mask.shape == (None, None) and x._keras_mask.dtype == bool
    assert outputs._keras_mask is None      # the LSTM returns its last output only
    copy_weights(sequential, model)         # the same model, so the same masked outputs
    np.testing.assert_allclose(model(PADDED), out, rtol=1e-5, atol=1e-6)
    # Called one by one, the LSTM gets the mask the embedding's output carries (Keras 3).
    embedding, lstm = model.layers
    np.testing.assert_allclose(lstm(embedding(PADDED)), out, rtol=1e-5, atol=1e-6)


# --- Passing mask tensors directly to layers ------------------------------------------------


def my_layer_class(layers):
    class MyLayer(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embedding = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
            self.lstm = layers.LSTM(32)

        def call(self, inputs):
            x = self.embedding(inputs)
            # Note that you could also prepare a `mask` tensor manually.
            # It only needs to be a boolean tensor
            # with the right shape, i.e. (batch_size, timesteps).
            mask = self.embedding.compute_mask(inputs)
            output = self.lstm(x, mask=mask)  # The layer will ignore the masked values
            return output

    return MyLayer


def test_passing_mask_tensors_directly_to_layers(keras):
    layer = my_layer_class(layers)()
    x = RNG.random((32, 10)) * 100
    x = x.astype("int32")
    x[:8, 6:] = 0        # padding for sure (the guide's random indices rarely hit 0)
    y = layer(x)

    reference = my_layer_class(keras.layers)()
    reference(x)
    copy_weights(layer, reference)
    np.testing.assert_allclose(y, reference(x), rtol=1e-5, atol=1e-6)

    # Without the explicit mask, Keras 3 passes the embedding's mask on by itself inside a
    # subclassed layer too; so does jkeras (the layer's frame keeps it).
    class Implicit(my_layer_class(layers)):
        def call(self, inputs):
            return self.lstm(self.embedding(inputs))

    implicit = Implicit()
    implicit(x)
    copy_weights(layer, implicit)
    np.testing.assert_allclose(implicit(x), y, rtol=1e-5, atol=1e-6)


# --- Supporting masking in your custom layers -----------------------------------------------


def temporal_split_class(keras, ops):
    class TemporalSplit(keras.layers.Layer):
        """Split the input tensor into 2 tensors along the time dimension."""

        def call(self, inputs):
            # Expect the input to be 3D and mask to be 2D, split the input tensor into 2
            # subtensors along the time axis (axis 1).
            return ops.split(inputs, 2, axis=1)

        def compute_mask(self, inputs, mask=None):
            # Also split the mask into 2 if it presents.
            if mask is None:
                return None
            return ops.split(mask, 2, axis=1)

    return TemporalSplit


def test_a_layer_that_modifies_the_mask(keras):
    TemporalSplit = temporal_split_class(jkeras, ops)
    masked_embedding = masked_embedding_of(PADDED)
    first_half, second_half = TemporalSplit()(masked_embedding)
    np.testing.assert_array_equal(first_half._keras_mask, PADDED[:, :3] != 0)
    np.testing.assert_array_equal(second_half._keras_mask, PADDED[:, 3:] != 0)
    np.testing.assert_array_equal(second_half, masked_embedding[:, 3:])

    # In a functional model too, each half gets its own half of the mask (as Keras 3).
    def halves(keras, layers, TemporalSplit):
        inputs = keras.Input(shape=(6,), dtype="int32")
        x = layers.Embedding(input_dim=5000, output_dim=4, mask_zero=True)(inputs)
        first, second = TemporalSplit()(x)
        return inputs, first, second

    inputs, first, second = halves(jkeras, layers, TemporalSplit)
    theirs = halves(keras, keras.layers, temporal_split_class(keras, keras.ops))
    for ours, reference in zip((first, second), theirs[1:]):
        assert ours._keras_mask.shape == tuple(reference._keras_mask.shape) == (None, 3)
        assert ours._keras_mask.dtype == bool

    class ShowMask(layers.Layer):   # a mask consumer that returns the mask it is given
        def call(self, inputs, mask=None):
            return mask

    model = jkeras.Model(inputs, [ShowMask()(first), ShowMask()(second)])
    for got, want in zip(model(PADDED), (PADDED[:, :3] != 0, PADDED[:, 3:] != 0)):
        np.testing.assert_array_equal(got, want)


class CustomEmbedding(jkeras.layers.Layer):
    def __init__(self, input_dim, output_dim, mask_zero=False, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.mask_zero = mask_zero

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            shape=(self.input_dim, self.output_dim),
            initializer="random_normal",
            dtype="float32",
        )

    def call(self, inputs):
        return ops.take(self.embeddings, inputs, axis=0)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)


def test_a_layer_that_generates_a_mask():
    layer = CustomEmbedding(10, 32, mask_zero=True)
    x = RNG.random((3, 10)) * 9
    x = x.astype("int32")

    y = layer(x)
    mask = layer.compute_mask(x)

    np.testing.assert_array_equal(mask, x != 0)
    np.testing.assert_array_equal(y._keras_mask, x != 0)   # attached on the call too
    np.testing.assert_array_equal(y, layer.embeddings.numpy()[x])
    assert CustomEmbedding(10, 32)(x).__dict__.get("_keras_mask") is None


# --- Opting-in to mask propagation on compatible layers -------------------------------------


def activation_classes(keras, ops):
    class MyActivation(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            # Signal that the layer is safe for mask propagation
            self.supports_masking = True

        def call(self, inputs):
            return ops.relu(inputs)

    class PlainActivation(keras.layers.Layer):  # not opted in
        def call(self, inputs):
            return ops.relu(inputs)

    return MyActivation, PlainActivation


def test_opting_in_to_mask_propagation(keras):
    MyActivation, PlainActivation = activation_classes(jkeras, ops)
    inputs = jkeras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(inputs)
    x = MyActivation()(x)  # Will pass the mask along
    # "Mask found:" a symbolic boolean (batch, timesteps) mask, as Keras 3 prints it.
    reference = keras.Input(shape=(None,), dtype="int32")
    reference = activation_classes(keras, keras.ops)[0]()(
        keras.layers.Embedding(5000, 16, mask_zero=True)(reference))
    assert x._keras_mask.shape == tuple(reference._keras_mask.shape) == (None, None)
    assert x._keras_mask.dtype == reference._keras_mask.dtype == "bool"
    outputs = layers.LSTM(32)(x)  # Will receive the mask

    model = jkeras.Model(inputs, outputs)
    assert_ignores_padding(model, PADDED)

    # By default a custom layer destroys the mask (Keras 3 too).
    assert PlainActivation()(x)._keras_mask is None
    plain = activation_classes(keras, keras.ops)[1]()
    with pytest.warns(UserWarning, match="destroy the mask"):
        y = plain(keras.layers.Embedding(5000, 16, mask_zero=True)(
            keras.Input(shape=(None,), dtype="int32")))
    assert getattr(y, "_keras_mask", None) is None


# --- Writing layers that need mask information ----------------------------------------------


def temporal_softmax_model(keras, ops, axis=-1):
    class TemporalSoftmax(keras.layers.Layer):
        def call(self, inputs, mask=None):
            broadcast_float_mask = ops.expand_dims(ops.cast(mask, "float32"), -1)
            inputs_exp = ops.exp(inputs) * broadcast_float_mask
            inputs_sum = ops.sum(inputs_exp * broadcast_float_mask, axis=axis, keepdims=True)
            return inputs_exp / inputs_sum

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(input_dim=10, output_dim=32, mask_zero=True)(inputs)
    x = keras.layers.Dense(1)(x)
    outputs = TemporalSoftmax()(x)

    return keras.Model(inputs, outputs)


def test_a_layer_that_needs_the_mask(keras):
    model = temporal_softmax_model(jkeras, ops)
    x = RNG.integers(0, 10, size=(32, 100))
    y = model(x)

    reference = temporal_softmax_model(keras, keras.ops)
    copy_weights(model, reference)
    np.testing.assert_allclose(y, reference(x), rtol=1e-6)   # NaN where Keras has NaN
    assert np.all(np.isnan(y[x == 0])) and np.all(np.asarray(y)[x != 0] == 1)

    # The softmax over time the guide describes (sum over axis 1): masked steps get 0.
    model = temporal_softmax_model(jkeras, ops, axis=1)
    embeddings, kernel, bias = model.get_weights()
    logits = (embeddings[x] @ kernel + bias)[..., 0]
    expected = np.where(x != 0, np.exp(logits), 0)
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model(x)[..., 0], expected, rtol=1e-5, atol=1e-7)
