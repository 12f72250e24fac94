"""Keras 3's optimizers, written over pytrees and speaking optax's interface.

Each optimizer has ``init(params) -> opt_state``, ``update(grads, opt_state, params)
-> (updates, opt_state)`` (updates are added to params, as in optax, so they work in
``optax.apply_updates`` and ``optax.chain``) and a fused ``apply(grads, opt_state,
params) -> (new_params, opt_state)``. Their update formulas, argument names and
defaults are Keras 3's; docs/optimizers.md lists where those differ from optax's.

>>> import jax, jax.numpy as jnp
>>> from jkeras import optimizers
>>> opt = optimizers.get("adam")
>>> params = {"dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.zeros(2)}}
>>> opt_state = opt.init(params)
>>> grads = jax.tree_util.tree_map(jnp.ones_like, params)
>>> params, opt_state = jax.jit(opt.apply)(grads, opt_state, params)
"""
from . import schedules
from .adagrad import Adadelta, Adagrad
from .adam import Adam, Adamax, AdamW, Nadam
from .base import Optimizer
from .lion import Lion
from .loss_scale_optimizer import LossScaleOptimizer
from .registry import get, serialize
from .rmsprop import RMSprop
from .sgd import SGD


def deserialize(config):
    """Rebuilds an optimizer from :func:`serialize`'s output (same as ``get(config)``).

    >>> deserialize(serialize(SGD(0.1, momentum=0.9))).momentum
    0.9
    """
    return get(config)


__all__ = ["Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "Lion", "LossScaleOptimizer",
           "Nadam", "Optimizer", "RMSprop", "SGD", "deserialize", "get", "schedules",
           "serialize"]
