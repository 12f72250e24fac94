"""Reshaping layers: ``Flatten``, ``Reshape``."""
import math

from .base import Layer


class Flatten(Layer):
    """Flattens every axis but the batch axis.

    >>> import jax.numpy as jnp
    >>> Flatten()(jnp.ones((2, 28, 28))).shape
    (2, 784)
    """

    def call(self, params, state, x, *, training=False, rng=None):
        return x.reshape(x.shape[0], -1), state


class Reshape(Layer):
    """Reshapes every example to ``target_shape`` (batch axis excluded; one ``-1`` allowed).

    >>> import jax.numpy as jnp
    >>> Reshape((4, -1))(jnp.ones((2, 12))).shape
    (2, 4, 3)
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if self.target_shape.count(-1) > 1 or any(d < -1 or d == 0 for d in self.target_shape):
            raise ValueError(f"{self!r}: target_shape may hold positive sizes and at most one "
                             f"-1, got {target_shape}")

    def build(self, rng, input_shape):
        self._resolve(input_shape)
        return {}, {}

    def _resolve(self, input_shape):
        size = input_shape[1:]
        if None in size:
            return self.target_shape
        size, known = math.prod(size), math.prod(d for d in self.target_shape if d != -1)
        fits = size % known == 0 if -1 in self.target_shape else size == known
        if not fits:
            raise ValueError(f"{self!r} cannot reshape inputs of shape {tuple(input_shape)} "
                             f"({size} values per example) into {self.target_shape}.")
        return tuple(size // known if d == -1 else d for d in self.target_shape)

    def call(self, params, state, x, *, training=False, rng=None):
        return x.reshape(x.shape[0], *self._resolve(x.shape)), state
