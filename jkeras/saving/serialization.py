"""Objects to and from Keras 3's JSON-ready dicts, without ever running code from a file.

``serialize_keras_object`` writes Keras' ``{"module", "class_name", "config",
"registered_name"}`` form. ``deserialize_keras_object`` rebuilds only jkeras' own classes
(an allowlist looked up by name, never by importing the module a file names), classes
registered with :func:`register_keras_serializable`, and the ``custom_objects`` passed in.
Functions are written and read by name; Keras' marshalled ``__lambda__`` bytecode is
always refused.
"""
import contextlib
import functools
import inspect
import threading

import jax.numpy as jnp
import numpy as np

from .. import configurable

MAX_DEPTH = 100  # Keras configs nest a few levels per model; anything deeper is refused

_REGISTERED = {}       # "Package>Name" -> class or function
_REGISTERED_NAMES = {}  # id(object) -> "Package>Name"
_scope = threading.local()


def register_keras_serializable(package="Custom", name=None):
    """Registers a class or function so that configs can name it (``"package>name"``).

    >>> import jkeras
    >>> @register_keras_serializable(package="doc")
    ... class Scale(jkeras.layers.Layer):
    ...     def __init__(self, factor=2.0, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.factor = factor
    ...     def call(self, params, state, x, *, training=False, rng=None):
    ...         return x * self.factor, state
    >>> deserialize_keras_object(serialize_keras_object(Scale(3.0))).factor
    3.0
    """
    def register(obj):
        key = f"{package}>{name or obj.__name__}"
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            raise TypeError(f"register_keras_serializable: expected a class or a function, "
                            f"got {obj!r}")
        if inspect.isclass(obj) and not hasattr(obj, "get_config"):
            raise TypeError(f"register_keras_serializable: {obj.__name__} needs get_config()")
        _REGISTERED[key] = obj
        _REGISTERED_NAMES[id(obj)] = key
        return obj
    return register


def get_custom_objects():
    """The registry itself, ``{"package>name": class or function}`` (Keras' global dict:
    changing it changes what loads).

    >>> import jkeras
    >>> @register_keras_serializable(package="doc")
    ... def twice(x):
    ...     return 2 * x
    >>> get_custom_objects()["doc>twice"] is twice
    True
    """
    return _REGISTERED


def get_registered_name(obj):
    """The name ``obj`` is saved under: ``"package>name"`` if registered, else its own.

    >>> get_registered_name(len)
    'len'
    """
    return _REGISTERED_NAMES.get(id(obj), getattr(obj, "__name__", type(obj).__name__))


@contextlib.contextmanager
def custom_object_scope(custom_objects):
    """Makes ``{name: class or function}`` known to deserialization inside the block.

    >>> with custom_object_scope({"my_act": lambda x: x}):
    ...     pass
    """
    previous = getattr(_scope, "objects", {})
    _scope.objects = {**previous, **(custom_objects or {})}
    try:
        yield
    finally:
        _scope.objects = previous


@contextlib.contextmanager
def _safe_mode(value):
    previous = getattr(_scope, "safe_mode", True)
    _scope.safe_mode = value
    try:
        yield
    finally:
        _scope.safe_mode = previous


# -- the allowlist of jkeras' own classes ---------------------------------------------------

@functools.cache
def _builtins():
    """``{keras module: {class name: jkeras class}}`` for every public jkeras class."""
    from .. import (constraints, initializers, layers, losses, metrics, models, optimizers,
                    regularizers)
    from ..optimizers import schedules

    def public(module, base=None):
        found = {}
        for name in getattr(module, "__all__", None) or dir(module):
            obj = getattr(module, name, None)
            if (inspect.isclass(obj) and obj.__module__.startswith("jkeras")
                    and not name.startswith("_") and hasattr(obj, "from_config")
                    and (base is None or issubclass(obj, base))):
                found.setdefault(obj.__name__, obj)
                found.setdefault(name, obj)
        return found

    table = {
        "keras.layers": public(layers, layers.Layer),
        "keras.models": public(models),
        "keras.initializers": public(initializers),
        "keras.regularizers": {"L1L2": regularizers.L1L2, "L1": regularizers.L1,
                               "L2": regularizers.L2},
        "keras.constraints": public(constraints),
        "keras.optimizers": public(optimizers),
        "keras.optimizers.schedules": public(schedules),
        "keras.metrics": public(metrics),
        "keras.losses": public(losses),
    }
    table["keras"] = table["keras.models"]
    return table


def _keras_module(cls):
    """The Keras module a jkeras class is written under (``keras.layers``, ...)."""
    parts = cls.__module__.split(".")
    if cls.__name__ == "Functional":
        return "keras.src.models.functional"  # what Keras 3 writes
    if parts[1:2] == ["models"]:
        return "keras"
    if parts[1:3] == ["optimizers", "schedules"]:
        return "keras.optimizers.schedules"
    return "keras." + parts[1]


def _is_builtin(cls):
    if not cls.__module__.startswith("jkeras."):
        return False
    module = _builtins().get(_public_module(_keras_module(cls)), {})
    return module.get(cls.__name__) is cls


# -- serialize ------------------------------------------------------------------------------

def dtype_policy(dtype):
    """Keras' ``DTypePolicy`` dict for a dtype.

    >>> dtype_policy("float32")["config"]
    {'name': 'float32'}
    """
    name = getattr(dtype, "name", None) if not isinstance(dtype, (str, np.dtype)) else None
    return {"module": "keras", "class_name": "DTypePolicy",
            "config": {"name": name or jnp.dtype(dtype).name}, "registered_name": None}


def _function_name(fn):
    from .. import activations, losses, metrics
    for table in (activations.ALL, losses.ALL, metrics.ALL):
        for name, known in table.items():
            if known is fn:
                return name
    return None


def serialize_keras_object(obj):
    """``obj`` as JSON-ready data, objects in Keras 3's dict form.

    >>> import jkeras
    >>> serialize_keras_object(jkeras.initializers.Zeros())
    {'module': 'keras.initializers', 'class_name': 'Zeros', 'config': {}, 'registered_name': None}
    >>> serialize_keras_object((1, "relu"))
    [1, 'relu']
    """
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, np.generic) or (isinstance(obj, (np.ndarray, jnp.ndarray))
                                       and obj.ndim == 0 and obj.dtype.kind in "biuf"):
        return np.asarray(obj).item()
    if isinstance(obj, (np.ndarray, jnp.ndarray)):
        array = np.asarray(obj)
        return {"class_name": "__numpy__", "config": {"value": array.tolist(),
                                                      "dtype": array.dtype.name}}
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): serialize_keras_object(v) for k, v in obj.items()}
    if isinstance(obj, np.dtype):
        return obj.name
    registered = _REGISTERED_NAMES.get(id(type(obj))) or _REGISTERED_NAMES.get(id(obj))
    if inspect.isfunction(obj) or inspect.isbuiltin(obj) or isinstance(obj, np.ufunc) or (
            callable(obj) and not hasattr(obj, "get_config")):
        if registered:
            return {"module": getattr(obj, "__module__", None), "class_name": "function",
                    "config": registered.split(">", 1)[1], "registered_name": registered}
        name = _function_name(obj)
        if name is not None:  # Keras' form for its own functions
            return {"module": "builtins", "class_name": "function", "config": name,
                    "registered_name": "function"}
        raise TypeError(f"Cannot save the function {obj!r}: only jkeras' own functions are "
                        "saved by name. Register yours with "
                        "@jkeras.saving.register_keras_serializable() (and pass it in "
                        "custom_objects= or keep it registered when loading).")
    if not hasattr(obj, "get_config"):
        raise TypeError(f"Cannot save {obj!r}: it has no get_config().")
    cls = type(obj)
    if registered:
        module, registered_name = cls.__module__, registered
    elif _is_builtin(cls):
        module = _keras_module(cls)
        registered_name = "Functional" if cls.__name__ == "Functional" else None
    else:  # Keras' form for an unregistered class: loading it needs custom_objects
        module, registered_name = cls.__module__, cls.__name__
    config = obj.get_config()
    out = {"module": module, "class_name": cls.__name__,
           "config": serialize_keras_object(config), "registered_name": registered_name}
    build_config = obj.get_build_config() if hasattr(obj, "get_build_config") else None
    if build_config is not None:
        out["build_config"] = serialize_keras_object(build_config)
    return out


# -- deserialize ----------------------------------------------------------------------------

def check_depth(tree, what="config"):
    """Refuses data nested deeper than :data:`MAX_DEPTH` (checked without recursion).

    >>> check_depth({"a": [1, {"b": 2}]})
    """
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"{what} is nested more than {MAX_DEPTH} levels deep; refusing it.")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def _is_object(value):
    return isinstance(value, dict) and "class_name" in value and "config" in value


def _custom(name):
    objects = getattr(_scope, "objects", {})
    return objects.get(name)


def _resolve(config, what):
    module = config.get("module")
    class_name = config.get("class_name")
    registered = config.get("registered_name")
    for name in (registered, class_name):
        if isinstance(name, str) and _custom(name) is not None:
            return _custom(name)
    if isinstance(registered, str) and registered in _REGISTERED:
        return _REGISTERED[registered]
    if class_name == "function" and isinstance(config.get("config"), str):
        found = _custom(config["config"])
        if found is not None:
            return found
        found = _known_function(config["config"])
        if found is not None:
            return found
    if isinstance(module, str) and isinstance(class_name, str):
        table = _builtins().get(module) or _builtins().get(_public_module(module))
        if table is not None and class_name in table:
            return table[class_name]
    raise ValueError(
        f"{what}: the config names {module}.{class_name} (registered name {registered!r}), "
        "which is not a jkeras class, a registered object or one of custom_objects. Nothing "
        "was imported or run. If it is yours, pass custom_objects={" + repr(class_name)
        + ": ...} or register it with @jkeras.saving.register_keras_serializable().")


def _public_module(module):
    """``keras.src.layers.core.dense`` -> ``keras.layers`` (Keras' internal paths)."""
    parts = module.split(".")
    if parts[:2] == ["keras", "src"] and len(parts) > 2:
        if parts[2:4] == ["optimizers", "schedules"]:
            return "keras.optimizers.schedules"
        return "keras." + parts[2]
    return module


def _known_function(name):
    """jkeras' own activation, loss or metric function of this name (never an import)."""
    from .. import activations, losses, metrics
    for table in (activations.ALL, losses.ALL, metrics.ALL):
        if name in table:
            return table[name]
    return None


def deserialize_keras_object(config, custom_objects=None, safe_mode=True):
    """Rebuilds what :func:`serialize_keras_object` wrote (or Keras 3 wrote).

    Only jkeras' classes, registered objects and ``custom_objects`` are ever built;
    anything else, and Keras' bytecode lambdas, raise a ValueError and run nothing.

    >>> import jkeras
    >>> deserialize_keras_object({"module": "keras.initializers", "class_name": "Ones",
    ...                           "config": {}, "registered_name": None})
    Ones()
    """
    check_depth(config)
    with custom_object_scope(custom_objects), _safe_mode(safe_mode):
        return deserialize_value(config, "deserialize_keras_object")


def deserialize_value(value, what="config"):
    """Nested Keras dicts in ``value`` rebuilt as objects; other data as it is."""
    if isinstance(value, list):
        return [deserialize_value(v, what) for v in value]
    if not isinstance(value, dict):
        return value
    if not _is_object(value):
        return {k: deserialize_value(v, what) for k, v in value.items()}
    class_name = value["class_name"]
    if class_name in ("__lambda__", "__bytecode__"):
        raise ValueError(
            f"{what}: the file holds a Python lambda as marshalled bytecode; jkeras never "
            "loads code from a file (with or without safe_mode). Pass the function in "
            "custom_objects or register it, and save it by name.")
    if class_name == "__numpy__":
        inner = value["config"]
        dtype = np.dtype(inner.get("dtype", "float32"))
        if dtype.kind not in "biuf":
            raise ValueError(f"{what}: refusing an array of dtype {dtype}")
        return np.asarray(inner["value"], dtype)
    if class_name == "__tuple__":
        return tuple(deserialize_value(v, what) for v in value["config"]["value"])
    if class_name == "DTypePolicy" or class_name.endswith("DTypePolicy"):
        return value["config"]["name"]
    obj = _resolve(value, what)
    if not inspect.isclass(obj):
        return obj  # a function (registered, custom or jkeras' own by name)
    config = value["config"]
    made = obj.from_config(config) if hasattr(obj, "from_config") else obj(**config)
    build_config = value.get("build_config")
    if build_config and _builds_from_config(made):
        made.build_from_config(deserialize_value(build_config, what))
    return made


def _builds_from_config(obj):
    """Whether a rebuilt layer builds from its ``build_config``, as Keras does for every
    layer: only a layer whose own build needs it (one overriding ``build_from_config``, a
    Keras-style layer or subclassed model, which nothing else builds); jkeras' layers are
    built by the model that calls them."""
    from ..layers.base import Layer
    from ..layers.keras_style import KerasLayer
    from ..models.functional import Functional
    from ..models.sequential import Sequential
    if not isinstance(obj, Layer) or obj.built or isinstance(obj, (Functional, Sequential)):
        return False
    return (type(obj).build_from_config is not Layer.build_from_config
            or isinstance(obj, KerasLayer))


def constructor_args(cls, config):
    """The keyword arguments that rebuild ``cls`` from a (jkeras or Keras) config.

    >>> import jkeras
    >>> constructor_args(jkeras.layers.Dense, {"units": 2, "lora_rank": None})
    {'units': 2}
    """
    if not isinstance(config, dict):
        raise TypeError(f"{cls.__name__}.from_config expects a dict, got {type(config).__name__}")
    args = {k: deserialize_value(v, cls.__name__) for k, v in config.items()}
    if isinstance(args.get("dtype"), dict):
        args["dtype"] = args["dtype"].get("config", {}).get("name", "float32")
    return configurable.known_args(cls, args)
