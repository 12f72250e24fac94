"""jkeras: Keras layers called on raw JAX arrays, over explicit params/state pytrees."""
from . import (activations, callbacks, constraints, datasets, initializers, layers, losses,
               metrics, models, optimizers, regularizers, sharding, state, utils)
from .models import Model, Sequential
from .naming import name_scope
from .pure import pure
from .symbolic import Input, KerasTensor
from .training import get_training, set_training, training_mode

__version__ = "0.1.0"

__all__ = [
    "Input", "KerasTensor", "Model", "Sequential", "activations", "callbacks", "constraints",
    "datasets", "get_training", "initializers", "layers", "losses", "metrics", "models",
    "name_scope", "optimizers", "pure", "regularizers", "set_training", "sharding", "state",
    "training_mode", "utils",
]
