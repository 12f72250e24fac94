"""Layers written the Keras way, adapted onto jkeras' pure ``build``/``apply``.

A ``Layer`` subclass whose ``call`` does not start with ``(params, state, ...)`` is a
Keras-style layer: ``__init__`` makes sublayers and weights (``add_weight``),
``build(self, input_shape)`` makes more weights once the input's shape is known, and
``call(self, inputs, training=None, mask=None)`` uses ``self.w`` and the sublayers.
Such a class gets :class:`KerasLayer` as its base in place of ``Layer`` (``Model`` has it
already), which gives it the same ``params``/``state``/``apply`` as every layer:

* ``params``/``state`` hold the layer's own weights by name and each sublayer's under the
  sublayer's path, as a model nests its layers';
* ``apply`` runs ``call`` in a stateless scope: ``self.w`` reads the value passed in,
  ``assign`` on a weight becomes part of ``new_state``, sublayers run on their subtrees.

>>> import jax, jax.numpy as jnp, jkeras
>>> class Linear(jkeras.layers.Layer):
...     def __init__(self, units=4):
...         super().__init__()
...         self.units = units
...     def build(self, input_shape):
...         self.w = self.add_weight(shape=(input_shape[-1], self.units))
...         self.b = self.add_weight(shape=(self.units,), initializer="zeros")
...     def call(self, inputs):
...         return inputs @ self.w + self.b
>>> layer = Linear()
>>> layer(jnp.ones((2, 3))).shape
(2, 4)
>>> sorted(layer.params)
['b', 'w']
>>> y, _ = jax.jit(layer.apply)(layer.params, layer.state, jnp.ones((2, 3)))
"""
import functools
import inspect

import jax

from .. import constraints as constraints_lib
from .. import frame as frame_lib
from .. import initializers as initializers_lib
from .. import mixed_precision
from .. import random as random_lib
from .. import regularizers as regularizers_lib
from .. import state as state_lib
from .. import symbolic
from .. import training as training_lib
from .. import variables as variables_lib
from .base import Layer, _as_shape, _is_shape, note_weight_change


def _positional_names(fn):
    return [p.name for p in list(inspect.signature(fn).parameters.values())[1:]
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def is_keras_style(cls):
    """Whether ``cls`` is written the Keras way (a ``call`` without ``params, state``).

    >>> import jkeras
    >>> is_keras_style(jkeras.layers.Dense)
    False
    """
    call_pure = _positional_names(cls.call)[:2] == ["params", "state"]
    build_pure = call_pure if cls.build is Layer.build else \
        _positional_names(cls.build)[:1] == ["rng"]
    if call_pure and build_pure:
        return False
    if call_pure != build_pure:
        pure, keras = ("call", "build") if call_pure else ("build", "call")
        raise TypeError(
            f"{cls.__name__} mixes the two ways of writing a layer: its {pure} is jkeras' "
            f"pure form and its {keras} is Keras' form. Write either build(self, rng, "
            "input_shape) -> (params, state) and call(self, params, state, inputs, *, "
            "training, rng) -> (outputs, new_state), or build(self, input_shape) with "
            "add_weight and call(self, inputs, training=None).")
    return True


def adopt(cls):
    """Gives a Keras-style ``Layer`` subclass :class:`KerasLayer` as its base."""
    if Layer not in cls.__bases__:
        raise TypeError(
            f"{cls.__name__} overrides call() in Keras' form on top of a built-in jkeras "
            "layer, whose call is a pure function of (params, state, ...). Subclass "
            "jkeras.layers.Layer instead and use the built-in layer as a sublayer "
            "(self.dense = Dense(...) in __init__).")
    cls.__bases__ = tuple(KerasLayer if base is Layer else base for base in cls.__bases__)
    _wrap_build(cls)


def _wrap_build(cls):
    """``layer.build(shape)`` called by the user builds the whole layer, as in Keras."""
    user_build = cls.__dict__.get("build")
    if user_build is None or getattr(user_build, "_keras_wrapped", False):
        return

    @functools.wraps(user_build)
    def build(self, *input_shapes, **kwargs):
        if self._in_build:
            return user_build(self, *input_shapes, **kwargs)
        if kwargs or not all(_is_shape(s) for s in input_shapes):
            # A build of the subclass's own signature (``build(input_shape, layer_init)``,
            # Keras' customizing-saving guide): the first argument is the input's shape,
            # the others are passed on as given.
            bound = inspect.signature(user_build).bind(self, *input_shapes, **kwargs)
            bound.arguments.pop("self", None)
            first, *rest = bound.arguments
            self._build_arguments = {name: bound.arguments[name] for name in rest}
            input_shapes = (bound.arguments[first],)
        self._build_from_shapes(input_shapes)

    build._keras_wrapped = True
    cls.build = build


class KerasLayer(Layer):
    """The base of Keras-style layers and of ``Model``: own weights made by
    ``add_weight``, sublayers found among the attributes, and ``call(self, inputs, ...)``
    run statelessly by ``apply``.

    >>> import jax.numpy as jnp, jkeras
    >>> class ComputeSum(jkeras.layers.Layer):
    ...     def __init__(self, input_dim):
    ...         super().__init__()
    ...         self.total = self.add_weight(shape=(input_dim,), initializer="zeros",
    ...                                      trainable=False)
    ...     def call(self, inputs):
    ...         self.total.assign_add(inputs.sum(axis=0))
    ...         return self.total.value
    >>> s = ComputeSum(2)
    >>> _ = s(jnp.ones((2, 2))); s(jnp.ones((2, 2))).tolist()
    [4.0, 4.0]
    """

    _keras_base = True

    def __init__(self, name=None, autocast=True, **kwargs):
        object.__setattr__(self, "_layers", [])
        self._paths = {}
        self._own = {}          # name -> Variable, in creation order
        self._own_meta = {}     # name -> (initializer, shape, dtype, regularizer, constraint)
        self._auto_named = set()
        self._in_build = False
        super().__init__(name=name, **kwargs)
        if not autocast:  # Keras' opt-out: inputs and weights are taken as they are
            self.autocast = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _wrap_build(cls)

    # -- sublayers -------------------------------------------------------------------------
    def __setattr__(self, name, value):
        layers = value if isinstance(value, (list, tuple)) else [value]
        if name != "_layers" and layers and all(isinstance(v, Layer) for v in layers):
            for layer in layers:
                self._track(layer)
        elif isinstance(value, variables_lib.Variable) and value._owner is self:
            self._name_after_attribute(value, name)
        super().__setattr__(name, value)

    def _name_after_attribute(self, variable, attribute):
        """``self.w = self.add_weight(...)`` without ``name=`` names the weight ``w``
        (the key in ``params``), while the layer is being made."""
        where, old = variable._key
        if old not in self._auto_named or attribute in self._own or \
                (self.built and not self._in_build) or \
                any(layer.path.split("/")[0] == attribute for layer in self._layers):
            return
        self._auto_named.discard(old)
        rename = lambda d: {attribute if k == old else k: v for k, v in d.items()}
        setattr(self, where, rename(getattr(self, where)))
        self._own, self._own_meta = rename(self._own), rename(self._own_meta)
        variable._key, variable.path = (where, attribute), f"{self.path}/{attribute}"

    def _track(self, layer):
        if "_layers" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before "
                               "assigning layers to attributes.")
        if not any(layer is known for known in self._layers):
            if layer.path in self._own:
                raise ValueError(f"{self!r}: the sublayer {layer.path!r} has the name of one "
                                 "of its weights; give one of them another name.")
            self._paths = frame_lib.children_paths(self, [*self._layers, layer])
            self._layers.append(layer)
            self._jit_cache.clear()
            note_weight_change()

    def _unique_layers(self):
        return list({id(layer): layer for layer in self._layers}.values())

    @property
    def uses_training(self):
        return "training" in inspect.signature(self.call).parameters or any(
            layer.uses_training for layer in self._layers)

    @property
    def stateful(self):
        own_state = any(not v.trainable for v in self._own.values())
        return own_state or any(layer.stateful for layer in self._layers)

    @property
    def uses_rng(self):
        return any(isinstance(v, random_lib.SeedGenerator) for v in vars(self).values()) or \
            any(layer.uses_rng for layer in self._layers)

    @property
    def samples_in_inference(self):
        """Whether calls in inference mode draw too (a layer holding a SeedGenerator)."""
        return any(isinstance(v, random_lib.SeedGenerator) for v in vars(self).values()) or \
            any(layer.samples_in_inference for layer in self._layers)

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        # As in Keras, (un)freezing a layer (un)freezes every layer in it.
        self._trainable = bool(value)
        for layer in self._layers:
            layer.trainable = value
        self._jit_cache.clear()

    # -- own weights -----------------------------------------------------------------------
    def add_weight(self, shape=None, initializer="glorot_uniform", dtype=None, trainable=True,
                   name=None, regularizer=None, constraint=None, autocast=True, **kwargs):
        """Creates a weight and returns its :class:`~jkeras.variables.Variable`.

        Call it in ``__init__`` or ``build``; the value is drawn now from the layer's
        seed stream (``init(rng, ...)`` draws fresh ones from ``rng``). Under a mixed
        policy ``call`` reads a floating weight in the compute dtype, unless
        ``autocast=False``.
        """
        if "_own" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before "
                               "add_weight.")
        unknown = set(kwargs) - {"aggregation", "synchronization"}
        if unknown:  # Keras' distribution hints have no meaning here; anything else is a typo
            raise TypeError(f"{self!r}.add_weight got unexpected arguments {sorted(unknown)}.")
        if self.built and not self._in_build:
            raise ValueError(
                f"{self!r}: add_weight was called after the layer was built (outside "
                "__init__ and build). Create weights in __init__ or build(self, input_shape),"
                " so that they are part of params before any pure call.")
        if name is None:
            name = "variable" if "variable" not in self._own else f"variable_{len(self._own)}"
            self._auto_named.add(name)
        if not isinstance(name, str) or not name or "/" in name or name in self._own or \
                any(layer.path.split("/")[0] == name for layer in self._layers):
            raise ValueError(f"{self!r}: add_weight name must be a new non-empty string "
                             f"without '/', got {name!r}; the layer has {list(self._own)}.")
        shape = () if shape is None else tuple(int(d) for d in shape)
        dtype = self.dtype if dtype is None else jax.numpy.dtype(dtype)
        init = initializers_lib.get(initializer)
        meta = (init, shape, dtype, regularizers_lib.get(regularizer),
                constraints_lib.get(constraint))
        with jax.ensure_compile_time_eval():
            value = init(random_lib.path_key(random_lib.build_key(self), name), shape, dtype)
        where = "_params" if trainable else "_state"
        setattr(self, where, {**getattr(self, where), name: value})
        self._own_meta[name] = meta
        variable = self._own[name] = variables_lib.Variable(
            self, (where, name), f"{self.path}/{name}", autocast=autocast)
        self._jit_cache.clear()
        return variable

    add_variable = add_weight

    def _own_values(self, params, state):
        """``{scope key: value}`` for the own weights, from the public trees."""
        values = {}
        for name, variable in self._own.items():
            where = variable._key[0]
            tree = params if where == "_params" and self._trainable else state
            values[(id(self), (where, name))] = tree[name]
        return values

    # -- weights: own ones, then each sublayer's under its path ------------------------------
    def _gather(self, which):
        tree = dict(getattr(Layer, which).fget(self))
        for layer in self._unique_layers():
            sub = getattr(layer, which)
            if not sub:
                continue
            if state_lib.SEP in layer.path:
                tree = state_lib.set_path(tree, layer.path, sub)
            else:  # a direct child: into the fresh dict, without copying it again
                tree[layer.path] = sub
        return tree

    def _scatter(self, which, tree):
        # All checked and converted first: a mismatch anywhere changes no layer.
        tree = state_lib.conform(getattr(self, which), tree, which, repr(self))
        own = getattr(Layer, which).fget(self)
        if own:
            sub = state_lib.ordered_like(own, {k: tree[k] for k in own})
            if which == "params":
                self._params = sub
            else:
                self._params, self._state = self._split(Layer.params.fget(self), sub)
        for layer in self._unique_layers():
            if getattr(layer, which):
                setattr(layer, which, state_lib.get_path(tree, layer.path))

    def _assign(self, params, state):
        """Puts back trees made from these weights (by a compiled step): unchecked."""
        if self._params or self._state:  # own weights (a container usually has none)
            own_p, own_s = Layer.params.fget(self), Layer.state.fget(self)
            self._params, self._state = self._split(
                state_lib.ordered_like(own_p, {k: params[k] for k in own_p}),
                state_lib.ordered_like(own_s, {k: state[k] for k in own_s}))
        for layer in self._unique_layers():
            layer._assign(_subtree(params, layer.path), _subtree(state, layer.path))

    params = property(lambda self: self._gather("params"),
                      lambda self, tree: self._scatter("params", tree),
                      doc="The trainable weights: own ones by name, sublayers' by path.")
    state = property(lambda self: self._gather("state"),
                     lambda self, tree: self._scatter("state", tree),
                     doc="The non-trainable weights: own ones by name, sublayers' by path.")

    def regularization_loss(self, params):
        """The sum of every weight penalty for ``params`` (a pure function)."""
        total = sum((self._own_meta[name][3](params[name]) for name in params
                     if name in self._own_meta and self._own_meta[name][3] is not None),
                    jax.numpy.zeros((), jax.numpy.float32))
        return total + sum((layer.regularization_loss(state_lib.get_path(params, layer.path))
                            for layer in self._unique_layers() if layer.params),
                           jax.numpy.zeros((), jax.numpy.float32))

    def _regularized(self):
        return any(meta[3] is not None for meta in self._own_meta.values()) or any(
            layer._regularized() for layer in self._unique_layers())

    def apply_constraints(self, params):
        """``params`` with every weight constraint applied (a pure function)."""
        params = dict(params)
        for name, meta in self._own_meta.items():
            if meta[4] is not None and name in params:
                params[name] = meta[4](params[name])
        for layer in self._unique_layers():
            if layer.params:
                sub = layer.apply_constraints(state_lib.get_path(params, layer.path))
                params = state_lib.set_path(params, layer.path, sub)
        return params

    def _weight_list(self, prefix):
        own = [variable if prefix == self.path else
               variables_lib.Variable(self, variable._key, f"{prefix}/{name}" if prefix else name)
               for name, variable in self._own.items()]
        weights = [w for w in own if w._key[0] == "_params"] + \
            [w for w in own if w._key[0] == "_state"]
        for layer in self._unique_layers():
            weights += layer._weight_list(f"{prefix}/{layer.path}" if prefix else layer.path)
        return weights

    def _leaves(self):
        own = [(self, where, path) for where, path, _ in Layer._weight_items(self)]
        return own + [leaf for layer in self._unique_layers() for leaf in layer._leaves()]

    # -- building ----------------------------------------------------------------------------
    def _build_from_shapes(self, input_shapes):
        input_shapes = [_as_shape(s) for s in input_shapes]  # JSON's lists too
        inputs = [jax.tree_util.tree_map(lambda s: symbolic.KerasTensor(s).spec(), shape,
                                         is_leaf=lambda s: isinstance(s, tuple))
                  for shape in input_shapes]
        self._build(inputs)

    def build(self, *input_shapes):
        """Builds the layer for inputs of these shapes (``None`` for unknown sizes): its
        own weights (a subclass's ``build``), then every sublayer, by one abstract call.

        >>> import jkeras
        >>> m = jkeras.Sequential([jkeras.layers.Dense(4)])
        >>> m.build((None, 3)); m.count_params()
        16
        """
        if not self._in_build:
            self._build_from_shapes(input_shapes)

    def _build(self, args):
        shapes = jax.tree_util.tree_map(symbolic.shape_of, args)
        with frame_lib.active(None):
            if type(self).build is not KerasLayer.build:
                self._in_build = True
                try:
                    takes = _positional_names(type(self).build)
                    extra = self.__dict__.pop("_build_arguments", None)
                    if extra is not None:
                        self.build(shapes[0], **extra)
                    else:
                        self.build(*(shapes[:1] if len(takes) == 1 else shapes))
                finally:
                    self._in_build = False
            # One abstract pass of call(): every sublayer builds from the shapes it sees,
            # and the own weights read their values in a scope (nothing traced is kept).
            if self._layers:
                with frame_lib.building(), training_lib.training_mode(False), \
                        variables_lib.stateless_scope(self._own_values(self.params,
                                                                       self.state)):
                    jax.eval_shape(lambda a: self._call_with(a, {}, False), args)
        self.input_shapes = shapes
        self.built = True

    def _fresh(self, rng):
        own_p, own_s = {}, {}
        key = random_lib.path_key(rng, self.path)
        for name, (init, shape, dtype, _, _) in self._own_meta.items():
            where = self._own[name]._key[0]
            with jax.ensure_compile_time_eval():
                value = init(random_lib.path_key(key, name), shape, dtype)
            (own_p if where == "_params" else own_s)[name] = value
        params, state = (own_p, own_s) if self._trainable else ({}, {**own_p, **own_s})
        for layer in self._unique_layers():
            p, s = layer._fresh(rng)
            if p:
                params = state_lib.set_path(params, layer.path, p)
            if s:
                state = state_lib.set_path(state, layer.path, s)
        return params, state

    def init(self, rng, *example_inputs):
        """Fresh ``(params, state)`` drawn from ``rng`` by weight path.

        >>> import jax, jax.numpy as jnp, jkeras
        >>> m = jkeras.Sequential([jkeras.layers.Dense(4)])
        >>> params, state = m.init(jax.random.key(0), jnp.ones((1, 3)))
        """
        with random_lib.init_keys(rng):
            if not self.built:
                self._build(example_inputs)
            return self._fresh(rng)

    def _check_inputs(self, shapes):
        pass  # each sublayer checks its own inputs, naming itself

    # -- calling -----------------------------------------------------------------------------
    def call(self, *inputs, training=False):
        """The forward computation in Keras style."""
        raise NotImplementedError(f"{type(self).__name__} must define call(self, inputs, "
                                  "training=False)")

    def _call_with(self, args, kwargs, training):
        if _takes_training(type(self)):
            kwargs = {**kwargs, "training": training}
        return self.call(*args, **kwargs)

    def _autocast(self, inputs, kwargs, own):
        """Keras' mixed precision, inside the pure function (so jit and grad see it): the
        floating inputs in the compute dtype and, when the policy is mixed, the floating
        own weights read in it (Keras' AutocastScope); ``kept`` is their stored dtypes."""
        compute = self.compute_dtype
        inputs, kwargs = mixed_precision.autocast((inputs, kwargs), compute)
        if compute == self.variable_dtype:
            return inputs, kwargs, own, {}
        cast = {key: mixed_precision.autocast(value, compute) for key, value in own.items()
                if self._own[key[1][1]]._autocast}
        kept = {key: own[key].dtype for key, value in cast.items()
                if value.dtype != own[key].dtype}
        return inputs, kwargs, {**own, **cast}, kept

    def _apply(self, params, state, inputs, kwargs, training, rng):
        frame = frame_lib.Frame(self, self._paths, params, state, training, rng)
        own, kept = self._own_values(params, state), {}
        if self.autocast:
            inputs, kwargs, own, kept = self._autocast(inputs, kwargs, own)
        with frame_lib.active(frame), random_lib.key_scope(frame), \
                variables_lib.stateless_scope(own, kept) as assigned:
            out = variables_lib.unwrap(self._call_with(inputs, kwargs, training))
        _check_no_stored_tracers(self)
        new_state = frame.state
        for (_, (where, name)), value in assigned.items():
            if where == "_params" and self._trainable:
                raise ValueError(
                    f"{self!r}: call() assigned the trainable weight {name!r}. A pure call "
                    "returns only new non-trainable state: create the weight with "
                    "trainable=False, or update it through the optimizer.")
            new_state = {**new_state, name: value}
        return out, new_state


def _subtree(tree, path):
    """The subtree at ``path``, ``{}`` where the tree has none (a layer without weights)."""
    for key in path.split("/"):
        tree = tree.get(key, {})
    return tree


@functools.cache
def _takes_training(cls):
    params = inspect.signature(cls.call).parameters
    return "training" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _check_no_stored_tracers(layer):
    for name, value in vars(layer).items():
        if isinstance(value, jax.core.Tracer):
            delattr(layer, name)
            raise ValueError(
                f"{layer!r}: call() stored a traced value on self.{name}. Inside a pure call "
                "nothing may be kept on the object: return the value, or keep it in a "
                "non-trainable weight (add_weight(trainable=False) and assign).")
