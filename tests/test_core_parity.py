"""The core layers against Keras 3: the same weights and inputs give the same outputs (in
inference and training mode, where deterministic), the same weight names and order, the
same output shapes."""
import numpy as np
import pytest

import jkeras
from jkeras import layers

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


CASES = [  # (layer name, kwargs, input shapes); one shape means one input
    ("Dense", dict(units=5, activation="relu"), [(4, 3)]),
    ("Dense", dict(units=2, use_bias=False), [(4, 6, 3)]),
    ("Activation", dict(activation="gelu"), [(4, 3)]),
    ("Identity", {}, [(4, 3)]),
    ("Dropout", dict(rate=0.0), [(4, 3)]),
    ("BatchNormalization", {}, [(8, 3)]),
    ("BatchNormalization", dict(axis=1, momentum=0.9, epsilon=1e-2), [(8, 3, 5)]),
    ("LayerNormalization", {}, [(4, 6)]),
    ("LayerNormalization", dict(axis=[1, 2], center=False), [(4, 3, 5)]),
    ("Embedding", dict(input_dim=10, output_dim=4), [(3, 5)]),
    ("Flatten", {}, [(4, 3, 2)]),
    ("Reshape", dict(target_shape=(2, -1)), [(4, 3, 2)]),
    ("Concatenate", dict(axis=1), [(4, 3), (4, 2)]),
    ("Add", {}, [(4, 3), (4, 3)]),
]


def _args(values):
    """A layer's call arguments: one input, or a list of several (merging layers)."""
    return values if len(values) == 1 else [values]


def _inputs(name, shapes):
    if name == "Embedding":
        return [RNG.integers(0, 10, shapes[0]).astype("int32")]
    return [rand(*s) for s in shapes]


@pytest.mark.parametrize("name,kwargs,shapes", CASES, ids=lambda v: str(v)[:30])
def test_same_outputs_weights_and_shapes_as_keras(keras, name, kwargs, shapes):
    args = _args(_inputs(name, shapes))
    theirs, ours = getattr(keras.layers, name)(**kwargs), getattr(layers, name)(**kwargs)
    theirs(*args)
    theirs.set_weights([rand(*w.shape) ** 2 + 0.5 for w in theirs.get_weights()])
    ours(*args)
    ours.set_weights(theirs.get_weights())
    assert [w.path.rsplit("/", 1)[-1] for w in ours.weights] == [
        w.path.rsplit("/", 1)[-1] for w in theirs.weights]
    for training in (False, True):
        np.testing.assert_allclose(np.asarray(ours(*args, training=training)),
                                   np.asarray(theirs(*args, training=training)),
                                   rtol=1e-5, atol=1e-5)
    # Training-mode calls moved BatchNormalization's statistics the same way.
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)
    dtype = "int32" if name == "Embedding" else "float32"
    symbolic = {lib: _args([lib.Input(batch_shape=(None,) + s[1:], dtype=dtype) for s in shapes])
                for lib in (jkeras, keras)}
    assert tuple(ours(*symbolic[jkeras]).shape) == tuple(theirs(*symbolic[keras]).shape)


@pytest.mark.parametrize("name", ["LayerNormalization", "BatchNormalization"])
def test_half_precision_inputs_do_not_overflow(keras, name):
    x = np.array([[300.0, -300.0], [-300.0, 300.0]], "float16")
    for training in (False, True):
        want = getattr(keras.layers, name)()(x, training=training)
        got = getattr(layers, name)()(x, training=training)
        assert got.dtype == want.dtype  # the layers' float32 policy: float32 out, as Keras
        np.testing.assert_allclose(np.asarray(got, "float32"), np.asarray(want, "float32"),
                                   rtol=2e-3, atol=2e-3)


def test_keras_initializer_aliases_and_separate_keys():
    dense = layers.Dense(64, kernel_initializer="uniform", bias_initializer="normal")
    dense(np.ones((1, 64), "float32"))
    kernel, bias = dense.get_weights()
    assert np.abs(kernel).max() <= 0.05 and np.abs(kernel).max() > 0.045  # RandomUniform
    np.testing.assert_allclose(bias.std(), 0.05, rtol=0.35)  # RandomNormal(stddev=0.05)
    assert not np.isclose(kernel[0], bias).any()  # drawn from different keys
    bn = layers.BatchNormalization(gamma_initializer="normal", beta_initializer="normal")
    bn(np.ones((2, 16), "float32"))
    assert not np.isclose(bn.params["gamma"], bn.params["beta"]).any()
    assert layers.Dense(1, kernel_initializer="zero", bias_initializer="one")(
        np.ones((1, 3), "float32")).tolist() == [[1.0]]
