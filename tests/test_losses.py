"""Losses against NumPy math written here; eager, jit and vmap agree; gradients; names; errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jkeras import losses

RNG = np.random.default_rng(0)
EPS = 1e-7
N, C = 6, 4


def probs(*shape):
    p = RNG.uniform(0.05, 1.0, shape).astype("float32")
    return p / p.sum(-1, keepdims=True)


def logits(*shape):
    return (2 * RNG.standard_normal(shape)).astype("float32")


def one_hot(labels, c=C):
    return np.eye(c, dtype="float32")[labels]


def labels(n=N, c=C):
    return RNG.integers(0, c, n)


# --- Independent references ---------------------------------------------------------------------


def np_log_softmax(z, axis=-1):
    z = z - z.max(axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis, keepdims=True))


def np_cce(y, p, from_logits=False, label_smoothing=0.0, axis=-1):
    y = y * (1 - label_smoothing) + label_smoothing / p.shape[axis]
    if from_logits:
        logp = np_log_softmax(p, axis)
    else:
        logp = np.log(np.clip(p / p.sum(axis, keepdims=True), EPS, 1 - EPS))
    return -(y * logp).sum(axis)


def np_bce(y, p, from_logits=False, label_smoothing=0.0):
    y = y * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        # max(x, 0) - x*y + log(1 + exp(-|x|)): the textbook stable form.
        return (np.maximum(p, 0) - p * y + np.log1p(np.exp(-np.abs(p)))).mean(-1)
    p = np.clip(p, EPS, 1 - EPS)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(-1)


def np_huber(y, p, delta=1.0):
    e = np.abs(p - y)
    return np.where(e <= delta, 0.5 * e**2, delta * (e - 0.5 * delta)).mean(-1)


def close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(a), b, rtol=rtol, atol=atol)


# --- Values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("from_logits", [False, True])
def test_categorical_crossentropy_matches_numpy(from_logits, label_smoothing):
    y = one_hot(labels())
    p = logits(N, C) if from_logits else probs(N, C)
    out = losses.categorical_crossentropy(y, p, from_logits=from_logits,
                                          label_smoothing=label_smoothing)
    assert out.shape == (N,) and out.dtype == jnp.float32
    close(out, np_cce(y, p, from_logits, label_smoothing))


def test_categorical_crossentropy_renormalises_clips_and_takes_an_axis():
    y = one_hot(labels())
    p = 3.0 * probs(N, C)  # not normalised: Keras divides by the sum first
    close(losses.categorical_crossentropy(y, p), np_cce(y, p / 3.0))
    # A zero probability on the true class is clipped to EPS, not log(0) = -inf.
    out = losses.categorical_crossentropy(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
    close(out, [-np.log(EPS)], rtol=1e-4)
    # Class axis in the middle: (batch, classes, time).
    y3, p3 = np.moveaxis(one_hot(labels(2 * 3)).reshape(2, 3, C), -1, 1), probs(2, 3, C)
    p3 = np.moveaxis(p3, -1, 1)
    out = losses.categorical_crossentropy(y3, p3, axis=1, label_smoothing=0.2)
    assert out.shape == (2, 3)
    close(out, np_cce(y3, p3, label_smoothing=0.2, axis=1))


def test_crossentropy_from_logits_is_stable_for_large_logits():
    z = np.array([[1000.0, -1000.0, 0.0]], "float32")
    out = losses.categorical_crossentropy(np.array([[0.0, 1.0, 0.0]]), z, from_logits=True)
    close(out, [2000.0])
    out = losses.binary_crossentropy(np.array([[1.0, 0.0]]), np.array([[-100.0, 100.0]]),
                                     from_logits=True)
    close(out, [100.0])


@pytest.mark.parametrize("shape", [(N,), (N, 1)])
@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_categorical_crossentropy_matches_numpy(from_logits, shape):
    t = labels()
    p = logits(N, C) if from_logits else probs(N, C)
    out = losses.sparse_categorical_crossentropy(t.reshape(shape), p, from_logits=from_logits)
    assert out.shape == (N,)
    close(out, np_cce(one_hot(t), p, from_logits))
    # Float labels (as from a NumPy float array) are class indices too.
    close(losses.sparse_categorical_crossentropy(t.astype("float32"), p, from_logits),
          np_cce(one_hot(t), p, from_logits))


def test_sparse_categorical_crossentropy_on_sequences_and_other_axis():
    t, p = labels(2 * 3).reshape(2, 3), probs(2, 3, C)
    close(losses.sparse_categorical_crossentropy(t, p), np_cce(one_hot(t), p))
    pt = np.moveaxis(p, -1, 1)  # (batch, classes, time)
    close(losses.sparse_categorical_crossentropy(t, pt, axis=1), np_cce(one_hot(t), p))
    close(losses.sparse_categorical_crossentropy(t[:, None, :], pt, axis=1),
          np_cce(one_hot(t), p))


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("from_logits", [False, True])
def test_binary_crossentropy_matches_numpy(from_logits, label_smoothing):
    y = RNG.integers(0, 2, (N, 3)).astype("float32")
    p = logits(N, 3) if from_logits else RNG.uniform(0.01, 0.99, (N, 3)).astype("float32")
    out = losses.binary_crossentropy(y, p, from_logits=from_logits,
                                     label_smoothing=label_smoothing)
    assert out.shape == (N,)
    close(out, np_bce(y, p, from_logits, label_smoothing))


def test_binary_crossentropy_clips_and_accepts_flat_labels_against_a_column():
    y, p = np.array([[1.0, 0.0]], "float32"), np.array([[0.0, 1.0]], "float32")
    out = losses.binary_crossentropy(y, p)
    # Both terms hit the clip: -log(EPS) and -log(1 - float32(1 - EPS)).
    assert np.isfinite(out).all() and 15.5 < float(out[0]) < 16.5
    close(out, np_bce(y, p))
    y, p = RNG.integers(0, 2, N).astype("float32"), RNG.uniform(0.01, 0.99, (N, 1))
    out = losses.binary_crossentropy(y, p)  # (N,) labels, (N, 1) sigmoid outputs
    assert out.shape == (N,)
    close(out, np_bce(y[:, None], p))


def test_regression_losses_match_numpy():
    y, p = RNG.standard_normal((N, 3)), RNG.standard_normal((N, 3))
    close(losses.mean_squared_error(y, p), ((y - p) ** 2).mean(-1))
    close(losses.mean_absolute_error(y, p), np.abs(y - p).mean(-1))
    close(losses.huber(y, p), np_huber(y, p))
    close(losses.huber(y, p, delta=0.3), np_huber(y, p, 0.3))
    # Integer inputs are computed in float32.
    out = losses.mean_squared_error(np.array([[1, 2]]), np.array([[0, 0]]))
    assert out.dtype == jnp.float32 and out.tolist() == [2.5]
    # (N,) targets against (N, 1) outputs stay one value per example.
    close(losses.mean_absolute_error(y[:, 0], p[:, :1]), np.abs(y[:, 0] - p[:, 0]))


# --- Transformations ------------------------------------------------------------------------------


def _cases():
    t = labels()
    return [
        (losses.categorical_crossentropy, one_hot(t), probs(N, C), {}),
        (losses.categorical_crossentropy, one_hot(t), logits(N, C),
         dict(from_logits=True, label_smoothing=0.1)),
        (losses.sparse_categorical_crossentropy, t, probs(N, C), {}),
        (losses.sparse_categorical_crossentropy, t, logits(N, C), dict(from_logits=True)),
        (losses.binary_crossentropy, one_hot(t), probs(N, C), dict(label_smoothing=0.1)),
        (losses.binary_crossentropy, one_hot(t), logits(N, C), dict(from_logits=True)),
        (losses.mean_squared_error, logits(N, C), logits(N, C), {}),
        (losses.mean_absolute_error, logits(N, C), logits(N, C), {}),
        (losses.huber, logits(N, C), logits(N, C), dict(delta=1.5)),
    ]


def _more_cases():
    """The losses Keras 3 has beyond the tutorial's (checked against Keras, jit and vmap)."""
    t = labels()
    return [
        (losses.mean_absolute_percentage_error, logits(N, C), logits(N, C), {}),
        (losses.mean_squared_logarithmic_error, probs(N, C), probs(N, C), {}),
        (losses.cosine_similarity, logits(N, C), logits(N, C), {}),
        (losses.log_cosh, logits(N, C), logits(N, C), {}),
        (losses.hinge, one_hot(t), logits(N, C), {}),           # 0/1 labels become -1/1
        (losses.squared_hinge, 2 * one_hot(t) - 1, logits(N, C), {}),
        (losses.categorical_hinge, one_hot(t), logits(N, C), {}),
        (losses.kl_divergence, probs(N, C), probs(N, C), {}),
        (losses.poisson, probs(N, C), probs(N, C), {}),
        (losses.binary_focal_crossentropy, one_hot(t), probs(N, C), dict(label_smoothing=0.1)),
        (losses.binary_focal_crossentropy, one_hot(t), logits(N, C),
         dict(from_logits=True, apply_class_balancing=True, alpha=0.3, gamma=1.5)),
    ]


@pytest.mark.parametrize("fn, y, p, kw", _cases() + _more_cases())
def test_eager_jit_and_vmap_agree(fn, y, p, kw):
    expected = fn(y, p, **kw)
    assert expected.shape == (N,)

    def f(y, p):
        return fn(y, p, **kw)

    close(jax.jit(f)(jnp.asarray(y), jnp.asarray(p)), expected)
    close(jax.vmap(f)(y, p), expected)


@pytest.mark.parametrize("fn, y, p, kw", _cases())
def test_gradients(fn, y, p, kw):
    def f(p):
        return jnp.mean(fn(y, p, **kw))

    check_grads(f, (jnp.asarray(p),), order=2, modes=["fwd", "rev"], atol=1e-2, rtol=1e-2)


def test_gradient_of_crossentropy_from_logits_is_softmax_minus_labels():
    y, z = one_hot(labels()), logits(N, C)
    g = jax.grad(lambda z: losses.categorical_crossentropy(y, z, from_logits=True).sum())(z)
    e = np.exp(z - z.max(-1, keepdims=True))
    close(g, e / e.sum(-1, keepdims=True) - y)


# --- Lookup ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, fn", [
    ("categorical_crossentropy", losses.categorical_crossentropy),
    ("CategoricalCrossentropy", losses.categorical_crossentropy),
    ("sparse_categorical_crossentropy", losses.sparse_categorical_crossentropy),
    ("binary_crossentropy", losses.binary_crossentropy),
    ("bce", losses.binary_crossentropy), ("BCE", losses.binary_crossentropy),
    ("mean_squared_error", losses.mean_squared_error), ("mse", losses.mean_squared_error),
    ("MSE", losses.mean_squared_error), ("MeanSquaredError", losses.mean_squared_error),
    ("mean_absolute_error", losses.mean_absolute_error), ("mae", losses.mean_absolute_error),
    ("MAE", losses.mean_absolute_error), ("huber", losses.huber), ("Huber", losses.huber),
])
def test_get_by_name(name, fn):
    assert losses.get(name) is fn


def test_get_passes_callables_through_and_lists_names_for_unknown_ones():
    def my_loss(y, p):
        return y - p

    assert losses.get(my_loss) is my_loss
    with pytest.raises(ValueError) as err:
        losses.get("foo")
    msg = str(err.value)
    assert msg.startswith("Unknown loss 'foo'. Valid names: bce, binary_crossentropy, ")
    for name in losses.ALL:
        assert name in msg


# --- Errors ---------------------------------------------------------------------------------------


def test_integer_labels_to_categorical_crossentropy_suggest_the_sparse_loss():
    with pytest.raises(ValueError) as err:
        losses.categorical_crossentropy(np.array([0, 2, 1, 3]), probs(4, C))
    msg = str(err.value)
    assert msg.startswith("categorical_crossentropy:")
    assert "do not match" in msg and "(4,)" in msg and "(4, 4)" in msg
    assert "sparse_categorical_crossentropy" in msg
    # The same check fires at trace time under jit.
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        jax.jit(losses.categorical_crossentropy)(jnp.zeros(4), jnp.ones((4, C)))


def test_one_hot_labels_to_sparse_crossentropy_suggest_the_dense_loss():
    with pytest.raises(ValueError) as err:
        losses.sparse_categorical_crossentropy(one_hot(labels()), probs(N, C))
    msg = str(err.value)
    assert msg.startswith("sparse_categorical_crossentropy:")
    assert f"({N}, {C})" in msg and f"({N},)" in msg and "use categorical_crossentropy" in msg
    with pytest.raises(ValueError, match=r"expected integer class indices of shape \(6,\)"):
        losses.sparse_categorical_crossentropy(np.zeros(5), probs(N, C))


@pytest.mark.parametrize("fn", [losses.binary_crossentropy, losses.mean_squared_error,
                                losses.mean_absolute_error, losses.huber])
def test_elementwise_losses_reject_mismatched_shapes(fn):
    with pytest.raises(ValueError, match=rf"^{fn.__name__}: .*\(6, 3\).*\(6, 2\)"):
        fn(np.zeros((N, 3)), np.zeros((N, 2)))


def test_bad_arguments():
    y, p = one_hot(labels()), probs(N, C)
    with pytest.raises(ValueError, match="label_smoothing in \\[0, 1\\], got 1.5"):
        losses.categorical_crossentropy(y, p, label_smoothing=1.5)
    with pytest.raises(ValueError, match="expected an int axis, got True"):
        losses.categorical_crossentropy(y, p, axis=True)
    with pytest.raises(ValueError, match="axis=2 is out of range"):
        losses.categorical_crossentropy(y, p, axis=2)
    with pytest.raises(ValueError, match="rank >= 1"):
        losses.mean_squared_error(1.0, 2.0)


# --- Docs and Keras -------------------------------------------------------------------------------


def _keras():
    import keras
    return keras


@pytest.mark.parametrize("fn, y, p, kw", _cases() + _more_cases())
def test_matches_keras(fn, y, p, kw):
    keras = _keras()
    expected = np.asarray(getattr(keras.losses, fn.__name__)(y, p, **kw))
    close(fn(y, p, **kw), expected)
