"""Pooling layers: a NumPy reference for windowed max/average pooling (any rank), parity with
Keras 3 (outputs, shapes, gradients), eager/jit/vmap agreement, masks and bad-input errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkeras
from jkeras.layers import pooling

RNG = np.random.default_rng(1)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# -- NumPy reference -----------------------------------------------------------------------------
def np_pool(x, pool, strides, padding, mode):
    """Channels-last pooling by direct loops over output cells. With "same" padding (TF's
    split: the odd cell after) a window covers only real cells: max and mean over those."""
    spatial = x.shape[1:-1]
    if padding == "same":
        outs = [-(-n // s) for n, s in zip(spatial, strides)]
        before = [max((o - 1) * s + p - n, 0) // 2
                  for o, s, p, n in zip(outs, strides, pool, spatial)]
    else:
        outs = [(n - p) // s + 1 for n, p, s in zip(spatial, pool, strides)]
        before = [0] * len(spatial)
    y = np.zeros((x.shape[0], *outs, x.shape[-1]))
    axes = tuple(range(1, len(spatial) + 1))
    for cell in np.ndindex(*outs):
        window = tuple(slice(max(i * s - b, 0), min(i * s - b + p, n))
                       for i, s, b, p, n in zip(cell, strides, before, pool, spatial))
        part = x[(slice(None), *window)]
        y[(slice(None), *cell)] = part.max(axis=axes) if mode == "max" else part.mean(axis=axes)
    return y


LAYERS = {("max", 1): pooling.MaxPooling1D, ("max", 2): pooling.MaxPooling2D,
          ("max", 3): pooling.MaxPooling3D, ("average", 1): pooling.AveragePooling1D,
          ("average", 2): pooling.AveragePooling2D, ("average", 3): pooling.AveragePooling3D}


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("shape,pool,strides,padding", [
    ((2, 9, 3), (2,), None, "valid"),
    ((2, 9, 3), (3,), (2,), "same"),
    ((2, 10, 3), (4,), (3,), "same"),
    ((2, 7, 8, 3), (2, 2), None, "valid"),
    ((2, 7, 8, 3), (3, 2), (2, 3), "same"),
    ((2, 5, 5, 2), (3, 3), (1, 1), "same"),
    ((1, 5, 6, 7, 2), (2, 3, 2), (2, 2, 3), "same"),
    ((1, 5, 6, 7, 2), (2, 2, 2), None, "valid"),
])
def test_pooling_matches_numpy(mode, shape, pool, strides, padding):
    x = rand(*shape)
    layer = LAYERS[mode, len(pool)](pool, strides=strides, padding=padding)
    close(layer(x), np_pool(x, pool, strides or pool, padding, mode))


@pytest.mark.parametrize("mode", ["max", "average"])
def test_channels_first_is_the_transposed_channels_last(mode):
    x = rand(2, 7, 6, 3)
    cls = LAYERS[mode, 2]
    last = cls(3, strides=2, padding="same")(x)
    first = cls(3, strides=2, padding="same", data_format="channels_first")(
        x.transpose(0, 3, 1, 2))
    close(first, np.asarray(last).transpose(0, 3, 1, 2))


def test_same_average_counts_only_real_cells():
    # A corner window of a 3x3 "same" pool over ones covers 4 real cells: the mean is 1,
    # not 4/9 as a zero-padded mean would give.
    y = pooling.AveragePooling2D(3, strides=1, padding="same")(np.ones((1, 4, 4, 1), "float32"))
    close(y, np.ones((1, 4, 4, 1)))


def test_max_pooling_integers_and_negative_values():
    x = -np.arange(1, 13, dtype="int32").reshape(1, 6, 2)  # all negative: padding must not win
    y = pooling.MaxPooling1D(4, strides=2, padding="same")(x)
    assert y.dtype == jnp.int32
    close(y, np_pool(x, (4,), (2,), "same", "max"))


@pytest.mark.parametrize("cls,reduce,axes", [
    (pooling.GlobalMaxPooling1D, np.max, (1,)), (pooling.GlobalMaxPooling2D, np.max, (1, 2)),
    (pooling.GlobalMaxPooling3D, np.max, (1, 2, 3)),
    (pooling.GlobalAveragePooling1D, np.mean, (1,)),
    (pooling.GlobalAveragePooling2D, np.mean, (1, 2)),
    (pooling.GlobalAveragePooling3D, np.mean, (1, 2, 3)),
])
def test_global_pooling_matches_numpy(cls, reduce, axes):
    x = rand(2, *(3 + a for a in range(len(axes))), 4)
    close(cls()(x), reduce(x, axis=axes))
    close(cls(keepdims=True)(x), reduce(x, axis=axes, keepdims=True))
    first = np.moveaxis(x, -1, 1)
    close(cls(data_format="channels_first")(first), reduce(x, axis=axes))
    assert cls(keepdims=True, data_format="channels_first")(first).shape == (
        (2, 4) + (1,) * len(axes))


def test_global_average_pooling_1d_mask():
    x = rand(3, 5, 2)
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0]], bool)
    expected = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    layer = pooling.GlobalAveragePooling1D()
    close(layer(x, mask=mask), expected)
    first = pooling.GlobalAveragePooling1D(data_format="channels_first", keepdims=True)
    close(first(x.transpose(0, 2, 1), mask=mask), expected[..., None])
    assert layer.compute_mask(x, mask) is None  # the steps are gone, so is the mask


def test_global_average_pooling_1d_takes_the_mask_from_embedding_in_a_model():
    from jkeras import layers
    ids = np.array([[3, 1, 0, 0], [2, 2, 2, 0]])
    emb = layers.Embedding(5, 2, mask_zero=True)
    model = jkeras.Sequential([emb, pooling.GlobalAveragePooling1D()])
    y = model(ids)
    table = emb.get_weights()[0]
    mask = ids != 0
    close(y, (table[ids] * mask[..., None]).sum(1) / mask.sum(1, keepdims=True))


def test_eager_jit_vmap_and_symbolic_agree():
    x = rand(3, 2, 7, 7, 3)
    layer = pooling.AveragePooling2D(3, strides=2, padding="same")
    eager = np.stack([np.asarray(layer(xi)) for xi in x])
    close(jax.jit(layer.apply)(layer.params, layer.state, x[0])[0], eager[0])
    close(jax.vmap(lambda xi: layer.apply({}, {}, xi)[0])(x), eager)
    assert layer(jkeras.Input(shape=(None, None, 3))).shape == (None, None, None, 3)
    assert layer.compute_output_shape((None, 7, 7, 3)) == (None, 4, 4, 3)


# -- parity with Keras 3 -----------------------------------------------------------------------
PARITY = [
    ("MaxPooling1D", (3, 9, 4), dict()),
    ("MaxPooling1D", (3, 9, 4), dict(pool_size=3, strides=2, padding="same")),
    ("MaxPooling2D", (2, 7, 8, 3), dict()),
    ("MaxPooling2D", (2, 4, 7, 8), dict(pool_size=(2, 3), padding="same",
                                        data_format="channels_first")),
    ("MaxPooling3D", (2, 5, 6, 7, 3), dict(pool_size=2, strides=(1, 2, 3))),
    ("MaxPooling3D", (1, 2, 5, 6, 7), dict(padding="same", data_format="channels_first")),
    ("AveragePooling1D", (3, 9, 4), dict(pool_size=2)),
    ("AveragePooling1D", (3, 4, 10), dict(pool_size=4, strides=3, padding="same",
                                          data_format="channels_first")),
    ("AveragePooling2D", (2, 7, 8, 3), dict(pool_size=3, strides=2, padding="same")),
    ("AveragePooling2D", (2, 3, 7, 8), dict(pool_size=(3, 2), strides=(2, 3), padding="same",
                                            data_format="channels_first")),
    ("AveragePooling2D", (2, 7, 8, 3), dict(pool_size=(2, 3))),
    ("AveragePooling3D", (2, 5, 6, 7, 3), dict(pool_size=(2, 3, 2), padding="same")),
    ("AveragePooling3D", (1, 5, 6, 7, 2), dict(pool_size=2, strides=1)),
    ("GlobalMaxPooling1D", (2, 5, 3), dict()),
    ("GlobalMaxPooling2D", (2, 3, 5, 6), dict(data_format="channels_first", keepdims=True)),
    ("GlobalMaxPooling3D", (2, 3, 4, 5, 2), dict()),
    ("GlobalAveragePooling1D", (2, 3, 5), dict(data_format="channels_first", keepdims=True)),
    ("GlobalAveragePooling2D", (2, 5, 6, 3), dict()),
    ("GlobalAveragePooling3D", (2, 3, 4, 5, 2), dict(keepdims=True)),
]


@pytest.mark.parametrize("name,shape,kwargs", PARITY, ids=lambda v: str(v)[:40])
def test_parity_with_keras(keras, name, shape, kwargs):
    k_layer, j_layer = getattr(keras.layers, name)(**kwargs), getattr(pooling, name)(**kwargs)
    x = rand(*shape)
    expected = np.asarray(k_layer(x))
    close(j_layer(x), expected)
    close(j_layer(x, training=True), np.asarray(k_layer(x, training=True)))
    assert j_layer.get_weights() == [] and k_layer.get_weights() == []
    unknown = (None,) + shape[1:]
    assert tuple(j_layer.compute_output_shape(unknown)) == tuple(
        k_layer.compute_output_shape(unknown))
    assert j_layer(jkeras.Input(batch_shape=unknown)).shape == tuple(
        k_layer(keras.Input(batch_shape=unknown)).shape)


def test_global_average_pooling_1d_mask_parity(keras):
    x = rand(3, 5, 2)
    mask = RNG.random((3, 5)) > 0.4
    mask[:, 0] = True
    close(pooling.GlobalAveragePooling1D()(x, mask=mask),
          keras.layers.GlobalAveragePooling1D()(x, mask=mask))


@pytest.mark.parametrize("name,kwargs", [
    ("MaxPooling2D", dict(pool_size=2)),
    ("MaxPooling2D", dict(pool_size=3, strides=2, padding="same")),
    ("AveragePooling2D", dict(pool_size=3, strides=2, padding="same")),
])
def test_gradient_parity_with_keras(keras, name, kwargs):
    k_layer, j_layer = getattr(keras.layers, name)(**kwargs), getattr(pooling, name)(**kwargs)
    x = jnp.asarray(rand(2, 7, 6, 3))

    def k_loss(x):
        return jnp.sum(jnp.sin(k_layer.stateless_call([], [], x)[0]))

    def j_loss(x):
        return jnp.sum(jnp.sin(j_layer.apply({}, {}, x)[0]))

    j_layer(x)  # build
    close(jax.jit(jax.grad(j_loss))(x), jax.jit(jax.grad(k_loss))(x))


def test_max_pooling_gradient_goes_to_the_max():
    x = np.array([[[1.0], [5.0], [2.0], [3.0]]], "float32")
    layer = pooling.MaxPooling1D(2)
    layer(x)
    grad = jax.grad(lambda v: layer.apply({}, {}, v)[0].sum())(x)
    close(grad, np.array([[[0.0], [1.0], [0.0], [1.0]]]))


# -- bad input -----------------------------------------------------------------------------------
def test_wrong_rank_names_the_expected_rank():
    with pytest.raises(ValueError, match=r"'max_pooling2d'.*rank 4.*\(2, 8, 3\).*rank 3"):
        pooling.MaxPooling2D()(rand(2, 8, 3))
    with pytest.raises(ValueError, match=r"'global_average_pooling1d'.*rank 3"):
        pooling.GlobalAveragePooling1D()(rand(2, 8))


def test_pool_larger_than_input_with_valid_padding():
    layer = pooling.MaxPooling2D(3, name="p")
    with pytest.raises(ValueError, match=r"'p'.*pool_size.*\(3, 3\).*larger.*\(1, 2, 5, 1\)"):
        layer(rand(1, 2, 5, 1))
    assert not layer.built
    with pytest.raises(ValueError, match=r"larger"):
        jax.jit(lambda v: pooling.AveragePooling1D(4)(v))(rand(1, 3, 1))
    assert pooling.MaxPooling2D(3, padding="same")(rand(1, 2, 5, 1)).shape == (1, 1, 2, 1)


@pytest.mark.parametrize("factory,match", [
    (lambda: pooling.MaxPooling2D(padding="causal"), r"padding must be one of"),
    (lambda: pooling.AveragePooling1D(2, padding="full"), r"padding must be one of"),
    (lambda: pooling.MaxPooling2D(data_format="NHWC"), r"data_format must be"),
    (lambda: pooling.GlobalAveragePooling2D(data_format="channels"), r"data_format must be"),
    (lambda: pooling.MaxPooling2D(pool_size=0), r"pool_size must be an int >= 1"),
    (lambda: pooling.MaxPooling3D(pool_size=(2, 2)), r"pool_size must be .* tuple of 3"),
    (lambda: pooling.AveragePooling2D(2, strides=(1, 0)), r"strides must be"),
])
def test_invalid_arguments(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


def test_mask_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"'g'.*\(batch, steps\) = \(2, 5\).*mask of shape"):
        pooling.GlobalAveragePooling1D(name="g")(rand(2, 5, 3), mask=np.ones((2, 4), bool))
