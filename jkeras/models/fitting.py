"""``fit``: the training loop over a model's train state.

The run takes the train state out of the model and donates it to each jitted call, so XLA
updates it in place; ``steps_per_execution=N`` scans N steps in one compiled call. Array
data goes to the device once per ``fit`` and each compiled call slices (or, shuffled,
gathers) its own batches from it, so no step copies data from the host. Nothing is read
back from the device during an epoch unless a callback asks for the logs: the progress
bar on a terminal, a few times a second; ``TerminateOnNaN``, every step.

>>> import numpy as np, jkeras
>>> model = jkeras.Sequential([jkeras.layers.Dense(2, activation="softmax", input_dim=3)])
>>> model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
>>> history = model.fit(np.random.rand(32, 3), np.arange(32) % 2, epochs=2, verbose=0)
>>> history.history["loss"][0] > 0
True
"""
import itertools
import math
import numbers
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .. import callbacks as callbacks_lib
from . import data as data_lib
from . import interrupts
from .calls import check_verbose, executions, floats
from .steps import copy_tree as _copy

_WATCH = "_nonfinite"  # in fit's metric states: (first batch with a non-finite loss, batches)


class _Run:
    """What a running ``fit`` carries from one compiled call to the next."""

    def __init__(self, ts, guard):
        self.ts, self.metrics, self.guard = ts, None, guard
        self.synced = None  # the weight arrays last written to the layers
        # Where the run is, for BackupAndRestore: the epoch, the batches done in it, and
        # its order of examples (None: unshuffled, or a stream).
        self.epoch, self.batch, self.order = 0, 0, None


class Resume:
    """Where a restarted ``fit`` picks up (set on the model by ``BackupAndRestore``):
    ``batch`` batches into ``epoch``, with that epoch's ``order`` of examples and running
    ``metrics`` (both None at an epoch's start)."""

    def __init__(self, epoch, batch=0, order=None, metrics=None):
        self.epoch, self.batch, self.order, self.metrics = epoch, batch, order, metrics


class Fitting:
    """The ``fit`` half of ``Model``'s training API (a mixin of ``Trainer``).

    >>> import numpy as np, jkeras
    >>> model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> len(model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=2, verbose=0).history["loss"])
    2
    """

    stop_training = False
    history = None
    _resume = None  # a Resume, set by BackupAndRestore when it resumes an interrupted fit

    # -- compiled calls --------------------------------------------------------------------
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
        verbose = check_verbose(verbose, "fit")
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
                    resume, self._resume = self._resume or Resume(0), None
                    initial_epoch = max(initial_epoch, resume.epoch)
                    for epoch in range(initial_epoch, epochs):
                        within = epoch == resume.epoch and resume.batch > 0
                        run.epoch, run.batch = epoch, resume.batch if within else 0
                        run.metrics = resume.metrics if within else self._epoch_metrics()
                        cbs.on_epoch_begin(epoch)
                        logs = self._train_epoch(run, train, shuffle, spe, cbs,
                                                 resume.order if within else None)
                        if logs is None:  # a generator ran dry
                            break
                        epoch_logs = floats(self._log_names("train"), logs)
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

    def _epoch_metrics(self):
        """An epoch's fresh metric states, as ``fit`` carries them."""
        return {**self._fresh_metrics(), _WATCH: np.array([-1, 0], np.int32)}

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

    def _start_run(self, guard):
        """Takes the train state out of the model for a fit: the run donates it, so the
        layers' arrays (which users may hold) are copied; the rest is the model's own."""
        self._require_state("fit")
        extras = self._ensure_extras()
        params, state = _copy((self.params, self.state))
        run = _Run({"params": params, "state": state, **extras}, guard)
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
        self._write_weights(*_copy((run.ts["params"], run.ts["state"])))
        run.synced = jax.tree_util.tree_leaves((self.params, self.state))

    def _adopt_weight_changes(self, run):
        """If a callback set the model's weights, training continues from those."""
        now = jax.tree_util.tree_leaves((self.params, self.state))
        if any(a is not b for a, b in zip(now, run.synced)):
            params, state = _copy((self.params, self.state))
            run.ts = {**run.ts, "params": params, "state": state}

    def _train_epoch(self, run, train, shuffle, spe, cbs, order=None):
        """One epoch's batches from ``run.batch`` on (0, unless resumed), in ``order``
        (drawn now when shuffling and not resumed); returns the epoch's logs."""
        begin = cbs.wants("on_train_batch_begin")
        end = cbs.wants("on_train_batch_end")
        names = self._log_names("train")
        skip = run.batch
        if isinstance(train, data_lib.ArrayData):
            if shuffle and order is None:
                order = train.order()
            run.order = order if shuffle else None
            if run.order is not None and len(run.order) != train.n:
                raise ValueError(f"fit: resuming an epoch whose order has {len(run.order)} "
                                 f"examples, but the data has {train.n}: the backup was "
                                 "made with other data.")
            if train.resident and self._distribution() is None:  # else sharded per batch
                calls = self._resident_calls(run, train, spe, skip)
            else:
                calls = self._host_calls(run, train.host_batches(run.order, skip), spe)
        else:  # a stream resumes by reading past the batches already done
            run.order = None
            calls = self._host_calls(run, itertools.islice(train.epoch(), skip, None), spe)
        logs = None
        for steps, call in calls:
            if begin:
                cbs.on_train_batch_begin(run.batch)
            logs = call()
            run.batch += steps
            if end:
                cbs.on_train_batch_end(run.batch - 1, callbacks_lib.LazyLogs(names, logs))
            if self.stop_training:
                break
        if logs is None and skip:  # resumed after the epoch's last batch
            logs = self._results_fn("train")(run.metrics)
        return logs

    def _resident_calls(self, run, train, spe, skip=0):
        """The epoch's compiled calls over device-resident data, from batch ``skip`` on:
        ``(steps, call)`` pairs."""
        fn = self._compiled_fn("train_resident", run.guard)
        data = train.device_tree()
        order = None if run.order is None else jax.device_put(run.order)
        size = train.batch_size
        full = max(train.num_full - skip, 0)
        plan = ([(spe, size)] * (full // spe) + [(1, size)] * (full % spe)
                + ([(1, train.tail)] if train.tail and skip <= train.num_full else []))
        pos = [np.int32(min(skip, train.num_full) * size)]

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

        for steps, stacked, batch in executions(batches, spe):
            yield steps, lambda batch=batch, stacked=stacked: call(batch, stacked)


def _should_validate(epoch, freq):
    if isinstance(freq, numbers.Integral):
        return (epoch + 1) % freq == 0
    return (epoch + 1) in freq

