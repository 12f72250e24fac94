"""Weight files: ``.weights.npz`` keyed by weight path, or Keras 3's ``.weights.h5``.

Both are safe (arrays only: no pickle, every array checked against the model before any
is set) and written atomically.
"""
import io
import os

import numpy as np

from . import safety
from .atomic import atomic_write


def _is_h5(filepath):
    return str(filepath).endswith(".h5")


def _keras_layout(layer):
    """Sequential and functional models have Keras' h5 layout (``layers/<key>/vars``);
    other layers and subclassed models store each weight under its path."""
    from ..models.functional import Functional
    from ..models.sequential import Sequential
    return isinstance(layer, (Sequential, Functional))


def save_weights(layer, filepath, overwrite=True):
    """Writes every weight of ``layer`` to ``filepath``, replacing it atomically.

    ``.weights.h5`` gives Keras 3's layout for Sequential and functional models (Keras'
    ``load_weights`` reads it); any other name an ``.npz`` archive keyed by weight path.

    >>> import jkeras, jax.numpy as jnp, tempfile, os
    >>> d = jkeras.layers.Dense(2); _ = d(jnp.ones((1, 3)))
    >>> path = os.path.join(tempfile.mkdtemp(), "d.weights.npz")
    >>> save_weights(d, path); load_weights(d, path)
    """
    layer._require_built("save_weights")
    if not _is_h5(filepath):
        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"{filepath!r} exists and overwrite=False.")
        write_arrays(filepath, {w.path: w.numpy() for w in layer.weights})
        return
    from .h5_writer import H5Writer
    from .keras_file import _h5py, write_weights
    writer = H5Writer(_h5py(), track_order=True)
    try:
        if _keras_layout(layer):
            write_weights(layer, layer.get_config(), writer)
        else:
            for w in layer.weights:
                writer.add(writer.file, f"weights/{w.path}", w.numpy())
    finally:
        writer.close()
    with atomic_write(filepath, overwrite) as f:
        writer.write_to(f)


def write_arrays(filepath, arrays):
    """Writes ``{name: array}`` to ``filepath`` as an ``.npz`` (no pickle), replacing it
    atomically: a reader sees the old file or the new one, never half of one.

    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npz")
    >>> write_arrays(path, {"dense/kernel": np.ones((2, 2))})
    >>> sorted(np.load(path).files)
    ['dense/kernel']
    """
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(a) for name, a in arrays.items()})
    with atomic_write(filepath) as f:
        f.write(buffer.getbuffer())


def _read_npz(filepath):
    try:
        with np.load(filepath, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError) as err:
        raise ValueError(f"load_weights: cannot read {filepath!r} as a jkeras weight file "
                         f"(.npz without pickled objects): {err}") from None


def _read_h5_paths(h5, layer, filepath):
    """``{path: array}`` from jkeras' path layout, each array checked before it is read."""
    import h5py
    group = h5.get("weights")
    if not isinstance(group, h5py.Group):
        raise ValueError(f"load_weights: {filepath!r} has neither Keras' layout nor jkeras' "
                         "'weights' group. Nothing was changed.")
    datasets = {}
    group.visititems(lambda name, node: datasets.__setitem__(name, node)
                     if isinstance(node, h5py.Dataset) else None)
    weights = layer.weights
    if set(datasets) == {w.path for w in weights}:
        pairs = [(datasets[w.path], w) for w in weights]
    elif [d.shape for d in datasets.values()] == [w.shape for w in weights]:
        pairs = list(zip(datasets.values(), weights))
    else:
        raise ValueError(f"load_weights: {filepath!r} does not match {layer!r}: it holds "
                         f"{sorted(datasets)}, the layer has {[w.path for w in weights]}. "
                         "Nothing was changed.")
    for dataset, w in pairs:
        safety.check_array(dataset, w.shape, w.dtype, f"load_weights({filepath!r}): {w.path}")
    return {name: np.asarray(d[()]) for name, d in datasets.items()}


def load_weights(layer, filepath):
    """Sets ``layer``'s weights from a file written by :func:`save_weights` (or Keras 3's
    ``save_weights`` for ``.weights.h5``).

    Weights are matched by path. When the paths differ but the file holds as many
    weights, of the same shapes in the same order (the same architecture built with
    other auto-names, e.g. ``dense_3`` for ``dense``), they are matched by order, as
    Keras' topological loading does. Otherwise a ValueError names the file and the
    difference, and nothing changes.

    >>> import jkeras, tempfile, os
    >>> m = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
    >>> path = os.path.join(tempfile.mkdtemp(), "m.weights.h5")
    >>> save_weights(m, path); load_weights(m, path)
    """
    layer._require_built("load_weights")
    if _is_h5(filepath):
        from .keras_file import _h5py, apply_weights
        h5py = _h5py()
        try:
            h5 = h5py.File(filepath, "r")
        except OSError as err:
            raise ValueError(f"load_weights: cannot read {filepath!r} as an h5 file: {err}") \
                from None
        with h5:
            if _keras_layout(layer) and ("layers" in h5 or "vars" in h5):
                apply_weights(layer, layer.get_config(), h5, f"load_weights({filepath!r})")
                return
            stored = _read_h5_paths(h5, layer, filepath)
    else:
        stored = _read_npz(filepath)
    _set_matching(layer, stored, filepath)


def _set_matching(layer, stored, filepath):
    names = [w.path for w in layer.weights]
    missing = [n for n in names if n not in stored]
    extra = [n for n in stored if n not in names]
    if (missing or extra) and [np.shape(a) for a in stored.values()] == [
            w.shape for w in layer.weights]:
        layer.set_weights(list(stored.values()))  # same architecture, other names: by order
        return
    if missing or extra:
        raise ValueError(f"load_weights: {filepath!r} does not match {layer!r}: missing "
                         f"{missing}, unexpected {extra}. Nothing was changed.")
    for w in layer.weights:
        a = stored[w.path]
        if a.dtype.kind not in "biuf":
            raise ValueError(f"load_weights: {filepath!r}: {w.path!r} has dtype {a.dtype}, "
                             "not a number type. Nothing was changed.")
    try:
        layer.set_weights([stored[n] for n in names])
    except ValueError as err:
        raise ValueError(f"load_weights: {filepath!r}: {err}") from None
