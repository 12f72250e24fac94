"""Keras 3's metric classes and Keras-style Metric subclasses, against Keras itself."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkeras
from jkeras import metrics

RNG = np.random.default_rng(0)
N, C = 6, 3


def _batches(kind, sizes=(5, 2)):
    out = []
    for n in sizes:
        labels = RNG.integers(0, C, n)
        w = RNG.uniform(0, 2, n).astype("float32")
        if kind == "sparse":
            out.append((labels, RNG.standard_normal((n, C)).astype("float32"), w))
        elif kind == "onehot":
            p = RNG.uniform(0.05, 1, (n, C)).astype("float32")
            out.append((np.eye(C, dtype="float32")[labels], p / p.sum(1, keepdims=True), w))
        elif kind == "positive":
            out.append((RNG.uniform(0.1, 1, (n, C)).astype("float32"),
                        RNG.uniform(0.1, 1, (n, C)).astype("float32"), w))
        else:
            out.append((RNG.standard_normal((n, C)).astype("float32"),
                        RNG.standard_normal((n, C)).astype("float32"), w))
    return out


CASES = [
    ("MeanSquaredError", {}, "real"), ("MeanAbsoluteError", {}, "real"),
    ("MeanAbsolutePercentageError", {}, "real"), ("MeanSquaredLogarithmicError", {}, "positive"),
    ("RootMeanSquaredError", {}, "real"), ("CosineSimilarity", {}, "real"),
    ("LogCoshError", {}, "real"), ("Hinge", {}, "onehot"), ("SquaredHinge", {}, "onehot"),
    ("CategoricalHinge", {}, "onehot"), ("KLDivergence", {}, "onehot"),
    ("Poisson", {}, "positive"), ("BinaryCrossentropy", {"label_smoothing": 0.1}, "onehot"),
    ("CategoricalCrossentropy", {}, "onehot"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse"),
]


@pytest.mark.parametrize("name, kwargs, kind", CASES)
def test_metric_classes_match_keras_across_weighted_batches(keras, name, kwargs, kind):
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    assert ours.name == theirs.name
    state = ours.init()
    for y, p, w in _batches(kind):
        ours.update_state(y, p, sample_weight=w)           # the stored state
        state = jax.jit(ours.update)(state, y, p, w)       # the pure one
        theirs.update_state(y, p, sample_weight=w)
    want = float(theirs.result())
    assert float(ours.result()) == pytest.approx(want, rel=1e-5, abs=1e-6)
    assert float(ours.result(state)) == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_sum_matches_keras(keras):
    ours, theirs = metrics.Sum(), keras.metrics.Sum()
    for values, w in [(RNG.standard_normal((4, 3)), RNG.random(4)), (RNG.random(2), None)]:
        ours.update_state(values, sample_weight=w)
        theirs.update_state(values, sample_weight=w)
    assert float(ours.result()) == pytest.approx(float(theirs.result()), rel=1e-5)


@pytest.mark.parametrize("name, cls", [("mae", "MeanAbsoluteError"),
                                       ("mape", "MeanAbsolutePercentageError"),
                                       ("mse", "MeanSquaredError"),
                                       ("msle", "MeanSquaredLogarithmicError")])
def test_metric_strings_compute_their_keras_metric(keras, name, cls):
    (y, p, w), = _batches("positive", sizes=(6,))
    ours = metrics.get_metric(name)
    ours.update_state(y, p, sample_weight=w)
    theirs = getattr(keras.metrics, cls)()
    theirs.update_state(y, p, sample_weight=w)
    assert ours.name == name
    assert float(ours.result()) == pytest.approx(float(theirs.result()), rel=1e-5)


# --- Keras-style subclasses ---------------------------------------------------------------


def _true_positives(base, ops):
    """The training guide's CategoricalTruePositives, written against ``base``/``ops``."""
    class CategoricalTruePositives(base):
        def __init__(self, name="categorical_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), name="ctp",
                                                    initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
            values = ops.cast(y_true, "int32") == ops.cast(y_pred, "int32")
            values = ops.cast(values, "float32")
            if sample_weight is not None:
                values = ops.multiply(values, ops.cast(sample_weight, "float32"))
            self.true_positives.assign_add(ops.sum(values))

        def result(self):
            return self.true_positives

        def reset_state(self):
            self.true_positives.assign(0.0)
    return CategoricalTruePositives()


def _rmse(base, ops):
    """A Keras-style subclass of Mean that folds its values in through super()."""
    class RMSE(base):
        def update_state(self, y_true, y_pred, sample_weight=None):
            super().update_state(ops.square(y_true - y_pred), sample_weight)

        def result(self):
            return ops.sqrt(super().result())
    return RMSE(name="rmse")


@pytest.mark.parametrize("make, base", [(_true_positives, "Metric"), (_rmse, "Mean")])
def test_keras_style_metrics_match_keras_stateful_and_pure(keras, make, base):
    ours = make(getattr(metrics, base), jkeras.ops)
    theirs = make(getattr(keras.metrics, base), keras.ops)
    batches = [(y[:, :1], p, w) for y, p, w in _batches("real")] if base == "Mean" else \
        [(np.argmax(y, 1)[:, None], p, w) for y, p, w in _batches("onehot")]
    state = ours.init()
    for y, p, w in batches:
        ours.update_state(y, p, sample_weight=w)
        state = jax.jit(ours.update)(state, y, p, w)
        theirs.update_state(y, p, sample_weight=w)
    want = float(theirs.result())
    assert float(ours.result()) == pytest.approx(want, rel=1e-5)
    assert float(jax.jit(ours.result)(state)) == pytest.approx(want, rel=1e-5)
    ours.reset_state()
    theirs.reset_state()
    assert float(ours.result()) == pytest.approx(float(theirs.result()), abs=1e-7)


def test_keras_style_state_is_a_dict_of_variables_and_reset_state_sets_init():
    class Offset(metrics.Metric):
        def __init__(self):
            super().__init__(name="offset")
            self.total = self.add_variable(shape=(2,), initializer="ones", name="total")
            self.seen = self.add_weight("seen")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.total.assign(self.total + jnp.sum(y_pred, axis=0))
            self.seen.assign_add(jnp.asarray(y_pred).shape[0])

        def result(self):
            return {"mean": self.total / self.seen}

        def reset_state(self):
            self.total.assign(jnp.full((2,), 10.0))
            self.seen.assign(1.0)

    m = Offset()
    init = m.init()
    assert sorted(init) == ["seen", "total"]
    np.testing.assert_array_equal(init["total"], [10.0, 10.0])   # reset_state, not "ones"
    state = m.update(init, None, jnp.ones((3, 2)))
    np.testing.assert_allclose(m.result(state)["mean"], [13.0 / 4, 13.0 / 4])
    assert m._scope is None            # nothing traced is left on the object
    with pytest.raises(ValueError, match="shape"):
        m.total.assign(jnp.ones(3))


def test_keras_style_metric_in_compile_and_fit():
    x = RNG.standard_normal((32, 4)).astype("float32")
    y = RNG.integers(0, 3, 32)
    model = jkeras.Sequential([jkeras.layers.Dense(3, input_dim=4)])
    metric = _true_positives(metrics.Metric, jkeras.ops)
    model.compile("adam", jkeras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[metric])
    logs = model.evaluate(x, y, batch_size=8, return_dict=True, verbose=0)
    # The guide's metric compares (N, 1) predictions with (N,) labels: N x N pairs.
    pred = model.predict(x, verbose=0).argmax(1)
    expected = sum(float((y[i:i + 8][None, :] == pred[i:i + 8][:, None]).sum())
                   for i in range(0, 32, 8))
    assert logs["categorical_true_positives"] == pytest.approx(expected)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert len(history.history["categorical_true_positives"]) == 2
