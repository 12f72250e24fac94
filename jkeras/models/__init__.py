"""Models: containers of layers (subclassed, functional, sequential)."""
from .functional import Functional
from .model import Model
from .sequential import Sequential
from ..saving import clone_model, load_model, model_from_json, save_model

__all__ = ["Functional", "Model", "Sequential", "clone_model", "load_model", "model_from_json",
           "save_model"]
