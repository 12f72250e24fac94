"""jkeras.serve: the TF-free artifact (save/load) and the SavedModel for TF Serving.

Every served model is compared with ``model.predict`` (and the BN+Dropout one with the
inference formula in NumPy, so "frozen" is checked independently); the SavedModel's
structure is read back through TensorFlow's own loader and protobufs.
"""
import json
import os
import shutil
import subprocess
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkeras
from jkeras import layers, serve
from jkeras._serving.signature import Inference, input_infos

RNG = np.random.default_rng(0)


def _two_in_two_out():
    a, b = jkeras.Input(shape=(5,), name="images"), jkeras.Input(shape=(3,), name="meta")
    h = layers.Concatenate()([layers.Dense(4, activation="relu", name="hidden")(a), b])
    return jkeras.Model([a, b], [layers.Dense(3, activation="softmax", name="class_scores")(h),
                                 layers.Dense(1, name="value")(h)])


def _lstm():
    x = jkeras.Input(shape=(None, 4), name="sequence")
    return jkeras.Model(x, layers.Dense(2, name="logits")(layers.LSTM(5)(x)))


def _bn_dropout():
    model = jkeras.Sequential([layers.Dense(8, input_dim=4, name="dense"),
                               layers.BatchNormalization(name="bn"), layers.Dropout(0.5),
                               layers.Dense(2, name="out")])
    model.compile("sgd", "mse")
    x = np.random.default_rng(1).normal(3.0, 2.0, (32, 4)).astype("float32")
    model.fit(x, np.zeros((32, 2)), epochs=1, batch_size=8, verbose=0)  # moves the BN statistics
    return model


def _inputs(kind, batch, length=3):
    r = np.random.default_rng(batch + length)
    f = lambda *s: r.normal(size=(batch, *s)).astype("float32")
    return {"mlp": lambda: (f(6),), "cnn": lambda: (f(8, 8, 1),), "lstm": lambda: (f(length, 4),),
            "two": lambda: ([f(5), f(3)],), "bn": lambda: (f(4),)}[kind]()


@pytest.fixture(scope="module")
def models():
    jkeras.utils.clear_session()
    return {
        "mlp": jkeras.Sequential([layers.Dense(16, activation="relu", input_dim=6),
                                  layers.Dense(3, activation="softmax", name="scores")]),
        "cnn": jkeras.Sequential([jkeras.Input(shape=(8, 8, 1)),
                                  layers.Conv2D(4, 3, strides=2, padding="same",
                                                activation="relu"),
                                  layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(3)]),
        "lstm": _lstm(), "two": _two_in_two_out(), "bn": _bn_dropout()}


def _named(model, args):
    leaves = jax.tree_util.tree_leaves(args)
    names = [t.name for t in input_infos(model)[0]]
    return dict(zip(names, leaves))


def _bn_reference(model, x):
    """Inference-mode Dense -> BatchNorm (moving statistics) -> (no dropout) -> Dense."""
    p, s = model.params, model.state
    h = x @ np.asarray(p["dense"]["kernel"]) + np.asarray(p["dense"]["bias"])
    h = (h - np.asarray(s["bn"]["moving_mean"])) / np.sqrt(np.asarray(s["bn"]["moving_variance"])
                                                           + 1e-3)
    h = h * np.asarray(p["bn"]["gamma"]) + np.asarray(p["bn"]["beta"])
    return h @ np.asarray(p["out"]["kernel"]) + np.asarray(p["out"]["bias"])


CASES = [(k, b, n) for k in ("mlp", "cnn", "two", "bn") for b in (1, 7, 0) for n in (3,)] + \
        [("lstm", b, n) for b in (1, 7, 0) for n in (3, 6)]


def _expected(model, kind, args):
    batch = jax.tree_util.tree_leaves(args)[0].shape[0]
    if batch == 0:  # predict has no empty batches: shapes from a one-row call
        one = jax.tree_util.tree_map(lambda a: np.zeros((1, *a.shape[1:]), a.dtype), args)
        return jax.tree_util.tree_map(lambda o: o[:0], model.predict(*one, verbose=0))
    out = model.predict(*args, verbose=0)
    if kind == "bn":
        np.testing.assert_allclose(out, _bn_reference(model, args[0]), atol=1e-4)
    return out


def _check(got, want):
    got, want = jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(np.asarray(g), w, atol=1e-5)


# -- the TF-free artifact ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def artifacts(models, tmp_path_factory):
    base = tmp_path_factory.mktemp("artifacts")
    with jkeras.training_mode(True):  # the export is frozen whatever the global default
        return {k: serve.load(serve.save(m, base / k)) for k, m in models.items()}


@pytest.mark.parametrize("kind,batch,length", CASES)
def test_artifact_equals_predict(models, artifacts, kind, batch, length):
    args = _inputs(kind, batch, length)
    want = _expected(models[kind], kind, args)
    _check(artifacts[kind](*args), want)
    if batch == 7:  # the named form the REST server calls
        named = artifacts[kind].signatures["serving_default"](_named(models[kind], args))
        _check([named[t.name] for t in artifacts[kind].signatures["serving_default"].outputs],
               want)


def test_artifact_runs_under_jit(models, artifacts):
    args = _inputs("two", 7)
    _check(jax.jit(artifacts["two"])(*args), models["two"].predict(*args, verbose=0))


def test_artifact_manifest(artifacts):
    manifest = json.load(open(os.path.join(artifacts["two"].path, "manifest.json")))
    sig = manifest["signatures"]["serving_default"]
    assert sig["inputs"] == [{"name": "images", "dtype": "float32", "shape": [None, 5]},
                             {"name": "meta", "dtype": "float32", "shape": [None, 3]}]
    assert sig["outputs"] == [{"name": "class_scores", "dtype": "float32", "shape": [None, 3]},
                              {"name": "value", "dtype": "float32", "shape": [None, 1]}]
    assert manifest["jax_version"] == jax.__version__ and manifest["platforms"] == ["cpu"]
    lstm = json.load(open(os.path.join(artifacts["lstm"].path, "manifest.json")))
    assert lstm["signatures"]["serving_default"]["inputs"][0]["shape"] == [None, None, 4]
    assert sorted(os.listdir(artifacts["mlp"].path)) == [
        "manifest.json", "serving_default.jax_exported", "weights.npz"]


def test_artifact_extra_signature_and_platforms(models, tmp_path):
    path = serve.save(models["two"], tmp_path / "m", platforms=("cpu", "cuda"), signatures={
        "predict_classes": lambda o: {"classes": jnp.argmax(o["class_scores"], -1)}})
    served = serve.load(path)
    args = _inputs("two", 7)
    classes = served.call("predict_classes", *args)["classes"]
    scores = models["two"].predict(*args, verbose=0)[0]
    np.testing.assert_array_equal(classes, np.argmax(scores, -1))
    assert served.manifest["platforms"] == ["cpu", "cuda"]
    with pytest.raises(KeyError, match="no signature 'nope'"):
        served.call("nope", *args)


def _corrupt(path, edit):
    manifest_file = os.path.join(path, "manifest.json")
    manifest = json.load(open(manifest_file))
    edit(manifest)
    with open(manifest_file, "w") as f:
        json.dump(manifest, f)


@pytest.mark.parametrize("edit,match", [
    (lambda m: m.update(format_version=2), "format_version 2"),
    (lambda m: m.update(format="other"), "not a jkeras.serve manifest"),
    (lambda m: m["signatures"]["serving_default"]["inputs"][0].update(name="x"), "input names"),
    (lambda m: m["signatures"]["serving_default"].update(
        outputs=[{**t, "name": t["name"][0]}
                 for t in m["signatures"]["serving_default"]["outputs"]],
        structure=["c", "v"]), "output names"),
    (lambda m: m["signatures"]["serving_default"].update(structure=["value"]), "structure"),
    (lambda m: m["signatures"]["serving_default"]["inputs"][0].update(shape=[None, 4]), "inputs"),
    (lambda m: m["signatures"]["serving_default"]["outputs"][0].update(dtype="int32"), "outputs"),
    (lambda m: m["signatures"].pop("serving_default"), "no 'serving_default'"),
])
def test_load_refuses_a_manifest_that_does_not_match(models, tmp_path, edit, match):
    path = serve.save(models["two"], tmp_path / "m")
    _corrupt(path, edit)
    with pytest.raises(ValueError, match=match) as err:
        serve.load(path)
    assert "manifest.json" in str(err.value)


def test_load_refuses_foreign_weights_and_blobs(models, tmp_path):
    a, b = serve.save(models["mlp"], tmp_path / "a"), serve.save(models["cnn"], tmp_path / "b")
    shutil.copy(os.path.join(b, "weights.npz"), os.path.join(a, "weights.npz"))
    with pytest.raises(ValueError, match="weights file does not match"):
        serve.load(a)
    with open(os.path.join(b, "serving_default.jax_exported"), "wb") as f:
        f.write(b"not a module")
    with pytest.raises(ValueError, match="serving_default.jax_exported"):
        serve.load(b)


def test_save_never_overwrites(models, tmp_path):
    path = serve.save(models["mlp"], tmp_path / "1")
    before = open(os.path.join(path, "weights.npz"), "rb").read()
    with pytest.raises(FileExistsError, match="never overwrite"):
        serve.save(models["cnn"], tmp_path / "1")
    assert open(os.path.join(path, "weights.npz"), "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == ["1"]  # no temporary directory left behind


CHILD = """
import sys, numpy as np
import jkeras.serve
served = jkeras.serve.load(sys.argv[1])
np.save(sys.argv[2], np.asarray(served(np.load(sys.argv[3]))))
heavy = sorted(m for m in ("tensorflow", "starlette", "uvicorn") if m in sys.modules)
assert not heavy, heavy
"""


class _Custom(jkeras.Model):  # not importable by the child process
    def __init__(self):
        super().__init__()
        self.a, self.b = layers.Dense(4, activation="tanh"), layers.Dense(2)

    def call(self, x):
        return self.b(self.a(x)) * 3.0


def test_loads_without_the_model_code_or_tensorflow(tmp_path):
    model = _Custom()
    x = RNG.normal(size=(5, 3)).astype("float32")
    want = model.predict(x, verbose=0)
    path = serve.save(model, tmp_path / "m")
    # A subclassed model names nothing: output_0 (its last layer is not its output).
    assert [t.name for t in serve.load(path).signatures["serving_default"].outputs] == [
        "output_0"]
    np.save(tmp_path / "x.npy", x)
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(jkeras.__file__))}
    subprocess.run([sys.executable, "-c", CHILD, path, tmp_path / "y.npy", tmp_path / "x.npy"],
                   check=True, env=env, cwd=tmp_path, timeout=120)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, atol=1e-6)


# -- the SavedModel for TensorFlow Serving -------------------------------------------------------
@pytest.fixture(scope="module")
def tf():
    import tensorflow
    return tensorflow


@pytest.fixture(scope="module")
def saved(models, tf, tmp_path_factory):
    base = tmp_path_factory.mktemp("saved")
    extra = {"predict_classes": lambda o: {"classes": jnp.argmax(o["class_scores"], -1)}}
    with jkeras.training_mode(True):
        paths = {k: serve.export_saved_model(m, base / k, signatures=extra if k == "two" else None)
                 for k, m in models.items()}
    return {k: (p, tf.saved_model.load(p)) for k, p in paths.items()}


@pytest.mark.parametrize("kind,batch,length", CASES)
def test_saved_model_equals_predict(models, saved, tf, kind, batch, length):
    args = _inputs(kind, batch, length)
    fn = saved[kind][1].signatures["serving_default"]
    out = fn(**{k: tf.constant(v) for k, v in _named(models[kind], args).items()})
    want = _expected(models[kind], kind, args)
    names = [t.name for t in Inference(models[kind]).outputs["serving_default"]]
    _check([out[n].numpy() for n in names], want)


def test_saved_model_structure(saved, models, tf):
    from tensorflow.core.protobuf import saved_model_pb2
    path = saved["two"][0]
    assert os.path.basename(path) == "1"
    assert {"saved_model.pb", "variables"} <= set(os.listdir(path))
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(open(os.path.join(path, "saved_model.pb"), "rb").read())
    (graph,) = proto.meta_graphs
    assert list(graph.meta_info_def.tags) == ["serve"]
    sigs = graph.signature_def
    assert set(sigs) == {"serving_default", "predict_classes", "__saved_model_init_op"}
    default = sigs["serving_default"]
    assert default.method_name == sigs["predict_classes"].method_name == \
        "tensorflow/serving/predict"
    shape = lambda t: [d.size for d in t.tensor_shape.dim]
    assert {k: (tf.dtypes.as_dtype(v.dtype).name, shape(v)) for k, v in default.inputs.items()} \
        == {"images": ("float32", [-1, 5]), "meta": ("float32", [-1, 3])}
    assert {k: shape(v) for k, v in default.outputs.items()} == {
        "class_scores": [-1, 3], "value": [-1, 1]}
    assert {k: tf.dtypes.as_dtype(v.dtype).name
            for k, v in sigs["predict_classes"].outputs.items()} == {"classes": "int32"}
    lstm = saved["lstm"][1].signatures["serving_default"].structured_input_signature[1]
    assert lstm["sequence"].shape.as_list() == [None, None, 4]
    # The weights are variables (variables/), not constants in saved_model.pb.
    stored = sorted(tuple(s) for _, s in tf.train.list_variables(os.path.join(path, "variables",
                                                                              "variables"))
                    if s)
    assert stored == sorted(tuple(w.shape) for w in models["two"].weights)


def test_saved_model_extra_signature_and_batch_check(saved, models, tf):
    loaded = saved["two"][1]
    args = _inputs("two", 7)
    named = {k: tf.constant(v) for k, v in _named(models["two"], args).items()}
    classes = loaded.signatures["predict_classes"](**named)["classes"].numpy()
    scores = models["two"].predict(*args, verbose=0)[0]
    np.testing.assert_array_equal(classes, np.argmax(scores, -1))
    with pytest.raises(tf.errors.InvalidArgumentError, match="inconsistent batch sizes"):
        loaded.signatures["serving_default"](images=named["images"][:2], meta=named["meta"][:3])


def test_saved_model_versions_and_atomic_writes(models, tf, tmp_path, monkeypatch):
    assert serve.export_saved_model(models["mlp"], tmp_path).endswith(os.sep + "1")
    assert serve.export_saved_model(models["mlp"], tmp_path).endswith(os.sep + "2")
    with pytest.raises(FileExistsError):
        serve.export_saved_model(models["cnn"], tmp_path, version=2)

    def killed(module, path, signatures):
        os.makedirs(os.path.join(path, "variables"))
        raise OSError("disk full")
    monkeypatch.setattr(tf.saved_model, "save", killed)
    with pytest.raises(OSError, match="disk full"):
        serve.export_saved_model(models["mlp"], tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["1", "2"]


def test_saved_model_for_cpu_and_cuda_without_deprecation(models, tf, tmp_path):
    from tensorflow.core.protobuf import saved_model_pb2
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        path = models["mlp"].export(str(tmp_path / "m"), format="tf_saved_model",
                                    platforms=("cpu", "cuda"))
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(open(os.path.join(path, "saved_model.pb"), "rb").read())
    platforms = {tuple(n.attr["platforms"].list.s) for f in proto.meta_graphs[0].graph_def
                 .library.function for n in f.node_def if n.op == "XlaCallModule"}
    assert platforms == {(b"CPU", b"CUDA")}
    x = _inputs("mlp", 7)[0]
    out = tf.saved_model.load(path).signatures["serving_default"](input_0=tf.constant(x))
    np.testing.assert_allclose(out["scores"].numpy(), models["mlp"].predict(x, verbose=0),
                               atol=1e-5)


def test_rest_server_serves_a_saved_model(saved, models):
    import asyncio
    import httpx
    from jkeras._serving.repository import Repository
    from jkeras._serving.rest import make_app
    repository = Repository(os.path.dirname(saved["two"][0]), "two")
    repository.refresh()
    args = _inputs("two", 2)
    body = {"inputs": {k: v.tolist() for k, v in _named(models["two"], args).items()}}

    async def requests():
        transport = httpx.ASGITransport(app=make_app(repository))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return (await client.post("/v1/models/two:predict", json=body),
                    await client.post("/v1/models/two:predict", json={
                        "inputs": {"images": [[0] * 5], "meta": [[0] * 3] * 2}}))
    reply, bad = asyncio.run(requests())
    want = models["two"].predict(*args, verbose=0)
    np.testing.assert_allclose(reply.json()["outputs"]["class_scores"], want[0], atol=1e-5)
    np.testing.assert_allclose(reply.json()["outputs"]["value"], want[1], atol=1e-5)
    assert bad.status_code == 400 and "inconsistent batch size" in bad.json()["error"]


def test_export_without_tensorflow_names_the_extra(models, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(ImportError, match=r"jkeras\[export\]"):
        serve.export_saved_model(models["mlp"], tmp_path)
    assert not os.listdir(tmp_path)
