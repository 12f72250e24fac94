"""Reshaping layers: ``Flatten``, ``Reshape``, ``Permute``, ``RepeatVector``, ``Cropping1D/2D``,
``UpSampling1D/2D``, ``ZeroPadding1D/2D``."""
import math

import jax
import jax.numpy as jnp
import numpy as np

from .base import InputSpec, Layer, positive_int


class Flatten(Layer):
    """Flattens every axis but the batch axis.

    With ``data_format="channels_first"`` the channel axis is moved last first, so the
    features come out in the order a channels_last model would give (as in Keras).

    >>> import jax.numpy as jnp
    >>> Flatten()(jnp.ones((2, 28, 28))).shape
    (2, 784)
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format, _ = _spatial_axes(self, data_format, 0)

    def call(self, params, state, x, *, training=False, rng=None):
        if self.data_format == "channels_first" and x.ndim > 2:
            x = jnp.moveaxis(x, 1, -1)
        return x.reshape(x.shape[0], -1), state


class Reshape(Layer):
    """Reshapes every example to ``target_shape`` (batch axis excluded; one ``-1`` allowed).

    >>> import jax.numpy as jnp
    >>> Reshape((4, -1))(jnp.ones((2, 12))).shape
    (2, 4, 3)
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if self.target_shape.count(-1) > 1 or any(d < -1 or d == 0 for d in self.target_shape):
            raise ValueError(f"{self!r}: target_shape may hold positive sizes and at most one "
                             f"-1, got {target_shape}")

    def build(self, rng, input_shape):
        self._resolve(input_shape)
        return {}, {}

    def _resolve(self, input_shape):
        size = input_shape[1:]
        if None in size:
            return self.target_shape
        size, known = math.prod(size), math.prod(d for d in self.target_shape if d != -1)
        fits = size % known == 0 if -1 in self.target_shape else size == known
        if not fits:
            raise ValueError(f"{self!r} cannot reshape inputs of shape {tuple(input_shape)} "
                             f"({size} values per example) into {self.target_shape}.")
        return tuple(size // known if d == -1 else d for d in self.target_shape)

    def call(self, params, state, x, *, training=False, rng=None):
        return x.reshape(x.shape[0], *self._resolve(x.shape)), state


def _spatial_axes(layer, data_format, n):
    """Checks Keras' ``data_format`` (``None`` means channels_last) and returns it with the
    ``n`` spatial axes of a rank ``n + 2`` input: ``(1, ..., n)`` or ``(2, ..., n + 1)``."""
    data_format = "channels_last" if data_format is None else str(data_format).lower()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{layer!r}: data_format must be 'channels_last' or 'channels_first', "
                         f"got {data_format!r}")
    first = 1 if data_format == "channels_last" else 2
    return data_format, tuple(range(first, first + n))


def _pairs(layer, arg, value, n):
    """Keras' ``cropping``/``padding`` forms as ``n`` ``(before, after)`` pairs of ints >= 0:
    an int (every side), or ``n`` items each an int (both sides) or a pair."""
    items = [value] * n if isinstance(value, (int, np.integer)) else (
        [value] if n == 1 else value)
    try:
        pairs = tuple((v, v) if isinstance(v, (int, np.integer)) else tuple(v) for v in items)
        ok = len(pairs) == n and all(len(p) == 2 and all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0 for s in p)
            for p in pairs)
    except TypeError:
        ok = False
    if not ok:
        form = "(before, after)" if n == 1 else "((top, bottom), (left, right))"
        raise ValueError(f"{layer!r}: {arg} must be an int >= 0 or of the form {form} of "
                         f"ints >= 0, got {value!r}")
    return tuple((int(a), int(b)) for a, b in pairs)


class Permute(Layer):
    """Permutes the non-batch axes: ``dims`` is a permutation of ``1..rank-1``.

    >>> import jax.numpy as jnp
    >>> Permute((2, 1))(jnp.ones((4, 10, 64))).shape
    (4, 64, 10)
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"{self!r}: dims must be a permutation of 1..{len(self.dims)} "
                             f"(the batch axis 0 stays first), got {dims!r}")
        self.input_spec = InputSpec(ndim=len(self.dims) + 1)

    def call(self, params, state, x, *, training=False, rng=None):
        return jnp.transpose(x, (0, *self.dims)), state


class RepeatVector(Layer):
    """Repeats a ``(batch, features)`` input ``n`` times: ``(batch, n, features)``.

    >>> import jax.numpy as jnp
    >>> RepeatVector(3)(jnp.ones((2, 32))).shape
    (2, 3, 32)
    """

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = positive_int(self, "n", n)
        self.input_spec = InputSpec(ndim=2)

    def call(self, params, state, x, *, training=False, rng=None):
        return jnp.repeat(x[:, None, :], self.n, axis=1), state


class _Cropping(Layer):
    """Removes ``self.cropping[i]`` (before, after) items on spatial axis ``self._axes[i]``."""

    def build(self, rng, input_shape):
        self._check_size(input_shape)
        return {}, {}

    def _check_size(self, shape):
        for axis, crop in zip(self._axes, self.cropping):
            if isinstance(shape[axis], int) and sum(crop) >= shape[axis]:
                raise ValueError(f"{self!r}: cropping {self.cropping} must leave at least one "
                                 f"item on axis {axis}, got an input of shape {tuple(shape)}")

    def call(self, params, state, x, *, training=False, rng=None):
        self._check_size(x.shape)
        index = [slice(None)] * x.ndim
        for axis, (before, after) in zip(self._axes, self.cropping):
            # A negative stop works with unknown (symbolic) sizes too.
            index[axis] = slice(before, -after if after else None)
        return x[tuple(index)], state


class Cropping1D(_Cropping):
    """Crops ``cropping = (start, end)`` steps (or an int for both) off a ``(batch, steps,
    features)`` input.

    >>> import jax.numpy as jnp
    >>> Cropping1D((1, 2))(jnp.ones((2, 10, 3))).shape
    (2, 7, 3)
    """

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pairs(self, "cropping", cropping, 1)
        self._axes = (1,)
        self.input_spec = InputSpec(ndim=3)


class Cropping2D(_Cropping):
    """Crops rows and columns off images: ``cropping`` is an int, ``(rows, cols)`` or
    ``((top, bottom), (left, right))``.

    >>> import jax.numpy as jnp
    >>> Cropping2D(((2, 2), (4, 4)))(jnp.ones((2, 28, 28, 3))).shape
    (2, 24, 20, 3)
    """

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format, self._axes = _spatial_axes(self, data_format, 2)
        self.cropping = _pairs(self, "cropping", cropping, 2)
        self.input_spec = InputSpec(ndim=4)


class UpSampling1D(Layer):
    """Repeats each step ``size`` times along the steps axis of ``(batch, steps, features)``.

    >>> import jax.numpy as jnp
    >>> UpSampling1D(2)(jnp.ones((2, 5, 3))).shape
    (2, 10, 3)
    """

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = positive_int(self, "size", size)
        self.input_spec = InputSpec(ndim=3)

    def call(self, params, state, x, *, training=False, rng=None):
        return jnp.repeat(x, self.size, axis=1), state


class UpSampling2D(Layer):
    """Upsamples images by ``size = (rows, cols)`` factors.

    ``interpolation="nearest"`` repeats rows and columns; ``"bilinear"``, ``"bicubic"``,
    ``"lanczos3"`` and ``"lanczos5"`` resize with ``jax.image.resize`` (half-pixel centres,
    no antialiasing), as Keras 3 does on its JAX backend.

    >>> import jax.numpy as jnp
    >>> UpSampling2D((2, 3), interpolation="bilinear")(jnp.ones((1, 4, 4, 3))).shape
    (1, 8, 12, 3)
    """

    _METHODS = ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5")

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.data_format, self._axes = _spatial_axes(self, data_format, 2)
        sizes = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
        if len(sizes) != 2:
            raise ValueError(f"{self!r}: size must be an int or 2 ints, got {size!r}")
        self.size = tuple(positive_int(self, "size", s) for s in sizes)
        self.interpolation = str(interpolation).lower()
        if self.interpolation not in self._METHODS:
            raise ValueError(f"{self!r}: interpolation must be one of {self._METHODS}, "
                             f"got {interpolation!r}")
        self.input_spec = InputSpec(ndim=4)

    def call(self, params, state, x, *, training=False, rng=None):
        if self.interpolation == "nearest":
            for axis, factor in zip(self._axes, self.size):
                x = jnp.repeat(x, factor, axis=axis)
            return x, state
        shape = list(x.shape)
        for axis, factor in zip(self._axes, self.size):
            shape[axis] = shape[axis] * factor
        return jax.image.resize(x, tuple(shape), self.interpolation, antialias=False), state


class _ZeroPadding(Layer):
    """Pads ``self.padding[i]`` (before, after) zeros on spatial axis ``self._axes[i]``."""

    def call(self, params, state, x, *, training=False, rng=None):
        widths = [(0, 0)] * x.ndim
        for axis, pad in zip(self._axes, self.padding):
            widths[axis] = pad
        return jnp.pad(x, widths), state


class ZeroPadding1D(_ZeroPadding):
    """Pads zeros at the start and end of the steps axis: ``padding`` is an int or a pair.

    >>> import jax.numpy as jnp
    >>> ZeroPadding1D((1, 2))(jnp.ones((2, 5, 3))).shape
    (2, 8, 3)
    """

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format, self._axes = _spatial_axes(self, data_format, 1)
        self.padding = _pairs(self, "padding", padding, 1)
        self.input_spec = InputSpec(ndim=3)


class ZeroPadding2D(_ZeroPadding):
    """Pads zero rows and columns around images: ``padding`` is an int, ``(rows, cols)`` or
    ``((top, bottom), (left, right))``.

    >>> import jax.numpy as jnp
    >>> ZeroPadding2D(((1, 0), (2, 2)))(jnp.ones((2, 4, 4, 3))).shape
    (2, 5, 8, 3)
    """

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format, self._axes = _spatial_axes(self, data_format, 2)
        self.padding = _pairs(self, "padding", padding, 2)
        self.input_spec = InputSpec(ndim=4)
