"""Wrappers: ``Bidirectional`` and ``TimeDistributed``, leaf layers around inner layers.

A wrapper's params (and state) nest each inner layer's under the name Keras 3 gives it:
``bidirectional/forward_lstm/kernel``, ``time_distributed/dense/kernel``. The wrapper runs
the inner layers' pure ``build``/``call`` on those sub-dicts; the inner objects hold no
weights of their own.
"""
import inspect

import jax
import jax.numpy as jnp

from .. import state as state_lib
from .. import symbolic
from .base import InputSpec, Layer
from .recurrent import Recurrent
from .rnn import CARRY, _fits
from .regularization import require_rng


def _merge(a, b):
    """``a`` and ``b`` merged, nested dicts key by key (an inner layer has params and state)."""
    out = dict(a)
    for key, value in b.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if both else value
    return out


def _take(tree, like):
    """The part of ``tree`` with the keys (at every depth) of ``like``."""
    return {k: _take(tree[k], v) if isinstance(v, dict) else tree[k] for k, v in like.items()}


class Wrapper(Layer):
    """The base of the wrappers: nested weights, and penalties taken from the inner layers.

    Subclasses list their inner layers as ``children()``: ``[(key, layer), ...]``.

    >>> from jkeras.layers import LSTM
    >>> [key for key, _ in Bidirectional(LSTM(4, name="l")).children()]
    ['forward_l', 'backward_l']
    """

    def children(self):
        raise NotImplementedError

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        # As in Keras, (un)freezing the wrapper (un)freezes the inner layers: a frozen
        # BatchNormalization runs in inference mode.
        Layer.trainable.fset(self, value)
        for _, inner in self.children():
            inner.trainable = value

    # A frozen wrapper's state holds its params too: merged and split level by level,
    # since an inner layer (BatchNormalization, a stateful RNN) may have both.
    @property
    def state(self):
        return self._state if self._trainable else _merge(self._params, self._state)

    @state.setter
    def state(self, value):
        value = state_lib.conform(self.state, value, "state", repr(self))
        self._params, self._state = self._split(self.params, value)

    def _split(self, params, state):
        if self._trainable:
            return params, state
        return _take(state, self._params), _take(state, self._state)

    def _merge_state(self, params, state):
        return state if self._trainable else _merge(params, state)

    @property
    def untracked_state(self):
        return tuple(f"{key}/{path}" for key, inner in self.children()
                     for path in inner.untracked_state)

    def regularization_loss(self, params):
        return sum((inner.regularization_loss(params[key])
                    for key, inner in self.children() if key in params),
                   jnp.zeros((), jnp.float32))

    def apply_constraints(self, params):
        return {**params, **{key: inner.apply_constraints(params[key])
                             for key, inner in self.children() if key in params}}

    def _check_rng(self, training, rng):
        if training and self.uses_rng:
            require_rng(self, rng)


def _twin(layer, **changes):
    """A new, unbuilt layer like ``layer`` with some constructor arguments changed."""
    return type(layer).from_config({**layer.get_config(), **changes})


_MERGE_MODES = ("concat", "sum", "ave", "mul", None)


class Bidirectional(Wrapper):
    """Runs a recurrent layer forwards and a twin of it backwards, and merges the outputs.

    As in Keras 3 the wrapper makes two new layers from ``layer``'s arguments, named
    ``forward_<name>`` and ``backward_<name>`` (the latter with ``go_backwards`` flipped),
    unless ``backward_layer`` is given. ``merge_mode`` is ``"concat"``, ``"sum"``,
    ``"ave"``, ``"mul"`` or ``None`` (a list of both outputs). ``initial_state`` is the
    forward layer's states followed by the backward layer's; with ``return_state=True``
    the output is followed by the forward then the backward final states. Any recurrent
    layer goes: ``RNN`` over any cell (the cell's class must then be registered, since the
    twins are made from configs, as in Keras) and ``ConvLSTM1D/2D/3D``, whose outputs
    concatenate on the last axis, as in Keras.

    >>> import jax.numpy as jnp
    >>> from jkeras.layers.recurrent import LSTM
    >>> bi = Bidirectional(LSTM(8, return_sequences=True, name="enc"), name="bi")
    >>> bi(jnp.ones((2, 5, 3))).shape
    (2, 5, 16)
    >>> [w.path for w in bi.weights][::3]
    ['bi/forward_enc/kernel', 'bi/backward_enc/kernel']
    """

    supports_masking = True

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        for arg, value in (("layer", layer), ("backward_layer", backward_layer)):
            if value is not None and not isinstance(value, Recurrent):
                raise ValueError(f"{self!r}: {arg} must be a recurrent layer (SimpleRNN, "
                                 f"LSTM, GRU, ConvLSTM1D/2D/3D, RNN), got {value!r}")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"{self!r}: merge_mode must be one of {_MERGE_MODES}, got "
                             f"{merge_mode!r}")
        self.merge_mode = merge_mode
        self.forward_layer = _twin(layer, name=f"forward_{layer.name.removeprefix('forward_')}")
        self.backward_layer = backward_layer or _twin(
            layer, go_backwards=not layer.go_backwards,
            name=f"backward_{layer.name.removeprefix('backward_')}")
        forward, backward = self.forward_layer, self.backward_layer
        if forward.go_backwards == backward.go_backwards:
            raise ValueError(f"{self!r}: the forward and backward layers need different "
                             f"go_backwards, got {forward.go_backwards} for both")
        for attr in ("stateful", "return_sequences", "return_state"):
            if getattr(forward, attr) != getattr(backward, attr):
                raise ValueError(f"{self!r}: the forward and backward layers need the same "
                                 f"{attr}, got {getattr(forward, attr)} and "
                                 f"{getattr(backward, attr)}")
        if forward.name == backward.name:
            raise ValueError(f"{self!r}: the forward and backward layers need different "
                             f"names, got {forward.name!r} for both")
        for inner in (forward, backward):
            # As Keras does: padded steps of a returned sequence read 0 in both directions.
            inner.zero_output_for_mask = inner.return_sequences
        self.stateful = forward.stateful
        self.return_sequences, self.return_state = forward.return_sequences, forward.return_state
        self.uses_training = forward.uses_training or backward.uses_training
        self.uses_rng = forward.uses_rng or backward.uses_rng
        if self._seeds is None:  # dropout follows the wrapped layer's seed=, if it has one
            self._seeds = forward._seeds
        if self._batch_input_shape is None:
            self._batch_input_shape = layer._batch_input_shape
        # (batch, time, features), or a ConvLSTM's (batch, time, *spatial, channels)
        self.input_spec = InputSpec(ndim=getattr(forward, "input_ndim", None), min_ndim=3)
        self.trainable = self._trainable

    def children(self):
        return [(self.forward_layer.name, self.forward_layer),
                (self.backward_layer.name, self.backward_layer)]

    def build(self, rng, input_shape):
        params, state = {}, {}
        for (key, inner), key_rng in zip(self.children(), jax.random.split(rng)):
            params[key], sub = inner.build(key_rng, input_shape)
            if sub:
                state[key] = sub
        self.input_spec = InputSpec(ndim=len(input_shape), axes={-1: input_shape[-1]})
        return params, state

    def call(self, params, state, x, initial_state=None, *, mask=None, training=False,
             rng=None):
        self._check_rng(training, rng)
        (fkey, forward), (bkey, backward) = self.children()
        starts = (None, None)
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [
                initial_state]
            n = forward.carries
            if len(states) != 2 * n:
                raise ValueError(f"{self!r}: initial_state must be {2 * n} arrays (the forward "
                                 f"then the backward layer's), got {len(states)}")
            starts = (states[:n], states[n:])
        rngs = (None, None) if rng is None else tuple(jax.random.split(rng))
        outs, new_state = [], {}
        for (key, inner), start, key_rng in zip(self.children(), starts, rngs):
            out, sub = inner.call(params[key], state.get(key, {}), x, start, mask=mask,
                                  training=training, rng=key_rng)
            outs.append(out)
            if sub:
                new_state[key] = sub
        y, y_rev = outs
        if self.return_state:
            states = (*y[1:], *y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = jnp.flip(y_rev, axis=1)  # back in time order
        if self.merge_mode == "concat":
            output = jnp.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            output = y + y_rev
        elif self.merge_mode == "ave":
            output = (y + y_rev) / 2
        elif self.merge_mode == "mul":
            output = y * y_rev
        else:
            output = [y, y_rev]
        if self.return_state:
            output = (*output, *states) if self.merge_mode is None else (output, *states)
        return output, new_state

    def compute_mask(self, inputs, mask=None):
        """The input's mask for returned sequences; nothing for last outputs."""
        return mask if self.return_sequences else None

    def reset_states(self):
        """Zeros both layers' carries, when they are stateful (else nothing to do)."""
        if not self.stateful:
            return
        self._require_built("reset_states")
        self._state = {key: {**sub, CARRY: jnp.zeros_like(sub[CARRY])}
                       for key, sub in self._state.items()}

    reset_state = reset_states


def _takes_rng_build(layer):
    return "rng" in inspect.signature(layer.build).parameters


class TimeDistributed(Wrapper):
    """Applies ``layer`` to every time step (axis 1) of its input, with one set of weights.

    The weights nest under the inner layer's name: ``time_distributed/dense/kernel``.
    Layers without state run once on all steps folded into the batch; a layer with state
    (``BatchNormalization``) runs step after step, as Keras calls it, so its training-mode
    statistics and updates are Keras'.

    >>> import jax.numpy as jnp
    >>> from jkeras.layers.core import Dense
    >>> TimeDistributed(Dense(8))(jnp.ones((32, 10, 16))).shape
    (32, 10, 8)
    """

    supports_masking = True

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer) or not _takes_rng_build(layer):
            raise ValueError(f"{self!r} wraps one layer (not a model), got {layer!r}")
        self.layer = layer
        self.uses_training, self.uses_rng = layer.uses_training, layer.uses_rng
        self.input_spec = InputSpec(min_ndim=3)
        self.trainable = self._trainable

    def children(self):
        return [(self.layer.name, self.layer)]

    def _step_shape(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(f"{self!r} expects inputs of rank >= 3 (batch, timesteps, ...), "
                             f"got shape {input_shape}")
        return (input_shape[0], *input_shape[2:])

    def build(self, rng, input_shape):
        step_shape = self._step_shape(input_shape)
        self.layer._check_inputs((step_shape,))
        params, state = self.layer.build(rng, step_shape)
        key = self.layer.name
        return {key: params} if params else {}, {key: state} if state else {}

    def call(self, params, state, x, *, mask=None, training=False, rng=None):
        self._check_rng(training, rng)
        key, inner = self.layer.name, self.layer
        shape = symbolic.shape_of(x)
        kwargs = {}
        if mask is not None:
            if mask.ndim < 2 or not _fits(symbolic.shape_of(mask)[:2], shape[:2]):
                raise ValueError(f"{self!r}: the mask must start with the input's (batch, "
                                 f"timesteps) {shape[:2]}, got shape {mask.shape}")
            if inner.accepts_mask:
                kwargs["mask"] = mask
        p, s = params.get(key, {}), state.get(key, {})
        if s and (training or inner.stateful):  # step by step, carrying the state
            def step(s, inputs):
                x_t, mask_t, t = inputs
                step_kwargs = {} if mask_t is None else {"mask": mask_t}
                step_rng = None if rng is None else jax.random.fold_in(rng, t)
                return inner.call(p, s, x_t, training=training, rng=step_rng, **step_kwargs)[::-1]

            time_major = jnp.swapaxes(x, 0, 1)
            steps_mask = kwargs.get("mask")
            steps_mask = None if steps_mask is None else jnp.swapaxes(steps_mask, 0, 1)
            s, out = jax.lax.scan(step, s, (time_major, steps_mask, jnp.arange(x.shape[1])))
            out = jax.tree_util.tree_map(lambda o: jnp.swapaxes(o, 0, 1), out)
            return out, {**state, key: s}
        # Fold the time axis into the batch: one call on every step at once.
        fold = lambda a: a.reshape((-1, *a.shape[2:]))
        kwargs = jax.tree_util.tree_map(fold, kwargs)
        out, _ = inner.call(p, s, fold(x), training=training, rng=rng, **kwargs)
        return jax.tree_util.tree_map(
            lambda o: o.reshape((x.shape[0], x.shape[1], *o.shape[1:])), out), state
