"""Small handwritten digits (8x8) that need no download, in the form of MNIST.

This is scikit-learn's bundled copy of the UCI "optical recognition of handwritten digits"
test set: 1797 images of 8x8 pixels, shipped inside scikit-learn (the optional extra
``pip install "jkeras[data]"``). ``load_data`` returns it like ``mnist.load_data``:

* images: uint8 arrays shaped (N, 8, 8), rescaled from 0..16 to 0..255 as
  ``round(v * 255 / 16)`` (so 16 -> 255 and 8 -> 128);
* labels: uint8 arrays of digits 0..9;
* a fixed split: the permutation ``np.random.default_rng(0).permutation(1797)``; its first
  1437 indices are the training set and the remaining 360 the test set. The split is the same
  on every call and does not depend on any global seed.
"""
import numpy as np

__all__ = ["load_data", "NUM_SAMPLES", "NUM_TRAIN", "SEED"]

NUM_SAMPLES = 1797
NUM_TRAIN = 1437  # the remaining 360 are the test set
SEED = 0


def _split():
    """Indices into sklearn's digits of the training and test images."""
    perm = np.random.default_rng(SEED).permutation(NUM_SAMPLES)
    return perm[:NUM_TRAIN], perm[NUM_TRAIN:]


def load_data():
    """Load the 8x8 digits as ``(x_train, y_train), (x_test, y_test)``, with no download.

    Shapes are (1437, 8, 8), (1437,), (360, 8, 8), (360,); all arrays are uint8, pixel values
    0..255 and labels 0..9, as from ``mnist.load_data``. Needs scikit-learn
    (``pip install "jkeras[data]"``).

    Example:
        >>> from jkeras.datasets import digits
        >>> (x_train, y_train), (x_test, y_test) = digits.load_data()
        >>> x_train.shape, x_test.shape, x_train.dtype
        ((1437, 8, 8), (360, 8, 8), dtype('uint8'))
        >>> x = x_train.reshape(-1, 64).astype("float32") / 255.0
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise ImportError(
            "jkeras.datasets.digits needs scikit-learn, which bundles the digits images: "
            'pip install "jkeras[data]" (or pip install scikit-learn).'
        ) from err
    bunch = load_digits()
    images = np.rint(np.asarray(bunch.images, np.float64) * 255.0 / 16.0).astype(np.uint8)
    labels = np.asarray(bunch.target).astype(np.uint8)
    if len(images) != NUM_SAMPLES:
        raise ValueError(f"Expected {NUM_SAMPLES} digits from scikit-learn, found {len(images)}.")
    train, test = _split()
    return (images[train], labels[train]), (images[test], labels[test])
