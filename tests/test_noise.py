"""SpatialDropout1D/2D/3D, GaussianNoise, GaussianDropout, AlphaDropout: NumPy references for
the math given the same draws, Keras 3 parity (identity in inference mode; the same training-mode
statistics, since random streams differ), shapes, keys and seeds, bad input."""
import functools

import jax
import numpy as np
import pytest

import jkeras
from jkeras.layers import noise as nz

RNG = np.random.default_rng(0)
KEY = jax.random.key(42)
ALPHA_P = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


@functools.cache
def _jitted_training_apply(layer):
    return jax.jit(functools.partial(layer.apply, training=True))


def train(layer, x, key=KEY):
    """The pure training-mode call with ``key`` (jitted: random draws are slow op by op)."""
    if not layer.built:
        layer(x)
    return np.asarray(_jitted_training_apply(layer)({}, {}, x, rng=key)[0])


def draw(kind, shape, key=KEY):
    """``jax.random.<kind>(key, shape)``, jitted (random draws are slow op by op)."""
    return np.asarray(jax.jit(getattr(jax.random, kind), static_argnums=1)(key, shape))


# -- NumPy references (given the draws, which come from jax.random with the same key) --------
def np_alpha_dropout(x, kept, rate):
    """Dropped units go to SELU's saturation value, then the affine map a * x + b."""
    a = ((1 - rate) * (1 + rate * ALPHA_P ** 2)) ** -0.5
    b = -a * ALPHA_P * rate
    return a * np.where(kept, x, ALPHA_P) + b


def test_gaussian_noise_adds_scaled_normal_draws():
    x = rand(8, 5)
    noise = draw("normal", x.shape)
    close(train(nz.GaussianNoise(0.3), x), x + 0.3 * noise)


def test_gaussian_dropout_multiplies_by_one_centred_normal_draws():
    x = rand(8, 5)
    noise = draw("normal", x.shape)
    close(train(nz.GaussianDropout(0.2), x), x * (1 + np.sqrt(0.2 / 0.8) * noise))


@pytest.mark.parametrize("noise_shape", [None, (None, 1, None)])
def test_alpha_dropout_matches_numpy(noise_shape):
    x = rand(6, 4, 5)
    shape = x.shape if noise_shape is None else (6, 1, 5)
    kept = draw("uniform", shape) >= 0.3
    close(train(nz.AlphaDropout(0.3, noise_shape=noise_shape), x),
          np_alpha_dropout(x, kept, 0.3))


@pytest.mark.parametrize("cls,shape,kwargs,channel_axis", [
    (nz.SpatialDropout1D, (64, 7, 16), {}, 2),
    (nz.SpatialDropout2D, (64, 3, 4, 16), {}, 3),
    (nz.SpatialDropout2D, (64, 16, 3, 4), dict(data_format="channels_first"), 1),
    (nz.SpatialDropout3D, (64, 2, 3, 2, 16), {}, 4),
    (nz.SpatialDropout3D, (64, 16, 2, 3, 2), dict(data_format="channels_first"), 1),
])
def test_spatial_dropout_drops_whole_channels(cls, shape, kwargs, channel_axis):
    x = np.abs(rand(*shape)) + 0.1
    y = train(cls(0.4, **kwargs), x)
    check_spatial_dropout(x, y, 0.4, channel_axis)


def check_spatial_dropout(x, y, rate, channel_axis):
    """Each (example, channel) map is all 0 or all x / (1 - rate); about ``rate`` dropped."""
    dropped = y == 0
    close(y[~dropped], x[~dropped] / (1 - rate))
    per_map = np.moveaxis(dropped, channel_axis, 1).reshape(x.shape[0], x.shape[channel_axis], -1)
    assert np.all(per_map.all(-1) | ~per_map.any(-1))  # whole maps only
    assert abs(per_map[..., 0].mean() - rate) < 0.06


# -- Keras 3 parity --------------------------------------------------------------------------
LAYERS = [
    ("SpatialDropout1D", (4, 5, 3), dict(rate=0.3)),
    ("SpatialDropout2D", (2, 4, 5, 3), dict(rate=0.3)),
    ("SpatialDropout2D", (2, 3, 4, 5), dict(rate=0.3, data_format="channels_first")),
    ("SpatialDropout3D", (2, 3, 4, 2, 3), dict(rate=0.3)),
    ("GaussianNoise", (4, 5), dict(stddev=0.2)),
    ("GaussianDropout", (4, 5, 6), dict(rate=0.3)),
    ("AlphaDropout", (4, 5), dict(rate=0.3)),
    ("AlphaDropout", (4, 5, 6), dict(rate=0.3, noise_shape=(None, 1, None))),
]


@pytest.mark.parametrize("name,shape,kwargs", LAYERS, ids=lambda v: str(v)[:40])
def test_inference_is_identity_like_keras(keras, name, shape, kwargs):
    k_layer, j_layer = getattr(keras.layers, name)(**kwargs), getattr(nz, name)(**kwargs)
    x = rand(*shape)
    np.testing.assert_array_equal(j_layer(x), x)
    np.testing.assert_array_equal(np.asarray(k_layer(x, training=False)), x)
    np.testing.assert_array_equal(jax.jit(j_layer.apply)({}, {}, x)[0], x)
    assert j_layer.get_weights() == [] and k_layer.get_weights() == []
    unknown = (None,) + shape[1:]
    assert tuple(j_layer.compute_output_shape(unknown)) == tuple(
        k_layer.compute_output_shape(unknown))
    k_symbolic = k_layer(keras.Input(batch_shape=unknown))
    assert j_layer(jkeras.Input(batch_shape=unknown)).shape == tuple(k_symbolic.shape)


@pytest.mark.parametrize("name,shape,kwargs,channel_axis", [
    ("SpatialDropout1D", (64, 7, 16), dict(rate=0.4), 2),
    ("SpatialDropout2D", (64, 3, 4, 16), dict(rate=0.4), 3),
    ("SpatialDropout2D", (64, 16, 3, 4), dict(rate=0.4, data_format="channels_first"), 1),
], ids=lambda v: str(v)[:30])
def test_spatial_dropout_training_statistics_like_keras(keras, name, shape, kwargs,
                                                        channel_axis):
    x = np.abs(rand(*shape)) + 0.1
    for layer in (getattr(keras.layers, name)(seed=1, **kwargs),
                  getattr(nz, name)(seed=1, **kwargs)):
        check_spatial_dropout(x, np.asarray(layer(x, training=True)), 0.4, channel_axis)


def moments(y):
    return float(np.mean(y)), float(np.var(y))


def test_gaussian_noise_statistics_like_keras(keras):
    x = np.zeros((200, 100), "float32")
    for layer in (keras.layers.GaussianNoise(0.3, seed=1), nz.GaussianNoise(0.3, seed=1)):
        mean, var = moments(np.asarray(layer(x, training=True)))
        assert abs(mean) < 0.01 and abs(np.sqrt(var) - 0.3) < 0.01


def test_gaussian_dropout_statistics_like_keras(keras):
    x = np.ones((200, 100), "float32")
    for layer in (keras.layers.GaussianDropout(0.3, seed=1), nz.GaussianDropout(0.3, seed=1)):
        mean, var = moments(np.asarray(layer(x, training=True)))
        assert abs(mean - 1) < 0.02 and abs(var - 0.3 / 0.7) < 0.02


def test_alpha_dropout_statistics_like_keras(keras):
    x = rand(200, 100)
    rate = 0.2
    a = ((1 - rate) * (1 + rate * ALPHA_P ** 2)) ** -0.5
    saturated = a * ALPHA_P - a * ALPHA_P * rate
    for layer in (keras.layers.AlphaDropout(rate, seed=1), nz.AlphaDropout(rate, seed=1)):
        y = np.asarray(layer(x, training=True))
        mean, var = moments(y)  # mean 0 and variance 1 are kept
        assert abs(mean) < 0.03 and abs(var - 1) < 0.05
        assert abs(np.isclose(y, saturated).mean() - rate) < 0.02


# -- keys, seeds, transformations --------------------------------------------------------------
NOISE = [lambda: nz.SpatialDropout1D(0.5), lambda: nz.GaussianNoise(0.5),
         lambda: nz.GaussianDropout(0.5), lambda: nz.AlphaDropout(0.5)]


@pytest.mark.parametrize("make", NOISE)
def test_training_without_key_says_how_to_pass_one(make):
    layer = make()
    x = rand(2, 3, 4)
    layer(x)
    with pytest.raises(ValueError, match="needs a PRNG key"):
        layer.apply({}, {}, x, training=True)


@pytest.mark.parametrize("make", NOISE)
def test_each_key_gives_its_own_draw(make):
    layer = make()
    x = rand(2, 3, 4)
    y = train(layer, x)
    np.testing.assert_array_equal(train(layer, x), y)
    assert not np.array_equal(train(layer, x, jax.random.key(7)), y)


def test_zero_rate_needs_no_key():
    x = rand(2, 3)
    for layer in (nz.GaussianNoise(0), nz.GaussianDropout(0), nz.AlphaDropout(0)):
        layer(x)
        np.testing.assert_array_equal(layer.apply({}, {}, x, training=True)[0], x)


def test_eager_calls_follow_the_layer_seed():
    x = rand(4, 6)
    first, second = nz.GaussianNoise(0.5, seed=3), nz.GaussianNoise(0.5, seed=3)
    a, b = np.asarray(first(x, training=True)), np.asarray(first(x, training=True))
    assert not np.array_equal(a, b)  # a fresh draw per call
    np.testing.assert_array_equal(second(x, training=True), a)  # reproducible from the seed


def test_noise_layers_pass_masks_on():
    mask = np.array([True, False])
    for make in NOISE:
        assert make().compute_mask(rand(2, 3, 4), mask) is mask


def test_training_noise_under_vmap_with_per_example_keys():
    layer = nz.GaussianNoise(0.5)
    x = rand(3, 4)
    layer(x)
    keys = jax.random.split(KEY, 3)
    y = jax.vmap(lambda v, k: layer.apply({}, {}, v, training=True, rng=k)[0])(x, keys)
    for i in range(3):
        close(y[i], train(layer, x[i], keys[i]))


# -- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [nz.SpatialDropout1D, nz.SpatialDropout2D, nz.GaussianDropout,
                                 nz.AlphaDropout])
@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_invalid_rates(cls, rate):
    with pytest.raises(ValueError, match=r"rate must be .*\[0, 1\)"):
        cls(rate)


def test_invalid_stddev_noise_shape_and_data_format():
    with pytest.raises(ValueError, match="stddev must be a finite number >= 0"):
        nz.GaussianNoise(-0.1)
    with pytest.raises(ValueError, match="noise_shape must hold positive ints"):
        nz.AlphaDropout(0.2, noise_shape=(None, 0))
    layer = nz.AlphaDropout(0.2, noise_shape=(None, 1))
    layer(rand(2, 3, 4))
    with pytest.raises(ValueError, match="noise_shape .* does not fit"):
        layer.apply({}, {}, rand(2, 3, 4), training=True, rng=KEY)
    with pytest.raises(ValueError, match="data_format must be"):
        nz.SpatialDropout2D(0.2, data_format="channels_middle")


def test_spatial_dropout_wrong_rank():
    with pytest.raises(ValueError, match="rank 4"):
        nz.SpatialDropout2D(0.2)(rand(2, 3, 4))
    with pytest.raises(ValueError, match="rank 3"):
        nz.SpatialDropout1D(0.2)(rand(2, 3))
