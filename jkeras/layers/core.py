"""Core layers: ``Dense``, ``Activation``, ``Embedding``, ``Identity``."""
import jax.numpy as jnp

from .. import activations, constraints, initializers, regularizers
from .base import InputSpec, Layer, positive_int


class Dense(Layer):
    """A densely connected layer: ``activation(x @ kernel + bias)`` on the last axis.

    >>> import jax.numpy as jnp
    >>> Dense(128, activation="relu")(jnp.ones((32, 784))).shape
    (32, 128)
    """

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.units = positive_int(self, "units", units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, rng, input_shape):
        if input_shape[-1] is None:
            raise ValueError(f"{self!r} needs a known last input dimension, got {input_shape}")
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_shape[-1]})
        params = {"kernel": self.kernel_initializer(rng, (input_shape[-1], self.units), self.dtype)}
        if self.use_bias:
            params["bias"] = self.bias_initializer(rng, (self.units,), self.dtype)
        return params, {}

    def call(self, params, state, x, *, training=False, rng=None):
        y = jnp.matmul(x, params["kernel"])
        if self.use_bias:
            y = y + params["bias"]
        return self.activation(y), state


class Activation(Layer):
    """Applies an activation function, by name or callable.

    >>> import jax.numpy as jnp
    >>> Activation("relu")(jnp.array([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, params, state, x, *, training=False, rng=None):
        return self.activation(x), state


class Identity(Layer):
    """Returns its input unchanged.

    >>> import jax.numpy as jnp
    >>> Identity()(jnp.ones(2)).tolist()
    [1.0, 1.0]
    """

    def call(self, params, state, x, *, training=False, rng=None):
        return x, state


class Embedding(Layer):
    """Maps integer indices in ``[0, input_dim)`` to dense vectors of size ``output_dim``.

    With ``mask_zero=True`` index 0 is padding, and the layers after it in a model get
    the mask ``inputs != 0`` (recurrent layers then skip those steps).

    >>> import jax.numpy as jnp
    >>> Embedding(1000, 64)(jnp.array([[4, 20, 7]])).shape
    (1, 3, 64)
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", mask_zero=False,
                 embeddings_regularizer=None, embeddings_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = mask_zero
        self.input_dim = positive_int(self, "input_dim", input_dim)
        self.output_dim = positive_int(self, "output_dim", output_dim)
        if embeddings_initializer == "uniform":  # Keras' "uniform" is RandomUniform(-0.05, 0.05)
            embeddings_initializer = "random_uniform"
        self.embeddings_initializer = initializers.get(embeddings_initializer)

    def build(self, rng, input_shape):
        shape = (self.input_dim, self.output_dim)
        return {"embeddings": self.embeddings_initializer(rng, shape, self.dtype)}, {}

    def compute_mask(self, inputs, mask=None):
        """With ``mask_zero=True``, index 0 is padding: the mask is ``inputs != 0``."""
        return inputs != 0 if self.mask_zero else None

    def call(self, params, state, x, *, training=False, rng=None):
        if not jnp.issubdtype(x.dtype, jnp.integer):
            x = x.astype(jnp.int32)
        return jnp.take(params["embeddings"], x, axis=0), state
