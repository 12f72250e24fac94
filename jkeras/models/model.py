"""``Model``: a layer made of layers, whose params nest its layers' by path."""
import functools

from .. import symbolic
from ..layers.keras_style import KerasLayer
from .trainer import Trainer


@functools.cache
def _functional_subclass(cls, functional):
    return type(cls.__name__, (cls, functional),
                {"__module__": cls.__module__, "__qualname__": cls.__qualname__})


class Model(Trainer, KerasLayer):
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

    _weights_prefixed = False
    _functional = None  # the Functional class, which registers itself on import

    def __new__(cls, *args, **kwargs):
        outputs = args[1] if len(args) > 1 else kwargs.get("outputs")
        if (cls is Model and (args or "inputs" in kwargs)) or symbolic.is_symbolic(outputs):
            functional = Model._functional  # set by jkeras.models.functional, a subclass
            if not issubclass(cls, functional):
                # A subclass called as CustomModel(inputs, outputs) is a functional model
                # with the subclass's methods, as in Keras.
                cls = functional if cls is Model else _functional_subclass(cls, functional)
        return super().__new__(cls)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A model from its config: ``Model.from_config`` of a functional config is a
        functional model, as in Keras; ``custom_objects`` names your own layers.

        >>> import jkeras
        >>> x = jkeras.Input((3,))
        >>> m = jkeras.Model(x, jkeras.layers.Dense(2)(x))
        >>> jkeras.Model.from_config(m.get_config()).count_params()
        8
        """
        if cls is Model and all(k in config for k in ("layers", "input_layers",
                                                      "output_layers")):
            return Model._functional.from_config(config, custom_objects)
        from ..saving import serialization
        with serialization.custom_object_scope(custom_objects):
            return super().from_config(config)

    @property
    def weights(self):
        """Every weight, layer by layer; paths are those of ``state.flatten(params)``."""
        return self._weight_list("")

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

        A layer not built yet shows ``?`` and ``0 (unbuilt)``, as in Keras.

        >>> import jkeras
        >>> m = jkeras.Sequential([jkeras.layers.Dense(4)]); m.build((None, 3))
        >>> m.summary()  # doctest: +ELLIPSIS
        Model: "sequential..."
        ...
        """
        rows = [("Layer (type)", "Output Shape", "Param #")]
        for layer in self._layers:
            shape = layer.output_shape
            count = sum(int(w.value.size) for w in layer._weight_list(layer.path))
            rows.append((f"{layer.path} ({type(layer).__name__})",
                         "?" if shape is None else str(shape),
                         f"{count:,}" if layer.built else "0 (unbuilt)"))
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
