"""The training state and the pure steps that change it (``Steps``, a base of ``Trainer``).

Everything training changes is one pytree, the *train state*::

    {"params": ..., "state": ..., "opt_state": ..., "step": int32, "rng": uint32[2]}

and one pure function steps it: ``model.train_step(ts, x, y) -> (ts, logs)``. ``fit``
runs exactly this step, jitted; a hand-written loop can too.

Between calls the model's layers hold ``params``/``state`` and the model keeps the
optimizer state, step counter and RNG key. ``get_train_state()`` hands out a copy of the
whole train state and ``set_train_state(ts)`` puts one back, copied too, so the model and
a loop that donates its buffers never share them:

>>> import jax, numpy as np, jkeras
>>> from jkeras import layers
>>> model = jkeras.Sequential([layers.Dense(3, activation="softmax", input_dim=4)])
>>> model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
>>> x, y = np.random.rand(8, 4).astype("float32"), np.arange(8) % 3
>>> ts = model.get_train_state()
>>> step = jax.jit(model.train_step, donate_argnums=0)
>>> for _ in range(3):
...     ts, logs = step(ts, x, y)
>>> model.set_train_state(ts)
>>> int(model.get_train_state()["step"])
3
"""
import math
import numbers
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import placement
from .. import random as random_lib
from .. import state as state_lib
from ..layers.base import weight_changes
from .keras_steps import KerasTrainAPI


def copy_tree(tree):
    """A copy of every array in ``tree`` (fresh buffers, safe to donate).

    >>> import jax.numpy as jnp
    >>> a = {"w": jnp.ones(2)}
    >>> copy_tree(a)["w"] is a["w"]
    False
    """
    if any(isinstance(a, jax.Array) and len(a.sharding.device_set) > 1
           for a in jax.tree_util.tree_leaves(tree)):
        return _copy_on_mesh(tree)
    return jax.tree_util.tree_map(jnp.copy, tree)


# Arrays over several devices: one program copies them all (an eager copy costs ~0.5 ms
# each there; the MLP's six weights take ~1 ms at once); copies keep their shardings.
_copy_on_mesh = jax.jit(lambda tree: jax.tree_util.tree_map(jnp.copy, tree))


def spec(tree):
    """Shapes and (canonical) dtypes of the arrays in ``tree``.

    >>> spec(np.zeros((2, 3)))      # float64 becomes float32 unless x64 is enabled
    ShapeDtypeStruct(shape=(2, 3), dtype=float32)
    """
    def one(a):
        return jax.ShapeDtypeStruct(np.shape(a), jax.dtypes.canonicalize_dtype(a.dtype))
    return jax.tree_util.tree_map(one, tree)


def batch_size(x):
    """The size of the first axis of the first array in ``x``.

    >>> batch_size([np.zeros((4, 2)), np.zeros((4,))])
    4
    """
    return int(jax.tree_util.tree_leaves(x)[0].shape[0])


class Steps(KerasTrainAPI):
    """The explicit train state of a compiled model, and the pure steps over it.

    >>> import numpy as np, jkeras
    >>> model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])
    >>> model.compile("sgd", "mse")
    >>> ts, logs = model.train_step(model.get_train_state(), np.ones((4, 2)), np.ones((4, 1)))
    >>> int(ts["step"])
    1
    """

    _compiled = None
    _extras = None       # {"opt_state", "step", "rng"} while no fit runs
    _extras_struct = None
    _extras_checked = None  # the params tree _extras was last checked against
    _kept = None         # (weight_changes(), {"params", "state"}) as gathered last
    _live = None         # the running fit's state (see Trainer.fit)
    _compiled_distribution = None  # compile(distribution=...)
    optimizer = None

    # -- the train state -------------------------------------------------------------------
    def _require_compiled(self, what):
        if self._compiled is None:
            raise ValueError(f"{self!r}: call compile(optimizer=..., loss=...) before {what}(); "
                             "the model has no optimizer or loss yet.")
        return self._compiled

    def _require_state(self, what):
        self._require_compiled(what)
        if not self.built:
            raise ValueError(f"{self!r} is not built, so it has no weights for {what}: call it "
                             "on data, build(input_shape) it, or fit it first.")

    def _distribution(self):
        """The distribution given to ``compile``, else the active one (or ``None``)."""
        return self._compiled_distribution or placement.current()

    def _prepare(self, x, y=None, sample_weight=None, what="fit"):
        """Builds the model from ``x``'s shapes if needed, and resolves the losses/metrics."""
        distribution = self._distribution()
        if not self.built:
            with placement.using(distribution):  # weights born with their shardings
                self._build((spec(x),))
        if distribution is not None and what != "predict":
            distribution.check_batch(x, what)
        c = self._compiled
        if c is not None and not c.resolved and what != "predict":
            y_pred, _, added = jax.eval_shape(
                lambda p, s, x: self.apply(p, s, x, training=False, return_losses=True),
                self.params, self.state, spec(x))
            custom = self._custom_steps()
            c.resolve(self, None if y is None else spec(y),
                      y_pred, None if sample_weight is None else spec(sample_weight), what)
            if not c.losses and not added and (custom is None or custom.train is None):
                c.resolved = False
                raise ValueError(
                    f"{what}: {self!r} has no loss to minimize: compile() was given no loss "
                    "and the model adds none (add_loss). Pass loss= to compile, call "
                    "self.add_loss in call(), or override train_step.")
        custom = self._custom_steps() if c is not None else None
        if custom is not None and what != "predict":
            batch = (spec(x), None if y is None else spec(y),
                     None if sample_weight is None else spec(sample_weight))
            ts = jax.eval_shape(lambda: {"params": self.params, "state": self.state,
                                         **self._ensure_extras()})
            if custom.train is not None and what in ("fit", "train_on_batch"):
                custom.prepare("train", ts, batch)
            if custom.test is not None and what in ("evaluate", "test_on_batch"):
                custom.prepare("test", ts, batch)

    def _ensure_extras(self, params=None):
        """The stored optimizer state, step and key (made now if compile was just called);
        ``params``: the model's, if already at hand."""
        params = self.params if params is None else params
        if self._extras is not None and params is self._extras_checked:
            return self._extras
        struct = jax.tree_util.tree_structure(params)
        if self._extras is not None and struct != self._extras_struct:
            warnings.warn(f"{self!r}: the trainable weights changed since the optimizer state "
                          "was made (a layer frozen or unfrozen?); the optimizer state starts "
                          "afresh. Call compile() again after changing `trainable`.",
                          stacklevel=3)
            self._extras = None
        if self._extras is None:
            self._extras = {"opt_state": self.optimizer.init(params),
                            "step": jnp.zeros((), jnp.int32),
                            "rng": jax.random.key_data(random_lib.global_stream().next())}
            self._extras_struct = struct
        self._extras_checked = params
        return self._extras

    def _weights_now(self):
        """``{"params", "state"}`` as the layers hold them, gathered again only after some
        layer's weights changed: on a small model, gathering is a good part of a
        ``train_on_batch``'s host work."""
        kept = self._kept
        if kept is not None and kept[0] == weight_changes():
            return kept[1]
        weights = {"params": self.params, "state": self.state}
        self._kept = (weight_changes(), weights)
        return weights

    def get_train_state(self):
        """A copy of the whole training state: ``params``, ``state``, ``opt_state``,
        ``step`` and ``rng``, as a plain dict (inside ``fit``, of the current one).

        >>> import jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
        >>> model.compile("adam", "mse")
        >>> sorted(model.get_train_state())
        ['opt_state', 'params', 'rng', 'state', 'step']
        """
        if self._live is not None:
            return copy_tree(self._live.ts)
        self._require_state("get_train_state")
        ts = {"params": self.params, "state": self.state, **self._ensure_extras()}
        distribution = self._distribution()
        if distribution is not None:  # placed on the mesh, ready for a jitted train_step
            ts = distribution.distribute_train_state(ts)
        return copy_tree(ts)

    def _iterations(self):
        """The completed steps (read now: the next step may donate the counter)."""
        ts = self._live.ts if self._live is not None else self._extras
        return np.int64(0 if ts is None else int(ts["step"]))

    def set_train_state(self, train_state):
        """Puts a train state (from ``get_train_state`` or a loop over it) back; copies it.

        Its structure must match the model's weights and the compiled optimizer's state.

        >>> import jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
        >>> model.compile("sgd", "mse")
        >>> model.set_train_state(model.get_train_state())
        """
        self._require_state("set_train_state")
        ts = dict(train_state)
        keys = {"params", "state", "opt_state", "step", "rng"}
        if set(ts) != keys:
            raise ValueError(f"set_train_state expects a dict with keys {sorted(keys)}, got "
                             f"{sorted(ts)}.")
        expected = jax.tree_util.tree_structure(jax.eval_shape(self.optimizer.init,
                                                               self.params))
        if jax.tree_util.tree_structure(ts["opt_state"]) != expected:
            raise ValueError("set_train_state: opt_state does not match the compiled "
                             f"optimizer's state structure {expected}.")
        # Checked before anything changes: a mismatch leaves the model as it was.
        ts["params"] = state_lib.conform(self.params, ts["params"], "params", repr(self))
        ts["state"] = state_lib.conform(self.state, ts["state"], "state", repr(self))
        ts = copy_tree(ts)
        if self._live is not None:
            self._live.ts = ts
            return
        self._write_weights(ts["params"], ts["state"])
        self._extras = {k: ts[k] for k in ("opt_state", "step", "rng")}
        self._extras_struct = jax.tree_util.tree_structure(self.params)

    def _write_weights(self, params, state):
        # Trees from the model's own steps, or checked already: written without checks,
        # in each layer's key order.
        self._assign(params, state)

    # -- the learning rate, for callbacks --------------------------------------------------
    def _opt_state(self):
        if self._live is not None:
            return self._live.ts["opt_state"]
        self._require_state("the learning rate")
        return self._ensure_extras()["opt_state"]

    def _put_opt_state(self, opt_state):
        if self._live is not None:
            self._live.ts = {**self._live.ts, "opt_state": opt_state}
        else:
            self._extras = {**self._extras, "opt_state": opt_state}

    def get_learning_rate(self):
        """The learning rate the next step uses, as a float.

        >>> import jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
        >>> model.compile(jkeras.optimizers.SGD(0.1), "mse")
        >>> round(model.get_learning_rate(), 6)
        0.1
        """
        opt_state = self._opt_state()
        if self._compiled.is_jkeras_optimizer:
            return float(self.optimizer.get_learning_rate(opt_state))
        return float(_optax_hyperparams(opt_state)["learning_rate"])

    def set_learning_rate(self, value):
        """Sets the learning rate in the optimizer state (the compiled step is reused).

        Works for jkeras optimizers made with a float rate and for optax ones made with
        ``optax.inject_hyperparams``.

        >>> import jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(2, input_dim=3)])
        >>> model.compile(jkeras.optimizers.Adam(1e-3), "mse")
        >>> model.set_learning_rate(1e-4)
        """
        opt_state = self._opt_state()
        if self._compiled.is_jkeras_optimizer:
            self._put_opt_state(self.optimizer.set_learning_rate(opt_state, value))
            return
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
                not math.isfinite(value) or value < 0:
            raise ValueError(f"set_learning_rate: expected a finite number >= 0, got {value!r}.")
        hyper = _optax_hyperparams(opt_state)
        # The hyperparams dict is part of the (live) optimizer state: a new leaf of the
        # same shape and dtype, so the compiled step runs on without retracing.
        hyper["learning_rate"] = jnp.asarray(value, jnp.result_type(hyper["learning_rate"]))

    # -- the pure steps --------------------------------------------------------------------
    def _apply_gradients(self, grads, opt_state, params):
        if self._compiled.is_jkeras_optimizer:
            return self.optimizer.apply(grads, opt_state, params)
        updates, opt_state = self.optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    def _train_batch(self, ts, metric_states, batch, guard=False):
        """One training step on ``batch = (x, y, sample_weight)``; a pure function."""
        custom = self._custom_steps()
        if custom is not None and custom.train is not None:
            return custom.train_batch(ts, metric_states, batch, guard)
        c = self._compiled
        x, y, sample_weight = batch
        rng, key = ts["rng"], None
        if self.uses_rng:
            rng, key = jax.random.split(rng)

        scale = getattr(self.optimizer, "scale_loss", None)  # a LossScaleOptimizer's

        def loss_fn(params):
            y_pred, new_state, added = self.apply(params, ts["state"], x, training=True,
                                                  rng=key, return_losses=True)
            total, parts = c.loss(y, y_pred, sample_weight)
            total = total + self.regularization_loss(params) + sum(map(jnp.sum, added))
            scaled = total if scale is None else scale(total, ts["opt_state"])
            return scaled, (total, y_pred, new_state, parts)

        (_, (total, y_pred, new_state, parts)), grads = jax.value_and_grad(
            loss_fn, has_aux=True)(ts["params"])
        # Under jkeras.sharding.replicated_step (pmap), every replica takes the mean step.
        grads, new_state = placement.cross_replica_mean((grads, new_state))
        params, opt_state = self._apply_gradients(grads, ts["opt_state"], ts["params"])
        new_ts = {"params": self.apply_constraints(params), "state": new_state,
                  "opt_state": opt_state, "step": ts["step"] + 1, "rng": rng}
        if guard:
            # TerminateOnNaN: a step with a non-finite loss (or after one, in the same
            # scanned call) leaves the train state as it was: the last good weights.
            ok = jnp.isfinite(total) & jnp.isfinite(metric_states["loss"]["total"])
            new_ts = jax.tree_util.tree_map(lambda n, o: jnp.where(ok, n, o), new_ts, ts)
        metric_states = c.update_metrics(metric_states, y, y_pred, sample_weight, total, parts,
                                         batch_size(x))
        return new_ts, metric_states

    def _test_batch(self, params, state, metric_states, batch):
        custom = self._custom_steps()
        if custom is not None and custom.test is not None:
            return custom.test_batch(params, state, metric_states, batch)
        c = self._compiled
        x, y, sample_weight = batch
        y_pred, _, added = self.apply(params, state, x, training=False, return_losses=True)
        total, parts = c.loss(y, y_pred, sample_weight)
        total = total + self.regularization_loss(params) + sum(map(jnp.sum, added))
        return c.update_metrics(metric_states, y, y_pred, sample_weight, total, parts,
                                batch_size(x))

    def train_step(self, train_state, x, y=None, sample_weight=None):
        """One training step, pure: ``(new_train_state, logs)``; jit it yourself.

        ``logs`` holds this batch's loss (regularization included) and metrics.

        >>> import jax, numpy as np, jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])
        >>> model.compile("sgd", "mse")
        >>> ts, logs = jax.jit(model.train_step)(model.get_train_state(), np.ones((4, 2)),
        ...                                      np.ones((4, 1)))
        >>> sorted(logs)
        ['loss']
        """
        if isinstance(train_state, tuple):  # Keras' form: train_step(state, data)
            return self._keras_train_step(train_state, x)
        c = self._require_compiled("train_step")
        self._prepare(x, y, sample_weight, "train_step")
        ts, states = self._train_batch(train_state, c.init_metrics(), (x, y, sample_weight))
        return ts, c.results(states)

    def test_step(self, train_state, x, y=None, sample_weight=None):
        """The loss and metrics of one batch in inference mode, pure: ``logs``.

        >>> import numpy as np, jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])
        >>> model.compile("sgd", "mse")
        >>> logs = model.test_step(model.get_train_state(), np.ones((4, 2)), np.ones((4, 1)))
        """
        if isinstance(train_state, tuple):  # Keras' form: test_step(state, data)
            return self._keras_test_step(train_state, x)
        c = self._require_compiled("test_step")
        self._prepare(x, y, sample_weight, "test_step")
        states = self._test_batch(train_state["params"], train_state["state"],
                                  c.init_metrics(), (x, y, sample_weight))
        return c.results(states)


def _optax_hyperparams(opt_state):
    """The ``hyperparams`` dict of an ``optax.inject_hyperparams`` state (or in a chain)."""
    candidates = [opt_state] + (list(opt_state) if isinstance(opt_state, tuple) else [])
    for s in candidates:
        hyper = getattr(s, "hyperparams", None)
        if isinstance(hyper, dict) and "learning_rate" in hyper:
            return hyper
    raise TypeError("This optax optimizer's learning rate is baked into its update and "
                    "cannot be read or changed. Create it with optax.inject_hyperparams, e.g. "
                    "optax.inject_hyperparams(optax.adam)(learning_rate=1e-3), or use a "
                    "jkeras optimizer.")
