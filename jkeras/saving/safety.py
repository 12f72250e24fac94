"""Checks on untrusted files before anything is read into memory or set on a model."""
import io
import json
import struct
import zipfile

import numpy as np

# A .keras member may not declare more than this many times its stored size (Keras writes
# members uncompressed; DEFLATE cannot legitimately exceed ~1032x), nor more than a cap.
MAX_EXPANSION = 100
MAX_CONFIG_BYTES = 64 << 20


def open_zip(filepath, what):
    """The zip archive at ``filepath``, its member names checked (no absolute or ``..``
    paths, no duplicates); a ValueError names the file otherwise.

    >>> import io, zipfile
    >>> buf = io.BytesIO(); zipfile.ZipFile(buf, "w").writestr("config.json", "{}")
    >>> sorted(open_zip(buf, "doc").namelist())
    ['config.json']
    """
    try:
        archive = zipfile.ZipFile(filepath, "r")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise ValueError(f"{what}: {filepath!r} is not a readable .keras file (a zip "
                         f"archive): {err}") from None
    names = archive.namelist()
    for name in names:
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
            raise ValueError(f"{what}: {filepath!r} holds a member with an unsafe path "
                             f"{name!r}; refusing the file.")
    if len(set(names)) != len(names):
        raise ValueError(f"{what}: {filepath!r} holds duplicate member names; refusing it.")
    return archive


def check_member(archive, name, what, limit):
    """The zip info of member ``name``, refusing a declared size over ``limit`` or a
    declared expansion over ``MAX_EXPANSION`` (nothing is read).

    >>> import io, zipfile
    >>> buf = io.BytesIO(); zipfile.ZipFile(buf, "w").writestr("a", "xyz")
    >>> check_member(zipfile.ZipFile(buf), "a", "doc", 10).file_size
    3
    """
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ValueError(f"{what}: the archive has no {name!r}") from None
    if info.file_size > limit:
        raise ValueError(f"{what}: {name!r} declares {info.file_size} bytes, more than the "
                         f"{limit} this file can need; refusing it.")
    if info.file_size > MAX_EXPANSION * max(info.compress_size, 1) and info.file_size > 1 << 20:
        raise ValueError(f"{what}: {name!r} declares {info.file_size} bytes stored in "
                         f"{info.compress_size}: a decompression bomb; refusing it.")
    return info


class StoredMember(io.RawIOBase):
    """A read-only, seekable window on an uncompressed zip member's bytes in the file
    itself: h5py reads each array straight from disk, with no copy of the member and
    none of zipfile's per-read bookkeeping.

    >>> import io, zipfile
    >>> buf = io.BytesIO(); zipfile.ZipFile(buf, "w").writestr("a", "xyz")
    >>> f = StoredMember(buf, zipfile.ZipFile(buf).getinfo("a"))
    >>> f.seek(1), f.read()
    (1, b'yz')
    """

    def __init__(self, raw, info):
        super().__init__()
        raw.seek(info.header_offset)
        header = raw.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise ValueError(f"the zip entry of {info.filename!r} is corrupt")
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        self._raw, self._start = raw, info.header_offset + 30 + name_len + extra_len
        self._size, self._pos = info.file_size, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer):
        n = max(0, min(len(buffer), self._size - self._pos))
        self._raw.seek(self._start + self._pos)
        got = self._raw.readinto(memoryview(buffer)[:n])
        if got != n:
            raise EOFError("the file ends inside a zip member (truncated file?)")
        self._pos += got
        return got


def read_member(archive, name, what, limit):
    """The bytes of member ``name`` after :func:`check_member`; reading stops at the
    declared size.

    >>> import io, zipfile
    >>> buf = io.BytesIO(); zipfile.ZipFile(buf, "w").writestr("a", "xyz")
    >>> read_member(zipfile.ZipFile(buf), "a", "doc", 10)
    b'xyz'
    """
    info = check_member(archive, name, what, limit)
    try:
        with archive.open(info) as f:
            data = f.read(info.file_size + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise ValueError(f"{what}: {name!r} cannot be read (truncated or corrupt file?): "
                         f"{err}") from None
    if len(data) != info.file_size:
        raise ValueError(f"{what}: {name!r} holds more data than it declares; refusing it.")
    return data


def parse_json(data, what):
    """JSON text parsed, with a clear ValueError for bad or absurdly nested text.

    >>> parse_json(b'{"a": 1}', "doc")
    {'a': 1}
    """
    from .serialization import check_depth
    try:
        value = json.loads(data)
    except RecursionError:
        raise ValueError(f"{what}: the JSON is nested too deeply; refusing it.") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{what}: not valid JSON: {err}") from None
    check_depth(value, what)
    return value


def check_array(dataset, expected_shape, expected_dtype, where):
    """Checks an h5 dataset's declared shape and dtype (before reading any of it).

    >>> check_array(np.zeros(2), (2,), np.float32, "doc")
    """
    shape = tuple(dataset.shape)
    dtype = np.dtype(dataset.dtype)
    if shape != tuple(expected_shape):
        raise ValueError(f"{where}: the file holds shape {shape}, the model's weight has "
                         f"shape {tuple(expected_shape)}. Nothing was changed.")
    expected = np.dtype(expected_dtype)
    if dtype.kind not in "biuf" or (dtype.kind == "f") != (expected.kind in "fV"):
        raise ValueError(f"{where}: the file holds dtype {dtype}, the model's weight is "
                         f"{expected}. Nothing was changed.")
