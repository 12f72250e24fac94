"""``evaluate``, ``predict`` and their one-batch forms, in inference mode.

>>> import numpy as np, jkeras
>>> model = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
>>> model.predict(np.ones((5, 3)), batch_size=2, verbose=0).shape
(5, 2)
"""
import jax
import numpy as np

from .. import callbacks as callbacks_lib
from .. import random as random_lib
from . import data as data_lib
from .calls import check_verbose, executions, floats, format_logs


class Inference:
    """The inference half of ``Model``'s training API (a mixin of ``Trainer``).

    >>> import numpy as np, jkeras
    >>> model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])
    >>> model.compile("sgd", "mse")
    >>> float(model.evaluate(np.ones((4, 2)), np.zeros((4, 1)), verbose=0)) >= 0
    True
    """

    # -- compiled calls --------------------------------------------------------------------
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

    def _eval_data(self, x, y, sample_weight, batch_size, what, steps=None):
        if data_lib.is_stream(x):
            return data_lib.StreamData(x, steps, what)
        return data_lib.ArrayData(x, y, sample_weight, batch_size, what)

    def _first_batch(self, source):
        if isinstance(source, data_lib.ArrayData):
            return jax.tree_util.tree_map(lambda a: a[:source.batch_size], source.tree)
        return source.peek()

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
        for steps, stacked, batch in executions(batches, spe):
            if begin:
                cbs.on_test_batch_begin(step)
            states, logs = fn(states, params, state, batch, stacked=stacked)
            step += steps
            if end:
                cbs.on_test_batch_end(step - 1, callbacks_lib.LazyLogs(names, logs))
        if logs is None:
            raise ValueError("evaluate: the data yielded no batches.")
        results = floats(names, logs)
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
        verbose = check_verbose(verbose, "evaluate")
        batch_size = data_lib.check_batch_size(batch_size, "evaluate")
        source = self._eval_data(x, y, sample_weight, batch_size, "evaluate", steps)
        self._prepare(*self._first_batch(source), what="evaluate")
        if isinstance(source, data_lib.ArrayData):
            c.check_labels(source.y, "evaluate")
        self._require_state("evaluate")
        cbs = callbacks_lib.CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                         verbose=verbose, epochs=1, steps=source.steps)
        logs = self._evaluate_data(source, c.steps_per_execution, cbs)
        return format_logs(logs, return_dict)

    # -- predict ---------------------------------------------------------------------------
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for ``x`` in inference mode, batch by batch, as NumPy arrays.

        One jitted function, compiled once per batch shape and reused across calls.

        >>> import numpy as np, jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
        >>> model.predict(np.ones((5, 3)), batch_size=2, verbose=0).shape
        (5, 2)
        """
        verbose = check_verbose(verbose, "predict")
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

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """The loss (and metrics) on this batch in inference mode.

        >>> import numpy as np, jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])
        >>> model.compile("sgd", "mse")
        >>> loss = model.test_on_batch(np.ones((4, 2)), np.ones((4, 1)))
        """
        batch, fn = self._checked_call(x, y, sample_weight, None, "test_on_batch", "test")
        weights = self._weights_now()
        _, logs = fn(self._fresh_metrics("test"), weights["params"], weights["state"], batch,
                     stacked=False)
        return format_logs(floats(self._log_names("test"), logs), return_dict)

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
        weights = self._weights_now()
        out = self._compiled_fn("predict")(weights["params"], weights["state"], x,
                                           self._predict_key())
        return jax.tree_util.tree_map(np.asarray, out)
