"""Stochastic gradient descent, with Keras' momentum form."""
import numbers

from .base import Optimizer


class SGD(Optimizer):
    """Gradient descent, optionally with (Nesterov) momentum; Keras 3's formulas.

    Without momentum: ``p -= lr * g``. With momentum Keras keeps a velocity that
    already includes the learning rate::

        v = momentum * v - lr * g
        p += v                            # or, nesterov: p += momentum * v - lr * g

    which equals optax's ``trace`` form (``t = g + momentum * t; p -= lr * t``) as long
    as the learning rate is constant; they part when it changes, since Keras' velocity
    keeps the old rates' steps. State slot: ``"momentums"`` (only if momentum > 0).

    >>> import jax.numpy as jnp
    >>> opt = SGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    >>> params = {"dense": {"kernel": jnp.ones((2, 2))}}
    >>> state = opt.init(params)
    >>> params, state = opt.apply({"dense": {"kernel": jnp.ones((2, 2))}}, state, params)
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name)
        if (not isinstance(momentum, numbers.Real) or isinstance(momentum, bool)
                or not 0 <= momentum <= 1):
            raise ValueError(f"SGD: `momentum` must be a float between [0, 1]; got {momentum!r}.")
        self.momentum = momentum
        self.nesterov = nesterov
        self.slot_names = ("momentums",) if momentum else ()

    def _leaf(self, g, slots, f):
        if not self.momentum:
            return g * f["neg_lr"], ()
        m = self.momentum * slots[0] - g * f["lr"]
        delta = self.momentum * m - g * f["lr"] if self.nesterov else m
        return delta, (m,)

    def _hyperparameters(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}
