"""GroupNormalization, UnitNormalization, RMSNormalization: NumPy references, Keras 3 parity
(outputs, weight names/order, shapes, GroupNormalization gradients), eager/jit/vmap, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkeras
from jkeras.layers import normalization as nx

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# -- NumPy references -----------------------------------------------------------------------
def np_group_norm(x, gamma, beta, groups, axis=-1, eps=1e-3):
    """Per example and group: (x - mean) / sqrt(var + eps) over the group's channels and every
    non-batch axis; then per channel * gamma + beta."""
    x = np.moveaxis(x.astype("float64"), axis, -1)
    c = x.shape[-1]
    groups = c if groups == -1 else groups
    y = np.empty_like(x)
    for g in range(groups):
        part = x[..., g * c // groups:(g + 1) * c // groups]
        axes = tuple(range(1, part.ndim))
        mean, var = part.mean(axes, keepdims=True), part.var(axes, keepdims=True)
        y[..., g * c // groups:(g + 1) * c // groups] = (part - mean) / np.sqrt(var + eps)
    return np.moveaxis(y * gamma + beta, -1, axis)


def np_unit_norm(x, axis=-1):
    axis = tuple(axis) if isinstance(axis, list) else axis
    norm = np.sqrt((x.astype("float64") ** 2).sum(axis, keepdims=True))
    return x / np.maximum(norm, 1e-12)


def np_rms_norm(x, scale, axis=-1, eps=1e-6):
    axes = tuple(axis) if isinstance(axis, list) else (axis,)
    rms = np.sqrt((x.astype("float64") ** 2).mean(axes, keepdims=True) + eps)
    bshape = [x.shape[a] if a % x.ndim in [b % x.ndim for b in axes] else 1
              for a in range(x.ndim)]
    return x / rms * scale.reshape(bshape)


@pytest.mark.parametrize("shape,groups,axis", [
    ((4, 8), 2, -1), ((3, 5, 6), 3, -1), ((2, 4, 4, 6), -1, -1), ((2, 6, 3, 4), 3, 1),
    ((2, 5, 4, 7), 1, -1), ((2, 4, 6, 3), 2, 2),
])
def test_group_norm_matches_numpy(shape, groups, axis):
    x = rand(*shape) * 2 + 1
    layer = nx.GroupNormalization(groups=groups, axis=axis)
    layer(x)
    channels = shape[axis]
    gamma, beta = rand(channels), rand(channels)
    layer.set_weights([gamma, beta])
    close(layer(x), np_group_norm(x, gamma, beta, groups, axis), 1e-4)


def test_group_norm_one_group_per_channel_is_instance_norm():
    x = rand(3, 5, 4)
    y = np.asarray(nx.GroupNormalization(groups=-1)(x))
    ref = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-3)
    close(y, ref, 1e-4)


@pytest.mark.parametrize("axis", [-1, 1, [1, 2]])
def test_unit_norm_matches_numpy(axis):
    x = rand(3, 4, 5)
    close(nx.UnitNormalization(axis=axis)(x), np_unit_norm(x, axis))


def test_unit_norm_of_zeros_is_zero_with_finite_gradient():
    layer = nx.UnitNormalization()
    x = np.zeros((2, 3), "float32")
    np.testing.assert_array_equal(layer(x), x)
    grad = jax.grad(lambda v: jnp.sum(layer.apply({}, {}, v)[0]))(jnp.asarray(x))
    assert np.all(np.isfinite(grad))


def test_unit_norm_casts_integer_inputs():
    y = nx.UnitNormalization()(np.array([[3, 4]]))
    assert y.dtype == jnp.float32
    close(y, [[0.6, 0.8]])


@pytest.mark.parametrize("axis", [-1, [1, 2], 1])
def test_rms_norm_matches_numpy(axis):
    x = rand(3, 4, 5)
    layer = nx.RMSNormalization(axis=axis)
    layer(x)
    scale = rand(*layer.get_weights()[0].shape)
    layer.set_weights([scale])
    close(layer(x), np_rms_norm(x, scale, axis))


def test_rms_norm_weight_is_scale_initialized_to_ones():
    layer = nx.RMSNormalization()
    layer(rand(2, 7))
    assert [w.path for w in layer.weights] == ["rms_normalization/scale"]
    np.testing.assert_array_equal(layer.get_weights()[0], np.ones(7))


# -- Keras 3 parity -------------------------------------------------------------------------
PARITY = [
    ("GroupNormalization", (4, 6, 8), dict(groups=4)),
    ("GroupNormalization", (2, 5, 4, 6), dict(groups=-1)),
    ("GroupNormalization", (2, 6, 3, 4), dict(groups=3, axis=1)),
    ("GroupNormalization", (2, 4, 6, 3), dict(groups=2, axis=-2, epsilon=0.1)),
    ("GroupNormalization", (3, 8), dict(groups=2, center=False)),
    ("GroupNormalization", (3, 5, 8), dict(groups=4, scale=False)),
    ("UnitNormalization", (3, 4, 5), dict()),
    ("UnitNormalization", (3, 4, 5), dict(axis=[1, 2])),
    ("UnitNormalization", (3, 4, 5), dict(axis=1)),
    ("RMSNormalization", (3, 4, 5), dict()),
    ("RMSNormalization", (3, 4, 5), dict(axis=[1, 2], epsilon=1e-3)),
    ("RMSNormalization", (6, 7), dict(epsilon=0.5)),
]


def keras_pair(keras, name, shape, kwargs):
    """A built Keras layer with random weights and a jkeras one holding the same."""
    k_layer = getattr(keras.layers, name)(**kwargs)
    k_layer.build(shape)
    k_layer.set_weights([rand(*w.shape) for w in k_layer.get_weights()])
    j_layer = getattr(nx, name)(**kwargs)
    j_layer(np.zeros(shape, "float32"))
    j_layer.set_weights(k_layer.get_weights())
    assert [w.path.split("/")[-1] for w in j_layer.weights] == [
        w.path.split("/")[-1] for w in k_layer.weights]
    assert [w.trainable for w in j_layer.weights] == [w.trainable for w in k_layer.weights]
    return k_layer, j_layer


@pytest.mark.parametrize("name,shape,kwargs", PARITY, ids=lambda v: str(v)[:40])
def test_parity_with_keras(keras, name, shape, kwargs):
    k_layer, j_layer = keras_pair(keras, name, shape, kwargs)
    x = rand(*shape) * 3 + 0.5
    expected = np.asarray(k_layer(x))
    close(j_layer(x), expected)
    close(j_layer(x, training=True), np.asarray(k_layer(x, training=True)))
    close(jax.jit(j_layer.apply)(j_layer.params, j_layer.state, x)[0], expected)
    unknown = (None,) + shape[1:]
    assert tuple(j_layer.compute_output_shape(unknown)) == tuple(
        k_layer.compute_output_shape(unknown))
    k_symbolic = k_layer(keras.Input(batch_shape=unknown))
    assert j_layer(jkeras.Input(batch_shape=unknown)).shape == tuple(k_symbolic.shape)


def test_default_initial_weights_match_keras(keras):
    for name, kwargs in [("GroupNormalization", dict(groups=2)), ("RMSNormalization", {})]:
        k_layer = getattr(keras.layers, name)(**kwargs)
        k_layer.build((None, 3, 4))
        j_layer = getattr(nx, name)(**kwargs)
        j_layer(np.zeros((1, 3, 4), "float32"))
        for a, b in zip(j_layer.get_weights(), k_layer.get_weights()):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name,shape,kwargs", [
    ("GroupNormalization", (3, 5, 8), dict(groups=4)),
    ("GroupNormalization", (2, 6, 3, 4), dict(groups=3, axis=1)),
    ("RMSNormalization", (3, 4, 5), dict()),
], ids=lambda v: str(v)[:40])
def test_gradient_parity_with_keras(keras, name, shape, kwargs):
    k_layer, j_layer = keras_pair(keras, name, shape, kwargs)
    x = jnp.asarray(rand(*shape))

    def k_loss(weights, x):
        y, _ = k_layer.stateless_call(weights, [], x)
        return jnp.sum(jnp.sin(y))

    def j_loss(params, x):
        return jnp.sum(jnp.sin(j_layer.apply(params, j_layer.state, x)[0]))

    k_grads = jax.jit(jax.grad(k_loss, argnums=(0, 1)))(
        [v.value for v in k_layer.trainable_variables], x)
    j_grads = jax.jit(jax.grad(j_loss, argnums=(0, 1)))(j_layer.params, x)
    close(j_grads[1], k_grads[1], 1e-4)
    for weight, k_grad in zip(j_layer.weights, k_grads[0]):
        close(j_grads[0][weight.name], k_grad, 1e-4)


def test_group_norm_gradients_match_numerical():
    from jax.test_util import check_grads
    layer = nx.GroupNormalization(groups=2)
    x = jnp.asarray(rand(2, 3, 4))
    layer(x)
    params = {"gamma": jnp.asarray(rand(4)), "beta": jnp.asarray(rand(4))}
    check_grads(jax.jit(lambda p, v: layer.apply(p, {}, v)[0]), (params, x), order=1,
                modes=["rev"], atol=5e-2, rtol=5e-2)


# -- transformations ---------------------------------------------------------------------------
def test_eager_jit_and_vmap_agree():
    layers = [nx.GroupNormalization(groups=2), nx.UnitNormalization(), nx.RMSNormalization()]
    xs = rand(3, 4, 5, 6)  # 3 independent batches of (4, 5, 6)
    for layer in layers:
        layer(xs[0])
        eager = np.stack([np.asarray(layer(x)) for x in xs])
        jitted = jax.jit(jax.vmap(lambda x: layer.apply(layer.params, layer.state, x)[0]))(xs)
        close(jitted, eager)


def test_unit_norm_under_vmap_over_examples():
    layer = nx.UnitNormalization()
    x = rand(4, 6)
    eager = layer(x)
    close(jax.vmap(lambda v: layer.apply({}, {}, v)[0])(x), eager)


def test_regularizers_and_constraints_on_gamma_and_beta():
    layer = nx.GroupNormalization(groups=2, gamma_regularizer="l2", beta_regularizer="l1",
                                  gamma_constraint="non_neg")
    layer(rand(2, 4))
    gamma, beta = rand(4), rand(4)
    layer.set_weights([gamma, beta])
    close(layer.regularization_loss(layer.params),
          0.01 * (gamma ** 2).sum() + 0.01 * np.abs(beta).sum())
    close(layer.apply_constraints(layer.params)["gamma"], np.maximum(gamma, 0))


# -- bad input -----------------------------------------------------------------------------
def test_group_norm_channels_not_divisible_by_groups():
    with pytest.raises(ValueError, match=r"6 channels .* must be divisible by groups=4"):
        nx.GroupNormalization(groups=4)(rand(2, 6))
    with pytest.raises(ValueError, match="divisible by groups=32"):
        nx.GroupNormalization()(rand(2, 16))  # Keras' default groups=32


@pytest.mark.parametrize("groups", [0, -2, 2.0, True])
def test_group_norm_invalid_groups(groups):
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        nx.GroupNormalization(groups=groups)


def test_group_norm_bad_axis_and_unknown_channels():
    with pytest.raises(ValueError, match="batch axis"):
        nx.GroupNormalization(groups=1, axis=0)(rand(2, 4))
    with pytest.raises(ValueError, match="out of range"):
        nx.GroupNormalization(groups=1, axis=3)(rand(2, 4))
    with pytest.raises(ValueError, match="axis must be one integer"):
        nx.GroupNormalization(axis=[1, 2])
    with pytest.raises(ValueError, match="known size on axis -1"):
        nx.GroupNormalization(groups=2)(jkeras.Input(batch_shape=(None, None)))


def test_built_layers_reject_other_channel_counts_and_ranks():
    gn = nx.GroupNormalization(groups=2)
    gn(rand(2, 3, 4))
    with pytest.raises(ValueError, match="built for size 4"):
        gn(rand(2, 3, 6))
    with pytest.raises(ValueError, match="rank 3"):
        gn(rand(2, 4))
    rms = nx.RMSNormalization()
    rms(rand(2, 4))
    with pytest.raises(ValueError, match="built for size 4"):
        rms(rand(2, 5))


def test_axis_errors_for_unit_and_rms_norm():
    with pytest.raises(ValueError, match="out of range"):
        nx.UnitNormalization(axis=2)(rand(2, 4))
    with pytest.raises(ValueError, match="axis must be an int or a list"):
        nx.UnitNormalization(axis="last")
    with pytest.raises(ValueError, match="out of range"):
        nx.RMSNormalization(axis=-3)(rand(2, 4))


def test_batch_normalization_with_a_mask_matches_keras(keras):
    """Keras 3's masked moments: padded steps take no part in the batch statistics, and
    the mask passes on (LayerNormalization passes it on too)."""
    ids = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0], [6, 7, 1, 2, 3]])
    layers = {}
    for lib in (jkeras, keras):
        emb = lib.layers.Embedding(8, 3, mask_zero=True)
        emb(ids)
        layers[lib] = (emb, lib.layers.BatchNormalization(momentum=0.5),
                       lib.layers.LayerNormalization())
    layers[jkeras][0].set_weights(layers[keras][0].get_weights())
    outputs = {}
    for lib, (emb, bn, ln) in layers.items():
        y = bn(emb(ids), training=True)
        outputs[lib] = (y, ln(y), bn.get_weights())
    (y, z, w), (ky, kz, kw) = outputs[jkeras], outputs[keras]
    close(y, ky)
    close(z, kz)
    for got, want in zip(w, kw):  # the moving statistics, from the kept steps only
        close(got, want)
    np.testing.assert_array_equal(y._keras_mask, ky._keras_mask)
    np.testing.assert_array_equal(z._keras_mask, ids != 0)
    with pytest.raises(ValueError, match="one axis less"):
        jkeras.layers.BatchNormalization()(jnp.ones((2, 3)), mask=jnp.ones((2, 3), bool))
