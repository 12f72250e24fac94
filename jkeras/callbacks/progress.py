"""Callbacks that record or show progress: ``History``, ``ProgbarLogger``, ``CSVLogger``."""
import csv
import os

import jax

from .. import progbar as progbar_lib
from .base import Callback


class History(Callback):
    """Records each epoch's logs: ``history.history["loss"][epoch]``; ``fit`` returns it.

    >>> h = History(); h.on_train_begin(); h.on_epoch_end(0, {"loss": 1.0})
    >>> h.history, h.epoch
    ({'loss': [1.0]}, [0])
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self


class ProgbarLogger(Callback):
    """Prints a progress bar per epoch (added by ``fit`` unless ``verbose=0``).

    ``verbose=1``: a live bar on a terminal, one line per epoch otherwise;
    ``verbose=2``: one line per epoch; ``"auto"`` is 1.

    >>> ProgbarLogger().verbose
    1
    """

    def __init__(self):
        super().__init__()
        self.verbose, self.epochs, self.target = 1, 1, None
        self.progbar, self.seen = None, 0
        self._in_fit, self._outputs, self._predicted = False, None, 0

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def _start(self):
        self.seen = 0
        self.progbar = progbar_lib.Progbar(self.target, verbose=self.verbose)

    def _update(self, batch, logs):
        self.seen = batch + 1
        if self.progbar is None:
            self._start()
        self.progbar.update(self.seen, logs, finalize=False)

    def _finish(self, logs):
        if self.progbar is None:
            self._start()
        if self.target is None:  # a generator's length, known after its first epoch
            self.target = self.progbar.target = self.seen
        self.progbar.update(self.progbar.target or self.seen, logs or {}, finalize=True)

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_train_end(self, logs=None):
        self._in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._start()
        if self.verbose and self.epochs > 1:
            print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finish(logs)

    def on_test_begin(self, logs=None):
        if not self._in_fit:
            self._start()

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs=None):
        if not self._in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs=None):
        self._start()
        self._outputs, self._predicted = None, 0

    def on_predict_batch_end(self, batch, logs=None):
        # Predictions are dispatched ahead of the device, so a live bar counts the batches
        # done: it waits for the one before this (which keeps the device busy).
        previous, self._outputs = self._outputs, (logs or {}).get("outputs")
        if self.progbar is None or not self.progbar.live:
            self._update(batch, None)
        elif previous is not None:
            jax.block_until_ready(previous)
            self._update(batch - 1, None)
        self._predicted = batch + 1

    def on_predict_end(self, logs=None):
        jax.block_until_ready(self._outputs)  # the last line shows the real time taken
        self._outputs, self.seen = None, self._predicted
        self._finish(None)


class CSVLogger(Callback):
    """Writes each epoch's logs as a row of a CSV file (``epoch`` first, keys sorted).

    >>> logger = CSVLogger("training.csv", append=False)
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self.keys, self._file, self._writer = None, None, None

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename) and \
            os.path.getsize(self.filename) > 0
        self._header = not exists
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self.keys, self._writer = None, None

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self._writer is None:
            self.keys = sorted(logs)
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch", *self.keys],
                                          delimiter=self.sep)
            if self._header:
                self._writer.writeheader()
        row = {"epoch": epoch}
        row.update({k: logs.get(k, "NA") for k in self.keys})
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file, self._writer = None, None
