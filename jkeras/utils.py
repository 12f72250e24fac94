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


__all__ = ["clear_session", "set_random_seed", "to_categorical"]
