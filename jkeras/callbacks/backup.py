"""``BackupAndRestore``: a ``fit`` that is killed resumes where its last backup left it."""
import os
import warnings
import zipfile

import jax
import numpy as np

from ..models.fitting import Resume
from ..saving.atomic import atomic_write
from .base import Callback

_FILE, _PREVIOUS = "backup.npz", "backup.previous.npz"


def _flat(tree, prefix):
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {prefix + jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def _unflat(template, stored, prefix, path):
    """``template``'s tree with ``stored``'s arrays (cast to its dtypes)."""
    expected = _flat(template, prefix)
    missing = sorted(set(expected) - set(stored))
    wrong = [k for k in expected if k in stored and stored[k].shape != expected[k].shape]
    if missing or wrong:
        raise ValueError(f"BackupAndRestore: the backup {path!r} does not match this model, "
                         f"optimizer and metrics (missing {missing}, other shapes {wrong}); "
                         "delete it to start afresh.")
    leaves = [stored[k].astype(expected[k].dtype) for k in expected]
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template), leaves)


class BackupAndRestore(Callback):
    """Backs up the whole training run at the end of every epoch (or every ``save_freq``
    batches), and resumes it when a ``fit`` with the same callback starts again after an
    interruption.

    A backup holds the weights, the optimizer state, the step counter, the training key,
    NumPy's global random state (``fit``'s shuffling) and where the run was: the epoch
    and, for batch backups, the batches done in it, that epoch's order of examples and
    its running metrics. A restarted ``fit`` goes on from the next batch and ends with
    exactly the weights (and history) an uninterrupted run would have. The backup is one
    ``.npz`` of arrays in ``backup_dir``, replaced atomically; ``double_checkpoint=True``
    keeps the one before too and falls back on it if the latest cannot be read. A run
    that ends normally deletes them (``delete_checkpoint=True``).

    >>> import numpy as np, jkeras, tempfile
    >>> model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])
    >>> model.compile("sgd", "mse")
    >>> backup = BackupAndRestore(tempfile.mkdtemp(), save_freq=2)
    >>> _ = model.fit(np.ones((8, 2)), np.ones((8, 1)), batch_size=2, epochs=2, verbose=0,
    ...               callbacks=[backup])
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False,
                 delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore: backup_dir is required.")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(
                save_freq, int) or save_freq < 1):
            raise ValueError(f"BackupAndRestore: save_freq must be 'epoch' or a positive "
                             f"number of batches, got {save_freq!r}.")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.double_checkpoint = double_checkpoint
        self.delete_checkpoint = delete_checkpoint
        self._since, self._seen = 0, (0, 0)  # batches since the last backup; (epoch, done)

    def _paths(self):
        return [os.path.join(self.backup_dir, name) for name in (_FILE, _PREVIOUS)]

    def on_train_begin(self, logs=None):
        self._since, self._seen = 0, (0, 0)
        latest, previous = self._paths()
        candidates = [p for p in ([latest, previous] if self.double_checkpoint else [latest])
                      if os.path.exists(p)]
        for i, path in enumerate(candidates):
            try:
                with np.load(path, allow_pickle=False) as archive:
                    stored = {k: archive[k] for k in archive.files}
                break
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
                if i + 1 == len(candidates):
                    raise ValueError(f"BackupAndRestore: cannot read the backup {path!r}: "
                                     f"{err}") from None
                warnings.warn(f"BackupAndRestore: cannot read the backup {path!r} ({err}); "
                              f"restoring the previous one, {candidates[i + 1]!r}.",
                              stacklevel=2)
        else:
            return
        model = self.model
        train_state = _unflat(model.get_train_state(), stored, "ts", path)
        batch = int(stored["batch"])
        metrics = _unflat(model._epoch_metrics(), stored, "metrics", path) if batch else None
        order = stored.get("order")
        model.set_train_state(train_state)
        np.random.set_state(("MT19937", stored["numpy/keys"], int(stored["numpy/pos"]),
                             int(stored["numpy/has_gauss"]),
                             float(stored["numpy/cached_gaussian"])))
        model._resume = Resume(int(stored["epoch"]), batch, order, metrics)
        self._seen = (model._resume.epoch, batch)

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        run = self.model._live  # the running fit: where it is, and its epoch's order
        seen_epoch, seen = self._seen
        self._since += batch + 1 - (seen if seen_epoch == run.epoch else 0)
        self._seen = (run.epoch, batch + 1)
        if self._since >= self.save_freq:
            self._since = 0
            arrays = {"epoch": np.asarray(run.epoch), "batch": np.asarray(run.batch),
                      **_flat(jax.device_get(run.metrics), "metrics")}
            if run.order is not None:
                arrays["order"] = run.order
            self._save(arrays)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save({"epoch": np.asarray(epoch + 1), "batch": np.asarray(0)})

    def _save(self, arrays):
        _, keys, pos, has_gauss, cached = np.random.get_state()
        arrays.update(_flat(self.model.get_train_state(), "ts"))
        arrays.update({"numpy/keys": keys, "numpy/pos": np.asarray(pos),
                       "numpy/has_gauss": np.asarray(has_gauss),
                       "numpy/cached_gaussian": np.asarray(cached)})
        latest, previous = self._paths()
        if self.double_checkpoint and os.path.exists(latest):
            os.replace(latest, previous)
        with atomic_write(latest) as f:
            np.savez(f, **arrays)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint:
            for path in self._paths():
                if os.path.exists(path):
                    os.remove(path)
