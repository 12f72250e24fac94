"""jkeras: Keras layers called on raw JAX arrays, over explicit params/state pytrees."""
from . import (activations, callbacks, constraints, datasets, initializers, layers, losses,
               metrics, mixed_precision, models, ops, optimizers, random, regularizers,
               saving, sharding, state, utils, variables)
from .models import Model, Sequential
from .naming import name_scope
from .pure import pure
from .symbolic import Input, KerasTensor
from .training import get_training, set_training, training_mode
from .variables import Variable

__version__ = "0.1.0"


def __getattr__(name):
    # jkeras.serve on first use: `python -m jkeras.serve` then runs it without a second copy.
    if name == "serve":
        import importlib
        return importlib.import_module(".serve", __name__)
    raise AttributeError(f"module 'jkeras' has no attribute {name!r}")


__all__ = [
    "Input", "KerasTensor", "Model", "Sequential", "Variable", "activations", "callbacks",
    "constraints", "datasets", "get_training", "initializers", "layers", "losses", "metrics",
    "mixed_precision", "models", "name_scope", "ops", "optimizers", "pure", "random",
    "regularizers", "saving", "serve", "set_training", "sharding", "state", "training_mode",
    "utils", "variables",
]
