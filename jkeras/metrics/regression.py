"""Streaming error metrics: the weighted mean, across batches, of a per-example error
(``MeanSquaredError``, ``MeanAbsoluteError``, ..., the hinges), and ``RootMeanSquaredError``.

Each is a ``MeanMetricWrapper`` over the function of :mod:`jkeras.losses` of the same
name, so its state is Mean's ``{"total", "count"}``.
"""
import jax.numpy as jnp

from ..losses import functions as fns
from .streaming import Mean, MeanMetricWrapper


class MeanSquaredError(MeanMetricWrapper):
    """The mean of ``mean_squared_error`` over every example seen.

    >>> m = MeanSquaredError(); m.update_state([[0.0, 1.0]], [[1.0, 1.0]]); float(m.result())
    0.5
    """

    def __init__(self, name="mean_squared_error", dtype="float32"):
        super().__init__(fns.mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """The mean of ``mean_absolute_error`` over every example seen.

    >>> m = MeanAbsoluteError(); m.update_state([[0.0, 1.0]], [[2.0, 1.0]]); float(m.result())
    1.0
    """

    def __init__(self, name="mean_absolute_error", dtype="float32"):
        super().__init__(fns.mean_absolute_error, name=name, dtype=dtype)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """The mean of ``mean_absolute_percentage_error`` over every example seen.

    >>> m = MeanAbsolutePercentageError(); m.update_state([[2.0]], [[1.0]]); float(m.result())
    50.0
    """

    def __init__(self, name="mean_absolute_percentage_error", dtype="float32"):
        super().__init__(fns.mean_absolute_percentage_error, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """The mean of ``mean_squared_logarithmic_error`` over every example seen.

    >>> m = MeanSquaredLogarithmicError(); m.update_state([[1.0]], [[1.0]]); float(m.result())
    0.0
    """

    def __init__(self, name="mean_squared_logarithmic_error", dtype="float32"):
        super().__init__(fns.mean_squared_logarithmic_error, name=name, dtype=dtype)


class RootMeanSquaredError(Mean):
    """``sqrt`` of the mean squared error over every example seen (not a mean of roots).

    >>> m = RootMeanSquaredError()
    >>> m.update_state([[0.0], [0.0]], [[3.0], [4.0]]); round(float(m.result()), 4)
    3.5355
    """

    def __init__(self, name="root_mean_squared_error", dtype="float32"):
        super().__init__(name=name, dtype=dtype)

    def update(self, state, y_true, y_pred, sample_weight=None):
        y_true, y_pred = fns._elementwise("root_mean_squared_error", y_true, y_pred)
        return super().update(state, jnp.square(y_pred - y_true), sample_weight)

    def result(self, state):
        return jnp.sqrt(super().result(state))

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Folds one batch into the stored state."""
        self._update_stored(y_true, y_pred, sample_weight)


def _cosine(y_true, y_pred, axis=-1):
    return -fns.cosine_similarity(y_true, y_pred, axis=axis)


class CosineSimilarity(MeanMetricWrapper):
    """The mean cosine similarity along ``axis`` (1 for the same direction).

    >>> m = CosineSimilarity(); m.update_state([[1.0, 1.0]], [[2.0, 2.0]])
    >>> round(float(m.result()), 4)
    1.0
    """

    direction = "up"

    def __init__(self, name="cosine_similarity", dtype="float32", axis=-1):
        super().__init__(_cosine, name=name, dtype=dtype, axis=axis)


class LogCoshError(MeanMetricWrapper):
    """The mean of ``log_cosh`` over every example seen.

    >>> m = LogCoshError(); m.update_state([[0.0]], [[0.0]]); float(m.result())
    0.0
    """

    def __init__(self, name="logcosh", dtype="float32"):
        super().__init__(fns.log_cosh, name=name, dtype=dtype)


class Hinge(MeanMetricWrapper):
    """The mean of ``hinge`` over every example seen.

    >>> m = Hinge(); m.update_state([[1.0]], [[0.25]]); float(m.result())
    0.75
    """

    def __init__(self, name="hinge", dtype="float32"):
        super().__init__(fns.hinge, name=name, dtype=dtype)


class SquaredHinge(MeanMetricWrapper):
    """The mean of ``squared_hinge`` over every example seen.

    >>> m = SquaredHinge(); m.update_state([[1.0]], [[0.5]]); float(m.result())
    0.25
    """

    def __init__(self, name="squared_hinge", dtype="float32"):
        super().__init__(fns.squared_hinge, name=name, dtype=dtype)


class CategoricalHinge(MeanMetricWrapper):
    """The mean of ``categorical_hinge`` over every example seen.

    >>> m = CategoricalHinge(); m.update_state([[0.0, 1.0]], [[0.0, 2.0]]); float(m.result())
    0.0
    """

    def __init__(self, name="categorical_hinge", dtype="float32"):
        super().__init__(fns.categorical_hinge, name=name, dtype=dtype)
