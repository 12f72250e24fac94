"""What ``fit``, ``evaluate`` and ``predict`` accept as data, turned into batches.

Two kinds of input:

* **arrays** (NumPy or JAX, or lists/tuples/dicts of them for several inputs or outputs):
  every leaf shares the first (example) axis. :class:`ArrayData` checks them once and
  serves batches, either sliced on the host or, for ``fit``, as a whole on the device
  with an epoch's order of example indices (the compiled step gathers its own batch).
* **streams**: a generator, iterator or other non-array iterable yielding batches as
  ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``. :class:`StreamData` checks
  that every batch has the first one's structure and shapes (the batch size may vary).

>>> import numpy as np
>>> data = ArrayData(np.zeros((10, 3)), np.zeros(10), batch_size=4, what="fit")
>>> data.steps, data.tail
(3, 2)
"""
import math
import numbers
import warnings

import jax
import jax.numpy as jnp
import numpy as np

# Training sets up to this size live on the device for a whole ``fit`` (no per-step
# host-to-device copies); larger ones are sliced on the host, batch by batch.
RESIDENT_LIMIT_BYTES = 2 << 30


def _leaves(tree):
    return jax.tree_util.tree_leaves(tree)


def _is_array(x):
    return isinstance(x, (np.ndarray, jax.Array, np.generic))


def is_stream(x):
    """Whether ``x`` is a stream of batches (a generator or iterable, not arrays).

    >>> is_stream(iter([(1, 2)])), is_stream([np.zeros(3)])
    (True, False)
    """
    if x is None or _is_array(x) or isinstance(x, (list, tuple, dict, str, bytes)):
        return False
    return hasattr(x, "__iter__") or hasattr(x, "__next__")


def unpack(batch):
    """``(x, y, sample_weight)`` from a batch ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sw)``.

    >>> unpack((1, 2))
    (1, 2, None)
    """
    if isinstance(batch, tuple):
        if not 1 <= len(batch) <= 3:
            raise ValueError(f"A batch must be x, (x,), (x, y) or (x, y, sample_weight); got "
                             f"a tuple of {len(batch)} elements.")
        return tuple(batch) + (None,) * (3 - len(batch))
    return batch, None, None


def as_arrays(tree):
    """Every leaf as an array: lists of arrays stay lists (several inputs), while a
    (nested) list of plain numbers becomes one NumPy array.

    >>> as_arrays([[1, 2], [3, 4]]).shape
    (2, 2)
    """
    if tree is None or _is_array(tree):
        return tree
    if isinstance(tree, dict):
        return {k: as_arrays(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)) and any(
            _is_array(leaf) for leaf in jax.tree_util.tree_leaves(tree)):
        return type(tree)(as_arrays(v) for v in tree)
    array = np.asarray(tree)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"Expected numeric arrays, got {type(tree).__name__} of dtype "
                        f"{array.dtype}.")
    return array


def signature(tree):
    """The structure, shapes and dtypes of ``tree``'s arrays: what checks on a batch see.

    >>> signature((np.zeros((2, 3)), None)) == signature((np.ones((2, 3)), None))
    True
    """
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, tuple([(a.shape, a.dtype) for a in leaves])  # leaves from as_arrays


def _describe(tree):
    shapes = [tuple(np.shape(a)) for a in _leaves(tree)]
    return shapes[0] if len(shapes) == 1 else shapes


def num_examples(x, y, sample_weight, what):
    """The shared length of every leaf's first axis; a clear error when they differ.

    >>> num_examples(np.zeros((5, 2)), np.zeros(5), None, "fit")
    5
    """
    sizes = {}
    for name, tree in (("x", x), ("y", y), ("sample_weight", sample_weight)):
        for leaf in _leaves(tree):
            if np.ndim(leaf) == 0:
                raise ValueError(f"{what}: {name} must have an example axis (first axis), "
                                 f"got a scalar.")
            dtype = np.dtype(leaf.dtype)
            if dtype.kind not in "biufc" and not jnp.issubdtype(dtype, jnp.number):
                raise TypeError(f"{what}: {name} must hold numbers, got an array of dtype "
                                f"{dtype} (shape {np.shape(leaf)}); convert text or objects "
                                "to numbers first (e.g. with a lookup or tokenizer).")
            sizes.setdefault(name, set()).add(int(np.shape(leaf)[0]))
    if "x" not in sizes:
        raise ValueError(f"{what}: no input data: pass x (arrays or a generator of batches).")
    every = set().union(*sizes.values())
    if len(every) > 1:
        parts = ", ".join(f"{name} has {sorted(s) if len(s) > 1 else next(iter(s))} "
                          f"(shape {_describe(tree)})"
                          for (name, s), tree in zip(sizes.items(), (x, y, sample_weight)))
        raise ValueError(f"{what}: x and y (and sample_weight) must have the same number of "
                         f"examples along the first axis; {parts}.")
    n = every.pop()
    if n == 0:
        raise ValueError(f"{what}: the data is empty (0 examples, x shape {_describe(x)}).")
    return n


def check_count(value, name, what, minimum=1):
    """``value`` as an int ``>= minimum``, or a ValueError naming ``what`` and ``name``.

    >>> check_count(3, "epochs", "fit")
    3
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{what}: {name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def check_batch_size(batch_size, what, default=32):
    """``batch_size`` as a positive int (``None`` gives Keras' default of 32).

    >>> check_batch_size(None, "fit")
    32
    """
    if batch_size is None:
        return default
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or \
            batch_size < 1:
        raise ValueError(f"{what}: batch_size must be a positive integer, got {batch_size!r}.")
    return int(batch_size)


def split_validation(x, y, sample_weight, validation_split):
    """Keras' split: the last ``validation_split`` fraction (before shuffling) validates.

    >>> (tx, ty, _), (vx, vy, _) = split_validation(np.arange(10), np.arange(10), None, 0.2)
    >>> len(tx), vx.tolist()
    (8, [8, 9])
    """
    n = num_examples(x, y, sample_weight, "fit")
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at in (0, n):
        raise ValueError(f"fit: validation_split={validation_split} of {n} examples leaves the "
                         f"{'training' if split_at == 0 else 'validation'} set empty.")

    def take(start, stop):
        return tuple(jax.tree_util.tree_map(lambda a: a[start:stop], t)
                     for t in (x, y, sample_weight))

    return take(0, split_at), take(split_at, n)


def check_validation_split(validation_split):
    """Raises unless ``validation_split`` is a number in [0, 1).

    >>> check_validation_split(0.2)
    """
    if isinstance(validation_split, bool) or not isinstance(
            validation_split, (int, float, np.floating)) or not 0 <= validation_split < 1:
        raise ValueError(f"fit: validation_split must be a number in [0, 1), got "
                         f"{validation_split!r}.")


def class_sample_weights(y, class_weight, sample_weight):
    """Per-example weights ``class_weight[label]`` (times ``sample_weight``, if given).

    Labels are integers ``(N,)``/``(N, 1)`` or one-hot ``(N, C)`` (their argmax).

    >>> class_sample_weights(np.array([0, 1, 1]), {0: 1.0, 1: 3.0}, None).tolist()
    [1.0, 3.0, 3.0]
    """
    if class_weight is None:
        return sample_weight
    leaves = _leaves(y)
    if len(leaves) != 1:
        raise ValueError("fit: class_weight needs a single output (one y array); for several "
                         "outputs pass sample_weight instead.")
    labels = np.asarray(leaves[0])
    if labels.ndim == 2 and labels.shape[1] > 1:
        labels = labels.argmax(axis=1)
    labels = labels.reshape(len(labels), -1)
    if labels.shape[1] != 1:
        raise ValueError(f"fit: class_weight needs integer or one-hot labels, got y of shape "
                         f"{leaves[0].shape}.")
    labels = labels[:, 0].astype(np.int64)
    missing = sorted(set(np.unique(labels).tolist()) - set(int(k) for k in class_weight))
    if missing:
        raise ValueError(f"fit: class_weight has no weight for classes {missing}; it has "
                         f"{sorted(class_weight)}.")
    table = np.zeros(int(max(max(class_weight), labels.max())) + 1, np.float32)
    for k, v in class_weight.items():
        table[int(k)] = v
    weights = table[labels]
    if sample_weight is not None:
        weights = weights * np.asarray(sample_weight, np.float32).reshape(len(weights))
    return weights


class ArrayData:
    """In-memory examples ``(x, y, sample_weight)``, served in batches of ``batch_size``.

    ``steps`` batches per epoch: ``num_full`` full ones, then one of ``tail`` examples
    when the batch size does not divide the number of examples.

    >>> data = ArrayData(np.arange(5.0)[:, None], None, batch_size=2, what="predict")
    >>> [b[0].shape for b in data.host_batches()]
    [(2, 1), (2, 1), (1, 1)]
    """

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, what="fit"):
        self.x, self.y, self.sample_weight = (as_arrays(t) for t in (x, y, sample_weight))
        self.n = num_examples(self.x, self.y, self.sample_weight, what)
        self.batch_size = check_batch_size(batch_size, what)
        self.num_full, self.tail = divmod(self.n, self.batch_size)
        self.steps = self.num_full + (self.tail > 0)
        self.tree = (self.x, self.y, self.sample_weight)
        self.nbytes = sum(np.size(a) * np.dtype(a.dtype).itemsize for a in _leaves(self.tree))
        self._device = None

    @property
    def resident(self):
        """Whether the examples fit on the device for the whole run."""
        return self.nbytes <= RESIDENT_LIMIT_BYTES

    def device_tree(self):
        """``(x, y, sample_weight)`` on the device: one copy, made once."""
        if self._device is None:
            self._device = jax.device_put(self.tree)
        return self._device

    def order(self):
        """A random order of the examples for one epoch (NumPy's global RNG, as Keras)."""
        return np.random.permutation(self.n).astype(np.int32)

    def host_batches(self, order=None, skip=0):
        """Yields ``(x, y, sample_weight)`` batches sliced on the host, in ``order``, from
        batch ``skip`` on."""
        for start in range(skip * self.batch_size, self.n, self.batch_size):
            stop = min(start + self.batch_size, self.n)
            if order is None:
                take = lambda a, start=start, stop=stop: a[start:stop]
            else:
                idx = order[start:stop]
                take = lambda a, idx=idx: a[idx]
            yield jax.tree_util.tree_map(take, self.tree)


def _batch_shape(shape):
    return "(batch" + "".join(f", {d}" for d in shape) + ")"


def _signature(tree):
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, [(tuple(np.shape(a))[1:], np.dtype(a.dtype)) for a in leaves]


class StreamData:
    """Batches from a generator, iterator or other iterable, checked batch by batch.

    A re-iterable (say, a list wrapped in a class with ``__iter__``) starts afresh each
    epoch; an iterator or generator is read on from where the last epoch stopped.
    ``steps`` is known after the first full pass (for the progress bar).

    >>> gen = ((np.ones((2, 3)), np.zeros(2)) for _ in range(3))
    >>> data = StreamData(gen, what="fit")
    >>> sum(1 for _ in data.epoch())
    3
    """

    def __init__(self, source, steps_per_epoch=None, what="fit"):
        self.source, self.what = source, what
        self.steps = steps_per_epoch
        self._limit = steps_per_epoch
        self._is_iterator = iter(source) is source if hasattr(source, "__iter__") else True
        self._iterator = None
        self._first = None  # the first batch's structure and per-leaf (shape[1:], dtype)
        self._peeked = self._peek_iter = None

    def _new_iterator(self):
        if self._is_iterator:
            if self._iterator is None:
                self._iterator = self.source if hasattr(self.source, "__next__") else \
                    iter(self.source)
            return self._iterator
        return iter(self.source)

    def peek(self):
        """The first batch, read now; the next ``epoch()`` yields it again first."""
        if self._peeked is None:
            self._peek_iter = self._new_iterator()
            batch = self._read(self._peek_iter, 0)
            if batch is None:
                raise ValueError(f"{self.what}: the data iterable yielded no batches.")
            self._peeked = batch
        return self._peeked

    def _read(self, iterator, index):
        try:
            batch = next(iterator)
        except StopIteration:
            return None
        batch = tuple(as_arrays(t) for t in unpack(batch))
        self._check(batch, index)
        return batch

    def epoch(self):
        """Yields one epoch's batches as ``(x, y, sample_weight)`` of arrays."""
        if self._peeked is not None:
            iterator, pending = self._peek_iter, [self._peeked]
            self._peeked = self._peek_iter = None
        else:
            iterator, pending = self._new_iterator(), []
        count = 0
        while self._limit is None or count < self._limit:
            batch = pending.pop() if pending else self._read(iterator, count)
            if batch is None:
                break
            count += 1
            yield batch
        if count == 0:
            if self._first is None:
                raise ValueError(f"{self.what}: the data iterable yielded no batches.")
            warnings.warn(f"{self.what}: the data generator ran out of batches; stopping. "
                          "Pass a re-iterable or steps_per_epoch, or make the generator "
                          "loop forever.", stacklevel=3)
        elif self.steps is None:
            self.steps = count

    def _check(self, batch, index):
        num_examples(*batch, what=f"{self.what}: batch {index} of the generator")
        signature = _signature(batch)
        if self._first is None:
            self._first = signature
            return
        if signature[0] != self._first[0]:
            raise ValueError(
                f"{self.what}: batch {index} of the generator has a different structure "
                f"({signature[0]}) from the first batch ({self._first[0]}). Every batch must "
                "be (x, y[, sample_weight]) structured the same way.")
        for (shape, dtype), (shape0, dtype0) in zip(signature[1], self._first[1]):
            if shape != shape0:
                raise ValueError(
                    f"{self.what}: batch {index} of the generator has an array of shape "
                    f"{_batch_shape(shape)} where the first batch had {_batch_shape(shape0)}. "
                    "Every batch must have the same shape apart from its size (the first "
                    "axis).")
            if dtype != dtype0:
                raise ValueError(
                    f"{self.what}: batch {index} of the generator has dtype {dtype} where "
                    f"the first batch had {dtype0}.")
