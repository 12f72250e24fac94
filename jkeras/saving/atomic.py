"""Atomic file writes: a temporary file in the target's folder, flushed, fsynced, renamed."""
import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_write(filepath, overwrite=True):
    """Yields a binary file whose content replaces ``filepath`` only once the block ends
    without error: a crash or kill midway leaves the previous file as it was.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "f.bin")
    >>> with atomic_write(path) as f:
    ...     _ = f.write(b"data")
    >>> open(path, "rb").read()
    b'data'
    """
    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath!r} exists and overwrite=False.")
    folder = os.path.dirname(os.path.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(filepath))
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where possible
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
