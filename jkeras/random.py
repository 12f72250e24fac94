"""Seed streams: where eager calls and lazy builds get their PRNG keys.

Pure calls never use these: they take an explicit ``rng``.
"""
import contextlib
import random as _py_random
import zlib

import jax
import numpy as np


class SeedStream:
    """A reproducible source of fresh PRNG keys.

    >>> s = SeedStream(0)
    >>> k1, k2 = s.next(), s.next()    # different keys, the same on every run
    """

    def __init__(self, seed=None):
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**31))
        self._seed = int(seed)
        self._count = 0

    def next(self):
        self._count += 1
        return jax.random.fold_in(jax.random.key(self._seed), self._count)


_global = [SeedStream()]
_init_rng = [None]


def set_random_seed(seed):
    """Seeds jkeras' global stream, NumPy's and Python's, as Keras' function does.

    >>> import jkeras
    >>> jkeras.utils.set_random_seed(0)
    """
    if not isinstance(seed, (int, np.integer)):
        raise TypeError(f"set_random_seed expects an int, got {seed!r}")
    _global[0] = SeedStream(int(seed))
    np.random.seed(int(seed) % 2**32)
    _py_random.seed(int(seed))


def global_stream():
    return _global[0]


def path_key(rng, path):
    """The key a layer at ``path`` gets from ``rng``: independent of call order."""
    return jax.random.fold_in(rng, zlib.crc32(path.encode()) & 0x7FFFFFFF)


@contextlib.contextmanager
def init_keys(rng):
    """Within the block, layers that build take their keys from ``rng`` by path."""
    previous = _init_rng[0]
    _init_rng[0] = rng
    try:
        yield
    finally:
        _init_rng[0] = previous


def build_key(layer):
    """The key for building ``layer`` now: from ``init_keys``, its own seed, or the global stream."""
    if _init_rng[0] is not None:
        return path_key(_init_rng[0], layer.path)
    return layer._seeds.next() if layer._seeds is not None else global_stream().next()
