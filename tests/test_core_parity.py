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
