"""HDF5 files written with their large arrays' bytes going straight from memory to the
output, never through a buffer.

h5py lays the file out in memory with each large dataset's space allocated but left
unwritten; the file is then streamed out in order: h5py's own (small) bytes, and each
array's bytes taken from the array itself. A 100 MB model is saved without first copying
its 100 MB into a buffer.
"""
import io

import numpy as np

_DIRECT = 1 << 16  # arrays of at least this many bytes skip h5py's buffer


class _Sparse(io.RawIOBase):
    """A seekable in-memory file that keeps only the bytes written to it (the rest reads
    as zeros), so the space h5py reserves for arrays costs nothing."""

    def __init__(self):
        super().__init__()
        self.writes, self.pos, self.size = [], 0, 0

    def readable(self):
        return True

    def writable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=io.SEEK_SET):
        self.pos = offset + (0, self.pos, self.size)[whence]
        return self.pos

    def tell(self):
        return self.pos

    def write(self, data):
        data = bytes(data)
        self.writes.append((self.pos, data))
        self.pos += len(data)
        self.size = max(self.size, self.pos)
        return len(data)

    def readinto(self, out):
        n = max(0, min(len(out), self.size - self.pos))
        out[:n] = self.region(self.pos, self.pos + n)
        self.pos += n
        return n

    def truncate(self, size=None):
        self.size = self.pos if size is None else size
        return self.size

    def region(self, start, stop):
        """The bytes in ``[start, stop)``, later writes over earlier ones."""
        out = bytearray(stop - start)
        for at, data in self.writes:
            lo, hi = max(at, start), min(at + len(data), stop)
            if lo < hi:
                out[lo - start:hi - start] = data[lo - at:hi - at]
        return out


class H5Writer:
    """An HDF5 file (``.file``, an ``h5py.File``) whose arrays are added with
    :meth:`add`; once closed, :meth:`write_to` streams it into a binary file.

    >>> import h5py, io
    >>> writer = H5Writer(h5py)
    >>> writer.add(writer.file, "w", np.arange(20000, dtype="float32"))
    >>> writer.close()
    >>> out = io.BytesIO(); writer.write_to(out)
    >>> with h5py.File(out, "r") as f:
    ...     float(f["w"][-1])
    19999.0
    """

    def __init__(self, h5py, **kwargs):
        self._h5py, self._io, self._arrays = h5py, _Sparse(), []
        self.file = h5py.File(self._io, "w", **kwargs)

    def add(self, group, name, array):
        """Creates the dataset ``group[name]`` holding ``array``."""
        array = np.asarray(array, order="C")
        if array.nbytes < _DIRECT:
            group.create_dataset(name, data=array)
            return
        h5p, h5d = self._h5py.h5p, self._h5py.h5d
        dcpl = h5p.create(h5p.DATASET_CREATE)
        dcpl.set_alloc_time(h5d.ALLOC_TIME_EARLY)  # its place in the file, now, unwritten
        dataset = group.create_dataset(name, array.shape, array.dtype, dcpl=dcpl,
                                       fill_time="never")
        self._arrays.append((dataset.id.get_offset(), array))

    def close(self):
        self.file.close()

    @property
    def size(self):
        """The closed file's size in bytes."""
        return max([self._io.size] + [offset + a.nbytes for offset, a in self._arrays])

    def write_to(self, f):
        """Writes the closed file into the binary file ``f``, front to back."""
        pos = 0
        for offset, array in sorted(self._arrays, key=lambda item: item[0]):
            f.write(self._io.region(pos, offset))
            f.write(memoryview(array.reshape(-1).view(np.uint8)))
            pos = offset + array.nbytes
        f.write(self._io.region(pos, self.size))
