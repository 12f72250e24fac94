"""Weight initializers, by Keras name or as ``init(key, shape, dtype)`` callables.

The variance-scaling family is ``jax.nn.initializers``', which uses Keras' fan
conventions (fan_in on axis -2, fan_out on axis -1, the receptive field folded in).
"""
import jax
import jax.numpy as jnp
from jax.nn import initializers as jinit

from . import lookup


def constant(value):
    """An initializer filling with ``value``.

    >>> import jax
    >>> constant(0.5)(jax.random.key(0), (2,)).tolist()
    [0.5, 0.5]
    """
    return jinit.constant(value)


def random_normal(mean=0.0, stddev=0.05):
    """Normal draws, Keras' defaults (``stddev=0.05``)."""
    normal = jinit.normal(stddev)
    return lambda key, shape, dtype=jnp.float32: normal(key, shape, dtype) + mean


def random_uniform(minval=-0.05, maxval=0.05):
    """Uniform draws in ``[minval, maxval)``, Keras' defaults."""
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(
        key, shape, dtype, minval, maxval)


def truncated_normal(mean=0.0, stddev=0.05):
    """Normal draws cut at two standard deviations, Keras' defaults."""
    return lambda key, shape, dtype=jnp.float32: mean + stddev * jax.random.truncated_normal(
        key, -2.0, 2.0, shape, dtype)


def identity(gain=1.0):
    """``gain`` times the identity matrix (2-D shapes)."""
    return lambda key, shape, dtype=jnp.float32: gain * jnp.eye(*shape, dtype=dtype)


ALL = {
    "glorot_uniform": jinit.glorot_uniform(), "glorot_normal": jinit.glorot_normal(),
    "he_uniform": jinit.he_uniform(), "he_normal": jinit.he_normal(),
    "lecun_uniform": jinit.lecun_uniform(), "lecun_normal": jinit.lecun_normal(),
    "orthogonal": jinit.orthogonal(), "zeros": jinit.zeros, "ones": jinit.ones,
    "random_normal": random_normal(), "random_uniform": random_uniform(),
    "truncated_normal": truncated_normal(), "identity": identity(),
}
ALL["xavier_uniform"], ALL["xavier_normal"] = ALL["glorot_uniform"], ALL["glorot_normal"]


def get(identifier):
    """An initializer by name (``"he_normal"``), a callable ``(key, shape, dtype)`` as is.

    >>> import jax
    >>> get("zeros")(jax.random.key(0), (2,)).tolist()
    [0.0, 0.0]
    """
    return lookup.resolve(identifier, ALL, "initializer")
