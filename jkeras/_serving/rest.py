"""TF Serving's REST API (``/v1/models/...``) as a Starlette app over a :class:`Repository`.

Request and response bodies follow TF Serving's JSON contract: ``instances`` (rows) in,
``predictions`` out; ``inputs`` (columns) in, ``outputs`` out; errors as ``{"error": ...}``
with TF Serving's HTTP statuses (400 bad request, 404 unknown model/version/signature).
"""
import json
import re

import numpy as np

from .signature import DEFAULT_SIGNATURE

try:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response
    from starlette.routing import Route
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("the REST server needs Starlette and Uvicorn: pip install "
                      f"'jkeras[serve]'. ({err})") from None

_PATH = re.compile(r"^(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                   r"(?P<tail>/metadata|:predict|:classify|:regress)?$")


class RequestError(Exception):
    """A bad request: answered with ``{"error": message}`` and ``status``."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def _json(body, status=200):
    return Response(json.dumps(body, allow_nan=True), status, media_type="application/json")


def _tensor(value, info):
    """A JSON value as an array of the input's dtype and shape, or a RequestError."""
    try:
        array = np.asarray(value)
    except ValueError:
        raise RequestError(f"input {info.name!r}: values are not a rectangular tensor") from None
    kind = info.dtype.kind
    ok = array.dtype.kind in {"f": "biuf", "i": "biu", "u": "biu", "b": "b"}.get(kind, "") \
        or array.size == 0
    if not ok:
        raise RequestError(f"input {info.name!r} expects {info.dtype.name} values, got "
                           f"{array.dtype.kind == 'O' and 'ragged lists' or array.dtype.name}")
    if array.ndim != len(info.shape) or any(
            d is not None and d != g for d, g in zip(info.shape[1:], array.shape[1:])):
        raise RequestError(f"input {info.name!r} expects shape "
                           f"{[-1 if d is None else d for d in info.shape]}, got "
                           f"{list(array.shape)}")
    return array.astype(info.dtype)


def _decode(body, signature):
    """``(named arrays, row_format)`` from a predict request body."""
    rows, columns = "instances" in body, "inputs" in body
    if rows == columns:
        raise RequestError("the request must have exactly one of 'instances' (row format) "
                           "or 'inputs' (columnar format)")
    infos = signature.inputs
    names = [t.name for t in infos]
    if rows:
        instances = body["instances"]
        if not isinstance(instances, list):
            raise RequestError("'instances' must be a list (one entry per example)")
        if instances and all(isinstance(i, dict) for i in instances):
            for i, instance in enumerate(instances):
                if sorted(instance) != sorted(names):
                    raise RequestError(f"instance {i} has inputs {sorted(instance)}; the "
                                       f"signature takes {names}")
            values = {n: [i[n] for i in instances] for n in names}
        elif len(names) == 1:
            values = {names[0]: instances}
        else:
            raise RequestError(f"the signature takes several inputs {names}: each instance "
                               "must be an object naming them")
    else:
        inputs = body["inputs"]
        if isinstance(inputs, dict):
            if sorted(inputs) != sorted(names):
                raise RequestError(f"'inputs' has {sorted(inputs)}; the signature takes {names}")
            values = inputs
        elif len(names) == 1:
            values = {names[0]: inputs}
        else:
            raise RequestError(f"the signature takes several inputs {names}: 'inputs' must "
                               "be an object naming them")
    arrays = {t.name: _tensor(values[t.name], t) for t in infos}
    batches = {a.shape[0] for a in arrays.values()}
    if len(batches) > 1:
        raise RequestError("input tensors have inconsistent batch size: "
                           + ", ".join(f"{n}: {a.shape[0]}" for n, a in arrays.items()))
    return arrays, rows


def _encode(outputs, signature, rows):
    names = [t.name for t in signature.outputs]
    outputs = {n: np.asarray(outputs[n]) for n in names}
    if not rows:
        return {"outputs": outputs[names[0]].tolist() if len(names) == 1
                else {n: o.tolist() for n, o in outputs.items()}}
    if len(names) == 1:
        return {"predictions": outputs[names[0]].tolist()}
    if len({o.shape[0] if o.ndim else None for o in outputs.values()}) != 1:
        raise RequestError("outputs have inconsistent batch size; use the columnar format "
                           "('inputs')")
    columns = {n: o.tolist() for n, o in outputs.items()}
    return {"predictions": [{n: columns[n][i] for n in names}
                            for i in range(len(columns[names[0]]))]}


def _metadata(name, version, signatures):
    def tensors(infos):
        return {t.name: {"dtype": "DT_" + _TF_DTYPES.get(t.dtype.name, t.dtype.name.upper()),
                         "tensor_shape": {"dim": [{"size": str(-1 if d is None else d),
                                                   "name": ""} for d in t.shape],
                                          "unknown_rank": False},
                         "name": t.name} for t in infos}
    return {"model_spec": {"name": name, "signature_name": "", "version": str(version)},
            "metadata": {"signature_def": {"signature_def": {
                sig_name: {"inputs": tensors(sig.inputs), "outputs": tensors(sig.outputs),
                           "method_name": "tensorflow/serving/predict"}
                for sig_name, sig in signatures.items()}}}}


_TF_DTYPES = {"float32": "FLOAT", "float64": "DOUBLE", "float16": "HALF", "int32": "INT32",
              "int64": "INT64", "uint8": "UINT8", "int8": "INT8", "bool": "BOOL",
              "bfloat16": "BFLOAT16"}


def make_app(repository, batcher=None):
    """The Starlette app serving ``repository``; ``batcher`` (a :class:`Batcher`) or None.

    >>> import jkeras, tempfile, os
    >>> from jkeras._serving.repository import Repository
    >>> base = tempfile.mkdtemp()
    >>> _ = jkeras.serve.save(jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)]),
    ...                       os.path.join(base, "1"))
    >>> app = make_app(Repository(base, "m"))
    """

    async def run(signature, arrays):
        if batcher is not None:
            return await batcher(signature, arrays)
        return await run_in_threadpool(signature, arrays)

    async def endpoint(request):
        try:
            match = _PATH.match(request.path_params["rest"])
            if not match:
                raise RequestError(f"Malformed request: {request.method} {request.url.path}",
                                   404)
            if match["name"] != repository.name:
                raise RequestError(f"Servable not found for request: Latest({match['name']})",
                                   404)
            if match["label"] is not None:
                raise RequestError(f"Unknown version label {match['label']!r}: this server "
                                   "has no version labels", 404)
            tail = match["tail"] or ""
            version = None if match["version"] is None else int(match["version"])
            try:
                version, signatures = repository.get(version)
            except KeyError as err:
                raise RequestError(err.args[0], 404) from None
            if request.method == "GET":
                if tail == "/metadata":
                    return _json(_metadata(repository.name, version, signatures))
                if tail:
                    raise RequestError(f"{tail[1:]} needs POST", 405)
                return _json({"model_version_status": [{
                    "version": str(version), "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""}}]})
            if tail != ":predict":
                raise RequestError(f"{tail[1:] or 'this path'} is not supported by this server "
                                   "(only :predict)", 501 if tail else 405)
            try:
                body = json.loads(await request.body())
            except ValueError as err:
                raise RequestError(f"JSON Parse error: {err}") from None
            if not isinstance(body, dict):
                raise RequestError("the request body must be a JSON object")
            name = body.get("signature_name", DEFAULT_SIGNATURE)
            if name not in signatures:
                raise RequestError(f"Serving signature name: {name!r} not found in signature "
                                   f"def; the model has {sorted(signatures)}", 404)
            arrays, rows = _decode(body, signatures[name])
            try:
                outputs = await run(signatures[name], arrays)
            except (ValueError, TypeError) as err:
                raise RequestError(f"the model rejected the inputs: {err}") from None
            return _json(_encode(outputs, signatures[name], rows))
        except RequestError as err:
            return _json({"error": str(err)}, err.status)
        except Exception as err:  # noqa: BLE001 - whatever a model raises, the server stays up
            if type(err).__name__ == "InvalidArgumentError":  # TensorFlow's, from a SavedModel
                return _json({"error": getattr(err, "message", str(err))}, 400)
            return _json({"error": f"{type(err).__name__}: {err}"}, 500)

    return Starlette(routes=[Route("/v1/models/{rest:path}", endpoint, methods=["GET", "POST"])])
