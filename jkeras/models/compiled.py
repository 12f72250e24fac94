"""What ``compile`` sets up: the optimizer, the per-output losses and the metric objects.

Names are checked at ``compile``; the rest waits for the first batch, whose shapes say
how many outputs there are, which accuracy ``"accuracy"`` means and whether the targets
fit each loss (checked abstractly, before anything runs). After that everything here is
a pure function of arrays, used inside the jitted steps.
"""
import functools

import jax
import jax.numpy as jnp
import optax

from .. import losses as losses_lib
from .. import metrics as metrics_lib
from .. import mixed_precision
from .. import optimizers as optimizers_lib
from ..layers.base import index_problem
from . import data as data_lib


def flat_outputs(y_pred):
    """Model outputs as a list, in a fixed order (dict outputs by sorted key).

    >>> flat_outputs({"b": 2, "a": 1})
    [1, 2]
    """
    if isinstance(y_pred, dict):
        return [y_pred[k] for k in sorted(y_pred)]
    if isinstance(y_pred, (list, tuple)):
        return list(y_pred)
    return [y_pred]


def output_names(model, y_pred):
    """Names for the outputs (Keras': output layers' names, or a dict's keys).

    >>> output_names(None, {"score": 0, "box": 1})
    ['box', 'score']
    """
    if isinstance(y_pred, dict):
        return sorted(y_pred)
    count = len(flat_outputs(y_pred))
    outputs = getattr(model, "outputs", None)
    if isinstance(outputs, (list, tuple)) and len(outputs) == count and all(
            getattr(t, "node", None) is not None for t in outputs):
        names = [t.node.layer.name for t in outputs]
        if len(set(names)) == count:
            return names
    return [f"output_{i}" for i in range(count)] if count > 1 else ["output"]


def _per_output(spec, names, what, allow_missing=False):
    """A compile argument given once, as a list or as a dict, spread over the outputs."""
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - set(names))
        if unknown:
            raise ValueError(f"compile: {what} has keys {unknown} that are not outputs of the "
                             f"model; the outputs are {names}.")
        if not allow_missing and len(names) > 1 and set(spec) != set(names):
            raise ValueError(f"compile: {what} must give every output {names}, got keys "
                             f"{sorted(spec)}.")
        return [spec.get(n) for n in names]
    if isinstance(spec, (list, tuple)) and len(names) > 1:
        if len(spec) != len(names):
            raise ValueError(f"compile: {what} has {len(spec)} entries for a model with "
                             f"{len(names)} outputs {names}.")
        return list(spec)
    if isinstance(spec, (list, tuple)) and len(spec) == 1:
        return [spec[0]]
    return [spec] * len(names)


def _class_axis(fn):
    """The class axis of a sparse categorical crossentropy (maybe a partial), else None."""
    keywords = {}
    while isinstance(fn, functools.partial):
        keywords = {**fn.keywords, **keywords}
        fn = fn.func
    if fn is losses_lib.sparse_categorical_crossentropy:
        return keywords.get("axis", -1)
    return None


def _loss_name(fn):
    return getattr(fn, "__name__", None) or getattr(fn, "name", type(fn).__name__)


def _loss_value(fn, y_true, y_pred, sample_weight):
    """One output's loss: a ``Loss`` object weighs and reduces by itself; a function's
    per-example values get Keras' default, "sum over batch size"."""
    if isinstance(fn, losses_lib.Loss):
        return jnp.asarray(fn(y_true, y_pred, sample_weight), jnp.float32)
    return losses_lib.reduce_weighted(fn(y_true, y_pred), sample_weight)


def _accuracy_for(loss_fn, y_true, y_pred):
    """The accuracy that ``"accuracy"`` means: from the loss, else from shapes (Keras 3)."""
    by_loss = {losses_lib.sparse_categorical_crossentropy: metrics_lib.SparseCategoricalAccuracy,
               losses_lib.categorical_crossentropy: metrics_lib.CategoricalAccuracy,
               losses_lib.binary_crossentropy: metrics_lib.BinaryAccuracy}
    loss_fn = getattr(loss_fn, "fn", loss_fn)  # a LossFunctionWrapper's function
    if loss_fn in by_loss:
        return by_loss[loss_fn]
    t_shape, p_shape = jnp.shape(y_true), jnp.shape(y_pred)
    if p_shape and p_shape[-1] == 1:
        return metrics_lib.BinaryAccuracy
    if len(t_shape) < len(p_shape) or (t_shape and t_shape[-1] == 1 and p_shape[-1] > 1):
        return metrics_lib.SparseCategoricalAccuracy
    return metrics_lib.CategoricalAccuracy


def _resolve_optimizer(optimizer):
    if optimizer is None:
        raise ValueError("compile: an optimizer is required (a name such as 'adam', a "
                         "jkeras optimizer or an optax GradientTransformation).")
    return optimizers_lib.get(optimizer)


def _check_metric_names(metrics):
    """Fails at compile on unknown metric names anywhere in ``metrics``."""
    for leaf in jax.tree_util.tree_leaves(metrics, is_leaf=lambda m: not isinstance(
            m, (list, tuple, dict))):
        if isinstance(leaf, str) and leaf.lower() not in ("accuracy", "acc"):
            metrics_lib.get_metric(leaf)


def _check_loss_names(loss):
    for leaf in jax.tree_util.tree_leaves(loss, is_leaf=lambda m: not isinstance(
            m, (list, tuple, dict))):
        if isinstance(leaf, str):
            losses_lib.get(leaf)
        elif leaf is not None and not callable(leaf):
            raise TypeError(f"compile: a loss must be a name, a jkeras.losses.Loss or a function "
                            f"(y_true, y_pred) -> per-example values, got {leaf!r}.")


class Compiled:
    """The configuration ``compile`` records, resolved against the first batch's shapes.

    >>> c = Compiled("sgd", "mse", ["mae"])
    >>> c.optimizer.learning_rate
    0.01
    """

    def __init__(self, optimizer, loss, metrics=None, loss_weights=None,
                 steps_per_execution=1):
        self.optimizer = _resolve_optimizer(optimizer)
        self.is_jkeras_optimizer = isinstance(self.optimizer, optimizers_lib.Optimizer)
        if not self.is_jkeras_optimizer and not isinstance(self.optimizer,
                                                           optax.GradientTransformation):
            raise TypeError(f"compile: unsupported optimizer {self.optimizer!r}.")
        _check_loss_names(loss)
        _check_metric_names(metrics)
        self.steps_per_execution = data_lib.check_count(steps_per_execution,
                                                        "steps_per_execution", "compile")
        self.loss_spec, self.metrics_spec, self.loss_weights = loss, metrics, loss_weights
        self.resolved = False
        self.tracker = metrics_lib.Mean(name="loss")

    # -- resolution against the first batch -------------------------------------------------
    def resolve(self, model, y_spec, y_pred_spec, sw_spec=None, what="fit"):
        """Fixes the per-output losses and metric objects; checks the targets fit them."""
        names = output_names(model, y_pred_spec)
        preds = flat_outputs(y_pred_spec)
        targets = self._targets(y_spec, names, what)
        loss_ids = _per_output(self.loss_spec, names, "loss", allow_missing=True)
        weights = _per_output(1.0 if self.loss_weights is None else self.loss_weights,
                              names, "loss_weights", allow_missing=True)
        self.losses = []  # (output index, loss function, weight, log name)
        for i, (name, lid, w) in enumerate(zip(names, loss_ids, weights)):
            if lid is None:
                continue
            fn = losses_lib.get(lid)
            self.losses.append((i, fn, 1.0 if w is None else float(w), f"{name}_loss"))
        if not self.losses and self.loss_spec is not None:
            raise ValueError(f"compile: no output has a loss; outputs are {names}.")
        self.output_names = names
        self.sparse_classes = {i: preds[i].shape[_class_axis(fn)]
                               for i, fn, _, _ in self.losses if _class_axis(fn) is not None}
        self.metrics = self._metrics(names, targets, preds)
        self._check(targets, preds, sw_spec, what)
        self.resolved = True

    def _targets(self, y_spec, names, what):
        if y_spec is None and self.loss_spec is None and not self.metrics_spec:
            return [None] * len(names)  # the model adds its own loss and needs no targets
        if y_spec is None:
            raise ValueError(f"{what}: targets y are required: the loss compares the model's "
                             "outputs with them.")
        if isinstance(y_spec, dict):
            missing = [n for n in names if n not in y_spec]
            if missing:
                raise ValueError(f"{what}: y has no targets for outputs {missing}; it has keys "
                                 f"{sorted(y_spec)} and the outputs are {names}.")
            return [y_spec[n] for n in names]
        flat = list(y_spec) if isinstance(y_spec, (list, tuple)) else [y_spec]
        if len(flat) != len(names):
            raise ValueError(f"{what}: the model has {len(names)} outputs {names} but y holds "
                             f"{len(flat)} arrays.")
        return flat

    def _metrics(self, names, targets, preds):
        spec = self.metrics_spec
        if spec is None:
            per_output = [[] for _ in names]
        elif isinstance(spec, dict):
            per_output = _per_output(spec, names, "metrics", allow_missing=True)
        elif (isinstance(spec, (list, tuple)) and len(names) > 1 and len(spec) == len(names)
              and all(m is None or isinstance(m, (list, tuple)) for m in spec)):
            per_output = list(spec)  # Keras 3's list of lists, one per output
        else:
            per_output = [spec] * len(names)
        loss_of = {i: fn for i, fn, _, _ in self.losses}
        chosen, seen = [], {"loss"} | {log for *_, log in self.losses}
        for i, ids in enumerate(per_output):
            if ids is None:
                continue
            for mid in ids if isinstance(ids, (list, tuple)) else [ids]:
                if isinstance(mid, str) and mid.lower() in ("accuracy", "acc"):
                    metric = _accuracy_for(loss_of.get(i), targets[i], preds[i])(name=mid)
                else:
                    metric = metrics_lib.get_metric(mid)
                log = metric.name if len(names) == 1 else f"{names[i]}_{metric.name}"
                base, k = log, 1
                while log in seen:  # keep log keys unique, as Keras does
                    log, k = f"{base}_{k}", k + 1
                seen.add(log)
                chosen.append((i, metric, log))
        return chosen

    def _check(self, targets, preds, sw_spec, what):
        """Runs every loss and metric abstractly so shape errors surface now, with context."""
        multi = len(self.output_names) > 1
        for i, fn, _, _ in self.losses:
            where = f" for output {self.output_names[i]!r}" if multi else ""
            try:
                jax.eval_shape(lambda t, p, s: _loss_value(fn, t, p, s), targets[i], preds[i],
                               sw_spec)
            except (ValueError, TypeError) as err:
                raise ValueError(
                    f"{what}: the targets do not fit the loss {_loss_name(fn)}{where}: y has "
                    f"shape {tuple(targets[i].shape)} and dtype {targets[i].dtype}, the model's "
                    f"output has shape {tuple(preds[i].shape)}. {err}") from None
        for i, metric, log in self.metrics:
            try:
                jax.eval_shape(lambda t, p, s: metric.update(metric.init(), t, p, s),
                               targets[i], preds[i], sw_spec)
            except (ValueError, TypeError) as err:
                raise ValueError(
                    f"{what}: the targets do not fit the metric {log!r}: y has shape "
                    f"{tuple(targets[i].shape)}, the model's output has shape "
                    f"{tuple(preds[i].shape)}. {err}") from None

    def check_labels(self, y, what):
        """Class labels for a sparse crossentropy must be whole numbers in ``[0, classes)``:
        anything else gives a zero or wrapped loss, silently. Checked on the whole data
        once per call, not per step."""
        targets = self._targets(y, self.output_names, what)
        for i, classes in self.sparse_classes.items():
            where = f" for output {self.output_names[i]!r}" if len(self.output_names) > 1 else ""
            problem = index_problem(targets[i], classes)
            if problem:
                raise ValueError(f"{what}: y{where} must hold class indices in [0, {classes}) "
                                 f"for sparse_categorical_crossentropy (the model gives "
                                 f"{classes} classes), {problem}.")

    # -- pure functions used inside the compiled steps --------------------------------------
    def loss(self, y, y_pred, sample_weight):
        """``(total, per_output)``: the weighted sum of the outputs' losses, and each one."""
        targets = self._targets(y, self.output_names, "loss")
        # Losses are computed in float32 whatever the model's compute dtype, as in Keras.
        preds = mixed_precision.autocast(flat_outputs(y_pred), jnp.float32)
        parts = [_loss_value(fn, targets[i], preds[i], sample_weight)
                 for i, fn, _, _ in self.losses]
        total = sum((w * part for (_, _, w, _), part in zip(self.losses, parts)),
                    jnp.zeros((), jnp.float32))
        return total, parts

    def init_metrics(self):
        """Fresh metric states: the loss tracker(s), then each metric's."""
        states = {"loss": self.tracker.init()}
        if len(self.output_names) > 1:
            for *_, log in self.losses:
                states[log] = self.tracker.init()
        for _, metric, log in self.metrics:
            states[log] = metric.init()
        return states

    def update_metrics(self, states, y, y_pred, sample_weight, total, parts, batch_size):
        """The metric states after one batch (losses weighted by the batch's size)."""
        new = {"loss": self.tracker.update(states["loss"], total, batch_size)}
        if len(self.output_names) > 1:
            for (*_, log), part in zip(self.losses, parts):
                new[log] = self.tracker.update(states[log], part, batch_size)
        targets, preds = self._targets(y, self.output_names, "metrics"), flat_outputs(y_pred)
        for i, metric, log in self.metrics:
            new[log] = metric.update(states[log], targets[i], preds[i], sample_weight)
        return new

    def result_list(self, states):
        """``results`` as a list in ``log_names`` order."""
        return list(self.results(states).values())

    def results(self, states):
        """``{log name: value}`` in Keras' order: loss, per-output losses, metrics."""
        out = {"loss": self.tracker.result(states["loss"])}
        if len(self.output_names) > 1:
            for *_, log in self.losses:
                out[log] = self.tracker.result(states[log])
        for _, metric, log in self.metrics:
            out[log] = metric.result(states[log])
        return out

    @property
    def log_names(self):
        """The logs' keys in order (jitted functions hand dicts back sorted by key, so the
        compiled calls return ``results`` as a list in this order)."""
        names = ["loss"]
        if len(self.output_names) > 1:
            names += [log for *_, log in self.losses]
        return names + [log for *_, log in self.metrics]

    @property
    def metric_objects(self):
        """``{log name: Metric}`` (for callbacks' ``mode="auto"``)."""
        return {log: m for _, m, log in getattr(self, "metrics", [])}
