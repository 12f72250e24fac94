"""Utilities Keras users look for under ``keras.utils``."""
from .naming import reset_names
from .random import set_random_seed


def clear_session():
    """Restarts auto-naming, as ``keras.utils.clear_session()`` does.

    >>> clear_session()
    """
    reset_names()


def to_categorical(y, num_classes=None):
    """One-hot encodes integer labels (NumPy, float32) along a new last axis; a trailing
    axis of size 1 is dropped first, as in Keras.

    >>> to_categorical([0, 2], 3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    >>> to_categorical([[0], [1]]).shape, to_categorical([[0, 1, 2]]).shape
    ((2, 2), (1, 3, 3))
    """
    import numpy as np
    y = np.asarray(y, dtype="int64")
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y[..., 0]
    num_classes = int(y.max()) + 1 if num_classes is None else num_classes
    return np.eye(num_classes, dtype="float32")[y]


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a batch given as ``x``, ``(x,)``, ``(x, y)`` or
    ``(x, y, sample_weight)``; missing parts are ``None``.

    >>> unpack_x_y_sample_weight((1, 2))
    (1, 2, None)
    """
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError(f"Data must be x, (x,), (x, y) or (x, y, sample_weight), got a tuple of "
                     f"{len(data)} items.")


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """The batch as Keras hands it to a step: ``(x,)``, ``(x, y)`` or ``(x, y, sw)``.

    >>> pack_x_y_sample_weight(1, 2)
    (1, 2)
    """
    if y is None and sample_weight is None:
        return (x,)
    return (x, y) if sample_weight is None else (x, y, sample_weight)


__all__ = ["clear_session", "pack_x_y_sample_weight", "set_random_seed", "to_categorical",
           "unpack_x_y_sample_weight"]
