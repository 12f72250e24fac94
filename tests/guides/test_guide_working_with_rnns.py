"""Keras 3 guide "Working with RNNs" (keras.io/guides/working_with_rnns), run on jkeras.

The guide's code with ``keras`` replaced by ``jkeras`` (its models as functions of the
``keras`` namespace), at small sizes (``UNITS``, ``STEPS``, ``VOCAB`` below) and on
synthetic data instead of the MNIST download. Checked against NumPy forms of Keras'
LSTM, GRU and SimpleRNN given the models' weights: the outputs of every model the guide
builds (the Embedding + LSTM classifier, the GRU + SimpleRNN stack, the encoder-decoder
whose encoder states start the decoder, the stateful LSTM over three paragraphs, which
equals one pass over them joined until ``reset_states()``, the new layer started from
``lstm_layer.states``, the Bidirectional stack, the CuDNN section's model after training,
BatchNormalization's statistics included), and ``RNN(LSTMCell)`` equal to ``LSTM``, in a
call and in training. The ``summary()`` tables: Keras 3's own rows before a Sequential
model is built (``?`` and ``0 (unbuilt)``), then Keras' parameter formulas (which give
the guide's printed counts at its sizes). The NumPy forms stand in for a Keras 3 model
with the same weights, as cheaper: building and tracing Keras' recurrent layers costs
seconds each.

"RNNs with list/dict inputs, or nested inputs" runs too, with smaller sizes, and is checked
against NumPy: Keras 3 cannot run it (its ``RNN`` takes one sequence tensor, and ``build``
gets the first input's shape only), so neither can a comparison. Its cell is the guide's
with ``tf.TensorShape([...])`` written as a shape tuple, ``tf.nest.flatten`` as
``jax.tree_util.tree_leaves``, ``tf.matmul``/``tf.einsum`` as ``jkeras.ops``', and
``get_config`` reading ``self.unit_2`` (the guide reads a global).

The CuDNN section trains on 64 synthetic "digits" (of STEPS rows of UNITS pixels) for one
epoch, with ``shuffle=False`` so that its two models see the same batches; its
``tf.device("CPU:0")`` block runs without the device scope (jkeras runs on JAX's default
device) and without ``plt.imshow``.
"""
import io
import re

import jax
import numpy as np
import pytest

import jkeras
from jkeras import layers, ops

RNG = np.random.default_rng(0)
# The guide's sizes, made small: every recurrent layer has UNITS units (the guide's 32 to
# 256) on UNITS features (its 10 to 64), over STEPS time steps, and a vocabulary of VOCAB.
UNITS, STEPS, VOCAB = 4, 3, 12


def param_counts(model):
    """The "Param #" column of ``model.summary()``, one entry per layer."""
    out = io.StringIO()
    model.summary(print_fn=lambda line, **kwargs: out.write(line + "\n"))
    lines = out.getvalue().splitlines()
    counts = []
    for layer in model.layers:
        row = next(line for line in lines if f"{layer.name} ({type(layer).__name__})" in line)
        counts.append([c.strip() for c in re.split(r"│|\s{2,}", row) if c.strip()][-1])
    return counts


def assert_close(ours, theirs, rtol=1e-5, atol=1e-5):
    ours, theirs = jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(theirs)
    assert len(ours) == len(theirs)
    for got, want in zip(ours, theirs):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=rtol, atol=atol)


def numpy_lstm(x, kernel, recurrent_kernel, bias, h=None, c=None):
    """Keras' LSTM in NumPy (gates i, f, c, o): every step's h, and the last (h, c)."""
    sigmoid = lambda z: 1 / (1 + np.exp(-z))
    units = recurrent_kernel.shape[0]
    h = np.zeros((x.shape[0], units)) if h is None else np.asarray(h, np.float64)
    c = np.zeros((x.shape[0], units)) if c is None else np.asarray(c, np.float64)
    outputs = []
    for t in range(x.shape[1]):
        i, f, g, o = np.split(x[:, t] @ kernel + h @ recurrent_kernel + bias, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1), h, c


# --- Built-in RNN layers: a simple example --------------------------------------------------


def simple_example(keras):
    layers = keras.layers
    model = keras.Sequential()
    # Add an Embedding layer expecting input vocab of size 1000, and
    # output embedding dimension of size 64 (VOCAB and UNITS here).
    model.add(layers.Embedding(input_dim=VOCAB, output_dim=UNITS))

    # Add a LSTM layer with 128 internal units (UNITS here).
    model.add(layers.LSTM(UNITS))

    # Add a Dense layer with 10 units.
    model.add(layers.Dense(10))
    return model


def stacked_example(keras):
    layers = keras.layers
    model = keras.Sequential()
    model.add(layers.Embedding(input_dim=VOCAB, output_dim=UNITS))

    # The output of GRU will be a 3D tensor of shape (batch_size, timesteps, 256)
    # (UNITS here, and below)
    model.add(layers.GRU(UNITS, return_sequences=True))

    # The output of SimpleRNN will be a 2D tensor of shape (batch_size, 128)
    model.add(layers.SimpleRNN(UNITS))

    model.add(layers.Dense(10))
    return model


def numpy_gru(x, kernel, recurrent_kernel, bias):
    """Keras' GRU (``reset_after=True``: gates z, r, h) in NumPy: every step's h."""
    sigmoid = lambda z: 1 / (1 + np.exp(-z))
    h, outputs = np.zeros((x.shape[0], recurrent_kernel.shape[0])), []
    for t in range(x.shape[1]):
        x_z, x_r, x_h = np.split(x[:, t] @ kernel + bias[0], 3, axis=-1)
        h_z, h_r, h_h = np.split(h @ recurrent_kernel + bias[1], 3, axis=-1)
        z, r = sigmoid(x_z + h_z), sigmoid(x_r + h_r)
        h = z * h + (1 - z) * np.tanh(x_h + r * h_h)
        outputs.append(h)
    return np.stack(outputs, axis=1)


def numpy_simple_rnn(x, kernel, recurrent_kernel, bias):
    """Keras' SimpleRNN in NumPy: the last h."""
    h = np.zeros((x.shape[0], recurrent_kernel.shape[0]))
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ kernel + h @ recurrent_kernel + bias)
    return h


@pytest.mark.parametrize("example", [simple_example, stacked_example])
def test_built_in_layers_and_return_sequences(keras, example):
    ours, theirs = example(jkeras), example(keras)
    # The guide prints the summary before the model is built: Keras' "0 (unbuilt)" rows.
    assert param_counts(ours) == param_counts(theirs) == ["0 (unbuilt)"] * len(ours.layers)
    tokens = RNG.integers(0, VOCAB, (2, 7))
    y = ours(tokens)
    w = [np.asarray(v, np.float64) for v in ours.get_weights()]
    embedded = w[0][tokens]
    if example is simple_example:
        # Keras' counts: the guide's 64,000, 98,816 and 1,290 for its sizes.
        counts = [VOCAB * UNITS, 4 * UNITS * (UNITS + UNITS + 1), UNITS * 10 + 10]
        _, last, _ = numpy_lstm(embedded, *w[1:4])
    else:
        # The guide's 64,000, 247,296, 49,280 and 1,290.
        counts = [VOCAB * UNITS, 3 * UNITS * (UNITS + UNITS + 2), UNITS * (UNITS + UNITS + 1),
                  UNITS * 10 + 10]
        sequences = numpy_gru(embedded, *w[1:4])
        assert ours.layers[1](ours.layers[0](tokens)).shape == (2, 7, UNITS)
        np.testing.assert_allclose(ours.layers[1](ours.layers[0](tokens)), sequences,
                                   rtol=1e-5, atol=1e-6)
        last = numpy_simple_rnn(sequences, *w[4:7])
    assert param_counts(ours) == [f"{n:,}" for n in counts]
    np.testing.assert_allclose(y, last @ w[-2] + w[-1], rtol=1e-5, atol=1e-6)


# --- Outputs and states ---------------------------------------------------------------------


def encoder_decoder(keras):
    layers = keras.layers
    encoder_vocab = VOCAB
    decoder_vocab = 2 * VOCAB

    encoder_input = layers.Input(shape=(None,))
    encoder_embedded = layers.Embedding(input_dim=encoder_vocab, output_dim=UNITS)(
        encoder_input
    )

    # Return states in addition to output
    output, state_h, state_c = layers.LSTM(UNITS, return_state=True, name="encoder")(
        encoder_embedded
    )
    encoder_state = [state_h, state_c]

    decoder_input = layers.Input(shape=(None,))
    decoder_embedded = layers.Embedding(input_dim=decoder_vocab, output_dim=UNITS)(
        decoder_input
    )

    # Pass the 2 states to a new LSTM layer, as initial state
    decoder_output = layers.LSTM(UNITS, name="decoder")(
        decoder_embedded, initial_state=encoder_state
    )
    output = layers.Dense(10)(decoder_output)

    model = keras.Model([encoder_input, decoder_input], output)
    return model


def test_outputs_and_states_encoder_decoder():
    model = encoder_decoder(jkeras)
    # Keras' counts: the guide's 258,698 for its sizes.
    assert model.count_params() == (3 * VOCAB * UNITS + 2 * 4 * UNITS * (2 * UNITS + 1)
                                    + UNITS * 10 + 10)
    x = [RNG.integers(0, VOCAB, (3, 6)), RNG.integers(0, 2 * VOCAB, (3, 4))]
    y = model(x)
    # By hand: the encoder's last (h, c) start the decoder.
    embed_in, embed_out, encoder, decoder, dense = (
        [np.asarray(w, np.float64) for w in model.get_layer(name).get_weights()]
        for name in ("embedding", "embedding_1", "encoder", "decoder", "dense"))
    _, h, c = numpy_lstm(embed_in[0][x[0]], *encoder)
    _, decoded, _ = numpy_lstm(embed_out[0][x[1]], *decoder, h=h, c=c)
    np.testing.assert_allclose(y, decoded @ dense[0] + dense[1], rtol=1e-5, atol=1e-6)
    # The encoder returns its output, then its states: h (the output again) and c.
    output, state_h, state_c = model.get_layer("encoder")(
        model.get_layer("embedding")(x[0]))
    np.testing.assert_allclose(output, h, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(output, state_h)
    np.testing.assert_allclose(state_c, c, rtol=1e-5, atol=1e-6)


# --- RNN layers and RNN cells ---------------------------------------------------------------


def test_rnn_of_a_cell_is_the_layer():
    x = RNG.random((4, 6, UNITS)).astype("float32")
    lstm = layers.LSTM(UNITS)
    rnn = layers.RNN(layers.LSTMCell(UNITS))
    y = lstm(x)
    rnn(x)
    rnn.set_weights(lstm.get_weights())
    np.testing.assert_allclose(rnn(x), y, rtol=1e-6, atol=1e-6)
    w = [np.asarray(v, np.float64) for v in lstm.get_weights()]
    np.testing.assert_allclose(y, numpy_lstm(x, *w)[1], rtol=1e-5, atol=1e-6)


# --- Cross-batch statefulness ---------------------------------------------------------------


def test_cross_batch_statefulness_and_state_reuse():
    paragraph1 = RNG.random((2, STEPS, UNITS)).astype(np.float32)
    paragraph2 = RNG.random((2, STEPS, UNITS)).astype(np.float32)
    paragraph3 = RNG.random((2, STEPS, UNITS)).astype(np.float32)

    lstm_layer = layers.LSTM(UNITS, stateful=True)
    output = lstm_layer(paragraph1)
    outputs = [output]
    output = lstm_layer(paragraph2)
    outputs.append(output)
    after_two = lstm_layer.states
    output = lstm_layer(paragraph3)
    outputs.append(output)
    # The three calls went on from each other's states: one pass over the joined paragraphs.
    weights = [np.asarray(w, np.float64) for w in lstm_layer.get_weights()]
    joined, _, _ = numpy_lstm(np.concatenate([paragraph1, paragraph2, paragraph3], axis=1),
                              *weights)
    for i, out in enumerate(outputs):
        np.testing.assert_allclose(out, joined[:, STEPS * i + STEPS - 1], rtol=1e-5, atol=1e-6)
    assert [s.shape for s in after_two] == [(2, UNITS)] * 2
    np.testing.assert_allclose(after_two[0], outputs[1], rtol=1e-6)  # h, then c

    # reset_states() will reset the cached state to the original initial_state.
    # If no initial_state was provided, zero-states will be used by default.
    lstm_layer.reset_states()
    assert all(not np.any(s) for s in lstm_layer.states)
    np.testing.assert_allclose(lstm_layer(paragraph1), outputs[0], rtol=1e-6, atol=1e-6)

    # --- RNN State Reuse
    lstm_layer = layers.LSTM(UNITS, stateful=True)
    output = lstm_layer(paragraph1)
    output = lstm_layer(paragraph2)

    existing_state = lstm_layer.states

    new_lstm_layer = layers.LSTM(UNITS)
    new_output = new_lstm_layer(paragraph3, initial_state=existing_state)
    first = [np.asarray(w, np.float64) for w in lstm_layer.get_weights()]
    _, h, c = numpy_lstm(np.concatenate([paragraph1, paragraph2], axis=1), *first)
    new = [np.asarray(w, np.float64) for w in new_lstm_layer.get_weights()]
    _, want, _ = numpy_lstm(paragraph3, *new, h=h, c=c)
    np.testing.assert_allclose(new_output, want, rtol=1e-5, atol=1e-6)
    assert new_lstm_layer.states is None   # not stateful, as in Keras


# --- Bidirectional RNNs ---------------------------------------------------------------------


def bidirectional(keras):
    layers = keras.layers
    model = keras.Sequential()

    model.add(
        layers.Bidirectional(layers.LSTM(UNITS, return_sequences=True), input_shape=(5, UNITS))
    )
    model.add(layers.Bidirectional(layers.LSTM(UNITS)))
    model.add(layers.Dense(10))
    return model


def test_bidirectional():
    model = bidirectional(jkeras)
    x = RNG.random((3, 5, UNITS)).astype("float32")
    y = model(x)
    # Keras' counts, 4 * units * (inputs + units + 1) each way: the guide's 38,400, 41,216
    # and 650 for its sizes.
    assert param_counts(model) == [f"{n:,}" for n in (
        2 * 4 * UNITS * (UNITS + UNITS + 1), 2 * 4 * UNITS * (2 * UNITS + UNITS + 1),
        2 * UNITS * 10 + 10)]
    # By hand: the forward layer's outputs beside the backward one's (run on the reversed
    # sequence, its outputs put back in time order), concatenated.
    w = [np.asarray(v, np.float64) for v in model.get_weights()]
    forward, _, _ = numpy_lstm(x, *w[0:3])
    backward, _, _ = numpy_lstm(x[:, ::-1], *w[3:6])
    first = np.concatenate([forward, backward[:, ::-1]], axis=-1)
    _, h_forward, _ = numpy_lstm(first, *w[6:9])
    _, h_backward, _ = numpy_lstm(first[:, ::-1], *w[9:12])
    want = np.concatenate([h_forward, h_backward], axis=-1) @ w[12] + w[13]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


# --- Performance optimization and CuDNN kernels ---------------------------------------------


def build_model(keras, allow_cudnn_kernel=True):
    batch_size = 64
    # Each MNIST image batch is a tensor of shape (batch_size, 28, 28).
    # Each input sequence will be of size (28, 28) (height is treated like time).
    # (STEPS x UNITS here)
    input_dim = UNITS

    units = UNITS
    output_size = 10  # labels are from 0 to 9

    # CuDNN is only available at the layer level, and not at the cell level.
    # This means `LSTM(units)` will use the CuDNN kernel,
    # while RNN(LSTMCell(units)) will run on non-CuDNN kernel.
    if allow_cudnn_kernel:
        # The LSTM layer with default options uses CuDNN.
        lstm_layer = keras.layers.LSTM(units, input_shape=(None, input_dim))
    else:
        # Wrapping a LSTMCell in a RNN layer will not use CuDNN.
        lstm_layer = keras.layers.RNN(
            keras.layers.LSTMCell(units), input_shape=(None, input_dim)
        )
    model = keras.models.Sequential(
        [
            lstm_layer,
            keras.layers.BatchNormalization(),
            keras.layers.Dense(output_size),
        ]
    )
    return model


def numpy_classifier(x, weights):
    """``build_model``'s model in inference, in NumPy: LSTM, BatchNormalization, Dense."""
    kernel, recurrent, bias, gamma, beta, mean, variance, dense, dense_bias = (
        np.asarray(w, np.float64) for w in weights)
    _, h, _ = numpy_lstm(x, kernel, recurrent, bias)
    return ((h - mean) / np.sqrt(variance + 1e-3) * gamma + beta) @ dense + dense_bias


def test_cudnn_section_lstm_and_rnn_of_lstm_cell():
    labels = RNG.integers(0, 10, 96)
    centres = RNG.random((10, STEPS, UNITS))
    images = np.clip(centres[labels] + 0.1 * RNG.standard_normal((96, STEPS, UNITS)), 0, 1)
    (x_train, y_train), (x_test, y_test) = (images[:64], labels[:64]), (images[64:],
                                                                        labels[64:])
    sample, sample_label = x_train[0], y_train[0]
    batch_size = 32

    model = build_model(jkeras, allow_cudnn_kernel=True)

    model.compile(
        loss=jkeras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer="sgd",
        metrics=["accuracy"],
    )
    fit_kwargs = dict(validation_data=(x_test, y_test), batch_size=batch_size, epochs=1,
                      verbose=0, shuffle=False)
    history = model.fit(x_train, y_train, **fit_kwargs)

    noncudnn_model = build_model(jkeras, allow_cudnn_kernel=False)
    noncudnn_model.set_weights(model.get_weights())
    noncudnn_model.compile(
        loss=jkeras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer="sgd",
        metrics=["accuracy"],
    )
    noncudnn_history = noncudnn_model.fit(x_train, y_train, **fit_kwargs)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    # From the same weights, on the same batches (plain SGD keeps no slots), the LSTM layer
    # trains as the RNN of its cell did.
    again = model.fit(x_train, y_train, **fit_kwargs)
    for key, values in again.history.items():
        np.testing.assert_allclose(noncudnn_history.history[key], values, rtol=1e-5)
    assert_close(noncudnn_model.get_weights(), model.get_weights())

    cpu_model = build_model(jkeras, allow_cudnn_kernel=True)
    cpu_model.set_weights(model.get_weights())
    logits = cpu_model.predict_on_batch(ops.expand_dims(sample, 0))
    result = ops.argmax(logits, axis=1)
    want = numpy_classifier(sample[None], model.get_weights())   # the trained BN statistics
    np.testing.assert_allclose(logits, want, rtol=1e-5, atol=1e-5)
    assert result.shape == (1,) and int(result[0]) == int(np.argmax(want))


# --- RNNs with list/dict inputs, or nested inputs -------------------------------------------


class NestedCell(jkeras.layers.Layer):
    def __init__(self, unit_1, unit_2, unit_3, **kwargs):
        self.unit_1 = unit_1
        self.unit_2 = unit_2
        self.unit_3 = unit_3
        self.state_size = [(unit_1,), (unit_2, unit_3)]
        self.output_size = [(unit_1,), (unit_2, unit_3)]
        super().__init__(**kwargs)

    def build(self, input_shapes):
        # expect input_shape to contain 2 items, [(batch, i1), (batch, i2, i3)]
        i1 = input_shapes[0][1]
        i2 = input_shapes[1][1]
        i3 = input_shapes[1][2]

        self.kernel_1 = self.add_weight(
            shape=(i1, self.unit_1), initializer="uniform", name="kernel_1"
        )
        self.kernel_2_3 = self.add_weight(
            shape=(i2, i3, self.unit_2, self.unit_3),
            initializer="uniform",
            name="kernel_2_3",
        )

    def call(self, inputs, states):
        # inputs should be in [(batch, input_1), (batch, input_2, input_3)]
        # state should be in shape [(batch, unit_1), (batch, unit_2, unit_3)]
        input_1, input_2 = jax.tree_util.tree_leaves(inputs)
        s1, s2 = states

        output_1 = ops.matmul(input_1, self.kernel_1)
        output_2_3 = ops.einsum("bij,ijkl->bkl", input_2, self.kernel_2_3)
        state_1 = s1 + output_1
        state_2_3 = s2 + output_2_3

        output = (output_1, output_2_3)
        new_states = (state_1, state_2_3)

        return output, new_states

    def get_config(self):
        return {"unit_1": self.unit_1, "unit_2": self.unit_2, "unit_3": self.unit_3}


def test_rnn_with_nested_inputs():
    keras = jkeras
    unit_1 = 2
    unit_2 = 3
    unit_3 = 4

    i1 = 5
    i2 = 3
    i3 = 2
    batch_size = 8
    num_batches = 2
    timestep = 4

    cell = NestedCell(unit_1, unit_2, unit_3)
    rnn = keras.layers.RNN(cell)

    input_1 = keras.Input((None, i1))
    input_2 = keras.Input((None, i2, i3))

    outputs = rnn((input_1, input_2))

    model = keras.models.Model([input_1, input_2], outputs)

    model.compile(optimizer="adam", loss="mse", metrics=["accuracy"])

    input_1_data = RNG.random((batch_size * num_batches, timestep, i1))
    input_2_data = RNG.random((batch_size * num_batches, timestep, i2, i3))
    target_1_data = RNG.random((batch_size * num_batches, unit_1))
    target_2_data = RNG.random((batch_size * num_batches, unit_2, unit_3))
    input_data = [input_1_data, input_2_data]
    target_data = [target_1_data, target_2_data]

    assert [o.shape for o in outputs] == [(None, unit_1), (None, unit_2, unit_3)]
    kernel_1, kernel_2_3 = (np.asarray(w) for w in model.get_weights())
    assert kernel_1.shape == (i1, unit_1) and kernel_2_3.shape == (i2, i3, unit_2, unit_3)
    # The layer's output is the cell's output at the last step.
    last_1 = input_1_data[:, -1] @ kernel_1
    last_2_3 = np.einsum("bij,ijkl->bkl", input_2_data[:, -1], kernel_2_3)
    assert_close(model.predict(input_data, verbose=0), [last_1, last_2_3])
    loss = np.mean((last_1 - target_1_data) ** 2) + np.mean((last_2_3 - target_2_data) ** 2)
    np.testing.assert_allclose(model.evaluate(input_data, target_data, verbose=0)[0], loss,
                               rtol=1e-5)
    # Its states carried the sums over time.
    states_rnn = keras.layers.RNN(NestedCell(unit_1, unit_2, unit_3), return_state=True)
    _, s1, s2 = states_rnn((input_1_data, input_2_data))
    k1, k23 = (np.asarray(w) for w in states_rnn.get_weights())
    assert_close([s1, s2], [input_1_data.sum(1) @ k1,
                            np.einsum("bij,ijkl->bkl", input_2_data.sum(1), k23)])

    history = model.fit(input_data, target_data, batch_size=batch_size, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(model.get_weights()[0], kernel_1)
