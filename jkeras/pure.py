"""``pure(fn)``: the pure form of a plain Python function that calls layers."""
import functools
import inspect

import jax

from . import frame as frame_lib
from . import random as random_lib
from . import state as state_lib
from . import training as training_lib


class _Collector:
    """A frame that records each layer called and runs it on its own weights."""

    def __init__(self):
        self.layers = []

    def call(self, layer, args, kwargs, training):
        if not any(layer is known for known in self.layers):
            self.layers.append(layer)
        with frame_lib.active(None):
            return layer(*args, training=False, **kwargs)


class Pure:
    """``init``/``apply`` over the weights of the layers a function calls; see :func:`pure`."""

    def __init__(self, fn):
        self.fn = fn
        self._layers = None
        self._paths = {}
        self._takes_training = "training" in inspect.signature(fn).parameters
        functools.update_wrapper(self, fn)

    def __repr__(self):
        return f"<pure {getattr(self.fn, '__name__', self.fn)!r}>"

    def init(self, rng, *args, **kwargs):
        """Builds the layers ``fn`` calls on these example inputs; fresh weights from ``rng``."""
        collector = _Collector()
        with random_lib.init_keys(rng), frame_lib.active(collector), frame_lib.building(), \
                training_lib.training_mode(False):
            jax.eval_shape(functools.partial(self.fn, **kwargs), *args)
        self._layers = collector.layers
        self._paths = frame_lib.children_paths(self, self._layers)
        params, state = {}, {}
        for layer in self._layers:
            p, s = layer._fresh(rng)
            params = state_lib.set_path(params, layer.path, p) if p else params
            state = state_lib.set_path(state, layer.path, s) if s else state
        return params, state

    def _gather(self, which):
        self._require_init()
        tree = {}
        for layer in self._layers:
            sub = getattr(layer, which)
            tree = state_lib.set_path(tree, layer.path, sub) if sub else tree
        return tree

    @property
    def params(self):
        """The layers' current trainable weights, nested by path."""
        return self._gather("params")

    @property
    def state(self):
        """The layers' current non-trainable weights, nested by path."""
        return self._gather("state")

    def _require_init(self):
        if self._layers is None:
            raise ValueError(f"{self!r}: call init(rng, *example_inputs) first, so that the "
                             "layers the function uses are known and built.")

    def apply(self, params, state, *args, training=None, rng=None, **kwargs):
        """Runs ``fn`` with its layers on ``params``/``state``: ``(outputs, new_state)``."""
        self._require_init()
        training = training_lib.resolve(training)
        state_lib.check_like(self.params, params, "params", repr(self))
        state_lib.check_like(self.state, state, "state", repr(self))
        if self._takes_training:
            kwargs["training"] = training
        frame = frame_lib.Frame(self, self._paths, params, state, training, rng)
        with frame_lib.active(frame):
            out = self.fn(*args, **kwargs)
        return out, frame.state


def pure(fn):
    """Turns a function that calls layers into pure ``init``/``apply`` over their weights.

    This is the tutorial's "Keras as a syntactic shortcut": no Model at all.

    >>> import jax, jax.numpy as jnp, jkeras
    >>> from jkeras import layers
    >>> d1, d2 = layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")
    >>> net = jkeras.pure(lambda img: d2(d1(img)))
    >>> params, state = net.init(jax.random.key(0), jnp.ones((1, 784)))
    >>> preds, _ = jax.jit(net.apply)(params, state, jnp.ones((50, 784)))
    >>> preds.shape
    (50, 10)
    """
    return Pure(fn)
