"""Permute, RepeatVector, Cropping, UpSampling, ZeroPadding: NumPy references, Keras 3 parity,
shapes (compute_output_shape and symbolic Inputs), eager/jit/vmap agreement, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkeras
from jkeras.layers import reshaping as rx

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


# -- NumPy references ----------------------------------------------------------------------
def np_upsample_bilinear(x, factors, axes):
    """Half-pixel-centre linear interpolation along each axis, edges clamped."""
    for axis, f in zip(axes, factors):
        n = x.shape[axis]
        src = np.clip((np.arange(n * f) + 0.5) / f - 0.5, 0, n - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n - 1)
        w = (src - lo).reshape([-1 if a == axis else 1 for a in range(x.ndim)])
        x = np.take(x, lo, axis) * (1 - w) + np.take(x, hi, axis) * w
    return x


def np_repeat(x, factors, axes):
    for axis, f in zip(axes, factors):
        x = np.repeat(x, f, axis)
    return x


# (layer name, kwargs, input shape, NumPy reference or None where Keras is the reference)
CASES = [
    ("Permute", dict(dims=(2, 1)), (2, 5, 3), lambda x: x.transpose(0, 2, 1)),
    ("Permute", dict(dims=(3, 1, 2)), (2, 4, 5, 3), lambda x: x.transpose(0, 3, 1, 2)),
    ("RepeatVector", dict(n=3), (2, 5), lambda x: np.stack([x] * 3, axis=1)),
    ("Cropping1D", {}, (2, 6, 3), lambda x: x[:, 1:-1]),
    ("Cropping1D", dict(cropping=(2, 0)), (2, 6, 3), lambda x: x[:, 2:]),
    ("Cropping2D", dict(cropping=((1, 2), (0, 3))), (2, 6, 7, 3), lambda x: x[:, 1:-2, :-3]),
    ("Cropping2D", dict(cropping=(2, 1)), (2, 6, 7, 3), lambda x: x[:, 2:-2, 1:-1]),
    ("Cropping2D", dict(cropping=1, data_format="channels_first"), (2, 3, 6, 7),
     lambda x: x[:, :, 1:-1, 1:-1]),
    ("UpSampling1D", dict(size=3), (2, 4, 3), lambda x: np.repeat(x, 3, 1)),
    ("UpSampling2D", dict(size=(2, 3)), (2, 4, 5, 3), lambda x: np_repeat(x, (2, 3), (1, 2))),
    ("UpSampling2D", dict(size=2, data_format="channels_first"), (2, 3, 4, 5),
     lambda x: np_repeat(x, (2, 2), (2, 3))),
    ("UpSampling2D", dict(size=(2, 3), interpolation="bilinear"), (2, 4, 5, 3),
     lambda x: np_upsample_bilinear(x, (2, 3), (1, 2))),
    ("UpSampling2D", dict(size=(3, 2), interpolation="bilinear", data_format="channels_first"),
     (2, 3, 4, 5), lambda x: np_upsample_bilinear(x, (3, 2), (2, 3))),
    ("UpSampling2D", dict(size=2, interpolation="bicubic"), (2, 4, 5, 3), None),
    ("UpSampling2D", dict(size=2, interpolation="lanczos3"), (1, 4, 5, 2), None),
    ("ZeroPadding1D", {}, (2, 4, 3), lambda x: np.pad(x, ((0, 0), (1, 1), (0, 0)))),
    ("ZeroPadding1D", dict(padding=(2, 0), data_format="channels_first"), (2, 3, 4),
     lambda x: np.pad(x, ((0, 0), (0, 0), (2, 0)))),
    ("ZeroPadding2D", {}, (2, 4, 5, 3), lambda x: np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))),
    ("ZeroPadding2D", dict(padding=((1, 0), (2, 3)), data_format="channels_first"),
     (2, 3, 4, 5), lambda x: np.pad(x, ((0, 0), (0, 0), (1, 0), (2, 3)))),
]
IDS = [f"{name}-{kwargs}" for name, kwargs, _, _ in CASES]
WITH_REF, REF_IDS = [c for c in CASES if c[3]], [i for i, c in zip(IDS, CASES) if c[3]]


@pytest.mark.parametrize("name,kwargs,shape,ref", WITH_REF, ids=REF_IDS)
def test_matches_numpy(name, kwargs, shape, ref):
    x = rand(*shape)
    np.testing.assert_allclose(getattr(rx, name)(**kwargs)(x), ref(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,kwargs,shape,ref", CASES, ids=IDS)
def test_keras_parity_and_shapes(keras, name, kwargs, shape, ref):
    x = rand(*shape)
    ours, theirs = getattr(rx, name)(**kwargs), getattr(keras.layers, name)(**kwargs)
    want = np.asarray(theirs(x))
    for training in (False, True):
        np.testing.assert_allclose(ours(x, training=training), want, rtol=1e-5, atol=1e-5)
    assert ours.get_weights() == theirs.get_weights() == []
    # Shapes: known sizes, then an unknown size on axis 1 (which Keras leaves None too).
    for batch_shape in ((None, *shape[1:]), (None, None, *shape[2:])):
        fresh = getattr(rx, name)(**kwargs)
        want = tuple(theirs.compute_output_shape(batch_shape))
        assert fresh.compute_output_shape(batch_shape) == want
        assert getattr(rx, name)(**kwargs)(jkeras.Input(batch_shape=batch_shape)).shape == \
            tuple(theirs(keras.Input(batch_shape=batch_shape)).shape) == want


@pytest.mark.parametrize("name,kwargs,shape,ref", WITH_REF, ids=REF_IDS)
def test_eager_jit_vmap_and_functional_agree(name, kwargs, shape, ref):
    x = rand(*shape)
    layer = getattr(rx, name)(**kwargs)
    eager = layer(x)
    np.testing.assert_allclose(jax.jit(layer.apply)({}, {}, x)[0], eager, rtol=1e-6, atol=1e-6)
    xs = np.stack([x, 2 * x])
    vmapped = jax.vmap(lambda v: layer.apply({}, {}, v)[0])(xs)
    np.testing.assert_allclose(vmapped[1], layer(2 * x), rtol=1e-6, atol=1e-6)
    inp = jkeras.Input(shape=shape[1:])
    model = jkeras.Model(inp, getattr(rx, name)(**kwargs)(inp))
    np.testing.assert_allclose(model(x), eager, rtol=1e-6, atol=1e-6)


def test_bilinear_upsampling_gradients_match_keras(keras):
    x, w = rand(2, 3, 4, 2), rand(2, 6, 12, 2)
    ours = rx.UpSampling2D((2, 3), interpolation="bilinear")
    theirs = keras.layers.UpSampling2D((2, 3), interpolation="bilinear")
    ours(x)
    g_ours = jax.grad(lambda v: jnp.sum(ours.apply({}, {}, v)[0] * w))(x)
    g_theirs = jax.grad(lambda v: jnp.sum(theirs(v) * w))(jnp.asarray(x))
    np.testing.assert_allclose(g_ours, g_theirs, rtol=1e-5, atol=1e-5)


def test_argument_forms():
    assert rx.Cropping1D(2).cropping == ((2, 2),)
    assert rx.Cropping2D((1, 2)).cropping == ((1, 1), (2, 2))
    assert rx.ZeroPadding2D(3).padding == ((3, 3), (3, 3))
    assert rx.UpSampling2D(3).size == (3, 3)
    assert rx.ZeroPadding2D(data_format="CHANNELS_FIRST").data_format == "channels_first"


# -- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize("dims", [(1, 3), (0, 1), (1, 1), (2, 3)])
def test_permute_dims_not_a_permutation(dims):
    with pytest.raises(ValueError, match=r"'permute'.*permutation of 1\.\.2.*got"):
        rx.Permute(dims)


def test_permute_wrong_rank():
    with pytest.raises(ValueError, match=r"'permute'.*rank 3.*rank 4"):
        rx.Permute((2, 1))(rand(2, 3, 4, 5))


def test_cropping_larger_than_input():
    with pytest.raises(ValueError, match=r"'cropping1d'.*cropping \(\(3, 3\),\).*\(2, 6, 3\)"):
        rx.Cropping1D(3)(rand(2, 6, 3))
    with pytest.raises(ValueError, match=r"'cropping2d'.*axis 2.*\(None, 8, 4, 3\)"):
        rx.Cropping2D(((1, 1), (2, 2)))(jkeras.Input(shape=(8, 4, 3)))
    crop = rx.Cropping2D(1, data_format="channels_first")  # built on 6x7, then applied to 2x7
    crop(rand(1, 3, 6, 7))
    with pytest.raises(ValueError, match=r"'cropping2d_1'.*axis 2.*\(1, 3, 2, 7\)"):
        jax.jit(crop.apply)({}, {}, rand(1, 3, 2, 7))


@pytest.mark.parametrize("make,match", [
    (lambda: rx.Cropping1D(-1), r"'cropping1d'.*cropping must be an int >= 0.*-1"),
    (lambda: rx.Cropping2D(((1, 2, 3), 0)), r"'cropping2d'.*\(\(top, bottom\)"),
    (lambda: rx.ZeroPadding1D((1, 2, 3)), r"'zero_padding1d'.*padding.*\(1, 2, 3\)"),
    (lambda: rx.ZeroPadding2D("same"), r"'zero_padding2d'.*padding.*'same'"),
    (lambda: rx.ZeroPadding2D(data_format="nhwc"), r"'zero_padding2d'.*data_format.*'nhwc'"),
    (lambda: rx.Cropping2D(data_format="channels_middle"), r"data_format.*'channels_middle'"),
    (lambda: rx.UpSampling2D(interpolation="area"), r"'up_sampling2d'.*interpolation.*'area'"),
    (lambda: rx.UpSampling2D((2, 0)), r"'up_sampling2d'.*size must be a positive.*0"),
    (lambda: rx.UpSampling2D((2, 2, 2)), r"'up_sampling2d'.*size must be an int or 2 ints"),
    (lambda: rx.UpSampling1D(0), r"'up_sampling1d'.*size must be a positive integer, got 0"),
    (lambda: rx.RepeatVector(0), r"'repeat_vector'.*n must be a positive integer, got 0"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("layer,shape,rank", [
    (lambda: rx.UpSampling2D(), (2, 4, 3), 4), (lambda: rx.ZeroPadding1D(), (2, 4), 3),
    (lambda: rx.RepeatVector(2), (2, 4, 3), 2), (lambda: rx.Cropping2D(), (2, 4, 4), 4),
])
def test_wrong_input_rank(layer, shape, rank):
    with pytest.raises(ValueError, match=rf"expects inputs of rank {rank}, got shape"):
        layer()(rand(*shape))


def test_flatten_channels_first_matches_keras(keras):
    x = np.arange(2 * 3 * 4 * 5, dtype="float32").reshape(2, 3, 4, 5)
    want = np.transpose(x, (0, 2, 3, 1)).reshape(2, -1)  # channels moved last, then flattened
    np.testing.assert_array_equal(rx.Flatten(data_format="channels_first")(x), want)
    np.testing.assert_array_equal(
        np.asarray(keras.layers.Flatten(data_format="channels_first")(x)), want)
    np.testing.assert_array_equal(rx.Flatten()(x), x.reshape(2, -1))
