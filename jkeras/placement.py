"""Where new weights, train states and batches go: the hooks ``jkeras.sharding`` fills.

The core never imports ``jkeras.sharding``. It asks this module for the active
distribution (set by ``jkeras.sharding.distribution(...)`` or ``compile(distribution=)``)
and calls the few methods every distribution has; with none active, nothing changes.

>>> current() is None
True
"""
import contextlib

import jax
import jax.numpy as jnp

_stack = []
_axes = []


def current():
    """The distribution of the innermost ``using`` block, or ``None``."""
    return _stack[-1] if _stack else None


@contextlib.contextmanager
def using(distribution):
    """Within the block, ``distribution`` (or none, for ``None``) places new weights.

    >>> with using(None):
    ...     current() is None
    True
    """
    _stack.append(check(distribution))
    try:
        yield distribution
    finally:
        _stack.pop()


def check(distribution, what="distribution"):
    """``distribution`` itself, if it is one (or ``None``); else a TypeError.

    >>> check(None) is None
    True
    """
    if distribution is not None and not callable(getattr(distribution, "wrap_step", None)):
        raise TypeError(f"{what}: expected a jkeras.sharding distribution (DataParallel, "
                        f"ModelParallel) or None, got {type(distribution).__name__}.")
    return distribution


def build_weights(layer, key, shapes):
    """``layer.build(key, *shapes)``, each weight made with its sharding when a
    distribution is active.

    >>> import jax, jkeras
    >>> params, _ = build_weights(jkeras.layers.Dense(2), jax.random.key(0), [(None, 3)])
    >>> params["kernel"].shape
    (3, 2)
    """
    distribution = current()
    if distribution is None:
        return layer.build(key, *shapes)
    return distribution.build_weights(layer, key, shapes)


@contextlib.contextmanager
def averaging(axis_name):
    """Within the block, training steps average gradients (and float state) over the
    mapped axis ``axis_name`` with ``lax.pmean``: each replica under ``jax.pmap``
    then takes the same step as one device on the whole batch.

    >>> with averaging("data"):
    ...     pass
    """
    _axes.append(axis_name)
    try:
        yield
    finally:
        _axes.pop()


def cross_replica_mean(tree):
    """``tree``'s float leaves averaged over the ``averaging`` axis (unchanged outside).

    >>> cross_replica_mean({"w": 1.0})
    {'w': 1.0}
    """
    if not _axes:
        return tree
    name = _axes[-1]
    return jax.tree_util.tree_map(
        lambda a: jax.lax.pmean(a, name) if jnp.issubdtype(jnp.result_type(a), jnp.floating)
        else a, tree)
