"""Variance-scaling initializers on every rank: fans and draw statistics against Keras 3."""
import jax
import numpy as np
import pytest

from jkeras import initializers

NAMES = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
         "lecun_normal"]


def draws(init, shape, n=4000):
    """``n`` values drawn for ``shape``: one draw of a big vector, or many of a scalar."""
    if shape:
        return np.asarray(init(jax.random.key(0), shape)).ravel()
    keys = jax.random.split(jax.random.key(0), n)
    return np.asarray(jax.vmap(lambda k: init(k, ()))(keys))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(6000,), (), (40, 30, 5)], ids=["1-D", "scalar", "3-D"])
def test_variance_scaling_fans_and_statistics_match_keras(keras, name, shape):
    from keras.src.initializers.random_initializers import compute_fans
    theirs = keras.initializers.get(name)
    ours = initializers.get(name)
    fan_in, fan_out = compute_fans(shape)
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[theirs.mode]
    std = np.sqrt(theirs.scale / fan)  # the variance Keras aims at
    got = draws(ours, shape)
    assert got.shape[0] >= 4000 and got.dtype == np.float32
    want = np.concatenate([np.asarray(type(theirs)(seed=s)(shape)).ravel()
                           for s in range(1 if shape else 1000)])
    for values in (got, want):  # within about 4 standard errors of the estimates
        np.testing.assert_allclose(values.std(), std, rtol=4 / np.sqrt(2 * len(values)))
        np.testing.assert_allclose(values.mean(), 0, atol=4 * std / np.sqrt(len(values)))
    # The support: uniform within sqrt(3) std, the truncated normal within 2 of its sigma.
    bound = std * (np.sqrt(3) if theirs.distribution == "uniform" else 2 / .87962566103423978)
    assert np.abs(got).max() <= bound * (1 + 1e-6)
    assert np.abs(got).max() > 0.9 * bound
