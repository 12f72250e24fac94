"""Weight initializers, by Keras name or as ``init(key, shape, dtype)`` callables.

Each built-in is a small object with Keras 3's class name and arguments (so it has a
``get_config`` and saves by name) that draws with ``jax.nn.initializers``. The
variance-scaling family uses Keras' fan conventions (fan_in on axis -2, fan_out on axis
-1, the receptive field folded in); :func:`with_fans` moves the fans to other axes, as
Keras does for einsum kernels. A ``seed`` fixes the draws, as in Keras: the key passed
in is then ignored.
"""
import contextlib

import jax
import jax.numpy as jnp
from jax.nn import initializers as jinit

from . import lookup

_placeholders = [False]


@contextlib.contextmanager
def placeholders():
    """Inside the block the built-in initializers give zeros instead of drawing: for
    weights about to be overwritten (a model rebuilt to load a file's weights into).

    >>> import jax
    >>> with placeholders():
    ...     GlorotUniform()(jax.random.key(0), (2,)).tolist()
    [0.0, 0.0]
    """
    previous, _placeholders[0] = _placeholders[0], True
    try:
        yield
    finally:
        _placeholders[0] = previous


class Initializer:
    """The base of the built-in initializers: a callable ``(key, shape, dtype) -> array``.

    >>> import jax
    >>> Zeros()(jax.random.key(0), (2,)).tolist()
    [0.0, 0.0]
    """

    def __call__(self, key, shape, dtype=jnp.float32):
        if _placeholders[0]:
            return jnp.zeros(shape, dtype)
        seed = getattr(self, "seed", None)
        return self._draw(key if seed is None else jax.random.key(seed), shape, dtype)

    def _draw(self, key, shape, dtype):
        raise NotImplementedError

    def get_config(self):
        """The constructor arguments, Keras' names.

        >>> RandomNormal(stddev=0.1).get_config()
        {'mean': 0.0, 'stddev': 0.1, 'seed': None}
        """
        return {}

    @classmethod
    def from_config(cls, config):
        """Rebuilds the initializer from ``get_config()``.

        >>> Constant.from_config({"value": 2.0}).value
        2.0
        """
        return cls(**config)

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self), repr(sorted(self.get_config().items()))))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """All zeros.

    >>> import jax
    >>> Zeros()(jax.random.key(0), (2,)).tolist()
    [0.0, 0.0]
    """

    def _draw(self, key, shape, dtype):
        return jnp.zeros(shape, dtype)


class Ones(Initializer):
    """All ones.

    >>> import jax
    >>> Ones()(jax.random.key(0), (2,)).tolist()
    [1.0, 1.0]
    """

    def _draw(self, key, shape, dtype):
        return jnp.ones(shape, dtype)


class Constant(Initializer):
    """Fills with ``value``.

    >>> import jax
    >>> Constant(0.5)(jax.random.key(0), (2,)).tolist()
    [0.5, 0.5]
    """

    def __init__(self, value=0.0):
        self.value = value

    def _draw(self, key, shape, dtype):
        return jnp.full(shape, self.value, dtype)

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    """Normal draws, Keras' defaults (``stddev=0.05``).

    >>> import jax
    >>> RandomNormal(mean=1.0)(jax.random.key(0), (2,)).shape
    (2,)
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def _draw(self, key, shape, dtype):
        return self.mean + self.stddev * jax.random.normal(key, shape, dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(Initializer):
    """Uniform draws in ``[minval, maxval)``, Keras' defaults.

    >>> import jax
    >>> bool((abs(RandomUniform()(jax.random.key(0), (100,))) <= 0.05).all())
    True
    """

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def _draw(self, key, shape, dtype):
        return jax.random.uniform(key, shape, dtype, self.minval, self.maxval)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class TruncatedNormal(Initializer):
    """Normal draws cut at two standard deviations, Keras' defaults.

    >>> import jax
    >>> bool((abs(TruncatedNormal()(jax.random.key(0), (100,))) <= 0.1).all())
    True
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def _draw(self, key, shape, dtype):
        return self.mean + self.stddev * jax.random.truncated_normal(key, -2.0, 2.0, shape,
                                                                     dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes).

    >>> import jax
    >>> Identity(2.0)(jax.random.key(0), (2, 2)).tolist()
    [[2.0, 0.0], [0.0, 2.0]]
    """

    def __init__(self, gain=1.0):
        self.gain = gain

    def _draw(self, key, shape, dtype):
        return self.gain * jnp.eye(*shape, dtype=dtype)

    def get_config(self):
        return {"gain": self.gain}


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix times ``gain``.

    >>> import jax
    >>> Orthogonal()(jax.random.key(0), (3, 3)).shape
    (3, 3)
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, seed

    def _draw(self, key, shape, dtype):
        return jinit.orthogonal(self.gain)(key, shape, dtype)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class VarianceScaling(Initializer):
    """Draws with variance ``scale / fan`` (``mode``: fan_in, fan_out or fan_avg).

    ``input_axes``/``output_axes`` say which axes the fans are taken over (default:
    Keras' -2 and -1, the receptive field folded in).

    >>> import jax
    >>> VarianceScaling(2.0, "fan_in", "truncated_normal")(jax.random.key(0), (4, 3)).shape
    (4, 3)
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 input_axes=None, output_axes=None):
        self.scale, self.mode, self.distribution = scale, mode, distribution
        self.seed, self.input_axes, self.output_axes = seed, input_axes, output_axes
        axes = {}
        if input_axes is not None and output_axes is not None:
            axes = {"in_axis": tuple(input_axes), "out_axis": tuple(output_axes)}
        self._init = jinit.variance_scaling(scale, mode, distribution, **axes)

    def _draw(self, key, shape, dtype):
        shape = tuple(shape)
        if len(shape) < 2 and self.input_axes is None:
            # Keras' fans of a vector: fan in = fan out = its size (1 for a scalar), where
            # JAX refuses; a (1, n) draw read as "fan_out" has exactly that variance.
            vector = jinit.variance_scaling(self.scale, "fan_out", self.distribution)
            return vector(key, (1, shape[0] if shape else 1), dtype).reshape(shape)
        return self._init(key, shape, dtype)

    def _args(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution}

    def get_config(self):
        return {**self._args(), "seed": self.seed, "input_axes": self.input_axes,
                "output_axes": self.output_axes}

    def with_fans(self, input_axes, output_axes):
        return VarianceScaling(**self._args(), seed=self.seed,
                               input_axes=list(input_axes), output_axes=list(output_axes))


def _variance_scaling(name, scale, mode, distribution):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes,
                "output_axes": self.output_axes}

    doc = (f"Keras' ``{name}``: variance scaling with scale {scale}, {mode}, "
           f"{distribution.replace('_', ' ')} draws.\n\n    >>> import jax\n    >>> "
           f"{name}()(jax.random.key(0), (4, 3)).shape\n    (4, 3)\n    ")
    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                           "__doc__": doc, "__module__": __name__})


GlorotUniform = _variance_scaling("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _variance_scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _variance_scaling("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _variance_scaling("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _variance_scaling("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _variance_scaling("LecunNormal", 1.0, "fan_in", "truncated_normal")

CLASSES = {cls.__name__: cls for cls in (
    Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal, Identity, Orthogonal,
    VarianceScaling, GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform,
    LecunNormal)}

ALL = {"glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
       "he_uniform": HeUniform, "he_normal": HeNormal, "lecun_uniform": LecunUniform,
       "lecun_normal": LecunNormal, "orthogonal": Orthogonal, "zeros": Zeros, "ones": Ones,
       "random_normal": RandomNormal, "random_uniform": RandomUniform,
       "truncated_normal": TruncatedNormal, "identity": Identity, "constant": Constant,
       "variance_scaling": VarianceScaling}
# Keras' aliases.
ALL["xavier_uniform"], ALL["xavier_normal"] = GlorotUniform, GlorotNormal
ALL["uniform"], ALL["normal"] = RandomUniform, RandomNormal
ALL["zero"], ALL["one"] = Zeros, Ones

# Keras' function-style names.
constant, random_normal, random_uniform = Constant, RandomNormal, RandomUniform
truncated_normal, identity = TruncatedNormal, Identity


def with_fans(init, in_axis, out_axis):
    """``init`` with its fans taken over ``in_axis``/``out_axis`` (Keras does so for einsum
    kernels) if it is a variance-scaling initializer; any other as it is.

    >>> import jax
    >>> init = with_fans(get("glorot_uniform"), in_axis=0, out_axis=(1, 2))
    >>> float(abs(init(jax.random.key(0), (64, 8, 16))).max()) <= (6 / (64 + 128)) ** 0.5
    True
    """
    if not isinstance(init, VarianceScaling):
        return init
    as_tuple = lambda axis: tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    return init.with_fans(as_tuple(in_axis), as_tuple(out_axis))


def get(identifier):
    """An initializer by name (``"he_normal"``), a callable ``(key, shape, dtype)`` as is.

    >>> import jax
    >>> get("zeros")(jax.random.key(0), (2,)).tolist()
    [0.0, 0.0]
    """
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    found = lookup.resolve(identifier, ALL, "initializer")
    return found() if isinstance(found, type) else found
