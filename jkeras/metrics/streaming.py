"""Streaming metric objects: pure ``init``/``update``/``result`` over a small state pytree.

A metric object is three pure functions over a small state pytree, so ``fit`` can carry
metric states through its jitted, scanned step like any other array. The object itself
holds only configuration; ``update_state``/``result()``/``reset_state`` add Keras' stateful
convenience on top, for use outside ``fit``. A metric written the Keras way (variables
from ``add_variable``, ``update_state``, ``result``) gets its pure functions derived.
"""
import contextlib
import functools

import jax
import jax.numpy as jnp
import numpy as np

from .. import configurable
from ..losses.functions import EPSILON, _same_rank
from ..naming import to_snake_case
from .stateless import StatelessMetric
from .functions import (binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
                        sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)
from .variables import MetricVariable, unwrap


def _divide_no_nan(a, b):
    safe = jnp.where(b == 0, 1, b)
    return jnp.where(b == 0, jnp.zeros((), jnp.result_type(a)), a / safe)


def _samplewise(values, sample_weight, dtype, reduce=jnp.mean):
    """Keras' ``reduce_to_samplewise_values``: per-sample weighted values and weights.

    Values with more axes than the weights are averaged (``reduce``d) down to the weights'
    rank, the weights are broadcast to the values, and both are reduced to one per sample.
    """
    values = jnp.asarray(values).astype(dtype)
    if sample_weight is not None:
        sample_weight = jnp.asarray(sample_weight).astype(dtype)
        values, sample_weight = _same_rank(values, sample_weight)
        w_ndim, v_ndim = sample_weight.ndim, values.ndim
        if v_ndim > w_ndim:
            values = reduce(values, axis=tuple(range(w_ndim, v_ndim)))
        sample_weight = jnp.broadcast_to(sample_weight, values.shape)
        values = values * sample_weight
        if w_ndim > 1:
            sample_weight = reduce(sample_weight, axis=tuple(range(1, w_ndim)))
    if values.ndim > 1:
        values = reduce(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


class Metric(StatelessMetric):
    """The base of streaming metrics: pure state functions plus a stateful shell.

    Subclasses write three pure functions:

    * ``init() -> state``: a pytree of arrays (the metric's "variables");
    * ``update(state, y_true, y_pred, sample_weight=None) -> state``;
    * ``result(state) -> value``.

    These run anywhere JAX runs (``fit`` carries the states through its jitted step).
    On top, ``update_state``, ``result()`` (no argument: the stored state) and
    ``reset_state`` keep a state on the object, as Keras metrics do.
    ``direction`` (``"up"`` or ``"down"``) says which way is better, for callbacks'
    ``mode="auto"``.

    >>> import jax.numpy as jnp
    >>> class Total(Metric):
    ...     def init(self):
    ...         return {"sum": jnp.zeros(())}
    ...     def update(self, state, y_true, y_pred, sample_weight=None):
    ...         return {"sum": state["sum"] + jnp.sum(y_pred)}
    ...     def result(self, state):
    ...         return state["sum"]
    >>> m = Total()
    >>> m.update_state(None, jnp.ones(3)); float(m.result())
    3.0

    A metric may also be written the Keras way: variables from ``add_variable`` in
    ``__init__``, then ``update_state(self, y_true, y_pred, sample_weight=None)`` that
    ``assign``s them, ``result(self)`` and optionally ``reset_state(self)``. The pure
    functions are then derived: ``init()`` holds the variables' initial values (after
    ``reset_state``), and ``update``/``result`` run your methods on the state passed in, so
    such a metric works in ``compile``/``fit`` (under ``jit``) like any other.

    >>> class TruePositives(Metric):
    ...     def __init__(self, name="tp", **kwargs):
    ...         super().__init__(name=name, **kwargs)
    ...         self.tp = self.add_variable(shape=(), initializer="zeros", name="tp")
    ...     def update_state(self, y_true, y_pred, sample_weight=None):
    ...         hits = (jnp.asarray(y_true) == 1) & (jnp.asarray(y_pred) > 0.5)
    ...         self.tp.assign(self.tp + jnp.sum(hits))
    ...     def result(self):
    ...         return self.tp
    >>> m = TruePositives()
    >>> state = m.update(m.init(), jnp.array([1, 1, 0]), jnp.array([0.9, 0.2, 0.8]))
    >>> float(m.result(state))
    1.0
    """

    direction = "down"

    def __init__(self, name=None, dtype="float32"):
        self.name = name or to_snake_case(type(self).__name__)
        self.dtype = jnp.dtype(dtype)
        self._state = None
        self._scope = None  # the state a Keras-style update/result is working on
        self._metric_variables = []

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        configurable.record_init(cls)  # for get_config: the arguments it was made with
        if _is_keras_style(cls):
            _adapt_keras_style(cls)
            return
        # Subclasses write the pure ``result(self, state)``; wrap it so that ``result()``
        # with no argument reads the stored state, as Keras' stateful metrics do.
        pure = cls.__dict__.get("result")
        if pure is not None and not getattr(pure, "_reads_stored_state", False):
            @functools.wraps(pure)
            def result(self, state=None):
                return pure(self, self._stored() if state is None else state)
            result._reads_stored_state = True
            cls.result = result

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"

    def get_config(self):
        """The constructor arguments (Keras' names), for saving.

        >>> AUC(num_thresholds=50).get_config()["num_thresholds"]
        50
        """
        from ..saving.serialization import serialize_keras_object
        config = {"name": self.name, "dtype": self.dtype.name}
        for key, value in configurable.init_args(self).items():
            if key not in config:
                config[key] = serialize_keras_object(value)
        return config

    @classmethod
    def from_config(cls, config):
        """A new metric from ``get_config()`` (or a Keras 3 metric config).

        >>> Precision.from_config(Precision(thresholds=0.7).get_config()).thresholds.tolist()
        [0.699999988079071]
        """
        from ..saving.serialization import constructor_args
        return cls(**constructor_args(cls, config))

    # -- the pure functions subclasses write ----------------------------------------------
    def init(self):
        """The empty state: a pytree of arrays."""
        if self._metric_variables:  # Keras-style variables on a plain Metric
            return self._initial_state()
        raise NotImplementedError(f"{type(self).__name__} must define init()")

    def update(self, state, y_true, y_pred, sample_weight=None):
        """The state after one more batch (a pure function)."""
        raise NotImplementedError(f"{type(self).__name__} must define update()")

    def result(self, state=None):
        """The metric's value for ``state`` (default: the stored state)."""
        raise NotImplementedError(f"{type(self).__name__} must define result(state)")

    # -- the stateful convenience ---------------------------------------------------------
    def _stored(self):
        if self._scope is not None:
            return self._scope
        if self._state is None:
            self._state = self.init()
        return self._state

    # -- Keras-style variables (see jkeras.metrics.variables) ------------------------------
    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum",
                     name=None):
        """A Keras-style state variable: one entry of the metric's state.

        >>> m = Metric(); m.add_variable(shape=(3,), name="counts")
        <MetricVariable 'counts' shape=(3,) dtype=float32>
        """
        taken = {v.name for v in self._metric_variables}
        base = name or "variable"
        name, k = base, 1
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        variable = MetricVariable(self, name, shape, dtype or self.dtype, initializer)
        self._metric_variables.append(variable)
        self._state = None
        return variable

    def add_weight(self, name=None, shape=(), aggregation="sum", initializer="zeros",
                   dtype=None):
        """``add_variable`` with Keras' ``add_weight`` argument order.

        >>> Metric().add_weight("total").shape
        ()
        """
        return self.add_variable(shape, initializer, dtype, aggregation, name)

    def _initial_state(self):
        init = _nearest(type(self), "init")
        state = {} if init is Metric.init else init(self)
        if not self._metric_variables:
            return state
        return {**state, **{v.name: v.initial for v in self._metric_variables}}

    def _put_state(self, name, value):
        if self._scope is not None:
            self._scope[name] = value
        else:
            self._state = {**self._stored(), name: value}

    @contextlib.contextmanager
    def _bound(self, state):
        """Variables read and assign ``state`` (a copy) inside the block."""
        if state is None:
            yield None
            return
        outer, self._scope = self._scope, dict(state)
        try:
            yield self._scope
        finally:
            self._scope = outer

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Folds one batch into the stored state (jitted once per input shape).

        >>> m = Accuracy(); m.update_state([1, 2], [1, 3]); float(m.result())
        0.5
        """
        self._update_stored(y_true, y_pred, sample_weight)

    def _update_stored(self, *args):
        # The nearest pure ``update``: a Keras-style subclass of, say, Mean that calls
        # ``super().update_state(values)`` folds the values in with Mean's.
        update = functools.partial(_nearest(type(self), "update"), self)
        if self._scope is not None:
            self._scope.update(update(self._scope, *args))
            return
        jitted = self.__dict__.get("_jit_update")
        if jitted is None:
            jitted = self._jit_update = jax.jit(update)
        args = [None if a is None else jnp.asarray(a) for a in args]
        new = jitted(self._stored(), *args)
        self._state = {**self._stored(), **new} if self._metric_variables else new

    def reset_state(self):
        """Empties the stored state.

        >>> m = Accuracy(); m.update_state([1], [1]); m.reset_state(); float(m.result())
        0.0
        """
        if self._scope is not None:  # a Keras-style reset_state calling super()
            self._scope.update(self._initial_state())
        else:
            self._state = self.init()

    def __call__(self, y_true, y_pred, sample_weight=None):
        """``update_state`` then ``result()``, as Keras' ``metric(y_true, y_pred)``."""
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()


configurable.record_init(Metric)


def _nearest(cls, attr):
    """``cls``'s ``attr`` from the nearest class that writes it the pure way."""
    for klass in cls.__mro__:
        fn = klass.__dict__.get(attr)
        if fn is not None and not getattr(fn, "_keras_style", False):
            return fn
    raise AttributeError(attr)


def _owner(cls, attr):
    return next(k for k in cls.__mro__ if attr in k.__dict__ and not getattr(
        k.__dict__[attr], "_keras_style", False))


def _is_keras_style(cls):
    """Whether ``cls`` writes ``update_state`` below the class that writes ``update``."""
    mro = cls.__mro__
    return mro.index(_owner(cls, "update_state")) < mro.index(_owner(cls, "update"))


def _keras_init(self):
    state = self._initial_state()
    if type(self).reset_state is not Metric.reset_state:
        with self._bound(state) as scope:
            self.reset_state()
        state = scope
    return state


def _keras_update(self, state, *args, **kwargs):
    with self._bound(state) as scope:
        self.update_state(*args, **kwargs)
    return scope


_keras_init._keras_style = _keras_update._keras_style = True


def _adapt_keras_style(cls):
    """Derives the pure ``init``/``update``/``result`` from Keras-style methods."""
    cls.init, cls.update = _keras_init, _keras_update
    written = cls.__dict__.get("result")
    if written is not None and not getattr(written, "_reads_stored_state", False):
        @functools.wraps(written)
        def result(self, state=None):
            with self._bound(state):
                return unwrap(written(self))
        result._reads_stored_state = result._keras_style = True
        cls.result = result


class Mean(Metric):
    """The (weighted) mean of the values it is given, across every batch.

    ``update(state, values, sample_weight=None)``: each sample weighs ``sample_weight``,
    so batches of different sizes count by their number of samples.

    >>> m = Mean()
    >>> m.update_state([1.0, 3.0]); m.update_state([5.0], sample_weight=[2.0])
    >>> float(m.result())      # (1 + 3 + 2 * 5) / (1 + 1 + 2)
    3.5
    """

    def init(self):
        return {"total": jnp.zeros((), self.dtype), "count": jnp.zeros((), self.dtype)}

    def update(self, state, values, sample_weight=None):
        values, sample_weight = _samplewise(values, sample_weight, self.dtype)
        if sample_weight is not None:
            count = jnp.sum(sample_weight)
        else:
            count = values.shape[0] if values.ndim >= 1 else 1
        return {"total": state["total"] + jnp.sum(values),
                "count": state["count"] + jnp.asarray(count, self.dtype)}

    def result(self, state):
        return _divide_no_nan(state["total"], state["count"])

    def update_state(self, values, sample_weight=None):
        """Folds ``values`` (with optional per-sample weights) into the stored state."""
        self._update_stored(values, sample_weight)


class Sum(Metric):
    """The (weighted) sum of the values it is given, across every batch.

    >>> m = Sum()
    >>> m.update_state([1.0, 3.0]); m.update_state([[5.0, 1.0]], sample_weight=[2.0])
    >>> float(m.result())      # 1 + 3 + 2 * (5 + 1)
    16.0
    """

    def init(self):
        return {"total": jnp.zeros((), self.dtype)}

    def update(self, state, values, sample_weight=None):
        values, _ = _samplewise(values, sample_weight, self.dtype, reduce=jnp.sum)
        return {"total": state["total"] + jnp.sum(values)}

    def result(self, state):
        return state["total"]

    def update_state(self, values, sample_weight=None):
        """Folds ``values`` (with optional per-sample weights) into the stored state."""
        self._update_stored(values, sample_weight)


class MeanMetricWrapper(Mean):
    """The weighted mean of a per-example function ``fn(y_true, y_pred, **kwargs)``.

    >>> from jkeras.losses import mean_absolute_error
    >>> m = MeanMetricWrapper(mean_absolute_error, name="mae")
    >>> m.update_state([[1.0], [2.0]], [[1.5], [2.0]]); float(m.result())
    0.25
    """

    def __init__(self, fn, name=None, dtype="float32", **kwargs):
        if isinstance(fn, str):  # a saved config names the function
            from .functions import get
            fn = get(fn)
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)
        self.fn, self.kwargs = fn, kwargs

    def update(self, state, y_true, y_pred, sample_weight=None):
        values = self.fn(y_true, y_pred, **self.kwargs)
        return super().update(state, values, sample_weight)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Folds one batch into the stored state."""
        self._update_stored(y_true, y_pred, sample_weight)


def _equal(y_true, y_pred):
    y_true, y_pred = _same_rank(jnp.asarray(y_true), jnp.asarray(y_pred))
    return (y_true == y_pred).astype(jnp.float32)


class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly (not argmax: see CategoricalAccuracy).

    >>> m = Accuracy(); m.update_state([1, 2, 3, 4], [0, 2, 3, 4]); float(m.result())
    0.75
    """

    direction = "up"

    def __init__(self, name="accuracy", dtype="float32"):
        super().__init__(_equal, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` matches the 0/1 label.

    >>> m = BinaryAccuracy(); m.update_state([[1], [0]], [[0.9], [0.7]]); float(m.result())
    0.5
    """

    direction = "up"

    def __init__(self, name="binary_accuracy", dtype="float32", threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of ``y_pred`` is the one-hot label's class.

    >>> m = CategoricalAccuracy()
    >>> m.update_state([[0, 1], [1, 0]], [[0.2, 0.8], [0.3, 0.7]]); float(m.result())
    0.5
    """

    direction = "up"

    def __init__(self, name="categorical_accuracy", dtype="float32"):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of ``y_pred`` is the integer label.

    >>> m = SparseCategoricalAccuracy()
    >>> m.update_state([1, 0], [[0.2, 0.8], [0.3, 0.7]]); float(m.result())
    0.5
    """

    direction = "up"

    def __init__(self, name="sparse_categorical_accuracy", dtype="float32"):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label's class is among the ``k`` highest scores.

    >>> m = TopKCategoricalAccuracy(k=1)
    >>> m.update_state([[0, 1], [1, 0]], [[0.2, 0.8], [0.3, 0.7]]); float(m.result())
    0.5
    """

    direction = "up"

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype="float32"):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the ``k`` highest scores.

    >>> m = SparseTopKCategoricalAccuracy(k=1)
    >>> m.update_state([1, 1], [[0.2, 0.8], [0.3, 0.7]]); float(m.result())
    1.0
    """

    direction = "up"

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype="float32"):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k)


# --- Confusion-matrix metrics -------------------------------------------------------------


def _prepare_confusion(y_true, y_pred, sample_weight, dtype, class_id=None, top_k=None):
    """Labels as 0/1 floats, scores and weights, flattened to one vector each (Keras' way)."""
    y_pred = jnp.asarray(y_pred).astype(dtype)
    y_true = jnp.asarray(y_true).astype(dtype)
    y_pred, y_true = _same_rank(y_pred, y_true)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred shapes do not match: got y_true.shape="
                         f"{y_true.shape} and y_pred.shape={y_pred.shape}.")
    if top_k is not None:
        # As Keras: scores outside each row's top k drop to NEG_INF, below any threshold.
        top = jax.nn.one_hot(jax.lax.top_k(y_pred, top_k)[1], y_pred.shape[-1], dtype=dtype)
        mask = jnp.sum(top, axis=-2)
        y_pred = y_pred * mask + NEG_INF * (1 - mask)
    if class_id is not None:
        if y_pred.ndim < 2:
            raise ValueError("When class_id is given, y_pred must be (num_samples, "
                             f"num_classes), got shape {y_pred.shape}.")
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    if sample_weight is None:
        weights = jnp.ones(y_pred.shape, dtype)
    else:
        weights = jnp.asarray(sample_weight).astype(dtype)
        while weights.ndim < y_pred.ndim:  # per-sample weights spread over the other axes
            weights = weights[..., None]
        weights = jnp.broadcast_to(weights, y_pred.shape)
    labels = (y_true != 0).astype(dtype)
    return labels.reshape(-1), y_pred.reshape(-1), weights.reshape(-1)


def _counts_above(labels, scores, weights, thresholds):
    """Weighted (true positives, false positives) of ``scores > t`` for each threshold."""
    above = (scores[None, :] > thresholds[:, None]).astype(scores.dtype)
    return above @ (labels * weights), above @ ((1 - labels) * weights)


NEG_INF = -1e10  # Keras' stand-in for minus infinity in confusion metrics


def _parse_thresholds(thresholds, top_k, owner):
    if thresholds is None:
        # With top_k, every score in the top k counts as positive, as in Keras.
        return np.asarray([0.5 if top_k is None else NEG_INF], np.float32)
    values = np.atleast_1d(thresholds).tolist()
    if not all(0.0 <= float(t) <= 1.0 for t in values):
        raise ValueError(f"{owner}: thresholds must be in [0, 1], got {thresholds!r}.")
    return np.asarray(values, np.float32)


class _ConfusionBase(Metric):
    direction = "up"
    _counts = ()  # which of "tp", "fp", "fn" the metric keeps

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype="float32"):
        super().__init__(name=name, dtype=dtype)
        self.thresholds = _parse_thresholds(thresholds, top_k, type(self).__name__)
        self._scalar = thresholds is None or np.ndim(thresholds) == 0
        self.top_k, self.class_id = top_k, class_id

    def init(self):
        return {k: jnp.zeros(len(self.thresholds), self.dtype) for k in self._counts}

    def update(self, state, y_true, y_pred, sample_weight=None):
        labels, scores, weights = _prepare_confusion(y_true, y_pred, sample_weight, self.dtype,
                                                     self.class_id, self.top_k)
        tp, fp = _counts_above(labels, scores, weights, jnp.asarray(self.thresholds))
        new = {"tp": tp, "fp": fp, "fn": jnp.sum(labels * weights) - tp}
        return {k: state[k] + new[k] for k in self._counts}

    def _finish(self, value):
        return value[0] if self._scalar else value


class Precision(_ConfusionBase):
    """``tp / (tp + fp)`` where a score above ``thresholds`` (0.5) counts as positive.

    >>> m = Precision(); m.update_state([0, 1, 1, 1], [1, 0, 1, 1]); float(m.result())
    0.6666666865348816
    """

    _counts = ("tp", "fp")

    def result(self, state):
        return self._finish(_divide_no_nan(state["tp"], state["tp"] + state["fp"]))


class Recall(_ConfusionBase):
    """``tp / (tp + fn)`` where a score above ``thresholds`` (0.5) counts as positive.

    >>> m = Recall(); m.update_state([0, 1, 1, 1], [1, 0, 1, 1]); float(m.result())
    0.6666666865348816
    """

    _counts = ("tp", "fn")

    def result(self, state):
        return self._finish(_divide_no_nan(state["tp"], state["tp"] + state["fn"]))


class AUC(Metric):
    """Area under the ROC (or PR) curve, from confusion counts at fixed thresholds.

    As Keras: ``num_thresholds=200`` thresholds evenly spread over [0, 1] (the ends
    nudged by 1e-7), trapezoid ("interpolation") summation for ROC and the Davis &
    Goadrich interpolation for PR; ``"minoring"``/``"majoring"`` take the lower or upper
    rectangle. ``from_logits=True`` applies a sigmoid first.

    >>> m = AUC(); m.update_state([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> round(float(m.result()), 4)
    0.75
    """

    direction = "up"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype="float32", thresholds=None, from_logits=False):
        super().__init__(name=name, dtype=dtype)
        if str(curve).upper() not in ("ROC", "PR"):
            raise ValueError(f"AUC: curve must be 'ROC' or 'PR', got {curve!r}.")
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError("AUC: summation_method must be 'interpolation', 'minoring' or "
                             f"'majoring', got {summation_method!r}.")
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
            self._even = False
        else:
            if not isinstance(num_thresholds, int) or num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds must be an int > 1, got "
                                 f"{num_thresholds!r}.")
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._even = True
        self.curve, self.summation_method = str(curve).upper(), summation_method
        self.from_logits = from_logits
        self.thresholds = np.asarray([0.0 - EPSILON] + inner + [1.0 + EPSILON], np.float32)
        self.num_thresholds = len(self.thresholds)

    def init(self):
        zeros = jnp.zeros(self.num_thresholds, self.dtype)
        return {"tp": zeros, "fp": zeros, "tn": zeros, "fn": zeros}

    def update(self, state, y_true, y_pred, sample_weight=None):
        if self.from_logits:
            y_pred = jax.nn.sigmoid(jnp.asarray(y_pred))
        labels, scores, weights = _prepare_confusion(y_true, y_pred, sample_weight, self.dtype)
        pos, neg = labels * weights, (1 - labels) * weights
        if self._even:
            # Keras' O(T + N) form: each score falls in one bucket; a reversed cumulative
            # sum over buckets gives the counts above every threshold at once.
            t = self.num_thresholds
            bucket = jnp.ceil(jnp.clip(scores, 0.0, 1.0) * (t - 1)) - 1
            bucket = jnp.maximum(bucket, 0).astype(jnp.int32)
            tp = jnp.cumsum(jax.ops.segment_sum(pos, bucket, t)[::-1])[::-1]
            fp = jnp.cumsum(jax.ops.segment_sum(neg, bucket, t)[::-1])[::-1]
        else:
            tp, fp = _counts_above(labels, scores, weights, jnp.asarray(self.thresholds))
        return {"tp": state["tp"] + tp, "fp": state["fp"] + fp,
                "tn": state["tn"] + jnp.sum(neg) - fp, "fn": state["fn"] + jnp.sum(pos) - tp}

    def result(self, state):
        tp, fp, tn, fn = state["tp"], state["fp"], state["tn"], state["fn"]
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr(tp, fp, fn)
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, _divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = jnp.minimum(y[:-1], y[1:])
        else:
            heights = jnp.maximum(y[:-1], y[1:])
        return jnp.sum((x[:-1] - x[1:]) * heights)

    @staticmethod
    def _interpolate_pr(tp, fp, fn):
        # Davis & Goadrich (2006): precision varies hyperbolically between thresholds.
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, jnp.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        ratio = jnp.where((p[:-1] > 0) & (p[1:] > 0),
                          _divide_no_nan(p[:-1], jnp.maximum(p[1:], 0)), jnp.ones_like(p[1:]))
        return jnp.sum(_divide_no_nan(slope * (dtp + intercept * jnp.log(ratio)),
                                      jnp.maximum(tp[1:] + fn[1:], 0)))
