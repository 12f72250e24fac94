"""Metric functions, by Keras name or as callables.

Each takes ``(y_true, y_pred)`` and returns one float32 value per example (only the last axis
is reduced), so a batch's metric is ``jnp.mean(metric(y, p))`` and a streaming average is a
running sum of these. All are pure ``jax.numpy`` and safe under ``jit``, ``grad`` and
``vmap``. As in ``keras.metrics``, the loss functions are metrics too.
"""
import jax.numpy as jnp

from .. import lookup
from ..losses.functions import (
    _check_same_shape, _class_indices, _same_rank, binary_crossentropy,
    binary_focal_crossentropy, categorical_crossentropy, categorical_hinge, hinge, huber,
    kl_divergence, log_cosh, mean_absolute_error, mean_absolute_percentage_error,
    mean_squared_error, mean_squared_logarithmic_error, poisson,
    sparse_categorical_crossentropy, squared_hinge,
)


def _in_top_k(labels, y_pred, k):
    at_label = jnp.take_along_axis(y_pred, labels[..., None], axis=-1)
    # As in Keras: a NaN score is never in the top k, and ties count in the label's favour.
    at_label = jnp.where(jnp.isnan(at_label), -jnp.inf, at_label)
    return jnp.sum(y_pred > at_label, axis=-1) < k


def _check_k(name, k):
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"{name}: expected k to be a positive int, got {k!r}.")


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """How often ``y_pred > threshold`` equals the 0/1 label, averaged over the last axis.

    >>> import jax.numpy as jnp
    >>> binary_accuracy(jnp.array([[1, 0], [1, 1]]),
    ...                 jnp.array([[0.9, 0.2], [0.3, 0.6]])).tolist()
    [1.0, 0.5]
    """
    y_true, y_pred = _same_rank(jnp.asarray(y_true), jnp.asarray(y_pred))
    _check_same_shape("binary_accuracy", y_true, y_pred)
    hits = y_true == (y_pred > threshold).astype(y_true.dtype)
    return jnp.mean(hits.astype(jnp.float32), axis=-1)


def categorical_accuracy(y_true, y_pred):
    """1.0 where the predicted class (argmax) is the one-hot label's class, else 0.0.

    >>> import jax.numpy as jnp
    >>> categorical_accuracy(jnp.array([[0, 1, 0], [0, 0, 1]]),
    ...                      jnp.array([[0.1, 0.8, 0.1], [0.6, 0.3, 0.1]])).tolist()
    [1.0, 0.0]
    """
    y_true, y_pred = jnp.asarray(y_true), jnp.asarray(y_pred)
    _check_same_shape("categorical_accuracy", y_true, y_pred, hint=(
        " For integer class indices (not one-hot), use sparse_categorical_accuracy."))
    hits = jnp.argmax(y_true, axis=-1) == jnp.argmax(y_pred, axis=-1)
    return hits.astype(jnp.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where the predicted class (argmax) is the integer label, else 0.0.

    Labels may be ``(N,)`` or ``(N, 1)``; the result is ``(N,)`` either way.

    >>> import jax.numpy as jnp
    >>> sparse_categorical_accuracy(jnp.array([1, 2]),
    ...                             jnp.array([[0.1, 0.8, 0.1], [0.6, 0.3, 0.1]])).tolist()
    [1.0, 0.0]
    """
    y_pred = jnp.asarray(y_pred)
    labels = _class_indices("sparse_categorical_accuracy", y_true, y_pred,
                            dense_name="categorical_accuracy")
    return (jnp.argmax(y_pred, axis=-1) == labels).astype(jnp.float32)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the one-hot label's class is among the ``k`` highest scores, else 0.0.

    >>> import jax.numpy as jnp
    >>> top_k_categorical_accuracy(jnp.array([[0, 0, 1], [0, 1, 0]]),
    ...                            jnp.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]]), k=2).tolist()
    [0.0, 1.0]
    """
    name = "top_k_categorical_accuracy"
    _check_k(name, k)
    y_true, y_pred = jnp.asarray(y_true), jnp.asarray(y_pred)
    _check_same_shape(name, y_true, y_pred, hint=(
        " For integer class indices (not one-hot), use sparse_top_k_categorical_accuracy."))
    return _in_top_k(jnp.argmax(y_true, axis=-1), y_pred, k).astype(jnp.float32)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the integer label is among the ``k`` highest scores, else 0.0.

    >>> import jax.numpy as jnp
    >>> y_pred = jnp.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]])
    >>> sparse_top_k_categorical_accuracy(jnp.array([2, 1]), y_pred, k=2).tolist()
    [0.0, 1.0]
    """
    name = "sparse_top_k_categorical_accuracy"
    _check_k(name, k)
    y_pred = jnp.asarray(y_pred)
    labels = _class_indices(name, y_true, y_pred, dense_name="top_k_categorical_accuracy")
    return _in_top_k(labels, y_pred, k).astype(jnp.float32)


# The names keras.metrics.get accepts for these functions (class names such as
# "SparseCategoricalAccuracy" and "MAE" reach them through snake_case). As in Keras, huber,
# log_cosh and binary_focal_crossentropy are metric functions but not metric names.
ALL = {
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
    "binary_crossentropy": binary_crossentropy, "bce": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "mean_squared_error": mean_squared_error, "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error, "mae": mean_absolute_error,
    "mean_absolute_percentage_error": mean_absolute_percentage_error,
    "mape": mean_absolute_percentage_error,
    "mean_squared_logarithmic_error": mean_squared_logarithmic_error,
    "msle": mean_squared_logarithmic_error,
    "hinge": hinge, "squared_hinge": squared_hinge, "categorical_hinge": categorical_hinge,
    "kl_divergence": kl_divergence, "poisson": poisson,
}


def get(identifier):
    """A metric by Keras name (``"sparse_categorical_accuracy"``, ``"mae"``), a callable as is.

    >>> get("binary_accuracy") is binary_accuracy
    True
    """
    return lookup.resolve(identifier, ALL, "metric")
