"""Convolution layers: NumPy loop references, parity with Keras 3 (outputs, shapes,
gradients), eager/jit/vmap agreement, and bad-input errors."""
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkeras
from jkeras.layers import convolutional as conv

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def np_init(key, shape, dtype=jnp.float32):
    """NumPy draws as an initializer: unlike jax.random, nothing to compile per shape."""
    return jnp.asarray(0.5 * RNG.standard_normal(shape), dtype)


def make(cls, *args, **kwargs):
    """``cls(*args, **kwargs)`` with every ``*_initializer`` not given set to ``np_init``."""
    for arg in inspect.signature(cls.__init__).parameters:
        if arg.endswith("_initializer"):
            kwargs.setdefault(arg, np_init)
    return cls(*args, **kwargs)


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# -- NumPy references: direct loops, channels_last ---------------------------------------------
def same_pads(size, window, stride):
    """TensorFlow's "same" split for one axis: the odd padded cell goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def np_conv1d(x, k, b, stride=1, padding="valid", dilation=1, groups=1):
    """x (N, L, C), k (K, C // groups, O)."""
    size, (taps, cin, out) = x.shape[1], k.shape
    span = (taps - 1) * dilation + 1
    lo, hi = {"valid": (0, 0), "causal": (span - 1, 0),
              "same": same_pads(size, span, stride)}[padding]
    xp = np.pad(x, ((0, 0), (lo, hi), (0, 0)))
    steps = (xp.shape[1] - span) // stride + 1
    y = np.zeros((x.shape[0], steps, out))
    for t in range(steps):
        for o in range(out):
            g = o // (out // groups)
            for j in range(taps):
                y[:, t, o] += xp[:, t * stride + j * dilation, g * cin:(g + 1) * cin] @ k[j, :, o]
    return y + b


def np_conv2d(x, k, b, stride=(1, 1), padding="valid", dilation=(1, 1), groups=1):
    """x (N, H, W, C), k (KH, KW, C // groups, O)."""
    kh, kw, cin, out = k.shape
    spans = [(n - 1) * d + 1 for n, d in zip((kh, kw), dilation)]
    pads = [same_pads(x.shape[1 + a], spans[a], stride[a]) if padding == "same" else (0, 0)
            for a in range(2)]
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    rows, cols = [(xp.shape[1 + a] - spans[a]) // stride[a] + 1 for a in range(2)]
    y = np.zeros((x.shape[0], rows, cols, out))
    for r in range(rows):
        for c in range(cols):
            for o in range(out):
                g = o // (out // groups)
                for i in range(kh):
                    for j in range(kw):
                        cell = xp[:, r * stride[0] + i * dilation[0],
                                  c * stride[1] + j * dilation[1], g * cin:(g + 1) * cin]
                        y[:, r, c, o] += cell @ k[i, j, :, o]
    return y + b


def np_conv1d_transpose(x, k, b, stride, padding):
    """The adjoint of a strided convolution: scatter each input step through the kernel
    k (K, O, C), then keep Keras' output window (zeros past the scattered part)."""
    size, taps = x.shape[1], k.shape[0]
    full = np.zeros((x.shape[0], (size - 1) * stride + taps, k.shape[1]))
    for t in range(size):
        for j in range(taps):
            full[:, t * stride + j] += x[:, t] @ k[j].T
    if padding == "valid":
        length, start = (size - 1) * stride + max(taps, stride), 0
    else:  # the output whose "same" strided convolution has x's size
        length = size * stride
        start = same_pads(length, taps, stride)[0]
    out = np.zeros((x.shape[0], length, k.shape[1]))
    kept = full[:, start:start + length]
    out[:, :kept.shape[1]] = kept
    return out + b


def built(layer, x):
    layer(x)
    return layer


@pytest.mark.parametrize("padding,stride,dilation,groups", [
    ("valid", 1, 1, 1), ("valid", 2, 1, 2), ("same", 1, 2, 1), ("same", 3, 1, 1),
    ("causal", 1, 1, 1), ("causal", 1, 3, 2), ("causal", 2, 1, 1)])
def test_conv1d_matches_numpy(padding, stride, dilation, groups):
    x = rand(2, 11, 4)
    layer = built(make(conv.Conv1D, 6, 3, strides=stride, padding=padding, dilation_rate=dilation,
                              groups=groups), x)
    k, b = layer.get_weights()
    assert k.shape == (3, 4 // groups, 6)
    close(layer(x), np_conv1d(x, k, b, stride, padding, dilation, groups))


def test_conv1d_causal_output_ignores_the_future():
    x = rand(1, 10, 2)
    layer = make(conv.Conv1D, 3, 4, padding="causal", dilation_rate=2)
    y = np.asarray(layer(x))
    x2 = x.copy()
    x2[:, 6:] = 100.0
    close(np.asarray(layer(x2))[:, :6], y[:, :6])


@pytest.mark.parametrize("padding,stride,dilation,groups", [
    ("valid", (1, 1), (1, 1), 1), ("valid", (2, 1), (1, 1), 3), ("same", (1, 1), (2, 1), 1),
    ("same", (2, 3), (1, 1), 1), ("same", (1, 1), (1, 1), 3)])
def test_conv2d_matches_numpy(padding, stride, dilation, groups):
    x = rand(2, 7, 8, 3)
    layer = built(make(conv.Conv2D, 6, (3, 2), strides=stride, padding=padding,
                              dilation_rate=dilation, groups=groups), x)
    k, b = layer.get_weights()
    assert k.shape == (3, 2, 3 // groups, 6)
    close(layer(x), np_conv2d(x, k, b, stride, padding, dilation, groups))


def test_conv2d_channels_first_is_the_transposed_channels_last():
    x = rand(2, 6, 7, 3)
    last = built(make(conv.Conv2D, 4, 3, padding="same", strides=2), x)
    first = make(conv.Conv2D, 4, 3, padding="same", strides=2, data_format="channels_first")
    first(x.transpose(0, 3, 1, 2))
    first.set_weights(last.get_weights())
    close(first(x.transpose(0, 3, 1, 2)), np.asarray(last(x)).transpose(0, 3, 1, 2))
    k, b = last.get_weights()
    close(last(x), np_conv2d(x, k, b, (2, 2), "same"))


@pytest.mark.parametrize("padding,stride,taps", [
    ("valid", 1, 3), ("valid", 2, 3), ("valid", 3, 2), ("same", 1, 3), ("same", 2, 3),
    ("same", 2, 4), ("same", 3, 2)])
def test_conv1d_transpose_matches_numpy(padding, stride, taps):
    x = rand(2, 5, 3)
    layer = built(make(conv.Conv1DTranspose, 4, taps, strides=stride, padding=padding), x)
    k, b = layer.get_weights()
    assert k.shape == (taps, 4, 3)
    close(layer(x), np_conv1d_transpose(x, k, b, stride, padding))


def test_depthwise_and_separable_match_numpy_grouped_conv():
    x = rand(2, 6, 6, 3)
    dw = built(make(conv.DepthwiseConv2D, 3, depth_multiplier=2, padding="same"), x)
    k, b = dw.get_weights()
    assert k.shape == (3, 3, 3, 2) and b.shape == (6,)
    # Channel c's m-th filter is output channel c * m_count + m: a grouped conv per channel.
    expected = np_conv2d(x, k.reshape(3, 3, 1, 6), b, padding="same", groups=3)
    close(dw(x), expected)
    sep = built(make(conv.SeparableConv2D, 5, 3, depth_multiplier=2), x)
    dk, pk, b = sep.get_weights()
    assert pk.shape == (1, 1, 6, 5)
    depthwise = np_conv2d(x, dk.reshape(3, 3, 1, 6), 0, groups=3)
    close(sep(x), depthwise @ pk[0, 0] + b)


def test_weights_regularizers_and_constraints_by_keras_names():
    x = rand(1, 5, 5, 2)
    c = make(conv.Conv2D, 3, 2, kernel_regularizer="l2", bias_constraint="non_neg")
    c(x)
    assert [w.path for w in c.weights] == ["conv2d/kernel", "conv2d/bias"]
    k = c.get_weights()[0]
    close(c.regularization_loss(c.params), 0.01 * np.sum(k ** 2))
    c.set_weights([k, -np.ones(3, "float32")])
    assert np.all(np.asarray(c.apply_constraints(c.params)["bias"]) == 0)
    dw = make(conv.DepthwiseConv2D, 2, depthwise_regularizer="l1", depthwise_constraint="non_neg",
                              use_bias=False)
    dw(x)
    (k,) = dw.get_weights()
    assert [w.path for w in dw.weights] == ["depthwise_conv2d/kernel"]
    close(dw.regularization_loss(dw.params), 0.01 * np.sum(np.abs(k)))
    assert np.all(np.asarray(dw.apply_constraints(dw.params)["kernel"]) >= 0)
    sep = make(conv.SeparableConv2D, 2, 2, pointwise_regularizer="l2", depthwise_regularizer="l1")
    sep(x)
    dk, pk, _ = sep.get_weights()
    close(sep.regularization_loss(sep.params), 0.01 * np.abs(dk).sum() + 0.01 * (pk ** 2).sum())


def test_default_glorot_kernel_and_split_keys():
    c = conv.Conv2D(4, 3, bias_initializer="random_uniform")
    c(rand(1, 5, 5, 2))
    k, b = c.get_weights()
    limit = np.sqrt(6 / (3 * 3 * 2 + 3 * 3 * 4))  # Keras' fans fold in the receptive field
    assert limit * 0.8 < np.abs(k).max() <= limit
    assert not np.allclose(k[0, 0, 0], b)  # kernel and bias drew from different keys


def test_eager_jit_vmap_and_symbolic_agree():
    x = rand(3, 2, 8, 8, 3)  # a stack of 3 batches for vmap
    layer = built(make(conv.Conv2D, 4, 3, strides=2, padding="same", activation="relu"), x[0])
    eager = np.stack([np.asarray(layer(xi)) for xi in x])
    jitted = jax.jit(layer.apply)(layer.params, layer.state, x[0])[0]
    close(jitted, eager[0])
    mapped = jax.vmap(lambda xi: layer.apply(layer.params, layer.state, xi)[0])(x)
    close(mapped, eager)
    out = layer(jkeras.Input(shape=(None, None, 3)))
    assert out.shape == (None, None, None, 4)
    assert layer.compute_output_shape((None, 8, 8, 3)) == (None, 4, 4, 4)


def test_small_cnn_model_matches_numpy():
    from jkeras import layers
    x = rand(2, 8, 8, 1)
    model = jkeras.Sequential([make(conv.Conv2D, 3, 3, activation="relu"),
                               make(conv.SeparableConv2D, 2, 3, padding="same"), layers.Flatten(),
                               make(layers.Dense, 2)])
    y = model(x)
    k1, b1, dk, pk, b2, dense_k, dense_b = model.get_weights()
    h = np.maximum(np_conv2d(x, k1, b1), 0)
    h = np_conv2d(h, dk.reshape(3, 3, 1, 3), 0, padding="same", groups=3) @ pk[0, 0] + b2
    close(y, h.reshape(2, -1) @ dense_k + dense_b, 1e-4)


# -- parity with Keras 3 -----------------------------------------------------------------------
PARITY = [
    ("Conv1D", (3, 9, 4), dict(filters=5, kernel_size=3)),
    ("Conv1D", (3, 9, 4), dict(filters=5, kernel_size=3, padding="causal", dilation_rate=2,
                               activation="tanh")),
    ("Conv1D", (3, 4, 9), dict(filters=6, kernel_size=2, strides=2, padding="same", groups=2,
                               data_format="channels_first")),
    ("Conv2D", (2, 9, 8, 4), dict(filters=6, kernel_size=(3, 2), strides=2, padding="same",
                                  groups=2, activation="relu")),
    ("Conv2D", (2, 4, 9, 8), dict(filters=3, kernel_size=3, dilation_rate=(2, 1),
                                  data_format="channels_first")),
    ("Conv2D", (2, 7, 7, 3), dict(filters=2, kernel_size=1, use_bias=False)),
    ("Conv3D", (2, 5, 6, 7, 3), dict(filters=4, kernel_size=2, strides=(1, 2, 3),
                                     padding="same")),
    ("Conv3D", (1, 2, 5, 4, 6), dict(filters=2, kernel_size=(1, 3, 2), groups=2,
                                     data_format="channels_first")),
    ("Conv1DTranspose", (2, 5, 3), dict(filters=4, kernel_size=4, strides=3, padding="same",
                                        output_padding=1)),
    ("Conv1DTranspose", (2, 3, 5), dict(filters=2, kernel_size=3, dilation_rate=2,
                                        data_format="channels_first")),
    ("Conv2DTranspose", (2, 5, 6, 3), dict(filters=4, kernel_size=3, strides=2)),
    ("Conv2DTranspose", (2, 5, 6, 3), dict(filters=4, kernel_size=2, strides=3)),
    ("Conv2DTranspose", (2, 5, 6, 3), dict(filters=4, kernel_size=3, strides=2,
                                           output_padding=(1, 0))),
    ("Conv2DTranspose", (2, 3, 5, 6), dict(filters=4, kernel_size=(2, 5), strides=(3, 2),
                                           padding="same", data_format="channels_first")),
    ("Conv2DTranspose", (2, 5, 6, 3), dict(filters=2, kernel_size=4, strides=2, padding="same",
                                           output_padding=1, activation="sigmoid")),
    ("Conv2DTranspose", (2, 5, 6, 3), dict(filters=4, kernel_size=3, dilation_rate=2,
                                           padding="same")),
    ("Conv3DTranspose", (1, 3, 4, 5, 2), dict(filters=3, kernel_size=2, strides=2,
                                              output_padding=(0, 1, 1))),
    ("DepthwiseConv1D", (2, 8, 3), dict(kernel_size=3, depth_multiplier=2, strides=2)),
    ("DepthwiseConv2D", (2, 8, 8, 3), dict(kernel_size=3, depth_multiplier=2, padding="same",
                                           strides=2)),
    ("DepthwiseConv2D", (2, 3, 8, 8), dict(kernel_size=(3, 2), dilation_rate=2,
                                           data_format="channels_first")),
    ("SeparableConv1D", (2, 3, 8), dict(filters=5, kernel_size=3, dilation_rate=2,
                                        data_format="channels_first")),
    ("SeparableConv2D", (2, 8, 8, 3), dict(filters=5, kernel_size=3, depth_multiplier=2,
                                           padding="same", activation="relu")),
    ("SeparableConv2D", (2, 9, 7, 3), dict(filters=4, kernel_size=2, strides=(2, 3))),
]


def keras_pair(keras, name, shape, kwargs):
    """A Keras layer with random weights (biases too) and a jkeras one holding the same."""
    cls = getattr(keras.layers, name)
    zeros = {arg: "zeros" for arg in inspect.signature(cls.__init__).parameters
             if arg.endswith("_initializer")}  # cheap builds; the draws come next
    k_layer = cls(**kwargs, **zeros)
    k_layer.build(shape)
    k_layer.set_weights([0.5 * rand(*w.shape) for w in k_layer.get_weights()])
    j_layer = getattr(conv, name)(**kwargs, **zeros)
    j_layer(np.zeros(shape, "float32"))
    j_layer.set_weights(k_layer.get_weights())
    assert [w.shape for w in j_layer.get_weights()] == [w.shape for w in k_layer.get_weights()]
    assert [w.path.split("/")[-1] for w in j_layer.weights] == [
        w.path.split("/")[-1] for w in k_layer.weights]
    return k_layer, j_layer


@pytest.mark.parametrize("name,shape,kwargs", PARITY, ids=lambda v: str(v)[:40])
def test_parity_with_keras(keras, name, shape, kwargs):
    k_layer, j_layer = keras_pair(keras, name, shape, kwargs)
    x = rand(*shape)
    expected = np.asarray(k_layer(x))
    close(j_layer(x), expected)
    close(j_layer(x, training=True), np.asarray(k_layer(x, training=True)))
    close(jax.jit(j_layer.apply)(j_layer.params, j_layer.state, x)[0], expected)
    unknown = (None,) + shape[1:]
    assert tuple(j_layer.compute_output_shape(unknown)) == tuple(
        k_layer.compute_output_shape(unknown))
    symbolic = keras.Input(batch_shape=unknown)
    assert j_layer(jkeras.Input(batch_shape=unknown)).shape == tuple(k_layer(symbolic).shape)


@pytest.mark.parametrize("name,shape,kwargs", [
    ("Conv2D", (2, 7, 6, 4), dict(filters=4, kernel_size=3, strides=2, padding="same",
                                  groups=2)),
    ("Conv2D", (2, 3, 7, 6), dict(filters=2, kernel_size=(2, 3), data_format="channels_first",
                                  activation="tanh")),
    ("Conv2DTranspose", (2, 4, 5, 3), dict(filters=2, kernel_size=3, strides=2,
                                           padding="same")),
    ("Conv2DTranspose", (2, 4, 5, 3), dict(filters=2, kernel_size=3, strides=2,
                                           output_padding=1)),
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
    close(j_grads[1], k_grads[1])
    for path_name, k_grad in zip([w.name for w in j_layer.weights], k_grads[0]):
        close(j_grads[0][path_name], k_grad, 1e-4)


# -- bad input -----------------------------------------------------------------------------------
def test_conv2d_on_rank_3_input_names_the_expected_rank():
    with pytest.raises(ValueError, match=r"'conv2d'.*rank 4.*\(2, 8, 3\).*rank 3"):
        conv.Conv2D(4, 3)(rand(2, 8, 3))
    with pytest.raises(ValueError, match=r"'conv1d'.*rank 3"):
        conv.Conv1D(4, 3)(rand(2, 8, 3, 3))


def test_channel_count_other_than_the_built_one():
    layer = make(conv.Conv2D, 4, 3, name="c")
    layer(rand(1, 5, 5, 3))
    with pytest.raises(ValueError, match=r"'c'.*built for size 3.*\(1, 5, 5, 2\)"):
        layer(rand(1, 5, 5, 2))
    first = make(conv.Conv2DTranspose, 4, 3, data_format="channels_first", name="t")
    first(rand(1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"'t'.*built for size 3 on axis 1"):
        first(rand(1, 5, 5, 3))
    with pytest.raises(ValueError, match=r"'t'.*built for size 3"):
        jax.jit(first.apply)(first.params, first.state, rand(1, 4, 5, 5))


def test_kernel_larger_than_input_with_valid_padding():
    layer = make(conv.Conv2D, 2, 5, name="big")
    with pytest.raises(ValueError, match=r"'big'.*kernel.*\(5, 5\).*larger.*\(1, 3, 8, 1\)"):
        layer(rand(1, 3, 8, 1))
    assert not layer.built  # nothing half-applied
    layer(rand(1, 6, 6, 1))  # later calls with a smaller input get the same error
    with pytest.raises(ValueError, match=r"'big'.*larger"):
        layer(rand(1, 6, 4, 1))
    with pytest.raises(ValueError, match=r"larger.*padding='same'"):  # dilation counts
        make(conv.Conv1D, 2, 3, dilation_rate=3)(rand(1, 6, 1))
    with pytest.raises(ValueError, match=r"larger"):
        make(conv.SeparableConv2D, 2, 4)(rand(1, 3, 3, 1))
    # "same" padding and transposed convolutions take any size.
    assert make(conv.Conv2D, 2, 5, padding="same")(rand(1, 3, 3, 1)).shape == (1, 3, 3, 2)
    assert make(conv.Conv2DTranspose, 2, 5)(rand(1, 3, 3, 1)).shape == (1, 7, 7, 2)


@pytest.mark.parametrize("factory", [
    lambda: conv.Conv2D(2, 3, padding="full"),
    lambda: conv.Conv2D(2, 3, padding="causal"),
    lambda: conv.Conv1DTranspose(2, 3, padding="causal"),
    lambda: conv.DepthwiseConv2D(3, padding=None),
    lambda: conv.SeparableConv2D(2, 3, padding="VALIDISH"),
])
def test_invalid_padding(factory):
    with pytest.raises(ValueError, match=r"padding must be one of"):
        factory()


def test_padding_is_case_insensitive():
    assert conv.Conv1D(2, 3, padding="CAUSAL").padding == "causal"


@pytest.mark.parametrize("cls", [conv.Conv2D, conv.Conv2DTranspose, conv.SeparableConv2D])
def test_invalid_data_format(cls):
    with pytest.raises(ValueError, match=r"data_format must be 'channels_last' or "
                                         r"'channels_first', got 'nhwc'"):
        cls(2, 3, data_format="NHWC")
    with pytest.raises(ValueError, match=r"data_format"):
        conv.DepthwiseConv2D(3, data_format="channels_middle")


@pytest.mark.parametrize("filters", [0, -3, 2.5, None])
@pytest.mark.parametrize("cls", [conv.Conv1D, conv.Conv2D, conv.Conv3D, conv.Conv2DTranspose,
                                 conv.SeparableConv2D])
def test_zero_or_negative_filters(cls, filters):
    with pytest.raises(ValueError, match=r"filters must be a positive integer, got"):
        cls(filters, 3)


@pytest.mark.parametrize("factory,match", [
    (lambda: conv.DepthwiseConv2D(3, depth_multiplier=0), r"depth_multiplier must be a positive"),
    (lambda: conv.Conv2D(4, 0), r"kernel_size must be an int >= 1"),
    (lambda: conv.Conv2D(4, (3, 3, 3)), r"kernel_size must be .* tuple of 2"),
    (lambda: conv.Conv2D(4, 3, strides=0), r"strides must be an int >= 1"),
    (lambda: conv.Conv2D(4, 3, dilation_rate=(1, -1)), r"dilation_rate must be"),
    (lambda: conv.Conv2D(4, 3, strides=2, dilation_rate=2), r"strides > 1 cannot be combined"),
    (lambda: conv.Conv2D(6, 3, groups=4), r"filters \(6\) must be divisible by groups \(4\)"),
    (lambda: conv.Conv2D(4, 3, groups=0), r"groups must be a positive"),
    (lambda: conv.Conv2DTranspose(4, 3, strides=2, output_padding=2),
     r"output_padding must be less than strides"),
    (lambda: conv.Conv2DTranspose(4, 3, output_padding=-1), r"output_padding must be"),
])
def test_invalid_constructor_arguments(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


def test_channels_not_divisible_by_groups_or_unknown():
    layer = make(conv.Conv2D, 4, 3, groups=2, name="g")
    with pytest.raises(ValueError, match=r"'g'.*5 channels must be divisible by groups \(2\)"):
        layer(rand(1, 5, 5, 5))
    assert layer(rand(1, 5, 5, 4)).shape == (1, 3, 3, 4)  # the failure left nothing behind
    with pytest.raises(ValueError, match=r"'u'.*known channel dimension"):
        conv.Conv2D(4, 3, name="u")(jkeras.Input(shape=(5, 5, None)))
