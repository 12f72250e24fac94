"""Merging layers: combine a list of inputs into one (``Concatenate``, ``Add``)."""
import functools
import operator

import jax.numpy as jnp

from .base import Layer


class Merge(Layer):
    """Base of the layers called on a list of at least two inputs."""

    def build(self, rng, input_shapes):
        if not isinstance(input_shapes, (list, tuple)) or len(input_shapes) < 2 or not all(
                isinstance(s, tuple) for s in input_shapes):
            raise ValueError(f"{self!r} expects a list of at least 2 inputs, got shapes "
                             f"{input_shapes}")
        self._check_shapes([tuple(s) for s in input_shapes])
        return {}, {}

    def _check_shapes(self, shapes):
        first = shapes[0]
        for shape in shapes[1:]:
            if len(shape) != len(first) or any(
                    a is not None and b is not None and a != b for a, b in zip(first, shape)):
                raise ValueError(f"{self!r} needs inputs of one shape, got {shapes}")


class Add(Merge):
    """Adds a list of inputs of the same shape.

    >>> import jax.numpy as jnp
    >>> Add()([jnp.ones(2), jnp.ones(2)]).tolist()
    [2.0, 2.0]
    """

    def call(self, params, state, inputs, *, training=False, rng=None):
        return functools.reduce(operator.add, inputs), state


class Concatenate(Merge):
    """Concatenates a list of inputs along ``axis`` (the last by default).

    >>> import jax.numpy as jnp
    >>> Concatenate()([jnp.ones((2, 3)), jnp.ones((2, 4))]).shape
    (2, 7)
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def _check_shapes(self, shapes):
        rank = len(shapes[0])
        if not -rank <= self.axis < rank:
            raise ValueError(f"{self!r}: axis {self.axis} is out of range for rank {rank}")
        axis = self.axis % rank
        others = [s[:axis] + s[axis + 1:] for s in shapes]
        if any(len(s) != rank for s in shapes):
            raise ValueError(f"{self!r} needs inputs of one rank, got shapes {shapes}")
        super()._check_shapes(others)

    def call(self, params, state, inputs, *, training=False, rng=None):
        return jnp.concatenate(inputs, axis=self.axis), state
