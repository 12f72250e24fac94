"""Saving and loading: weights, configs and whole models in Keras 3's ``.keras`` format.

Nothing a file holds can run code: configs name only jkeras' own classes, registered
objects and ``custom_objects``; weights are arrays checked against the model before
anything is set; every write is atomic.
"""
from .keras_file import load_model, save_model
from .model_config import clone_model, model_from_json
from .serialization import (custom_object_scope, deserialize_keras_object,
                            get_custom_objects, get_registered_name,
                            register_keras_serializable, serialize_keras_object)
from .weights import load_weights, save_weights, write_arrays

__all__ = ["clone_model", "custom_object_scope", "deserialize_keras_object",
           "get_custom_objects", "get_registered_name", "load_model", "load_weights",
           "model_from_json", "register_keras_serializable", "save_model", "save_weights",
           "serialize_keras_object", "write_arrays"]
