"""``Layer``: two pure functions (``build``, ``call``) under a thin stateful shell."""
import dataclasses
import functools
import inspect
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from .. import configurable
from .. import frame as frame_lib
from .. import masks
from .. import mixed_precision
from .. import naming, placement
from .. import random as random_lib
from .. import regularizers as regularizers_lib
from .. import state as state_lib
from .. import symbolic
from .. import training as training_lib
from .. import variables as variables_lib
from .stateless import StatelessAPI


_changes = 0


def weight_changes():
    """How many times any layer's weights, trainability or sublayers have changed.

    A model keeps the weight trees it gathered for a step and reuses them while this
    count stands still (the layers hold the very same arrays).

    >>> import jax.numpy as jnp, jkeras
    >>> d = jkeras.layers.Dense(2); before = weight_changes()
    >>> _ = d(jnp.ones((1, 3)))   # builds: new weights
    >>> weight_changes() > before
    True
    """
    return _changes


def note_weight_change():
    """Counts a change :func:`weight_changes` cannot see (a sublayer added in place).

    >>> before = weight_changes(); note_weight_change(); weight_changes() - before
    1
    """
    global _changes
    _changes += 1


def _counted(name):
    """An attribute whose every assignment counts as a weight change."""
    key = f"{name}_value"

    def get(self):
        try:
            return self.__dict__[key]
        except KeyError:
            raise AttributeError(name) from None

    def set_(self, value):
        self.__dict__[key] = value
        note_weight_change()

    return property(get, set_)


@dataclasses.dataclass(frozen=True)
class Weight:
    """A read-only view of one weight: its path, current value and trainability.

    >>> import jkeras, jax.numpy as jnp
    >>> d = jkeras.layers.Dense(2, name="d"); _ = d(jnp.ones((1, 3)))
    >>> [(w.path, w.shape) for w in d.weights]
    [('d/kernel', (3, 2)), ('d/bias', (2,))]
    """

    path: str
    value: jax.Array
    trainable: bool

    @property
    def name(self):
        return self.path.rsplit("/", 1)[-1]

    @property
    def shape(self):
        return tuple(self.value.shape)

    @property
    def dtype(self):
        return self.value.dtype

    def numpy(self):
        return np.asarray(self.value)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.value, dtype=dtype)


@dataclasses.dataclass
class InputSpec:
    """What a layer accepts: an exact or minimum rank and fixed sizes on some axes.

    >>> spec = InputSpec(min_ndim=2, axes={-1: 784})
    """

    ndim: int = None
    min_ndim: int = None
    axes: dict = dataclasses.field(default_factory=dict)

    def check(self, layer, shape):
        rank = len(shape)
        if self.ndim is not None and rank != self.ndim:
            raise ValueError(f"{layer!r} expects inputs of rank {self.ndim}, got shape {shape} "
                             f"(rank {rank}).")
        if self.min_ndim is not None and rank < self.min_ndim:
            raise ValueError(f"{layer!r} expects inputs of rank >= {self.min_ndim}, got shape "
                             f"{shape} (rank {rank}).")
        for axis, size in self.axes.items():
            got = shape[axis]
            if got is not None and got != size:
                raise ValueError(f"{layer!r} was built for size {size} on axis {axis}, got input "
                                 f"shape {shape}. A built layer keeps its weights' shapes: create "
                                 f"a new layer for inputs of another size.")


def _is_numeric(dtype):
    return dtype.kind in "biufc" or jnp.issubdtype(dtype, jnp.floating)  # bfloat16's kind is V


def _as_input(layer, x):
    if isinstance(x, (jax.Array, np.ndarray, np.generic)) and _is_numeric(x.dtype):
        return x
    try:
        array = np.asarray(x)
    except Exception as err:  # ragged lists and the like
        raise TypeError(f"{layer!r} expects numeric arrays, got {type(x).__name__}: {err}") from None
    if not _is_numeric(array.dtype):
        raise TypeError(f"{layer!r} expects numeric arrays, got {type(x).__name__} of dtype "
                        f"{array.dtype}.")
    return jnp.asarray(array)


def _is_tracer(x):
    return isinstance(x, jax.core.Tracer)


def _takes_rng(build):
    names = list(inspect.signature(build).parameters)
    return names[1:2] == ["rng"]


def _is_shape(value):
    """A Keras input shape (``(None, 4)``) or a list of them, never a PRNG key."""
    if isinstance(value, (tuple, list)):
        return all(v is None or isinstance(v, numbers.Integral) for v in value) or all(
            _is_shape(v) for v in value)
    return False


def _as_shape(value):
    """A shape read from JSON (lists) as tuples: ``[None, 4]`` -> ``(None, 4)``."""
    if all(v is None or isinstance(v, numbers.Integral) for v in value):
        return tuple(value)
    return [_as_shape(v) for v in value]


def _own_config_over_base(cls):
    """Whether ``cls`` has a ``get_config`` of its own right over jkeras' generic ``Layer``
    or ``Model`` (not over a built-in layer, whose arguments its config keeps)."""
    if cls.get_config.__module__.startswith("jkeras."):
        return False
    nearest = next(c for c in cls.__mro__ if c.__module__.startswith("jkeras."))
    return nearest.__name__ in ("Layer", "KerasLayer", "Model")


def _keras_build_form(build):
    """A pure ``build(rng, *shapes)`` that also takes Keras' ``layer.build(input_shape)``:
    a shape where the key goes builds the layer object itself (once), as in Keras."""
    @functools.wraps(build)
    def wrapper(self, *args, **kwargs):
        if len(args) == 1 and not kwargs and _is_shape(args[0]):
            if not self.built:
                specs = jax.tree_util.tree_map(symbolic.KerasTensor, _as_shape(args[0]),
                                               is_leaf=lambda s: isinstance(s, tuple))
                with frame_lib.active(None):
                    self._build((specs,))
            return None
        return build(self, *args, **kwargs)
    return wrapper


class Layer(StatelessAPI):
    """The base of every layer.

    A layer is two pure functions and a thin object that stores their results:

    * ``build(rng, *input_shapes) -> (params, state)`` creates the weights;
    * ``call(params, state, *inputs, training, rng, **kwargs) -> (outputs, new_state)``
      is the math.

    Calling the object builds it lazily from the input's shape and runs ``call`` on the
    stored weights; ``apply`` is the pure form, safe under every JAX transformation.

    >>> import jax.numpy as jnp
    >>> class Scale(Layer):
    ...     def build(self, rng, input_shape):
    ...         return {"scale": jnp.ones(input_shape[-1:])}, {}
    ...     def call(self, params, state, x, *, training=False, rng=None):
    ...         return x * params["scale"], state
    >>> Scale()(jnp.ones((2, 3))).shape
    (2, 3)

    A subclass may instead be written the Keras way (``add_weight`` in ``__init__`` or
    ``build(self, input_shape)``, ``call(self, inputs, training=None)``): see
    :mod:`jkeras.layers.keras_style`.
    """

    uses_training = False  # whether training=True changes what the layer computes
    uses_rng = False       # whether training mode needs a PRNG key
    supports_masking = False  # whether an incoming mask passes through unchanged
    stateful = False       # whether inference calls change the state too (a stateful RNN)
    untracked_state = ()   # state entries that are not weights (a stateful RNN's carry)
    samples_in_inference = False  # whether inference calls draw random numbers too
    autocast = True        # cast floating inputs and weights to the compute dtype (Keras')
    _params = _counted("_params")
    _state = _counted("_state")
    _trainable = _counted("_trainable")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        configurable.record_init(cls)  # for get_config: the arguments each layer was made with
        if "build" in cls.__dict__ and _takes_rng(cls.__dict__["build"]):
            cls.build = _keras_build_form(cls.__dict__["build"])
        if not getattr(cls, "_keras_base", False):
            from . import keras_style
            if keras_style.is_keras_style(cls):
                keras_style.adopt(cls)

    def __init__(self, name=None, trainable=True, dtype=None, seed=None,
                 input_shape=None, input_dim=None, batch_size=None, activity_regularizer=None):
        self.path = naming.make_path(naming.to_snake_case(type(self).__name__), name)
        self.activity_regularizer = regularizers_lib.get(activity_regularizer)
        self._eager_losses = []
        self._trainable = bool(trainable)
        self._dtype_policy = _policy(self, dtype)
        self._seeds = None if seed is None else random_lib.SeedStream(seed)
        self._params, self._state = {}, {}
        self.built = False
        self.input_shapes = None
        self.output_shape = None
        if input_dim is not None:
            input_shape = (positive_int(self, "input_dim", input_dim),)
        # Keras 2's way to declare a Sequential model's input on its first layer.
        self._batch_input_shape = None if input_shape is None else (batch_size, *input_shape)
        if not hasattr(self, "input_spec"):
            self.input_spec = None
        self._jit_cache = {}

    # -- names ---------------------------------------------------------------------------
    @property
    def name(self):
        return self.path.rsplit("/", 1)[-1]

    def __repr__(self):
        return f"<{type(self).__name__} {self.path!r}>"

    # -- configuration -------------------------------------------------------------------
    def get_config(self):
        """The layer's constructor arguments in Keras 3's form: ``name``, ``trainable``,
        ``dtype``, then the layer's own, with initializers, regularizers, constraints,
        activations and wrapped layers as Keras' dicts or names.

        It is the arguments the layer was created with (defaults filled in). As in Keras,
        for a class with a ``get_config`` of its own, ``super().get_config()`` is the
        name, ``trainable`` and dtype only, which that method extends.

        >>> import jkeras
        >>> config = jkeras.layers.Dense(2, activation="relu", name="d").get_config()
        >>> config["units"], config["activation"], config["kernel_initializer"]["class_name"]
        (2, 'relu', 'GlorotUniform')
        """
        from ..saving import serialization
        args = configurable.init_args(self)
        own = inspect.signature(type(self).__init__).parameters
        # trainable only when off: Keras' spatial dropouts refuse the argument altogether.
        config = {"name": self.name, **({} if self.trainable else {"trainable": False}),
                  "dtype": serialization.dtype_policy(self.dtype_policy)}
        if _own_config_over_base(type(self)):
            return config  # a get_config of your own adds its arguments itself (Keras' rule)
        for key, value in args.items():
            if key in ("name", "trainable", "dtype") or (key in _BASE_ONLY and (
                    value is None or (key not in own and key != "seed"))) or (
                    key in configurable.JKERAS_ONLY and configurable.JKERAS_ONLY[key] == value):
                continue
            resolved = getattr(self, key, None)
            if isinstance(value, str) and hasattr(resolved, "get_config") and not isinstance(
                    resolved, Layer):
                value = resolved  # "glorot_uniform" -> GlorotUniform(): Keras writes the dict
            config[key] = serialization.serialize_keras_object(value)
        return config

    @classmethod
    def from_config(cls, config):
        """A new layer from ``get_config()`` (or a Keras 3 layer config).

        Nested Keras dicts (initializers, wrapped layers, ...) are rebuilt from jkeras'
        own classes and the registered custom objects only; arguments jkeras does not
        take are refused by name, unless they are Keras-only switches left off.

        >>> import jkeras
        >>> d = jkeras.layers.Dense(2, name="d")
        >>> jkeras.layers.Dense.from_config(d.get_config()).get_config() == d.get_config()
        True
        """
        from ..saving import serialization
        return cls(**serialization.constructor_args(cls, config))

    def get_build_config(self):
        """What rebuilds the layer's weights before a file's values are loaded into them
        (Keras' ``build_config``): ``{"input_shape": ...}`` once built on one input, else
        ``None``.

        >>> import jkeras
        >>> layer = jkeras.layers.Dense(3); layer.build((None, 4))
        >>> layer.get_build_config()
        {'input_shape': [None, 4]}
        """
        if not self.built or len(self.input_shapes or ()) != 1:
            return None
        as_list = lambda s: [as_list(v) for v in s] if isinstance(s, (tuple, list)) else s
        return {"input_shape": as_list(self.input_shapes[0])}

    def build_from_config(self, config):
        """Builds the layer from :meth:`get_build_config`'s dict, as ``load_model`` does
        for a layer that overrides this method (or a Keras-style one not built yet).

        >>> import jkeras
        >>> layer = jkeras.layers.Dense(3); layer.build_from_config({"input_shape": [None, 4]})
        >>> layer.built
        True
        """
        if config and config.get("input_shape") is not None:
            self.build(_as_shape(config["input_shape"]))

    def save_own_variables(self, store):
        """Puts the layer's weights into ``store`` (a dict), ``"0"``, ``"1"``, ... in
        ``weights`` order: what ``save`` writes into the layer's ``vars`` group. Override
        it, with :meth:`load_own_variables`, to save other arrays as well.

        >>> import jkeras
        >>> layer = jkeras.layers.Dense(3); layer.build((None, 4))
        >>> store = {}; layer.save_own_variables(store); sorted(store)
        ['0', '1']
        """
        for i, weight in enumerate(self.weights):
            store[str(i)] = weight.value

    def load_own_variables(self, store):
        """Sets the layer's weights from what :meth:`save_own_variables` stored; a
        mismatch changes nothing.

        >>> import jkeras
        >>> a, b = jkeras.layers.Dense(3), jkeras.layers.Dense(3)
        >>> a.build((None, 4)); b.build((None, 4))
        >>> store = {}; a.save_own_variables(store); b.load_own_variables(store)
        """
        keys = [str(i) for i in range(len(self.weights))]
        if sorted(store.keys()) != sorted(keys):
            raise ValueError(f"{self!r}.load_own_variables: expected the arrays {keys}, got "
                             f"{sorted(store.keys())}. Nothing was changed.")
        self.set_weights([store[key] for key in keys])

    # -- dtypes (jkeras.mixed_precision) ----------------------------------------------------
    @property
    def dtype_policy(self):
        """The layer's ``DTypePolicy``: from ``dtype=``, else the global one at creation."""
        return self._dtype_policy

    @dtype_policy.setter
    def dtype_policy(self, value):
        self._dtype_policy = _policy(self, value)
        self._jit_cache.clear()

    @property
    def dtype(self):
        """The dtype of the layer's weights (Keras' alias of ``variable_dtype``)."""
        return jnp.dtype(self._dtype_policy.variable_dtype)

    @property
    def variable_dtype(self):
        """The dtype the layer creates and keeps its weights in."""
        return self._dtype_policy.variable_dtype

    @property
    def compute_dtype(self):
        """The dtype ``call`` computes in: floating inputs and weights are cast to it.

        >>> import jkeras
        >>> jkeras.layers.Dense(2, dtype="mixed_bfloat16").compute_dtype
        'bfloat16'
        """
        return self._dtype_policy.compute_dtype

    # -- the pure functions subclasses write -------------------------------------------------
    def build(self, rng, *input_shapes):
        """Returns ``(params, state)`` for inputs of these shapes; a pure function.

        Called as in Keras, ``layer.build(input_shape)``, it builds the layer itself.

        >>> import jkeras
        >>> layer = jkeras.layers.Dense(3); layer.build((None, 4))
        >>> [w.shape for w in layer.weights]
        [(4, 3), (3,)]
        """
        return {}, {}

    def call(self, params, state, *inputs, training=False, rng=None):
        """Returns ``(outputs, new_state)``; a pure function of its arguments."""
        raise NotImplementedError(f"{type(self).__name__} must define call()")

    def compute_output_shape(self, *input_shapes):
        """The output shape for inputs of these shapes (``None`` for unknown sizes).

        >>> import jkeras
        >>> jkeras.layers.Dense(4).compute_output_shape((None, 3))
        (None, 4)
        """
        inputs = [jax.tree_util.tree_map(lambda s: symbolic.KerasTensor(s), shape,
                                         is_leaf=lambda s: isinstance(s, tuple))
                  for shape in input_shapes]
        specs = jax.tree_util.tree_map(lambda t: t.spec(), inputs)
        if not self.built:
            self._build(specs)
        out = jax.eval_shape(lambda a: self.apply(self.params, self.state, *a)[0], specs)
        return jax.tree_util.tree_map(symbolic.shape_of, out)

    def compute_mask(self, inputs, mask=None):
        """The mask for this layer's output, given its input and the input's mask.

        By default a layer that ``supports_masking`` passes the mask on; others drop it.
        """
        return mask if self.supports_masking else None

    @property
    def accepts_mask(self):
        """Whether ``call`` takes a ``mask`` argument (containers then pass one on)."""
        return _takes_mask(type(self))

    # -- weights ---------------------------------------------------------------------------
    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        self._jit_cache.clear()

    @property
    def params(self):
        """The trainable weights: a nested dict of arrays (``{}`` when frozen)."""
        return self._params if self._trainable else {}

    @params.setter
    def params(self, value):
        value = state_lib.conform(self.params, value, "params", repr(self))
        if self._trainable:
            self._params = state_lib.ordered_like(self._params, value)

    @property
    def state(self):
        """The non-trainable weights (a frozen layer's params included)."""
        return self._state if self._trainable else {**self._params, **self._state}

    @state.setter
    def state(self, value):
        value = state_lib.conform(self.state, value, "state", repr(self))
        self._params, self._state = self._split(self.params,
                                                state_lib.ordered_like(self.state, value))

    def _assign(self, params, state):
        """Puts back trees made from this layer's own (by a compiled step): unchecked."""
        self._params, self._state = self._split(state_lib.ordered_like(self.params, params),
                                                state_lib.ordered_like(self.state, state))

    def _split(self, params, state):
        """The layer's own (params, state) from the public pair (frozen params live in state)."""
        if self._trainable:
            return params, state
        return ({k: state[k] for k in self._params},
                {k: v for k, v in state.items() if k not in self._params})

    def _merge_state(self, params, state):
        return state if self._trainable else {**params, **state}

    def _weight_items(self):
        """``(dict, path in it, value)`` for every weight, in Keras' order: params, then
        state, each in insertion order at every depth."""
        for where in ("_params", "_state"):
            for path, value in state_lib.leaves_in_order(getattr(self, where)):
                if where == "_params" or path not in self.untracked_state:
                    yield where, path, value

    def _weight_list(self, prefix):
        return [Weight(f"{prefix}/{path}", value, self._trainable and where == "_params")
                for where, path, value in self._weight_items()]

    @property
    def weights(self):
        """Every weight, in creation order (Keras' ``get_weights`` order)."""
        return self._weight_list(self.path)

    @property
    def trainable_weights(self):
        return [w for w in self.weights if w.trainable]

    @property
    def non_trainable_weights(self):
        return [w for w in self.weights if not w.trainable]

    def get_weights(self):
        """The weights as a list of NumPy arrays, in ``weights`` order.

        >>> import jkeras, jax.numpy as jnp
        >>> d = jkeras.layers.Dense(2); _ = d(jnp.ones((1, 3)))
        >>> [w.shape for w in d.get_weights()]
        [(3, 2), (2,)]
        """
        return [w.numpy() for w in self.weights]

    def _leaves(self):
        """(owner layer, which dict, path in it) for every weight, in ``weights`` order."""
        return [(self, where, path) for where, path, _ in self._weight_items()]

    def set_weights(self, weights):
        """Sets every weight from a list of arrays in ``get_weights`` order.

        Everything is checked before anything is written: on error nothing changes.

        >>> import jkeras, jax.numpy as jnp
        >>> d = jkeras.layers.Dense(2); _ = d(jnp.ones((1, 3)))
        >>> d.set_weights([w * 0 for w in d.get_weights()])
        """
        self._require_built("set_weights")
        leaves, names = self._leaves(), [w.path for w in self.weights]
        weights = list(weights)
        if len(weights) != len(leaves):
            raise ValueError(f"{self!r}.set_weights expects {len(leaves)} arrays ({names}), "
                             f"got {len(weights)}.")
        new = []
        for (owner, where, path), name, value in zip(leaves, names, weights):
            old = state_lib.get_path(getattr(owner, where), path)
            value = state_lib.as_weight(value, old.dtype, f"{self!r}.set_weights: {name!r}")
            if value.shape != old.shape:
                raise ValueError(f"{self!r}.set_weights: {name!r} has shape {old.shape}, got "
                                 f"an array of shape {value.shape}. Nothing was changed.")
            new.append(value)
        for (owner, where, path), value in zip(leaves, new):
            setattr(owner, where, state_lib.set_path(getattr(owner, where), path, value))

    def _per_weight(self, params, suffix):
        """``(value, fn)`` for each own param with a ``<weight>_<suffix>`` attribute set.

        Keras names them after the weight less ``_kernel``: ``kernel_regularizer``,
        ``recurrent_regularizer`` (for ``recurrent_kernel``), ``bias_constraint``, ...
        """
        for name, value in params.items():
            fn = getattr(self, f"{name.removesuffix('_kernel') or name}_{suffix}", None)
            if fn is not None:
                yield name, value, fn

    def regularization_loss(self, params):
        """The sum of the weight penalties (``kernel_regularizer``, ...) for ``params``.

        A pure function of ``params`` (the same tree as ``layer.params``).

        >>> import jax.numpy as jnp, jkeras
        >>> d = jkeras.layers.Dense(2, kernel_regularizer="l2"); _ = d(jnp.ones((1, 3)))
        >>> loss = d.regularization_loss(d.params)
        """
        return sum((fn(v) for _, v, fn in self._per_weight(params, "regularizer")),
                   jnp.zeros((), jnp.float32))

    def _regularized(self):
        return any(True for _ in self._per_weight(self._params, "regularizer"))

    def add_loss(self, value):
        """Adds a scalar to the loss of the call that is running (Keras' ``add_loss``):
        ``fit`` and ``train_step`` add it to the compiled loss; ``apply(...,
        return_losses=True)`` returns it.

        >>> import jax.numpy as jnp, jkeras
        >>> class Penalty(jkeras.layers.Layer):
        ...     def call(self, x):
        ...         self.add_loss(jnp.sum(x))
        ...         return x
        >>> layer = Penalty(); _ = layer(jnp.ones(3)); [float(v) for v in layer.losses]
        [3.0]
        """
        variables_lib.add_loss(value)

    @property
    def losses(self):
        """The losses added during the last eager call, then the weight penalties."""
        losses = list(self._eager_losses)
        if self.built and self._regularized():
            losses.append(self.regularization_loss(self.params))
        return losses

    def apply_constraints(self, params):
        """``params`` with each constrained weight projected (``kernel_constraint``, ...).

        >>> import jax.numpy as jnp, jkeras
        >>> d = jkeras.layers.Dense(2, kernel_constraint="non_neg"); _ = d(jnp.ones((1, 3)))
        >>> params = d.apply_constraints(d.params)
        """
        new = dict(params)
        for name, value, fn in self._per_weight(params, "constraint"):
            new[name] = fn(value)
        return new

    def count_params(self):
        """The number of scalars in all weights (trainable or not)."""
        self._require_built("count_params")
        return sum(int(np.prod(w.shape)) for w in self.weights)

    def save_weights(self, filepath, overwrite=True):
        """Writes every weight, atomically: Keras 3's ``.weights.h5`` or an ``.npz`` keyed
        by path (no pickle either way)."""
        from .. import saving
        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath):
        """Loads weights saved by ``save_weights`` (or Keras 3's ``.weights.h5``); a
        mismatch changes nothing."""
        from .. import saving
        saving.load_weights(self, filepath)

    # -- building --------------------------------------------------------------------------
    def _require_built(self, what):
        if not self.built:
            raise ValueError(f"{self!r} is not built yet, so {what} has no weights to use: "
                             "call it once on an input (or call init) first.")

    def _build(self, args):
        """Builds from the (possibly symbolic) inputs ``args``; weights are concrete arrays."""
        shapes = jax.tree_util.tree_map(symbolic.shape_of, args)
        self._check_inputs(shapes)
        with jax.ensure_compile_time_eval():
            params, state = placement.build_weights(self, random_lib.build_key(self), shapes)
        self._params, self._state = dict(params), dict(state)
        self.input_shapes = shapes
        self.built = True

    def init(self, rng, *example_inputs):
        """Fresh ``(params, state)`` drawn from ``rng``; builds the layer if it is not.

        A pure function of ``rng`` and the inputs' shapes: the weights a built layer
        holds are left alone.

        >>> import jax, jax.numpy as jnp, jkeras
        >>> params, state = jkeras.layers.Dense(4).init(jax.random.key(0), jnp.ones((1, 3)))
        """
        with random_lib.init_keys(rng):
            if not self.built:
                with frame_lib.active(None):
                    self._build(example_inputs)
            return self._fresh(rng)

    def _fresh(self, rng):
        with jax.ensure_compile_time_eval():
            params, state = placement.build_weights(self, random_lib.path_key(rng, self.path),
                                                    self.input_shapes)
        if self._trainable:
            return dict(params), dict(state)
        return {}, {**params, **state}

    def _check_inputs(self, shapes):
        if self.input_spec is not None and shapes:
            self.input_spec.check(self, shapes[0])

    # -- calling ---------------------------------------------------------------------------
    def apply(self, params, state, *inputs, training=None, rng=None, return_losses=False,
              **kwargs):
        """The pure form: ``(outputs, new_state)``; nothing is stored or changed.

        Safe under ``jax.jit``, ``jax.grad`` and ``jax.vmap``. With ``return_losses``,
        ``(outputs, new_state, losses)``: the scalars ``add_loss`` and activity
        regularizers added during the call (weight penalties are
        ``regularization_loss(params)``).

        >>> import jax, jax.numpy as jnp, jkeras
        >>> d = jkeras.layers.Dense(2); _ = d(jnp.ones((1, 3)))
        >>> y, _ = jax.jit(d.apply)(d.params, d.state, jnp.ones((4, 3)))
        """
        self._require_built("apply")
        training = training_lib.resolve(training)
        state_lib.check_like(self.params, params, "params", repr(self))
        state_lib.check_like(self.state, state, "state", repr(self))
        self._check_inputs(jax.tree_util.tree_map(symbolic.shape_of, inputs))
        if return_losses:
            with variables_lib.collecting_losses() as losses:
                out, new_state = self._apply_regularized(params, state, inputs, kwargs,
                                                         training, rng)
            return out, new_state, losses
        return self._apply_regularized(params, state, inputs, kwargs, training, rng)

    def _apply_regularized(self, params, state, inputs, kwargs, training, rng):
        out, new_state = self._apply(params, state, inputs, kwargs, training, rng)
        if self.activity_regularizer is not None:
            # Keras 3: the penalty of each output, divided by its batch size.
            for o in jax.tree_util.tree_leaves(out):
                loss = self.activity_regularizer(o)
                variables_lib.add_loss(loss / o.shape[0] if o.ndim else loss)
        return out, new_state

    def _apply(self, params, state, inputs, kwargs, training, rng):
        p, s = self._split(params, state)
        compute = self.compute_dtype
        if self.autocast:  # inside the pure function, so jit and grad see the casts
            cast_p, inputs, kwargs = mixed_precision.autocast((p, inputs, kwargs), compute)
        else:
            cast_p = p
        out, new = self.call(cast_p, s, *inputs, training=training, rng=rng, **kwargs)
        if not self.autocast:  # such layers compute in float32 and return the compute dtype
            out = mixed_precision.autocast(out, compute)
        return out, self._merge_state(p, new)

    def __call__(self, *args, training=None, **kwargs):
        if not args or args[0] is None:
            raise TypeError(f"{self!r} expects inputs: an array (or a list or dict of arrays) "
                            f"as its first argument, got {'None' if args else 'nothing'}.")
        if symbolic.is_symbolic((args, kwargs)):
            return self._symbolic_call(args, kwargs, training)
        mask = kwargs.get("mask")
        if mask is None:  # Keras: the mask the input carries, for a call that takes one
            mask = masks.attached(args[0])
            if mask is not None and self.accepts_mask:
                kwargs = {**kwargs, "mask": mask}
        frame = frame_lib.current()
        if frame is not None:
            out = frame.call(self, args, kwargs, training)
        else:
            args = jax.tree_util.tree_map(lambda x: _as_input(self, x), args)
            if not self.built:
                self._build(args)
            training = training_lib.resolve(training)
            leaves = jax.tree_util.tree_leaves((args, kwargs))
            traced = any(_is_tracer(x) for x in leaves)
            out = (self._traced_call if traced else self._eager_call)(args, kwargs, training)
        masks.attach(out, self.compute_mask(args[0], mask))
        return out

    def _traced_call(self, args, kwargs, training):
        changes_state = (training or self.stateful) and jax.tree_util.tree_leaves(self.state)
        if (changes_state or (training and self.uses_rng)) and not frame_lib.is_building():
            mode = "in training mode" if training else "(it is stateful)"
            raise ValueError(
                f"{self!r} was called {mode} on traced values (inside jax.jit, grad, vmap, "
                "...): its new state or random draw cannot be stored on the object from "
                "inside a transformation. Use the pure form inside the transformed function: "
                "`outputs, new_state = layer.apply(params, state, x, training=True, rng=key)`.")
        out, _ = self.apply(self.params, self.state, *args, training=training, **kwargs)
        self.output_shape = jax.tree_util.tree_map(symbolic.shape_of, out)
        return out

    def _eager_call(self, args, kwargs, training):
        kwargs = {k: _keyword_value(v) for k, v in kwargs.items()}
        static = tuple(sorted((k, v) for k, v in kwargs.items() if not _holds_arrays(v)))
        dynamic = {k: v for k, v in kwargs.items() if _holds_arrays(v)}
        run = self._jit_cache.get((training, static))
        if run is None:
            def pure(params, state, args, dynamic, rng):
                return self.apply(params, state, *args, training=training, rng=rng,
                                  return_losses=True, **dynamic, **dict(static))
            run = self._jit_cache[(training, static)] = jax.jit(pure)
        rng = None
        if (training or self.samples_in_inference) and self.uses_rng:
            rng = (self._seeds or random_lib.global_stream()).next()
        out, new_state, self._eager_losses = run(self.params, self.state, args, dynamic, rng)
        if (training or self.stateful) and jax.tree_util.tree_leaves(new_state):
            self.state = new_state
        return out

    def _symbolic_call(self, args, kwargs, training):
        leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
        where = [i for i, x in enumerate(leaves) if isinstance(x, symbolic.KerasTensor)]

        def with_values(values):  # the call's arguments with KerasTensors replaced
            filled = list(leaves)
            for i, v in zip(where, values):
                filled[i] = v
            return jax.tree_util.tree_unflatten(treedef, filled)

        specs = [leaves[i].spec() for i in where]
        if not self.built:
            self._build(with_values(specs)[0])
        # The mask the inputs carry, as a model will pass it (the node does not keep it).
        mask = masks.attached(args[0]) if self.accepts_mask and kwargs.get("mask") is None \
            else None
        mask = {} if mask is None else {"mask": jax.tree_util.tree_map(
            lambda m: m.spec() if isinstance(m, symbolic.KerasTensor) else m, mask)}
        out = jax.eval_shape(
            lambda values, mask: self.apply(self.params, self.state, *with_values(values)[0],
                                            training=False, **with_values(values)[1],
                                            **mask)[0], specs, mask)
        node = symbolic.Node(self, args, kwargs, training)
        self.output_shape = jax.tree_util.tree_map(symbolic.shape_of, out)
        node.outputs = jax.tree_util.tree_map(
            lambda o: symbolic.KerasTensor(symbolic.shape_of(o), o.dtype, node), out)
        return node.outputs

    @property
    def input(self):
        """The symbolic input of the layer's first call on ``KerasTensor``s (Keras'
        ``layer.input``), for feature extraction.

        >>> import jkeras
        >>> x = jkeras.Input(shape=(3,)); dense = jkeras.layers.Dense(2); y = dense(x)
        >>> dense.input is x, dense.output is y
        (True, True)
        """
        return symbolic.first_node(self, "input").inputs

    @property
    def output(self):
        """The symbolic output of the layer's first call on ``KerasTensor``s."""
        return symbolic.first_node(self, "output").outputs


Layer.build = _keras_build_form(Layer.build)


def _policy(layer, dtype):
    try:
        return mixed_precision.get(dtype)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{layer!r}: dtype: {err}") from None


configurable.record_init(Layer)
# Base arguments a config leaves out: name/trainable/dtype are written from the layer's
# current values, and an input shape is the model's InputLayer in Keras' configs.
_BASE_ONLY = ("name", "trainable", "dtype", "seed", "input_shape", "input_dim", "batch_size")


@functools.cache
def _takes_mask(cls):
    return "mask" in inspect.signature(cls.call).parameters


def _is_array(x):
    return isinstance(x, (jax.Array, np.ndarray))


def _holds_arrays(value):
    return any(map(_is_array, jax.tree_util.tree_leaves(value)))


def _keyword_value(value):
    """A written-out list of plain numbers (a mask, say) is an array, as in Keras."""
    return np.asarray(value) if isinstance(value, list) and not _holds_arrays(value) else value


def positive_int(layer, arg, value):
    """``value`` as an int, or a ValueError naming the layer and argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{layer!r}: {arg} must be a positive integer, got {value!r}")
    return int(value)


def flag(layer, arg, value):
    """``value`` if it is a bool, or a TypeError naming the layer and argument.

    >>> flag("<Dense 'dense'>", "use_bias", True)
    True
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{layer}: {arg} must be True or False, got {value!r}.")
    return bool(value)


def option(layer, arg, get, value):
    """``get(value)`` (an activation, initializer, ... by name), with an error naming the
    layer and argument.

    >>> from jkeras import activations
    >>> option("<Dense 'dense'>", "activation", activations.get, "relu").__name__
    'relu'
    """
    try:
        return get(value)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{layer}: {arg}: {err}") from None


def index_problem(values, size):
    """What keeps ``values`` from being row indices into ``size`` rows (a number that is not
    whole, or one outside ``[0, size)``), or ``None``. A NumPy check on host values.

    >>> import numpy as np
    >>> index_problem(np.array([0, 4]), 3)
    'got values from 0 to 4'
    >>> index_problem(np.array([0.5, 1.0]), 3)
    'got 0.5, not a whole number (1 such values)'
    >>> index_problem(np.array([2.0]), 3) is None
    True
    """
    values = np.asarray(values)
    if not values.size:
        return None
    if not np.issubdtype(values.dtype, np.integer):
        bad = values[~np.isfinite(values) | (values != np.round(values))]
        if bad.size:
            return f"got {bad.flat[0].item()!r}, not a whole number ({bad.size} such values)"
    low, high = values.min(), values.max()
    if low < 0 or high >= size:
        return f"got values from {low.item()} to {high.item()}"
    return None


def fraction(layer, arg, value):
    """``value`` as a float in [0, 1) (a dropout rate: 1 would drop everything), or a
    ValueError naming the layer and argument.

    >>> fraction("<Dropout 'dropout'>", "rate", 0.25)
    0.25
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{layer}: {arg} must be a number in [0, 1), got {value!r}")
    return float(value)

