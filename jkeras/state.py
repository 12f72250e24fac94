"""The state model: params and state are plain nested dicts keyed by name.

A weight's *path* is its keys joined by ``/`` (``block1/mylstm/kernel``). Paths are
what ``summary()`` prints, what weight files store and what sharding rules match.
"""
import jax
import jax.numpy as jnp
import numpy as np

SEP = "/"


def flatten(tree, prefix=""):
    """Flattens a nested dict pytree into ``{path: leaf}``, in sorted path order.

    >>> flatten({"dense": {"bias": 0, "kernel": 1}})
    {'dense/bias': 0, 'dense/kernel': 1}
    """
    return dict(_walk(tree, prefix, sorted))


def leaves_in_order(tree):
    """``(path, leaf)`` pairs of a nested dict in insertion order (Keras' weight order),
    where :func:`flatten` sorts.

    >>> list(leaves_in_order({"dense": {"kernel": 1, "bias": 0}}))
    [('dense/kernel', 1), ('dense/bias', 0)]
    """
    return _walk(tree, "", list)


def _walk(tree, prefix, keys):
    for key in keys(tree):
        if not isinstance(key, str) or not key or SEP in key:
            raise TypeError(f"state.flatten: keys must be non-empty strings without '{SEP}', "
                            f"got {key!r} under {prefix or 'the root'!r}")
        path = f"{prefix}{SEP}{key}" if prefix else key
        value = tree[key]
        if isinstance(value, dict):
            yield from _walk(value, path, keys)
        else:
            yield path, value


def unflatten(flat):
    """Rebuilds the nested dict from ``{path: leaf}``; the inverse of :func:`flatten`.

    >>> unflatten({"dense/kernel": 1, "dense/bias": 0})
    {'dense': {'kernel': 1, 'bias': 0}}
    """
    tree = {}
    for path, value in flat.items():
        *parents, leaf = path.split(SEP)
        node = tree
        for key in parents:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ValueError(f"state.unflatten: path {path!r} runs through a leaf at {key!r}")
        if leaf in node:
            raise ValueError(f"state.unflatten: path {path!r} is given twice")
        node[leaf] = value
    return tree


def get_path(tree, path):
    """Returns the subtree (or leaf) at ``path``; ``""`` is the whole tree.

    >>> get_path({"block1": {"d": {"bias": 0}}}, "block1/d")
    {'bias': 0}
    """
    node = tree
    for key in path.split(SEP) if path else ():
        node = node[key]
    return node


def set_path(tree, path, value):
    """Returns a copy of ``tree`` with ``value`` at ``path``; ``tree`` is not modified.

    >>> set_path({"a": {"b": 1}}, "a/c", 2)
    {'a': {'b': 1, 'c': 2}}
    """
    if not path:
        return value
    key, _, rest = path.partition(SEP)
    new = dict(tree)
    new[key] = set_path(tree.get(key, {}), rest, value)
    return new


def check_like(expected, got, what, owner):
    """Raises a ValueError naming the first path whose presence, shape or dtype differs.

    ``expected`` and ``got`` are nested dicts of arrays (or shape/dtype structs).

    >>> import jax.numpy as jnp
    >>> check_like({"k": jnp.zeros(2)}, {"k": jnp.ones(2)}, "params", "dense")
    """
    if isinstance(expected, dict) and not isinstance(got, dict):
        raise TypeError(f"{owner}: {what} must be a nested dict of arrays with the paths "
                        f"{sorted(flatten(expected))} (like the layer's own `{what}`), got "
                        f"{type(got).__name__}.")
    want, have = flatten(expected), flatten(got)
    missing = [p for p in want if p not in have]
    extra = [p for p in have if p not in want]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unexpected {extra}")
        raise ValueError(f"{owner}: the {what} tree does not match the layer's weights: "
                         f"{'; '.join(parts)}. Expected paths: {sorted(want)}.")
    for path, w in want.items():
        h = have[path]
        if tuple(np.shape(h)) != tuple(w.shape):
            raise ValueError(f"{owner}: {what} at {path!r} has shape {tuple(np.shape(h))}, "
                             f"expected {tuple(w.shape)}.")


def as_weight(value, dtype, where):
    """``value`` (an array or nested lists of numbers) as an array of a weight's ``dtype``,
    converted as ``set_weights`` does; a TypeError naming ``where`` for values that do not
    fit (text, objects, complex numbers for a real weight).

    >>> as_weight([1, 2], jnp.float32, "kernel").dtype
    dtype('float32')
    """
    got = value.dtype if hasattr(value, "dtype") else np.asarray(value).dtype
    if not (jnp.issubdtype(got, jnp.number) or jnp.issubdtype(got, jnp.bool_)):
        raise TypeError(f"{where}: expected numbers for a weight of dtype {dtype}, got values "
                        f"of dtype {got}.")
    if jnp.issubdtype(got, jnp.complexfloating) and \
            not jnp.issubdtype(dtype, jnp.complexfloating):
        raise TypeError(f"{where}: expected real numbers for a weight of dtype {dtype}, got "
                        f"{got} (the imaginary part would be lost).")
    return jnp.asarray(value, dtype)


def conform(expected, got, what, owner):
    """``got`` checked like :func:`check_like`, each leaf made an array of the dtype of
    ``expected``'s leaf by :func:`as_weight`: what a weight setter stores.

    >>> conform({"k": jnp.zeros(2)}, {"k": [1, 2]}, "params", "dense")["k"].dtype
    dtype('float32')
    """
    check_like(expected, got, what, owner)

    def convert(want, have, path):
        if isinstance(want, dict):
            return {k: convert(want[k], have[k], f"{path}{SEP}{k}" if path else k) for k in want}
        return as_weight(have, want.dtype, f"{owner}: {what} at {path!r}")
    return convert(expected, got, "")


def ordered_like(reference, tree):
    """``tree`` with its dict keys in ``reference``'s order, at every level.

    ``jax.jit`` returns dicts with sorted keys; weight lists follow insertion order.

    >>> list(ordered_like({"kernel": 0, "bias": 0}, {"bias": 1, "kernel": 2}))
    ['kernel', 'bias']
    """
    if not isinstance(reference, dict):
        return tree
    return {k: ordered_like(v, tree[k]) if isinstance(v, dict) else tree[k]
            for k, v in reference.items()}


def count(tree):
    """Number of scalars in a pytree.

    >>> import numpy as np
    >>> count({"k": np.zeros((3, 4)), "b": np.zeros(4)})
    16
    """
    return int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(tree)))
