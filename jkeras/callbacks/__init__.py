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
from .backup import BackupAndRestore
from .base import Callback, LazyLogs
from .callback_list import CallbackList
from .checkpoint import ModelCheckpoint
from .lambda_callback import LambdaCallback
from .learning_rate import LearningRateScheduler, ReduceLROnPlateau
from .progress import CSVLogger, History, ProgbarLogger
from .monitor import EarlyStopping
from .tensorboard import TensorBoard
from .terminate_on_nan import TerminateOnNaN

__all__ = ["BackupAndRestore", "Callback", "CallbackList", "CSVLogger", "EarlyStopping",
           "History", "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint",
           "ProgbarLogger", "ReduceLROnPlateau", "TensorBoard", "TerminateOnNaN"]
