"""get_train_state() pytrees with orbax-checkpoint: saved, restored, and restored onto a
sharding (the way for large or sharded models)."""
import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.sharding import NamedSharding, PartitionSpec as P

import jkeras
from jkeras import layers


def test_train_state_round_trips_through_orbax_onto_a_sharding(tmp_path):
    model = jkeras.Sequential([layers.Dense(16, activation="relu", input_dim=8),
                               layers.Dense(4)])
    model.compile("adam", "mse")
    x = np.random.default_rng(0).standard_normal((32, 8)).astype("float32")
    model.fit(x, x[:, :4], batch_size=8, epochs=1, verbose=0)
    ts = model.get_train_state()

    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(tmp_path / "ts", ts)
    checkpointer.wait_until_finished()

    mesh = jax.make_mesh((len(jax.devices()),), ("model",))

    def target(a):  # kernels split over their output axis, everything else replicated
        spec = P(None, "model") if a.ndim == 2 and a.shape[1] % len(jax.devices()) == 0 \
            else P()
        return jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=NamedSharding(mesh, spec))

    restored = checkpointer.restore(tmp_path / "ts", jax.tree_util.tree_map(target, ts))
    for a, b in zip(jax.tree_util.tree_leaves(restored), jax.tree_util.tree_leaves(ts)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    kernel = restored["params"]["dense"]["kernel"]
    assert kernel.sharding.spec == P(None, "model")
    assert len(kernel.addressable_shards) == len(jax.devices())

    before = model.predict(x, verbose=0)
    model.set_weights([w * 0 for w in model.get_weights()])
    model.set_train_state(restored)          # sharded arrays: the matmuls run split
    np.testing.assert_allclose(model.predict(x, verbose=0), before, rtol=1e-5, atol=1e-6)
