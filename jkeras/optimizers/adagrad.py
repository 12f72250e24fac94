"""The accumulator family: Adagrad and Adadelta, Keras 3's formulas."""
import jax.numpy as jnp

from .base import Optimizer


class Adagrad(Optimizer):
    """Scales each weight's step by its whole history of squared gradients::

        acc += g**2                     # acc starts at initial_accumulator_value
        p -= lr * g / sqrt(acc + epsilon)

    The same as optax's ``adagrad`` (whose defaults, 0.1 and 1e-7, are Keras').
    State slot: ``"accumulators"``.

    >>> import jax.numpy as jnp
    >>> opt = Adagrad(learning_rate=0.1)
    >>> params = {"w": jnp.ones(2)}
    >>> state = opt.init(params)
    >>> state["accumulators"]["w"].tolist()
    [0.10000000149011612, 0.10000000149011612]
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon
        self.slot_names = ("accumulators",)

    def _init_slot(self, name, param):
        return jnp.full_like(param, self.initial_accumulator_value)

    def _leaf(self, g, slots, f):
        acc = slots[0] + jnp.square(g)
        return (f["neg_lr"] * g) / jnp.sqrt(acc + self.epsilon), (acc,)

    def _hyperparameters(self):
        return {"initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Steps sized by the ratio of running RMS of past steps to running RMS of gradients::

        acc_g = rho * acc_g + (1 - rho) * g**2
        dx = -sqrt(acc_dx + epsilon) / sqrt(acc_g + epsilon) * g
        acc_dx = rho * acc_dx + (1 - rho) * dx**2
        p += lr * dx

    The same as optax's ``adadelta(rho=..., eps=...)`` (whose defaults, 0.9 and 1e-6,
    differ from Keras' 0.95 and 1e-7). State slots: ``"accumulated_grads"``,
    ``"accumulated_delta_vars"``.

    >>> import jax.numpy as jnp
    >>> opt = Adadelta(learning_rate=1.0)
    >>> params = {"w": jnp.ones(2)}
    >>> params, state = opt.apply({"w": jnp.ones(2)}, opt.init(params), params)
    """

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name)
        self.rho = rho
        self.epsilon = epsilon
        self.slot_names = ("accumulated_grads", "accumulated_delta_vars")

    def _leaf(self, g, slots, f):
        acc_g, acc_dx = slots
        acc_g = self.rho * acc_g + (1 - self.rho) * jnp.square(g)
        # -dx, Keras' delta_var with its sign dropped: the sign goes into the scalar.
        neg_dx = (jnp.sqrt(acc_dx + self.epsilon) * g) / jnp.sqrt(acc_g + self.epsilon)
        acc_dx = self.rho * acc_dx + (1 - self.rho) * jnp.square(neg_dx)
        return f["neg_lr"] * neg_dx, (acc_g, acc_dx)

    def _hyperparameters(self):
        return {"rho": self.rho, "epsilon": self.epsilon}
