"""Layers and models written the Keras way: add_weight/Variables, add_loss, stateless calls,
keras.random, activity regularizers, and Keras-form step overrides used by fit."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkeras
from jkeras import layers

RNG = np.random.default_rng(0)


class Linear(layers.Layer):
    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                 initializer="random_normal")
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal")

    def call(self, inputs):
        return inputs @ self.w + self.b


class Counter(layers.Layer):
    """Counts the rows it sees in training calls (a non-trainable weight assigned in call)."""

    def __init__(self):
        super().__init__()
        self.seen = self.add_weight(shape=(), initializer="zeros", trainable=False)

    def call(self, inputs, training=False):
        if training:
            self.seen.assign_add(jnp.float32(inputs.shape[0]))
        return inputs * 2.0


class Penalty(layers.Layer):
    def __init__(self, rate):
        super().__init__()
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * jnp.sum(inputs))
        return inputs


# --- Keras-style layers --------------------------------------------------------------------


def test_keras_style_layer_matches_numpy_and_its_pure_form():
    layer = Linear(3)
    x = RNG.standard_normal((5, 4)).astype("float32")
    y = layer(x)
    w, b = layer.w.numpy(), layer.b.numpy()
    np.testing.assert_allclose(y, x @ w + b, rtol=1e-5, atol=1e-6)
    assert layer.weights == [layer.w, layer.b]
    assert [v.path for v in layer.weights] == [f"{layer.name}/w", f"{layer.name}/b"]
    assert sorted(layer.params) == ["b", "w"] and layer.state == {}
    out, new_state = jax.jit(layer.apply)({"w": jnp.ones((4, 3)), "b": jnp.zeros(3)}, {}, x)
    np.testing.assert_allclose(out, x @ np.ones((4, 3)), rtol=1e-5)
    # apply read the values passed in; the layer's own weights are untouched
    np.testing.assert_array_equal(layer.w.numpy(), w)
    grads = jax.grad(lambda p: layer.apply(p, {}, x)[0].sum())(layer.params)
    np.testing.assert_allclose(grads["w"], np.repeat(x.sum(0)[:, None], 3, 1), rtol=1e-5)
    np.testing.assert_allclose(grads["b"], np.full(3, 5.0))


def test_same_layer_in_keras_3_gives_the_same_outputs(keras):
    class KLinear(keras.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 3))
            self.b = self.add_weight(shape=(3,), initializer="zeros")

        def call(self, inputs):
            return keras.ops.matmul(inputs, self.w) + self.b

    x = RNG.standard_normal((2, 4)).astype("float32")
    theirs, ours = KLinear(), Linear(3)
    theirs(x), ours(x)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x), np.asarray(theirs(x)), rtol=1e-5, atol=1e-6)
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]


def test_nested_layers_nest_params_and_count_like_keras(keras):
    class Block(layers.Layer):
        def __init__(self):
            super().__init__()
            self.linear_1, self.linear_2 = Linear(32), Linear(1)

        def call(self, inputs):
            return self.linear_2(jax.nn.relu(self.linear_1(inputs)))

    block = Block()
    x = RNG.standard_normal((3, 64)).astype("float32")
    y = block(x)
    assert len(block.weights) == 4 and len(block.trainable_weights) == 4
    assert set(block.params) == {block.linear_1.path, block.linear_2.path}
    w1, b1, w2, b2 = block.get_weights()
    np.testing.assert_allclose(y, np.maximum(x @ w1 + b1, 0) @ w2 + b2, rtol=1e-4, atol=1e-5)
    model = jkeras.Sequential([jkeras.Input(shape=(64,)), block])
    assert model.count_params() == 64 * 32 + 32 + 32 + 1
    lines = []
    model.summary(print_fn=lines.append)
    assert any("Block" in line and "2,113" in line for line in lines)


def test_assign_in_a_training_call_is_a_state_update():
    counter = Counter()
    counter.build((None, 2))
    x = jnp.ones((4, 2))
    out, new_state = jax.jit(lambda s: counter.apply({}, s, x, training=True))(counter.state)
    assert float(new_state["seen"]) == 4.0 and float(counter.seen.value) == 0.0
    _, same = counter.apply({}, counter.state, x, training=False)
    assert float(same["seen"]) == 0.0
    counter(x, training=True)
    counter(x, training=True)
    assert float(counter.seen.numpy()) == 8.0      # eager training calls keep it, as Keras
    model = jkeras.Sequential([jkeras.Input(shape=(2,)), counter])
    model.compile("sgd", "mse")
    model.fit(np.ones((6, 2)), np.ones((6, 2)), batch_size=3, epochs=1, verbose=0)
    assert float(counter.seen.numpy()) == 14.0


def test_variable_api():
    layer = Linear(2)
    layer(jnp.ones((1, 3)))
    w = layer.w
    assert w.shape == (3, 2) and w.dtype == jnp.float32 and w.trainable and w.name == "w"
    np.testing.assert_array_equal(np.asarray(w), w.numpy())
    np.testing.assert_allclose(jnp.ones((1, 3)) @ w, w.numpy().sum(0, keepdims=True))
    np.testing.assert_allclose(jnp.tanh(w), np.tanh(w.numpy()), rtol=1e-6)
    np.testing.assert_allclose(w * 2 - 1, w.numpy() * 2 - 1)
    w.assign(np.zeros((3, 2)))
    w.assign_add(jnp.ones((3, 2)))
    w.assign_sub(0.5 * jnp.ones((3, 2)))
    np.testing.assert_array_equal(layer.params["w"], np.full((3, 2), 0.5))
    with pytest.raises(ValueError,
                       match=r"<Linear 'linear\w*'>: Variable 'linear\w*/w'.*shape \(2, 2\)"):
        w.assign(jnp.zeros((2, 2)))
    with pytest.raises(TypeError, match="Linear.*dtype complex64"):
        w.assign(jnp.zeros((3, 2), jnp.complex64))
    layer.trainable = False
    assert not w.trainable and layer.trainable_variables == []


def test_init_draws_fresh_weights_and_keeps_the_layers_own():
    layer = Linear(2)
    layer(jnp.ones((1, 3)))
    before = layer.get_weights()
    p1, _ = layer.init(jax.random.key(1), jnp.ones((1, 3)))
    p2, _ = layer.init(jax.random.key(1), jnp.ones((1, 3)))
    p3, _ = layer.init(jax.random.key(2), jnp.ones((1, 3)))
    np.testing.assert_array_equal(p1["w"], p2["w"])
    assert not np.allclose(p1["w"], p3["w"])
    np.testing.assert_array_equal(layer.get_weights()[0], before[0])


def test_weights_made_in_init_and_a_model_subclass_with_its_own_weight():
    class Scale(jkeras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)
            self.scale = self.add_weight(shape=(2,), initializer="ones")

        def call(self, x):
            return self.dense(x) * self.scale

    model = Scale()
    x = RNG.standard_normal((4, 3)).astype("float32")
    y = model(x)
    assert sorted(model.params) == [model.dense.path, "scale"]
    k, b = model.dense.get_weights()
    np.testing.assert_allclose(y, x @ k + b, rtol=1e-5, atol=1e-6)
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((4, 2)), epochs=2, verbose=0)
    assert not np.allclose(model.scale.numpy(), 1.0)


# --- add_loss and activity regularizers ---------------------------------------------------------


def test_add_loss_in_losses_apply_and_fit():
    inner = Penalty(0.5)

    class Outer(layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def call(self, x):
            return self.inner(x)

    outer = Outer()
    assert outer.losses == []
    outer(jnp.ones((2, 3)))
    assert [float(v) for v in outer.losses] == [3.0]
    outer(jnp.zeros((2, 3)))
    assert [float(v) for v in outer.losses] == [0.0]   # reset at each call
    _, _, losses = jax.jit(lambda x: outer.apply({}, {}, x, return_losses=True))(jnp.ones(4))
    assert [float(v) for v in losses] == [2.0]

    # fit: loss = mse + 0.5 * sum(outputs); compile() with no loss trains on add_loss alone
    inputs = jkeras.Input(shape=(1,))
    dense = layers.Dense(1, use_bias=False, kernel_initializer="ones")
    model = jkeras.Model(inputs, Penalty(0.5)(dense(inputs)))
    x, y = np.array([[1.0], [2.0]], "float32"), np.array([[0.0], [0.0]], "float32")
    model.compile(jkeras.optimizers.SGD(0.1), "mse")
    loss = model.train_on_batch(x, y)
    assert loss == pytest.approx(np.mean(x ** 2) + 0.5 * x.sum())
    # d/dk [mean((k x)^2) + 0.5 k sum(x)] at k=1
    assert model.get_weights()[0].item() == pytest.approx(1 - 0.1 * (np.mean(2 * x ** 2) + 1.5))
    model.compile(jkeras.optimizers.SGD(0.1))
    k = model.get_weights()[0].item()
    history = model.fit(x, y, epochs=1, verbose=0)
    assert history.history["loss"][0] == pytest.approx(0.5 * k * x.sum(), rel=1e-5)
    assert model.get_weights()[0].item() == pytest.approx(k - 0.1 * 1.5)
    model.compile(jkeras.optimizers.SGD(0.1))
    model.fit(x, epochs=1, verbose=0)                   # no targets needed
    assert model.evaluate(x, verbose=0) == pytest.approx(
        0.5 * model.get_weights()[0].item() * x.sum(), rel=1e-5)


def test_compile_without_a_loss_on_a_model_that_adds_none_is_an_error():
    model = jkeras.Sequential([layers.Dense(1, input_dim=2)])
    model.compile("sgd")
    with pytest.raises(ValueError, match="no loss to minimize"):
        model.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0)


def test_activity_regularizer_matches_keras(keras):
    x = RNG.standard_normal((4, 3)).astype("float32")
    y = RNG.standard_normal((4, 2)).astype("float32")
    theirs = keras.Sequential([keras.Input((3,)),
                               keras.layers.Dense(2, activity_regularizer=keras.regularizers.L2(0.1))])
    ours = jkeras.Sequential([jkeras.Input((3,)),
                              layers.Dense(2, activity_regularizer=jkeras.regularizers.L2(0.1))])
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    theirs(x), ours(x)
    np.testing.assert_allclose([float(v) for v in ours.losses],
                               [float(v) for v in theirs.losses], rtol=1e-5)
    for model in (theirs, ours):
        model.compile(optimizer=(keras if model is theirs else jkeras).optimizers.SGD(0.1),
                      loss="mse")
    np.testing.assert_allclose(ours.train_on_batch(x, y), theirs.train_on_batch(x, y),
                               rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)


# --- randomness -----------------------------------------------------------------------------


class Sampling(layers.Layer):
    def __init__(self):
        super().__init__()
        self.seed_generator = jkeras.random.SeedGenerator(1337)

    def call(self, inputs):
        return inputs + jkeras.random.normal(inputs.shape, seed=self.seed_generator)


def test_seed_generator_draws_from_the_rng_passed_to_apply():
    layer = Sampling()
    x = jnp.zeros((2000,))
    layer(x)
    assert layer.uses_rng
    a, _ = layer.apply({}, {}, x, rng=jax.random.key(0))
    b, _ = layer.apply({}, {}, x, rng=jax.random.key(0))
    c, _ = layer.apply({}, {}, x, rng=jax.random.key(1))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert abs(float(a.mean())) < 0.1 and abs(float(a.std()) - 1) < 0.1
    # inference samples too, as in Keras: eager calls and predict draw fresh numbers
    assert not np.allclose(layer(x), layer(x))
    model = jkeras.Sequential([jkeras.Input((4,)), Sampling()])
    p1, p2 = (model.predict(np.zeros((3, 4)), verbose=0) for _ in range(2))
    assert not np.allclose(p1, p2)


def test_random_functions_with_seeds():
    np.testing.assert_array_equal(jkeras.random.uniform((3,), seed=1),
                                  jkeras.random.uniform((3,), seed=1))
    dropped = jkeras.random.dropout(jnp.ones(1000), 0.25, seed=0)
    np.testing.assert_allclose(np.unique(dropped), [0.0, 1 / 0.75], rtol=1e-6)
    assert abs(float((dropped == 0).mean()) - 0.25) < 0.05
    assert sorted(jkeras.random.shuffle(jnp.arange(5), seed=0).tolist()) == [0, 1, 2, 3, 4]
    draws = jkeras.random.categorical(jnp.log(jnp.array([[0.0, 1.0], [1.0, 0.0]]) + 1e-9), 50,
                                      seed=0)
    assert draws.shape == (2, 50) and draws[0].tolist() == [1] * 50 and \
        draws[1].tolist() == [0] * 50


# --- the stateless API -------------------------------------------------------------------------


def test_stateless_call_and_variable_lists_match_the_pytrees():
    model = jkeras.Sequential([jkeras.Input((3,)), layers.Dense(4), layers.BatchNormalization()])
    x = RNG.standard_normal((8, 3)).astype("float32")
    tv, ntv = model.trainable_variables, model.non_trainable_variables
    assert [v.path for v in tv] == [w.path for w in model.trainable_weights]
    assert [v.path for v in ntv] == [w.path for w in model.non_trainable_weights]
    values = [v.value for v in tv]
    out, new_ntv = jax.jit(lambda t, n: model.stateless_call(t, n, x, training=True))(
        values, [v.value for v in ntv])
    ref, ref_state = model.apply(model.params, model.state, x, training=True)
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    flat = jkeras.state.flatten(ref_state)
    for v, value in zip(ntv, new_ntv):
        np.testing.assert_allclose(value, flat[v.path], rtol=1e-6)
    for v, value in zip(ntv, new_ntv):
        v.assign(value)
    np.testing.assert_allclose(model.state[model.layers[1].path]["moving_mean"],
                               flat[ntv[0].path])
    with pytest.raises(ValueError, match="trainable_variables must list 4"):
        model.stateless_call(values[:1], [], x)


def test_optimizer_stateless_apply_equals_apply():
    model = jkeras.Sequential([jkeras.Input((3,)), layers.Dense(2)])
    opt = jkeras.optimizers.Adam(0.1)
    opt.build(model.trainable_variables)
    grads = [jnp.ones((3, 2)), jnp.full((2,), 2.0)]
    new, opt_values = opt.stateless_apply(opt.variables, grads, model.trainable_variables)
    ref_params, ref_state = opt.apply({model.layers[0].path: {"kernel": grads[0],
                                                              "bias": grads[1]}},
                                      opt.init(model.params), model.params)
    np.testing.assert_allclose(new[0], ref_params[model.layers[0].path]["kernel"])
    np.testing.assert_allclose(new[1], ref_params[model.layers[0].path]["bias"])
    for a, b in zip(opt_values, jax.tree_util.tree_leaves(ref_state)):
        np.testing.assert_allclose(a, b)


def test_metric_stateless_api():
    metric = jkeras.metrics.CategoricalAccuracy()
    y = np.eye(3, dtype="float32")
    values = metric.stateless_update_state(metric.variables, y, y[[0, 2, 1]])
    assert float(metric.stateless_result(values)) == pytest.approx(1 / 3)
    for var, value in zip(metric.variables, values):
        var.assign(value)
    assert float(metric.result()) == pytest.approx(1 / 3)
    assert [float(v) for v in metric.stateless_reset_state()] == [0.0, 0.0]


# --- Keras-form step overrides ---------------------------------------------------------------------


class KerasStepModel(jkeras.Model):
    """Overrides the three steps in Keras 3's JAX form, each with its own twist."""

    def train_step(self, state, data):
        trainable, non_trainable, optimizer_values, metrics_values = state
        x, y, _ = jkeras.utils.unpack_x_y_sample_weight(data)

        def loss_fn(trainable, non_trainable):
            y_pred, non_trainable = self.stateless_call(trainable, non_trainable, x,
                                                        training=True)
            return jnp.mean(jnp.abs(y_pred - y)), non_trainable   # MAE, not the compiled MSE

        (loss, non_trainable), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            trainable, non_trainable)
        trainable, optimizer_values = self.optimizer.stateless_apply(optimizer_values, grads,
                                                                     trainable)
        tracker = self.metrics[0]
        metrics_values = tracker.stateless_update_state(metrics_values, loss)
        return {"loss": tracker.stateless_result(metrics_values), "nested": {"twice": 2 * loss}}, (
            trainable, non_trainable, optimizer_values, metrics_values)

    def test_step(self, state, data):
        trainable, non_trainable, metrics_values = state
        x, y, _ = jkeras.utils.unpack_x_y_sample_weight(data)
        y_pred, _ = self.stateless_call(trainable, non_trainable, x)
        metrics_values = self.metrics[0].stateless_update_state(
            metrics_values, jnp.max(jnp.abs(y_pred - y)))
        return {"worst": self.metrics[0].stateless_result(metrics_values)}, (
            trainable, non_trainable, metrics_values)

    def predict_step(self, state, data):
        y_pred, non_trainable = self.stateless_call(*state, data[0])
        return y_pred * 10.0, non_trainable


@pytest.fixture(scope="module")
def step_data():
    rng = np.random.default_rng(1)
    return rng.standard_normal((12, 3)).astype("float32"), \
        rng.standard_normal((12, 1)).astype("float32")


def test_fit_evaluate_predict_run_the_overridden_steps(step_data):
    x, y = step_data
    inputs = jkeras.Input((3,))
    dense = layers.Dense(1, kernel_initializer="ones")
    model = KerasStepModel(inputs, dense(inputs))
    assert isinstance(model, KerasStepModel) and model.layers == [dense]
    np.testing.assert_allclose(model.predict(x, verbose=0), 10 * x.sum(1, keepdims=True),
                               rtol=1e-5)   # before compile too
    model.compile(jkeras.optimizers.SGD(0.05), loss="mse")
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0,
                        steps_per_execution=3)
    assert sorted(history.history) == ["loss", "twice"]

    # NumPy reference: SGD on the mean absolute error, batches in order
    k, b = np.ones((3, 1)), np.zeros(1)
    epoch_losses = []
    for _ in range(2):
        losses = []
        for i in range(0, 12, 4):
            xb, yb = x[i:i + 4], y[i:i + 4]
            err = xb @ k + b - yb
            losses.append(np.abs(err).mean())
            sign = np.sign(err) / err.size
            k, b = k - 0.05 * xb.T @ sign, b - 0.05 * sign.sum(0)
        epoch_losses.append(np.mean(losses))
    np.testing.assert_allclose(history.history["loss"], epoch_losses, rtol=1e-5)
    assert history.history["twice"][-1] == pytest.approx(2 * losses[-1], rel=1e-5)
    np.testing.assert_allclose(model.get_weights()[0], k, rtol=1e-5, atol=1e-6)

    worst = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    batches = [np.abs(x[i:i + 4] @ k + b - y[i:i + 4]).max() for i in range(0, 12, 4)]
    assert worst == {"worst": pytest.approx(np.mean(batches), rel=1e-5)}
    np.testing.assert_allclose(model.predict(x, batch_size=5, verbose=0), 10 * (x @ k + b),
                               rtol=1e-5, atol=1e-5)


def test_a_step_returning_the_wrong_structure_is_named(step_data):
    x, y = step_data

    class Broken(jkeras.Model):
        def train_step(self, state, data):
            return {"loss": jnp.zeros(())}, state[:3]

    inputs = jkeras.Input((3,))
    model = Broken(inputs, layers.Dense(1)(inputs))
    model.compile("sgd", "mse")
    with pytest.raises(TypeError, match=r"Broken.train_step must return its state as a tuple "
                                        r"of 4 lists"):
        model.fit(x, y, verbose=0)

    class OldStyle(jkeras.Model):
        def train_step(self, data):
            return {}

    model = OldStyle(inputs, layers.Dense(1)(inputs))
    model.compile("sgd", "mse")
    with pytest.raises(TypeError, match=r"OldStyle.train_step .* Keras 3's JAX form"):
        model.fit(x, y, verbose=0)


# --- bad authoring ---------------------------------------------------------------------------


def test_bad_authoring_errors_name_the_class():
    layer = Linear(2)
    layer(jnp.ones((1, 3)))
    with pytest.raises(ValueError, match="Linear.*add_weight was called after the layer was "
                                         "built"):
        layer.add_weight(shape=(2,))

    class Leaky(layers.Layer):
        def call(self, x):
            self.last = x * 2
            return x

    leaky = Leaky()
    with pytest.raises(ValueError, match=r"Leaky.*stored a traced value on self.last"):
        leaky(jnp.ones(2))

    with pytest.raises(TypeError, match="Mixed mixes the two ways"):
        class Mixed(layers.Layer):
            def build(self, rng, input_shape):
                return {}, {}

            def call(self, inputs):
                return inputs

    class Assigns(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(2,), initializer="zeros")

        def call(self, x):
            self.w.assign(x)
            return x

    with pytest.raises(ValueError, match="assigned the trainable weight 'w'"):
        Assigns()(jnp.ones(2))


def test_an_overridden_compute_loss_is_used_by_fit(step_data):
    x, y = step_data

    class HalfLoss(jkeras.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return 0.5 * super().compute_loss(x, y, y_pred, sample_weight, training)

    inputs = jkeras.Input((3,))
    model = HalfLoss(inputs, layers.Dense(1, kernel_initializer="ones")(inputs))
    model.compile(jkeras.optimizers.SGD(0.1), "mse")
    loss = model.train_on_batch(x, y)
    err = x.sum(1, keepdims=True) - y
    assert loss == pytest.approx(0.5 * np.mean(err ** 2), rel=1e-5)
    np.testing.assert_allclose(model.get_weights()[0],
                               1 - 0.1 * 0.5 * (2 * x.T @ err / len(x)), rtol=1e-5)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(
        0.5 * np.mean((x @ model.get_weights()[0] + model.get_weights()[1] - y) ** 2), rel=1e-5)

    class Metrics(jkeras.Model):
        def compute_metrics(self, x, y, y_pred, sample_weight=None):
            return {}

    model = Metrics(inputs, layers.Dense(1)(inputs))
    model.compile("sgd", "mse")
    with pytest.raises(TypeError, match="Metrics overrides compute_metrics"):
        model.fit(x, y, verbose=0)


def test_activity_regularization_layer_matches_keras(keras):
    x = RNG.standard_normal((4, 3)).astype("float32")
    theirs = keras.layers.ActivityRegularization(l1=0.1, l2=0.2)
    ours = layers.ActivityRegularization(l1=0.1, l2=0.2)
    np.testing.assert_array_equal(ours(x), x)
    theirs(x)
    np.testing.assert_allclose([float(v) for v in ours.losses],
                               [float(v) for v in theirs.losses], rtol=1e-5)
    assert float(ours.losses[0]) == pytest.approx((0.1 * np.abs(x).sum() +
                                                   0.2 * (x ** 2).sum()) / 4, rel=1e-5)


def test_mask_and_a_positional_training_argument_reach_a_keras_style_call():
    class MaskedMean(layers.Layer):
        def call(self, inputs, mask=None):
            weight = mask[..., None].astype(inputs.dtype)
            return (inputs * weight).sum(1) / weight.sum(1)

    class Shift(layers.Layer):
        def call(self, inputs, training):
            return inputs + (1.0 if training else 0.0)

    model = jkeras.Sequential([jkeras.Input((4,), dtype="int32"),
                               layers.Embedding(5, 2, mask_zero=True), MaskedMean(), Shift()])
    ids = np.array([[1, 2, 0, 0]])
    expected = model.layers[0].get_weights()[0][[1, 2]].mean(0)[None]
    np.testing.assert_allclose(model(ids), expected, rtol=1e-6)
    np.testing.assert_allclose(model(ids, training=True), expected + 1, rtol=1e-6)


def test_fit_validates_with_an_overridden_test_step(step_data):
    x, y = step_data
    inputs = jkeras.Input((3,))
    model = KerasStepModel(inputs, layers.Dense(1, kernel_initializer="ones")(inputs))
    model.compile(jkeras.optimizers.SGD(0.0), loss="mse")
    history = model.fit(x, y, batch_size=4, epochs=1, validation_data=(x, y), verbose=0)
    err = np.abs(x.sum(1, keepdims=True) - y)
    assert history.history["val_worst"] == pytest.approx(
        [np.mean([err[i:i + 4].max() for i in range(0, 12, 4)])], rel=1e-5)
