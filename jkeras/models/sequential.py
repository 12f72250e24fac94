"""``Sequential``: a plain stack of layers, each called on the previous one's output."""
import jax

from .. import frame as frame_lib
from .. import symbolic
from ..layers.base import Layer, note_weight_change
from .model import Model


class Sequential(Model):
    """A linear stack of layers.

    It builds as soon as its input shape is known: from an ``Input`` first element,
    ``input_shape=``/``input_dim=`` on the first layer, ``build()``, or the first call.

    >>> import jkeras
    >>> from jkeras import layers
    >>> model = jkeras.Sequential([layers.Dense(32, activation="relu", input_dim=784),
    ...                            layers.Dense(10, activation="softmax")])
    >>> model.count_params()
    25450
    """

    # Its layers cast their own inputs (Keras converts a container's inputs to its
    # Inputs' dtypes, float32, not to its compute dtype).
    autocast = False

    def __init__(self, layers=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self._input_shape = None
        self._graph = []  # once built: its Input, then each layer's symbolic output
        for layer in layers or ():
            self.add(layer)

    def add(self, layer):
        """Appends a layer (or, first, an ``Input``) to the stack.

        >>> import jkeras
        >>> model = jkeras.Sequential()
        >>> model.add(jkeras.Input(shape=(3,)))
        >>> model.add(jkeras.layers.Dense(2))
        >>> model.built
        True
        """
        if isinstance(layer, symbolic.KerasTensor):
            if self._layers:
                raise ValueError(f"{self!r}: an Input can only be the first element")
            self._input_shape = layer.shape
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"{self!r}.add expects a Layer, got {type(layer).__name__}")
        if not self._layers and self._input_shape is None and layer._batch_input_shape:
            self._input_shape = layer._batch_input_shape
        self._track(layer)
        if self.built:
            self.build(*self.input_shapes)
        elif self._input_shape is not None:
            self.build(self._input_shape)

    def pop(self, rebuild=True):
        """Removes the last layer and returns it, as Keras 3: a model built on a known input
        shape is built again on it (``rebuild=False`` leaves it unbuilt until its next call).

        >>> import jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(3, input_dim=4),
        ...                            jkeras.layers.Dense(2)])
        >>> model.pop().units, model.count_params()
        (2, 15)
        """
        if not self._layers:
            raise ValueError(f"{self!r}.pop: the model has no layers to remove.")
        layer = self._layers.pop()
        self._paths = frame_lib.children_paths(self, self._layers)
        self._jit_cache.clear()
        note_weight_change()
        del self._graph[len(self._layers) + 1:]
        shapes, self.built = self.input_shapes, False
        if rebuild and self._layers and shapes is not None:
            self.build(*shapes)
        return layer

    def _build(self, args):
        super()._build(args)
        # As in Keras 3, a built Sequential is also a graph of symbolic calls from one
        # Input (kept while the input shape stands, extended by add): its layers then
        # have `input`/`output`, for feature extraction, and the model `inputs`/`outputs`.
        if len(args) != 1 or not hasattr(args[0], "dtype"):
            self._graph = []  # a structure of inputs: no single Input to start from
            return
        x = jax.ShapeDtypeStruct(symbolic.shape_of(args[0]), args[0].dtype)
        if self._graph and (self._graph[0].shape, self._graph[0].dtype) != (x.shape, x.dtype):
            self._graph = []
        if not self._graph:
            self._graph = [symbolic.Input(batch_shape=x.shape, dtype=x.dtype)]
        for layer in self._layers[len(self._graph) - 1:]:
            self._graph.append(layer(self._graph[-1]))
        self.output_shape = self._graph[-1].shape

    @property
    def inputs(self):
        """The symbolic ``Input`` the built model starts from, in a list (Keras 3's).

        >>> import jkeras
        >>> model = jkeras.Sequential([jkeras.Input(shape=(3,)), jkeras.layers.Dense(2)])
        >>> [x.shape for x in model.inputs], [y.shape for y in model.outputs]
        ([(None, 3)], [(None, 2)])
        """
        return self._symbolic()[:1]

    @property
    def outputs(self):
        """The symbolic output of the built model's last layer, in a list (Keras 3's)."""
        return self._symbolic()[-1:]

    def _symbolic(self):
        if not self._graph:
            raise ValueError(f"{self!r} has no symbolic inputs: it is not built yet (or takes "
                             "a structure of inputs). Start it with jkeras.Input(shape), or "
                             "call build(input_shape) or the model on data first.")
        return self._graph

    def get_config(self):
        """Keras 3's Sequential config: an ``InputLayer``, then each layer's dict.

        >>> import jkeras
        >>> m = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
        >>> [entry["class_name"] for entry in m.get_config()["layers"]]
        ['InputLayer', 'Dense']
        """
        from ..saving import model_config
        return model_config.sequential_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuilds the model (unbuilt weights: fresh ones, as Keras) from ``get_config()``;
        ``custom_objects`` names your own layers.

        >>> import jkeras
        >>> m = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
        >>> jkeras.Sequential.from_config(m.get_config()).count_params()
        8
        """
        from ..saving import model_config, serialization
        with serialization.custom_object_scope(custom_objects):
            return model_config.sequential_from_config(cls, config)

    def call(self, x, training=None):
        for layer in self._layers:  # each gets the mask the one before gave (jkeras.masks)
            x = layer(x)
        return x
