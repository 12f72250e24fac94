"""``Model``: a layer made of layers, whose params nest its layers' by path."""
import inspect

import jax
import jax.numpy as jnp

from .. import frame as frame_lib
from .. import random as random_lib
from .. import state as state_lib
from .. import symbolic
from .. import training as training_lib
from ..layers.base import Layer
from .trainer import Trainer


def _children_paths(owner, layers):
    """``{id(layer): path}``; two different layers may not claim one path."""
    paths, seen = {}, {}
    for layer in layers:
        if id(layer) in paths:
            continue
        for other_path, other in seen.items():
            if layer.path == other_path or layer.path.startswith(other_path + "/") or \
                    other_path.startswith(layer.path + "/"):
                raise ValueError(
                    f"{owner!r} has two layers named {layer.path!r} and {other_path!r}: "
                    "their weights would share a path. Give each layer a unique name.")
        paths[id(layer)] = layer.path
        seen[layer.path] = layer
    return paths


def _subtree(tree, path):
    """The subtree at ``path``, ``{}`` where the tree has none (a layer without weights)."""
    for key in path.split("/"):
        tree = tree.get(key, {})
    return tree


class Model(Trainer, Layer):
    """A container of layers with a Keras-style ``call``; also the base of ``Sequential``.

    ``Model(inputs, outputs)`` builds a functional model from symbolic ``Input``s.
    Subclass it and assign layers as attributes for a subclassed model:

    >>> import jax.numpy as jnp, jkeras
    >>> class MLP(jkeras.Model):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.hidden = jkeras.layers.Dense(32, activation="relu")
    ...         self.out = jkeras.layers.Dense(10)
    ...     def call(self, x, training=False):
    ...         return self.out(self.hidden(x))
    >>> MLP()(jnp.ones((2, 784))).shape
    (2, 10)

    Its ``params``/``state`` nest each layer's under the layer's path; ``apply`` runs
    ``call`` with the layers reading their weights from the trees passed in.
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs):
            from .functional import Functional
            return super().__new__(Functional)
        return super().__new__(cls)

    def __init__(self, name=None, **kwargs):
        self._layers = []
        self._paths = {}
        super().__init__(name=name, **kwargs)

    def __setattr__(self, name, value):
        layers = value if isinstance(value, (list, tuple)) else [value]
        if name != "_layers" and layers and all(isinstance(v, Layer) for v in layers):
            for layer in layers:
                self._track(layer)
        super().__setattr__(name, value)

    def _track(self, layer):
        if not any(layer is known for known in self._layers):
            self._paths = _children_paths(self, [*self._layers, layer])
            self._layers.append(layer)
            self._jit_cache.clear()

    @property
    def layers(self):
        """The model's direct layers, in the order they were added."""
        return list(self._layers)

    def get_layer(self, name):
        """The direct layer with this name or path.

        >>> import jkeras
        >>> m = jkeras.Sequential([jkeras.layers.Dense(2, name="out")])
        >>> m.get_layer("out").name
        'out'
        """
        for layer in self._layers:
            if name in (layer.name, layer.path):
                return layer
        raise ValueError(f"{self!r} has no layer {name!r}; it has "
                         f"{[layer.path for layer in self._layers]}")

    # -- flags derived from the layers -------------------------------------------------------
    @property
    def uses_training(self):
        return any(layer.uses_training for layer in self._layers)

    @property
    def stateful(self):
        return any(layer.stateful for layer in self._layers)

    @property
    def uses_rng(self):
        return any(layer.uses_rng for layer in self._layers)

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        # As in Keras, (un)freezing a model (un)freezes every layer in it.
        self._trainable = bool(value)
        for layer in self._layers:
            layer.trainable = value
        self._jit_cache.clear()

    # -- weights: gathered from and scattered to the layers ----------------------------------
    def _gather(self, which):
        tree = {}
        for layer in self._layers:
            sub = getattr(layer, which)
            if sub:
                tree = state_lib.set_path(tree, layer.path, sub)
        return tree

    def _scatter(self, which, tree):
        # All checked and converted first: a mismatch anywhere changes no layer.
        tree = state_lib.conform(getattr(self, which), tree, which, repr(self))
        for layer in self._layers:
            if getattr(layer, which):
                setattr(layer, which, state_lib.get_path(tree, layer.path))

    def _assign(self, params, state):
        for layer in self._unique_layers():
            layer._assign(_subtree(params, layer.path), _subtree(state, layer.path))

    params = property(lambda self: self._gather("params"),
                      lambda self, tree: self._scatter("params", tree),
                      doc="The trainable weights, nested by layer path.")
    state = property(lambda self: self._gather("state"),
                     lambda self, tree: self._scatter("state", tree),
                     doc="The non-trainable weights, nested by layer path.")

    def regularization_loss(self, params):
        """The sum of every layer's weight penalties for ``params`` (a pure function)."""
        return sum((layer.regularization_loss(state_lib.get_path(params, layer.path))
                    for layer in self._unique_layers() if layer.params),
                   jnp.zeros((), jnp.float32))

    def apply_constraints(self, params):
        """``params`` with every layer's weight constraints applied (a pure function)."""
        for layer in self._unique_layers():
            if layer.params:
                sub = layer.apply_constraints(state_lib.get_path(params, layer.path))
                params = state_lib.set_path(params, layer.path, sub)
        return params

    def _unique_layers(self):
        return list({id(layer): layer for layer in self._layers}.values())

    def _weight_list(self, prefix):
        weights = []
        for layer in self._unique_layers():
            path = f"{prefix}/{layer.path}" if prefix else layer.path
            weights += layer._weight_list(path)
        return weights

    @property
    def weights(self):
        """Every weight, layer by layer; paths are those of ``state.flatten(params)``."""
        return self._weight_list("")

    def _leaves(self):
        return [leaf for layer in self._unique_layers() for leaf in layer._leaves()]

    # -- building ----------------------------------------------------------------------------
    def _build(self, args):
        # One abstract pass of call(): every layer builds from the shapes it sees.
        with frame_lib.active(None), frame_lib.building(), training_lib.training_mode(False):
            jax.eval_shape(lambda a: self._call_with(a, {}, False), args)
        self.input_shapes = jax.tree_util.tree_map(symbolic.shape_of, args)
        self.built = True

    def build(self, *input_shapes):
        """Builds every layer for inputs of these shapes (``None`` for the batch axis).

        >>> import jkeras
        >>> m = jkeras.Sequential([jkeras.layers.Dense(4)])
        >>> m.build((None, 3)); m.count_params()
        16
        """
        inputs = [jax.tree_util.tree_map(lambda s: symbolic.KerasTensor(s).spec(), shape,
                                         is_leaf=lambda s: isinstance(s, tuple))
                  for shape in input_shapes]
        self._build(inputs)

    def _fresh(self, rng):
        params, state = {}, {}
        for layer in self._unique_layers():
            p, s = layer._fresh(rng)
            if p:
                params = state_lib.set_path(params, layer.path, p)
            if s:
                state = state_lib.set_path(state, layer.path, s)
        return params, state

    def init(self, rng, *example_inputs):
        """Fresh ``(params, state)`` for the whole model, drawn from ``rng`` by layer path.

        >>> import jax, jax.numpy as jnp, jkeras
        >>> m = jkeras.Sequential([jkeras.layers.Dense(4)])
        >>> params, state = m.init(jax.random.key(0), jnp.ones((1, 3)))
        """
        with random_lib.init_keys(rng):
            if not self.built:
                self._build(example_inputs)
            return self._fresh(rng)

    # -- calling -----------------------------------------------------------------------------
    def call(self, *inputs, training=False):
        """The forward computation in Keras style: call the model's layers on ``inputs``."""
        raise NotImplementedError(f"{type(self).__name__} must define call(self, inputs, "
                                  "training=False)")

    def _call_with(self, args, kwargs, training):
        if "training" in inspect.signature(self.call).parameters:
            kwargs = {**kwargs, "training": training}
        return self.call(*args, **kwargs)

    def _check_inputs(self, shapes):
        pass  # each layer checks its own inputs, naming itself

    def _apply(self, params, state, inputs, kwargs, training, rng):
        frame = frame_lib.Frame(self, self._paths, params, state, training, rng)
        with frame_lib.active(frame):
            out = self._call_with(inputs, kwargs, training)
        return out, frame.state

    def save(self, filepath, overwrite=True):
        """Saves the whole model (config, weights, compile state) as a Keras 3 ``.keras``
        file, atomically; ``jkeras.models.load_model`` (or Keras 3) reads it back.

        >>> import jkeras, tempfile, os
        >>> m = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
        >>> m.save(os.path.join(tempfile.mkdtemp(), "m.keras"))
        """
        from ..saving import keras_file
        keras_file.save_model(self, filepath, overwrite=overwrite)

    def to_json(self, **kwargs):
        """The model's config as a JSON string (Keras' form; ``model_from_json`` reads it).

        >>> import jkeras
        >>> m = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
        >>> jkeras.models.model_from_json(m.to_json()).count_params()
        8
        """
        import json
        from ..saving import serialization
        return json.dumps(serialization.serialize_keras_object(self), **kwargs)

    def export(self, filepath, format="tf_saved_model", **kwargs):
        """Keras 3's ``model.export``: a SavedModel for TF Serving at ``filepath`` (frozen in
        inference mode), or ``format="jax_export"`` for the TF-free artifact; see
        :mod:`jkeras.serve`.

        >>> import jkeras, tempfile, os
        >>> m = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
        >>> path = m.export(os.path.join(tempfile.mkdtemp(), "m"), format="jax_export")
        """
        from .. import serve  # the export stack loads only when used
        return serve.export(self, filepath, format=format, **kwargs)

    def summary(self, print_fn=print):
        """Prints each layer's path, type, output shape and parameter count, then totals.

        >>> import jkeras
        >>> m = jkeras.Sequential([jkeras.layers.Dense(4)]); m.build((None, 3))
        >>> m.summary()  # doctest: +ELLIPSIS
        Model: "sequential..."
        ...
        """
        self._require_built("summary")
        rows = [("Layer (type)", "Output Shape", "Param #")]
        for layer in self._layers:
            shape = layer.output_shape
            count = sum(int(w.value.size) for w in layer._weight_list(layer.path))
            rows.append((f"{layer.path} ({type(layer).__name__})",
                         "?" if shape is None else str(shape), f"{count:,}"))
        widths = [max(len(r[i]) for r in rows) + 2 for i in range(3)]
        line = "-" * sum(widths)
        weights = self.weights
        trainable = sum(int(w.value.size) for w in weights if w.trainable)
        total = sum(int(w.value.size) for w in weights)
        print_fn(f'Model: "{self.path}"')
        print_fn(line)
        for i, row in enumerate(rows):
            print_fn("".join(cell.ljust(width) for cell, width in zip(row, widths)))
            print_fn("=" * sum(widths) if i in (0, len(rows) - 1) else line)
        print_fn(f"Total params: {total:,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {total - trainable:,}")
