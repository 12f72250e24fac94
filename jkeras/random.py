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


# -- Keras' ``keras.random``: draws keyed by the pure call that is running ----------------
_key_scopes = []  # the frames of the pure calls running (see jkeras.frame.Frame)


@contextlib.contextmanager
def key_scope(frame):
    """Within the block (a layer's pure call), ``SeedGenerator`` draws take their keys
    from ``frame`` (its ``rng`` and draw counter, shared with the call's sublayers)."""
    _key_scopes.append(frame)
    try:
        yield
    finally:
        _key_scopes.pop()


class SeedGenerator:
    """Keras' source of keys for the random functions' ``seed=``.

    Inside a layer's pure call the keys derive from the ``rng`` passed to ``apply``
    (``fit`` passes a fresh one each step); a call without one draws from the
    generator's own seed, the same numbers on every such call; outside any call,
    from the generator's own stream.

    >>> import jkeras
    >>> gen = jkeras.random.SeedGenerator(1337)
    >>> jkeras.random.normal((2,), seed=gen).shape
    (2,)
    """

    def __init__(self, seed=None, **kwargs):
        self._stream = SeedStream(seed)

    def next(self, ordered=True):
        """A fresh key."""
        if not _key_scopes:
            return self._stream.next()
        frame = _key_scopes[-1]
        if frame.rng is not None:
            return frame.next_key()
        frame._draws += 1
        return jax.random.fold_in(jax.random.key(self._stream._seed), frame._draws)


def draw_key(seed):
    """The key for a random function's ``seed=``: a SeedGenerator's next key, an int's
    fixed key, a key as is, or (``None``) the next key of the global stream.

    >>> draw_key(3).dtype.name.startswith("key")
    True
    """
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if seed is None:
        if _key_scopes and _key_scopes[-1].rng is not None:
            return _key_scopes[-1].next_key()
        return global_stream().next()
    if isinstance(seed, (int, np.integer)):
        return jax.random.key(int(seed))
    if isinstance(seed, jax.Array):
        return seed if jax.dtypes.issubdtype(seed.dtype, jax.dtypes.prng_key) else \
            jax.random.wrap_key_data(seed)
    raise TypeError(f"seed must be None, an int, a SeedGenerator or a PRNG key, got {seed!r}")


def normal(shape, mean=0.0, stddev=1.0, dtype="float32", seed=None):
    """Normal samples, as ``keras.random.normal``.

    >>> normal((2, 3), seed=0).shape
    (2, 3)
    """
    return mean + stddev * jax.random.normal(draw_key(seed), tuple(shape), dtype)


def uniform(shape, minval=0.0, maxval=1.0, dtype="float32", seed=None):
    """Uniform samples in ``[minval, maxval)``, as ``keras.random.uniform``.

    >>> float(uniform((100,), seed=0).max()) < 1.0
    True
    """
    return jax.random.uniform(draw_key(seed), tuple(shape), dtype, minval, maxval)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype="float32", seed=None):
    """Normal samples within two standard deviations, as Keras'.

    >>> float(abs(truncated_normal((100,), seed=0)).max()) <= 2.0
    True
    """
    return mean + stddev * jax.random.truncated_normal(draw_key(seed), -2.0, 2.0,
                                                       tuple(shape), dtype)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers in ``[minval, maxval)``, as ``keras.random.randint``.

    >>> int(randint((10,), 0, 3, seed=0).max()) < 3
    True
    """
    return jax.random.randint(draw_key(seed), tuple(shape), minval, maxval, dtype)


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Zeroes each entry with probability ``rate`` and scales the rest by ``1/(1-rate)``.

    >>> import jax.numpy as jnp
    >>> sorted(set(dropout(jnp.ones(100), 0.5, seed=0).tolist()))
    [0.0, 2.0]
    """
    from .layers.regularization import dropout as dropout_with_key  # the one dropout
    inputs = jax.numpy.asarray(inputs)
    if noise_shape is not None:
        noise_shape = tuple(s if n is None else n for s, n in zip(inputs.shape, noise_shape))
    return dropout_with_key(inputs, rate, draw_key(seed), noise_shape)


def shuffle(x, axis=0, seed=None):
    """``x`` permuted along ``axis``, as ``keras.random.shuffle``.

    >>> sorted(shuffle(jax.numpy.arange(4), seed=0).tolist())
    [0, 1, 2, 3]
    """
    return jax.random.permutation(draw_key(seed), x, axis=axis, independent=False)


def categorical(logits, num_samples, dtype="int32", seed=None):
    """``num_samples`` class indices per row of ``logits``, as ``keras.random.categorical``.

    >>> categorical(jax.numpy.zeros((2, 3)), 4, seed=0).shape
    (2, 4)
    """
    logits = jax.numpy.asarray(logits)
    draws = jax.random.categorical(draw_key(seed), logits[:, None, :], axis=-1,
                                   shape=(logits.shape[0], num_samples))
    return draws.astype(dtype)


_ambient = []


@contextlib.contextmanager
def step_key(rng):
    """Within the block (a training step that ``fit`` runs), pure calls made without an
    ``rng`` (``stateless_call`` in a user's ``train_step``) draw theirs from ``rng``."""
    _ambient.append([rng, 0])
    try:
        yield
    finally:
        _ambient.pop()


def ambient_key():
    """The next key of the running step (see :func:`step_key`), or ``None``.

    >>> ambient_key() is None
    True
    """
    if not _ambient:
        return None
    entry = _ambient[-1]
    entry[1] += 1
    return jax.random.fold_in(entry[0], entry[1])
