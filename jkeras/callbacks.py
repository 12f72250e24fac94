"""Callbacks: Keras' hooks into ``fit``, ``evaluate`` and ``predict``, in Keras' order.

``fit`` calls, for a run of E epochs of S steps::

    on_train_begin
      on_epoch_begin(epoch)
        on_train_batch_begin(step) / on_train_batch_end(step, logs)      # each execution
        on_test_begin / on_test_batch_begin / on_test_batch_end / on_test_end  # validation
      on_epoch_end(epoch, logs)            # logs: the epoch's metrics, val_* included
    on_train_end

Batch logs hold running averages since the epoch began. They are read from the device
only when a callback looks at them (a ``Mapping`` converted on first access), so callbacks
that ignore them cost no synchronisation. With ``steps_per_execution=N`` the batch hooks
run once per N steps, with the index of the last step, as in Keras.

The model's weights (``get_weights``, ``params``) are brought up to date at each epoch's
end, before ``on_epoch_end``; inside an epoch use ``model.get_train_state()``. The
learning rate lives in the optimizer state: use ``model.get_learning_rate()`` and
``model.set_learning_rate(value)`` (no recompilation).
"""
import collections.abc
import csv
import math
import os
import warnings

import numpy as np

from . import progbar as progbar_lib


class Callback:
    """The base class: override the hooks you need; each gets ``logs`` (a mapping).

    ``self.model`` is the model being trained, ``self.params`` holds ``verbose``,
    ``epochs`` and ``steps``. Set ``model.stop_training = True`` to stop after the
    current step (in a batch hook) or epoch.

    >>> class PrintEpochs(Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         print(epoch, round(logs["loss"], 2))
    """

    def __init__(self):
        self.params = {}
        self._model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self._model = model

    @property
    def model(self):
        return self._model

    # Keras' hook names. The train-batch hooks fall back on the older on_batch_* names.
    def on_batch_begin(self, batch, logs=None):
        """Called by the default ``on_train_batch_begin``."""

    def on_batch_end(self, batch, logs=None):
        """Called by the default ``on_train_batch_end``."""

    def on_epoch_begin(self, epoch, logs=None):
        """At the start of each epoch (numbered from 0)."""

    def on_epoch_end(self, epoch, logs=None):
        """At the end of each epoch, with the epoch's (and validation) metrics."""

    def on_train_batch_begin(self, batch, logs=None):
        """Before each training step (or execution of ``steps_per_execution`` steps)."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        """After each training step (or execution), with running averages in ``logs``."""
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        """Before each evaluation step."""

    def on_test_batch_end(self, batch, logs=None):
        """After each evaluation step."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Before each prediction step."""

    def on_predict_batch_end(self, batch, logs=None):
        """After each prediction step."""

    def on_train_begin(self, logs=None):
        """At the start of ``fit``."""

    def on_train_end(self, logs=None):
        """At the end of ``fit`` (also when stopped early)."""

    def on_test_begin(self, logs=None):
        """At the start of ``evaluate`` (and of validation in ``fit``)."""

    def on_test_end(self, logs=None):
        """At the end of ``evaluate`` (and of validation in ``fit``)."""

    def on_predict_begin(self, logs=None):
        """At the start of ``predict``."""

    def on_predict_end(self, logs=None):
        """At the end of ``predict``."""


_BATCH_HOOKS = {
    "on_train_batch_begin": ("on_train_batch_begin", "on_batch_begin"),
    "on_train_batch_end": ("on_train_batch_end", "on_batch_end"),
    "on_test_batch_begin": ("on_test_batch_begin",),
    "on_test_batch_end": ("on_test_batch_end",),
    "on_predict_batch_begin": ("on_predict_batch_begin",),
    "on_predict_batch_end": ("on_predict_batch_end",),
}


def _overrides(callback, names):
    # A hook counts when the class redefines it or the instance holds one (LambdaCallback).
    return any(n in vars(callback) or getattr(type(callback), n) is not getattr(Callback, n)
               for n in names)


class LazyLogs(collections.abc.Mapping):
    """Batch logs whose values stay on the device until someone reads one.

    The first read fetches all values at once (one synchronisation) as Python floats.

    >>> import jax.numpy as jnp
    >>> logs = LazyLogs(["loss"], [jnp.float32(0.5)])
    >>> logs["loss"]
    0.5
    """

    def __init__(self, names, values):
        self._names, self._values, self._floats = names, values, None

    def _fetch(self):
        if self._floats is None:
            import jax
            self._floats = dict(zip(self._names, map(float, jax.device_get(self._values))))
        return self._floats

    def __getitem__(self, key):
        return self._fetch()[key]

    def __iter__(self):
        return iter(self._names)

    def __len__(self):
        return len(self._names)

    def __repr__(self):
        return repr(self._fetch())


class CallbackList:
    """Calls every callback's hook in order; adds ``History`` and ``ProgbarLogger``.

    Batch hooks go only to callbacks that override them, so unused hooks cost nothing
    per step.

    >>> cbs = CallbackList([Callback()], add_history=True, epochs=1, steps=1, verbose=0)
    >>> [type(c).__name__ for c in cbs.callbacks]
    ['Callback', 'History']
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None,
                 **params):
        if isinstance(callbacks, Callback):
            callbacks = [callbacks]
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be jkeras.callbacks.Callback instances, got "
                                f"{type(cb).__name__}.")
        self.history = next((c for c in self.callbacks if isinstance(c, History)), None)
        if self.history is None and add_history:
            self.history = History()
            self.callbacks.append(self.history)
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        self._batch = {hook: [c for c in self.callbacks if _overrides(c, names)]
                       for hook, names in _BATCH_HOOKS.items()}
        self.params = params
        for cb in self.callbacks:
            cb.set_params(params)
            if model is not None:
                cb.set_model(model)

    def wants(self, hook):
        """Whether any callback does something in this batch hook."""
        return bool(self._batch[hook])

    def _call(self, hook, *args):
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def _call_batch(self, hook, batch, logs):
        for cb in self._batch[hook]:
            getattr(cb, hook)(batch, logs)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call_batch("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call_batch("on_train_batch_end", batch, logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call_batch("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call_batch("on_test_batch_end", batch, logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call_batch("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call_batch("on_predict_batch_end", batch, logs)


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
        self._in_fit = False

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

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, None)

    def on_predict_end(self, logs=None):
        self._finish(None)


def _direction(model, monitor):
    """``"min"`` or ``"max"`` for ``mode="auto"``: losses go down, accuracies go up."""
    name = monitor.removeprefix("val_")
    if name == "loss" or name.endswith("_loss"):
        return "min"
    metric = getattr(model, "_metric_objects", {}).get(name) if model is not None else None
    if metric is not None:
        return "max" if getattr(metric, "direction", "down") == "up" else "min"
    # As Keras 2 did for names it cannot look up.
    return "max" if any(s in name for s in ("acc", "auc", "precision", "recall")) else "min"


class _MonitorCallback(Callback):
    """Shared by callbacks that watch one logged value for improvement."""

    def __init__(self, monitor, mode, baseline, min_delta):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__} mode {mode!r} is unknown, using 'auto'.",
                          stacklevel=3)
            mode = "auto"
        self.monitor, self.mode, self.baseline = monitor, mode, baseline
        self.min_delta = abs(min_delta)
        self.best = baseline
        self._op = None

    def _is_improvement(self, value, reference):
        if self._op is None:
            self._op = self.mode if self.mode != "auto" else _direction(self.model, self.monitor)
        if reference is None:
            return True
        if self._op == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def _value(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"{type(self).__name__} is conditioned on {self.monitor!r}, which is "
                          f"not available. Available: {', '.join(logs or {})}.", stacklevel=3)
        return value


class EarlyStopping(_MonitorCallback):
    """Stops training when ``monitor`` has not improved for ``patience`` epochs.

    With ``restore_best_weights=True`` the model ends with the weights of its best epoch.

    >>> stop = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, baseline, min_delta)
        self.patience, self.verbose = patience, verbose
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best = self.baseline
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        current = self._value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class LearningRateScheduler(Callback):
    """Sets the learning rate at each epoch's start to ``schedule(epoch, lr)``.

    ``schedule(epoch)`` with one argument works too. The rate changes in the optimizer
    state, so the compiled step is reused.

    >>> sched = LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch > 0 else lr)
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        current = self.model.get_learning_rate()
        try:
            lr = self.schedule(epoch, current)
        except TypeError:  # the one-argument form
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, int, np.floating, np.integer)) or isinstance(lr, bool):
            raise ValueError(f"LearningRateScheduler: the schedule must return a float, got "
                             f"{lr!r}.")
        self.model.set_learning_rate(float(lr))
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.get_learning_rate()


class ReduceLROnPlateau(_MonitorCallback):
    """Multiplies the learning rate by ``factor`` when ``monitor`` stops improving.

    >>> reduce = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3, min_lr=1e-5)
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0, got "
                             f"{factor}.")
        super().__init__(monitor, mode, None, min_delta)
        self.factor, self.patience, self.verbose = factor, patience, verbose
        self.cooldown, self.min_lr = cooldown, min_lr
        self.wait = self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = self.model.get_learning_rate()
        current = self._value(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = self.model.get_learning_rate()
                if old > np.float32(self.min_lr):
                    new = max(old * self.factor, self.min_lr)
                    self.model.set_learning_rate(new)
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                              f"to {new}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


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


class TerminateOnNaN(Callback):
    """Stops training as soon as the loss is NaN or infinite, keeping the last good weights.

    With this callback ``fit`` compiles its step to leave the training state unchanged
    when a step's loss is not finite, so the model ends with the weights from before
    the first bad step. It reads the loss after every step (one synchronisation each).

    >>> stop_on_nan = TerminateOnNaN()
    """

    skips_nonfinite_steps = True  # read by fit: guard the step against a non-finite loss

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from plain functions, one per hook you give.

    ``on_epoch_begin/on_epoch_end(epoch, logs)``, ``on_batch_begin/on_batch_end(batch,
    logs)``, ``on_train_begin/on_train_end(logs)``, and any other hook by its Keras name.

    >>> losses = []
    >>> cb = LambdaCallback(on_epoch_end=lambda epoch, logs: losses.append(logs["loss"]))
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None,
                 on_batch_end=None, on_train_begin=None, on_train_end=None, **kwargs):
        super().__init__()
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_batch_begin=on_batch_begin, on_batch_end=on_batch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end, **kwargs)
        for name, fn in hooks.items():
            if not hasattr(Callback, name) or not name.startswith("on_"):
                raise ValueError(f"LambdaCallback: unknown hook {name!r}.")
            if fn is not None:
                setattr(self, name, fn)


__all__ = ["Callback", "CallbackList", "CSVLogger", "EarlyStopping", "History",
           "LambdaCallback", "LearningRateScheduler", "ProgbarLogger", "ReduceLROnPlateau",
           "TerminateOnNaN"]
