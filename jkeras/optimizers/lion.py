"""Lion (EvoLved Sign Momentum), Keras 3's formula."""
import jax.numpy as jnp

from .base import Optimizer


class Lion(Optimizer):
    """The sign of an interpolated momentum, times the learning rate::

        p -= lr * sign(beta_1 * m + (1 - beta_1) * g)
        m = beta_2 * m + (1 - beta_2) * g

    The same as optax's ``lion`` with ``weight_decay=0`` (optax's default is 1e-3;
    Keras' is None). Every step moves each weight by exactly ``lr``, so Lion wants a
    learning rate 3-10x smaller than Adam's. State slot: ``"momentums"``.

    >>> import jax.numpy as jnp
    >>> opt = Lion(learning_rate=1e-4)
    >>> params = {"w": jnp.ones(3)}
    >>> params, state = opt.apply({"w": jnp.ones(3)}, opt.init(params), params)
    >>> round(float(params["w"][0]), 6)
    0.9999
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name)
        if not 0 < beta_1 <= 1:
            raise ValueError("Lion: argument `beta_1` must be in the (0, 1] range. Otherwise, "
                             f"the optimizer degenerates to SignSGD. Received: beta_1={beta_1}.")
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.slot_names = ("momentums",)

    def _leaf(self, g, slots, f):
        (m,) = slots
        delta = -f["lr"] * jnp.sign(m * self.beta_1 + g * (1.0 - self.beta_1))
        return delta, (m * self.beta_2 + g * (1.0 - self.beta_2),)

    def _hyperparameters(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2}
