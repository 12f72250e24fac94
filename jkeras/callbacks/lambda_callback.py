"""``LambdaCallback``: a callback from plain functions."""
from .base import Callback


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
