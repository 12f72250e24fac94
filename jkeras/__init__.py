"""jkeras: Keras layers called on raw JAX arrays, over explicit params/state pytrees."""
from . import (activations, callbacks, constraints, datasets, initializers, layers, losses,
               metrics, models, optimizers, random, regularizers, state, utils, variables)
from .models import Model, Sequential
from .naming import name_scope
from .pure import pure
from .symbolic import Input, KerasTensor
from .training import get_training, set_training, training_mode
from .variables import Variable

__version__ = "0.1.0"

__all__ = [
    "Input", "KerasTensor", "Model", "Sequential", "Variable", "activations", "callbacks", "constraints",
    "datasets", "get_training", "initializers", "layers", "losses", "metrics", "models",
    "name_scope", "optimizers", "pure", "random", "regularizers", "set_training", "state",
    "training_mode", "utils", "variables",
]
