"""Metric functions against NumPy math written here; eager, jit and vmap agree; names; errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jkeras import losses, metrics

RNG = np.random.default_rng(1)
N, C = 32, 6


def scores(*shape):
    return RNG.standard_normal(shape).astype("float32")


def labels(n=N, c=C):
    return RNG.integers(0, c, n)


def one_hot(t, c=C):
    return np.eye(c, dtype="float32")[t]


def np_in_top_k(t, p, k):
    # Rank of the label's score among the scores; ties are in the label's favour.
    at_label = np.take_along_axis(p, t[..., None], -1)
    return ((p > at_label).sum(-1) < k).astype("float32")


def check(out, expected):
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out), np.asarray(expected, "float32"), rtol=1e-6)


# --- Values ---------------------------------------------------------------------------------------


def test_categorical_accuracy_matches_numpy():
    t, p = labels(), scores(N, C)
    check(metrics.categorical_accuracy(one_hot(t), p), p.argmax(-1) == t)
    assert 0 < float(metrics.categorical_accuracy(one_hot(t), p).mean()) < 1


@pytest.mark.parametrize("shape", [(N,), (N, 1)])
def test_sparse_categorical_accuracy_matches_numpy(shape):
    t, p = labels(), scores(N, C)
    out = metrics.sparse_categorical_accuracy(t.reshape(shape), p)
    assert out.shape == (N,)  # one value per example, whatever the label layout
    check(out, p.argmax(-1) == t)
    check(metrics.sparse_categorical_accuracy(t.astype("float32"), p), p.argmax(-1) == t)


def test_sparse_categorical_accuracy_on_sequences():
    t, p = labels(4 * 5).reshape(4, 5), scores(4, 5, C)
    check(metrics.sparse_categorical_accuracy(t, p), p.argmax(-1) == t)
    check(metrics.categorical_accuracy(one_hot(t), p), p.argmax(-1) == t)


@pytest.mark.parametrize("threshold", [0.5, 0.8])
def test_binary_accuracy_matches_numpy(threshold):
    y, p = RNG.integers(0, 2, (N, 3)), RNG.uniform(size=(N, 3)).astype("float32")
    out = metrics.binary_accuracy(y, p, threshold=threshold)
    assert out.shape == (N,)
    check(out, ((p > threshold) == y).mean(-1))
    # Float labels, and (N,) labels against an (N, 1) sigmoid column.
    check(metrics.binary_accuracy(y.astype("float32"), p, threshold),
          ((p > threshold) == y).mean(-1))
    check(metrics.binary_accuracy(y[:, 0], p[:, :1], threshold), (p[:, 0] > threshold) == y[:, 0])


@pytest.mark.parametrize("k", [1, 2, 5, C, C + 3])
def test_top_k_accuracies_match_numpy(k):
    t, p = labels(), scores(N, C)
    expected = np_in_top_k(t, p, k)
    check(metrics.top_k_categorical_accuracy(one_hot(t), p, k=k), expected)
    check(metrics.sparse_top_k_categorical_accuracy(t, p, k=k), expected)
    check(metrics.sparse_top_k_categorical_accuracy(t[:, None], p, k=k), expected)
    if k == 1:
        check(expected, p.argmax(-1) == t)
    if k >= C:
        check(expected, np.ones(N))


def test_top_k_defaults_to_five_and_counts_ties_and_nans_like_keras():
    p = np.array([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]], "float32")
    check(metrics.sparse_top_k_categorical_accuracy([2], p), [1.0])
    check(metrics.sparse_top_k_categorical_accuracy([1], p), [0.0])
    ties = np.array([[0.5, 0.5, 0.5, 0.1]], "float32")
    check(metrics.sparse_top_k_categorical_accuracy([2], ties, k=1), [1.0])
    nan = np.array([[np.nan, 0.1, 0.2]], "float32")
    check(metrics.sparse_top_k_categorical_accuracy([0], nan, k=2), [0.0])


# --- Transformations ------------------------------------------------------------------------------


def _cases():
    t, p = labels(), scores(N, C)
    return [
        (metrics.categorical_accuracy, one_hot(t), p, {}),
        (metrics.sparse_categorical_accuracy, t, p, {}),
        (metrics.binary_accuracy, one_hot(t), jax.nn.sigmoid(p), dict(threshold=0.4)),
        (metrics.top_k_categorical_accuracy, one_hot(t), p, dict(k=3)),
        (metrics.sparse_top_k_categorical_accuracy, t, p, dict(k=3)),
    ]


@pytest.mark.parametrize("fn, y, p, kw", _cases())
def test_eager_jit_and_vmap_agree(fn, y, p, kw):
    expected = fn(y, p, **kw)
    assert expected.shape == (N,) and expected.dtype == jnp.float32

    def f(y, p):
        return fn(y, p, **kw)

    check(jax.jit(f)(jnp.asarray(y), jnp.asarray(p)), expected)
    check(jax.vmap(f)(y, p), expected)


@pytest.mark.parametrize("fn, y, p, kw", _cases())
def test_grad_through_a_metric_is_zero_not_an_error(fn, y, p, kw):
    g = jax.grad(lambda p: fn(y, p, **kw).sum())(jnp.asarray(p))
    np.testing.assert_array_equal(np.asarray(g), 0.0)


# --- Lookup ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, fn", [
    ("categorical_accuracy", metrics.categorical_accuracy),
    ("CategoricalAccuracy", metrics.categorical_accuracy),
    ("sparse_categorical_accuracy", metrics.sparse_categorical_accuracy),
    ("binary_accuracy", metrics.binary_accuracy),
    ("top_k_categorical_accuracy", metrics.top_k_categorical_accuracy),
    ("sparse_top_k_categorical_accuracy", metrics.sparse_top_k_categorical_accuracy),
    ("SparseTopKCategoricalAccuracy", metrics.sparse_top_k_categorical_accuracy),
    ("mse", losses.mean_squared_error), ("MAE", losses.mean_absolute_error),
    ("categorical_crossentropy", losses.categorical_crossentropy),
    ("bce", losses.binary_crossentropy),
])
def test_get_by_name(name, fn):
    assert metrics.get(name) is fn


def test_get_passes_callables_through_and_lists_names_for_unknown_ones():
    def my_metric(y, p):
        return y == p

    assert metrics.get(my_metric) is my_metric
    with pytest.raises(ValueError) as err:
        metrics.get("acuracy")
    msg = str(err.value)
    assert msg.startswith("Unknown metric 'acuracy'. Valid names: bce, binary_accuracy, ")
    for name in metrics.ALL:
        assert name in msg
    with pytest.raises(ValueError, match="Unknown metric 'huber'"):
        metrics.get("huber")  # a loss, but keras.metrics.get does not accept it either


# --- Errors ---------------------------------------------------------------------------------------


def test_integer_labels_to_categorical_accuracy_suggest_the_sparse_metric():
    with pytest.raises(ValueError) as err:
        metrics.categorical_accuracy(np.array([0, 2, 1, 3]), scores(4, C))
    msg = str(err.value)
    assert msg.startswith("categorical_accuracy:")
    assert "do not match" in msg and "(4,)" in msg and "(4, 6)" in msg
    assert "sparse_categorical_accuracy" in msg
    with pytest.raises(ValueError, match="sparse_top_k_categorical_accuracy"):
        jax.jit(metrics.top_k_categorical_accuracy)(jnp.zeros(4), jnp.ones((4, C)))


def test_one_hot_labels_to_sparse_metrics_suggest_the_dense_ones():
    y, p = one_hot(labels()), scores(N, C)
    with pytest.raises(ValueError, match=r"^sparse_categorical_accuracy: .*categorical_accuracy"):
        metrics.sparse_categorical_accuracy(y, p)
    with pytest.raises(ValueError, match=r"^sparse_top_k_categorical_accuracy: .*use top_k_"):
        metrics.sparse_top_k_categorical_accuracy(y, p)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"^binary_accuracy: .*\(32, 3\).*\(32, 2\)"):
        metrics.binary_accuracy(np.zeros((N, 3)), np.zeros((N, 2)))
    for k in (0, 2.0, True):
        with pytest.raises(ValueError, match="expected k to be a positive int"):
            metrics.sparse_top_k_categorical_accuracy(labels(), scores(N, C), k=k)


# --- Docs and Keras -------------------------------------------------------------------------------


@pytest.mark.parametrize("fn, y, p, kw", _cases())
def test_matches_keras(fn, y, p, kw):
    import keras
    expected = np.asarray(getattr(keras.metrics, fn.__name__)(y, p, **kw))
    if fn is metrics.binary_accuracy:
        expected = expected.mean(-1)  # Keras 3 returns it per element, not per example
    check(fn(y, p, **kw), expected)
