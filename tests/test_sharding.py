"""jkeras.sharding on 8 simulated devices: every distributed path equals the same training
on one device (the reference), shardings survive training, and bad layouts fail clearly."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import lax
from jax.sharding import NamedSharding, PartitionSpec as P

import jkeras
from jkeras import layers
from jkeras import sharding as sh

RNG = np.random.default_rng(0)


def _mlp():
    return jkeras.Sequential([layers.Dense(16, activation="relu", input_dim=12),
                              layers.Dense(8, activation="relu"),
                              layers.Dense(4, activation="softmax")])


def _cnn():
    return jkeras.Sequential([layers.Conv2D(4, 3, use_bias=False, input_shape=(6, 6, 2)),
                              layers.BatchNormalization(), layers.Activation("relu"),
                              layers.Flatten(), layers.Dense(4, activation="softmax")])


def _lstm():
    return jkeras.Sequential([layers.LSTM(8, input_shape=(5, 3)),
                              layers.Dense(4, activation="softmax")])


def _data(shape, n=32):
    return RNG.standard_normal((n, *shape)).astype("float32"), RNG.integers(0, 4, n)


def _twins(make, dist, optimizer="adam"):
    """The same model twice (same seed): one plain, one built under ``dist``."""
    jkeras.utils.set_random_seed(1)
    ref = make()
    jkeras.utils.clear_session()  # the same layer names, so the same weight paths
    jkeras.utils.set_random_seed(1)
    with sh.distribution(dist):
        model = make()
    ref.compile(optimizer, "sparse_categorical_crossentropy")
    model.compile(optimizer, "sparse_categorical_crossentropy", distribution=dist)
    return ref, model


def _mp_layout(mesh):
    layout = sh.LayoutMap(mesh)
    layout["dense.*/kernel"] = (None, "model")
    return layout


def _shardings(tree):
    return jax.tree_util.tree_map(lambda a: a.sharding, tree)


def _close(a, b, tol=1e-5):
    jax.tree_util.tree_map(lambda u, v: np.testing.assert_allclose(
        np.asarray(u), np.asarray(v), rtol=tol, atol=tol), a, b)


# -- meshes and bad input ----------------------------------------------------------------------
def test_mesh_defaults_to_all_devices_on_a_data_axis():
    m = sh.mesh()
    assert dict(m.shape) == {"data": 8} and list(m.devices.flat) == jax.devices()
    assert dict(sh.mesh((2, 4), ("data", "model")).shape) == {"data": 2, "model": 4}
    assert dict(sh.mesh(devices=4).shape) == {"data": 4}
    with jax.set_mesh(sh.mesh((2, 4), ("data", "model"))):  # usable as the ambient mesh
        assert dict(jax.sharding.get_abstract_mesh().shape) == {"data": 2, "model": 4}


@pytest.mark.parametrize("make, words", [
    (lambda: sh.mesh(devices=9), ["9 devices", "8"]),
    (lambda: sh.mesh((3, 2), ("data", "model")), ["(3, 2)", "6", "8"]),
    (lambda: sh.mesh((8,), ("data", "model")), ["1 axes", "names 2"]),
    (lambda: sh.ModelParallel(sh.LayoutMap(sh.mesh()), batch_dim_name="batch"),
     ["'batch'", "('data',)"]),
    (lambda: sh.LayoutMap(sh.mesh()).__setitem__("d/kernel", (None, "model")),
     ["'model'", "('data',)"]),
])
def test_bad_meshes_and_axes_fail_clearly(make, words):
    with pytest.raises(ValueError) as err:
        make()
    assert all(w in str(err.value) for w in words), str(err.value)


def _mp_model_error(rules, strict=False, units=8):
    layout = sh.LayoutMap(sh.mesh((2, 4), ("data", "model")))
    for k, v in rules.items():
        layout[k] = v
    jkeras.utils.clear_session()  # the layer is "dense" each time
    model = jkeras.Sequential([layers.Dense(units)])
    model.compile("sgd", "mse", distribution=sh.ModelParallel(layout, strict=strict))
    with pytest.raises(ValueError) as err:
        model.fit(np.ones((8, 3)), np.ones((8, units)), batch_size=8, verbose=0)
    return str(err.value)


def test_bad_layout_rules_fail_clearly():
    msg = _mp_model_error({"dense/k.*": (None, "model"), ".*/kernel": ("model",)})
    assert "dense/kernel" in msg and "'dense/k.*'" in msg and "'.*/kernel'" in msg
    msg = _mp_model_error({"dense/kernel": (None, "model", None)})
    assert "3 entries" in msg and "2 dimensions" in msg and "(3, 8)" in msg
    msg = _mp_model_error({"dense/kernel": (None, "model")}, units=6)
    assert "size 6" in msg and "4 devices" in msg and "'model'" in msg
    msg = _mp_model_error({"conv.*/kernel": (None, "model")}, strict=True)
    assert "['conv.*/kernel']" in msg and "match no weight" in msg


def test_batch_that_does_not_split_is_an_error_and_changes_nothing():
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy", distribution=sh.DataParallel())
    x, y = _data((12,))
    before = model.get_weights()
    for call in (lambda: model.fit(x, y, batch_size=12, verbose=0),
                 lambda: model.evaluate(x, y, batch_size=12, verbose=0)):
        with pytest.raises(ValueError, match=r"batch of 12 examples .* 8 devices"):
            call()
    _close(model.get_weights(), before, 0)
    assert int(model.get_train_state()["step"]) == 0


# -- training equals one device ----------------------------------------------------------------
@pytest.mark.parametrize("make, shape", [(_mlp, (12,)), (_cnn, (6, 6, 2)), (_lstm, (5, 3))],
                         ids=["mlp", "cnn_bn", "lstm"])
def test_data_parallel_fit_equals_one_device(make, shape):
    dp = sh.DataParallel()
    ref, model = _twins(make, dp)
    _close(model.get_weights(), ref.get_weights(), 0)  # born sharded, same values
    x, y = _data(shape, 40 if make is _mlp else 32)  # the MLP's last batch has 8 rows
    h_ref = ref.fit(x, y, batch_size=16, shuffle=False, verbose=0)
    # The MLP also runs 2 steps per compiled call (batches stacked, split on axis 1).
    h = model.fit(x, y, batch_size=16, shuffle=False, verbose=0,
                  steps_per_execution=2 if make is _mlp else 1)
    _close(model.get_weights(), ref.get_weights())
    np.testing.assert_allclose(h.history["loss"], h_ref.history["loss"], rtol=1e-5)
    for w in model.weights:
        assert w.value.sharding.spec == P() and len(w.value.sharding.device_set) == 8
    if make is _mlp:
        _close(model.evaluate(x, y, verbose=0), ref.evaluate(x, y, verbose=0))


def test_model_parallel_matches_data_parallel_and_splits_kernels():
    device_mesh = sh.mesh((2, 4), ("data", "model"))
    mp = sh.ModelParallel(_mp_layout(device_mesh), batch_dim_name="data")
    dp_ref, model = _twins(_mlp, mp)
    dp_ref.compile("adam", "sparse_categorical_crossentropy", distribution=sh.DataParallel())
    kernel = model.params["dense"]["kernel"]  # born split: each device holds 16 / 4 columns
    assert kernel.sharding.spec == P(None, "model")
    assert {s.data.shape for s in kernel.addressable_shards} == {(12, 4)}
    assert kernel.addressable_shards[0].data.nbytes * 4 == kernel.nbytes
    x, y = _data((12,))
    seen = []
    check = jkeras.callbacks.LambdaCallback(  # reads the live train state of the fit
        on_epoch_end=lambda *_: seen.append(model.get_train_state()))
    h_ref = dp_ref.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    h = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, callbacks=[check])
    np.testing.assert_allclose(h.history["loss"], h_ref.history["loss"], rtol=1e-5)
    _close(model.get_weights(), dp_ref.get_weights())
    for ts in seen:  # every param, state and optimizer-state leaf kept its sharding
        got = _shardings(ts)
        specs = jax.tree_util.tree_map(lambda s: s.spec, got)
        assert specs["params"]["dense"]["kernel"] == P(None, "model")
        assert specs["opt_state"]["momentums"]["dense_2"]["kernel"] == P(None, "model")
        assert specs["opt_state"]["velocities"]["dense_1"]["bias"] == P()
        jax.tree_util.tree_map(lambda a, e: a.sharding.is_equivalent_to(e, a.ndim) or
                               pytest.fail(f"{a.sharding} != {e}"),
                               ts, mp.train_state_shardings(ts))


def test_train_on_batch_predict_and_context_manager():
    dp = sh.DataParallel()
    ref, model = _twins(_mlp, dp)
    model.compile("adam", "sparse_categorical_crossentropy")  # the context decides
    x, y = _data((12,), 13)
    with sh.distribution(dp):
        loss = model.train_on_batch(x[:8], y[:8])
        out = model.predict(x, batch_size=8, verbose=0)  # 13 rows: 8, then 5 padded to 8
        one = model.predict_on_batch(x[:5])
        assert model.params["dense"]["kernel"].sharding.spec == P()
        assert len(model.params["dense"]["kernel"].sharding.device_set) == 8
    np.testing.assert_allclose(loss, ref.train_on_batch(x[:8], y[:8]), rtol=1e-5)
    np.testing.assert_allclose(out, ref.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(one, out[:5], rtol=1e-5, atol=1e-6)


def test_train_step_jitted_over_the_mesh_equals_one_device():
    dp = sh.DataParallel()
    ref, model = _twins(_cnn, dp, optax.adam(1e-2))
    x, y = _data((6, 6, 2), 16)
    step = jax.jit(ref.train_step)
    ts_ref = ref.get_train_state()
    with sh.distribution(dp):
        ts = model.get_train_state()
    shardings = dp.train_state_shardings(ts)
    dstep = jax.jit(model.train_step, out_shardings=(shardings, None))
    xs, ys = dp.distribute_batch((x, y))
    assert xs.sharding.spec == P("data")
    for _ in range(3):
        ts_ref, logs_ref = step(ts_ref, x, y)
        ts, logs = dstep(ts, xs, ys)
    _close((ts["params"], ts["state"]), (ts_ref["params"], ts_ref["state"]))
    np.testing.assert_allclose(logs["loss"], logs_ref["loss"], rtol=1e-5)


def test_pmap_step_with_synchronized_batch_norm_equals_one_device():
    def make():
        return jkeras.Sequential([layers.Dense(8, input_dim=12),
                                  layers.BatchNormalization(synchronized=True),
                                  layers.Dense(4, activation="softmax")])
    jkeras.utils.set_random_seed(2)
    model = make()
    model.compile(optax.sgd(0.5), "sparse_categorical_crossentropy")
    x, y = _data((12,), 16)
    ts0 = model.get_train_state()
    ts_ref, logs_ref = jax.jit(model.train_step)(ts0, x, y)
    step = jax.pmap(sh.replicated_step(model), axis_name="data")
    ts, logs = step(sh.replicate(ts0), x.reshape(8, 2, 12), y.reshape(8, 2))
    # SGD: new - old = -lr * grad, so equal params mean equal (mean) gradients.
    _close(sh.unreplicate(ts)["params"], ts_ref["params"])
    _close(sh.unreplicate(ts)["state"], ts_ref["state"])
    np.testing.assert_allclose(logs["loss"], np.full(8, logs_ref["loss"]), rtol=1e-5)
    # Plain BatchNormalization on the 2-row shards would give another step.
    jkeras.utils.clear_session()
    plain = jkeras.Sequential([layers.Dense(8, input_dim=12), layers.BatchNormalization(),
                               layers.Dense(4, activation="softmax")])
    plain.compile(optax.sgd(0.5), "sparse_categorical_crossentropy")
    ts_plain, _ = jax.pmap(sh.replicated_step(plain), axis_name="data")(
        sh.replicate(ts0), x.reshape(8, 2, 12), y.reshape(8, 2))
    assert not np.allclose(sh.unreplicate(ts_plain)["params"]["dense"]["kernel"],
                           ts_ref["params"]["dense"]["kernel"], atol=1e-4)


def test_shard_map_gradient_pitfall():
    """Inside jax.shard_map the gradient of replicated params is already summed over the
    axis: taking the gradient of the pmean-ed loss is right; pmean-ing gradients is 8x."""
    model = _mlp()
    x, y = _data((12,), 16)
    params, state = model.params, model.state

    def loss(p, x, y):
        out, _ = model.apply(p, state, x, training=False)
        return jnp.mean(jkeras.losses.sparse_categorical_crossentropy(y, out))

    true = jax.jit(jax.grad(loss))(params, x, y)
    specs = dict(mesh=sh.mesh(), in_specs=(P(), P("data"), P("data")), out_specs=P())
    right = jax.jit(jax.shard_map(
        lambda p, x, y: jax.grad(lambda p: lax.pmean(loss(p, x, y), "data"))(p), **specs))
    wrong = jax.jit(jax.shard_map(
        lambda p, x, y: lax.pmean(jax.grad(loss)(p, x, y), "data"), **specs))
    _close(right(params, x, y), true)
    _close(wrong(params, x, y), jax.tree_util.tree_map(lambda g: 8 * g, true), 1e-4)


def test_pure_function_born_sharded_under_model_parallel():
    mp = sh.ModelParallel(_mp_layout(sh.mesh((2, 4), ("data", "model"))))
    d1, d2 = layers.Dense(16, activation="relu"), layers.Dense(4)
    net = jkeras.pure(lambda x: d2(d1(x)))
    x = RNG.standard_normal((8, 12)).astype("float32")
    with sh.distribution(mp):
        params, state = net.init(jax.random.key(0), x)
    plain, _ = net.init(jax.random.key(0), x)
    assert params["dense"]["kernel"].sharding.spec == P(None, "model")
    _close(params, plain, 0)
    out, _ = jax.jit(net.apply)(params, state, mp.distribute_batch(x))
    _close(out, net.apply(plain, state, x)[0])


# -- the tutorial's replicas -------------------------------------------------------------------
def test_replicate_unreplicate_and_replicas():
    model = _mlp()
    x = RNG.standard_normal((7, 12)).astype("float32")
    tree = sh.replicate(model.params, devices=4)
    kernel = tree["dense"]["kernel"]
    assert kernel.shape == (4, 12, 16) and len(kernel.sharding.device_set) == 4
    _close(sh.unreplicate(tree), model.params, 0)
    expected = np.asarray(model(x))
    _close(sh.replicas(model, x, devices=3), expected)                  # rows split, concat
    _close(sh.replicas(model, x, devices=2, merge="mean"), expected)    # the tutorial's mean
    with pytest.raises(ValueError, match="merge"):
        sh.replicas(model, x, merge="sum")


def test_synchronized_batch_norm_alone_equals_plain_on_one_device():
    bn, plain = layers.BatchNormalization(synchronized=True), layers.BatchNormalization()
    x = RNG.standard_normal((16, 3)).astype("float32")
    params, state = bn.init(jax.random.key(0), x)
    plain.init(jax.random.key(0), x)
    y, s = bn.apply(params, state, x, training=True)
    y_plain, s_plain = plain.apply(params, state, x, training=True)
    _close((y, s), (y_plain, s_plain), 0)
    mean, var = x.mean(0), x.var(0)  # NumPy's statistics over the whole batch
    _close(y, (x - mean) / np.sqrt(var + 1e-3), 1e-5)
