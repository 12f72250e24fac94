"""One of the processes that tests/test_sharding_processes.py starts: joins the run
(``jkeras.sharding.initialize`` reads ``JKERAS_*`` from the environment), trains under
``DataParallel`` over every process's devices on its own rows, and saves what it got."""
import os
import sys

if __name__ == "__main__":  # a worker process (the test only imports data() and model())
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"  # before jax loads
    os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402
import numpy as np  # noqa: E402

import jkeras  # noqa: E402
from jkeras import sharding  # noqa: E402

GLOBAL_BATCH, STEPS, FEATURES = 8, 4, 6


def data():
    """The whole data set, the same in every process (and in the one-process reference)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((GLOBAL_BATCH * STEPS, FEATURES)).astype("float32")
    return x, rng.integers(0, 3, len(x))


def model():
    jkeras.utils.set_random_seed(0)
    return jkeras.Sequential([jkeras.layers.Dense(8, activation="relu", input_dim=FEATURES),
                              jkeras.layers.Dense(3, activation="softmax")])


def local_rows(a, index, count):
    """This process's share of each global batch, in order: global batch j is the
    processes' local batches j one after another."""
    local = GLOBAL_BATCH // count
    return np.concatenate([a[j * GLOBAL_BATCH + index * local:][:local] for j in range(STEPS)])


def main(out):
    sharding.initialize(initialization_timeout=60, heartbeat_timeout_seconds=20,
                        shutdown_timeout_seconds=20)
    index, count = jax.process_index(), jax.process_count()
    assert count == 2 and len(jax.devices()) == 4 and len(jax.local_devices()) == 2
    x, y = (local_rows(a, index, count) for a in data())
    with sharding.distribution(sharding.DataParallel()):
        net = model()
        net.compile("adam", "sparse_categorical_crossentropy")
        history = net.fit(x, y, batch_size=GLOBAL_BATCH // count, epochs=2, shuffle=False,
                          verbose=0)
        predictions = net.predict(x[:5], verbose=0)  # 5 local rows: padded, then cut
    np.savez(out, *net.get_weights(), loss=np.asarray(history.history["loss"]),
             predictions=predictions, rows=x[:5])
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
