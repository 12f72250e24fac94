"""Utilities Keras users look for under ``keras.utils``."""
import collections
import concurrent.futures

import numpy as np

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


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Sequences of different lengths as one ``(len(sequences), maxlen, ...)`` NumPy array.

    Shorter sequences are padded with ``value`` and longer ones cut to ``maxlen`` (the
    longest length by default), at the start (``"pre"``) or the end (``"post"``).

    >>> pad_sequences([[1, 2, 3], [4]], maxlen=2).tolist()
    [[2, 3], [0, 4]]
    >>> pad_sequences([[1], [2, 3]], padding="post", value=-1).tolist()
    [[1, -1], [2, 3]]
    """
    for name, choice in (("padding", padding), ("truncating", truncating)):
        if choice not in ("pre", "post"):
            raise ValueError(f"pad_sequences: {name} must be 'pre' or 'post', got {choice!r}.")
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"pad_sequences: sequences must be a list of sequences, got "
                         f"{type(sequences).__name__}.")
    sequences = [np.asarray(s) for s in sequences]
    if maxlen is None:
        maxlen = max((len(s) for s in sequences), default=0)
    trailing = next((s.shape[1:] for s in sequences if len(s)), ())
    out = np.full((len(sequences), maxlen) + trailing, value, dtype=dtype)
    for i, s in enumerate(sequences):
        if not len(s) or not maxlen:
            continue
        s = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        if s.shape[1:] != trailing:
            raise ValueError(f"pad_sequences: sequence {i} has elements of shape {s.shape[1:]}"
                             f", the others {trailing}.")
        if padding == "pre":
            out[i, maxlen - len(s):] = s
        else:
            out[i, :len(s)] = s
    return out


class PyDataset:
    """Keras' base class for a dataset of batches: write ``__len__`` (the number of
    batches) and ``__getitem__(index)`` (one ``x``, ``(x, y)`` or ``(x, y, sample_weight)``
    batch), optionally ``on_epoch_end``; pass it to ``fit``/``evaluate``/``predict``.

    ``workers > 1`` loads up to ``max_queue_size`` batches ahead in threads, keeping their
    order; ``use_multiprocessing`` is accepted and also uses threads (nothing is pickled).

    >>> import numpy as np
    >>> class Batches(PyDataset):
    ...     def __init__(self, x, batch_size, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.x, self.batch_size = x, batch_size
    ...     def __len__(self):
    ...         return -(-len(self.x) // self.batch_size)
    ...     def __getitem__(self, i):
    ...         return self.x[i * self.batch_size:(i + 1) * self.batch_size]
    >>> [len(b) for b in Batches(np.arange(5), 2, workers=2)]
    [2, 2, 1]
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers, self.use_multiprocessing = workers, use_multiprocessing
        self.max_queue_size = max_queue_size

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__ (the number of "
                                  "batches).")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index) "
                                  "returning one batch.")

    @property
    def num_batches(self):
        """``len(self)``: the number of batches in an epoch."""
        return len(self)

    def on_epoch_end(self):
        """Called after each full pass (override to reshuffle, say)."""

    def __iter__(self):
        """One epoch's batches in order, then ``on_epoch_end()``."""
        n = len(self)
        if self.workers <= 1:
            yield from (self[i] for i in range(n))
        else:
            with concurrent.futures.ThreadPoolExecutor(self.workers) as pool:
                ahead = collections.deque()
                for i in range(n):
                    ahead.append(pool.submit(self.__getitem__, i))
                    if len(ahead) >= max(self.max_queue_size, 1):
                        yield ahead.popleft().result()
                while ahead:
                    yield ahead.popleft().result()
        self.on_epoch_end()


__all__ = ["PyDataset", "clear_session", "pack_x_y_sample_weight", "pad_sequences",
           "set_random_seed", "to_categorical", "unpack_x_y_sample_weight"]
