"""Keras 3's ``.keras`` file: a zip of ``config.json``, ``metadata.json`` and
``model.weights.h5``, read and written both ways with Keras.

In the h5 file a model's layers sit under ``layers/<key>``, the key the layer's class in
snake case made unique in the order of the config's layer list (``dense``, ``dense_1``);
a layer's arrays are ``vars/0``, ``vars/1``, ... in ``get_weights`` order, except where a
Keras layer keeps them on an inner object (an RNN's ``cell``, a wrapper's ``layer``,
attention's ``query_dense`` ...). The optimizer's variables are ``optimizer/vars/<i>``:
``iterations``, the learning rate, then the trainable weights' slots (grouped as Keras'
optimizer creates them: Adam's ``momentum`` and ``velocity`` weight by weight, RMSprop's
``velocity`` for every weight, then its ``momentum`` ...).
"""
import datetime
import io
import json
import zipfile

import jax
import jax.numpy as jnp
import numpy as np

from .. import initializers, naming
from .. import state as state_lib
from . import safety
from .atomic import atomic_write
from .h5_writer import H5Writer
from .serialization import (custom_object_scope, _safe_mode, deserialize_value,
                            serialize_keras_object)

CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
KERAS_FORMAT_VERSION = "3.15.1"  # the Keras release whose file layout this follows


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("Keras files need h5py: pip install h5py (a jkeras dependency)") \
            from None
    return h5py


# -- where each weight lives in Keras' h5 layout ---------------------------------------------

def _inner_group(layer, rest):
    """The h5 group (relative to the layer's) holding the weight at ``rest`` in the layer."""
    from ..layers.attention import MultiHeadAttention
    from ..layers.recurrent import Recurrent
    from ..layers.wrappers import Bidirectional, TimeDistributed
    if isinstance(layer, Recurrent):
        return "cell"
    head, _, tail = rest.partition("/")
    if isinstance(layer, Bidirectional):
        side = "forward_layer" if head == layer.forward_layer.name else "backward_layer"
        return f"{side}/cell"
    if isinstance(layer, TimeDistributed):
        inner = _inner_group(layer.layer, tail)
        return f"layer/{inner}" if inner else "layer"
    if isinstance(layer, MultiHeadAttention) and tail:
        return {"attention_output": "output_dense"}.get(head, f"{head}_dense")
    return ""


def _children(model, config):
    """``(h5 key, layer or None)`` for the entries of a model's config, in Keras' order."""
    used, out = {}, []
    entries = config.get("layers")
    if entries is None:  # a subclassed model: Keras 3 files its layers by attribute
        attributes = {id(v): k for k, v in vars(model).items() if not k.startswith("_")}
        return [(attributes.get(id(layer), layer.name), layer,
                 {"config": layer.get_config() if hasattr(layer, "_unique_layers") else {}})
                for layer in model.layers]
    layers = iter(model.layers)
    for entry in entries:
        class_name = entry.get("class_name", "")
        base = naming.to_snake_case(class_name)
        n = used.get(base)
        used[base] = 0 if n is None else n + 1
        key = base if n is None else f"{base}_{n + 1}"
        if class_name == "InputLayer":
            if type(model).__name__ != "Sequential":  # Keras' Sequential lists no InputLayer
                out.append((key, None, entry))
            else:
                used[base] = n if n is not None else None
                if n is None:
                    del used[base]
            continue
        if type(model).__name__ == "Sequential":
            layer = next(layers)
        else:
            layer = model.get_layer(entry.get("name") or entry["config"]["name"])
        out.append((key, layer, entry))
    return out


class _Slot:
    """One h5 ``vars`` group: the layer weights it holds (by index in ``layer.weights``)."""

    def __init__(self, group, layer, indices, name, param_prefix):
        self.group, self.layer, self.indices = group, layer, indices
        self.name, self.param_prefix = name, param_prefix

    def weights(self):
        weights = self.layer.weights if self.layer is not None else []
        return [weights[i] for i in self.indices]

    def param_paths(self):
        """Each weight's path in the top model's ``params``/``state`` tree."""
        return [self.param_prefix + w.path for w in self.weights()]


def _slots(model, config, prefix="", param_prefix=""):
    """A :class:`_Slot` per h5 group of ``model``'s weights, recursing into nested
    models, in Keras' order."""
    from ..models.model import Model
    slots = []
    nested = "layers/" if "layers" in config else ""  # a subclassed model's: attributes
    for key, layer, entry in _children(model, config):
        where = f"{prefix}{nested}{key}"
        if layer is None:
            slots.append(_Slot(f"{where}/vars", None, [], None, param_prefix))
        elif isinstance(layer, Model):
            slots.append(_Slot(f"{where}/vars", None, [], layer.name, param_prefix))
            slots += _slots(layer, entry["config"], f"{where}/",
                            f"{param_prefix}{layer.path}/")
        else:
            by_group = {"": []}
            for i, w in enumerate(layer.weights):
                rest = w.path[len(layer.path) + 1:]
                by_group.setdefault(_inner_group(layer, rest), []).append(i)
            for group, indices in by_group.items():
                path = f"{where}/{group}/vars" if group else f"{where}/vars"
                slots.append(_Slot(path, layer, indices, layer.name if not group else None,
                                   param_prefix))
    return slots


# -- the optimizer's variables in Keras' order ---------------------------------------------

def _trainable_paths(model, config):
    """The trainable weights' paths in ``model.params``, in Keras' order."""
    return [path for slot in _slots(model, config)
            for w, path in zip(slot.weights(), slot.param_paths()) if w.trainable]


def _slot_order(model, config):
    """``(slot, weight path)`` for each per-weight optimizer variable, in Keras' order."""
    paths = _trainable_paths(model, config)
    return [(slot, path) for group in model.optimizer.slot_groups for path in paths
            for slot in group]


def _extra_scalars(optimizer, opt_state):
    known = {"iterations", "learning_rate", *optimizer.slot_names}
    return sorted(k for k in opt_state if k not in known)


def optimizer_arrays(model, config, opt_state):
    """The optimizer state as Keras' list: iterations, learning rate, per-weight slots."""
    optimizer = model.optimizer
    arrays = [opt_state["iterations"]]
    if "learning_rate" in opt_state:
        arrays.append(opt_state["learning_rate"])
    for slot, path in _slot_order(model, config):
        arrays.append(state_lib.get_path(opt_state[slot], path))
    return arrays + [opt_state[k] for k in _extra_scalars(optimizer, opt_state)]


def optimizer_state_from(model, config, arrays):
    """The jkeras optimizer state from Keras' list of arrays (already checked)."""
    template = model.optimizer.init(model.params)
    values = iter(arrays)
    state = dict(template, iterations=next(values))
    if "learning_rate" in template:
        state["learning_rate"] = next(values)
    for slot, path in _slot_order(model, config):
        state[slot] = state_lib.set_path(state[slot], path, next(values))
    for key in _extra_scalars(model.optimizer, template):
        state[key] = next(values)
    return jax.tree_util.tree_map(lambda t, v: jnp.asarray(v, t.dtype), template, state)


# -- saving ---------------------------------------------------------------------------------

def compile_config(model):
    """``model.compile``'s arguments as Keras' ``compile_config``, or ``None`` (not
    compiled, or compiled with an optax transformation, which has no config).

    >>> import jkeras
    >>> compile_config(jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])) is None
    True
    """
    compiled = getattr(model, "_compiled", None)
    if compiled is None or not compiled.is_jkeras_optimizer:
        return None
    return {"optimizer": serialize_keras_object(compiled.optimizer),
            "loss": serialize_keras_object(compiled.loss_spec),
            "loss_weights": serialize_keras_object(compiled.loss_weights),
            "metrics": serialize_keras_object(compiled.metrics_spec),
            "weighted_metrics": None, "run_eagerly": False,
            "steps_per_execution": compiled.steps_per_execution, "jit_compile": True}


def model_config(model):
    """``serialize_keras_object(model)`` plus Keras' ``compile_config``."""
    config = serialize_keras_object(model)
    compiled = model.get_compile_config()
    if compiled is not None:
        config["compile_config"] = serialize_keras_object(compiled)
    return config


def write_weights(model, config, writer):
    """Adds the model's weights to ``writer`` (an ``H5Writer``) in Keras' layout for this
    ``config``."""
    h5 = writer.file
    h5.create_group("vars").attrs["name"] = model.name
    slots = _slots(model, config)
    values = iter(jax.device_get([w.value for slot in slots if not _hooked(slot.layer, "save")
                                  for w in slot.weights()]))
    for slot in slots:
        g = h5.require_group(slot.group)
        if slot.name is not None:
            g.attrs["name"] = slot.name
        if _hooked(slot.layer, "save"):
            store = {}
            slot.layer.save_own_variables(store)
            for key, value in store.items():
                writer.add(g, str(key), np.asarray(value))
            continue
        for i, _ in enumerate(slot.weights()):
            writer.add(g, str(i), next(values))


def _hooked(layer, which):
    """Whether ``layer`` overrides ``save_own_variables``/``load_own_variables``."""
    from ..layers.base import Layer
    name = f"{which}_own_variables"
    return layer is not None and getattr(type(layer), name) is not getattr(Layer, name)


def _read_store(h5, group, where):
    """A hooked layer's ``vars`` group as ``{name: array}``, numbers only."""
    h5py = _h5py()
    node = h5.get(group)
    if node is None:
        return {}
    if not isinstance(node, h5py.Group):
        raise ValueError(f"{where}: {group!r} is not a group. Nothing was changed.")
    store = {}
    for key, dataset in node.items():
        if not isinstance(dataset, h5py.Dataset) or dataset.dtype.kind not in "biuf":
            raise ValueError(f"{where}: {group}/{key} is not an array of numbers. Nothing "
                             "was changed.")
        store[key] = np.asarray(dataset[()])
    return store


def _write_model(model, config, writer, include_optimizer):
    model._require_built("save")
    write_weights(model, config["config"], writer)
    compiled = getattr(model, "_compiled", None)
    if include_optimizer and "compile_config" in config and compiled is not None and \
            compiled.is_jkeras_optimizer:
        ts = jax.device_get(model.get_train_state())
        g = writer.file.create_group("optimizer/vars")
        g.attrs["name"] = model.optimizer.name
        for i, a in enumerate(optimizer_arrays(model, config["config"], ts["opt_state"])):
            writer.add(g, str(i), a)
        # what Keras' file has no place for; Keras skips it
        extra = writer.file.create_group("jkeras")
        writer.add(extra, "step", ts["step"])
        writer.add(extra, "rng", ts["rng"])


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Writes ``model`` as a Keras 3 ``.keras`` file, atomically.

    The weights go from memory into the zip once: no buffer holds a copy of the file.

    >>> import jkeras, tempfile, os
    >>> m = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
    >>> save_model(m, os.path.join(tempfile.mkdtemp(), "m.keras"))
    """
    if not str(filepath).endswith(".keras"):
        raise ValueError(f"save_model: the file name must end in .keras, got {filepath!r} "
                         "(use save_weights for .weights.h5 / .weights.npz files).")
    config = model_config(model)
    metadata = {"keras_version": KERAS_FORMAT_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "saved_by": "jkeras"}
    writer = H5Writer(_h5py())
    try:
        _write_model(model, config, writer, include_optimizer)
    finally:
        writer.close()
    with atomic_write(filepath, overwrite) as f, zipfile.ZipFile(f, "w") as archive:
        archive.writestr(METADATA, json.dumps(metadata))
        archive.writestr(CONFIG, json.dumps(config))
        with archive.open(WEIGHTS, "w", force_zip64=writer.size > 1 << 31) as entry:
            writer.write_to(entry)


# -- loading --------------------------------------------------------------------------------

def _read_group(h5, group, expected, where):
    """The arrays of one h5 ``vars`` group, each checked before it is read."""
    h5py = _h5py()
    node = h5.get(group) if expected else None
    if not expected:
        return []
    if not isinstance(node, h5py.Group):
        raise ValueError(f"{where}: the file has no {group!r} for {len(expected)} weights. "
                         "Nothing was changed.")
    keys = sorted(node.keys(), key=lambda k: int(k) if k.isdigit() else -1)
    if keys != [str(i) for i in range(len(expected))]:
        raise ValueError(f"{where}: {group!r} holds {keys}, expected {len(expected)} arrays "
                         f"(0..{len(expected) - 1}). Nothing was changed.")
    arrays = []
    for key, (shape, dtype, name) in zip(keys, expected):
        dataset = node[key]
        if not isinstance(dataset, h5py.Dataset):
            raise ValueError(f"{where}: {group}/{key} is not an array. Nothing was changed.")
        safety.check_array(dataset, shape, dtype, f"{where}: {group}/{key} ({name})")
        arrays.append(jnp.asarray(dataset[()], dtype))  # host copy freed at once
    return arrays


def apply_weights(model, config, h5, where):
    """Reads and checks every array, then sets them all at once: a failure changes
    nothing."""
    per_layer, hooked = {}, []
    for slot in _slots(model, config):
        if _hooked(slot.layer, "load"):
            hooked.append((slot.layer, _read_store(h5, slot.group, where)))
            continue
        expected = [(w.shape, w.dtype, w.path) for w in slot.weights()]
        arrays = _read_group(h5, slot.group, expected, where)
        values = per_layer.setdefault(id(slot.layer), {})
        values.update(zip(slot.indices, arrays))
    # A layer's own load_own_variables sets what it saved; then all others at once.
    for layer, store in hooked:
        layer.load_own_variables(store)
    ordered = []
    for layer in _leaf_layers(model):
        if any(layer is h for h, _ in hooked):
            ordered += [w.value for w in layer.weights]
            continue
        values = per_layer.get(id(layer), {})
        ordered += [values[i] for i in range(len(layer.weights))]
    model.set_weights(ordered)


def _leaf_layers(model):
    """The layers that own weights, in the order of ``model.weights``."""
    from ..models.model import Model
    out = []
    for layer in model._unique_layers():
        out += _leaf_layers(layer) if isinstance(layer, Model) else [layer]
    return out


def _deserialize_model(config, custom_objects, safe_mode, what):
    # Every weight is overwritten from the file next: zeros, not random draws, meanwhile.
    with custom_object_scope(custom_objects), _safe_mode(safe_mode), \
            initializers.placeholders():
        return deserialize_value(config, what)


def _compile_from(model, compile_config, custom_objects, safe_mode, what):
    with custom_object_scope(custom_objects), _safe_mode(safe_mode):
        model.compile_from_config(compile_config)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Loads a ``.keras`` file written by jkeras or by Keras 3.

    Nothing in the file can run code: the config may name only jkeras' classes, objects
    registered with ``register_keras_serializable`` and ``custom_objects``; arrays are
    checked against the rebuilt model before any is set. With ``compile=True`` the loss,
    metrics and optimizer are restored with the optimizer's state, so training goes on
    where it stopped. ``safe_mode`` is accepted for Keras' signature: jkeras never loads
    code from a file in either mode.

    >>> import jkeras, tempfile, os
    >>> m = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
    >>> path = os.path.join(tempfile.mkdtemp(), "m.keras"); m.save(path)
    >>> load_model(path).count_params()
    8
    """
    what = f"load_model({str(filepath)!r})"
    h5py = _h5py()
    with safety.open_zip(filepath, what) as archive:
        config = safety.parse_json(safety.read_member(archive, CONFIG, what,
                                                      safety.MAX_CONFIG_BYTES), what)
        if not isinstance(config, dict) or "class_name" not in config:
            raise ValueError(f"{what}: config.json is not a Keras model config.")
        model = _deserialize_model(config, custom_objects, safe_mode, what)
        if not hasattr(model, "_unique_layers"):
            raise ValueError(f"{what}: the config describes a {type(model).__name__}, not a "
                             "model.")
        info = safety.check_member(archive, WEIGHTS, what, _weights_limit(model))
        # Keras stores the weights uncompressed: h5py then reads each array straight from
        # the archive, one at a time, and no copy of the whole file is ever made.
        if info.compress_type == zipfile.ZIP_STORED and hasattr(archive.fp, "readinto"):
            stream = safety.StoredMember(archive.fp, info)
        else:
            stream = io.BytesIO(safety.read_member(archive, WEIGHTS, what, info.file_size))
        try:
            with stream, h5py.File(stream, "r") as h5:
                apply_weights(model, config["config"], h5, what)
                if compile and config.get("compile_config"):
                    _compile_from(model, config["compile_config"], custom_objects, safe_mode,
                                  what)
                    _restore_train_state(model, config["config"], h5, what)
        except (OSError, EOFError, zipfile.BadZipFile) as err:
            raise ValueError(f"{what}: model.weights.h5 cannot be read (truncated or corrupt "
                             f"file?): {err}") from None
    return model


def _weights_limit(model):
    """The most bytes a weights file for this model can honestly need (optimizer slots
    included), with room for h5's own structures."""
    n = sum(w.value.size * w.value.dtype.itemsize for w in model.weights)
    return 8 * n + (16 << 20)


def _restore_train_state(model, config, h5, what):
    h5py = _h5py()
    group = h5.get("optimizer/vars")
    if not isinstance(group, h5py.Group):
        return  # compiled, never trained: a fresh optimizer state
    template = optimizer_arrays(model, config, model.optimizer.init(model.params))
    expected = [(np.shape(a), np.asarray(a).dtype, f"optimizer variable {i}")
                for i, a in enumerate(template)]
    if len(group) != len(expected):
        raise ValueError(f"{what}: the file holds {len(group)} optimizer variables, the "
                         f"compiled model's optimizer has {len(expected)}.")
    arrays = _read_group(h5, "optimizer/vars", expected, what)
    opt_state = optimizer_state_from(model, config, arrays)
    ts = model.get_train_state()
    extra = h5.get("jkeras")
    if isinstance(extra, h5py.Group):
        step, rng = extra.get("step"), extra.get("rng")
        if isinstance(step, h5py.Dataset) and isinstance(rng, h5py.Dataset):
            safety.check_array(step, np.shape(ts["step"]), np.asarray(ts["step"]).dtype,
                               f"{what}: jkeras/step")
            safety.check_array(rng, np.shape(ts["rng"]), np.asarray(ts["rng"]).dtype,
                               f"{what}: jkeras/rng")
            ts["step"] = jnp.asarray(step[()], np.asarray(ts["step"]).dtype)
            ts["rng"] = jnp.asarray(rng[()], np.asarray(ts["rng"]).dtype)
    else:
        ts["step"] = jnp.asarray(opt_state["iterations"], np.asarray(ts["step"]).dtype)
    ts["opt_state"] = opt_state
    model.set_train_state(ts)
