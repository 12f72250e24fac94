"""Keras-style metric variables: views of one entry of a metric's state dict.

A metric written the Keras way creates variables with ``add_variable`` and changes them
with ``assign``/``assign_add`` in ``update_state``. Each variable names an entry of the
metric's pure state (``Metric.init()``); reading or assigning it reads or replaces that
entry in the state being worked on: the state passed to ``update``/``result`` (under
``jit`` too, where it holds tracers only for the duration of the call), otherwise the
state the object stores.
"""
import operator

import jax
import jax.numpy as jnp
import numpy as np

from .. import initializers


class MetricVariable:
    """One state entry of a Keras-style metric (what ``Metric.add_variable`` returns).

    >>> import jax.numpy as jnp
    >>> from jkeras.metrics import Metric
    >>> class Count(Metric):
    ...     def __init__(self, name="count"):
    ...         super().__init__(name=name)
    ...         self.n = self.add_variable(shape=(), initializer="zeros", name="n")
    ...     def update_state(self, y_true, y_pred, sample_weight=None):
    ...         self.n.assign_add(jnp.asarray(y_pred).shape[0])
    ...     def result(self):
    ...         return self.n
    >>> m = Count(); m.update_state(None, jnp.ones(3)); m.n.numpy().item()
    3.0
    """

    def __init__(self, metric, name, shape, dtype, initializer):
        self._metric, self.name = metric, name
        self.shape, self.dtype = tuple(shape), jnp.dtype(dtype)
        self.initial = jnp.asarray(
            initializers.get(initializer)(jax.random.key(0), self.shape, self.dtype),
            self.dtype)

    @property
    def value(self):
        """The current value (of the state being updated, or the stored one)."""
        return self._metric._stored()[self.name]

    def assign(self, value):
        """Replaces the value; it must keep the variable's shape.

        >>> import jax.numpy as jnp
        >>> from jkeras.metrics import Metric
        >>> m = Metric(); v = m.add_variable(shape=(2,), initializer="zeros", name="v")
        >>> v.assign(jnp.ones(2)).numpy().tolist()
        [1.0, 1.0]
        """
        value = jnp.asarray(value, self.dtype)
        if value.shape != self.shape:
            raise ValueError(f"{self._metric!r}: cannot assign a value of shape {value.shape} "
                             f"to variable {self.name!r} of shape {self.shape}.")
        self._metric._put_state(self.name, value)
        return self

    def assign_add(self, delta):
        """Adds ``delta`` to the value."""
        return self.assign(self.value + jnp.asarray(delta, self.dtype))

    def assign_sub(self, delta):
        """Subtracts ``delta`` from the value."""
        return self.assign(self.value - jnp.asarray(delta, self.dtype))

    def numpy(self):
        """The value as a NumPy array."""
        return np.asarray(self.value)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.value, dtype)

    def __float__(self):
        return float(self.value)

    def __int__(self):
        return int(self.value)

    def __repr__(self):
        return f"<MetricVariable {self.name!r} shape={self.shape} dtype={self.dtype.name}>"

    def __getitem__(self, index):
        return self.value[index]

    def __neg__(self):
        return -self.value


def _unwrap(x):
    return x.value if isinstance(x, MetricVariable) else x


def _binary(op):
    return (lambda self, other: op(self.value, _unwrap(other)),
            lambda self, other: op(_unwrap(other), self.value))


for _name, _op in [("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                   ("truediv", operator.truediv), ("floordiv", operator.floordiv),
                   ("pow", operator.pow), ("matmul", operator.matmul), ("mod", operator.mod)]:
    _forward, _reflected = _binary(_op)
    setattr(MetricVariable, f"__{_name}__", _forward)
    setattr(MetricVariable, f"__r{_name}__", _reflected)
for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(MetricVariable, f"__{_name}__", _binary(getattr(operator, _name))[0])
MetricVariable.__hash__ = object.__hash__


def unwrap(tree):
    """``tree`` with every ``MetricVariable`` replaced by its value (for ``result``).

    >>> unwrap({"a": 1})
    {'a': 1}
    """
    return jax.tree_util.tree_map(_unwrap, tree,
                                  is_leaf=lambda x: isinstance(x, MetricVariable))
