"""Convolutional LSTMs: ``ConvLSTMCell`` and ``ConvLSTM1D/2D/3D``, Keras 3's layers.

An LSTM whose input and recurrent transformations are convolutions: the input conv has
the layer's ``strides``, ``padding`` and ``dilation_rate``, the recurrent one is a
stride-1 ``"same"`` convolution of ``h``. Weights as in Keras: ``kernel (*kernel_size,
channels, 4*filters)``, ``recurrent_kernel (*kernel_size, filters, 4*filters)``, ``bias
(4*filters,)``, gates i, f, c, o. As for ``LSTM``, the layers keep their cell's weights at
their top level (``conv_lstm2d/kernel``), and the input convolution of every step runs as
one convolution over the whole sequence, before the scan.
"""
import jax
import jax.numpy as jnp

from .. import activations, constraints, initializers, regularizers
from .base import positive_int
from .convolutional import _BaseConv, conv_nd
from .recurrent import CellLayer, _config
from .rnn import RNNCell


class ConvLSTMCell(RNNCell, _BaseConv):
    """One step of a convolutional LSTM of rank ``rank`` (1, 2 or 3); states ``[h, c]``.

    >>> import jax.numpy as jnp
    >>> cell = ConvLSTMCell(2, filters=4, kernel_size=3, padding="same")
    >>> out, [h, c] = cell(jnp.ones((2, 8, 8, 3)), [jnp.zeros((2, 8, 8, 4))] * 2)
    >>> out.shape
    (2, 8, 8, 4)
    """

    gates = 4
    state_size = -1  # as in Keras: the states' shapes come from get_initial_state

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        self._config = _config(locals())
        super().__init__(seed=seed, **kwargs)
        if rank not in (1, 2, 3):
            raise ValueError(f"{self!r}: rank must be 1, 2 or 3, got {rank!r}")
        self.rank = rank
        self.filters = positive_int(self, "filters", filters)
        self._geometry(kernel_size, strides, padding, data_format, dilation_rate)
        self._bias_and_activation(activation, use_bias, bias_initializer, bias_regularizer,
                                  bias_constraint)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self._init_dropout(dropout, recurrent_dropout)
        self.output_size = None
        self._state_shape = None


    def _mask_count(self):
        return self.gates  # Keras' ConvLSTMCell always draws one mask per gate

    @property
    def _gate_axis(self):
        """The channel axis, counted from the end (so it holds with leading time axes)."""
        return -1 if self.data_format == "channels_last" else -(self.rank + 1)

    def build(self, rng, input_shape, states_shape=None):
        if len(input_shape) != self.rank + 2 or None in input_shape[1:]:
            raise ValueError(f"{self!r} expects step inputs of rank {self.rank + 2} with known "
                             f"spatial sizes and channels, got shape {input_shape}")
        channels = self._input_channels(input_shape)
        k_kernel, k_recurrent, k_bias = jax.random.split(rng, 3)
        width = 4 * self.filters
        params = {
            "kernel": self.kernel_initializer(k_kernel, self.kernel_size + (channels, width),
                                              self.dtype),
            "recurrent_kernel": self.recurrent_initializer(
                k_recurrent, self.kernel_size + (self.filters, width), self.dtype)}
        if self.use_bias:
            f = self.filters
            if self.unit_forget_bias:
                k1, k2 = jax.random.split(k_bias)
                params["bias"] = jnp.concatenate([
                    self.bias_initializer(k1, (f,), self.dtype), jnp.ones((f,), self.dtype),
                    self.bias_initializer(k2, (2 * f,), self.dtype)])
            else:
                params["bias"] = self.bias_initializer(k_bias, (width,), self.dtype)
        out = jax.eval_shape(lambda x, k: self._conv(x, k), jax.ShapeDtypeStruct(
            (1, *input_shape[1:]), self.dtype), params["kernel"])
        self._state_shape = out.shape[1:-1] + (self.filters,) if self._gate_axis == -1 else (
            self.filters, *out.shape[2:])
        return params, {}

    def get_initial_state(self, batch_size):
        """Zero ``h`` and ``c``, shaped as the input convolution's output.

        >>> import jax, jax.numpy as jnp
        >>> cell = ConvLSTMCell(1, filters=2, kernel_size=3)
        >>> _ = cell.init(jax.random.key(0), jnp.ones((1, 10, 3)))
        >>> [s.shape for s in cell.get_initial_state(4)]
        [(4, 8, 2), (4, 8, 2)]
        """
        if self._state_shape is None:
            raise ValueError(f"{self!r} is not built yet: its states' shape depends on the "
                             "input's. Build it (or the RNN around it) first.")
        return [jnp.zeros((batch_size, *self._state_shape), self.compute_dtype)] * 2

    def _conv(self, x, kernel, recurrent=False):
        """The convolution of ``x`` (any leading axes before the batch) with ``kernel``."""
        step_ndim = self.rank + 2
        lead, x = x.shape[:x.ndim - step_ndim], x.reshape((-1, *x.shape[x.ndim - step_ndim + 1:]))
        if recurrent:
            y = conv_nd(x, kernel, (1,) * self.rank, "same", (1,) * self.rank, self.data_format)
        else:
            y = conv_nd(x, kernel, self.strides, self.padding, self.dilation_rate,
                        self.data_format)
        return y.reshape((*lead, -1, *y.shape[1:])) if lead else y

    def _gated_conv(self, x, kernel, masks, recurrent=False):
        """The convolution for all four gates; under per-gate dropout masks, gate by gate."""
        if masks is None:
            return self._conv(x, kernel, recurrent)
        blocks = jnp.split(kernel, 4, axis=-1)
        return jnp.concatenate([self._conv(x * m, k, recurrent) for m, k in zip(masks, blocks)],
                               axis=self._gate_axis)

    def project(self, params, x, in_masks):
        z = self._gated_conv(x, params["kernel"], in_masks)
        if self.use_bias:
            bias = params["bias"]
            z = z + (bias if self._gate_axis == -1 else bias.reshape((-1,) + (1,) * self.rank))
        return z

    def step(self, params, rec_masks, states, xz):
        h, c = states
        z = xz + self._gated_conv(h, params["recurrent_kernel"], rec_masks, recurrent=True)
        i, f, g, o = jnp.split(z, 4, axis=self._gate_axis)
        sigma = self.recurrent_activation
        c = sigma(f) * c + sigma(i) * self.activation(g)
        h = sigma(o) * self.activation(c)
        return h, [h, c]


class ConvLSTM(CellLayer):
    """What ``ConvLSTM1D/2D/3D`` share: ``RNN`` over a ``ConvLSTMCell`` of their rank
    (``conv_rank``), with Keras 3's arguments."""

    cell_class = ConvLSTMCell
    conv_rank = None

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 **kwargs):
        config = _config(locals())
        super().__init__({**config, "rank": self.conv_rank})
        self._config = config


class ConvLSTM1D(ConvLSTM):
    """A convolutional LSTM over sequences of 1-D inputs: (batch, time, steps, channels).

    >>> import jax.numpy as jnp
    >>> ConvLSTM1D(4, 3)(jnp.ones((1, 2, 6, 1))).shape
    (1, 4, 4)
    """

    conv_rank, input_ndim = 1, 4


class ConvLSTM2D(ConvLSTM):
    """A convolutional LSTM over sequences of images: (batch, time, rows, cols, channels).

    >>> import jax.numpy as jnp
    >>> ConvLSTM2D(4, 3, padding="same", return_sequences=True)(jnp.ones((1, 2, 4, 4, 1))).shape
    (1, 2, 4, 4, 4)
    """

    conv_rank, input_ndim = 2, 5


class ConvLSTM3D(ConvLSTM):
    """A convolutional LSTM over sequences of volumes: (batch, time, d1, d2, d3, channels).

    >>> import jax.numpy as jnp
    >>> ConvLSTM3D(2, 3)(jnp.ones((1, 2, 4, 4, 4, 1))).shape
    (1, 2, 2, 2, 2)
    """

    conv_rank, input_ndim = 3, 6
