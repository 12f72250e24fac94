"""The machinery every built-in optimizer shares.

An optimizer is an object holding only static hyperparameters; all that changes
during training lives in the state pytree returned by ``init``::

    {"iterations": int32 scalar,          # steps taken so far
     "learning_rate": float32 scalar,     # only when the learning rate is a float
     "<slot>": <tree like params>, ...}   # Keras' slot names: "momentums", ...

It speaks optax's interface (``init``/``update``, updates are *added* to params)
and adds a fused ``apply``. On top of a subclass's per-leaf rule it does what Keras'
base optimizer does, in Keras' order: clip the gradients (``clipnorm`` per tensor,
``global_clipnorm``, or ``clipvalue``), decay the weights (``p -= p * weight_decay *
lr``, before the update), then apply the rule.
"""
import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from .stateless import StatelessOptimizer


def _is_schedule(learning_rate):
    return callable(learning_rate)


def _learning_rate_array(value):
    # Always the same dtype and weak_type, so setting a new value never retraces a jitted step.
    return jnp.asarray(value, dtype=jnp.float32)


def check_learning_rate(learning_rate, owner):
    """Validates a learning rate for the optimizer named ``owner``; returns it.

    A schedule (any callable ``step -> lr``) is returned as is; a number must be a
    finite, non-negative real and comes back as a Python float.

    >>> check_learning_rate(1e-3, "Adam")
    0.001
    """
    if _is_schedule(learning_rate):
        return learning_rate
    if isinstance(learning_rate, jax.core.Tracer):
        return learning_rate  # set inside a jitted function: cannot be checked, trust it
    is_number = (isinstance(learning_rate, numbers.Real)
                 or (isinstance(learning_rate, (np.ndarray, jax.Array))
                     and np.ndim(learning_rate) == 0
                     and np.issubdtype(learning_rate.dtype, np.number)))
    if not is_number or isinstance(learning_rate, (bool, np.bool_)):
        raise ValueError(
            f"{owner}: `learning_rate` must be a non-negative float or a schedule (a callable "
            f"step -> learning rate); got {learning_rate!r} of type "
            f"{type(learning_rate).__name__}.")
    value = float(learning_rate)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{owner}: `learning_rate` must be a finite number >= 0; got {value}.")
    return value


def _check_optional_positive(value, name, owner):
    if value is not None and (not isinstance(value, numbers.Real) or not value > 0):
        raise ValueError(f"{owner}: `{name}` must be a positive float or None; got {value!r}.")


def _cast(x, dtype):
    return x if x.dtype == dtype else x.astype(dtype)


class Optimizer(StatelessOptimizer):
    """Base class: Keras' options over a per-leaf update rule, with optax's interface.

    A subclass sets ``self.slot_names`` in ``__init__`` and implements ``_leaf``
    (and ``_factors`` when it needs per-step scalars, computed once per step).
    ``slot_groups`` says how Keras lists the slots in a saved file: each group's slots
    weight by weight, one group after another (by default, one group of them all).

    >>> import jax.numpy as jnp
    >>> from jkeras.optimizers import SGD
    >>> params = {"w": jnp.ones(2)}
    >>> opt = SGD(learning_rate=0.1)
    >>> state = opt.init(params)
    >>> params, state = opt.apply({"w": jnp.ones(2)}, state, params)
    >>> [round(float(x), 4) for x in params["w"]], int(state["iterations"])
    ([0.9, 0.9], 1)
    """

    slot_names = ()

    @property
    def slot_groups(self):
        """The slots as Keras lists them in a file: group after group, each one's slots
        weight by weight (one ``add_optimizer_variables`` call in Keras per group).

        >>> from jkeras.optimizers import RMSprop
        >>> RMSprop(momentum=0.5).slot_groups
        (('velocities',), ('momentums',))
        """
        return (self.slot_names,) if self.slot_names else ()

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None):
        owner = type(self).__name__
        self._learning_rate = check_learning_rate(learning_rate, owner)
        if weight_decay is not None and (not isinstance(weight_decay, numbers.Real)
                                         or weight_decay < 0):
            raise ValueError(f"{owner}: `weight_decay` must be a float >= 0 or None; "
                             f"got {weight_decay!r}.")
        for arg, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                           ("global_clipnorm", global_clipnorm)):
            _check_optional_positive(value, arg, owner)
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                f"{owner}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be "
                f"set. Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                f"global_clipnorm={global_clipnorm}")
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.name = name or owner.lower()

    @property
    def iterations(self):
        """Keras' ``optimizer.iterations``: the steps taken by the model this optimizer
        was last compiled into, as a NumPy integer (0 before it trains).

        >>> import numpy as np, jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])
        >>> model.compile(jkeras.optimizers.SGD(0.1), "mse")
        >>> _ = model.train_on_batch(np.ones((4, 2)), np.ones((4, 1)))
        >>> int(model.optimizer.iterations)
        1
        """
        model = self._model() if getattr(self, "_model", None) is not None else None
        return np.int64(0) if model is None else model._iterations()

    def _state_holder(self):
        """The model this optimizer was last compiled into, once it holds its state."""
        model = self._model() if getattr(self, "_model", None) is not None else None
        if model is None or model.optimizer is not self:
            return None
        return model if model._live is not None or model._extras is not None else None

    @property
    def learning_rate(self):
        """Keras' ``optimizer.learning_rate``: the rate the next step of the model this
        optimizer was last compiled into uses (a float, read from the model's optimizer
        state), or the one it was created with (a float or a schedule) before there is a
        state. Setting a float sets the model's, as ``model.set_learning_rate`` does (no
        recompilation), and the rate a new state starts from.

        >>> import numpy as np, jkeras
        >>> model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])
        >>> model.compile(jkeras.optimizers.SGD(0.1), "mse")
        >>> _ = model.train_on_batch(np.ones((4, 2)), np.ones((4, 1)))
        >>> model.optimizer.learning_rate = 0.5
        >>> model.optimizer.learning_rate, model.get_learning_rate()
        (0.5, 0.5)
        """
        model = self._state_holder()
        if model is None or _is_schedule(self._learning_rate):
            return self._learning_rate
        return model.get_learning_rate()

    @learning_rate.setter
    def learning_rate(self, value):
        value = check_learning_rate(value, type(self).__name__)
        model = self._state_holder()
        if model is not None:
            model.set_learning_rate(value)
        self._learning_rate = value

    # -- what a subclass provides -------------------------------------------------------

    def _init_slot(self, name, param):
        """The initial value of slot ``name`` for one parameter (zeros by default)."""
        del name
        return jnp.zeros_like(param)

    def _factors(self, step, lr, opt_state):
        """Per-step scalars shared by all leaves, and scalar state to store.

        ``step`` is the int32 count of steps already taken (Keras' ``iterations``).
        Returns ``(factors, new_scalar_state)``: two dicts. Signs are folded into the
        scalars (``neg_lr``) so that no leaf pays for a negation.
        """
        del step, opt_state
        return {"lr": lr, "neg_lr": -lr}, {}

    def _leaf(self, g, slots, f):
        """The rule for one parameter: ``(delta, new_slots)``, ``delta`` added to it.

        ``slots`` is a tuple in ``slot_names`` order; ``f`` holds ``_factors``'s
        scalars cast to ``g``'s dtype.
        """
        raise NotImplementedError

    # -- the optax interface ------------------------------------------------------------

    def init(self, params):
        """The initial optimizer state for ``params`` (any pytree of arrays).

        >>> import jax.numpy as jnp
        >>> from jkeras.optimizers import Adam
        >>> sorted(Adam().init({"w": jnp.zeros(3)}))
        ['iterations', 'learning_rate', 'momentums', 'velocities']
        """
        state = {"iterations": jnp.zeros((), jnp.int32)}
        if not _is_schedule(self._learning_rate):
            state["learning_rate"] = _learning_rate_array(self._learning_rate)
        for name in self.slot_names:
            state[name] = jax.tree_util.tree_map(lambda p, n=name: self._init_slot(n, p), params)
        state.update(self._init_scalars())
        return state

    def _init_scalars(self):
        """Scalar state a subclass keeps besides its slots (Nadam's ``u_product``)."""
        return {}

    def update(self, grads, opt_state, params=None):
        """optax's ``update``: returns ``(updates, new_opt_state)``; add updates to params.

        ``params`` is needed only with ``weight_decay``.

        >>> import jax.numpy as jnp, optax
        >>> from jkeras.optimizers import SGD
        >>> opt, params = SGD(0.5), {"w": jnp.ones(2)}
        >>> updates, state = opt.update({"w": jnp.ones(2)}, opt.init(params))
        >>> optax.apply_updates(params, updates)["w"].tolist()
        [0.5, 0.5]
        """
        return self._step(grads, opt_state, params, fused=False)

    def apply(self, grads, opt_state, params):
        """One fused step: returns ``(new_params, new_opt_state)``.

        >>> import jax.numpy as jnp
        >>> from jkeras.optimizers import SGD
        >>> opt, params = SGD(0.5), {"w": jnp.ones(2)}
        >>> params, state = opt.apply({"w": jnp.ones(2)}, opt.init(params), params)
        >>> params["w"].tolist()
        [0.5, 0.5]
        """
        return self._step(grads, opt_state, params, fused=True)

    def _step(self, grads, opt_state, params, fused):
        if params is None and (fused or self.weight_decay):
            raise ValueError(f"{type(self).__name__}: `params` must be given to "
                             f"{'apply' if fused else 'update with weight_decay'}.")
        step = opt_state["iterations"]
        lr = self.get_learning_rate(opt_state)
        factors, new_scalars = self._factors(step, lr, opt_state)
        decay = lr * self.weight_decay if self.weight_decay else None

        # One flatten and one loop over the leaves: every output (params or updates
        # and each slot) is built in the same pass, as tree_map would for one output.
        g_leaves, treedef = jax.tree_util.tree_flatten(grads)
        p_leaves = treedef.flatten_up_to(params) if params is not None else g_leaves
        slot_leaves = [treedef.flatten_up_to(opt_state[n]) for n in self.slot_names]
        clip_scale = self._global_clip_scale(g_leaves)

        cast = {}  # the per-step scalars, cast once per dtype rather than once per leaf
        outs, new_slots = [], [[] for _ in self.slot_names]
        for i, (g, p) in enumerate(zip(g_leaves, p_leaves)):
            if g.dtype not in cast:
                scalars = dict(factors, clip_scale=clip_scale, decay=decay)
                cast[g.dtype] = {k: None if v is None else _cast(jnp.asarray(v), g.dtype)
                                 for k, v in scalars.items()}
            f = cast[g.dtype]
            delta, slots = self._leaf(self._clip(g, f["clip_scale"]),
                                      tuple(s[i] for s in slot_leaves), f)
            if fused:
                # Keras decays the variable before adding the step: p - p*wd*lr + delta.
                out = (p - p * f["decay"] if decay is not None else p) + delta
            else:
                out = delta - p * f["decay"] if decay is not None else delta
            outs.append(out)
            for acc, s in zip(new_slots, slots):
                acc.append(s)

        new_state = dict(opt_state, iterations=step + 1, **new_scalars)
        for name, leaves in zip(self.slot_names, new_slots):
            new_state[name] = treedef.unflatten(leaves)
        return treedef.unflatten(outs), new_state

    # -- clipping, as Keras' base optimizer does it -------------------------------------

    def _global_clip_scale(self, g_leaves):
        if self.global_clipnorm is None:
            return None
        norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in g_leaves))
        # Keras' form: a no-op for any finite norm, NaN (poisoning the step) otherwise.
        clip = self.global_clipnorm
        return clip * jnp.minimum(1.0 / norm, 1.0 / clip) + (norm - norm)

    def _clip(self, g, clip_scale):
        if self.clipnorm is not None:
            l2sum = jnp.sum(jnp.square(g))
            # The double where keeps the gradient of an all-zero tensor finite.
            l2norm = jnp.where(l2sum > 0, jnp.sqrt(jnp.where(l2sum > 0, l2sum, 1.0)), l2sum)
            return g * self.clipnorm / jnp.maximum(l2norm, self.clipnorm)
        if clip_scale is not None:
            return g * clip_scale
        if self.clipvalue is not None:
            return jnp.clip(g, -self.clipvalue, self.clipvalue)
        return g

    # -- the learning rate, for callbacks -----------------------------------------------

    def get_learning_rate(self, opt_state):
        """The learning rate the next step will use (a float32 scalar).

        >>> import jax.numpy as jnp
        >>> from jkeras.optimizers import SGD, schedules
        >>> opt = SGD(schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5))
        >>> state = dict(opt.init({"w": jnp.ones(2)}), iterations=jnp.int32(2))
        >>> round(float(opt.get_learning_rate(state)), 6)
        0.025
        """
        if _is_schedule(self._learning_rate):
            return jnp.asarray(self._learning_rate(opt_state["iterations"]), jnp.float32)
        return opt_state["learning_rate"]

    def set_learning_rate(self, opt_state, learning_rate):
        """A copy of ``opt_state`` whose steps use ``learning_rate``.

        Only the float32 scalar in the state changes, so a jitted step taking the state
        as an argument runs on without recompiling. An optimizer built with a schedule
        has no settable learning rate (as in Keras): that raises ``TypeError``.

        >>> import jax.numpy as jnp
        >>> from jkeras.optimizers import Adam
        >>> opt = Adam()
        >>> state = opt.set_learning_rate(opt.init({"w": jnp.ones(2)}), 1e-4)
        >>> float(opt.get_learning_rate(state))
        9.999999747378752e-05
        """
        if _is_schedule(self._learning_rate):
            raise TypeError(
                f"{type(self).__name__} was created with a learning-rate schedule, so its "
                "learning rate is not settable. Create it with a float `learning_rate` "
                "to change it during training.")
        value = check_learning_rate(learning_rate, type(self).__name__)
        if _is_schedule(value):
            raise TypeError(f"{type(self).__name__}.set_learning_rate takes a number; to use a "
                            "schedule, pass it as `learning_rate` when creating the optimizer.")
        return dict(opt_state, learning_rate=_learning_rate_array(value))

    # -- configuration ------------------------------------------------------------------

    def get_config(self):
        """The constructor arguments as a dict (schedules as ``{"class_name", "config"}``).

        >>> from jkeras.optimizers import SGD
        >>> SGD(0.1, momentum=0.9).get_config()["momentum"]
        0.9
        """
        from . import schedules

        lr = self.learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            lr = schedules.serialize(lr)
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue,
                "global_clipnorm": self.global_clipnorm, **self._hyperparameters()}

    def _hyperparameters(self):
        return {}

    @classmethod
    def from_config(cls, config):
        """Rebuilds an optimizer from ``get_config()``.

        >>> from jkeras.optimizers import Adam
        >>> Adam.from_config(Adam(1e-2).get_config()).learning_rate
        0.01
        """
        from .. import configurable
        from . import schedules

        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        # Keras-only switches (use_ema, ...) load when off and are refused by name when on.
        return cls(**configurable.known_args(cls, config))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()
                         if k != "name" and v is not None)
        return f"{type(self).__name__}({args})"
