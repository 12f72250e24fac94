"""Masks carried by tensors, as Keras' ``_keras_mask`` attribute.

A layer called on arrays sets ``outputs._keras_mask`` to what its ``compute_mask`` makes
of its input's mask, and the next layer called on those outputs gets it as ``mask=``
when its ``call`` takes one. ``KerasTensor``s have the attribute too (their layer's
``compute_mask``, worked out on shapes). Tracers take no attributes: in a model's or
Keras-style layer's pure call its frame keeps the masks of the values its layers return
(:class:`jkeras.frame.Frame`), so a subclassed model passes them on as Keras does; in a
function of your own under ``jax.jit``, pass ``mask=`` yourself.
"""
import jax


def attached(x):
    """The mask ``x`` carries (a structure like ``x``'s for a list of tensors), or ``None``.

    >>> import jax.numpy as jnp, jkeras
    >>> y = jkeras.layers.Embedding(5, 2, mask_zero=True)(jnp.array([[3, 0]]))
    >>> attached(y).tolist()
    [[True, False]]
    """
    mask = jax.tree_util.tree_map(lambda t: getattr(t, "_keras_mask", None), x)
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
    """Sets ``_keras_mask`` on each output that takes attributes (not on tracers).

    >>> import jax.numpy as jnp
    >>> y = jnp.ones((1, 2, 3)); attach(y, jnp.array([[True, False]]))
    >>> y._keras_mask.tolist()
    [[True, False]]
    """
    for out, m in pairs(outputs, mask):
        if m is not None:
            try:
                out._keras_mask = m
            except AttributeError:  # a tracer, or an array type without attributes
                pass
