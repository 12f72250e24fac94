"""``python -m jkeras.serve``: TF Serving's REST API, checked with a real HTTP client against
a server subprocess on a free loopback port (batching on); answers are compared with
``model.predict``. The no-batching path and the single-input row format run in process."""
import asyncio
import json
import os
import socket
import subprocess
import sys
import time

import httpx
import jax.numpy as jnp
import numpy as np
import pytest

import jkeras
from jkeras import layers, serve

RNG = np.random.default_rng(0)
NAME = "two"
CLASSES = {"predict_classes": lambda o: {"classes": jnp.argmax(o["class_scores"], -1)}}


def _model():
    a, b = jkeras.Input(shape=(5,), name="images"), jkeras.Input(shape=(3,), name="meta")
    h = layers.Concatenate()([layers.Dense(4, activation="relu", name="hidden")(a), b])
    return jkeras.Model([a, b], [layers.Dense(3, activation="softmax", name="class_scores")(h),
                                 layers.Dense(1, name="value")(h)])


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    jkeras.utils.clear_session()
    model = _model()
    base = tmp_path_factory.mktemp("models")
    serve.save(model, base / "1", signatures=CLASSES)
    port = _free_port()
    log = open(base.parent / "server.log", "w+")
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(jkeras.__file__))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jkeras.serve", "--model_base_path", str(base), "--model_name",
         NAME, "--rest_api_port", str(port), "--enable_batching", "--batch_timeout_micros",
         "5000", "--file_system_poll_wait_seconds", "0.2"], stdout=log, stderr=log, env=env)
    url = f"http://127.0.0.1:{port}/v1/models/{NAME}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"the server did not start:\n{log.read()}")
            time.sleep(0.2)
        yield {"url": url, "model": model, "base": base}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _latest(server):
    return str(max(int(n) for n in os.listdir(server["base"]) if n.isdigit()))


def _rows(batch):
    return RNG.normal(size=(batch, 5)).astype("float32"), RNG.normal(size=(batch, 3)).astype(
        "float32")


def test_model_status(server):
    version = _latest(server)
    for url in (server["url"], f"{server['url']}/versions/{version}"):
        reply = httpx.get(url)
        assert reply.status_code == 200
        assert reply.json() == {"model_version_status": [{
            "version": version, "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""}}]}


def test_metadata(server):
    reply = httpx.get(f"{server['url']}/metadata").json()
    assert reply["model_spec"]["name"] == NAME
    sigs = reply["metadata"]["signature_def"]["signature_def"]
    default = sigs["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    dims = lambda t: [int(d["size"]) for d in t["tensor_shape"]["dim"]]
    assert {k: (v["dtype"], dims(v)) for k, v in default["inputs"].items()} == {
        "images": ("DT_FLOAT", [-1, 5]), "meta": ("DT_FLOAT", [-1, 3])}
    assert {k: (v["dtype"], dims(v)) for k, v in default["outputs"].items()} == {
        "class_scores": ("DT_FLOAT", [-1, 3]), "value": ("DT_FLOAT", [-1, 1])}
    assert {k: v["dtype"] for k, v in sigs["predict_classes"]["outputs"].items()} == {
        "classes": "DT_INT32"}


def test_predict_rows_and_columns(server):
    images, meta = _rows(4)
    scores, value = server["model"].predict([images, meta], verbose=0)
    rows = httpx.post(f"{server['url']}:predict", json={"instances": [
        {"images": i.tolist(), "meta": m.tolist()} for i, m in zip(images, meta)]})
    assert rows.status_code == 200
    predictions = rows.json()["predictions"]
    np.testing.assert_allclose([p["class_scores"] for p in predictions], scores, atol=1e-6)
    np.testing.assert_allclose([p["value"] for p in predictions], value, atol=1e-6)
    columns = httpx.post(f"{server['url']}/versions/{_latest(server)}:predict", json={
        "inputs": {"images": images.tolist(), "meta": meta.tolist()}}).json()["outputs"]
    np.testing.assert_allclose(columns["class_scores"], scores, atol=1e-6)
    np.testing.assert_allclose(columns["value"], value, atol=1e-6)
    classes = httpx.post(f"{server['url']}:predict", json={
        "signature_name": "predict_classes",
        "inputs": {"images": images.tolist(), "meta": meta.tolist()}}).json()["outputs"]
    assert classes == np.argmax(scores, -1).tolist()


@pytest.mark.parametrize("path,body,status,message", [
    (":predict", b"{not json", 400, "JSON"),
    (":predict", {"instances": [], "inputs": {}}, 400, "exactly one of"),
    (":predict", {"signature_name": "serving_default"}, 400, "exactly one of"),
    (":predict", {"inputs": {"images": [[1.0] * 4], "meta": [[1.0] * 3]}}, 400, "shape [-1, 5]"),
    (":predict", {"inputs": {"images": [["a"] * 5], "meta": [[1.0] * 3]}}, 400, "float32"),
    (":predict", {"inputs": {"images": [[1.0] * 5] * 2, "meta": [[1.0] * 3]}}, 400,
     "inconsistent batch size"),
    (":predict", {"instances": [{"images": [1.0] * 5}]}, 400, "meta"),
    (":predict", {"signature_name": "nope", "inputs": {}}, 404, "nope"),
    ("/versions/99:predict", {"inputs": {}}, 404, f"Specific({NAME}, 99)"),
    ("/versions/99", None, 404, f"Specific({NAME}, 99)"),
])
def test_errors_as_tf_serving_gives_them(server, path, body, status, message):
    url = f"{server['url']}{path}"
    if body is None:
        reply = httpx.get(url)
    else:
        reply = httpx.post(url, content=body if isinstance(body, bytes) else json.dumps(body))
    assert reply.status_code == status
    assert message in reply.json()["error"]
    # ... and the server is still up and right.
    images, meta = _rows(1)
    ok = httpx.post(f"{server['url']}:predict", json={"inputs": {"images": images.tolist(),
                                                                 "meta": meta.tolist()}})
    np.testing.assert_allclose(ok.json()["outputs"]["value"],
                               server["model"].predict([images, meta], verbose=0)[1], atol=1e-6)


def test_unknown_model_is_404(server):
    reply = httpx.post(server["url"].replace(NAME, "other") + ":predict", json={"inputs": []})
    assert reply.status_code == 404 and "Latest(other)" in reply.json()["error"]


def test_200_concurrent_requests(server):
    images, meta = _rows(200)
    scores, value = server["model"].predict([images, meta], verbose=0)

    async def all_requests():
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            return await asyncio.gather(*[client.post(f"{server['url']}:predict", json={
                "instances": [{"images": images[i].tolist(), "meta": meta[i].tolist()}]})
                for i in range(200)])
    replies = asyncio.run(all_requests())
    assert [r.status_code for r in replies] == [200] * 200
    got = [r.json()["predictions"][0] for r in replies]
    np.testing.assert_allclose([g["class_scores"] for g in got], scores, atol=1e-6)
    np.testing.assert_allclose([g["value"] for g in got], value, atol=1e-6)


def test_a_new_version_is_picked_up(server, tmp_path):
    # The same weights with one more signature: other tests' answers stay right meanwhile.
    version = int(_latest(server)) + 1
    serve.save(server["model"], tmp_path / "v", signatures={
        **CLASSES, "value_only": lambda o: {"value": o["value"]}})
    os.rename(tmp_path / "v", server["base"] / str(version))
    deadline = time.monotonic() + 60
    while httpx.get(server["url"]).json()["model_version_status"][0]["version"] != str(version):
        assert time.monotonic() < deadline, "the new version was not picked up"
        time.sleep(0.2)
    sigs = httpx.get(f"{server['url']}/metadata").json()["metadata"]["signature_def"]
    assert "value_only" in sigs["signature_def"]


def test_in_process_without_batching_single_input_rows(tmp_path):
    from jkeras._serving.repository import Repository
    from jkeras._serving.rest import make_app
    model = jkeras.Sequential([layers.Dense(3, input_dim=2, name="scores")])
    serve.save(model, tmp_path / "7")
    repository = Repository(str(tmp_path), "mlp")
    repository.refresh()
    x = RNG.normal(size=(3, 2)).astype("float32")

    async def requests():
        transport = httpx.ASGITransport(app=make_app(repository))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return [await client.post("/v1/models/mlp:predict", json=body) for body in (
                {"instances": x.tolist()}, {"inputs": x.tolist()},
                {"instances": [{"input_0": r} for r in x.tolist()]})]
    rows, columns, named = asyncio.run(requests())
    want = model.predict(x, verbose=0)
    np.testing.assert_allclose(rows.json()["predictions"], want, atol=1e-6)
    np.testing.assert_allclose(columns.json()["outputs"], want, atol=1e-6)
    np.testing.assert_allclose(named.json()["predictions"], want, atol=1e-6)


def test_without_the_web_stack_the_error_names_the_extra(tmp_path, monkeypatch):
    from jkeras._serving import cli
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(ImportError, match=r"jkeras\[serve\]"):
        cli.main(["--model_base_path", str(tmp_path), "--model_name", "m"])
