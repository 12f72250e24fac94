"""``Trainer``: Keras' ``compile``/``fit``/``evaluate``/``predict`` over the train state.

``compile`` and the compiled-function cache live here, with ``train_on_batch``; the loop of
``fit`` is in :mod:`jkeras.models.fitting`, ``evaluate``/``predict`` in
:mod:`jkeras.models.inference`. Programs compile once per batch shape (and, for
device-resident training data, per dataset size) and are reused by later calls.

>>> import numpy as np, jkeras
>>> model = jkeras.Sequential([jkeras.layers.Dense(2, activation="softmax", input_dim=3)])
>>> model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
>>> history = model.fit(np.random.rand(32, 3), np.arange(32) % 2, epochs=2, verbose=0)
>>> probabilities = model.predict(np.random.rand(5, 3), verbose=0)
"""
import weakref

import jax

from .. import placement
from ..layers.base import weight_changes
from . import data as data_lib
from . import interrupts
from .calls import floats, format_logs
from .compiled import Compiled
from .fitting import Fitting
from .inference import Inference
from .steps import Steps


class Trainer(Fitting, Inference, Steps):
    """Mixin that gives ``Model`` Keras' training API over an explicit train state.

    >>> import numpy as np, jkeras
    >>> from jkeras import layers
    >>> model = jkeras.Sequential([layers.Dense(1, input_dim=2)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> history = model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=2, verbose=0)
    >>> sorted(history.history), len(history.history["loss"])
    (['loss'], 2)
    """

    # -- compile ---------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                steps_per_execution=1, distribution=None):
        """Sets the optimizer, loss(es) and metrics; the optimizer state starts afresh.

        ``optimizer``: a name (``"adam"``), a jkeras optimizer or any optax
        ``GradientTransformation``. ``loss``: a name or function ``(y_true, y_pred) ->
        per-example values``; a list or dict gives one per output (a dict may leave
        outputs without a loss). ``metrics``: names, ``jkeras.metrics.Metric`` objects or
        functions, as a list for every output, a list of lists or a dict per output;
        ``"accuracy"``/``"acc"`` pick the accuracy that fits the loss. ``loss_weights``
        scale each output's loss. ``steps_per_execution`` is ``fit``'s default.
        ``distribution`` (a ``jkeras.sharding`` ``DataParallel`` or ``ModelParallel``)
        runs training and inference over its device mesh.

        >>> import jkeras, optax
        >>> model = jkeras.Sequential([jkeras.layers.Dense(10, activation="softmax")])
        >>> model.compile(optax.adam(1e-3), "sparse_categorical_crossentropy",
        ...               metrics=["accuracy"])
        """
        placement.check(distribution, "compile")
        self._compiled = Compiled(optimizer, loss, metrics, loss_weights, steps_per_execution)
        self._compiled_distribution = distribution
        self.optimizer = self._compiled.optimizer
        if self._compiled.is_jkeras_optimizer:  # for optimizer.iterations
            self.optimizer._model = weakref.ref(self)
        self._extras = self._extras_struct = None
        self._metric_init = None
        self.stop_training = False
        self._forget_compiled_functions()

    def get_compile_config(self):
        """``compile``'s arguments in Keras' form (its ``compile_config``, which
        ``save`` writes), or ``None`` when not compiled or compiled with an optax
        transformation (which has no config).

        >>> import jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> model.get_compile_config()["optimizer"]["class_name"]
        'SGD'
        """
        from ..saving import keras_file
        return keras_file.compile_config(self)

    def compile_from_config(self, config):
        """Compiles from :meth:`get_compile_config`'s dict, as ``load_model`` does;
        override both for a ``compile`` of your own.

        >>> import jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> other = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])
        >>> other.compile_from_config(model.get_compile_config())
        >>> type(other.optimizer).__name__
        'SGD'
        """
        from ..saving import serialization
        c = serialization.deserialize_value(config, f"{self!r}.compile_from_config")
        self.compile(optimizer=c["optimizer"], loss=c["loss"], metrics=c.get("metrics"),
                     loss_weights=c.get("loss_weights"),
                     steps_per_execution=c.get("steps_per_execution") or 1)

    def _forget_compiled_functions(self):
        for key in [k for k in self._jit_cache if isinstance(k, tuple) and k[:1] == ("trainer",)]:
            del self._jit_cache[key]

    @property
    def metrics_names(self):
        """The keys of ``fit``'s logs (known after the first batch).

        >>> import jkeras
        >>> jkeras.Sequential().metrics_names
        []
        """
        c = self._compiled
        if c is None or not c.resolved:
            return []
        return list(c.results(c.init_metrics()))

    @property
    def _metric_objects(self):
        return self._compiled.metric_objects if self._compiled is not None else {}

    # -- compiled calls --------------------------------------------------------------------
    def _compiled_fn(self, kind, guard=False):
        distribution = self._distribution()
        key = ("trainer", kind, guard) + ((distribution,) if distribution else ())
        fn = self._jit_cache.get(key)
        if fn is None:
            fn = getattr(self, f"_make_{kind}")(guard)
            if distribution is not None:  # places weights and batches on its mesh
                fn = distribution.wrap_step(kind, fn)
            self._jit_cache[key] = fn
        return fn

    def _make_train_batch(self, guard):
        # Only the model's own optimizer state is donated: the layers' arrays may be held
        # by the user (or shared with another model), so they stay valid.
        custom = self._custom_kind("train")
        init = (lambda: custom.empty["train"]) if custom else self._compiled.init_metrics
        results = self._results_fn("train")

        def run(weights, extras, batch):  # fresh metrics made inside: nothing to transfer
            ts, metrics = self._train_batch({**weights, **extras}, init(), batch, guard)
            return ts, results(metrics)

        return jax.jit(run, donate_argnums=1)

    # -- what the built-in steps or a Keras-form override report -------------------------
    def _custom_kind(self, kind):
        custom = self._custom_steps()
        if custom is not None and getattr(custom, kind) is not None:
            return custom
        return None

    def _results_fn(self, kind):
        custom = self._custom_kind(kind)
        return self._compiled.result_list if custom is None else custom.result_list(kind)

    def _log_names(self, kind):
        key = ("trainer", "log_names", kind)  # asked after every step: kept
        names = self._jit_cache.get(key)
        if names is None:
            custom = self._custom_kind(kind)
            names = self._compiled.log_names if custom is None else custom.names[kind]
            self._jit_cache[key] = names
        return names

    def _fresh_metrics(self, kind="train"):
        custom = self._custom_kind(kind)
        if custom is not None:
            return custom.empty[kind]
        # Kept on the host: each epoch starts from a copy without dispatching init ops.
        if getattr(self, "_metric_init", None) is None:
            self._metric_init = jax.device_get(self._compiled.init_metrics())
        return self._metric_init

    # -- on one batch ----------------------------------------------------------------------
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        """One training step on this batch; returns its loss (and metrics), as Keras 3.

        >>> import numpy as np, jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])
        >>> model.compile("sgd", "mse")
        >>> loss = model.train_on_batch(np.ones((4, 2)), np.ones((4, 1)))
        """
        batch, fn = self._checked_call(x, y, sample_weight, class_weight, "train_on_batch",
                                       "train_batch")
        with interrupts.deferred():  # the weights and the optimizer state change together
            weights = self._weights_now()
            ts, logs = fn(weights, self._ensure_extras(weights["params"]), batch)
            self._write_weights(ts["params"], ts["state"])
            self._extras = {k: ts[k] for k in ("opt_state", "step", "rng")}
            # The layers now hold these very arrays: the next call passes them on as they are.
            self._kept = (weight_changes(), {"params": ts["params"], "state": ts["state"]})
            self._extras_checked = ts["params"]
        return format_logs(floats(self._log_names("train"), logs), return_dict)

    def _checked_call(self, x, y, sample_weight, class_weight, what, kind):
        """The batch as arrays, checked, and the compiled function ``kind`` for it. The
        checks depend only on shapes and dtypes, so they run once per batch signature
        (until the next ``compile``): a small model's step is not much longer than they are."""
        batch = (data_lib.as_arrays(x), data_lib.as_arrays(y), data_lib.as_arrays(sample_weight))
        key = None
        if class_weight is None:
            key = ("trainer", "checked", what, data_lib.signature(batch), self._distribution())
            fn = self._jit_cache.get(key)
            if fn is not None:
                return batch, fn
        self._require_compiled(what)
        x, y, sample_weight = batch
        data_lib.num_examples(x, y, sample_weight, what)
        sample_weight = data_lib.class_sample_weights(y, class_weight, sample_weight)
        self._prepare(x, y, sample_weight, what)
        self._require_state(what)
        fn = self._compiled_fn(kind)
        if key is not None:
            self._jit_cache[key] = fn
        return (x, y, sample_weight), fn
