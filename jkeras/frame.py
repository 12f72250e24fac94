"""Call frames: how a container runs its layers on weights passed in, not their own.

While a container's pure ``apply`` runs, a frame maps each of its layers to the
subtree of ``params``/``state`` at the layer's path, hands out PRNG keys and
collects the new state. Layers called outside any frame use their own weights.
"""
import contextlib

import jax

from . import masks
from . import state as state_lib
from . import training as training_lib

_stack = []
_building = []


@contextlib.contextmanager
def building():
    """Marks an abstract build pass: layers run on tracers only so that each builds from
    the shapes it sees, and nothing they compute (new state, random draws) is kept."""
    _building.append(True)
    try:
        yield
    finally:
        _building.pop()


def is_building():
    return bool(_building)


def current():
    return _stack[-1] if _stack else None


@contextlib.contextmanager
def active(frame):
    """Makes ``frame`` (or ``None``: layers use their own weights) the current one, with
    a table for the masks of the traced values its layers return (:mod:`jkeras.masks`)."""
    _stack.append(frame)
    try:
        with masks.scope():
            yield frame
    finally:
        _stack.pop()


def children_paths(owner, layers):
    """``{id(layer): path}`` for a container's layers; two layers may not claim one path."""
    paths, seen = {}, {}
    for layer in layers:
        if id(layer) in paths:
            continue
        for other_path, other in seen.items():
            if layer.path == other_path or layer.path.startswith(other_path + "/") or \
                    other_path.startswith(layer.path + "/"):
                raise ValueError(
                    f"{owner!r} has two layers named {layer.path!r} and {other_path!r}: "
                    "their weights would share a path. Give each layer a unique name.")
        paths[id(layer)] = layer.path
        seen[layer.path] = layer
    return paths


def _subtree(tree, path):
    try:
        return state_lib.get_path(tree, path)
    except KeyError:
        return {}  # layers without weights are left out of the tree


class Frame:
    """Runs the layers at ``paths`` (``{id(layer): path}``) on ``params`` and ``state``."""

    def __init__(self, owner, paths, params, state, training, rng):
        self.owner, self.paths = owner, paths
        self.params, self.state = params, state
        self.training, self.rng = training, rng
        self._draws = 0

    def next_key(self):
        """A fresh key from ``rng``: for a layer called, or a draw of the caller's own."""
        self._draws += 1
        return jax.random.fold_in(self.rng, self._draws)

    def call(self, layer, args, kwargs, training):
        path = self.paths.get(id(layer))
        if path is None:
            raise ValueError(
                f"{layer!r} is called inside {self.owner!r} but is not one of its layers: "
                "assign it to an attribute of the model (or pass it in its layer list) "
                "so that its weights are part of the model's params.")
        rng = self.next_key() if self.rng is not None and layer.uses_rng else None
        old = _subtree(self.state, path)
        out, new = layer.apply(_subtree(self.params, path), old, *args,
                               training=training_lib.resolve(training, self.training),
                               rng=rng, **kwargs)
        if new is not old and (new or old):
            self.state = state_lib.set_path(self.state, path, new)
        return out
