"""Pooling layers: ``MaxPooling1D/2D/3D``, ``AveragePooling1D/2D/3D`` and the global
``GlobalMaxPooling1D/2D/3D``, ``GlobalAveragePooling1D/2D/3D``.

Windowed pooling is one ``lax.reduce_window`` for every rank. ``AveragePooling`` with
``padding="same"`` divides each window's sum by the number of real (not padded) cells in
it, as Keras does.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np

from .base import InputSpec, Layer
from .convolutional import check_window_fits, int_tuple, padding_mode
from .reshaping import _spatial_axes


def _lowest(dtype):
    """The identity of ``max`` for ``dtype``: -inf, or the smallest integer."""
    return -jnp.inf if jnp.issubdtype(dtype, jnp.inexact) else jnp.iinfo(dtype).min


class _Pooling(Layer):
    """Max or average over windows of ``pool_size`` moved by ``strides`` (default
    ``pool_size``). Subclasses set ``rank`` and ``mode``."""

    rank = None
    mode = None  # "max" or "average"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        n = self.rank
        self.pool_size = int_tuple(self, "pool_size", pool_size, n)
        self.strides = self.pool_size if strides is None else int_tuple(
            self, "strides", strides, n)
        self.padding = padding_mode(self, padding)
        self.data_format, self._spatial = _spatial_axes(self, data_format, n)
        self.input_spec = InputSpec(ndim=n + 2)

    def _window(self, values, ndim):
        """``values`` on the spatial axes, 1 on the batch and channel axes."""
        full = [1] * ndim
        for axis, v in zip(self._spatial, values):
            full[axis] = v
        return tuple(full)

    def build(self, rng, input_shape):
        check_window_fits(self, input_shape, self._spatial, self.pool_size, self.padding,
                          "pool_size")
        return {}, {}

    def call(self, params, state, x, *, training=False, rng=None):
        check_window_fits(self, x.shape, self._spatial, self.pool_size, self.padding,
                          "pool_size")
        window = self._window(self.pool_size, x.ndim)
        strides = self._window(self.strides, x.ndim)
        pad = self.padding.upper()
        if self.mode == "max":
            return jax.lax.reduce_window(x, _lowest(x.dtype), jax.lax.max, window, strides,
                                         pad), state
        # A concrete (NumPy) zero lets lax see the add-monoid, which it can differentiate.
        zero = np.zeros((), x.dtype)
        sums = jax.lax.reduce_window(x, zero, jax.lax.add, window, strides, pad)
        if self.padding == "valid":
            return sums / math.prod(self.pool_size), state
        # Count the real cells under each window: pool a block of ones of the spatial shape
        # (size 1 on batch and channels, so it broadcasts).
        ones = jnp.ones(self._window([x.shape[a] for a in self._spatial], x.ndim), x.dtype)
        counts = jax.lax.reduce_window(ones, zero, jax.lax.add, window, strides, pad)
        return sums / counts, state


class MaxPooling1D(_Pooling):
    """The maximum over windows of ``pool_size`` steps.

    >>> import jax.numpy as jnp
    >>> MaxPooling1D(2)(jnp.arange(6.0).reshape(1, 6, 1))[0, :, 0].tolist()
    [1.0, 3.0, 5.0]
    """

    rank, mode = 1, "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling2D(_Pooling):
    """The maximum over ``pool_size`` windows of images.

    >>> import jax.numpy as jnp
    >>> MaxPooling2D((2, 2))(jnp.ones((2, 28, 28, 32))).shape
    (2, 14, 14, 32)
    """

    rank, mode = 2, "max"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling3D(_Pooling):
    """The maximum over ``pool_size`` windows of volumes.

    >>> import jax.numpy as jnp
    >>> MaxPooling3D()(jnp.ones((1, 4, 4, 4, 2))).shape
    (1, 2, 2, 2, 2)
    """

    rank, mode = 3, "max"

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_Pooling):
    """The mean over windows of ``pool_size`` steps (with ``padding="same"``, over the
    window's real cells only).

    >>> import jax.numpy as jnp
    >>> AveragePooling1D(2, padding="same")(jnp.arange(3.0).reshape(1, 3, 1))[0, :, 0].tolist()
    [0.5, 2.0]
    """

    rank, mode = 1, "average"


class AveragePooling2D(_Pooling):
    """The mean over ``pool_size`` windows of images (with ``padding="same"``, over the
    window's real cells only).

    >>> import jax.numpy as jnp
    >>> AveragePooling2D(2, strides=1, padding="same")(jnp.ones((2, 5, 5, 3))).shape
    (2, 5, 5, 3)
    """

    rank, mode = 2, "average"


class AveragePooling3D(_Pooling):
    """The mean over ``pool_size`` windows of volumes.

    >>> import jax.numpy as jnp
    >>> AveragePooling3D(2)(jnp.ones((1, 4, 4, 4, 2))).shape
    (1, 2, 2, 2, 2)
    """

    rank, mode = 3, "average"


class _GlobalPooling(Layer):
    """Max or mean over every spatial axis; ``keepdims=True`` keeps them with size 1."""

    rank = None
    reduce = None  # staticmethod(jnp.max) or staticmethod(jnp.mean)

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format, self._spatial = _spatial_axes(self, data_format, self.rank)
        self.keepdims = bool(keepdims)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, params, state, x, *, training=False, rng=None):
        return self.reduce(x, axis=self._spatial, keepdims=self.keepdims), state


class GlobalMaxPooling1D(_GlobalPooling):
    """The maximum over the steps axis: ``(batch, steps, channels) -> (batch, channels)``.

    >>> import jax.numpy as jnp
    >>> GlobalMaxPooling1D(keepdims=True)(jnp.ones((2, 10, 4))).shape
    (2, 1, 4)
    """

    rank, reduce = 1, staticmethod(jnp.max)


class GlobalMaxPooling2D(_GlobalPooling):
    """The maximum over rows and columns: ``(batch, rows, cols, channels) -> (batch,
    channels)``.

    >>> import jax.numpy as jnp
    >>> GlobalMaxPooling2D()(jnp.ones((2, 7, 7, 64))).shape
    (2, 64)
    """

    rank, reduce = 2, staticmethod(jnp.max)


class GlobalMaxPooling3D(_GlobalPooling):
    """The maximum over the three spatial axes of volumes.

    >>> import jax.numpy as jnp
    >>> GlobalMaxPooling3D()(jnp.ones((2, 3, 3, 3, 4))).shape
    (2, 4)
    """

    rank, reduce = 3, staticmethod(jnp.max)


class GlobalAveragePooling1D(_GlobalPooling):
    """The mean over the steps axis; with a mask (e.g. from ``Embedding(mask_zero=True)``),
    over the unmasked steps only.

    >>> import jax.numpy as jnp
    >>> x, mask = jnp.array([[[1.0], [3.0], [9.0]]]), jnp.array([[True, True, False]])
    >>> GlobalAveragePooling1D()(x, mask=mask).tolist()
    [[2.0]]
    """

    rank, reduce = 1, staticmethod(jnp.mean)

    def call(self, params, state, x, *, training=False, rng=None, mask=None):
        if mask is None:
            return super().call(params, state, x)
        steps = self._spatial[0]
        if tuple(mask.shape) != (x.shape[0], x.shape[steps]):
            raise ValueError(f"{self!r} expects a (batch, steps) = {(x.shape[0], x.shape[steps])} "
                             f"mask for inputs of shape {tuple(x.shape)}, got a mask of shape "
                             f"{tuple(mask.shape)}")
        # The mask is (batch, steps): give it a size-1 channel axis to broadcast.
        keep = jnp.expand_dims(mask.astype(bool), 2 if steps == 1 else 1)
        total = jnp.sum(jnp.where(keep, x, 0), axis=steps, keepdims=self.keepdims)
        count = jnp.sum(keep.astype(x.dtype), axis=steps, keepdims=self.keepdims)
        return total / count, state


class GlobalAveragePooling2D(_GlobalPooling):
    """The mean over rows and columns: ``(batch, rows, cols, channels) -> (batch,
    channels)``.

    >>> import jax.numpy as jnp
    >>> GlobalAveragePooling2D(keepdims=True)(jnp.ones((2, 7, 7, 64))).shape
    (2, 1, 1, 64)
    """

    rank, reduce = 2, staticmethod(jnp.mean)


class GlobalAveragePooling3D(_GlobalPooling):
    """The mean over the three spatial axes of volumes.

    >>> import jax.numpy as jnp
    >>> GlobalAveragePooling3D()(jnp.ones((2, 3, 3, 3, 4))).shape
    (2, 4)
    """

    rank, reduce = 3, staticmethod(jnp.mean)
