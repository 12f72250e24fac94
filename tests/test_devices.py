"""Several devices (8 simulated CPUs): device scopes, replicas sharing weights, and a
data-parallel training step on a mesh that equals the single-device step."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec as P

import jkeras
from jkeras import layers
from jkeras.losses import categorical_crossentropy

RNG = np.random.default_rng(0)


def _model():
    return jkeras.Sequential([layers.Dense(16, activation="relu", input_dim=12),
                              layers.BatchNormalization(), layers.Dense(4, activation="softmax")])


def test_eight_simulated_devices():
    assert len(jax.devices()) == 8


def test_weights_and_ops_live_on_the_default_device_scope():
    device = jax.devices()[3]
    with jax.default_device(device):
        lstm = layers.LSTM(4)
        y = lstm(jnp.ones((2, 5, 3)))
    assert y.devices() == {device}
    assert all(w.value.devices() == {device} for w in lstm.weights)


def test_replicas_on_two_devices_share_one_set_of_weights():
    model = _model()
    x = RNG.standard_normal((6, 12)).astype("float32")
    expected = np.asarray(model(x))
    outs = []
    for device in jax.devices()[:2]:
        out, _ = model.apply(jax.device_put(model.params, device), model.state,
                             jax.device_put(x, device))
        assert out.devices() == {device}
        outs.append(np.asarray(out))
    np.testing.assert_allclose(0.5 * (outs[0] + outs[1]), expected, rtol=1e-6, atol=1e-6)


def test_data_parallel_step_on_a_mesh_equals_the_single_device_step():
    model = _model()
    optimizer = optax.sgd(0.1)
    x = RNG.standard_normal((32, 12)).astype("float32")
    y = np.eye(4, dtype="float32")[RNG.integers(0, 4, 32)]

    def step(params, state, opt_state, x, y):
        def loss_fn(params):
            preds, new_state = model.apply(params, state, x, training=True)
            return jnp.mean(categorical_crossentropy(y, preds)), new_state
        (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state)
        return optax.apply_updates(params, updates), state, opt_state, loss

    params, state = model.params, model.state
    single = jax.jit(step)(params, state, optimizer.init(params), x, y)

    mesh = jax.make_mesh((8,), ("data",))
    replicated, by_example = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    sharded_params = jax.device_put(params, replicated)
    sharded = jax.jit(step)(sharded_params, jax.device_put(state, replicated),
                            optimizer.init(sharded_params), jax.device_put(x, by_example),
                            jax.device_put(y, by_example))
    # BatchNormalization's statistics are those of the whole batch, not of a shard.
    for a, b in zip(jax.tree_util.tree_leaves(single), jax.tree_util.tree_leaves(sharded)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6)
    new_params = sharded[0]
    assert all(leaf.sharding.is_fully_replicated
               for leaf in jax.tree_util.tree_leaves(new_params))
