"""Keras 3 guide "Making new layers and models via subclassing", run on jkeras.

The guide's layers with ``keras`` replaced by ``jkeras`` (``keras.ops`` by
``jkeras.ops``); synthetic data instead of MNIST, smaller sizes. Values are checked by
hand or NumPy, and the VAE's parameter count and layer structure against the same model
in Keras 3. The guide's serialization section (``get_config``/``from_config``) is left to
the saving tests.
"""
import jax
import numpy as np
import pytest

import jkeras
from jkeras import layers, ops


class Linear(layers.Layer):
    def __init__(self, units=32, input_dim=32):
        super().__init__()
        self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal",
                                 trainable=True)
        self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


class LazyLinear(layers.Layer):
    def __init__(self, units=32):
        super().__init__()
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                 initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal",
                                 trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


class ActivityRegularizationLayer(layers.Layer):
    def __init__(self, rate=1e-2):
        super().__init__()
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * ops.mean(inputs))
        return inputs


def test_the_layer_class_weights_and_non_trainable_weights():
    x = ops.ones((2, 2))
    linear_layer = Linear(4, 2)
    y = linear_layer(x)
    np.testing.assert_allclose(y, np.ones((2, 2)) @ linear_layer.w.numpy(), rtol=1e-6)
    assert linear_layer.weights == [linear_layer.w, linear_layer.b]

    class ComputeSum(layers.Layer):
        def __init__(self, input_dim):
            super().__init__()
            self.total = self.add_weight(initializer="zeros", shape=(input_dim,),
                                         trainable=False)

        def call(self, inputs):
            self.total.assign_add(ops.sum(inputs, axis=0))
            return self.total

    my_sum = ComputeSum(2)
    assert my_sum(x).tolist() == [2.0, 2.0]
    assert my_sum(x).tolist() == [4.0, 4.0]
    assert len(my_sum.weights) == 1 and len(my_sum.non_trainable_weights) == 1
    assert my_sum.trainable_weights == []

    lazy = LazyLinear(32)
    assert lazy.weights == []
    assert lazy(x).shape == (2, 32) and [w.shape for w in lazy.weights] == [(2, 32), (32,)]


def test_layers_are_recursively_composable():
    class MLPBlock(layers.Layer):
        def __init__(self):
            super().__init__()
            self.linear_1 = LazyLinear(32)
            self.linear_2 = LazyLinear(32)
            self.linear_3 = LazyLinear(1)

        def call(self, inputs):
            x = self.linear_1(inputs)
            x = jax.nn.relu(x)
            x = self.linear_2(x)
            x = jax.nn.relu(x)
            return self.linear_3(x)

    mlp = MLPBlock()
    y = mlp(ops.ones(shape=(3, 64)))
    assert len(mlp.weights) == 6 and len(mlp.trainable_weights) == 6
    w1, b1, w2, b2, w3, b3 = mlp.get_weights()
    relu = lambda a: np.maximum(a, 0)
    np.testing.assert_allclose(y, relu(relu(np.ones((3, 64)) @ w1 + b1) @ w2 + b2) @ w3 + b3,
                               rtol=1e-4, atol=1e-5)


def test_the_add_loss_method():
    class OuterLayer(layers.Layer):
        def __init__(self):
            super().__init__()
            self.activity_reg = ActivityRegularizationLayer(1e-2)

        def call(self, inputs):
            return self.activity_reg(inputs)

    layer = OuterLayer()
    assert len(layer.losses) == 0
    _ = layer(ops.zeros((1, 1)))
    assert len(layer.losses) == 1
    _ = layer(ops.zeros((1, 1)))
    assert len(layer.losses) == 1

    class OuterLayerWithKernelRegularizer(layers.Layer):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(32, kernel_regularizer=jkeras.regularizers.L2(1e-3))

        def call(self, inputs):
            return self.dense(inputs)

    layer = OuterLayerWithKernelRegularizer()
    _ = layer(ops.zeros((1, 1)))
    kernel = layer.dense.get_weights()[0]
    assert [float(v) for v in layer.losses] == pytest.approx([1e-3 * np.sum(kernel ** 2)])

    inputs = jkeras.Input(shape=(3,))
    outputs = ActivityRegularizationLayer()(inputs)
    model = jkeras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    x, y = rng.random((2, 3)).astype("float32"), rng.random((2, 3)).astype("float32")
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, verbose=0)
    assert history.history["loss"][0] == pytest.approx(np.mean((x - y) ** 2) + 1e-2 * x.mean(),
                                                       rel=1e-5)
    model.compile(optimizer="adam")
    history = model.fit(x, y, verbose=0)
    assert history.history["loss"][0] == pytest.approx(1e-2 * x.mean(), rel=1e-5)


def test_privileged_training_argument():
    class CustomDropout(layers.Layer):
        def __init__(self, rate, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate
            self.seed_generator = jkeras.random.SeedGenerator(1337)

        def call(self, inputs, training=None):
            if training:
                return jkeras.random.dropout(inputs, rate=self.rate, seed=self.seed_generator)
            return inputs

    layer = CustomDropout(0.5)
    x = ops.ones((1000,))
    np.testing.assert_array_equal(layer(x), x)
    dropped = np.asarray(layer(x, training=True))
    assert set(np.unique(dropped).tolist()) == {0.0, 2.0}
    assert abs((dropped == 0).mean() - 0.5) < 0.06
    out, _ = layer.apply({}, {}, x, training=True, rng=jax.random.key(3))
    again, _ = layer.apply({}, {}, x, training=True, rng=jax.random.key(3))
    np.testing.assert_array_equal(out, again)


def vae_classes(keras, ops, random):
    """The guide's end-to-end example, written once for Keras 3 and for jkeras."""
    layers = keras.layers

    class Sampling(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = random.SeedGenerator(1337)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch = ops.shape(z_mean)[0]
            dim = ops.shape(z_mean)[1]
            epsilon = random.normal(shape=(batch, dim), seed=self.seed_generator)
            return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    class Encoder(layers.Layer):
        def __init__(self, latent_dim=32, intermediate_dim=64, name="encoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
            self.dense_mean = layers.Dense(latent_dim)
            self.dense_log_var = layers.Dense(latent_dim)
            self.sampling = Sampling()

        def call(self, inputs):
            x = self.dense_proj(inputs)
            z_mean = self.dense_mean(x)
            z_log_var = self.dense_log_var(x)
            z = self.sampling((z_mean, z_log_var))
            return z_mean, z_log_var, z

    class Decoder(layers.Layer):
        def __init__(self, original_dim, intermediate_dim=64, name="decoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
            self.dense_output = layers.Dense(original_dim, activation="sigmoid")

        def call(self, inputs):
            x = self.dense_proj(inputs)
            return self.dense_output(x)

    class VariationalAutoEncoder(keras.Model):
        def __init__(self, original_dim, intermediate_dim=64, latent_dim=32,
                     name="autoencoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.original_dim = original_dim
            self.encoder = Encoder(latent_dim=latent_dim, intermediate_dim=intermediate_dim)
            self.decoder = Decoder(original_dim, intermediate_dim=intermediate_dim)

        def call(self, inputs):
            z_mean, z_log_var, z = self.encoder(inputs)
            reconstructed = self.decoder(z)
            kl_loss = -0.5 * ops.mean(z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1)
            self.add_loss(kl_loss)
            return reconstructed

    return VariationalAutoEncoder


def test_putting_it_all_together_a_vae(keras):
    rng = np.random.default_rng(0)
    x_train = rng.random((256, 64)).astype("float32") ** 3   # stands in for MNIST pixels
    theirs = vae_classes(keras, keras.ops, keras.random)(64, 16, 4)
    theirs(x_train[:2])
    vae = vae_classes(jkeras, ops, jkeras.random)(64, 16, 4)
    vae(x_train[:2])
    assert vae.count_params() == theirs.count_params()
    assert [w.shape for w in vae.weights] == [tuple(w.shape) for w in theirs.weights]
    assert [v.path for v in vae.weights][:2] == ["encoder/dense/kernel", "encoder/dense/bias"]
    assert len(vae.losses) == 1    # the KL term of the last call

    optimizer = jkeras.optimizers.Adam(learning_rate=1e-3)
    vae.compile(optimizer, loss=jkeras.losses.MeanSquaredError())
    history = vae.fit(x_train, x_train, epochs=2, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    # the model samples in inference, as the guide's Sampling layer does in Keras
    first, second = (vae.predict(x_train[:8], verbose=0) for _ in range(2))
    assert first.shape == (8, 64) and not np.allclose(first, second)
