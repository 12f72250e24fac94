"""What a user reads from a model is a value: training never deletes or changes it.

Each read is checked against a NumPy copy taken at the time it was read, after the model
trained on with ``train_on_batch`` and ``fit`` (whose compiled steps donate buffers).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkeras
from jkeras import layers


def make_model():
    jkeras.utils.clear_session()  # two calls give models with the same weight paths
    model = jkeras.Sequential([layers.Dense(4, activation="relu", input_dim=3),
                               layers.BatchNormalization(),
                               layers.Dense(2)])
    model.compile("adam", "mse")
    model.build((None, 3))
    return model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.random((16, 3), np.float32), rng.random((16, 2), np.float32)


@pytest.fixture(scope="module")
def models():
    """Two models with the same paths, shared by the tests (compiling is what is slow)."""
    return make_model(), make_model()


def snapshot(tree):
    # From a copy: converting the read array itself would cache its NumPy value, which
    # would then hide a deleted buffer.
    return jax.tree_util.tree_map(lambda a: np.asarray(jnp.array(a, copy=True)), tree)


def assert_same(tree, expected):
    for got, want in zip(jax.tree_util.tree_leaves(tree), jax.tree_util.tree_leaves(expected)):
        # (a deleted array whose NumPy value was cached would still convert)
        assert not (isinstance(got, jax.Array) and got.is_deleted())
        np.testing.assert_array_equal(np.asarray(got), want)


def train(model, x, y):
    model.train_on_batch(x, y)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    model.train_on_batch(x, y)


def test_everything_read_from_a_model_stays_valid(data, models):
    x, y = data
    model = models[0]
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # weights now come from a donating fit
    reads = {"params": model.params, "state": model.state,
             "layer params": model.layers[0].params, "layer state": model.layers[1].state,
             "weight values": [w.value for w in model.weights],
             "train state": model.get_train_state()}
    copies = snapshot(reads)
    train(model, x, y)
    assert_same(reads, copies)
    # and training did change the model: the reads are old values, not aliases
    assert not np.array_equal(model.params["dense"]["kernel"], copies["params"]["dense"]["kernel"])


def test_get_weights_keeps_its_values(data, models):
    # (kept apart: NumPy views of the layers' arrays would stop them being donated)
    x, y = data
    model = models[0]
    weights = model.get_weights()
    copies = [w.copy() for w in weights]
    train(model, x, y)
    assert_same(weights, copies)
    assert not np.array_equal(model.get_weights()[0], copies[0])


def test_weight_views_keep_their_values(data, models):
    x, y = data
    model = models[0]
    weights = model.weights
    before = [w.numpy() for w in weights]
    train(model, x, y)
    for w, b in zip(weights, before):
        np.testing.assert_array_equal(w.value, b)
        np.testing.assert_array_equal(np.asarray(w), b)


def test_target_network_shares_nothing_that_is_donated(data, models):
    # the DQN idiom: the target model takes the online model's weights
    x, y = data
    online, target = models
    target.params, target.state = online.params, online.state
    expected = target.predict(x, verbose=0)
    train(online, x, y)
    np.testing.assert_array_equal(target.predict(x, verbose=0), expected)
    assert len(target.get_weights()) == 8
    # and the other way round: training the target leaves the online model alone
    online_weights = online.get_weights()
    train(target, x, y)
    for got, want in zip(online.get_weights(), online_weights):
        np.testing.assert_array_equal(got, want)


def test_hand_written_early_stopping_restores_the_best(data, models):
    x, y = data
    model = models[0]
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    best, best_state = model.params, model.state
    copies = snapshot((best, best_state))
    train(model, x, y)
    model.params, model.state = best, best_state
    assert_same((model.params, model.state), copies)
    np.testing.assert_array_equal(model.get_weights()[0], copies[0]["dense"]["kernel"])
    train(model, x, y)  # training on from the restored weights works, and keeps `best`
    assert_same((best, best_state), copies)


def test_train_state_handed_in_is_not_donated(data, models):
    x, y = data
    model = models[1]
    ts = model.get_train_state()
    copies = snapshot(ts)
    model.set_train_state(ts)
    train(model, x, y)
    assert_same(ts, copies)
    model.set_train_state(ts)  # still usable: back to where it was
    assert_same(model.get_train_state(), copies)


def test_layer_called_eagerly_keeps_state_it_handed_out():
    bn = layers.BatchNormalization()
    x = np.random.default_rng(1).random((8, 3), np.float32)
    bn(x, training=True)
    state = bn.state
    copies = snapshot(state)
    bn(x * 2, training=True)
    assert_same(state, copies)
