"""Bad input: clear errors that name the layer, and nothing changed."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkeras
from jkeras import layers


def built_dense():
    d = layers.Dense(3, name="probe")
    d(np.ones((2, 4), "float32"))
    return d


def test_wrong_last_dimension_into_built_layer():
    with pytest.raises(ValueError, match=r"'probe'.*built for size 4.*\(2, 5\)"):
        built_dense()(np.ones((2, 5), "float32"))


def test_wrong_rank_into_built_layer():
    with pytest.raises(ValueError, match=r"'probe'.*rank >= 2"):
        built_dense()(np.ones((4,), "float32"))
    bn = layers.BatchNormalization(name="bn")
    bn(np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match=r"'bn'.*rank 2"):
        bn(np.ones((2, 3, 3), "float32"))


def test_non_numeric_input():
    with pytest.raises(TypeError, match=r"'probe'.*numeric.*<U"):
        layers.Dense(3, name="probe")(np.array([["a", "b"]]))


def test_set_weights_wrong_count_or_shape_changes_nothing():
    m = jkeras.Sequential([layers.Dense(3, input_dim=2), layers.Dense(1)], name="m")
    before = m.get_weights()
    with pytest.raises(ValueError, match=r"'m'.*expects 4 arrays.*got 3"):
        m.set_weights(before[:3])
    bad = [w + 1 for w in before]
    bad[3] = np.zeros((2,), "float32")
    with pytest.raises(ValueError, match=r"dense_1/bias.*shape \(1,\).*\(2,\)"):
        m.set_weights(bad)
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_load_weights_mismatch_changes_nothing(tmp_path):
    a = jkeras.Sequential([layers.Dense(3, input_dim=2)])
    b = jkeras.Sequential([layers.Dense(4, input_dim=2)])
    path = tmp_path / "a.npz"
    a.save_weights(path)
    before = b.get_weights()
    with pytest.raises(ValueError, match="a.npz"):
        b.load_weights(path)
    for x, y in zip(before, b.get_weights()):
        np.testing.assert_array_equal(x, y)


def test_load_weights_refuses_pickles(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, **{"dense/kernel": np.array([object()], dtype=object)})
    d = built_dense()
    with pytest.raises(ValueError, match="evil.npz"):
        d.load_weights(path)


def test_apply_with_missing_path_or_wrong_shape_names_the_path():
    m = jkeras.Sequential([layers.Dense(3, input_dim=2), layers.Dense(1)], name="m")
    params = m.params
    missing = {"dense": params["dense"]}
    with pytest.raises(ValueError, match=r"'m'.*missing \['dense_1/bias', 'dense_1/kernel'\]"):
        m.apply(missing, {}, np.ones((1, 2), "float32"))
    wrong = jkeras.state.unflatten({**jkeras.state.flatten(params),
                                    "dense/kernel": jnp.zeros((5, 3))})
    with pytest.raises(ValueError, match=r"'dense/kernel' has shape \(5, 3\), expected \(2, 3\)"):
        m.apply(wrong, {}, np.ones((1, 2), "float32"))


def test_dropout_in_training_under_apply_without_rng():
    m = jkeras.Sequential([layers.Dense(3, input_dim=2), layers.Dropout(0.5, name="drop")])
    with pytest.raises(ValueError, match=r"'drop'.*PRNG key.*rng=jax.random.key"):
        m.apply(m.params, m.state, np.ones((1, 2), "float32"), training=True)


def test_state_changing_call_inside_transformation_points_to_apply():
    bn = layers.BatchNormalization(name="bn")
    bn(np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match=r"'bn'.*training mode on traced values.*apply"):
        jax.jit(lambda x: bn(x, training=True))(np.ones((2, 3), "float32"))
    drop = layers.Dropout(0.5, name="drop")
    with pytest.raises(ValueError, match=r"'drop'.*apply"):
        jax.grad(lambda x: drop(x, training=True).sum())(np.ones(3, "float32"))
    # inference mode inside a transformation is fine
    jax.jit(lambda x: bn(x))(np.ones((2, 3), "float32"))


def test_impossible_reshape():
    with pytest.raises(ValueError, match=r"cannot reshape inputs of shape \(2, 12\).*\(5, -1\)"):
        layers.Reshape((5, -1))(np.ones((2, 12), "float32"))
    with pytest.raises(ValueError, match=r"cannot reshape"):
        layers.Reshape((5,))(jkeras.Input(shape=(12,)))
    with pytest.raises(ValueError, match=r"at most one -1"):
        layers.Reshape((-1, -1))


def test_functional_outputs_not_depending_on_inputs():
    a, b = jkeras.Input(shape=(3,)), jkeras.Input(shape=(3,))
    out = layers.Dense(2)(b)
    with pytest.raises(ValueError, match=r"not one of the model's inputs"):
        jkeras.Model(a, out)


def test_two_layers_with_the_same_name():
    with pytest.raises(ValueError, match=r"two layers named 'same'"):
        jkeras.Sequential([layers.Dense(2, name="same"), layers.Dense(2, name="same")])


def test_unknown_names_list_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown activation 'relux'.*relu"):
        layers.Dense(2, activation="relux")
    with pytest.raises(ValueError, match=r"Unknown initializer 'glorot'.*glorot_uniform"):
        layers.Dense(2, kernel_initializer="glorot")


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match=r"units must be a positive integer, got 0"):
        layers.Dense(0)
    with pytest.raises(ValueError, match=r"rate must be a number in \[0, 1\)"):
        layers.Dropout(1.5)
    with pytest.raises(ValueError, match=r"Dropout.*rate must be a number in \[0, 1\), got '0.1'"):
        layers.Dropout("0.1")
    with pytest.raises(ValueError, match=r"LSTM.*dropout must be a number in \[0, 1\), got None"):
        layers.LSTM(4, dropout=None)


def test_training_flag_must_be_static():
    d = built_dense()
    with pytest.raises(TypeError, match="static"):
        d.apply(d.params, d.state, np.ones((1, 4), "float32"), training=jnp.array(True))


def test_unbuilt_apply_and_merge_misuse():
    with pytest.raises(ValueError, match=r"not built yet"):
        layers.Dense(2, name="probe").apply({}, {}, np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"list of at least 2 inputs"):
        layers.Add()(np.ones((2, 2), "float32"))
    with pytest.raises(ValueError, match=r"broadcast.*incompatible shapes"):
        layers.Add()([np.ones((2, 2), "float32"), np.ones((2, 3), "float32")])
