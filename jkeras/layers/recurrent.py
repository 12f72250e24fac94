"""Recurrent layers: ``SimpleRNN``, ``LSTM``, ``GRU`` and their cells.

Each layer is ``RNN`` (see ``rnn.py``) over its cell, made from the layer's arguments, with
the cell's weights at the layer's top level: ``lstm/kernel``, ``lstm/recurrent_kernel``,
``lstm/bias`` (Keras nests them under ``lstm/lstm_cell/``; the shapes, gate order and
``get_weights()`` order are Keras 3's, so weights move one to one). ``kernel`` is
(features, k*units), ``recurrent_kernel`` (units, k*units), with the gates LSTM i, f, c, o
and GRU z, r, h. ``RNN(LSTMCell(n))`` computes what ``LSTM(n)`` does, with the weights
nested under the cell's name as in Keras.

Differences from Keras, on purpose:

* ``unroll=True`` asks ``lax.scan`` to unroll the loop: it is still one scan, and its
  numbers are those of Keras' default (rolled) loop. (Keras' own unrolled loop gives a
  masked *first* step the output 0 rather than the initial state's ``h``.)
* ``use_cudnn`` is accepted and ignored: XLA compiles the loop for every device.
* ``implementation`` is not accepted: Keras' ``implementation`` changes only how the same
  math is run.
"""
import jax
import jax.numpy as jnp

from .. import activations, constraints, initializers, naming, regularizers
from .base import InputSpec, positive_int
from .rnn import RNN, RNNCell

# ``Recurrent`` is what every recurrent layer is (``Bidirectional`` takes any of them).
Recurrent = RNN


def _config(local_vars):
    """A constructor's arguments (its ``locals()`` at entry) as a flat dict."""
    config = {k: v for k, v in local_vars.items() if k not in ("self", "kwargs", "__class__")}
    config.update(local_vars.get("kwargs", {}))
    return config


def _project(h, kernel, masks, gates):
    """``h @ kernel``, where gate g's block of columns sees ``h * masks[g]``.

    ``masks`` is None (no dropout), one mask for every gate, or one per gate, as in
    Keras (its cells draw a mask per gate once recurrent dropout is on).
    """
    if masks is None:
        return h @ kernel
    if masks.shape[0] == 1:
        return (h * masks[0]) @ kernel
    blocks = jnp.split(kernel, gates, axis=-1)
    return jnp.concatenate([(h * m) @ k for m, k in zip(masks, blocks)], axis=-1)


# -- the cells -----------------------------------------------------------------------------
class _DenseCell(RNNCell):
    """What ``SimpleRNNCell``, ``LSTMCell`` and ``GRUCell`` share: the weights, dropout and
    the input projection. A subclass sets ``gates`` and writes ``step``."""

    def __init__(self, units, activation, use_bias, kernel_initializer, recurrent_initializer,
                 bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer,
                 kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                 recurrent_dropout, **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int(self, "units", units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self._init_dropout(dropout, recurrent_dropout)
        self.state_size = self.output_size = self.units
        self.input_spec = InputSpec(min_ndim=2)


    def build(self, rng, input_shape, states_shape=None):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"{self!r} expects step inputs (batch, features) with known "
                             f"features, got shape {input_shape}")
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_shape[-1]})
        k_kernel, k_recurrent, k_bias = jax.random.split(rng, 3)
        width = self.gates * self.units
        params = {
            "kernel": self.kernel_initializer(k_kernel, (input_shape[-1], width), self.dtype),
            "recurrent_kernel": self.recurrent_initializer(
                k_recurrent, (self.units, width), self.dtype)}
        if self.use_bias:
            params["bias"] = self._bias(k_bias)
        return params, {}

    def _bias(self, rng):
        return self.bias_initializer(rng, (self.gates * self.units,), self.dtype)

    def _input_bias(self, params):
        return params["bias"]

    def project(self, params, x, in_masks):
        """``x @ kernel`` (+ the input bias), gate by gate under per-gate dropout masks."""
        xz = _project(x, params["kernel"], in_masks, self.gates)
        return xz + self._input_bias(params) if self.use_bias else xz


class SimpleRNNCell(_DenseCell):
    """One step of ``SimpleRNN``: ``h = activation(x @ kernel + h @ recurrent_kernel + bias)``.

    >>> import jax.numpy as jnp
    >>> out, [h] = SimpleRNNCell(4)(jnp.ones((2, 3)), [jnp.zeros((2, 4))])
    >>> out.shape
    (2, 4)
    """

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        self._config = _config(locals())
        super().__init__(**self._config)

    def step(self, params, rec_masks, states, xz):
        h = self.activation(xz + _project(states[0], params["recurrent_kernel"], rec_masks, 1))
        return h, [h]


class LSTMCell(_DenseCell):
    """One step of ``LSTM`` (gates i, f, c, o); states ``[h, c]``, output ``h``.

    ``unit_forget_bias=True`` starts the forget gate's bias at 1.

    >>> import jax.numpy as jnp
    >>> cell = LSTMCell(4)
    >>> out, [h, c] = cell(jnp.ones((2, 3)), cell.get_initial_state(2))
    >>> cell.state_size, c.shape
    ([4, 4], (2, 4))
    """

    gates = 4

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        self._config = _config(locals())
        config = dict(self._config)
        del config["recurrent_activation"], config["unit_forget_bias"]
        super().__init__(**config)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.state_size = [self.units, self.units]

    def _bias(self, rng):
        if not self.unit_forget_bias:
            return super()._bias(rng)
        k1, k2 = jax.random.split(rng)
        u = self.units
        return jnp.concatenate([self.bias_initializer(k1, (u,), self.dtype),
                                jnp.ones((u,), self.dtype),
                                self.bias_initializer(k2, (2 * u,), self.dtype)])

    def step(self, params, rec_masks, states, xz):
        h, c = states
        z = xz + _project(h, params["recurrent_kernel"], rec_masks, 4)
        i, f, g, o = jnp.split(z, 4, axis=-1)
        sigma = self.recurrent_activation
        c = sigma(f) * c + sigma(i) * self.activation(g)
        h = sigma(o) * self.activation(c)
        return h, [h, c]


class GRUCell(_DenseCell):
    """One step of ``GRU`` (gates z, r, h); ``reset_after=True`` (the default, cuDNN's
    convention) applies the reset gate after the recurrent matmul and gives the bias the
    shape (2, 3*units): input bias, then recurrent bias.

    >>> import jax.numpy as jnp
    >>> out, [h] = GRUCell(4)(jnp.ones((2, 3)), [jnp.zeros((2, 4))])
    >>> out.shape
    (2, 4)
    """

    gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, reset_after=True,
                 seed=None, **kwargs):
        self._config = _config(locals())
        config = dict(self._config)
        del config["recurrent_activation"], config["reset_after"]
        super().__init__(**config)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    def _bias(self, rng):
        shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        return self.bias_initializer(rng, shape, self.dtype)

    def _input_bias(self, params):
        return params["bias"][0] if self.reset_after else params["bias"]

    def step(self, params, rec_masks, states, xz):
        (h,), u = states, self.units
        kernel = params["recurrent_kernel"]
        x_z, x_r, x_h = jnp.split(xz, 3, axis=-1)
        sigma = self.recurrent_activation
        if self.reset_after:
            inner = _project(h, kernel, rec_masks, 3)
            if self.use_bias:
                inner = inner + params["bias"][1]
            r_z, r_r, r_h = jnp.split(inner, 3, axis=-1)
            z, r = sigma(x_z + r_z), sigma(x_r + r_r)
            hh = self.activation(x_h + r * r_h)
        else:  # the reset gate multiplies h before its matmul
            masks_zr = None if rec_masks is None else rec_masks[:2]
            r_z, r_r = jnp.split(_project(h, kernel[:, :2 * u], masks_zr, 2), 2, axis=-1)
            z, r = sigma(x_z + r_z), sigma(x_r + r_r)
            h_h = h if rec_masks is None else h * rec_masks[2]
            hh = self.activation(x_h + (r * h_h) @ kernel[:, 2 * u:])
        h = z * h + (1 - z) * hh
        return h, [h]


# -- the layers ----------------------------------------------------------------------------
_RNN_ARGS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll",
             "zero_output_for_mask")
_LAYER_ARGS = ("name", "trainable", "dtype", "seed", "input_shape", "input_dim", "batch_size")


class CellLayer(RNN):
    """A built-in recurrent layer: ``RNN`` over a cell of class ``cell_class`` made from the
    layer's own arguments, the cell's weights at the layer's top level (``lstm/kernel``).

    The cell's attributes read through the layer, as in Keras (``lstm.units``).

    Call arguments: ``layer(x, initial_state=None, mask=None, training=None)`` (see
    ``RNN``). With ``stateful=True`` the final states are kept under ``"states"`` in the
    layer's state, stacked: shape (number of states, batch, units).

    >>> import jax.numpy as jnp
    >>> [(type(l).__name__, l.gates) for l in (SimpleRNN(4), LSTM(4), GRU(4))]
    [('SimpleRNN', 1), ('LSTM', 4), ('GRU', 3)]
    >>> LSTM(4, return_sequences=True)(jnp.ones((2, 5, 3))).shape
    (2, 5, 4)
    """

    _nest_cell = False
    cell_class = None
    input_ndim = 3  # (batch, timesteps, features)

    def __init__(self, config, **layer_kwargs):  # layer_kwargs: RNN's and Layer's, by name
        config = {**config, **layer_kwargs}
        self._config = config
        config = dict(config)
        rnn_args = {k: config.pop(k) for k in _RNN_ARGS if k in config}
        layer_args = {k: config.pop(k) for k in _LAYER_ARGS if k in config}
        use_cudnn = config.pop("use_cudnn", "auto")
        cell = self.cell_class(**config, dtype=layer_args.get("dtype"),
                               name=naming.to_snake_case(self.cell_class.__name__))
        super().__init__(cell, **rnn_args, **layer_args)
        if use_cudnn not in ("auto", True, False):
            raise ValueError(f"{self!r}: use_cudnn must be 'auto', True or False, got "
                             f"{use_cudnn!r}")
        self.use_cudnn = use_cudnn
        self.input_spec = InputSpec(ndim=self.input_ndim)


    def __getattr__(self, name):
        cell = self.__dict__.get("cell")
        if cell is None or name.startswith("_"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(cell, name)


class SimpleRNN(CellLayer):
    """A fully connected RNN: ``h = activation(x_t @ kernel + h @ recurrent_kernel + bias)``.

    >>> import jax.numpy as jnp
    >>> SimpleRNN(4)(jnp.ones((32, 10, 8))).shape
    (32, 4)
    >>> SimpleRNN(4, return_sequences=True)(jnp.ones((32, 10, 8))).shape
    (32, 10, 4)
    """

    cell_class = SimpleRNNCell

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0,
                 return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, seed=None, **kwargs):
        super().__init__(_config(locals()))


class LSTM(CellLayer):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997), Keras 3's layer.

    Gates in Keras' order i, f, c, o; ``unit_forget_bias=True`` starts the forget gate's
    bias at 1. ``return_state=True`` returns ``(output, h, c)``.

    >>> import jax.numpy as jnp
    >>> lstm = LSTM(32)
    >>> lstm(jnp.ones((4, 20, 64))).shape
    (4, 32)
    >>> [w.name for w in lstm.weights]
    ['kernel', 'recurrent_kernel', 'bias']
    """

    cell_class = LSTMCell

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, use_cudnn="auto",
                 zero_output_for_mask=False, **kwargs):
        super().__init__(_config(locals()))


class GRU(CellLayer):
    """Gated recurrent unit (Cho et al., 2014), Keras 3's layer: ``reset_after=True``.

    Gates in Keras' order z, r, h. With ``reset_after=True`` (the default, cuDNN's
    convention) the reset gate multiplies ``h @ recurrent_kernel`` and the bias has shape
    (2, 3*units): input bias, then recurrent bias.

    >>> import jax.numpy as jnp
    >>> gru = GRU(8)
    >>> gru(jnp.ones((2, 5, 3))).shape
    (2, 8)
    >>> gru.params["bias"].shape
    (2, 24)
    """

    cell_class = GRUCell

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, reset_after=True, use_cudnn="auto",
                 zero_output_for_mask=False, **kwargs):
        super().__init__(_config(locals()))
