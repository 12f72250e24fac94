"""Configs: get_config/from_config round trips for every public class, checked against
Keras 3 (each jkeras layer config builds in Keras and each Keras config builds here),
serialize/deserialize, registration, JSON and clones."""
import inspect
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkeras
from jkeras import (activations, constraints, initializers, layers, losses, metrics,
                    optimizers, regularizers)
from jkeras.optimizers import schedules
from jkeras.saving import (deserialize_keras_object, register_keras_serializable,
                           serialize_keras_object)

RNG = np.random.default_rng(0)

# Arguments for the classes that need some; every other public class is made with none.
# A new public class that cannot be made either way fails test_every_class_round_trips.
LAYER_ARGS = {
    "Activation": dict(activation="relu"), "Dense": dict(units=3, activation="tanh",
                                                        kernel_regularizer="l2"),
    "EinsumDense": dict(equation="ab,bc->ac", output_shape=4, bias_axes="c"),
    "Embedding": dict(input_dim=10, output_dim=3, mask_zero=True),
    "Lambda": dict(function=activations.get("relu")), "Rescaling": dict(scale=0.5, offset=1.0),
    "Conv1D": dict(filters=2, kernel_size=3, strides=2, padding="same"),
    "Conv2D": dict(filters=2, kernel_size=(3, 2), kernel_constraint="max_norm"),
    "Conv3D": dict(filters=2, kernel_size=3), "Conv1DTranspose": dict(filters=2, kernel_size=3),
    "Conv2DTranspose": dict(filters=2, kernel_size=3), "Conv3DTranspose": dict(filters=2,
                                                                               kernel_size=3),
    "DepthwiseConv1D": dict(kernel_size=3), "DepthwiseConv2D": dict(kernel_size=3,
                                                                     depth_multiplier=2),
    "SeparableConv1D": dict(filters=2, kernel_size=3), "SeparableConv2D": dict(filters=2,
                                                                               kernel_size=3),
    "SimpleRNN": dict(units=3), "LSTM": dict(units=3, return_sequences=True, dropout=0.1),
    "GRU": dict(units=3, go_backwards=True),
    "MultiHeadAttention": dict(num_heads=2, key_dim=3, dropout=0.1),
    "Dropout": dict(rate=0.5), "SpatialDropout1D": dict(rate=0.5),
    "SpatialDropout2D": dict(rate=0.5), "SpatialDropout3D": dict(rate=0.5),
    "GaussianNoise": dict(stddev=0.1), "GaussianDropout": dict(rate=0.1),
    "AlphaDropout": dict(rate=0.1), "Reshape": dict(target_shape=(2, 3)),
    "Permute": dict(dims=(2, 1)), "RepeatVector": dict(n=2), "Dot": dict(axes=1),
    "Concatenate": dict(axis=1), "MaxPooling2D": dict(pool_size=3, strides=1),
    "AveragePooling1D": dict(pool_size=2), "AveragePooling2D": dict(pool_size=2),
    "AveragePooling3D": dict(pool_size=2), "Cropping2D": dict(cropping=((1, 0), (0, 2))),
    "ZeroPadding2D": dict(padding=2), "UpSampling1D": dict(size=3),
    "BatchNormalization": dict(momentum=0.9, center=False),
    "GroupNormalization": dict(groups=2), "LeakyReLU": dict(negative_slope=0.1),
    "Bidirectional": lambda: dict(layer=layers.LSTM(3, return_sequences=True),
                                  merge_mode="sum"),
    "TimeDistributed": lambda: dict(layer=layers.Dense(3)),
    "RNN": lambda: dict(cell=layers.LSTMCell(3), return_sequences=True),
    "StackedRNNCells": lambda: dict(cells=[layers.LSTMCell(3), layers.GRUCell(2)]),
    "SimpleRNNCell": dict(units=3), "LSTMCell": dict(units=3, dropout=0.1),
    "GRUCell": dict(units=3), "ConvLSTMCell": dict(rank=2, filters=2, kernel_size=3),
    "ConvLSTM1D": dict(filters=2, kernel_size=3), "ConvLSTM2D": dict(filters=2, kernel_size=3),
    "ConvLSTM3D": dict(filters=2, kernel_size=3),
}
ABSTRACT = {"Layer", "Merge", "Recurrent", "Wrapper", "Optimizer", "Metric", "Loss",
            "LearningRateSchedule", "Initializer"}
OTHER_ARGS = {
    "LossFunctionWrapper": dict(fn=losses.mean_absolute_error, name="mae"),
    "LossScaleOptimizer": lambda: dict(inner_optimizer=optimizers.SGD(0.1),
                                       initial_scale=8.0),
    "MeanMetricWrapper": dict(fn=losses.mean_absolute_error, name="mae"),
    "ExponentialDecay": dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5),
    "InverseTimeDecay": dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5),
    "PiecewiseConstantDecay": dict(boundaries=[10, 20], values=[1.0, 0.5, 0.1]),
    "CosineDecay": dict(initial_learning_rate=0.1, decay_steps=100, warmup_target=0.2,
                        warmup_steps=5),
    "SGD": dict(learning_rate=0.1, momentum=0.9), "AUC": dict(num_thresholds=50, curve="PR"),
    "Precision": dict(thresholds=0.7), "TopKCategoricalAccuracy": dict(k=2),
    "Constant": dict(value=0.5), "RandomNormal": dict(stddev=0.1, seed=3),
    "MaxNorm": dict(max_value=3.0, axis=1), "L1L2": dict(l1=0.1, l2=0.2),
}


def _public_classes(module, base):
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    found = {}
    for name in names:
        obj = getattr(module, name)
        if inspect.isclass(obj) and issubclass(obj, base) and obj.__name__ == name:
            found[name] = obj
    return found


def _classes():
    found = {}
    found.update(_public_classes(layers, layers.Layer))
    found.update(_public_classes(optimizers, optimizers.Optimizer))
    found.update(_public_classes(schedules, schedules.LearningRateSchedule))
    found.update(_public_classes(metrics, metrics.Metric))
    found.update(_public_classes(initializers, initializers.Initializer))
    found.update(_public_classes(constraints, object))
    found.update({"L1L2": regularizers.L1L2})
    found.update({name: cls for name, cls in _public_classes(losses, object).items()
                  if hasattr(cls, "get_config")})
    return {n: c for n, c in found.items() if n not in ABSTRACT}


def _make(name, cls):
    args = LAYER_ARGS.get(name, OTHER_ARGS.get(name, {}))
    return cls(**(args() if callable(args) else args))


CLASSES = _classes()


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_every_class_round_trips(name):
    obj = _make(name, CLASSES[name])
    config = obj.get_config()
    again = type(obj).from_config(config)
    assert again.get_config() == config
    # and through JSON, in Keras' dict form
    data = json.loads(json.dumps(serialize_keras_object(obj)))
    assert data["class_name"] == name
    assert deserialize_keras_object(data).get_config() == config


def test_the_enumeration_sees_every_family():
    for name in ("Dense", "LSTM", "Adam", "ExponentialDecay", "AUC", "GlorotUniform",
                 "MaxNorm", "L1L2", "Bidirectional"):
        assert name in CLASSES


@pytest.mark.parametrize("name", sorted(activations.ALL))
def test_activations_save_by_name(name):
    fn = activations.get(name)
    saved = json.loads(json.dumps(serialize_keras_object(fn)))
    assert saved["config"] in activations.ALL and deserialize_keras_object(saved) is fn


def test_layer_configs_build_in_keras_and_back(keras):
    """Each jkeras layer's dict builds a Keras 3 layer; each such Keras layer's own dict
    builds a jkeras layer whose config matches ours again (units, kernels, activations...)."""
    checked = 0
    for name, cls in sorted(CLASSES.items()):
        if not issubclass(cls, layers.Layer) or not hasattr(keras.layers, name) or \
                name == "Lambda":
            continue
        ours = _make(name, cls)
        theirs = keras.saving.deserialize_keras_object(serialize_keras_object(ours))
        assert type(theirs).__name__ == name
        back = deserialize_keras_object(json.loads(json.dumps(
            keras.saving.serialize_keras_object(theirs))))
        assert type(back) is cls
        for key in ("units", "filters", "rate", "num_heads", "merge_mode", "momentum",
                    "return_sequences", "go_backwards", "axis", "n", "stddev"):
            if key in ours.get_config():
                assert back.get_config()[key] == ours.get_config()[key], (name, key)
        checked += 1
    assert checked > 60


def test_keras_only_arguments_refused_when_on():
    config = layers.BatchNormalization().get_config()
    layers.BatchNormalization.from_config({**config, "renorm": False, "synchronized": False})
    with pytest.raises(ValueError, match="renorm=True.*BatchNormalization"):
        layers.BatchNormalization.from_config({**config, "renorm": True})


def test_unknown_classes_are_refused_without_import():
    for module, name in (("os", "system"), ("subprocess", "Popen"), ("builtins", "eval"),
                         ("my_evil_package", "Layer")):
        with pytest.raises(ValueError, match=f"{module}.{name}.*not a jkeras class"):
            deserialize_keras_object({"module": module, "class_name": name, "config": {},
                                      "registered_name": None})
    with pytest.raises(ValueError, match="bytecode"):
        deserialize_keras_object({"class_name": "__lambda__",
                                  "config": {"code": "YWJj", "defaults": None}})


def test_registered_and_custom_objects():
    @register_keras_serializable(package="tests")
    class Doubler(layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, params, state, x, *, training=False, rng=None):
            return x * self.factor, state

    saved = serialize_keras_object(Doubler(3.0, name="dbl"))
    assert saved["registered_name"] == "tests>Doubler"
    again = deserialize_keras_object(saved)
    assert again.factor == 3.0 and again.name == "dbl"
    np.testing.assert_allclose(again(jnp.ones(2)), [3.0, 3.0])

    class Halver(layers.Layer):
        def call(self, params, state, x, *, training=False, rng=None):
            return x / 2, state

    # Unregistered, it is saved in Keras' form and comes back only through custom_objects.
    data = serialize_keras_object(Halver(name="h"))
    assert (data["module"], data["class_name"], data["registered_name"]) == (
        __name__, "Halver", "Halver")
    with pytest.raises(ValueError, match="custom_objects"):
        deserialize_keras_object(data)
    assert isinstance(deserialize_keras_object(data, custom_objects={"Halver": Halver}), Halver)


def test_custom_activation_function_by_name():
    def scaled_tanh(x):
        return 2 * jnp.tanh(x)
    register_keras_serializable(package="tests")(scaled_tanh)
    d = layers.Dense(2, activation=scaled_tanh)
    again = layers.Dense.from_config(json.loads(json.dumps(d.get_config())))
    assert again.activation is scaled_tanh


def _functional():
    x = jkeras.Input((6,), name="features")
    shared = layers.Dense(4, activation="relu", name="shared")
    a, b = shared(x), shared(layers.Dense(6, name="pre")(x))
    inner = jkeras.Sequential([jkeras.Input((8,)), layers.Dense(3), layers.BatchNormalization()],
                              name="inner")
    out = inner(layers.Concatenate()([a, b]))
    return jkeras.Model(x, [out, layers.Dense(1, name="score")(a)], name="two_heads")


def test_to_json_and_model_from_json_rebuild_the_graph():
    model = _functional()
    again = jkeras.models.model_from_json(model.to_json())
    assert json.loads(again.to_json()) == json.loads(model.to_json())
    again.set_weights(model.get_weights())
    x = RNG.standard_normal((5, 6)).astype("float32")
    for got, want in zip(again.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_array_equal(got, want)
    assert [w.path for w in again.weights] == [w.path for w in model.weights]


def test_clone_model_fresh_weights_same_structure():
    seq = jkeras.Sequential([layers.Dense(3, input_dim=4), layers.Dropout(0.2), layers.Dense(2)])
    for model in (seq, _functional()):
        clone = jkeras.models.clone_model(model)
        assert clone is not model and clone.count_params() == model.count_params()
        assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
        assert clone.get_config() == model.get_config()


def test_functional_config_matches_keras_layer_order(keras):
    """The same graph built in Keras lists its layers in the same order (Keras names its
    weight-file groups by this order)."""
    x = keras.Input((6,), name="features")
    shared = keras.layers.Dense(4, activation="relu", name="shared")
    a, b = shared(x), shared(keras.layers.Dense(6, name="pre")(x))
    inner = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3),
                              keras.layers.BatchNormalization()], name="inner")
    out = inner(keras.layers.Concatenate()([a, b]))
    k = keras.Model(x, [out, keras.layers.Dense(1, name="score")(a)])
    names = lambda config: [entry["config"]["name"] for entry in config["layers"]]
    k_config = k.get_config()
    assert names(_functional().get_config())[:4] == names(k_config)[:4]
    assert [e["class_name"] for e in _functional().get_config()["layers"]] == [
        e["class_name"] for e in k_config["layers"]]


def test_unbuildable_config_errors_name_the_problem():
    with pytest.raises(ValueError, match="nested more than"):
        deep = {}
        node = deep
        for _ in range(10_000):
            node["a"] = {}
            node = node["a"]
        deserialize_keras_object(deep)
