"""``TensorBoard``: Keras' event files for TensorBoard, written with tensorboardX."""
import itertools
import numbers
import os

import numpy as np

from .base import Callback

_opened = itertools.count()


def _summary_writer():
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ImportError("The TensorBoard callback writes its event files with tensorboardX: "
                          "install it with `pip install 'jkeras[tensorboard]'`.") from None
    return SummaryWriter


class TensorBoard(Callback):
    """Writes Keras' TensorBoard logs: scalars per epoch (and per batch), weight histograms
    and the learning rate, under ``log_dir/train`` and ``log_dir/validation``.

    Tags are Keras 3's: ``epoch_loss``, ``epoch_<metric>`` and ``epoch_learning_rate``
    in ``train``, the validation metrics as ``epoch_<name>`` in ``validation`` (with
    ``evaluation_<name>_vs_iterations`` against the optimizer's step), ``batch_<name>``
    every ``update_freq`` training steps (``"batch"`` is 1; ``"epoch"``, the default,
    writes none) and ``<weight path>/histogram`` every ``histogram_freq`` epochs.
    ``write_graph`` is accepted for Keras' sake and, as with Keras on JAX, writes no
    graph. Needs tensorboardX (the ``jkeras[tensorboard]`` extra); view the logs with
    ``tensorboard --logdir log_dir``.

    >>> import os, tempfile, numpy as np, jkeras
    >>> model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])
    >>> model.compile("sgd", "mse")
    >>> logs = tempfile.mkdtemp()
    >>> _ = model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=2, verbose=0,
    ...               callbacks=[TensorBoard(logs, histogram_freq=1)])
    >>> sorted(os.listdir(logs))
    ['train']
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=False, *,
                 update_freq="epoch"):
        super().__init__()
        self._writer_class = _summary_writer()
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, numbers.Integral) \
                or histogram_freq < 0:
            raise ValueError(f"TensorBoard: histogram_freq must be an integer >= 0, got "
                             f"{histogram_freq!r}.")
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(
                update_freq, numbers.Integral) or update_freq < 1):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive "
                             f"integer, got {update_freq!r}.")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq, self.write_graph = int(histogram_freq), bool(write_graph)
        self.update_freq = update_freq
        self._writers = {}
        self._in_fit = False
        self._steps = self._epoch_start = self._last_batch_write = 0
        self._first_step = 0

    # -- writers, made on first use so that unused ones leave no directory --------------
    def _writer(self, which):
        if which not in self._writers:
            # Files are named by the second they are opened in: a suffix that counts up
            # keeps a second run (evaluate right after fit) from overwriting the first's.
            suffix = f".{os.getpid()}.{next(_opened):06d}"
            self._writers[which] = self._writer_class(os.path.join(self.log_dir, which),
                                                      filename_suffix=suffix)
        return self._writers[which]

    def _close(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def _optimizer_step(self):
        """Steps the optimizer has taken (Keras' ``optimizer.iterations``)."""
        return int(self.model.get_train_state()["step"])

    # -- training -----------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._in_fit = True
        self._steps = self._last_batch_write = 0
        self._first_step = self._optimizer_step()

    def on_train_end(self, logs=None):
        self._in_fit = False
        self._close()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self._steps

    def on_train_batch_end(self, batch, logs=None):
        # With steps_per_execution=N this runs once per N steps, ``batch`` the last one.
        self._steps = self._epoch_start + batch + 1
        if self.update_freq == "epoch" or logs is None or \
                self._steps - self._last_batch_write < self.update_freq:
            return
        self._last_batch_write = self._steps
        writer = self._writer("train")
        for name, value in logs.items():
            writer.add_scalar(f"batch_{name}", float(value), self._steps)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        try:
            train["learning_rate"] = self.model.get_learning_rate()
        except TypeError:  # an optax optimizer whose rate cannot be read
            pass
        writer = self._writer("train")
        for name, value in train.items():
            writer.add_scalar(f"epoch_{name}", float(value), epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for weight in self.model.weights:
                writer.add_histogram(f"{weight.path}/histogram", np.asarray(weight.value),
                                     epoch, bins="tensorflow")
        val = {k[len("val_"):]: v for k, v in logs.items() if k.startswith("val_")}
        if val:
            val_writer = self._writer("validation")
            for name, value in val.items():
                val_writer.add_scalar(f"epoch_{name}", float(value), epoch)
            val_writer.flush()
        writer.flush()

    # -- evaluation, in fit or alone ------------------------------------------------------
    def on_test_end(self, logs=None):
        if not logs:
            return
        step = self._first_step + self._steps if self._in_fit else self._optimizer_step()
        writer = self._writer("validation")
        for name, value in logs.items():
            writer.add_scalar(f"evaluation_{name}_vs_iterations", float(value), step)
        writer.flush()
        if not self._in_fit:
            self._close()
