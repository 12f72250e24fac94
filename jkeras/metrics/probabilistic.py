"""Streaming probabilistic metrics: the weighted mean, across batches, of a crossentropy,
the KL divergence or the Poisson loss of :mod:`jkeras.losses`."""
from ..losses import functions as fns
from .streaming import MeanMetricWrapper


class KLDivergence(MeanMetricWrapper):
    """The mean of ``kl_divergence`` over every example seen.

    >>> m = KLDivergence(); m.update_state([[0.5, 0.5]], [[0.5, 0.5]]); float(m.result())
    0.0
    """

    def __init__(self, name="kl_divergence", dtype="float32"):
        super().__init__(fns.kl_divergence, name=name, dtype=dtype)


class Poisson(MeanMetricWrapper):
    """The mean of ``poisson`` over every example seen.

    >>> m = Poisson(); m.update_state([[0.0]], [[2.0]]); float(m.result())
    2.0
    """

    def __init__(self, name="poisson", dtype="float32"):
        super().__init__(fns.poisson, name=name, dtype=dtype)


class BinaryCrossentropy(MeanMetricWrapper):
    """The mean of ``binary_crossentropy`` over every example seen.

    >>> m = BinaryCrossentropy(from_logits=True)
    >>> m.update_state([[1.0]], [[0.0]]); round(float(m.result()), 4)
    0.6931
    """

    def __init__(self, name="binary_crossentropy", dtype="float32", from_logits=False,
                 label_smoothing=0.0):
        super().__init__(fns.binary_crossentropy, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing)


class CategoricalCrossentropy(MeanMetricWrapper):
    """The mean of ``categorical_crossentropy`` over every example seen.

    >>> m = CategoricalCrossentropy(from_logits=True)
    >>> m.update_state([[0.0, 1.0]], [[0.0, 0.0]]); round(float(m.result()), 4)
    0.6931
    """

    def __init__(self, name="categorical_crossentropy", dtype="float32", from_logits=False,
                 label_smoothing=0.0, axis=-1):
        super().__init__(fns.categorical_crossentropy, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """The mean of ``sparse_categorical_crossentropy`` over every example seen.

    >>> m = SparseCategoricalCrossentropy(from_logits=True)
    >>> m.update_state([1], [[0.0, 0.0]]); round(float(m.result()), 4)
    0.6931
    """

    def __init__(self, name="sparse_categorical_crossentropy", dtype="float32",
                 from_logits=False, axis=-1):
        super().__init__(fns.sparse_categorical_crossentropy, name=name, dtype=dtype,
                         from_logits=from_logits, axis=axis)
