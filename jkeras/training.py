"""The training flag: a static Python bool that replaces Keras' learning phase."""
import contextlib

_default = [None]


def set_training(value):
    """Sets the process-wide default for calls that do not pass ``training=``.

    ``None`` restores the built-in default (inference). This is the tutorial's
    ``K.set_learning_phase(0)``; an explicit ``training=`` argument always wins.

    >>> set_training(False)
    >>> set_training(None)
    """
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"set_training expects True, False or None, got {value!r}")
    _default[0] = value


def get_training():
    """The current default training flag (``False`` unless set).

    >>> get_training()
    False
    """
    return bool(_default[0])


@contextlib.contextmanager
def training_mode(value=True):
    """Within the block, calls without ``training=`` run in this mode.

    >>> import jkeras, jax.numpy as jnp
    >>> drop = jkeras.layers.Dropout(0.5, seed=0)
    >>> with training_mode(False):
    ...     y = drop(jnp.ones(4))          # inference: the identity
    """
    if not isinstance(value, bool):
        raise TypeError(f"training_mode expects True or False, got {value!r}")
    previous = _default[0]
    _default[0] = value
    try:
        yield
    finally:
        _default[0] = previous


def resolve(training, inherited=None):
    """An explicit flag wins, then the caller's (``inherited``), then the default."""
    if training is None:
        training = inherited if inherited is not None else get_training()
    if not isinstance(training, bool):
        # A traced flag would make every layer's branch a runtime cond; refuse it early.
        raise TypeError(f"training must be a Python bool (static), got {type(training).__name__}")
    return training
