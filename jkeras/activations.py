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


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras' ReLU: ``x`` above ``threshold`` (else 0), clipped to ``[0, max_value]``, with
    ``negative_slope`` times ``threshold - x`` taken off below the threshold.

    >>> import jax.numpy as jnp
    >>> relu(jnp.array([-2.0, 1.0, 8.0]), negative_slope=0.5, max_value=6.0).tolist()
    [-1.0, 1.0, 6.0]
    """
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return jax.nn.relu(x)
    x = jnp.asarray(x)
    y = jnp.where(x > threshold, x, 0) if threshold else jax.nn.relu(x)
    if max_value is not None:
        y = jnp.clip(y, 0, max_value)
    if negative_slope:
        y = y - negative_slope * jax.nn.relu(threshold - x)
    return y


# Keras' activation functions that are jax.nn's (or jax.numpy's) under the same name and
# arguments: module attributes, so that ``jkeras.activations.relu6(x)`` works as in Keras.
elu, exponential, hard_sigmoid, hard_silu, log_softmax = (
    jax.nn.elu, jnp.exp, jax.nn.hard_sigmoid, jax.nn.hard_silu, jax.nn.log_softmax)
mish, relu6, selu, sigmoid, silu, softplus, softsign, tanh = (
    jax.nn.mish, jax.nn.relu6, jax.nn.selu, jax.nn.sigmoid, jax.nn.silu, jax.nn.softplus,
    jax.nn.soft_sign, jnp.tanh)
swish, hard_swish = silu, hard_silu

ALL = {
    "linear": linear, "relu": relu, "relu6": relu6, "sigmoid": sigmoid,
    "softmax": softmax, "log_softmax": log_softmax, "tanh": tanh, "gelu": gelu,
    "elu": elu, "selu": selu, "softplus": softplus, "softsign": softsign, "swish": swish,
    "silu": silu, "exponential": exponential, "hard_sigmoid": hard_sigmoid,
    "hard_silu": hard_silu, "hard_swish": hard_swish, "leaky_relu": leaky_relu, "mish": mish,
}


def get(identifier):
    """An activation by name (``"relu"``), a callable as is; ``None`` means linear.

    >>> get("relu") is relu
    True
    """
    return linear if identifier is None else lookup.resolve(identifier, ALL, "activation")
