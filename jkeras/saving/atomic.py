"""Atomic file writes: a temporary file in the target's folder, flushed, fsynced, renamed.

A temporary file is named ``.tmp-<host>-<pid>-<random><target name>``, so a writer that
was killed midway can be recognised: the next write to the same target removes the
temporaries of writers on this host whose process no longer exists.
"""
import contextlib
import hashlib
import os
import re
import socket
import tempfile

_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _prefix(pid):
    return f".tmp-{_HOST}-{pid}-"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(filepath):
    """Deletes the temporaries for ``filepath`` left by dead writers on this host (a
    process killed mid-save); another live process's, or this one's, stay.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "f.bin")
    >>> remove_stale_temporaries(path)
    []
    """
    folder, name = os.path.split(os.path.abspath(filepath))
    pattern = re.compile(rf"\.tmp-{_HOST}-(\d+)-[a-z0-9_]{{8}}{re.escape(name)}")
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.listdir(folder):
            match = pattern.fullmatch(entry)
            if match and int(match[1]) != os.getpid() and not _alive(int(match[1])):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(folder, entry))
                    removed.append(entry)
    return removed


@contextlib.contextmanager
def atomic_write(filepath, overwrite=True):
    """Yields a binary file whose content replaces ``filepath`` only once the block ends
    without error: a crash or kill midway leaves the previous file as it was (and the
    next write to ``filepath`` removes the dead writer's temporary).

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
    remove_stale_temporaries(filepath)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=_prefix(os.getpid()),
                               suffix=os.path.basename(filepath))
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
