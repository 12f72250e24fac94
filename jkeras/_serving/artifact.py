"""The TF-free artifact: one ``jax.export`` module per signature over ``(weights, {input name:
array}) -> {output name: array}``, ``weights.npz`` and ``manifest.json``, checked against each
other on reading. Nothing read can run code (JSON, ``.npz`` without pickle, StableHLO)."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from .. import saving
from .. import state as state_lib
from .signature import DEFAULT_SIGNATURE, Inference, Signature, TensorInfo, infos, write_dir

FORMAT = "jkeras.serve"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.npz"


def write(model, path, signatures=None, platforms=None):
    """Writes the artifact directory ``path`` (atomically; never over an existing one).

    >>> import jkeras, tempfile, os
    >>> model = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
    >>> sorted(os.listdir(write(model, os.path.join(tempfile.mkdtemp(), "1"))))
    ['manifest.json', 'serving_default.jax_exported', 'weights.npz']
    """
    inference = Inference(model, signatures)
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

    def fill(tmp):
        saving.write_arrays(os.path.join(tmp, WEIGHTS), state_lib.flatten(inference.weights))
        for file, blob in blobs.items():
            with open(os.path.join(tmp, file), "wb") as f:
                f.write(blob)
        with open(os.path.join(tmp, MANIFEST), "w") as f:
            json.dump(manifest, f, indent=1)
    return write_dir(path, fill)


def _jkeras_version():
    from .. import __version__
    return __version__


class Served:
    """A model loaded by ``jkeras.serve.load``: ``served(*inputs)`` returns what ``model.predict``
    would, without the model's code or TensorFlow; it works under ``jax.jit``.

    ``served.signatures`` maps each signature name to a :class:`Signature` over named
    arrays (what the REST server calls).

    >>> import jkeras, numpy as np, tempfile, os
    >>> model = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
    >>> served = read(write(model, os.path.join(tempfile.mkdtemp(), "m")))
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


def read(path):
    """The :class:`Served` model of the artifact at ``path``; a ValueError naming the file if
    the manifest, the modules and the weights do not agree (names, shapes, dtypes, version).

    >>> import jkeras, tempfile, os
    >>> model = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3, name="scores")])
    >>> read(write(model, os.path.join(tempfile.mkdtemp(), "1"))).signatures[
    ...     "serving_default"].outputs
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
        structure = jax.tree_util.tree_leaves(spec["structure"])
    except (KeyError, TypeError) as err:
        raise ValueError(f"{where} malformed inputs/outputs: {err}") from None
    if sorted(structure) != sorted(outputs):
        raise ValueError(f"{where} the output structure names {structure} are not the "
                         f"outputs {sorted(outputs)}")
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
        actual = infos(sorted(declared), avals)
        if actual != [declared[k] for k in sorted(declared)]:
            raise ValueError(f"{where} the manifest's {what} {list(declared.values())} do not "
                             f"match the module's {actual}")
