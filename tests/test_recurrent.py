"""Recurrent layers and Masking: NumPy references written here, parity with Keras 3, errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkeras
from jkeras.layers.core import Dense, Embedding
from jkeras.layers.masking import Masking
from jkeras.layers.recurrent import GRU, LSTM, SimpleRNN

RNG = np.random.default_rng(0)
TOL = dict(rtol=1e-5, atol=1e-5)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def leaves(tree):
    return [np.asarray(a) for a in jax.tree_util.tree_leaves(tree)]


def assert_trees_close(a, b, **tol):
    a, b = leaves(a), leaves(b)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, **(tol or TOL))


# -- NumPy references: one step of each cell, and the loop over time ------------------------

def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def np_simple_rnn_step(w, x, carry):
    kernel, recurrent, bias = w
    h = np.tanh(x @ kernel + carry[0] @ recurrent + bias)
    return (h,), h


def np_lstm_step(w, x, carry):
    kernel, recurrent, bias = w
    h, c = carry
    i, f, g, o = np.split(x @ kernel + h @ recurrent + bias, 4, axis=-1)  # Keras' i, f, c, o
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    h = sigmoid(o) * np.tanh(c)
    return (h, c), h


def np_gru_step(w, x, carry, reset_after=True):
    kernel, recurrent, bias = w
    (h,), u = carry, recurrent.shape[0]
    b_in, b_rec = (bias[0], bias[1]) if reset_after else (bias, np.zeros_like(bias))
    x_z, x_r, x_h = np.split(x @ kernel + b_in, 3, axis=-1)            # Keras' z, r, h
    if reset_after:
        r_z, r_r, r_h = np.split(h @ recurrent + b_rec, 3, axis=-1)
        z, r = sigmoid(x_z + r_z), sigmoid(x_r + r_r)
        hh = np.tanh(x_h + r * r_h)
    else:
        z = sigmoid(x_z + h @ recurrent[:, :u])
        r = sigmoid(x_r + h @ recurrent[:, u:2 * u])
        hh = np.tanh(x_h + (r * h) @ recurrent[:, 2 * u:])
    h = z * h + (1 - z) * hh
    return (h,), h


def np_rnn(step, w, x, carry, mask=None, go_backwards=False):
    """Outputs in processing order (reversed with go_backwards, as Keras returns them) and the
    final carry; a masked step keeps the carry and outputs the previous h."""
    w = [np.asarray(a, np.float64) for a in w]
    carry = tuple(np.asarray(c, np.float64) for c in carry)
    outs = []
    steps = range(x.shape[1])
    for t in (reversed(steps) if go_backwards else steps):
        new, out = step(w, x[:, t].astype(np.float64), carry)
        if mask is not None:
            m = mask[:, t, None]
            new = tuple(np.where(m, n, c) for n, c in zip(new, carry))
            out = np.where(m, out, carry[0])
        carry = new
        outs.append(out)
    return np.stack(outs, axis=1), carry


KINDS = {
    "simple_rnn": (SimpleRNN, {}, np_simple_rnn_step, 1),
    "lstm": (LSTM, {}, np_lstm_step, 2),
    "gru": (GRU, {}, np_gru_step, 1),
    "gru_reset_before": (GRU, {"reset_after": False},
                         lambda w, x, c: np_gru_step(w, x, c, reset_after=False), 1),
}


def randomize(layer, scale=0.5):
    """Non-trivial weights (biases included) of the same shapes."""
    layer.set_weights([scale * rand(*w.shape) for w in layer.get_weights()])


def make_mask(batch, steps):
    mask = np.ones((batch, steps), bool)
    mask[0, steps - 2:] = False   # padding at the end
    mask[1, :2] = False           # at the start
    mask[2, 3] = False            # in the middle
    return mask


@pytest.mark.parametrize("kind", KINDS)
def test_matches_numpy_reference(kind):
    cls, kwargs, step, n_carry = KINDS[kind]
    x, mask = rand(3, 6, 5), make_mask(3, 6)
    zeros = (np.zeros((3, 4)),) * n_carry
    init = tuple(rand(3, 4) for _ in range(n_carry))

    def expect(layer, carry, mask, go_backwards=False):
        outs, final = np_rnn(step, layer.get_weights(), x, carry, mask, go_backwards)
        out = outs if layer.return_sequences else outs[:, -1]
        return (out, *final) if layer.return_state else out

    both = cls(4, return_sequences=True, return_state=True, **kwargs)
    both.compute_output_shape(x.shape)
    randomize(both)
    assert_trees_close(both(x), expect(both, zeros, None))
    assert_trees_close(both(x, initial_state=list(init), mask=mask), expect(both, init, mask))
    # Backwards: the last output and states (the sequence's order is checked against Keras).
    back = cls(4, go_backwards=True, return_state=True, **kwargs)
    back.compute_output_shape(x.shape)
    back.set_weights(both.get_weights())
    assert_trees_close(back(x, mask=mask), expect(back, zeros, mask, go_backwards=True))


def test_weights_have_keras_names_shapes_and_gate_layout():
    x = rand(2, 3, 5)
    lstm, gru, gru_before, rnn = LSTM(4), GRU(4), GRU(4, reset_after=False), SimpleRNN(4)
    for layer in (lstm, gru, gru_before, rnn):
        layer.compute_output_shape(x.shape)  # builds it
        assert [w.name for w in layer.weights] == ["kernel", "recurrent_kernel", "bias"]
    assert [w.shape for w in lstm.weights] == [(5, 16), (4, 16), (16,)]
    assert [w.shape for w in gru.weights] == [(5, 12), (4, 12), (2, 12)]
    assert [w.shape for w in gru_before.weights] == [(5, 12), (4, 12), (12,)]
    assert [w.shape for w in rnn.weights] == [(5, 4), (4, 4), (4,)]
    # unit_forget_bias: the forget gate (second block) starts at 1, the others at 0.
    np.testing.assert_array_equal(lstm.get_weights()[2], np.repeat([0.0, 1.0, 0.0, 0.0], 4))
    no_forget_bias = LSTM(4, unit_forget_bias=False)
    no_forget_bias.compute_output_shape(x.shape)
    np.testing.assert_array_equal(no_forget_bias.get_weights()[2], np.zeros(16))
    # orthogonal recurrent kernel
    r = rnn.get_weights()[1]
    np.testing.assert_allclose(r @ r.T, np.eye(4), atol=1e-5)
    assert rnn.state == {} and lstm.count_params() == 5 * 16 + 4 * 16 + 16


def test_tutorial_name_scope_example():
    x = rand(3, 6, 5)
    with jkeras.name_scope("block1"):
        layer = LSTM(4, name="mylstm")
        y = layer(x)
    assert y.shape == (3, 4)
    assert [w.path for w in layer.weights] == [
        "block1/mylstm/kernel", "block1/mylstm/recurrent_kernel", "block1/mylstm/bias"]


def test_shared_lstm_has_one_set_of_weights():
    lstm = LSTM(4)
    a, b = jkeras.Input((6, 5)), jkeras.Input((6, 5))
    model = jkeras.Model([a, b], [lstm(a), lstm(b)])
    assert list(model.params) == ["lstm"] and len(model.weights) == 3
    xa, xb = rand(3, 6, 5), rand(3, 6, 5)
    assert_trees_close(model([xa, xb]), (lstm(xa), lstm(xb)))
    net = jkeras.pure(lambda u, v: (lstm(u), lstm(v)))
    params, state = net.init(jax.random.key(0), xa, xb)
    assert list(jkeras.state.flatten(params)) == [
        "lstm/bias", "lstm/kernel", "lstm/recurrent_kernel"]


def jit_apply(layer):
    return jax.jit(layer.apply, static_argnames="training")


def test_eager_jit_vmap_and_training_mode_agree():
    x = rand(2, 3, 7, 5)
    gru = GRU(4, return_sequences=True)
    eager = np.stack([gru(xi) for xi in x])
    jitted = np.stack([jit_apply(gru)(gru.params, gru.state, xi)[0] for xi in x])
    vmapped = jax.jit(jax.vmap(lambda xi: gru.apply(gru.params, gru.state, xi)[0]))(x)
    training = np.stack([gru(xi, training=True) for xi in x])  # no dropout: the same
    for other in (jitted, vmapped, training):
        np.testing.assert_allclose(eager, other, **TOL)


def test_unroll_gives_the_rolled_numbers():
    x = rand(3, 6, 5)
    rolled, unrolled = LSTM(4, return_sequences=True), LSTM(4, return_sequences=True, unroll=True)
    rolled(x), unrolled(x)
    unrolled.set_weights(rolled.get_weights())
    np.testing.assert_allclose(rolled(x), unrolled(x), **TOL)


# -- dropout ----------------------------------------------------------------------------

def identity_rnn(recurrent, **kwargs):
    """A linear SimpleRNN with identity kernels, to read its dropout masks off its outputs."""
    rnn = SimpleRNN(4, activation=None, return_sequences=True, use_bias=False, **kwargs)
    rnn.compute_output_shape((3, 5, 4))
    eye = np.eye(4, dtype="float32")
    rnn.set_weights([eye, eye if recurrent else 0 * eye])
    return rnn


def test_input_dropout_mask_is_drawn_once_per_sequence():
    rnn = identity_rnn(False, dropout=0.5)
    x = 1 + np.abs(rand(3, 5, 4))
    y, _ = jit_apply(rnn)(rnn.params, rnn.state, x, training=True, rng=jax.random.key(1))
    mask = np.asarray(y) / x
    np.testing.assert_allclose(mask, np.broadcast_to(mask[:, :1], mask.shape), atol=1e-6)
    assert set(np.round(mask.ravel(), 5)) == {0.0, 2.0}
    np.testing.assert_allclose(rnn(x, training=False), x, **TOL)   # inference: no dropout


def test_recurrent_dropout_mask_is_drawn_once_per_sequence():
    rnn = identity_rnn(True, recurrent_dropout=0.5)
    x = np.zeros((3, 5, 4), "float32")
    x[:, 0] = 1.0
    y, _ = jit_apply(rnn)(rnn.params, rnn.state, x, training=True, rng=jax.random.key(2))
    y = np.asarray(y)
    # h_t = h_{t-1} * m for t >= 1: the same mask m at every step.
    m = y[:, 1]
    assert set(np.round(m.ravel(), 5)) <= {0.0, 2.0}
    for t in range(2, 5):
        np.testing.assert_allclose(y[:, t], y[:, t - 1] * m, **TOL)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_dropout_in_training_only_and_reproducible(cls):
    x = rand(3, 6, 5)
    layer = cls(4, dropout=0.3, recurrent_dropout=0.3, seed=1)
    plain = layer(x)
    assert layer.uses_rng and layer.uses_training
    run = jit_apply(layer)
    a, _ = run(layer.params, layer.state, x, training=True, rng=jax.random.key(3))
    b, _ = run(layer.params, layer.state, x, training=True, rng=jax.random.key(3))
    c, _ = run(layer.params, layer.state, x, training=True, rng=jax.random.key(4))
    np.testing.assert_array_equal(a, b)
    assert np.abs(np.asarray(a) - np.asarray(plain)).max() > 1e-3
    assert np.abs(np.asarray(a) - np.asarray(c)).max() > 1e-3
    np.testing.assert_allclose(layer(x, training=False), plain, **TOL)
    with pytest.raises(ValueError, match=r"needs a PRNG key"):
        layer.apply(layer.params, layer.state, x, training=True)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\)"):
        cls(4, dropout=1.5)


# -- stateful ------------------------------------------------------------------------------

def test_stateful_carry_lives_in_state_and_is_written_back():
    x1, x2 = rand(2, 4, 5), rand(2, 4, 5)
    layer = LSTM(4, stateful=True)
    y1 = layer(x1)
    assert layer.state["states"].shape == (2, 2, 4)
    assert len(layer.get_weights()) == 3 and layer.count_params() == 5 * 16 + 4 * 16 + 16
    ref = LSTM(4, return_state=True)
    ref.compute_output_shape(x1.shape)
    ref.set_weights(layer.get_weights())
    _, h, c = ref(x1, initial_state=[np.zeros((2, 4), "float32")] * 2)
    np.testing.assert_allclose(layer.state["states"], np.stack([h, c]), **TOL)
    y2 = layer(x2)                       # inference calls write the carry back too
    out2, h2, c2 = ref(x2, initial_state=[h, c])
    np.testing.assert_allclose(y2, out2, **TOL)
    y3 = layer(x1, training=True)        # and so do training calls
    np.testing.assert_allclose(y3, ref(x1, initial_state=[h2, c2])[0], **TOL)
    layer.reset_states()
    np.testing.assert_array_equal(layer.state["states"], 0)
    np.testing.assert_allclose(layer(x1), y1, **TOL)
    # The pure form returns the new carry and changes nothing.
    before = np.asarray(layer.state["states"])
    out, new = jit_apply(layer)(layer.params, layer.state, x2)
    np.testing.assert_allclose(out, y2, **TOL)
    np.testing.assert_array_equal(layer.state["states"], before)
    np.testing.assert_allclose(new["states"], np.stack([h2, c2]), **TOL)


def test_stateful_in_functional_model_and_reset_states_values():
    inp = jkeras.Input((4, 5), batch_size=2)
    gru = GRU(4, stateful=True)
    model = jkeras.Model(inp, Dense(1)(gru(inp)))
    x = rand(2, 4, 5)
    first = model(x)
    second = model(x)
    assert np.abs(np.asarray(first) - np.asarray(second)).max() > 1e-6
    assert model.state["gru"]["states"].shape == (1, 2, 4)
    gru.reset_states()
    np.testing.assert_allclose(model(x), first, **TOL)
    gru.reset_states([np.ones((2, 4), "float32")])
    np.testing.assert_array_equal(gru.state["states"], 1)


def test_stateful_in_sequential():
    model = jkeras.Sequential([jkeras.Input((4, 5), batch_size=2), LSTM(4, stateful=True)])
    x = rand(2, 4, 5)
    assert np.abs(np.asarray(model(x)) - np.asarray(model(x))).max() > 1e-6


def test_stateful_errors():
    with pytest.raises(ValueError, match=r"stateful.*fixed batch size.*batch_size="):
        LSTM(4, stateful=True)(jkeras.Input((5, 3)))
    layer = LSTM(4, stateful=True, name="st")
    layer.compute_output_shape((2, 5, 3))
    with pytest.raises(ValueError, match=r"'st'.*stateful with batch size 2.*\(3, 5, 3\)"):
        layer(rand(3, 5, 3))
    with pytest.raises(ValueError, match=r"reset_states must be 2 array"):
        layer.reset_states([np.zeros((2, 4))])


# -- regularizers and constraints ---------------------------------------------------------

def test_regularizers_and_constraints():
    layer = GRU(4, kernel_regularizer="l2", recurrent_regularizer="l1", bias_regularizer="l2",
                kernel_constraint="non_neg", recurrent_constraint="non_neg")
    layer.compute_output_shape((2, 4, 5))
    randomize(layer)
    k, r, b = layer.get_weights()
    expected = 0.01 * (k ** 2).sum() + 0.01 * np.abs(r).sum() + 0.01 * (b ** 2).sum()
    np.testing.assert_allclose(layer.regularization_loss(layer.params), expected, rtol=1e-5)
    projected = layer.apply_constraints(layer.params)
    assert float(projected["kernel"].min()) >= 0 and float(projected["recurrent_kernel"].min()) >= 0
    np.testing.assert_array_equal(projected["bias"], b)


# -- Masking -------------------------------------------------------------------------------

def test_masking_layer_matches_numpy_and_feeds_the_rnn():
    x = rand(3, 6, 4)
    x[0, 4:] = 0.0
    x[2, 1] = 0.0
    mask = np.any(x != 0, axis=-1)
    masking = Masking()
    np.testing.assert_array_equal(masking.compute_mask(x), mask)
    np.testing.assert_array_equal(masking(x), x * mask[..., None])
    np.testing.assert_array_equal(Masking(1.5).compute_mask(np.full((1, 2, 3), 1.5)), [[0, 0]])
    model = jkeras.Sequential([Masking(), LSTM(4)])
    y = model(x)
    lstm = model.layers[1]
    np.testing.assert_allclose(y, lstm(x, mask=mask), **TOL)
    outs, _ = np_rnn(np_lstm_step, lstm.get_weights(), x, (np.zeros((3, 4)),) * 2, mask)
    np.testing.assert_allclose(y, outs[:, -1], **TOL)


# -- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_rnn_on_2d_input_names_rank_3(cls):
    with pytest.raises(ValueError, match=r"'r'.*rank 3.*\(4, 5\)"):
        cls(3, name="r")(rand(4, 5))
    with pytest.raises(ValueError, match=r"rank 3"):
        cls(3)(jkeras.Input((5,)))


def test_mask_shape_must_match_input():
    layer = LSTM(4, name="m")
    with pytest.raises(ValueError, match=r"'m'.*mask must have shape \(2, 5\).*\(2, 4\)"):
        layer(rand(2, 5, 5), mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match=r"mask must have shape"):
        layer(rand(2, 5, 5), mask=np.ones((2, 5, 3), bool))


@pytest.mark.parametrize("units", [0, -3, 2.5, None])
def test_units_must_be_positive(units):
    for cls in (SimpleRNN, LSTM, GRU):
        with pytest.raises(ValueError, match=r"units must be a positive integer"):
            cls(units)


def test_other_bad_arguments():
    layer = GRU(4, name="g")
    layer.compute_output_shape((2, 5, 5))
    with pytest.raises(ValueError, match=r"'g'.*built for size 5.*\(2, 5, 6\)"):
        layer(rand(2, 5, 6))
    with pytest.raises(ValueError, match=r"initial_state must be 1 array\(s\) of shape \(2, 4\)"):
        layer(rand(2, 5, 5), initial_state=[rand(2, 3)])
    with pytest.raises(ValueError, match=r"initial_state must be 2 array"):
        LSTM(4)(rand(2, 5, 5), initial_state=[rand(2, 4)])
    with pytest.raises(ValueError, match=r"use_cudnn"):
        LSTM(3, use_cudnn="yes")


# -- parity with Keras 3 ---------------------------------------------------------------------

def keras_pair(keras, name, x, units=4, **kwargs):
    """A Keras layer and its jkeras twin, built on ``x``, with Keras' weights copied over."""
    k = getattr(keras.layers, name)(units, **kwargs)
    j = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}[name](units, **kwargs)
    k.build(x.shape)
    j.compute_output_shape(x.shape)
    assert [w.shape for w in j.get_weights()] == [tuple(w.shape) for w in k.weights]
    j.set_weights(k.get_weights())
    return k, j


PARITY = [
    ("SimpleRNN", {"activation": "relu", "return_sequences": True}),
    ("LSTM", {"return_sequences": True, "go_backwards": True, "return_state": True,
              "unit_forget_bias": False, "use_bias": False}),
    ("GRU", {"return_sequences": True, "return_state": True,
             "recurrent_activation": "hard_sigmoid"}),
    ("GRU", {"reset_after": False, "go_backwards": True}),
]


@pytest.mark.parametrize("name,kwargs", PARITY)
def test_keras_parity(keras, name, kwargs):
    x, mask = rand(3, 6, 5), make_mask(3, 6)
    k, j = keras_pair(keras, name, x, **kwargs)
    assert_trees_close(j(x, mask=mask), k(x, mask=mask))
    if kwargs.get("return_sequences"):  # unmasked, and (no dropout) training mode: once each
        assert_trees_close(j(x, training=True), k(x, training=True))
    # Shapes: compute_output_shape and symbolic inputs.
    assert j.compute_output_shape((None, 6, 5)) == k.compute_output_shape((None, 6, 5))
    out, kout = j(jkeras.Input((None, 5))), k(keras.Input((None, 5)))
    assert [t.shape for t in jax.tree_util.tree_leaves(out)] == [
        tuple(t.shape) for t in jax.tree_util.tree_leaves(kout)]


def test_keras_parity_initial_state(keras):
    x, mask = rand(3, 6, 5), make_mask(3, 6)
    k, j = keras_pair(keras, "LSTM", x, return_sequences=True, return_state=True)
    init = [rand(3, 4), rand(3, 4)]
    assert_trees_close(j(x, initial_state=init, mask=mask),
                       k(x, initial_state=init, mask=mask))
    # In a functional model, with the states as Inputs.
    ins = [jkeras.Input((6, 5)), jkeras.Input((4,)), jkeras.Input((4,))]
    model = jkeras.Model(ins, j(ins[0], initial_state=ins[1:]))
    assert_trees_close(model([x, *init]), k(x, initial_state=init))


def test_keras_parity_embedding_mask_in_sequential(keras):
    ids = RNG.integers(1, 10, size=(4, 7))
    ids[0, 5:] = 0
    ids[1, :3] = 0
    ids[3, 2] = 0
    kl = keras.layers
    j = jkeras.Sequential([Embedding(10, 5, mask_zero=True), SimpleRNN(4, return_sequences=True),
                           LSTM(4)])
    k = keras.Sequential([kl.Embedding(10, 5, mask_zero=True),
                          kl.SimpleRNN(4, return_sequences=True), kl.LSTM(4)])
    want = k(ids)
    j.build((None, 7))
    j.set_weights(k.get_weights())
    np.testing.assert_allclose(j(ids), want, **TOL)


def test_keras_parity_masking_layer(keras):
    x = rand(3, 6, 4)
    x[0, 4:] = 0.0
    x[1, 2] = 0.0
    j = jkeras.Sequential([Masking(), GRU(4, return_sequences=True)])
    k = keras.Sequential([keras.layers.Masking(), keras.layers.GRU(4, return_sequences=True)])
    want = k(x)
    j.build((None, 6, 4))
    j.set_weights(k.get_weights())
    np.testing.assert_allclose(j(x), want, **TOL)
    np.testing.assert_array_equal(Masking()(x), keras.layers.Masking()(x))


@pytest.mark.parametrize("name", ["LSTM", "GRUCell"])
def test_keras_parity_stateful_across_calls(keras, name):
    """The LSTM layer, and RNN over a GRUCell (the cell's weights nested: rnn/gru_cell/...)."""
    x1, x2 = rand(3, 6, 5), rand(3, 6, 5)
    if name == "LSTM":
        k, j = keras_pair(keras, name, x1, stateful=True, return_sequences=True)
    else:
        k = keras.layers.RNN(keras.layers.GRUCell(4), stateful=True, return_sequences=True)
        j = jkeras.layers.RNN(jkeras.layers.GRUCell(4), stateful=True, return_sequences=True)
        k.build(x1.shape)
        j.compute_output_shape(x1.shape)
        assert [w.path for w in j.weights] == [w.path for w in k.weights]
        j.set_weights(k.get_weights())
    for x in (x1, x2):
        np.testing.assert_allclose(j(x), k(x), **TOL)
    k.reset_state()
    j.reset_states()
    np.testing.assert_allclose(j(x2), k(x2), **TOL)


@pytest.mark.parametrize("name,kwargs", [
    ("LSTM", {}), ("GRU", {"return_sequences": True, "go_backwards": True})])
def test_keras_parity_gradients(keras, name, kwargs):
    x, mask = rand(3, 6, 5), make_mask(3, 6)
    k, j = keras_pair(keras, name, x, **kwargs)
    fixed = [v.value for v in k.non_trainable_variables]

    def j_loss(params, x):
        return jnp.sum(jnp.sin(j.apply(params, j.state, x, mask=mask)[0]))

    def k_loss(weights, x):
        return jnp.sum(jnp.sin(k.stateless_call(weights, fixed, x, mask=mask)[0]))

    jg_p, jg_x = jax.jit(jax.grad(j_loss, argnums=(0, 1)))(j.params, x)
    kg_p, kg_x = jax.jit(jax.grad(k_loss, argnums=(0, 1)))(
        [v.value for v in k.trainable_variables], x)
    np.testing.assert_allclose(jg_x, kg_x, **TOL)
    for got, want in zip([jg_p["kernel"], jg_p["recurrent_kernel"], jg_p["bias"]], kg_p):
        np.testing.assert_allclose(got, want, **TOL)
