"""RNN(cell), the cells, StackedRNNCells, user cells and ConvLSTM: parity with Keras 3 (weights,
paths, outputs, states), RNN(LSTMCell) against LSTM, stateful carries, one scan, errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkeras
from jkeras import layers as L

RNG = np.random.default_rng(0)
TOL = dict(rtol=1e-5, atol=1e-5)
# Parity tests overwrite the weights they build: an orthogonal initializer compiled afresh for
# each new shape takes seconds in both libraries, so their ConvLSTMs start from zeros.
NO_QR = {"recurrent_initializer": "zeros"}


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def jit_apply(layer):
    return jax.jit(layer.apply, static_argnames="training")


def assert_trees_close(a, b, **tol):
    a, b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert np.shape(x) == np.shape(y)
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), **(tol or TOL))


def make_mask(batch, steps):
    mask = np.ones((batch, steps), bool)
    mask[0, steps - 2:] = False   # padding at the end
    mask[1, :2] = False           # at the start
    mask[2 % batch, 3] = False    # in the middle
    return mask


def twins(keras, ours, theirs, x):
    """``ours`` built on ``x`` with the weights of ``theirs`` (built too); same paths."""
    theirs.build(x.shape)
    ours.compute_output_shape(x.shape)
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
    ours.set_weights(theirs.get_weights())
    return ours, theirs


# -- user cells: the same math written for jkeras (pure) and for Keras ------------------------
class PureCell(L.Layer):
    """Two states of different sizes; the output is the first state."""

    state_size = [3, 2]
    output_size = 3

    def build(self, rng, input_shape, states_shape=None):
        return {"w": jax.random.normal(rng, (input_shape[-1], 3))}, {}

    def call(self, params, state, inputs, states, *, training=False, rng=None):
        a, b = states
        a = jnp.tanh(inputs @ params["w"] + a)
        return (a, [a, 0.5 * b + a[:, :2]]), state


def keras_cell(keras):
    class KerasCell(keras.layers.Layer):
        state_size = [3, 2]
        output_size = 3

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 3), name="w")

        def call(self, inputs, states):
            a, b = states
            a = keras.ops.tanh(inputs @ self.w + a)
            return a, [a, 0.5 * b + a[:, :2]]

    return KerasCell(name="pure_cell")


@pytest.mark.parametrize("kwargs", [
    {"return_sequences": True, "return_state": True},
    {"go_backwards": True, "zero_output_for_mask": True},
    {"return_sequences": True, "zero_output_for_mask": True, "go_backwards": True},
])
def test_user_cell_matches_keras(keras, kwargs):
    x, mask = rand(3, 6, 5), make_mask(3, 6)
    ours, theirs = twins(keras, L.RNN(PureCell(), **kwargs), keras.layers.RNN(
        keras_cell(keras), **kwargs), x)
    if kwargs.get("return_state"):  # no mask, zero states: once is enough
        assert_trees_close(ours(x), theirs(x))
    init = [rand(3, 3), rand(3, 2)]
    assert_trees_close(ours(x, mask=mask, initial_state=init),
                       theirs(x, mask=mask, initial_state=init))


def test_user_cell_output_other_than_its_first_state():
    """The last output is the cell's, not its first state (checked against a Python loop)."""
    class Cell(PureCell):
        output_size = 5

        def call(self, params, state, inputs, states, *, training=False, rng=None):
            (a, new), state = super().call(params, state, inputs, states)
            return (jnp.concatenate([a, new[1]], -1), new), state

    x = rand(2, 4, 3)
    rnn = L.RNN(Cell(), return_state=True)
    out, a, b = rnn(x)
    cell_params = rnn.params[rnn.cell.name]
    states = [jnp.zeros((2, 3)), jnp.zeros((2, 2))]
    for t in range(4):
        (want, states), _ = rnn.cell.call(cell_params, {}, x[:, t], states)
    assert_trees_close((out, a, b), (want, *states))


def test_user_cell_gets_a_key_per_step_and_its_state_threads_through():
    class Noisy(L.Layer):
        state_size = 2
        uses_training = uses_rng = True

        def build(self, rng, input_shape, states_shape=None):
            return {}, {"count": jnp.zeros(())}

        def call(self, params, state, inputs, states, *, training=False, rng=None):
            noise = jax.random.normal(rng, states[0].shape) if training else 0.0
            return (states[0] + noise, [states[0] + noise]), {"count": state["count"] + 1}

    rnn = L.RNN(Noisy(), return_sequences=True)
    x = np.zeros((2, 5, 1), "float32")
    rnn.compute_output_shape(x.shape)
    key = jax.random.key(7)
    y, new = rnn.apply(rnn.params, rnn.state, x, training=True, rng=key)
    want = np.cumsum([jax.random.normal(jax.random.fold_in(key, t), (2, 2)) for t in range(5)], 0)
    np.testing.assert_allclose(y, np.swapaxes(want, 0, 1), **TOL)
    assert float(new["noisy"]["count"]) == 5
    np.testing.assert_array_equal(rnn.apply(rnn.params, rnn.state, x)[0], 0)
    with pytest.raises(ValueError, match=r"needs a PRNG key"):
        rnn.apply(rnn.params, rnn.state, x, training=True)


# -- Keras-style cells: one source for Keras 3 and for jkeras --------------------------------
@pytest.fixture(scope="module")
def sum_cells(keras):
    """The class ``SumCell`` written once, as Keras' guide writes cells, for each library
    (registered, since Bidirectional copies layers through their configs)."""
    def make(lib):
        class SumCell(lib.layers.Layer):
            """h = tanh(x W + h U + b), a running sum of h; outputs 2 h."""

            def __init__(self, units, **kwargs):
                super().__init__(**kwargs)
                self.units, self.state_size = units, [units, units]

            def build(self, input_shape):
                self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")
                self.u = self.add_weight(shape=(self.units, self.units), name="u")
                self.b = self.add_weight(shape=(self.units,), name="b", initializer="ones")

            def call(self, inputs, states, training=None):
                h = lib.ops.tanh(inputs @ self.w + states[0] @ self.u + self.b)
                return 2.0 * h, [h, states[1] + h]

        return lib.saving.register_keras_serializable(package="test_rnn")(SumCell)
    return make(jkeras), make(keras)


def test_keras_style_cell_matches_keras(keras, sum_cells):
    ours_cell, their_cell = sum_cells
    x, mask, init = rand(3, 6, 5), make_mask(3, 6), [rand(3, 4), rand(3, 4)]
    kwargs = dict(return_sequences=True, return_state=True, go_backwards=True)
    ours, theirs = twins(keras, L.RNN(ours_cell(4, name="c"), **kwargs),
                         keras.layers.RNN(their_cell(4, name="c"), **kwargs), x)
    assert [w.path for w in ours.weights] == ["rnn/c/w", "rnn/c/u", "rnn/c/b"]
    assert_trees_close(ours(x, mask=mask, initial_state=init),
                       theirs(x, mask=mask, initial_state=init))
    # Stacked, in both directions: one Bidirectional over a stack of two such cells.
    bi = [lib.layers.Bidirectional(lib.layers.RNN([cell(4, name="a"), cell(3, name="b")],
                                                  return_sequences=True))
          for lib, cell in ((jkeras, ours_cell), (keras, their_cell))]
    bi[1].build(x.shape)
    bi[0].compute_output_shape(x.shape)
    assert isinstance(bi[0].forward_layer.cell, L.StackedRNNCells) and len(bi[0].weights) == 12
    bi[0].set_weights(bi[1].get_weights())
    assert_trees_close(bi[0](x, mask=mask), bi[1](x, mask=mask))


def test_losses_a_cell_adds_at_each_step_match_keras_unrolled(keras):
    """A cell's ``add_loss`` inside the scan: the sum over every step (masked ones too),
    as Keras 3 adds one loss per step when it unrolls (it cannot inside its scan)."""
    def make(lib):
        class PenaltyCell(lib.layers.Layer):
            def __init__(self, units, **kwargs):
                super().__init__(**kwargs)
                self.units = self.state_size = units

            def build(self, input_shape):
                self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")

            def call(self, inputs, states, training=None):
                h = lib.ops.tanh(inputs @ self.w + states[0])
                self.add_loss(0.1 * lib.ops.sum(h ** 2))
                return h, [h]

        layer = lib.layers.RNN(PenaltyCell(3, name="c"), unroll=lib is keras)
        model = lib.Sequential([lib.Input((5, 4)), layer, lib.layers.Dense(1)])
        model.compile(lib.optimizers.SGD(0.1), "mse")
        return model

    ours, theirs = make(jkeras), make(keras)
    ours.set_weights(theirs.get_weights())
    x, y, mask = rand(3, 5, 4), rand(3, 1), make_mask(3, 5)
    rnn, their_rnn = ours.layers[0], theirs.layers[0]
    rnn(x, mask=mask)
    their_rnn(x, mask=mask)
    assert len(their_rnn.losses) == 5 and len(rnn.losses) == 1
    np.testing.assert_allclose(rnn.losses[0], sum(map(np.asarray, their_rnn.losses)), **TOL)
    # and in training: the penalty is part of the loss, and of the gradient
    for _ in range(2):
        np.testing.assert_allclose(ours.train_on_batch(x, y), theirs.train_on_batch(x, y),
                                   **TOL)
    assert_trees_close(ours.get_weights(), theirs.get_weights())


@pytest.mark.parametrize("name,shape,kwargs", [
    ("ConvLSTM1D", (2, 3, 2, 7), {"data_format": "channels_first", "dilation_rate": 2,
                                  "padding": "same", "return_sequences": True,
                                  "return_state": True, "merge_mode": "sum"}),
    ("ConvLSTM2D", (2, 3, 6, 5, 2), {"strides": 2, "return_state": True,
                                     "unit_forget_bias": False}),
    ("ConvLSTM3D", (1, 2, 3, 3, 2, 1), {"padding": "same"}),
])
def test_bidirectional_conv_lstm_matches_keras(keras, name, shape, kwargs):
    """Both directions of each ConvLSTM against Keras (the 3-D one by shapes: its
    convolutions compile as the others' do, and slowly), with Keras' weight names."""
    x, merge = rand(*shape), kwargs.pop("merge_mode", "concat")
    ours, theirs = (lib.layers.Bidirectional(getattr(lib.layers, name)(2, 3, **kwargs, **NO_QR),
                                             merge_mode=merge) for lib in (jkeras, keras))
    theirs.build(x.shape)
    shapes = ours.compute_output_shape(x.shape)
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert [w.name for w in ours.weights] == ["kernel", "recurrent_kernel", "bias"] * 2
    if name == "ConvLSTM3D":
        assert shapes == theirs.compute_output_shape(x.shape)
        return
    ours.set_weights([0.5 * rand(*w.shape) for w in theirs.get_weights()])
    theirs.set_weights(ours.get_weights())
    init = [rand(*shapes[1]) for _ in range(4)] if kwargs.get("strides") else None
    want = theirs(x, initial_state=init)
    assert np.abs(np.asarray(jax.tree_util.tree_leaves(want)[0])).max() > 0.1
    assert_trees_close(ours(x, initial_state=init), want)


# -- built-in cells --------------------------------------------------------------------------
CELLS = [("SimpleRNNCell", {}), ("LSTMCell", {"unit_forget_bias": False}),
         ("GRUCell", {"reset_after": False}), ("GRUCell", {})]


@pytest.mark.parametrize("name,kwargs", CELLS)
def test_cell_single_step_matches_keras(keras, name, kwargs):
    x = rand(3, 5)
    ours, theirs = getattr(L, name)(4, **kwargs), getattr(keras.layers, name)(4, **kwargs)
    theirs.build(x.shape)
    ours.compute_output_shape(x.shape, [(3, 4)] * (2 if name == "LSTMCell" else 1))
    ours.set_weights([0.5 * rand(*w.shape) for w in theirs.get_weights()])
    theirs.set_weights(ours.get_weights())
    states = [rand(3, 4) for _ in range(2 if name == "LSTMCell" else 1)]
    assert ours.state_size == theirs.state_size
    assert_trees_close(ours(x, states), theirs(x, states))


@pytest.mark.parametrize("name,layer", [("LSTMCell", "LSTM"), ("GRUCell", "GRU"),
                                        ("SimpleRNNCell", "SimpleRNN")])
def test_rnn_over_a_cell_is_the_builtin_layer(keras, name, layer):
    x, mask = rand(3, 6, 5), make_mask(3, 6)
    kwargs = dict(return_sequences=True, return_state=True, go_backwards=True)
    ours, theirs = twins(keras, L.RNN(getattr(L, name)(4), **kwargs),
                         keras.layers.RNN(getattr(keras.layers, name)(4), **kwargs), x)
    builtin = getattr(L, layer)(4, **kwargs)
    builtin.compute_output_shape(x.shape)
    builtin.set_weights(ours.get_weights())
    assert [w.path for w in builtin.weights] == [
        f"{builtin.name}/{w}" for w in ("kernel", "recurrent_kernel", "bias")]
    init = [rand(3, 4) for _ in range(ours.carries)]
    got = ours(x, mask=mask, initial_state=init)
    assert_trees_close(got, theirs(x, mask=mask, initial_state=init))
    assert_trees_close(builtin(x, mask=mask, initial_state=init), got)


def test_rnn_of_lstm_cell_dropout_equals_lstm_dropout():
    x = rand(3, 6, 5)
    rnn = L.RNN(L.LSTMCell(4, dropout=0.3, recurrent_dropout=0.2), return_sequences=True)
    lstm = L.LSTM(4, dropout=0.3, recurrent_dropout=0.2, return_sequences=True)
    rnn.compute_output_shape(x.shape)
    lstm.compute_output_shape(x.shape)
    lstm.set_weights(rnn.get_weights())
    assert rnn.uses_rng and lstm.units == 4 and lstm.dropout == 0.3
    key = jax.random.key(3)
    a, _ = jit_apply(rnn)(rnn.params, rnn.state, x, training=True, rng=key)
    b, _ = jit_apply(lstm)(lstm.params, lstm.state, x, training=True, rng=key)
    np.testing.assert_allclose(a, b, **TOL)
    assert np.abs(np.asarray(a) - np.asarray(rnn(x))).max() > 1e-3


def test_stacked_cells_match_keras(keras):
    x, mask = rand(3, 6, 5), make_mask(3, 6)
    kwargs = dict(return_state=True, return_sequences=True)
    ours, theirs = twins(
        keras, L.RNN(L.StackedRNNCells([L.LSTMCell(4), L.GRUCell(4), L.SimpleRNNCell(4)]),
                     **kwargs),
        keras.layers.RNN(keras.layers.StackedRNNCells([
            keras.layers.LSTMCell(4), keras.layers.GRUCell(4),
            keras.layers.SimpleRNNCell(4)]), **kwargs), x)
    assert ours.weights[0].path == "rnn/stacked_rnn_cells/lstm_cell/kernel"
    out = ours(x, mask=mask)
    assert_trees_close(out, theirs(x, mask=mask))
    assert [len(s) for s in out[1:]] == [2, 1, 1]  # each cell's states, in a list
    # A list of cells is stacked, and a user cell can join the built-in ones.
    mixed = L.RNN([L.GRUCell(4), PureCell()])
    mixed.compute_output_shape(x.shape)
    assert isinstance(mixed.cell, L.StackedRNNCells) and not mixed.cell.fused
    gru, pure = L.RNN(L.GRUCell(4), return_sequences=True), L.RNN(PureCell())
    gru.compute_output_shape(x.shape)
    pure.compute_output_shape((3, 6, 4))
    gru.set_weights(mixed.get_weights()[:3])
    pure.set_weights(mixed.get_weights()[3:])
    np.testing.assert_allclose(mixed(x), pure(gru(x)), **TOL)


def test_stacked_dropout_draws_masks_once_per_sequence():
    x = rand(2, 5, 4)
    rnn = L.RNN([L.SimpleRNNCell(4), L.SimpleRNNCell(4, dropout=0.5)], return_sequences=True)
    rnn.compute_output_shape(x.shape)
    eye = np.eye(4, dtype="float32")
    rnn.set_weights([eye, 0 * eye, np.zeros(4), eye, 0 * eye, np.zeros(4)])
    rnn.cell.cells[0].activation = rnn.cell.cells[1].activation = lambda z: z
    y, _ = jit_apply(rnn)(rnn.params, rnn.state, x, training=True, rng=jax.random.key(0))
    ratio = np.asarray(y) / x
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:, :1], ratio.shape), atol=1e-5)
    assert set(np.round(ratio.ravel(), 4)) == {0.0, 2.0}


# -- options ------------------------------------------------------------------------------
def test_unroll_and_symbolic_inputs():
    x = rand(2, 5, 3)
    rolled = L.RNN(PureCell(), return_sequences=True)
    unrolled = L.RNN(PureCell(), return_sequences=True, unroll=True)
    rolled.compute_output_shape(x.shape)
    unrolled.compute_output_shape(x.shape)
    unrolled.set_weights(rolled.get_weights())
    np.testing.assert_allclose(unrolled(x), rolled(x), **TOL)
    inp = jkeras.Input((None, 3))
    out = L.RNN(L.StackedRNNCells([L.LSTMCell(4), PureCell()]), return_state=True)(inp)
    assert [t.shape for t in jax.tree_util.tree_leaves(out)] == [
        (None, 3), (None, 4), (None, 4), (None, 3), (None, 2)]


def test_stateful_user_cell_keeps_states_of_different_shapes():
    x1, x2 = rand(2, 4, 3), rand(2, 4, 3)
    rnn = L.RNN(PureCell(), stateful=True, return_state=True)
    _, a, b = rnn(x1)
    assert sorted(rnn.state["states"]) == ["0", "1"]
    assert [w.path for w in rnn.weights] == ["rnn/pure_cell/w"] and rnn.count_params() == 9
    np.testing.assert_allclose(rnn.state["states"]["1"], b, **TOL)
    plain = L.RNN(PureCell(), return_state=True)
    plain.compute_output_shape(x1.shape)
    plain.set_weights(rnn.get_weights())
    assert_trees_close(rnn(x2), plain(x2, initial_state=[a, b]))
    rnn.reset_states()
    np.testing.assert_array_equal(rnn.state["states"]["0"], 0)
    assert_trees_close(rnn(x1), plain(x1))
    rnn.reset_states([np.ones((2, 3)), np.ones((2, 2))])
    np.testing.assert_array_equal(rnn.state["states"]["1"], 1)
    with pytest.raises(ValueError, match=r"reset_states must be 2 array\(s\)"):
        rnn.reset_states([np.ones((2, 3))])


def test_bidirectional_over_a_cell_and_regularizers():
    x = rand(2, 5, 3)
    bi = L.Bidirectional(L.RNN(L.LSTMCell(4, kernel_regularizer="l2",
                                          kernel_constraint="non_neg")))
    assert bi(x).shape == (2, 8)
    rnn = L.RNN(L.LSTMCell(4, kernel_regularizer="l2", kernel_constraint="non_neg"))
    rnn.compute_output_shape(x.shape)
    kernel = rnn.get_weights()[0]
    np.testing.assert_allclose(rnn.regularization_loss(rnn.params),
                               0.01 * (kernel ** 2).sum(), rtol=1e-5)
    projected = rnn.apply_constraints(rnn.params)[rnn.cell.name]["kernel"]
    np.testing.assert_array_equal(projected, np.maximum(kernel, 0))


def test_the_time_loop_is_one_scan_for_every_kind_of_cell(sum_cells):
    for rnn in (L.LSTM(4, return_sequences=True), L.RNN([L.LSTMCell(4), L.GRUCell(4)]),
                L.RNN(PureCell(), return_sequences=True), L.RNN(sum_cells[0](4)),
                L.ConvLSTM1D(3, 3, return_sequences=True)):
        shape = (2, 8, 5, 2) if isinstance(rnn, L.ConvLSTM1D) else (2, 8, 5)
        xs = np.ones(shape, "float32")
        rnn.compute_output_shape(xs.shape)
        mask = xs.reshape(2, 8, -1)[..., 0] > 0
        jaxpr = str(jax.make_jaxpr(rnn.apply)(rnn.params, rnn.state, xs, mask=mask))
        assert jaxpr.count("scan[") == 1


def test_bad_cells_and_inputs():
    with pytest.raises(ValueError, match=r"'r'.*state_size"):
        L.RNN(L.Dense(3), name="r")
    with pytest.raises(ValueError, match=r"rank >= 3"):
        L.RNN(L.LSTMCell(3))(rand(4, 5))
    with pytest.raises(ValueError, match=r"different names"):
        L.StackedRNNCells([L.GRUCell(2, name="c"), L.GRUCell(2, name="c")])
    with pytest.raises(ValueError, match=r"initial_state must be 2 array\(s\) of shape"):
        L.RNN(PureCell())(rand(2, 5, 4), initial_state=[rand(2, 3)])


# -- ConvLSTM --------------------------------------------------------------------------------
def test_conv_lstm_mask_skips_steps_and_dropout_per_gate():
    x = rand(2, 4, 5, 2)
    layer = L.ConvLSTM1D(3, 3, padding="same")
    y = layer(x, mask=np.array([[1, 1, 0, 0], [1, 1, 1, 1]], bool))
    np.testing.assert_allclose(y[0], jit_apply(layer)(layer.params, {}, x[:1, :2])[0][0], **TOL)
    np.testing.assert_allclose(y[1], layer(x)[1], **TOL)
    drop = L.ConvLSTM1D(3, 3, padding="same", dropout=0.4, recurrent_dropout=0.4)
    drop.compute_output_shape(x.shape)
    run = jit_apply(drop)
    a, _ = run(drop.params, drop.state, x, training=True, rng=jax.random.key(0))
    b, _ = run(drop.params, drop.state, x, training=True, rng=jax.random.key(1))
    assert np.abs(np.asarray(a) - np.asarray(b)).max() > 1e-3
    np.testing.assert_allclose(drop(x, training=False), run(drop.params, drop.state, x)[0],
                               **TOL)
