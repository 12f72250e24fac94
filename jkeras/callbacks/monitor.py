"""Callbacks that watch one logged value: the shared base and ``EarlyStopping``."""
import warnings

from .base import Callback


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
