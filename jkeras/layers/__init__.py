"""Layers: each a pure ``build``/``call`` pair under a thin stateful object."""
from ..symbolic import Input
from .activation_layers import ELU, PReLU, LeakyReLU, ReLU, Softmax
from .attention import AdditiveAttention, Attention, MultiHeadAttention
from .base import InputSpec, Layer, Weight
from .convolutional import (Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D,
                            Conv3DTranspose, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D,
                            SeparableConv2D)
from .conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D, ConvLSTMCell
from .core import Activation, Dense, Embedding, Identity, Lambda, Rescaling
from .einsum_dense import EinsumDense
from .masking import Masking
from .merging import (Add, Average, Concatenate, Dot, Maximum, Merge, Minimum, Multiply,
                      Subtract, add, average, concatenate, dot, maximum, minimum, multiply,
                      subtract)
from .noise import (AlphaDropout, GaussianDropout, GaussianNoise, SpatialDropout1D,
                    SpatialDropout2D, SpatialDropout3D)
from .normalization import (BatchNormalization, GroupNormalization, LayerNormalization,
                            RMSNormalization, UnitNormalization)
from .pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D,
                      GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D,
                      GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D, MaxPooling1D,
                      MaxPooling2D, MaxPooling3D)
from .recurrent import (GRU, LSTM, GRUCell, LSTMCell, Recurrent, SimpleRNN,
                        SimpleRNNCell)
from .regularization import ActivityRegularization, Dropout
from .rnn import RNN, RNNCell, StackedRNNCells
from .reshaping import (Cropping1D, Cropping2D, Flatten, Permute, RepeatVector, Reshape,
                        UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D)
from .wrappers import Bidirectional, TimeDistributed, Wrapper

# Keras' aliases.
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D

__all__ = [
    "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "ConvLSTMCell", "GRUCell", "LSTMCell", "RNN",
    "RNNCell", "SimpleRNNCell", "StackedRNNCells",
    "Activation", "ActivityRegularization", "Add", "AdditiveAttention", "AlphaDropout",
    "Attention", "Average", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "AvgPool1D", "AvgPool2D", "AvgPool3D", "BatchNormalization", "Bidirectional",
    "Concatenate", "Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose", "Conv3D",
    "Conv3DTranspose", "Convolution1D", "Convolution2D", "Convolution3D", "Cropping1D",
    "Cropping2D", "Dense", "DepthwiseConv1D", "DepthwiseConv2D", "Dot", "Dropout", "ELU",
    "EinsumDense", "Embedding", "Flatten", "GRU", "GaussianDropout", "GaussianNoise",
    "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalAveragePooling3D", "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPooling1D",
    "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GroupNormalization", "Identity", "Input",
    "InputSpec", "LSTM", "Lambda", "Layer", "LayerNormalization", "LeakyReLU", "Masking",
    "MaxPool1D", "MaxPool2D", "MaxPool3D", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "Maximum", "Merge", "Minimum", "MultiHeadAttention", "Multiply", "PReLU", "Permute",
    "RMSNormalization", "ReLU", "Recurrent", "RepeatVector", "Rescaling", "Reshape",
    "SeparableConv1D", "SeparableConv2D", "SimpleRNN", "Softmax", "SpatialDropout1D",
    "SpatialDropout2D", "SpatialDropout3D", "Subtract", "TimeDistributed", "UnitNormalization",
    "UpSampling1D", "UpSampling2D", "Weight", "Wrapper", "ZeroPadding1D", "ZeroPadding2D",
    "add", "average", "concatenate", "dot", "maximum", "minimum", "multiply", "subtract",
    "deserialize", "serialize",
]


def serialize(layer):
    """``layer`` as Keras 3's ``{"module", "class_name", "config", "registered_name"}``.

    >>> serialize(Dense(2, name="d"))["class_name"]
    'Dense'
    """
    from ..saving import serialization
    return serialization.serialize_keras_object(layer)


def deserialize(config, custom_objects=None):
    """The layer :func:`serialize` (or Keras 3) wrote; only jkeras' classes, registered
    ones and ``custom_objects`` are built.

    >>> deserialize(serialize(Dense(2, name="d"))).units
    2
    """
    from ..saving import serialization
    layer = serialization.deserialize_keras_object(config, custom_objects)
    if not isinstance(layer, Layer):
        raise TypeError(f"jkeras.layers.deserialize: the config describes a "
                        f"{type(layer).__name__}, not a layer.")
    return layer
