"""Bidirectional and TimeDistributed: references built here, parity with Keras 3, errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkeras
from jkeras.layers.core import Dense, Embedding
from jkeras.layers.masking import Masking
from jkeras.layers.normalization import BatchNormalization
from jkeras.layers.recurrent import GRU, LSTM, SimpleRNN
from jkeras.layers.regularization import Dropout
from jkeras.layers.wrappers import Bidirectional, TimeDistributed

RNG = np.random.default_rng(2)
TOL = dict(rtol=1e-5, atol=1e-5)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def assert_trees_close(a, b):
    a, b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), **TOL)


def randomize(layer):
    layer.set_weights([0.5 * rand(*w.shape) for w in layer.get_weights()])


# -- Bidirectional -------------------------------------------------------------------------

def test_bidirectional_is_forward_and_backward_layers_merged():
    x = rand(3, 6, 5)
    mask = np.ones((3, 6), bool)
    mask[0, 4:] = False
    bi = Bidirectional(LSTM(4, return_sequences=True, return_state=True), merge_mode=None)
    bi.compute_output_shape(x.shape)
    randomize(bi)
    fwd = LSTM(4, return_sequences=True, return_state=True, zero_output_for_mask=True)
    bwd = LSTM(4, return_sequences=True, return_state=True, zero_output_for_mask=True,
               go_backwards=True)
    for layer, weights in ((fwd, bi.get_weights()[:3]), (bwd, bi.get_weights()[3:])):
        layer.compute_output_shape(x.shape)
        layer.set_weights(weights)
    y, y_rev, *states = bi(x, mask=mask)
    f_out, fh, fc = fwd(x, mask=mask)
    b_out, bh, bc = bwd(x, mask=mask)
    assert_trees_close((y, y_rev, *states), (f_out, b_out[:, ::-1], fh, fc, bh, bc))
    # Padded steps read 0 in both directions (Keras' zero_output_for_mask).
    np.testing.assert_array_equal(np.asarray(y)[0, 4:], 0)
    np.testing.assert_array_equal(np.asarray(y_rev)[0, 4:], 0)


def test_bidirectional_names_weights_as_keras():
    bi = Bidirectional(GRU(3, name="g"), name="bi")
    bi.compute_output_shape((2, 4, 5))
    assert [w.path for w in bi.weights] == [
        "bi/forward_g/kernel", "bi/forward_g/recurrent_kernel", "bi/forward_g/bias",
        "bi/backward_g/kernel", "bi/backward_g/recurrent_kernel", "bi/backward_g/bias"]
    assert list(bi.params) == ["forward_g", "backward_g"] and bi.state == {}
    assert bi.forward_layer.name == "forward_g" and bi.backward_layer.go_backwards
    custom = Bidirectional(LSTM(3), backward_layer=LSTM(3, go_backwards=True, name="bb"))
    custom.compute_output_shape((2, 4, 5))
    assert [w.path for w in custom.weights][3:] == [
        "bidirectional/bb/kernel", "bidirectional/bb/recurrent_kernel", "bidirectional/bb/bias"]
    # set_weights writes into the nested dicts, in get_weights order.
    new = [w + 1 for w in bi.get_weights()]
    bi.set_weights(new)
    for got, want in zip(bi.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(bi.params["backward_g"]["bias"], new[5])


def test_bidirectional_in_a_model_and_under_jit_and_vmap():
    x = rand(2, 3, 6, 5)
    model = jkeras.Sequential([jkeras.Input((6, 5)),
                               Bidirectional(SimpleRNN(4, return_sequences=True), name="bi"),
                               Bidirectional(LSTM(3), merge_mode="sum", name="bi2")])
    assert sorted(model.params) == ["bi", "bi2"]
    assert sorted(model.params["bi"]) == ["backward_simple_rnn", "forward_simple_rnn"]
    eager = np.stack([model(xi) for xi in x])
    vmapped = jax.jit(jax.vmap(lambda xi: model.apply(model.params, model.state, xi)[0]))(x)
    np.testing.assert_allclose(eager, vmapped, **TOL)
    assert eager.shape == (2, 3, 3)


def test_bidirectional_regularization_and_constraints():
    bi = Bidirectional(LSTM(3, kernel_regularizer="l2", recurrent_constraint="non_neg"))
    bi.compute_output_shape((2, 4, 5))
    randomize(bi)
    kernels = [w.numpy() for w in bi.weights if w.name == "kernel"]
    np.testing.assert_allclose(bi.regularization_loss(bi.params),
                               sum(0.01 * (k ** 2).sum() for k in kernels), rtol=1e-5)
    projected = bi.apply_constraints(bi.params)
    for key in projected:
        assert float(projected[key]["recurrent_kernel"].min()) >= 0
        np.testing.assert_array_equal(projected[key]["kernel"], bi.params[key]["kernel"])


def test_bidirectional_dropout_needs_rng_and_follows_it():
    bi = Bidirectional(GRU(3, dropout=0.5, seed=0))
    x = rand(2, 4, 5)
    plain = bi(x)
    assert bi.uses_rng and bi.uses_training
    run = jax.jit(bi.apply, static_argnames="training")
    a, _ = run(bi.params, bi.state, x, training=True, rng=jax.random.key(0))
    b, _ = run(bi.params, bi.state, x, training=True, rng=jax.random.key(0))
    np.testing.assert_array_equal(a, b)
    assert np.abs(np.asarray(a) - np.asarray(plain)).max() > 1e-4
    with pytest.raises(ValueError, match=r"Bidirectional.*needs a PRNG key"):
        bi.apply(bi.params, bi.state, x, training=True)


def test_bidirectional_bad_input():
    with pytest.raises(ValueError, match=r"layer must be a recurrent layer"):
        Bidirectional(Dense(3))
    with pytest.raises(ValueError, match=r"merge_mode must be one of"):
        Bidirectional(LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match=r"different go_backwards"):
        Bidirectional(LSTM(3), backward_layer=LSTM(3))
    with pytest.raises(ValueError, match=r"same return_sequences"):
        Bidirectional(LSTM(3), backward_layer=LSTM(3, go_backwards=True, return_sequences=True))
    with pytest.raises(ValueError, match=r"'bi'.*rank 3.*\(2, 5\)"):
        Bidirectional(LSTM(3), name="bi")(rand(2, 5))
    bi = Bidirectional(LSTM(3), name="bi")
    with pytest.raises(ValueError, match=r"initial_state must be 4 arrays"):
        bi(rand(2, 4, 5), initial_state=[rand(2, 3), rand(2, 3)])
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 4\)"):
        bi(rand(2, 4, 5), mask=np.ones((2, 3), bool))


# -- TimeDistributed -----------------------------------------------------------------------

def test_time_distributed_dense_matches_numpy():
    x = rand(4, 6, 5)
    td = TimeDistributed(Dense(3, activation="relu"))
    y = td(x)
    kernel, bias = td.get_weights()
    np.testing.assert_allclose(y, np.maximum(x @ kernel + bias, 0), **TOL)
    assert [w.path for w in td.weights] == ["time_distributed/dense/kernel",
                                            "time_distributed/dense/bias"]
    assert td.compute_output_shape((None, 6, 5)) == (None, 6, 3)
    assert td(jkeras.Input((None, 5))).shape == (None, None, 3)
    # rank 4: the inner layer sees (batch, 7, 5) per step
    td4, x4 = TimeDistributed(Dense(2)), rand(2, 3, 7, 5)
    y4 = td4(x4)
    kernel, bias = td4.get_weights()
    np.testing.assert_allclose(y4, x4 @ kernel + bias, rtol=1e-5, atol=1e-6)


def test_time_distributed_passes_masks_on_and_needs_rank_3():
    x = rand(2, 5, 4)
    x[0, 3:] = 0.0
    mask = np.any(x != 0, axis=-1)
    model = jkeras.Sequential([Masking(), TimeDistributed(Dense(3)), LSTM(2)])
    y = model(x)
    td, lstm = model.layers[1], model.layers[2]
    np.testing.assert_allclose(y, lstm(td(x), mask=mask), **TOL)
    assert np.abs(np.asarray(y) - np.asarray(lstm(td(x)))).max() > 1e-4
    with pytest.raises(ValueError, match=r"'td'.*rank >= 3.*\(4, 5\)"):
        TimeDistributed(Dense(3), name="td")(rand(4, 5))
    with pytest.raises(ValueError, match=r"mask must start with the input's"):
        TimeDistributed(Dense(3))(x, mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match=r"wraps one layer \(not a model\)"):
        TimeDistributed(jkeras.Sequential([Dense(2)]))


def test_time_distributed_dropout_and_regularizer():
    td = TimeDistributed(Dropout(0.5))
    x = np.ones((2, 5, 4), "float32")
    td.compute_output_shape(x.shape)
    assert td.uses_rng
    y, _ = jax.jit(td.apply, static_argnames="training")({}, {}, x, training=True,
                                                         rng=jax.random.key(0))
    assert set(np.unique(np.asarray(y))) <= {0.0, 2.0}
    with pytest.raises(ValueError, match=r"TimeDistributed.*needs a PRNG key"):
        td.apply({}, {}, x, training=True)
    reg = TimeDistributed(Dense(3, kernel_regularizer="l1"))
    reg.compute_output_shape((2, 5, 4))
    kernel = reg.get_weights()[0]
    np.testing.assert_allclose(reg.regularization_loss(reg.params), 0.01 * np.abs(kernel).sum(),
                               rtol=1e-5)


# -- parity with Keras 3 ---------------------------------------------------------------------

def keras_bi(keras, name, x, units=4, kwargs=None, **bi_kwargs):
    kwargs = kwargs or {}
    kwargs = {"name": "rnn", **kwargs}
    k = keras.layers.Bidirectional(getattr(keras.layers, name)(units, **kwargs), **bi_kwargs)
    j = Bidirectional({"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}[name](units, **kwargs),
                      **bi_kwargs)
    k.build(x.shape)
    j.compute_output_shape(x.shape)
    assert [w.path.split("/")[-1] for w in j.weights] == [
        w.path.split("/")[-1] for w in k.weights]
    assert [w.path.split("/")[1] for w in j.weights] == [w.path.split("/")[1] for w in k.weights]
    j.set_weights(k.get_weights())
    return k, j


@pytest.mark.parametrize("name,kwargs,merge_mode", [
    ("LSTM", {"return_sequences": True}, "concat"),
    ("GRU", {"return_state": True}, "sum"),
    ("SimpleRNN", {"return_sequences": True, "return_state": True}, None),
    ("LSTM", {}, "mul"),
    ("GRU", {"return_sequences": True, "reset_after": False}, "ave"),
])
def test_keras_parity_bidirectional(keras, name, kwargs, merge_mode):
    x = rand(3, 6, 5)
    mask = np.ones((3, 6), bool)
    mask[0, 4:] = False
    mask[2, :2] = False
    k, j = keras_bi(keras, name, x, kwargs=kwargs, merge_mode=merge_mode)
    assert_trees_close(j(x, mask=mask), k(x, mask=mask))
    assert j.compute_output_shape((None, 6, 5)) == k.compute_output_shape((None, 6, 5))


def test_keras_parity_bidirectional_initial_state_and_backward_layer(keras):
    x = rand(3, 6, 5)
    kl = keras.layers
    k = kl.Bidirectional(kl.LSTM(4, return_sequences=True),
                         backward_layer=kl.LSTM(4, return_sequences=True, go_backwards=True,
                                                name="back"))
    j = Bidirectional(LSTM(4, return_sequences=True),
                      backward_layer=LSTM(4, return_sequences=True, go_backwards=True,
                                          name="back"))
    k.build(x.shape)
    j.compute_output_shape(x.shape)
    j.set_weights(k.get_weights())
    init = [rand(3, 4) for _ in range(4)]
    assert_trees_close(j(x, initial_state=init), k(x, initial_state=init))


def test_keras_parity_bidirectional_embedding_mask_and_gradients(keras):
    ids = RNG.integers(1, 10, size=(3, 6))
    ids[0, 4:] = 0
    ids[1, :2] = 0
    kl = keras.layers
    j = jkeras.Sequential([Embedding(10, 5, mask_zero=True),
                           Bidirectional(GRU(4, return_sequences=True)), LSTM(3)])
    k = keras.Sequential([kl.Embedding(10, 5, mask_zero=True),
                          kl.Bidirectional(kl.GRU(4, return_sequences=True)), kl.LSTM(3)])
    want = k(ids)
    j.build((None, 6))
    j.set_weights(k.get_weights())
    np.testing.assert_allclose(j(ids), want, **TOL)

    x, mask = rand(3, 6, 5), ids != 0
    kb, jb = keras_bi(keras, "LSTM", x, kwargs={"return_sequences": True})
    fixed = [v.value for v in kb.non_trainable_variables]

    def j_loss(params, x):
        return jnp.sum(jnp.sin(jb.apply(params, jb.state, x, mask=mask)[0]))

    def k_loss(weights, x):
        return jnp.sum(jnp.sin(kb.stateless_call(weights, fixed, x, mask=mask)[0]))

    jg_p, jg_x = jax.jit(jax.grad(j_loss, argnums=(0, 1)))(jb.params, x)
    kg_p, kg_x = jax.jit(jax.grad(k_loss, argnums=(0, 1)))(
        [v.value for v in kb.trainable_variables], x)
    np.testing.assert_allclose(jg_x, kg_x, **TOL)
    flat = [jg_p[key][name] for key in ("forward_rnn", "backward_rnn")
            for name in ("kernel", "recurrent_kernel", "bias")]
    for got, want in zip(flat, kg_p):
        np.testing.assert_allclose(got, want, **TOL)


def test_keras_parity_bidirectional_stateful(keras):
    x1, x2 = rand(2, 5, 3), rand(2, 5, 3)
    k, j = keras_bi(keras, "GRU", x1, kwargs={"stateful": True})
    assert j.stateful and len(j.get_weights()) == 6
    for x in (x1, x2):
        np.testing.assert_allclose(j(x), k(x), **TOL)
    k.reset_state()
    j.reset_states()
    np.testing.assert_allclose(j(x2), k(x2), **TOL)


def test_keras_parity_time_distributed(keras):
    x = rand(4, 6, 5)
    kl = keras.layers
    k, j = kl.TimeDistributed(kl.Dense(3)), TimeDistributed(Dense(3))
    k.build(x.shape)
    j.compute_output_shape(x.shape)
    assert [w.path for w in j.weights] == [w.path for w in k.weights]
    j.set_weights(k.get_weights())
    np.testing.assert_allclose(j(x), k(x), **TOL)
    # BatchNormalization: Keras calls the layer once per step, its state carried over.
    k, j = kl.TimeDistributed(kl.BatchNormalization()), TimeDistributed(BatchNormalization())
    k.build(x.shape)
    j.compute_output_shape(x.shape)
    assert [w.path for w in j.weights] == [w.path for w in k.weights]
    j.set_weights(k.get_weights())
    np.testing.assert_allclose(j(x, training=True), k(x, training=True), **TOL)
    for got, want in zip(j.get_weights(), k.get_weights()):
        np.testing.assert_allclose(got, want, **TOL)
    np.testing.assert_allclose(j(x), k(x), **TOL)


def test_frozen_wrappers_keep_every_weight_in_state():
    x = rand(2, 4, 5)
    td = TimeDistributed(BatchNormalization())
    td(x, training=True)
    before = td.get_weights()
    td.trainable = False
    assert td.params == {} and sorted(jkeras.state.flatten(td.state)) == [
        "batch_normalization/beta", "batch_normalization/gamma",
        "batch_normalization/moving_mean", "batch_normalization/moving_variance"]
    td(x, training=True)  # frozen BatchNormalization runs in inference mode: nothing moves
    for a, b in zip(before, td.get_weights()):
        np.testing.assert_array_equal(a, b)
    bi = Bidirectional(GRU(3, stateful=True), trainable=False)
    first = bi(x)
    assert bi.params == {} and len(bi.get_weights()) == 6
    assert not any(w.trainable for w in bi.weights)
    assert np.abs(np.asarray(bi(x)) - np.asarray(first)).max() > 1e-6  # the carry moves on


def test_wrapping_a_layer_with_nested_weights_lists_every_weight():
    class TwoBlocks(jkeras.layers.Layer):
        def build(self, rng, input_shape):
            return {"a": {"w": jnp.ones((input_shape[-1], 2))}, "b": {"w": jnp.zeros((2,))}}, {}

        def call(self, params, state, x, *, training=False, rng=None):
            return x @ params["a"]["w"] + params["b"]["w"], state

    td = TimeDistributed(TwoBlocks(name="n"), name="td")
    x = rand(2, 3, 4)
    np.testing.assert_allclose(td(x), np.repeat(x.sum(-1, keepdims=True), 2, -1), rtol=1e-5,
                               atol=1e-6)
    assert [(w.path, w.shape) for w in td.weights] == [("td/n/a/w", (4, 2)), ("td/n/b/w", (2,))]
    assert td.count_params() == 10
