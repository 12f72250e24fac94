"""Streaming metric objects: pure state, weighting across batches, Keras' numbers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jkeras import metrics

RNG = np.random.default_rng(0)
SIZES = (7, 1, 20)  # batches of different sizes


def batches(make, sizes=SIZES):
    return [make(n) for n in sizes]


def stream(metric, parts):
    """Folds the batches in through the pure API, under jit."""
    update = jax.jit(metric.update)
    state = metric.init()
    for part in parts:
        state = update(state, *part)
    return float(jax.jit(metric.result)(state))


def once(metric, *batch):
    """The metric of one batch, jitted (eager op-by-op dispatch is slow to start)."""
    return jax.jit(lambda *b: metric.result(metric.update(metric.init(), *b)))(*batch)


def probs(n, c=4):
    p = RNG.random((n, c)).astype("float32")
    return p / p.sum(1, keepdims=True)


# --- Weighting across batches of different sizes -------------------------------------------


def test_mean_weights_each_sample_not_each_batch():
    parts = batches(lambda n: (RNG.standard_normal(n).astype("float32"),))
    everything = np.concatenate([p[0] for p in parts])
    assert stream(metrics.Mean(), parts) == pytest.approx(everything.mean(), rel=1e-5,
                                                          abs=1e-7)
    weights = [RNG.random(len(p[0])).astype("float32") for p in parts]
    weighted = [(p[0], w) for p, w in zip(parts, weights)]
    w = np.concatenate(weights)
    assert stream(metrics.Mean(), weighted) == pytest.approx((everything * w).sum() / w.sum(),
                                                             rel=1e-5)


@pytest.mark.parametrize("metric, make, reference", [
    (metrics.SparseCategoricalAccuracy(),
     lambda n: (RNG.integers(0, 4, n), probs(n)),
     lambda y, p: (p.argmax(1) == y)),
    (metrics.CategoricalAccuracy(),
     lambda n: (np.eye(4)[RNG.integers(0, 4, n)], probs(n)),
     lambda y, p: (p.argmax(1) == y.argmax(1))),
    (metrics.BinaryAccuracy(),
     lambda n: (RNG.integers(0, 2, (n, 1)), RNG.random((n, 1))),
     lambda y, p: ((p > 0.5) == y)[:, 0]),
    (metrics.Accuracy(),
     lambda n: (RNG.integers(0, 3, n), RNG.integers(0, 3, n)),
     lambda y, p: y == p),
    (metrics.TopKCategoricalAccuracy(k=2),
     lambda n: (np.eye(4)[RNG.integers(0, 4, n)], probs(n)),
     lambda y, p: (np.argsort(-p, 1)[:, :2] == y.argmax(1)[:, None]).any(1)),
])
def test_accuracies_stream_like_the_whole_data_with_and_without_weights(metric, make, reference):
    parts = batches(make)
    y = np.concatenate([p[0] for p in parts])
    p = np.concatenate([p[1] for p in parts])
    hits = reference(y, p).astype("float64")
    assert stream(metric, parts) == pytest.approx(hits.mean(), rel=1e-6)
    weights = [RNG.random(len(part[0])) for part in parts]
    w = np.concatenate(weights)
    weighted = [(a, b, wi) for (a, b), wi in zip(parts, weights)]
    assert stream(metric, weighted) == pytest.approx((hits * w).sum() / w.sum(), rel=1e-5)


def test_precision_and_recall_match_counts():
    parts = batches(lambda n: (RNG.integers(0, 2, n), RNG.random(n)))
    y = np.concatenate([p[0] for p in parts])
    s = np.concatenate([p[1] for p in parts])
    pred = s > 0.5
    tp, fp, fn = (pred & (y == 1)).sum(), (pred & (y == 0)).sum(), (~pred & (y == 1)).sum()
    assert stream(metrics.Precision(), parts) == pytest.approx(tp / (tp + fp), rel=1e-6)
    assert stream(metrics.Recall(), parts) == pytest.approx(tp / (tp + fn), rel=1e-6)
    expected = [((s > t) & (y == 1)).sum() / (s > t).sum() for t in (0.3, 0.7)]
    np.testing.assert_allclose(once(metrics.Precision(thresholds=[0.3, 0.7]), y, s), expected,
                               rtol=1e-6)


def test_precision_class_id_and_top_k():
    y = np.eye(3)[[0, 1, 2, 1]]
    p = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.55, 0.2, 0.25], [0.4, 0.35, 0.25]])
    # Class 0 is predicted (p > .5) for rows 0 and 2, and is right in row 0.
    assert float(once(metrics.Precision(class_id=0), y, p)) == pytest.approx(0.5)
    # The argmax is right in rows 0 and 1 of the 4.
    assert float(once(metrics.Recall(top_k=1), y, p)) == pytest.approx(0.5)


def trapezoid_roc(y, s, num_thresholds=200):
    """Keras' AUC by hand: confusion counts at its thresholds, trapezoids between them."""
    eps = 1e-7
    inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    thresholds = np.array([-eps] + inner + [1 + eps])
    pos = (s[None, :] > thresholds[:, None])
    tp = (pos & (y == 1)).sum(1)
    fp = (pos & (y == 0)).sum(1)
    tpr = tp / max((y == 1).sum(), 1)
    fpr = fp / max((y == 0).sum(), 1)
    return float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2))


def test_auc_roc_is_keras_trapezoids_and_close_to_the_exact_auc():
    parts = batches(lambda n: (RNG.integers(0, 2, n), RNG.random(n).round(3)))
    y = np.concatenate([p[0] for p in parts])
    s = np.concatenate([p[1] for p in parts])
    got = stream(metrics.AUC(), parts)
    assert got == pytest.approx(trapezoid_roc(y, s), abs=1e-6)
    exact = np.mean([float(a > b) + 0.5 * float(a == b)
                     for a in s[y == 1] for b in s[y == 0]])
    assert got == pytest.approx(exact, abs=0.02)


def test_metric_state_is_a_plain_pytree_that_scans():
    m = metrics.SparseCategoricalAccuracy()
    y = RNG.integers(0, 4, (5, 8))
    p = np.stack([probs(8) for _ in range(5)])

    def body(state, batch):
        return m.update(state, *batch), None

    state, _ = jax.lax.scan(body, m.init(), (y, p))
    assert float(m.result(state)) == pytest.approx((p.argmax(-1) == y).mean())
    assert all(isinstance(leaf, jax.Array) for leaf in jax.tree_util.tree_leaves(state))


def test_stateful_convenience_update_result_reset():
    m = metrics.Mean()
    m.update_state([1.0, 2.0, 3.0])
    m.update_state([10.0], sample_weight=[3.0])
    assert float(m.result()) == pytest.approx((6 + 30) / 6)
    m.reset_state()
    assert float(m.result()) == 0.0
    acc = metrics.BinaryAccuracy(threshold=0.7)
    assert float(acc([[1], [0]], [[0.8], [0.6]])) == 1.0


def test_names_resolve_to_objects_and_unknown_names_list_valid_ones():
    assert isinstance(metrics.get_metric("auc"), metrics.AUC)
    assert isinstance(metrics.get_metric("AUC"), metrics.AUC)
    assert isinstance(metrics.get_metric("Precision"), metrics.Precision)
    assert metrics.get_metric("sparse_categorical_accuracy").name == "sparse_categorical_accuracy"
    assert metrics.get_metric("mae").name == "mae"
    custom = metrics.get_metric(lambda y, p: jnp.abs(y - p))
    assert isinstance(custom, metrics.MeanMetricWrapper)
    with pytest.raises(ValueError) as err:
        metrics.get_metric("acuracy")
    message = str(err.value)
    assert "Unknown metric 'acuracy'" in message
    for name in ("accuracy", "auc", "precision", "recall", "sparse_categorical_accuracy"):
        assert name in message


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match="shapes do not match"):
        once(metrics.Precision(), np.zeros((4, 3)), np.zeros((4, 2)))


# --- Against Keras 3, when it is installed ---------------------------------------------------

def test_against_keras_3():
    import keras

    def binary(n):
        return RNG.integers(0, 2, (n, 1)).astype("float32"), RNG.random((n, 1)).astype(
            "float32"), RNG.random(n).astype("float32")

    def categorical(n):
        return (np.eye(4, dtype="float32")[RNG.integers(0, 4, n)], probs(n),
                RNG.random(n).astype("float32"))

    # Keras runs eagerly here, op by op: a few cases on two batch sizes keep this quick.
    cases = [
        (metrics.AUC(), keras.metrics.AUC(), binary),
        (metrics.AUC(curve="PR"), keras.metrics.AUC(curve="PR"), binary),
        (metrics.Recall(thresholds=[0.2, 0.6]), keras.metrics.Recall(thresholds=[0.2, 0.6]),
         binary),
        (metrics.CategoricalAccuracy(), keras.metrics.CategoricalAccuracy(), categorical),
    ]
    for ours, theirs, make in cases:
        state, update = ours.init(), jax.jit(ours.update)
        # Keras' own pure form, jitted too.
        variables = [v.value for v in theirs.variables]
        keras_update = jax.jit(lambda v, y, p, w: theirs.stateless_update_state(
            v, y, p, sample_weight=w))
        for n in (9, 30):
            y, p, w = make(n)
            state = update(state, y, p, w)
            variables = keras_update(variables, y, p, w)
        np.testing.assert_allclose(np.asarray(ours.result(state)),
                                   np.asarray(theirs.stateless_result(variables)), rtol=1e-5,
                                   atol=1e-6, err_msg=type(ours).__name__)


def test_acc_names_accuracy_and_mean_is_not_a_compile_name():
    assert isinstance(metrics.get_metric("acc"), metrics.Accuracy)
    with pytest.raises(ValueError, match="Unknown metric 'mean'"):
        metrics.get_metric("mean")
