"""Serving: a model frozen in inference mode, as a TensorFlow Serving SavedModel (jax2tf) or
as a TF-free artifact (``jax.export`` StableHLO + weights + a JSON manifest), and a local
server speaking TF Serving's REST API (``python -m jkeras.serve --help``).

Inputs are named after the model's ``Input(name=...)`` and outputs after its output layers
(``input_0``/``output_0``-style names where the model gives none). The batch dimension is
symbolic, and so is any other dimension the model was built with as ``None``.
"""
import json
import os
import re
import shutil
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

from . import saving
from . import state as state_lib
from . import symbolic

FORMAT = "jkeras.serve"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.npz"
DEFAULT_SIGNATURE = "serving_default"
_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/]*$")  # what TF accepts as a tensor name


class TensorInfo:
    """A named input or output of a signature: its dtype and shape (``None`` where symbolic).

    >>> TensorInfo("images", "float32", (None, 784))
    TensorInfo('images', float32, (None, 784))
    """

    def __init__(self, name, dtype, shape):
        self.name, self.dtype = name, np.dtype(dtype)
        self.shape = tuple(None if d is None else int(d) for d in shape)

    def to_json(self):
        return {"name": self.name, "dtype": self.dtype.name, "shape": list(self.shape)}

    def __eq__(self, other):
        return isinstance(other, TensorInfo) and self.to_json() == other.to_json()

    def __repr__(self):
        return f"TensorInfo({self.name!r}, {self.dtype.name}, {self.shape})"


class Signature:
    """One servable function: named inputs to named outputs, over NumPy or JAX arrays.

    >>> import numpy as np
    >>> sig = Signature([TensorInfo("x", "float32", (None, 2))],
    ...                 [TensorInfo("y", "float32", (None, 2))], lambda xs: {"y": xs["x"] * 2})
    >>> sig({"x": np.ones((1, 2), np.float32)})["y"].tolist()
    [[2.0, 2.0]]
    """

    def __init__(self, inputs, outputs, fn):
        self.inputs, self.outputs, self._fn = tuple(inputs), tuple(outputs), fn

    def __call__(self, named):
        return self._fn(named)


# -- what a model looks like from outside --------------------------------------------------
def _is_shape(x):
    return isinstance(x, tuple) and all(d is None or isinstance(d, int) for d in x)


def _input_infos(model):
    """``(infos, treedef)``: the model's flattened inputs (names, dtypes, batch made symbolic)
    and the structure of its positional arguments."""
    if not getattr(model, "built", False) or model.input_shapes is None:
        raise ValueError(f"{model!r} is not built: call it on data or build() it before "
                         "exporting, so its input shapes are known.")
    from .models.functional import Functional
    args = (model.inputs,) if isinstance(model, Functional) else tuple(model.input_shapes)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(
        args, is_leaf=lambda t: isinstance(t, symbolic.KerasTensor) or _is_shape(t))
    infos = []
    for i, (path, leaf) in enumerate(leaves):
        keys = [str(k.key) for k in path if isinstance(k, jax.tree_util.DictKey)]
        if isinstance(leaf, symbolic.KerasTensor):
            name = leaf.name or ("/".join(keys) if keys else None)
            shape, dtype = leaf.shape, leaf.dtype
        else:
            name, shape, dtype = "/".join(keys) or None, leaf, "float32"
        if not shape:
            raise ValueError(f"{model!r}: input {i} is a scalar; served inputs need a batch "
                             "dimension")
        infos.append(TensorInfo(name or f"input_{i}", dtype, (None, *shape[1:])))
    _check_names(model, "input", [t.name for t in infos])
    return infos, treedef


def _output_names(model, outputs):
    leaves = jax.tree_util.tree_flatten_with_path(outputs)[0]
    if isinstance(outputs, dict):
        return ["/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)
                for path, _ in leaves]
    tensors = jax.tree_util.tree_leaves(getattr(model, "outputs", None))
    names = [getattr(t.node, "layer", None) and t.node.layer.name
             for t in tensors if isinstance(t, symbolic.KerasTensor) and t.node is not None]
    if not tensors and len(leaves) == 1 and getattr(model, "layers", None):
        names = [model.layers[-1].name]  # a Sequential's output layer is its last one
    if len(names) == len(leaves) and len(set(names)) == len(names):
        return names
    return [f"output_{i}" for i in range(len(leaves))]


def _check_names(model, what, names):
    for name in names:
        if not _NAME.match(name):
            raise ValueError(f"{model!r}: {what} name {name!r} cannot name a served tensor; use "
                             "letters, digits and _ . - / (e.g. Input(name='images')).")
    if len(set(names)) != len(names):
        raise ValueError(f"{model!r}: {what} names {names} are not unique; name them "
                         "(Input(name=...) or distinct layer names).")


class _Inference:
    """A model's inference functions, one per signature, over ``(weights, {input name: x})``
    and returning ``{output name: y}``, so the names travel inside the exported modules."""

    def __init__(self, model, signatures=None):
        self.inputs, self.args_tree = _input_infos(model)
        self.in_names = [t.name for t in self.inputs]
        self.weights = {"params": model.params, "state": model.state}
        self.model = model
        scope = jax.export.SymbolicScope()
        self.specs = {t.name: jax.ShapeDtypeStruct(
            jax.export.symbolic_shape(_poly(t), scope=scope), t.dtype) for t in self.inputs}
        self.weight_specs = jax.tree_util.tree_map(
            lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), self.weights)
        out = jax.eval_shape(self._structured, self.weight_specs, self.specs)
        names = _output_names(model, out)
        _check_names(model, "output", names)
        # JSON structures with names at the leaves: how served(*inputs) takes and returns them.
        self.structures = {"inputs": jax.tree_util.tree_unflatten(self.args_tree, self.in_names),
                           DEFAULT_SIGNATURE: jax.tree_util.tree_unflatten(
                               jax.tree_util.tree_structure(out), names)}
        default = lambda weights, xs: dict(zip(names, jax.tree_util.tree_leaves(
            self._structured(weights, xs))))
        self.functions = {DEFAULT_SIGNATURE: default}
        for name, extra in (signatures or {}).items():
            if name == DEFAULT_SIGNATURE or not isinstance(name, str) or not callable(extra) \
                    or not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
                raise ValueError(f"signatures: {name!r} must map a new signature name (letters, "
                                 "digits, _ and -) to a function of the named outputs dict")
            self.functions[name] = _extra(default, extra)
        self.outputs = {}
        for name, fn in self.functions.items():
            out = jax.eval_shape(fn, self.weight_specs, self.specs)
            self.outputs[name] = _infos(list(out), out.values())
            self.structures.setdefault(name, {k: k for k in out})

    def _structured(self, weights, xs):
        args = jax.tree_util.tree_unflatten(self.args_tree, [xs[n] for n in self.in_names])
        return self.model.apply(weights["params"], weights["state"], *args, training=False)[0]

    def flat(self, name):
        """``fn(weights, *inputs) -> [outputs]`` (in name order) for jax2tf."""
        fn, out_names = self.functions[name], [t.name for t in self.outputs[name]]
        return lambda weights, *xs: [fn(weights, dict(zip(self.in_names, xs)))[n]
                                     for n in out_names]


def _extra(default, extra):
    def fn(weights, xs):
        out = extra(default(weights, xs))
        return dict(out) if isinstance(out, dict) else {"output_0": out}
    return fn


def _poly(info):
    # One symbol per axis position: 'b' for the batch, d<i> for any other unknown axis.
    return "(" + ", ".join("b" if i == 0 else (f"d{i}" if d is None else str(d))
                           for i, d in enumerate(info.shape)) + ")"


def _infos(names, avals):
    return [TensorInfo(n, a.dtype, symbolic.shape_of(a)) for n, a in zip(names, avals)]


# -- writing a directory atomically ----------------------------------------------------------
def _write_dir(final, write):
    """Runs ``write(tmp)`` then renames ``tmp`` to ``final``: a killed write leaves no half
    directory where a server looks, and an existing ``final`` is never overwritten."""
    final = os.path.abspath(os.fspath(final))
    if os.path.exists(final):
        raise FileExistsError(f"{final!r} already exists; exports never overwrite (choose "
                              "another path or version)")
    parent = os.path.dirname(final)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp-")
    try:
        write(tmp)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _next_version(export_base):
    versions = [int(n) for n in os.listdir(export_base) if n.isdigit()] \
        if os.path.isdir(export_base) else []
    return max(versions, default=0) + 1


# -- 1. SavedModel for TensorFlow Serving ----------------------------------------------------
def _tensorflow():
    try:
        import tensorflow as tf
        from jax.experimental import jax2tf
    except ImportError as err:
        raise ImportError("SavedModel export needs TensorFlow: pip install 'jkeras[export]' "
                          f"(tensorflow-cpu). ({err})") from None
    return tf, jax2tf


def export_saved_model(model, export_base, version=None, signatures=None, platforms=None):
    """Writes ``model``, frozen in inference mode, as a SavedModel at ``export_base/<version>``
    (the layout TensorFlow Serving reads); returns that directory.

    ``version=None`` takes the next integer after the highest present. ``signatures`` adds
    signatures beside ``serving_default``: ``{name: fn(outputs) -> {key: array}}``, where
    ``outputs`` maps output names to arrays. ``platforms`` (e.g. ``("cpu", "cuda")``) lists
    the platforms the module is lowered for (default: the exporting one). Needs
    ``jkeras[export]``.

    >>> import jkeras, tempfile
    >>> model = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3, name="scores")])
    >>> base = tempfile.mkdtemp()
    >>> path = export_saved_model(model, base)            # base/1
    >>> import tensorflow as tf
    >>> sorted(tf.saved_model.load(path).signatures["serving_default"].structured_outputs)
    ['scores']
    """
    export_base = os.fspath(export_base)
    version = _next_version(export_base) if version is None else int(version)
    if version < 0:
        raise ValueError(f"export_saved_model: version must be a non-negative int, got {version}")
    return _saved_model(model, os.path.join(export_base, str(version)), signatures, platforms)


def _saved_model(model, path, signatures, platforms):
    tf, jax2tf = _tensorflow()
    inference = _Inference(model, signatures)
    module = tf.Module()
    module.weights = jax.tree_util.tree_map(
        lambda a: tf.Variable(np.asarray(a), trainable=False), inference.weights)
    poly = [None] + [_poly(t) for t in inference.inputs]
    specs = [tf.TensorSpec([None if d is None else d for d in t.shape], t.dtype, name=t.name)
             for t in inference.inputs]
    options = {} if platforms is None else {"native_serialization_platforms": tuple(platforms)}
    functions = {}
    for name in inference.functions:
        converted = jax2tf.convert(inference.flat(name), polymorphic_shapes=poly,
                                   with_gradient=False, **options)
        out_names = [t.name for t in inference.outputs[name]]
        functions[name] = tf.function(_tf_serving_fn(tf, module, converted, inference.inputs,
                                                     out_names),
                                      input_signature=specs, autograph=False)
        setattr(module, f"signature_{len(functions)}", functions[name])
    _write_dir(path, lambda tmp: tf.saved_model.save(module, tmp, signatures=functions))
    return path


def _tf_serving_fn(tf, module, converted, inputs, out_names):
    def serve(*xs):
        batch = tf.shape(xs[0])[0]
        checks = [tf.debugging.assert_equal(
            tf.shape(x)[0], batch, message=f"inputs have inconsistent batch sizes: "
            f"{inputs[i].name!r} and {inputs[0].name!r} must have the same dimension 0")
            for i, x in enumerate(xs[1:], 1)]
        with tf.control_dependencies(checks):
            # An empty batch runs on one row of zeros, sliced off after: the module's
            # symbolic batch must be >= 1.
            xs = [tf.cond(batch > 0, lambda x=x: tf.identity(x),
                          lambda x=x: tf.zeros(tf.concat([[1], tf.shape(x)[1:]], 0), x.dtype))
                  for x in xs]
        outs = converted(module.weights, *xs)
        return {n: o[:batch] if o.shape.rank else o for n, o in zip(out_names, outs)}
    return serve


# -- 2. The TF-free artifact -----------------------------------------------------------------
def save(model, path, signatures=None, platforms=None):
    """Writes ``model``, frozen in inference mode, as a TF-free artifact directory: the
    StableHLO of each signature (``jax.export``, weights passed in, not baked), the weights
    (``.npz``, no pickle) and ``manifest.json``. Returns the directory; see :func:`load`.

    >>> import jkeras, numpy as np, tempfile, os
    >>> model = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
    >>> path = save(model, os.path.join(tempfile.mkdtemp(), "1"))
    >>> sorted(os.listdir(path))
    ['manifest.json', 'serving_default.jax_exported', 'weights.npz']
    """
    inference = _Inference(model, signatures)
    platforms = tuple(platforms or (jax.default_backend(),))
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "jkeras_version": _jkeras_version(), "jax_version": jax.__version__,
                "platforms": list(platforms), "signatures": {}}
    blobs = {}
    for name, fn in inference.functions.items():
        exported = jax.export.export(jax.jit(fn), platforms=platforms)(
            inference.weight_specs, inference.specs)
        blobs[f"{name}.jax_exported"] = exported.serialize()
        manifest["signatures"][name] = {
            "file": f"{name}.jax_exported",
            "inputs": [t.to_json() for t in inference.inputs],
            "outputs": [t.to_json() for t in inference.outputs[name]],
            "structure": inference.structures[name]}
    manifest["inputs_structure"] = inference.structures["inputs"]

    def write(tmp):
        saving.write_arrays(os.path.join(tmp, WEIGHTS), state_lib.flatten(inference.weights))
        for file, blob in blobs.items():
            with open(os.path.join(tmp, file), "wb") as f:
                f.write(blob)
        with open(os.path.join(tmp, MANIFEST), "w") as f:
            json.dump(manifest, f, indent=1)
    return _write_dir(path, write)


def _jkeras_version():
    from . import __version__
    return __version__


class Served:
    """A model loaded by :func:`load`: ``served(*inputs)`` returns what ``model.predict``
    would, without the model's code or TensorFlow; it works under ``jax.jit``.

    ``served.signatures`` maps each signature name to a :class:`Signature` over named
    arrays (what the REST server calls).

    >>> import jkeras, numpy as np, tempfile, os
    >>> model = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
    >>> served = load(save(model, os.path.join(tempfile.mkdtemp(), "m")))
    >>> x = np.ones((4, 3), np.float32)
    >>> bool(np.allclose(served(x), model.predict(x, verbose=0), atol=1e-6))
    True
    """

    def __init__(self, path, manifest, exported, weights):
        self.path, self.manifest = path, manifest
        self._exported, self._weights = exported, weights
        self._in_names = jax.tree_util.tree_leaves(manifest["inputs_structure"])
        # One jitted function per signature and calling form: argument checks, names and
        # structures are traced once per input shape, then each call is a single dispatch.
        self._structured = {name: jax.jit(self._structured_fn(name)) for name in exported}
        self._named = {name: jax.jit(lambda w, named, name=name: self._run(name, w, named))
                       for name in exported}
        self.signatures = {
            name: Signature([TensorInfo(**t) for t in spec["inputs"]],
                            [TensorInfo(**t) for t in spec["outputs"]],
                            lambda named, name=name: self._named[name](self._weights, named))
            for name, spec in manifest["signatures"].items()}

    def __call__(self, *inputs):
        return self._structured[DEFAULT_SIGNATURE](self._weights, *inputs)

    def call(self, signature, *inputs):
        """Runs one signature on the model's inputs (positional, structured as the model's);
        returns its outputs structured as the model's (a dict for an extra signature)."""
        if signature not in self._exported:
            raise KeyError(f"{self.path!r} has no signature {signature!r}; it has "
                           f"{sorted(self._exported)}")
        return self._structured[signature](self._weights, *inputs)

    def _structured_fn(self, signature):
        structure = self.manifest["signatures"][signature]["structure"]

        def run(weights, *inputs):
            leaves = jax.tree_util.tree_leaves(inputs)
            if len(leaves) != len(self._in_names):
                raise ValueError(f"{self.path!r} takes {len(self._in_names)} input(s) "
                                 f"{self._in_names}, structured as "
                                 f"{self.manifest['inputs_structure']}; got {len(leaves)}")
            out = self._run(signature, weights, dict(zip(self._in_names, leaves)))
            return jax.tree_util.tree_map(out.__getitem__, structure)
        return run

    def _run(self, signature, weights, named):
        if named.keys() != set(self._in_names):
            raise ValueError(f"signature {signature!r} takes inputs {self._in_names}; missing "
                             f"{sorted(set(self._in_names) - set(named))}, unexpected "
                             f"{sorted(set(named) - set(self._in_names))}")
        exported = self._exported[signature]
        if all(x.ndim and x.shape[0] == 0 for x in named.values()):
            # The exported batch is symbolic and must be >= 1: run one row, keep none.
            one = {k: jnp.zeros((1, *x.shape[1:]), x.dtype) for k, x in named.items()}
            return {k: o[:0] for k, o in exported.call(weights, one).items()}
        return exported.call(weights, named)


def load(path):
    """Loads an artifact written by :func:`save` as a :class:`Served` callable.

    The manifest, the serialized modules and the weights are checked against each other
    (names, shapes, dtypes, format version); a mismatch raises a ValueError naming the file.
    Nothing loaded can run code: JSON, ``.npz`` without pickle and StableHLO.

    >>> import jkeras, tempfile, os
    >>> model = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3, name="scores")])
    >>> served = load(save(model, os.path.join(tempfile.mkdtemp(), "m")))
    >>> served.signatures["serving_default"].outputs
    (TensorInfo('scores', float32, (None, 2)),)
    """
    path = os.fspath(path)
    manifest_file = os.path.join(path, MANIFEST)
    try:
        with open(manifest_file) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as err:
        raise ValueError(f"load: cannot read {manifest_file!r} as a jkeras.serve manifest: "
                         f"{err}") from None
    bad = lambda why: ValueError(f"load: {manifest_file!r} {why}")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise bad(f"is not a {FORMAT} manifest (format {manifest.get('format')!r})"
                  if isinstance(manifest, dict) else "is not a JSON object")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise bad(f"has format_version {manifest.get('format_version')!r}; this jkeras reads "
                  f"version {FORMAT_VERSION}")
    if not isinstance(manifest.get("signatures"), dict) or DEFAULT_SIGNATURE not in \
            manifest["signatures"]:
        raise bad(f"lists no {DEFAULT_SIGNATURE!r} signature")
    weights_file = os.path.join(path, WEIGHTS)
    try:
        with np.load(weights_file, allow_pickle=False) as archive:
            tree = state_lib.unflatten({k: jnp.asarray(archive[k]) for k in archive.files})
    except (OSError, ValueError) as err:
        raise ValueError(f"load: cannot read {weights_file!r} as weights (.npz without "
                         f"pickled objects): {err}") from None
    weights = {"params": tree.pop("params", {}), "state": tree.pop("state", {})}
    if tree:
        raise ValueError(f"load: {weights_file!r} has unexpected entries {sorted(tree)}")
    exported = {}
    for name, spec in manifest["signatures"].items():
        blob_file = os.path.join(path, os.path.basename(str(spec.get("file"))))
        try:
            with open(blob_file, "rb") as f:
                exported[name] = jax.export.deserialize(bytearray(f.read()))
        except Exception as err:  # noqa: BLE001 - any decoding failure is a bad file
            raise ValueError(f"load: cannot read {blob_file!r} as a serialized jax.export "
                             f"module: {err}") from None
        _check_signature(manifest_file, name, spec, exported[name], weights)
        names = jax.tree_util.tree_leaves(manifest.get("inputs_structure"))
        if sorted(names) != sorted(t["name"] for t in spec["inputs"]):
            raise bad(f"inputs_structure names {names} differ from signature {name!r}'s inputs")
    return Served(path, manifest, exported, weights)


def _check_signature(manifest_file, name, spec, exported, weights):
    where = f"load: {manifest_file!r}, signature {name!r}:"
    try:
        inputs = {t["name"]: TensorInfo(**t) for t in spec["inputs"]}
        outputs = {t["name"]: TensorInfo(**t) for t in spec["outputs"]}
    except (KeyError, TypeError) as err:
        raise ValueError(f"{where} malformed inputs/outputs: {err}") from None
    # The module's own argument and result trees carry the weight paths and tensor names.
    n_weights = len(jax.tree_util.tree_leaves(weights))
    in_def = exported.in_tree.children()[0]
    if in_def != jax.tree_util.tree_structure(((weights, dict.fromkeys(inputs, 0)), {})) \
            .children()[0]:
        weights_def, inputs_def = in_def.children()
        if weights_def != jax.tree_util.tree_structure(weights):
            raise ValueError(f"{where} the weights file does not match the module's weights "
                             "(paths differ)")
        raise ValueError(f"{where} the manifest's input names {sorted(inputs)} do not match "
                         f"the module's {inputs_def}")
    if any(a.shape != w.shape or a.dtype != w.dtype for a, w in zip(
            exported.in_avals, jax.tree_util.tree_leaves(weights))):
        raise ValueError(f"{where} the weights file does not match the module's weights "
                         "(shapes or dtypes differ)")
    if exported.out_tree != jax.tree_util.tree_structure(dict.fromkeys(outputs, 0)):
        raise ValueError(f"{where} the manifest's output names {sorted(outputs)} do not match "
                         f"the module's {exported.out_tree}")
    for what, declared, avals in (("inputs", inputs, exported.in_avals[n_weights:]),
                                  ("outputs", outputs, exported.out_avals)):
        actual = _infos(sorted(declared), avals)
        if actual != [declared[k] for k in sorted(declared)]:
            raise ValueError(f"{where} the manifest's {what} {list(declared.values())} do not "
                             f"match the module's {actual}")


# -- generic entry point: Keras 3's model.export -----------------------------------------------
def export(model, filepath, format="tf_saved_model", **kwargs):
    """Keras 3's ``model.export``: ``format="tf_saved_model"`` writes a SavedModel at
    ``filepath``; ``format="jax_export"`` the TF-free artifact of :func:`save`.

    >>> import jkeras, tempfile, os
    >>> model = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
    >>> path = export(model, os.path.join(tempfile.mkdtemp(), "m"), format="jax_export")
    """
    if format == "tf_saved_model":
        unknown = sorted(set(kwargs) - {"signatures", "platforms"})
        if unknown:
            raise TypeError(f"export: unexpected arguments {unknown}; it takes signatures= "
                            "and platforms=")
        return _saved_model(model, os.fspath(filepath), kwargs.get("signatures"),
                            kwargs.get("platforms"))
    if format == "jax_export":
        return save(model, filepath, **kwargs)
    raise ValueError(f"export: format must be 'tf_saved_model' or 'jax_export', got {format!r}")


def main(argv=None):
    """``python -m jkeras.serve``: serves a model base path over TF Serving's REST API.

    >>> main(["--help"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    SystemExit: 0
    """
    from ._serving import cli
    return cli.main(argv)


if __name__ == "__main__":
    main()
