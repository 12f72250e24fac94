"""``LossScaleOptimizer``: dynamic loss scaling for float16 training, as in Keras 3."""
import math
import numbers

import jax
import jax.numpy as jnp

from .base import Optimizer


class LossScaleOptimizer(Optimizer):
    """Wraps an optimizer with a dynamic loss scale, so float16 gradients do not underflow.

    ``fit`` multiplies the loss by the scale before differentiating (``scale_loss``);
    each step divides the gradients by it. A step whose gradients are all finite goes
    to ``inner_optimizer``, and after ``dynamic_growth_steps`` such steps in a row the
    scale doubles; a step with an inf or NaN gradient changes no weight and no inner
    optimizer state, and halves the scale. All of it lives in the optimizer state::

        {"inner_optimizer": <inner state>, "step_counter": int32, "dynamic_scale": float32}

    >>> import jax.numpy as jnp
    >>> from jkeras.optimizers import SGD
    >>> opt = LossScaleOptimizer(SGD(0.5), initial_scale=4.0)
    >>> params = {"w": jnp.ones(2)}
    >>> state = opt.init(params)
    >>> params, state = opt.apply({"w": jnp.full(2, 4.0)}, state, params)  # scaled grads
    >>> params["w"].tolist(), float(state["dynamic_scale"])
    ([0.5, 0.5], 4.0)
    >>> params, state = opt.apply({"w": jnp.array([jnp.inf, 1.0])}, state, params)
    >>> params["w"].tolist(), float(state["dynamic_scale"])
    ([0.5, 0.5], 2.0)
    """

    def __init__(self, inner_optimizer, initial_scale=2.0**15, dynamic_growth_steps=2000,
                 name=None, **kwargs):
        from .registry import get

        if kwargs:
            raise ValueError(f"LossScaleOptimizer does not take {sorted(kwargs)}: set "
                             "learning-rate, clipping and weight-decay options on the inner "
                             "optimizer.")
        inner = get(inner_optimizer)
        if not isinstance(inner, Optimizer) or isinstance(inner, LossScaleOptimizer):
            raise TypeError(f"LossScaleOptimizer: inner_optimizer must be a jkeras optimizer "
                            f"(or its name), got {inner!r}.")
        if isinstance(initial_scale, bool) or not isinstance(initial_scale, numbers.Real) \
                or not math.isfinite(initial_scale) or initial_scale <= 0:
            raise ValueError(f"LossScaleOptimizer: initial_scale must be a finite number > 0, "
                             f"got {initial_scale!r}.")
        if isinstance(dynamic_growth_steps, bool) or \
                not isinstance(dynamic_growth_steps, numbers.Integral) or dynamic_growth_steps < 1:
            raise ValueError(f"LossScaleOptimizer: dynamic_growth_steps must be a positive "
                             f"integer, got {dynamic_growth_steps!r}.")
        self.inner_optimizer = inner
        self.initial_scale = float(initial_scale)
        self.dynamic_growth_steps = int(dynamic_growth_steps)
        self.name = name or "loss_scale_optimizer"
        # The base class's options belong to the inner optimizer.
        self.weight_decay = self.clipnorm = self.clipvalue = self.global_clipnorm = None

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    def init(self, params):
        """The inner optimizer's state, with the step counter and the scale beside it.

        >>> import jax.numpy as jnp
        >>> sorted(LossScaleOptimizer("sgd").init({"w": jnp.ones(2)}))
        ['dynamic_scale', 'inner_optimizer', 'step_counter']
        """
        return {"inner_optimizer": self.inner_optimizer.init(params),
                "step_counter": jnp.zeros((), jnp.int32),
                "dynamic_scale": jnp.asarray(self.initial_scale, jnp.float32)}

    def scale_loss(self, loss, opt_state):
        """``loss`` times the current scale: differentiate this one.

        >>> import jax.numpy as jnp
        >>> opt = LossScaleOptimizer("sgd", initial_scale=8.0)
        >>> float(opt.scale_loss(jnp.float32(0.5), opt.init({})))
        4.0
        """
        return loss * opt_state["dynamic_scale"].astype(jnp.result_type(loss))

    def _step(self, grads, opt_state, params, fused):
        scale = opt_state["dynamic_scale"]
        leaves = jax.tree_util.tree_leaves(grads)
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in leaves])) if leaves \
            else jnp.bool_(True)
        inner_state = opt_state["inner_optimizer"]

        def take_step():
            unscaled = jax.tree_util.tree_map(lambda g: g / scale.astype(g.dtype), grads)
            return self.inner_optimizer._step(unscaled, inner_state, params, fused)

        def skip_step():
            kept = params if fused else jax.tree_util.tree_map(jnp.zeros_like, grads)
            return kept, inner_state

        out, new_inner = jax.lax.cond(finite, take_step, skip_step)
        grow = opt_state["step_counter"] >= self.dynamic_growth_steps - 1
        counter = jnp.where(finite & ~grow, opt_state["step_counter"] + 1, 0)
        new_scale = jnp.where(finite, jnp.where(grow, scale * 2, scale), scale / 2)
        return out, {"inner_optimizer": new_inner, "step_counter": counter.astype(jnp.int32),
                     "dynamic_scale": new_scale}

    def get_learning_rate(self, opt_state):
        """The inner optimizer's learning rate."""
        return self.inner_optimizer.get_learning_rate(opt_state["inner_optimizer"])

    def set_learning_rate(self, opt_state, learning_rate):
        """A copy of ``opt_state`` whose inner optimizer uses ``learning_rate``."""
        inner = self.inner_optimizer.set_learning_rate(opt_state["inner_optimizer"],
                                                       learning_rate)
        return dict(opt_state, inner_optimizer=inner)

    def get_config(self):
        """Keras' config: the inner optimizer serialized, the scale's settings.

        >>> LossScaleOptimizer("adam").get_config()["inner_optimizer"]["class_name"]
        'Adam'
        """
        from .registry import serialize

        return {"name": self.name, "inner_optimizer": serialize(self.inner_optimizer),
                "initial_scale": self.initial_scale,
                "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config):
        """Rebuilds one from ``get_config()``.

        >>> opt = LossScaleOptimizer.from_config(LossScaleOptimizer("sgd").get_config())
        """
        return cls(**config)

    def __repr__(self):
        return (f"LossScaleOptimizer({self.inner_optimizer!r}, initial_scale="
                f"{self.initial_scale}, dynamic_growth_steps={self.dynamic_growth_steps})")
