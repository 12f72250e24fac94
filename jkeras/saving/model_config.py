"""Configs of ``Sequential`` and functional models in Keras 3's form, both ways.

A functional config lists its layers (``InputLayer`` entries for the inputs), each with
the calls that build the graph (``inbound_nodes``) naming their arguments by
``keras_history = [layer name, call index, output index]``.
"""
import jax

from .. import symbolic
from .serialization import deserialize_value, dtype_policy, serialize_keras_object


def input_layer_config(shape, dtype, name):
    """Keras' ``InputLayer`` entry for a model input.

    >>> input_layer_config((None, 3), "float32", "x")["config"]["batch_shape"]
    [None, 3]
    """
    return {"module": "keras.layers", "class_name": "InputLayer",
            "config": {"batch_shape": list(shape), "dtype": str(dtype), "sparse": False,
                       "ragged": False, "name": name, "optional": False},
            "registered_name": None}


def _input_from(entry):
    config = entry["config"]
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if shape is None:
        raise ValueError(f"InputLayer {config.get('name')!r} has no batch_shape")
    return symbolic.Input(batch_shape=tuple(shape), dtype=config.get("dtype") or "float32",
                          name=config.get("name"))


def _base(model):
    return {"name": model.name, "trainable": model.trainable,
            "dtype": dtype_policy(model.dtype)}


# -- Sequential -----------------------------------------------------------------------------

def _sequential_input_shape(model):
    if model._input_shape is not None:
        return tuple(model._input_shape)
    if model.built and model.input_shapes:
        return tuple(model.input_shapes[0])
    return None


def sequential_config(model):
    """``Sequential.get_config()``: an ``InputLayer`` (when the input shape is known), then
    each layer's Keras dict."""
    shape = _sequential_input_shape(model)
    layers = [] if shape is None else [input_layer_config(shape, "float32", "input_layer")]
    layers += [serialize_keras_object(layer) for layer in model.layers]
    config = {**_base(model), "layers": layers}
    if shape is not None:
        config["build_input_shape"] = list(shape)
    return config


def sequential_from_config(cls, config):
    """``Sequential.from_config``: adds each layer in order, then builds."""
    model = cls(name=config.get("name"))
    for entry in config.get("layers", []):
        if isinstance(entry, dict) and entry.get("class_name") == "InputLayer":
            model.add(_input_from(entry))
        else:
            model.add(deserialize_value(entry, f"Sequential {config.get('name')!r}"))
    shape = config.get("build_input_shape")
    if not model.built and shape is not None and model.layers:
        model.build(tuple(shape))
    model._trainable = bool(config.get("trainable", True))
    return model


# -- functional -----------------------------------------------------------------------------

def _names(model):
    """Unique names for the inputs (given or ``input_layer``, ``input_layer_1``...) and
    layers; Keras refers to tensors by these names."""
    inputs = jax.tree_util.tree_leaves(model.inputs)
    used = {layer.name for layer in model.layers}
    if len(used) != len(model.layers):
        raise ValueError(f"{model!r}: two layers share a name (in different name scopes); a "
                         "Keras config refers to layers by name, so give them unique names.")
    input_names, n = [], 0
    for t in inputs:
        name = t.name
        while name is None or name in used:
            name, n = ("input_layer" if n == 0 else f"input_layer_{n}"), n + 1
        used.add(name)
        input_names.append(name)
    return inputs, input_names


def _history_of(model):
    """``{id(tensor): (layer name, node index, tensor index)}`` for every tensor."""
    inputs, input_names = _names(model)
    history = {id(t): (name, 0, 0) for t, name in zip(inputs, input_names)}
    calls = {}
    for node in model._nodes:
        index = calls.get(id(node.layer), 0)
        calls[id(node.layer)] = index + 1
        for i, t in enumerate(jax.tree_util.tree_leaves(node.outputs)):
            history[id(t)] = (node.layer.name, index, i)
    return history


def _tensor_refs(tree, history):
    def ref(leaf):
        if isinstance(leaf, symbolic.KerasTensor):
            return {"class_name": "__keras_tensor__",
                    "config": {"shape": list(leaf.shape), "dtype": leaf.dtype.name,
                               "keras_history": list(history[id(leaf)])}}
        return serialize_keras_object(leaf)
    return jax.tree_util.tree_map(ref, tree, is_leaf=lambda x: isinstance(x, symbolic.KerasTensor))


def _structure(tree, history):
    """Keras' ``input_layers``/``output_layers``: a triple, a list of them or a dict."""
    if isinstance(tree, symbolic.KerasTensor):
        return list(history[id(tree)])
    if isinstance(tree, dict):
        return {k: _structure(v, history) for k, v in tree.items()}
    return [_structure(v, history) for v in tree]


def functional_config(model):
    """``Functional.get_config()``: layers with their calls, inputs and outputs."""
    inputs, input_names = _names(model)
    history = _history_of(model)
    name_of = {id(t): name for t, name in zip(inputs, input_names)}
    layers, entries = [], {}
    from ..models.functional import keras_order
    for item in keras_order(model):
        if isinstance(item, symbolic.KerasTensor):
            entry = input_layer_config(item.shape, item.dtype.name, name_of[id(item)])
            layers.append({**entry, "name": name_of[id(item)], "inbound_nodes": []})
        else:
            entry = entries[id(item)] = serialize_keras_object(item)
            entry.update(name=item.name, inbound_nodes=[])
            layers.append(entry)
    for node in model._nodes:
        entry = entries[id(node.layer)]
        kwargs = dict(node.kwargs)
        if node.training is not None:
            kwargs["training"] = node.training
        entry["inbound_nodes"].append({"args": _tensor_refs(list(node.args), history),
                                       "kwargs": _tensor_refs(kwargs, history)})
    return {**_base(model), "layers": layers,
            "input_layers": _structure(model.inputs, history),
            "output_layers": _structure(model.outputs, history)}


def _is_ref(value):
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _refs_in(tree):
    found = []

    def walk(value):
        if _is_ref(value):
            found.append(tuple(value["config"]["keras_history"]))
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
    walk(tree)
    return found


def _fill(tree, tensors, what):
    if _is_ref(tree):
        return tensors[tuple(tree["config"]["keras_history"])]
    if isinstance(tree, list):
        return [_fill(v, tensors, what) for v in tree]
    if isinstance(tree, dict) and not ("class_name" in tree and "config" in tree):
        return {k: _fill(v, tensors, what) for k, v in tree.items()}
    return deserialize_value(tree, what)


def _pick(structure, tensors, what):
    if isinstance(structure, dict):
        return {k: _pick(v, tensors, what) for k, v in structure.items()}
    if len(structure) == 3 and isinstance(structure[0], str):
        key = tuple(structure)
        if key not in tensors:
            raise ValueError(f"{what}: the config names {key} as an input or output, which "
                             "no layer call produces.")
        return tensors[key]
    return [_pick(v, tensors, what) for v in structure]


def functional_from_config(cls, config):
    """``Functional.from_config``: makes the layers, replays their calls in dependency
    order, and builds the model from the resulting tensors."""
    what = f"functional model {config.get('name')!r}"
    tensors, layers, pending = {}, {}, []
    for entry in config.get("layers", []):
        name = entry.get("name") or entry.get("config", {}).get("name")
        if entry.get("class_name") == "InputLayer":
            tensors[(name, 0, 0)] = _input_from(entry)
            continue
        layer_config = {k: entry[k] for k in ("module", "class_name", "config",
                                              "registered_name") if k in entry}
        layers[name] = deserialize_value(layer_config, what)
        pending += [(name, i, node) for i, node in enumerate(entry.get("inbound_nodes", []))]
    done = set()
    while pending:
        progress, waiting = False, []
        for name, index, node in pending:
            # A layer's calls run in order; each once every tensor it takes exists.
            ready = (index == 0 or (name, index - 1) in done) and all(
                ref in tensors for ref in _refs_in(node))
            if not ready:
                waiting.append((name, index, node))
                continue
            args = _fill(node.get("args", []), tensors, what)
            kwargs = {k: v for k, v in _fill(node.get("kwargs", {}), tensors, what).items()
                      if v is not None}
            out = layers[name](*args, **kwargs)
            for i, t in enumerate(jax.tree_util.tree_leaves(out)):
                tensors[(name, index, i)] = t
            done.add((name, index))
            progress = True
        if not progress:
            raise ValueError(f"{what}: the layer calls in the config refer to tensors no "
                             f"call makes: {[(n, i) for n, i, _ in waiting]}")
        pending = waiting
    inputs = _pick(config["input_layers"], tensors, what)
    outputs = _pick(config["output_layers"], tensors, what)
    model = cls(inputs, outputs, name=config.get("name"))
    model._trainable = bool(config.get("trainable", True))
    return model


def model_from_json(json_string, custom_objects=None):
    """A model (fresh weights) from ``model.to_json()`` or a Keras 3 model's JSON.

    >>> import jkeras
    >>> m = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
    >>> model_from_json(m.to_json()).count_params()
    8
    """
    from .safety import parse_json
    from .serialization import deserialize_keras_object
    config = parse_json(json_string, "model_from_json")
    return deserialize_keras_object(config, custom_objects)


def clone_model(model, clone_function=None):
    """A new model with ``model``'s architecture and fresh weights, as Keras'.

    ``clone_function(layer) -> layer`` makes each layer of a ``Sequential`` model
    (default: ``type(layer).from_config(layer.get_config())``); functional models are
    rebuilt from their config.

    >>> import jkeras
    >>> m = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
    >>> clone_model(m).count_params()
    8
    """
    from ..models.sequential import Sequential
    if isinstance(model, Sequential):
        fn = clone_function or (lambda layer: type(layer).from_config(layer.get_config()))
        clone = Sequential(name=model.name)
        shape = _sequential_input_shape(model)
        if shape is not None:
            clone.add(symbolic.Input(batch_shape=shape))
        for layer in model.layers:
            clone.add(fn(layer))
        return clone
    if clone_function is not None:
        raise ValueError("clone_model: clone_function is supported for Sequential models; a "
                         f"{type(model).__name__} is rebuilt from its config.")
    return type(model).from_config(model.get_config())
