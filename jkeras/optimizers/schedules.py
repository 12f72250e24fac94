"""Learning-rate schedules: callables ``step -> learning rate``, as in Keras 3.

A schedule is evaluated inside the optimizer's (jitted) update, on the int32
``iterations`` counter of the optimizer state, so it must be written in
``jax.numpy`` and never branch in Python on ``step``. Any such callable works
as a learning rate (optax schedules too); the classes here add Keras' argument
names and a ``get_config`` for saving.
"""
import math

import jax.numpy as jnp


class LearningRateSchedule:
    """Base class of the built-in schedules: a callable ``step -> lr``.

    Subclasses implement ``__call__(step)`` with ``jax.numpy`` and ``get_config()``.

    >>> class Halving(LearningRateSchedule):
    ...     def __call__(self, step):
    ...         return 0.1 * 0.5 ** jnp.floor(step / 100)
    ...     def get_config(self):
    ...         return {}
    >>> round(float(Halving()(250)), 6)
    0.025
    """

    def __call__(self, step):
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        """Rebuilds the schedule from ``get_config()``.

        >>> s = ExponentialDecay(0.1, 10, 0.5)
        >>> ExponentialDecay.from_config(s.get_config()).decay_rate
        0.5
        """
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _check_decay_steps(decay_steps):
    if decay_steps <= 0:
        raise ValueError(f"Argument `decay_steps` must be > 0. Received: decay_steps={decay_steps}")


def _float(step):
    # Keras computes schedules in the learning rate's dtype (float32 under JAX).
    return jnp.asarray(step, jnp.float32)


class _StepDecay(LearningRateSchedule):
    """``initial_learning_rate`` decayed by a function of ``p = step / decay_steps``
    (floored with ``staircase=True``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name=None):
        _check_decay_steps(decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name or type(self).__name__

    def __call__(self, step):
        p = _float(step) / self.decay_steps
        if self.staircase:
            p = jnp.floor(p)
        return self._decay(jnp.float32(self.initial_learning_rate),
                           jnp.float32(self.decay_rate), p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_StepDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``.

    With ``staircase=True`` the exponent is floored, so the rate drops in steps.

    >>> lr = ExponentialDecay(0.1, decay_steps=100, decay_rate=0.5)
    >>> round(float(lr(100)), 6)
    0.05
    """

    def _decay(self, lr, rate, p):
        return lr * rate ** p


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[1]`` up to ``boundaries[1]``, ...

    >>> lr = PiecewiseConstantDecay(boundaries=[10, 20], values=[1.0, 0.5, 0.1])
    >>> [round(float(lr(s)), 6) for s in (10, 11, 21)]
    [1.0, 0.5, 0.1]
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={boundaries} of length {len(boundaries)}, and "
                f"values={values} of length {len(values)}.")
        if any(b >= c for b, c in zip(boundaries, boundaries[1:])):
            raise ValueError(f"`boundaries` must be strictly increasing. Received: {boundaries}")
        self.boundaries = list(boundaries)
        self.values = list(values)
        self.name = name

    def __call__(self, step):
        # The number of boundaries already passed indexes the value: one gather, no branches.
        passed = jnp.sum(jnp.asarray(step) > jnp.asarray(self.boundaries))
        return jnp.asarray(self.values, jnp.float32)[passed]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class InverseTimeDecay(_StepDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``.

    With ``staircase=True``, ``step / decay_steps`` is floored.

    >>> lr = InverseTimeDecay(0.1, decay_steps=1, decay_rate=0.5)
    >>> round(float(lr(2)), 6)
    0.05
    """

    def _decay(self, lr, rate, p):
        return lr / (1.0 + rate * p)


class CosineDecay(LearningRateSchedule):
    """Cosine decay over ``decay_steps``, after an optional linear warm-up.

    Without ``warmup_target`` the rate decays from ``initial_learning_rate`` to
    ``initial_learning_rate * alpha``. With it, the rate first rises linearly from
    ``initial_learning_rate`` to ``warmup_target`` over ``warmup_steps``, then decays
    from ``warmup_target`` to ``warmup_target * alpha`` over ``decay_steps``.

    >>> lr = CosineDecay(0.0, decay_steps=100, warmup_target=0.1, warmup_steps=10)
    >>> [round(float(lr(s)), 6) for s in (5, 10, 60, 110)]
    [0.05, 0.1, 0.05, 0.0]
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        _check_decay_steps(decay_steps)
        if warmup_steps < 0:
            raise ValueError(f"Argument `warmup_steps` must be >= 0. Received: {warmup_steps}")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def _decay(self, step, decay_from):
        cosine = 0.5 * (1.0 + jnp.cos(jnp.float32(math.pi) * step / self.decay_steps))
        return jnp.float32(decay_from) * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        step = _float(step)
        if self.warmup_target is None:
            return self._decay(jnp.minimum(step, self.decay_steps), self.initial_learning_rate)
        step = jnp.minimum(step, self.decay_steps + self.warmup_steps)
        initial = jnp.float32(self.initial_learning_rate)
        # max(.., 1) only keeps the unselected branch finite when warmup_steps is 0.
        warmup = initial + (self.warmup_target - initial) * step / max(self.warmup_steps, 1)
        decay = self._decay(step - self.warmup_steps, self.warmup_target)
        return jnp.where(step < self.warmup_steps, warmup, decay)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


_SCHEDULES = {c.__name__: c for c in (ExponentialDecay, PiecewiseConstantDecay,
                                       InverseTimeDecay, CosineDecay)}


def serialize(schedule):
    """A schedule as a JSON-ready dict ``{"class_name", "config"}``.

    >>> serialize(ExponentialDecay(0.1, 10, 0.5))["class_name"]
    'ExponentialDecay'
    """
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config):
    """Rebuilds a built-in schedule from :func:`serialize`'s output.

    >>> deserialize(serialize(InverseTimeDecay(0.1, 1, 0.5))).decay_rate
    0.5
    """
    name = config.get("class_name")
    if name not in _SCHEDULES:
        raise ValueError(f"Unknown learning-rate schedule {name!r}; valid names: "
                         f"{', '.join(sorted(_SCHEDULES))}")
    return _SCHEDULES[name].from_config(config["config"])
