"""Metrics: per-example functions (``categorical_accuracy``, ...) and streaming objects
(``CategoricalAccuracy``, ``MeanAbsoluteError``, ``AUC``, ...) with pure state, by Keras
name or as callables; ``Metric`` is the base for your own, written the pure way or the
Keras way (``add_variable``, ``update_state``, ``result``, ``reset_state``).

>>> import jax.numpy as jnp
>>> from jkeras import metrics
>>> metrics.categorical_accuracy(jnp.eye(2), jnp.array([[0.9, 0.1], [0.8, 0.2]])).tolist()
[1.0, 0.0]
"""
from .functions import (ALL, binary_accuracy, binary_crossentropy, binary_focal_crossentropy,
                        categorical_accuracy, categorical_crossentropy, categorical_hinge, get,
                        hinge, huber, kl_divergence, log_cosh, mean_absolute_error,
                        mean_absolute_percentage_error, mean_squared_error,
                        mean_squared_logarithmic_error, poisson, sparse_categorical_accuracy,
                        sparse_categorical_crossentropy, sparse_top_k_categorical_accuracy,
                        squared_hinge, top_k_categorical_accuracy)
from .probabilistic import (BinaryCrossentropy, CategoricalCrossentropy, KLDivergence, Poisson,
                            SparseCategoricalCrossentropy)
from .registry import CLASSES, get_metric
from .regression import (CategoricalHinge, CosineSimilarity, Hinge, LogCoshError,
                         MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredError,
                         MeanSquaredLogarithmicError, RootMeanSquaredError, SquaredHinge)
from .streaming import (AUC, Accuracy, BinaryAccuracy, CategoricalAccuracy, Mean,
                        MeanMetricWrapper, Metric, Precision, Recall, SparseCategoricalAccuracy,
                        SparseTopKCategoricalAccuracy, Sum, TopKCategoricalAccuracy)
from .variables import MetricVariable

__all__ = [
    "ALL", "AUC", "Accuracy", "BinaryAccuracy", "BinaryCrossentropy", "CLASSES",
    "CategoricalAccuracy", "CategoricalCrossentropy", "CategoricalHinge", "CosineSimilarity",
    "Hinge", "KLDivergence", "LogCoshError", "Mean", "MeanAbsoluteError",
    "MeanAbsolutePercentageError", "MeanMetricWrapper", "MeanSquaredError",
    "MeanSquaredLogarithmicError", "Metric", "MetricVariable", "Poisson", "Precision", "Recall",
    "RootMeanSquaredError", "SparseCategoricalAccuracy", "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy", "SquaredHinge", "Sum", "TopKCategoricalAccuracy",
    "binary_accuracy", "binary_crossentropy", "binary_focal_crossentropy",
    "categorical_accuracy", "categorical_crossentropy", "categorical_hinge", "get",
    "get_metric", "hinge", "huber", "kl_divergence", "log_cosh", "mean_absolute_error",
    "mean_absolute_percentage_error", "mean_squared_error", "mean_squared_logarithmic_error",
    "poisson", "sparse_categorical_accuracy", "sparse_categorical_crossentropy",
    "sparse_top_k_categorical_accuracy", "squared_hinge", "top_k_categorical_accuracy",
]
