"""Activation layers with arguments: ``ReLU``, ``LeakyReLU``, ``PReLU``, ``ELU``, ``Softmax``.

Each passes an incoming mask on (Keras' ``supports_masking``).
"""
import warnings

import jax
import jax.numpy as jnp

from .. import constraints, initializers, regularizers
from .base import InputSpec, Layer


def _large_negative(dtype):
    """Keras' logit for masked positions: very negative, yet finite in ``dtype``."""
    return -3e4 if dtype == jnp.float16 else -1e9


def _non_negative(layer, arg, value, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{layer!r}: {arg} must be a number >= 0, got {value!r}")
    return float(value)


class ReLU(Layer):
    """Rectified linear unit with Keras' options.

    ``f(x) = min(x, max_value)`` for ``x > threshold``, else ``negative_slope * (x - threshold)``
    (``max_value=None``: no cap).

    >>> import jax.numpy as jnp
    >>> ReLU(max_value=6.0, negative_slope=0.5)(jnp.array([-2.0, 3.0, 9.0])).tolist()
    [-1.0, 3.0, 6.0]
    """

    supports_masking = True

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = _non_negative(self, "max_value", max_value, allow_none=True)
        self.negative_slope = _non_negative(self, "negative_slope", negative_slope)
        self.threshold = _non_negative(self, "threshold", threshold)

    def call(self, params, state, x, *, training=False, rng=None):
        y = jnp.where(x > self.threshold, x, jnp.zeros((), x.dtype))
        if self.max_value is not None:
            y = jnp.clip(y, 0, self.max_value)
        if self.negative_slope:
            y = y - self.negative_slope * jax.nn.relu(self.threshold - x)
        return y, state


class LeakyReLU(Layer):
    """``x`` for ``x >= 0``, ``negative_slope * x`` otherwise (Keras' layer default: 0.3).

    ``alpha=`` (Keras 2's name) is accepted with a deprecation warning, as in Keras 3.

    >>> import jax.numpy as jnp
    >>> LeakyReLU()(jnp.array([-10.0, 2.0])).tolist()
    [-3.0, 2.0]
    """

    supports_masking = True

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("LeakyReLU: argument `alpha` is deprecated, use `negative_slope`.",
                          DeprecationWarning, stacklevel=2)
        super().__init__(**kwargs)
        self.negative_slope = _non_negative(self, "negative_slope", negative_slope)

    def call(self, params, state, x, *, training=False, rng=None):
        return jax.nn.leaky_relu(x, self.negative_slope), state


class PReLU(Layer):
    """Leaky ReLU with a learned slope ``alpha`` per input unit: ``relu(x) - alpha * relu(-x)``.

    ``alpha`` has the input's shape less the batch axis; ``shared_axes`` (positive axis
    numbers, 1 = the first after the batch) share one slope along those axes, e.g.
    ``shared_axes=[1, 2]`` for one slope per channel of ``(batch, h, w, channels)`` images.

    >>> import jax.numpy as jnp
    >>> prelu = PReLU(shared_axes=[1])
    >>> prelu(jnp.ones((2, 5, 3))).shape, prelu.get_weights()[0].shape
    ((2, 5, 3), (1, 3))
    """

    supports_masking = True

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None,
                 alpha_constraint=None, shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is not None:
            shared_axes = list(shared_axes) if isinstance(shared_axes, (list, tuple)) else [
                shared_axes]
            if not all(isinstance(a, int) and not isinstance(a, bool) and a >= 1
                       for a in shared_axes):
                # Keras reads negative axes against the weight's shape, not the input's:
                # refuse them rather than share along a surprising axis.
                raise ValueError(f"{self!r}: shared_axes must be positive axis numbers (1 is "
                                 f"the first axis after the batch), got {shared_axes!r}")
        self.shared_axes = shared_axes

    def build(self, rng, input_shape):
        rank, shared = len(input_shape), self.shared_axes or []
        if rank < 2 or any(a >= rank for a in shared):
            raise ValueError(f"{self!r}: shared_axes {shared} do not fit inputs of shape "
                             f"{input_shape} (rank {rank}, the batch axis first).")
        shape = tuple(1 if a in shared else input_shape[a] for a in range(1, rank))
        if None in shape:
            raise ValueError(f"{self!r} needs known sizes on every axis it does not share, got "
                             f"input shape {input_shape} with shared_axes={self.shared_axes}")
        self.input_spec = InputSpec(ndim=rank, axes={
            a: input_shape[a] for a in range(1, rank) if a not in shared})
        return {"alpha": self.alpha_initializer(rng, shape, self.dtype)}, {}

    def call(self, params, state, x, *, training=False, rng=None):
        return jax.nn.relu(x) - params["alpha"] * jax.nn.relu(-x), state


class ELU(Layer):
    """Exponential linear unit: ``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise.

    >>> import jax.numpy as jnp
    >>> ELU(alpha=2.0)(jnp.array([0.0, 1.0])).tolist()
    [0.0, 1.0]
    """

    supports_masking = True

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, params, state, x, *, training=False, rng=None):
        return jax.nn.elu(x, self.alpha), state


class Softmax(Layer):
    """Softmax over ``axis`` (an int or a list of ints).

    ``mask`` (booleans, or numbers read as ``mask > 0.5``) broadcastable to the input leaves
    out the positions where it is False: they get probability exactly 0 and the others
    share the whole mass, as in Keras. In a model, the incoming mask is passed as ``mask``.

    >>> import jax.numpy as jnp
    >>> Softmax()(jnp.zeros((1, 3)), mask=jnp.array([[True, True, False]])).tolist()
    [[0.5, 0.5, 0.0]]
    """

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis

    def call(self, params, state, x, *, training=False, rng=None, mask=None):
        if mask is not None:
            mask = jnp.asarray(mask)
            if mask.ndim > x.ndim or any(m not in (1, s) for m, s in zip(
                    mask.shape[::-1], x.shape[::-1])):
                raise ValueError(f"{self!r}: the mask must broadcast to the inputs (each of "
                                 f"its sizes 1 or the input's, no more axes), got mask shape "
                                 f"{mask.shape} for inputs of shape {x.shape}")
            if mask.dtype != jnp.bool_:
                mask = mask > 0.5
            x = jnp.where(mask, x, jnp.asarray(_large_negative(x.dtype), x.dtype))
        y = jax.nn.softmax(x, axis=self.axis)
        if mask is not None:
            y = jnp.where(mask, y, jnp.zeros((), y.dtype))
        return y, state
