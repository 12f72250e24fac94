"""Weight initializers, by Keras name or as ``init(key, shape, dtype)`` callables.

The variance-scaling family is ``jax.nn.initializers``', which uses Keras' fan
conventions (fan_in on axis -2, fan_out on axis -1, the receptive field folded in);
:func:`with_fans` moves the fans to other axes, as Keras does for einsum kernels. On 1-D
and scalar shapes, which JAX refuses, the fans are Keras': both the size (1 for a scalar).
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
    """Normal draws, Keras' defaults (``stddev=0.05``).

    >>> import jax
    >>> random_normal(mean=1.0)(jax.random.key(0), (2,)).shape
    (2,)
    """
    normal = jinit.normal(stddev)
    return lambda key, shape, dtype=jnp.float32: normal(key, shape, dtype) + mean


def random_uniform(minval=-0.05, maxval=0.05):
    """Uniform draws in ``[minval, maxval)``, Keras' defaults.

    >>> import jax
    >>> bool((abs(random_uniform()(jax.random.key(0), (100,))) <= 0.05).all())
    True
    """
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(
        key, shape, dtype, minval, maxval)


def truncated_normal(mean=0.0, stddev=0.05):
    """Normal draws cut at two standard deviations, Keras' defaults.

    >>> import jax
    >>> bool((abs(truncated_normal()(jax.random.key(0), (100,))) <= 0.1).all())
    True
    """
    return lambda key, shape, dtype=jnp.float32: mean + stddev * jax.random.truncated_normal(
        key, -2.0, 2.0, shape, dtype)


def identity(gain=1.0):
    """``gain`` times the identity matrix (2-D shapes).

    >>> import jax
    >>> identity(2.0)(jax.random.key(0), (2, 2)).tolist()
    [[2.0, 0.0], [0.0, 2.0]]
    """
    return lambda key, shape, dtype=jnp.float32: gain * jnp.eye(*shape, dtype=dtype)


# Keras' variance-scaling initializers: (scale, mode, distribution).
_VARIANCE_SCALING = {
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"), "he_normal": (2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
}



def variance_scaling(scale=1.0, mode="fan_in", distribution="truncated_normal"):
    """Draws of variance ``scale / fan`` (``fan_in``, ``fan_out`` or their mean,
    ``fan_avg``), with Keras' fans on every shape: ``(*receptive_field, in, out)`` for
    rank >= 2, the size for a vector, 1 for a scalar. ``distribution`` is
    ``"truncated_normal"``, ``"normal"`` or ``"uniform"``.

    >>> import jax
    >>> init = variance_scaling(2.0, "fan_in", "uniform")
    >>> bool(abs(init(jax.random.key(0), (50,))).max() <= (3 * 2.0 / 50) ** 0.5)
    True
    """
    matrix = jinit.variance_scaling(scale, mode, distribution)
    # For a (1, n) draw every mode's fan is read as n by "fan_out": Keras' fans of (n,).
    vector = jinit.variance_scaling(scale, "fan_out", distribution)

    def init(key, shape, dtype=jnp.float32):
        shape = tuple(shape)
        if len(shape) >= 2:
            return matrix(key, shape, dtype)
        return vector(key, (1, shape[0] if shape else 1), dtype).reshape(shape)

    return init


ALL = {name: variance_scaling(*args) for name, args in _VARIANCE_SCALING.items()}
ALL.update({
    "orthogonal": jinit.orthogonal(), "zeros": jinit.zeros, "ones": jinit.ones,
    "random_normal": random_normal(), "random_uniform": random_uniform(),
    "truncated_normal": truncated_normal(), "identity": identity(),
})
# Keras' aliases.
ALL["xavier_uniform"], ALL["xavier_normal"] = ALL["glorot_uniform"], ALL["glorot_normal"]
ALL["uniform"], ALL["normal"] = ALL["random_uniform"], ALL["random_normal"]
ALL["zero"], ALL["one"] = ALL["zeros"], ALL["ones"]
_SCALING_OF = {ALL[name]: args for name, args in _VARIANCE_SCALING.items()}


def with_fans(init, in_axis, out_axis):
    """``init`` with its fans taken over ``in_axis``/``out_axis`` (Keras does so for einsum
    kernels), if it is one of the variance-scaling initializers by name; others as they are.

    >>> import jax
    >>> init = with_fans(get("glorot_uniform"), in_axis=0, out_axis=(1, 2))
    >>> float(abs(init(jax.random.key(0), (64, 8, 16))).max()) <= (6 / (64 + 128)) ** 0.5
    True
    """
    args = _SCALING_OF.get(init)
    return init if args is None else jinit.variance_scaling(*args, in_axis=in_axis,
                                                             out_axis=out_axis)


def get(identifier):
    """An initializer by name (``"he_normal"``), a callable ``(key, shape, dtype)`` as is.

    >>> import jax
    >>> get("zeros")(jax.random.key(0), (2,)).tolist()
    [0.0, 0.0]
    """
    return lookup.resolve(identifier, ALL, "initializer")
