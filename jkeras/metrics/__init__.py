"""Metrics: per-example functions (``categorical_accuracy``, ...) and streaming objects
(``CategoricalAccuracy``, ``AUC``, ...) with pure state, by Keras name or as callables.

>>> import jax.numpy as jnp
>>> from jkeras import metrics
>>> metrics.categorical_accuracy(jnp.eye(2), jnp.array([[0.9, 0.1], [0.8, 0.2]])).tolist()
[1.0, 0.0]
"""
from .functions import (ALL, binary_accuracy, binary_crossentropy, categorical_accuracy,
                        categorical_crossentropy, get, mean_absolute_error, mean_squared_error,
                        sparse_categorical_accuracy, sparse_categorical_crossentropy,
                        sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)
from .streaming import (AUC, CLASSES, Accuracy, BinaryAccuracy, CategoricalAccuracy, Mean,
                        MeanMetricWrapper, Metric, Precision, Recall, SparseCategoricalAccuracy,
                        SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy, get_metric)

__all__ = [
    "ALL", "AUC", "Accuracy", "BinaryAccuracy", "CLASSES", "CategoricalAccuracy", "Mean",
    "MeanMetricWrapper", "Metric", "Precision", "Recall", "SparseCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy", "TopKCategoricalAccuracy", "binary_accuracy",
    "binary_crossentropy", "categorical_accuracy", "categorical_crossentropy", "get",
    "get_metric", "mean_absolute_error", "mean_squared_error", "sparse_categorical_accuracy",
    "sparse_categorical_crossentropy", "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
]
