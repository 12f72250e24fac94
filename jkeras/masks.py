"""Masks carried by tensors, as Keras' ``_keras_mask`` attribute.

A layer called on arrays sets ``outputs._keras_mask`` to what its ``compute_mask`` makes
of its input's mask, and the next layer called on those outputs gets it as ``mask=``
when its ``call`` takes one. ``KerasTensor``s have the attribute too (their layer's
``compute_mask``, worked out on shapes). Tracers take no attributes: while a model or a
Keras-style layer runs its layers (a frame, :func:`jkeras.frame.active`), a table keeps
the masks of the traced values they return, so a subclassed model passes masks on as
Keras does. In a function of your own under ``jax.jit``, pass ``mask=`` yourself.
"""
import contextlib

import jax

_tables = []  # one per open scope: id(value) -> (value, its mask)


@contextlib.contextmanager
def scope():
    """A table for the masks of traced values, for the calls made inside.

    >>> with scope():
    ...     pass
    """
    _tables.append({})
    try:
        yield
    finally:
        _tables.pop()


def _mask_of(t):
    mask = getattr(t, "_keras_mask", None)
    for table in reversed(_tables):  # a nested layer's inputs are its caller's values
        if mask is not None:
            break
        mask = table.get(id(t), (t, None))[1]
    return mask


def attached(x):
    """The mask ``x`` carries (a structure like ``x``'s for a list of tensors), or ``None``.

    >>> import jax.numpy as jnp, jkeras
    >>> y = jkeras.layers.Embedding(5, 2, mask_zero=True)(jnp.array([[3, 0]]))
    >>> attached(y).tolist()
    [[True, False]]
    """
    mask = jax.tree_util.tree_map(_mask_of, x)
    return mask if jax.tree_util.tree_leaves(mask) else None


def pairs(outputs, mask):
    """``(output, its mask)`` for each output array: a list of masks, one per output, is
    dealt out in order; a single mask goes with every output.

    >>> [m for _, m in pairs(["a", "b"], ["mask a", "mask b"])]
    ['mask a', 'mask b']
    """
    leaves = jax.tree_util.tree_leaves(outputs)
    if isinstance(mask, (list, tuple)) and len(mask) == len(leaves) > 1:
        return list(zip(leaves, mask))
    return [(leaf, mask) for leaf in leaves]


def attach(outputs, mask):
    """Sets ``_keras_mask`` on each output; a traced one's goes in the current scope's
    table (the output is kept with it, so its id stays its own).

    >>> import jax.numpy as jnp
    >>> y = jnp.ones((1, 2, 3)); attach(y, jnp.array([[True, False]]))
    >>> y._keras_mask.tolist()
    [[True, False]]
    """
    for out, m in pairs(outputs, mask):
        if m is None:
            continue
        try:
            out._keras_mask = m
        except AttributeError:  # a tracer, or an array type without attributes
            if _tables:
                _tables[-1][id(out)] = (out, m)
