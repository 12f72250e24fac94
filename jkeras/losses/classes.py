"""Loss objects: Keras' ``Loss`` base class, its reductions, and one class per loss function.

A loss object is configuration plus a pure ``__call__``: ``loss(y_true, y_pred,
sample_weight=None)`` computes the per-example values with ``call``, weighs them and
reduces them, so it is safe under ``jit``, ``grad`` and ``vmap`` and works in
``compile(loss=...)`` as it is.
"""
import jax
import jax.numpy as jnp

from ..naming import to_snake_case
from . import functions as fns

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def check_reduction(reduction, owner="Loss"):
    """``reduction`` if Keras knows it, else a ValueError listing the valid ones.

    >>> check_reduction("sum")
    'sum'
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"{owner}: reduction must be one of {list(REDUCTIONS)}, got "
                         f"{reduction!r}.")
    return reduction


def reduce_weighted(values, sample_weight=None, reduction="sum_over_batch_size",
                    dtype="float32"):
    """Keras' weighting and reduction of per-example loss ``values``.

    ``sample_weight`` multiplies the values (a trailing axis of size 1 on either side is
    dropped or added, as in Keras, and per-example weights spread over any further axes
    of the values). Then ``"sum"`` sums; ``"sum_over_batch_size"`` and ``"mean"`` divide
    the sum by the number of values; ``"mean_with_sample_weight"`` divides it by the sum
    of the weights; ``"none"``/``None`` keep the weighted values.

    >>> import jax.numpy as jnp
    >>> float(reduce_weighted(jnp.array([1.0, 3.0]), jnp.array([1.0, 0.0])))
    0.5
    >>> float(reduce_weighted(jnp.array([1.0, 3.0]), jnp.array([1.0, 0.0]),
    ...                       reduction="mean_with_sample_weight"))
    1.0
    """
    check_reduction(reduction)
    values = jnp.asarray(values, dtype)
    if sample_weight is not None:
        sample_weight = jnp.asarray(sample_weight, dtype)
        values, sample_weight = fns._same_rank(values, sample_weight)
        if sample_weight.ndim < values.ndim:
            sample_weight = sample_weight.reshape(
                sample_weight.shape + (1,) * (values.ndim - sample_weight.ndim))
        values = values * sample_weight
    if reduction in (None, "none") or values.ndim == 0:
        return values
    total = jnp.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = jnp.sum(jnp.broadcast_to(sample_weight, values.shape))
        return jnp.where(divisor == 0, 0, total / jnp.where(divisor == 0, 1, divisor))
    return total / values.size if values.size else total


class Loss:
    """The base class of losses: subclass it and write ``call(self, y_true, y_pred)``
    returning one value per example (or a scalar); ``__call__`` adds the weighting by
    ``sample_weight`` and the ``reduction``.

    >>> import jax.numpy as jnp
    >>> class ScaledMSE(Loss):
    ...     def __init__(self, scale=2.0, name="scaled_mse"):
    ...         super().__init__(name=name)
    ...         self.scale = scale
    ...     def call(self, y_true, y_pred):
    ...         return self.scale * jnp.mean(jnp.square(y_true - y_pred), axis=-1)
    >>> float(ScaledMSE()(jnp.zeros((2, 1)), jnp.ones((2, 1))))
    2.0
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or to_snake_case(type(self).__name__)
        self.reduction = check_reduction(reduction, type(self).__name__)
        self.dtype = jnp.dtype(dtype or "float32")

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The reduced loss of a batch: ``call``, then weighting and ``reduction``."""
        as_dtype = lambda x: jnp.asarray(x, self.dtype)
        y_true = jax.tree_util.tree_map(as_dtype, y_true)
        y_pred = jax.tree_util.tree_map(as_dtype, y_pred)
        return reduce_weighted(self.call(y_true, y_pred), sample_weight, self.reduction,
                               self.dtype)

    def call(self, y_true, y_pred):
        """The per-example loss values (subclasses write this)."""
        raise NotImplementedError(f"{type(self).__name__} must define call(self, y_true, "
                                  "y_pred) returning the per-example loss values.")

    def get_config(self):
        """The constructor arguments, as Keras' ``get_config``.

        >>> MeanSquaredError(reduction="sum").get_config()
        {'name': 'mean_squared_error', 'reduction': 'sum'}
        """
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        """A loss made from ``get_config()``'s dict.

        >>> Huber.from_config({"name": "h", "reduction": "sum", "delta": 2.0}).delta
        2.0
        """
        from ..saving.serialization import deserialize_value
        return cls(**{k: deserialize_value(v) for k, v in config.items()})

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"


class LossFunctionWrapper(Loss):
    """A ``Loss`` around a per-example function ``fn(y_true, y_pred, **kwargs)``.

    >>> import jax.numpy as jnp
    >>> loss = LossFunctionWrapper(fns.mean_absolute_error, reduction="sum")
    >>> float(loss(jnp.zeros((2, 1)), jnp.ones((2, 1))))
    2.0
    """

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction,
                         dtype=dtype)
        self.fn, self.kwargs = fn, kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self.kwargs)

    def get_config(self):
        config = {**super().get_config(), **self.kwargs}
        if type(self) is LossFunctionWrapper:  # subclasses fix their function themselves
            from ..saving.serialization import serialize_keras_object
            config["fn"] = serialize_keras_object(self.fn)
        return config

    def __getattr__(self, name):
        # The function's keyword arguments read as attributes (``Huber().delta``).
        kwargs = self.__dict__.get("kwargs", {})
        if name in kwargs:
            return kwargs[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


_SUM = "sum_over_batch_size"


class MeanSquaredError(LossFunctionWrapper):
    """The mean of squared errors (``mean_squared_error``), reduced over the batch.

    >>> import jax.numpy as jnp
    >>> float(MeanSquaredError()(jnp.array([[0.0, 1.0]]), jnp.array([[1.0, 1.0]])))
    0.5
    """

    def __init__(self, reduction=_SUM, name="mean_squared_error", dtype=None):
        super().__init__(fns.mean_squared_error, reduction, name, dtype)


class MeanAbsoluteError(LossFunctionWrapper):
    """The mean of absolute errors (``mean_absolute_error``), reduced over the batch.

    >>> import jax.numpy as jnp
    >>> float(MeanAbsoluteError()(jnp.array([[0.0, 1.0]]), jnp.array([[2.0, 1.0]])))
    1.0
    """

    def __init__(self, reduction=_SUM, name="mean_absolute_error", dtype=None):
        super().__init__(fns.mean_absolute_error, reduction, name, dtype)


class MeanAbsolutePercentageError(LossFunctionWrapper):
    """``mean_absolute_percentage_error``, reduced over the batch.

    >>> import jax.numpy as jnp
    >>> float(MeanAbsolutePercentageError()(jnp.array([[2.0]]), jnp.array([[1.0]])))
    50.0
    """

    def __init__(self, reduction=_SUM, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(fns.mean_absolute_percentage_error, reduction, name, dtype)


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """``mean_squared_logarithmic_error``, reduced over the batch.

    >>> import jax.numpy as jnp
    >>> float(MeanSquaredLogarithmicError()(jnp.zeros((1, 1)), jnp.zeros((1, 1))))
    0.0
    """

    def __init__(self, reduction=_SUM, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(fns.mean_squared_logarithmic_error, reduction, name, dtype)


class CosineSimilarity(LossFunctionWrapper):
    """``cosine_similarity`` (minus the cosine along ``axis``), reduced over the batch.

    >>> import jax.numpy as jnp
    >>> round(float(CosineSimilarity()(jnp.array([[1.0, 1.0]]), jnp.array([[2.0, 2.0]]))), 4)
    -1.0
    """

    def __init__(self, axis=-1, reduction=_SUM, name="cosine_similarity", dtype=None):
        super().__init__(fns.cosine_similarity, reduction, name, dtype, axis=axis)


class Huber(LossFunctionWrapper):
    """``huber`` (quadratic within ``delta``, linear beyond), reduced over the batch.

    >>> import jax.numpy as jnp
    >>> float(Huber(delta=1.0)(jnp.zeros((1, 2)), jnp.array([[0.5, 3.0]])))
    1.3125
    """

    def __init__(self, delta=1.0, reduction=_SUM, name="huber_loss", dtype=None):
        super().__init__(fns.huber, reduction, name, dtype, delta=delta)


class LogCosh(LossFunctionWrapper):
    """``log_cosh``, reduced over the batch.

    >>> import jax.numpy as jnp
    >>> float(LogCosh()(jnp.zeros((1, 1)), jnp.zeros((1, 1))))
    0.0
    """

    def __init__(self, reduction=_SUM, name="log_cosh", dtype=None):
        super().__init__(fns.log_cosh, reduction, name, dtype)


class Hinge(LossFunctionWrapper):
    """``hinge`` (labels -1/1, or 0/1), reduced over the batch.

    >>> import jax.numpy as jnp
    >>> float(Hinge()(jnp.array([[1.0]]), jnp.array([[0.25]])))
    0.75
    """

    def __init__(self, reduction=_SUM, name="hinge", dtype=None):
        super().__init__(fns.hinge, reduction, name, dtype)


class SquaredHinge(LossFunctionWrapper):
    """``squared_hinge``, reduced over the batch.

    >>> import jax.numpy as jnp
    >>> float(SquaredHinge()(jnp.array([[1.0]]), jnp.array([[0.5]])))
    0.25
    """

    def __init__(self, reduction=_SUM, name="squared_hinge", dtype=None):
        super().__init__(fns.squared_hinge, reduction, name, dtype)


class CategoricalHinge(LossFunctionWrapper):
    """``categorical_hinge`` (one-hot labels), reduced over the batch.

    >>> import jax.numpy as jnp
    >>> float(CategoricalHinge()(jnp.array([[0.0, 1.0]]), jnp.array([[0.0, 2.0]])))
    0.0
    """

    def __init__(self, reduction=_SUM, name="categorical_hinge", dtype=None):
        super().__init__(fns.categorical_hinge, reduction, name, dtype)


class KLDivergence(LossFunctionWrapper):
    """``kl_divergence`` between distributions, reduced over the batch.

    >>> import jax.numpy as jnp
    >>> float(KLDivergence()(jnp.array([[0.5, 0.5]]), jnp.array([[0.5, 0.5]])))
    0.0
    """

    def __init__(self, reduction=_SUM, name="kl_divergence", dtype=None):
        super().__init__(fns.kl_divergence, reduction, name, dtype)


class Poisson(LossFunctionWrapper):
    """``poisson``, reduced over the batch.

    >>> import jax.numpy as jnp
    >>> float(Poisson()(jnp.array([[0.0]]), jnp.array([[2.0]])))
    2.0
    """

    def __init__(self, reduction=_SUM, name="poisson", dtype=None):
        super().__init__(fns.poisson, reduction, name, dtype)


class BinaryCrossentropy(LossFunctionWrapper):
    """``binary_crossentropy`` (``from_logits``, ``label_smoothing``), reduced over the batch.

    >>> import jax.numpy as jnp
    >>> round(float(BinaryCrossentropy(from_logits=True)(jnp.array([[1.0]]),
    ...                                                  jnp.array([[0.0]]))), 4)
    0.6931
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction=_SUM,
                 name="binary_crossentropy", dtype=None):
        super().__init__(fns.binary_crossentropy, reduction, name, dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class BinaryFocalCrossentropy(LossFunctionWrapper):
    """``binary_focal_crossentropy``, reduced over the batch.

    >>> import jax.numpy as jnp
    >>> round(float(BinaryFocalCrossentropy(gamma=0.0)(jnp.array([[1.0]]),
    ...                                                jnp.array([[0.5]]))), 4)
    0.6931
    """

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0, axis=-1, reduction=_SUM,
                 name="binary_focal_crossentropy", dtype=None):
        super().__init__(fns.binary_focal_crossentropy, reduction, name, dtype,
                         apply_class_balancing=apply_class_balancing, alpha=alpha,
                         gamma=gamma, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class CategoricalCrossentropy(LossFunctionWrapper):
    """``categorical_crossentropy`` on one-hot labels, reduced over the batch.

    >>> import jax.numpy as jnp
    >>> round(float(CategoricalCrossentropy(from_logits=True)(jnp.array([[0.0, 1.0]]),
    ...                                                       jnp.zeros((1, 2)))), 4)
    0.6931
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction=_SUM,
                 name="categorical_crossentropy", dtype=None):
        super().__init__(fns.categorical_crossentropy, reduction, name, dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """``sparse_categorical_crossentropy`` on integer labels, reduced over the batch.

    >>> import jax.numpy as jnp
    >>> round(float(SparseCategoricalCrossentropy(from_logits=True)(jnp.array([1]),
    ...                                                             jnp.zeros((1, 2)))), 4)
    0.6931
    """

    def __init__(self, from_logits=False, reduction=_SUM, axis=-1,
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(fns.sparse_categorical_crossentropy, reduction, name, dtype,
                         from_logits=from_logits, axis=axis)
