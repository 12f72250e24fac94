"""jkeras.datasets: the embedded digits and the MNIST loader (never touching the network)."""
import gzip
import hashlib
import io
import os
import sys
import urllib.error

import numpy as np
import pytest

import jkeras
from jkeras.datasets import digits, mnist


# --------------------------------------------------------------------------- helpers

@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    """No test may reach the network or the real cache: urlopen fails, JKERAS_HOME is empty."""
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")
    monkeypatch.setattr(mnist.urllib.request, "urlopen", refuse)
    monkeypatch.setenv("JKERAS_HOME", str(tmp_path / "home"))


class FakeResponse(io.BytesIO):
    """What urlopen returns, enough for the loader: read() and a context manager."""


def idx_bytes(array, magic):
    array = np.asarray(array, np.uint8)
    return (magic.to_bytes(4, "big") + np.asarray(array.shape, ">u4").tobytes()
            + array.tobytes())


def write_idx_set(folder, data, gz=False):
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": (rng.integers(0, 256, (5, 28, 28)), 2051),
        "train-labels-idx1-ubyte": (rng.integers(0, 10, (5,)), 2049),
        "t10k-images-idx3-ubyte": (rng.integers(0, 256, (3, 28, 28)), 2051),
        "t10k-labels-idx1-ubyte": (rng.integers(0, 10, (3,)), 2049),
    }
    for name, (array, magic) in arrays.items():
        raw = idx_bytes(array, magic)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
        data[name] = array.astype(np.uint8)
    return data


def npz_bytes(n_train=4, n_test=2):
    rng = np.random.default_rng(2)
    buf = io.BytesIO()
    arrays = dict(x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
                  y_train=rng.integers(0, 10, (n_train,), dtype=np.uint8),
                  x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
                  y_test=rng.integers(0, 10, (n_test,), dtype=np.uint8))
    np.savez(buf, **arrays)
    return buf.getvalue(), arrays


# --------------------------------------------------------------------------- digits

def test_digits_split_is_fixed_disjoint_and_complete():
    import sklearn.datasets as sklearn_datasets
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    assert x_train.shape == (1437, 8, 8) and y_train.shape == (1437,)
    assert x_test.shape == (360, 8, 8) and y_test.shape == (360,)
    for a in (x_train, y_train, x_test, y_test):
        assert a.dtype == np.uint8
    assert x_train.min() == 0 and x_train.max() == 255
    assert set(np.unique(y_train)) <= set(range(10)) and set(np.unique(y_test)) <= set(range(10))

    train_idx, test_idx = digits._split()
    assert len(train_idx) + len(test_idx) == 1797
    assert not set(train_idx) & set(test_idx)
    assert sorted(np.concatenate([train_idx, test_idx])) == list(range(1797))

    # Same images and labels as sklearn's, at the documented indices.
    sk = sklearn_datasets.load_digits()
    perm = np.random.default_rng(0).permutation(1797)
    np.testing.assert_array_equal(train_idx, perm[:1437])
    np.testing.assert_array_equal(y_train, sk.target[perm[:1437]])
    np.testing.assert_array_equal(y_test, sk.target[perm[1437:]])
    np.testing.assert_array_equal(x_train, np.rint(sk.images[perm[:1437]] * 255 / 16))
    np.testing.assert_array_equal(x_test, np.rint(sk.images[perm[1437:]] * 255 / 16))


def test_digits_same_on_every_call_whatever_the_global_seed():
    np.random.seed(123)
    first = digits.load_data()
    np.random.seed(456)
    np.random.default_rng(99).random(10)
    second = digits.load_data()
    for a, b in zip(first[0] + first[1], second[0] + second[1]):
        np.testing.assert_array_equal(a, b)


def test_digits_without_sklearn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r'pip install "jkeras\[data\]"'):
        digits.load_data()


# --------------------------------------------------------------------------- IDX

@pytest.mark.parametrize("gz", [False, True])
def test_load_data_from_idx_files(tmp_path, gz):
    data = write_idx_set(tmp_path, {}, gz=gz)
    assert mnist.available(tmp_path)
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=tmp_path)
    np.testing.assert_array_equal(x_train, data["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_train, data["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(x_test, data["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_test, data["t10k-labels-idx1-ubyte"])
    assert x_train.dtype == y_train.dtype == np.uint8
    assert x_train.shape == (5, 28, 28) and y_test.shape == (3,)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx(tmp_path, gz):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = idx_bytes(array, 2051)
    f = tmp_path / ("a.idx.gz" if gz else "a.idx")
    f.write_bytes(gzip.compress(raw) if gz else raw)
    out = mnist.read_idx(f, magic=2051)
    assert out.dtype == np.uint8 and out.flags.writeable
    np.testing.assert_array_equal(out, array)


def test_malformed_idx_names_the_file(tmp_path):
    write_idx_set(tmp_path, {})
    bad = tmp_path / "train-labels-idx1-ubyte"
    bad.write_bytes(idx_bytes(np.zeros(5), 2051))  # an image magic number on a label file
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte") as info:
        mnist.load_data(path=tmp_path)
    assert "expected magic number 2049" in str(info.value) and "found 2051" in str(info.value)

    bad.write_bytes(idx_bytes(np.zeros(5), 2049)[:-2])  # truncated data
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.*found 3 bytes"):
        mnist.load_data(path=tmp_path)

    bad.write_bytes(b"\x00\x00")  # truncated header
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.*4-byte header"):
        mnist.load_data(path=tmp_path)


# --------------------------------------------------------------------------- npz

def test_load_data_from_npz_folder_file_and_default_home(tmp_path, monkeypatch):
    raw, arrays = npz_bytes()
    (tmp_path / "mnist.npz").write_bytes(raw)
    expected = ((arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"]))

    home = tmp_path / "home"
    (home / "datasets").mkdir(parents=True)
    (home / "datasets" / "mnist.npz").write_bytes(raw)
    monkeypatch.setenv("JKERAS_HOME", str(home))
    assert mnist.available()

    for path in (tmp_path, tmp_path / "mnist.npz", str(tmp_path), None):
        out = mnist.load_data(path=path)
        for got, want in zip(out[0] + out[1], expected[0] + expected[1]):
            assert got.dtype == np.uint8
            np.testing.assert_array_equal(got, want)


def test_npz_missing_keys_and_pickles_are_refused(tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="missing.*y_train"):
        mnist.load_data(path=tmp_path)
    objects = np.empty(1, dtype=object)
    np.savez(tmp_path / "mnist.npz", x_train=objects, y_train=objects, x_test=objects,
             y_test=objects)
    with pytest.raises(ValueError, match="pickled objects are refused"):
        mnist.load_data(path=tmp_path)


# --------------------------------------------------------------------------- download

def test_download_verifies_and_writes_atomically(tmp_path, monkeypatch):
    raw, arrays = npz_bytes()
    calls = []

    def fake_urlopen(url, timeout=None):
        calls.append((url, timeout))
        return FakeResponse(raw)

    monkeypatch.setattr(mnist.urllib.request, "urlopen", fake_urlopen)
    monkeypatch.setattr(mnist, "SHA256", hashlib.sha256(raw).hexdigest())
    assert not mnist.available()
    (x_train, _), (_, y_test) = mnist.load_data()
    np.testing.assert_array_equal(x_train, arrays["x_train"])
    np.testing.assert_array_equal(y_test, arrays["y_test"])
    assert calls == [(mnist.URL, mnist.TIMEOUT)] and 0 < mnist.TIMEOUT <= 60
    folder = tmp_path / "home" / "datasets"
    assert sorted(os.listdir(folder)) == ["mnist.npz"]  # no temp file left behind
    assert mnist.available()
    mnist.load_data()  # now cached: no second download
    assert len(calls) == 1


def test_checksum_mismatch_deletes_the_download_and_raises(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist.urllib.request, "urlopen",
                        lambda url, timeout=None: FakeResponse(b"not the real mnist.npz"))
    with pytest.raises(mnist.ChecksumError, match=mnist.SHA256):
        mnist.load_data(path=tmp_path)
    assert os.listdir(tmp_path) == []
    assert not mnist.available(tmp_path)


def test_no_cache_and_no_network_raises_helpful_error(tmp_path):
    folder = tmp_path / "home" / "datasets"
    with pytest.raises(mnist.DatasetNotFoundError) as info:
        mnist.load_data()
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    for piece in (str(folder), "mnist.npz", "train-images-idx3-ubyte", "path=",
                  "jkeras.datasets.digits", "network disabled"):
        assert piece in message
    assert not mnist.available()
    assert not folder.exists() or os.listdir(folder) == []


def test_partial_idx_set_reports_what_is_missing(tmp_path):
    write_idx_set(tmp_path, {})
    os.remove(tmp_path / "t10k-labels-idx1-ubyte")
    assert not mnist.available(tmp_path)
    with pytest.raises(mnist.DatasetNotFoundError, match="missing.*t10k-labels-idx1-ubyte"):
        mnist.load_data(path=tmp_path)


@pytest.mark.parametrize("labels", [[0, 2, 1], [[0], [3]], [[0, 1, 2], [2, 1, 0]]])
def test_to_categorical_matches_keras(keras, labels):
    ours = jkeras.utils.to_categorical(labels, 4)
    np.testing.assert_array_equal(ours, keras.utils.to_categorical(labels, 4))
    assert ours.dtype == np.float32
