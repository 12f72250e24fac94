"""Layers: each a pure ``build``/``call`` pair under a thin stateful object."""
from ..symbolic import Input
from .base import InputSpec, Layer, Weight
from .convolutional import (Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D,
                            Conv3DTranspose, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D,
                            SeparableConv2D)
from .core import Activation, Dense, Embedding, Identity
from .merging import (Add, Average, Concatenate, Dot, Maximum, Merge, Minimum, Multiply,
                      Subtract)
from .normalization import BatchNormalization, LayerNormalization
from .pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D,
                      GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D,
                      GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D, MaxPooling1D,
                      MaxPooling2D, MaxPooling3D)
from .regularization import Dropout
from .reshaping import (Cropping1D, Cropping2D, Flatten, Permute, RepeatVector, Reshape,
                        UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D)

# Keras' aliases.
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D

__all__ = [
    "AvgPool1D", "AvgPool2D", "AvgPool3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose", "Conv3D",
    "Conv3DTranspose", "Convolution1D", "Convolution2D", "Convolution3D", "DepthwiseConv1D",
    "DepthwiseConv2D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalMaxPool1D", "GlobalMaxPool2D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "MaxPool1D", "MaxPool2D",
    "MaxPool3D", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "SeparableConv1D",
    "SeparableConv2D",
    "Activation", "Add", "Average", "BatchNormalization", "Concatenate", "Cropping1D",
    "Cropping2D", "Dense", "Dot", "Dropout", "Embedding", "Flatten", "Identity", "Input",
    "InputSpec", "Layer", "LayerNormalization", "Maximum", "Merge", "Minimum", "Multiply",
    "Permute", "RepeatVector", "Reshape", "Subtract", "UpSampling1D", "UpSampling2D", "Weight",
    "ZeroPadding1D", "ZeroPadding2D",
]
