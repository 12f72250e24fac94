"""Functional models: a graph of layer calls from symbolic ``Input``s to outputs."""
import functools
import inspect

import jax

from .. import masks as masks_lib
from .. import symbolic
from .model import Model


def _topological_nodes(owner, outputs, inputs):
    """The layer calls that lead from ``inputs`` to ``outputs``, each after its arguments."""
    known = {id(t) for t in inputs}
    order, seen = [], set()

    def visit(tensor):
        if id(tensor) in known:
            return
        node = tensor.node
        if node is None:
            raise ValueError(
                f"{owner!r}: an output depends on {tensor!r}, which is not one of the model's "
                "inputs. Pass every Input the outputs are computed from in `inputs`.")
        if id(node) in seen:
            return
        for arg in jax.tree_util.tree_leaves((node.args, node.kwargs)):
            if isinstance(arg, symbolic.KerasTensor):
                visit(arg)
        seen.add(id(node))
        order.append(node)

    for tensor in outputs:
        visit(tensor)
    return order


def _producer(model, tensor):
    """The node that made ``tensor`` inside ``model``, or the tensor itself for an input."""
    inputs = {id(t) for t in jax.tree_util.tree_leaves(model.inputs)}
    return tensor if id(tensor) in inputs or tensor.node is None else tensor.node


def keras_order(model):
    """The model's operations (input tensors and layers) in the order Keras 3 lists a
    functional model's layers: by depth from the inputs, ties by first visit from the
    outputs. ``model.layers`` (and so ``get_weights``) and Keras' weight files follow it.

    >>> import jkeras
    >>> from jkeras import layers
    >>> a, b = jkeras.Input((3,)), jkeras.Input((3,))
    >>> deep = layers.Dense(2, name="deep")(layers.Dense(2, name="first")(a))
    >>> out = layers.Add(name="add")([deep, layers.Dense(2, name="shallow")(b)])
    >>> [layer.name for layer in jkeras.Model([a, b], out).layers]
    ['first', 'deep', 'shallow', 'add']
    """
    index, post, done = {}, [], set()

    def parents(node):
        leaves = jax.tree_util.tree_leaves((node.args, node.kwargs))
        return [_producer(model, t) for t in leaves if isinstance(t, symbolic.KerasTensor)]

    def op(item):
        return item if isinstance(item, symbolic.KerasTensor) else item.layer

    def visit(item):  # Keras' _build_map: pre-order indices, post-order nodes
        if id(item) in done:
            return
        index.setdefault(id(op(item)), (len(index), op(item)))
        if isinstance(item, symbolic.Node):
            for parent in parents(item):
                visit(parent)
        done.add(id(item))
        post.append(item)

    for t in jax.tree_util.tree_leaves(model.outputs):
        visit(_producer(model, t))
    node_depth, op_depth = {}, {}
    for item in reversed(post):
        depth = max(node_depth.setdefault(id(item), 0), op_depth.get(id(op(item)), 0))
        op_depth[id(op(item))] = node_depth[id(item)] = depth
        if isinstance(item, symbolic.Node):
            for parent in parents(item):
                node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    ops = sorted(index.values(), key=lambda v: (-op_depth[id(v[1])], v[0]))
    return [o for _, o in ops]


def _is_shape(x):
    return isinstance(x, tuple) and all(d is None or isinstance(d, int) for d in x)


class Functional(Model):
    """A model defined by ``Model(inputs, outputs)`` over symbolic tensors.

    >>> import jkeras
    >>> from jkeras import layers
    >>> a, b = jkeras.Input(shape=(3,)), jkeras.Input(shape=(3,))
    >>> shared = layers.Dense(4)
    >>> out = layers.Add()([shared(a), shared(b)])     # one set of weights, used twice
    >>> model = jkeras.Model([a, b], out)
    >>> sorted(model.params)
    ['dense']
    """

    # Its layers cast their own inputs (Keras converts a container's inputs to its
    # Inputs' dtypes, float32, not to its compute dtype).
    autocast = False

    def __init__(self, inputs, outputs, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        in_leaves, out_leaves = (jax.tree_util.tree_leaves(t) for t in (inputs, outputs))
        for t in in_leaves + out_leaves:
            if not isinstance(t, symbolic.KerasTensor):
                raise TypeError(f"{self!r}: inputs and outputs must be symbolic tensors (from "
                                f"jkeras.Input and layers called on them), got {type(t).__name__}")
        self.inputs, self.outputs = inputs, outputs
        self._nodes = _topological_nodes(self, out_leaves, in_leaves)
        for item in keras_order(self):  # the nodes run in _nodes' order
            if not isinstance(item, symbolic.KerasTensor):
                self._track(item)
        self.input_shapes = (jax.tree_util.tree_map(lambda t: t.shape, inputs),)
        self.output_shape = jax.tree_util.tree_map(lambda t: t.shape, outputs)
        self.built = True

    def get_config(self):
        """Keras 3's functional config: layers with their calls (``inbound_nodes``).

        >>> import jkeras
        >>> x = jkeras.Input((3,), name="x")
        >>> m = jkeras.Model(x, jkeras.layers.Dense(2, name="out")(x))
        >>> m.get_config()["output_layers"]
        ['out', 0, 0]
        """
        from ..saving import model_config
        return model_config.functional_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuilds the graph from ``get_config()`` (or a Keras 3 functional config);
        ``custom_objects`` names your own layers (``{"CustomDense": CustomDense}``).

        >>> import jkeras
        >>> x = jkeras.Input((3,))
        >>> m = jkeras.Model(x, jkeras.layers.Dense(2)(x))
        >>> Functional.from_config(m.get_config()).count_params()
        8
        """
        from ..saving import model_config, serialization
        with serialization.custom_object_scope(custom_objects):
            return model_config.functional_from_config(cls, config)

    @property
    def input(self):
        """The model's symbolic inputs, as given to ``Model(inputs, outputs)``."""
        return self.inputs

    @property
    def output(self):
        """The model's symbolic outputs, as given to ``Model(inputs, outputs)``."""
        return self.outputs

    def apply(self, params, state, *inputs, **kwargs):
        """``Layer.apply``; the inputs may also be a dict keyed by the ``Input`` names."""
        if len(inputs) == 1:
            inputs = (self._arrange(inputs[0]),)
        return super().apply(params, state, *inputs, **kwargs)

    def _arrange(self, x):
        """A dict keyed by ``Input`` names, or one array for a one-``Input`` list, put in
        the structure of ``inputs`` (Keras')."""
        if isinstance(self.inputs, (list, tuple)) and len(self.inputs) == 1 and \
                not isinstance(x, (list, tuple, dict)):
            return type(self.inputs)([x])
        if not isinstance(x, dict) or isinstance(self.inputs, dict):
            return x
        tensors, treedef = jax.tree_util.tree_flatten(self.inputs)
        names = [t.name for t in tensors]
        if None in names or sorted(names) != sorted(x):
            raise ValueError(
                f"{self!r} got inputs keyed by {sorted(x)}, but its Inputs are named {names}: "
                "a dict of inputs needs one key per Input, its name "
                "(jkeras.Input(shape, name=...)).")
        return jax.tree_util.tree_unflatten(treedef, [x[n] for n in names])

    def _check_inputs(self, shapes):
        expected = jax.tree_util.tree_map(lambda t: t.shape, self.inputs)
        shapes = shapes[0] if len(shapes) == 1 else shapes
        want = jax.tree_util.tree_structure(self.inputs)
        got = jax.tree_util.tree_structure(shapes, is_leaf=_is_shape)
        if want != got:
            raise ValueError(f"{self!r} expects inputs structured like {expected}, got {shapes}")
        for want_shape, shape in zip(jax.tree_util.tree_leaves(expected, is_leaf=_is_shape),
                                     jax.tree_util.tree_leaves(shapes, is_leaf=_is_shape)):
            if len(shape) != len(want_shape) or any(
                    w is not None and g is not None and w != g for w, g in zip(want_shape, shape)):
                raise ValueError(f"{self!r} expects an input of shape {want_shape}, got {shape}")

    def _input_values(self, inputs):
        return {id(t): x for t, x in zip(jax.tree_util.tree_leaves(self.inputs),
                                          jax.tree_util.tree_leaves(inputs))}

    def call(self, inputs, training=None):
        values = self._input_values(inputs)
        masks = {}  # id(tensor) -> the mask computed for it, where there is one
        take = lambda leaf: values[id(leaf)] if isinstance(leaf, symbolic.KerasTensor) else leaf
        for node in self._nodes:
            args, kwargs = jax.tree_util.tree_map(take, (node.args, node.kwargs))
            first = node.args[0] if node.args else None
            mask = jax.tree_util.tree_map(lambda t: masks.get(id(t)), first)
            if node.layer.accepts_mask and "mask" not in kwargs and jax.tree_util.tree_leaves(mask):
                kwargs["mask"] = mask
            for i, arg, mask_arg in _masked_args(type(node.layer)):
                # As Keras: an argument's mask fills the `<argument>_mask` parameter.
                tensor = node.args[i] if i < len(node.args) else node.kwargs.get(arg)
                if mask_arg not in kwargs and id(tensor) in masks:
                    kwargs[mask_arg] = masks[id(tensor)]
            out = node.layer(*args, training=node.training, **kwargs)
            out_mask = node.layer.compute_mask(args[0] if args else None,
                                               mask if jax.tree_util.tree_leaves(mask) else None)
            for (t, m), x in zip(masks_lib.pairs(node.outputs, out_mask),
                                 jax.tree_util.tree_leaves(out)):
                values[id(t)] = x
                if m is not None:
                    masks[id(t)] = m
        return jax.tree_util.tree_map(take, self.outputs)


Model._functional = Functional  # what Model(inputs, outputs) builds, without an import cycle


@functools.cache
def _masked_args(cls):
    """``(position, name, name + "_mask")`` for each ``call`` argument with a mask parameter."""
    # Call arguments, less self and a leaf layer's (params, state).
    names = [n for n in inspect.signature(cls.call).parameters
             if n not in ("self", "params", "state")]
    return tuple((i, n, f"{n}_mask") for i, n in enumerate(names) if f"{n}_mask" in names)
