"""ReLU, LeakyReLU, PReLU, ELU, Softmax: NumPy references, Keras 3 parity (outputs, weights,
shapes, PReLU gradients), masks, eager/jit/vmap, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkeras
from jkeras.layers import activation_layers as ax

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# -- NumPy references -----------------------------------------------------------------------
def np_relu(x, max_value=None, negative_slope=0.0, threshold=0.0):
    """Keras' ReLU: x above the threshold (capped at max_value), else slope * (x - threshold)."""
    above = np.minimum(x, np.inf if max_value is None else max_value)
    return np.where(x > threshold, above, negative_slope * (x - threshold))


def np_softmax(x, axis=-1, mask=None):
    if mask is not None:
        x = np.where(mask, x, -1e9)
    e = np.exp(x - x.max(axis, keepdims=True))
    y = e / e.sum(axis, keepdims=True)
    return y if mask is None else np.where(mask, y, 0.0)


RELUS = [dict(), dict(max_value=6.0), dict(negative_slope=0.1), dict(threshold=0.5),
         dict(max_value=1.0, negative_slope=0.2, threshold=0.3),
         dict(max_value=2.0, negative_slope=0.5)]


@pytest.mark.parametrize("kwargs", RELUS, ids=str)
def test_relu_matches_numpy(kwargs):
    x = rand(4, 7) * 3
    close(ax.ReLU(**kwargs)(x), np_relu(x, **kwargs))


def test_leaky_relu_elu_prelu_match_numpy():
    x = rand(4, 5) * 3
    close(ax.LeakyReLU()(x), np.where(x >= 0, x, 0.3 * x))  # Keras' layer default: 0.3
    close(ax.LeakyReLU(negative_slope=0.05)(x), np.where(x >= 0, x, 0.05 * x))
    close(ax.ELU()(x), np.where(x > 0, x, np.expm1(x)))
    close(ax.ELU(alpha=0.5)(x), np.where(x > 0, x, 0.5 * np.expm1(x)))
    prelu = ax.PReLU()
    prelu(x)
    alpha = rand(5)
    prelu.set_weights([alpha])
    close(prelu(x), np.where(x >= 0, x, alpha * x))


def test_leaky_relu_accepts_keras_2_alpha_with_a_warning():
    with pytest.warns(DeprecationWarning, match="alpha"):
        layer = ax.LeakyReLU(alpha=0.1)
    assert layer.negative_slope == 0.1


@pytest.mark.parametrize("shape,shared_axes,alpha_shape", [
    ((2, 3, 4, 5), None, (3, 4, 5)), ((2, 3, 4, 5), [1, 2], (1, 1, 5)),
    ((2, 3, 4, 5), 3, (3, 4, 1)), ((2, 6), None, (6,)),
])
def test_prelu_alpha_shapes_and_sharing(shape, shared_axes, alpha_shape):
    x = rand(*shape)
    prelu = ax.PReLU(shared_axes=shared_axes)
    prelu(x)
    assert [w.path for w in prelu.weights] == ["p_re_lu/alpha"]
    assert prelu.get_weights()[0].shape == alpha_shape
    np.testing.assert_array_equal(prelu.get_weights()[0], 0)  # Keras' zeros initializer
    alpha = rand(*alpha_shape)
    prelu.set_weights([alpha])
    close(prelu(x), np.where(x >= 0, x, alpha * x))


@pytest.mark.parametrize("axis", [-1, 1, (1, 2)])
def test_softmax_matches_numpy(axis):
    x = rand(3, 4, 5) * 4
    np_axis = tuple(axis) if isinstance(axis, tuple) else axis
    close(ax.Softmax(axis=axis)(x), np_softmax(x, np_axis))


def test_softmax_mask_zeroes_masked_positions_and_renormalizes():
    x = rand(2, 3, 5)
    mask = RNG.random((2, 1, 5)) > 0.4
    mask[..., 0] = True
    y = np.asarray(ax.Softmax()(x, mask=mask))
    close(y, np_softmax(x, -1, mask))
    np.testing.assert_array_equal(y[np.broadcast_to(~mask, y.shape)], 0)
    close(y.sum(-1), np.ones((2, 3)))
    # float masks are read as mask > 0.5, as in Keras
    close(ax.Softmax()(x, mask=mask.astype("float32")), y)


# -- Keras 3 parity --------------------------------------------------------------------------
PARITY = [("ReLU", (3, 8), kw) for kw in RELUS] + [
    ("LeakyReLU", (3, 8), {}), ("LeakyReLU", (3, 4, 2), dict(negative_slope=0.01)),
    ("ELU", (3, 8), {}), ("ELU", (3, 4, 2), dict(alpha=0.7)),
    ("PReLU", (2, 3, 4, 5), {}), ("PReLU", (2, 3, 4, 5), dict(shared_axes=[1, 2])),
    ("PReLU", (2, 6, 3), dict(shared_axes=1)),
    ("Softmax", (3, 8), {}), ("Softmax", (3, 4, 5), dict(axis=1)),
    ("Softmax", (3, 4, 5), dict(axis=[1, 2])),
]


def keras_pair(keras, name, shape, kwargs):
    """A built Keras layer with random weights and a jkeras one holding the same."""
    k_layer = getattr(keras.layers, name)(**kwargs)
    k_layer.build(shape)
    k_layer.set_weights([rand(*w.shape) for w in k_layer.get_weights()])
    j_layer = getattr(ax, name)(**kwargs)
    j_layer(np.zeros(shape, "float32"))
    j_layer.set_weights(k_layer.get_weights())
    assert [w.path.split("/")[-1] for w in j_layer.weights] == [
        w.path.split("/")[-1] for w in k_layer.weights]
    return k_layer, j_layer


@pytest.mark.parametrize("name,shape,kwargs", PARITY, ids=lambda v: str(v)[:40])
def test_parity_with_keras(keras, name, shape, kwargs):
    k_layer, j_layer = keras_pair(keras, name, shape, kwargs)
    x = rand(*shape) * 3
    expected = np.asarray(k_layer(x))
    close(j_layer(x), expected)
    close(j_layer(x, training=True), np.asarray(k_layer(x, training=True)))
    close(jax.jit(j_layer.apply)(j_layer.params, j_layer.state, x)[0], expected)
    unknown = (None,) + shape[1:]
    assert tuple(j_layer.compute_output_shape(unknown)) == tuple(
        k_layer.compute_output_shape(unknown))
    k_symbolic = k_layer(keras.Input(batch_shape=unknown))
    assert j_layer(jkeras.Input(batch_shape=unknown)).shape == tuple(k_symbolic.shape)


def test_prelu_initial_weights_match_keras(keras):
    k_layer = keras.layers.PReLU(shared_axes=[1])
    k_layer.build((None, 3, 4))
    j_layer = ax.PReLU(shared_axes=[1])
    j_layer(np.zeros((1, 3, 4), "float32"))
    np.testing.assert_array_equal(j_layer.get_weights()[0], k_layer.get_weights()[0])


@pytest.mark.parametrize("mask_shape", [(3, 4, 5), (3, 1, 5), (5,), (1, 4, 1)])
def test_softmax_mask_parity_with_keras(keras, mask_shape):
    x = rand(3, 4, 5)
    mask = RNG.random(mask_shape) > 0.3
    for axis in (-1, 1):
        expected = np.asarray(keras.layers.Softmax(axis=axis)(x, mask=mask))
        close(ax.Softmax(axis=axis)(x, mask=mask), expected)


@pytest.mark.parametrize("shared_axes", [None, [1, 2]])
def test_prelu_gradient_parity_with_keras(keras, shared_axes):
    k_layer, j_layer = keras_pair(keras, "PReLU", (2, 3, 4, 5), dict(shared_axes=shared_axes))
    x = jnp.asarray(rand(2, 3, 4, 5))

    def k_loss(weights, x):
        y, _ = k_layer.stateless_call(weights, [], x)
        return jnp.sum(jnp.sin(y))

    def j_loss(params, x):
        return jnp.sum(jnp.sin(j_layer.apply(params, j_layer.state, x)[0]))

    k_grads = jax.jit(jax.grad(k_loss, argnums=(0, 1)))(
        [v.value for v in k_layer.trainable_variables], x)
    j_grads = jax.jit(jax.grad(j_loss, argnums=(0, 1)))(j_layer.params, x)
    close(j_grads[1], k_grads[1])
    close(j_grads[0]["alpha"], k_grads[0][0], 1e-4)


def test_prelu_alpha_gradient_matches_numpy():
    x = rand(4, 3)
    prelu = ax.PReLU()
    prelu(x)
    grad = jax.grad(lambda p: jnp.sum(prelu.apply(p, {}, x)[0]))(prelu.params)["alpha"]
    close(grad, np.minimum(x, 0).sum(0))  # d/d alpha of alpha * x, for x < 0


def test_softmax_takes_the_model_mask():
    from jkeras.layers import Lambda
    from jkeras.layers.masking import Masking
    inputs = jkeras.Input(batch_shape=(None, 4, 2))
    masked = Masking()(inputs)  # mask (batch, 4): steps whose features are all 0 are out
    scores = Lambda(lambda x: x[..., 0], mask=lambda x, mask: mask)(masked)
    model = jkeras.Model(inputs, ax.Softmax()(scores))
    x = rand(2, 4, 2)
    x[0, 2:] = 0
    y = np.asarray(model(x))
    close(y, np_softmax(x[..., 0], -1, np.any(x != 0, -1)))
    np.testing.assert_array_equal(y[0, 2:], 0)


# -- transformations ---------------------------------------------------------------------------
def test_eager_jit_and_vmap_agree():
    x = rand(6, 5)
    for layer in (ax.ReLU(max_value=1.0, negative_slope=0.2), ax.LeakyReLU(), ax.ELU(),
                  ax.Softmax(), ax.PReLU()):
        eager = np.asarray(layer(x))
        close(jax.jit(layer.apply)(layer.params, layer.state, x)[0], eager)
        if not isinstance(layer, ax.PReLU):  # PReLU's alpha fixes the rank
            close(jax.vmap(lambda v: layer.apply(layer.params, layer.state, v)[0])(x), eager)


def test_activation_layers_pass_masks_on():
    mask = np.array([True, False])
    for layer in (ax.ReLU(), ax.LeakyReLU(), ax.PReLU(), ax.ELU(), ax.Softmax()):
        assert layer.compute_mask(rand(2, 3), mask) is mask


# -- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    (dict(max_value=-1.0), "max_value must be a number >= 0"),
    (dict(negative_slope=-0.1), "negative_slope must be a number >= 0"),
    (dict(negative_slope=None), "negative_slope must be a number >= 0"),
    (dict(threshold=-0.5), "threshold must be a number >= 0"),
])
def test_relu_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ax.ReLU(**kwargs)


def test_leaky_relu_negative_slope():
    with pytest.raises(ValueError, match="negative_slope must be a number >= 0"):
        ax.LeakyReLU(negative_slope=-0.3)


def test_prelu_bad_shared_axes_and_inputs():
    with pytest.raises(ValueError, match="shared_axes must be positive"):
        ax.PReLU(shared_axes=[-1])
    with pytest.raises(ValueError, match="shared_axes must be positive"):
        ax.PReLU(shared_axes=0)
    with pytest.raises(ValueError, match="do not fit"):
        ax.PReLU(shared_axes=[3])(rand(2, 3, 4))
    with pytest.raises(ValueError, match="needs known sizes"):
        ax.PReLU()(jkeras.Input(batch_shape=(None, None, 4)))
    prelu = ax.PReLU(shared_axes=[1])
    prelu(rand(2, 3, 4))
    prelu(rand(2, 7, 4))  # a shared axis may change size
    with pytest.raises(ValueError, match="built for size 4"):
        prelu(rand(2, 3, 5))


def test_softmax_mask_that_does_not_broadcast():
    x = rand(2, 3, 4)
    with pytest.raises(ValueError, match=r"mask must broadcast .* \(2, 3, 5\)"):
        ax.Softmax()(x, mask=np.ones((2, 3, 5), bool))
    with pytest.raises(ValueError, match="mask must broadcast"):
        ax.Softmax()(x, mask=np.ones((1, 2, 3, 4), bool))
