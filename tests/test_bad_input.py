"""Bad input gets a clear error naming the layer or argument, and changes nothing."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkeras
from jkeras import layers


def weights_of(model):
    return [np.array(w) for w in model.get_weights()]


def assert_unchanged(model, before):
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)


# -- Embedding, eager --------------------------------------------------------------------------

@pytest.mark.parametrize("index, message", [(100, r"\[0, 10\).*from 1 to 100"),
                                            (-1, r"\[0, 10\).*from -1 to 1"),
                                            (1.7, r"\[0, 10\).*got 1.7, not a whole number")])
def test_embedding_rejects_indices_it_has_no_row_for(index, message):
    emb = layers.Embedding(10, 3)
    ok = emb(np.array([[1, 2]]))
    with pytest.raises(ValueError, match=r"<Embedding 'embedding.*'> expects .*" + message):
        emb(np.array([[1, index]]))
    # whole-valued floats are indices, as in Keras: the rows of the table
    np.testing.assert_array_equal(emb(np.array([[1.0, 2.0]])), ok)
    np.testing.assert_array_equal(ok[0], np.asarray(emb.params["embeddings"])[[1, 2]])


def test_embedding_under_jit_is_documented_not_checked():
    emb = layers.Embedding(10, 3)
    emb(np.array([0]))
    table = np.asarray(emb.params["embeddings"])
    out = jax.jit(lambda x: emb.apply(emb.params, emb.state, x)[0])(jnp.array([100, -1, 2]))
    assert np.isnan(out[0]).all()                      # past the end: NaN
    np.testing.assert_array_equal(out[1], table[-1])   # negative: from the end
    np.testing.assert_array_equal(out[2], table[2])


# -- labels for a sparse crossentropy ----------------------------------------------------------

@pytest.fixture(scope="module")
def classifier():
    jkeras.utils.clear_session()
    model = jkeras.Sequential([layers.Dense(3, activation="softmax", input_dim=2)])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.build((None, 2))
    return model


@pytest.mark.parametrize("labels, message", [
    ([0, 1, 3, 2], r"class indices in \[0, 3\).*from 0 to 3"),
    ([0, -1, 2, 2], r"class indices in \[0, 3\).*from -1 to 2"),
    ([0.0, 1.5, 2.0, 1.0], r"class indices in \[0, 3\).*got 1.5, not a whole number"),
])
@pytest.mark.parametrize("call", ["fit", "evaluate"])
def test_sparse_labels_must_be_class_indices(classifier, labels, message, call):
    x = np.ones((4, 2), np.float32)
    before = weights_of(classifier)
    steps = int(classifier.optimizer.iterations)
    with pytest.raises(ValueError, match=f"{call}: y must hold " + message):
        getattr(classifier, call)(x, np.array(labels), verbose=0)
    assert_unchanged(classifier, before)
    assert int(classifier.optimizer.iterations) == steps


def test_sparse_labels_checked_in_validation_data(classifier):
    x = np.ones((4, 2), np.float32)
    with pytest.raises(ValueError, match=r"fit: y must hold class indices in \[0, 3\)"):
        classifier.fit(x, np.zeros(4), validation_data=(x, np.full(4, 9)), verbose=0)


def test_whole_float_labels_train(classifier):
    x = np.ones((4, 2), np.float32)
    classifier.fit(x, np.array([0.0, 1.0, 2.0, 1.0]), verbose=0)


def test_text_data_names_fit_and_the_argument(classifier):
    with pytest.raises(TypeError, match=r"fit: x must hold numbers, got an array of dtype <U1"):
        classifier.fit(np.full((4, 2), "a"), np.zeros(4), verbose=0)
    with pytest.raises(TypeError, match=r"evaluate: y must hold numbers"):
        classifier.evaluate(np.ones((4, 2)), np.array(list("abcd")), verbose=0)


# -- constructor arguments ---------------------------------------------------------------------

@pytest.mark.parametrize("make, error, message", [
    (lambda: layers.BatchNormalization(momentum=2.0), ValueError,
     r"<BatchNormalization .*>: momentum must be a number in \[0, 1\], got 2.0"),
    (lambda: layers.BatchNormalization(epsilon=-1e-3), ValueError, r"epsilon must be"),
    (lambda: layers.LayerNormalization(epsilon=-1), ValueError,
     r"<LayerNormalization .*>: epsilon must be a number >= 0, got -1"),
    (lambda: layers.Dense(3, input_dim=0), ValueError,
     r"<Dense .*>: input_dim must be a positive integer, got 0"),
    (lambda: layers.Dense(3, use_bias="no"), TypeError,
     r"<Dense .*>: use_bias must be True or False, got 'no'"),
    (lambda: layers.Dense(3, activation=42), TypeError,
     r"<Dense .*>: activation: expected an activation name \(a string\) or a callable, "
     r"got 42 of type int"),
    (lambda: layers.Dense(3, kernel_initializer=42), TypeError,
     r"<Dense .*>: kernel_initializer: expected an initializer name"),
    (lambda: layers.Dense(3, activation="nope"), ValueError,
     r"<Dense .*>: activation: Unknown activation 'nope'"),
    (lambda: layers.Dense(3, dtype="nope"), ValueError,
     r"<Dense .*>: dtype: Cannot convert 'nope' to a dtype policy. Valid policies are "
     r"'mixed_float16', 'mixed_bfloat16' and the name of a dtype such as 'float32'"),
])
def test_constructor_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_batch_normalization_on_an_empty_batch_keeps_its_statistics():
    bn = layers.BatchNormalization()
    x = np.random.default_rng(0).random((4, 3), np.float32)
    bn(x, training=True)
    before = jax.tree_util.tree_map(np.array, bn.state)
    out = bn(np.zeros((0, 3), np.float32), training=True)
    assert out.shape == (0, 3)
    for k in before:
        np.testing.assert_array_equal(bn.state[k], before[k])
        assert np.isfinite(bn.state[k]).all()


# -- weight setters ----------------------------------------------------------------------------

@pytest.fixture
def dense():
    d = layers.Dense(2, name="d")
    d(np.ones((1, 3), np.float32))
    return d


def test_params_setter_converts_like_set_weights(dense):
    kernel = np.arange(6, dtype=np.int32).reshape(3, 2)
    dense.params = {"kernel": kernel, "bias": np.zeros(2, np.int32)}
    assert dense.params["kernel"].dtype == jnp.float32
    np.testing.assert_array_equal(dense.params["kernel"], kernel.astype(np.float32))
    dense.params = {"kernel": kernel.tolist(), "bias": [1, 2]}   # plain lists
    assert dense.params["bias"].dtype == jnp.float32
    np.testing.assert_array_equal(dense.params["bias"], [1.0, 2.0])
    np.testing.assert_array_equal(dense(np.ones((1, 3), np.float32)), [[7.0, 11.0]])


@pytest.mark.parametrize("bad, error, message", [
    ({"kernel": np.ones((3, 2)) * 1j, "bias": np.zeros(2)}, TypeError,
     r"params at 'kernel': expected real numbers for a weight of dtype float32, got complex128"),
    ({"kernel": np.full((3, 2), "x"), "bias": np.zeros(2)}, TypeError,
     r"expected numbers for a weight of dtype float32, got values of dtype <U1"),
    ({"kernel": np.ones((3, 3)), "bias": np.zeros(2)}, ValueError,
     r"params at 'kernel' has shape \(3, 3\), expected \(3, 2\)"),
    ({"kernel": np.ones((3, 2))}, ValueError, r"missing \['bias'\]"),
    (None, TypeError, r"params must be a nested dict of arrays with the paths "
                      r"\['bias', 'kernel'\].*got NoneType"),
])
def test_params_setter_refuses_what_does_not_fit(dense, bad, error, message):
    before = jax.tree_util.tree_map(np.array, dense.params)
    with pytest.raises(error, match=message):
        dense.params = bad
    for k in before:
        np.testing.assert_array_equal(dense.params[k], before[k])


def test_set_weights_refuses_complex_for_float(dense):
    before = dense.get_weights()
    with pytest.raises(TypeError, match=r"set_weights: 'd/kernel': expected real numbers"):
        dense.set_weights([np.ones((3, 2)) * 1j, np.zeros(2)])
    for got, want in zip(dense.get_weights(), before):
        np.testing.assert_array_equal(got, want)


def test_model_params_setter_changes_no_layer_when_one_fails():
    jkeras.utils.clear_session()
    model = jkeras.Sequential([layers.Dense(2, input_dim=3), layers.Dense(1)])
    before = weights_of(model)
    params = jax.tree_util.tree_map(lambda a: np.ones(a.shape), model.params)
    params["dense_1"]["kernel"] = params["dense_1"]["kernel"] * 1j   # the second layer's
    with pytest.raises(TypeError, match=r"params at 'dense_1/kernel'"):
        model.params = params
    assert_unchanged(model, before)


def test_apply_says_what_it_expects(dense):
    x = np.ones((1, 3), np.float32)
    with pytest.raises(TypeError, match=r"<Dense 'd'>: params must be a nested dict .*NoneType"):
        dense.apply(None, dense.state, x)
    with pytest.raises(TypeError, match=r"<Dense 'd'>: state must be a nested dict .*NoneType"):
        dense.apply(dense.params, None, x)


def test_calling_on_none_says_what_was_expected(dense):
    model = jkeras.Sequential([layers.Dense(2)])
    for layer in (dense, model):
        with pytest.raises(TypeError, match=r"expects inputs: an array .* got None"):
            layer(None)


# -- a loss that stops being finite ------------------------------------------------------------

@pytest.mark.parametrize("spe", [1, 2])
def test_nonfinite_loss_warns_once_with_epoch_and_batch(spe):
    jkeras.utils.clear_session()
    model = jkeras.Sequential([layers.Dense(1, input_dim=2)])
    model.compile("sgd", "mse")
    x, y = np.ones((12, 2), np.float32), np.zeros((12, 1), np.float32)
    x[9, 0] = np.nan   # batch 2 (counting from 0) of batches of 4
    with pytest.warns(UserWarning) as caught:
        history = model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0,
                            steps_per_execution=spe)
    messages = [str(w.message) for w in caught if "non-finite" in str(w.message)
                or "became nan" in str(w.message)]
    assert messages == ["fit: the loss became nan in epoch 1 (callbacks' epoch 0), at batch 2 "
                        "of that epoch (counting from 0); training goes on, as in Keras. The "
                        "TerminateOnNaN callback stops it at the first such batch and keeps "
                        "the last finite weights."]
    assert len(history.history["loss"]) == 3   # Keras' behaviour: training went on
