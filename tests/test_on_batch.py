"""``train_on_batch`` passes on the weight trees of its last step while no weight changed;
every way of changing a weight between calls is seen by the next call.

The reference is one step of gradient descent on a linear model's mean squared error,
computed in NumPy from the weights the model holds before the call.
"""
import jax.numpy as jnp
import numpy as np
import pytest

import jkeras
from jkeras import layers

LR = 0.1
RNG = np.random.default_rng(3)
X = RNG.standard_normal((8, 3)).astype("float32")
Y = RNG.standard_normal((8, 1)).astype("float32")


class KerasLinear(layers.Layer):
    """The same linear map, written the Keras way."""

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], 1))
        self.bias = self.add_weight(shape=(1,), initializer="zeros")

    def call(self, x):
        return x @ self.kernel + self.bias


def sgd_step(w, b):
    error = X @ w + b - Y
    return w - LR * 2 * X.T @ error / len(X), b - LR * 2 * error.mean(0)


def compiled(layer):
    model = jkeras.Sequential([jkeras.Input((3,)), layer])
    model.compile(jkeras.optimizers.SGD(LR), "mse")
    return model


def assert_trains_from(model, w, b):
    """The next train_on_batch starts from exactly these weights."""
    want_w, want_b = sgd_step(w, b)
    loss = model.train_on_batch(X, Y)
    np.testing.assert_allclose(loss, np.mean((X @ w + b - Y) ** 2), rtol=1e-5)
    got_w, got_b = model.get_weights()
    np.testing.assert_allclose(got_w, want_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_b, want_b, rtol=1e-5, atol=1e-6)


def new_weights():
    return (RNG.standard_normal((3, 1)).astype("float32"),
            RNG.standard_normal((1,)).astype("float32"))


def set_with_set_weights(model, w, b):
    model.set_weights([w, b])


def set_through_the_layer(model, w, b):
    model.layers[0].params = {"kernel": jnp.asarray(w), "bias": jnp.asarray(b)}


def set_through_the_model(model, w, b):
    name = model.layers[0].name
    model.params = {name: {"kernel": jnp.asarray(w), "bias": jnp.asarray(b)}}


def set_through_the_train_state(model, w, b):
    ts = model.get_train_state()
    name = model.layers[0].name
    ts["params"] = {name: {"kernel": jnp.asarray(w), "bias": jnp.asarray(b)}}
    model.set_train_state(ts)


@pytest.mark.parametrize("layer_type", [lambda: layers.Dense(1), KerasLinear])
@pytest.mark.parametrize("change", [set_with_set_weights, set_through_the_layer,
                                    set_through_the_model, set_through_the_train_state])
def test_weights_set_between_calls_are_trained_from(layer_type, change):
    model = compiled(layer_type())
    for _ in range(2):  # the second call passes on the trees of the first
        assert_trains_from(model, *model.get_weights())
    w, b = new_weights()
    change(model, w, b)
    assert_trains_from(model, w, b)
    assert_trains_from(model, *model.get_weights())


def test_variable_assign_between_calls_is_trained_from():
    model = compiled(KerasLinear())
    model.train_on_batch(X, Y)
    w, b = new_weights()
    model.layers[0].kernel.assign(w)
    model.layers[0].bias.assign(b)
    assert_trains_from(model, w, b)


def test_a_model_sharing_the_layer_trains_it_in_between():
    layer = layers.Dense(1)
    first, second = compiled(layer), compiled(layer)
    first.train_on_batch(X, Y)
    second.train_on_batch(X, Y)  # moves the shared layer on
    assert_trains_from(first, *first.get_weights())


def test_freezing_between_calls_stops_training():
    model = compiled(layers.Dense(1))
    model.train_on_batch(X, Y)
    before = model.get_weights()
    model.layers[0].trainable = False
    with pytest.warns(UserWarning, match="optimizer state starts afresh"):
        model.train_on_batch(X, Y)
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)


def test_test_and_predict_on_batch_see_new_weights():
    model = compiled(layers.Dense(1))
    model.train_on_batch(X, Y)
    model.predict_on_batch(X)
    w, b = new_weights()
    model.set_weights([w, b])
    np.testing.assert_allclose(model.predict_on_batch(X), X @ w + b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.test_on_batch(X, Y), np.mean((X @ w + b - Y) ** 2),
                               rtol=1e-5)
