"""Weight files: ``.npz`` archives keyed by weight path. Safe (no pickle) and atomic."""
import io
import os
import tempfile

import numpy as np


def save_weights(layer, filepath):
    """Writes ``layer.weights`` to ``filepath`` (``{path: array}``), replacing it atomically.

    >>> import jkeras, jax.numpy as jnp, tempfile, os
    >>> d = jkeras.layers.Dense(2); _ = d(jnp.ones((1, 3)))
    >>> path = os.path.join(tempfile.mkdtemp(), "d.weights.npz")
    >>> save_weights(d, path); load_weights(d, path)
    """
    layer._require_built("save_weights")
    write_arrays(filepath, {w.path: w.numpy() for w in layer.weights})


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
    folder = os.path.dirname(os.path.abspath(filepath))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        os.unlink(tmp)
        raise


def load_weights(layer, filepath):
    """Sets ``layer``'s weights from a file written by :func:`save_weights`.

    Weights are matched by path. When the paths differ but the file holds as many
    weights, of the same shapes in the same order (the same architecture built with
    other auto-names, e.g. ``dense_3`` for ``dense``), they are matched by order, as
    Keras' topological loading does. Otherwise a ValueError names the file and the
    difference, and nothing changes.
    """
    layer._require_built("load_weights")
    try:
        with np.load(filepath, allow_pickle=False) as archive:
            stored = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as err:
        raise ValueError(f"load_weights: cannot read {filepath!r} as a jkeras weight file "
                         f"(.npz without pickled objects): {err}") from None
    names = [w.path for w in layer.weights]
    missing = [n for n in names if n not in stored]
    extra = [n for n in stored if n not in names]
    if (missing or extra) and [a.shape for a in stored.values()] == [
            w.shape for w in layer.weights]:
        layer.set_weights(list(stored.values()))  # same architecture, other names: by order
        return
    if missing or extra:
        raise ValueError(f"load_weights: {filepath!r} does not match {layer!r}: missing "
                         f"{missing}, unexpected {extra}. Nothing was changed.")
    try:
        layer.set_weights([stored[n] for n in names])
    except ValueError as err:
        raise ValueError(f"load_weights: {filepath!r}: {err}") from None
