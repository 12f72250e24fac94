"""``keras.ops.nn``: activations, normalizations and crossentropies over ``jax.nn``.

Where Keras' signature is jax.nn's, the name is jax.nn's function itself; the few whose
arguments or defaults differ are written here.

>>> import jax.numpy as jnp
>>> from jkeras.ops import nn
>>> nn.relu(jnp.array([-1.0, 2.0])).tolist()
[0.0, 2.0]
"""
import jax
import jax.numpy as jnp

from ..losses import functions as _losses

# Same names, arguments and defaults as jax.nn.
celu, elu, glu, hard_sigmoid, hard_silu, hard_swish, hard_tanh = (
    jax.nn.celu, jax.nn.elu, jax.nn.glu, jax.nn.hard_sigmoid, jax.nn.hard_silu,
    jax.nn.hard_swish, jax.nn.hard_tanh)
log_sigmoid, log_softmax, relu, relu6, selu, sigmoid, silu, softplus = (
    jax.nn.log_sigmoid, jax.nn.log_softmax, jax.nn.relu, jax.nn.relu6, jax.nn.selu,
    jax.nn.sigmoid, jax.nn.silu, jax.nn.softplus)
sparse_plus, sparse_sigmoid, squareplus, swish = (
    jax.nn.sparse_plus, jax.nn.sparse_sigmoid, jax.nn.squareplus, jax.nn.swish)
softsign = jax.nn.soft_sign


def gelu(x, approximate=True):
    """Gaussian error linear unit; Keras' ``ops`` form is the tanh approximation by default.

    >>> import jax.numpy as jnp
    >>> gelu(jnp.zeros(1)).tolist()
    [0.0]
    """
    return jax.nn.gelu(x, approximate=approximate)


def softmax(x, axis=-1):
    """Softmax over ``axis``.

    >>> import jax.numpy as jnp
    >>> softmax(jnp.zeros(2)).tolist()
    [0.5, 0.5]
    """
    return jax.nn.softmax(x, axis=axis)


def dot_product_attention(query, key, value, bias=None, mask=None, scale=None,
                          is_causal=False, flash_attention=None, attn_logits_soft_cap=None):
    """Scaled dot-product attention over ``(batch, seq, heads, depth)`` arrays
    (``jax.nn.dot_product_attention`` with Keras' argument order).

    >>> import jax.numpy as jnp
    >>> q = jnp.ones((1, 2, 1, 4))
    >>> dot_product_attention(q, q, q).shape
    (1, 2, 1, 4)
    """
    if attn_logits_soft_cap is not None:
        raise ValueError("dot_product_attention: attn_logits_soft_cap is not supported.")
    implementation = "cudnn" if flash_attention else None
    return jax.nn.dot_product_attention(query, key, value, bias, mask, scale=scale,
                                        is_causal=is_causal, implementation=implementation)


def leaky_relu(x, negative_slope=0.2):
    """Leaky ReLU with Keras' default slope, 0.2 (jax.nn's is 0.01).

    >>> import jax.numpy as jnp
    >>> leaky_relu(jnp.array([-1.0, 1.0])).tolist()
    [-0.20000000298023224, 1.0]
    """
    return jax.nn.leaky_relu(x, negative_slope)


def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    """One-hot encoding of integer ``x`` (float labels are cast) along a new ``axis``,
    float32 by default.

    >>> import jax.numpy as jnp
    >>> one_hot(jnp.array([0, 2]), 3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    if sparse:
        raise ValueError("one_hot: sparse=True is not supported on JAX arrays.")
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.integer):  # labels stored as floats, say
        x = x.astype(jnp.int32)
    return jax.nn.one_hot(x, num_classes, dtype=dtype or jnp.float32, axis=axis)


def moments(x, axes, keepdims=False, synchronized=False):
    """``(mean, variance)`` of ``x`` over ``axes``.

    >>> import jax.numpy as jnp
    >>> [v.tolist() for v in moments(jnp.array([1.0, 3.0]), axes=[0])]
    [2.0, 1.0]
    """
    mean = jnp.mean(x, axis=tuple(axes), keepdims=True)
    variance = jnp.mean(jnp.square(x - jax.lax.stop_gradient(mean)), axis=tuple(axes),
                        keepdims=True)
    if not keepdims:
        mean, variance = jnp.squeeze(mean, tuple(axes)), jnp.squeeze(variance, tuple(axes))
    return mean, variance


def normalize(x, axis=-1, order=2, epsilon=None):
    """``x / max(norm(x), epsilon)`` along ``axis`` (Keras' ``ops.normalize``).

    >>> import jax.numpy as jnp
    >>> normalize(jnp.array([[3.0, 4.0]])).tolist()
    [[0.6000000238418579, 0.800000011920929]]
    """
    epsilon = _losses.EPSILON if epsilon is None else epsilon
    norm = jnp.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    return x / jnp.maximum(norm, epsilon)


def binary_crossentropy(target, output, from_logits=False):
    """Elementwise binary crossentropy (no reduction), as Keras' ``ops`` form.

    >>> import jax.numpy as jnp
    >>> round(binary_crossentropy(jnp.array([1.0]), jnp.array([0.0]), from_logits=True)[0].item(), 4)
    0.6931
    """
    output = jnp.asarray(output)
    if from_logits:
        return -(target * jax.nn.log_sigmoid(output) + (1 - target) * jax.nn.log_sigmoid(-output))
    p = jnp.clip(output, _losses.EPSILON, 1.0 - _losses.EPSILON)
    return -(target * jnp.log(p) + (1 - target) * jnp.log(1 - p))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Crossentropy over ``axis`` between one-hot ``target`` and ``output``.

    >>> import jax.numpy as jnp
    >>> round(categorical_crossentropy(jnp.array([[0.0, 1.0]]), jnp.zeros((1, 2)),
    ...                                from_logits=True)[0].item(), 4)
    0.6931
    """
    return _losses.categorical_crossentropy(target, output, from_logits=from_logits, axis=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Crossentropy over ``axis`` between integer ``target`` and ``output``.

    >>> import jax.numpy as jnp
    >>> round(sparse_categorical_crossentropy(jnp.array([1]), jnp.zeros((1, 2)),
    ...                                       from_logits=True)[0].item(), 4)
    0.6931
    """
    return _losses.sparse_categorical_crossentropy(target, output, from_logits=from_logits,
                                                   axis=axis)


__all__ = [
    "binary_crossentropy", "categorical_crossentropy", "celu", "dot_product_attention", "elu",
    "gelu", "glu", "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh", "leaky_relu",
    "log_sigmoid", "log_softmax", "moments", "normalize", "one_hot", "relu",
    "relu6", "selu", "sigmoid", "silu", "softmax", "softplus", "softsign",
    "sparse_categorical_crossentropy", "sparse_plus", "sparse_sigmoid", "squareplus", "swish",
]
