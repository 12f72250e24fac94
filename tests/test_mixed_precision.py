"""Mixed precision against Keras 3: policies, per-layer output dtypes and values under each
global policy, float32 weights and gradients, and LossScaleOptimizer step by step."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jkeras
from jkeras import layers, mixed_precision
from jkeras.optimizers import SGD, LossScaleOptimizer

RNG = np.random.default_rng(0)
POLICIES = ["float32", "mixed_bfloat16", "mixed_float16"]
TOLERANCE = {"float32": 1e-5, "mixed_bfloat16": 3e-2, "mixed_float16": 3e-3}


@pytest.fixture
def policy(request, keras):
    """Sets one global policy in both libraries for the test, then float32 again."""
    name = request.param
    mixed_precision.set_global_policy(name)
    keras.mixed_precision.set_global_policy(name)
    yield name
    mixed_precision.set_global_policy("float32")
    keras.mixed_precision.set_global_policy("float32")


def _cnn(lib):
    L = lib.layers
    return [L.Conv2D(4, 3, activation="relu"), L.BatchNormalization(), L.MaxPooling2D(),
            L.Flatten(), L.Dense(8, activation="relu"), L.LayerNormalization(),
            L.Dense(3, activation="softmax"), L.Activation("linear", dtype="float32")]


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
def test_policies_match_keras(keras, policy):
    ours, theirs = mixed_precision.DTypePolicy(policy), keras.DTypePolicy(policy)
    assert (ours.name, ours.compute_dtype, ours.variable_dtype) == (
        theirs.name, theirs.compute_dtype, theirs.variable_dtype)
    assert repr(ours) == repr(theirs)
    assert mixed_precision.global_policy() == ours and mixed_precision.DTypePolicy() == ours
    dense = layers.Dense(2)
    assert dense.dtype_policy == ours
    assert (dense.compute_dtype, dense.variable_dtype, dense.dtype) == (
        theirs.compute_dtype, theirs.variable_dtype, theirs.variable_dtype)


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
def test_layer_by_layer_dtypes_and_values_match_keras(keras, policy):
    x = RNG.standard_normal((4, 8, 8, 3)).astype("float32")
    ours, theirs = _cnn(jkeras), _cnn(keras)
    h_ours, h_theirs = x, x
    for mine, keras_layer in zip(ours, theirs):
        keras_layer(h_theirs), mine(h_ours)  # builds both
        keras_layer.set_weights([w + RNG.uniform(0.1, 0.3, w.shape).astype(w.dtype)
                                 for w in keras_layer.get_weights()])
        mine.set_weights(keras_layer.get_weights())
        assert [w.dtype for w in mine.weights] == [np.dtype(w.dtype) for w in keras_layer.weights]
        h_ours, h_theirs = mine(h_ours), keras_layer(h_theirs)
        assert h_ours.dtype == np.dtype(h_theirs.dtype), mine
    tol = TOLERANCE[policy]
    np.testing.assert_allclose(np.asarray(h_ours, "float32"), np.asarray(h_theirs, "float32"),
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("policy", POLICIES[1:], indirect=True)
def test_fit_keeps_float32_weights_and_float32_loss_like_keras(keras, policy):
    x = RNG.standard_normal((16, 8, 8, 3)).astype("float32")
    y = RNG.integers(0, 3, 16)
    model = jkeras.Sequential(_cnn(jkeras)[:-1])
    reference = keras.Sequential([keras.Input((8, 8, 3)), *_cnn(keras)[:-1]])
    model(x)
    model.set_weights(reference.get_weights())
    for m in (model, reference):
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    ours, theirs = model.test_on_batch(x, y), reference.test_on_batch(x, y)
    tol = TOLERANCE[policy]
    assert isinstance(ours, float)
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert {a.dtype for a in jax.tree_util.tree_leaves((model.params, model.state))} == {
        np.dtype("float32")}


def test_casts_are_inside_apply_so_jit_and_grad_see_them():
    dense = layers.Dense(3, dtype="mixed_bfloat16")
    x = RNG.standard_normal((5, 4)).astype("float32")
    dense(x)

    def loss(params, x):
        return jnp.sum(dense.apply(params, {}, x)[0].astype(jnp.float32) ** 2)

    jaxpr = str(jax.make_jaxpr(loss)(dense.params, x))
    assert "bf16" in jaxpr and "convert_element_type" in jaxpr
    grads = jax.jit(jax.grad(loss))(dense.params, x)
    assert {g.dtype for g in jax.tree_util.tree_leaves(grads)} == {np.dtype("float32")}
    # The gradient of sum((x @ W + b)^2) in NumPy, in float64: close to bfloat16's.
    w, b = (np.asarray(dense.params[k], "float64") for k in ("kernel", "bias"))
    y = x @ w + b
    np.testing.assert_allclose(grads["kernel"], 2 * x.T @ y, rtol=5e-2, atol=5e-2)
    np.testing.assert_allclose(grads["bias"], 2 * y.sum(0), rtol=5e-2, atol=5e-2)


def test_per_layer_policies_and_errors():
    mixed_precision.set_global_policy("mixed_float16")
    try:
        inherited, own = layers.Dense(2), layers.Dense(2, dtype=mixed_precision.Policy("float32"))
    finally:
        mixed_precision.set_global_policy("float32")
    x = np.ones((1, 3), "float32")
    assert inherited(x).dtype == jnp.float16 and own(x).dtype == jnp.float32
    assert layers.Dense(2)(x).dtype == jnp.float32      # created after the reset
    own.dtype_policy = "mixed_bfloat16"                   # set later, as in Keras
    assert own(x).dtype == jnp.bfloat16 and own.params["kernel"].dtype == jnp.float32
    assert mixed_precision.get({"name": "mixed_float16"}).compute_dtype == "float16"
    with pytest.raises(ValueError, match="dense.*'mixed_float8'"):
        layers.Dense(2, name="dense", dtype="mixed_float8")
    with pytest.raises(TypeError, match="dtype policy"):
        layers.Dense(2, dtype=object())


@pytest.mark.parametrize("policy", ["mixed_float16"], indirect=True)
def test_stateful_recurrent_carry_keeps_its_dtype(keras, policy):
    x = RNG.standard_normal((2, 4, 3)).astype("float32")
    gru = layers.GRU(5, stateful=True)
    reference = keras.layers.GRU(5, stateful=True)
    reference(x)
    gru(x)
    gru.set_weights(reference.get_weights())
    gru.reset_states()
    reference.reset_states()
    for _ in range(2):
        ours, theirs = gru(x), reference(x)
        assert ours.dtype == np.dtype(theirs.dtype) == np.float16
        np.testing.assert_allclose(np.asarray(ours, "float32"), np.asarray(theirs, "float32"),
                                   rtol=1e-2, atol=1e-2)
    assert gru.state["states"].dtype == jnp.float32


def _keras_loss_scale_run(keras, grads_seq, w0):
    """Keras' weights and scale after each step (its pure form, as its JAX trainer runs)."""
    w = keras.Variable(w0)
    opt = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.5), initial_scale=4.0,
                                              dynamic_growth_steps=2)
    opt.build([w])
    names = [v.path.rsplit("/", 1)[-1] for v in opt.variables]
    values, weights, seen = [v.value for v in opt.variables], [w.value], []
    for g in grads_seq:
        weights, values = opt.stateless_apply(values, [jnp.asarray(g)], weights)
        seen.append((np.asarray(weights[0]), float(values[names.index("dynamic_scale")])))
    return seen


def test_loss_scale_optimizer_matches_keras_step_by_step(keras):
    w0 = np.array([1.0, -2.0], "float32")
    grads_seq = [np.array(g, "float32") for g in
                 ([4.0, 8.0], [2.0, -2.0], [np.inf, 1.0], [np.nan, 0.0], [4.0, 4.0],
                  [1.0, 1.0], [8.0, 0.0])]
    want = _keras_loss_scale_run(keras, grads_seq, w0)
    opt = LossScaleOptimizer(SGD(0.5), initial_scale=4.0, dynamic_growth_steps=2)
    params = {"w": jnp.asarray(w0)}
    state = opt.init(params)
    step = jax.jit(opt.apply)
    for g, (w, scale) in zip(grads_seq, want):
        params, state = step({"w": jnp.asarray(g)}, state, params)
        np.testing.assert_allclose(params["w"], w, rtol=1e-6)
        assert float(state["dynamic_scale"]) == scale
    # optax's form agrees with the fused one, a skipped step included.
    updates, _ = opt.update({"w": jnp.array([jnp.inf, 0.0])}, opt.init(params), params)
    assert updates["w"].tolist() == [0.0, 0.0]


def test_loss_scale_optimizer_in_fit_skips_overflowing_float16_steps():
    x = RNG.standard_normal((8, 4)).astype("float32")
    y = RNG.standard_normal((8, 2)).astype("float32")
    mixed_precision.set_global_policy("mixed_float16")
    try:
        model = jkeras.Sequential([layers.Dense(8, activation="relu", input_dim=4),
                                   layers.Dense(2)])
    finally:
        mixed_precision.set_global_policy("float32")
    # A scale of 2**40 overflows float16's backward pass: the step must change nothing.
    model.compile(LossScaleOptimizer(SGD(0.1), initial_scale=2.0**40), "mse")
    before = model.get_weights()
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    opt_state = model.get_train_state()["opt_state"]
    assert float(opt_state["dynamic_scale"]) == 2.0**39
    assert int(opt_state["inner_optimizer"]["iterations"]) == 0

    # A sane scale: the step is plain SGD on float32 weights with the unscaled gradient.
    model.compile(LossScaleOptimizer("sgd", initial_scale=2.0**10), "mse")
    model.set_learning_rate(0.1)
    assert model.get_learning_rate() == pytest.approx(0.1)
    ts = model.get_train_state()
    grads = jax.grad(lambda p: jnp.mean(
        (model.apply(p, {}, x)[0].astype(jnp.float32) - y) ** 2))(ts["params"])
    model.train_on_batch(x, y)
    after = model.get_train_state()
    for new, old, g in zip(*(jax.tree_util.tree_leaves(t) for t in
                             (after["params"], ts["params"], grads))):
        assert new.dtype == jnp.float32
        np.testing.assert_allclose(new, old - 0.1 * g, rtol=1e-3, atol=1e-4)
    assert int(after["opt_state"]["step_counter"]) == 1


def test_loss_scale_optimizer_config_and_errors():
    opt = LossScaleOptimizer(SGD(0.1, momentum=0.9), initial_scale=128.0,
                             dynamic_growth_steps=10)
    again = jkeras.optimizers.get(jkeras.optimizers.serialize(opt))
    assert isinstance(again, LossScaleOptimizer) and again.inner_optimizer.momentum == 0.9
    assert (again.initial_scale, again.dynamic_growth_steps) == (128.0, 10)
    assert mixed_precision.LossScaleOptimizer is LossScaleOptimizer
    with pytest.raises(ValueError, match="clipnorm"):
        LossScaleOptimizer(SGD(), clipnorm=1.0)
    with pytest.raises(ValueError, match="initial_scale"):
        LossScaleOptimizer(SGD(), initial_scale=0)
    with pytest.raises(TypeError, match="inner_optimizer must be a jkeras optimizer"):
        LossScaleOptimizer(optax.sgd(0.1))
    with pytest.raises(ValueError, match="optimizer identifier"):
        LossScaleOptimizer(object())


def _keras_style(lib):
    """One Keras-style layer and model, the same source for Keras 3 and for jkeras."""
    class Affine(lib.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 4), name="w")
            self.b = self.add_weight(shape=(4,), name="b", initializer="ones")
            self.seen = self.add_weight(shape=(), name="seen", initializer="zeros",
                                        trainable=False)

        def call(self, x):
            self.seen.assign_add(lib.ops.sum(x))
            return lib.ops.tanh(x @ self.w + self.b)

    class Net(lib.Model):
        def __init__(self):
            super().__init__()
            self.hidden, self.head = Affine(), Affine(autocast=False)

        def call(self, x):
            return self.head(self.hidden(x))

    return Affine, Net


@pytest.mark.parametrize("policy", POLICIES[1:], indirect=True)
def test_keras_style_layers_autocast_like_keras(keras, policy):
    """Inputs and float weights read in the compute dtype inside call(), float32 weights
    and assigns kept float32, autocast=False: nothing cast; under fit too."""
    x = RNG.standard_normal((8, 3)).astype("float32")
    y = RNG.standard_normal((8, 4)).astype("float32")
    (affine, net), (k_affine, k_net) = _keras_style(jkeras), _keras_style(keras)
    ours, theirs = affine(), k_affine()
    theirs(x), ours(x)
    ours.set_weights(theirs.get_weights())
    got, want = ours(x, training=True), theirs(x, training=True)
    tol = TOLERANCE[policy]
    assert got.dtype == np.dtype(want.dtype) == np.dtype(mixed_precision.get(policy).compute_dtype)
    np.testing.assert_allclose(np.asarray(got, "float32"), np.asarray(want, "float32"),
                               rtol=tol, atol=tol)
    assert [w.dtype for w in ours.get_weights()] == [np.float32] * 3
    np.testing.assert_allclose(ours.get_weights()[2], theirs.get_weights()[2], rtol=tol)
    plain = affine(dtype="float32")  # the float32 path: no cast in the program at all
    plain(x)
    assert "convert_element_type" not in str(jax.make_jaxpr(plain.apply)(plain.params,
                                                                         plain.state, x))
    model, reference = net(), k_net()
    reference(x), model(x)
    model.set_weights(reference.get_weights())
    assert model(x).dtype == np.dtype(reference(x).dtype) == np.float32  # the head's f32 w
    for m in (model, reference):
        m.compile(optimizer=keras.optimizers.SGD(0.1) if m is reference else SGD(0.1),
                  loss="mse")
        m.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert [w.dtype for w in model.get_weights()] == [np.float32] * 6
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
