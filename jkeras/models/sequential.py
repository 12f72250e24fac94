"""``Sequential``: a plain stack of layers, each called on the previous one's output."""
from .. import symbolic
from ..layers.base import Layer
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
        mask = None
        for layer in self._layers:
            kwargs = {"mask": mask} if mask is not None and layer.accepts_mask else {}
            x, mask = layer(x, **kwargs), layer.compute_mask(x, mask)
        return x
