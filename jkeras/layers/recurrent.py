"""Recurrent layers: ``SimpleRNN``, ``LSTM``, ``GRU``, each its time loop as one ``lax.scan``.

Weights are Keras 3's, names, shapes, gate order and ``get_weights()`` order included:
``kernel`` (features, k*units), ``recurrent_kernel`` (units, k*units), ``bias``, with the
gates LSTM i, f, c, o and GRU z, r, h. One scan over time keeps the compiled program the
same size for 20 or 2,000 time steps.

Differences from Keras, on purpose:

* ``unroll=True`` asks ``lax.scan`` to unroll the loop: it is still one scan, and its
  numbers are those of Keras' default (rolled) loop. (Keras' own unrolled loop gives a
  masked *first* step the output 0 rather than the initial state's ``h``.)
* ``use_cudnn`` is accepted and ignored: XLA compiles the loop for every device.
* ``activity_regularizer`` and ``implementation`` are not accepted: jkeras has no
  activity losses, and Keras' ``implementation`` changes only how the same math is run.
"""
import jax
import jax.numpy as jnp

from .. import activations, constraints, initializers, regularizers
from .. import symbolic
from .base import InputSpec, Layer, fraction, positive_int
from .regularization import dropout, require_rng

CARRY = "states"  # a stateful layer's carry, in its state pytree: shape (n_carries, batch, units)


def _config(local_vars):
    """A constructor's arguments (its ``locals()`` at entry) as a flat dict."""
    config = {k: v for k, v in local_vars.items() if k not in ("self", "kwargs", "__class__")}
    config.update(local_vars.get("kwargs", {}))
    return config


def _fits(shape, want):
    """Whether ``shape`` equals ``want``, ``None`` (unknown) matching any size."""
    return len(shape) == len(want) and all(
        a is None or b is None or a == b for a, b in zip(shape, want))


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


def _dropout_masks(key, rate, shape, dtype):
    """Keras' dropout masks: 0 or ``1 / (1 - rate)``, drawn once per sequence."""
    return dropout(jnp.ones(shape, dtype), rate, key)


class Recurrent(Layer):
    """What ``SimpleRNN``, ``LSTM`` and ``GRU`` share: the scan over time and its options.

    A subclass sets ``gates`` (k in the kernels' k*units columns) and ``carries`` (the
    number of state arrays), and writes ``_input_bias``, ``_step`` and ``_bias``.

    Call arguments: ``layer(x, initial_state=None, mask=None, training=None)`` with ``x``
    of shape (batch, timesteps, features); ``initial_state`` is one array (or a list of
    ``carries`` arrays) of shape (batch, units); ``mask`` is a boolean (batch, timesteps)
    array, and masked steps keep the previous state and output, as in Keras.

    With ``stateful=True`` the final carry is kept in the layer's state pytree (under
    ``"states"``, shape (carries, batch, units)) and is the next call's initial state;
    every eager call writes it back, in training or inference mode. As in Keras it is not
    one of the layer's ``weights`` (nor saved, nor counted by ``count_params``).

    >>> import jax.numpy as jnp
    >>> [(type(l).__name__, l.gates) for l in (SimpleRNN(4), LSTM(4), GRU(4))]
    [('SimpleRNN', 1), ('LSTM', 4), ('GRU', 3)]
    >>> LSTM(4, return_sequences=True)(jnp.ones((2, 5, 3))).shape
    (2, 5, 4)
    """

    gates = 1
    carries = 1
    supports_masking = True
    untracked_state = (CARRY,)  # as in Keras, the carry is not a weight

    def __init__(self, units, activation, use_bias, kernel_initializer, recurrent_initializer,
                 bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer,
                 kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                 recurrent_dropout, return_sequences, return_state, go_backwards, stateful,
                 unroll, zero_output_for_mask, **kwargs):
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
        self.dropout = fraction(self, "dropout", dropout)
        self.recurrent_dropout = fraction(self, "recurrent_dropout", recurrent_dropout)
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful = bool(go_backwards), bool(stateful)
        self.unroll, self.zero_output_for_mask = bool(unroll), bool(zero_output_for_mask)
        # Only dropout makes the training flag (and a PRNG key) matter.
        self.uses_training = self.uses_rng = bool(self.dropout or self.recurrent_dropout)
        self.input_spec = InputSpec(ndim=3)

    def get_config(self):
        """The constructor's arguments, so that ``type(layer)(**config)`` makes a twin."""
        return dict(self._config)

    # -- weights -------------------------------------------------------------------------
    def build(self, rng, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"{self!r} expects inputs of rank 3 (batch, timesteps, features) "
                             f"with known features, got shape {input_shape}")
        self.input_spec = InputSpec(ndim=3, axes={-1: input_shape[-1]})
        k_kernel, k_recurrent, k_bias = jax.random.split(rng, 3)
        width = self.gates * self.units
        params = {
            "kernel": self.kernel_initializer(k_kernel, (input_shape[-1], width), self.dtype),
            "recurrent_kernel": self.recurrent_initializer(
                k_recurrent, (self.units, width), self.dtype)}
        if self.use_bias:
            params["bias"] = self._bias(k_bias)
        state = {}
        if self.stateful:
            if input_shape[0] is None:
                raise ValueError(
                    f"{self!r} is stateful, so it needs a fixed batch size, got input shape "
                    f"{input_shape}. Pass batch_size= to Input (or call it on an array).")
            state[CARRY] = jnp.zeros((self.carries, input_shape[0], self.units), self.dtype)
        return params, state

    def _bias(self, rng):
        return self.bias_initializer(rng, (self.gates * self.units,), self.dtype)

    # Keras keeps the carry out of get_weights/save/count_params; so do we.

    def reset_states(self, states=None):
        """Zeros a stateful layer's carry, or sets it to ``states`` (a list of arrays).

        A layer that is not stateful has nothing to reset, as in Keras.

        >>> import jax.numpy as jnp
        >>> rnn = SimpleRNN(4, stateful=True)
        >>> _ = rnn(jnp.ones((2, 3, 5)))
        >>> rnn.reset_states()
        """
        if not self.stateful:
            return
        self._require_built("reset_states")
        old = self._state[CARRY]
        if states is None:
            new = jnp.zeros_like(old)
        else:
            new = jnp.stack(self._check_states(states, old.shape[1:], "reset_states"))
        self._state = {**self._state, CARRY: new.astype(old.dtype)}

    reset_state = reset_states

    # -- calling -------------------------------------------------------------------------
    def _check_states(self, states, shape, what):
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        shapes = [symbolic.shape_of(s) for s in states]
        if len(states) != self.carries or not all(_fits(s, shape) for s in shapes):
            raise ValueError(f"{self!r}: {what} must be {self.carries} array(s) of shape "
                             f"{tuple(shape)} (batch, units), got shapes {shapes}")
        return [jnp.asarray(s, self.compute_dtype) for s in states]

    def _initial_carry(self, state, x, initial_state):
        shape = (symbolic.shape_of(x)[0], self.units)
        if self.stateful:
            built = tuple(state[CARRY].shape[1:])
            if not _fits(shape, built):
                raise ValueError(f"{self!r} is stateful with batch size {built[0]}, got input "
                                 f"shape {symbolic.shape_of(x)}. Keep the batch size fixed.")
        if initial_state is not None:
            return tuple(self._check_states(initial_state, shape, "initial_state"))
        if self.stateful:
            return tuple(state[CARRY][i].astype(self.compute_dtype) for i in range(self.carries))
        zeros = jnp.zeros((x.shape[0], self.units), self.compute_dtype)
        return (zeros,) * self.carries

    def _check_mask(self, mask, x):
        want = symbolic.shape_of(x)[:2]
        if not _fits(symbolic.shape_of(mask), want):
            raise ValueError(f"{self!r}: the mask must have shape {want} (batch, timesteps) "
                             f"like the input {symbolic.shape_of(x)}, got {mask.shape}")
        return mask.astype(bool)

    def _dropout(self, x, training, rng):
        """Input and recurrent dropout masks, drawn once per sequence (or None, None)."""
        if not training or not self.uses_rng:
            return None, None
        require_rng(self, rng)
        k_in, k_rec = jax.random.split(rng)
        n = self.gates if self.recurrent_dropout else 1
        batch = x.shape[0]
        inputs = recurrent = None
        if self.dropout:
            inputs = _dropout_masks(k_in, self.dropout, (n, batch, x.shape[-1]), x.dtype)
        if self.recurrent_dropout:
            recurrent = _dropout_masks(k_rec, self.recurrent_dropout, (n, batch, self.units),
                                       x.dtype)
        return inputs, recurrent

    def call(self, params, state, x, initial_state=None, *, mask=None, training=False,
             rng=None):
        x = x.astype(self.compute_dtype)
        carry = self._initial_carry(state, x, initial_state)
        in_masks, rec_masks = self._dropout(x, training, rng)
        # The input projection does not depend on the carry: one matmul over all steps.
        xz = _project(jnp.swapaxes(x, 0, 1), params["kernel"], in_masks, self.gates)
        if self.use_bias:
            xz = xz + self._input_bias(params)
        steps_mask = None
        if mask is not None:
            steps_mask = jnp.swapaxes(self._check_mask(mask, x), 0, 1)[..., None]

        def step(carry, inputs):
            xz_t, mask_t = inputs
            new, out = self._step(params, carry, xz_t, rec_masks)
            if mask_t is not None:  # masked steps keep the carry; Keras' output rule
                new = tuple(jnp.where(mask_t, n, c) for n, c in zip(new, carry))
                held = jnp.zeros_like(out) if self.zero_output_for_mask else carry[0]
                out = jnp.where(mask_t, out, held)
            return new, (out if self.return_sequences else None)

        carry, outs = jax.lax.scan(step, carry, (xz, steps_mask), reverse=self.go_backwards,
                                   unroll=self.unroll)
        if self.return_sequences:
            # Keras returns a backward layer's outputs in the order it produced them.
            output = jnp.swapaxes(outs[::-1] if self.go_backwards else outs, 0, 1)
        else:
            output = carry[0]  # the last step's output (a masked step's is the held h)
            if steps_mask is not None and self.zero_output_for_mask:
                output = jnp.where(steps_mask[0 if self.go_backwards else -1], output, 0.0)
        if self.stateful:
            state = {**state, CARRY: jnp.stack(carry).astype(state[CARRY].dtype)}
        return ((output, *carry) if self.return_state else output), state

    def compute_mask(self, inputs, mask=None):
        """The input's mask for a returned sequence; nothing for a last output."""
        return mask if self.return_sequences else None

    # -- the cell, per subclass --------------------------------------------------------------
    def _input_bias(self, params):
        return params["bias"]

    def _step(self, params, carry, xz, rec_masks):
        """``(new_carry, output)`` for one step, given ``x_t @ kernel + input bias``."""
        raise NotImplementedError


class SimpleRNN(Recurrent):
    """A fully connected RNN: ``h = activation(x_t @ kernel + h @ recurrent_kernel + bias)``.

    >>> import jax.numpy as jnp
    >>> SimpleRNN(4)(jnp.ones((32, 10, 8))).shape
    (32, 4)
    >>> SimpleRNN(4, return_sequences=True)(jnp.ones((32, 10, 8))).shape
    (32, 10, 4)
    """

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0,
                 return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, seed=None, **kwargs):
        self._config = _config(locals())
        super().__init__(**self._config)

    def _step(self, params, carry, xz, rec_masks):
        h = self.activation(xz + _project(carry[0], params["recurrent_kernel"], rec_masks, 1))
        return (h,), h


class LSTM(Recurrent):
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

    gates, carries = 4, 2

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, use_cudnn="auto",
                 zero_output_for_mask=False, **kwargs):
        self._config = _config(locals())
        config = dict(self._config)
        del config["recurrent_activation"], config["unit_forget_bias"], config["use_cudnn"]
        super().__init__(**config)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.use_cudnn = _use_cudnn(self, use_cudnn)

    def _bias(self, rng):
        if not self.unit_forget_bias:
            return super()._bias(rng)
        k1, k2 = jax.random.split(rng)
        u = self.units
        return jnp.concatenate([self.bias_initializer(k1, (u,), self.dtype),
                                jnp.ones((u,), self.dtype),
                                self.bias_initializer(k2, (2 * u,), self.dtype)])

    def _step(self, params, carry, xz, rec_masks):
        h, c = carry
        z = xz + _project(h, params["recurrent_kernel"], rec_masks, 4)
        i, f, g, o = jnp.split(z, 4, axis=-1)
        sigma = self.recurrent_activation
        c = sigma(f) * c + sigma(i) * self.activation(g)
        h = sigma(o) * self.activation(c)
        return (h, c), h


class GRU(Recurrent):
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

    gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, reset_after=True, use_cudnn="auto",
                 zero_output_for_mask=False, **kwargs):
        self._config = _config(locals())
        config = dict(self._config)
        del config["recurrent_activation"], config["reset_after"], config["use_cudnn"]
        super().__init__(**config)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)
        self.use_cudnn = _use_cudnn(self, use_cudnn)

    def _bias(self, rng):
        shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        return self.bias_initializer(rng, shape, self.dtype)

    def _input_bias(self, params):
        return params["bias"][0] if self.reset_after else params["bias"]

    def _step(self, params, carry, xz, rec_masks):
        (h,), u = carry, self.units
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
        return (h,), h


def _use_cudnn(layer, value):
    if value not in ("auto", True, False):
        raise ValueError(f"{layer!r}: use_cudnn must be 'auto', True or False, got {value!r}")
    return value
