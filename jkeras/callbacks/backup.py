"""``BackupAndRestore``: a ``fit`` that is killed resumes where its last backup left it."""
import os

import jax
import numpy as np

from ..saving.atomic import atomic_write
from .base import Callback

_FILE = "backup.npz"


def _flat(tree):
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


class BackupAndRestore(Callback):
    """Backs up the whole train state at the end of every epoch, and restores it when a
    ``fit`` with the same callback starts again after an interruption.

    A backup holds the weights, the optimizer state, the step counter, the training
    key, the epoch reached and NumPy's global random state (``fit``'s shuffling), so a
    resumed run ends with exactly the weights an uninterrupted one would have. It is one
    ``.npz`` of arrays in ``backup_dir``, replaced atomically; a run that ends normally
    deletes it (``delete_checkpoint=True``). ``save_freq`` is ``"epoch"`` or a number of
    epochs between backups.

    >>> import numpy as np, jkeras, tempfile
    >>> model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])
    >>> model.compile("sgd", "mse")
    >>> backup = BackupAndRestore(tempfile.mkdtemp())
    >>> _ = model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=2, verbose=0,
    ...               callbacks=[backup])
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore: backup_dir is required.")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(
                save_freq, int) or save_freq < 1):
            raise ValueError(f"BackupAndRestore: save_freq must be 'epoch' or a positive "
                             f"number of epochs, got {save_freq!r}. (Backups are taken at "
                             "epoch ends: that is where a resumed run can continue exactly.)")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = 1 if save_freq == "epoch" else save_freq
        self.delete_checkpoint = delete_checkpoint

    @property
    def _path(self):
        return os.path.join(self.backup_dir, _FILE)

    def on_train_begin(self, logs=None):
        if not os.path.exists(self._path):
            return
        template = self.model.get_train_state()
        expected = _flat(template)
        try:
            with np.load(self._path, allow_pickle=False) as archive:
                stored = {k: archive[k] for k in archive.files}
        except (OSError, ValueError, EOFError) as err:
            raise ValueError(f"BackupAndRestore: cannot read the backup {self._path!r}: "
                             f"{err}") from None
        missing = sorted(set(expected) - set(stored))
        wrong = [k for k in expected if k in stored and stored[k].shape != expected[k].shape]
        if missing or wrong:
            raise ValueError(f"BackupAndRestore: the backup {self._path!r} does not match this "
                             f"model and optimizer (missing {missing}, other shapes {wrong}); "
                             "delete it to start afresh.")
        leaves = [stored[k].astype(expected[k].dtype) for k in expected]
        treedef = jax.tree_util.tree_structure(template)
        self.model.set_train_state(jax.tree_util.tree_unflatten(treedef, leaves))
        np.random.set_state(("MT19937", stored["numpy/keys"], int(stored["numpy/pos"]),
                             int(stored["numpy/has_gauss"]),
                             float(stored["numpy/cached_gaussian"])))
        self.model._resume_epoch = int(stored["epoch"])

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.save_freq:
            return
        arrays = _flat(self.model.get_train_state())
        _, keys, pos, has_gauss, cached = np.random.get_state()
        arrays.update({"epoch": np.asarray(epoch + 1), "numpy/keys": keys,
                       "numpy/pos": np.asarray(pos), "numpy/has_gauss": np.asarray(has_gauss),
                       "numpy/cached_gaussian": np.asarray(cached)})
        with atomic_write(self._path) as f:
            np.savez(f, **arrays)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self._path):
            os.remove(self._path)
