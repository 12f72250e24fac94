"""Test setup: 8 simulated CPU devices, set before jax is imported."""
import os
import sys

# Tests compile hundreds of tiny programs and run each a few times: LLVM's expensive
# optimizations cost far more than they save here (about a quarter of the suite's time).
# The program XLA runs is the same HLO; benchmarks never import this file.
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    " --xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["KERAS_BACKEND"] = "jax"  # the parity tests compare with Keras 3 on JAX

import zlib  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402  (after the environment is set)


@pytest.fixture(autouse=True)
def _fresh_names():
    """Each test starts auto-naming afresh (``dense``, ``dense_1``, ...), Keras' too."""
    import jkeras
    jkeras.utils.clear_session()
    if "keras" in sys.modules:
        sys.modules["keras"].utils.clear_session(free_memory=False)
    yield


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on its JAX backend (a test dependency), for parity tests."""
    import keras
    return keras


@pytest.fixture(autouse=True)
def _fresh_rng(request):
    """A test module's ``RNG`` restarts for each test from a seed of the test's own id, so
    the data a test draws does not depend on which tests ran before it in its worker."""
    if isinstance(getattr(request.module, "RNG", None), np.random.Generator):
        request.module.RNG = np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))

