"""jkeras.ops: Keras 3's keras.ops names, with Keras' numbers, on JAX."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jkeras import ops

RNG = np.random.default_rng(0)


def test_every_name_is_a_keras_ops_name(keras):
    assert set(ops.__all__) - {"nn"} <= set(dir(keras.ops))
    assert set(ops.nn.__all__) <= set(dir(keras.ops.nn))
    for name in ops.nn.__all__:            # ops.relu is ops.nn.relu, as in Keras
        assert getattr(ops, name) is getattr(ops.nn, name)


def _x(*shape):
    return RNG.standard_normal(shape).astype("float32")


# (name, args, kwargs): called the same way on keras.ops and jkeras.ops.
SAMPLE = [
    ("matmul", (_x(2, 3), _x(3, 4)), {}), ("mean", (_x(3, 4),), {"axis": -1, "keepdims": True}),
    ("sum", (_x(3, 4),), {"axis": 0}), ("max", (_x(3, 4),), {"axis": 1}),
    ("argmax", (_x(3, 4),), {"axis": 1}), ("square", (_x(5),), {}), ("sqrt", (abs(_x(5)),), {}),
    ("exp", (_x(5),), {}), ("log", (abs(_x(5)) + 0.1,), {}), ("abs", (_x(5),), {}),
    ("reshape", (_x(2, 6), (3, 4)), {}), ("transpose", (_x(2, 3, 4),), {"axes": (2, 0, 1)}),
    ("concatenate", ([_x(2, 3), _x(2, 1)],), {"axis": -1}), ("stack", ([_x(2), _x(2)],), {}),
    ("expand_dims", (_x(3),), {"axis": 0}), ("squeeze", (_x(3, 1),), {}),
    ("clip", (_x(6), -0.5, 0.5), {}), ("where", (_x(4) > 0, _x(4), _x(4)), {}),
    ("einsum", ("ij,jk->ik", _x(2, 3), _x(3, 2)), {}), ("tile", (_x(2), (3,)), {}),
    ("cumsum", (_x(5),), {}), ("sort", (_x(5),), {}), ("std", (_x(3, 4),), {"axis": 0}),
    ("take", (_x(5), np.array([0, 3])), {}), ("zeros", ((2, 3),), {}), ("ones_like", (_x(2),), {}),
    ("arange", (5,), {}), ("linspace", (0.0, 1.0, 5), {}), ("eye", (3,), {}),
    ("amax", (_x(3, 4),), {"axis": 0}), ("divide", (_x(3), abs(_x(3)) + 1), {}),
    ("mod", (np.array([5, 7]), 3), {}), ("norm", (_x(3, 4),), {"axis": -1}),
    ("logsumexp", (_x(3, 4),), {"axis": -1}), ("rsqrt", (abs(_x(4)) + 0.1,), {}),
    ("erf", (_x(4),), {}), ("divide_no_nan", (_x(3), np.array([0.0, 1.0, 2.0])), {}),
    ("cast", (_x(4), "int32"), {}), ("convert_to_tensor", ([1, 2, 3],), {"dtype": "float32"}),
    ("pad", (_x(2, 2), ((1, 0), (0, 2))), {}), ("pad", (_x(3), ((1, 1),)), {"constant_values": 2}),
    ("one_hot", (np.array([0, 2, 1]), 3), {}), ("relu", (_x(5),), {}), ("gelu", (_x(5),), {}),
    ("leaky_relu", (_x(5),), {}), ("softmax", (_x(2, 4),), {}), ("log_softmax", (_x(2, 4),), {}),
    ("sigmoid", (_x(5),), {}), ("silu", (_x(5),), {}), ("softsign", (_x(5),), {}),
    ("elu", (_x(5),), {}), ("hard_sigmoid", (_x(5),), {}),
    ("normalize", (_x(3, 4),), {"axis": -1}), ("moments", (_x(3, 4), [0]), {}),
    ("binary_crossentropy", (np.array([0.0, 1.0]), np.array([0.3, 0.8])), {}),
    ("categorical_crossentropy", (np.eye(3)[[0, 2]], _x(2, 3)), {"from_logits": True}),
    ("sparse_categorical_crossentropy", (np.array([0, 2]), _x(2, 3)), {"from_logits": True}),
    ("top_k", (_x(6), 3), {}), ("in_top_k", (np.array([1, 0]), _x(2, 4), 2), {}),
    ("slice", (_x(4, 4), (1, 2), (2, 2)), {}),
    ("slice_update", (_x(4), (1,), _x(2)), {}),
    ("scatter", (np.array([[0], [2], [0]]), _x(3), (4,)), {}),
    ("scatter_update", (_x(4, 2), np.array([[1, 0], [3, 1]]), _x(2)), {}),
    ("segment_sum", (_x(5), np.array([0, 0, 1, 1, 2])), {"num_segments": 3}),
    ("unstack", (_x(2, 3),), {"axis": 1}), ("unique", (np.array([3, 1, 3, 2]),), {}),
    ("dot_product_attention", (_x(1, 4, 2, 8), _x(1, 4, 2, 8), _x(1, 4, 2, 8)), {}),
    ("dtype", (_x(2),), {}),
]


@pytest.mark.parametrize("name, args, kwargs", SAMPLE, ids=[s[0] for s in SAMPLE])
def test_sample_matches_keras_ops(keras, name, args, kwargs):
    want = getattr(keras.ops, name)(*args, **kwargs)
    got = getattr(ops, name)(*args, **kwargs)
    if name == "dtype":
        assert got == want
        return
    want_leaves, got_leaves = jax.tree_util.tree_leaves(want), jax.tree_util.tree_leaves(got)
    assert len(want_leaves) == len(got_leaves)
    for w, g in zip(want_leaves, got_leaves):
        assert np.shape(g) == np.shape(w)
        assert jnp.result_type(g) == jnp.result_type(w), name
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-6)


def test_control_flow_matches_keras_and_traces(keras):
    def loop(o):
        return o.while_loop(lambda i, s: i < 4, lambda i, s: (i + 1, s * 2.0), (0, 1.0))

    assert [float(v) for v in loop(ops)] == [float(v) for v in loop(keras.ops)]
    counted = jax.jit(lambda n: ops.fori_loop(0, n, lambda i, t: t + i, 0))(5)
    assert int(counted) == int(keras.ops.fori_loop(0, 5, lambda i, t: t + i, 0))
    assert int(ops.cond(jnp.array(True), lambda: 1, lambda: 2)) == 1
    carry, ys = ops.scan(lambda c, x: (c + x, c * x), 0.0, jnp.arange(4.0))
    k_carry, k_ys = keras.ops.scan(lambda c, x: (c + x, c * x), 0.0, jnp.arange(4.0))
    np.testing.assert_allclose(ys, k_ys)
    assert float(carry) == float(k_carry)
    grad = jax.grad(lambda x: jnp.sum(x * ops.stop_gradient(x)))(jnp.ones(3))
    np.testing.assert_array_equal(grad, [1.0, 1.0, 1.0])
    assert ops.is_tensor(jnp.ones(1)) and not ops.is_tensor(np.ones(1))
    assert ops.shape(jnp.ones((2, 3))) == (2, 3)
