"""Serving: a model frozen in inference mode, as a TensorFlow Serving SavedModel (jax2tf) or
as a TF-free artifact (``jax.export`` StableHLO + weights + a JSON manifest), and a local
server speaking TF Serving's REST API (``python -m jkeras.serve --help``).

Inputs are named after the model's ``Input(name=...)`` and outputs after its output layers
(``input_0``/``output_0``-style names where the model gives none). The batch dimension is
symbolic, and so is any other dimension the model was built with as ``None``.
"""
import os

from ._serving import artifact, saved_model
from ._serving.artifact import MANIFEST, Served
from ._serving.signature import DEFAULT_SIGNATURE, Signature, TensorInfo, next_version

__all__ = ["DEFAULT_SIGNATURE", "MANIFEST", "Served", "Signature", "TensorInfo", "export",
           "export_saved_model", "load", "main", "save"]


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
    version = next_version(export_base) if version is None else int(version)
    if version < 0:
        raise ValueError(f"export_saved_model: version must be an int >= 0, got {version}")
    return saved_model.write(model, os.path.join(export_base, str(version)), signatures,
                             platforms)


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
    return artifact.write(model, path, signatures, platforms)


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
    return artifact.read(os.fspath(path))


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
        return saved_model.write(model, os.fspath(filepath), kwargs.get("signatures"),
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
