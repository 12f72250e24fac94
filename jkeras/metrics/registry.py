"""Metrics by name: what ``compile(metrics=[...])`` accepts, resolved to metric objects."""
from ..naming import to_snake_case
from . import probabilistic, regression
from .functions import ALL
from .streaming import (AUC, Accuracy, BinaryAccuracy, CategoricalAccuracy, MeanMetricWrapper,
                        Metric, Precision, Recall, SparseCategoricalAccuracy,
                        SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy)


# Metric classes by snake-case name ("auc", "precision", ...), for compile(metrics=[...]).
# Kept apart from ALL, whose names stay the per-example functions that ``get`` returns.
CLASSES = {
    "accuracy": Accuracy, "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "precision": Precision, "recall": Recall, "auc": AUC,
    **{to_snake_case(cls.__name__): cls for cls in (
        regression.MeanSquaredError, regression.MeanAbsoluteError,
        regression.MeanAbsolutePercentageError, regression.MeanSquaredLogarithmicError,
        regression.RootMeanSquaredError, regression.CosineSimilarity, regression.Hinge,
        regression.SquaredHinge, regression.CategoricalHinge, probabilistic.KLDivergence,
        probabilistic.Poisson, probabilistic.BinaryCrossentropy,
        probabilistic.CategoricalCrossentropy, probabilistic.SparseCategoricalCrossentropy,
        regression.LogCoshError)},
}


def get_metric(identifier):
    """A metric *object* for ``compile``: a name, a ``Metric``, a class or a function.

    Names may be snake or CamelCase and cover both the classes here (``"auc"``,
    ``"Precision"``) and the functions of ``ALL`` (wrapped in ``MeanMetricWrapper``).
    The metric is named after a string identifier as given, as in Keras.
    (``"accuracy"``/``"acc"`` in ``compile`` first pick the accuracy fitting the targets.)

    >>> get_metric("AUC").num_thresholds
    200
    >>> get_metric("mae").name
    'mae'
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        key = to_snake_case(identifier)
        key = "accuracy" if key == "acc" else key
        if key in CLASSES:
            return CLASSES[key](name=identifier)
        if key not in ALL:
            names = sorted(set(CLASSES) | set(ALL) | {"acc"})
            raise ValueError(f"Unknown metric {identifier!r}. Valid names: {', '.join(names)}.")
        return MeanMetricWrapper(ALL[key], name=identifier)
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"Expected a metric name, a jkeras.metrics.Metric or a function "
                    f"(y_true, y_pred) -> values, got {identifier!r}.")
