"""Core layers against NumPy math written here; eager, jit, vmap and apply agree."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jkeras
from jkeras import layers

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def np_softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_dense_matches_numpy_and_keras_weight_names():
    x = rand(5, 7)
    d = layers.Dense(3, activation="relu")
    y = np.asarray(d(x))
    k, b = d.get_weights()
    assert k.shape == (7, 3) and b.shape == (3,)
    np.testing.assert_allclose(y, np.maximum(x @ k + b, 0), rtol=1e-5, atol=1e-6)
    assert sorted(d.params) == ["bias", "kernel"]
    assert d.state == {}


def test_dense_glorot_uniform_bounds_and_zero_bias():
    d = layers.Dense(200)
    d(np.ones((1, 300), "float32"))
    k, b = d.get_weights()
    limit = np.sqrt(6 / (300 + 200))
    assert np.abs(k).max() <= limit and np.abs(k).max() > 0.9 * limit
    assert np.all(b == 0)


def test_dense_on_rank_3_input_uses_last_axis():
    x = rand(2, 4, 6)
    d = layers.Dense(3, use_bias=False)
    np.testing.assert_allclose(d(x), x @ d.get_weights()[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,ref", [
    ("relu", lambda z: np.maximum(z, 0)),
    ("sigmoid", lambda z: 1 / (1 + np.exp(-z))),
    ("tanh", np.tanh),
    ("softmax", np_softmax),
    ("linear", lambda z: z),
    ("elu", lambda z: np.where(z > 0, z, np.exp(z) - 1)),
    ("softplus", lambda z: np.log1p(np.exp(z))),
    ("swish", lambda z: z / (1 + np.exp(-z))),
])
def test_activation_layer(name, ref):
    x = rand(4, 6)
    np.testing.assert_allclose(layers.Activation(name)(x), ref(x), rtol=1e-5, atol=1e-6)


def test_gelu_is_exact_by_default():
    from math import erf
    x = rand(10)
    ref = np.array([0.5 * v * (1 + erf(v / np.sqrt(2))) for v in x])
    np.testing.assert_allclose(layers.Activation("gelu")(x), ref, rtol=1e-5, atol=1e-6)


def test_activation_callable():
    x = rand(3)
    np.testing.assert_allclose(layers.Activation(lambda z: 2 * z)(x), 2 * x)


def test_flatten_and_reshape():
    x = rand(2, 3, 4)
    np.testing.assert_array_equal(layers.Flatten()(x), x.reshape(2, 12))
    np.testing.assert_array_equal(layers.Reshape((4, 3))(x), x.reshape(2, 4, 3))
    np.testing.assert_array_equal(layers.Reshape((-1, 2))(x), x.reshape(2, 6, 2))


def test_embedding_lookup_and_mask():
    emb = layers.Embedding(10, 4, mask_zero=True)
    idx = np.array([[1, 0, 9]])
    out = np.asarray(emb(idx))
    table = emb.get_weights()[0]
    np.testing.assert_array_equal(out, table[idx])
    assert np.abs(table).max() <= 0.05  # Keras' "uniform": U(-0.05, 0.05)
    np.testing.assert_array_equal(emb.compute_mask(idx), idx != 0)


def test_concatenate_and_add():
    a, b = rand(2, 3), rand(2, 5)
    np.testing.assert_array_equal(layers.Concatenate()([a, b]), np.concatenate([a, b], -1))
    c = rand(2, 3)
    np.testing.assert_allclose(layers.Add()([a, c, a]), a + c + a, rtol=1e-6)


def np_batchnorm(x, gamma, beta, mean, var, eps=1e-3):
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def test_batchnorm_training_uses_batch_stats_and_keras_update_rule():
    x = rand(16, 4) * 3 + 1
    bn = layers.BatchNormalization(momentum=0.9)
    y = np.asarray(bn(x, training=True))
    gamma, beta, mm, mv = bn.get_weights()
    np.testing.assert_allclose(y, np_batchnorm(x, 1, 0, x.mean(0), x.var(0)), rtol=1e-4, atol=1e-5)
    # moving = moving * momentum + batch_stat * (1 - momentum), from 0 and 1
    np.testing.assert_allclose(mm, 0.1 * x.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mv, 0.9 + 0.1 * x.var(0), rtol=1e-5, atol=1e-6)
    # inference uses the moving statistics and changes nothing
    y2 = np.asarray(bn(x, training=False))
    np.testing.assert_allclose(y2, np_batchnorm(x, gamma, beta, mm, mv), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(bn.get_weights()[2], mm)


def test_batchnorm_apply_returns_state_and_mutates_nothing():
    x = rand(8, 3)
    bn = layers.BatchNormalization()
    bn(x)
    before = [w.copy() for w in bn.get_weights()]
    _, new_state = bn.apply(bn.params, bn.state, x, training=True)
    for a, b in zip(before, bn.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(new_state["moving_mean"], 0.01 * x.mean(0), rtol=1e-5, atol=1e-7)


def test_frozen_batchnorm_runs_in_inference_mode_and_moves_weights_to_state():
    x = rand(8, 3)
    bn = layers.BatchNormalization()
    bn(x)
    bn.trainable = False
    assert bn.params == {} and sorted(bn.state) == ["beta", "gamma", "moving_mean",
                                                   "moving_variance"]
    assert bn.trainable_weights == [] and len(bn.non_trainable_weights) == 4
    y = bn(x, training=True)
    np.testing.assert_allclose(y, np_batchnorm(x, 1, 0, 0, 1), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(bn.get_weights()[2], np.zeros(3))


def test_batchnorm_channels_first_axis():
    x = rand(4, 3, 5)
    bn = layers.BatchNormalization(axis=1)
    y = bn(x, training=True)
    mean, var = x.mean((0, 2), keepdims=True), x.var((0, 2), keepdims=True)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-5)


def test_layer_normalization():
    x = rand(4, 6)
    ln = layers.LayerNormalization()
    ref = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(ln(x), ref, rtol=1e-4, atol=1e-5)


def test_dropout_training_and_inference():
    x = np.ones((1000,), "float32")
    drop = layers.Dropout(0.25, seed=1)
    np.testing.assert_array_equal(drop(x), x)  # inference: identity
    y = np.asarray(drop(x, training=True))
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert 0.18 < (y == 0).mean() < 0.32
    y2, _ = drop.apply({}, {}, x, training=True, rng=jax.random.key(3))
    y3, _ = drop.apply({}, {}, x, training=True, rng=jax.random.key(3))
    np.testing.assert_array_equal(y2, y3)


def test_eager_jit_vmap_apply_agree():
    x = rand(6, 5)
    model = jkeras.Sequential([layers.Dense(4, activation="tanh"), layers.LayerNormalization(),
                               layers.Dense(2)])
    eager = np.asarray(model(x))
    pure, _ = model.apply(model.params, model.state, x)
    jitted, _ = jax.jit(model.apply)(model.params, model.state, x)
    mapped = jax.vmap(lambda row: model.apply(model.params, model.state, row[None])[0][0])(x)
    for other in (pure, jitted, mapped):
        np.testing.assert_allclose(other, eager, rtol=1e-5, atol=1e-6)


def test_first_call_inside_jit_creates_concrete_weights():
    d = layers.Dense(3)
    y = jax.jit(lambda x: d(x))(rand(2, 4))
    assert y.shape == (2, 3)
    assert not isinstance(d.params["kernel"], jax.core.Tracer)
    np.testing.assert_allclose(d(np.ones((1, 4), "float32")),
                               np.ones((1, 4)) @ d.get_weights()[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", [
    lambda: layers.Dense(3, activation="tanh"),
    lambda: layers.LayerNormalization(),
    lambda: layers.BatchNormalization(),
])
def test_gradients_check_grads(make):
    layer = make()
    x = jnp.asarray(rand(4, 3))
    layer(x)
    f = lambda p, x: layer.apply(p, layer.state, x, training=True)[0]
    check_grads(f, (layer.params, x), order=1, modes=["rev"], atol=2e-2, rtol=2e-2)


def test_grad_through_dense_matches_numpy():
    x, t = rand(5, 3), rand(5, 2)
    d = layers.Dense(2)
    d(x)
    loss = lambda p: jnp.mean((d.apply(p, {}, x)[0] - t) ** 2)
    g = jax.grad(loss)(d.params)
    k, b = d.get_weights()
    err = 2 * (x @ k + b - t) / t.size
    np.testing.assert_allclose(g["kernel"], x.T @ err, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(g["bias"], err.sum(0), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("cls", [layers.BatchNormalization, layers.LayerNormalization])
def test_normalization_gamma_beta_penalties_and_constraints(cls):
    layer = cls(gamma_regularizer=jkeras.regularizers.l2(0.1), beta_constraint="non_neg")
    layer(jnp.ones((2, 3)))
    params = {"gamma": jnp.array([1.0, 2.0, 3.0]), "beta": jnp.array([-1.0, 2.0, -3.0])}
    np.testing.assert_allclose(layer.regularization_loss(params), 0.1 * (1 + 4 + 9), rtol=1e-6)
    np.testing.assert_array_equal(layer.apply_constraints(params)["beta"], [0.0, 2.0, 0.0])


def test_eager_keyword_arguments_lists_and_arrays():
    x = jnp.asarray([[1.0, 2.0, 3.0]])
    softmax = layers.Softmax()
    by_list = softmax(x, mask=[[True, False, True]])  # a written-out mask is an array
    e = np.exp([1.0, 3.0])
    np.testing.assert_allclose(by_list, [[e[0] / e.sum(), 0.0, e[1] / e.sum()]], rtol=1e-6)
    np.testing.assert_array_equal(by_list, softmax(x, mask=np.array([[True, False, True]])))
    lstm = layers.LSTM(2)
    seq = jnp.ones((1, 4, 3))
    h = [jnp.ones((1, 2)), jnp.zeros((1, 2))]  # a list of arrays by keyword is traced
    np.testing.assert_allclose(lstm(seq, initial_state=h),
                               lstm.apply(lstm.params, lstm.state, seq, initial_state=h)[0],
                               rtol=1e-6)


@pytest.mark.parametrize("name", sorted(jkeras.activations.ALL))
def test_every_activation_name_matches_keras(keras, name):
    x = np.linspace(-5, 5, 41, dtype="float32").reshape(1, -1)
    want = np.asarray(keras.activations.get(name)(x))
    np.testing.assert_allclose(jkeras.activations.get(name)(x), want, rtol=1e-5, atol=1e-6)
