"""Versions of one model under a base path, as TF Serving lays them out: ``BASE/<int>/``.

The highest version is served; a new version directory is picked up by polling, so a
model is updated without restarting the server.
"""
import logging
import os
import threading

from . import artifact, saved_model

log = logging.getLogger("jkeras.serve")


def load_version(path):
    """``{signature name: serve.Signature}`` for a jkeras artifact or a SavedModel directory.

    >>> import jkeras, tempfile, os
    >>> model = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
    >>> sorted(load_version(jkeras.serve.save(model, os.path.join(tempfile.mkdtemp(), "1"))))
    ['serving_default']
    """
    if os.path.exists(os.path.join(path, artifact.MANIFEST)):
        return artifact.read(path).signatures
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return saved_model.signatures(path)
    raise ValueError(f"{path!r} holds neither a jkeras.serve artifact ({artifact.MANIFEST}) nor "
                     "a SavedModel (saved_model.pb)")


class Repository:
    """The servable versions of model ``name`` under ``base_path`` (the highest one loaded).

    >>> import jkeras, tempfile, os
    >>> base = tempfile.mkdtemp()
    >>> _ = jkeras.serve.save(jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)]),
    ...                       os.path.join(base, "3"))
    >>> repo = Repository(base, "m"); repo.refresh(); sorted(repo.versions)
    [3]
    """

    def __init__(self, base_path, name):
        self.base_path, self.name = base_path, name
        self.versions = {}  # version -> {signature name: Signature}
        self._failed = set()
        self._lock = threading.Lock()

    def refresh(self):
        """Loads the highest version present if it is newer than the one served."""
        try:
            found = sorted(int(n) for n in os.listdir(self.base_path)
                           if n.isdigit() and os.path.isdir(os.path.join(self.base_path, n)))
        except OSError as err:
            log.error("cannot list %s: %s", self.base_path, err)
            return
        candidates = [v for v in found if v not in self._failed]
        if not candidates or candidates[-1] in self.versions:
            return
        version = candidates[-1]
        try:
            signatures = load_version(os.path.join(self.base_path, str(version)))
        except (ValueError, ImportError, OSError) as err:
            log.error("model %s version %d failed to load: %s", self.name, version, err)
            self._failed.add(version)
            return
        with self._lock:
            self.versions = {version: signatures}  # as TF Serving: only the latest is served
        log.info("model %s: serving version %d", self.name, version)

    def poll(self, seconds, stop):
        """Calls :meth:`refresh` every ``seconds`` until ``stop`` (a ``threading.Event``) is set."""
        while not stop.wait(seconds):
            self.refresh()

    def get(self, version=None):
        """``(version, signatures)``: ``version`` or the latest; KeyError if not served."""
        with self._lock:
            versions = dict(self.versions)
        if version is None and versions:
            version = max(versions)
        if version not in versions:
            raise KeyError("Servable not found for request: "
                           + (f"Latest({self.name})" if version is None
                              else f"Specific({self.name}, {version})"))
        return version, versions[version]

