"""``Trainer``: Keras' ``compile``/``fit``/``evaluate``/``predict`` over the train state.

``fit`` runs the pure step of :mod:`jkeras.models.steps` jitted, with the train state and
the metric states donated so XLA updates them in place; ``steps_per_execution=N`` scans N
steps in one compiled call. Array data goes to the device once per ``fit`` and each
compiled call slices (or, shuffled, gathers) its own batches from it, so no step copies
data from the host. Nothing is read back from the device during an epoch unless a
callback asks for the logs: the progress bar on a terminal, a few times a second;
``TerminateOnNaN``, every step. Programs compile once per batch shape (and, for
device-resident training data, per dataset size) and are reused by later calls.

>>> import numpy as np, jkeras
>>> model = jkeras.Sequential([jkeras.layers.Dense(2, activation="softmax", input_dim=3)])
>>> model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
>>> history = model.fit(np.random.rand(32, 3), np.arange(32) % 2, epochs=2, verbose=0)
>>> probabilities = model.predict(np.random.rand(5, 3), verbose=0)
"""
import math
import numbers
import warnings
import weakref

import jax
import jax.numpy as jnp
import numpy as np

from .. import callbacks as callbacks_lib
from .. import placement
from .. import random as random_lib
from . import data as data_lib
from . import interrupts
from .compiled import Compiled
from .steps import Steps, copy_tree as _copy


def _stack(batches):
    def stack(*leaves):
        if all(isinstance(a, np.ndarray) for a in leaves):
            return np.stack(leaves)
        return jnp.stack(leaves)
    return jax.tree_util.tree_map(stack, *batches)


def _shapes(batch):
    leaves, treedef = jax.tree_util.tree_flatten(batch)
    return treedef, tuple(np.shape(a) for a in leaves)


def _executions(batches, steps_per_execution):
    """``(steps, stacked, batch)`` per compiled call: runs of N same-shaped batches are
    stacked for one scanned call; the rest (a remainder, a smaller last batch) go one by
    one, so each distinct batch shape compiles at most one more program."""
    group, signature = [], None
    for batch in batches:
        if steps_per_execution == 1:
            yield 1, False, batch
            continue
        shapes = _shapes(batch)
        if group and shapes != signature:
            yield from ((1, False, b) for b in group)
            group = []
        signature = shapes
        group.append(batch)
        if len(group) == steps_per_execution:
            yield steps_per_execution, True, _stack(group)
            group = []
    yield from ((1, False, b) for b in group)


_WATCH = "_nonfinite"  # in fit's metric states: (first batch with a non-finite loss, batches)


def _floats(names, values):
    return dict(zip(names, map(float, jax.device_get(values))))  # one transfer


def _check_verbose(verbose, what):
    if verbose not in (0, 1, 2, "auto"):
        raise ValueError(f"{what}: verbose must be 0, 1, 2 or 'auto', got {verbose!r}.")
    return 1 if verbose == "auto" else verbose


class _Run:
    """What a running ``fit`` carries from one compiled call to the next."""

    def __init__(self, ts, guard):
        self.ts, self.metrics, self.guard = ts, None, guard
        self.synced = None  # the weight arrays last written to the layers


class Trainer(Steps):
    """Mixin that gives ``Model`` Keras' training API over an explicit train state.

    >>> import numpy as np, jkeras
    >>> from jkeras import layers
    >>> model = jkeras.Sequential([layers.Dense(1, input_dim=2)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> history = model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=2, verbose=0)
    >>> sorted(history.history), len(history.history["loss"])
    (['loss'], 2)
    """

    stop_training = False
    history = None
    _resume_epoch = 0  # set by BackupAndRestore when it resumes an interrupted fit

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

    def _make_train_resident(self, guard):
        results = self._results_fn("train")

        def one(carry, data, order, size):
            ts, states, pos = carry
            if order is None:  # no shuffling: contiguous slices, no gather
                batch = jax.tree_util.tree_map(
                    lambda a: jax.lax.dynamic_slice_in_dim(a, pos, size), data)
            else:
                idx = jax.lax.dynamic_slice_in_dim(order, pos, size)
                batch = jax.tree_util.tree_map(lambda a: a[idx], data)
            ts, states = self._fit_batch(ts, states, batch, guard)
            return ts, states, pos + size

        def run(carry, data, order, *, steps, size):
            if steps == 1:
                carry = one(carry, data, order, size)
            else:
                carry = jax.lax.scan(lambda c, _: (one(c, data, order, size), None), carry,
                                     length=steps)[0]
            return carry, results(carry[1])

        return jax.jit(run, static_argnames=("steps", "size"), donate_argnums=0)

    def _make_train_host(self, guard):
        results = self._results_fn("train")

        def run(carry, batch, *, stacked):
            step = lambda c, b: self._fit_batch(*c, b, guard)
            if stacked:
                carry = jax.lax.scan(lambda c, b: (step(c, b), None), carry, batch)[0]
            else:
                carry = step(carry, batch)
            return carry, results(carry[1])

        return jax.jit(run, static_argnames=("stacked",), donate_argnums=0)

    def _fit_batch(self, ts, states, batch, guard):
        """``_train_batch`` that also notes the epoch's first batch with a non-finite loss
        (read only when the epoch's loss is not finite, for fit's warning)."""
        first, seen = states[_WATCH]
        ts, new = self._train_batch(ts, {k: v for k, v in states.items() if k != _WATCH},
                                    batch, guard)
        loss = new["logs"].get("loss", jnp.zeros(())) if "logs" in new else new["loss"]["total"]
        bad = ~jnp.isfinite(loss)
        new[_WATCH] = jnp.stack([jnp.where((first < 0) & bad, seen, first), seen + 1])
        return ts, new

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

    def _make_test(self, guard):
        results = self._results_fn("test")

        def run(states, params, state, batch, *, stacked):
            step = lambda s, b: self._test_batch(params, state, s, b)
            if stacked:
                states = jax.lax.scan(lambda s, b: (step(s, b), None), states, batch)[0]
            else:
                states = step(states, batch)
            return states, results(states)

        return jax.jit(run, static_argnames=("stacked",), donate_argnums=0)

    def _make_predict(self, guard):
        custom = self._custom_steps()
        if custom is not None and custom.predict is not None:
            return jax.jit(lambda params, state, x, rng: custom.predict_batch(params, state, x))
        return jax.jit(lambda params, state, x, rng: self.apply(params, state, x,
                                                                training=False, rng=rng)[0])

    def _predict_key(self):
        """A key for each predict batch of a model whose inference draws (a sampling layer)."""
        return random_lib.global_stream().next() if self.samples_in_inference else None

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
        custom = self._custom_kind(kind)
        return self._compiled.log_names if custom is None else custom.names[kind]

    def _fresh_metrics(self, kind="train"):
        custom = self._custom_kind(kind)
        if custom is not None:
            return custom.empty[kind]
        # Kept on the host: each epoch starts from a copy without dispatching init ops.
        if getattr(self, "_metric_init", None) is None:
            self._metric_init = jax.device_get(self._compiled.init_metrics())
        return self._metric_init

    # -- fit -------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None,
            validation_batch_size=None, validation_freq=1, steps_per_execution=None,
            validation_steps=None):
        """Trains for ``epochs`` epochs; returns a ``History``.

        ``x``/``y``: arrays (or lists/dicts of them), or ``x`` a generator/iterable of
        ``(x, y[, sample_weight])`` batches. ``validation_data``: ``(x, y[, sw])`` or an
        iterable (its first ``validation_steps`` batches, if given); ``validation_split``
        holds out the last fraction of array data. ``steps_per_execution`` (default:
        compile's) runs that many steps per compiled call. ``class_weight`` maps class
        index to a weight (times ``sample_weight``).

        >>> import numpy as np, jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(2, activation="softmax",
        ...                                                input_dim=3)])
        >>> model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> x, y = np.random.rand(20, 3), np.random.randint(0, 2, 20)
        >>> h = model.fit(x, y, epochs=2, validation_split=0.25, verbose=0)
        >>> sorted(h.history)
        ['accuracy', 'loss', 'val_accuracy', 'val_loss']
        """
        c = self._require_compiled("fit")
        verbose = _check_verbose(verbose, "fit")
        epochs = data_lib.check_count(epochs, "epochs", "fit", minimum=0)
        initial_epoch = data_lib.check_count(initial_epoch, "initial_epoch", "fit", minimum=0)
        if not isinstance(validation_freq, (list, tuple, set, range)):
            data_lib.check_count(validation_freq, "validation_freq", "fit")
        spe = data_lib.check_count(c.steps_per_execution if steps_per_execution is None
                           else steps_per_execution,
                           "steps_per_execution", "fit")
        data_lib.check_validation_split(validation_split)
        batch_size = data_lib.check_batch_size(batch_size, "fit")
        train, validation = self._fit_data(x, y, batch_size, validation_split, validation_data,
                                           class_weight, sample_weight, steps_per_epoch,
                                           validation_batch_size, validation_steps)
        first = self._first_batch(train)
        self._prepare(*first, what="fit")
        for source in (train, validation):
            if isinstance(source, data_lib.ArrayData):
                c.check_labels(source.y, "fit")

        cbs = callbacks_lib.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0,
                                         model=self, verbose=verbose, epochs=epochs,
                                         steps=train.steps)
        guard = any(getattr(cb, "skips_nonfinite_steps", False) for cb in cbs.callbacks)
        self.stop_training = False
        epoch_logs = {}
        warned = guard  # TerminateOnNaN deals with non-finite losses itself
        # Ctrl-C is held back while the train state changes hands (see interrupts.py) and
        # acts at once elsewhere; however fit ends, the model keeps the last completed step.
        with interrupts.deferred():
            run = self._start_run(guard)
            try:
                with interrupts.allowed():
                    cbs.on_train_begin()
                    # BackupAndRestore, having restored a run's train state, says where.
                    initial_epoch, self._resume_epoch = max(initial_epoch,
                                                            self._resume_epoch), 0
                    for epoch in range(initial_epoch, epochs):
                        run.metrics = {**self._fresh_metrics(),
                                       _WATCH: np.array([-1, 0], np.int32)}
                        cbs.on_epoch_begin(epoch)
                        logs = self._train_epoch(run, train, shuffle, spe, cbs)
                        if logs is None:  # a generator ran dry
                            break
                        epoch_logs = _floats(self._log_names("train"), logs)
                        if not warned and not math.isfinite(epoch_logs["loss"]):
                            warned = self._warn_nonfinite(run, epoch, epoch_logs["loss"])
                        self._sync_weights(run)
                        if validation is not None and _should_validate(epoch, validation_freq):
                            if self._custom_kind("test") is not None:  # traced on first use
                                self._prepare(*self._first_batch(validation), what="evaluate")
                            val_logs = self._evaluate_data(validation, spe, cbs)
                            epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
                        cbs.on_epoch_end(epoch, epoch_logs)
                        self._adopt_weight_changes(run)
                        if self.stop_training:
                            break
            finally:
                self._end_run(run)
        cbs.on_train_end(epoch_logs)
        return cbs.history

    def _warn_nonfinite(self, run, epoch, loss):
        first = int(run.metrics[_WATCH][0])
        warnings.warn(f"fit: the loss became {loss} in epoch {epoch + 1} (callbacks' epoch "
                      f"{epoch}), at batch {first} of that epoch (counting from 0); training "
                      "goes on, as in Keras. The TerminateOnNaN callback stops it at the "
                      "first such batch and keeps the last finite weights.", stacklevel=3)
        return True  # warned: once per fit

    def _fit_data(self, x, y, batch_size, validation_split, validation_data, class_weight,
                  sample_weight, steps_per_epoch, validation_batch_size, validation_steps):
        if data_lib.is_stream(x):
            if y is not None or sample_weight is not None:
                raise ValueError("fit: when x is a generator or iterable of batches, y and "
                                 "sample_weight must be None: each batch is (x, y[, "
                                 "sample_weight]).")
            if validation_split:
                raise ValueError("fit: validation_split needs array data; with a generator "
                                 "pass validation_data instead.")
            if class_weight is not None:
                raise ValueError("fit: class_weight needs array data; with a generator, yield "
                                 "(x, y, sample_weight) batches instead.")
            train = data_lib.StreamData(x, steps_per_epoch, "fit")
        else:
            if steps_per_epoch is not None:
                raise ValueError("fit: steps_per_epoch is for generators; with arrays an "
                                 "epoch is one pass over the data.")
            x, y, sample_weight = (data_lib.as_arrays(t) for t in (x, y, sample_weight))
            data_lib.num_examples(x, y, sample_weight, "fit")
            if y is None and self._compiled.loss_spec is not None and \
                    self._custom_kind("train") is None:
                raise ValueError("fit: targets y are required with array data.")
            if validation_split and validation_data is None:
                (x, y, sample_weight), validation_data = data_lib.split_validation(
                    x, y, sample_weight, validation_split)
            sample_weight = data_lib.class_sample_weights(y, class_weight, sample_weight)
            train = data_lib.ArrayData(x, y, sample_weight, batch_size, "fit")
        if validation_data is None:
            return train, None
        if data_lib.is_stream(validation_data):
            return train, data_lib.StreamData(validation_data, validation_steps,
                                              "fit (validation)")
        if not isinstance(validation_data, tuple) or len(validation_data) not in (2, 3):
            raise ValueError("fit: validation_data must be (x, y), (x, y, sample_weight) or a "
                             f"generator of batches, got {type(validation_data).__name__}.")
        vx, vy, vsw = data_lib.unpack(validation_data)
        return train, self._eval_data(vx, vy, vsw, validation_batch_size or batch_size,
                                      "fit (validation)")

    def _eval_data(self, x, y, sample_weight, batch_size, what, steps=None):
        if data_lib.is_stream(x):
            return data_lib.StreamData(x, steps, what)
        return data_lib.ArrayData(x, y, sample_weight, batch_size, what)

    def _first_batch(self, source):
        if isinstance(source, data_lib.ArrayData):
            return jax.tree_util.tree_map(lambda a: a[:source.batch_size], source.tree)
        return source.peek()

    def _start_run(self, guard):
        """Takes the train state out of the model for a fit: the run donates it, so the
        layers' arrays (which users may hold) are copied; the rest is the model's own."""
        self._require_state("fit")
        extras = self._ensure_extras()
        run = _Run({"params": _copy(self.params), "state": _copy(self.state), **extras}, guard)
        self._extras = None
        self._live = run
        return run

    def _end_run(self, run):
        """Puts the final train state back into the model (if a failure left it whole)."""
        self._live = None
        leaves = jax.tree_util.tree_leaves(run.ts)
        if any(getattr(a, "is_deleted", lambda: False)() for a in leaves):
            self._extras = None  # a step failed after donating: keep the last synced weights
            return
        self._write_weights(run.ts["params"], run.ts["state"])
        self._extras = {k: run.ts[k] for k in ("opt_state", "step", "rng")}

    def _sync_weights(self, run):
        """Writes copies of the current weights to the layers (the run's are donated).

        ``_end_run`` writes them again whatever happens, so an interrupt here is harmless."""
        self._write_weights(_copy(run.ts["params"]), _copy(run.ts["state"]))
        run.synced = jax.tree_util.tree_leaves((self.params, self.state))

    def _adopt_weight_changes(self, run):
        """If a callback set the model's weights, training continues from those."""
        now = jax.tree_util.tree_leaves((self.params, self.state))
        if any(a is not b for a, b in zip(now, run.synced)):
            run.ts = {**run.ts, "params": _copy(self.params), "state": _copy(self.state)}

    def _train_epoch(self, run, train, shuffle, spe, cbs):
        begin = cbs.wants("on_train_batch_begin")
        end = cbs.wants("on_train_batch_end")
        names = self._log_names("train")
        if isinstance(train, data_lib.ArrayData) and train.resident and \
                self._distribution() is None:  # a distribution shards each batch instead
            calls = self._resident_calls(run, train, shuffle, spe)
        else:
            batches = (train.host_batches(train.order() if shuffle else None)
                       if isinstance(train, data_lib.ArrayData) else train.epoch())
            calls = self._host_calls(run, batches, spe)
        step, logs = 0, None
        for steps, call in calls:
            if begin:
                cbs.on_train_batch_begin(step)
            logs = call()
            step += steps
            if end:
                cbs.on_train_batch_end(step - 1, callbacks_lib.LazyLogs(names, logs))
            if self.stop_training:
                break
        return logs

    def _resident_calls(self, run, train, shuffle, spe):
        """The epoch's compiled calls over device-resident data: ``(steps, call)`` pairs."""
        fn = self._compiled_fn("train_resident", run.guard)
        data = train.device_tree()
        order = jax.device_put(train.order()) if shuffle else None
        size = train.batch_size
        plan = ([(spe, size)] * (train.num_full // spe) + [(1, size)] * (train.num_full % spe)
                + ([(1, train.tail)] if train.tail else []))
        pos = [np.int32(0)]

        def call(steps, size):
            with interrupts.deferred():  # the inputs are donated: keep the outputs
                (run.ts, run.metrics, pos[0]), logs = fn((run.ts, run.metrics, pos[0]), data,
                                                         order, steps=steps, size=size)
            return logs

        for steps, size in plan:
            yield steps, lambda steps=steps, size=size: call(steps, size)

    def _host_calls(self, run, batches, spe):
        fn = self._compiled_fn("train_host", run.guard)

        def call(batch, stacked):
            with interrupts.deferred():  # the inputs are donated: keep the outputs
                (run.ts, run.metrics), logs = fn((run.ts, run.metrics), batch, stacked=stacked)
            return logs

        for steps, stacked, batch in _executions(batches, spe):
            yield steps, lambda batch=batch, stacked=stacked: call(batch, stacked)

    # -- evaluate --------------------------------------------------------------------------
    def _evaluate_data(self, source, spe, cbs):
        """Runs the test step over ``source``; returns the final logs as floats."""
        fn = self._compiled_fn("test")
        params, state = self.params, self.state
        batches = source.host_batches() if isinstance(source, data_lib.ArrayData) \
            else source.epoch()
        begin = cbs.wants("on_test_batch_begin")
        end = cbs.wants("on_test_batch_end")
        names = self._log_names("test")
        states, logs, step = self._fresh_metrics("test"), None, 0
        cbs.on_test_begin()
        for steps, stacked, batch in _executions(batches, spe):
            if begin:
                cbs.on_test_batch_begin(step)
            states, logs = fn(states, params, state, batch, stacked=stacked)
            step += steps
            if end:
                cbs.on_test_batch_end(step - 1, callbacks_lib.LazyLogs(names, logs))
        if logs is None:
            raise ValueError("evaluate: the data yielded no batches.")
        results = _floats(names, logs)
        cbs.on_test_end(results)
        return results

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """The loss and metrics over the data, in inference mode.

        Returns the loss alone when there are no metrics, else ``[loss, *metrics]``
        (or a dict with ``return_dict=True``), as Keras does.

        >>> import numpy as np, jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])
        >>> model.compile("sgd", "mse", metrics=["mae"])
        >>> loss, mae = model.evaluate(np.ones((8, 2)), np.zeros((8, 1)), verbose=0)
        """
        c = self._require_compiled("evaluate")
        verbose = _check_verbose(verbose, "evaluate")
        batch_size = data_lib.check_batch_size(batch_size, "evaluate")
        source = self._eval_data(x, y, sample_weight, batch_size, "evaluate", steps)
        self._prepare(*self._first_batch(source), what="evaluate")
        if isinstance(source, data_lib.ArrayData):
            c.check_labels(source.y, "evaluate")
        self._require_state("evaluate")
        cbs = callbacks_lib.CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                         verbose=verbose, epochs=1, steps=source.steps)
        logs = self._evaluate_data(source, c.steps_per_execution, cbs)
        return _format_logs(logs, return_dict)

    # -- predict ---------------------------------------------------------------------------
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for ``x`` in inference mode, batch by batch, as NumPy arrays.

        One jitted function, compiled once per batch shape and reused across calls.

        >>> import numpy as np, jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
        >>> model.predict(np.ones((5, 3)), batch_size=2, verbose=0).shape
        (5, 2)
        """
        verbose = _check_verbose(verbose, "predict")
        batch_size = data_lib.check_batch_size(batch_size, "predict")
        if data_lib.is_stream(x):
            source = data_lib.StreamData(x, steps, "predict")
        else:
            source = data_lib.ArrayData(x, None, None, batch_size, "predict")
        self._prepare(self._first_batch(source)[0], what="predict")
        cbs = callbacks_lib.CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                         verbose=verbose, epochs=1, steps=source.steps)
        fn = self._compiled_fn("predict")
        params, state = self.params, self.state
        batches = source.host_batches() if isinstance(source, data_lib.ArrayData) \
            else source.epoch()
        begin, end = cbs.wants("on_predict_batch_begin"), cbs.wants("on_predict_batch_end")
        outputs = []
        cbs.on_predict_begin()
        for i, (xb, _, _) in enumerate(batches):
            if begin:
                cbs.on_predict_batch_begin(i)
            outputs.append(fn(params, state, xb, self._predict_key()))
            if end:
                cbs.on_predict_batch_end(i, {"outputs": outputs[-1]})
        cbs.on_predict_end()
        # One transfer per batch at the end: the device never waits on the host meanwhile.
        return jax.tree_util.tree_map(lambda *o: np.concatenate([np.asarray(a) for a in o]),
                                      *outputs)

    # -- on one batch ----------------------------------------------------------------------
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        """One training step on this batch; returns its loss (and metrics), as Keras 3.

        >>> import numpy as np, jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])
        >>> model.compile("sgd", "mse")
        >>> loss = model.train_on_batch(np.ones((4, 2)), np.ones((4, 1)))
        """
        self._require_compiled("train_on_batch")
        batch = self._one_batch(x, y, sample_weight, class_weight, "train_on_batch")
        self._require_state("train_on_batch")
        fn = self._compiled_fn("train_batch")
        with interrupts.deferred():  # the weights and the optimizer state change together
            params = self.params
            ts, logs = fn({"params": params, "state": self.state}, self._ensure_extras(params),
                          batch)
            self._write_weights(ts["params"], ts["state"])
            self._extras = {k: ts[k] for k in ("opt_state", "step", "rng")}
        return _format_logs(_floats(self._log_names("train"), logs), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """The loss (and metrics) on this batch in inference mode.

        >>> import numpy as np, jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])
        >>> model.compile("sgd", "mse")
        >>> loss = model.test_on_batch(np.ones((4, 2)), np.ones((4, 1)))
        """
        self._require_compiled("test_on_batch")
        batch = self._one_batch(x, y, sample_weight, None, "test_on_batch")
        self._require_state("test_on_batch")
        fn = self._compiled_fn("test")
        _, logs = fn(self._fresh_metrics("test"), self.params, self.state, batch, stacked=False)
        return _format_logs(_floats(self._log_names("test"), logs), return_dict)

    def predict_on_batch(self, x):
        """The outputs for one batch, as NumPy arrays.

        >>> import numpy as np, jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
        >>> model.predict_on_batch(np.ones((4, 3))).shape
        (4, 2)
        """
        x = data_lib.as_arrays(x)
        data_lib.num_examples(x, None, None, "predict_on_batch")
        self._prepare(x, what="predict")
        out = self._compiled_fn("predict")(self.params, self.state, x, self._predict_key())
        return jax.tree_util.tree_map(np.asarray, out)

    def _one_batch(self, x, y, sample_weight, class_weight, what):
        x, y, sample_weight = (data_lib.as_arrays(t) for t in (x, y, sample_weight))
        data_lib.num_examples(x, y, sample_weight, what)
        sample_weight = data_lib.class_sample_weights(y, class_weight, sample_weight)
        self._prepare(x, y, sample_weight, what)
        return x, y, sample_weight


def _should_validate(epoch, freq):
    if isinstance(freq, numbers.Integral):
        return (epoch + 1) % freq == 0
    return (epoch + 1) in freq


def _format_logs(logs, return_dict):
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


