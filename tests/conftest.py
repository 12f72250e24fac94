"""Test setup: 8 simulated CPU devices, set before jax is imported."""
import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["KERAS_BACKEND"] = "jax"  # the parity tests compare with Keras 3 on JAX

import pytest  # noqa: E402  (after the environment is set)


@pytest.fixture(autouse=True)
def _fresh_names():
    """Each test starts auto-naming afresh (``dense``, ``dense_1``, ...)."""
    import jkeras
    jkeras.utils.clear_session()
    yield


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on its JAX backend (a test dependency), for parity tests."""
    import keras
    return keras
