"""Datasets as NumPy arrays in Keras' ``(x_train, y_train), (x_test, y_test)`` form.

* ``mnist``: the 28x28 MNIST digits, read from a local cache or downloaded once.
* ``digits``: scikit-learn's 1797 8x8 digits, embedded, no download needed.

Example:
    >>> from jkeras.datasets import digits, mnist
    >>> loader = mnist if mnist.available() else digits
    >>> (x_train, y_train), (x_test, y_test) = loader.load_data()
"""
from . import digits, mnist

__all__ = ["digits", "mnist"]
