"""Models, pure(), names and scopes, sharing, weight access and files."""
import jax
import numpy as np

import jkeras
from jkeras import layers

RNG = np.random.default_rng(1)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def mlp_numpy(weights, x):
    k1, b1, k2, b2 = weights
    h = np.maximum(x @ k1 + b1, 0)
    z = h @ k2 + b2
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def make_mlp():
    return jkeras.Sequential([layers.Dense(8, activation="relu", input_dim=5),
                              layers.Dense(3, activation="softmax")])


def test_sequential_forms_agree_with_numpy():
    x = rand(4, 5)
    a = make_mlp()
    b = jkeras.Sequential()
    b.add(jkeras.Input(shape=(5,)))
    b.add(layers.Dense(8, activation="relu"))
    b.add(layers.Dense(3, activation="softmax"))
    c = jkeras.Sequential([layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax")])
    assert a.built and b.built and not c.built
    c(x)
    for m in (a, b, c):
        assert m.count_params() == 5 * 8 + 8 + 8 * 3 + 3
        np.testing.assert_allclose(m(x), mlp_numpy(m.get_weights(), x), rtol=1e-5, atol=1e-6)


def test_functional_multi_input_output_and_shared_layer():
    a, b = jkeras.Input(shape=(4,)), jkeras.Input(shape=(4,))
    shared = layers.Dense(3, name="shared")
    ha, hb = shared(a), shared(b)
    merged = layers.Concatenate()([ha, hb])
    out1 = layers.Dense(2, name="head1")(merged)
    out2 = layers.Add()([ha, hb])
    model = jkeras.Model([a, b], [out1, out2])
    assert sorted(model.params) == ["head1", "shared"]
    xa, xb = rand(6, 4), rand(6, 4)
    y1, y2 = model([xa, xb])
    ks, bs, k1, b1 = model.get_weights()
    sa, sb = xa @ ks + bs, xb @ ks + bs
    np.testing.assert_allclose(y2, sa + sb, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y1, np.concatenate([sa, sb], -1) @ k1 + b1, rtol=1e-5, atol=1e-5)


def test_shared_layer_gets_summed_gradients():
    a, b = jkeras.Input(shape=(3,)), jkeras.Input(shape=(3,))
    shared = layers.Dense(1, use_bias=False)
    model = jkeras.Model([a, b], layers.Add()([shared(a), shared(b)]))
    xa, xb = rand(5, 3), rand(5, 3)
    g = jax.grad(lambda p: model.apply(p, {}, [xa, xb])[0].sum())(model.params)
    np.testing.assert_allclose(g[shared.path]["kernel"][:, 0], xa.sum(0) + xb.sum(0), rtol=1e-5)


def test_model_called_like_a_layer_reuses_its_weights():
    inner = make_mlp()
    x = jkeras.Input(shape=(5,))
    outer = jkeras.Model(x, layers.Dense(2, name="top")(inner(x)))
    flat = jkeras.state.flatten(outer.params)
    assert f"{inner.path}/{inner.layers[0].path}/kernel" in flat
    xs = rand(3, 5)
    k, b = outer.get_layer("top").get_weights()
    np.testing.assert_allclose(outer(xs), np.asarray(inner(xs)) @ k + b, rtol=1e-5, atol=1e-6)


def test_subclassed_model_and_training_propagation():
    class Net(jkeras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(4)
            self.drop = layers.Dropout(0.5)

        def call(self, x, training=False):
            return self.drop(self.dense(x))

    net = Net()
    x = rand(3, 2)
    y_inf = np.asarray(net(x))
    k, b = net.get_weights()
    np.testing.assert_allclose(y_inf, x @ k + b, rtol=1e-5, atol=1e-6)
    y_train, _ = net.apply(net.params, net.state, x, training=True, rng=jax.random.key(0))
    y_train = np.asarray(y_train)
    assert np.all((y_train == 0) | np.isclose(y_train, 2 * y_inf, rtol=1e-5, atol=1e-6))
    assert (y_train == 0).any()
    assert net.uses_training and not layers.Dense(2).uses_training


def test_pure_function_of_layers():
    d1, d2 = layers.Dense(6, activation="relu"), layers.Dense(2)
    net = jkeras.pure(lambda x: d2(d1(x)))
    x = rand(4, 3)
    params, state = net.init(jax.random.key(0), x)
    assert sorted(params) == sorted([d1.path, d2.path]) and state == {}
    out, _ = jax.jit(net.apply)(params, state, x)
    p1, p2 = params[d1.path], params[d2.path]
    ref = np.maximum(x @ p1["kernel"] + p1["bias"], 0) @ p2["kernel"] + p2["bias"]
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    again, _ = net.init(jax.random.key(0), x)
    np.testing.assert_array_equal(again[d1.path]["kernel"], p1["kernel"])
    other, _ = net.init(jax.random.key(1), x)
    assert not np.array_equal(other[d1.path]["kernel"], p1["kernel"])


def test_pure_with_batchnorm_returns_new_state():
    bn = layers.BatchNormalization()
    net = jkeras.pure(lambda x: bn(x))
    x = rand(8, 2)
    params, state = net.init(jax.random.key(0), x)
    _, new_state = net.apply(params, state, x, training=True)
    np.testing.assert_allclose(new_state[bn.path]["moving_mean"], 0.01 * x.mean(0), rtol=1e-5,
                               atol=1e-7)


def test_names_and_scopes():
    jkeras.utils.clear_session()
    assert layers.Dense(1).path == "dense" and layers.Dense(1).path == "dense_1"
    with jkeras.name_scope("block1"):
        d = layers.Dense(32, name="d")
        with jkeras.name_scope("inner"):
            e = layers.Dense(2)
    assert d.path == "block1/d" and e.path == "block1/inner/dense"
    d(rand(2, 3))
    assert [w.path for w in d.weights] == ["block1/d/kernel", "block1/d/bias"]
    m = jkeras.Sequential([d])
    assert list(jkeras.state.flatten(m.params)) == ["block1/d/bias", "block1/d/kernel"]


def test_state_flatten_unflatten_roundtrip():
    tree = {"block1": {"mylstm": {"kernel": 1, "bias": 2}}, "dense": {"kernel": 3}}
    flat = jkeras.state.flatten(tree)
    assert flat == {"block1/mylstm/bias": 2, "block1/mylstm/kernel": 1, "dense/kernel": 3}
    assert jkeras.state.unflatten(flat) == tree


def test_weight_access_keras_style():
    m = jkeras.Sequential([layers.Dense(4, input_dim=3), layers.BatchNormalization()])
    assert [w.path for w in m.weights] == [
        "dense/kernel", "dense/bias", "batch_normalization/gamma", "batch_normalization/beta",
        "batch_normalization/moving_mean", "batch_normalization/moving_variance"]
    assert len(m.trainable_weights) == 4 and len(m.non_trainable_weights) == 2
    new = [np.full(w.shape, i, "float32") for i, w in enumerate(m.weights)]
    m.set_weights(new)
    for a, b in zip(m.get_weights(), new):
        np.testing.assert_array_equal(a, b)
    m.layers[0].trainable = False
    assert [w.path for w in m.trainable_weights] == ["batch_normalization/gamma",
                                                     "batch_normalization/beta"]
    assert "dense" in m.state and "dense" not in m.params
    m.trainable = False
    assert m.params == {} and m.count_params() == 3 * 4 + 4 + 4 * 4


def test_save_and_load_weights_roundtrip(tmp_path):
    a, b = make_mlp(), make_mlp()
    path = tmp_path / "mlp.weights.npz"
    a.save_weights(path)
    x = rand(2, 5)
    assert not np.allclose(a(x), b(x))
    b.load_weights(path)
    np.testing.assert_array_equal(a(x), b(x))


def test_seeds_make_eager_calls_reproducible():
    x = np.ones((200,), "float32")
    jkeras.utils.set_random_seed(0)
    a = np.asarray(layers.Dropout(0.5)(x, training=True))
    jkeras.utils.set_random_seed(0)
    b = np.asarray(layers.Dropout(0.5)(x, training=True))
    np.testing.assert_array_equal(a, b)
    c = np.asarray(layers.Dropout(0.5, seed=7)(x, training=True))
    d = np.asarray(layers.Dropout(0.5, seed=7)(x, training=True))
    np.testing.assert_array_equal(c, d)
    jkeras.utils.set_random_seed(3)
    w1 = layers.Dense(3)
    w1(np.ones((1, 2), "float32"))
    jkeras.utils.set_random_seed(3)
    w2 = layers.Dense(3)
    w2(np.ones((1, 2), "float32"))
    np.testing.assert_array_equal(w1.get_weights()[0], w2.get_weights()[0])


def test_training_default_and_context():
    drop = layers.Dropout(0.5, seed=0)
    x = np.ones((100,), "float32")
    with jkeras.training_mode(True):
        assert (np.asarray(drop(x)) == 0).any()
        np.testing.assert_array_equal(drop(x, training=False), x)  # explicit wins
    np.testing.assert_array_equal(drop(x), x)
    jkeras.set_training(True)
    try:
        assert jkeras.get_training() and (np.asarray(drop(x)) == 0).any()
    finally:
        jkeras.set_training(None)
    assert not jkeras.get_training()


def test_eager_training_call_writes_batchnorm_state_back():
    m = jkeras.Sequential([layers.Dense(3, input_dim=2), layers.BatchNormalization()])
    x = rand(10, 2)
    m(x)
    np.testing.assert_array_equal(m.get_weights()[4], np.zeros(3))
    m(x, training=True)
    k, b = m.get_weights()[:2]
    np.testing.assert_allclose(m.get_weights()[4], 0.01 * (x @ k + b).mean(0), rtol=1e-4,
                               atol=1e-7)


def test_eager_calls_do_not_retrace():
    m = make_mlp()
    x = rand(4, 5)
    m(x)
    traces = []
    original = m._apply
    m._apply = lambda *a: traces.append(1) or original(*a)
    for _ in range(5):
        m(x)
    m.set_weights([w + 1 for w in m.get_weights()])
    m(x)
    assert traces == []


def test_summary_lists_layers_and_counts():
    lines = []
    make_mlp().summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "(Dense)" in text and "(None, 8)" in text and "Total params: 75" in text
