"""Weight constraints: projections applied to a weight after each optimizer step.

A layer with ``kernel_constraint=...`` has ``model.apply_constraints(params)`` (which
``fit`` calls after each update) replace its kernel by ``constraint(kernel)``.
"""
import dataclasses

import jax.numpy as jnp

from . import lookup

_EPSILON = 1e-7  # Keras' backend epsilon, which its norm constraints add to the norm


def _norms(w, axis):
    return jnp.sqrt(jnp.sum(jnp.square(w), axis=axis, keepdims=True))


class _Config:
    """Keras' ``get_config``/``from_config`` for the dataclass constraints."""

    def get_config(self):
        """The constructor arguments.

        >>> MaxNorm(3.0).get_config()
        {'max_value': 3.0, 'axis': 0}
        """
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config):
        """Rebuilds the constraint from ``get_config()``.

        >>> UnitNorm.from_config({"axis": 1})
        UnitNorm(axis=1)
        """
        return cls(**config)


@dataclasses.dataclass(frozen=True)
class MaxNorm(_Config):
    """Rescales slices along ``axis`` whose L2 norm exceeds ``max_value``.

    >>> import jax.numpy as jnp
    >>> print(MaxNorm(1.0)(jnp.array([[3.0], [4.0]])).round(3))
    [[0.6]
     [0.8]]
    """

    max_value: float = 2.0
    axis: int = 0

    def __call__(self, w):
        norms = _norms(w, self.axis)
        return w * (jnp.clip(norms, 0, self.max_value) / (_EPSILON + norms))


@dataclasses.dataclass(frozen=True)
class NonNeg(_Config):
    """Sets negative weights to zero.

    >>> import jax.numpy as jnp
    >>> NonNeg()(jnp.array([-1.0, 2.0])).tolist() == [0.0, 2.0]
    True
    """

    def __call__(self, w):
        return w * (w >= 0).astype(w.dtype)


@dataclasses.dataclass(frozen=True)
class UnitNorm(_Config):
    """Scales slices along ``axis`` to unit L2 norm.

    >>> import jax.numpy as jnp
    >>> print(UnitNorm()(jnp.array([[3.0], [4.0]])).round(3))
    [[0.6]
     [0.8]]
    """

    axis: int = 0

    def __call__(self, w):
        return w / (_EPSILON + _norms(w, self.axis))


@dataclasses.dataclass(frozen=True)
class MinMaxNorm(_Config):
    """Keeps slice norms along ``axis`` in ``[min_value, max_value]``, moving ``rate`` of the way.

    >>> import jax.numpy as jnp
    >>> print(MinMaxNorm(0.0, 1.0)(jnp.array([[3.0], [4.0]])).round(3))
    [[0.6]
     [0.8]]
    """

    min_value: float = 0.0
    max_value: float = 1.0
    rate: float = 1.0
    axis: int = 0

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = (self.rate * jnp.clip(norms, self.min_value, self.max_value)
                   + (1 - self.rate) * norms)
        return w * (desired / (_EPSILON + norms))


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm
ALL = {"max_norm": MaxNorm(), "non_neg": NonNeg(), "unit_norm": UnitNorm(),
       "min_max_norm": MinMaxNorm()}


def get(identifier):
    """A constraint by name (``"non_neg"``), a callable as is, ``None`` as is.

    >>> get("non_neg")
    NonNeg()
    """
    return lookup.resolve(identifier, ALL, "constraint")
