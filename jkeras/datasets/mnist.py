"""MNIST handwritten digits, loaded exactly as ``keras.datasets.mnist.load_data`` does.

Files are looked up in a cache folder: ``path`` if given (a ``mnist.npz`` file or a folder),
else ``$JKERAS_HOME/datasets`` (default ``~/.jkeras/datasets``). The folder may hold either the
standard ``mnist.npz`` (keys ``x_train``, ``y_train``, ``x_test``, ``y_test``) or the four IDX
files of the original distribution (optionally gzipped). When nothing is cached, ``mnist.npz``
is downloaded once from Keras' public bucket, checked against its published SHA-256 and written
atomically into the cache folder.

Nothing loaded here can run code: ``.npz`` files are read with ``allow_pickle=False`` and IDX
files are parsed with NumPy.
"""
import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request

import numpy as np

__all__ = ["DatasetNotFoundError", "ChecksumError", "available", "load_data", "read_idx"]

URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
TIMEOUT = 30  # seconds, for connecting and for each read

NPZ_NAME = "mnist.npz"
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
# name -> IDX magic number (2051: 3-D unsigned bytes, 2049: 1-D unsigned bytes)
IDX_FILES = {
    "train-images-idx3-ubyte": 2051,
    "train-labels-idx1-ubyte": 2049,
    "t10k-images-idx3-ubyte": 2051,
    "t10k-labels-idx1-ubyte": 2049,
}


class DatasetNotFoundError(FileNotFoundError):
    """The dataset is neither cached nor downloadable (no network).

    >>> issubclass(DatasetNotFoundError, FileNotFoundError)
    True
    """


class ChecksumError(ValueError):
    """A downloaded file does not have the expected SHA-256; it has been deleted.

    >>> issubclass(ChecksumError, ValueError)
    True
    """


def _default_dir():
    home = os.environ.get("JKERAS_HOME") or os.path.join(os.path.expanduser("~"), ".jkeras")
    return os.path.join(home, "datasets")


def _locate(path):
    """Return ``(folder, npz_file)``: where to look, and where ``mnist.npz`` is or would go."""
    if path is None:
        folder = _default_dir()
        return folder, os.path.join(folder, NPZ_NAME)
    path = os.path.expanduser(os.fspath(path))
    if os.path.isdir(path):
        return path, os.path.join(path, NPZ_NAME)
    if os.path.isfile(path) or path.endswith(".npz"):
        return os.path.dirname(path) or ".", path
    return path, os.path.join(path, NPZ_NAME)


def _idx_paths(folder):
    """The four IDX files in ``folder`` (plain or ``.gz``), and the names not found."""
    found, missing = {}, []
    for name in IDX_FILES:
        for candidate in (name, name + ".gz"):
            if os.path.isfile(os.path.join(folder, candidate)):
                found[name] = os.path.join(folder, candidate)
                break
        else:
            missing.append(name)
    return found, missing


def available(path=None):
    """Whether MNIST is cached (``mnist.npz`` or all four IDX files); never uses the network.

    Example:
        >>> from jkeras.datasets import digits, mnist
        >>> loader = mnist if mnist.available() else digits
        >>> (x_train, y_train), (x_test, y_test) = loader.load_data()
    """
    folder, npz = _locate(path)
    if os.path.isfile(npz):
        return True
    return os.path.isdir(folder) and not _idx_paths(folder)[1]


def read_idx(filename, magic=None):
    """Read an IDX file (``.gz`` allowed) into a NumPy array.

    ``magic`` is the expected magic number (2051 for MNIST images, 2049 for labels); a file
    with another header, or with fewer or more bytes than its header declares, raises a
    ``ValueError`` naming the file.

    Example:
        >>> images = read_idx("train-images-idx3-ubyte.gz", magic=2051)  # doctest: +SKIP
        >>> images.shape, images.dtype  # doctest: +SKIP
        ((60000, 28, 28), dtype('uint8'))
    """
    filename = os.fspath(filename)
    opener = gzip.open if filename.endswith(".gz") else open
    try:
        with opener(filename, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:  # e.g. a ".gz" name on a file that is not gzip
        raise ValueError(f"Cannot read IDX file {filename!r}: {err}") from err
    if len(data) < 4:
        raise ValueError(f"Malformed IDX file {filename!r}: expected a 4-byte header, "
                         f"found only {len(data)} bytes.")
    found = int.from_bytes(data[:4], "big")
    if magic is not None and found != magic:
        raise ValueError(f"Malformed IDX file {filename!r}: expected magic number {magic} "
                         f"(0x{magic:08x}), found {found} (0x{found:08x}).")
    if data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"Malformed IDX file {filename!r}: expected an unsigned-byte IDX "
                         f"header 0x000008NN, found 0x{found:08x}.")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"Malformed IDX file {filename!r}: expected {ndim} dimension sizes "
                         f"({header} header bytes), found only {len(data)} bytes.")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    size = int(np.prod(shape, dtype=np.int64))
    if len(data) - header != size:
        raise ValueError(f"Malformed IDX file {filename!r}: header declares shape {shape} "
                         f"({size} bytes of data), found {len(data) - header} bytes.")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape).copy()


def _check(x, y, source, split):
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"Malformed MNIST data in {source!r}: expected {split} images shaped "
                         f"(N, rows, cols) and labels shaped (N,), found {x.shape} and {y.shape}.")
    return x, y


def _load_npz(filename):
    try:
        with np.load(filename, allow_pickle=False) as f:
            found = sorted(f.files)
            arrays = {k: f[k] for k in NPZ_KEYS if k in found}
    except ValueError as err:
        raise ValueError(f"Cannot read MNIST file {filename!r} as a .npz archive of plain "
                         f"arrays (pickled objects are refused): {err}") from err
    missing = [k for k in NPZ_KEYS if k not in arrays]
    if missing:
        raise ValueError(f"Malformed MNIST file {filename!r}: expected keys {list(NPZ_KEYS)}, "
                         f"found {found} (missing {missing}).")
    return (_check(arrays["x_train"], arrays["y_train"], filename, "training"),
            _check(arrays["x_test"], arrays["y_test"], filename, "test"))


def _load_idx(paths):
    def pair(prefix, split):
        images, labels = f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"
        x = read_idx(paths[images], IDX_FILES[images])
        y = read_idx(paths[labels], IDX_FILES[labels])
        return _check(x, y, paths[images], split)
    return pair("train", "training"), pair("t10k", "test")


def _download(destination):
    """Fetch ``URL`` into ``destination`` atomically, verifying ``SHA256``."""
    folder = os.path.dirname(destination) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".mnist-", suffix=".part")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(URL, timeout=TIMEOUT) as resp:
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != SHA256:
            raise ChecksumError(f"The download of {URL} is corrupted or incomplete: expected "
                                f"SHA-256 {SHA256}, found {digest.hexdigest()}. It has been "
                                f"deleted; try again, or put {NPZ_NAME} in {folder!r} yourself.")
        os.replace(tmp, destination)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_data(path=None):
    """Load MNIST as ``(x_train, y_train), (x_test, y_test)``, like Keras.

    Images are uint8 arrays shaped (60000, 28, 28) and (10000, 28, 28) with values 0..255;
    labels are uint8 arrays of digits 0..9. ``path`` is a ``mnist.npz`` file or a folder to
    use instead of ``$JKERAS_HOME/datasets`` (default ``~/.jkeras/datasets``). A folder may hold
    ``mnist.npz`` or the four IDX files (``train-images-idx3-ubyte``, ...; ``.gz`` allowed).
    When nothing is cached, ``mnist.npz`` is downloaded there once and its SHA-256 checked.

    Raises ``DatasetNotFoundError`` (a ``FileNotFoundError``) when nothing is cached and the
    download fails, and ``ChecksumError`` when the downloaded file is corrupted.

    Example:
        >>> from jkeras.datasets import mnist
        >>> (x_train, y_train), (x_test, y_test) = mnist.load_data()  # doctest: +SKIP
        >>> x_train.shape, y_train[:3]  # doctest: +SKIP
        ((60000, 28, 28), array([5, 0, 4], dtype=uint8))
    """
    folder, npz = _locate(path)
    if os.path.isfile(npz):
        return _load_npz(npz)
    idx, missing = _idx_paths(folder) if os.path.isdir(folder) else ({}, list(IDX_FILES))
    if not missing:
        return _load_idx(idx)
    try:
        _download(npz)
    except (urllib.error.URLError, OSError) as err:  # no network, timeout, unwritable folder
        partial = (f" Found only {sorted(os.path.basename(p) for p in idx.values())}; "
                   f"missing {missing}." if idx else "")
        raise DatasetNotFoundError(
            f"MNIST is not cached and could not be downloaded from {URL} ({err}). "
            f"Looked for {NPZ_NAME!r} at {npz!r} and for the four IDX files "
            f"{list(IDX_FILES)} (optionally .gz) in {folder!r}.{partial} To fix: put "
            f"{NPZ_NAME} or the four IDX files in {folder!r}, or pass "
            f"path= to a folder or mnist.npz file that has them, or use "
            f"jkeras.datasets.digits.load_data(), which needs no download."
        ) from err
    return _load_npz(npz)
