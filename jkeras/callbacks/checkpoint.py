"""``ModelCheckpoint``: saves the model (or its weights) during ``fit``, atomically."""
import os

from .monitor import _MonitorCallback


class ModelCheckpoint(_MonitorCallback):
    """Saves the model (``.keras``) or its weights (``.weights.h5``/``.weights.npz``) at
    the end of every epoch, or every ``save_freq`` batches.

    ``filepath`` may hold Keras' fields: ``{epoch:02d}``, ``{batch}`` and any log value
    (``{val_loss:.2f}``). With ``save_best_only=True`` a file is written only when
    ``monitor`` improves (``mode``: "min", "max" or "auto"), starting from
    ``initial_value_threshold`` if given. Every write replaces the file atomically, so a
    crash never leaves a half-written checkpoint.

    >>> import numpy as np, jkeras, tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])
    >>> model.compile("sgd", "mse")
    >>> cb = ModelCheckpoint(os.path.join(folder, "m-{epoch:02d}.weights.h5"),
    ...                      save_weights_only=True)
    >>> _ = model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=2, verbose=0, callbacks=[cb])
    >>> sorted(os.listdir(folder))
    ['m-01.weights.h5', 'm-02.weights.h5']
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__(monitor, mode, initial_value_threshold, 0)
        self.filepath = os.fspath(filepath)
        self.verbose, self.save_best_only = verbose, save_best_only
        self.save_weights_only = save_weights_only
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(
                save_freq, int) or save_freq < 1):
            raise ValueError(f"ModelCheckpoint: save_freq must be 'epoch' or a positive "
                             f"number of batches, got {save_freq!r}.")
        self.save_freq = save_freq
        wanted = (".weights.h5", ".weights.npz") if save_weights_only else (".keras",)
        if not self.filepath.endswith(wanted):
            raise ValueError(f"ModelCheckpoint: with save_weights_only={save_weights_only} the "
                             f"file name must end in {' or '.join(wanted)}, got "
                             f"{self.filepath!r}.")
        self._batches, self._epoch = 0, 0

    def on_train_begin(self, logs=None):
        self._batches = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches += 1
        if self._batches % self.save_freq == 0:
            # Inside an epoch the layers hold the epoch's starting weights: bring them up
            # to date from the running train state first.
            ts = self.model.get_train_state()
            self.model.params, self.model.state = ts["params"], ts["state"]
            self._save(self._epoch, dict(logs or {}), batch=batch)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, dict(logs or {}))

    def _save(self, epoch, logs, batch=None):
        try:
            path = self.filepath.format(epoch=epoch + 1, batch=batch, **logs)
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"ModelCheckpoint: cannot fill {self.filepath!r} from epoch, "
                             f"batch and the logs {sorted(logs)}: {err!r}") from None
        if self.save_best_only:
            current = self._value(logs)
            if current is None:
                return
            # Keras' messages, word for word.
            best = "None" if self.best is None else f"{self.best:.5f}"
            if not self._is_improvement(current, self.best):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
                return
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                      f"{current:.5f}, saving model to {path}")
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
