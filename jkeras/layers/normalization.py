"""Normalization layers: ``BatchNormalization``, ``LayerNormalization``,
``GroupNormalization``, ``UnitNormalization``, ``RMSNormalization``."""
import math
import numbers

import jax
import jax.numpy as jnp

from .. import constraints, initializers, regularizers
from .base import InputSpec, Layer


def _axes(layer, axis, rank):
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if not all(-rank <= a < rank for a in axes):
        raise ValueError(f"{layer!r}: axis {axis} is out of range for inputs of rank {rank}")
    return tuple(sorted(a % rank for a in axes))


def _in_range(layer, arg, value, low, high=math.inf):
    """``value`` as a float in ``[low, high]``, or a ValueError naming the layer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not low <= value <= high:
        bounds = f"in [{low}, {high}]" if high < math.inf else f">= {low}"
        raise ValueError(f"{layer!r}: {arg} must be a number {bounds}, got {value!r}.")
    return float(value)


def _float(layer, x):
    """``x`` in a floating dtype: integer inputs (pixel values, ...) become the layer's."""
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(layer.compute_dtype)


def _upcast(x):
    """Statistics in at least float32 (Keras does too: half precision overflows)."""
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


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
        params["beta"] = layer.beta_initializer(jax.random.fold_in(rng, 1), shape, layer.dtype)
    return shape, params


def _set_affine_options(layer, beta_initializer, gamma_initializer, beta_regularizer,
                        gamma_regularizer, beta_constraint, gamma_constraint):
    layer.beta_initializer = initializers.get(beta_initializer)
    layer.gamma_initializer = initializers.get(gamma_initializer)
    layer.beta_regularizer = regularizers.get(beta_regularizer)
    layer.gamma_regularizer = regularizers.get(gamma_regularizer)
    layer.beta_constraint = constraints.get(beta_constraint)
    layer.gamma_constraint = constraints.get(gamma_constraint)


class BatchNormalization(Layer):
    """Normalizes with the batch's statistics in training, with moving averages otherwise.

    Training-mode calls update ``moving_mean``/``moving_variance`` (the layer's state) by
    ``moving = moving * momentum + batch_stat * (1 - momentum)``, with Keras' defaults.
    A frozen layer (``trainable = False``) always runs in inference mode, as in Keras.
    ``synchronized=True`` takes the batch statistics over every replica: inside
    ``jax.pmap``/``jax.shard_map`` with the axis ``axis_name`` bound, they are
    ``lax.pmean``-ed over it (elsewhere the layer sees the whole batch anyway, and is
    plain BatchNormalization).

    >>> import jax.numpy as jnp
    >>> bn = BatchNormalization()
    >>> y = bn(jnp.ones((4, 3)), training=True)    # updates bn.state
    """

    uses_training = True
    supports_masking = True
    autocast = False  # as Keras 3: float32 weights and statistics, compute-dtype output

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, synchronized=False, axis_name="data", **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.momentum = _in_range(self, "momentum", momentum, 0, 1)
        self.epsilon = _in_range(self, "epsilon", epsilon, 0)
        self.synchronized, self.axis_name = bool(synchronized), axis_name
        self.center, self.scale = center, scale
        _set_affine_options(self, beta_initializer, gamma_initializer, beta_regularizer,
                            gamma_regularizer, beta_constraint, gamma_constraint)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def build(self, rng, input_shape):
        shape, params = _build_affine(self, rng, input_shape)
        k_mean, k_variance = jax.random.fold_in(rng, 2), jax.random.fold_in(rng, 3)
        state = {"moving_mean": self.moving_mean_initializer(k_mean, shape, self.dtype),
                 "moving_variance": self.moving_variance_initializer(k_variance, shape,
                                                                     self.dtype)}
        return params, state

    def call(self, params, state, x, *, mask=None, training=False, rng=None):
        axes = _axes(self, self.axis, x.ndim)
        reduce = tuple(a for a in range(x.ndim) if a not in axes)
        if mask is not None and mask.ndim != x.ndim - 1:
            raise ValueError(f"{self!r}: the mask must have one axis less than the inputs, "
                             f"got mask shape {mask.shape} for inputs {x.shape}")
        # Broadcast the per-feature vectors against x.
        bshape = tuple(x.shape[a] if a in axes else 1 for a in range(x.ndim))
        dtype, x = x.dtype, _upcast(x)
        empty = any(x.shape[a] == 0 for a in reduce)  # no statistics: keep the moving ones
        if training and self.trainable and not empty:
            mean, var = self._moments(x, reduce) if mask is None else \
                _masked_moments(x, mask, reduce)
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
        return y.astype(dtype), state


    def _moments(self, x, reduce):
        if not (self.synchronized and _is_bound(self.axis_name)):
            return jnp.mean(x, axis=reduce), jnp.var(x, axis=reduce)
        # Equal shards: the mean of the replicas' means is the whole batch's mean.
        mean = jax.lax.pmean(jnp.mean(x, axis=reduce), self.axis_name)
        centred = x - jnp.expand_dims(mean, reduce)
        return mean, jax.lax.pmean(jnp.mean(centred * centred, axis=reduce), self.axis_name)


def _masked_moments(x, mask, reduce):
    """Keras 3's moments over the steps the mask keeps (a (batch, steps) mask for
    (batch, steps, features) inputs), its epsilon in the denominators; not synchronized."""
    keep = jnp.broadcast_to(mask[..., None], x.shape).astype(bool)
    count = jnp.sum(keep, axis=reduce, dtype=x.dtype) + 1e-7  # Keras' backend.epsilon()
    mean = jnp.sum(jnp.where(keep, x, 0), axis=reduce) / count
    centred = jnp.where(keep, x - jnp.expand_dims(mean, reduce), 0)
    return mean, jnp.sum(centred * centred, axis=reduce) / count


def _is_bound(axis_name):
    """Whether a mapped axis of this name is bound here (inside pmap/shard_map)."""
    try:
        jax.lax.axis_index(axis_name)
    except NameError:
        return False
    return True


class LayerNormalization(Layer):
    """Normalizes each example over ``axis`` (the last by default), then scales and shifts.

    >>> import jax.numpy as jnp
    >>> LayerNormalization()(jnp.arange(6.0).reshape(2, 3)).shape
    (2, 3)
    """

    supports_masking = True
    autocast = False  # as Keras 3: float32 weights and statistics, compute-dtype output

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.center, self.scale = axis, center, scale
        self.epsilon = _in_range(self, "epsilon", epsilon, 0)
        _set_affine_options(self, beta_initializer, gamma_initializer, beta_regularizer,
                            gamma_regularizer, beta_constraint, gamma_constraint)

    def build(self, rng, input_shape):
        return _build_affine(self, rng, input_shape)[1], {}

    def call(self, params, state, x, *, training=False, rng=None):
        axes = _axes(self, self.axis, x.ndim)
        bshape = tuple(x.shape[a] if a in axes else 1 for a in range(x.ndim))
        dtype, x = x.dtype, _upcast(x)
        mean = jnp.mean(x, axis=axes, keepdims=True)
        var = jnp.var(x, axis=axes, keepdims=True)
        y = (x - mean) * jax.lax.rsqrt(var + self.epsilon)
        if self.scale:
            y = y * params["gamma"].reshape(bshape)
        if self.center:
            y = y + params["beta"].reshape(bshape)
        return y.astype(dtype), state


class GroupNormalization(Layer):
    """Splits the channels on ``axis`` into ``groups`` and normalizes each example over each
    group (the group's channels and every non-batch axis), then scales by ``gamma`` and
    shifts by ``beta`` per channel.

    ``groups=1`` is close to LayerNormalization; ``groups=-1`` (one group per channel) is
    instance normalization. The channel count must be divisible by ``groups``.

    >>> import jax.numpy as jnp
    >>> GroupNormalization(groups=2)(jnp.ones((3, 5, 4))).shape
    (3, 5, 4)
    """

    supports_masking = True
    autocast = False  # as Keras 3: float32 weights and statistics, compute-dtype output

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(groups, bool) or not isinstance(groups, int) or (
                groups < 1 and groups != -1):
            raise ValueError(f"{self!r}: groups must be a positive integer (or -1 for one "
                             f"group per channel), got {groups!r}")
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"{self!r}: axis must be one integer (the channel axis), "
                             f"got {axis!r}")
        self.groups, self.axis = groups, axis
        self.epsilon = _in_range(self, "epsilon", epsilon, 0)
        self.center, self.scale = center, scale
        _set_affine_options(self, beta_initializer, gamma_initializer, beta_regularizer,
                            gamma_regularizer, beta_constraint, gamma_constraint)

    def build(self, rng, input_shape):
        rank = len(input_shape)
        axis = _axes(self, self.axis, rank)[0]
        if axis == 0:
            raise ValueError(f"{self!r}: axis {self.axis} is the batch axis of inputs of shape "
                             f"{input_shape}; give the channel axis.")
        channels = input_shape[axis]
        if channels is None:
            raise ValueError(f"{self!r} needs a known size on axis {self.axis}, got input "
                             f"shape {input_shape}")
        groups = channels if self.groups == -1 else self.groups
        if channels % groups:
            raise ValueError(f"{self!r}: the {channels} channels on axis {self.axis} (input "
                             f"shape {input_shape}) must be divisible by groups={groups}; "
                             f"pick groups among the divisors of {channels}.")
        self.input_spec = InputSpec(ndim=rank, axes={axis: channels})
        k_gamma, k_beta = jax.random.split(rng)
        params = {}
        if self.scale:
            params["gamma"] = self.gamma_initializer(k_gamma, (channels,), self.dtype)
        if self.center:
            params["beta"] = self.beta_initializer(k_beta, (channels,), self.dtype)
        return params, {}

    def call(self, params, state, x, *, training=False, rng=None):
        x = _float(self, x)
        axis = self.axis % x.ndim
        channels = x.shape[axis]
        groups = channels if self.groups == -1 else self.groups
        # (..., channels, ...) -> (..., groups, channels // groups, ...); the statistics
        # reduce over everything but the batch and the group axes.
        split = x.shape[:axis] + (groups, channels // groups) + x.shape[axis + 1:]
        xg = _upcast(x).reshape(split)
        reduce = tuple(a for a in range(1, xg.ndim) if a != axis)
        mean = jnp.mean(xg, axis=reduce, keepdims=True)
        var = jnp.var(xg, axis=reduce, keepdims=True)
        bshape = tuple(s if a in (axis, axis + 1) else 1 for a, s in enumerate(split))
        # Keras' order of operations: y = x * inv + (beta - mean * inv).
        inv = jax.lax.rsqrt(var + self.epsilon)
        if self.scale:
            inv = inv * params["gamma"].astype(xg.dtype).reshape(bshape)
        shift = -mean * inv
        if self.center:
            shift = shift + params["beta"].astype(xg.dtype).reshape(bshape)
        return (xg * inv + shift).reshape(x.shape).astype(x.dtype), state


class UnitNormalization(Layer):
    """Scales each example to unit L2 norm over ``axis`` (an int or a list of ints).

    As Keras: ``x * min(1 / sqrt(sum(x ** 2)), 1e12)``, so an all-zero input stays 0.

    >>> import jax.numpy as jnp
    >>> UnitNormalization()(jnp.array([[3.0, 4.0]])).tolist()
    [[0.6000000238418579, 0.800000011920929]]
    """

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            axis = list(axis)
        elif isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"{self!r}: axis must be an int or a list of ints, got {axis!r}")
        self.axis = axis

    def build(self, rng, input_shape):
        _axes(self, self.axis, len(input_shape))  # checks the axes fit the input's rank
        return {}, {}

    def call(self, params, state, x, *, training=False, rng=None):
        x = _float(self, x)
        squares = jnp.sum(jnp.square(x), axis=_axes(self, self.axis, x.ndim), keepdims=True)
        # == min(rsqrt(squares), 1e12), Keras' formula, but without 0 * inf = NaN in the
        # gradient of an all-zero input.
        return x * jax.lax.rsqrt(jnp.maximum(squares, 1e-24)), state


class RMSNormalization(Layer):
    """Divides each example by its root mean square over ``axis``, then multiplies by the
    trainable ``scale`` (initialized to ones): ``x * rsqrt(mean(x ** 2) + epsilon) * scale``.

    >>> import jax.numpy as jnp
    >>> RMSNormalization()(jnp.array([[2.0, -2.0]])).tolist()
    [[0.9999998807907104, -0.9999998807907104]]
    """

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.epsilon = axis, _in_range(self, "epsilon", epsilon, 0)

    def build(self, rng, input_shape):
        axes = _axes(self, self.axis, len(input_shape))
        shape = tuple(input_shape[a] for a in axes)
        if None in shape:
            raise ValueError(f"{self!r} needs known sizes on axis {self.axis}, got input "
                             f"shape {input_shape}")
        self.input_spec = InputSpec(ndim=len(input_shape), axes=dict(zip(axes, shape)))
        return {"scale": jnp.ones(shape, self.dtype)}, {}

    def call(self, params, state, x, *, training=False, rng=None):
        x = _float(self, x)
        axes = _axes(self, self.axis, x.ndim)
        bshape = tuple(s if a in axes else 1 for a, s in enumerate(x.shape))
        xf = _upcast(x)
        y = xf * jax.lax.rsqrt(jnp.mean(jnp.square(xf), axis=axes, keepdims=True) + self.epsilon)
        return (y * params["scale"].astype(xf.dtype).reshape(bshape)).astype(x.dtype), state
