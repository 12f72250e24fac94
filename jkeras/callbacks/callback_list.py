"""``CallbackList``: runs every callback's hook, in order, skipping batch hooks nobody defines."""
from .base import Callback
from .progress import History, ProgbarLogger


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

    # As in Keras, a hook always gets a dict of logs (empty at a begin), never None.
    def _call(self, hook, *args):
        *args, logs = args
        for cb in self.callbacks:
            getattr(cb, hook)(*args, {} if logs is None else logs)

    def _call_batch(self, hook, batch, logs):
        for cb in self._batch[hook]:
            getattr(cb, hook)(batch, {} if logs is None else logs)

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
