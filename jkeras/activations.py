"""Activation functions, by Keras name or as callables (thin names over ``jax.nn``)."""
import jax
import jax.numpy as jnp

from . import lookup


def linear(x):
    """The identity.

    >>> linear(3.0)
    3.0
    """
    return x


def gelu(x, approximate=False):
    """Gaussian error linear unit; exact by default, as in Keras 3.

    >>> import jax.numpy as jnp
    >>> gelu(jnp.zeros(2)).tolist()
    [0.0, 0.0]
    """
    return jax.nn.gelu(x, approximate=approximate)


def softmax(x, axis=-1):
    """Softmax over ``axis``.

    >>> import jax.numpy as jnp
    >>> softmax(jnp.zeros(4)).tolist()
    [0.25, 0.25, 0.25, 0.25]
    """
    return jax.nn.softmax(x, axis=axis)


def leaky_relu(x, negative_slope=0.2):
    """Keras' leaky ReLU (default slope 0.2).

    >>> import jax.numpy as jnp
    >>> leaky_relu(jnp.array([-1.0, 2.0])).tolist()
    [-0.20000000298023224, 2.0]
    """
    return jax.nn.leaky_relu(x, negative_slope)


ALL = {
    "linear": linear, "relu": jax.nn.relu, "relu6": jax.nn.relu6, "sigmoid": jax.nn.sigmoid,
    "softmax": softmax, "log_softmax": jax.nn.log_softmax, "tanh": jnp.tanh, "gelu": gelu,
    "elu": jax.nn.elu, "selu": jax.nn.selu, "softplus": jax.nn.softplus,
    "softsign": jax.nn.soft_sign, "swish": jax.nn.silu, "silu": jax.nn.silu,
    "exponential": jnp.exp, "hard_sigmoid": jax.nn.hard_sigmoid, "hard_silu": jax.nn.hard_silu,
    "hard_swish": jax.nn.hard_silu, "leaky_relu": leaky_relu, "mish": jax.nn.mish,
}


def get(identifier):
    """An activation by name (``"relu"``), a callable as is; ``None`` means linear.

    >>> get("relu") is jax.nn.relu
    True
    """
    return linear if identifier is None else lookup.resolve(identifier, ALL, "activation")
