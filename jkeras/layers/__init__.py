"""Layers: each a pure ``build``/``call`` pair under a thin stateful object."""
from .base import InputSpec, Layer, Weight
from .core import Activation, Dense, Embedding, Identity
from .merging import Add, Concatenate
from .normalization import BatchNormalization, LayerNormalization
from .regularization import Dropout
from .reshaping import Flatten, Reshape
from ..symbolic import Input

__all__ = [
    "Activation", "Add", "BatchNormalization", "Concatenate", "Dense", "Dropout", "Embedding",
    "Flatten", "Identity", "Input", "InputSpec", "Layer", "LayerNormalization", "Reshape",
    "Weight",
]
