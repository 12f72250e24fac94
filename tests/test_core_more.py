"""EinsumDense, Rescaling, Lambda: NumPy references, Keras 3 parity (outputs, weight shapes and
order, kernel fans, shapes, EinsumDense gradients), eager/jit/vmap, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkeras
from jkeras import layers as cx

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# (equation, output_shape, bias_axes, input shape, kernel shape, bias shape)
EINSUMS = [
    ("ab,bc->ac", 4, "c", (2, 3), (3, 4), (4,)),
    ("abc,cd->abd", (None, 4), "d", (2, 5, 3), (3, 4), (4,)),
    ("abc,cde->abde", (None, 4, 2), "de", (2, 5, 3), (3, 4, 2), (4, 2)),
    ("abcd,cde->abe", (None, 6), "e", (2, 3, 4, 5), (4, 5, 6), (6,)),
    ("abc,cd->abd", (5, 4), "b", (2, 5, 3), (3, 4), (5, 1)),
    ("abc,cd->abd", (5, 4), None, (2, 5, 3), (3, 4), None),
    ("...b,bc->...c", 4, "c", (2, 5, 3), (3, 4), (4,)),
    ("...b,bc->...c", 4, "c", (2, 3), (3, 4), (4,)),
    ("ab...,bc->ac...", 4, "c", (2, 3, 5), (3, 4), (4, 1)),
    ("abc,bd->adc", (4, None), "d", (2, 3, 5), (3, 4), (4, 1)),
]
IDS = [f"{e}-{s}" for e, _, _, s, _, _ in EINSUMS]


def np_einsum_dense(equation, x, kernel, bias=None, activation=lambda y: y):
    y = np.einsum(equation, x.astype("float64"), kernel)
    return activation(y if bias is None else y + bias)


@pytest.mark.parametrize("equation,out,bias_axes,shape,kernel_shape,bias_shape", EINSUMS, ids=IDS)
def test_einsum_dense_shapes_and_numpy(equation, out, bias_axes, shape, kernel_shape,
                                       bias_shape):
    x = rand(*shape)
    layer = cx.EinsumDense(equation, out, bias_axes=bias_axes, activation="tanh")
    layer(x)
    assert [w.shape for w in layer.weights] == [kernel_shape] + (
        [bias_shape] if bias_shape else [])
    weights = [rand(*w.shape) for w in layer.weights]
    layer.set_weights(weights)
    close(layer(x), np_einsum_dense(equation, x, *weights, activation=np.tanh))


def test_einsum_dense_ab_bc_is_dense():
    x = rand(4, 3)
    layer = cx.EinsumDense("ab,bc->ac", 5, bias_axes="c")
    dense = jkeras.layers.Dense(5)
    dense(x)
    layer(x)
    layer.set_weights(dense.get_weights())
    close(layer(x), dense(x))
    assert [w.path for w in layer.weights] == ["einsum_dense/kernel", "einsum_dense/bias"]


def test_einsum_dense_kernel_fans_are_keras_einsum_fans():
    # "abc,cde->abde": fan in = c = 16, fan out = d * e = 64 (not the last two axes' 8, 8).
    layer = cx.EinsumDense("abc,cde->abde", (None, 8, 8), kernel_initializer="glorot_uniform")
    layer(np.zeros((1, 2, 16), "float32"))
    kernel = layer.get_weights()[0]
    limit = np.sqrt(6 / (16 + 64))
    assert 0.9 * limit < np.abs(kernel).max() <= limit
    he = cx.EinsumDense("abc,cde->abde", (None, 8, 8), kernel_initializer="HeNormal")
    he(np.zeros((1, 2, 16), "float32"))
    assert abs(he.get_weights()[0].std() - np.sqrt(2 / 16)) < 0.05


# -- Keras 3 parity --------------------------------------------------------------------------
def keras_einsum_pair(keras, equation, out, bias_axes, shape, **kwargs):
    k_layer = keras.layers.EinsumDense(equation, out, bias_axes=bias_axes, **kwargs)
    k_layer.build(shape)
    k_layer.set_weights([rand(*w.shape) for w in k_layer.get_weights()])
    j_layer = cx.EinsumDense(equation, out, bias_axes=bias_axes, **kwargs)
    j_layer(np.zeros(shape, "float32"))
    j_layer.set_weights(k_layer.get_weights())
    assert [w.path.split("/")[-1] for w in j_layer.weights] == [
        w.path.split("/")[-1] for w in k_layer.weights]
    return k_layer, j_layer


@pytest.mark.parametrize("equation,out,bias_axes,shape,kernel_shape,bias_shape", EINSUMS, ids=IDS)
def test_einsum_dense_parity_with_keras(keras, equation, out, bias_axes, shape, kernel_shape,
                                        bias_shape):
    k_layer, j_layer = keras_einsum_pair(keras, equation, out, bias_axes, shape,
                                         activation="relu")
    x = rand(*shape)
    expected = np.asarray(k_layer(x))
    close(j_layer(x), expected)
    close(jax.jit(j_layer.apply)(j_layer.params, j_layer.state, x)[0], expected)
    unknown = (None,) + shape[1:]
    j_shape = j_layer(jkeras.Input(batch_shape=unknown)).shape
    assert j_layer.compute_output_shape(unknown) == j_shape == (None,) + expected.shape[1:]
    # Keras 3.15 leaves the axes output_shape gives as None unknown (its docstring says
    # otherwise); jkeras gives the input's size there, and agrees everywhere else.
    k_shape = tuple(k_layer(keras.Input(batch_shape=unknown)).shape)
    assert k_shape == tuple(k_layer.compute_output_shape(unknown))
    assert len(j_shape) == len(k_shape) and all(
        k is None or j == k for j, k in zip(j_shape, k_shape))
    none_axes = [i + 1 for i, s in enumerate(
        (out,) if isinstance(out, int) else out) if s is None]
    assert all(k_shape[i] is None for i in none_axes)


def test_einsum_dense_initial_kernel_scale_matches_keras(keras):
    args = ("abc,cde->abde", (None, 8, 8))
    k_layer = keras.layers.EinsumDense(*args)
    k_layer.build((None, 2, 16))
    j_layer = cx.EinsumDense(*args)
    j_layer(np.zeros((1, 2, 16), "float32"))
    k_max, j_max = np.abs(k_layer.get_weights()[0]).max(), np.abs(j_layer.get_weights()[0]).max()
    assert abs(k_max - j_max) < 0.05 * k_max  # the same uniform limit, sqrt(6 / (16 + 64))


@pytest.mark.parametrize("equation,out,bias_axes,shape", [
    ("abc,cde->abde", (None, 4, 2), "de", (2, 5, 3)),
    ("ab...,bc->ac...", 4, "c", (2, 3, 5)),
])
def test_einsum_dense_gradient_parity_with_keras(keras, equation, out, bias_axes, shape):
    k_layer, j_layer = keras_einsum_pair(keras, equation, out, bias_axes, shape,
                                         activation="tanh")
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


def test_einsum_dense_kernel_gradient_matches_numpy():
    x = rand(4, 3)
    layer = cx.EinsumDense("ab,bc->ac", 2)
    layer(x)
    grad = jax.grad(lambda p: jnp.sum(layer.apply(p, {}, x)[0]))(layer.params)["kernel"]
    close(grad, np.repeat(x.sum(0)[:, None], 2, 1))  # d sum(x @ k) / dk = column sums of x


@pytest.mark.parametrize("scale,offset,x", [
    (1 / 255, 0.0, np.arange(0, 256, 15, dtype="uint8").reshape(1, -1)),
    (1 / 127.5, -1.0, np.arange(24, dtype="int32").reshape(2, 3, 4) * 10),
    (np.array([0.5, 2.0, -1.0], "float32"), np.array([1.0, 0.0, 3.0], "float32"),
     np.arange(12, dtype="float32").reshape(2, 2, 3)),
], ids=["uint8", "int32", "per-channel"])
def test_rescaling_matches_numpy_and_keras(keras, scale, offset, x):
    y = cx.Rescaling(scale, offset)(x)
    assert y.dtype == jnp.float32
    close(y, x.astype("float64") * scale + offset)
    close(y, np.asarray(keras.layers.Rescaling(scale, offset)(x)))
    unknown = (None,) + x.shape[1:]
    assert cx.Rescaling(scale, offset).compute_output_shape(unknown) == tuple(
        keras.layers.Rescaling(scale, offset).compute_output_shape(unknown))


LAMBDAS = [
    (lambda x: jnp.square(x) - 1, (3, 4)),
    (lambda x: jnp.mean(x, axis=1), (3, 4, 5)),
    (lambda x: jnp.concatenate([x, 2 * x], axis=-1), (3, 2)),
]


@pytest.mark.parametrize("function,shape", LAMBDAS)
def test_lambda_parity_with_keras(keras, function, shape):
    x = rand(*shape)
    k_layer, j_layer = keras.layers.Lambda(function), cx.Lambda(function)
    expected = np.asarray(k_layer(x))
    close(j_layer(x), expected)
    close(function(x), expected)
    assert j_layer.get_weights() == [] == k_layer.get_weights()
    unknown = (None,) + shape[1:]
    k_symbolic = k_layer(keras.Input(batch_shape=unknown))
    assert j_layer(jkeras.Input(batch_shape=unknown)).shape == tuple(k_symbolic.shape)
    assert j_layer.compute_output_shape(unknown) == tuple(k_symbolic.shape)


def test_lambda_list_inputs_arguments_training_and_mask():
    a, b = rand(2, 3), rand(2, 3)
    close(cx.Lambda(lambda xs: xs[0] * xs[1])([a, b]), a * b)
    close(cx.Lambda(lambda x, power: x ** power, arguments={"power": 3})(a), a ** 3)
    flag = cx.Lambda(lambda x, training=False: x + (1.0 if training else 0.0))
    close(flag(a), a)
    close(flag(a, training=True), a + 1)
    masked = cx.Lambda(lambda x, mask=None: jnp.where(mask[:, :, None], x, 0.0),
                       mask=lambda x, mask: mask)
    m = np.array([[True, False]])
    close(masked(rand(1, 2, 3) * 0 + 1, mask=m), [[[1, 1, 1], [0, 0, 0]]])
    assert masked.compute_mask(a, m) is m
    assert cx.Lambda(lambda x: x).compute_mask(a, m) is None  # Keras' default drops masks
    fixed = np.array([True])
    assert cx.Lambda(lambda x: x, mask=fixed).compute_mask(a, m) is fixed


def test_lambda_output_shape_is_checked():
    assert cx.Lambda(lambda x: x[:, :2], output_shape=(2,)).compute_output_shape(
        (None, 5)) == (None, 2)
    assert cx.Lambda(lambda x: x, output_shape=lambda s: s).compute_output_shape(
        (None, 5)) == (None, 5)
    with pytest.raises(ValueError, match=r"output_shape=\(3,\) says .* \(None, 3\).* \(None, 2\)"):
        cx.Lambda(lambda x: x[:, :2], output_shape=(3,)).compute_output_shape((None, 5))


# -- transformations ---------------------------------------------------------------------------
def test_eager_jit_and_vmap_agree():
    x = rand(4, 3, 5)
    for layer in (cx.EinsumDense("...b,bc->...c", 2, bias_axes="c"), cx.Rescaling(0.5, 1.0),
                  cx.Lambda(lambda v: jnp.sin(v) * 2)):
        eager = np.asarray(layer(x))
        apply = jax.jit(lambda v: layer.apply(layer.params, layer.state, v)[0])
        close(apply(x), eager)
        close(jax.vmap(apply)(x), eager)


def test_rescaling_and_no_lambda_pass_masks():
    mask = np.array([True, False])
    assert cx.Rescaling(2.0).compute_mask(rand(2, 3), mask) is mask
    assert cx.EinsumDense("ab,bc->ac", 2).compute_mask(rand(2, 3), mask) is None


# -- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("equation,out,bias_axes,match", [
    ("ab,bc", 4, None, "invalid equation"),
    ("a,b,c->d", 4, None, "invalid equation"),
    ("ab,bc->ad", 4, None, "output axis 'd'"),
    ("ab,bcx->ac", 4, None, "weight axis 'x'"),
    ("ab,bc->ac", 4, "z", "bias axis 'z'"),
    ("abc,cd->abd", 4, None, r"output_shape \(4,\) should give 2 sizes"),
])
def test_einsum_dense_bad_equations(equation, out, bias_axes, match):
    with pytest.raises(ValueError, match=match):
        cx.EinsumDense(equation, out, bias_axes=bias_axes)


def test_einsum_dense_equation_that_does_not_fit_the_input():
    with pytest.raises(ValueError, match=r"needs inputs of rank 3, got shape \(2, 5\)"):
        cx.EinsumDense("abc,cd->abd", (None, 4))(rand(2, 5))
    with pytest.raises(ValueError, match="needs inputs of rank 3 or more"):
        cx.EinsumDense("...abc,cd->...abd", (None, None, 4))(rand(2, 5))
    with pytest.raises(ValueError, match=r"axis 'b' .* size 5 in the input .* but 6"):
        cx.EinsumDense("abc,cd->abd", (6, 4))(rand(2, 5, 3))
    with pytest.raises(ValueError, match="size of axis 'b' .* is unknown"):
        cx.EinsumDense("ab,bc->ac", 4)(jkeras.Input(batch_shape=(None, None)))
    layer = cx.EinsumDense("abc,cd->abd", (None, 4))
    layer(rand(2, 5, 3))
    layer(rand(2, 7, 3))  # the free axis may change size
    with pytest.raises(ValueError, match="built for size 3"):
        layer(rand(2, 5, 4))


def test_lambda_needs_a_callable():
    with pytest.raises(TypeError, match="function must be callable"):
        cx.Lambda("x ** 2")
