"""Loss classes: Keras 3's names, arguments, reductions and sample weights, against Keras."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkeras
from jkeras import losses

RNG = np.random.default_rng(0)
N, C = 6, 3


def _data(kind):
    labels = RNG.integers(0, C, N)
    if kind == "sparse":
        return labels, RNG.standard_normal((N, C)).astype("float32")
    if kind == "onehot_probs":
        p = RNG.uniform(0.05, 1, (N, C)).astype("float32")
        return np.eye(C, dtype="float32")[labels], p / p.sum(1, keepdims=True)
    if kind == "onehot_logits":
        return np.eye(C, dtype="float32")[labels], RNG.standard_normal((N, C)).astype("float32")
    if kind == "positive":
        return (RNG.uniform(0.05, 1, (N, C)).astype("float32"),
                RNG.uniform(0.05, 1, (N, C)).astype("float32"))
    return (RNG.standard_normal((N, C)).astype("float32"),
            RNG.standard_normal((N, C)).astype("float32"))


CASES = [
    ("MeanSquaredError", {}, "real"), ("MeanAbsoluteError", {}, "real"),
    ("MeanAbsolutePercentageError", {}, "real"), ("MeanSquaredLogarithmicError", {}, "positive"),
    ("CosineSimilarity", {}, "real"), ("Huber", {"delta": 0.7}, "real"),
    ("LogCosh", {}, "real"), ("Hinge", {}, "onehot_logits"),
    ("SquaredHinge", {}, "onehot_logits"), ("CategoricalHinge", {}, "onehot_logits"),
    ("KLDivergence", {}, "onehot_probs"), ("Poisson", {}, "positive"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, "onehot_logits"),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "gamma": 1.5},
     "onehot_probs"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1}, "onehot_probs"),
    ("CategoricalCrossentropy", {"from_logits": True}, "onehot_logits"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse"),
]


@pytest.mark.parametrize("name, kwargs, kind", CASES)
def test_loss_classes_match_keras(keras, name, kwargs, kind):
    y, p = _data(kind)
    weight = RNG.uniform(0, 2, N).astype("float32")
    for reduction in ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None]:
        ours = getattr(losses, name)(reduction=reduction, **kwargs)
        theirs = getattr(keras.losses, name)(reduction=reduction, **kwargs)
        assert ours.name == theirs.name
        for sw in (None, weight):
            np.testing.assert_allclose(ours(y, p, sample_weight=sw),
                                       np.asarray(theirs(y, p, sample_weight=sw)),
                                       rtol=2e-5, atol=2e-6, err_msg=f"{reduction}, {sw}")


def test_loss_objects_are_pure_under_jit_grad_and_vmap(keras):
    y, p = _data("onehot_logits")
    loss = losses.CategoricalCrossentropy(from_logits=True)
    want = keras.losses.CategoricalCrossentropy(from_logits=True)(y, p)
    np.testing.assert_allclose(jax.jit(loss)(y, p), np.asarray(want), rtol=1e-6)
    grad = jax.grad(lambda p: loss(y, p))(p)   # d mean CE / d logits = (softmax - y) / N
    soft = np.exp(p) / np.exp(p).sum(1, keepdims=True)
    np.testing.assert_allclose(grad, (soft - y) / N, rtol=1e-4, atol=1e-6)
    per_example = jax.vmap(lambda y, p: loss(y[None], p[None]))(y, p)
    np.testing.assert_allclose(jnp.mean(per_example), loss(y, p), rtol=1e-6)
    cos = losses.CosineSimilarity(axis=0)(y, p)
    np.testing.assert_allclose(cos, np.asarray(keras.losses.CosineSimilarity(axis=0)(y, p)),
                               rtol=1e-6)


def test_a_user_loss_subclass_matches_keras(keras):
    def make(base, ops):
        class CustomMSE(base):
            def __init__(self, regularization_factor=0.1, name="custom_mse"):
                super().__init__(name=name)
                self.regularization_factor = regularization_factor

            def call(self, y_true, y_pred):
                mse = ops.mean(ops.square(y_true - y_pred), axis=-1)
                reg = ops.mean(ops.square(0.5 - y_pred), axis=-1)
                return mse + reg * self.regularization_factor
        return CustomMSE()

    y, p = _data("onehot_probs")
    sw = RNG.uniform(0, 1, N).astype("float32")
    want = make(keras.losses.Loss, keras.ops)(y, p, sample_weight=sw)
    got = make(losses.Loss, jkeras.ops)(y, p, sample_weight=sw)
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-6)
    assert got.shape == ()


def test_reduction_none_keeps_per_example_values_and_bad_reductions_raise():
    y, p = _data("real")
    values = losses.MeanSquaredError(reduction="none")(y, p)
    np.testing.assert_allclose(values, ((y - p) ** 2).mean(-1), rtol=1e-6)
    with pytest.raises(ValueError, match="reduction must be one of"):
        losses.Huber(reduction="average")


def test_config_round_trip_and_attributes():
    loss = losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, reduction="sum")
    again = losses.BinaryCrossentropy.from_config(loss.get_config())
    assert again.get_config() == loss.get_config()
    assert again.from_logits is True and again.reduction == "sum"
    y, p = _data("onehot_logits")
    assert float(again(y, p)) == float(loss(y, p))


@pytest.mark.parametrize("name", ["mape", "msle", "kld", "log_cosh", "hinge", "squared_hinge",
                                  "categorical_hinge", "poisson", "cosine_similarity",
                                  "binary_focal_crossentropy", "kl_divergence"])
def test_new_names_resolve_like_keras(keras, name):
    assert losses.get(name).__name__ == keras.losses.get(name).__name__


def test_compile_with_loss_objects_uses_their_reduction_and_sample_weight(keras):
    x = RNG.standard_normal((16, 4)).astype("float32")
    y = RNG.integers(0, 2, (16, 1)).astype("float32")
    sw = RNG.uniform(0, 2, 16).astype("float32")
    model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=4)])
    loss = losses.BinaryCrossentropy(from_logits=True, reduction="mean_with_sample_weight")
    model.compile("sgd", loss=loss)
    logits = model.predict(x, verbose=0)
    expected = keras.losses.BinaryCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight")(y, logits, sample_weight=sw)
    got = model.evaluate(x, y, sample_weight=sw, batch_size=16, verbose=0)
    np.testing.assert_allclose(got, float(expected), rtol=1e-5)
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before
