"""Normalization layers: ``BatchNormalization``, ``LayerNormalization``."""
import jax
import jax.numpy as jnp

from .. import initializers
from .base import InputSpec, Layer


def _axes(layer, axis, rank):
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if not all(-rank <= a < rank for a in axes):
        raise ValueError(f"{layer!r}: axis {axis} is out of range for inputs of rank {rank}")
    return tuple(sorted(a % rank for a in axes))


def _build_affine(layer, rng, input_shape):
    """Checks the normalized axes, fixes the input spec and makes gamma/beta."""
    axes = _axes(layer, layer.axis, len(input_shape))
    shape = tuple(input_shape[a] for a in axes)
    if None in shape:
        raise ValueError(f"{layer!r} needs known sizes on axis {layer.axis}, got {input_shape}")
    layer.input_spec = InputSpec(ndim=len(input_shape), axes={a: input_shape[a] for a in axes})
    params = {}
    if layer.scale:
        params["gamma"] = layer.gamma_initializer(rng, shape, layer.dtype)
    if layer.center:
        params["beta"] = layer.beta_initializer(rng, shape, layer.dtype)
    return shape, params


class BatchNormalization(Layer):
    """Normalizes with the batch's statistics in training, with moving averages otherwise.

    Training-mode calls update ``moving_mean``/``moving_variance`` (the layer's state) by
    ``moving = moving * momentum + batch_stat * (1 - momentum)``, with Keras' defaults.
    A frozen layer (``trainable = False``) always runs in inference mode, as in Keras.

    >>> import jax.numpy as jnp
    >>> bn = BatchNormalization()
    >>> y = bn(jnp.ones((4, 3)), training=True)    # updates bn.state
    """

    uses_training = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        self.center, self.scale = center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def build(self, rng, input_shape):
        shape, params = _build_affine(self, rng, input_shape)
        state = {"moving_mean": self.moving_mean_initializer(rng, shape, self.dtype),
                 "moving_variance": self.moving_variance_initializer(rng, shape, self.dtype)}
        return params, state

    def call(self, params, state, x, *, training=False, rng=None):
        axes = _axes(self, self.axis, x.ndim)
        reduce = tuple(a for a in range(x.ndim) if a not in axes)
        # Broadcast the per-feature vectors against x.
        bshape = tuple(x.shape[a] if a in axes else 1 for a in range(x.ndim))
        if training and self.trainable:
            mean = jnp.mean(x, axis=reduce)
            var = jnp.var(x, axis=reduce)
            m = self.momentum
            state = {"moving_mean": state["moving_mean"] * m + mean * (1 - m),
                     "moving_variance": state["moving_variance"] * m + var * (1 - m)}
        else:
            mean, var = state["moving_mean"], state["moving_variance"]
        inv = jax.lax.rsqrt(var + self.epsilon)
        if self.scale:
            inv = inv * params["gamma"]
        y = (x - mean.reshape(bshape)) * inv.reshape(bshape)
        if self.center:
            y = y + params["beta"].reshape(bshape)
        return y, state


class LayerNormalization(Layer):
    """Normalizes each example over ``axis`` (the last by default), then scales and shifts.

    >>> import jax.numpy as jnp
    >>> LayerNormalization()(jnp.arange(6.0).reshape(2, 3)).shape
    (2, 3)
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        self.axis, self.epsilon, self.center, self.scale = axis, float(epsilon), center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)

    def build(self, rng, input_shape):
        return _build_affine(self, rng, input_shape)[1], {}

    def call(self, params, state, x, *, training=False, rng=None):
        axes = _axes(self, self.axis, x.ndim)
        bshape = tuple(x.shape[a] if a in axes else 1 for a in range(x.ndim))
        mean = jnp.mean(x, axis=axes, keepdims=True)
        var = jnp.var(x, axis=axes, keepdims=True)
        y = (x - mean) * jax.lax.rsqrt(var + self.epsilon)
        if self.scale:
            y = y * params["gamma"].reshape(bshape)
        if self.center:
            y = y + params["beta"].reshape(bshape)
        return y, state
