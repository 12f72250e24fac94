"""Layer names and name scopes.

Auto names follow Keras: the class name in snake case, made unique with a counter
(``dense``, ``dense_1``, ...). A scope prefixes the names of layers *created* inside it.
"""
import contextlib
import re

_scopes = []
_counters = {}


def to_snake_case(name):
    """``BatchNormalization`` -> ``batch_normalization``, ``Conv2D`` -> ``conv2d``.

    >>> to_snake_case("LayerNormalization")
    'layer_normalization'
    """
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _check(name, what):
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"{what} must be a non-empty string without '/', got {name!r}")


@contextlib.contextmanager
def name_scope(name):
    """Prefixes the path of every layer created inside the block with ``name/``.

    Scopes nest; they never create or share weights by themselves.

    >>> import jkeras
    >>> with jkeras.name_scope("block1"):
    ...     d = jkeras.layers.Dense(32, name="d")
    >>> d.path
    'block1/d'
    """
    _check(name, "name_scope")
    _scopes.append(name)
    try:
        yield name
    finally:
        _scopes.pop()


def current_scope():
    """The active scope path, ``""`` outside any scope.

    >>> current_scope()
    ''
    """
    return "/".join(_scopes)


def make_path(base, name=None):
    """The full path for a new layer: a given ``name`` is used as is, else ``base`` numbered.

    >>> make_path("flatten_example", "mine")
    'mine'
    """
    if name is not None:
        _check(name, "A layer name")
        leaf = name
    else:
        key = (current_scope(), base)
        n = _counters.get(key, 0)
        _counters[key] = n + 1
        leaf = base if n == 0 else f"{base}_{n}"
    scope = current_scope()
    return f"{scope}/{leaf}" if scope else leaf


def reset_names():
    """Restarts auto-naming (``dense``, ``dense_1``, ...) from scratch.

    >>> reset_names()
    """
    _counters.clear()
