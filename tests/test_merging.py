"""Subtract, Multiply, Average, Maximum, Minimum, Dot: NumPy references, Keras 3 parity, shapes
(compute_output_shape and symbolic Inputs), gradients for Dot, eager/jit/vmap, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jkeras
from jkeras.layers import merging as mx

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


# -- NumPy references ----------------------------------------------------------------------
def np_dot(x, y, axes, normalize=False):
    """Keras' batch-wise Dot: per example, tensordot over one axis of each input."""
    a, b = (axes, axes) if isinstance(axes, int) else axes
    a, b = a % x.ndim, b % y.ndim
    if normalize:
        x = x / np.maximum(np.linalg.norm(x, axis=a, keepdims=True), 1e-7)
        y = y / np.maximum(np.linalg.norm(y, axis=b, keepdims=True), 1e-7)
    out = np.stack([np.tensordot(xi, yi, (a - 1, b - 1)) for xi, yi in zip(x, y)])
    return out.reshape(len(x), 1) if out.ndim == 1 else out


ELEMENTWISE = [
    ("Subtract", 2, lambda xs: xs[0] - xs[1]),
    ("Multiply", 3, lambda xs: xs[0] * xs[1] * xs[2]),
    ("Average", 3, lambda xs: (xs[0] + xs[1] + xs[2]) / 3),
    ("Maximum", 3, lambda xs: np.maximum(np.maximum(xs[0], xs[1]), xs[2])),
    ("Minimum", 2, lambda xs: np.minimum(xs[0], xs[1])),
]

# (axes, normalize, shape of x, shape of y)
DOTS = [
    (1, False, (3, 5), (3, 5)),
    (-1, True, (3, 5), (3, 5)),
    ((1, 2), False, (3, 5), (3, 4, 5)),
    ((2, 1), True, (3, 4, 5), (3, 5)),
    (1, False, (3, 4, 5), (3, 4, 2)),
    (-1, True, (3, 4, 5), (3, 2, 5)),
    ((3, 1), False, (3, 2, 4, 5), (3, 5, 6)),
    ((1, 2), True, (3, 2, 4, 5), (3, 6, 2, 7)),
]


@pytest.mark.parametrize("name,n,ref", ELEMENTWISE, ids=[c[0] for c in ELEMENTWISE])
def test_elementwise_matches_numpy(name, n, ref):
    xs = [rand(4, 3, 2) for _ in range(n)]
    np.testing.assert_allclose(getattr(mx, name)()(xs), ref(xs), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("axes,normalize,sx,sy", DOTS)
def test_dot_matches_numpy(axes, normalize, sx, sy):
    x, y = rand(*sx), rand(*sy)
    np.testing.assert_allclose(mx.Dot(axes, normalize=normalize)([x, y]),
                               np_dot(x, y, axes, normalize), rtol=1e-5, atol=1e-5)


def test_dot_normalize_gives_cosine_similarity_and_handles_zeros():
    x, y = rand(4, 6), rand(4, 6)
    cos = (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)
    np.testing.assert_allclose(mx.Dot(1, normalize=True)([x, y])[:, 0], cos, rtol=1e-5)
    out = mx.Dot(1, normalize=True)([np.zeros((2, 3), "float32"), rand(2, 3)])
    np.testing.assert_array_equal(out, np.zeros((2, 1)))


def _keras_parity(keras, name, kwargs, shapes):
    xs = [rand(*s) for s in shapes]
    ours, theirs = getattr(mx, name)(**kwargs), getattr(keras.layers, name)(**kwargs)
    want = np.asarray(theirs(xs))
    for training in (False, True):
        np.testing.assert_allclose(ours(xs, training=training), want, rtol=1e-5, atol=1e-5)
    assert ours.get_weights() == theirs.get_weights() == []
    batch_shapes = [(None, *s[1:]) for s in shapes]
    want = tuple(theirs.compute_output_shape(batch_shapes))
    assert getattr(mx, name)(**kwargs).compute_output_shape(batch_shapes) == want
    sym = [keras.Input(batch_shape=s) for s in batch_shapes]
    assert tuple(theirs(sym).shape) == want
    inputs = [jkeras.Input(batch_shape=s) for s in batch_shapes]
    out = getattr(mx, name)(**kwargs)(inputs)
    assert out.shape == want
    model = jkeras.Model(inputs, out)  # the functional API runs the same math
    np.testing.assert_allclose(model(xs), ours(xs), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name,n,ref", ELEMENTWISE, ids=[c[0] for c in ELEMENTWISE])
def test_elementwise_keras_parity_and_shapes(keras, name, n, ref):
    _keras_parity(keras, name, {}, [(4, 3, 2)] * n)


# Shapes that broadcast as Keras 3 merges them: lower ranks gain axes after the batch axis.
BROADCAST = [[(4, 3, 2), (4, 1, 2), (4, 3, 1)], [(4, 3, 2), (4, 2), (4, 1)],
             [(4, 5, 1, 2), (4, 3, 1), (4, 1, 1, 2)]]


@pytest.mark.parametrize("name,n,ref", ELEMENTWISE + [("Add", 3, sum)],
                         ids=[c[0] for c in ELEMENTWISE] + ["Add"])
@pytest.mark.parametrize("shapes", BROADCAST, ids=["same-rank", "lower-rank", "both"])
def test_elementwise_broadcasting_matches_numpy_and_keras(keras, name, n, ref, shapes):
    shapes = shapes[:n]
    xs = [rand(*s) for s in shapes]
    rank = max(len(s) for s in shapes)
    expanded = [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in xs]
    np.testing.assert_allclose(getattr(mx, name)()(xs), ref(expanded), rtol=1e-6, atol=1e-6)
    _keras_parity(keras, name, {}, shapes)


@pytest.mark.parametrize("axes,normalize,sx,sy", DOTS)
def test_dot_keras_parity_and_shapes(keras, axes, normalize, sx, sy):
    _keras_parity(keras, "Dot", dict(axes=axes, normalize=normalize), [sx, sy])


@pytest.mark.parametrize("axes,normalize,sx,sy", [DOTS[2], DOTS[5]])
def test_dot_gradients_match_keras_and_finite_differences(keras, axes, normalize, sx, sy):
    x, y = jnp.asarray(rand(*sx)), jnp.asarray(rand(*sy))
    ours = mx.Dot(axes, normalize=normalize)
    theirs = keras.layers.Dot(axes, normalize=normalize)
    w = jnp.asarray(rand(*ours([x, y]).shape))
    g_ours = jax.grad(lambda x, y: jnp.sum(ours.apply({}, {}, [x, y])[0] * w), (0, 1))(x, y)
    g_theirs = jax.grad(lambda x, y: jnp.sum(theirs([x, y]) * w), (0, 1))(x, y)
    for a, b in zip(g_ours, g_theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    f = lambda x, y: ours.apply({}, {}, [x, y])[0]
    check_grads(f, (x, y), order=1, modes=["rev"], atol=1e-2, rtol=1e-2)


def test_eager_jit_vmap_agree():
    x, y, z = rand(4, 3, 5), rand(4, 2, 5), rand(4, 3, 5)
    for layer, inputs in ((mx.Dot(-1, normalize=True), [x, y]), (mx.Subtract(), [x, z]),
                          (mx.Average(), [x, z, x])):
        eager = layer(inputs)
        np.testing.assert_allclose(jax.jit(layer.apply)({}, {}, inputs)[0], eager,
                                   rtol=1e-6, atol=1e-6)
        stacked = [np.stack([v, 2 * v]) for v in inputs]
        vmapped = jax.vmap(lambda vs: layer.apply({}, {}, vs)[0])(stacked)
        np.testing.assert_allclose(vmapped[1], layer([2 * v for v in inputs]),
                                   rtol=1e-5, atol=1e-5)


# -- bad input -----------------------------------------------------------------------------
def test_subtract_needs_exactly_two_inputs():
    with pytest.raises(ValueError, match=r"'subtract'.*exactly 2 inputs, got 3"):
        mx.Subtract()([rand(2, 3)] * 3)
    a = jkeras.Input(shape=(3,))
    with pytest.raises(ValueError, match=r"'subtract_1'.*exactly 2 inputs, got 3"):
        mx.Subtract()([a, a, a])
    with pytest.raises(ValueError, match=r"'subtract_2'.*list of at least 2 inputs"):
        mx.Subtract()(rand(2, 3))


def test_elementwise_shapes_must_broadcast():
    with pytest.raises(ValueError, match=r"'maximum'.*broadcast.*\(2, 3\).*\(2, 4\)"):
        mx.Maximum()([rand(2, 3), rand(2, 4)])
    with pytest.raises(ValueError, match=r"'add'.*one batch size.*\(2, 3\).*\(1, 3\)"):
        mx.Add()([rand(2, 3), rand(1, 3)])
    with pytest.raises(ValueError, match=r"'multiply'.*broadcast.*\(None, 5, 3\)"):
        mx.Multiply()([jkeras.Input((5, 3)), jkeras.Input((4, 1))])


def test_dot_incompatible_axes():
    with pytest.raises(ValueError, match=r"'dot'.*incompatible.*\(2, 3\).*\(2, 4\).*size 3.*"
                                         r"size 4"):
        mx.Dot(1)([rand(2, 3), rand(2, 4)])
    a, b = jkeras.Input(shape=(3, 5)), jkeras.Input(shape=(4, 5))
    with pytest.raises(ValueError, match=r"'dot_1'.*incompatible.*\(None, 3, 5\).*\(None, 4, 5\)"):
        mx.Dot(1)([a, b])
    with pytest.raises(ValueError, match=r"'dot_2'.*axes \(1, 3\) must name non-batch axes"):
        mx.Dot((1, 3))([rand(2, 3), rand(2, 3)])
    with pytest.raises(ValueError, match=r"'dot_3'.*axes 0 must name non-batch axes"):
        mx.Dot(0)([rand(2, 3), rand(2, 3)])
    with pytest.raises(ValueError, match=r"'dot_4'.*rank >= 2.*\(2,\)"):
        mx.Dot(-1)([rand(2), rand(2)])
    with pytest.raises(ValueError, match=r"'dot_5'.*exactly 2 inputs, got 3"):
        mx.Dot(1)([rand(2, 3)] * 3)
    with pytest.raises(ValueError, match=r"'dot_6'.*incompatible.*axis 0 has size 2.*size 3"):
        mx.Dot(1)([rand(2, 3), rand(3, 3)])


@pytest.mark.parametrize("axes", [(1, 2, 3), "1", (1.0, 1), None, True])
def test_dot_bad_axes_argument(axes):
    with pytest.raises(ValueError, match=r"'dot'.*axes must be an int or a pair of ints"):
        mx.Dot(axes)


def test_masks_through_merges_match_keras(keras):
    """Two mask_zero embeddings merged: each layer's output mask as Keras 3 makes it
    (the elementwise ones or the masks, Concatenate spreads and any-s them, Dot drops it)."""
    ids = (np.array([[1, 2, 0, 0], [3, 0, 0, 0]]), np.array([[4, 0, 0, 0], [5, 6, 7, 0]]))
    ours_emb = [jkeras.layers.Embedding(8, 3, mask_zero=True) for _ in ids]
    theirs_emb = [keras.layers.Embedding(8, 3, mask_zero=True) for _ in ids]
    for o, t, i in zip(ours_emb, theirs_emb, ids):
        t(i)
        o(i)
        o.set_weights(t.get_weights())
    ours_x = [e(i) for e, i in zip(ours_emb, ids)]
    theirs_x = [e(i) for e, i in zip(theirs_emb, ids)]
    for name, kwargs in (("Add", {}), ("Subtract", {}), ("Multiply", {}), ("Average", {}),
                         ("Maximum", {}), ("Minimum", {}), ("Concatenate", {}),
                         ("Concatenate", {"axis": 1}), ("Dot", {"axes": 2})):
        ours = getattr(jkeras.layers, name)(**kwargs)(ours_x)
        theirs = getattr(keras.layers, name)(**kwargs)(theirs_x)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
        want = getattr(theirs, "_keras_mask", None)
        got = getattr(ours, "_keras_mask", None)
        assert (got is None) == (want is None), name
        if want is not None:
            np.testing.assert_array_equal(got, want)
    # one input without a mask: values as Keras', no mask but Concatenate's
    other = rand(2, 4, 3)
    for name in ("Add", "Multiply", "Maximum", "Minimum", "Concatenate"):
        ours = getattr(jkeras.layers, name)()([ours_x[0], jnp.asarray(other)])
        theirs = getattr(keras.layers, name)()([theirs_x[0], other])
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
        want = getattr(theirs, "_keras_mask", None)
        assert (getattr(ours, "_keras_mask", None) is None) == (want is None), name
    np.testing.assert_array_equal(jkeras.layers.Concatenate()([ours_x[0], other])._keras_mask,
                                  np.ones((2, 4), bool))
