"""Resolving optimizer identifiers: names, configs, instances, optax transformations."""
import optax

from .adagrad import Adadelta, Adagrad
from .adam import Adam, Adamax, AdamW, Nadam
from .base import Optimizer
from .lion import Lion
from .loss_scale_optimizer import LossScaleOptimizer
from .rmsprop import RMSprop
from .sgd import SGD

_BY_NAME = {cls.__name__.lower(): cls
            for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Lion)}
# Classes a config may name: LossScaleOptimizer wraps another, so it has no name alone.
_CLASSES = {**_BY_NAME, "lossscaleoptimizer": LossScaleOptimizer}


def get(identifier):
    """Resolves ``identifier`` to an optimizer, as ``keras.optimizers.get`` does.

    A name (case-insensitive: ``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``,
    ``"adagrad"``, ``"adadelta"``, ``"adamax"``, ``"nadam"``, ``"lion"``) gives a new
    instance with default arguments; a ``{"class_name", "config"}`` dict rebuilds one;
    a jkeras optimizer or an optax ``GradientTransformation`` is returned as is.

    >>> get("Adam")
    Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07, amsgrad=False)
    >>> import optax
    >>> tx = optax.sgd(0.1)
    >>> get(tx) is tx
    True
    """
    if isinstance(identifier, (Optimizer, optax.GradientTransformation)):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Unknown optimizer {identifier!r}. Valid names: "
                             f"{', '.join(_BY_NAME)}.")
        return cls()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = _CLASSES.get(str(identifier["class_name"]).lower())
        if cls is None:
            raise ValueError(f"Unknown optimizer class {identifier['class_name']!r}. Valid "
                             f"names: {', '.join(c.__name__ for c in _CLASSES.values())}.")
        return cls.from_config(identifier.get("config", {}))
    raise ValueError(
        f"Could not interpret optimizer identifier {identifier!r}: expected a name "
        f"({', '.join(_BY_NAME)}), a jkeras optimizer or an optax GradientTransformation.")


def serialize(optimizer):
    """A built-in optimizer as a JSON-ready ``{"class_name", "config"}`` dict.

    >>> serialize(SGD(0.1))["class_name"]
    'SGD'
    """
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}
