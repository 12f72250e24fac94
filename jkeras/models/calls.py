"""How batches become compiled calls, and how the calls' logs come back to Python.

>>> import numpy as np
>>> batches = [np.zeros((4, 2)), np.zeros((4, 2)), np.zeros((3, 2))]
>>> [(steps, stacked) for steps, stacked, _ in executions(batches, 2)]
[(2, True), (1, False)]
"""
import jax
import jax.numpy as jnp
import numpy as np


def _stack(batches):
    def stack(*leaves):
        if all(isinstance(a, np.ndarray) for a in leaves):
            return np.stack(leaves)
        return jnp.stack(leaves)
    return jax.tree_util.tree_map(stack, *batches)


def _shapes(batch):
    leaves, treedef = jax.tree_util.tree_flatten(batch)
    return treedef, tuple(np.shape(a) for a in leaves)


def executions(batches, steps_per_execution):
    """``(steps, stacked, batch)`` per compiled call: runs of N same-shaped batches are
    stacked for one scanned call; the rest (a remainder, a smaller last batch) go one by
    one, so each distinct batch shape compiles at most one more program."""
    group, signature = [], None
    for batch in batches:
        if steps_per_execution == 1:
            yield 1, False, batch
            continue
        shapes = _shapes(batch)
        if group and shapes != signature:
            yield from ((1, False, b) for b in group)
            group = []
        signature = shapes
        group.append(batch)
        if len(group) == steps_per_execution:
            yield steps_per_execution, True, _stack(group)
            group = []
    yield from ((1, False, b) for b in group)


def floats(names, values):
    if len(values) > 1:
        values = jax.device_get(values)  # one transfer for them all
    return dict(zip(names, map(float, values)))


def check_verbose(verbose, what):
    if verbose not in (0, 1, 2, "auto"):
        raise ValueError(f"{what}: verbose must be 0, 1, 2 or 'auto', got {verbose!r}.")
    return 1 if verbose == "auto" else verbose


def format_logs(logs, return_dict):
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


