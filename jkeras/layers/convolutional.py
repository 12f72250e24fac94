"""Convolution layers: ``Conv1D/2D/3D``, ``Conv1D/2D/3DTranspose``, ``DepthwiseConv1D/2D``,
``SeparableConv1D/2D``.

Every rank shares one N-D convolution (``conv_nd``, on ``lax.conv_general_dilated``) and one
transposed convolution (``conv_transpose_nd``, on ``lax.conv_transpose``); the layers only
differ in their weights. Kernels use Keras 3's layouts, so ``set_weights(keras_layer
.get_weights())`` moves weights across one to one:

* ``ConvND``: ``kernel (*kernel_size, in_channels // groups, filters)``;
* ``ConvNDTranspose``: ``kernel (*kernel_size, filters, in_channels)``;
* ``DepthwiseConvND``: ``kernel (*kernel_size, in_channels, depth_multiplier)``;
* ``SeparableConvND``: ``depthwise_kernel`` as above, ``pointwise_kernel (1, ..., 1,
  in_channels * depth_multiplier, filters)``.
"""
import jax
import numpy as np

from .. import activations, constraints, initializers, regularizers
from .base import InputSpec, Layer, positive_int
from .reshaping import _spatial_axes


# -- argument checks shared with pooling.py -------------------------------------------------
def int_tuple(layer, arg, value, n, minimum=1):
    """``value`` (an int, or ``n`` ints) as a tuple of ``n`` ints ``>= minimum``."""
    items = (value,) * n if isinstance(value, (int, np.integer)) else value
    try:
        items = tuple(items)
    except TypeError:
        items = ()
    if len(items) != n or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                  and v >= minimum for v in items):
        raise ValueError(f"{layer!r}: {arg} must be an int >= {minimum} or a tuple of {n} such "
                         f"ints, got {value!r}")
    return tuple(int(v) for v in items)


def padding_mode(layer, padding, allowed=("valid", "same")):
    """Keras' ``padding`` string, lower-cased, or a ValueError listing the allowed ones."""
    mode = padding.lower() if isinstance(padding, str) else padding
    if mode not in allowed:
        raise ValueError(f"{layer!r}: padding must be one of {allowed}, got {padding!r}")
    return mode


def check_window_fits(layer, shape, spatial_axes, window, padding, what):
    """With ``valid`` padding, every known spatial size must hold one (dilated) window:
    a clear error here instead of an empty output or an XLA shape error."""
    if padding != "valid":
        return
    for axis, size in zip(spatial_axes, window):
        if isinstance(shape[axis], int) and shape[axis] < size:
            raise ValueError(
                f"{layer!r}: the {what} (spanning {tuple(window)}) is larger than the input's "
                f"spatial size on axis {axis}, got input shape {tuple(shape)} with "
                f"padding='valid'. Use a smaller {what}, a larger input or padding='same'.")


# -- the math, one helper per kind for every rank --------------------------------------------
def _dimension_numbers(rank, data_format):
    """Inputs ``(N, *S, C)`` or ``(N, C, *S)``; kernels ``(*S, I, O)`` (Keras' layout)."""
    spatial = tuple(range(1, rank + 1)) if data_format == "channels_last" else tuple(
        range(2, rank + 2))
    io = (0, rank + 1) if data_format == "channels_last" else (0, 1)
    return jax.lax.ConvDimensionNumbers(lhs_spec=io + spatial,
                                        rhs_spec=(rank + 1, rank) + tuple(range(rank)),
                                        out_spec=io + spatial)


def conv_nd(x, kernel, strides, padding, dilation, data_format, groups=1):
    """The N-D convolution of ``x`` with a ``(*kernel_size, in // groups, out)`` kernel.

    ``padding`` is ``"valid"``, ``"same"`` (TensorFlow's split: the odd cell goes after) or
    ``"causal"`` (all of it before, so output ``t`` sees inputs ``<= t`` only).
    """
    rank = kernel.ndim - 2
    if padding == "causal":
        pads = [(d * (k - 1), 0) for k, d in zip(kernel.shape[:rank], dilation)]
    else:
        pads = padding.upper()
    return jax.lax.conv_general_dilated(
        x.astype(kernel.dtype), kernel, strides, pads, rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(rank, data_format), feature_group_count=groups)


def transpose_pads(kernel_size, strides, dilation, padding, output_padding):
    """``lax.conv_transpose``'s (before, after) pads giving Keras 3's output sizes:

    * valid: ``(n - 1) * s + k + output_padding`` (default ``max(k, s) - k``);
    * same: ``n * s``, or ``(n - 1) * s + k % 2 + output_padding`` when it is given;

    with ``k`` the dilated kernel size. The split is TensorFlow's, as in Keras' JAX backend.
    """
    pads = []
    for i, (k, s, d) in enumerate(zip(kernel_size, strides, dilation)):
        k = (k - 1) * d + 1
        extra = None if output_padding is None else output_padding[i]
        if padding == "valid":
            extra = max(k, s) - k if extra is None else extra
            pads.append((k - 1, k - 1 + extra))
        else:
            total = s + k - 2 if extra is None else k + k % 2 - 2 + extra
            before = min(total // 2 + total % 2, k - 1)
            pads.append((before, total - before))
    return pads


def conv_transpose_nd(x, kernel, strides, padding, output_padding, dilation, data_format):
    """The N-D transposed convolution of ``x`` with a ``(*kernel_size, out, in)`` kernel."""
    rank = kernel.ndim - 2
    pads = transpose_pads(kernel.shape[:rank], strides, dilation, padding, output_padding)
    # transpose_kernel flips the kernel and swaps its last two axes: (*S, out, in) is then
    # read as (*S, I=in, O=out), the gradient of the convolution with this kernel.
    return jax.lax.conv_transpose(
        x.astype(kernel.dtype), kernel, strides, pads, rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(rank, data_format), transpose_kernel=True)


def depthwise_conv_nd(x, kernel, strides, padding, dilation, data_format):
    """Each input channel convolved with its own ``depth_multiplier`` filters: a grouped
    convolution with one group per channel, kernel ``(*S, in, m)`` read as ``(*S, 1, in * m)``."""
    rank = kernel.ndim - 2
    channels = kernel.shape[-2]
    kernel = kernel.reshape(kernel.shape[:rank] + (1, channels * kernel.shape[-1]))
    return conv_nd(x, kernel, strides, padding, dilation, data_format, groups=channels)


# -- the layers -------------------------------------------------------------------------------
class _BaseConv(Layer):
    """What every convolution shares: geometry arguments, the channel check, bias and
    activation. Subclasses set ``rank`` and write ``build``/``call``."""

    rank = None
    paddings = ("valid", "same")

    def _geometry(self, kernel_size, strides, padding, data_format, dilation_rate):
        n = self.rank
        self.kernel_size = int_tuple(self, "kernel_size", kernel_size, n)
        self.strides = int_tuple(self, "strides", strides, n)
        self.dilation_rate = int_tuple(self, "dilation_rate", dilation_rate, n)
        self.padding = padding_mode(self, padding, self.paddings)
        self.data_format, self._spatial = _spatial_axes(self, data_format, n)
        self._channel_axis = -1 if self.data_format == "channels_last" else 1
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            # Keras 3 refuses this combination too; keep ports behaving the same.
            raise ValueError(f"{self!r}: strides > 1 cannot be combined with dilation_rate > 1, "
                             f"got strides={self.strides}, dilation_rate={self.dilation_rate}")
        self.input_spec = InputSpec(ndim=n + 2)

    def _bias_and_activation(self, activation, use_bias, bias_initializer, bias_regularizer,
                             bias_constraint):
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = initializers.get(bias_initializer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.bias_constraint = constraints.get(bias_constraint)

    def _window(self):
        """The dilated kernel's extent on each spatial axis."""
        return tuple((k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation_rate))

    def _check_fits(self, shape):
        check_window_fits(self, shape, self._spatial, self._window(), self.padding, "kernel")

    def _input_channels(self, input_shape, groups=1):
        """The channel count of ``input_shape``, checked; fixes it in the input spec."""
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ValueError(f"{self!r} needs a known channel dimension ({self.data_format}), "
                             f"got input shape {input_shape}")
        if channels % groups:
            raise ValueError(f"{self!r}: the input's {channels} channels must be divisible by "
                             f"groups ({groups}), got input shape {input_shape}")
        self._check_fits(input_shape)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis: channels})
        return channels

    def _with_bias(self, rng, params, size):
        if self.use_bias:
            params["bias"] = self.bias_initializer(rng, (size,), self.dtype)
        return params, {}

    def _finish(self, params, y):
        if self.use_bias:
            bias = params["bias"]
            y = y + (bias if self.data_format == "channels_last"
                     else bias.reshape((-1,) + (1,) * self.rank))
        return self.activation(y)


class _Conv(_BaseConv):
    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = positive_int(self, "filters", filters)
        self.groups = positive_int(self, "groups", groups)
        if self.filters % self.groups:
            raise ValueError(f"{self!r}: filters ({filters}) must be divisible by groups "
                             f"({groups})")
        self._geometry(kernel_size, strides, padding, data_format, dilation_rate)
        self._bias_and_activation(activation, use_bias, bias_initializer, bias_regularizer,
                                  bias_constraint)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)

    def build(self, rng, input_shape):
        channels = self._input_channels(input_shape, self.groups)
        k_rng, b_rng = jax.random.split(rng)
        shape = self.kernel_size + (channels // self.groups, self.filters)
        params = {"kernel": self.kernel_initializer(k_rng, shape, self.dtype)}
        return self._with_bias(b_rng, params, self.filters)

    def call(self, params, state, x, *, training=False, rng=None):
        self._check_fits(x.shape)
        y = conv_nd(x, params["kernel"], self.strides, self.padding, self.dilation_rate,
                    self.data_format, self.groups)
        return self._finish(params, y), state


class Conv1D(_Conv):
    """1-D convolution over ``(batch, steps, channels)`` (or ``(batch, channels, steps)``).

    ``padding`` is ``"valid"``, ``"same"`` or ``"causal"`` (output ``t`` depends on inputs
    ``<= t`` only). Kernel: ``(kernel_size, channels // groups, filters)``.

    >>> import jax.numpy as jnp
    >>> Conv1D(32, 3, padding="causal", dilation_rate=2)(jnp.ones((4, 10, 8))).shape
    (4, 10, 32)
    """

    rank = 1
    paddings = ("valid", "same", "causal")


class Conv2D(_Conv):
    """2-D convolution over images ``(batch, rows, cols, channels)`` (or channels first).

    Kernel: ``(kh, kw, channels // groups, filters)``, Keras 3's layout.

    >>> import jax.numpy as jnp
    >>> Conv2D(32, 3, activation="relu")(jnp.ones((2, 28, 28, 1))).shape
    (2, 26, 26, 32)
    """

    rank = 2


class Conv3D(_Conv):
    """3-D convolution over volumes ``(batch, d1, d2, d3, channels)`` (or channels first).

    >>> import jax.numpy as jnp
    >>> Conv3D(4, 3, padding="same", strides=2)(jnp.ones((1, 8, 8, 8, 2))).shape
    (1, 4, 4, 4, 4)
    """

    rank = 3


class _ConvTranspose(_BaseConv):
    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = positive_int(self, "filters", filters)
        self._geometry(kernel_size, strides, padding, data_format, dilation_rate)
        self.output_padding = None if output_padding is None else int_tuple(
            self, "output_padding", output_padding, self.rank, minimum=0)
        if self.output_padding is not None and any(
                p >= s for p, s in zip(self.output_padding, self.strides)):
            raise ValueError(f"{self!r}: output_padding must be less than strides on every "
                             f"axis, got output_padding={self.output_padding}, "
                             f"strides={self.strides}")
        self._bias_and_activation(activation, use_bias, bias_initializer, bias_regularizer,
                                  bias_constraint)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)

    def _check_fits(self, shape):
        pass  # a transposed convolution takes inputs of any size

    def build(self, rng, input_shape):
        channels = self._input_channels(input_shape)
        k_rng, b_rng = jax.random.split(rng)
        shape = self.kernel_size + (self.filters, channels)
        params = {"kernel": self.kernel_initializer(k_rng, shape, self.dtype)}
        return self._with_bias(b_rng, params, self.filters)

    def call(self, params, state, x, *, training=False, rng=None):
        y = conv_transpose_nd(x, params["kernel"], self.strides, self.padding,
                              self.output_padding, self.dilation_rate, self.data_format)
        return self._finish(params, y), state


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution (the gradient of ``Conv1D``), for upsampling sequences.

    Output length: ``n * strides`` with ``padding="same"``; ``(n - 1) * strides +
    max(kernel_size, strides)`` with ``"valid"`` (``output_padding`` changes the last term as
    in Keras). Kernel: ``(kernel_size, filters, channels)``.

    >>> import jax.numpy as jnp
    >>> Conv1DTranspose(8, 3, strides=2, padding="same")(jnp.ones((2, 5, 4))).shape
    (2, 10, 8)
    """

    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution (the gradient of ``Conv2D``), for upsampling images.

    Output sizes are Keras 3's (see ``Conv1DTranspose``). Kernel: ``(kh, kw, filters,
    channels)``.

    >>> import jax.numpy as jnp
    >>> Conv2DTranspose(16, 3, strides=2)(jnp.ones((2, 7, 7, 8))).shape
    (2, 15, 15, 16)
    """

    rank = 2


class Conv3DTranspose(_ConvTranspose):
    """Transposed 3-D convolution (the gradient of ``Conv3D``).

    >>> import jax.numpy as jnp
    >>> Conv3DTranspose(2, 2, strides=2)(jnp.ones((1, 3, 3, 3, 4))).shape
    (1, 6, 6, 6, 2)
    """

    rank = 3


class _DepthwiseConv(_BaseConv):
    # Keras 3 names this weight "kernel" (path ".../kernel") but its arguments
    # "depthwise_*"; the base class finds a weight's regularizer/constraint by the weight's
    # name, so "kernel_*" read the "depthwise_*" ones.
    kernel_regularizer = property(lambda self: self.depthwise_regularizer)
    kernel_constraint = property(lambda self: self.depthwise_constraint)

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, depthwise_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.depth_multiplier = positive_int(self, "depth_multiplier", depth_multiplier)
        self._geometry(kernel_size, strides, padding, data_format, dilation_rate)
        self._bias_and_activation(activation, use_bias, bias_initializer, bias_regularizer,
                                  bias_constraint)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)

    def build(self, rng, input_shape):
        channels = self._input_channels(input_shape)
        k_rng, b_rng = jax.random.split(rng)
        shape = self.kernel_size + (channels, self.depth_multiplier)
        params = {"kernel": self.depthwise_initializer(k_rng, shape, self.dtype)}
        return self._with_bias(b_rng, params, channels * self.depth_multiplier)

    def call(self, params, state, x, *, training=False, rng=None):
        self._check_fits(x.shape)
        y = depthwise_conv_nd(x, params["kernel"], self.strides, self.padding,
                              self.dilation_rate, self.data_format)
        return self._finish(params, y), state


class DepthwiseConv1D(_DepthwiseConv):
    """Depthwise 1-D convolution: each channel gets its own ``depth_multiplier`` filters.

    >>> import jax.numpy as jnp
    >>> DepthwiseConv1D(3, depth_multiplier=2)(jnp.ones((2, 10, 4))).shape
    (2, 8, 8)
    """

    rank = 1


class DepthwiseConv2D(_DepthwiseConv):
    """Depthwise 2-D convolution: each channel gets its own ``depth_multiplier`` filters.

    The weight is ``kernel (kh, kw, channels, depth_multiplier)`` as in Keras 3 (its
    arguments keep the ``depthwise_`` prefix: ``depthwise_initializer``, ...).

    >>> import jax.numpy as jnp
    >>> DepthwiseConv2D(3, depth_multiplier=2, padding="same")(jnp.ones((2, 8, 8, 3))).shape
    (2, 8, 8, 6)
    """

    rank = 2


class _SeparableConv(_BaseConv):
    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = positive_int(self, "filters", filters)
        self.depth_multiplier = positive_int(self, "depth_multiplier", depth_multiplier)
        self._geometry(kernel_size, strides, padding, data_format, dilation_rate)
        self._bias_and_activation(activation, use_bias, bias_initializer, bias_regularizer,
                                  bias_constraint)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def build(self, rng, input_shape):
        channels = self._input_channels(input_shape)
        d_rng, p_rng, b_rng = jax.random.split(rng, 3)
        depthwise = self.kernel_size + (channels, self.depth_multiplier)
        pointwise = (1,) * self.rank + (channels * self.depth_multiplier, self.filters)
        params = {"depthwise_kernel": self.depthwise_initializer(d_rng, depthwise, self.dtype),
                  "pointwise_kernel": self.pointwise_initializer(p_rng, pointwise, self.dtype)}
        return self._with_bias(b_rng, params, self.filters)

    def call(self, params, state, x, *, training=False, rng=None):
        self._check_fits(x.shape)
        y = depthwise_conv_nd(x, params["depthwise_kernel"], self.strides, self.padding,
                              self.dilation_rate, self.data_format)
        ones = (1,) * self.rank
        y = conv_nd(y, params["pointwise_kernel"], ones, "valid", ones, self.data_format)
        return self._finish(params, y), state


class SeparableConv1D(_SeparableConv):
    """A depthwise 1-D convolution, then a pointwise (size 1) one mixing the channels.

    >>> import jax.numpy as jnp
    >>> SeparableConv1D(16, 3, padding="same")(jnp.ones((2, 10, 4))).shape
    (2, 10, 16)
    """

    rank = 1


class SeparableConv2D(_SeparableConv):
    """A depthwise 2-D convolution, then a pointwise (1x1) one mixing the channels.

    Weights: ``depthwise_kernel (kh, kw, channels, depth_multiplier)``,
    ``pointwise_kernel (1, 1, channels * depth_multiplier, filters)``, ``bias (filters,)``.

    >>> import jax.numpy as jnp
    >>> SeparableConv2D(16, 3, depth_multiplier=2)(jnp.ones((2, 8, 8, 3))).shape
    (2, 6, 6, 16)
    """

    rank = 2
