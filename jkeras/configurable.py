"""Constructor arguments recorded for ``get_config``: each class's ``__init__`` is wrapped
once so that the outermost call (the most derived class's) keeps its bound arguments,
defaults filled in. ``get_config`` then returns them, so one generic method serves every
class whose constructor takes Keras' arguments.
"""
import functools
import inspect


def record_init(cls):
    """Wraps ``cls.__init__`` (if it defines one) to record its arguments on the instance.

    >>> class A:
    ...     def __init__(self, units, activation=None, **kwargs):
    ...         pass
    >>> record_init(A)
    >>> init_args(A(3, name="a"))
    {'units': 3, 'activation': None, 'name': 'a'}
    """
    init = cls.__dict__.get("__init__")
    if init is None or getattr(init, "_records_args", False):
        return
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        if "_init_args" not in self.__dict__:
            try:
                bound = signature.bind(self, *args, **kwargs)
            except TypeError:
                return init(self, *args, **kwargs)  # raises the constructor's own error
            bound.apply_defaults()
            recorded = {}
            for name, value in list(bound.arguments.items())[1:]:
                kind = signature.parameters[name].kind
                if kind is inspect.Parameter.VAR_KEYWORD:
                    recorded.update(value)
                elif kind is not inspect.Parameter.VAR_POSITIONAL:
                    recorded[name] = value
            self.__dict__["_init_args"] = recorded
        init(self, *args, **kwargs)

    __init__._records_args = True
    cls.__init__ = __init__


def init_args(obj):
    """The arguments ``obj`` was constructed with (``{}`` if none were recorded).

    >>> init_args(object())
    {}
    """
    return dict(getattr(obj, "__dict__", {}).get("_init_args", {}))


def accepted_args(cls):
    """The argument names ``cls(...)`` takes: its own ``__init__``'s and, where that takes
    ``**kwargs``, its bases' too.

    >>> class A:
    ...     def __init__(self, name=None):
    ...         pass
    >>> class B(A):
    ...     def __init__(self, units, **kwargs):
    ...         super().__init__(**kwargs)
    >>> sorted(accepted_args(B))
    ['name', 'units']
    """
    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        params = list(inspect.signature(init).parameters.values())[1:]
        names.update(p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return names


# Arguments Keras 3 writes in configs that have no jkeras counterpart, with the value that
# means "off": a config holding that value loads; any other value is refused by name.
KERAS_ONLY = {
    "quantization_config": None, "lora_rank": None, "lora_alpha": None, "lora_enabled": False,
    "synchronized": False, "renorm": False, "renorm_clipping": None, "renorm_momentum": 0.99,
    "autocast": True, "unroll": False, "implementation": 2, "use_cudnn": "auto",
    "time_major": False, "reset_after": True, "multi_label": False, "num_labels": None,
    "label_weights": None, "gradient_accumulation_steps": None, "use_ema": False,
    "ema_momentum": 0.99, "ema_overwrite_frequency": None, "loss_scale_factor": None,
    "flash_attention": None, "sparse": False, "ragged": False, "optional": False,
}


# Arguments jkeras layers take that Keras 3's do not, with their defaults: a config leaves
# them out at their default, so that Keras can read it.
JKERAS_ONLY = {"axis_name": "data"}


def known_args(cls, config, what=None):
    """``config`` less Keras-only arguments that are off; a ValueError names any argument
    ``cls`` does not take that is on (so nothing loads with a silently changed meaning).

    >>> class A:
    ...     def __init__(self, units):
    ...         pass
    >>> known_args(A, {"units": 2, "lora_rank": None})
    {'units': 2}
    """
    accepted = accepted_args(cls)
    out = {}
    for key, value in config.items():
        if key in accepted:
            out[key] = value
        elif value is None or value is False or KERAS_ONLY.get(key, object()) == value:
            continue
        else:
            raise ValueError(
                f"{what or cls.__name__}: the config sets {key}={value!r}, which jkeras' "
                f"{cls.__name__} does not support (it takes {sorted(accepted)}).")
    return out
