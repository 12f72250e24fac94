"""compile/fit/evaluate/predict, the explicit train state, and fit's bad-input errors."""
import jax
import numpy as np
import optax
import pytest

import jkeras
from jkeras import layers
from jkeras.datasets import digits

RNG = np.random.default_rng(0)


def blobs(n=96, d=6, classes=3, seed=0):
    """Separable-ish clusters: a quick classification problem."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    centers = rng.standard_normal((classes, d)) * 2
    x = (centers[y] + rng.standard_normal((n, d))).astype("float32")
    return x, y


def small_model(d=6, classes=3, dropout=0.0, bn=False):
    stack = [layers.Dense(8, activation="relu", input_dim=d)]
    if dropout:
        stack.append(layers.Dropout(dropout))
    if bn:
        stack.append(layers.BatchNormalization())
    stack.append(layers.Dense(classes, activation="softmax"))
    return jkeras.Sequential(stack)


# --- Training works ------------------------------------------------------------------------


def test_digits_reach_95_percent_and_evaluate_equals_the_metric_by_hand(caplog):
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    x_train = x_train.reshape(-1, 64).astype("float32") / 255
    x_test = x_test.reshape(-1, 64).astype("float32") / 255
    jkeras.utils.set_random_seed(0)
    model = jkeras.Sequential([layers.Dense(64, activation="relu", input_dim=64),
                               layers.Dense(10, activation="softmax")])
    model.compile(jkeras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    with jax.log_compiles():
        history = model.fit(x_train, y_train, batch_size=32, epochs=15, verbose=0)
    # 1437 = 44 * 32 + 29: one program for full batches, one more for the partial batch.
    assert sum("Compiling jit(run)" in r.getMessage() for r in caplog.records) == 2
    assert history.history["accuracy"][-1] > history.history["accuracy"][0]

    # 360 test examples in batches of 64: the last batch (40) must weigh 40/360.
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=64, verbose=0)
    probs = model.predict(x_test, batch_size=360, verbose=0)
    by_hand = float(np.mean(probs.argmax(1) == y_test))
    p = np.clip(probs / probs.sum(1, keepdims=True), 1e-7, 1 - 1e-7)
    loss_by_hand = float(np.mean(-np.log(p[np.arange(len(y_test)), y_test])))
    assert accuracy == pytest.approx(by_hand, abs=1e-6)
    assert loss == pytest.approx(loss_by_hand, rel=1e-4)
    assert accuracy >= 0.95


def test_one_sgd_step_matches_numpy_gradient_descent():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[[0, 1, 2, 0, 1, 2]]
    model = jkeras.Sequential([layers.Dense(3, activation="softmax", input_dim=4,
                                            kernel_regularizer=jkeras.regularizers.l2(0.01))])
    model.compile(jkeras.optimizers.SGD(0.1), "categorical_crossentropy")
    w, b = (np.asarray(v, np.float64) for v in model.get_weights())
    logits = x @ w + b
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    want_loss = -np.mean(np.sum(y * np.log(p), 1)) + 0.01 * np.sum(w ** 2)
    grad_w = x.T @ (p - y) / len(x) + 0.02 * w
    grad_b = (p - y).mean(0)
    loss = model.train_on_batch(x, y)
    np.testing.assert_allclose(float(np.asarray(loss)), want_loss, rtol=1e-5)
    new_w, new_b = model.get_weights()
    np.testing.assert_allclose(new_w, w - 0.1 * grad_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_b, b - 0.1 * grad_b, rtol=1e-5, atol=1e-6)


def test_steps_per_execution_gives_exactly_the_same_weights():
    # Dropout keys and BatchNormalization state flow through both runs: one compiled step
    # per batch, or one compiled scan over 10 of them.
    x, y = blobs(n=90)

    def train(spe):
        jkeras.utils.clear_session()
        jkeras.utils.set_random_seed(7)
        model = small_model(dropout=0.25, bn=True)
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, batch_size=9, epochs=2, steps_per_execution=spe, verbose=0)
        return model, history.history

    model1, h1 = train(1)
    model10, h10 = train(10)
    for a, b in zip(model1.get_weights(), model10.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert h1 == h10
    bn = model1.layers[2]
    assert not np.allclose(bn.state["moving_mean"], 0)  # the BatchNorm state was trained


def test_a_hand_written_loop_over_the_train_state_matches_fit():
    x, y = blobs(n=64)
    jkeras.utils.set_random_seed(3)
    model = small_model()
    model.compile(jkeras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy")
    ts0 = model.get_train_state()
    assert sorted(ts0) == ["opt_state", "params", "rng", "state", "step"]
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    fitted = model.get_weights()

    model.set_train_state(ts0)
    ts = model.get_train_state()
    step = jax.jit(model.train_step, donate_argnums=0)
    for i in range(0, 64, 16):
        ts, logs = step(ts, x[i:i + 16], y[i:i + 16])
    assert set(logs) == {"loss"} and int(ts["step"]) == 4
    model.set_train_state(ts)
    for a, b in zip(fitted, model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # get_train_state hands out copies: donating them leaves the model intact.
    before = model.get_weights()
    mine = model.get_train_state()
    step(mine, x[:16], y[:16])
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_predict_equals_apply_and_is_compiled_once_per_batch_shape():
    x = RNG.standard_normal((10, 6)).astype("float32")
    model = small_model()
    expected, _ = model.apply(model.params, model.state, x, training=False)
    np.testing.assert_allclose(model.predict(x, batch_size=4, verbose=0), expected,
                               rtol=1e-5, atol=1e-6)
    model.predict(x + 1, batch_size=4, verbose=0)
    assert model._jit_cache[("trainer", "predict", False)]._cache_size() == 2  # (4,6), (2,6)
    np.testing.assert_allclose(model.predict_on_batch(x), expected, rtol=1e-5, atol=1e-6)


def test_on_batch_methods_and_return_values():
    x, y = blobs(n=32)
    model = small_model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["acc"])
    loss, acc = model.train_on_batch(x, y)
    assert np.isfinite(loss) and 0 <= acc <= 1
    logs = model.test_on_batch(x, y, return_dict=True)
    assert sorted(logs) == ["acc", "loss"]
    assert logs["acc"] == pytest.approx(np.mean(model.predict_on_batch(x).argmax(1) == y))
    assert int(model.get_train_state()["step"]) == 1


def test_multi_input_multi_output_losses_weights_and_metric_names():
    a, b = jkeras.Input(shape=(3,)), jkeras.Input(shape=(1,))
    hidden = layers.Dense(8, activation="relu")(layers.Concatenate()([a, b]))
    cls = layers.Dense(3, activation="softmax", name="cls")(hidden)
    reg = layers.Dense(1, name="reg")(hidden)
    model = jkeras.Model([a, b], [cls, reg])
    model.compile("sgd", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                  loss_weights={"cls": 1.0, "reg": 0.5}, metrics={"cls": ["accuracy"]})
    features = RNG.standard_normal((20, 4)).astype("float32")
    x = [features[:, :3], features[:, 3:]]
    y_cls, y_reg = RNG.integers(0, 3, 20), RNG.standard_normal((20, 1)).astype("float32")
    logs = model.evaluate(x, {"cls": y_cls, "reg": y_reg}, batch_size=20, verbose=0,
                          return_dict=True)
    assert list(logs) == ["loss", "cls_loss", "reg_loss", "cls_accuracy"]
    p_cls, p_reg = model.predict(x, verbose=0)
    ce = float(np.mean(-np.log(np.clip(p_cls[np.arange(20), y_cls], 1e-7, 1))))
    mse = float(np.mean((p_reg - y_reg) ** 2))
    assert logs["cls_loss"] == pytest.approx(ce, rel=1e-4)
    assert logs["reg_loss"] == pytest.approx(mse, rel=1e-4)
    assert logs["loss"] == pytest.approx(ce + 0.5 * mse, rel=1e-4)
    history = model.fit(x, [y_cls, y_reg], batch_size=10, epochs=1, verbose=0)
    assert sorted(history.history) == ["cls_accuracy", "cls_loss", "loss", "reg_loss"]


def test_accuracy_is_picked_for_the_loss():
    x = RNG.standard_normal((8, 3)).astype("float32")

    def metric_types(model, y):
        # Tracing the pure step abstractly resolves the metrics without compiling anything.
        jax.eval_shape(model.train_step, model.get_train_state(), x, y)
        return [type(m) for _, m, _ in model._compiled.metrics]

    for loss, y, expected in [
        ("sparse_categorical_crossentropy", np.arange(8) % 2,
         jkeras.metrics.SparseCategoricalAccuracy),
        ("categorical_crossentropy", np.eye(2)[np.arange(8) % 2],
         jkeras.metrics.CategoricalAccuracy),
    ]:
        model = jkeras.Sequential([layers.Dense(2, activation="softmax", input_dim=3)])
        model.compile("sgd", loss, metrics=["accuracy"])
        assert metric_types(model, y) == [expected]
    model = jkeras.Sequential([layers.Dense(1, activation="sigmoid", input_dim=3)])
    model.compile("sgd", "binary_crossentropy", metrics=["acc", "auc"])
    assert metric_types(model, (np.arange(8) % 2)[:, None]) == [
        jkeras.metrics.BinaryAccuracy, jkeras.metrics.AUC]
    assert model.metrics_names == ["loss", "acc", "auc"]


def test_sample_weight_class_weight_validation_split_and_regularization():
    x, y = blobs(n=40)
    model = jkeras.Sequential([layers.Dense(3, activation="softmax", input_dim=6,
                                            kernel_regularizer="l2",
                                            kernel_constraint="non_neg")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    weights = np.where(y == 1, 3.0, 1.0).astype("float32")
    weighted = model.evaluate(x, y, sample_weight=weights, batch_size=10, verbose=0)
    # Keras' reduction: sum(loss * w) / batch size, plus the weight penalty.
    p = model.predict(x, batch_size=40, verbose=0)
    per_example = -np.log(np.clip(p[np.arange(40), y], 1e-7, 1))
    penalty = 0.01 * float(np.sum(model.get_weights()[0] ** 2))
    assert weighted == pytest.approx(np.sum(per_example * weights) / 40 + penalty, rel=1e-4)

    history = model.fit(x, y, batch_size=10, epochs=2, validation_split=0.25,
                        class_weight={0: 1.0, 1: 3.0, 2: 1.0}, verbose=0)
    assert (model.get_weights()[0] >= 0).all()  # the constraint runs after each update
    # The validation set is the last quarter, before shuffling.
    assert history.history["val_loss"][-1] == pytest.approx(
        model.evaluate(x[30:], y[30:], batch_size=10, verbose=0), rel=1e-5)


def test_generators_iterables_and_optax_with_a_settable_learning_rate():
    x, y = blobs(n=48)

    def batches():
        for i in range(0, 48, 16):
            yield x[i:i + 16], y[i:i + 16]

    class Reiterable:
        def __iter__(self):
            return batches()

    model = small_model()
    model.compile(optax.inject_hyperparams(optax.sgd)(learning_rate=0.1),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(Reiterable(), epochs=2, validation_data=Reiterable(), verbose=0)
    assert len(history.history["loss"]) == 2 and "val_accuracy" in history.history
    assert int(model.get_train_state()["step"]) == 6
    model.set_learning_rate(0.01)
    assert model.get_learning_rate() == pytest.approx(0.01)
    model.fit(batches(), epochs=1, verbose=0)  # a one-shot generator
    assert int(model.get_train_state()["step"]) == 9
    with pytest.raises(TypeError, match="inject_hyperparams"):
        other = small_model()
        other.compile(optax.sgd(0.1), "mse")
        other.get_learning_rate()


def test_progress_output(capsys):
    x, y = blobs(n=32)
    model = small_model()
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=8, epochs=2, verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert lines[1].startswith("4/4 - ") and ("ms/step" in lines[1] or "us/step" in lines[1])
    assert " - accuracy: " in lines[1] and " - loss: " in lines[1]
    model.fit(x, y, batch_size=8, epochs=1, verbose=1)  # not a terminal: one line per epoch
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("4/4 ━") and " - loss: " in out[0]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


# --- Bad input -----------------------------------------------------------------------------


def test_unknown_names_list_the_valid_ones():
    model = small_model()
    with pytest.raises(ValueError, match="Unknown optimizer 'adamm'. Valid names: sgd, adam"):
        model.compile("adamm", "mse")
    with pytest.raises(ValueError, match="Unknown loss 'mse2'. Valid names: .*mean_squared"):
        model.compile("sgd", "mse2")
    with pytest.raises(ValueError, match="Unknown metric 'acuracy'. Valid names: .*accuracy"):
        model.compile("sgd", "mse", metrics=["acuracy"])


def test_fit_before_compile():
    with pytest.raises(ValueError, match=r"call compile\(optimizer=..., loss=...\) before fit"):
        small_model().fit(np.zeros((4, 6)), np.zeros(4), verbose=0)


@pytest.fixture(scope="module")
def compiled():
    model = small_model()
    model.compile("sgd", "sparse_categorical_crossentropy")
    return model


def test_x_and_y_of_different_lengths(compiled):
    with pytest.raises(ValueError, match=r"same number of examples.*x has 10.*y has 9"):
        compiled.fit(np.zeros((10, 6)), np.zeros(9), verbose=0)


def test_targets_that_do_not_fit_the_loss():
    model = small_model()
    model.compile("sgd", "categorical_crossentropy")
    with pytest.raises(ValueError) as err:
        model.fit(np.zeros((8, 6), "float32"), np.arange(8) % 3, verbose=0)
    message = str(err.value)
    assert "do not fit the loss categorical_crossentropy" in message
    assert "use sparse_categorical_crossentropy" in message


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
    ({"batch_size": -3}, "batch_size must be a positive integer"),
    ({"validation_split": 1.0}, r"validation_split must be a number in \[0, 1\), got 1.0"),
    ({"validation_split": -0.1}, r"validation_split must be a number in \[0, 1\)"),
    ({"steps_per_execution": 0}, "steps_per_execution must be an integer >= 1"),
    ({"verbose": 3}, "verbose must be 0, 1, 2 or 'auto'"),
    ({"validation_split": 0.25, "validation_freq": 0},
     "validation_freq must be an integer >= 1, got 0"),
])
def test_bad_arguments(compiled, kwargs, match):
    with pytest.raises(ValueError, match=match):
        compiled.fit(np.zeros((8, 6)), np.zeros(8), **{"verbose": 0, **kwargs})


def test_empty_data(compiled):
    with pytest.raises(ValueError, match=r"the data is empty \(0 examples"):
        compiled.fit(np.zeros((0, 6)), np.zeros(0), verbose=0)
    with pytest.raises(ValueError, match="yielded no batches"):
        compiled.fit(iter([]), verbose=0)


def test_a_generator_whose_batches_change_shape(compiled):
    def batches():
        yield np.zeros((4, 6), "float32"), np.zeros(4, "int32")
        yield np.zeros((4, 5), "float32"), np.zeros(4, "int32")

    with pytest.raises(ValueError, match=r"batch 1 of the generator has an array of shape "
                                         r"\(batch, 5\) where the first batch had \(batch, 6\)"):
        compiled.fit(batches(), verbose=0)


def test_learning_rate_must_be_a_number(compiled):
    with pytest.raises(ValueError, match="learning_rate"):
        compiled.set_learning_rate(float("nan"))
    with pytest.raises(ValueError, match="learning_rate"):
        compiled.set_learning_rate(-1.0)


def test_compile_and_fit_take_numpy_integers_alike():
    model = small_model()
    model.compile("sgd", "sparse_categorical_crossentropy", steps_per_execution=np.int64(2))
    assert model._compiled.steps_per_execution == 2
    with pytest.raises(ValueError, match="compile: steps_per_execution must be an integer >= 1"):
        model.compile("sgd", "sparse_categorical_crossentropy", steps_per_execution=0)

