"""Layers: each a pure ``build``/``call`` pair under a thin stateful object."""
from ..symbolic import Input
from .base import InputSpec, Layer, Weight
from .core import Activation, Dense, Embedding, Identity
from .merging import (Add, Average, Concatenate, Dot, Maximum, Merge, Minimum, Multiply,
                      Subtract)
from .normalization import BatchNormalization, LayerNormalization
from .regularization import Dropout
from .reshaping import (Cropping1D, Cropping2D, Flatten, Permute, RepeatVector, Reshape,
                        UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D)

__all__ = [
    "Activation", "Add", "Average", "BatchNormalization", "Concatenate", "Cropping1D",
    "Cropping2D", "Dense", "Dot", "Dropout", "Embedding", "Flatten", "Identity", "Input",
    "InputSpec", "Layer", "LayerNormalization", "Maximum", "Merge", "Minimum", "Multiply",
    "Permute", "RepeatVector", "Reshape", "Subtract", "UpSampling1D", "UpSampling2D", "Weight",
    "ZeroPadding1D", "ZeroPadding2D",
]
