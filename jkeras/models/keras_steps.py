"""Keras 3's JAX training API on jkeras models: overridable steps and their helpers.

A ``Model`` subclass may override ``train_step(self, state, data)``,
``test_step(self, state, data)`` or ``predict_step(self, state, data)`` in Keras 3's
JAX form: pure functions over lists of values,

* ``train_step``: ``state = (trainable, non_trainable, optimizer, metrics)``, returns
  ``(logs, state)``;
* ``test_step``: ``state = (trainable, non_trainable, metrics)``, returns ``(logs, state)``;
* ``predict_step``: ``state = (trainable, non_trainable)``, returns
  ``(outputs, non_trainable)``;

and ``fit``/``evaluate``/``predict`` run them, jitted, in place of the built-in steps.
The lists are views of the train state (``model.trainable_variables`` order for the
weights, the optimizer state's leaves, the leaves of each of ``model.metrics``' states);
:class:`CustomSteps` converts between the two inside the compiled step, where it costs
nothing. ``compute_loss``, ``compute_loss_and_updates``, ``stateless_compute_loss``,
``metrics`` and ``compute_metrics`` are there to be used (or overridden) in such steps.
"""
import inspect

import jax
import jax.numpy as jnp

from .. import random as random_lib
from .. import variables as variables_lib
from ..utils import pack_x_y_sample_weight, unpack_x_y_sample_weight


def _override(model, name, base):
    """The subclass's Keras-form step ``name``, or ``None`` when it is not overridden."""
    fn = getattr(type(model), name)
    if fn is base:
        return None
    params = [p for p in list(inspect.signature(fn).parameters.values())[1:]
              if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                       p.POSITIONAL_OR_KEYWORD)]
    if len(params) != 2:
        raise TypeError(
            f"{type(model).__name__}.{name} overrides the step with the signature "
            f"{inspect.signature(fn)}; fit, evaluate and predict run Keras 3's JAX form, "
            f"{name}(self, state, data) -> (logs, state). Rename the method if it is not "
            "meant to replace the step.")
    return fn


def _flat_logs(logs, owner, what):
    """Keras flattens nested dicts of logs (``{"compile_metrics": {...}}``) into one."""
    if not isinstance(logs, dict):
        raise TypeError(f"{owner}.{what} must return (logs, state) with logs a dict of "
                        f"scalars, got logs of type {type(logs).__name__}.")
    flat = {}
    for key, value in logs.items():
        if isinstance(value, dict):
            flat.update(_flat_logs(value, owner, what))
        else:
            flat[key] = jnp.asarray(variables_lib.unwrap(value))
    return flat


def _check_lists(owner, what, got, expected):
    """Checks that a step returned a state with the lists of ``expected``'s lengths."""
    names = ("trainable_variables", "non_trainable_variables", "optimizer_variables",
             "metrics_variables")
    if what == "test_step":
        names = (names[0], names[1], names[3])
    elif what == "predict_step":
        names = (names[1],)
    if not isinstance(got, (tuple, list)) or len(got) != len(expected):
        raise TypeError(f"{owner}.{what} must return its state as a tuple of {len(expected)} "
                        f"lists ({', '.join(names)}), got {type(got).__name__}"
                        f"{'' if not isinstance(got, (tuple, list)) else f' of {len(got)}'}.")
    for name, g, e in zip(names, got, expected):
        if not isinstance(g, (tuple, list)) or len(g) != len(e):
            raise TypeError(f"{owner}.{what}: the returned {name} must be a list of {len(e)} "
                            f"arrays, got {type(g).__name__}"
                            f"{f' of {len(g)}' if isinstance(g, (tuple, list)) else ''}.")


class CustomSteps:
    """``fit``/``evaluate``/``predict`` over a model's Keras-form step overrides.

    Each kind (``"train"``, ``"test"``) carries ``{"values": metric values, "logs": last
    logs}`` as its metric state, and its logs are the keys of the last logs, flattened.
    """

    def __init__(self, model, train, test, predict):
        self.model, self.train, self.test, self.predict = model, train, test, predict
        self.names = {}   # kind -> log names
        self.empty = {}   # kind -> the initial (metric values, logs)
        paths = [model._tree_path(v) for v in model.trainable_variables]
        if train is not None and hasattr(model.optimizer, "_set_layout"):
            model.optimizer._set_layout(paths, model._ensure_extras()["opt_state"])

    def metric_values(self):
        return [leaf for m in self.model.metrics for leaf in jax.tree_util.tree_leaves(m.init())]

    def prepare(self, kind, ts_spec, batch_spec):
        """Finds the step's logs (their names and zeros) by tracing it abstractly."""
        if kind in self.names:
            return
        carry = {"values": self.metric_values(), "logs": {}}
        if kind == "train":
            out = jax.eval_shape(lambda ts, c, b: self.train_batch(ts, c, b)[1], ts_spec,
                                 carry, batch_spec)
        else:
            out = jax.eval_shape(lambda p, s, c, b: self.test_batch(p, s, c, b), ts_spec["params"],
                                 ts_spec["state"], carry, batch_spec)
        logs = out["logs"]
        self.names[kind] = list(logs)
        self.empty[kind] = jax.device_get({"values": self.metric_values(), "logs": {
            k: jnp.zeros(v.shape, v.dtype) for k, v in logs.items()}})

    def result_list(self, kind):
        return lambda carry: [carry["logs"][k] for k in self.names[kind]]

    def _lists(self, params, state):
        model = self.model
        tv = [_get(params, model._tree_path(v)) for v in model.trainable_variables]
        ntv = [_get(state, model._tree_path(v)) for v in model.non_trainable_variables]
        return tv, ntv

    def train_batch(self, ts, carry, batch, guard=False):
        model, owner = self.model, type(self.model).__name__
        rng, key = jax.random.split(ts["rng"])
        tv, ntv = self._lists(ts["params"], ts["state"])
        opt_values, opt_def = jax.tree_util.tree_flatten(ts["opt_state"])
        state = (tv, ntv, opt_values, list(carry["values"]))
        with random_lib.step_key(key), variables_lib.forward_losses():
            result = self.train(model, state, pack_x_y_sample_weight(*batch))
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise TypeError(f"{owner}.train_step must return (logs, state), got "
                            f"{type(result).__name__}.")
        logs, new = result
        _check_lists(owner, "train_step", new, state)
        params, new_state = model._trees_from_lists(*new[:2])
        new_ts = {"params": params, "state": new_state,
                  "opt_state": opt_def.unflatten(variables_lib.values(new[2])),
                  "step": ts["step"] + 1, "rng": rng}
        logs = _flat_logs(logs, owner, "train_step")
        if guard and "loss" in logs:
            ok = jnp.isfinite(logs["loss"])
            new_ts = jax.tree_util.tree_map(lambda n, o: jnp.where(ok, n, o), new_ts, ts)
        return new_ts, {"values": variables_lib.values(new[3]), "logs": logs}

    def test_batch(self, params, state, carry, batch):
        model, owner = self.model, type(self.model).__name__
        tv, ntv = self._lists(params, state)
        values = (tv, ntv, list(carry["values"]))
        with variables_lib.forward_losses():
            result = self.test(model, values, pack_x_y_sample_weight(*batch))
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise TypeError(f"{owner}.test_step must return (logs, state), got "
                            f"{type(result).__name__}.")
        logs, new = result
        _check_lists(owner, "test_step", new, values)
        return {"values": variables_lib.values(new[2]),
                "logs": _flat_logs(logs, owner, "test_step")}

    def predict_batch(self, params, state, x):
        model, owner = self.model, type(self.model).__name__
        tv, ntv = self._lists(params, state)
        result = self.predict(model, (tv, ntv), (x,))
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise TypeError(f"{owner}.predict_step must return (outputs, "
                            f"non_trainable_variables), got {type(result).__name__}.")
        _check_lists(owner, "predict_step", (result[1],), (ntv,))
        return variables_lib.unwrap(result[0])


def _get(tree, path):
    for key in path.split("/"):
        tree = tree[key]
    return tree


class KerasTrainAPI:
    """Mixin of ``Trainer``: Keras 3's JAX step API (see the module docstring)."""

    @property
    def metrics(self):
        """Keras' ``model.metrics``: the loss tracker, then the compiled metrics (known
        after the first batch). Override it to list a ``train_step``'s own metrics."""
        c = self._compiled
        if c is None:
            return []
        return [c.tracker] + [m for _, m, _ in getattr(c, "metrics", [])]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss of ``y_pred`` against ``y``, plus the losses the latest
        ``stateless_call`` of the running step added (``add_loss``, weight penalties)."""
        c = self._compiled
        total = jnp.zeros((), jnp.float32)
        if c is not None and c.resolved and c.losses:
            total = total + c.loss(y, y_pred, sample_weight)[0]
        for loss in variables_lib.latest_forward_losses():
            total = total + jnp.sum(loss)
        return total

    def stateless_compute_loss(self, trainable_variables, non_trainable_variables,
                               metrics_variables, x=None, y=None, y_pred=None,
                               sample_weight=None, training=True):
        """``compute_loss`` in Keras' stateless form: ``(loss, (trainable,
        non_trainable, metrics))``, the variables unchanged."""
        loss = self.compute_loss(x, y, y_pred, sample_weight, training)
        return loss, (trainable_variables, non_trainable_variables, metrics_variables)

    def compute_loss_and_updates(self, trainable_variables, non_trainable_variables,
                                 metrics_variables, x, y, sample_weight, training=False,
                                 optimizer_variables=None):
        """The forward pass and loss, pure (for ``jax.value_and_grad``): ``(loss,
        (loss, y_pred, non_trainable, metrics))``, as Keras 3's JAX trainer."""
        with variables_lib.forward_losses():
            y_pred, non_trainable_variables = self.stateless_call(
                trainable_variables, non_trainable_variables, x, training=training)
            loss, (_, non_trainable_variables, metrics_variables) = \
                self.stateless_compute_loss(trainable_variables, non_trainable_variables,
                                            metrics_variables, x, y, y_pred, sample_weight,
                                            training)
        return loss, (loss, y_pred, non_trainable_variables, metrics_variables)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Updates the compiled metrics' stored states with this batch; their results.

        In a stateless step, use each metric's ``stateless_update_state`` instead.
        """
        c = self._compiled
        out = {}
        for metric in self.metrics:
            if metric is not c.tracker:
                metric.update_state(y, y_pred, sample_weight)
            out[metric.name] = metric.result()
        return out

    def _stateless_metrics(self, metrics_variables, loss, y, y_pred, sample_weight, x):
        logs, new, i = {}, [], 0
        c = self._compiled
        for metric in self.metrics:
            n = len(jax.tree_util.tree_leaves(metric.init()))
            values = metrics_variables[i:i + n]
            i += n
            if metric is c.tracker:
                count = jax.tree_util.tree_leaves(x)[0].shape[0]
                values = metric.stateless_update_state(values, loss, count)
            else:
                values = metric.stateless_update_state(values, y, y_pred, sample_weight)
            logs[metric.name] = metric.stateless_result(values)
            new += values
        return logs, new

    def _keras_train_step(self, state, data):
        trainable, non_trainable, optimizer_values, metrics_values = state
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
        (_, (loss, y_pred, non_trainable, metrics_values)), grads = grad_fn(
            trainable, non_trainable, metrics_values, x, y, sample_weight, training=True)
        trainable, optimizer_values = self.optimizer.stateless_apply(optimizer_values, grads,
                                                                     trainable)
        logs, metrics_values = self._stateless_metrics(metrics_values, loss, y, y_pred,
                                                       sample_weight, x)
        return logs, (trainable, non_trainable, optimizer_values, metrics_values)

    def _keras_test_step(self, state, data):
        trainable, non_trainable, metrics_values = state
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        loss, (_, y_pred, non_trainable, metrics_values) = self.compute_loss_and_updates(
            trainable, non_trainable, metrics_values, x, y, sample_weight, training=False)
        logs, metrics_values = self._stateless_metrics(metrics_values, loss, y, y_pred,
                                                       sample_weight, x)
        return logs, (trainable, non_trainable, metrics_values)

    def predict_step(self, state, data):
        """Keras 3's JAX ``predict_step``: ``(outputs, non_trainable_variables)`` for
        ``state = (trainable, non_trainable)`` and ``data = (x,)``; ``predict`` runs an
        override of it.

        >>> import jax.numpy as jnp, jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
        >>> state = ([v.value for v in model.trainable_variables], [])
        >>> y, _ = model.predict_step(state, (jnp.ones((1, 3)),))
        """
        trainable, non_trainable = state
        x, _, _ = unpack_x_y_sample_weight(data)
        return self.stateless_call(trainable, non_trainable, x, training=False)

    def _custom_steps(self):
        """The :class:`CustomSteps` of this model's overrides, or ``None`` (cached).

        Overriding ``compute_loss`` (or ``compute_loss_and_updates``,
        ``stateless_compute_loss``) alone makes ``fit``/``evaluate`` run Keras' own
        step, which calls it.
        """
        from .steps import Steps
        key = ("trainer", "custom")
        if key not in self._jit_cache:
            train, test, predict = (_override(self, name, getattr(base, name)) for name, base in (
                ("train_step", Steps), ("test_step", Steps), ("predict_step", KerasTrainAPI)))
            loss_hooks = [name for name in ("compute_loss", "compute_loss_and_updates",
                                            "stateless_compute_loss")
                          if getattr(type(self), name) is not getattr(KerasTrainAPI, name)]
            compiled = self._compiled is not None
            if getattr(type(self), "compute_metrics") is not KerasTrainAPI.compute_metrics and \
                    (train is None or test is None) and compiled:
                raise TypeError(
                    f"{type(self).__name__} overrides compute_metrics, which jkeras' compiled "
                    "steps cannot call (it updates metric objects in place). Override "
                    "train_step/test_step and update the metrics with "
                    "metric.stateless_update_state, as Keras' JAX guide does.")
            if loss_hooks and compiled:
                if not hasattr(self.optimizer, "stateless_apply") and train is None:
                    raise TypeError(
                        f"{type(self).__name__} overrides {loss_hooks[0]}, which fit runs "
                        "through Keras' train_step; that step needs a jkeras optimizer "
                        f"(optimizer.stateless_apply), got {self.optimizer!r}.")
                train = train or KerasTrainAPI._keras_train_step
                test = test or KerasTrainAPI._keras_test_step
            found = (train, test, predict)
            self._jit_cache[key] = CustomSteps(self, *found) if any(found) else None
        return self._jit_cache[key]
