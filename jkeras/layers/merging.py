"""Merging layers: combine a list of inputs into one.

``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``, ``Minimum``, ``Concatenate``, ``Dot``.
"""
import functools
import operator

import jax
import jax.numpy as jnp

from .. import symbolic
from .base import Layer


class Merge(Layer):
    """Base of the layers called on a list of at least two inputs.

    >>> import jax.numpy as jnp
    >>> isinstance(Add(), Merge), Add()([jnp.ones(2), jnp.ones(2)]).tolist()
    (True, [2.0, 2.0])
    """

    def build(self, rng, input_shapes):
        if not isinstance(input_shapes, (list, tuple)) or len(input_shapes) < 2 or not all(
                isinstance(s, tuple) for s in input_shapes):
            raise ValueError(f"{self!r} expects a list of at least 2 inputs, got shapes "
                             f"{input_shapes}")
        self._check_shapes([tuple(s) for s in input_shapes])
        return {}, {}

    supports_masking = True

    def compute_mask(self, inputs, mask=None):
        """Keras 3's: the inputs' masks or-ed together, ``None`` unless every input has one.

        >>> import jax.numpy as jnp
        >>> Add().compute_mask(None, [jnp.array([True, False]), jnp.array([False, False])])
        Array([ True, False], dtype=bool)
        """
        if mask is None or any(m is None for m in mask):
            return None
        return functools.reduce(jnp.logical_or, mask)

    def _check_shapes(self, shapes):
        first = shapes[0]
        for shape in shapes[1:]:
            if len(shape) != len(first) or any(
                    a is not None and b is not None and a != b for a, b in zip(first, shape)):
                raise ValueError(f"{self!r} needs inputs of one shape, got {shapes}")


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

    def compute_mask(self, inputs, mask=None):
        """Keras 3's: each input's mask (all true where it has none) spread over its
        shape, concatenated, then any-ed over the last axis.

        >>> import jax.numpy as jnp
        >>> Concatenate().compute_mask([jnp.ones((1, 2, 3))] * 2,
        ...                            [jnp.array([[True, False]]), None]).tolist()
        [[True, True]]
        """
        if mask is None or all(m is None for m in mask):
            return None
        spread = [jnp.ones(x.shape, bool) if m is None else
                  jnp.broadcast_to(m[..., None], x.shape) if m.ndim < x.ndim else m
                  for x, m in zip(inputs, mask)]
        return jnp.any(jnp.concatenate(spread, axis=self.axis), axis=-1)


_EPSILON = 1e-7  # Keras' backend.epsilon(): the largest inverse norm Dot(normalize=True) uses


class _Elementwise(Merge):
    """Folds a list of inputs with the binary function ``op``, left to right.

    As in Keras 3 the inputs broadcast: their batch sizes must agree, the other axes
    broadcast as in NumPy (aligned at the end), so an input of lower rank gains axes of
    size 1 right after its batch axis: (batch, 4) with (batch, 3, 4) gives (batch, 3, 4).
    """

    op = None

    def _check_shapes(self, shapes):
        if len({s[0] for s in shapes if s} - {None}) > 1:
            raise ValueError(f"{self!r} needs inputs with one batch size, got shapes {shapes}")
        functools.reduce(lambda a, b: self._broadcast(a, b, shapes), [s[1:] for s in shapes])

    def _broadcast(self, a, b, shapes):
        """The broadcast shape of ``a`` and ``b`` (batch axes left out)."""
        if len(a) < len(b):
            a, b = b, a
        out = list(a[:len(a) - len(b)])
        for i, j in zip(a[len(a) - len(b):], b):
            if i is not None and j is not None and 1 not in (i, j) and i != j:
                raise ValueError(f"{self!r} needs inputs whose shapes broadcast (batch axis "
                                 f"aside), got incompatible shapes {shapes}")
            out.append(j if i == 1 else i if j == 1 or j is None else j)
        return tuple(out)

    def call(self, params, state, inputs, *, mask=None, training=False, rng=None):
        self._check_shapes([symbolic.shape_of(x) for x in inputs])
        rank = max(x.ndim for x in inputs)
        inputs = [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in inputs]
        if mask is None or all(m is None for m in mask):
            return functools.reduce(type(self).op, inputs), state
        # Each (batch, steps) mask spread over its input's features.
        spread = [None if m is None else jnp.broadcast_to(m[..., None], x.shape)
                  for x, m in zip(inputs, mask)]
        return self._masked(inputs, spread), state

    def _masked(self, inputs, masks):
        """The merge of masked inputs: for a sum, the masks leave the values alone."""
        return functools.reduce(type(self).op, inputs)


class _Extremum(_Elementwise):
    """Keras 3's masked maximum/minimum: a step one input masks takes the other's value."""

    def _masked(self, inputs, masks):
        out, out_mask = inputs[0], masks[0]
        for x, m in zip(inputs[1:], masks[1:]):
            if m is not None:
                x = jnp.where(m, x, out)
            if out_mask is not None:
                out = jnp.where(out_mask, out, x)
            out_mask = None if m is None or out_mask is None else out_mask | m
            out = type(self).op(out, x)
        return out


class Add(_Elementwise):
    """Adds a list of inputs (whose shapes broadcast, as in Keras 3).

    >>> import jax.numpy as jnp
    >>> Add()([jnp.ones(2), jnp.ones(2)]).tolist()
    [2.0, 2.0]
    >>> Add()([jnp.ones((2, 3, 4)), jnp.ones((2, 4))]).shape
    (2, 3, 4)
    """

    op = operator.add


class Subtract(_Elementwise):
    """Subtracts the second of exactly two inputs from the first.

    >>> import jax.numpy as jnp
    >>> Subtract()([jnp.ones(2), jnp.ones(2)]).tolist()
    [0.0, 0.0]
    """

    op = operator.sub

    def _check_shapes(self, shapes):
        if len(shapes) != 2:
            raise ValueError(f"{self!r} expects exactly 2 inputs, got {len(shapes)} "
                             f"(shapes {shapes})")
        super()._check_shapes(shapes)


class Multiply(_Elementwise):
    """Multiplies a list of inputs (that broadcast), elementwise.

    >>> import jax.numpy as jnp
    >>> Multiply()([jnp.full(2, 2.0), jnp.full(2, 3.0)]).tolist()
    [6.0, 6.0]
    """

    op = operator.mul

    def _masked(self, inputs, masks):
        # Keras 3: masked steps count as 1, and are 0 in the output when all are masked.
        out = functools.reduce(operator.mul, [x if m is None else jnp.where(m, x, 1)
                                              for x, m in zip(inputs, masks)])
        if any(m is None for m in masks):
            return out
        return jnp.where(functools.reduce(jnp.logical_or, masks), out, 0)


class Maximum(_Extremum):
    """The elementwise maximum of a list of inputs (that broadcast).

    >>> import jax.numpy as jnp
    >>> Maximum()([jnp.array([1.0, 4.0]), jnp.array([3.0, 2.0])]).tolist()
    [3.0, 4.0]
    """

    op = jnp.maximum


class Minimum(_Extremum):
    """The elementwise minimum of a list of inputs (that broadcast).

    >>> import jax.numpy as jnp
    >>> Minimum()([jnp.array([1.0, 4.0]), jnp.array([3.0, 2.0])]).tolist()
    [1.0, 2.0]
    """

    op = jnp.minimum


class Average(_Elementwise):
    """The elementwise mean of a list of inputs (that broadcast).

    >>> import jax.numpy as jnp
    >>> Average()([jnp.array([1.0, 4.0]), jnp.array([3.0, 2.0])]).tolist()
    [2.0, 3.0]
    """

    op = operator.add

    def call(self, params, state, inputs, *, mask=None, training=False, rng=None):
        total, state = super().call(params, state, inputs)
        return total / len(inputs), state


class Dot(Merge):
    """The dot product of two inputs, example by example, over ``axes`` (one int for both
    inputs, or a pair). Axis 0 is the batch and cannot be contracted.

    The output holds the batch axis, then the first input's remaining axes, then the second's;
    two rank-2 inputs give ``(batch, 1)``. With ``normalize=True`` both inputs are first
    L2-normalized along their axis, so the result is the cosine similarity.

    >>> import jax.numpy as jnp
    >>> Dot(axes=(1, 2))([jnp.ones((4, 5)), jnp.ones((4, 3, 5))]).shape
    (4, 3)
    """

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        pair = (axes, axes) if isinstance(axes, int) else tuple(axes) if isinstance(
            axes, (list, tuple)) else ()
        if len(pair) != 2 or not all(isinstance(a, int) and not isinstance(a, bool)
                                     for a in pair):
            raise ValueError(f"{self!r}: axes must be an int or a pair of ints, got {axes!r}")
        self.axes = axes
        self.normalize = bool(normalize)

    def _resolve(self, shapes):
        """The two contracted axes, made non-negative and checked against the ranks."""
        pair = (self.axes, self.axes) if isinstance(self.axes, int) else tuple(self.axes)
        axes = []
        for axis, shape in zip(pair, shapes):
            if len(shape) < 2:
                raise ValueError(f"{self!r} needs inputs of rank >= 2 (a batch axis and "
                                 f"another), got shapes {shapes}")
            if not -len(shape) < axis < len(shape) or axis % len(shape) == 0:
                raise ValueError(f"{self!r}: axes {self.axes} must name non-batch axes of the "
                                 f"inputs, got shapes {shapes}")
            axes.append(axis % len(shape))
        return axes

    def _check_shapes(self, shapes):
        if len(shapes) != 2:
            raise ValueError(f"{self!r} expects exactly 2 inputs, got {len(shapes)} "
                             f"(shapes {shapes})")
        (a, b), (x, y) = self._resolve(shapes), shapes
        for i, j in ((0, 0), (a, b)):  # the batch sizes and the contracted sizes must agree
            if x[i] is not None and y[j] is not None and x[i] != y[j]:
                raise ValueError(f"{self!r}: incompatible input shapes {x} and {y} for axes "
                                 f"{self.axes}: axis {i} has size {x[i]}, axis {j} has size "
                                 f"{y[j]}")

    def compute_mask(self, inputs, mask=None):
        """``None``: the contraction leaves no time axis to mask (Keras 3)."""
        return None

    def call(self, params, state, inputs, *, training=False, rng=None):
        x, y = inputs
        a, b = self._resolve([x.shape, y.shape])
        if self.normalize:  # Keras' ops.normalize: x * min(rsqrt(sum x^2), 1 / epsilon)
            x, y = (v * jnp.minimum(jax.lax.rsqrt(jnp.sum(jnp.square(v), axis, keepdims=True)),
                                    1.0 / _EPSILON) for v, axis in ((x, a), (y, b)))
        out = jax.lax.dot_general(x, y, (((a,), (b,)), ((0,), (0,))))
        return (out[:, None] if out.ndim == 1 else out), state


# --- Keras' functional forms: one call of a fresh merging layer -------------------------------


def add(inputs, **kwargs):
    """``Add(**kwargs)(inputs)``.

    >>> import jax.numpy as jnp
    >>> add([jnp.ones(2), jnp.ones(2)]).tolist()
    [2.0, 2.0]
    """
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """``Subtract(**kwargs)(inputs)``.

    >>> import jax.numpy as jnp
    >>> subtract([jnp.ones(2), jnp.ones(2)]).tolist()
    [0.0, 0.0]
    """
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """``Multiply(**kwargs)(inputs)``.

    >>> import jax.numpy as jnp
    >>> multiply([jnp.full(2, 2.0), jnp.full(2, 3.0)]).tolist()
    [6.0, 6.0]
    """
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """``Average(**kwargs)(inputs)``.

    >>> import jax.numpy as jnp
    >>> average([jnp.zeros(2), jnp.ones(2)]).tolist()
    [0.5, 0.5]
    """
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """``Maximum(**kwargs)(inputs)``.

    >>> import jax.numpy as jnp
    >>> maximum([jnp.array([1.0, 4.0]), jnp.array([3.0, 2.0])]).tolist()
    [3.0, 4.0]
    """
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """``Minimum(**kwargs)(inputs)``.

    >>> import jax.numpy as jnp
    >>> minimum([jnp.array([1.0, 4.0]), jnp.array([3.0, 2.0])]).tolist()
    [1.0, 2.0]
    """
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis, **kwargs)(inputs)``.

    >>> import jax.numpy as jnp
    >>> concatenate([jnp.ones((2, 3)), jnp.ones((2, 1))]).shape
    (2, 4)
    """
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """``Dot(axes, normalize, **kwargs)(inputs)``.

    >>> import jax.numpy as jnp
    >>> dot([jnp.ones((2, 3)), jnp.ones((2, 3))]).tolist()
    [[3.0], [3.0]]
    """
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
