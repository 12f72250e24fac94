"""``Callback``, the hooks ``fit``/``evaluate``/``predict`` call, and ``LazyLogs``."""
import collections.abc


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
