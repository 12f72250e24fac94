"""Losses: per-example functions (``categorical_crossentropy``, ...) and Keras' loss
classes (``CategoricalCrossentropy(from_logits=True)``, ...) with ``reduction=``; the
``Loss`` base class for your own.

>>> import jax.numpy as jnp
>>> from jkeras import losses
>>> losses.mean_squared_error(jnp.zeros((2, 2)), jnp.ones((2, 2))).tolist()
[1.0, 1.0]
>>> float(losses.MeanSquaredError(reduction="sum")(jnp.zeros((2, 2)), jnp.ones((2, 2))))
2.0
"""
from .classes import (REDUCTIONS, BinaryCrossentropy, BinaryFocalCrossentropy,
                      CategoricalCrossentropy, CategoricalHinge, CosineSimilarity, Hinge, Huber,
                      KLDivergence, LogCosh, Loss, LossFunctionWrapper, MeanAbsoluteError,
                      MeanAbsolutePercentageError, MeanSquaredError, MeanSquaredLogarithmicError,
                      Poisson, SparseCategoricalCrossentropy, SquaredHinge, reduce_weighted)
from .functions import (ALL, EPSILON, binary_crossentropy, binary_focal_crossentropy,
                        categorical_crossentropy, categorical_hinge, cosine_similarity, get,
                        hinge, huber, kl_divergence, log_cosh, mean_absolute_error,
                        mean_absolute_percentage_error, mean_squared_error,
                        mean_squared_logarithmic_error, poisson, sparse_categorical_crossentropy,
                        squared_hinge)

__all__ = [
    "ALL", "BinaryCrossentropy", "BinaryFocalCrossentropy", "CategoricalCrossentropy",
    "CategoricalHinge", "CosineSimilarity", "EPSILON", "Hinge", "Huber", "KLDivergence",
    "LogCosh", "Loss", "LossFunctionWrapper", "MeanAbsoluteError",
    "MeanAbsolutePercentageError", "MeanSquaredError", "MeanSquaredLogarithmicError",
    "Poisson", "REDUCTIONS", "SparseCategoricalCrossentropy", "SquaredHinge",
    "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
    "categorical_hinge", "cosine_similarity", "get", "hinge", "huber", "kl_divergence",
    "log_cosh", "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_error",
    "mean_squared_logarithmic_error", "poisson", "reduce_weighted",
    "sparse_categorical_crossentropy", "squared_hinge",
]
