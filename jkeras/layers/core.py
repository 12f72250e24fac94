"""Core layers: ``Dense``, ``Activation``, ``Embedding``, ``Identity``, ``Rescaling``,
``Lambda``."""
import inspect

import jax
import jax.numpy as jnp

from .. import activations, constraints, initializers, regularizers
from .base import InputSpec, Layer, flag, index_problem, option, positive_int


class Dense(Layer):
    """A densely connected layer: ``activation(x @ kernel + bias)`` on the last axis.

    >>> import jax.numpy as jnp
    >>> Dense(128, activation="relu")(jnp.ones((32, 784))).shape
    (32, 128)
    """

    supports_masking = True  # as Keras 3: a mask passes through unchanged

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.kernel_regularizer = option(self, "kernel_regularizer", regularizers.get,
                                         kernel_regularizer)
        self.bias_regularizer = option(self, "bias_regularizer", regularizers.get,
                                       bias_regularizer)
        self.kernel_constraint = option(self, "kernel_constraint", constraints.get,
                                        kernel_constraint)
        self.bias_constraint = option(self, "bias_constraint", constraints.get, bias_constraint)
        self.units = positive_int(self, "units", units)
        self.activation = option(self, "activation", activations.get, activation)
        self.use_bias = flag(self, "use_bias", use_bias)
        self.kernel_initializer = option(self, "kernel_initializer", initializers.get,
                                         kernel_initializer)
        self.bias_initializer = option(self, "bias_initializer", initializers.get,
                                       bias_initializer)
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, rng, input_shape):
        if input_shape[-1] is None:
            raise ValueError(f"{self!r} needs a known last input dimension, got {input_shape}")
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_shape[-1]})
        params = {"kernel": self.kernel_initializer(rng, (input_shape[-1], self.units), self.dtype)}
        if self.use_bias:
            # A key of its own (the kernel keeps rng's draws), for random bias initializers.
            params["bias"] = self.bias_initializer(jax.random.fold_in(rng, 1), (self.units,),
                                                   self.dtype)
        return params, {}

    def call(self, params, state, x, *, training=False, rng=None):
        y = jnp.matmul(x, params["kernel"])
        if self.use_bias:
            y = y + params["bias"]
        return self.activation(y), state


class Activation(Layer):
    """Applies an activation function, by name or callable.

    >>> import jax.numpy as jnp
    >>> Activation("relu")(jnp.array([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, params, state, x, *, training=False, rng=None):
        return self.activation(x), state


class Identity(Layer):
    """Returns its input unchanged.

    >>> import jax.numpy as jnp
    >>> Identity()(jnp.ones(2)).tolist()
    [1.0, 1.0]
    """

    supports_masking = True

    def call(self, params, state, x, *, training=False, rng=None):
        return x, state


class Embedding(Layer):
    """Maps integer indices in ``[0, input_dim)`` to dense vectors of size ``output_dim``.

    With ``mask_zero=True`` index 0 is padding, and the layers after it in a model get
    the mask ``inputs != 0`` (recurrent layers then skip those steps).

    An eager call checks the indices: a negative, too large or fractional one raises a
    ValueError. Traced (under ``jax.jit``, in a model's ``apply`` or ``fit``) values cannot
    be checked: as in Keras on JAX, an index past the end gives a row of NaN, a negative
    one counts from the end and a float one is truncated.

    >>> import jax.numpy as jnp
    >>> Embedding(1000, 64)(jnp.array([[4, 20, 7]])).shape
    (1, 3, 64)
    """

    autocast = False  # as Keras 3: a float32 table; rows come out in the compute dtype

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", mask_zero=False,
                 embeddings_regularizer=None, embeddings_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = mask_zero
        self.input_dim = positive_int(self, "input_dim", input_dim)
        self.output_dim = positive_int(self, "output_dim", output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)

    def build(self, rng, input_shape):
        shape = (self.input_dim, self.output_dim)
        return {"embeddings": self.embeddings_initializer(rng, shape, self.dtype)}, {}

    def compute_mask(self, inputs, mask=None):
        """With ``mask_zero=True``, index 0 is padding: the mask is ``inputs != 0``."""
        return inputs != 0 if self.mask_zero else None

    def _eager_call(self, args, kwargs, training):
        problem = index_problem(args[0], self.input_dim)
        if problem:
            raise ValueError(f"{self!r} expects integer indices in [0, {self.input_dim}) (its "
                             f"input_dim), {problem}.")
        return super()._eager_call(args, kwargs, training)

    def call(self, params, state, x, *, training=False, rng=None):
        if not jnp.issubdtype(x.dtype, jnp.integer):
            x = x.astype(jnp.int32)
        return jnp.take(params["embeddings"], x, axis=0), state


class Rescaling(Layer):
    """``x * scale + offset``, in the compute dtype (integer inputs such as pixels included).

    ``scale`` and ``offset`` are numbers or arrays broadcastable to the input (e.g. one per
    channel, channels last).

    >>> import jax.numpy as jnp
    >>> Rescaling(1 / 2, offset=-1)(jnp.array([0, 4])).tolist()
    [-1.0, 1.0]
    """

    supports_masking = True

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = scale, offset

    def call(self, params, state, x, *, training=False, rng=None):
        dtype = self.compute_dtype
        scale = jnp.asarray(self.scale, dtype)
        return x.astype(dtype) * scale + jnp.asarray(self.offset, dtype), state


def _shape_like(value):
    return isinstance(value, (tuple, list)) and all(
        v is None or isinstance(v, int) for v in value)


class Lambda(Layer):
    """Wraps ``function(inputs)`` as a layer without weights.

    ``function`` must be PURE: a function of its array arguments made of JAX operations,
    with no side effects, no Python state it reads or changes between calls, and no
    randomness of its own. It is traced once per input shape and the trace is reused
    (under ``jax.jit``, in eager calls too), so anything else would run once, not per call.
    If it takes ``training`` or ``mask`` arguments it gets the call's (``training`` is a
    Python bool); ``arguments`` is a dict of extra keyword arguments.

    The output shape is found by tracing ``function``; ``output_shape`` (less the batch
    axis, or a function of the input shape) is optional and, when given, checked against
    it by ``compute_output_shape``. ``mask`` is the output mask: a fixed value or a function
    ``mask(inputs, input_mask)``; by default the layer drops masks, as in Keras.

    >>> import jax.numpy as jnp
    >>> Lambda(lambda x: x ** 2)(jnp.array([1.0, 3.0])).tolist()
    [1.0, 9.0]
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"{self!r}: function must be callable, got {function!r}")
        self.function, self.arguments = function, dict(arguments or {})
        self._output_shape, self.mask = output_shape, mask
        self.supports_masking = mask is not None
        try:
            takes = inspect.signature(function).parameters
        except (TypeError, ValueError):  # some builtins have no signature
            takes = {}
        self._takes_training, self._takes_mask = "training" in takes, "mask" in takes

    def call(self, params, state, inputs, *, training=False, rng=None, mask=None):
        kwargs = dict(self.arguments)
        if self._takes_training:
            kwargs["training"] = training
        if self._takes_mask:
            kwargs["mask"] = mask
        return self.function(inputs, **kwargs), state

    def compute_mask(self, inputs, mask=None):
        return self.mask(inputs, mask) if callable(self.mask) else self.mask

    def compute_output_shape(self, *input_shapes):
        shape = super().compute_output_shape(*input_shapes)
        if self._output_shape is not None:
            declared = self._declared_shape(input_shapes)
            if not _compatible(declared, shape):
                raise ValueError(f"{self!r}: output_shape={self._output_shape!r} says the "
                                 f"output shape is {declared}, but the function gives {shape} "
                                 f"for inputs of shape {input_shapes[0]}.")
        return shape

    def _declared_shape(self, input_shapes):
        if callable(self._output_shape):
            return self._output_shape(*input_shapes)
        first = input_shapes[0]
        while isinstance(first, (tuple, list)) and first and isinstance(first[0], (tuple, list)):
            first = first[0]  # the first input of a list of inputs
        batch = first[0]

        def add_batch(shape):
            return (batch, *shape) if _shape_like(shape) else [add_batch(s) for s in shape]
        return add_batch(self._output_shape)


def _compatible(declared, shape):
    """Whether two shapes (or nests of shapes) agree, ``None`` matching any size."""
    if _shape_like(declared) and _shape_like(shape):
        return len(declared) == len(shape) and all(
            a is None or b is None or a == b for a, b in zip(declared, shape))
    if _shape_like(declared) or _shape_like(shape) or len(declared) != len(shape):
        return False
    return all(_compatible(d, s) for d, s in zip(declared, shape))
