"""Symbolic tensors for the functional API: a shape, a dtype and the call that made them."""
import jax
import jax.numpy as jnp
import numpy as np

from . import masks

_MAX_RANK = 8
_dims = []


def _symbols():
    # One symbol per axis position, all in one scope, so two inputs' unknown batch
    # dimensions are the same symbol and combine (Add, Concatenate) without complaint.
    if not _dims:
        _dims.extend(jax.export.symbolic_shape(", ".join(f"d{i}" for i in range(_MAX_RANK))))
    return _dims


class Node:
    """One layer call in a functional graph: ``outputs = layer(*args, **kwargs)``.

    The layer keeps its nodes, first call first, so that ``layer.input`` and
    ``layer.output`` name the tensors of its first call, as in Keras.
    """

    def __init__(self, layer, args, kwargs, training):
        self.layer, self.args, self.kwargs, self.training = layer, args, kwargs, training
        self.outputs = None
        layer.__dict__.setdefault("_inbound_nodes", []).append(self)

    @property
    def inputs(self):
        """The call's tensor arguments: the first positional one, or all of them."""
        return self.args[0] if len(self.args) == 1 else list(self.args)

    def output_mask(self, tensor):
        """The mask of one of this call's outputs: the layer's ``compute_mask`` of the
        call's first input and that input's mask (or the ``mask=`` given), on shapes."""
        first = self.args[0] if self.args else None
        mask = self.kwargs.get("mask")
        if mask is None:
            mask = masks.attached(first)
        spec = lambda t: t.spec() if isinstance(t, KerasTensor) else t
        out = jax.eval_shape(self.layer.compute_mask,
                             *jax.tree_util.tree_map(spec, (first, mask)))
        out = jax.tree_util.tree_map(lambda s: KerasTensor(shape_of(s), s.dtype), out)
        return next(m for t, m in masks.pairs(self.outputs, out) if t is tensor)


def first_node(layer, what):
    """The node of ``layer``'s first call on symbolic tensors, or a clear error."""
    nodes = layer.__dict__.get("_inbound_nodes")
    if not nodes:
        raise ValueError(f"{layer!r} has never been called on a symbolic tensor, so it has no "
                         f"{what}. Call it on jkeras.Input(...) (or on a layer's output) first.")
    return nodes[0]


class KerasTensor:
    """A symbolic tensor: what ``Input`` returns and layers return when called on one.

    >>> import jkeras
    >>> x = jkeras.Input(shape=(784,))
    >>> x.shape
    (None, 784)
    """

    def __init__(self, shape, dtype="float32", node=None, name=None):
        self.shape = tuple(shape)
        self.dtype = jnp.dtype(dtype)
        self.node = node
        self.name = name

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def _keras_mask(self):
        """Keras' symbolic mask of this tensor, or ``None``: see :mod:`jkeras.masks`.

        >>> import jkeras
        >>> x = jkeras.Input(shape=(None,), dtype="int32")
        >>> jkeras.layers.Embedding(10, 4, mask_zero=True)(x)._keras_mask.shape
        (None, None)
        """
        if "_mask" not in self.__dict__:
            self._mask = None if self.node is None else self.node.output_mask(self)
        return self._mask

    def spec(self):
        """A ``jax.ShapeDtypeStruct`` with a symbolic dimension for each ``None``."""
        if self.ndim > _MAX_RANK:
            raise ValueError(f"KerasTensor rank {self.ndim} is above the supported {_MAX_RANK}")
        dims = _symbols()
        return jax.ShapeDtypeStruct(
            tuple(dims[i] if d is None else d for i, d in enumerate(self.shape)), self.dtype)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape} dtype={self.dtype.name}" + (
            f" from {self.node.layer.path!r}>" if self.node else ">")

    def __array__(self, *args, **kwargs):
        raise TypeError("A KerasTensor is symbolic: it has no values. Build a Model from it, "
                        "or call the layer on a real array.")


def Input(shape=None, batch_size=None, dtype="float32", name=None, batch_shape=None):
    """A symbolic input for the functional API (the batch dimension is left out of ``shape``).

    >>> import jkeras
    >>> x = jkeras.Input(shape=(28, 28), name="image")
    >>> x.shape
    (None, 28, 28)
    """
    if batch_shape is None:
        if shape is None:
            raise ValueError("Input needs shape= (without the batch dimension) or batch_shape=")
        batch_shape = (batch_size, *tuple(shape))
    for d in batch_shape:
        if d is not None and (not isinstance(d, (int, np.integer)) or d < 0):
            raise ValueError(f"Input: dimensions must be non-negative ints or None, got {batch_shape}")
    return KerasTensor(tuple(None if d is None else int(d) for d in batch_shape), dtype, name=name)


def is_symbolic(tree):
    return any(isinstance(leaf, KerasTensor) for leaf in jax.tree_util.tree_leaves(tree))


def shape_of(x):
    """The shape of an array, tracer or KerasTensor; unknown (symbolic) dims become None."""
    shape = x.shape if hasattr(x, "shape") else np.shape(x)
    return tuple(int(d) if isinstance(d, (int, np.integer)) else None for d in shape)
